"""Save fitted scaling laws (and nested predictions) as JSON; the scaling side's only file I/O."""

from __future__ import annotations

import os
from pathlib import Path

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_json
from mixlab.laws.scaling.forms import ScalingLaw, scaling_law_from_dict

__all__ = ["load_scaling_law", "read_json", "save_scaling_law", "write_json"]


def save_scaling_law(law: ScalingLaw, path: str | os.PathLike[str]) -> Path:
    """Write `law.to_dict()` to `path` (floats round-trip exactly)."""
    return write_json(law.to_dict(), path)


def load_scaling_law(path: str | os.PathLike[str]) -> ScalingLaw:
    """Read a law written by :func:`save_scaling_law`."""
    try:
        return scaling_law_from_dict(read_json(path))
    except InputError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise InputError(f"{path}: {exc}") from None
