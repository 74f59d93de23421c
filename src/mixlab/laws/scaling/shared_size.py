"""The size law of nested prediction: L_g(N) = E_g + A_g N^-b, one exponent b shared by every group.

With 3 or 4 proxy sizes a per-mixture size law has as many parameters as points; sharing b
across mixtures keeps each fit determined (see nested.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.laws.core.estimator import Estimator, jsonable
from mixlab.laws.core.fitting import CurveModel, ParamSpec, fit_model, screen_starts
from mixlab.laws.scaling.forms import EXPONENT_MAX, TWO_TERM_EXPONENTS

__all__ = ["SharedExponentSizeLaw", "fixed_exponent_fit"]


class SharedExponentSizeLaw(Estimator):
    """L_g(N) = E_g + A_g N^-b: one size law per group (mixture) with a common exponent b.

    Fitted jointly by the shared engine (Huber on log residuals, L-BFGS); starts pick b on
    a grid with E_g, A_g by least squares, then the best few are refined.
    """

    kind = "shared_size"
    family = "nested"
    label = "shared-exponent size law"
    fitted_attr = "theta_"

    def __init__(
        self, loss: str = "huber", delta: float = 1e-3, n_refine: int = 4, maxiter: int = 5000
    ) -> None:
        self.loss = loss
        self.delta = delta
        self.n_refine = n_refine
        self.maxiter = maxiter

    def _model(self, G: int) -> CurveModel:
        specs = [ParamSpec(f"E{g}", "log") for g in range(G)]
        specs += [ParamSpec(f"A{g}", "log") for g in range(G)]
        specs.append(ParamSpec("b", lower=0.0, upper=EXPONENT_MAX))

        def predict(th: np.ndarray, Z: np.ndarray) -> np.ndarray:
            g = Z[:, 1].astype(int)
            return th[g] + th[G + g] * np.exp(-th[-1] * Z[:, 0])

        def jacobian(th: np.ndarray, Z: np.ndarray) -> np.ndarray:
            g = Z[:, 1].astype(int)
            t = np.exp(-th[-1] * Z[:, 0])
            J = np.zeros((len(g), 2 * G + 1))
            rows = np.arange(len(g))
            J[rows, g] = 1.0
            J[rows, G + g] = t
            J[:, -1] = -th[G + g] * Z[:, 0] * t
            return J

        return CurveModel(specs, predict, jacobian)

    def _starts(self, Z: np.ndarray, y: np.ndarray, G: int) -> np.ndarray:
        g = Z[:, 1].astype(int)
        top = Z[:, 0].max()
        starts = []
        for b in TWO_TERM_EXPONENTS:
            t = np.exp(-b * (Z[:, 0] - top))
            E, A = np.empty(G), np.empty(G)
            for k in range(G):
                m = g == k
                yk, tk = y[m], t[m]
                ymin = float(yk.min())
                icpt = np.polyfit(tk, yk, 1)[1] if np.ptp(tk) > 0 else 0.9 * ymin
                E[k] = float(np.clip(icpt, 1e-3 * ymin, 0.999 * ymin))
                A[k] = max(float(np.dot(yk - E[k], tk) / np.dot(tk, tk)), 1e-12) * np.exp(b * top)
            starts.append(np.concatenate([E, A, [b]]))
        return np.array(starts)

    def fit(
        self, N: np.ndarray, y: np.ndarray, groups: np.ndarray, init: np.ndarray | None = None
    ) -> SharedExponentSizeLaw:
        """Fit on sizes `N`, losses `y` and integer group labels 0..G-1."""
        groups = np.asarray(groups, int)
        G = int(groups.max()) + 1
        Z = np.column_stack([np.log(np.asarray(N, float)), groups])
        y = np.asarray(y, float)
        model = self._model(G)
        if init is None:
            starts = screen_starts(
                model, Z, y, self._starts(Z, y, G), self.n_refine, loss=self.loss, delta=self.delta
            )
        else:
            starts = np.atleast_2d(init)
        res = fit_model(
            model,
            Z,
            y,
            starts=starts,
            loss=self.loss,
            delta=self.delta,
            residual="log",
            method="lbfgs",
            maxiter=self.maxiter,
            label=self.label,
        )
        self.theta_ = res.params
        self.n_groups_ = G
        self.cost_ = float(res.cost)
        return self

    @property
    def exponent_(self) -> float:
        self._check_fitted()
        return float(self.theta_[-1])

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return jsonable(
            {
                "format": self.format,
                "version": 1,
                "kind": self.kind,
                "hyperparams": self.get_params(),
                "theta": self.theta_,
                "n_groups": self.n_groups_,
                "cost": self.cost_,
            }
        )

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> SharedExponentSizeLaw:
        law = cls(**data["hyperparams"])
        law.theta_ = np.asarray(data["theta"], dtype=float)
        law.n_groups_ = int(data["n_groups"])
        law.cost_ = float(data["cost"])
        return law

    def params(self, g: int) -> dict[str, float]:
        G = self.n_groups_
        return {"E": float(self.theta_[g]), "A": float(self.theta_[G + g]), "b": self.exponent_}

    def predict(self, N: float) -> np.ndarray:
        """Every group's predicted loss at size N, shape (G,)."""
        G = self.n_groups_
        return self.theta_[:G] + self.theta_[G : 2 * G] * float(N) ** -self.exponent_


def fixed_exponent_fit(N: np.ndarray, y: np.ndarray, g: np.ndarray, G: int, b: float) -> np.ndarray:
    """[E_0..E_G-1, A_0..A_G-1, b]: least squares in E and A for a fixed exponent b."""
    E, A = np.full(G, np.nan), np.full(G, np.nan)
    x = N**-b
    for k in range(G):
        m = g == k
        if m.sum() >= 2 and np.ptp(x[m]) > 0:
            A[k], E[k] = np.polyfit(x[m], y[m], 1)
    return np.concatenate([E, A, [b]])
