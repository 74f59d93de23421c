"""Online data mixing: a mixture that the training loop updates every K steps from per-domain losses.

The loop asks `weights()` for the mixture to sample by and calls `update(step, losses)` with
the per-domain validation losses it measured at that step. Two methods, both pure numpy and
deterministic (no randomness at all: the same losses give the same weights):

- `DoReMi` (Xie et al. 2023, Algorithm 1): group DRO on the excess loss. With the proxy's
  loss L_i and a reference model's loss R_i per domain, lambda_i = max(L_i - R_i, 0);
  alpha' = alpha * exp(eta * lambda); alpha = (1 - c) alpha' / sum(alpha') + c * prior
  (the prior is the config's starting mixture: a uniform one gives the paper's rule).
  The output mixture is the average of alpha_1..alpha_T over the updates. (The paper reweights the
  per-domain training loss and samples uniformly; here the weights drive the sampler, the
  resampling variant, so the loop stays unchanged.)
- `Aioli` (Chen et al. 2024): the linear dynamic mixing law L_i(t + 1) - L_i(t) = -sum_j
  A_ij p_j, with A estimated online. Each round trains one short window per domain j on
  the probe mixture (1 - delta) p + delta e_j, solves for A by least squares from the
  windows' loss changes, then p_j <- p_j * exp(eta * sum_i A_ij), normalised.

Guards against the failure modes users report: `smoothing` mixes every update with the prior
(no domain reaches 0), `floor` is a hard minimum weight, and the averaged weights (not the
last ones) are the output mixture, so oscillation averages out.

Epoch caps: the loop sets `upper` (per domain, the largest weight the rest of the budget can
take without repeating a domain past its `max_epochs`) before each update; every mixture the
mixer hands out is clipped to it and the excess given to the domains with room
(`cap_weights`), so a cap holds over the whole run whatever the losses say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mixlab.data.schedule import CurriculumSchedule
from mixlab.errors import InputError


@dataclass(frozen=True)
class MixPoint:
    """The mixture in force from `step` on (one row of the weight trajectory)."""

    step: int
    weights: dict[str, float]


class OnlineMixer(Protocol):
    """What the training loop needs from an online mixing method."""

    domains: list[str]
    trajectory: list[MixPoint]

    def weights(self) -> dict[str, float]:
        """The mixture to sample by from now until the next update."""
        ...

    def update(
        self, step: int, domain_losses: Mapping[str, float], tokens: float | None = None
    ) -> None:
        """Take the per-domain losses measured at `step` (after `tokens`); sets the next mixture."""
        ...

    def averaged_weights(self) -> dict[str, float]:
        """The output mixture: the weights averaged over the updates (not the start)."""
        ...


def guard(p: np.ndarray, prior: np.ndarray, smoothing: float, floor: float) -> np.ndarray:
    """Normalise, mix with the prior by `smoothing`, then lift every weight to `floor`."""
    p = p / p.sum()
    p = (1.0 - smoothing) * p + smoothing * prior
    if floor > 0:
        low = p < floor
        # the domains at the floor take floor each; the others share the rest proportionally
        for _ in range(len(p)):
            rest = 1.0 - floor * low.sum()
            q = np.where(low, floor, p * rest / p[~low].sum())
            now = q < floor - 1e-15
            if not (now & ~low).any():
                return q
            low |= now
    return p


def cap_weights(p: np.ndarray, upper: np.ndarray | None) -> np.ndarray:
    """p clipped to `upper`, the excess spread over the domains below their limit in proportion
    to their weights (to the limits themselves when those domains have no weight); when the
    limits sum to less than 1 (the data cannot fill the budget), the limits, normalised."""
    if upper is None:
        return p
    upper = np.maximum(np.asarray(upper, float), 0.0)
    if upper.sum() <= 1.0:
        return upper / upper.sum() if upper.sum() > 0 else p
    p = np.asarray(p, float).copy()
    for _ in range(len(p)):
        over = p > upper + 1e-15
        if not over.any():
            break
        excess = float((p[over] - upper[over]).sum())
        p[over] = upper[over]
        free = (~over) & (p < upper)
        share = p * free if (p * free).sum() > 0 else (upper - p) * free
        p = p + excess * share / share.sum()
    return p


class _Base:
    """The state shared by both methods: domains, prior, current weights, trajectory."""

    def __init__(
        self,
        prior: Mapping[str, float],
        *,
        step_size: float,
        smoothing: float,
        floor: float,
        start_step: int = 0,
    ):
        self.domains = list(prior)
        w = np.array([float(prior[d]) for d in self.domains])
        if w.sum() <= 0:
            raise InputError("online: the starting mixture has no weight")
        if floor * len(self.domains) >= 1:
            raise InputError(f"online.floor: {floor} x {len(self.domains)} domains must be < 1")
        self.prior = w / w.sum()
        self.step_size, self.smoothing, self.floor = step_size, smoothing, floor
        self.upper: np.ndarray | None = None  # per-domain limits from the epoch caps
        self.p = guard(self.prior.copy(), self.prior, 0.0, floor)
        self.trajectory: list[MixPoint] = [MixPoint(start_step, self._dict(self.p))]

    def _dict(self, p: np.ndarray) -> dict[str, float]:
        return {d: float(w) for d, w in zip(self.domains, p, strict=True)}

    def _vector(self, losses: Mapping[str, float], what: str = "losses") -> np.ndarray:
        missing = [d for d in self.domains if d not in losses]
        if missing:
            raise InputError(f"online: {what} lack domain(s) {missing}")
        return np.array([float(losses[d]) for d in self.domains])

    def set_upper(self, upper: Mapping[str, float] | None) -> None:
        """Limit every mixture handed out from now on to `upper` (domain -> weight)."""
        self.upper = None if upper is None else self._vector(upper, "limits")
        self.p = cap_weights(self.p, self.upper)

    def _set(self, step: int, p: np.ndarray) -> None:
        self.p = cap_weights(guard(p, self.prior, self.smoothing, self.floor), self.upper)
        self.trajectory.append(MixPoint(step, self._dict(self.p)))

    def weights(self) -> dict[str, float]:
        return self._dict(self.p)

    def averaged_weights(self) -> dict[str, float]:
        points = self.trajectory[1:] or self.trajectory  # the updates alpha_1..alpha_T
        rows = np.array([[m.weights[d] for d in self.domains] for m in points])
        avg = rows.mean(axis=0)
        return self._dict(avg / avg.sum())

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p.tolist(), "trajectory": [(m.step, m.weights) for m in self.trajectory]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.p = np.asarray(state["p"], dtype=np.float64)
        self.trajectory = [MixPoint(int(s), dict(w)) for s, w in state["trajectory"]]


class DoReMi(_Base):
    """Group DRO on the excess loss over a reference model (Xie et al. 2023).

    `reference(step, tokens)` gives the reference model's per-domain loss at that point of
    training (see `ReferenceLosses`); a domain the reference already learns as well as the
    proxy, or cannot learn at all (noise), has excess ~0 and loses weight to the others.
    """

    def __init__(
        self,
        prior: Mapping[str, float],
        reference: ReferenceLosses,
        *,
        step_size: float = 1.0,
        smoothing: float = 1e-3,
        floor: float = 0.0,
        start_step: int = 0,
    ):
        super().__init__(
            prior, step_size=step_size, smoothing=smoothing, floor=floor, start_step=start_step
        )
        self.reference = reference
        self.excess: list[np.ndarray] = []

    def update(
        self, step: int, domain_losses: Mapping[str, float], tokens: float | None = None
    ) -> None:
        loss = self._vector(domain_losses)
        ref = self._vector(self.reference.at(step, tokens), "reference losses")
        excess = np.maximum(loss - ref, 0.0)
        self.excess.append(excess)
        self._set(step, self.p * np.exp(self.step_size * excess))


class Aioli(_Base):
    """Online linear-dynamic mixing law with probe windows (Chen et al. 2024, simplified).

    A round is one probe window per domain, then `exploit_windows` windows at p. In probe
    window j the sampler uses (1 - delta) p + delta e_j. After the probes A (loss drop of
    domain i per unit weight on j, per window) is the least-squares solution of
    -dL = P A^T over the round's probe windows (`A_`, the raw estimate); with `normalize`
    (as the reference implementation's `aioli_normalize_A`) it is shifted to be >= 0 and
    scaled to sum 1, so eta does not depend on the loss units or window length; then
    p_j <- p_j exp(eta * sum_i w_i A_ij), w the `objective` weights (default 1: the paper's
    average loss; a project's target puts its own weights there). Differences from the
    paper's code: probes are centred on p (it uses f on j and (1 - f)/(k - 1) elsewhere) and
    visited in a fixed order.
    """

    def __init__(
        self,
        prior: Mapping[str, float],
        *,
        step_size: float = 1.0,
        smoothing: float = 1e-3,
        floor: float = 0.0,
        delta: float = 0.5,
        exploit_windows: int = 0,
        normalize: bool = True,
        objective: Mapping[str, float] | None = None,
        start_step: int = 0,
    ):
        super().__init__(
            prior, step_size=step_size, smoothing=smoothing, floor=floor, start_step=start_step
        )
        if not 0 < delta <= 1:
            raise InputError(f"online.delta: {delta} must be in (0, 1]")
        if exploit_windows < 0:
            raise InputError(f"online.exploit_windows: {exploit_windows} must be >= 0")
        self.delta, self.exploit_windows, self.normalize = delta, exploit_windows, normalize
        self.objective = self._objective(objective)
        self._window = 0  # index of the current window in its round
        self.A_: np.ndarray | None = None
        self._last: np.ndarray | None = None  # losses at the start of the current window
        self._probes: list[np.ndarray] = []
        self._drops: list[np.ndarray] = []

    def _objective(self, objective: Mapping[str, float] | None) -> np.ndarray:
        """Weights of the domains' losses in the objective, scaled to sum to the number of
        domains (so equal weights are the paper's sum over domains and eta keeps its scale)."""
        k = len(self.domains)
        if objective is None:
            return np.ones(k)
        unknown = sorted(set(objective) - set(self.domains))
        if unknown:
            raise InputError(f"online.objective: unknown domain(s) {unknown}")
        w = np.array([float(objective.get(d, 0.0)) for d in self.domains])
        if (w < 0).any() or w.sum() <= 0:
            raise InputError(
                f"online.objective: weights must be >= 0 and not all 0, got {objective}"
            )
        return w * k / w.sum()

    def probe(self, j: int) -> np.ndarray:
        e = np.zeros(len(self.domains))
        e[j] = 1.0
        return (1.0 - self.delta) * self.p + self.delta * e

    def weights(self) -> dict[str, float]:
        """The probe mixture of the current window (the round's base mixture before the first
        loss is seen)."""
        if self._last is None or self._window >= len(self.domains):
            return self._dict(self.p)
        return self._dict(cap_weights(self.probe(self._window), self.upper))

    def update(
        self, step: int, domain_losses: Mapping[str, float], tokens: float | None = None
    ) -> None:
        loss = self._vector(domain_losses)
        k = len(self.domains)
        if self._last is not None:  # a window just ended
            if self._window < k:
                self._probes.append(cap_weights(self.probe(self._window), self.upper))
                self._drops.append(self._last - loss)
            self._window += 1
            if self._window == k:
                self.A_ = estimate_mixing_matrix(np.array(self._probes), np.array(self._drops))
                self._probes, self._drops = [], []
                A = normalized(self.A_) if self.normalize else self.A_
                self._set(step, self.p * np.exp(self.step_size * (self.objective @ A)))
            if self._window >= k + self.exploit_windows:
                self._window = 0
        self._last = loss

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "window": self._window,
            "last": None if self._last is None else self._last.tolist(),
            "probes": [p.tolist() for p in self._probes],
            "drops": [d.tolist() for d in self._drops],
            "A": None if self.A_ is None else self.A_.tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._window = int(state["window"])
        self._last = None if state["last"] is None else np.asarray(state["last"])
        self._probes = [np.asarray(p) for p in state["probes"]]
        self._drops = [np.asarray(d) for d in state["drops"]]
        self.A_ = None if state["A"] is None else np.asarray(state["A"])


def normalized(A: np.ndarray) -> np.ndarray:
    """A shifted to be >= 0 and scaled to sum 1 (Aioli's optional normalisation)."""
    A = A - min(0.0, float(A.min()))
    total = A.sum()
    return A / total if total > 0 else A


def estimate_mixing_matrix(proportions: np.ndarray, drops: np.ndarray) -> np.ndarray:
    """A (m x m) with drops[t] ~ A @ proportions[t]: least squares over the rows t.

    `proportions` (T x m) are the mixtures of T windows, `drops` (T x m) the per-domain loss
    decreases over them; needs T >= m linearly independent mixtures.
    """
    P, D = np.asarray(proportions, float), np.asarray(drops, float)
    At, *_ = np.linalg.lstsq(P, D, rcond=None)
    return At.T


class ReferenceLosses:
    """A reference model's per-domain loss over training: rows at steps/tokens, or constants."""

    def __init__(
        self,
        losses: Mapping[str, float] | None = None,
        *,
        steps: Sequence[float] | None = None,
        tokens: Sequence[float] | None = None,
        table: Mapping[str, Sequence[float]] | None = None,
    ):
        self.constant = dict(losses) if losses is not None else None
        self.steps = None if steps is None else np.asarray(steps, float)
        self.tokens = None if tokens is None else np.asarray(tokens, float)
        self.table = {d: np.asarray(v, float) for d, v in (table or {}).items()}

    def at(self, step: int, tokens: float | None = None) -> dict[str, float]:
        """The losses at the reference's evaluation nearest in tokens (else in steps)."""
        if self.constant is not None:
            return self.constant
        if tokens is not None and self.tokens is not None and np.isfinite(self.tokens).all():
            i = int(np.argmin(np.abs(self.tokens - tokens)))
        else:
            i = int(np.argmin(np.abs(self.steps - step)))
        return {d: float(v[i]) for d, v in self.table.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (`online.reference_curves`): how a sweep hands a worker its reference."""
        if self.constant is not None:
            return {"constant": self.constant}
        return {
            "steps": None if self.steps is None else self.steps.tolist(),
            "tokens": None if self.tokens is None else self.tokens.tolist(),
            "table": {d: v.tolist() for d, v in self.table.items()},
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], domains: Sequence[str]) -> ReferenceLosses:
        """`to_dict`'s data back, checked to cover `domains`."""
        if doc.get("constant") is not None:
            ref = cls(doc["constant"])
            have = ref.constant
        else:
            ref = cls(steps=doc.get("steps"), tokens=doc.get("tokens"), table=doc.get("table"))
            have = ref.table
        missing = [d for d in domains if d not in have]
        if missing:
            raise InputError(f"online.reference_curves: no loss for domain(s) {missing}")
        return ref

    @classmethod
    def from_record(cls, record: Any, domains: Sequence[str]) -> ReferenceLosses:
        """Its `val_loss/<domain>` curves, at the evaluations where every domain was measured."""
        rows: dict[int, dict[str, tuple[float, float | None]]] = {}
        for e in record.evaluations:
            if e.step is not None and e.metric.startswith("val_loss/"):
                rows.setdefault(e.step, {})[e.metric[len("val_loss/") :]] = (e.value, e.tokens)
        full = sorted(s for s, r in rows.items() if all(d in r for d in domains))
        if not full:
            raise InputError(
                f"online.reference_run: run {record.id!r} has no evaluation with "
                f"val_loss for every domain {list(domains)}"
            )
        tokens = [rows[s][domains[0]][1] for s in full]
        return cls(
            steps=full,
            tokens=None if None in tokens else tokens,
            table={d: [rows[s][d][0] for s in full] for d in domains},
        )


def build_mixer(
    online: Any, prior: Mapping[str, float], reference: ReferenceLosses | None, start_step: int = 0
) -> DoReMi | Aioli:
    """The mixer an `OnlineConfig` asks for."""
    common = dict(
        step_size=online.step_size,
        smoothing=online.smoothing,
        floor=online.floor,
        start_step=start_step,
    )
    if online.method == "doremi":
        assert reference is not None
        return DoReMi(prior, reference, **common)
    return Aioli(
        prior,
        delta=online.delta,
        exploit_windows=online.exploit_windows,
        normalize=online.normalize,
        objective=online.objective,
        **common,
    )


def history_schedule(
    history: Sequence[MixPoint], tokens_per_step: float, budget_tokens: float
) -> CurriculumSchedule:
    """The piecewise-constant schedule of the mixtures in force so far, the last one held to the
    end of the budget: the sampler's targets for the past are unchanged, so it blends on."""
    starts = [min(1.0, m.step * tokens_per_step / budget_tokens) for m in history]
    stages = []
    for k, m in enumerate(history):
        end = starts[k + 1] if k + 1 < len(history) else 1.0
        if end > starts[k]:
            total = sum(m.weights.values())
            stages.append(
                {
                    "fraction": end - starts[k],
                    "weights": {d: w / total for d, w in m.weights.items()},
                }
            )
    return CurriculumSchedule(stages=stages)
