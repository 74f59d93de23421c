"""Checks every command runs on its flags before any work: each failure is an InputError
that names the flag and the path or value at fault (exit 2, no traceback)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mixlab.errors import InputError


def output_file(path: Path | None, flag: str) -> Path | None:
    """`path` can be written as a file: not a folder, and its folder exists."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: the folder {parent} does not exist")
    return path


def output_folder(path: Path, flag: str) -> Path:
    """`path` can be a folder to write into (created with its parents): no file is in the way."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"{flag} {path}: {p} is a file, not a folder")
            break
    return path


def input_file(path: Path | None, flag: str) -> Path | None:
    """`path` is an existing file (not a folder)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder, not a file")
    if not path.exists():
        raise InputError(f"{flag} {path}: no such file")
    return path


def input_folder(path: Path | None, flag: str) -> Path | None:
    """`path` is an existing folder."""
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        raise InputError(f"{flag} {path}: no such folder")
    if not path.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder")
    return path


def at_least(value: float | None, minimum: float, flag: str) -> None:
    """`value` (when given) is >= `minimum`."""
    if value is not None and not value >= minimum:
        raise InputError(f"{flag} must be at least {minimum:g}, not {value:g}")


def check_bootstrap(bootstrap: int, flag: str = "--bootstrap") -> None:
    """A bootstrap count: 0 (none) or more."""
    if bootstrap < 0:
        raise InputError(f"{flag} must be >= 0, got {bootstrap}")


def positive(value: float | None, flag: str) -> None:
    """`value` (when given) is > 0."""
    if value is not None and not value > 0:
        raise InputError(f"{flag} must be positive, not {value:g}")


def one_of(value: str, choices: Sequence[str], flag: str) -> None:
    if value not in choices:
        raise InputError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")


def law_target(law, target: str | None, flag: str = "--target") -> None:
    """`target` names one of the law's targets; without it the law must have only one."""
    names = list(law.target_names_)
    if target is None:
        if len(names) != 1:
            raise InputError(
                f"the law has {len(names)} targets; choose one with {flag} ({', '.join(names)})"
            )
    elif target not in names:
        raise InputError(f"{flag} {target!r} is not one of the law's targets ({', '.join(names)})")
