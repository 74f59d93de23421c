"""Data scaling at one model size: a step law L(D) = E + B D^-a on one run's loss curve says
whether more tokens would still help."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.dynamics.base import DynamicsEstimator
from mixlab.laws.dynamics.checks import finite_1d
from mixlab.laws.scaling.power import StepLaw

__all__ = ["DataScaling", "DataScalingEstimator", "data_scaling_at_fixed_size"]


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


class DataScalingEstimator(DynamicsEstimator):
    """Would more data still help this model?  Fit E + B D^-a to its loss curve.

    `fit(tokens, losses, n_params=None)`: `tokens` (positive) and `losses` are one run's
    evaluations; `min_fraction` leaves out the points before that fraction of the largest
    token count (warm-up).  Sets `result_` (a :class:`DataScaling`; its predictions at 2x
    and 10x the last token count extrapolate the law), `law_` (the fitted StepLaw) and
    `params_`; `predict(tokens)` reads the law.
    """

    kind = "data_scaling"
    label = "data scaling"
    result_type = DataScaling

    def __init__(
        self,
        n_bootstrap: int = 0,
        tolerance: float = 0.01,
        level: float = DEFAULT_LEVEL,
        seed: int = 0,
        min_fraction: float = 0.0,
    ) -> None:
        self.n_bootstrap = n_bootstrap
        self.tolerance = tolerance
        self.level = level
        self.seed = seed
        self.min_fraction = min_fraction

    def _set_result(self, result: DataScaling) -> None:
        self.result_ = result
        self.law_ = result.law
        self.params_ = dict(result.law.params_)

    def fit(self, tokens: Any, losses: Any, n_params: float | None = None) -> DataScalingEstimator:
        """Fit on one run's token counts and losses (`n_params`: its size, for tokens/param)."""
        tolerance, level = self.tolerance, self.level
        if not (np.isfinite(tolerance) and tolerance >= 0):
            raise InputError(f"tolerance must be >= 0, got {tolerance!r}")
        if n_params is not None and not (np.isfinite(n_params) and n_params > 0):
            raise InputError(f"n_params must be positive, got {n_params!r}")
        D = finite_1d(tokens, "tokens")
        y = finite_1d(losses, "losses")
        if len(D) != len(y):
            raise InputError(f"tokens and losses differ in length ({len(D)} vs {len(y)})")
        law = StepLaw(
            min_fraction=self.min_fraction,
            n_bootstrap=self.n_bootstrap,
            level=level,
            seed=self.seed,
        )
        law.fit(D, y)
        self._set_result(_data_scaling(law, float(D.max()), tolerance, level, n_params))
        return self

    def predict(self, tokens: Any) -> np.ndarray:
        """The fitted law's loss at `tokens`."""
        self._check_fitted()
        return self.law_.predict(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "law": self.law_.to_dict()}

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> DataScalingEstimator:
        est = cls(**data["hyperparams"])
        law = StepLaw.from_dict(data["law"])
        est._set_result(DataScaling(**data["result"], law=law))
        return est


def _data_scaling(
    law: StepLaw, last: float, tolerance: float, level: float, n_params: float | None
) -> DataScaling:
    """The verdict of a fitted step law at the last token count `last`."""
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


def data_scaling_at_fixed_size(
    tokens: Any, losses: Any, n_params: float | None = None, **params: Any
) -> DataScaling:
    """`DataScalingEstimator(**params).fit(tokens, losses, n_params).result_`, hyperparameters
    by keyword."""
    return DataScalingEstimator(**params).fit(tokens, losses, n_params=n_params).result_
