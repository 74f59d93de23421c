"""The estimator base of the dynamics analyses: `fit(...)` returns self, the analysis in `result_`.

Each analysis (emergence over seeds, rank agreement, data scaling at one size) follows the
protocol of :mod:`mixlab.laws.core.estimator`: hyperparameters from `__init__`, learned
attributes ending in `_`, registered by `kind` in family "dynamics", and a `to_dict` that
:func:`~mixlab.laws.core.estimator.law_from_dict` turns back into the fitted estimator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mixlab.laws.core.estimator import Estimator, Result, jsonable

__all__ = ["DynamicsEstimator"]


class DynamicsEstimator(Estimator):
    """Base: `fit` sets `result_` (a :class:`Result`) through `_set_result`."""

    family = "dynamics"
    fitted_attr = "result_"
    result_type: ClassVar[type[Result]]

    def _set_result(self, result: Any) -> None:
        """Store the analysis; subclasses add the learned attributes read off it."""
        self.result_ = result

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": self.format,
            "version": 1,
            "kind": self.kind,
            "hyperparams": jsonable(self.get_params()),
            "result": self.result_.to_dict(),
        }

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> DynamicsEstimator:
        est = cls(**data["hyperparams"])
        est._set_result(cls.result_type(**data["result"]))
        return est
