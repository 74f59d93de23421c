"""Save a fitted law as JSON and load it back; the only module in `laws` that touches files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mixlab.errors import InputError
from mixlab.io.files import read_json
from mixlab.laws.mixing.base import MixingLaw, law_from_dict

__all__ = ["load_law", "save_law"]


def save_law(law: MixingLaw, path: str | os.PathLike[str]) -> Path:
    """Write `law.to_dict()` to `path` as JSON (floats round-trip exactly)."""
    path = Path(path)
    data = law.to_dict()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=True))
    tmp.replace(path)
    return path


def load_law(path: str | os.PathLike[str]) -> MixingLaw:
    """Read a law written by :func:`save_law`."""
    path = Path(path)
    data = read_json(path, expect=dict, what="a fitted mixing law")
    try:
        return law_from_dict(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
