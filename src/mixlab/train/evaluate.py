"""Evaluation: loss and bits per byte on each domain's validation data, and exact-match probes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mixlab.data.probes import Probe, read_probes
from mixlab.data.tokenizer import TextTokenizer
from mixlab.errors import InputError


@dataclass
class EncodedProbe:
    """A probe with its prompt as token ids (after a document boundary) and a decode budget."""

    probe: Probe
    prompt: list[int]
    new_tokens: int


def load_probes(
    path: Path, tokenizer: TextTokenizer, limit: int | None = None
) -> list[EncodedProbe]:
    """Read a probe file (JSONL: prompt, answer, optional target / answer_marker)."""
    probes = read_probes(path)[:limit]
    if not probes:
        raise InputError(f"{path}: no probes")
    out = []
    for p in probes:
        # a marker probe reasons before answering: allow the target's length and some slack
        n = len(tokenizer.encode(p.target)) + (8 if p.answer_marker else 2)
        out.append(EncodedProbe(p, [tokenizer.eod_id, *tokenizer.encode(p.prompt).tolist()], n))
    return out


@torch.no_grad()
def domain_losses(
    model: torch.nn.Module,
    batches: Mapping[str, Sequence[np.ndarray]],
    device: torch.device,
    autocast: AbstractContextManager,
) -> dict[str, float]:
    """Mean next-token loss (nats per token) on each domain's fixed validation batches."""
    model.eval()
    out = {}
    for domain, domain_batches in batches.items():
        # summed on the device in float64 (as Python floats did): one host sync per domain
        total, count = torch.zeros((), dtype=torch.float64, device=device), 0
        for batch in domain_batches:
            t = torch.from_numpy(np.asarray(batch, dtype=np.int64)).to(device)
            with autocast:
                _, loss = model(t[:, :-1], t[:, 1:], reduction="sum")
            total += loss.double()
            count += t[:, 1:].numel()
        out[domain] = total.item() / count
    model.train()
    return out


def bytes_per_token(
    tokenizer: TextTokenizer, batches: Mapping[str, Sequence[np.ndarray]]
) -> dict[str, float]:
    """UTF-8 bytes per predicted token of each domain's validation targets (for bits per byte)."""
    out = {}
    for domain, domain_batches in batches.items():
        n_bytes = n_tokens = 0
        for batch in domain_batches:
            for row in np.asarray(batch)[:, 1:]:
                text = tokenizer.decode(int(i) for i in row if i != tokenizer.eod_id)
                n_bytes += len(text.encode("utf-8"))
                n_tokens += row.size
        out[domain] = n_bytes / n_tokens
    return out


def bits_per_byte(loss_nats: float, bytes_per_tok: float) -> float:
    return loss_nats / math.log(2) / bytes_per_tok if bytes_per_tok > 0 else float("nan")


@torch.no_grad()
def text_code_bits(
    model: torch.nn.Module,
    tokens: np.ndarray,
    seq_len: int,
    device: torch.device,
    batch_size: int = 32,
) -> tuple[float, int]:
    """Bits the model (as it is now) needs to encode a token stream, in windows of seq_len.

    Returns (bits, tokens coded). Divided by the text's UTF-8 bytes it is the model's
    compression rate on that text; before and after training it shows what was learned.
    """
    model.eval()
    tokens = np.asarray(tokens, dtype=np.int64)
    n = (tokens.size - 1) // seq_len
    windows = np.lib.stride_tricks.sliding_window_view(tokens, seq_len + 1)[::seq_len][:n]
    bits = 0.0
    for i in range(0, n, batch_size):
        t = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size])).to(device)
        _, loss = model(t[:, :-1], t[:, 1:], reduction="sum")
        bits += loss.item() / math.log(2)
    model.train()
    return bits, n * seq_len


# probe metadata keys whose values split the accuracy into groups (per attribute, popularity)
GROUP_KEYS = ("attribute", "group")


@torch.no_grad()
def probe_accuracy(
    model: torch.nn.Module,
    probes: Sequence[EncodedProbe],
    tokenizer: TextTokenizer,
    device: torch.device,
    batch_size: int = 64,
    autocast: AbstractContextManager | None = None,
    use_cache: bool = True,
) -> dict[str, float]:
    """Share of probes whose greedy continuation gives exactly the answer (`Probe.is_correct`).

    Key "" is the overall share; probes whose `meta` names an attribute or a popularity
    group also give "attribute=<value>" and "group=<value>" shares. Probes are decoded in
    batches of similar prompt length, left-padded, with the KV cache (`use_cache=False`:
    by exact prompt shape, recomputing the prefix per token, as before the cache).
    """
    model.eval()
    hits: dict[str, list[int]] = {}
    with autocast or nullcontext():
        for chunk, out in _greedy_answers(model, probes, tokenizer, device, batch_size, use_cache):
            for o, p in zip(out, chunk, strict=True):
                ok = int(p.probe.is_correct(tokenizer.decode(o[: p.new_tokens])))
                keys = [""] + [f"{k}={p.probe.meta[k]}" for k in GROUP_KEYS if k in p.probe.meta]
                for key in keys:
                    hits.setdefault(key, []).append(ok)
    model.train()
    return {key: sum(v) / len(v) for key, v in sorted(hits.items())}


def _greedy_answers(model, probes, tokenizer, device, batch_size, use_cache):
    """(probes, their new token ids) in batches: length-sorted and left-padded with the cache."""
    seq_len = model.cfg.seq_len
    fits = [p for p in probes if use_cache and len(p.prompt) + p.new_tokens <= seq_len]
    fitting = {id(p) for p in fits}
    by_shape: dict[tuple[int, int], list[EncodedProbe]] = {}
    for p in probes:  # exact shapes: without the cache, or where the context must slide
        if id(p) not in fitting:
            by_shape.setdefault((len(p.prompt), p.new_tokens), []).append(p)
    for (_, new_tokens), group in by_shape.items():
        for i in range(0, len(group), batch_size):
            chunk = group[i : i + batch_size]
            prompts = torch.tensor([p.prompt for p in chunk], device=device)
            out = model.generate_greedy(prompts, new_tokens, use_cache=False)
            yield chunk, out[:, prompts.shape[1] :].tolist()
    fits.sort(key=lambda p: (len(p.prompt) + p.new_tokens, len(p.prompt)))
    i = 0
    while i < len(fits):  # a batch's rows share a length budget that fits the context
        chunk = [fits[i]]
        width, new = len(fits[i].prompt), fits[i].new_tokens
        for p in fits[i + 1 : i + batch_size]:
            if max(width, len(p.prompt)) + max(new, p.new_tokens) > seq_len:
                break
            chunk.append(p)
            width, new = max(width, len(p.prompt)), max(new, p.new_tokens)
        i += len(chunk)
        rows = [[tokenizer.eod_id] * (width - len(p.prompt)) + p.prompt for p in chunk]
        prompts = torch.tensor(rows, device=device)
        lengths = torch.tensor([len(p.prompt) for p in chunk], device=device)
        out = model.generate_greedy(prompts, new, lengths=lengths)
        yield chunk, out[:, width:].tolist()
