"""Emergence: the first token count (or step) at which a skill's accuracy reaches a threshold.

The crossing is interpolated between the two evaluations that bracket it; across seeds, the
median with a bootstrap interval (DESIGN.md section 4, "Learning speed and emergence").
Data choices are compared by speed (`speed_ratio`) and by the area under the accuracy
curve, not only by final loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_indices, percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.dynamics.base import DynamicsEstimator
from mixlab.laws.dynamics.checks import check_curve, check_level, unpack_curve

__all__ = [
    "Emergence",
    "EmergenceEstimator",
    "area_under_curve",
    "emergence_across_seeds",
    "emergence_point",
    "speed_ratio",
]


def _crossing_index(acc: np.ndarray, threshold: float, sustain: bool, tolerance: float) -> int:
    """Index of the first evaluation at or above threshold (-1 if none).

    With `sustain`, only an evaluation after which accuracy never drops below
    threshold - tolerance counts.
    """
    hits = acc >= threshold
    if sustain:
        # lowest accuracy strictly after each evaluation (inf after the last one)
        after = np.minimum.accumulate(acc[::-1])[::-1]
        after = np.append(after[1:], np.inf)
        hits &= after >= threshold - tolerance
    idx = np.flatnonzero(hits)
    return int(idx[0]) if idx.size else -1


def _interpolate_crossing(x: np.ndarray, acc: np.ndarray, i: int, threshold: float) -> float:
    """The x where the segment from evaluation i-1 (below) to i (at or above) meets threshold."""
    if i == 0:
        return float(x[0])
    x0, x1, a0, a1 = x[i - 1], x[i], acc[i - 1], acc[i]
    return float(x0 + (threshold - a0) / (a1 - a0) * (x1 - x0))


def emergence_point(
    x: Any,
    accuracy: Any,
    threshold: float = 0.9,
    sustain: bool = False,
    tolerance: float = 0.0,
) -> float | None:
    """First x (tokens or steps) at which accuracy reaches `threshold`; None if never.

    Evaluations are sorted by x; the crossing is linearly interpolated between the last
    evaluation below the threshold and the first at or above it.  If the first evaluation
    already meets the threshold its x is returned, and the true point is <= x[0].

    `sustain=True` skips crossings that do not last (noisy, non-monotone curves): it returns
    the first crossing after which accuracy never again drops below threshold - tolerance.
    A crossing at the last evaluation counts, since nothing contradicts it.
    """
    if not np.isfinite(threshold):
        raise InputError(f"threshold must be a finite number, got {threshold!r}")
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance!r}")
    xs, acc = check_curve(x, accuracy)
    i = _crossing_index(acc, float(threshold), sustain, float(tolerance))
    return None if i < 0 else _interpolate_crossing(xs, acc, i, float(threshold))


@dataclass
class Emergence(Result):
    """Emergence points of one skill over seeds.

    `status` is "reached" (every seed reached the threshold), "not_reached_by_all" or
    "not_reached".  `value` is the median point over seeds, only when all reached.
    `ci` is a bootstrap percentile interval of that median when all of >= 2 seeds reached
    (`ci_kind` "bootstrap_median"); when only some reached it is the range (min, max) of
    the reached points (`ci_kind` "range_of_reached"), otherwise None.  `lower_bound` is
    the largest x evaluated among seeds that never reached the threshold: the slowest seed
    needs more than that.  `at_first` counts seeds that met the threshold at their first
    evaluation, whose points are only upper bounds.
    """

    status: str
    value: float | None
    ci: tuple[float, float] | None
    ci_kind: str | None
    points: list[float | None]
    reached: int
    n: int
    mean: float | None
    lower_bound: float | None
    at_first: int
    threshold: float
    level: float
    sustain: bool


def _bootstrap_median(
    points: np.ndarray, n_bootstrap: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile interval of the median over seeds resampled with replacement."""
    idx = bootstrap_indices(len(points), n_bootstrap, seed)
    lo, hi = percentile_interval(np.median(points[idx], axis=1), level)
    return float(lo), float(hi)


class EmergenceEstimator(DynamicsEstimator):
    """Emergence point of each seed's curve (x, accuracy) and their median with an interval.

    The median, not the mean, so that one slow seed does not dominate; its interval comes
    from resampling seeds (coarse with few seeds: its ends are among the seed points).
    `fit(curves)` sets `result_` (an :class:`Emergence`), `status_`, `value_` and `ci_`.
    """

    kind = "emergence"
    label = "emergence"
    result_type = Emergence

    def __init__(
        self,
        threshold: float = 0.9,
        level: float = DEFAULT_LEVEL,
        sustain: bool = False,
        n_bootstrap: int = 2000,
        seed: int = 0,
        tolerance: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.level = level
        self.sustain = sustain
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.tolerance = tolerance

    def _set_result(self, result: Emergence) -> None:
        self.result_ = result
        self.status_, self.value_, self.ci_ = result.status, result.value, result.ci

    def fit(self, curves: Sequence[tuple[Any, Any]]) -> EmergenceEstimator:
        """Fit on one curve (x, accuracy) per seed."""
        self._set_result(self._emergence(curves))
        return self

    def _emergence(self, curves: Sequence[tuple[Any, Any]]) -> Emergence:
        threshold, sustain, tolerance = self.threshold, self.sustain, self.tolerance
        n_bootstrap, seed = self.n_bootstrap, self.seed
        level = check_level(self.level)
        if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 1):
            raise InputError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
        if len(curves) == 0:
            raise InputError("curves: need at least one seed's curve")
        points: list[float | None] = []
        last_x: list[float] = []
        at_first = 0
        for k, curve in enumerate(curves):
            xs, acc = unpack_curve(curve, f"curve {k}")
            point = emergence_point(xs, acc, threshold, sustain, tolerance)
            points.append(point)
            last_x.append(float(xs[-1]))
            at_first += point is not None and point == xs[0]
        reached = np.array([p for p in points if p is not None], dtype=float)
        unreached_last = [lx for p, lx in zip(points, last_x, strict=True) if p is None]
        n = len(points)
        common = dict(
            points=points,
            reached=len(reached),
            n=n,
            at_first=int(at_first),
            threshold=float(threshold),
            level=level,
            sustain=bool(sustain),
        )
        if len(reached) == n:
            ci = _bootstrap_median(reached, n_bootstrap, level, seed) if n >= 2 else None
            return Emergence(
                status="reached",
                value=float(np.median(reached)),
                ci=ci,
                ci_kind="bootstrap_median" if ci else None,
                mean=float(reached.mean()),
                lower_bound=None,
                **common,
            )
        partial = len(reached) > 0
        return Emergence(
            status="not_reached_by_all" if partial else "not_reached",
            value=None,
            ci=(float(reached.min()), float(reached.max())) if partial else None,
            ci_kind="range_of_reached" if partial else None,
            mean=None,
            lower_bound=max(unreached_last),
            **common,
        )


def emergence_across_seeds(curves: Sequence[tuple[Any, Any]], **params: Any) -> Emergence:
    """`EmergenceEstimator(**params).fit(curves).result_`: the emergence of one skill over
    seeds, with the estimator's hyperparameters by keyword."""
    return EmergenceEstimator(**params).fit(curves).result_


def speed_ratio(
    curve_a: tuple[Any, Any],
    curve_b: tuple[Any, Any],
    levels: Sequence[float] = (0.5, 0.9),
    sustain: bool = False,
) -> dict[float, float | None]:
    """tokens_b(level) / tokens_a(level) per accuracy level: > 1 means choice a learns faster.

    None at a level that either curve never reaches (or that a reaches at x = 0).
    """
    xa, aa = unpack_curve(curve_a, "curve_a")
    xb, ab = unpack_curve(curve_b, "curve_b")
    out: dict[float, float | None] = {}
    for level in levels:
        ta = emergence_point(xa, aa, threshold=level, sustain=sustain)
        tb = emergence_point(xb, ab, threshold=level, sustain=sustain)
        out[float(level)] = None if ta is None or tb is None or ta == 0 else tb / ta
    return out


def area_under_curve(
    x: Any, accuracy: Any, x_max: float | None = None, log_x: bool = False
) -> float:
    """Mean accuracy over [x[0], x_max]: trapezoid area divided by the interval's length.

    With accuracies in [0, 1] the result is in [0, 1]; it rewards learning early as well as
    well.  `x_max` defaults to the last evaluation; beyond it the last accuracy is held
    (a curve that stopped is taken to stay where it stopped), and before it the curve is
    cut, interpolating at `x_max`.  `log_x` integrates over ln x (x must be positive),
    weighting each decade of training equally.
    """
    xs, acc = check_curve(x, accuracy)
    x_max = float(xs[-1]) if x_max is None else float(x_max)
    if not (np.isfinite(x_max) and x_max > xs[0]):
        raise InputError(f"x_max must be finite and above the first x ({xs[0]:g}), got {x_max!r}")
    if log_x and xs[0] <= 0:
        raise InputError(f"log_x needs positive x; the first x is {xs[0]:g}")
    inside = xs < x_max
    grid = np.append(xs[inside], x_max)
    vals = np.append(acc[inside], np.interp(x_max, xs, acc))  # np.interp holds the ends
    u = np.log(grid) if log_x else grid
    area = float(np.sum(np.diff(u) * (vals[1:] + vals[:-1]) / 2))
    return area / float(u[-1] - u[0])
