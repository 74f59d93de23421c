"""Muennighoff et al.'s (2023) data-constrained law, with both of its decay terms.

L(N, D, U) = E + A / N'^alpha + B / D'^beta, where repeated tokens and excess parameters
are each worth less than fresh ones:

* D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)), U_D = min(U, D), R_D = D / U_D - 1;
* N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)), U_N = min(N, N_opt(U_D)), R_N = N / U_N - 1,
  with N_opt(D) = (alpha A / (beta B))^(1 / alpha) D^(beta / alpha) the compute-optimal size
  for D tokens under the same law.

`chinchilla` fixes (E, A, B, alpha, beta) from a fit on single-epoch runs, so only R*_D and
R*_N are fitted on the repeated ones (the two-stage fit; the paper's published values are
R*_D about 15.4 and R*_N about 5.3).  Without it all seven parameters are fitted at once.
The law with only the D' term (`ChinchillaLaw(r_star="fit")`) lets R*_D absorb the excess-
parameter loss and lands far from the published R*_D.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import CurveModel, ParamSpec, grid_starts
from mixlab.laws.scaling.base import EXPONENT_MAX
from mixlab.laws.scaling.chinchilla import EPOCH_GRID, ChinchillaLaw, effective_data

__all__ = ["DataConstrainedLaw"]

BASE = ("E", "A", "B", "alpha", "beta")
R_STARS = (1.0, 5.0, 15.0, 50.0, 200.0)


class DataConstrainedLaw(ChinchillaLaw):
    """L = E + A / N'^alpha + B / D'^beta with Muennighoff et al.'s N' and D' (see module).

    Inputs N, D, U.  `chinchilla`: fixed E, A, B, alpha, beta (e.g. `ChinchillaLaw().fit(...)`
    on single-epoch runs, `.params_`); None fits them too.
    """

    kind = "constrained"
    label = "data-constrained law"

    def __init__(self, chinchilla: Mapping[str, float] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("r_star", "fit")
        super().__init__(**kwargs)
        self.chinchilla = None if chinchilla is None else dict(chinchilla)

    def _check_hyper(self) -> None:
        super()._check_hyper()
        if self.r_star != "fit":
            raise InputError(f"{self.label}: r_star must be 'fit' (both R* are fitted)")
        if self.chinchilla is not None:
            missing = [k for k in BASE if k not in self.chinchilla]
            if missing:
                raise InputError(f"{self.label}: chinchilla parameters lack {missing}")

    def _specs(self) -> list[ParamSpec]:
        specs = []
        if self.chinchilla is None:
            specs = [
                ParamSpec("E", "log"),
                ParamSpec("A", "log"),
                ParamSpec("B", "log"),
                ParamSpec("alpha", lower=1e-3, upper=EXPONENT_MAX),
                ParamSpec("beta", lower=1e-3, upper=EXPONENT_MAX),
            ]
        specs.append(ParamSpec("r_star", "log", 1e-3, 1e6))
        specs.append(ParamSpec("r_star_n", "log", 1e-3, 1e6))
        return specs

    def _full(self, th: np.ndarray) -> tuple[float, ...]:
        if self.chinchilla is None:
            return tuple(float(v) for v in th[:7])
        return (*(float(self.chinchilla[k]) for k in BASE), float(th[0]), float(th[1]))

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, A, B, alpha, beta, r_d, r_n = self._full(th)
        D, U = Z[:, 1], Z[:, 2]
        ud = np.minimum(U, D)
        d_eff = effective_data(D, U, r_d)
        log_nopt = (np.log(alpha * A) - np.log(beta * B) + beta * np.log(ud)) / alpha
        log_un = np.minimum(Z[:, 0], log_nopt)
        n_eff = np.exp(log_un) * (1.0 + r_n * -np.expm1(-np.expm1(Z[:, 0] - log_un) / r_n))
        return E + A * n_eff**-alpha + B * d_eff**-beta

    def _model(self) -> CurveModel:
        return CurveModel(self._specs(), self._f, None)  # finite differences: U_N has a kink

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        pairs = [(rd, rn) for rd in R_STARS for rn in R_STARS]
        if self.chinchilla is not None:
            return np.array(pairs)
        base = grid_starts(
            CurveModel(super()._specs()[:5], lambda th, Z: Z[:, 0]),
            {
                "E": np.exp(EPOCH_GRID["e"]),
                "A": np.exp(EPOCH_GRID["a"]),
                "B": np.exp(EPOCH_GRID["b"]),
                "alpha": EPOCH_GRID["alpha"][1:],
                "beta": EPOCH_GRID["beta"][1:],
            },
        )
        return np.array([[*b, rd, rn] for b in base for rd, rn in pairs[::6]])

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # finite differences (see _model)

    def chinchilla_params(self) -> dict[str, float] | None:
        return None

    def params_with_base(self) -> dict[str, float]:
        """All seven parameters, the fixed Chinchilla ones included."""
        self._check_fitted()
        return dict(zip((*BASE, "r_star", "r_star_n"), self._full(self._theta()), strict=True))
