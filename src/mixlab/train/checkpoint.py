"""Checkpoints: everything a run needs to continue exactly where it stopped.

Model, optimiser, the step, the sampler's position, the running code length and every RNG,
written to a temporary file and renamed so a crash mid-write leaves the previous one intact.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixlab.errors import InputError
from mixlab.io.files import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """Load a checkpoint, refusing one written by a run with other settings."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise InputError(f"{path}: cannot read checkpoint ({e})") from e
    if state.get("fingerprint") != fingerprint:
        raise InputError(
            f"{path}: checkpoint belongs to a run with other settings "
            f"({state.get('fingerprint')} != {fingerprint})"
        )
    return state
