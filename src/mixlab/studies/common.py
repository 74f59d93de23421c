"""What both studies share: writing text documents, and guarding the fields a study sets."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STUDY_SET_FIELDS = ("data", "mixture", "model", "tokens", "seed")


def write_text_jsonl(path: Path, texts: Iterable[str]) -> int:
    """One {"text": ...} line per document; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as handle:
        for text in texts:
            handle.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            n += 1
    return n


def check_train_overrides(train: Mapping[str, Any]) -> None:
    """A study's shared train settings may not set what the study varies per run."""
    for key in STUDY_SET_FIELDS:
        if key in train:
            raise ValueError(f"train.{key} is set by the study, not by its train settings")
