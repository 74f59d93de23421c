"""The run record: one proxy run (trained here or imported), as DESIGN.md section 3 defines it."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mixlab.mixture import WEIGHT_TOLERANCE, check_mixture

Status = Literal["running", "done", "failed"]
__all__ = ["WEIGHT_TOLERANCE", "Evaluation", "RunRecord"]
# Steps are exact integers in the store; CSV cells arrive as floats, exact only up to 2^53.
MAX_STEP = 2**53


class Evaluation(BaseModel):
    """One measured value of a run: a metric at a step (and token count) of training.

    `step=None` marks a final value whose step was not recorded (a wide metrics table).
    """

    model_config = ConfigDict(frozen=True)

    step: int | None = None
    tokens: float | None = None
    metric: str
    value: float

    @field_validator("step")
    @classmethod
    def _step_in_range(cls, v: int | None) -> int | None:
        if v is not None and not 0 <= v <= MAX_STEP:
            raise ValueError(f"step {v} is outside 0..2^53 (steps are stored as exact integers)")
        return v

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"value must be finite, got {v}")
        return v


class RunRecord(BaseModel):
    """A run: its mixture, model, budget, provenance and the series of its evaluations."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    mixture: dict[str, float]
    model: dict[str, Any] = Field(default_factory=dict)
    n_params: int | None = None
    n_params_nonembed: int | None = None
    tokens: float | None = None
    flops: float | None = None
    seed: int | None = None
    schedule: dict[str, Any] | None = None
    evaluations: list[Evaluation] = Field(default_factory=list)
    host: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    wall_time: float | None = None
    status: Status = "done"
    error: str | None = None
    source: str | None = None

    @field_validator("mixture")
    @classmethod
    def _simplex(cls, mixture: dict[str, float]) -> dict[str, float]:
        return check_mixture(mixture)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    @model_validator(mode="after")
    def _unique_evaluations(self) -> RunRecord:
        seen: set[tuple[str, int | None]] = set()
        for e in self.evaluations:
            key = (e.metric, e.step)
            if key in seen:
                raise ValueError(f"metric {e.metric!r} is recorded twice at step {e.step}")
            seen.add(key)
        return self

    def final_metrics(self) -> dict[str, float]:
        """The last value of each metric: a step-less (final) value wins, else the highest step."""
        best: dict[str, Evaluation] = {}
        for e in self.evaluations:
            cur = best.get(e.metric)
            if cur is None or _later(e, cur):
                best[e.metric] = e
        return {m: e.value for m, e in best.items()}

    def curve(self, metric: str) -> list[Evaluation]:
        """The evaluations of one metric that have a step, in step order."""
        points = [e for e in self.evaluations if e.metric == metric and e.step is not None]
        return sorted(points, key=lambda e: e.step)


def _later(a: Evaluation, b: Evaluation) -> bool:
    if b.step is None:
        return False
    return a.step is None or a.step > b.step
