"""Two-term power laws in one variable: L(S) = E + B S^-a (step) and L(N) = E + A N^-b (size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import ParamSpec
from mixlab.laws.scaling.base import EXPONENT_MAX, ScalingLaw

__all__ = ["TWO_TERM_EXPONENTS", "PowerLaw1D", "SizeLaw", "StepLaw"]

TWO_TERM_EXPONENTS = tuple(np.geomspace(0.03, 3.0, 14))


class PowerLaw1D(ScalingLaw):
    """One power law in one variable: L(x) = E + K * x^-k, fitted on Z = log x.

    The one form behind :class:`StepLaw` (x = steps) and :class:`SizeLaw` (x = parameters),
    which differ only in the variable's and the parameters' names (`variable`, `names`).
    """

    variable: ClassVar[str] = "x"
    names: ClassVar[tuple[str, str, str]] = ("E", "K", "k")

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.variable,)

    def _specs(self) -> list[ParamSpec]:
        e, c, k = self.names
        return [
            ParamSpec(e, "log"),
            ParamSpec(c, "log"),
            ParamSpec(k, lower=0.0, upper=EXPONENT_MAX),
        ]

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return th[0] + th[1] * np.exp(-th[2] * Z[:, 0])

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        t = np.exp(-th[2] * Z[:, 0])
        return np.column_stack([np.ones_like(t), t, -th[1] * Z[:, 0] * t])

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each exponent on a grid, E and K by least squares (variable projection)."""
        ymin = float(y.min())
        starts = []
        for k in TWO_TERM_EXPONENTS:
            t = np.exp(-k * (Z[:, 0] - Z[:, 0].max()))  # scaled to avoid overflow
            es = [0.5 * ymin, 0.9 * ymin]
            if np.ptp(t) > 0:
                icpt = np.polyfit(t, y, 1)[1]
                es.insert(0, float(np.clip(icpt, 1e-3 * ymin, 0.999 * ymin)))
            for e in es:
                kt = max(float(np.dot(y - e, t) / np.dot(t, t)), 1e-12)
                starts.append([e, kt * np.exp(k * Z[:, 0].max()), k])
        return np.array(starts)

    @property
    def exponent_(self) -> float:
        self._check_fitted()
        return float(self.params_[self.names[2]])


class StepLaw(PowerLaw1D):
    """Loss curve of one run: L(S) = E + B * S^-a (S steps, or tokens).

    Points before the warm-up ends are left out: those with S < max(min_step,
    min_fraction * largest S).  Other hyperparameters as :class:`PowerLaw1D`.
    """

    kind = "step"
    label = "step law"
    variable = "S"
    names = ("E", "B", "a")

    def __init__(self, min_step: float = 0.0, min_fraction: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_step = min_step
        self.min_fraction = min_fraction

    def _check_hyper(self) -> None:
        super()._check_hyper()
        if not (np.isfinite(self.min_step) and self.min_step >= 0):
            raise InputError(f"step law: min_step must be >= 0, got {self.min_step!r}")
        if not 0 <= self.min_fraction < 1:
            raise InputError(f"step law: min_fraction must be in [0, 1), got {self.min_fraction!r}")

    def warmup_end(self, S: Any) -> float:
        """The first step the fit uses on a curve with steps `S`."""
        return max(float(self.min_step), float(self.min_fraction) * float(np.max(S)))

    def _select_rows(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return X[:, 0] >= self.warmup_end(X[:, 0])

    def fit(self, X: Any, y: Any, *, init: Mapping[str, float] | None = None) -> StepLaw:
        """Fit on steps `X` and losses `y`; points before the warm-up end (step 0 included)
        are left out before the positivity check, so a curve logged from step 0 fits."""
        try:
            S = (
                np.asarray(X["S"], float)
                if isinstance(X, Mapping) or hasattr(X, "columns")
                else np.asarray(X, float)
            ).ravel()
        except (TypeError, ValueError, KeyError, IndexError):
            return super().fit(X, y, init=init)  # the base class names the problem
        if np.isnan(S).any() or (S < 0).any():
            return super().fit(X, y, init=init)
        self._check_hyper()
        keep = np.flatnonzero((S > 0) & (S >= self.warmup_end(S)))
        y_all = np.asarray(y, dtype=float).ravel() if np.ndim(y) else y
        if keep.size == S.size or len(y_all) != S.size:
            return super().fit(X, y, init=init)
        super().fit(S[keep], y_all[keep], init=init)
        self.rows_ = keep[self.rows_]
        self.dropped_ = [int(keep[i]) for i in self.dropped_]
        self.n_given_ = int(S.size)
        return self


class SizeLaw(PowerLaw1D):
    """Loss against model size: L(N) = E + A * N^-b."""

    kind = "size"
    label = "size law"
    variable = "N"
    names = ("E", "A", "b")
