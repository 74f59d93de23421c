"""Bootstrap over runs: refit on resampled rows, read intervals off the refits."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw

__all__ = [
    "BootstrapResult",
    "bootstrap_fits",
    "bootstrap_indices",
    "bootstrap_law",
    "bootstrap_replicates",
    "percentile_interval",
]

T = TypeVar("T")


def bootstrap_indices(
    n: int, n_bootstrap: int, seed: int | Sequence[int] | np.random.Generator = 0
) -> np.ndarray:
    """(n_bootstrap, n) row indices drawn with replacement: the one resampling of the package.

    `seed` may be a Generator, to continue its stream (draws are the same as `n_bootstrap`
    successive calls of ``rng.integers(0, n, n)``).
    """
    if n < 1:
        raise InputError(f"bootstrap needs at least 1 row, got {n}")
    if n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.integers(0, n, (n_bootstrap, n))


def percentile_interval(
    samples: np.ndarray, level: float = DEFAULT_LEVEL, axis: int = 0
) -> np.ndarray:
    """Central percentile interval; returns an array with a leading axis of size 2 (lo, hi)."""
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    q = [50 * (1 - level), 50 * (1 + level)]
    return np.percentile(np.asarray(samples, float), q, axis=axis)


def bootstrap_replicates(
    replicate: Callable[[int], T], n_bootstrap: int, what: str = "bootstrap refits"
) -> list[T]:
    """`[replicate(b) for b in range(n_bootstrap)]`, FitWarnings counted and reported once."""
    out = []
    n_warned = 0
    for b in range(n_bootstrap):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitWarning)
            out.append(replicate(b))
        n_warned += any(issubclass(w.category, FitWarning) for w in caught)
        for w in caught:
            if not issubclass(w.category, FitWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if n_warned:
        warnings.warn(
            f"{n_warned} of {n_bootstrap} {what} raised a FitWarning", FitWarning, stacklevel=3
        )
    return out


def bootstrap_fits(
    fit: Callable[[np.ndarray], T], n_rows: int, n_bootstrap: int = 100, seed: int = 0
) -> list[T]:
    """Call `fit(rows)` on `n_bootstrap` resamples of the rows (any law, any fitting code)."""
    if n_rows < 2:
        raise InputError(f"bootstrap needs at least 2 rows, got {n_rows}")
    if n_bootstrap < 1:
        raise InputError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    idx = bootstrap_indices(n_rows, n_bootstrap, seed)
    return bootstrap_replicates(lambda b: fit(idx[b]), n_bootstrap)


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
