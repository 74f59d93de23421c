"""Multi-phase schedules from proxies: a mixing law over phase mixtures, and the best schedule.

A run trained in P phases (token fractions f_k summing to 1, mixtures w_k) is described by its
fraction-weighted phase mixtures x = [f_1 w_1, ..., f_P w_P] (RegMix-D; Marin's two-phase
swarms): a point on the simplex of the P x d "phase-domains" `domain@k`, since x sums to 1.
Any mixing law (auto, exp, linear, lgbm) fits on x as it does on a static mixture, and a
static run is the special case w_1 = ... = w_P.

`optimize_schedule` then searches the phase mixtures (block k of x sums to f_k) for the lowest
prediction, under the static constraints applied to the domain totals t_d = sum_k f_k w_kd,
the run's token shares: an epoch cap therefore counts a domain's tokens in every phase.
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
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.conformal import conformal_quantile, gain_halfwidth, has_residuals
from mixlab.laws.mixing.design import check_prior
from mixlab.laws.mixing.optimize import (
    MixtureConstraints,
    _objective_vector,
    project_to_box_simplex,
)

__all__ = [
    "PHASE_SEP",
    "PhaseSchedule",
    "optimize_schedule",
    "parse_phase_names",
    "phase_features",
    "phase_names",
]

PHASE_SEP = "@"


def phase_names(domains: Sequence[str], n_phases: int) -> list[str]:
    """The phase-domain names, phase-major: `d@1` for every domain, then `d@2`, ..."""
    return [f"{d}{PHASE_SEP}{k + 1}" for k in range(n_phases) for d in domains]


def parse_phase_names(names: Sequence[str]) -> tuple[list[str], int]:
    """(domains, P) of a law fitted on `phase_names(domains, P)`; InputError otherwise."""
    domains: list[str] = []
    for name in names:
        d, sep, k = str(name).rpartition(PHASE_SEP)
        if not sep or not k.isdigit():
            raise InputError(
                f"law domain {name!r} is not a phase-domain `domain{PHASE_SEP}phase`: fit the "
                "law on phase features (phase_features / `phase_names`)"
            )
        if k == "1":
            domains.append(d)
    if not domains or len(names) % len(domains):
        raise InputError(f"law domains {list(names)} are not a full phase x domain grid")
    n_phases = len(names) // len(domains)
    if list(names) != phase_names(domains, n_phases):
        raise InputError(
            f"law domains {list(names)} are not in phase-major order "
            f"{phase_names(domains, n_phases)}"
        )
    return domains, n_phases


def phase_features(mixtures: Any, fractions: Any) -> np.ndarray:
    """x = [f_1 w_1, ..., f_P w_P] per run: `mixtures` (n, P, d), `fractions` (n, P) -> (n, P d).

    Each phase's mixture is renormalised; the fractions must be positive and sum to 1.
    """
    W = np.asarray(mixtures, dtype=float)
    F = np.asarray(fractions, dtype=float)
    if W.ndim == 2:
        W = W[None]
    if F.ndim == 1:
        F = np.broadcast_to(F, W.shape[:2])
    if W.ndim != 3 or F.shape != W.shape[:2]:
        raise InputError(
            f"phase mixtures have shape {W.shape} and fractions {F.shape}; expected (n, P, d) "
            "and (n, P)"
        )
    if not (np.isfinite(W).all() and (W >= 0).all()):
        raise InputError("phase mixtures must be finite and >= 0")
    if not (np.isfinite(F).all() and (F > 0).all()):
        raise InputError("phase fractions must be > 0")
    sums = W.sum(axis=2)
    if (sums <= 0).any():
        run, phase = np.argwhere(sums <= 0)[0]
        raise InputError(f"run {run}, phase {phase + 1}: the mixture has no weight")
    bad = np.flatnonzero(np.abs(F.sum(axis=1) - 1) > 1e-6)
    if bad.size:
        raise InputError(f"run {bad[0]}: phase fractions sum to {F[bad[0]].sum():.6g}, not 1")
    X = (W / sums[:, :, None]) * F[:, :, None]
    return X.reshape(len(X), -1)


@dataclass
class PhaseSchedule(Result):
    """The recommended P-phase schedule, its prediction, and the best static mixture beside it."""

    fractions: list[float]
    mixtures: list[dict[str, float]]
    totals: dict[str, float]
    target: str
    predicted: float
    interval: tuple[float, float] | None
    level: float
    static_mixture: dict[str, float]
    static_predicted: float
    gain_over_static: float
    gain_interval: tuple[float, float] | None
    reference: dict[str, float] | None
    reference_predicted: float | None
    method: str
    binding: list[str] = field(default_factory=list)
    extrapolated: list[str] = field(default_factory=list)
    n_starts: int = 0
    seconds: float = 0.0
    interval_kind: str = ""

    def stages(self) -> list[dict[str, Any]]:
        """The schedule as curriculum stages ({fraction, weights}) for a train config."""
        return [
            {"fraction": f, "weights": {d: w for d, w in m.items() if w > 0}}
            for f, m in zip(self.fractions, self.mixtures, strict=True)
        ]

    def curriculum(self) -> dict[str, Any]:
        """The schedule as a `mixture:` value of a train config."""
        return {"kind": "curriculum", "stages": self.stages()}


# Over 80 lines with its 14 keyword parameters and their docstring; the body (~75 lines) is one
# recipe: optimise per fraction vector, compare with the best static mixture, flag, interval.
def optimize_schedule(
    law: MixingLaw,
    constraints: MixtureConstraints | None = None,
    *,
    fractions: Sequence[float] | Sequence[Sequence[float]],
    observed_fractions: Sequence[Sequence[float]] | None = None,
    target: str | Mapping[str, float] | None = None,
    method: str = "auto",
    reference: Mapping[str, float] | str | None = "prior",
    n_restarts: int = 8,
    n_candidates: int = 4000,
    top_k: int = 50,
    concentration: float = 2.0,
    pin_unlearned: bool = True,
    within_range: bool = False,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> PhaseSchedule:
    """The P-phase schedule `law` (fitted on `phase_features`) predicts to be best.

    `fractions`: the phase token fractions (one vector of P), or several candidates, each
    optimised, the best kept. `constraints` hold for the domain totals (epoch caps count every
    phase). `method`: "gradient" (SLSQP from several starts), "sample" (top-k average of
    Dirichlet-sampled feasible schedules; any law) or "auto". A fraction vector outside
    `observed_fractions` (the runs' own) is flagged as extrapolated. `reference` (a mixture or
    "prior") is predicted as a static schedule for the gain. The best static mixture under the
    same law and constraints is returned beside the schedule, with the gain over it (and a
    conformal interval on that gain when the law kept its out-of-fold residuals).
    `within_range` keeps every phase-domain share f_k w_kd inside the range the fitted runs
    covered (as the demo's floor does for static mixtures): a law fitted on a swarm knows
    little about one-hot phases, where a linear law's optimum always lies.
    """
    t0 = time.perf_counter()
    law._check_fitted()
    domains, n_phases = parse_phase_names(law.domain_names_)
    d = len(domains)
    candidates = _fraction_candidates(fractions, n_phases)
    cons = constraints or MixtureConstraints()
    lb, ub, reason = cons.bounds(domains)
    vec = _objective_vector(law, target)
    target_label = (
        target
        if isinstance(target, str)
        else (law.target_names_[0] if target is None else "weighted objective")
    )
    prior = check_prior(cons.prior, domains)[0] if cons.prior is not None else np.full(d, 1 / d)
    pinned = ~law.active_ if pin_unlearned else np.zeros(n_phases * d, bool)
    pin_value = law.domain_range_[:, 0]
    box = (law.domain_range_[:, 0], law.domain_range_[:, 1]) if within_range else None
    method = _check_method(law, method)

    def f(X: np.ndarray) -> np.ndarray:
        return law.predict_unchecked(np.atleast_2d(X)) @ vec

    def grad(x: np.ndarray) -> np.ndarray:
        return np.einsum("td,t->d", law.gradient_unchecked(x[None, :])[0], vec)

    rng = np.random.default_rng(seed)
    x, frac, n_starts = _best_over_fractions(
        f, grad, method, candidates, lb, ub, prior, pinned, pin_value,
        n_restarts, n_candidates, top_k, concentration, rng, box,
    )  # fmt: skip
    x = np.where(np.abs(x) < 1e-15, 0.0, x)
    blocks = x.reshape(n_phases, d)
    totals = blocks.sum(axis=0)
    mixtures = [
        {dom: float(w) for dom, w in zip(domains, row / row.sum(), strict=True)} for row in blocks
    ]
    predicted = float(f(x)[0])

    static_w = _best_static(f, grad, method, frac, lb, ub, prior, pinned, pin_value, rng, box)
    static_pred = float(f(np.kron(frac, static_w))[0])
    ref_w = _reference_mixture(reference, cons, prior, domains)
    ref_pred = None if ref_w is None else float(f(np.kron(frac, ref_w))[0])

    binding = _binding(domains, totals, lb, ub, reason)
    extrapolated = _extrapolated(law, x, frac, observed_fractions, n_phases)
    if extrapolated:
        warnings.warn(
            f"optimal schedule lies outside the fitted runs' range for {extrapolated}",
            FitWarning,
            stacklevel=2,
        )

    label = str(target_label)
    interval, interval_kind, gain_interval = _intervals(law, vec, level, predicted, static_pred)
    return PhaseSchedule(
        fractions=[float(v) for v in frac],
        mixtures=mixtures,
        totals={dom: float(t) for dom, t in zip(domains, totals, strict=True)},
        target=label,
        predicted=predicted,
        interval=interval,
        level=level,
        static_mixture={dom: float(w) for dom, w in zip(domains, static_w, strict=True)},
        static_predicted=static_pred,
        gain_over_static=static_pred - predicted,
        gain_interval=gain_interval,
        reference=None
        if ref_w is None
        else {dom: float(w) for dom, w in zip(domains, ref_w, strict=True)},
        reference_predicted=ref_pred,
        method=method,
        binding=binding,
        extrapolated=extrapolated,
        n_starts=n_starts,
        seconds=time.perf_counter() - t0,
        interval_kind=interval_kind,
    )


def _best_over_fractions(
    f, grad, method, candidates, lb, ub, prior, pinned, pin_value,
    n_restarts, n_candidates, top_k, concentration, rng, box,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """The best schedule over the candidate fraction vectors, each optimised by
    `_optimise_for`: (flat schedule, its fractions, starts tried in all)."""
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    n_starts = 0
    for frac in candidates:
        x, starts = _optimise_for(
            f, grad, method, frac, lb, ub, prior, pinned, pin_value,
            n_restarts, n_candidates, top_k, concentration, rng, box,
        )  # fmt: skip
        n_starts += starts
        v = float(f(x)[0])
        if best is None or v < best[0] - 1e-12:
            best = (v, x, frac)
    assert best is not None
    return best[1], best[2], n_starts


def _check_method(law: MixingLaw, method: str) -> str:
    """The optimiser to use: "auto" takes the gradient where the law has one."""
    if method == "auto":
        method = "gradient" if law.has_gradient else "sample"
    if method not in ("gradient", "sample"):
        raise InputError(f"method must be 'auto', 'gradient' or 'sample', got {method!r}")
    if method == "gradient" and not law.has_gradient:
        raise InputError(f"{type(law).__name__} has no gradient; use method='sample'")
    return method


def _reference_mixture(
    reference: Mapping[str, float] | str | None,
    cons: MixtureConstraints,
    prior: np.ndarray,
    domains: list[str],
) -> np.ndarray | None:
    """The static mixture the schedule is compared with ("prior": the constraints' prior)."""
    if isinstance(reference, str):
        if reference != "prior":
            raise InputError(f"reference must be a mixture or 'prior', got {reference!r}")
        return prior if cons.prior is not None else None
    if reference is not None:
        return check_prior(reference, domains)[0]
    return None


def _binding(
    domains: list[str], totals: np.ndarray, lb: np.ndarray, ub: np.ndarray, reason: list
) -> list[str]:
    """The domain totals that sit at their upper limit or lower bound, said in words."""
    binding = []
    for i, dom in enumerate(domains):
        if totals[i] >= ub[i] - 1e-7 and ub[i] < 1:
            binding.append(f"{dom} total at upper limit {ub[i]:.4g} ({reason[i]})")
        elif totals[i] <= lb[i] + 1e-7 and lb[i] > 0:
            binding.append(f"{dom} total at lower bound {lb[i]:.4g}")
    return binding


def _extrapolated(
    law: MixingLaw,
    x: np.ndarray,
    frac: np.ndarray,
    observed_fractions: Sequence[Sequence[float]] | None,
    n_phases: int,
) -> list[str]:
    """The phase-domain shares (and the fractions) outside the range the fitted runs covered."""
    lo, hi = law.domain_range_[:, 0], law.domain_range_[:, 1]
    names = law.domain_names_
    extrapolated = [names[j] for j in range(x.size) if x[j] < lo[j] - 1e-9 or x[j] > hi[j] + 1e-9]
    if observed_fractions is not None:
        seen = np.asarray(observed_fractions, float).reshape(-1, n_phases)
        if not (
            (frac >= seen.min(axis=0) - 1e-9).all() and (frac <= seen.max(axis=0) + 1e-9).all()
        ):
            extrapolated.append(f"fractions {list(map(float, frac))}")
    return extrapolated


def _intervals(
    law: MixingLaw, vec: np.ndarray, level: float, predicted: float, static_pred: float
) -> tuple[tuple[float, float] | None, str, tuple[float, float] | None]:
    """Conformal intervals on the prediction and on the gain over static, where the law kept
    its out-of-fold residuals of a single target: (interval, its kind, gain interval)."""
    interval = gain_interval = None
    interval_kind = ""
    if has_residuals(law) and np.count_nonzero(vec) == 1:
        name = law.target_names_[int(np.flatnonzero(vec)[0])]
        if name in law.cv_["residuals"]:
            q = conformal_quantile(law.cv_["residuals"][name], level)
            interval, interval_kind = (predicted - q, predicted + q), "conformal (CV residuals)"
            qg = gain_halfwidth(law, name, level)
            gain = static_pred - predicted
            gain_interval = (gain - qg, gain + qg)
    return interval, interval_kind, gain_interval


def _fraction_candidates(
    fractions: Sequence[float] | Sequence[Sequence[float]], n_phases: int
) -> list[np.ndarray]:
    arr = np.asarray(fractions, dtype=float)
    rows = arr[None, :] if arr.ndim == 1 else arr
    if rows.ndim != 2 or rows.shape[1] != n_phases:
        raise InputError(
            f"fractions: expected {n_phases} phase fractions (or a list of such), got shape "
            f"{arr.shape}"
        )
    for row in rows:
        if not ((row > 0).all() and abs(row.sum() - 1) <= 1e-6):
            raise InputError(f"fractions {list(map(float, row))}: each > 0, summing to 1")
    return [row / row.sum() for row in rows]


def _optimise_for(
    f, grad, method, frac, lb, ub, prior, pinned, pin_value, n_restarts, n_candidates, top_k,
    concentration, rng, box=None,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """The best x for one fraction vector (the totals within [lb, ub], pinned features held,
    every feature inside `box` (lo, hi) when given)."""
    P, d = frac.size, lb.size
    hi_x = np.kron(frac, np.ones(d))  # x_kd <= f_k
    lo_x = np.zeros(P * d)
    if box is not None:
        lo_x, hi_x = np.maximum(lo_x, box[0]), np.minimum(hi_x, box[1])
        sums_lo, sums_hi = lo_x.reshape(P, d).sum(axis=1), hi_x.reshape(P, d).sum(axis=1)
        if (sums_lo > frac + 1e-9).any() or (sums_hi < frac - 1e-9).any():
            raise InputError(
                f"fractions {list(map(float, frac))}: no schedule inside the fitted runs' "
                "range has these phase lengths (within_range)"
            )
    lo_x[pinned], hi_x[pinned] = pin_value[pinned], pin_value[pinned]
    cands = _feasible_samples(
        frac, lb, ub, prior, pinned, pin_value, n_candidates, concentration, rng
    )
    if box is not None and len(cands):
        cands = cands[((cands >= lo_x - 1e-12) & (cands <= hi_x + 1e-12)).all(axis=1)]
    if method == "sample":
        if not len(cands):
            raise InputError("no sampled schedule satisfies the constraints; loosen them")
        scores = f(cands)
        top = np.argsort(scores, kind="stable")[: min(top_k, len(cands))]
        return cands[top].mean(axis=0), len(cands)
    static = project_to_box_simplex(prior, lb, ub)[0]
    starts = [np.kron(frac, static)]
    if len(cands):
        order = np.argsort(f(cands), kind="stable")
        starts += [cands[i] for i in order[: max(0, n_restarts - 1)]]
    S = np.kron(np.ones(P), np.eye(d))  # totals = S @ x
    B = np.kron(np.eye(P), np.ones(d))  # phase sums = B @ x
    cons = [
        {"type": "eq", "fun": lambda x: B @ x - frac, "jac": lambda x: B},
        {"type": "ineq", "fun": lambda x: ub - S @ x, "jac": lambda x: -S},
        {"type": "ineq", "fun": lambda x: S @ x - lb, "jac": lambda x: S},
    ]
    best_x, best_v = starts[0], np.inf
    for x0 in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = minimize(
                lambda x: (float(f(x)[0]), grad(x)),
                np.clip(x0, lo_x, hi_x),
                jac=True,
                method="SLSQP",
                bounds=list(zip(lo_x, hi_x, strict=True)),
                constraints=cons,
                options={"maxiter": 500, "ftol": 1e-12},
            )
        x = np.clip(res.x, lo_x, hi_x) if np.all(np.isfinite(res.x)) else x0
        feasible = (
            np.abs(B @ x - frac).max() < 1e-6
            and (x >= lo_x - 1e-9).all()
            and (x <= hi_x + 1e-9).all()
            and (S @ x <= ub + 1e-7).all()
            and (S @ x >= lb - 1e-7).all()
        )
        v = float(f(x)[0])
        if feasible and v < best_v - 1e-12:
            best_x, best_v = x, v
    return best_x, len(starts)


def _feasible_samples(frac, lb, ub, prior, pinned, pin_value, n, concentration, rng) -> np.ndarray:
    """Dirichlet-sampled phase mixtures around the prior, kept where the totals are feasible."""
    P, d = frac.size, lb.size
    alpha = np.maximum(prior * d * concentration, 1e-3)
    W = rng.dirichlet(alpha, size=(n, P))  # (n, P, d)
    X = (W * frac[None, :, None]).reshape(n, P * d)
    X[:, pinned] = pin_value[pinned]
    T = X.reshape(n, P, d).sum(axis=1)
    ok = (T <= ub + 1e-12).all(axis=1) & (T >= lb - 1e-12).all(axis=1)
    ok &= np.abs(X.reshape(n, P, d).sum(axis=2) - frac).max(axis=1) < 1e-9
    return X[ok]


def _best_static(
    f, grad, method, frac, lb, ub, prior, pinned, pin_value, rng, box=None
) -> np.ndarray:
    """The best single mixture w (x = f (x) w) under the same law and constraints."""
    d = lb.size
    K = np.kron(frac[:, None], np.eye(d))  # x = K @ w
    if box is not None:  # w_i inside every phase's range: f_k w_i in [lo_ki, hi_ki]
        lo = (box[0].reshape(frac.size, d) / frac[:, None]).max(axis=0)
        hi = (box[1].reshape(frac.size, d) / frac[:, None]).min(axis=0)
        if (lo <= hi).all() and lo.sum() <= 1 + 1e-9 and np.minimum(hi, ub).sum() >= 1 - 1e-9:
            lb, ub = np.maximum(lb, lo), np.minimum(ub, hi)
    if pinned.any():  # pinned features hold x fixed: only feasible if the pins agree
        lb, ub = lb.copy(), ub.copy()
        for j in np.flatnonzero(pinned):
            k, i = divmod(j, d)
            lb[i] = ub[i] = pin_value[j] / frac[k]
    w0 = project_to_box_simplex(prior, lb, ub)[0]
    if method == "sample":
        W = project_to_box_simplex(rng.dirichlet(np.maximum(prior * d * 2.0, 1e-3), 4000), lb, ub)
        scores = f(W @ K.T)
        top = np.argsort(scores, kind="stable")[:50]
        return project_to_box_simplex(W[top].mean(axis=0), lb, ub)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(
            lambda w: (float(f(K @ w)[0]), K.T @ grad(K @ w)),
            w0,
            jac=True,
            method="SLSQP",
            bounds=list(zip(lb, ub, strict=True)),
            constraints=[
                {"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(d)}
            ],
            options={"maxiter": 500, "ftol": 1e-12},
        )
    w = project_to_box_simplex(res.x if np.all(np.isfinite(res.x)) else w0, lb, ub)[0]
    return w if f(K @ w)[0] <= f(K @ w0)[0] else w0
