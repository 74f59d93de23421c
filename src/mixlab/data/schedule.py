"""Mixture schedules: how the target mixture changes with the share of the token budget seen.

A schedule answers one question for the sampler: after a fraction x of the budget, how many
tokens (in units of the budget) should each domain have contributed, i.e. the integral of
the mixture weights from 0 to x. Past the budget the last mixture holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from mixlab.errors import InputError
from mixlab.mixture import WEIGHT_TOLERANCE, check_mixture


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """A stage's or phase's mixture, checked by the one mixture rule."""
    return check_mixture(weights)


def _vector(weights: Mapping[str, float], domains: Sequence[str]) -> np.ndarray:
    return np.array([weights.get(d, 0.0) for d in domains], dtype=np.float64)


class _ScheduleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def domains(self) -> list[str]:
        """Every domain the schedule ever gives weight to, in first-mention order."""
        seen: dict[str, None] = {}
        for weights in self._mixtures():
            for name, w in weights.items():
                if w > 0:
                    seen.setdefault(name, None)
        return list(seen)

    def _mixtures(self) -> list[dict[str, float]]:
        raise NotImplementedError

    @property
    def needs_budget(self) -> bool:
        return True

    def cumulative(self, x: np.ndarray, domains: Sequence[str]) -> np.ndarray:
        """Integral of each domain's weight over [0, x], x in budget fractions: shape (len(x), K)."""
        raise NotImplementedError


class StaticSchedule(_ScheduleBase):
    """One mixture for the whole run."""

    kind: Literal["static"] = "static"
    weights: dict[str, float]

    @field_validator("weights")
    @classmethod
    def _valid_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return check_weights(weights)

    def _mixtures(self) -> list[dict[str, float]]:
        return [self.weights]

    @property
    def needs_budget(self) -> bool:
        return False

    def cumulative(self, x: np.ndarray, domains: Sequence[str]) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)[:, None] * _vector(self.weights, domains)[None, :]


class CurriculumStage(BaseModel):
    """A stage: its share of the token budget and its mixture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(gt=0.0, le=1.0)
    weights: dict[str, float]

    @field_validator("weights")
    @classmethod
    def _valid_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return check_weights(weights)


class CurriculumSchedule(_ScheduleBase):
    """Stages in order; stage k covers its fraction of the budget after the stages before it."""

    kind: Literal["curriculum"] = "curriculum"
    stages: list[CurriculumStage] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _fractions_cover_budget(cls, stages: list[CurriculumStage]) -> list[CurriculumStage]:
        total = math.fsum(s.fraction for s in stages)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"stage fractions sum to {total:.9g}, not 1")
        return stages

    def _mixtures(self) -> list[dict[str, float]]:
        return [s.weights for s in self.stages]

    def boundaries(self) -> np.ndarray:
        """Budget fractions where each stage ends (the last is 1)."""
        ends = np.cumsum([s.fraction for s in self.stages])
        ends[-1] = 1.0
        return ends

    def cumulative(self, x: np.ndarray, domains: Sequence[str]) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        ends = self.boundaries()
        starts = np.concatenate([[0.0], ends[:-1]])
        ends_open = ends.copy()
        ends_open[-1] = np.inf  # the last mixture holds past the budget
        out = np.zeros((x.size, len(domains)))
        for start, end, stage in zip(starts, ends_open, self.stages, strict=True):
            span = np.clip(x, start, end) - start
            out += span[:, None] * _vector(stage.weights, domains)[None, :]
        return out


class LinearSchedule(_ScheduleBase):
    """Weights move linearly from `start` to `end` over the budget."""

    kind: Literal["linear"] = "linear"
    start: dict[str, float]
    end: dict[str, float]

    @field_validator("start", "end")
    @classmethod
    def _valid_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return check_weights(weights)

    def _mixtures(self) -> list[dict[str, float]]:
        return [self.start, self.end]

    def cumulative(self, x: np.ndarray, domains: Sequence[str]) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[:, None]
        a = _vector(self.start, domains)[None, :]
        b = _vector(self.end, domains)[None, :]
        inside = np.minimum(x, 1.0)
        ramp = a * inside + (b - a) * inside**2 / 2.0
        return ramp + b * np.maximum(x - 1.0, 0.0)


Schedule = Annotated[
    StaticSchedule | CurriculumSchedule | LinearSchedule, Field(discriminator="kind")
]
_SCHEDULE = TypeAdapter(Schedule)


AnySchedule = StaticSchedule | CurriculumSchedule | LinearSchedule


def parse_schedule(value: Any, field: str = "schedule") -> AnySchedule:
    """A schedule from a schedule object, a plain {domain: weight} mapping, or a dict with `kind`."""
    if isinstance(value, _ScheduleBase):
        return value  # type: ignore[return-value]
    if isinstance(value, Mapping) and "kind" not in value:
        value = {"kind": "static", "weights": dict(value)}
    try:
        return _SCHEDULE.validate_python(value)
    except ValidationError as error:
        lines = [f"{field}: invalid mixture schedule"]
        for problem in error.errors():
            parts = [str(p) for p in problem["loc"]]
            if parts and parts[0] in ("static", "curriculum", "linear"):
                parts = parts[1:]  # drop pydantic's discriminator tag
            loc = ".".join(parts)
            lines.append(
                f"  {field}.{loc}: {problem['msg']}" if loc else f"  {field}: {problem['msg']}"
            )
        raise InputError("\n".join(lines)) from None
