"""Muennighoff et al.'s (2023) data-constrained law, with both of its decay terms.

L(N, D, U) = E + A / N'^alpha + B / D'^beta, where repeated tokens and excess parameters
are each worth less than fresh ones:

* D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)), U_D = min(U, D), R_D = D / U_D - 1;
* N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)), U_N = min(N, N_opt(U_D)), R_N = N / U_N - 1,
  with N_opt(D) = (alpha A / (beta B))^(1 / alpha) D^(beta / alpha) the compute-optimal size
  for D tokens under the same law.

`chinchilla` fixes (E, A, B, alpha, beta) from a fit on single-epoch runs, so only R*_D and
R*_N are fitted on the repeated ones (the two-stage fit).  Without it all seven parameters
are fitted at once.  `r_star` a number holds R*_D there (R*_N is still fitted); `profile`
refits over a grid of R*_D to show how sharply the data pin it.  The law with only the D'
term (`ChinchillaLaw(r_star="fit")`) lets R*_D absorb the excess-parameter loss.

The paper's fit (huggingface/datablations, utils/parametric_fit.ipynb) is this two-stage
fit with the base from Hoffmann et al.'s C4 IsoFLOP points (alpha = beta tied), not from
the repeated runs: `MUENNIGHOFF_C4`; R*_D 15.39 and R*_N 5.31 (`MUENNIGHOFF_R_STAR`) were
fitted on all 182 runs with that base held, Huber (delta 1e-3) on log loss, L-BFGS.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.estimator import Result
from mixlab.laws.core.fitting import CurveModel, FitWarning, ParamSpec, grid_starts
from mixlab.laws.scaling.base import EXPONENT_MAX
from mixlab.laws.scaling.chinchilla import EPOCH_GRID, ChinchillaLaw, effective_data

__all__ = ["MUENNIGHOFF_C4", "MUENNIGHOFF_R_STAR", "DataConstrainedLaw", "RStarProfile"]

BASE = ("E", "A", "B", "alpha", "beta")
R_STARS = (1.0, 5.0, 15.0, 50.0, 200.0)

# Muennighoff et al.'s base: their Chinchilla fit to Hoffmann et al.'s C4 IsoFLOP points
# (log A, log B, log E = 6.255414, 7.3049974, 0.6254804; alpha = beta = 0.3526596).
MUENNIGHOFF_C4 = {
    "E": float(np.exp(0.6254804)),
    "A": float(np.exp(6.255414)),
    "B": float(np.exp(7.3049974)),
    "alpha": 0.3526596,
    "beta": 0.3526596,
}
MUENNIGHOFF_R_STAR = {"r_star": 15.387756, "r_star_n": 5.309743}


@dataclass
class RStarProfile(Result):
    """The fit's objective with R*_D held at each grid value, the rest refitted.

    `cost` is the robust objective (lower is better) and `r_star_n` the refitted R*_N at
    each `r_star`.  A flat profile means the data do not pin R*_D down.
    """

    r_star: np.ndarray
    cost: np.ndarray
    r_star_n: np.ndarray
    n_points: int = field(default=0)

    @property
    def best(self) -> float:
        """The grid value of R*_D with the lowest objective."""
        return float(self.r_star[int(np.argmin(self.cost))])

    def rise(self) -> np.ndarray:
        """Each objective relative to the grid's best: cost / min(cost) - 1."""
        return self.cost / float(np.min(self.cost)) - 1.0

    def span(self, rel: float = 1e-3) -> tuple[float, float]:
        """Smallest and largest grid R*_D whose objective is within `rel` of the best."""
        ok = self.r_star[self.rise() <= rel]
        return float(ok.min()), float(ok.max())

    def _extra(self) -> dict[str, Any]:
        return {"best": self.best}


class DataConstrainedLaw(ChinchillaLaw):
    """L = E + A / N'^alpha + B / D'^beta with Muennighoff et al.'s N' and D' (see module).

    Inputs N, D, U.  `chinchilla`: fixed E, A, B, alpha, beta (e.g. `ChinchillaLaw().fit(...)`
    on single-epoch runs, `.params_`); None fits them too.
    """

    kind = "constrained"
    label = "data-constrained law"

    def __init__(self, chinchilla: Mapping[str, float] | None = None, **kwargs: Any) -> None:
        """`r_star` (default "fit") may be a number: R*_D is then held there."""
        kwargs.setdefault("r_star", "fit")
        super().__init__(**kwargs)
        self.chinchilla = None if chinchilla is None else dict(chinchilla)

    def _check_hyper(self) -> None:
        super()._check_hyper()
        if self.r_star is None:
            raise InputError(f"{self.label}: r_star must be 'fit' or a positive number (R*_D held)")
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
        if self.r_star == "fit":
            specs.append(ParamSpec("r_star", "log", 1e-3, 1e6))
        specs.append(ParamSpec("r_star_n", "log", 1e-3, 1e6))
        return specs

    def _full(self, th: np.ndarray) -> tuple[float, ...]:
        k = 5 if self.chinchilla is None else 0
        base = th[:5] if self.chinchilla is None else [self.chinchilla[n] for n in BASE]
        r_d = th[k] if self.r_star == "fit" else self.r_star
        return (*(float(v) for v in base), float(r_d), float(th[-1]))

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, A, B, alpha, beta, r_d, r_n = self._full(th)
        D, U = Z[:, 1], Z[:, 2]
        ud = np.minimum(U, D)
        d_eff = effective_data(D, U, r_d)
        log_nopt = (np.log(alpha * A) - np.log(beta * B) + beta * np.log(ud)) / alpha
        log_un = np.minimum(Z[:, 0], log_nopt)
        n_eff = np.exp(log_un) * (1.0 + r_n * -np.expm1(-np.expm1(Z[:, 0] - log_un) / r_n))
        with np.errstate(divide="ignore"):  # a trial step's N' or D' of 0: an infinite loss
            return E + A * n_eff**-alpha + B * d_eff**-beta

    def _model(self) -> CurveModel:
        return CurveModel(self._specs(), self._f, None)  # finite differences: U_N has a kink

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.r_star == "fit":
            r_starts = [(rd, rn) for rd in R_STARS for rn in R_STARS]
        else:
            r_starts = [(rn,) for rn in R_STARS]
        if self.chinchilla is not None:
            return np.array(r_starts)
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
        thin = r_starts[::6] if self.r_star == "fit" else r_starts
        return np.array([[*b, *r] for b in base for r in thin])

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # finite differences (see _model)

    def chinchilla_params(self) -> dict[str, float] | None:
        return None

    def profile(self, X: Any, y: Any, r_stars: Sequence[float]) -> RStarProfile:
        """Refit with R*_D held at each of `r_stars` (R*_N, and the base unless fixed, free).

        Bound warnings of the single refits are left out: the profile is a diagnostic of how
        sharply the data determine R*_D, not a law to predict with.
        """
        grid = np.asarray(r_stars, dtype=float).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
            raise InputError(f"{self.label}: profile r_stars must be positive numbers")
        cost, r_n, n = [], [], 0
        for r in grid:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitWarning)
                law = self.clone(r_star=float(r), n_bootstrap=0).fit(X, y)
            cost.append(law.cost_)
            r_n.append(law.params_["r_star_n"])
            n = law.n_points_
        return RStarProfile(grid, np.array(cost), np.array(r_n), n)

    def params_with_base(self) -> dict[str, float]:
        """All seven parameters, the fixed Chinchilla ones included."""
        self._check_fitted()
        return dict(zip((*BASE, "r_star", "r_star_n"), self._full(self._theta()), strict=True))
