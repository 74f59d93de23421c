"""The fitting engine every law shares: robust losses, parameter transforms, multi-start.

A law describes its functional form once as a :class:`CurveModel` (parameter specs, a
prediction function and, where practical, its analytic Jacobian).  :func:`fit_model` then
minimises a robust loss of the residuals from many starting points and returns the best
:class:`FitResult`.  A Chinchilla fit, for example, is::

    model = CurveModel(
        params=[ParamSpec("E", "log"), ParamSpec("A", "log"), ParamSpec("B", "log"),
                ParamSpec("alpha", lower=0, upper=2), ParamSpec("beta", lower=0, upper=2)],
        predict=lambda th, X: th[0] + th[1] * X[:, 0] ** -th[3] + th[2] * X[:, 1] ** -th[4],
    )
    fit_model(model, X, loss, loss=Huber(1e-3), residual="log", method="lbfgs",
              starts=grid_starts(model, {"E": [1, 2], "A": [1e2, 1e3], ...}))
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import least_squares, minimize

from mixlab.errors import InputError

__all__ = [
    "CurveModel",
    "FitResult",
    "FitWarning",
    "Huber",
    "ParamSpec",
    "Squared",
    "fit_model",
    "grid_starts",
    "random_starts",
]


class FitWarning(UserWarning):
    """A fit converged poorly, stopped early, hit a bound, or had too little data."""


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


def random_starts(
    model: CurveModel,
    n: int,
    lower: Sequence[float],
    upper: Sequence[float],
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """`n` seeded starts drawn uniformly in [lower, upper] (log-uniformly for log params)."""
    rng = np.random.default_rng(seed)
    lo = model.to_internal(np.asarray(lower, dtype=float))
    hi = model.to_internal(np.asarray(upper, dtype=float))
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InputError("random_starts: start ranges must be finite (and > 0 for log params)")
    return model.to_external(rng.uniform(lo, hi, size=(n, len(lo))))


# ---------------------------------------------------------------------------------------
# Fitting


@dataclass
class FitResult:
    """The best of a multi-start fit, plus what the other starts found."""

    params: np.ndarray
    names: list[str]
    loss: float
    success: bool
    message: str
    n_starts: int
    n_converged: int
    n_at_best: int
    r2: float
    nfev: int
    start_losses: np.ndarray = field(repr=False)
    at_bounds: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.params, strict=True)}


def _residual_transform(kind: str) -> tuple[Callable, Callable]:
    if kind == "identity":
        return (lambda p: p), (lambda p: np.ones_like(p))
    if kind == "log":
        tiny = 1e-300
        return (lambda p: np.log(np.maximum(p, tiny))), (lambda p: 1.0 / np.maximum(p, tiny))
    raise InputError(f"residual must be 'identity' or 'log', got {kind!r}")


def _fd_jacobian(model: CurveModel, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    base = model.predict(theta, X)
    J = np.empty((base.size, theta.size))
    for j in range(theta.size):
        h = 1e-7 * max(1.0, abs(theta[j]))
        tp = theta.copy()
        tp[j] += h
        J[:, j] = (model.predict(tp, X) - base) / h
    return J


def fit_model(
    model: CurveModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    starts: np.ndarray,
    loss: Loss | str = "huber",
    delta: float = 1e-3,
    residual: Literal["identity", "log"] = "identity",
    method: Literal["lbfgs", "trf"] = "lbfgs",
    penalty: float = 0.0,
    penalty_mask: np.ndarray | None = None,
    maxiter: int = 2000,
    tol: float = 1e-10,
    min_r2: float | None = None,
    label: str = "fit",
    warn: bool = True,
    quiet_bounds: Sequence[str] = (),
) -> FitResult:
    """Minimise sum_i rho(g(f(theta, X_i)) - g(y_i)) + penalty/2 * |theta[mask]|^2.

    `g` is the identity or log (`residual`), rho a robust loss summed over rows (not
    averaged, as Hoffmann et al. and Besiroglu et al. do).  Each row of `starts` is one
    starting point in external units; the best final loss wins, ties to the earliest start,
    so the result is deterministic.  `method="lbfgs"` is L-BFGS-B on the gradient
    J^T psi(r); `method="trf"` is scipy's trust-region least squares with the same robust
    loss, usually faster when the model has many parameters.  Warns (`FitWarning`) when
    the best start did not converge, a parameter ends on a bound (except those named in
    `quiet_bounds`), the data have fewer rows than parameters, or R^2 on the residual scale
    is below `min_r2`.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    p = len(model.params)
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if starts.shape[1] != p:
        raise InputError(f"{label}: starts have {starts.shape[1]} columns, model has {p} params")
    if not np.all(np.isfinite(y)):
        raise InputError(f"{label}: target contains NaN or infinite values")
    rho = make_loss(loss, delta)
    g, dg = _residual_transform(residual)
    gy = g(y)
    if residual == "log" and np.any(y <= 0):
        raise InputError(f"{label}: residual='log' needs positive targets")
    mask = np.ones(p, bool) if penalty_mask is None else np.asarray(penalty_mask, bool)
    lo, hi = model.internal_bounds()
    is_log = model.is_log
    jac_fn = model.jacobian or (lambda th, XX: _fd_jacobian(model, th, XX))

    def resid_and_jac(u: np.ndarray, need_jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        theta = model.to_external(u)
        pred = model.predict(theta, X)
        r = g(pred) - gy
        if not need_jac:
            return r, None
        J = jac_fn(theta, X) * dg(pred)[:, None]
        J[:, is_log] *= theta[is_log]
        return r, J

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            r, J = resid_and_jac(u, True)
        val = float(np.sum(rho.rho(r))) + 0.5 * penalty * float(np.sum(u[mask] ** 2))
        if not np.isfinite(val) or not np.all(np.isfinite(J)):
            return 1e300, np.zeros_like(u)
        grad = J.T @ rho.psi(r)
        grad[mask] += penalty * u[mask]
        return val, grad

    n_pen = int(mask.sum()) if penalty > 0 else 0
    sq = np.sqrt(penalty) if penalty > 0 else 0.0
    n = y.size

    def ls_fun(u: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            r, _ = resid_and_jac(u, False)
        r = np.nan_to_num(r, nan=1e100, posinf=1e100, neginf=-1e100)
        return np.concatenate([r, sq * u[mask]]) if n_pen else r

    def ls_jac(u: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            _, J = resid_and_jac(u, True)
        J = np.nan_to_num(J, nan=0.0, posinf=1e150, neginf=-1e150)
        if n_pen:
            P = np.zeros((n_pen, p))
            P[np.arange(n_pen), np.flatnonzero(mask)] = sq
            J = np.vstack([J, P])
        return J

    def ls_loss(z: np.ndarray) -> np.ndarray:
        out = rho.ls_loss(z)
        if n_pen:  # the penalty rows are plain squares whatever the data loss
            out[0, n:] = 0.5 * z[n:]
            out[1, n:] = 0.5
            out[2, n:] = 0.0
        return out

    results = []
    for s in starts:
        u0 = np.clip(model.to_internal(s), lo, hi)
        if not np.all(np.isfinite(u0)):
            raise InputError(f"{label}: start {s.tolist()} is not finite in the fit's units")
        if method == "lbfgs":
            res = minimize(
                objective, u0, jac=True, method="L-BFGS-B",
                bounds=list(zip(lo, hi, strict=True)),
                options={"maxiter": maxiter, "ftol": tol, "gtol": 1e-12, "maxfun": 4 * maxiter},
            )
            results.append((float(res.fun), res.x, bool(res.success), str(res.message),
                            int(res.nfev)))
        elif method == "trf":
            # least_squares needs the start strictly inside finite bounds.
            span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
            u0 = np.clip(u0, lo + 1e-9 * span, hi - 1e-9 * span)
            res = least_squares(
                ls_fun, u0, jac=ls_jac, loss=ls_loss, bounds=(lo, hi), method="trf",
                x_scale="jac", max_nfev=maxiter, ftol=tol, xtol=tol, gtol=tol,
            )
            val, _ = objective(res.x)
            results.append((val, res.x, res.status > 0, str(res.message), int(res.nfev)))
        else:
            raise InputError(f"method must be 'lbfgs' or 'trf', got {method!r}")

    losses = np.array([r[0] for r in results])
    best = int(np.argmin(losses))
    fun, u, success, message, _ = results[best]
    theta = model.to_external(u)
    with np.errstate(over="ignore", invalid="ignore"):
        resid = g(model.predict(theta, X)) - gy
    ss_tot = float(np.sum((gy - gy.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    scale = max(abs(fun), 1e-12)
    n_at_best = int(np.sum(losses <= fun + 1e-6 * scale))
    span = np.where(np.isfinite(hi - lo), hi - lo, np.inf)
    at_bounds = []
    for j in range(p):
        room = 1e-6 * min(span[j], 1.0) + 1e-12
        low_hit = np.isfinite(lo[j]) and u[j] - lo[j] <= room
        high_hit = np.isfinite(hi[j]) and hi[j] - u[j] <= room
        if (low_hit or high_hit) and model.names[j] not in quiet_bounds:
            at_bounds.append(model.names[j])
    result = FitResult(
        params=theta, names=model.names, loss=fun, success=success, message=message,
        n_starts=len(results), n_converged=sum(r[2] for r in results), n_at_best=n_at_best,
        r2=r2, nfev=sum(r[4] for r in results), start_losses=losses, at_bounds=at_bounds,
    )
    if warn:
        _warn_about(result, n_rows=n, label=label, min_r2=min_r2, penalized=penalty > 0)
    return result


def _warn_about(
    res: FitResult, *, n_rows: int, label: str, min_r2: float | None, penalized: bool
) -> None:
    p = len(res.names)
    if n_rows < p and not penalized:
        warnings.warn(
            f"{label}: {n_rows} rows for {p} parameters; the fit is underdetermined",
            FitWarning, stacklevel=3,
        )
    if not np.isfinite(res.loss):
        warnings.warn(f"{label}: every start diverged", FitWarning, stacklevel=3)
    elif not res.success:
        warnings.warn(
            f"{label}: the best start stopped before converging ({res.message}); "
            "raise maxiter or check the data",
            FitWarning, stacklevel=3,
        )
    if res.at_bounds:
        warnings.warn(
            f"{label}: parameter(s) {res.at_bounds} ended on a bound", FitWarning, stacklevel=3
        )
    if min_r2 is not None and np.isfinite(res.r2) and res.r2 < min_r2:
        warnings.warn(
            f"{label}: poor fit, R^2 = {res.r2:.3f} < {min_r2}", FitWarning, stacklevel=3
        )
