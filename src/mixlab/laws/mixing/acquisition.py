"""Where the next round of proxy runs pays most: expected improvement over a bootstrap.

The rule (used by `mixlab run` after round 1): draw candidate mixtures inside the
constraints, around the natural shares and around the law's current optimum; give each a
predicted target mu (the fitted law) and an uncertainty sigma (the spread of the law's
chosen members refitted on bootstrap resamples of the runs); score it by the expected
improvement over the best target observed so far,

    EI(w) = (best - mu) Phi(z) + sigma phi(z),   z = (best - mu) / sigma,

and take the batch greedily: the best candidate, then the best one at least `min_distance`
(total variation) from every run already trained or chosen.

Why EI: it is large where the law predicts a low target (exploitation: runs near the
predicted optimum sharpen the law exactly where the recommendation will be read) and where
the refits disagree (exploration: the interval is widest), in one number with no tuning
constant, unlike a lower confidence bound's kappa.  The conformal intervals of `auto` have
one width for every mixture, so they cannot say *where* the law is unsure; the bootstrap
can.  The distance rule spreads a batch that would otherwise pile onto one point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from mixlab.errors import InputError
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.bootstrap import bootstrap_law
from mixlab.laws.mixing.design import dirichlet_design
from mixlab.laws.mixing.optimize import project_to_box_simplex

__all__ = [
    "Acquisition",
    "bootstrap_spread",
    "candidate_mixtures",
    "expected_improvement",
    "propose_batch",
    "select_batch",
    "total_variation",
]


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """EI of a minimised target: E[max(best - Y, 0)] for Y ~ N(mu, sigma^2)."""
    mu = np.asarray(mu, float)
    sigma = np.maximum(np.asarray(sigma, float), 0.0)
    gap = best - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, gap / sigma, 0.0)
    ei = gap * norm.cdf(z) + sigma * norm.pdf(z)
    return np.where(sigma > 0, ei, np.maximum(gap, 0.0))


def total_variation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Total-variation distance between every row of A and every row of B: (len(A), len(B))."""
    A, B = np.atleast_2d(A), np.atleast_2d(B)
    return 0.5 * np.abs(A[:, None, :] - B[None, :, :]).sum(axis=2)


def select_batch(
    candidates: np.ndarray,
    score: np.ndarray,
    n: int,
    *,
    existing: np.ndarray | None = None,
    min_distance: float = 0.05,
) -> list[int]:
    """Indices of `n` candidates by decreasing `score`, each at least `min_distance` (TV)
    from the `existing` rows and from those already chosen; fewer if none qualify."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    taken: list[np.ndarray] = [] if existing is None else list(np.atleast_2d(existing))
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if taken and total_variation(candidates[i], np.array(taken)).min() < min_distance:
            continue
        chosen.append(int(i))
        taken.append(candidates[i])
    return chosen


def candidate_mixtures(
    centres: Sequence[np.ndarray],
    lb: np.ndarray,
    ub: np.ndarray,
    n: int = 2000,
    concentration: tuple[float, float] = (2.0, 50.0),
    seed: int = 0,
) -> np.ndarray:
    """Dirichlet draws around each centre (wide and tight concentrations), projected onto
    the box-simplex {lb <= w <= ub, sum w = 1}; the centres themselves are included."""
    rows = []
    for k, c in enumerate(centres):
        c = np.asarray(c, float)
        prior = np.maximum(c, 1e-3)
        draws = dirichlet_design(
            prior / prior.sum(),
            max(1, n // len(centres)),
            concentration=concentration,
            cap=None,
            decimals=None,
            deduplicate=False,
            seed=[seed, k],
        )
        rows.append(c[None, :])
        rows.append(draws)
    return project_to_box_simplex(np.vstack(rows), lb, ub)


def bootstrap_spread(
    law: MixingLaw,
    R: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    n_bootstrap: int = 12,
    seed: int = 0,
) -> np.ndarray:
    """Standard deviation over bootstrap refits of the law's prediction of its first target
    at mixtures W.  An `auto` law is refitted through its chosen members (the candidate
    selection itself is not redone: that is 5-fold CV per refit)."""
    members = getattr(law, "members_", None)
    if members is not None:
        weights = law.member_weights_[0]
        preds = 0.0
        for m, w in zip(members, weights, strict=True):
            if w == 0:
                continue
            boot = bootstrap_law(m, R, Y, n_bootstrap=n_bootstrap, seed=seed)
            preds = preds + w * boot.predict(W)[:, :, 0]
        samples = np.asarray(preds)
    else:
        samples = bootstrap_law(law, R, Y, n_bootstrap=n_bootstrap, seed=seed).predict(W)[:, :, 0]
    samples = np.where(np.isfinite(samples), samples, np.nan)
    return np.nan_to_num(np.nanstd(samples, axis=0), nan=0.0)


@dataclass
class Acquisition:
    """A proposed batch: the mixtures, and for each its predicted target, spread and EI."""

    mixtures: np.ndarray
    predicted: np.ndarray
    sigma: np.ndarray
    ei: np.ndarray
    best: float


def propose_batch(
    law: MixingLaw,
    R: np.ndarray,
    Y: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    centres: Sequence[np.ndarray],
    n: int,
    *,
    n_candidates: int = 1500,
    n_bootstrap: int = 12,
    min_distance: float = 0.05,
    seed: int = 0,
) -> Acquisition:
    """The next `n` mixtures by expected improvement (see the module docstring).

    `R`, `Y`: the runs the law was fitted on (Y's columns are `law.metric_names_`);
    `centres`: mixtures to sample around (the natural shares, the law's optimum).
    """
    if n < 1:
        raise InputError(f"a batch needs at least 1 run, got {n}")
    R = np.asarray(R, float)
    Y = np.asarray(Y, float)
    C = candidate_mixtures(centres, lb, ub, n_candidates, seed=seed)
    mu = law.predict(C)[:, 0]
    observed = Y[:, 0] if law.weights_ is None else Y @ _weight_vector(law)
    best = float(np.nanmin(observed))
    sigma = bootstrap_spread(law, R, Y, C, n_bootstrap=n_bootstrap, seed=seed)
    ei = expected_improvement(mu, sigma, best)
    idx = select_batch(C, ei, n, existing=R, min_distance=min_distance)
    return Acquisition(C[idx], mu[idx], sigma[idx], ei[idx], best)


def _weight_vector(law: MixingLaw) -> np.ndarray:
    return np.array([law.weights_.get(m, 0.0) for m in law.metric_names_])
