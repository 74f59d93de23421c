"""Shared fixtures: the reference data folder (skipped when absent) and a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: see mixlab/cli.py

import pytest

REPO = Path(__file__).resolve().parents[1]


def reference_dir() -> Path | None:
    """`$MIXLAB_REFERENCE_DATA`, else ../shared/reference-data beside the checkout, if present."""
    env = os.environ.get("MIXLAB_REFERENCE_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "reference-data"
    return path if path.is_dir() else None


@pytest.fixture
def reference_data() -> Path:
    path = reference_dir()
    if path is None:
        pytest.skip("reference data not found (../shared/reference-data or $MIXLAB_REFERENCE_DATA)")
    return path


@pytest.fixture
def store(tmp_path):
    from mixlab.runs import RunStore

    with RunStore(tmp_path / "runs.db") as s:
        yield s
