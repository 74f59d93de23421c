"""Save any fitted law as JSON and load it back: the only law file I/O in the package.

Every law family writes `law.to_dict()` (floats round-trip exactly); loading dispatches on
the file's `kind` through the law registry (:mod:`mixlab.laws.core.estimator`), so files
written before the registry existed load too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_json
from mixlab.laws.core.estimator import Estimator, law_from_dict

__all__ = ["load_law", "load_scaling_law", "read_law", "save_law", "save_scaling_law"]


def save_law(law: Estimator, path: str | os.PathLike[str]) -> Path:
    """Write a fitted law (any family) to `path` as JSON, atomically."""
    return write_json(law.to_dict(), path)


def read_law(path: str | os.PathLike[str], family: str | None = None) -> Any:
    """The fitted law in a file written by :func:`save_law` (of `family`, if given)."""
    data = read_json(path, f"a fitted {family or ''} law".replace("  ", " "), expect=dict)
    try:
        return law_from_dict(data, family=family)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def load_law(path: str | os.PathLike[str]) -> Any:
    """A fitted mixing law from its file."""
    return read_law(path, "mixing")


def load_scaling_law(path: str | os.PathLike[str]) -> Any:
    """A fitted scaling law from its file."""
    return read_law(path, "scaling")


save_scaling_law = save_law
