"""Reading and writing files: JSON and YAML with precise errors, one atomic writer, typed configs.

Every reader raises `InputError` naming the file (missing, a folder, unreadable, malformed,
and for JSON the line and column).  Every writer is atomic: the content goes to a temporary
file in the target's folder that is renamed over the target, so a reader sees the old file
or the new one, never half of one.  Like `mixlab.errors`, this module imports nothing else
from the package, so every layer may use it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mixlab.errors import InputError

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "atomic_path",
    "format_validation_error",
    "load_typed_yaml",
    "read_json",
    "read_yaml",
    "validate_config",
    "write_json",
    "write_text",
    "write_yaml",
]


def _expected(what: str) -> str:
    return f" (expected {what})" if what else ""


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file{_expected(what)}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file{_expected(what)}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file{_expected(what)}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}){_expected(what)}") from None


_KINDS = {dict: "a JSON object", list: "a JSON list"}


def read_json(path: str | os.PathLike[str], what: str = "", expect: type | None = None) -> Any:
    """Parse a JSON file; `what` names what it should be, `expect` (dict or list) its top level.

    Every failure is an `InputError` naming the file: missing, a folder, not text, not JSON
    (with the line), or JSON of the wrong kind at the top level.
    """
    path = Path(path)
    text = _read_text(path, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}, line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
            f"{_expected(what)}"
        ) from None
    if expect is not None and not isinstance(data, expect):
        found = type(data).__name__ if data is not None else "null"
        raise InputError(
            f"{path}: holds {found}, not {_KINDS.get(expect, expect.__name__)}{_expected(what)}"
        )
    return data


def read_yaml(path: str | os.PathLike[str], what: str = "config") -> Any:
    """Parse a YAML file; an unreadable or malformed file is an `InputError` naming it."""
    path = Path(path)
    text = _read_text(path, f"a YAML {what}")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {error}") from None


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block ends
    without error, removed otherwise (the one atomic writer: text, JSON, CSV, checkpoints)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8) atomically, flushed to disk before the rename."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def write_json(data: Any, path: str | os.PathLike[str], indent: int = 1) -> Path:
    """Write `data` as JSON atomically (floats round-trip exactly; NaN allowed)."""
    return write_text(path, json.dumps(data, indent=indent, allow_nan=True))


def write_yaml(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a mapping as YAML atomically, keys in the order given."""
    return write_text(path, yaml.safe_dump(dict(data), sort_keys=False))


def format_validation_error(origin: str, error: ValidationError) -> str:
    """One line per problem, each naming the dotted field path."""
    lines = [f"{origin}: invalid configuration"]
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {field}: {problem['msg']}")
    return "\n".join(lines)


def load_typed_yaml(
    path: str | os.PathLike[str], model: type[BaseModel], what: str
) -> tuple[Any, Path]:
    """A YAML mapping validated into `model`, and the file's folder (relative paths join it).

    Every problem is an `InputError` naming the file and the dotted field.
    """
    path = Path(path)
    return validate_config(read_yaml(path, what), model, str(path)), path.resolve().parent


def validate_config(data: Any, model: type[M], origin: str) -> M:
    """A parsed mapping validated into `model`; an `InputError` naming `origin` and each field."""
    if not isinstance(data, dict):
        raise InputError(
            f"{origin}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputError(format_validation_error(origin, error)) from None
