"""The shared machinery of the sum-of-exponentials mixing laws (`ExpLaw`, `ImplicitLaw`).

Where each parameter sits in the flat vector (`_Layout`), the linearised start, and the
base class that fits one such law per target; the two laws themselves are in `explicit.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import CurveModel, FitResult, ParamSpec
from mixlab.laws.mixing.base import MixingLaw

FEATURES = ("linear", "log", "linear+log")
EPS_MAX = 1.0


def c_lower_bound(c_min: float | str | None, y: np.ndarray) -> float:
    """Lower bound on c: "auto" is 0 for positive targets (a loss never goes below 0)."""
    if c_min is None:
        return -np.inf
    if c_min == "auto":
        return 0.0 if float(np.min(y)) > 0 else -np.inf
    try:
        return float(c_min)
    except (TypeError, ValueError):
        raise InputError(f"c_min must be 'auto', None or a number, got {c_min!r}") from None


def eps_lower_bound(eps_min: float | str, X: np.ndarray) -> float:
    """Lower bound on a fitted eps: "auto" is a tenth of the smallest positive weight in the
    runs, since shares finer than the design's resolution are not identified."""
    if eps_min == "auto":
        positive = X[X > 0]
        return float(max(0.1 * positive.min(), 1e-6)) if positive.size else 1e-6
    try:
        value = float(eps_min)
    except (TypeError, ValueError):
        raise InputError(f"eps_min must be 'auto' or a number, got {eps_min!r}") from None
    if not 0 < value < EPS_MAX:
        raise InputError(f"eps_min must be in (0, {EPS_MAX}), got {value!r}")
    return value


def fit_record(target: str, res: FitResult) -> dict[str, Any]:
    """What a law keeps in `fit_info_` of one target's fit."""
    return {
        "target": target,
        "cost": res.cost,
        "r2": res.r2,
        "success": res.success,
        "n_starts": res.n_starts,
        "n_at_best": res.n_at_best,
        "at_bounds": list(res.at_bounds),
    }


class _Layout:
    """Where each parameter of a sum-of-exponentials law sits in the flat vector."""

    def __init__(
        self,
        K: int,
        A: int,
        features: str,
        eps: float | str,
        c_lower: float = -np.inf,
        eps_lower: float = 1e-6,
    ) -> None:
        if features not in FEATURES:
            raise InputError(f"features must be one of {FEATURES}, got {features!r}")
        self.K, self.A = K, A
        self.c_lower = c_lower
        self.eps_lower = eps_lower
        self.lin = "linear" in features
        self.log = "log" in features
        self.fit_eps = self.log and eps == "fit"
        if self.log and not self.fit_eps:
            try:
                eps = float(eps)
            except (TypeError, ValueError):
                raise InputError(f"eps must be 'fit' or a positive number, got {eps!r}") from None
            if not (np.isfinite(eps) and eps > 0):
                raise InputError(f"eps must be 'fit' or a positive number, got {eps!r}")
        self.eps_fixed = float(eps) if self.log and not self.fit_eps else 0.0
        i = 1
        self.b = slice(i, i + (0 if self.lin else K))
        i = self.b.stop
        self.t = slice(i, i + (K * A if self.lin else 0))
        i = self.t.stop
        self.u = slice(i, i + (K * A if self.log else 0))
        i = self.u.stop
        self.e = slice(i, i + (1 if self.fit_eps else 0))
        self.size = self.e.stop

    def specs(self) -> list[ParamSpec]:
        specs = [ParamSpec("c", lower=self.c_lower)]
        specs += [ParamSpec(f"b{k}") for k in range(self.b.stop - self.b.start)]
        specs += [ParamSpec(f"t{i}") for i in range(self.t.stop - self.t.start)]
        specs += [ParamSpec(f"u{i}") for i in range(self.u.stop - self.u.start)]
        if self.fit_eps:
            specs.append(ParamSpec("eps", "log", self.eps_lower, EPS_MAX))
        return specs

    def unpack(self, th: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, float]:
        K, A = self.K, self.A
        b = th[self.b] if not self.lin else np.zeros(K)
        t = th[self.t].reshape(K, A) if self.lin else np.zeros((K, A))
        u = th[self.u].reshape(K, A) if self.log else np.zeros((K, A))
        eps = float(th[self.e][0]) if self.fit_eps else self.eps_fixed
        return float(th[0]), b, t, u, eps

    def pack(self, c: float, b: np.ndarray, t: np.ndarray, u: np.ndarray, eps: float) -> np.ndarray:
        th = np.empty(self.size)
        th[0] = c
        if not self.lin:
            th[self.b] = b
        if self.lin:
            th[self.t] = np.ravel(t)
        if self.log:
            th[self.u] = np.ravel(u)
        if self.fit_eps:
            th[self.e] = eps
        return th

    def exponents(self, th: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """z (n, K) and log(X + eps) (or None)."""
        _, b, t, u, eps = self.unpack(th)
        z = np.broadcast_to(b, (X.shape[0], self.K)).copy()
        if self.lin:
            z += X @ t.T
        L = None
        if self.log:
            L = np.log(X + eps)
            z += L @ u.T
        return z, L

    def model(self) -> CurveModel:
        def predict(th: np.ndarray, X: np.ndarray) -> np.ndarray:
            z, _ = self.exponents(th, X)
            return th[0] + np.exp(np.minimum(z, 700.0)).sum(axis=1)

        def jacobian(th: np.ndarray, X: np.ndarray) -> np.ndarray:
            _, _, _, u, eps = self.unpack(th)
            z, L = self.exponents(th, X)
            E = np.exp(np.minimum(z, 700.0))
            n = X.shape[0]
            J = np.empty((n, self.size))
            J[:, 0] = 1.0
            if not self.lin:
                J[:, self.b] = E
            if self.lin:
                J[:, self.t] = (E[:, :, None] * X[:, None, :]).reshape(n, -1)
            if self.log:
                J[:, self.u] = (E[:, :, None] * L[:, None, :]).reshape(n, -1)
            if self.fit_eps:
                J[:, self.e.start] = np.sum(E * ((1.0 / (X + eps)) @ u.T), axis=1)
            return J

        return CurveModel(self.specs(), predict, jacobian)


def _c_span(y: np.ndarray) -> float:
    span = float(np.ptp(y))
    return span if span > 0 else max(abs(float(np.mean(y))) * 0.1, 1e-3)


def _linearised_start(
    lay: _Layout, X: np.ndarray, y: np.ndarray, c0: float, eps0: float
) -> np.ndarray:
    """Least squares of log(y - c0) on the features: a good single-exponential start."""
    cols = []
    if not lay.lin:
        cols.append(np.ones((X.shape[0], 1)))
    if lay.lin:
        cols.append(X)
    if lay.log:
        cols.append(np.log(X + eps0))
    D = np.hstack(cols)
    z = np.log(np.maximum(y - c0, 1e-12))
    coef = np.linalg.lstsq(D, z, rcond=None)[0]
    i = 0
    b = np.zeros(1)
    if not lay.lin:
        b, i = coef[:1], 1
    t = coef[i : i + lay.A] if lay.lin else np.zeros(lay.A)
    i += lay.A if lay.lin else 0
    u = coef[i : i + lay.A] if lay.log else np.zeros(lay.A)
    return lay.pack(c0, b, t[None, :], u[None, :], eps0)


class _SumOfExpsLaw(MixingLaw):
    """Shared machinery: fit one sum-of-exponentials law per fitted target."""

    n_components: int
    features: str
    eps: float | str
    loss: str
    delta: float
    method: str
    maxiter: int
    seed: int

    def _c_lower(self, y: np.ndarray) -> float:
        return c_lower_bound(self.c_min, y)

    def _eps_lower(self, X: np.ndarray) -> float:
        return eps_lower_bound(self.eps_min, X)

    def _layout(self, A: int, y: np.ndarray, K: int | None = None) -> _Layout:
        K = self.n_components if K is None else K
        return _Layout(K, A, self.features, self.eps, self._c_lower(y), self.eps_lower_)

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        X = R[:, self.active_]
        self.eps_lower_ = self._eps_lower(X)
        self._layout(X.shape[1], Y[:, 0])  # validates the hyperparameters early
        self.active_sum_ = float(X[0].sum())
        m, d = Y.shape[1], R.shape[1]
        K = self.n_components
        self.c_ = np.zeros(m)
        self.s_ = np.zeros((m, K))
        self.t_ = np.zeros((m, K, d))
        self.u_ = np.zeros((m, K, d))
        self.eps_ = np.zeros(m)
        rng = np.random.default_rng(self.seed)
        for j in range(m):
            label = f"{self.kind} law, target {self.fitted_names_[j]!r}"
            lay = self._layout(X.shape[1], Y[:, j])
            res = self._fit_one(lay, X, Y[:, j], rng, label)
            self._store(j, lay, res.params)
            self.fit_info_.append(fit_record(self.fitted_names_[j], res))

    def _fit_one(
        self, lay: _Layout, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, label: str
    ) -> FitResult:
        raise NotImplementedError

    def _single_starts(
        self,
        lay: _Layout,
        X: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        c_offsets: tuple[float, ...],
        eps_starts: tuple[float, ...],
        n_random: int,
        jitter: float,
    ) -> np.ndarray:
        span = _c_span(y)
        eps0s = [max(e, 2 * lay.eps_lower) for e in eps_starts] if lay.fit_eps else [lay.eps_fixed]
        ymin = float(y.min())
        c0s = [max(ymin - f * span, 0.5 * (ymin + lay.c_lower)) for f in c_offsets]
        base = [_linearised_start(lay, X, y, c0, float(e)) for c0 in c0s for e in eps0s]
        starts = list(base)
        expo = np.zeros(lay.size, bool)
        expo[lay.t] = True
        expo[lay.u] = True
        for i in range(n_random):
            s = base[i % len(base)].copy()
            s[expo] += rng.normal(0.0, jitter, int(expo.sum()))
            starts.append(s)
        return np.array(starts)

    def _store(self, j: int, lay: _Layout, th: np.ndarray) -> None:
        c, b, t, u, eps = lay.unpack(th)
        if lay.lin:  # centre t_k over the learnable domains; the shift moves into s_k
            mean = t.mean(axis=1)
            t = t - mean[:, None]
            b = b + mean * self.active_sum_
        order = np.argsort(-b, kind="stable")
        self.c_[j] = c
        self.s_[j] = np.exp(b[order])
        self.t_[j][:, self.active_] = t[order]
        self.u_[j][:, self.active_] = u[order]
        self.eps_[j] = eps if lay.log else 0.0

    def _terms(self, R: np.ndarray) -> list[np.ndarray]:
        """exp(t_k . r + u_k . log(r + eps)) for every target, each (n, K)."""
        out = []
        for j in range(len(self.c_)):
            z = R @ self.t_[j].T
            if "log" in self.features:
                z = z + np.log(R + self.eps_[j]) @ self.u_[j].T
            out.append(np.exp(np.minimum(z, 700.0)))
        return out

    def _predict(self, R: np.ndarray) -> np.ndarray:
        terms = self._terms(R)
        return np.stack([self.c_[j] + terms[j] @ self.s_[j] for j in range(len(terms))], axis=1)

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        terms = self._terms(R)
        G = np.empty((R.shape[0], len(terms), R.shape[1]))
        for j, E in enumerate(terms):
            W = E * self.s_[j]
            G[:, j, :] = W @ self.t_[j]
            if "log" in self.features:
                G[:, j, :] += (W @ self.u_[j]) / (R + self.eps_[j])
        return G

    def _params_to_dict(self) -> dict[str, Any]:
        return {
            "c": self.c_,
            "s": self.s_,
            "t": self.t_,
            "u": self.u_,
            "eps": self.eps_,
            "active_sum": self.active_sum_,
        }

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        self.c_ = np.asarray(params["c"], float)
        self.s_ = np.asarray(params["s"], float)
        self.t_ = np.asarray(params["t"], float)
        self.u_ = np.asarray(params["u"], float)
        self.eps_ = np.asarray(params["eps"], float)
        self.active_sum_ = float(params["active_sum"])
