"""Laws in model size and data: Chinchilla (with Muennighoff et al.'s repeated data) and
Gadre et al.'s over-training form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import ParamSpec, grid_starts
from mixlab.laws.scaling.base import EXPONENT_MAX, ScalingLaw

__all__ = ["EPOCH_GRID", "ChinchillaLaw", "OvertrainLaw", "effective_data"]

# Besiroglu et al.'s grid, in their log-space units: e = log E, a = log A, b = log B.
EPOCH_GRID: dict[str, tuple[float, ...]] = {
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
R_STAR_STARTS = (1.0, 5.0, 15.0, 50.0)


def effective_data(D: Any, U: Any, r_star: float) -> np.ndarray:
    """Muennighoff et al.'s effective tokens D' for D tokens drawn from U unique ones.

    D' = U_D + U_D R* (1 - exp(-R / R*)) with U_D = min(U, D) and R = D / U_D - 1 repeats:
    each further epoch is worth less, and D' never exceeds U_D (1 + R*).
    """
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    ud = np.minimum(U, D)
    reps = D / ud - 1.0
    return ud + ud * r_star * -np.expm1(-reps / r_star)


class _NDLaw(ScalingLaw):
    """A law in N (parameters) and D (training tokens)."""

    def loss_at(self, N: Any, D: Any, U: Any = None) -> np.ndarray:
        """Predicted loss at broadcast arrays N, D (and unique tokens U, if the law uses them)."""
        self._check_fitted()
        arrays = [np.asarray(N, float), np.asarray(D, float)]
        if "U" in self.variables:
            arrays.append(np.full_like(arrays[1], np.inf) if U is None else np.asarray(U, float))
        b = np.broadcast_arrays(*arrays)
        shape = b[0].shape
        X = np.column_stack([a.ravel() for a in b])
        if np.any(~(X > 0)):
            raise InputError(f"{self.label}: {', '.join(self.variables)} must be positive numbers")
        with np.errstate(over="ignore"):
            return self._f(self._theta(), self._design(X)).reshape(shape)

    def chinchilla_params(self) -> dict[str, float] | None:
        """(E, A, B, alpha, beta) of the equivalent plain Chinchilla law, if there is one."""
        raise NotImplementedError


class ChinchillaLaw(_NDLaw):
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022; Besiroglu et al. 2024).

    Fitted from Epoch's grid of starts (`grid`, in their log units e, a, b, alpha, beta).
    `drop_highest` leaves out the k highest-loss points.  `r_star` switches to effective
    data for repeated tokens: `None` (every token unique), a number (R* fixed; Muennighoff
    et al. fitted 15.4) or `"fit"`; the inputs then include `U`, the unique tokens.
    """

    kind = "chinchilla"
    label = "chinchilla law"

    def __init__(
        self,
        r_star: float | str | None = None,
        grid: Mapping[str, Sequence[float]] | None = None,
        n_refine: int | None = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_refine=n_refine, **kwargs)
        self.r_star = r_star
        self.grid = grid

    @property
    def _repeats(self) -> str | None:
        """None, 'fixed' or 'fit'."""
        if self.r_star is None:
            return None
        if self.r_star == "fit":
            return "fit"
        try:
            r = float(self.r_star)
        except (TypeError, ValueError):
            raise InputError(
                f"chinchilla law: r_star must be None, 'fit' or a positive number, "
                f"got {self.r_star!r}"
            ) from None
        if not (np.isfinite(r) and r > 0):
            raise InputError(f"chinchilla law: r_star must be positive, got {self.r_star!r}")
        return "fixed"

    @property
    def variables(self) -> tuple[str, ...]:
        return ("N", "D") if self._repeats is None else ("N", "D", "U")

    def _specs(self) -> list[ParamSpec]:
        specs = [
            ParamSpec("E", "log"),
            ParamSpec("A", "log"),
            ParamSpec("B", "log"),
            ParamSpec("alpha", lower=0.0, upper=EXPONENT_MAX),
            ParamSpec("beta", lower=0.0, upper=EXPONENT_MAX),
        ]
        if self._repeats == "fit":
            specs.append(ParamSpec("r_star", "log", 1e-3, 1e6))
        return specs

    def _design(self, X: np.ndarray) -> np.ndarray:
        # [log N, log D] or, with repeats, [log N, D, U]
        if self._repeats is None:
            return np.log(X)
        return np.column_stack([np.log(X[:, 0]), X[:, 1], X[:, 2]])

    def _r_star(self, th: np.ndarray) -> float:
        return float(th[5]) if self._repeats == "fit" else float(self.r_star)

    def _log_d(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        if self._repeats is None:
            return Z[:, 1]
        return np.log(effective_data(Z[:, 1], Z[:, 2], self._r_star(th)))

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return (
            th[0] + th[1] * np.exp(-th[3] * Z[:, 0]) + th[2] * np.exp(-th[4] * self._log_d(th, Z))
        )

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        ln, ld = Z[:, 0], self._log_d(th, Z)
        tn, td = np.exp(-th[3] * ln), np.exp(-th[4] * ld)
        cols = [np.ones_like(tn), tn, td, -th[1] * ln * tn, -th[2] * ld * td]
        if self._repeats == "fit":
            D, U, r = Z[:, 1], Z[:, 2], th[5]
            ud = np.minimum(U, D)
            q = (D / ud - 1.0) / r
            dDeff = ud * (-np.expm1(-q) - q * np.exp(-q))
            cols.append(-th[4] * th[2] * td / np.exp(ld) * dDeff)
        return np.column_stack(cols)

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = {**EPOCH_GRID, **(self.grid or {})}
        unknown = [k for k in g if k not in EPOCH_GRID]
        if unknown:
            raise InputError(
                f"chinchilla law: grid has unknown key(s) {unknown}; use {sorted(EPOCH_GRID)}"
            )
        ext = {
            "E": np.exp(g["e"]),
            "A": np.exp(g["a"]),
            "B": np.exp(g["b"]),
            "alpha": g["alpha"],
            "beta": g["beta"],
        }
        if self._repeats == "fit":
            ext["r_star"] = R_STAR_STARTS
        return grid_starts(self._model(), ext)

    def chinchilla_params(self) -> dict[str, float] | None:
        self._check_fitted()
        if self._repeats is not None:
            return None
        return {k: self.params_[k] for k in ("E", "A", "B", "alpha", "beta")}


class OvertrainLaw(_NDLaw):
    """Over-training law (Gadre et al. 2024): L = E + (a M^eta + b M^-eta) C^-eta.

    C = 6 N D is the compute and M = D / N the tokens per parameter; at fixed M the loss is
    a power law in C with the same exponent.  Equal to Chinchilla with A = a 6^-eta,
    B = b 6^-eta and alpha = beta = 2 eta.
    """

    kind = "overtrain"
    label = "overtrain law"

    def __init__(self, n_refine: int | None = 16, **kwargs: Any) -> None:
        super().__init__(n_refine=n_refine, **kwargs)

    @property
    def variables(self) -> tuple[str, ...]:
        return ("N", "D")

    def _specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("E", "log"),
            ParamSpec("a", "log"),
            ParamSpec("b", "log"),
            ParamSpec("eta", lower=0.0, upper=EXPONENT_MAX),
        ]

    def _design(self, X: np.ndarray) -> np.ndarray:
        ln, ld = np.log(X[:, 0]), np.log(X[:, 1])
        return np.column_stack([np.log(6.0) + ln + ld, ld - ln])  # log C, log M

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, a, b, eta = th
        return E + a * np.exp(eta * (Z[:, 1] - Z[:, 0])) + b * np.exp(-eta * (Z[:, 1] + Z[:, 0]))

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, a, b, eta = th
        u, v = Z[:, 1] - Z[:, 0], -(Z[:, 1] + Z[:, 0])
        t1, t2 = np.exp(eta * u), np.exp(eta * v)
        return np.column_stack([np.ones_like(t1), t1, t2, a * u * t1 + b * v * t2])

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each eta on a grid, E, a, b by non-negative least squares."""
        from scipy.optimize import nnls

        ymin = float(y.min())
        starts = []
        for eta in np.geomspace(0.02, 1.5, 16):
            u, v = Z[:, 1] - Z[:, 0], -(Z[:, 1] + Z[:, 0])
            su, sv = u.max(), v.max()
            F = np.column_stack([np.ones_like(u), np.exp(eta * (u - su)), np.exp(eta * (v - sv))])
            coef = nnls(F, y)[0]
            e0 = float(np.clip(coef[0], 1e-3 * ymin, 0.999 * ymin))
            for e in (e0, 0.5 * ymin):
                c = nnls(F[:, 1:], y - e)[0]
                a = max(float(c[0]), 1e-12) * np.exp(-eta * su)
                b = max(float(c[1]), 1e-12) * np.exp(-eta * sv)
                starts.append([e, a, b, eta])
        return np.array(starts)

    def chinchilla_params(self) -> dict[str, float] | None:
        self._check_fitted()
        p = self.params_
        s = 6.0 ** -p["eta"]
        return {
            "E": p["E"],
            "A": p["a"] * s,
            "B": p["b"] * s,
            "alpha": 2 * p["eta"],
            "beta": 2 * p["eta"],
        }
