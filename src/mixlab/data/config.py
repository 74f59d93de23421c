"""Typed configuration of `mixlab data prepare`, validated at the edge.

`load_prepare_config` reads the YAML, resolves relative paths against the file's folder and
turns every validation problem into an `InputError` that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mixlab.io.files import (
    load_typed_yaml,  # noqa: F401  (re-exported: its old home)
    read_yaml,
    validate_config,
    write_yaml,
)
from mixlab.names import name_problem

SourceFormat = Literal["auto", "txt", "jsonl", "parquet", "hf_disk", "megatron", "olmo", "nanogpt"]


class SourceConfig(BaseModel):
    """One input path of a domain: a file or a folder, with how to find the text in it."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    format: SourceFormat = "auto"
    text_field: str = Field("text", min_length=1, description="JSONL field / column name")
    split: str | None = Field(None, description="split of a saved Hugging Face DatasetDict")
    dtype: Literal["uint16", "uint32"] = Field(
        "uint16", description="token dtype of pre-tokenised olmo / nanogpt files"
    )


class TokenizerConfig(BaseModel):
    """Which tokenizer the shards use: trained BPE, plain bytes, or a given tokenizer.json."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bpe", "bytes", "file"] = "bpe"
    vocab_size: int = Field(8192, ge=260, le=4_000_000)
    sample_bytes: int = Field(20_000_000, ge=1_000, description="BPE training sample size")
    min_frequency: int = Field(2, ge=1)
    path: Path | None = None
    eod_token: str = Field("<|endoftext|>", min_length=1)

    @model_validator(mode="after")
    def _path_matches_kind(self) -> TokenizerConfig:
        if self.kind == "file" and self.path is None:
            raise ValueError("kind 'file' needs 'path' (a tokenizer.json)")
        if self.kind != "file" and self.path is not None:
            raise ValueError(f"'path' is only used with kind 'file', not {self.kind!r}")
        return self


class ValidationSplitConfig(BaseModel):
    """Validation size per domain: a number of documents or a fraction of them."""

    model_config = ConfigDict(extra="forbid")

    documents: int | None = Field(None, ge=0)
    fraction: float | None = Field(None, ge=0.0, lt=1.0)

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, value: Any) -> Any:
        # `validation: 100` means documents, `validation: 0.01` a fraction.
        if isinstance(value, bool):
            raise ValueError("expected a number of documents, a fraction, or a mapping")
        if isinstance(value, int):
            return {"documents": value}
        if isinstance(value, float):
            return {"fraction": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ValidationSplitConfig:
        if (self.documents is None) == (self.fraction is None):
            raise ValueError("give exactly one of 'documents' or 'fraction'")
        return self

    def count(self, n_documents: int) -> int:
        """Validation documents for a domain of `n_documents` (at least one when asked for)."""
        if self.documents is not None:
            return self.documents
        assert self.fraction is not None
        if self.fraction == 0.0:
            return 0
        return max(1, round(self.fraction * n_documents))


class PrepareConfig(BaseModel):
    """Everything `prepare` needs: where the domains are and how to tokenise and split them."""

    model_config = ConfigDict(extra="forbid")

    output: Path
    seed: int = Field(0, ge=0)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    validation: ValidationSplitConfig = Field(
        default_factory=lambda: ValidationSplitConfig(fraction=0.01)
    )
    workers: int | None = Field(None, ge=1)
    domains: dict[str, list[SourceConfig]] = Field(min_length=1)

    @field_validator("domains", mode="before")
    @classmethod
    def _normalise_sources(cls, value: Any) -> Any:
        # A domain may be written as a single path, a single source mapping, or a list of either.
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for name, sources in value.items():
            items = sources if isinstance(sources, list) else [sources]
            out[name] = [{"path": s} if isinstance(s, (str, Path)) else s for s in items]
        return out

    @field_validator("domains")
    @classmethod
    def _check_domains(cls, value: dict[str, list[SourceConfig]]) -> dict[str, list[SourceConfig]]:
        for name, sources in value.items():
            problem = name_problem(name)
            if problem is not None:
                raise ValueError(f"domain name {problem}")
            if not sources:
                raise ValueError(f"domain {name!r} has no sources")
        return value

    def resolved(self, base_dir: Path) -> PrepareConfig:
        """A copy with every relative path made absolute against `base_dir`."""

        def fix(p: Path) -> Path:
            return p if p.is_absolute() else (base_dir / p)

        tokenizer = self.tokenizer
        if tokenizer.path is not None:
            tokenizer = tokenizer.model_copy(update={"path": fix(tokenizer.path)})
        domains = {
            name: [s.model_copy(update={"path": fix(s.path)}) for s in sources]
            for name, sources in self.domains.items()
        }
        return self.model_copy(
            update={"output": fix(self.output), "tokenizer": tokenizer, "domains": domains}
        )


def parse_prepare_config(
    data: Any, origin: str = "config", base_dir: Path | None = None
) -> PrepareConfig:
    """Validate a mapping (parsed YAML) into a `PrepareConfig`; relative paths join `base_dir`."""
    return validate_config(data, PrepareConfig, origin).resolved(
        base_dir if base_dir is not None else Path.cwd()
    )


def load_prepare_config(path: str | Path) -> PrepareConfig:
    """Read and validate a prepare-config YAML file."""
    path = Path(path)
    return parse_prepare_config(read_yaml(path), origin=str(path), base_dir=path.resolve().parent)


def write_prepare_config(
    path: str | Path,
    *,
    output: str,
    seed: int,
    tokenizer: Mapping[str, Any],
    validation_fraction: float,
    domains: Mapping[str, list[dict[str, Any]]],
) -> Path:
    """Write a prepare-config YAML (the one builder of the studies' and demo's configs).

    `domains` maps a domain to its source entries; relative paths are read from `path`'s
    folder when the config is loaded, as for a config a user wrote.
    """
    config = {
        "output": output,
        "seed": seed,
        "tokenizer": dict(tokenizer),
        "validation": {"fraction": validation_fraction},
        "domains": dict(domains),
    }
    return write_yaml(config, path)
