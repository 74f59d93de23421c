"""Evaluation: loss and bits per byte on each domain's validation data, and exact-match probes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
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


def load_probes(path: Path, tokenizer: TextTokenizer, limit: int | None = None) -> list[EncodedProbe]:
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
        total, count = 0.0, 0
        for batch in domain_batches:
            t = torch.from_numpy(np.asarray(batch, dtype=np.int64)).to(device)
            with autocast:
                _, loss = model(t[:, :-1], t[:, 1:], reduction="sum")
            total += loss.item()
            count += t[:, 1:].numel()
        out[domain] = total / count
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
def probe_accuracy(
    model: torch.nn.Module,
    probes: Sequence[EncodedProbe],
    tokenizer: TextTokenizer,
    device: torch.device,
    batch_size: int = 64,
) -> float:
    """Share of probes whose greedy continuation gives exactly the answer (`Probe.is_correct`)."""
    model.eval()
    by_shape: dict[tuple[int, int], list[EncodedProbe]] = {}
    for p in probes:
        by_shape.setdefault((len(p.prompt), p.new_tokens), []).append(p)
    correct = 0
    for (_, new_tokens), group in by_shape.items():
        for i in range(0, len(group), batch_size):
            chunk = group[i : i + batch_size]
            prompts = torch.tensor([p.prompt for p in chunk], device=device)
            out = model.generate_greedy(prompts, new_tokens)[:, prompts.shape[1] :].tolist()
            correct += sum(p.probe.is_correct(tokenizer.decode(o)) for o, p in zip(out, chunk, strict=True))
    model.train()
    return correct / len(probes)
