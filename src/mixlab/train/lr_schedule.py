"""Learning rate as a function of the step: linear warm-up, then cosine, WSD or constant."""

from __future__ import annotations

import math

from mixlab.train.config import LRScheduleConfig


def lr_at(step: int, total_steps: int, peak: float, cfg: LRScheduleConfig) -> float:
    """The learning rate for optimiser step `step` (0-based) of `total_steps`."""
    warmup = int(round(cfg.warmup * total_steps))
    floor = peak * cfg.min_lr_ratio
    if step < warmup:
        return peak * (step + 1) / warmup
    if cfg.kind == "constant":
        return peak
    if cfg.kind == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    decay_start = total_steps - int(
        round(cfg.decay * total_steps)
    )  # WSD: stable, then linear decay
    if step < max(decay_start, warmup):
        return peak
    progress = (step - decay_start) / max(1, total_steps - decay_start)
    return peak - (peak - floor) * min(1.0, progress)
