"""The phase-transition study's config: the facts, the web text, the runs and the learning-rate
rule, validated at the edge (`load_phase_config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mixlab.data.config import SourceConfig, TokenizerConfig
from mixlab.io.files import load_typed_yaml
from mixlab.studies.common import check_train_overrides
from mixlab.train.config import ModelSpec


class PopularityConfig(BaseModel):
    """Power-law exposure: group g (0 = most popular) is rendered ∝ 1 / (g + 1)^alpha."""

    model_config = ConfigDict(extra="forbid")

    groups: int = Field(4, ge=2)
    alpha: float = Field(1.0, ge=0)


class WebConfig(BaseModel):
    """The web domain(s): the stdlib demo corpora (code and prose) or the user's own sources."""

    model_config = ConfigDict(extra="forbid")

    demo_bytes: int = Field(2_000_000, ge=10_000, description="bytes per demo domain")
    sources: dict[str, list[SourceConfig]] | None = Field(
        None, description="domain name -> sources, as in a prepare config"
    )


class LearningRateRule(BaseModel):
    """Per-size learning rate and warm-up: lr = base * (base_width / width)^power.

    muP's rule for Adam (Yang et al. 2022): the hidden matrices' best rate falls as 1/width,
    so `power` 1 by default, calibrated at one width (`base`, `base_width`).  The CPU study's
    calibration: width 64 (100k) learned most at lr 0.01, while width 96 (400k) learned 26%
    of facts at 0.003 against 13% at 0.01 (docs/benchmarks.md).  The rate is clipped to
    [min_lr, max_lr]; `per_model` (a model's label -> lr) overrides the rule.
    """

    model_config = ConfigDict(extra="forbid")

    base: float = Field(0.01, gt=0)
    base_width: int = Field(64, gt=0)
    power: float = Field(1.0, ge=0)
    min_lr: float = Field(1e-4, gt=0)
    max_lr: float = Field(0.03, gt=0)
    warmup: float = Field(0.05, ge=0, lt=1, description="warm-up, a fraction of the steps")
    per_model: dict[str, float] = Field(default_factory=dict)

    def lr(self, model: str | ModelSpec) -> float:
        """The learning rate of one model of the study."""
        label = model_label(model)
        if label in self.per_model:
            return float(self.per_model[label])
        rate = self.base * (self.base_width / model_width(model)) ** self.power
        return float(min(max(rate, self.min_lr), self.max_lr))


def _shape(model: str | ModelSpec) -> tuple[int, int, int]:
    """(n_layer, n_head, n_embd) of a preset name or a spec."""
    from mixlab.train.presets import PRESETS

    if isinstance(model, str):
        return PRESETS[model]
    preset = PRESETS[model.preset] if model.preset else (0, 0, 0)
    given = (model.n_layer, model.n_head, model.n_embd)
    return tuple(g or p for g, p in zip(given, preset, strict=True))  # type: ignore[return-value]


def model_width(model: str | ModelSpec) -> int:
    """n_embd of a preset name or a spec."""
    return int(_shape(model)[2])


def model_label(model: str | ModelSpec) -> str:
    """A preset's name, or LxHxD (layers x heads x width) for a custom shape."""
    if isinstance(model, str):
        return model
    if model.preset and not (model.n_layer or model.n_head or model.n_embd):
        return model.preset
    return "x".join(str(v) for v in _shape(model))


class PhaseConfig(BaseModel):
    """One phase study: the knowledge set, the web data and the axes ratio x model x tokens x seed."""

    model_config = ConfigDict(extra="forbid")

    people: int = Field(1000, ge=10)
    rendering: Literal["biography", "compact"] = Field(
        "biography", description="five template sentences, or the name once + labelled fields"
    )
    subsample: float = Field(1.0, gt=0, le=1, description="remedy: keep this fraction of people")
    tuples: float = Field(0.0, ge=0, lt=1, description="remedy: share of compact fact tuples")
    popularity: PopularityConfig | None = None
    web: WebConfig = Field(default_factory=WebConfig)
    tokenizer: TokenizerConfig = Field(
        default_factory=lambda: TokenizerConfig(vocab_size=2048, sample_bytes=4_000_000)
    )
    ratios: list[float] = Field(min_length=1)
    models: list[str | ModelSpec] = Field(min_length=1)
    tokens: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    web_only: list[str | ModelSpec] = Field(
        default_factory=list, description="sizes trained on web only (phase predict)"
    )
    web_only_tokens: int | None = Field(None, gt=0)
    probe_people: int | None = Field(None, gt=0, description="probe at most this many people")
    train: dict[str, Any] = Field(default_factory=dict, description="shared TrainConfig fields")
    lr: LearningRateRule | None = Field(
        None, description="per-size learning rate and warm-up (else train.optimizer.lr)"
    )
    tags: list[str] = Field(default_factory=lambda: ["phase"])
    seed: int = 0

    @model_validator(mode="after")
    def _ratios_fit(self) -> PhaseConfig:
        for i, r in enumerate(self.ratios):
            if not 0 < r < 1 or r + self.tuples >= 1:
                raise ValueError(
                    f"ratios[{i}] = {r}: each ratio must be in (0, 1) and leave room for web "
                    f"data after the tuples share {self.tuples}"
                )
        if any(t <= 0 for t in self.tokens):
            raise ValueError("tokens: every budget must be positive")
        check_train_overrides(self.train)
        if self.lr is not None:
            labels = {model_label(m) for m in [*self.models, *self.web_only]}
            unknown = sorted(set(self.lr.per_model) - labels)
            if unknown:
                raise ValueError(
                    f"lr.per_model: {', '.join(unknown)} is not a model of the study "
                    f"({', '.join(sorted(labels))})"
                )
        return self

    def learning_rates(self) -> dict[str, dict[str, float]]:
        """Each model's label -> its lr, warm-up and width (what study.json records)."""
        if self.lr is None:
            return {}
        return {
            model_label(m): {
                "lr": self.lr.lr(m),
                "warmup": self.lr.warmup,
                "width": model_width(m),
            }
            for m in [*self.models, *self.web_only]
        }


def load_phase_config(path: str | Path) -> tuple[PhaseConfig, Path]:
    return load_typed_yaml(path, PhaseConfig, "phase config")
