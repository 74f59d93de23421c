"""Bootstrap of a fitted mixing law: refit clones on resampled runs, intervals off the refits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_fits, percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.mixing.base import MixingLaw

__all__ = ["BootstrapResult", "bootstrap_law"]


@dataclass
class BootstrapResult:
    """Refits of one law on resampled runs."""

    laws: list[MixingLaw]

    def predict(self, R: Any) -> np.ndarray:
        """Predictions of every refit, shape (n_bootstrap, n, n_targets)."""
        return np.stack([law.predict(R) for law in self.laws])

    def interval(self, R: Any, level: float = DEFAULT_LEVEL) -> np.ndarray:
        """Percentile interval on predictions, shape (2, n, n_targets)."""
        return percentile_interval(self.predict(R), level)

    def param_samples(self) -> dict[str, np.ndarray]:
        """Every numeric fitted parameter stacked over refits: name -> (n_bootstrap, ...)."""
        dicts = [law.to_dict()["params"] for law in self.laws]
        out = {}
        for key in dicts[0]:
            try:
                arr = np.array([d[key] for d in dicts], dtype=float)
            except (TypeError, ValueError):
                continue
            out[key] = arr
        return out

    def param_interval(self, level: float = DEFAULT_LEVEL) -> dict[str, np.ndarray]:
        """Percentile interval on every numeric parameter: name -> (2, ...)."""
        return {k: percentile_interval(v, level) for k, v in self.param_samples().items()}


def bootstrap_law(
    law: MixingLaw,
    R: Any,
    Y: Any,
    *,
    n_bootstrap: int = 20,
    seed: int = 0,
    targets: Sequence[str] | None = None,
) -> BootstrapResult:
    """Refit clones of the fitted `law` on `n_bootstrap` resamples of its runs.

    `R` and `Y` are the tables `law` was fitted on (Y's columns are `law.metric_names_`).
    `targets` restricts the refits to some of the law's per-metric targets (faster when
    only those are needed); it is ignored for a law fitted on a weighted target.
    """
    kwargs = law.fit_kwargs()
    Rm = np.asarray(R.to_numpy() if hasattr(R, "to_numpy") else R, dtype=float)
    Ym = np.asarray(Y.to_numpy() if hasattr(Y, "to_numpy") else Y, dtype=float)
    if Ym.ndim == 1:
        Ym = Ym[:, None]
    if Rm.shape[0] != Ym.shape[0]:
        raise InputError(f"bootstrap: {Rm.shape[0]} mixture rows but {Ym.shape[0]} metric rows")
    if Ym.shape[1] != len(law.metric_names_):
        raise InputError(
            f"bootstrap: Y has {Ym.shape[1]} columns, the law was fitted on "
            f"{len(law.metric_names_)} ({law.metric_names_})"
        )
    if targets is not None and law.weights_ is None:
        unknown = [t for t in targets if t not in law.metric_names_]
        if unknown:
            raise InputError(f"bootstrap: unknown target(s) {unknown}")
        cols = [law.metric_names_.index(t) for t in targets]
        Ym = Ym[:, cols]
        kwargs["target_names"] = list(targets)

    def refit(idx: np.ndarray) -> MixingLaw:
        return law.clone().fit(Rm[idx], Ym[idx], **kwargs)

    return BootstrapResult(bootstrap_fits(refit, Rm.shape[0], n_bootstrap, seed))
