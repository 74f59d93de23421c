"""Additive power law in each domain's share: every domain lowers the loss on its own, with
diminishing returns.

L_i(r) = c_i + sum_j k_ij (r_j + eps_i)^-a_ij, over the domains whose share varied.  The
exp law couples the domains inside one exponential; here each domain's term is a separate,
monotone function of its own share, bounded at a zero share by k_ij eps_i^-a_ij.  Not an
`auto` default: on the Data Mixing Laws proxies it beat the ridge exp law (20/6 splits, at
each proxy size), but as nested prediction's candidate it did worse at 410M and took 5x the
time (docs/benchmarks.md, issue 15 fourth pass).  Add it with `extra_candidates=["power"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear

from mixlab.errors import InputError
from mixlab.laws.core.fitting import CurveModel, ParamSpec, fit_model
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.sum_of_exps import c_lower_bound, eps_lower_bound, fit_record

__all__ = ["PowerSumLaw"]

EPS_STARTS = (1e-2, 5e-2)
A_STARTS = (0.1, 0.3)


class PowerSumLaw(MixingLaw):
    """L_i(r) = c_i + sum_j k_ij (r_j + eps_i)^-a_ij, one law per fitted target.

    Fitted by a robust (Huber, `delta`) loss from starts on a grid of (eps, a), each with c
    and k solved by bounded linear least squares.  `c_min="auto"` keeps c >= 0 for positive
    targets; `eps_min="auto"` keeps eps above a tenth of the smallest positive share (finer
    shares are not identified); `a_max` bounds the exponents.  Fitted attributes: `c_`
    (m,), `k_` (m, d), `a_` (m, d), `eps_` (m,); inactive domains have k = 0.
    """

    kind = "power"

    def __init__(
        self,
        loss: str = "huber",
        delta: float = 1e-2,
        c_min: float | str | None = "auto",
        eps_min: float | str = "auto",
        a_max: float = 4.0,
        method: str = "trf",
        maxiter: int = 1000,
        weighted: str = "components",
    ) -> None:
        self.loss = loss
        self.delta = delta
        self.c_min = c_min
        self.eps_min = eps_min
        self.a_max = a_max
        self.method = method
        self.maxiter = maxiter
        self.weighted = weighted

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        if not (np.isfinite(self.a_max) and self.a_max > 0):
            raise InputError(f"a_max must be a positive number, got {self.a_max!r}")
        X = R[:, self.active_]
        eps_lower = eps_lower_bound(self.eps_min, X)
        m, d = Y.shape[1], R.shape[1]
        self.c_, self.eps_ = np.zeros(m), np.zeros(m)
        self.k_, self.a_ = np.zeros((m, d)), np.zeros((m, d))
        for j in range(m):
            y = Y[:, j]
            c_lower = c_lower_bound(self.c_min, y)
            model = _model(X.shape[1], c_lower, eps_lower, self.a_max)
            res = fit_model(
                model,
                X,
                y,
                starts=_starts(X, y, c_lower, eps_lower, self.a_max),
                loss=self.loss,
                delta=self.delta,
                method=self.method,
                maxiter=self.maxiter,
                label=f"power law, target {self.fitted_names_[j]!r}",
                quiet_bounds=("c", "eps"),
            )
            A = X.shape[1]
            self.c_[j] = res.params[0]
            self.k_[j, self.active_] = res.params[1 : 1 + A]
            self.a_[j, self.active_] = res.params[1 + A : 1 + 2 * A]
            self.eps_[j] = res.params[-1]
            self.fit_info_.append(fit_record(self.fitted_names_[j], res))

    def _predict(self, R: np.ndarray) -> np.ndarray:
        out = np.empty((R.shape[0], len(self.c_)))
        for j in range(len(self.c_)):
            out[:, j] = self.c_[j] + ((R + self.eps_[j]) ** -self.a_[j]) @ self.k_[j]
        return out

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        G = np.empty((R.shape[0], len(self.c_), R.shape[1]))
        for j in range(len(self.c_)):
            a, k = self.a_[j], self.k_[j]
            G[:, j, :] = -a * k * (R + self.eps_[j]) ** (-a - 1.0)
        return G

    def _params_to_dict(self) -> dict[str, Any]:
        return {"c": self.c_, "k": self.k_, "a": self.a_, "eps": self.eps_}

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        self.c_ = np.asarray(params["c"], float)
        self.k_ = np.asarray(params["k"], float)
        self.a_ = np.asarray(params["a"], float)
        self.eps_ = np.asarray(params["eps"], float)


def _model(A: int, c_lower: float, eps_lower: float, a_max: float) -> CurveModel:
    """c, k_1..k_A, a_1..a_A, eps for A active domains."""
    specs = [ParamSpec("c", lower=c_lower)]
    specs += [ParamSpec(f"k{j}", "log", 0.0) for j in range(A)]
    specs += [ParamSpec(f"a{j}", "log", 1e-4, a_max) for j in range(A)]
    specs.append(ParamSpec("eps", "log", eps_lower, 1.0))

    def predict(th: np.ndarray, X: np.ndarray) -> np.ndarray:
        k, a, eps = th[1 : 1 + A], th[1 + A : 1 + 2 * A], th[-1]
        return th[0] + ((X + eps) ** -a) @ k

    def jacobian(th: np.ndarray, X: np.ndarray) -> np.ndarray:
        k, a, eps = th[1 : 1 + A], th[1 + A : 1 + 2 * A], th[-1]
        P = (X + eps) ** -a
        J = np.empty((X.shape[0], 2 * A + 2))
        J[:, 0] = 1.0
        J[:, 1 : 1 + A] = P
        J[:, 1 + A : 1 + 2 * A] = -k * P * np.log(X + eps)
        J[:, -1] = -(a * k * P / (X + eps)).sum(axis=1)
        return J

    return CurveModel(specs, predict, jacobian)


def _starts(
    X: np.ndarray, y: np.ndarray, c_lower: float, eps_lower: float, a_max: float
) -> np.ndarray:
    """For each (eps, a) of the grid, c and k by least squares with c >= c_lower, k > 0."""
    starts = []
    for eps in EPS_STARTS:
        eps = max(eps, 2 * eps_lower)
        for a in A_STARTS:
            a = min(a, a_max / 2)
            M = np.column_stack([np.ones(len(y)), (X + eps) ** -a])
            lower = np.r_[c_lower, np.full(X.shape[1], 1e-8)]
            sol = lsq_linear(M, y, bounds=(lower, np.inf)).x
            c = max(sol[0], c_lower + 1e-8) if np.isfinite(c_lower) else sol[0]
            starts.append(np.r_[c, np.maximum(sol[1:], 1e-6), np.full(X.shape[1], a), eps])
    return np.array(starts)
