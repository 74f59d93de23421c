"""Save fitted scaling laws (and nested predictions) as JSON; the scaling side's only file I/O."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mixlab.errors import InputError
from mixlab.laws.scaling.forms import ScalingLaw, scaling_law_from_dict

__all__ = ["load_scaling_law", "read_json", "save_scaling_law", "write_json"]


def write_json(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write `data` as JSON atomically (a temporary file renamed over `path`)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=True))
    except FileNotFoundError:
        raise InputError(f"{path}: the folder {path.parent} does not exist") from None
    tmp.replace(path)
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; InputError naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


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
