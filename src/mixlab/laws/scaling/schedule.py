"""A step law that knows the learning-rate schedule (Tissue et al. 2024, arXiv 2408.11029).

L(s) = L0 + A * S1(s)^-alpha - C * S2(s), with the learning rate eta_i of optimiser step i
(relative to its peak, so S1 counts peak-lr steps):

* S1(s) = sum_{i<s} eta_i, the forward area;
* S2(s) = sum_{i<s} m_i, m_i = lam * m_{i-1} + (eta_{i-1} - eta_i), the annealing area:
  the loss drop that a decaying learning rate buys, with momentum `lam` (0.999 in the paper).
  The warm-up's rise is not annealing and is left out of S2 (m starts at 0 when the warm-up
  ends): counted, it leaves a negative momentum that outlasts the warm-up by ~1/(1-lam)
  steps, and in a run of ~1,000 steps S2 stays negative to the end.

The plain step law E + B S^-a cannot follow the drop at the end of a cosine or WSD schedule;
this one can, and once fitted it predicts the same model under another schedule
(:meth:`ScheduleStepLaw.with_schedule`): the end of a run cut before its decay, a WSD
run's cooldown, or a proxy read at the step count and schedule of a longer target run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import CurveModel, ParamSpec, fit_model
from mixlab.laws.scaling.forms import EXPONENT_MAX, TWO_TERM_EXPONENTS, ScalingLaw

__all__ = [
    "ScheduleStepLaw",
    "SharedScheduleFit",
    "annealing_areas",
    "fit_schedule_study",
    "lr_schedule",
]

SCHEDULE_KINDS = ("cosine", "wsd", "constant")


def lr_schedule(
    n_steps: int,
    total_steps: int,
    kind: str = "cosine",
    warmup: float = 0.05,
    min_lr_ratio: float = 0.1,
    decay: float = 0.2,
) -> np.ndarray:
    """Learning rate / peak for optimiser steps 0..n_steps-1: the formula of
    :func:`mixlab.train.lr_schedule.lr_at` (steps past `total_steps` stay at the end value)."""
    i = np.arange(int(n_steps), dtype=float)
    T = int(total_steps)
    w = int(round(warmup * T))
    floor = float(min_lr_ratio)
    if kind == "constant":
        out = np.ones_like(i)
    elif kind == "cosine":
        progress = np.minimum(1.0, (i - w) / max(1, T - w))
        out = floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * progress))
    elif kind == "wsd":
        start = T - int(round(decay * T))
        progress = np.clip((i - start) / max(1, T - start), 0.0, 1.0)
        out = np.where(i < max(start, w), 1.0, 1.0 - (1 - floor) * progress)
    else:
        raise InputError(f"schedule kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
    if w > 0:
        out = np.where(i < w, (i + 1) / w, out)
    return out


def annealing_areas(
    lr: np.ndarray, lam: float = 0.999, warmup_steps: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(S1, S2) after 0..len(lr) steps (arrays of len(lr) + 1) for learning rates `lr`.

    S1 counts every step; S2 only the learning-rate changes after the first `warmup_steps`
    (the warm-up's rise is not an annealing: it would enter as a long negative momentum)."""
    lr = np.asarray(lr, float)
    s1 = np.concatenate([[0.0], np.cumsum(lr)])
    drop = np.diff(lr, prepend=lr[:1]) * -1.0  # eta_{i-1} - eta_i (0 at the first step)
    drop[: max(0, int(warmup_steps))] = 0.0
    m = np.empty_like(lr)
    acc = 0.0
    for k, d in enumerate(drop):  # a linear recurrence: a loop is clear and fast enough
        acc = lam * acc + d
        m[k] = acc
    s2 = np.concatenate([[0.0], np.cumsum(m)])
    return s1, s2


class ScheduleStepLaw(ScalingLaw):
    """L(s) = L0 + A S1(s)^-alpha - C S2(s) for a run with a known learning-rate schedule.

    The schedule: `lr_kind` (cosine, wsd, constant), `total_steps`, `warmup` (fraction),
    `min_lr_ratio`, `decay` (WSD: final fraction that decays), momentum `lam`.  Points
    before the warm-up ends are left out (and those before `min_step`).  `C` fixes the
    annealing coefficient (e.g. from another run of the same model) when the fitted curve
    has no decay to learn it from, as a WSD curve cut before its cooldown.
    """

    kind = "schedule"
    label = "schedule-aware step law"

    def __init__(
        self,
        total_steps: int = 1,
        lr_kind: str = "cosine",
        warmup: float = 0.05,
        min_lr_ratio: float = 0.1,
        decay: float = 0.2,
        lam: float = 0.999,
        C: float | None = None,
        min_step: float = 0.0,
        n_refine: int | None = 4,
        maxiter: int = 3000,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_refine=n_refine, maxiter=maxiter, **kwargs)
        self.total_steps = total_steps
        self.lr_kind = lr_kind
        self.warmup = warmup
        self.min_lr_ratio = min_lr_ratio
        self.decay = decay
        self.lam = lam
        self.C = C
        self.min_step = min_step

    @classmethod
    def from_record(cls, schedule: Mapping[str, Any], **params: Any) -> ScheduleStepLaw:
        """From a mixlab run record's `schedule` ({"steps": T, "lr": {kind, warmup, ...}})."""
        try:
            lr = dict(schedule["lr"])
            total = int(schedule["steps"])
        except (KeyError, TypeError, ValueError):
            raise InputError("run schedule: needs 'steps' and 'lr' (kind, warmup, ...)") from None
        keep = {k: lr[k] for k in ("warmup", "min_lr_ratio", "decay") if k in lr}
        if "kind" in lr:
            keep["lr_kind"] = lr["kind"]
        return cls(total_steps=total, **keep, **params)

    def with_schedule(self, **schedule: Any) -> ScheduleStepLaw:
        """A copy with the same fitted parameters under another schedule (e.g. a longer
        run: `total_steps=`), to predict what that run's curve would be."""
        self._check_fitted()
        other = self.clone(**schedule)
        for name in (
            "params_",
            "objective_",
            "n_points_",
            "n_given_",
            "dropped_",
            "rows_",
            "fit_info_",
            "boot_params_",
            "ci_",
        ):
            if hasattr(self, name):
                setattr(other, name, getattr(self, name))
        return other

    @property
    def variables(self) -> tuple[str, ...]:
        return ("S",)

    def _check_hyper(self) -> None:
        super()._check_hyper()
        if self.lr_kind not in SCHEDULE_KINDS:
            raise InputError(
                f"{self.label}: kind must be one of {SCHEDULE_KINDS}, got {self.lr_kind!r}"
            )
        if not (int(self.total_steps) >= 1):
            raise InputError(f"{self.label}: total_steps must be >= 1")
        if not 0 <= self.warmup < 1 or not 0 <= self.min_lr_ratio <= 1 or not 0 < self.decay <= 1:
            raise InputError(
                f"{self.label}: warmup in [0, 1), min_lr_ratio in [0, 1], decay in (0, 1]"
            )
        if not 0 <= self.lam < 1:
            raise InputError(f"{self.label}: lam must be in [0, 1), got {self.lam!r}")

    def _specs(self) -> list[ParamSpec]:
        specs = [
            ParamSpec("L0", "log"),
            ParamSpec("A", "log"),
            ParamSpec("alpha", lower=0.0, upper=EXPONENT_MAX),
        ]
        if self.C is None:
            specs.append(ParamSpec("C", lower=0.0, upper=1e6))
        return specs

    def _c(self, th: np.ndarray) -> float:
        return float(th[3]) if self.C is None else float(self.C)

    def _design(self, X: np.ndarray) -> np.ndarray:
        steps = np.rint(X[:, 0]).astype(int)
        n = int(max(steps.max(), self.total_steps))
        s1, s2 = annealing_areas(
            lr_schedule(
                n, self.total_steps, self.lr_kind, self.warmup, self.min_lr_ratio, self.decay
            ),
            self.lam,
            warmup_steps=round(self.warmup * int(self.total_steps)),
        )
        return np.column_stack([np.log(np.maximum(s1[steps], 1e-12)), s2[steps]])

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return th[0] + th[1] * np.exp(-th[2] * Z[:, 0]) - self._c(th) * Z[:, 1]

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        t = np.exp(-th[2] * Z[:, 0])
        cols = [np.ones_like(t), t, -th[1] * Z[:, 0] * t]
        if self.C is None:
            cols.append(-Z[:, 1])
        return np.column_stack(cols)

    def _select_rows(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        first = max(float(self.min_step), round(self.warmup * int(self.total_steps)), 1.0)
        return X[:, 0] >= first

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each alpha on a grid, L0, A (and C) by least squares."""
        starts = []
        top = Z[:, 0].max()
        for a in TWO_TERM_EXPONENTS:
            t = np.exp(-a * (Z[:, 0] - top))
            cols = [np.ones_like(t), t] + ([-Z[:, 1]] if self.C is None else [])
            target = y if self.C is None else y + float(self.C) * Z[:, 1]
            coef = np.linalg.lstsq(np.column_stack(cols), target, rcond=None)[0]
            C = max(float(coef[2]), 0.0) if self.C is None else float(self.C)
            # L0 lies below the loss without its annealing gain, not below the loss itself
            floor = float(np.min(y + C * Z[:, 1]))
            L0 = float(np.clip(coef[0], 1e-3 * floor, 0.999 * floor))
            A = max(float(coef[1]), 1e-9) * np.exp(a * top)
            start = [L0, A, a] + ([C] if self.C is None else [])
            starts.append(start)
        return np.array(starts)


@dataclass
class SharedScheduleFit:
    """Result of :func:`fit_schedule_study`: one fitted law per run, the shared values."""

    laws: list[ScheduleStepLaw]  # per run, with the shared parameters fixed (C as `C=`)
    shared: dict[str, float]
    cost: float
    n_points: int


def fit_schedule_study(
    laws: Sequence[ScheduleStepLaw],
    curves: Sequence[tuple[Any, Any]],
    shared: Sequence[str] = ("C",),
) -> SharedScheduleFit:
    """Fit the runs of one study together, with the parameters named in `shared` common to
    all (default the annealing coefficient C, as Tissue et al. fit one law across runs).

    A single curve cut before its decay barely tells the annealing gain from the forward-
    area term (on a short noisy run C moves the predicted end by 0.26 for a 15% change in
    the cut's residuals); runs that did decay (shorter runs, a WSD cooldown) pin C for all.  `laws`: unfitted laws carrying each run's schedule; `curves`: (steps,
    losses) per run.  `shared` may also name L0, A, alpha (runs of the same model and data
    under different schedules: Tissue et al.'s one law).
    """
    names = ("L0", "A", "alpha", "C")
    unknown = [s for s in shared if s not in names]
    if unknown or "C" not in shared:
        raise InputError(f"schedule study: shared must include 'C' and name only {names}")
    if len(laws) != len(curves) or len(laws) < 2:
        raise InputError("schedule study: give at least two runs, one curve per law")
    own = [n for n in names if n not in shared]
    Z, y, singles = _single_fits(laws, curves)
    G = len(laws)
    specs = {"L0": ParamSpec("L0", "log"), "A": ParamSpec("A", "log")}
    specs["alpha"] = ParamSpec("alpha", lower=0.0, upper=EXPONENT_MAX)
    specs["C"] = ParamSpec("C", lower=0.0, upper=1e6)
    layout = [(n, None) for n in shared] + [(n, g) for n in own for g in range(G)]

    def unpack(th: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for i, n in enumerate(shared):
            out[n] = np.full(len(g), th[i])
        for j, n in enumerate(own):
            base = len(shared) + j * G
            out[n] = th[base + g]
        return out

    def predict(th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        p = unpack(th, Z[:, 2].astype(int))
        return p["L0"] + p["A"] * np.exp(-p["alpha"] * Z[:, 0]) - p["C"] * Z[:, 1]

    model = CurveModel(
        [
            ParamSpec(
                n if g is None else f"{n}{g}", specs[n].transform, specs[n].lower, specs[n].upper
            )
            for n, g in layout
        ],
        predict,
    )
    law0 = laws[0]
    res = fit_model(
        model,
        Z,
        y,
        starts=_study_starts(layout, singles),
        loss=law0.loss,
        delta=law0.delta,
        residual=law0.residual,
        method="lbfgs",
        maxiter=law0.maxiter,
        label="schedule study",
    )
    th = res.params
    shared_values = {n: float(th[i]) for i, n in enumerate(shared)}
    fitted = []
    for g, single in enumerate(singles):
        p = unpack(th, np.array([g]))
        law = single.with_schedule(C=shared_values["C"])
        law.params_ = {n: float(p[n][0]) for n in ("L0", "A", "alpha")}
        fitted.append(law)
    return SharedScheduleFit(fitted, shared_values, float(res.cost), int(len(y)))


def _single_fits(
    laws: Sequence[ScheduleStepLaw], curves: Sequence[tuple[Any, Any]]
) -> tuple[np.ndarray, np.ndarray, list[ScheduleStepLaw]]:
    """Each run fitted alone, and the stacked design (areas, run index) and losses of all runs."""
    Zs, ys, singles = [], [], []
    for k, (law, (S, y)) in enumerate(zip(laws, curves, strict=True)):
        if law.C is not None:
            raise InputError("schedule study: the laws must leave C free")
        single = law.clone(n_bootstrap=0).fit(S, y)
        X = single._check_X(S, len(np.atleast_1d(y)))
        rows = single.rows_
        Zs.append(np.column_stack([single._design(X[rows]), np.full(len(rows), k)]))
        ys.append(np.asarray(y, float)[rows])
        singles.append(single)
    return np.vstack(Zs), np.concatenate(ys), singles


def _study_starts(layout: list[tuple[str, int | None]], singles: list[Any]) -> np.ndarray:
    """Starts of the joint fit: C at the single fits' largest and median, the rest from them."""
    c_single = [s.params_["C"] for s in singles]
    starts = []
    for c0 in {float(np.max(c_single)), float(np.median(c_single))}:
        row = []
        for n, g in layout:
            if n == "C":
                row.append(c0)
            elif g is None:
                row.append(float(np.median([s.params_[n] for s in singles])))
            else:
                row.append(singles[g].params_[n])
        starts.append(row)
    return np.array(starts)
