"""Reading and writing the small JSON files mixlab exchanges (laws, plans, studies, results).

Every failure is an InputError naming the file: missing, a folder, not text, not JSON, or
JSON of the wrong kind at the top level.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mixlab.errors import InputError

__all__ = ["read_json", "write_json"]

_KINDS = {dict: "a JSON object", list: "a JSON list"}


def read_json(path: str | os.PathLike[str], expect: type | None = None, what: str = "") -> Any:
    """Parse a JSON file; `expect` (dict or list) is the required top-level kind.

    `what` says what the file should be (e.g. "a fitted law"), for the message.
    """
    path = Path(path)
    should = f" (expected {what})" if what else ""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file{should}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file{should}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}){should}") from None
    if expect is not None and not isinstance(data, expect):
        raise InputError(
            f"{path}: holds {type(data).__name__ if data is not None else 'null'}, "
            f"not {_KINDS.get(expect, expect.__name__)}{should}"
        )
    return data


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
