"""Guardrails on fitted mixing laws: say when a fit degenerated, flag extrapolation.

A law that predicts a near-constant, whose out-of-fold predictions blow up beyond the
observed range, or whose parameters end on their bounds is not to be trusted; these checks
name the target and the reason so callers can warn (`FitWarning`) and `auto` can reject it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.laws.core.fitting import FitWarning

__all__ = [
    "CONSTANT_RATIO",
    "fit_problems",
    "outside_range",
    "plausible_range",
    "warn_problems",
]

#: predictions whose spread is below this fraction of the target's spread are "constant"
CONSTANT_RATIO = 0.05


def plausible_range(y: np.ndarray) -> np.ndarray:
    """[min - span, max + span] of observed values: beyond it a prediction is a blow-up."""
    y = np.asarray(y, float)
    lo, hi = float(np.min(y)), float(np.max(y))
    span = hi - lo
    return np.array([lo - span, hi + span])


def fit_problems(
    y: np.ndarray,
    *,
    fitted: np.ndarray | None = None,
    oof: np.ndarray | None = None,
    fit_info: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Reasons (possibly none) why a law's predictions of one target are not to be trusted.

    `y`: the observed target on the runs; `fitted`: the law's predictions on those runs
    (after fitting on them); `oof`: out-of-fold predictions (NaN where never held out);
    `fit_info`: the law's per-fit records (an `at_bounds` list is read if present).
    """
    y = np.asarray(y, float)
    reasons = []
    sd = float(np.std(y))
    if sd == 0:
        reasons.append(f"the target is constant ({y[0]:.6g}) over the runs: nothing to learn")
    for what, pred in (("training", fitted), ("out-of-fold", oof)):
        if pred is None or sd == 0:
            continue
        pred = np.asarray(pred, float)
        pred = pred[np.isfinite(pred)]
        if pred.size >= 2 and float(np.std(pred)) < CONSTANT_RATIO * sd:
            reasons.append(
                f"{what} predictions are near-constant (spread {np.std(pred):.3g} against "
                f"the target's {sd:.3g})"
            )
    if oof is not None:
        oof = np.asarray(oof, float)
        lo, hi = plausible_range(y)
        bad = ~np.isfinite(oof) & ~np.isnan(oof) | (oof < lo) | (oof > hi)
        if bad.any():
            worst = oof[bad][np.argmax(np.abs(oof[bad] - np.mean(y)))]
            reasons.append(
                f"{int(bad.sum())} out-of-fold prediction(s) blow up (worst {worst:.4g}; "
                f"observed range {np.min(y):.4g}..{np.max(y):.4g})"
            )
    at = sorted({p for info in fit_info for p in (info.get("at_bounds") or [])})
    if at:
        reasons.append(f"parameter(s) {at} ended on a bound")
    return reasons


def warn_problems(label: str, problems: Mapping[str, Sequence[str]], stacklevel: int = 2) -> None:
    """One FitWarning per target with problems: '<label>, target 'x': reason; reason'."""
    for target, reasons in problems.items():
        if reasons:
            warnings.warn(
                f"{label}, target {target!r}: " + "; ".join(reasons) + " -- not to be trusted",
                FitWarning,
                stacklevel=stacklevel + 1,
            )


def outside_range(
    domain_range: np.ndarray, domain_names: Sequence[str], R: np.ndarray, tol: float = 1e-9
) -> list[list[str]]:
    """Per mixture, the domains whose weight lies outside the fitted runs' range."""
    R = np.atleast_2d(np.asarray(R, float))
    lo, hi = np.asarray(domain_range, float).T
    out = (R < lo - tol) | (R > hi + tol)
    return [[domain_names[j] for j in np.flatnonzero(row)] for row in out]
