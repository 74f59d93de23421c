"""The one rule for names that become file or folder names (domains, run ids, study names).

A name read from a config, a manifest or a plan may end up as `folder / name`; a name such as
`../../victim` or `/etc` would then reach outside the folder. Every entry that turns a name
into a path checks it here first.
"""

from __future__ import annotations

import re

from mixlab.errors import InputError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")
MAX_NAME_LENGTH = 200
RULE = (
    "must start with a letter or digit, contain only letters, digits and '_', '.', '=', '+', '-' "
    f"(no '/', no '..'), and be at most {MAX_NAME_LENGTH} characters"
)


def name_problem(name: object) -> str | None:
    """Why `name` is not safe as a single path component, or None when it is."""
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if len(name) > MAX_NAME_LENGTH or not SAFE_NAME.match(name) or ".." in name:
        return f"{name!r} {RULE}"
    return None


def check_name(name: object, what: str) -> str:
    """`name` if it is safe as a path component; else an InputError naming `what` (the field)."""
    problem = name_problem(name)
    if problem is not None:
        raise InputError(f"{what}: {problem}")
    return name  # type: ignore[return-value]


def name_validator(name: str) -> str:
    """For pydantic field validators: a ValueError that the config loader names the field of."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name
