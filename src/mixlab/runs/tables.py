"""Reading and validating the CSV tables of DESIGN.md section 3 (mixtures, metrics, curves).

Every problem is an `InputError` that names the file, the line (header = line 1) with the
run id, and the column, so a user can go straight to the cell.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.mixture import WEIGHT_TOLERANCE, sum_error

CURVE_COLUMNS = ["run_id", "step", "tokens", "metric", "value"]
MAX_STEP = 2**53  # the largest step a float (how CSV numbers are read) holds exactly


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every cell as text (ids keep their spelling; conversion is checked later)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: {'is a folder, not a file' if path.is_dir() else 'no such file'}"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"{path}: cannot read as CSV ({_one_line(e)})") from e
    if frame.empty:
        raise InputError(f"{path}: the table has no rows")
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        header = [h.strip() for h in next(csv.reader(f))]
    seen: set[str] = set()
    for name in header:
        if name == "" or name in seen:
            raise InputError(
                f"{path}: header has a {'duplicated' if name else 'empty'} column name"
                f"{f' {name!r}' if name else ''}"
            )
        seen.add(name)
    return frame


def read_id_table(path: str | Path, id_column: str, *, allow_empty: bool = False) -> pd.DataFrame:
    """A wide table: unique, non-empty ids in `id_column` as the index; other columns numeric.

    `allow_empty` lets a cell be blank (read as NaN: not measured), as in a metrics table.
    """
    path = Path(path)
    frame = read_csv(path)
    if id_column not in frame.columns:
        raise InputError(
            f"{path}: no id column {id_column!r} (columns: {', '.join(frame.columns[:8])}"
            f"{', ...' if len(frame.columns) > 8 else ''}); pass --id-column"
        )
    ids = frame[id_column].str.strip()
    for row, run_id in enumerate(ids):
        if run_id == "":
            raise InputError(f"{path}, line {row + 2}: empty id in column {id_column!r}")
    dup = ids[ids.duplicated(keep=False)]
    if not dup.empty:
        lines = [str(i + 2) for i in dup.index[dup == dup.iloc[0]]]
        raise InputError(
            f"{path}: id {dup.iloc[0]!r} is on more than one line: lines ({', '.join(lines)})"
        )
    values = frame.drop(columns=[id_column])
    if values.shape[1] == 0:
        raise InputError(f"{path}: no columns besides the id column {id_column!r}")
    numeric = _to_numeric(
        values, path, ids, allow_empty=set(values.columns) if allow_empty else set()
    )
    numeric.index = pd.Index(ids, name=id_column)
    return numeric


def validate_mixtures(
    mixtures: pd.DataFrame, path: str | Path, *, renormalize: bool = False
) -> pd.DataFrame:
    """Check every row is a point of the simplex (or rescale it onto one if `renormalize`)."""
    for col in mixtures.columns:
        neg = mixtures.index[mixtures[col] < 0]
        if len(neg):
            row = mixtures.index.get_loc(neg[0])
            raise InputError(
                f"{path}, {_where(row, neg[0])}, column {col!r}: weight "
                f"{float(mixtures.at[neg[0], col])!r} is negative"
            )
    sums = mixtures.sum(axis=1)
    if renormalize:
        zero = sums.index[sums <= 0]
        if len(zero):
            raise InputError(
                f"{path}, {_where(mixtures.index.get_loc(zero[0]), zero[0])}: all weights are 0, "
                "cannot renormalise"
            )
        return mixtures.div(sums, axis=0)
    off = sums.index[(sums - 1.0).abs() > WEIGHT_TOLERANCE]
    if len(off):
        run_id = off[0]
        raise InputError(
            sum_error(
                float(sums[run_id]),
                f"{path}, {_where(mixtures.index.get_loc(run_id), run_id)}",
                f"; {len(off)} row(s) like this; pass --renormalize to rescale them",
            )
        )
    return mixtures


def check_same_ids(a: pd.Index, a_path: Path, b: pd.Index, b_path: Path) -> None:
    """Every id of one table must be in the other: name the first that is not."""
    for ids, path, other, other_path in ((a, a_path, b, b_path), (b, b_path, a, a_path)):
        missing = ids.difference(other, sort=False)
        if len(missing):
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputError(f"id {missing[0]!r} is in {path} but not in {other_path}{more}")


def read_curves(path: str | Path) -> pd.DataFrame:
    """A long table `run_id, step, tokens, metric, value`; identical duplicate rows count once."""
    path = Path(path)
    frame = read_csv(path)
    missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
            f"a curves table has columns {', '.join(CURVE_COLUMNS)}"
        )
    frame = frame[CURVE_COLUMNS].copy()
    frame["run_id"] = frame["run_id"].str.strip()
    frame["metric"] = frame["metric"].str.strip()
    for col in ("run_id", "metric"):
        empty = np.flatnonzero(frame[col].to_numpy() == "")
        if len(empty):
            raise InputError(f"{path}, line {empty[0] + 2}: empty {col!r}")
    numeric = _to_numeric(
        frame[["step", "tokens", "value"]], path, frame["run_id"], allow_empty={"tokens"}
    )
    steps = numeric["step"].to_numpy()
    bad = np.flatnonzero((steps != np.round(steps)) | (steps < 0) | (steps > MAX_STEP))
    if len(bad):
        raise InputError(
            f"{path}, {_where(bad[0], frame['run_id'].iloc[bad[0]])}, column 'step': "
            f"{frame['step'].iloc[bad[0]]!r} is not a non-negative integer up to 2^53"
        )
    frame[["step", "tokens", "value"]] = numeric
    frame["step"] = frame["step"].astype(np.int64)
    frame["_line"] = np.arange(len(frame)) + 2
    return drop_duplicate_points(frame, path)


def drop_duplicate_points(frame: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Keep one of identical (run_id, metric, step) rows; differing values are an error.

    `frame` has a `_line` column (line numbers for messages); it is dropped on return.
    """
    key = ["run_id", "metric", "step"]
    dup = frame[frame.duplicated(key, keep=False)]
    if not dup.empty:
        conflicting = dup.groupby(key)["value"].nunique()
        conflicting = conflicting[conflicting > 1]
        if not conflicting.empty:
            run_id, metric, step = conflicting.index[0]
            rows = dup[(dup.run_id == run_id) & (dup.metric == metric) & (dup.step == step)]
            raise InputError(
                f"{path}: run {run_id!r}, metric {metric!r}, step {step} has different values on "
                f"lines {', '.join(map(str, rows['_line']))}"
            )
    return frame.drop_duplicates(key).drop(columns="_line").reset_index(drop=True)


def _to_numeric(
    values: pd.DataFrame, path: Path, ids: pd.Series, allow_empty: set[str] = frozenset()
) -> pd.DataFrame:
    """Convert text cells to finite floats; name the first cell that is not one."""
    out = {}
    for col in values.columns:
        text = values[col].str.strip()
        nums = pd.to_numeric(text, errors="coerce")
        empty_ok = (text == "") if col in allow_empty else pd.Series(False, index=text.index)
        bad = np.flatnonzero(nums.isna().to_numpy() & ~empty_ok.to_numpy())
        if len(bad):
            row = bad[0]
            cell = values[col].iloc[row]
            what = "is empty" if cell.strip() == "" else f"{cell!r} is not a number"
            raise InputError(f"{path}, {_where(row, ids.iloc[row])}, column {col!r}: {what}")
        arr = nums.to_numpy(dtype=float)
        inf = np.flatnonzero(~np.isfinite(arr) & ~np.isnan(arr))
        if len(inf):
            row = inf[0]
            raise InputError(
                f"{path}, {_where(row, ids.iloc[row])}, column {col!r}: "
                f"{values[col].iloc[row]!r} is not finite"
            )
        out[col] = arr
    return pd.DataFrame(out, index=values.index)


def _where(row: int, run_id: object) -> str:
    return f"line {row + 2} (id {run_id!r})"


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def is_close_mixture(a: dict[str, float], b: dict[str, float], tol: float = 1e-12) -> bool:
    """Same domains (ignoring zero weights) with the same weights within `tol`."""
    keys = {k for k, v in a.items() if v != 0} | {k for k, v in b.items() if v != 0}
    return all(math.isclose(a.get(k, 0.0), b.get(k, 0.0), rel_tol=0, abs_tol=tol) for k in keys)
