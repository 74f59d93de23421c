"""Conformal prediction intervals from out-of-fold residuals (CV+ style, symmetric).

A law fitted with cross-validation keeps its signed out-of-fold residuals y - oof per target
(`law.cv_["residuals"]`).  The `level` interval of a new prediction is pred +- q, q the
ceil((n + 1) level)-th smallest absolute residual (the finite-sample conformal quantile):
with exchangeable runs it covers the truth with probability >= level, up to the small
optimism of refitting on all runs.  A predicted *gain* (difference of two predictions) uses
the same quantile over all pairwise differences of residuals, which is conservative when the
two mixtures' errors are positively correlated (nearby mixtures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.estimator import DEFAULT_LEVEL

__all__ = [
    "conformal_quantile",
    "gain_halfwidth",
    "has_residuals",
    "prediction_halfwidth",
    "prediction_interval",
    "residuals_of",
]


def conformal_quantile(abs_residuals: Any, level: float = DEFAULT_LEVEL) -> float:
    """The ceil((n + 1) level)-th smallest |residual| (inf when n is too small)."""
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level!r}")
    r = np.sort(np.abs(np.asarray(abs_residuals, float)))
    r = r[np.isfinite(r)]
    k = math.ceil((r.size + 1) * level)
    return float("inf") if k > r.size or r.size == 0 else float(r[k - 1])


def has_residuals(law: Any) -> bool:
    cv = getattr(law, "cv_", None)
    return bool(isinstance(cv, Mapping) and cv.get("residuals"))


def residuals_of(law: Any, target: str) -> np.ndarray:
    """The signed out-of-fold residuals y - oof of one of the law's targets."""
    if not has_residuals(law):
        raise InputError(
            "this law has no out-of-fold residuals for intervals; fit it with "
            "cross-validation (`mixlab law fit`, `fit_with_cv`, or the auto law)"
        )
    res = law.cv_["residuals"]
    if target not in res:
        raise InputError(f"no out-of-fold residuals for target {target!r}; have {sorted(res)}")
    return np.asarray(res[target], float)


def prediction_halfwidth(law: Any, target: str, level: float = DEFAULT_LEVEL) -> float:
    """Half-width q of the conformal `level` interval pred +- q for `target`."""
    return conformal_quantile(residuals_of(law, target), level)


def prediction_interval(
    law: Any, R: Any, level: float = DEFAULT_LEVEL, targets: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred, lo, hi), each (n, n_targets), for mixtures `R`."""
    pred = law.predict(R)
    names = list(targets) if targets is not None else law.target_names_
    q = np.array([prediction_halfwidth(law, t, level) for t in names])
    return pred, pred - q, pred + q


def gain_halfwidth(law: Any, target: str, level: float = DEFAULT_LEVEL) -> float:
    """Half-width for a difference of two predictions: quantile of |r_i - r_j|, i < j."""
    r = residuals_of(law, target)
    r = r[np.isfinite(r)]
    if r.size > 2000:  # pairs grow as n^2: a seeded subsample keeps it fast and exact enough
        r = np.random.default_rng(0).choice(r, 2000, replace=False)
    i, j = np.triu_indices(r.size, k=1)
    return conformal_quantile(r[i] - r[j], level)
