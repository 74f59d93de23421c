"""Probes: a prompt, the exact answer, and how to judge a model's greedy continuation.

Shared by the synthetic generators (biographies, arithmetic) and read by the trainer's
evaluation. `target` is the literal text that follows `prompt` in the training data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mixlab.errors import InputError


@dataclass(frozen=True)
class Probe:
    """A question with one right answer.

    Without `answer_marker` the continuation must start with `target` (e.g. " Paris") and
    the answer must end there. With a marker (e.g. "=") the model may reason first: the
    final answer is what follows the last marker on the continuation's first line.
    """

    prompt: str
    answer: str
    target: str
    kind: str
    answer_marker: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def final_answer(self, continuation: str) -> str:
        """What a continuation answers (for reports): after the last marker on its first line."""
        line = continuation.split("\n", 1)[0]
        if self.answer_marker:
            line = line.rsplit(self.answer_marker, 1)[-1]
        return line.strip()

    def is_correct(self, continuation: str) -> bool:
        """Whether a continuation of `prompt` gives exactly `answer`."""
        if self.answer_marker:
            return self.final_answer(continuation) == self.answer
        if not continuation.startswith(self.target):
            return False
        rest = continuation[len(self.target) :]
        return not rest or not rest[0].isalnum()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assert_unambiguous(probes: Iterable[Probe]) -> None:
    """Raise if one prompt has two different answers."""
    seen: dict[str, str] = {}
    for probe in probes:
        previous = seen.setdefault(probe.prompt, probe.answer)
        if previous != probe.answer:
            raise ValueError(
                f"ambiguous probe prompt {probe.prompt!r}: answers {previous!r} and {probe.answer!r}"
            )


def write_probes(path: str | Path, probes: Iterable[Probe]) -> int:
    """Write probes as JSON lines; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as handle:
        for probe in probes:
            handle.write(json.dumps(probe.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_probes(path: str | Path) -> list[Probe]:
    """Read probes written by `write_probes`."""
    path = Path(path)
    probes = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(f"{path}: cannot read probes: {error.strerror or error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if isinstance(item, dict):  # a bare {prompt, answer} is a literal-answer probe
                item.setdefault("target", item.get("answer"))
                item.setdefault("kind", "custom")
            probes.append(Probe(**item))
        except (ValueError, TypeError) as error:
            raise InputError(f"{path}: line {number}: not a probe ({error})") from None
    return probes
