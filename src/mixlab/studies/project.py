"""The project config of `mixlab run` (`project.yaml`), typed and validated at the edge.

One file says everything the loop needs: the domains' sources (as `prepare` takes them), the
tokenizer, the proxy runs (model presets, tokens, seeds), the target, the constraints, the
rounds and the verification.  `load_project` reads it (every problem an `InputError` naming
the field); `prepare_config`, `train_base` and `sweep_config` expand it into the configs of
`mixlab data prepare`, `mixlab sweep` and `mixlab train`, so the stages can be run by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from mixlab.errors import InputError
from mixlab.io.files import load_typed_yaml
from mixlab.sweep.plan import MixtureDesign
from mixlab.train.config import OnlineConfig
from mixlab.train.presets import PRESETS

TARGET_PREFIXES = ("val_loss/", "val_bpb/", "probe/", "train_loss")


class DataSection(BaseModel):
    """Where the domains' text is and how it becomes token shards (`prepare`'s config)."""

    model_config = ConfigDict(extra="forbid")

    domains: dict[str, Any] = Field(min_length=1, description="domain -> sources, as prepare")
    tokenizer: dict[str, Any] = Field(default_factory=lambda: {"kind": "bpe", "vocab_size": 4096})
    validation: float | int = Field(0.05, ge=0, description="fraction (or count) of documents")
    seed: int = Field(0, ge=0)
    shards: str = Field("shards", description="output folder of the shards, under `output`")


class ProxySection(BaseModel):
    """The small runs the law is fitted on."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=lambda: ["25k"], min_length=1)
    tokens: int = Field(800_000, gt=0, description="training tokens of every proxy run")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    seq_len: int = Field(128, gt=0)
    batch_size: int = Field(16, gt=0)
    lr: float = Field(0.01, gt=0)
    eval_every: int = Field(25, gt=0, description="steps between evaluations")
    eval_sequences: int = Field(32, gt=0, description="validation sequences per domain")
    max_probes: int = Field(32, gt=0, description="probe items per set")
    workers: int = Field(2, ge=1, description="proxy runs trained at once")

    @field_validator("models")
    @classmethod
    def _presets(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in PRESETS:
                raise ValueError(f"model {name!r} is not a preset ({', '.join(PRESETS)})")
        if len(value) > 1:
            raise ValueError(
                "one proxy model for now: the nested prediction across several proxy "
                "sizes is not part of `mixlab run` yet (use `mixlab scaling nested`)"
            )
        return value


class TargetSection(BaseModel):
    """What the loop minimises: a weighted sum of metrics (lower is better)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("target", min_length=1)
    description: str = ""
    weights: dict[str, float] = Field(default_factory=dict, description="metric -> weight")
    metric: str | None = Field(None, description="a single metric instead of weights")
    probes: dict[str, Path] = Field(default_factory=dict, description="probe set name -> JSONL")

    @model_validator(mode="after")
    def _one_target(self) -> TargetSection:
        if bool(self.weights) == (self.metric is not None):
            raise ValueError("give exactly one of `weights` (metric -> weight) or `metric`")
        for metric, w in self.resolved_weights().items():
            if not metric.startswith(TARGET_PREFIXES):
                raise ValueError(
                    f"metric {metric!r} is not a run metric (val_loss/<domain>, "
                    "val_bpb/<domain>, probe/<name>, train_loss)"
                )
            if not (w >= 0 and w < float("inf")):
                raise ValueError(f"weight of {metric!r} must be a finite number >= 0, got {w}")
        if sum(self.resolved_weights().values()) <= 0:
            raise ValueError("the target's weights sum to 0")
        return self

    def resolved_weights(self) -> dict[str, float]:
        return {self.metric: 1.0} if self.metric is not None else dict(self.weights)


class ConstraintsSection(BaseModel):
    """Limits on the recommended mixture, relative to the natural shares of the train tokens."""

    model_config = ConfigDict(extra="forbid")

    floor: float = Field(0.25, ge=0, le=1, description="share >= floor x natural share")
    cap: float = Field(4.0, gt=1, description="share <= cap x natural share")
    max_epochs: float = Field(4.0, gt=0, description="repetitions of a domain's train tokens")
    lower: dict[str, float] = Field(default_factory=dict, description="absolute floors")
    upper: dict[str, float] = Field(default_factory=dict, description="absolute caps")


class RoundsSection(BaseModel):
    """The proxy rounds: a design around the natural shares, then acquisition rounds."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(2, ge=1, le=20, description="rounds in all (the first is the design)")
    first: int = Field(12, ge=3, description="design mixtures of round 1 (plus natural)")
    per_round: int = Field(4, ge=1, description="runs of each later round")
    concentration: tuple[float, float] = Field(
        (0.3, 5.0), description="Dirichlet concentrations of the round-1 design"
    )


class VerifySection(BaseModel):
    """The recommended and the reference mixtures trained again at the proxy budget."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=2)
    reference: str | dict[str, float] = Field(
        "natural", description="'natural' or a mixture {domain: share}"
    )

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds repeat: {value}")
        return value


class ProductionSection(BaseModel):
    """The run the mixture is for (shown in the decision; the nested prediction uses it)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("124M", description="preset or a name for the production model")
    tokens: int = Field(10_000_000_000, gt=0)


def _options(name: str, doc: str, source: type[BaseModel], fields: tuple[str, ...]) -> Any:
    """An option block made of `source`'s own fields (same types, defaults and limits), so
    a strategy's defaults are the trainer's and the sweep's, never a second copy."""
    return create_model(  # type: ignore[call-overload]
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=doc,
        **{f: (source.model_fields[f].annotation, source.model_fields[f]) for f in fields},
    )


ONLINE_FIELDS = ("every_steps", "step_size", "smoothing", "floor")
DoReMiOptions = _options(
    "DoReMiOptions",
    "DoReMi (train/online_mixing.py): group DRO on the excess loss over the natural run.",
    OnlineConfig,
    ONLINE_FIELDS,
)
AioliOptions = _options(
    "AioliOptions",
    "Aioli-style online mixing: probe windows, least-squares A, exponentiated gradient.",
    OnlineConfig,
    (*ONLINE_FIELDS, "delta", "exploit_windows", "normalize"),
)
_TwoPhaseBase = _options(
    "TwoPhaseOptions",
    "A 2-phase schedule optimised by the phase law fitted on a 2-phase swarm.",
    MixtureDesign,
    ("n", "fractions"),
)


class TwoPhaseOptions(_TwoPhaseBase):  # type: ignore[valid-type,misc]
    """A 2-phase schedule optimised by the phase law fitted on a 2-phase swarm: `n` swarm
    runs, `fractions` the two phases' shares of the tokens (default equal)."""

    @field_validator("fractions")
    @classmethod
    def _two(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) != 2 or min(value) <= 0 or abs(sum(value) - 1) > 1e-6):
            raise ValueError(f"{value}: two positive shares of the tokens summing to 1")
        return value


STRATEGIES = ("doremi", "aioli", "two_phase")


class StrategiesSection(BaseModel):
    """Mixtures that change during training, each trained after the verification with the
    verify seeds and compared with the static recommendation (absent: none)."""

    model_config = ConfigDict(extra="forbid")

    doremi: DoReMiOptions | None = None  # type: ignore[valid-type]
    aioli: AioliOptions | None = None  # type: ignore[valid-type]
    two_phase: TwoPhaseOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """A list of names, or a mapping whose empty values mean the defaults."""
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"{item!r}: a strategy name ({', '.join(STRATEGIES)})")
            value = dict.fromkeys(value)
        if isinstance(value, dict):
            return {k: {} if v is None else v for k, v in value.items()}
        return value

    def asked(self) -> dict[str, BaseModel]:
        """The strategies asked for, in the order they run, with their options."""
        return {k: getattr(self, k) for k in STRATEGIES if getattr(self, k) is not None}


class ProjectConfig(BaseModel):
    """A whole `mixlab run` project (see `mixlab init` for a commented example)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    output: str = Field("out", description="folder for shards, store, laws, exports, report")
    data: DataSection
    proxy: ProxySection = Field(default_factory=ProxySection)
    target: TargetSection
    constraints: ConstraintsSection = Field(default_factory=ConstraintsSection)
    rounds: RoundsSection = Field(default_factory=RoundsSection)
    verify: VerifySection = Field(default_factory=VerifySection)
    production: ProductionSection | None = None
    strategies: StrategiesSection | None = None
    level: float = Field(0.9, gt=0, lt=1, description="level of every interval")
    seed: int = Field(0, ge=0, description="seed of designs, fits and acquisition")


class Project:
    """A loaded project: the config plus the folder its relative paths are read from."""

    def __init__(self, config: ProjectConfig, base_dir: Path, path: Path | None = None):
        self.config = config
        self.base_dir = Path(base_dir).resolve()
        self.path = path
        self.out = self._abs(config.output)
        domains = list(config.data.domains)
        for metric in config.target.resolved_weights():
            for prefix in ("val_loss/", "val_bpb/"):
                if metric.startswith(prefix) and metric[len(prefix) :] not in domains:
                    raise InputError(
                        f"{path or 'project'}: target: {metric!r} names no domain "
                        f"(domains: {', '.join(domains)})"
                    )
            if metric.startswith("probe/"):
                probe = metric.split("/")[1]
                if probe not in config.target.probes:
                    raise InputError(
                        f"{path or 'project'}: target: {metric!r} needs a probe set "
                        f"{probe!r} under target.probes"
                    )
        for field, bounds in (
            ("lower", config.constraints.lower),
            ("upper", config.constraints.upper),
        ):
            for d, v in bounds.items():
                if d not in domains:
                    raise InputError(
                        f"{path or 'project'}: constraints.{field}: unknown domain {d!r}"
                    )
                if not 0 <= v <= 1:
                    raise InputError(
                        f"{path or 'project'}: constraints.{field}.{d}: {v} not in [0, 1]"
                    )

        for name, opts in (config.strategies.asked() if config.strategies else {}).items():
            floor = getattr(opts, "floor", 0.0)
            if floor * len(domains) >= 1:
                raise InputError(
                    f"{path or 'project'}: strategies.{name}.floor: {floor} x "
                    f"{len(domains)} domains must be < 1"
                )

    def _abs(self, p: str | Path) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def shards(self) -> Path:
        return self.out / self.config.data.shards

    @property
    def store(self) -> Path:
        return self.out / "runs.db"

    def prepare_config(self) -> dict[str, Any]:
        """The `mixlab data prepare` config this project expands to (absolute paths)."""
        d = self.config.data
        domains = {}
        for name, sources in d.domains.items():
            items = sources if isinstance(sources, list) else [sources]
            fixed = []
            for s in items:
                if isinstance(s, dict):
                    fixed.append({**s, "path": str(self._abs(s.get("path", "")))})
                else:
                    fixed.append(str(self._abs(s)))
            domains[name] = fixed
        tokenizer = dict(d.tokenizer)
        if tokenizer.get("path"):
            tokenizer["path"] = str(self._abs(tokenizer["path"]))
        validation = (
            {"documents": d.validation}
            if isinstance(d.validation, int)
            else {"fraction": d.validation}
        )
        return {
            "output": str(self.shards),
            "seed": d.seed,
            "tokenizer": tokenizer,
            "validation": validation,
            "domains": domains,
        }

    def train_base(self) -> dict[str, Any]:
        """The fields every proxy run shares (a `train` config without mixture/model/tokens)."""
        p = self.config.proxy
        return {
            "data": str(self.shards),
            "seq_len": p.seq_len,
            "batch_size": p.batch_size,
            "optimizer": {"lr": p.lr},
            "max_epochs": self.config.constraints.max_epochs,
            "eval": {
                "every": p.eval_every,
                "max_sequences": p.eval_sequences,
                "probes": {k: str(self._abs(v)) for k, v in self.config.target.probes.items()},
                "max_probes": p.max_probes,
            },
        }

    def sweep_config(self) -> dict[str, Any]:
        """The round-1 design as a `mixlab sweep` config."""
        c = self.config
        return {
            "base": self.train_base(),
            "models": list(c.proxy.models),
            "tokens": [c.proxy.tokens],
            "seeds": list(c.proxy.seeds),
            "tags": [c.name, "round1"],
            "mixtures": {
                "kind": "dirichlet",
                "n": c.rounds.first,
                "concentration": list(c.rounds.concentration),
                "cap": c.constraints.cap,
                "seed": c.seed,
            },
        }


def load_project(path: str | Path) -> Project:
    """Read and validate a project.yaml; relative paths are read from its folder."""
    path = Path(path)
    config, base = load_typed_yaml(path, ProjectConfig, "project config")
    return Project(config, base, path)
