"""What a fit is told: robust losses, parameter specs and transforms, grid starts.

:func:`~mixlab.laws.core.fitting.fit_model` minimises a :class:`Loss` of the residuals of a
:class:`CurveModel`; both are described here, apart from the engine, and re-exported by
`mixlab.laws.core.fitting`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mixlab.errors import InputError

# ---------------------------------------------------------------------------------------
# Robust losses


@dataclass(frozen=True)
class Huber:
    """Huber loss: quadratic for |r| <= delta, linear beyond; summed over rows."""

    delta: float = 1e-3

    def __post_init__(self) -> None:
        if not (np.isfinite(self.delta) and self.delta > 0):
            raise InputError(f"Huber delta must be a positive number, got {self.delta!r}")

    def rho(self, r: np.ndarray) -> np.ndarray:
        a = np.abs(r)
        return np.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))

    def psi(self, r: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`rho`."""
        return np.clip(r, -self.delta, self.delta)

    def ls_loss(self, z: np.ndarray) -> np.ndarray:
        """`rho(sqrt(z))` and its first two derivatives in z, as `least_squares` wants."""
        d2 = self.delta * self.delta
        out = np.empty((3, z.size))
        small = z <= d2
        sz = np.sqrt(np.maximum(z, d2))
        out[0] = np.where(small, 0.5 * z, self.delta * sz - 0.5 * d2)
        out[1] = np.where(small, 0.5, 0.5 * self.delta / sz)
        out[2] = np.where(small, 0.0, -0.25 * self.delta / (sz * sz * sz))
        return out


@dataclass(frozen=True)
class Squared:
    """Plain squared loss, 0.5 * r**2 summed over rows."""

    def rho(self, r: np.ndarray) -> np.ndarray:
        return 0.5 * r * r

    def psi(self, r: np.ndarray) -> np.ndarray:
        return r

    def ls_loss(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros((3, z.size))
        out[0] = 0.5 * z
        out[1] = 0.5
        return out


Loss = Huber | Squared


def make_loss(name: str | Loss, delta: float = 1e-3) -> Loss:
    """Turn `"huber"` / `"squared"` (or a loss object) into a loss object."""
    if isinstance(name, Huber | Squared):
        return name
    if name == "huber":
        return Huber(delta)
    if name in ("squared", "l2"):
        return Squared()
    raise InputError(f"loss must be 'huber' or 'squared', got {name!r}")


# ---------------------------------------------------------------------------------------
# Model description


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its name, transform (`"log"` for positive constants) and bounds.

    Bounds are in the parameter's own (external) units; the optimiser works on the
    transformed value, so a `"log"` parameter is searched on a log scale.
    """

    name: str
    transform: Literal["identity", "log"] = "identity"
    lower: float = -np.inf
    upper: float = np.inf

    def __post_init__(self) -> None:
        if self.transform not in ("identity", "log"):
            raise InputError(f"parameter {self.name!r}: unknown transform {self.transform!r}")
        if self.transform == "log" and self.lower < 0:
            object.__setattr__(self, "lower", 0.0)
        if not self.lower < self.upper:
            raise InputError(
                f"parameter {self.name!r}: lower bound {self.lower} is not below upper "
                f"bound {self.upper}"
            )


@dataclass
class CurveModel:
    """A functional form y = f(theta, X).

    `predict(theta, X)` returns shape (n,); `jacobian(theta, X)` returns d f / d theta with
    shape (n, p) in external units.  Without a Jacobian the engine uses finite differences.
    """

    params: Sequence[ParamSpec]
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def is_log(self) -> np.ndarray:
        return np.array([p.transform == "log" for p in self.params], dtype=bool)

    def to_internal(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        out = theta.copy()
        with np.errstate(divide="ignore"):
            out[..., self.is_log] = np.log(theta[..., self.is_log])
        return out

    def to_external(self, u: np.ndarray) -> np.ndarray:
        out = np.array(u, dtype=float, copy=True)
        out[..., self.is_log] = np.exp(out[..., self.is_log])
        return out

    def internal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([p.lower for p in self.params], dtype=float)
        hi = np.array([p.upper for p in self.params], dtype=float)
        with np.errstate(divide="ignore"):
            lo[self.is_log] = np.log(lo[self.is_log])
            hi[self.is_log] = np.log(hi[self.is_log])
        return lo, hi


# ---------------------------------------------------------------------------------------
# Starting points


def grid_starts(model: CurveModel, grid: Mapping[str, Sequence[float]]) -> np.ndarray:
    """All combinations of per-parameter start values, shape (n_starts, p).

    Every parameter of `model` must appear in `grid` (a single value is fine).
    """
    missing = [n for n in model.names if n not in grid]
    if missing:
        raise InputError(f"grid_starts: no start values for parameter(s) {missing}")
    axes = [np.atleast_1d(np.asarray(grid[n], dtype=float)) for n in model.names]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))
