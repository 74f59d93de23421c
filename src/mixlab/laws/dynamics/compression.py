"""Compression (DESIGN.md section 4): the prequential code length of a training stream (the
area under the training-loss curve, in bits) against gzip, bz2 and xz on the same text."""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.estimator import Result
from mixlab.laws.dynamics.checks import finite_1d

__all__ = [
    "CompressionRow",
    "baseline_bits_per_byte",
    "bits_per_byte",
    "code_length_bits",
    "compression_table",
]


def _check_bytes(data: Any, name: str = "data") -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"{name} must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise InputError(f"{name} is empty; bits per byte needs at least one byte")
    return data


def _xz(data: bytes) -> bytes:
    """xz at preset 9 | EXTREME, its dictionary capped at the input's size: the output is
    the same (a match cannot reach past the input) without allocating ~700 MiB."""
    dict_size = min(max(len(data), 4096), 64 << 20)
    return lzma.compress(
        data,
        filters=[
            {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": dict_size}
        ],
    )


def baseline_bits_per_byte(data: bytes) -> dict[str, float]:
    """Bits per byte that gzip -9, bz2 -9 and xz -9e achieve on `data`.

    Compressed length (container headers included: tens of bytes, which matter only for
    samples of a few kB) * 8 / len(data).
    """
    data = _check_bytes(data)
    sizes = {
        "gzip": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "bz2": len(bz2.compress(data, compresslevel=9)),
        "lzma": len(_xz(data)),
    }
    return {k: 8.0 * v / len(data) for k, v in sizes.items()}


def code_length_bits(losses_nats: Any, tokens: Any) -> float:
    """Prequential code length of a training stream, in bits: sum(loss_i * tokens_i) / ln 2.

    `losses_nats` are per-batch mean losses (nats/token) measured before each batch's
    update, `tokens` the tokens per batch (one number or one per batch).  Only the first
    pass over the data is a code for it: repeated tokens have been seen before.
    """
    loss = finite_1d(np.atleast_1d(losses_nats), "losses_nats")
    if loss.size == 0:
        raise InputError("losses_nats is empty")
    tok = finite_1d(np.atleast_1d(tokens), "tokens")
    if np.ndim(tokens) == 0:  # the same batch size throughout
        tok = np.full(loss.shape, tok[0])
    if len(tok) != len(loss):
        raise InputError(f"tokens has {len(tok)} entries but losses_nats has {len(loss)}")
    for name, arr in (("losses_nats", loss), ("tokens", tok)):
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            raise InputError(f"{name}[{int(bad[0])}] is {arr[bad[0]]:g}; must be >= 0")
    return float(np.sum(loss * tok) / math.log(2))


def bits_per_byte(code_bits: float, n_bytes: int) -> float:
    """Code length per byte of raw text (8 means no compression)."""
    bits = finite_1d([code_bits], "code_bits")[0]
    n = finite_1d([n_bytes], "n_bytes")[0]
    if bits < 0:
        raise InputError(f"code_bits must be >= 0, got {code_bits!r}")
    if n <= 0:
        raise InputError(f"n_bytes must be positive, got {n_bytes!r}")
    return float(bits / n)


@dataclass
class CompressionRow(Result):
    """One domain: the model's bits per byte against the compressors' on a sample."""

    domain: str
    model_bits_per_byte: float
    gzip: float | None
    bz2: float | None
    lzma: float | None
    code_bits: float
    n_bytes: int
    sample_bytes: int | None


def compression_table(
    code_bits_by_domain: Mapping[str, float],
    bytes_by_domain: Mapping[str, int],
    samples: Mapping[str, bytes] | None = None,
) -> list[CompressionRow]:
    """One row per domain of `code_bits_by_domain`: the model's code length per raw byte,
    and gzip / bz2 / lzma bits per byte measured on that domain's sample bytes (None for a
    domain without a sample).  The baselines see a sample, not the whole stream, so the
    comparison is as good as the sample is representative.  Extra keys are ignored.
    """
    if not code_bits_by_domain:
        raise InputError("code_bits_by_domain is empty")
    samples = samples or {}
    rows = []
    for domain, bits in code_bits_by_domain.items():
        if domain not in bytes_by_domain:
            raise InputError(f"bytes_by_domain has no entry for domain {domain!r}")
        n_bytes = bytes_by_domain[domain]
        model_bpb = bits_per_byte(bits, n_bytes)
        base: dict[str, float | None] = dict.fromkeys(("gzip", "bz2", "lzma"))
        sample = samples.get(domain)
        if sample is not None:
            base = dict(baseline_bits_per_byte(_check_bytes(sample, f"samples[{domain!r}]")))
        rows.append(
            CompressionRow(
                domain=str(domain),
                model_bits_per_byte=model_bpb,
                code_bits=float(bits),
                n_bytes=int(n_bytes),
                sample_bytes=None if sample is None else len(sample),
                **base,
            )
        )
    return rows
