"""The typed configuration of one proxy run (`mixlab train CONFIG.yaml`), validated at the edge."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mixlab.errors import InputError
from mixlab.io.files import read_yaml, validate_config
from mixlab.names import name_validator
from mixlab.train.model import ModelConfig
from mixlab.train.presets import PRESETS, preset


class ModelSpec(BaseModel):
    """A preset name, or a custom shape (n_layer, n_head, n_embd), plus MLP / tying choices."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    n_layer: int | None = Field(default=None, gt=0)
    n_head: int | None = Field(default=None, gt=0)
    n_embd: int | None = Field(default=None, gt=0)
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    tie_embeddings: bool = True
    vocab_multiple: int = Field(default=64, gt=0, description="pad the vocabulary (GPU speed)")
    vocab_size: int | None = Field(default=None, gt=0, description="model vocabulary, if larger")

    @model_validator(mode="after")
    def _preset_or_shape(self) -> ModelSpec:
        shape = (self.n_layer, self.n_head, self.n_embd)
        if self.preset is None and None in shape:
            raise ValueError("give a preset or all of n_layer, n_head, n_embd")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        return self

    def build(self, vocab_size: int, seq_len: int) -> ModelConfig:
        """The model for a tokenizer's vocabulary, padded up to a multiple of vocab_multiple."""
        if self.vocab_size is not None:
            if self.vocab_size < vocab_size:
                raise InputError(
                    f"model.vocab_size {self.vocab_size} is smaller than the "
                    f"tokenizer's vocabulary ({vocab_size})"
                )
            vocab_size = self.vocab_size
        vocab_size = -(-vocab_size // self.vocab_multiple) * self.vocab_multiple
        extra = dict(mlp=self.mlp, tie_embeddings=self.tie_embeddings)
        if self.preset is not None:
            cfg = preset(self.preset, vocab_size, seq_len, **extra)
            shape = {k: v for k in ("n_layer", "n_head", "n_embd") if (v := getattr(self, k))}
            return cfg.model_copy(update=shape) if shape else cfg
        return ModelConfig(
            vocab_size=vocab_size,
            seq_len=seq_len,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            **extra,
        )


class OptimizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=0.1, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    grad_clip: float | None = Field(default=1.0, gt=0)


class LRScheduleConfig(BaseModel):
    """Warm-up then cosine decay, warm-up–stable–decay (WSD), or constant."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup: float = Field(default=0.05, ge=0, lt=1, description="fraction of the steps")
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    decay: float = Field(default=0.2, gt=0, le=1, description="WSD: final fraction that decays")


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int | None = Field(
        default=None, gt=0, description="steps between evaluations; unset: log-spaced `points`"
    )
    every_tokens: int | None = Field(
        default=None, gt=0, description="tokens between evaluations (when `every` is unset)"
    )
    points: int = Field(
        default=8, ge=0, description="evaluations log-spaced in tokens from the warm-up's end"
    )
    decode_cache: bool = Field(default=True, description="probe decoding with a KV cache")
    max_sequences: int = Field(default=64, gt=0, description="validation sequences per domain")
    batch_size: int = Field(default=32, gt=0)
    probes: dict[str, Path] = Field(default_factory=dict, description="name -> JSONL prompt/answer")
    max_probes: int = Field(default=256, gt=0, description="probe items per set")


# EvalConfig fields that came after runs were recorded: at these values they leave a
# config's fingerprint (and so its run id) what it was before they existed
NEW_EVAL_DEFAULTS = {"every_tokens": None, "points": 8}


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int = Field(default=0, ge=0, description="steps between checkpoints; 0: only at the end")
    dir: Path | None = None


class OnlineConfig(BaseModel):
    """A mixture updated during training (see mixlab.train.online_mixing)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["doremi", "aioli"]
    every_steps: int = Field(default=10, gt=0, description="steps between mixture updates")
    step_size: float = Field(default=1.0, gt=0, description="exponentiated-gradient step (eta)")
    smoothing: float = Field(default=1e-3, ge=0, lt=1, description="mix with the prior (c)")
    floor: float = Field(default=0.0, ge=0, lt=1, description="minimum weight per domain")
    delta: float = Field(default=0.5, gt=0, le=1, description="aioli: probe perturbation")
    exploit_windows: int = Field(
        default=0,
        ge=0,
        description="aioli: windows at the current mixture after each round's probe windows",
    )
    normalize: bool = Field(default=True, description="aioli: rescale A to sum 1 before a step")
    objective: dict[str, float] | None = Field(
        default=None,
        description="aioli: weight of each domain's validation loss in the objective it "
        "lowers (default: every domain equally, the paper's average loss)",
    )
    reference_run: str | None = Field(default=None, description="doremi: a finished run's id")
    reference_losses: dict[str, float] | None = Field(
        default=None, description="doremi: reference loss per domain, instead of a run"
    )
    reference_curves: dict[str, Any] | None = Field(
        default=None,
        description="doremi: the reference run's curves, filled in by a sweep's driver for its "
        "workers (not part of the run's identity)",
    )

    @model_validator(mode="after")
    def _reference(self) -> OnlineConfig:
        given = (self.reference_run is not None) + (self.reference_losses is not None)
        if self.method == "doremi" and given != 1:
            raise ValueError("doremi needs exactly one of reference_run, reference_losses")
        if self.method == "aioli" and given:
            raise ValueError("aioli takes no reference_run / reference_losses")
        if self.method == "doremi" and self.objective is not None:
            raise ValueError("objective is an aioli setting (doremi lowers the worst excess loss)")
        if self.reference_curves is not None and self.reference_run is None:
            raise ValueError("reference_curves come with a reference_run")
        return self


class TrainConfig(BaseModel):
    """Everything that determines a proxy run; its hash is the run's default id."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    mixture: dict[str, Any] = Field(description="{domain: weight} or a schedule with `kind`")
    model: ModelSpec
    tokens: int = Field(gt=0, description="training token budget")
    seq_len: int = Field(default=128, gt=0)
    batch_size: int = Field(default=16, gt=0, description="sequences per micro-batch")
    grad_accum: int = Field(default=1, gt=0)
    max_epochs: float | dict[str, float] | None = None
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lr_schedule: LRScheduleConfig = Field(default_factory=LRScheduleConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    seed: int = 0
    device: str = "auto"
    cpu_threads: int | None = Field(
        default=None, gt=0, description="CPU threads; default 1 for models under 2M parameters"
    )
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    compile_mode: Literal["auto", "default", "reduce-overhead", "max-autotune-no-cudagraphs"] = (
        Field(
            default="auto", description="auto: CUDA graphs on one GPU (static shapes), else default"
        )
    )
    online: OnlineConfig | None = None
    run_id: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        if value == "auto":
            return value
        import torch

        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            raise ValueError(
                f"{value!r} is not a device: use auto, cpu, cuda, cuda:N or mps"
            ) from None
        return value

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, value: str | None) -> str | None:
        # the run id names the run's checkpoint folder: no '..', '/', or absolute paths
        return None if value is None else name_validator(value)

    def resolved(self, base: Path) -> TrainConfig:
        """Relative paths are relative to the config file's folder."""

        def fix(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        return self.model_copy(
            update={
                "data": fix(self.data),
                "eval": self.eval.model_copy(
                    update={"probes": {k: fix(v) for k, v in self.eval.probes.items()}}
                ),
                "checkpoint": self.checkpoint.model_copy(update={"dir": fix(self.checkpoint.dir)}),
            }
        )

    def fingerprint(self) -> str:
        """A short hash of every setting that changes the run's numbers."""
        payload = self.model_dump(
            mode="json",
            exclude={"run_id", "tags", "checkpoint", "device", "cpu_threads", "compile_mode"},
        )
        del payload["eval"]["decode_cache"]  # the same greedy tokens either way
        if payload.get("online") is None:  # added later: static runs keep their ids
            payload.pop("online", None)
        else:  # the reference run's curves, as a sweep hands them over: the run is the same
            payload["online"].pop("reference_curves", None)
        for key, default in NEW_EVAL_DEFAULTS.items():  # settings added later: ids kept
            if payload["eval"].get(key) == default:
                del payload["eval"][key]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def id(self) -> str:
        return self.run_id or f"run-{self.fingerprint()}"


def parse_train_config(data: Any, origin: str = "config", base: Path | None = None) -> TrainConfig:
    return validate_config(data, TrainConfig, origin).resolved(base or Path.cwd())


def check_device(cfg: TrainConfig, origin: str = "config") -> None:
    """The configured device exists on this machine (`device: cuda` on a CPU-only one does not)."""
    if cfg.device == "auto":
        return
    import torch

    device = torch.device(cfg.device)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(
                f"{origin}: device: {cfg.device!r}, but this machine has no CUDA "
                "device (use auto or cpu)"
            )
        if device.index is not None and device.index >= count:
            raise InputError(
                f"{origin}: device: {cfg.device!r}, but this machine has {count} CUDA device(s)"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{origin}: device: {cfg.device!r}, but MPS is not available here")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate a training config, including that its device exists here."""
    path = Path(path)
    cfg = parse_train_config(read_yaml(path), str(path), path.resolve().parent)
    check_device(cfg, str(path))
    return cfg
