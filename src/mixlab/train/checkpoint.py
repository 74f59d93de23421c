"""Checkpoints: everything a run needs to continue exactly where it stopped.

Model, optimiser, the step, the sampler's position, the running code length, the evaluations
made so far and every RNG, written to a temporary file and renamed so a crash mid-write leaves
the previous one intact. Everything is stored as tensors and plain containers, so a checkpoint
is read with `torch.load(weights_only=True)`: a file placed where a checkpoint belongs is data,
never code that runs.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixlab.errors import InputError

CHECKPOINT_NAME = "checkpoint.pt"


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain numbers (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {
            "version": version,
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py, nps = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    np.random.set_state(
        (
            nps["kind"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically; a failed write leaves no partial file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        if _disk_full(e):
            raise InputError(
                f"{path}: cannot write checkpoint: disk full (no space left on device); "
                "free space or point checkpoint.dir elsewhere, then re-run to resume"
            ) from e
        raise


def _disk_full(error: BaseException) -> bool:
    """Whether an error (or what caused it) is ENOSPC / EDQUOT; torch wraps it in RuntimeError."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """Load a checkpoint (tensors and plain data only), refusing one of a run with other settings."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            f"{path}: not a readable mixlab checkpoint (it holds objects other than tensors "
            "and plain data, which mixlab never unpickles); delete it to start the run afresh"
        ) from None
    except Exception as e:  # noqa: BLE001 - a foreign or damaged file is bad input, whatever broke
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise InputError(
            f"{path}: not a readable mixlab checkpoint ({type(e).__name__}: {first}); "
            "delete it to start the run afresh"
        ) from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: not a mixlab checkpoint (holds a {type(state).__name__})")
    if state.get("fingerprint") != fingerprint:
        raise InputError(
            f"{path}: checkpoint belongs to a run with other settings "
            f"({state.get('fingerprint')} != {fingerprint}); pass --no-resume (or delete it) "
            "to start afresh"
        )
    return state
