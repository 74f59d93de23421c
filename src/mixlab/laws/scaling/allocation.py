"""Compute allocation under a fitted law in N and D: how big a model, how many tokens.

* :func:`compute_optimal`: minimise L(N, D) subject to C = FLOPs(N, D) (6 N D by default).
  For a plain Chinchilla law under C = 6ND the optimum is closed form:
  N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6)^(alpha/(alpha+beta)) / G,
  G = (alpha A / (beta B))^(1/(alpha+beta)); otherwise a scan over log N refined by
  bounded Brent.
* :func:`inference_optimal` (Sardana et al. 2023): minimise training plus inference FLOPs,
  6 N D_train + 2 N D_infer, subject to L(N, D_train) = target loss.  As inference demand
  grows the optimum moves to smaller models trained on more tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from mixlab.errors import InputError
from mixlab.laws.core.estimator import Result
from mixlab.laws.scaling.forms import ScalingLaw

__all__ = [
    "Allocation",
    "chinchilla_optimal",
    "compute_optimal",
    "inference_optimal",
    "tokens_for_loss",
]

FlopsPerToken = Callable[[np.ndarray], np.ndarray]
N_RANGE = (1e3, 1e16)
D_RANGE = (1.0, 1e30)
SCAN = 400


@dataclass
class Allocation(Result):
    """A model size and token count with what they cost and the loss they reach."""

    n_params: float
    tokens: float
    loss: float
    train_flops: float
    inference_tokens: float
    inference_flops: float
    method: str

    @property
    def total_flops(self) -> float:
        return self.train_flops + self.inference_flops

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.n_params

    def _extra(self) -> dict[str, Any]:
        return {"total_flops": self.total_flops, "tokens_per_param": self.tokens_per_param}


def _positive(value: float, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise InputError(f"{what} must be a positive number, got {value!r}")
    return v


def _nd_law(law: ScalingLaw) -> ScalingLaw:
    law._check_fitted()
    if tuple(law.variables[:2]) != ("N", "D"):
        raise InputError(
            f"allocation needs a law in N and D (chinchilla or overtrain), got form {law.form!r}"
        )
    return law


def _fpt(fn: FlopsPerToken | None, factor: float) -> FlopsPerToken:
    if fn is None:
        return lambda N: factor * np.asarray(N, float)
    return lambda N: np.asarray(fn(np.asarray(N, float)), float)


def chinchilla_optimal(
    E: float, A: float, B: float, alpha: float, beta: float, compute: float
) -> tuple[float, float, float]:
    """Closed-form (N_opt, D_opt, loss) of L = E + A/N^alpha + B/D^beta under C = 6ND."""
    c6 = _positive(compute, "compute") / 6.0
    s = alpha + beta
    G = (alpha * A / (beta * B)) ** (1.0 / s)
    N = G * c6 ** (beta / s)
    D = c6 ** (alpha / s) / G
    return N, D, E + A / N**alpha + B / D**beta


def _scan_min(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> float:
    """argmin of f over [lo, hi] (log N): a grid scan, then Brent in the best cell."""
    u = np.linspace(lo, hi, SCAN)
    with np.errstate(all="ignore"):
        vals = np.where(np.isfinite(v := f(u)), v, np.inf)
    i = int(np.argmin(vals))
    if not np.isfinite(vals[i]):
        raise InputError("no feasible allocation in the searched range of model sizes")
    a, b = u[max(i - 1, 0)], u[min(i + 1, SCAN - 1)]
    res = minimize_scalar(
        lambda x: float(f(np.array([x]))[0]),
        bounds=(a, b),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(res.x) if res.fun <= vals[i] else float(u[i])


def compute_optimal(
    law: ScalingLaw,
    compute: float,
    *,
    flops_per_token: FlopsPerToken | None = None,
    unique_tokens: float | None = None,
    inference_tokens: float = 0.0,
    inference_flops_per_token: FlopsPerToken | None = None,
) -> Allocation:
    """The N, D that minimise the law's loss for `compute` training FLOPs.

    `flops_per_token(N)` gives training FLOPs per token (default 6 N); D = C / that.
    `unique_tokens` feeds a data-constrained law.  `inference_tokens` only adds their cost
    (2 N per token by default) to the answer; it does not move the optimum.
    """
    law = _nd_law(law)
    C = _positive(compute, "compute")
    fpt = _fpt(flops_per_token, 6.0)
    ifpt = _fpt(inference_flops_per_token, 2.0)
    chin = law.chinchilla_params()
    if chin is not None and flops_per_token is None:
        N, D, _ = chinchilla_optimal(compute=C, **chin)
        method = "closed form"
    else:

        def loss_of(u: np.ndarray) -> np.ndarray:
            N = np.exp(u)
            D = C / fpt(N)
            out = np.full(u.shape, np.inf)
            ok = D >= D_RANGE[0]
            if ok.any():
                out[ok] = law.loss_at(N[ok], D[ok], unique_tokens)
            return out

        u = _scan_min(loss_of, np.log(N_RANGE[0]), np.log(N_RANGE[1]))
        N = float(np.exp(u))
        D = float(C / fpt(np.array([N]))[0])
        method = "numeric"
    loss = float(law.loss_at(N, D, unique_tokens))
    T = float(inference_tokens)
    return Allocation(
        n_params=float(N),
        tokens=float(D),
        loss=loss,
        train_flops=float(fpt(np.array([N]))[0] * D),
        inference_tokens=T,
        inference_flops=float(ifpt(np.array([N]))[0] * T),
        method=method,
    )


def tokens_for_loss(
    law: ScalingLaw, n_params: Any, target_loss: float, *, unique_tokens: float | None = None
) -> np.ndarray:
    """Training tokens at which a model of `n_params` reaches `target_loss` (inf: never)."""
    law = _nd_law(law)
    ell = float(target_loss)
    N = np.atleast_1d(np.asarray(n_params, float))
    chin = law.chinchilla_params()
    out = np.full(N.shape, np.inf)
    if chin is not None:
        gap = ell - chin["E"] - chin["A"] * N ** -chin["alpha"]
        ok = gap > 0
        out[ok] = (chin["B"] / gap[ok]) ** (1.0 / chin["beta"])
        return out
    lo, hi = np.log(D_RANGE[0]), np.log(D_RANGE[1])
    for i, n in enumerate(N):

        def g(v: float, n: float = n) -> float:
            return float(law.loss_at(n, np.exp(v), unique_tokens)) - ell

        if g(hi) > 0:
            continue
        out[i] = D_RANGE[0] if g(lo) <= 0 else float(np.exp(brentq(g, lo, hi, xtol=1e-12)))
    return out


def inference_optimal(
    law: ScalingLaw,
    target_loss: float,
    inference_tokens: float,
    *,
    flops_per_token: FlopsPerToken | None = None,
    inference_flops_per_token: FlopsPerToken | None = None,
    unique_tokens: float | None = None,
) -> Allocation:
    """Sardana et al.: the N, D_train of least total FLOPs that reach `target_loss`.

    Minimises train_fpt(N) D_train(N) + infer_fpt(N) D_infer over N, with D_train(N) the
    tokens at which the law reaches the target (6 N and 2 N FLOPs per token by default).
    """
    law = _nd_law(law)
    ell = _positive(target_loss, "target loss")
    T = float(inference_tokens)
    if not (np.isfinite(T) and T >= 0):
        raise InputError(f"inference tokens must be >= 0, got {inference_tokens!r}")
    fpt = _fpt(flops_per_token, 6.0)
    ifpt = _fpt(inference_flops_per_token, 2.0)
    floor = float(law.loss_at(N_RANGE[1], D_RANGE[1], unique_tokens))
    if ell <= floor:
        raise InputError(
            f"target loss {ell:g} is below what the law can reach ({floor:.6g}, its "
            "irreducible loss E plus what is left at the largest model and data)"
        )

    def total(u: np.ndarray) -> np.ndarray:
        N = np.exp(u)
        D = tokens_for_loss(law, N, ell, unique_tokens=unique_tokens)
        return np.log(fpt(N) * D + ifpt(N) * T)

    u = _scan_min(total, np.log(N_RANGE[0]), np.log(N_RANGE[1]))
    N = float(np.exp(u))
    D = float(tokens_for_loss(law, N, ell, unique_tokens=unique_tokens)[0])
    return Allocation(
        n_params=N,
        tokens=D,
        loss=float(law.loss_at(N, D, unique_tokens)),
        train_flops=float(fpt(np.array([N]))[0] * D),
        inference_tokens=T,
        inference_flops=float(ifpt(np.array([N]))[0] * T),
        method="numeric",
    )
