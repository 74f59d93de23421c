"""What `prepare` reports: progress events, per-domain and overall summaries, and the
warning for a validation split too small to measure a loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PrepareProgress:
    """One progress report. `stage`: hash, sample, tokenizer, tokenize, split, unchanged, done."""

    stage: str
    domain: str | None
    bytes_done: int = 0
    bytes_total: int = 0
    documents: int = 0
    tokens: int = 0


ProgressCallback = Callable[[PrepareProgress], None]


@dataclass
class DomainSummary:
    """What prepare did for one domain and what its shards hold."""

    name: str
    status: str  # prepared | unchanged
    documents: int
    train_documents: int
    validation_documents: int
    train_tokens: int
    validation_tokens: int
    input_bytes: int
    seconds: float = 0.0
    validation_source: str = "drawn"  # drawn (seeded choice) | dataset (its own split)
    skipped_test_files: int = 0


# Standard error of a mean loss over n tokens is about sigma / sqrt(n); with sigma = 2.5 nats
# per token (typical of small language models) 0.01 nats needs 62,500 tokens.
LOSS_SIGMA_NATS = 2.5
LOSS_PRECISION_NATS = 0.01
MIN_VALIDATION_TOKENS = round((LOSS_SIGMA_NATS / LOSS_PRECISION_NATS) ** 2)


def validation_warning(name: str, tokens: int) -> str | None:
    """A warning when a validation split is too small to measure a loss to 0.01 nats."""
    if tokens >= MIN_VALIDATION_TOKENS:
        return None
    se = LOSS_SIGMA_NATS / max(tokens, 1) ** 0.5
    return (
        f"domain {name!r}: validation holds {tokens} tokens, too few to measure a loss to "
        f"{LOSS_PRECISION_NATS} nats (standard error about {se:.3f} nats at "
        f"{LOSS_SIGMA_NATS} nats per token; need {MIN_VALIDATION_TOKENS}); raise validation "
        "(--val-split) or add data"
    )


@dataclass
class PrepareSummary:
    """The outcome of one `prepare` call."""

    output: Path
    tokenizer: dict[str, Any]
    domains: list[DomainSummary] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens_written(self) -> int:
        return sum(
            d.train_tokens + d.validation_tokens for d in self.domains if d.status == "prepared"
        )

    @property
    def changed(self) -> bool:
        return (
            self.tokenizer.get("status") != "unchanged"
            or bool(self.removed)
            or any(d.status != "unchanged" for d in self.domains)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "tokenizer": self.tokenizer,
            "domains": [asdict(d) for d in self.domains],
            "removed": self.removed,
            "seconds": self.seconds,
            "tokens_written": self.tokens_written,
            "warnings": self.warnings,
        }


def report_progress(progress: ProgressCallback | None, event: PrepareProgress) -> None:
    """Send `event` to the caller's progress callback, if there is one."""
    if progress is not None:
        progress(event)
