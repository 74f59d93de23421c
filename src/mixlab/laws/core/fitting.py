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
    fit_model(model, X, y, loss=Huber(1e-3), residual="log", method="lbfgs",
              starts=grid_starts(model, {"E": [1, 2], "A": [1e2, 1e3], ...}))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import least_squares, minimize

from mixlab.errors import InputError
from mixlab.laws.core.model import (
    CurveModel,
    Huber,
    Loss,
    ParamSpec,
    Squared,
    grid_starts,
    make_loss,
)

__all__ = [
    "CurveModel",
    "FitResult",
    "FitWarning",
    "Huber",
    "ParamSpec",
    "Squared",
    "fit_model",
    "grid_starts",
    "make_loss",
    "screen_starts",
]


class FitWarning(UserWarning):
    """A fit converged poorly, stopped early, hit a bound, or had too little data."""


# ---------------------------------------------------------------------------------------
# Fitting


@dataclass
class FitResult:
    """The best of a multi-start fit, plus what the other starts found."""

    params: np.ndarray
    names: list[str]
    cost: float  # the robust objective at `params` (not a model's loss)
    success: bool
    message: str
    n_starts: int
    n_converged: int
    n_at_best: int
    r2: float
    nfev: int
    start_costs: np.ndarray = field(repr=False)
    at_bounds: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.params, strict=True)}


def screen_starts(
    model: CurveModel,
    Z: np.ndarray,
    y: np.ndarray,
    starts: np.ndarray,
    k: int | None,
    *,
    loss: str | Loss = "huber",
    delta: float = 1e-3,
    residual: str = "log",
) -> np.ndarray:
    """The `k` starts with the lowest robust cost (all of them when `k` is None).

    Scoring a start costs one prediction; refining it, a full L-BFGS run.  Ties keep the
    grid order, so the choice is deterministic.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    if k is None or k >= len(starts):
        return starts
    rho = make_loss(loss, delta)
    target = np.log(y) if residual == "log" else y
    scores = np.empty(len(starts))
    with np.errstate(all="ignore"):
        for i, theta in enumerate(starts):
            pred = model.predict(theta, Z)
            r = (np.log(np.maximum(pred, 1e-300)) if residual == "log" else pred) - target
            val = float(np.sum(rho.rho(r)))
            scores[i] = val if np.isfinite(val) else np.inf
    return starts[np.argsort(scores, kind="stable")[: max(1, int(k))]]


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


class _Problem:
    """The objective of one fit in the optimiser's (internal) parameter units."""

    def __init__(
        self,
        model: CurveModel,
        X: np.ndarray,
        y: np.ndarray,
        residual: str,
        penalty: float,
        mask: np.ndarray,
        center: np.ndarray | None = None,
    ) -> None:
        self.model, self.X = model, X
        self.g, self.dg = _residual_transform(residual)
        self.gy = self.g(y)
        self.n, self.p = y.size, len(model.params)
        self.penalty, self.mask = penalty, mask
        self.center = np.zeros(int(mask.sum())) if center is None else np.asarray(center, float)
        self.n_pen = int(mask.sum()) if penalty > 0 else 0
        self.is_log = model.is_log
        self.jac_fn = model.jacobian or (lambda th, XX: _fd_jacobian(model, th, XX))

    def resid(self, u: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self.g(self.model.predict(self.model.to_external(u), self.X)) - self.gy

    def resid_jac(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = self.model.to_external(u)
        with np.errstate(over="ignore", invalid="ignore"):
            pred = self.model.predict(theta, self.X)
            J = self.jac_fn(theta, self.X) * self.dg(pred)[:, None]
            J[:, self.is_log] *= theta[self.is_log]
        return self.g(pred) - self.gy, J

    def value(self, u: np.ndarray, rho: Loss) -> float:
        val = float(np.sum(rho.rho(self.resid(u)))) + self.pen_value(u)
        return val if np.isfinite(val) else np.inf

    def value_grad(self, u: np.ndarray, rho: Loss) -> tuple[float, np.ndarray]:
        r, J = self.resid_jac(u)
        val = float(np.sum(rho.rho(r))) + self.pen_value(u)
        if not np.isfinite(val) or not np.all(np.isfinite(J)):
            return 1e300, np.zeros_like(u)
        grad = J.T @ rho.psi(r)
        grad[self.mask] += self.penalty * (u[self.mask] - self.center)
        return val, grad

    def pen_value(self, u: np.ndarray) -> float:
        if self.penalty <= 0:
            return 0.0
        return 0.5 * self.penalty * float(np.sum((u[self.mask] - self.center) ** 2))

    # least_squares form: the penalty becomes extra rows sqrt(penalty) * (u[mask] - center)
    def ls_fun(self, u: np.ndarray) -> np.ndarray:
        r = np.clip(np.nan_to_num(self.resid(u), nan=1e100), -1e100, 1e100)
        if self.n_pen:
            r = np.concatenate([r, np.sqrt(self.penalty) * (u[self.mask] - self.center)])
        return r

    def ls_jac(self, u: np.ndarray) -> np.ndarray:
        J = np.clip(np.nan_to_num(self.resid_jac(u)[1], nan=0.0), -1e100, 1e100)
        if self.n_pen:
            P = np.zeros((self.n_pen, self.p))
            P[np.arange(self.n_pen), np.flatnonzero(self.mask)] = np.sqrt(self.penalty)
            J = np.vstack([J, P])
        return J

    def ls_loss(self, rho: Loss) -> Callable[[np.ndarray], np.ndarray]:
        def loss(z: np.ndarray) -> np.ndarray:
            out = rho.ls_loss(z)
            out[:, self.n :] = Squared().ls_loss(z[self.n :])  # penalty rows stay quadratic
            return out

        return loss


# Over 80 lines with its 16 keyword parameters and their docstring; the body (~45 lines) runs
# the starts through _run_start and builds the FitResult.
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
    penalty_center: np.ndarray | None = None,
    prefit: int = 0,
    maxiter: int = 2000,
    tol: float = 1e-10,
    label: str = "fit",
    warn: bool = True,
    quiet_bounds: Sequence[str] = (),
) -> FitResult:
    """Minimise sum_i rho(g(f(theta, X_i)) - g(y_i)) + penalty/2 * |u[mask] - center|^2.

    `g` is the identity or log (`residual`), rho a robust loss summed over rows (not
    averaged, as Hoffmann et al. and Besiroglu et al. do) and u the parameters in the
    optimiser's units (log of "log" parameters); `penalty_center` defaults to 0.  Each row of `starts` is one starting
    point in external units; the lowest final loss wins, ties to the earliest start, so
    the result is deterministic.  `method="lbfgs"` is L-BFGS-B on the analytic gradient
    J^T psi(r); `method="trf"` is scipy's trust-region least squares with the same robust
    loss, usually faster for models with many parameters.  With `prefit=k > 0` every
    start is first run with the smooth squared loss and only the k results with the lowest
    robust loss are refined with it: most of the search for a fraction of the time.

    Warns (`FitWarning`) when the best start did not converge, a parameter ends on a
    bound (except those named in `quiet_bounds`), there are fewer rows than parameters
    (and no penalty).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    p = len(model.params)
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    _check_fit_inputs(starts, y, p, residual, method, label)
    rho = make_loss(loss, delta)
    mask = np.ones(p, bool) if penalty_mask is None else np.asarray(penalty_mask, bool)
    prob = _Problem(model, X, y, residual, penalty, mask, penalty_center)
    lo, hi = model.internal_bounds()
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)

    def run(start: np.ndarray, loss_: Loss) -> tuple[float, np.ndarray, bool, str, int]:
        return _run_start(prob, rho, start, loss_, (lo, hi, span), method, maxiter, tol, label)

    nfev = 0
    if prefit > 0 and not isinstance(rho, Squared):
        pre = [run(s, Squared()) for s in starts]
        nfev += sum(r[4] for r in pre)
        keep = np.argsort([r[0] for r in pre], kind="stable")[:prefit]
        results = [run(model.to_external(pre[k][1]), rho) for k in keep]
    else:
        results = [run(s, rho) for s in starts]
    nfev += sum(r[4] for r in results)

    costs = np.array([r[0] for r in results])
    best = int(np.argmin(costs))
    fun, u, success, message, _ = results[best]
    resid = prob.resid(u)
    ss_tot = float(np.sum((prob.gy - prob.gy.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    result = FitResult(
        params=model.to_external(u),
        names=model.names,
        cost=fun,
        success=success,
        message=message,
        n_starts=len(starts),
        n_converged=sum(r[2] for r in results),
        n_at_best=int(np.sum(costs <= fun + 1e-6 * max(abs(fun), 1e-12))),
        r2=r2,
        nfev=nfev,
        start_costs=costs,
        at_bounds=_at_bounds(model, u, lo, hi, span, quiet_bounds),
    )
    if warn:
        _warn_about(result, n_rows=y.size, label=label, penalized=penalty > 0)
    return result


def _check_fit_inputs(
    starts: np.ndarray, y: np.ndarray, p: int, residual: str, method: str, label: str
) -> None:
    if starts.shape[1] != p or starts.shape[0] == 0:
        raise InputError(f"{label}: starts must have shape (k >= 1, {p}), got {starts.shape}")
    if not np.all(np.isfinite(y)):
        raise InputError(f"{label}: target contains NaN or infinite values")
    if residual == "log" and np.any(y <= 0):
        raise InputError(f"{label}: residual='log' needs positive targets")
    if method not in ("lbfgs", "trf"):
        raise InputError(f"{label}: method must be 'lbfgs' or 'trf', got {method!r}")


def _run_start(
    prob: _Problem,
    rho: Loss,
    start: np.ndarray,
    loss_: Loss,
    box: tuple[np.ndarray, np.ndarray, np.ndarray],
    method: str,
    maxiter: int,
    tol: float,
    label: str,
) -> tuple[float, np.ndarray, bool, str, int]:
    """One local fit from `start` (external units) minimising `loss_`: its cost under `rho`,
    internal parameters, convergence, message and function evaluations."""
    model = prob.model
    lo, hi, span = box
    u0 = model.to_internal(start)
    if not np.all(np.isfinite(u0)):
        raise InputError(f"{label}: start {start.tolist()} is outside the parameter domain")
    # least_squares wants the start strictly inside finite bounds
    u0 = np.clip(u0, lo + 1e-9 * span, hi - 1e-9 * span)
    if method == "lbfgs":
        res = minimize(
            prob.value_grad,
            u0,
            args=(loss_,),
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lo, hi, strict=True)),
            options={"maxiter": maxiter, "ftol": tol, "gtol": 1e-12, "maxfun": 4 * maxiter},
        )
        ok = bool(res.success)
    else:
        res = least_squares(
            prob.ls_fun,
            u0,
            jac=prob.ls_jac,
            loss=prob.ls_loss(loss_),
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            max_nfev=maxiter,
            ftol=tol,
            xtol=tol,
            gtol=tol,
        )
        ok = res.status > 0
    return prob.value(res.x, rho), res.x, ok, str(res.message), int(res.nfev)


def _at_bounds(
    model: CurveModel,
    u: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    span: np.ndarray,
    quiet_bounds: Sequence[str],
) -> list[str]:
    """Parameters that ended on a bound (those named in `quiet_bounds` left out)."""
    at_bounds = []
    for j in range(len(model.names)):
        room = 1e-6 * min(span[j], 1.0) + 1e-12
        hit = (np.isfinite(lo[j]) and u[j] - lo[j] <= room) or (
            np.isfinite(hi[j]) and hi[j] - u[j] <= room
        )
        if hit and model.names[j] not in quiet_bounds:
            at_bounds.append(model.names[j])
    return at_bounds


def _warn_about(res: FitResult, *, n_rows: int, label: str, penalized: bool) -> None:
    p = len(res.names)
    if n_rows < p and not penalized:
        warnings.warn(
            f"{label}: {n_rows} rows for {p} parameters; the fit is underdetermined",
            FitWarning,
            stacklevel=3,
        )
    if not np.isfinite(res.cost):
        warnings.warn(f"{label}: every start diverged", FitWarning, stacklevel=3)
    elif not res.success:
        warnings.warn(
            f"{label}: the best start stopped before converging ({res.message}); "
            "raise maxiter or check the data",
            FitWarning,
            stacklevel=3,
        )
    if res.at_bounds:
        warnings.warn(
            f"{label}: parameter(s) {res.at_bounds} ended on a bound", FitWarning, stacklevel=3
        )
