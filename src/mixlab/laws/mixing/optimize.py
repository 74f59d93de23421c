"""Choose the mixture a fitted law predicts to be best, under data constraints.

Every constraint is a per-domain box, so the feasible set is a box intersected with the
simplex: lower <= w <= upper with

    upper_i = min(upper bound, cap * prior_i, max_epochs_i * available_i / token_budget).

Laws with an analytic gradient (exp, implicit, linear) are minimised by SLSQP from several
starts (prior, uniform, the best of a Dirichlet sample).  Other laws (lgbm) use RegMix's
recipe: predict many sampled mixtures, average the top k, project onto the constraints.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.bootstrap import bootstrap_law
from mixlab.laws.mixing.conformal import conformal_quantile, has_residuals
from mixlab.laws.mixing.design import check_prior, dirichlet_design

__all__ = ["MixtureConstraints", "OptimizationResult", "optimize_mixture", "project_to_box_simplex"]


def _per_domain(
    value: float | Mapping[str, float] | None, names: Sequence[str], what: str, default: float
) -> np.ndarray:
    if value is None:
        return np.full(len(names), default)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise InputError(f"{what}: unknown domain(s) {unknown}; domains are {list(names)}")
        out = np.full(len(names), default)
        for k, v in value.items():
            out[list(names).index(k)] = float(v)
    else:
        out = np.full(len(names), float(value))
    if np.any(np.isnan(out)):
        raise InputError(f"{what}: values must be numbers")
    return out


@dataclass
class MixtureConstraints:
    """Per-domain limits on a mixture (all optional; weights are shares of tokens).

    lower / upper: bounds per domain (a number applies to all domains).
    prior, cap: w_i <= cap * prior_i (e.g. cap=4: no domain above 4x its natural share).
    available_tokens, token_budget, max_epochs: w_i * token_budget <= max_epochs_i *
    available_i (max_epochs defaults to 1, no repetition, when tokens are given).
    """

    lower: float | Mapping[str, float] | None = None
    upper: float | Mapping[str, float] | None = None
    prior: Mapping[str, float] | Sequence[float] | None = None
    cap: float | None = None
    available_tokens: Mapping[str, float] | None = None
    token_budget: float | None = None
    max_epochs: float | Mapping[str, float] | None = None

    def bounds(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(lower, upper, reason for each upper limit); InputError if infeasible."""
        names = list(names)
        d = len(names)
        lb = _per_domain(self.lower, names, "lower", 0.0)
        ub = _per_domain(self.upper, names, "upper", 1.0)
        reason = ["upper bound" if self.upper is not None else "1" for _ in names]
        if np.any(lb < 0) or np.any(ub > 1) or np.any(~np.isfinite(lb)):
            raise InputError("lower/upper bounds must lie in [0, 1]")
        if self.cap is not None:
            if self.prior is None:
                raise InputError("cap: a cap relative to the prior needs `prior`")
            if not (np.isfinite(self.cap) and self.cap > 0):
                raise InputError(f"cap must be a positive number, got {self.cap!r}")
            prior, _ = check_prior(self.prior, names)
            lim = self.cap * prior
            for i in np.flatnonzero(lim < ub):
                ub[i] = lim[i]
                reason[i] = f"cap {self.cap:g} x prior {prior[i]:.4g}"
        if self.available_tokens is not None:
            if self.token_budget is None:
                raise InputError("available_tokens given without token_budget")
            if not (np.isfinite(self.token_budget) and self.token_budget > 0):
                raise InputError(f"token_budget must be > 0, got {self.token_budget!r}")
            avail = _per_domain(self.available_tokens, names, "available_tokens", np.inf)
            if np.any(avail < 0):
                raise InputError("available_tokens must be >= 0")
            epochs = _per_domain(self.max_epochs, names, "max_epochs", 1.0)
            if np.any(~(epochs > 0)):
                raise InputError("max_epochs must be > 0")
            with np.errstate(invalid="ignore"):
                lim = np.where(np.isinf(avail), np.inf, epochs * avail / self.token_budget)
            for i in np.flatnonzero(lim < ub):
                ub[i] = lim[i]
                reason[i] = (
                    f"tokens: {epochs[i]:g} epochs x {avail[i]:.3g} available / "
                    f"budget {self.token_budget:.3g}"
                )
        elif self.token_budget is not None or self.max_epochs is not None:
            raise InputError("token_budget / max_epochs need available_tokens per domain")
        for i in range(d):
            if lb[i] > ub[i] + 1e-12:
                raise InputError(
                    f"constraints conflict for domain {names[i]!r}: lower bound {lb[i]:.4g} "
                    f"exceeds its upper limit {ub[i]:.4g} ({reason[i]})"
                )
        if lb.sum() > 1 + 1e-9:
            raise InputError(f"constraints conflict: lower bounds sum to {lb.sum():.4g} > 1")
        if ub.sum() < 1 - 1e-9:
            limits = ", ".join(f"{names[i]} <= {ub[i]:.4g} ({reason[i]})" for i in range(d))
            raise InputError(
                f"constraints conflict: the upper limits sum to {ub.sum():.4g} < 1, so no "
                f"mixture satisfies them: {limits}"
            )
        return lb, np.minimum(ub, 1.0), reason


def project_to_box_simplex(V: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto {lb <= w <= ub, sum w = 1} (bisection)."""
    V = np.atleast_2d(np.asarray(V, dtype=float))
    lo = (V - ub).min(axis=1) - 1.0
    hi = (V - lb).max(axis=1) + 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        s = np.clip(V - mid[:, None], lb, ub).sum(axis=1)
        big = s > 1
        lo = np.where(big, mid, lo)
        hi = np.where(big, hi, mid)
    W = np.clip(V - 0.5 * (lo + hi)[:, None], lb, ub)
    # spread the last rounding error over coordinates with room
    err = 1.0 - W.sum(axis=1)
    room = np.where(err[:, None] > 0, ub - W, W - lb)
    tot = room.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        W += np.where(tot[:, None] > 0, err[:, None] * room / tot[:, None], 0.0)
    return W


@dataclass
class OptimizationResult(Result):
    """The recommended mixture, its predicted target, and how sure the law is."""

    mixture: dict[str, float]
    target: str
    predicted: float
    interval: tuple[float, float] | None
    level: float
    reference: dict[str, float] | None
    reference_predicted: float | None
    gain: float | None
    gain_interval: tuple[float, float] | None
    method: str
    binding: list[str] = field(default_factory=list)
    extrapolated: list[str] = field(default_factory=list)
    n_starts: int = 0
    seconds: float = 0.0
    interval_kind: str = ""

    @property
    def weights(self) -> np.ndarray:
        return np.array(list(self.mixture.values()))


def _objective_vector(law: MixingLaw, target: str | Mapping[str, float] | None) -> np.ndarray:
    names = law.target_names_
    if target is None:
        if len(names) != 1:
            raise InputError(f"law has {len(names)} targets; choose one with target= {names}")
        return np.ones(1)
    if isinstance(target, str):
        if target not in names:
            raise InputError(f"target {target!r} is not one of the law's targets {names}")
        v = np.zeros(len(names))
        v[names.index(target)] = 1.0
        return v
    unknown = [k for k in target if k not in names]
    if unknown:
        raise InputError(f"target weights name unknown target(s) {unknown}; targets: {names}")
    return np.array([float(target.get(n, 0.0)) for n in names])


# Over 80 lines with its 15 keyword parameters and their docstring; the body (~60 lines)
# is a sequence of named steps below.
def optimize_mixture(
    law: MixingLaw,
    constraints: MixtureConstraints | None = None,
    *,
    target: str | Mapping[str, float] | None = None,
    maximize: bool = False,
    method: str = "auto",
    reference: Mapping[str, float] | str | None = "prior",
    n_restarts: int = 8,
    n_candidates: int = 20000,
    top_k: int = 100,
    concentration: tuple[float, float] = (0.1, 5.0),
    pin_unlearned: bool = True,
    data: tuple[Any, Any] | None = None,
    n_bootstrap: int = 20,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> OptimizationResult:
    """Minimise (or maximise) the law's predicted target over the feasible mixtures.

    `target`: one of `law.target_names_`, or weights over them (a dict); may be omitted for
    a single-target law.  `method`: "gradient" (SLSQP, multi-start), "sample" (RegMix's
    top-k average of `n_candidates` Dirichlet samples), or "auto" (gradient when the law
    has one).  `pin_unlearned` holds domains that never varied in the fitted runs at their
    constant weight.  With `data=(R, Y)` (the runs the law was fitted on) the law is refit
    on `n_bootstrap` resamples for a `level` interval on the prediction and on the gain
    over `reference` (a mixture, or "prior" for `constraints.prior`).  A law that kept its
    out-of-fold residuals (fitted with cross-validation, or `auto`) gets conformal intervals
    instead, whose coverage is measured (see `conformal`); no refits are needed then.
    """
    t0 = time.perf_counter()
    law._check_fitted()
    names = law.domain_names_
    cons = constraints or MixtureConstraints()
    lb, ub, reason = _feasible_box(law, cons, pin_unlearned)
    vec = _objective_vector(law, target)
    sign = -1.0 if maximize else 1.0
    target_label = (
        target
        if isinstance(target, str)
        else (law.target_names_[0] if target is None else "weighted objective")
    )
    prior = check_prior(cons.prior, names)[0] if cons.prior is not None else None

    def f(W: np.ndarray) -> np.ndarray:
        return sign * (law.predict_unchecked(W) @ vec)

    if method == "auto":
        method = "gradient" if law.has_gradient else "sample"
    n_cands = n_candidates if method == "sample" else max(64, 32 * n_restarts)
    cands = project_to_box_simplex(_candidates(law, prior, n_cands, concentration, seed), lb, ub)
    w, n_starts = _search(law, f, vec, sign, method, cands, (lb, ub), prior, n_restarts, top_k)
    w = np.where(np.abs(w) < 1e-15, 0.0, w)
    predicted = float((law.predict(w[None, :]) @ vec)[0])
    binding = _binding(names, w, lb, ub, reason)
    extrapolated = _extrapolated(law, w)
    ref_w = _reference_weights(reference, prior, names)
    ref_pred = None if ref_w is None else float((law.predict(ref_w[None, :]) @ vec)[0])
    gain = (
        None if ref_pred is None else (predicted - ref_pred if maximize else ref_pred - predicted)
    )
    if _has_conformal(law, vec):
        interval, gain_interval = _conformal_intervals(law, vec, predicted, gain, level)
        interval_kind = "conformal (CV residuals)"
    elif data is not None and n_bootstrap > 0:
        interval_kind = f"bootstrap ({n_bootstrap} refits, coverage not measured)"
        interval, gain_interval = _bootstrap_intervals(
            law, vec, data, w, ref_w, maximize, n_bootstrap, level, seed
        )
    else:
        interval = gain_interval = None
        interval_kind = ""

    return OptimizationResult(
        mixture={n: float(v) for n, v in zip(names, w, strict=True)},
        target=str(target_label),
        predicted=predicted,
        interval=interval,
        level=level,
        reference=None
        if ref_w is None
        else {n: float(v) for n, v in zip(names, ref_w, strict=True)},
        reference_predicted=ref_pred,
        gain=gain,
        gain_interval=gain_interval,
        method=method,
        binding=binding,
        extrapolated=extrapolated,
        n_starts=n_starts,
        seconds=time.perf_counter() - t0,
        interval_kind=interval_kind,
    )


def _feasible_box(
    law: MixingLaw, cons: MixtureConstraints, pin_unlearned: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-domain bounds and why; with `pin_unlearned`, domains that never varied are fixed."""
    names = law.domain_names_
    lb, ub, reason = cons.bounds(names)
    if pin_unlearned:
        for i in np.flatnonzero(~law.active_):
            v = float(law.domain_range_[i, 0])
            if not lb[i] - 1e-12 <= v <= ub[i] + 1e-12:
                raise InputError(
                    f"domain {names[i]!r} never varied in the fitted runs (weight {v:g}) and "
                    f"the constraints exclude that weight; pass pin_unlearned=False to let "
                    "the law extrapolate"
                )
            lb[i] = ub[i] = v
            reason[i] = "never varied in the fitted runs"
        if lb.sum() > 1 + 1e-9 or ub.sum() < 1 - 1e-9:
            raise InputError("constraints conflict once unlearned domains are pinned")
    return lb, ub, reason


def _search(
    law: MixingLaw,
    f: Any,
    vec: np.ndarray,
    sign: float,
    method: str,
    cands: np.ndarray,
    box: tuple[np.ndarray, np.ndarray],
    prior: np.ndarray | None,
    n_restarts: int,
    top_k: int,
) -> tuple[np.ndarray, int]:
    """The optimum of `f` over the box-simplex by `method` ("sample": the mean of the `top_k`
    best candidates; "gradient": SLSQP from the prior, the centre and the best candidates),
    and how many starts it took."""
    names = law.domain_names_
    lb, ub = box
    scores = f(cands)
    if method == "sample":
        k = int(min(top_k, len(cands)))
        top = np.argsort(scores, kind="stable")[:k]
        w = project_to_box_simplex(cands[top].mean(axis=0), lb, ub)[0]
        n_starts = len(cands)
    elif method == "gradient":
        if not law.has_gradient:
            raise InputError(f"{type(law).__name__} has no gradient; use method='sample'")
        starts = [project_to_box_simplex(np.full(len(names), 1 / len(names)), lb, ub)[0]]
        if prior is not None:
            starts.insert(0, project_to_box_simplex(prior, lb, ub)[0])
        order = np.argsort(scores, kind="stable")
        starts += [cands[i] for i in order[: max(0, n_restarts - len(starts))]]
        w = _gradient_search(law, f, vec, sign, starts, lb, ub)
        n_starts = len(starts)
    else:
        raise InputError(f"method must be 'auto', 'gradient' or 'sample', got {method!r}")
    return w, n_starts


def _candidates(
    law: MixingLaw,
    prior: np.ndarray | None,
    n: int,
    concentration: tuple[float, float],
    seed: int,
) -> np.ndarray:
    """Dirichlet samples around the prior (or uniform over the domains that varied)."""
    sample_prior = prior if prior is not None else np.where(law.active_, 1.0, 0.0)
    return dirichlet_design(
        sample_prior,
        n,
        concentration=concentration,
        cap=None,
        decimals=None,
        deduplicate=False,
        seed=int(seed),
    )


def _gradient_search(
    law: MixingLaw,
    f: Any,
    vec: np.ndarray,
    sign: float,
    starts: Sequence[np.ndarray],
    lb: np.ndarray,
    ub: np.ndarray,
) -> np.ndarray:
    """SLSQP from every start on the box-simplex; the best feasible point found."""

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        W = x[None, :]
        val = float(f(W)[0])
        grad = sign * np.einsum("td,t->d", law.gradient_unchecked(W)[0], vec)
        return val, grad

    best_w, best_v = None, np.inf
    for w0 in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = minimize(
                fun,
                w0,
                jac=True,
                method="SLSQP",
                bounds=list(zip(lb, ub, strict=True)),
                constraints=[
                    {
                        "type": "eq",
                        "fun": lambda x: x.sum() - 1.0,
                        "jac": lambda x: np.ones_like(x),
                    }
                ],
                options={"maxiter": 500, "ftol": 1e-12},
            )
        x = project_to_box_simplex(res.x if np.all(np.isfinite(res.x)) else w0, lb, ub)[0]
        v = float(f(x[None, :])[0])
        if v < best_v - 1e-12:
            best_w, best_v = x, v
    return best_w


def _binding(
    names: Sequence[str], w: np.ndarray, lb: np.ndarray, ub: np.ndarray, reason: Sequence[str]
) -> list[str]:
    """The constraints the optimum sits on, in words."""
    binding = []
    for i in range(len(names)):
        if lb[i] == ub[i]:
            binding.append(f"{names[i]} = {lb[i]:.4g} ({reason[i]})")
        elif w[i] >= ub[i] - 1e-9 and ub[i] < 1:
            binding.append(f"{names[i]} at upper limit {ub[i]:.4g} ({reason[i]})")
        elif w[i] <= lb[i] + 1e-9 and lb[i] > 0:
            binding.append(f"{names[i]} at lower bound {lb[i]:.4g}")
    return binding


def _extrapolated(law: MixingLaw, w: np.ndarray) -> list[str]:
    """Domains whose optimal weight lies outside the fitted runs' range (with a FitWarning)."""
    names = law.domain_names_
    rng_lo, rng_hi = law.domain_range_[:, 0], law.domain_range_[:, 1]
    extrapolated = [
        names[i] for i in range(len(names)) if w[i] < rng_lo[i] - 1e-9 or w[i] > rng_hi[i] + 1e-9
    ]
    if extrapolated:
        warnings.warn(
            f"optimal mixture lies outside the fitted runs' range for {extrapolated}",
            FitWarning,
            stacklevel=3,
        )
    return extrapolated


def _reference_weights(
    reference: Mapping[str, float] | str | None, prior: np.ndarray | None, names: Sequence[str]
) -> np.ndarray | None:
    if isinstance(reference, str):
        if reference != "prior":
            raise InputError(f"reference must be a mixture or 'prior', got {reference!r}")
        return prior
    return None if reference is None else check_prior(reference, names)[0]


def _has_conformal(law: MixingLaw, vec: np.ndarray) -> bool:
    """The law kept out-of-fold residuals for every target the objective uses."""
    return has_residuals(law) and law.cv_["residuals"].keys() >= {
        law.target_names_[i] for i in np.flatnonzero(vec != 0)
    }


def _conformal_intervals(
    law: MixingLaw, vec: np.ndarray, predicted: float, gain: float | None, level: float
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Split-conformal intervals from the CV residuals: on the prediction and on the gain."""
    res = {t: np.asarray(v, float) for t, v in law.cv_["residuals"].items()}
    r = sum(vec[i] * res[law.target_names_[i]] for i in np.flatnonzero(vec != 0))
    q = conformal_quantile(r, level)
    gain_interval = None
    if gain is not None:
        i, j = np.triu_indices(min(r.size, 2000), k=1)
        rs = r[:2000]
        qg = conformal_quantile(rs[i] - rs[j], level)
        gain_interval = (gain - qg, gain + qg)
    return (predicted - q, predicted + q), gain_interval


def _bootstrap_intervals(
    law: MixingLaw,
    vec: np.ndarray,
    data: tuple[Any, Any],
    w: np.ndarray,
    ref_w: np.ndarray | None,
    maximize: bool,
    n_bootstrap: int,
    level: float,
    seed: int,
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Percentile intervals from refits on resampled runs: on the prediction and the gain."""
    needed = np.flatnonzero(vec != 0)
    sub = [law.target_names_[i] for i in needed] if law.weights_ is None else None
    boot = bootstrap_law(law, data[0], data[1], n_bootstrap=n_bootstrap, seed=seed, targets=sub)
    pts = w[None, :] if ref_w is None else np.vstack([w, ref_w])
    P = boot.predict(pts) @ (vec if sub is None else vec[needed])  # (n_bootstrap, 1 or 2)
    lo_hi = percentile_interval(P[:, 0], level)
    gain_interval = None
    if ref_w is not None:
        g = P[:, 0] - P[:, 1] if maximize else P[:, 1] - P[:, 0]
        gl = percentile_interval(g, level)
        gain_interval = (float(gl[0]), float(gl[1]))
    return (float(lo_hi[0]), float(lo_hi[1])), gain_interval
