"""Capacity-allocation theory of the phase transition (Gu et al. 2025's knapsack).

A model of N parameters stores about M = bits_per_param * N bits; web loss follows
L(M) = C + A M^-alpha (:class:`WebCapacityLaw`), and facts are learned greedily while the
loss they save per token outweighs the web loss their capacity costs
(:class:`CapacityTheory`; the derivation is in :mod:`mixlab.laws.phase.transition`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from mixlab.errors import InputError
from mixlab.laws.core.checks import as_finite_array as _as_array
from mixlab.laws.core.estimator import Estimator
from mixlab.laws.scaling.forms import SizeLaw

__all__ = ["CapacityTheory", "FactGroup", "WebCapacityLaw"]

LN2 = math.log(2.0)


def _line(ln_n: np.ndarray, ln_r: np.ndarray) -> tuple[float, float]:
    """(coef, exponent) of ln r = ln coef - exponent ln N."""
    slope, icpt = np.polyfit(ln_n, ln_r, 1)
    return float(np.exp(icpt)), float(-slope)


# ---------------------------------------------------------------------------------------
# Capacity-allocation theory (Gu et al.'s knapsack)


class WebCapacityLaw(Estimator):
    """Web loss against capacity: L(M) = C + A M^-alpha, M = bits_per_param * N bits.

    Fitted like the other scaling laws (:class:`~mixlab.laws.scaling.SizeLaw`: Huber loss
    on log residuals, multi-start L-BFGS) on M.  `marginal(M)` is the loss one more bit of
    capacity buys, -dL/dM, in the loss's units (nats) per bit.
    """

    kind = "web_capacity"
    family = "phase"
    label = "web capacity law"

    def __init__(
        self,
        bits_per_param: float = 2.0,
        loss: str = "huber",
        delta: float = 1e-3,
        residual: str = "log",
    ) -> None:
        self.bits_per_param = bits_per_param
        self.loss = loss
        self.delta = delta
        self.residual = residual

    @classmethod
    def from_params(
        cls, C: float, A: float, alpha: float, bits_per_param: float = 2.0
    ) -> WebCapacityLaw:
        """A law with known constants, without fitting."""
        law = cls(bits_per_param)
        law._check_bpp()
        for name, v in (("C", C), ("A", A), ("alpha", alpha)):
            if not (np.isfinite(v) and v > 0 or name == "C" and v == 0):
                raise InputError(f"{cls.label}: {name} must be positive, got {v!r}")
        law.params_ = {"C": float(C), "A": float(A), "alpha": float(alpha)}
        return law

    def _check_bpp(self) -> None:
        if not (np.isfinite(self.bits_per_param) and self.bits_per_param > 0):
            raise InputError(
                f"{self.label}: bits_per_param must be positive, got {self.bits_per_param!r}"
            )

    def fit(self, sizes: Any, web_losses: Any) -> WebCapacityLaw:
        """Fit on model sizes N (parameters) and their web validation losses."""
        self._check_bpp()
        N = _as_array(sizes, "sizes", self.label)
        y = _as_array(web_losses, "web_losses", self.label)
        if N.size != y.size:
            raise InputError(f"{self.label}: {N.size} sizes but {y.size} losses")
        if np.unique(N).size < 3:
            raise InputError(
                f"{self.label}: {np.unique(N).size} distinct size(s); the law "
                "has 3 constants and needs at least 3 sizes"
            )
        law = SizeLaw(loss=self.loss, delta=self.delta, residual=self.residual)
        law.fit(self.bits_per_param * N, y)
        p = law.params_
        self.params_ = {"C": p["E"], "A": p["A"], "alpha": p["b"]}
        self.fit_info_ = law.fit_info_
        return self

    def capacity(self, sizes: Any) -> np.ndarray:
        """Bits of capacity M of models with `sizes` parameters."""
        return self.bits_per_param * np.asarray(sizes, dtype=float)

    def predict(self, sizes: Any) -> np.ndarray:
        """Web loss of models with `sizes` parameters."""
        self._check_fitted()
        p = self.params_
        return p["C"] + p["A"] * self.capacity(sizes) ** -p["alpha"]

    def marginal(self, M: Any) -> np.ndarray:
        """-dL/dM = alpha A M^-(alpha+1): loss saved by one more bit at capacity M."""
        self._check_fitted()
        p = self.params_
        return p["alpha"] * p["A"] * np.asarray(M, dtype=float) ** (-p["alpha"] - 1)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": self.format,
            "version": 1,
            "kind": self.kind,
            "hyperparams": self.get_params(),
            "bits_per_param": float(self.bits_per_param),
            "params": dict(self.params_),
        }

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> WebCapacityLaw:
        law = cls(**data["hyperparams"])
        law.params_ = {k: float(data["params"][k]) for k in ("C", "A", "alpha")}
        return law


@dataclass(frozen=True)
class FactGroup:
    """`count` facts of `bits` bits each, each occurring `exposure` times per knowledge token.

    `exposure` counts occurrences of one fact per token of the knowledge data: with P people
    whose biographies of T tokens each state every attribute once and are drawn uniformly,
    each fact has exposure 1 / (T P).  `bits` is the information in one fact, e.g. log2 of
    the number of values the attribute can take.
    """

    count: float
    exposure: float
    bits: float
    name: str = ""

    def __post_init__(self) -> None:
        for fld, v in (("count", self.count), ("exposure", self.exposure), ("bits", self.bits)):
            if not (isinstance(v, int | float | np.number) and np.isfinite(v) and v > 0):
                raise InputError(
                    f"FactGroup {self.name!r}: {fld} must be a positive number, got {v!r}"
                )
        if self.exposure > 1:
            raise InputError(
                f"FactGroup {self.name!r}: exposure is occurrences per knowledge "
                f"token and cannot exceed 1, got {self.exposure!r}"
            )


class CapacityTheory:
    """Gu et al.'s knapsack: which facts a model of N parameters learns at knowledge share r.

    See the module docstring for the derivation.  Groups are learned in decreasing
    exposure (value per bit r exposure ln 2); within a group the learned count is the
    continuous solution n = (M - used - M_min) / bits, clipped to [0, count].
    """

    def __init__(self, web_law: WebCapacityLaw, fact_groups: Iterable[FactGroup]) -> None:
        if not isinstance(web_law, WebCapacityLaw):
            raise InputError(f"web_law must be a WebCapacityLaw, got {type(web_law).__name__}")
        web_law._check_fitted()
        groups = [g if isinstance(g, FactGroup) else FactGroup(*g) for g in fact_groups]
        if not groups:
            raise InputError("CapacityTheory: fact_groups is empty")
        self.web_law = web_law
        self.fact_groups = groups
        self._order = sorted(range(len(groups)), key=lambda i: -groups[i].exposure)

    @property
    def asymptotic_exponent(self) -> float:
        """alpha + 1: r* ∝ N^-(alpha+1) when facts take a negligible share of capacity."""
        return self.web_law.params_["alpha"] + 1.0

    def _check(self, ratio: float, size: float) -> None:
        if not (np.isfinite(ratio) and 0 <= ratio <= 1):
            raise InputError(f"ratio must be in [0, 1], got {ratio!r}")
        if not (np.isfinite(size) and size > 0):
            raise InputError(f"size must be a positive number of parameters, got {size!r}")

    def min_web_capacity(self, ratio: float, exposure: float) -> float:
        """M_min: facts of this exposure are worth learning while the web keeps >= M_min bits."""
        if ratio <= 0:
            return float("inf")
        if ratio >= 1:
            return 0.0
        p = self.web_law.params_
        value = ratio * exposure * LN2 / ((1.0 - ratio) * p["alpha"] * p["A"])
        return float(value ** (-1.0 / (p["alpha"] + 1.0)))

    def learned_by_group(self, ratio: float, size: float) -> np.ndarray:
        """Share of each group's facts learned (in the order given), each in [0, 1]."""
        self._check(ratio, size)
        M = float(self.web_law.capacity(size))
        used = 0.0
        out = np.zeros(len(self.fact_groups))
        for i in self._order:
            g = self.fact_groups[i]
            free = M - used - self.min_web_capacity(ratio, g.exposure)
            n = min(max(free / g.bits, 0.0), g.count)
            used += n * g.bits
            out[i] = n / g.count
        return out

    def fraction_learned(self, ratio: float, size: float) -> float:
        """Learned facts over all facts."""
        counts = np.array([g.count for g in self.fact_groups])
        return float(np.dot(self.learned_by_group(ratio, size), counts) / counts.sum())

    def critical_ratio(
        self, size: float, threshold: float = 0.5, lower: float = 1e-6
    ) -> float | None:
        """Smallest r with fraction_learned >= threshold (bisection in ln r over (lower, 1)).

        None when the threshold is not crossed inside the range: not reached even at r -> 1,
        or already met at `lower`.
        """
        if not 0 < threshold <= 1:
            raise InputError(f"threshold must be in (0, 1], got {threshold!r}")

        def gap(lr: float) -> float:
            return self.fraction_learned(math.exp(lr), size) - threshold

        lo, hi = math.log(lower), 0.0
        if gap(hi) < 0 or gap(lo) >= 0:
            return None
        return float(math.exp(brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)))

    def critical_size(
        self, ratio: float, threshold: float = 0.5, bounds: tuple[float, float] = (1e3, 1e13)
    ) -> float | None:
        """Smallest N with fraction_learned >= threshold (bisection in ln N over `bounds`).

        None when not reached at the largest size, or already met at the smallest.
        """
        if not 0 < threshold <= 1:
            raise InputError(f"threshold must be in (0, 1], got {threshold!r}")

        def gap(ln: float) -> float:
            return self.fraction_learned(ratio, math.exp(ln)) - threshold

        lo, hi = math.log(bounds[0]), math.log(bounds[1])
        if gap(hi) < 0 or gap(lo) >= 0:
            return None
        return float(math.exp(brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)))

    def exponent(self, sizes: Sequence[float], threshold: float = 0.5) -> float:
        """gamma in r* ∝ N^-gamma, least squares of ln r* on ln N over `sizes`.

        The theory's finite-size prediction, to compare with :class:`PhaseAnalysis`'s
        `power_law_.exponent`; it tends to :attr:`asymptotic_exponent` when facts take a
        negligible share of capacity and r* << 1.
        """
        sizes = [float(s) for s in sizes]
        if len(set(sizes)) < 2:
            raise InputError(f"exponent needs at least 2 distinct sizes, got {sizes}")
        crit = [self.critical_ratio(s, threshold, lower=1e-300) for s in sizes]
        missing = [s for s, r in zip(sizes, crit, strict=True) if r is None]
        if missing:
            raise InputError(f"no critical ratio in (0, 1) at size(s) {missing}")
        return _line(np.log(sizes), np.log(crit))[1]
