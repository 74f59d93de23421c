"""Back-tested uncertainty for laws in model size: predict the largest size you have from
the smaller ones, and let those errors correct and widen the prediction for the real target.

A bootstrap of the fit sees only the noise of the points, not the error of the law's form
when it extrapolates; a back-test sees both, on the same kind of extrapolation.  Errors are
relative (prediction / observed - 1) and scaled to the target by the ratio of log-size
extrapolation distances (target over largest fitted size, against held-out over the next).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import FitWarning

__all__ = ["BacktestResult", "backtest_size"]


@dataclass
class BacktestResult:
    """Held-out errors of the largest size and the corrected target predictions."""

    held_out_size: float
    n_held_out: int
    rel_errors: np.ndarray  # (prediction / observed - 1) of the held-out runs
    bias: float  # mean relative error
    sd: float  # their standard deviation (ddof 1; 0 with one run)
    scale: np.ndarray  # per target: extrapolation distance relative to the back-test's
    predicted: np.ndarray  # the plain prediction for each target
    corrected: np.ndarray  # predicted / (1 + scale * bias)
    low: np.ndarray
    high: np.ndarray
    level: float

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
        }


def backtest_size(
    law: Any,
    X: dict[str, np.ndarray],
    y: np.ndarray,
    X_target: dict[str, np.ndarray],
    *,
    level: float = 0.9,
    min_sd: float = 0.0,
) -> BacktestResult:
    """Fit `law` (unfitted, a law in N and more) on every run below the largest size, predict
    the largest size's runs, and turn those relative errors into a corrected prediction and a
    `level` interval (t quantile of the scaled spread, plus the scaled bias's own error) for
    the targets `X_target`; the final prediction uses the law refitted on all runs."""
    from scipy.stats import t as student_t

    N = np.asarray(X["N"], float)
    y = np.asarray(y, float)
    sizes = np.unique(N)
    if len(sizes) < 3:
        raise InputError("back-test: needs runs at 3 or more model sizes")
    top, second = sizes[-1], sizes[-2]
    small, held = N < top, N == top
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        part = law.clone().fit({k: np.asarray(v)[small] for k, v in X.items()}, y[small])
        full = law.clone().fit(X, y)
    pred_held = part.predict({k: np.asarray(v)[held] for k, v in X.items()})
    rel = pred_held / y[held] - 1.0
    bias = float(rel.mean())
    sd = max(float(rel.std(ddof=1)) if rel.size > 1 else 0.0, float(min_sd))
    Nt = np.asarray(X_target["N"], float)
    scale = np.maximum(np.log(Nt / top) / np.log(top / second), 0.0)
    pred = full.predict(X_target)
    corrected = pred / (1.0 + scale * bias)
    q = float(student_t.ppf(0.5 + level / 2, max(rel.size - 1, 1)))
    half = q * scale * np.sqrt(sd**2 * (1 + 1 / max(rel.size, 1)))
    return BacktestResult(
        held_out_size=float(top),
        n_held_out=int(rel.size),
        rel_errors=rel,
        bias=bias,
        sd=sd,
        scale=scale,
        predicted=pred,
        corrected=corrected,
        low=corrected * (1 - half),
        high=corrected * (1 + half),
        level=level,
    )
