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

__all__ = ["BacktestResult", "backtest_interval", "backtest_size", "size_backtest"]


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


def size_backtest(law: Any, X: dict[str, Any], y: Any) -> dict[str, Any]:
    """Fit an unfitted `law` (in N and more) on the runs below the largest size and predict
    that size's runs: {held_out_size, next_size, n, bias, sd, rel_errors} (relative)."""
    N = np.asarray(X["N"], float)
    y = np.asarray(y, float)
    sizes = np.unique(N)
    if len(sizes) < 3:
        raise InputError("back-test: needs runs at 3 or more model sizes")
    top, second = sizes[-1], sizes[-2]
    small, held = N < top, N == top
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        part = law.clone(n_bootstrap=0).fit(
            {k: np.asarray(v, float)[small] for k, v in X.items()}, y[small]
        )
    rel = part.predict({k: np.asarray(v, float)[held] for k, v in X.items()}) / y[held] - 1.0
    return {
        "held_out_size": float(top),
        "next_size": float(second),
        "n": int(rel.size),
        "bias": float(rel.mean()),
        "sd": float(rel.std(ddof=1)) if rel.size > 1 else 0.0,
        "rel_errors": [float(r) for r in rel],
    }


def backtest_interval(
    bt: dict[str, Any], N: Any, predicted: Any, level: float = 0.9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corrected, low, high) for predictions at sizes `N` from a :func:`size_backtest`:
    the relative bias and spread scaled by the extrapolation distance
    log(N / held-out size) / log(held-out size / next size), a t quantile for the spread."""
    from scipy.stats import t as student_t

    top, second, n = bt["held_out_size"], bt["next_size"], max(int(bt["n"]), 1)
    scale = np.maximum(np.log(np.asarray(N, float) / top) / np.log(top / second), 0.0)
    corrected = np.asarray(predicted, float) / (1.0 + scale * bt["bias"])
    q = float(student_t.ppf(0.5 + level / 2, max(n - 1, 1)))
    half = q * scale * bt["sd"] * np.sqrt(1 + 1 / n)
    return corrected, corrected * (1 - half), corrected * (1 + half)


def backtest_size(
    law: Any,
    X: dict[str, np.ndarray],
    y: np.ndarray,
    X_target: dict[str, np.ndarray],
    *,
    level: float = 0.9,
) -> BacktestResult:
    """:func:`size_backtest` on (X, y), then the law refitted on every run predicts the
    targets `X_target`, corrected and with a `level` interval by :func:`backtest_interval`."""
    bt = size_backtest(law, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        full = law.clone().fit(X, y)
    pred = full.predict(X_target)
    Nt = np.asarray(X_target["N"], float)
    corrected, low, high = backtest_interval(bt, Nt, pred, level)
    top, second = bt["held_out_size"], bt["next_size"]
    return BacktestResult(
        held_out_size=top,
        n_held_out=bt["n"],
        rel_errors=np.array(bt["rel_errors"]),
        bias=bt["bias"],
        sd=bt["sd"],
        scale=np.maximum(np.log(Nt / top) / np.log(top / second), 0.0),
        predicted=pred,
        corrected=corrected,
        low=low,
        high=high,
        level=level,
    )
