"""Input checks shared by the laws; every failure is an `InputError` naming the culprit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.mixture import WEIGHT_TOLERANCE, sum_error

__all__ = [
    "as_finite_array",
    "check_mixtures",
    "check_names",
    "check_run_ids",
    "check_targets",
    "check_weights",
    "row_label",
]


def row_label(i: int, run_ids: Sequence[Any] | None) -> str:
    """'row 3' or 'row 3 (run id 'abc')' for error messages."""
    return f"row {i}" if run_ids is None else f"row {i} (run id {run_ids[i]!r})"


def _as_2d(X: Any, what: str) -> tuple[np.ndarray, list[str] | None]:
    columns = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a pandas DataFrame
        columns = [str(c) for c in X.columns]
        X = X.to_numpy()
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: values must be numbers ({exc})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{what}: expected a 2-d table, got an array with {arr.ndim} dims")
    return arr, columns


def _named_table(
    X: Any, names: Sequence[Any] | None, what: str, names_what: str, default: str
) -> tuple[np.ndarray, list[str]]:
    """A 2-d table and its column names: `names`, else a DataFrame's columns, else defaults."""
    arr, columns = _as_2d(X, what)
    return arr, check_names(
        names if names is not None else columns, arr.shape[1], f"{what} {names_what}", default
    )


def check_names(names: Sequence[Any] | None, n: int, what: str, default: str) -> list[str]:
    """`n` unique string names; `default{i}` when `names` is None."""
    if names is None:
        return [f"{default}{i}" for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise InputError(f"{what}: {len(names)} names given for {n} columns")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{what}: name {name!r} appears more than once")
        seen.add(name)
    return names


def check_run_ids(run_ids: Sequence[Any] | None, n: int) -> list[Any] | None:
    """Run ids as a list of str/int, one per row, unique."""
    if run_ids is None:
        return None
    ids = [x.item() if isinstance(x, np.generic) else x for x in run_ids]
    ids = [x if isinstance(x, int | str) else str(x) for x in ids]
    if len(ids) != n:
        raise InputError(f"run_ids: {len(ids)} ids given for {n} runs")
    seen: set[Any] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise InputError(f"run_ids: id {x!r} (row {i}) appears more than once")
        seen.add(x)
    return ids


def check_mixtures(
    R: Any,
    domain_names: Sequence[Any] | None = None,
    *,
    run_ids: Sequence[Any] | None = None,
    renormalize: bool = False,
    atol: float = WEIGHT_TOLERANCE,
    what: str = "mixtures",
) -> tuple[np.ndarray, list[str]]:
    """Validate a mixture table: finite, non-negative weights whose rows sum to 1.

    A row off by more than `atol` is an error naming it unless `renormalize` is set, in
    which case rows are rescaled (an all-zero row is always an error).
    """
    arr, names = _named_table(R, domain_names, what, "domain names", "domain")
    if arr.shape[0] == 0:
        raise InputError(f"{what}: no rows")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(f"{what}: {row_label(i, run_ids)}, domain {names[j]!r} is not a number")
    neg = arr < 0
    if neg.any():
        i, j = map(int, np.argwhere(neg)[0])
        raise InputError(
            f"{what}: {row_label(i, run_ids)}, domain {names[j]!r} has negative weight "
            f"{arr[i, j]:g}"
        )
    sums = arr.sum(axis=1)
    zero = np.flatnonzero(sums <= 0)
    if zero.size:
        raise InputError(f"{what}: {row_label(int(zero[0]), run_ids)} has all weights zero")
    off = np.flatnonzero(np.abs(sums - 1.0) > atol)
    if off.size and not renormalize:
        i = int(off[0])
        more = f" (and {off.size - 1} more rows)" if off.size > 1 else ""
        raise InputError(
            sum_error(
                sums[i],
                f"{what}: {row_label(i, run_ids)}",
                f"{more}; pass renormalize=True to rescale rows",
            )
        )
    if renormalize:
        arr = arr / sums[:, None]
    return arr, names


def check_targets(
    Y: Any,
    n_rows: int,
    target_names: Sequence[Any] | None = None,
    *,
    run_ids: Sequence[Any] | None = None,
    what: str = "targets",
) -> tuple[np.ndarray, list[str]]:
    """Validate a metrics table: one row per run, finite values."""
    arr, names = _named_table(Y, target_names, what, "names", "target")
    if arr.shape[0] != n_rows:
        raise InputError(f"{what}: {arr.shape[0]} rows but the mixtures have {n_rows} rows")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(f"{what}: {row_label(i, run_ids)}, column {names[j]!r} is NaN or infinite")
    return arr, names


def check_weights(weights: Mapping[str, float], target_names: Sequence[str]) -> np.ndarray:
    """A weights dict over metric names -> vector aligned with `target_names`."""
    if not isinstance(weights, Mapping) or not weights:
        raise InputError("weights: expected a non-empty mapping from metric name to weight")
    unknown = [k for k in weights if k not in target_names]
    if unknown:
        raise InputError(
            f"weights: metric(s) {unknown} are not among the targets {list(target_names)}"
        )
    w = np.zeros(len(target_names))
    for k, v in weights.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InputError(f"weights: weight of {k!r} is not a number: {v!r}") from None
        if not np.isfinite(v):
            raise InputError(f"weights: weight of {k!r} is not finite")
        w[list(target_names).index(k)] = v
    if not np.any(w != 0):
        raise InputError("weights: every weight is zero")
    return w


def as_finite_array(v: Any, name: str, who: str, item: str | None = None) -> np.ndarray:
    """`v` as a flat float array; InputError naming `who`, `name` and the row of a NaN or inf.

    `item` names one value in the row message ("loss at row 3" rather than "losses, row 3").
    """
    try:
        arr = np.asarray(v, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{who}: {name} must be numbers ({exc})") from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        where = f"{name}, row" if item is None else f"{item} at row"
        raise InputError(f"{who}: {where} {int(bad[0])} is NaN or infinite")
    return arr
