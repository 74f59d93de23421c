"""Continual pretraining: how much original data keeps the original loss in bounds.

Given a law fitted over two-domain mixtures (original share p, new share 1 - p) that
predicts the original domain's validation loss L(p), the critical share is the smallest p
in [0, 1] with L(p) <= level + bound (absolute) or level * (1 + bound) (relative), where
`level` is the loss before continuation.  Solved by bracketing sign changes of
L(p) - threshold on a grid and refining each with Brent's method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from mixlab.errors import InputError
from mixlab.laws.core.estimator import Result
from mixlab.laws.mixing.base import MixingLaw

__all__ = ["CriticalShare", "critical_share"]


@dataclass
class CriticalShare(Result):
    """The answer, or `reachable=False` with the closest the law can get."""

    reachable: bool
    share: float | None
    threshold: float
    loss_at_share: float | None
    best_share: float
    best_loss: float
    original: str
    target: str
    message: str


def critical_share(
    law: MixingLaw,
    *,
    original: str,
    level: float,
    bound: float,
    relative: bool = False,
    target: str | None = None,
    grid: int = 2001,
    xtol: float = 1e-10,
) -> CriticalShare:
    """Smallest share of `original` data keeping the target loss within `bound` of `level`.

    `law` must be fitted on two domains; `original` names the original-data domain,
    `target` the original domain's loss among `law.target_names_` (optional when the law
    has one target).  `bound` is absolute, or a fraction of `level` when `relative`.
    """
    target = _check_inputs(law, original, level, bound, target)
    names = law.domain_names_
    threshold = float(level * (1 + bound) if relative else level + bound)
    io = names.index(original)
    j = law.target_names_.index(target)

    def mix(p: np.ndarray) -> np.ndarray:
        W = np.empty((np.size(p), 2))
        W[:, io] = p
        W[:, 1 - io] = 1.0 - np.asarray(p)
        return W

    def excess(p: float) -> float:
        return float(law.predict(mix(np.array([p])))[0, j]) - threshold

    ps = np.linspace(0.0, 1.0, int(grid))
    vals = law.predict(mix(ps))[:, j] - threshold
    best = int(np.argmin(vals))
    best_share, best_loss = float(ps[best]), float(vals[best] + threshold)
    ok = np.flatnonzero(vals <= 0)
    what = f"{target} <= {threshold:.6g} ({'relative' if relative else 'absolute'} bound)"
    if ok.size == 0:
        return CriticalShare(
            False,
            None,
            threshold,
            None,
            best_share,
            best_loss,
            original,
            target,
            f"not reachable: no share of {original!r} in [0, 1] keeps {what}; the lowest "
            f"predicted loss is {best_loss:.6g} at share {best_share:.4g}",
        )
    i = int(ok[0])
    if i == 0:
        share = 0.0
    else:
        share = float(brentq(excess, ps[i - 1], ps[i], xtol=xtol))
    loss = float(law.predict(mix(np.array([share])))[0, j])
    return CriticalShare(
        True,
        share,
        threshold,
        loss,
        best_share,
        best_loss,
        original,
        target,
        f"a share of {original!r} of at least {share:.6g} keeps {what}",
    )


def _check_inputs(
    law: MixingLaw, original: str, level: float, bound: float, target: str | None
) -> str:
    """Check a two-domain fitted law, the domain, the level and bound; returns the target."""
    law._check_fitted()
    names = law.domain_names_
    if len(names) != 2:
        raise InputError(f"critical_share needs a law over 2 domains, this one has {names}")
    if original not in names:
        raise InputError(f"original domain {original!r} is not one of the law's domains {names}")
    if target is None:
        if len(law.target_names_) != 1:
            raise InputError(
                f"law has targets {law.target_names_}; name the original domain's loss with target="
            )
        target = law.target_names_[0]
    if target not in law.target_names_:
        raise InputError(f"target {target!r} is not one of the law's targets {law.target_names_}")
    for name, v in (("level", level), ("bound", bound)):
        if not np.isfinite(v):
            raise InputError(f"{name} must be a finite number, got {v!r}")
    if bound < 0:
        raise InputError(f"bound must be >= 0, got {bound!r}")
    return target
