"""Input checks of the dynamics analyses: finite 1-d arrays, interval levels, accuracy curves."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixlab.errors import InputError

__all__ = ["check_curve", "check_level", "finite_1d", "unpack_curve"]


def finite_1d(values: Any, name: str) -> np.ndarray:
    """A 1-d float array with every entry finite, or an InputError naming `name`."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-d sequence, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"{name}[{int(bad[0])}] is {arr[bad[0]]}; values must be finite")
    return arr


def check_level(level: float, name: str = "level") -> float:
    if not 0 < level < 1:
        raise InputError(f"{name} must be in (0, 1), got {level!r}")
    return float(level)


def check_curve(x: Any, accuracy: Any, name: str = "curve") -> tuple[np.ndarray, np.ndarray]:
    """Evaluations sorted by x; same length, finite, at least one, no repeated x."""
    xs = finite_1d(x, f"{name}: x")
    ys = finite_1d(accuracy, f"{name}: accuracy")
    if len(xs) != len(ys):
        raise InputError(f"{name}: x and accuracy differ in length ({len(xs)} vs {len(ys)})")
    if len(xs) == 0:
        raise InputError(f"{name}: no evaluations")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    dup = np.flatnonzero(np.diff(xs) == 0)
    if dup.size:
        i, j = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise InputError(
            f"{name}: x has the value {xs[dup[0]]:g} twice (positions {i} and {j}); "
            "each evaluation needs its own x"
        )
    return xs, ys


def unpack_curve(curve: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, acc = curve
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (x, accuracy)") from None
    return check_curve(x, acc, name)
