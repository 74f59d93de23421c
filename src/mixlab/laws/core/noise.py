"""The seed-noise rule: when does one mixture (or strategy) beat another at the proxy budget?

Two candidates trained with the same seeds share each seed's initial weights and data order,
so their difference is measured per seed (a paired design) and its noise is the standard
error of the per-seed differences.  A difference counts only beyond `NOISE_MULTIPLE` times
that noise: the verification's "confirmed" and the strategies' verdicts are this one rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NOISE_MULTIPLE = 2.0

BEATS = "beats the static recommendation beyond noise"
WITHIN = "within noise"
WORSE = "worse beyond noise"


def paired_gain(base: Mapping[Any, float], new: Mapping[Any, float]) -> dict[str, Any]:
    """mean(base) - mean(new) (positive: `new` has the lower loss), its paired seed noise
    (the standard error of the per-seed differences over the seeds both have; the unpaired
    Welch standard error when fewer than 2 are shared) and the unpaired one beside it."""
    a = np.array([float(v) for v in base.values()])
    b = np.array([float(v) for v in new.values()])
    gain = float(a.mean() - b.mean())
    unpaired = (
        float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
        if a.size >= 2 and b.size >= 2
        else float("nan")
    )
    per_seed = {k: float(base[k]) - float(new[k]) for k in base if k in new}
    diffs = np.array(list(per_seed.values()))
    noise = float(diffs.std(ddof=1) / np.sqrt(diffs.size)) if diffs.size >= 2 else unpaired
    return {
        "gain": gain,
        "seed_noise": noise,
        "seed_noise_unpaired": unpaired,
        "per_seed": per_seed,
    }


def beyond_noise(gain: float, noise: float) -> bool:
    """True when `gain` > 0 and larger than NOISE_MULTIPLE x its seed noise (False when the
    noise is unknown: NaN)."""
    return bool(gain > 0 and gain > NOISE_MULTIPLE * noise)


def noise_verdict(gain: float, noise: float) -> str:
    """BEATS, WITHIN or WORSE for a gain over the static recommendation (positive: better)."""
    if beyond_noise(gain, noise):
        return BEATS
    if beyond_noise(-gain, noise):
        return WORSE
    return WITHIN
