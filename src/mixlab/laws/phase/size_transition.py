"""The transition in model size at a fixed mixing ratio (Gu et al. 2025's first claim).

At a fixed knowledge share r, small models learn almost none of the facts and large ones
almost all; the critical size N* is where the share learned crosses a threshold.  Studies
afford few sizes (3-6), so the curve has two parameters only:
acc(N) = sigmoid(k (ln N - m)), floor 0 and top 1 (a model large enough holds every fact,
one too small none), and ln N* = m + logit(threshold) / k.  The status (bracketed or not)
is read from the data, as for the ratio transitions in :mod:`mixlab.laws.phase.curve`.
The same two-parameter curve serves a ratio transition measured at <= 4 ratios (x = r).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit, logit

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import expanded_level
from mixlab.laws.core.checks import as_finite_array
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Estimator
from mixlab.laws.phase.curve import MIN_ROWS_STRATIFIED, Transition, _Curve

__all__ = ["SizeTransition"]

K_BOUNDS = (1e-2, 50.0)  # slope per unit of ln N: from flat over the range to a step
VAR_FLOOR = 1e-3  # p (1 - p) at p ~ 0.001: the least variance a row is given


def _jacobian(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """d sigmoid(k (u - m)) / d(k, m)."""
    k, m = theta
    p = expit(k * (u - m))
    g = p * (1.0 - p)
    return np.column_stack([g * (u - m), -g * k])


class SizeTransition(Estimator):
    """Critical model size N* at one ratio: a two-parameter logistic in ln N, with an interval.

    `fit(sizes, accuracy)` (one row per run; seeds repeat a size) sets `transition_` (a
    :class:`~mixlab.laws.phase.transition.Transition`: status, value, ci, params {k, x0, floor 0, top 1}),
    and `value_`, `ci_`, `status_`.  Interval: a bootstrap of the whole fit, stratified
    within each size when every size has >= 5 rows, else of leverage-adjusted Pearson
    residuals (scaled by sqrt(p (1 - p)), the binomial form of a share's noise), none
    without residual degrees of freedom (fewer than 3 rows).  Replicates whose data do not
    bracket the threshold count at the edge of the tried range, so a bound at an edge means
    the interval is open there.  The percentile level is expanded to Student's t on the
    residual degrees of freedom (:func:`~mixlab.laws.core.bootstrap.expanded_level`).
    """

    kind = "size_transition"
    family = "phase"
    label = "size transition"
    fitted_attr = "transition_"

    def __init__(
        self,
        threshold: float = 0.5,
        n_bootstrap: int = 500,
        level: float = DEFAULT_LEVEL,
        seed: int | list[int] = 0,
    ) -> None:
        self.threshold = threshold
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.seed = seed

    def _check(self, sizes: Any, accuracy: Any) -> tuple[np.ndarray, np.ndarray]:
        if not (isinstance(self.threshold, int | float) and 0 < self.threshold < 1):
            raise InputError(f"{self.label}: threshold must be in (0, 1), got {self.threshold!r}")
        if not (isinstance(self.n_bootstrap, int | np.integer) and self.n_bootstrap >= 0):
            raise InputError(f"{self.label}: n_bootstrap must be an integer >= 0")
        if not 0 < self.level < 1:
            raise InputError(f"{self.label}: level must be in (0, 1), got {self.level!r}")
        n = as_finite_array(sizes, "sizes", self.label)
        y = as_finite_array(accuracy, "accuracy", self.label)
        if n.size != y.size or n.size == 0:
            raise InputError(f"{self.label}: {n.size} sizes but {y.size} accuracies")
        if (bad := np.flatnonzero(n <= 0)).size:
            raise InputError(
                f"{self.label}: sizes, row {int(bad[0])} is {n[bad[0]]:g}; must be > 0"
            )
        if (bad := np.flatnonzero((y < 0) | (y > 1))).size:
            raise InputError(
                f"{self.label}: accuracy, row {int(bad[0])} is {y[bad[0]]:g}; must be in [0, 1]"
            )
        if np.unique(n).size < 2:
            raise InputError(f"{self.label}: needs at least 2 distinct sizes")
        return n, y

    def fit(self, sizes: Any, accuracy: Any) -> SizeTransition:
        """Fit the logistic, read N* off it, bootstrap its interval."""
        n, y = self._check(sizes, accuracy)
        c = _Curve(n, float(self.threshold))
        self._u_range = (float(c.uu[0]), float(c.uu[-1]))
        status, _ = c.bracket(c.means(y))
        theta = self._fit(c.u, y)
        out = Transition(
            value=None,
            ci=None,
            status=status,
            params={"k": float(theta[0]), "x0": float(np.exp(theta[1])), "floor": 0.0, "top": 1.0},
            n_points=int(y.size),
            threshold=float(self.threshold),
            method="logistic",
            level=float(self.level),
            x_range=(float(c.ux[0]), float(c.ux[-1])),
        )
        if status == "bracketed":
            out.value = float(np.exp(self._crossing(theta)))
            out.ci, out.bootstrap, out.boot_values = self._interval(c, y, theta)
            if out.boot_values.size:
                out.boot_bracketed_share = float(np.isfinite(out.boot_values).mean())
        self.transition_ = out
        self.value_, self.ci_, self.status_ = out.value, out.ci, out.status
        return self

    # ---- the curve ----------------------------------------------------------------------

    def _fit(self, u: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        lo_u, hi_u = self._u_range
        span = max(hi_u - lo_u, 1e-9)
        lower = [K_BOUNDS[0], lo_u - 3 * span - 1]
        upper = [K_BOUNDS[1], hi_u + 3 * span + 1]
        starts = (
            [start]
            if start is not None
            else [[k, m] for k in (1.0, 4.0) for m in (lo_u, (lo_u + hi_u) / 2, hi_u)]
        )
        best = None
        for s in starts:
            res = least_squares(
                lambda th: expit(th[0] * (u - th[1])) - y,
                np.clip(s, lower, upper),
                jac=lambda th: _jacobian(th, u),
                bounds=(lower, upper),
                method="trf",
            )
            if best is None or res.cost < best.cost:
                best = res
        return best.x

    def _crossing(self, theta: np.ndarray) -> float:
        return float(theta[1] + logit(self.threshold) / theta[0])

    def _interval(self, c: _Curve, y: np.ndarray, theta: np.ndarray):
        if self.n_bootstrap == 0:
            return None, None, np.empty(0)
        stratified = c.counts.min() >= MIN_ROWS_STRATIFIED
        if stratified:
            centre = c.means(y)[c.inv]
            dev = (y - centre) * np.sqrt(c.counts / np.maximum(c.counts - 1.0, 1.0))[c.inv]
            dof = float(y.size - c.counts.size)  # the spread about each size's mean
        else:
            if y.size <= 2:
                return None, None, np.empty(0)
            centre = expit(theta[0] * (c.u - theta[1]))
            J = _jacobian(theta, c.u)
            h = np.clip(np.einsum("ij,ji->i", J, np.linalg.pinv(J.T @ J) @ J.T), 0.0, 0.9)
            # Pearson residuals: a share of facts varies as p (1 - p) (binomial), times an
            # overdispersion the residuals carry; plateau rows must not shrink the spread
            # at the crossing; sqrt(n / (n - 2)) for the two fitted parameters (with 6 sizes
            # x 1 seed, 90% intervals held N* in 33 of 40 generated studies)
            scale = np.sqrt(np.maximum(centre * (1.0 - centre), VAR_FLOOR))
            dev = (y - centre) / scale / np.sqrt(1.0 - h) * np.sqrt(y.size / (y.size - 2))
            dev -= dev.mean()
            dof = float(y.size - 2)
        rng = np.random.default_rng(self.seed)
        boot = np.full(int(self.n_bootstrap), np.nan)
        # a replicate whose data do not bracket the threshold puts x* beyond the tried range:
        # above it (not reached) or below it (already above); it counts at that edge
        edge = np.full(boot.size, np.nan)
        for b in range(boot.size):
            pick = c.stratified(rng) if stratified else rng.integers(0, y.size, y.size)
            yb = np.clip(centre + dev[pick] * (1.0 if stratified else scale), 0.0, 1.0)
            status = c.bracket(c.means(yb))[0]
            if status != "bracketed":
                edge[b] = {"not_reached": np.inf, "already_above": -np.inf}.get(status, np.nan)
                continue
            boot[b] = self._crossing(self._fit(c.u, yb, theta))
        boot = np.exp(boot)
        every = np.where(np.isfinite(boot), boot, np.exp(edge))
        every = every[~np.isnan(every)]
        ci = None
        if np.isfinite(boot).sum() >= 2:
            # the spread is estimated from few residuals, so the percentile level is expanded
            # to Student's t on their degrees of freedom; on generated binomial studies the
            # 90% interval then held N* in 91% of 200 (6 sizes x 1 seed; plain: 88.5%)
            tail = (1.0 - expanded_level(self.level, dof)) / 2.0
            lo, hi = np.quantile(every, [tail, 1.0 - tail], method="inverted_cdf")
            # a bound beyond the tried range is open: it is reported at the range's edge
            ci = (float(max(lo, c.ux[0])), float(min(hi, c.ux[-1])))
        return ci, "stratified" if stratified else "residual", boot

    def predict(self, sizes: Any) -> np.ndarray:
        """The fitted share of facts learned at each size."""
        self._check_fitted()
        p = self.transition_.params
        return expit(p["k"] * (np.log(np.asarray(sizes, float)) - np.log(p["x0"])))
