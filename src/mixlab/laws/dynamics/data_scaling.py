"""Data scaling at one model size: a step law L(D) = E + B D^-a on one run's loss curve says
whether more tokens would still help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.dynamics.checks import finite_1d
from mixlab.laws.scaling.power import StepLaw

__all__ = ["DataScaling", "data_scaling_at_fixed_size"]


@dataclass
class DataScaling(Result):
    """A step law L(D) = E + B D^-a fitted to one model's loss against training tokens.

    `still_improving` is whether doubling the tokens is predicted to lower the loss by more
    than `tolerance` nats.  `ci` (parameter -> [low, high]) and `drop_ci` (of the drop from
    doubling) come from a bootstrap over points, when one was asked for.  `law` is the
    fitted StepLaw (left out of `to_dict`).
    """

    E: float
    B: float
    a: float
    tokens: float
    loss_at_last: float
    loss_at_2x: float
    loss_at_10x: float
    drop_from_doubling: float
    still_improving: bool
    tolerance: float
    tokens_per_param: float | None
    ci: dict[str, list[float]]
    drop_ci: tuple[float, float] | None
    law: StepLaw = field(repr=False)


def _doubling_drop(B: Any, a: Any, tokens: float) -> Any:
    """L(D) - L(2D) = B D^-a (1 - 2^-a)."""
    return B * tokens**-a * (1.0 - 2.0**-a)


def data_scaling_at_fixed_size(
    tokens: Any,
    losses: Any,
    n_bootstrap: int = 0,
    n_params: float | None = None,
    tolerance: float = 0.01,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    min_fraction: float = 0.0,
) -> DataScaling:
    """Would more data still help this model?  Fit E + B D^-a to its loss curve.

    `tokens` (positive) and `losses` are one run's evaluations; `min_fraction` leaves out
    the points before that fraction of the largest token count (warm-up).  Predictions at
    2x and 10x the last token count extrapolate the law.
    """
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance!r}")
    if n_params is not None and not (np.isfinite(n_params) and n_params > 0):
        raise InputError(f"n_params must be positive, got {n_params!r}")
    D = finite_1d(tokens, "tokens")
    y = finite_1d(losses, "losses")
    if len(D) != len(y):
        raise InputError(f"tokens and losses differ in length ({len(D)} vs {len(y)})")
    law = StepLaw(min_fraction=min_fraction, n_bootstrap=n_bootstrap, level=level, seed=seed)
    law.fit(D, y)
    last = float(D.max())
    pred = law.predict(np.array([last, 2 * last, 10 * last]))
    p = law.params_
    drop = float(_doubling_drop(p["B"], p["a"], last))
    drop_ci = None
    if law.boot_params_ is not None and len(law.boot_params_):
        bp = law.boot_params_
        lo, hi = percentile_interval(_doubling_drop(bp[:, 1], bp[:, 2], last), level)
        drop_ci = (float(lo), float(hi))
    return DataScaling(
        E=p["E"],
        B=p["B"],
        a=p["a"],
        tokens=last,
        loss_at_last=float(pred[0]),
        loss_at_2x=float(pred[1]),
        loss_at_10x=float(pred[2]),
        drop_from_doubling=drop,
        still_improving=bool(drop > tolerance),
        tolerance=float(tolerance),
        tokens_per_param=None if n_params is None else last / float(n_params),
        ci=dict(law.ci_),
        drop_ci=drop_ci,
        law=law,
    )
