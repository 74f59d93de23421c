"""Bootstrap over runs: refit on resampled rows, read intervals off the refits.

Family-neutral; the mixing-law bootstrap (`bootstrap_law`) lives in laws/mixing/bootstrap.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.core.fitting import FitWarning

__all__ = [
    "bootstrap_fits",
    "bootstrap_indices",
    "bootstrap_replicates",
    "expanded_level",
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


def expanded_level(level: float, dof: float) -> float:
    """The percentile level that widens a bootstrap interval for a spread estimated from
    `dof` residual degrees of freedom (Hesterberg 2015's expanded percentile interval).

    A percentile interval treats the resampled spread as known, like a z interval, and
    covers less than `level` in small samples; the expanded level is the one whose normal
    quantile equals Student's t quantile on `dof` at `level`.  No change when dof <= 0.
    """
    from scipy.stats import norm
    from scipy.stats import t as student_t

    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if dof <= 0:
        return float(level)
    z = float(student_t.ppf(0.5 + level / 2.0, dof))
    return float(2.0 * norm.cdf(z) - 1.0)


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
