"""`mixlab demo`: `mixlab run` on the built-in corpora (stdlib code and prose, biographies,
arithmetic; data/demo_corpora.py).

The target is the held-out evaluation mix of a team building a Python documentation
assistant: 60% prose (docstrings, comments, pydoc topics), 40% code.  Biographies and
arithmetic are in the training data but not in the evaluation.  The natural shares spend 40-50%
of the tokens on those two, so they are far from the best mixture for this target: the loop
has a real gain to find and to verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixlab.io.files import write_yaml
from mixlab.studies.loop import Emit, _quiet, run_project
from mixlab.studies.project import load_project

TARGET = {"val_loss/prose": 0.6, "val_loss/code": 0.4}
DESCRIPTION = (
    "held-out evaluation mix of a Python documentation assistant: 60% prose (docstrings, "
    "comments, pydoc), 40% code; biographies and arithmetic are trained on, not evaluated"
)


@dataclass
class DemoSettings:
    """Sizes of the demo; `quick()` is the <= 3-minute version."""

    max_bytes: int = 600_000
    vocab_size: int = 1024
    preset: str = "25k"
    batch_size: int = 8  # twice the steps of 16 at the same tokens: steadier across seeds
    eval_every: int = 50
    tokens: int = 600_000
    first: int = 10
    rounds: int = 2
    per_round: int = 4
    verify_seeds: tuple[int, ...] = (0, 1, 2, 3)
    max_epochs: float = 6.0
    cap: float = 4.0
    floor: float = 0.25
    workers: int = 2
    seed: int = 0

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(
            max_bytes=250_000, tokens=200_000, first=8, rounds=2, per_round=3, verify_seeds=(0, 1)
        )


def demo_project(out: Path, settings: DemoSettings) -> Path:
    """Write the demo corpora (once) and the project.yaml that runs the loop on them."""
    from mixlab.data.demo_corpora import write_demo_corpora

    out = Path(out).resolve()
    corpora = out / "corpora"
    if not (corpora / "prepare.yaml").exists():
        write_demo_corpora(
            corpora,
            max_bytes_per_domain=settings.max_bytes,
            vocab_size=settings.vocab_size,
            seed=settings.seed,
        )
    s = settings
    project = {
        "name": "demo",
        "output": ".",
        "data": {
            "domains": {
                d: [f"corpora/{d}.jsonl"] for d in ("code", "prose", "biographies", "arithmetic")
            },
            "tokenizer": {"kind": "bpe", "vocab_size": s.vocab_size, "sample_bytes": 4_000_000},
            "validation": 0.05,
            "seed": s.seed,
            "shards": "corpora/shards",
        },
        "proxy": {
            "models": [s.preset],
            "tokens": s.tokens,
            "seeds": [s.seed],
            "batch_size": s.batch_size,
            "eval_every": s.eval_every,
            "workers": s.workers,
        },
        "target": {"name": "docs-assistant", "description": DESCRIPTION, "weights": TARGET},
        "constraints": {"floor": s.floor, "cap": s.cap, "max_epochs": s.max_epochs},
        "rounds": {"count": s.rounds, "first": s.first, "per_round": s.per_round},
        "verify": {"seeds": list(s.verify_seeds)},
        "seed": s.seed,
    }
    return write_yaml(project, out / "project.yaml")


def run_demo(
    out: Path, settings: DemoSettings, emit: Emit = _quiet, commands: list[str] | None = None
) -> dict[str, Any]:
    """Run (or resume) the demo into `out`; returns the decision document."""
    path = demo_project(out, settings)
    return run_project(load_project(path), emit, commands)
