"""One phase transition: accuracy against x (a mixing ratio or a model size), the crossing x*
of a threshold, and its bootstrap interval (Gu et al. 2025; the study over many sizes and
ratios is :class:`~mixlab.laws.phase.transition.PhaseAnalysis`).

:func:`fit_transition` fits acc(x) = floor + (top - floor) * sigmoid(k (ln x - ln x0)) and
reads off x*, where the fitted curve crosses a threshold.  Whether a crossing lies inside the
tried range is decided from the data (mean accuracy per distinct x), never from the fit:
outside it the answer is a status, not a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, logit

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_indices, expanded_level, percentile_interval
from mixlab.laws.core.checks import as_finite_array as _as_array
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.core.fitting import CurveModel, ParamSpec, fit_model

# Weight of the pull of floor toward 0 and top toward 1, in rows: it acts like a tenth of an
# observation, so a plateau the data reach is fitted freely and one they do not stays put.
PLATEAU_PRIOR = 0.1
# Stratified resampling needs enough rows per x to see the spread there.
MIN_ROWS_STRATIFIED = 5
STATUSES = ("bracketed", "not_reached", "already_above", "inverted")


def _key(v: float) -> str:
    """The JSON key of a size or a ratio."""
    return format(float(v), "g")


# ---------------------------------------------------------------------------------------
# One transition: accuracy against x


@dataclass
class Transition(Result):
    """Where accuracy crosses `threshold` along x, with a bootstrap interval.

    `status` is "bracketed" (some x has mean accuracy below the threshold and a larger x at
    or above it), "not_reached" (every x below: x* lies above the largest x tried),
    "already_above" (every x at or above: x* lies below the smallest) or "inverted" (above
    only at smaller x than below).  Only a bracketed transition has a `value` and `ci`.
    `method` says how `value` was read: "sigmoid" (the fitted curve's crossing),
    "interpolation" (linear in ln x between the bracketing means) or "none".  `params` are
    the fitted sigmoid's (NaN with fewer than 3 distinct x).  `boot_values` holds x*
    per bootstrap replicate (NaN where the replicate's data do not bracket it).
    """

    value: float | None
    ci: tuple[float, float] | None
    status: str
    params: dict[str, float]
    n_points: int
    threshold: float
    method: str = "sigmoid"
    level: float = DEFAULT_LEVEL
    x_range: tuple[float, float] = (float("nan"), float("nan"))
    bootstrap: str | None = None
    boot_bracketed_share: float | None = None
    boot_values: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    strict_json = True  # to_dict: NaN becomes None; `boot_values` is left out


def _sigmoid_model(u_lo: float, u_hi: float, k_lo: float, k_hi: float) -> CurveModel:
    """acc(u) = floor + (1 - floor) h sigmoid(k (u - m)), u = ln x, top = floor + (1-floor) h.

    Writing top through h in [0, 1] keeps 0 <= floor <= top <= 1 with box bounds only.
    """

    def f(th: np.ndarray, U: np.ndarray) -> np.ndarray:
        k, m, fl, h = th
        return fl + (1.0 - fl) * h * expit(k * (U[:, 0] - m))

    def jac(th: np.ndarray, U: np.ndarray) -> np.ndarray:
        k, m, fl, h = th
        d = U[:, 0] - m
        s = expit(k * d)
        g = (1.0 - fl) * h * s * (1.0 - s)
        return np.column_stack([g * d, -g * k, 1.0 - h * s, (1.0 - fl) * s])

    specs = [
        ParamSpec("k", "log", k_lo, k_hi),
        ParamSpec("m", lower=u_lo, upper=u_hi),
        ParamSpec("floor", lower=0.0, upper=1.0),
        ParamSpec("h", lower=0.0, upper=1.0),
    ]
    return CurveModel(specs, f, jac)


class _Curve:
    """One transition's x (u = ln x, grouped by distinct value) and its estimator.

    The slope k is bounded to [0.01 / span, 100 / smallest gap] of ln x: from nearly flat
    over the tried range to a step between neighbouring x.
    """

    def __init__(self, x: np.ndarray, threshold: float) -> None:
        self.threshold = threshold
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.uu = np.log(self.ux)
        self.u = self.uu[self.inv]
        self.counts = np.bincount(self.inv, minlength=self.ux.size)
        span = float(self.uu[-1] - self.uu[0]) if self.ux.size > 1 else 1.0
        gap = float(np.min(np.diff(self.uu))) if self.ux.size > 1 else 1.0
        self.span = span
        self.model = _sigmoid_model(
            self.uu[0] - 3 * span - 1, self.uu[-1] + 3 * span + 1, 1e-2 / span, 100.0 / gap
        )

    def means(self, y: np.ndarray) -> np.ndarray:
        return np.bincount(self.inv, y, self.ux.size) / self.counts

    def bracket(self, means: np.ndarray) -> tuple[str, int | None]:
        """Status from the data, and i with means[i] < threshold <= means[i + 1]."""
        below = means < self.threshold
        if below.all():
            return "not_reached", None
        if not below.any():
            return "already_above", None
        up = np.flatnonzero(below[:-1] & ~below[1:])
        return ("bracketed", int(up[0])) if up.size else ("inverted", None)

    def interpolate(self, means: np.ndarray, i: int) -> float:
        a, b = means[i], means[i + 1]
        return float(self.uu[i] + (self.threshold - a) / (b - a) * (self.uu[i + 1] - self.uu[i]))

    def starts(self, means: np.ndarray, i: int | None) -> np.ndarray:
        """A small grid: three slopes, two centres, plateaus from the data."""
        centres = [float(np.median(self.uu))]
        if i is not None:
            centres.insert(0, self.interpolate(means, i))
        fl = float(np.clip(means.min(), 0.0, 0.9))
        h = float(np.clip((means.max() - fl) / (1.0 - fl), 0.05, 1.0))
        lo, hi = self.model.internal_bounds()
        rows = [[k / self.span, m, fl, h] for k in (4.0, 16.0, 64.0) for m in centres]
        rows = np.array(rows)
        rows[:, 0] = np.clip(rows[:, 0], np.exp(lo[0]) * 1.01, np.exp(hi[0]) * 0.99)
        return rows

    def fit(self, y: np.ndarray, starts: np.ndarray) -> np.ndarray:
        prior = {
            "penalty": PLATEAU_PRIOR,
            "penalty_mask": np.array([False, False, True, True]),
            "penalty_center": np.array([0.0, 1.0]),
        }  # floor -> 0, h (so top) -> 1
        with np.errstate(over="ignore", invalid="ignore"):
            res = fit_model(
                self.model,
                self.u[:, None],
                y,
                starts=starts,
                loss="squared",
                method="trf",
                maxiter=200,
                label="transition",
                warn=False,
                **prior,
            )
        return res.params

    def crossing(self, th: np.ndarray) -> float:
        """ln x where the fitted curve crosses the threshold (NaN if it never does)."""
        k, m, fl, h = th
        height = (1.0 - fl) * h
        if height <= 1e-12:
            return float("nan")
        q = (self.threshold - fl) / height
        return float(m + logit(q) / k) if 0.0 < q < 1.0 else float("nan")

    def estimate(
        self,
        y: np.ndarray,
        starts: np.ndarray | None = None,
    ) -> tuple[str, float, np.ndarray, str]:
        """(status, ln x* or NaN, sigmoid params or NaN, method) for accuracies `y`."""
        means = self.means(y)
        status, i = self.bracket(means)
        theta = np.full(4, np.nan)
        if self.ux.size >= 3:
            theta = self.fit(y, self.starts(means, i) if starts is None else starts)
        if i is None:
            return status, float("nan"), theta, "none"
        u_star = self.crossing(theta) if self.ux.size >= 3 else float("nan")
        if np.isfinite(u_star) and self.uu[0] <= u_star <= self.uu[-1]:
            return status, u_star, theta, "sigmoid"
        return status, self.interpolate(means, i), theta, "interpolation"

    def fitted(self, theta: np.ndarray, y: np.ndarray) -> np.ndarray:
        if np.all(np.isfinite(theta)):
            return self.model.predict(theta, self.u[:, None])
        return self.means(y)[self.inv]

    def leverage(self, theta: np.ndarray) -> np.ndarray:
        """Each row's leverage h_ii in the fit (of the sigmoid, or of the per-x means)."""
        if not np.all(np.isfinite(theta)):
            return 1.0 / self.counts[self.inv]
        J = self.model.jacobian(theta, self.u[:, None])
        h = np.einsum("ij,ji->i", J, np.linalg.pinv(J.T @ J) @ J.T)
        return np.clip(h, 0.0, 0.9)

    def stratified(self, rng: np.random.Generator) -> np.ndarray:
        """Row indices resampled with replacement within each distinct x."""
        order = np.argsort(self.inv, kind="stable")
        offs = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        g = self.inv[order]
        pick = offs[g] + np.floor(rng.random(g.size) * self.counts[g]).astype(int)
        out = np.empty_like(order)
        out[order] = order[pick]
        return out


def _check_level(level: float, n_bootstrap: int, threshold: float, who: str) -> None:
    if not (isinstance(threshold, int | float | np.floating) and 0 < threshold < 1):
        raise InputError(f"{who}: threshold must be in (0, 1), got {threshold!r}")
    if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 0):
        raise InputError(f"{who}: n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if not 0 < level < 1:
        raise InputError(f"{who}: level must be in (0, 1), got {level!r}")


def fit_transition(
    x: Any,
    accuracy: Any,
    threshold: float = 0.5,
    n_bootstrap: int = 500,
    level: float = DEFAULT_LEVEL,
    seed: int | Sequence[int] = 0,
    bootstrap: str = "auto",
) -> Transition:
    """Fit accuracy in [0, 1] against positive x and locate x*, where it crosses `threshold`.

    All four sigmoid parameters are fitted (squared loss, 6 starts), with a weak pull of
    floor toward 0 and top toward 1 (:data:`PLATEAU_PRIOR`) so that an unobserved plateau
    cannot drag the crossing away.  x* is the fitted curve's crossing, or linear
    interpolation in ln x between the bracketing means when that crossing falls outside the
    tried range or there are only 2 distinct x.

    Interval (`bootstrap`): "residual" adds resampled residuals (leverage-adjusted,
    e_i / sqrt(1 - h_ii), and centred) to the fitted values, clipped to [0, 1];
    "stratified" resamples rows within each distinct x (so every x stays), with deviations
    from the x's mean scaled by sqrt(n_x / (n_x - 1)).  "auto" is stratified when every x
    has >= 5 rows, else residual: with 2-3 seeds per x the within-x spread is read from 1-2
    degrees of freedom and the interval comes out too narrow (in simulation with 9 ratios x
    3 seeds, noise sd 0.03: about 80-87% coverage at nominal 95%, against about 92% for
    the pooled residuals).  Each replicate reruns the whole estimator, from the full fit's
    optimum; CI = percentile interval over replicates whose data bracket a crossing, its
    level expanded to Student's t on the residual degrees of freedom (rows - 4, or rows -
    distinct x when stratified; :func:`~mixlab.laws.core.bootstrap.expanded_level`): with
    5 ratios x 2 seeds of binomial data, 90% intervals held r* in 88.5% of 200 generated
    studies, 83.0% with the plain level (bench/phase_interval_coverage.py).  Without residual degrees of freedom (2 distinct x, one row each) `ci` is None.
    """
    who = "fit_transition"
    _check_level(level, n_bootstrap, threshold, who)
    if bootstrap not in ("auto", "residual", "stratified"):
        raise InputError(
            f"{who}: bootstrap must be 'auto', 'residual' or 'stratified', got {bootstrap!r}"
        )
    x = _as_array(x, "x", who)
    y = _as_array(accuracy, "accuracy", who)
    if x.size != y.size:
        raise InputError(f"{who}: {x.size} x values but {y.size} accuracies")
    if x.size == 0:
        raise InputError(f"{who}: no rows")
    for name, arr, ok in (("x", x, x > 0), ("accuracy", y, (y >= 0) & (y <= 1))):
        bad = np.flatnonzero(~ok)
        if bad.size:
            rule = "must be positive" if name == "x" else "must be in [0, 1]"
            raise InputError(f"{who}: {name}, row {int(bad[0])} is {arr[bad[0]]:g}; {rule}")
    return _transition(
        x,
        y,
        float(threshold),
        int(n_bootstrap),
        float(level),
        np.random.default_rng(seed),
        bootstrap,
    )


def _transition(
    x: np.ndarray,
    y: np.ndarray,
    threshold: float,
    n_bootstrap: int,
    level: float,
    rng: np.random.Generator,
    bootstrap: str,
) -> Transition:
    c = _Curve(x, threshold)
    status, u_star, theta, method = c.estimate(y)
    params = {
        "k": theta[0],
        "x0": np.exp(theta[1]),
        "floor": theta[2],
        "top": theta[2] + (1 - theta[2]) * theta[3],
    }
    out = Transition(
        value=None,
        ci=None,
        status=status,
        params={k: float(v) for k, v in params.items()},
        n_points=int(y.size),
        threshold=threshold,
        method=method,
        level=level,
        x_range=(float(c.ux[0]), float(c.ux[-1])),
    )
    if status != "bracketed":
        return out
    out.value = float(np.exp(u_star))
    scheme = bootstrap
    if scheme == "auto":
        scheme = "stratified" if c.counts.min() >= MIN_ROWS_STRATIFIED else "residual"
    if scheme == "stratified":
        centre = c.means(y)[c.inv]
        dev = (y - centre) * np.sqrt(c.counts / np.maximum(c.counts - 1.0, 1.0))[c.inv]
        dof = y.size - c.ux.size
    else:
        centre = c.fitted(theta, y)
        n_par = 4 if np.all(np.isfinite(theta)) else c.ux.size
        if y.size <= n_par:
            return out  # no residual degrees of freedom: nothing to resample
        dev = (y - centre) / np.sqrt(1.0 - c.leverage(theta))
        dev -= dev.mean()
        dof = y.size - n_par
    if n_bootstrap == 0:
        return out
    warm = theta[None, :] if np.all(np.isfinite(theta)) else None
    boot = np.full(n_bootstrap, np.nan)
    for b in range(n_bootstrap):
        pick = c.stratified(rng) if scheme == "stratified" else bootstrap_indices(y.size, 1, rng)[0]
        _, boot[b], _, _ = c.estimate(np.clip(centre + dev[pick], 0.0, 1.0), warm)
    boot = np.exp(boot)
    ok = np.isfinite(boot)
    out.bootstrap, out.boot_values = scheme, boot
    out.boot_bracketed_share = float(ok.mean())
    if ok.sum() >= 2:
        # Student's t on the residual degrees of freedom (the plain level held r* in 83% of
        # 200 generated studies at 90%, 5 ratios x 2 seeds; see expanded_level)
        lo, hi = percentile_interval(boot[ok], expanded_level(level, dof))
        out.ci = (float(lo), float(hi))
    return out
