"""The estimator API every mixing law shares: fit / predict / clone / to_dict / from_dict.

A law is fitted on a mixture table R (runs x domains, rows on the simplex) and a metrics
table Y (runs x metrics).  Its targets are either the metrics themselves, one output per
metric, or -- when `weights` is given to `fit` -- one weighted sum of metrics.  How a law
handles a weighted target is its `weighted` parameter:

* `"components"`: fit one law per metric with a non-zero weight, predict each, and sum
  the predictions with the weights (the default of the `exp` law, as in Ye et al.);
* `"direct"`: fit the law to the weighted sum itself (the default of the other laws).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.checks import (
    check_mixtures,
    check_run_ids,
    check_targets,
    check_weights,
)
from mixlab.laws.core.estimator import Estimator, FamilyKinds, jsonable
from mixlab.laws.core.estimator import law_from_dict as _any_law_from_dict
from mixlab.laws.core.fitting import FitWarning

__all__ = ["MixingLaw", "law_from_dict", "LAW_KINDS"]

FORMAT = "mixlab.law"
FORMAT_VERSION = 1
LAW_KINDS = FamilyKinds("mixing")
_jsonable = jsonable  # the name other modules used before core.estimator


class MixingLaw(Estimator):
    """Base class: a map from a mixture on the simplex to one or more predicted metrics.

    Hyperparameters are the constructor arguments, kept as plain attributes; everything
    learned by `fit` ends with an underscore.
    """

    family = "mixing"
    fitted_attr = "domain_names_"
    weighted: str

    # ---- fit / predict ----------------------------------------------------------------

    def fit(
        self,
        R: Any,
        Y: Any,
        *,
        target_names: Sequence[str] | None = None,
        domain_names: Sequence[str] | None = None,
        weights: Mapping[str, float] | None = None,
        target_name: str = "weighted",
        run_ids: Sequence[Any] | None = None,
        renormalize: bool = False,
    ) -> MixingLaw:
        """Fit the law on mixtures `R` (n, d) and metrics `Y` (n, m).

        `weights` (metric name -> weight) turns the targets into one weighted sum named
        `target_name`; see the module docstring for how `weighted` decides whether the
        components or the sum are fitted.  `run_ids` are recorded with the law.
        """
        ids = check_run_ids(run_ids, len(R) if hasattr(R, "__len__") else 0)
        R, domains = check_mixtures(R, domain_names, run_ids=ids, renormalize=renormalize)
        Y, metrics = check_targets(Y, R.shape[0], target_names, run_ids=ids)
        if R.shape[0] < 2:
            raise InputError(f"need at least 2 runs to fit a law, got {R.shape[0]}")
        if self.weighted not in ("components", "direct"):
            raise InputError(f"weighted must be 'components' or 'direct', got {self.weighted!r}")
        combine = None
        if weights is not None:
            w = check_weights(weights, metrics)
            if self.weighted == "components":
                keep = np.flatnonzero(w != 0)
                Yfit, fitted = Y[:, keep], [metrics[j] for j in keep]
                combine = w[keep]
            else:
                Yfit, fitted = (Y @ w)[:, None], [str(target_name)]
            outputs = [str(target_name)]
            weights_out = {metrics[j]: float(w[j]) for j in np.flatnonzero(w != 0)}
        else:
            Yfit, fitted, outputs, weights_out = Y, metrics, metrics, None

        lo, hi = R.min(axis=0), R.max(axis=0)
        active = hi - lo > 0
        if not active.any():
            raise InputError("every run has the same mixture; a mixing law needs variation")
        for j in np.flatnonzero(~active):
            warnings.warn(
                f"domain {domains[j]!r} has weight {lo[j]:g} in every run; its effect "
                "cannot be learned and is held fixed",
                FitWarning,
                stacklevel=2,
            )
        for j in range(Yfit.shape[1]):
            if np.ptp(Yfit[:, j]) == 0:
                warnings.warn(
                    f"target {fitted[j]!r} is constant ({Yfit[0, j]:g}) over all runs",
                    FitWarning,
                    stacklevel=2,
                )

        self.domain_names_ = domains
        self.metric_names_ = metrics
        self.target_names_ = outputs
        self.fitted_names_ = fitted
        self.weights_ = weights_out
        self.combine_ = combine
        self.run_ids_ = ids
        self.n_runs_ = int(R.shape[0])
        self.domain_range_ = np.stack([lo, hi], axis=1)
        self.cv_: dict[str, Any] | None = None
        self.fit_info_: list[dict[str, Any]] = []
        self._fit(R, Yfit)
        return self

    @property
    def active_(self) -> np.ndarray:
        """Domains whose weight varied over the runs (the others' effect is held fixed)."""
        return self.domain_range_[:, 1] > self.domain_range_[:, 0]

    def fit_kwargs(self) -> dict[str, Any]:
        """The `fit` keywords that reproduce this law's targets on a metrics table whose
        columns are `metric_names_` (used to refit on resampled runs)."""
        self._check_fitted()
        kwargs: dict[str, Any] = {
            "target_names": self.metric_names_,
            "domain_names": self.domain_names_,
            "renormalize": True,
        }
        if self.weights_ is not None:
            kwargs["weights"] = dict(self.weights_)
            kwargs["target_name"] = self.target_names_[0]
        return kwargs

    def _validated(self, R: Any) -> np.ndarray:
        self._check_fitted()
        if hasattr(R, "columns") and hasattr(R, "to_numpy"):
            cols = [str(c) for c in R.columns]
            missing = [d for d in self.domain_names_ if d not in cols]
            if missing:
                raise InputError(f"mixtures: missing domain column(s) {missing}")
            R = R[self.domain_names_]
        arr = np.asarray(R, dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != len(self.domain_names_):
            raise InputError(
                f"mixtures: expected {len(self.domain_names_)} domain columns "
                f"{self.domain_names_}, got shape {arr.shape}"
            )
        arr, _ = check_mixtures(arr, self.domain_names_)
        return arr

    def predict_components(self, R: Any) -> np.ndarray:
        """Predictions for every fitted metric, shape (n, len(fitted_names_))."""
        return self._predict(self._validated(R))

    def predict(self, R: Any) -> np.ndarray:
        """Predicted targets, shape (n, len(target_names_))."""
        return self.predict_unchecked(self._validated(R))

    def gradient(self, R: Any) -> np.ndarray:
        """d prediction / d weight, shape (n, n_targets, n_domains) (for the optimiser)."""
        return self.gradient_unchecked(self._validated(R))

    def predict_unchecked(self, R: np.ndarray) -> np.ndarray:
        """`predict` without input checks, for optimisers whose iterates may leave the
        simplex by rounding error."""
        C = self._predict(R)
        return C if self.combine_ is None else C @ self.combine_[:, None]

    def gradient_unchecked(self, R: np.ndarray) -> np.ndarray:
        """`gradient` without input checks."""
        G = self._gradient(R)
        return G if self.combine_ is None else np.einsum("ntd,t->nd", G, self.combine_)[:, None]

    @property
    def has_gradient(self) -> bool:
        return type(self)._gradient is not MixingLaw._gradient

    # ---- hooks for subclasses ---------------------------------------------------------

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, R: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no analytic gradient")

    def _params_to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        raise NotImplementedError

    # ---- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to predict without the data, as JSON-able values."""
        self._check_fitted()
        return _jsonable(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "kind": self.kind,
                "hyperparams": self.get_params(),
                "domain_names": self.domain_names_,
                "metric_names": self.metric_names_,
                "target_names": self.target_names_,
                "fitted_names": self.fitted_names_,
                "weights": self.weights_,
                "combine": None if self.combine_ is None else self.combine_,
                "run_ids": self.run_ids_,
                "n_runs": self.n_runs_,
                "active_domains": self.active_,
                "domain_range": self.domain_range_,
                "cv": self.cv_,
                "fit_info": self.fit_info_,
                "params": self._params_to_dict(),
            }
        )

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> MixingLaw:
        law = cls(**data["hyperparams"])
        law.domain_names_ = list(data["domain_names"])
        law.metric_names_ = list(data["metric_names"])
        law.target_names_ = list(data["target_names"])
        law.fitted_names_ = list(data["fitted_names"])
        law.weights_ = data["weights"]
        law.combine_ = None if data["combine"] is None else np.asarray(data["combine"], float)
        law.run_ids_ = data["run_ids"]
        law.n_runs_ = int(data["n_runs"])
        law.domain_range_ = np.asarray(data["domain_range"], dtype=float)
        law.cv_ = data.get("cv")
        law.fit_info_ = list(data.get("fit_info") or [])
        law._params_from_dict(data["params"])
        return law


def law_from_dict(data: Mapping[str, Any], expected: type[MixingLaw] | None = None) -> MixingLaw:
    """Rebuild any fitted mixing law from its dict, dispatching on `kind`."""
    law = _any_law_from_dict(data, family="mixing")
    if expected is not None and not isinstance(law, expected):
        raise InputError(f"fitted law: kind {law.kind!r} is not a {expected.__name__}")
    return law
