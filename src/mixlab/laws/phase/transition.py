"""Phase transitions in knowledge acquisition (Gu et al. 2025, arXiv 2505.18091).

Mixing a knowledge-dense set into web text at ratio r, the share of facts a model learns
stays near zero below a critical ratio r* and jumps above it; likewise in model size N at
fixed r.  This module measures those transitions from runs and states the theory behind them.

**Measuring.**  :func:`fit_transition` (in :mod:`mixlab.laws.phase.curve`, re-exported here)
fits accuracy against x (a ratio or a size) with
acc(x) = floor + (top - floor) * sigmoid(k (ln x - ln x0)) and reads off x*, where the fitted
curve crosses a threshold.  Whether a crossing lies inside the tried range is decided from the
data (mean accuracy per distinct x), never from the fit: outside it the answer is a status,
not a number.  :class:`PhaseAnalysis` does this per model size (critical ratio) and per
ratio (critical size) over a study table, and fits r* = coef * N^-exponent.

**Theory** (:class:`WebCapacityLaw`, :class:`CapacityTheory`).  A model of N parameters
stores about M = bits_per_param * N bits.  Web loss follows L(M) = C + A M^-alpha, so one
more bit of capacity for the web lowers the loss by marginal(M) = alpha A M^-(alpha+1) nats.
Training on a mixture with knowledge share r, a fact of group g occurs r * exposure_g times
per training token; learning it saves bits_g bits = bits_g ln 2 nats at each occurrence, so
it lowers the expected loss per token by r exposure_g bits_g ln 2, and costs bits_g of
capacity, which raises the web part of the loss by (1 - r) bits_g marginal(M_web), M_web being
the capacity not yet spent on facts.  The optimum is a greedy knapsack: take groups in
decreasing value per bit (r exposure_g ln 2) and learn facts of a group while
r exposure_g ln 2 >= (1 - r) marginal(M_web), i.e. while
M_web >= M_min,g = (r exposure_g ln 2 / ((1 - r) alpha A))^(-1/(alpha+1)).
When facts take a negligible share of capacity the transition sits at M = M_min, so
r*/(1 - r*) ∝ 1 / (exposure M^(alpha+1)): r* ∝ N^-(alpha+1) for small r*, and the critical
size N* ∝ (1 / (r exposure))^(1/(alpha+1)).  At finite sizes the slope differs: the
capacity facts take steepens it, the (1 - r*) factor flattens it once r* is large;
:meth:`CapacityTheory.exponent` computes it over given sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import percentile_interval
from mixlab.laws.core.checks import as_finite_array as _as_array
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Estimator, Result, jsonable
from mixlab.laws.phase.capacity import CapacityTheory, FactGroup, WebCapacityLaw, _line
from mixlab.laws.phase.curve import (
    Transition,
    _check_level,
    _key,
    _transition,
    fit_transition,
)

__all__ = [
    "CapacityTheory",
    "FactGroup",
    "PhaseAnalysis",
    "PowerLaw",
    "Transition",
    "WebCapacityLaw",
    "fit_transition",
]


# ---------------------------------------------------------------------------------------
# A study: accuracy over model sizes x mixing ratios


@dataclass
class PowerLaw(Result):
    """r* = coef * N^-exponent, least squares of ln r* on ln N, with a bootstrap interval."""

    coef: float
    exponent: float
    sizes: list[float]
    ci: dict[str, tuple[float, float]] | None = None
    n_bootstrap: int = 0
    boot: np.ndarray = field(default_factory=lambda: np.empty((0, 2)), repr=False)

    def predict(self, sizes: Any) -> np.ndarray:
        """The critical ratio the law gives at each model size."""
        return self.coef * np.asarray(sizes, dtype=float) ** -self.exponent


class PhaseAnalysis(Estimator):
    """Critical ratios per model size, critical sizes per ratio, and r*(N) as a power law.

    `fit(table)` reads columns `model_size`, `ratio` (knowledge share in (0, 1]) and
    `accuracy` (share of facts learned, in [0, 1]), optionally `tokens` and `seed`.  Runs of
    one size may differ in token budget: by default each size's curve uses only its rows at
    the largest budget present for that size (so one curve never mixes budgets); `tokens=`
    picks one budget for every size instead.  Fitted attributes: `critical_ratio_` (size ->
    :class:`Transition` of accuracy against ratio; a size with <= 4 runs gets the
    two-parameter logistic of :class:`~mixlab.laws.phase.size_transition.SizeTransition`,
    floor 0 and top 1, since the sigmoid's four would leave no residual for an interval), `critical_size_` (ratio -> Transition
    against size, for ratios run at >= 2 sizes: the two-parameter logistic in ln N of
    :class:`~mixlab.laws.phase.size_transition.SizeTransition`, since studies afford few sizes), `power_law_` (:class:`PowerLaw` over the sizes whose
    ratio transition is bracketed, or None with `power_law_reason_`), `tokens_used_`.
    The power law's interval pairs replicate b of every size's bootstrap and refits the
    line, over the replicates in which every size has a crossing.
    """

    kind = "phase"
    family = "phase"
    label = "phase analysis"
    fitted_attr = "critical_ratio_"
    columns = ("model_size", "ratio", "accuracy")

    def __init__(
        self,
        threshold: float = 0.5,
        n_bootstrap: int = 500,
        level: float = DEFAULT_LEVEL,
        seed: int = 0,
        tokens: float | None = None,
        bootstrap: str = "auto",
    ) -> None:
        self.threshold = threshold
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.seed = seed
        self.tokens = tokens
        self.bootstrap = bootstrap

    # ---- input --------------------------------------------------------------------------

    def _read(self, table: Any) -> dict[str, np.ndarray]:
        if hasattr(table, "columns") and hasattr(table, "to_numpy"):
            names = [str(c) for c in table.columns]
        elif isinstance(table, Mapping):
            names = [str(c) for c in table.keys()]
        else:
            raise InputError(
                f"{self.label}: expected a table or a dict of columns, got {type(table).__name__}"
            )
        for col in self.columns:
            if col not in names:
                raise InputError(
                    f"{self.label}: missing column {col!r}; need "
                    f"{list(self.columns)}, optional ['tokens', 'seed']"
                )
        wanted = [*self.columns, *(["tokens"] if "tokens" in names else [])]
        cols = {c: _as_array(table[c], f"column {c!r}", self.label) for c in wanted}
        n = {c: v.size for c, v in cols.items()}
        if len(set(n.values())) > 1:
            raise InputError(f"{self.label}: columns differ in length {n}")
        if n["accuracy"] == 0:
            raise InputError(f"{self.label}: the table has no rows")
        rules = {
            "accuracy": ((cols["accuracy"] >= 0) & (cols["accuracy"] <= 1), "in [0, 1]"),
            "model_size": (cols["model_size"] > 0, "positive"),
            "ratio": ((cols["ratio"] > 0) & (cols["ratio"] <= 1), "in (0, 1]"),
        }
        if "tokens" in cols:
            rules["tokens"] = (cols["tokens"] > 0, "positive")
        for col, (ok, rule) in rules.items():
            bad = np.flatnonzero(~ok)
            if bad.size:
                raise InputError(
                    f"{self.label}: column {col!r}, row {int(bad[0])} is "
                    f"{cols[col][bad[0]]:g}; values must be {rule}"
                )
        return cols

    def _select_tokens(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """Rows to use: each size's largest budget, or the budget `tokens` names."""
        size = cols["model_size"]
        if "tokens" not in cols:
            if self.tokens is not None:
                raise InputError(
                    f"{self.label}: tokens={self.tokens!r} given but the table "
                    "has no 'tokens' column"
                )
            self.tokens_used_ = None
            return np.ones(size.size, bool)
        tok = cols["tokens"]
        if self.tokens is not None:
            keep = np.isclose(tok, float(self.tokens), rtol=1e-9, atol=0)
            if not keep.any():
                raise InputError(
                    f"{self.label}: tokens={self.tokens!r} matches no row of "
                    f"column 'tokens' (budgets: {sorted(set(tok.tolist()))})"
                )
        else:
            top = {s: tok[size == s].max() for s in np.unique(size)}
            keep = tok == np.array([top[s] for s in size])
        self.tokens_used_ = {
            float(s): float(tok[keep & (size == s)][0]) for s in np.unique(size[keep])
        }
        return keep

    # ---- fit ----------------------------------------------------------------------------

    def fit(self, table: Any) -> PhaseAnalysis:
        """Fit every transition in `table` and the power law r*(N)."""
        from mixlab.laws.phase.size_transition import SizeTransition

        _check_level(self.level, self.n_bootstrap, self.threshold, self.label)
        if self.bootstrap not in ("auto", "residual", "stratified"):
            raise InputError(
                f"{self.label}: bootstrap must be 'auto', 'residual' or "
                f"'stratified', got {self.bootstrap!r}"
            )
        cols = self._read(table)
        keep = self._select_tokens(cols)
        size, ratio, acc = (cols[c][keep] for c in self.columns)
        thr, nb, lvl, bs = (
            float(self.threshold),
            int(self.n_bootstrap),
            float(self.level),
            self.bootstrap,
        )

        self.critical_ratio_: dict[float, Transition] = {}
        for i, s in enumerate(np.unique(size)):
            rows = size == s
            if rows.sum() <= 4 and np.unique(ratio[rows]).size >= 2:
                # the sigmoid's 4 parameters leave no residual to bootstrap: the logistic's 2 do
                fit = SizeTransition(thr, nb, lvl, seed=[self.seed, 0, i])
                self.critical_ratio_[float(s)] = fit.fit(ratio[rows], acc[rows]).transition_
                continue
            rng = np.random.default_rng([self.seed, 0, i])
            self.critical_ratio_[float(s)] = _transition(
                ratio[rows], acc[rows], thr, nb, lvl, rng, bs
            )
        self.critical_size_: dict[float, Transition] = {}
        for j, r in enumerate(np.unique(ratio)):
            rows = ratio == r
            if np.unique(size[rows]).size < 2:
                continue
            fit = SizeTransition(thr, nb, lvl, seed=[self.seed, 1, j])
            self.critical_size_[float(r)] = fit.fit(size[rows], acc[rows]).transition_
        self._fit_power_law()
        return self

    def _fit_power_law(self) -> None:
        done = {s: t for s, t in self.critical_ratio_.items() if t.status == "bracketed"}
        self.power_law_: PowerLaw | None = None
        self.power_law_reason_: str | None = None
        if len(done) < 2:
            self.power_law_reason_ = (
                f"{len(done)} model size(s) with a bracketed critical ratio; the power law "
                "needs at least 2"
            )
            return
        sizes = sorted(done)
        ln_n = np.log(sizes)
        coef, expo = _line(ln_n, np.log([done[s].value for s in sizes]))
        law = PowerLaw(coef, expo, [float(s) for s in sizes])
        lengths = {done[s].boot_values.size for s in sizes}
        if lengths == {self.n_bootstrap} and self.n_bootstrap > 0:
            B = np.column_stack([done[s].boot_values for s in sizes])
            B = B[np.all(np.isfinite(B), axis=1)]
            if len(B) >= 2:
                law.boot = np.array([_line(ln_n, np.log(row)) for row in B])
                lo, hi = percentile_interval(law.boot, self.level)
                law.ci = {
                    "coef": (float(lo[0]), float(hi[0])),
                    "exponent": (float(lo[1]), float(hi[1])),
                }
                law.n_bootstrap = len(B)
        self.power_law_ = law

    # ---- output -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The PHASE.json contract: thresholds, every transition, the power law."""
        self._check_fitted()
        if self.power_law_ is not None:
            power = self.power_law_.to_dict()
        else:
            sizes = [s for s, t in self.critical_ratio_.items() if t.status == "bracketed"]
            power = {
                "coef": None,
                "exponent": None,
                "ci": None,
                "sizes": sizes,
                "n_bootstrap": 0,
                "reason": self.power_law_reason_,
            }
        return jsonable(
            {
                "threshold": float(self.threshold),
                "level": float(self.level),
                "tokens": None
                if self.tokens_used_ is None
                else {_key(s): t for s, t in self.tokens_used_.items()},
                "critical_ratio": {_key(s): t.to_dict() for s, t in self.critical_ratio_.items()},
                "critical_size": {_key(r): t.to_dict() for r, t in self.critical_size_.items()},
                "power_law": power,
            }
        )
