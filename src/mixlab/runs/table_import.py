"""Import one runs table (a W&B runs-table CSV export, or any CSV) picked by column patterns.

Mixture and metric columns are chosen with glob patterns (`mix_*`, `eval/loss_*`); the
part a `*` matches becomes the domain name. Every other column (names, tags, notes, states)
is ignored, whatever it holds. `n_column` / `tokens_column` attach model size and training
tokens (plain numbers or `125M`, `1.5B`), so scaling laws can use the runs too.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.runs.importers import ImportSummary, _merge, final_record
from mixlab.runs.record import Evaluation, RunRecord
from mixlab.runs.store import RunStore
from mixlab.runs.tables import _to_numeric, read_csv, validate_mixtures

_SIZE = re.compile(r"^\s*([0-9.]+(?:[eE][+-]?\d+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def match_columns(columns: Sequence[str], patterns: Sequence[str]) -> dict[str, str]:
    """Column -> name for every column a pattern matches; the name is what `*` matched."""
    out: dict[str, str] = {}
    for pattern in patterns:
        if "*" in pattern:
            head, _, tail = pattern.partition("*")
            tail = tail.replace("*", "")
            for col in columns:
                if fnmatch.fnmatchcase(col, pattern) and col not in out:
                    name = col[len(head) : len(col) - len(tail) if tail else None]
                    out[col] = name or col
        elif pattern in columns:
            out.setdefault(pattern, pattern)
    return out


def _sizes(frame: pd.DataFrame, column: str, path: Path, ids: pd.Series) -> list[float | None]:
    if column not in frame.columns:
        raise InputError(f"{path}: no column {column!r} (columns: {', '.join(frame.columns[:10])})")
    out: list[float | None] = []
    for row, cell in enumerate(frame[column]):
        if cell.strip() == "":
            out.append(None)
            continue
        m = _SIZE.match(cell)
        if m is None:
            raise InputError(
                f"{path}, line {row + 2} (id {ids.iloc[row]!r}), column {column!r}: "
                f"{cell!r} is not a number (or a size like 125M)"
            )
        out.append(float(m[1]) * _UNITS[m[2].upper()])
    return out


def import_table(
    store: RunStore,
    path: str | Path,
    *,
    mixture_columns: Sequence[str],
    metric_columns: Sequence[str],
    id_column: str = "index",
    n_column: str | None = None,
    tokens_column: str | None = None,
    tags: Sequence[str] = (),
    renormalize: bool = False,
    id_prefix: str = "",
) -> ImportSummary:
    """Import every row of one CSV as a run (final metric values), columns picked by pattern."""
    path = Path(path)
    frame = read_csv(path)
    if id_column == "index" and "index" not in frame.columns and "Name" in frame.columns:
        id_column = "Name"  # a W&B runs-table export
    if id_column not in frame.columns:
        raise InputError(
            f"{path}: no id column {id_column!r} (columns: {', '.join(frame.columns[:10])}); "
            "pass --id-column"
        )
    ids = frame[id_column].str.strip()
    dup = ids[ids.duplicated(keep=False)]
    if (ids == "").any() or not dup.empty:
        bad = ids[(ids == "") | ids.duplicated(keep=False)]
        raise InputError(
            f"{path}, line {bad.index[0] + 2}: id {bad.iloc[0]!r} in column {id_column!r} is "
            "empty or repeated; pass --id-column with a unique column (W&B: ID or Name)"
        )
    mix_cols = match_columns(list(frame.columns), mixture_columns)
    met_cols = match_columns([c for c in frame.columns if c not in mix_cols], metric_columns)
    if not mix_cols:
        raise InputError(f"{path}: --mixture-columns {list(mixture_columns)} match no column")
    if not met_cols:
        raise InputError(f"{path}: --metric-columns {list(metric_columns)} match no column")
    if len(set(mix_cols.values())) < len(mix_cols):
        raise InputError(f"{path}: two mixture columns give the same domain name")
    mixtures = _to_numeric(frame[list(mix_cols)], path, ids).rename(columns=mix_cols)
    mixtures.index = pd.Index(ids, name=id_column)
    mixtures = validate_mixtures(mixtures, path, renormalize=renormalize)
    metrics = _to_numeric(frame[list(met_cols)], path, ids, allow_empty=set(met_cols))
    metrics = metrics.rename(columns=met_cols)
    n_params = _sizes(frame, n_column, path, ids) if n_column else [None] * len(frame)
    tokens = _sizes(frame, tokens_column, path, ids) if tokens_column else [None] * len(frame)
    records = [
        final_record(
            id_prefix + run_id,
            mixtures.loc[run_id].to_dict(),
            metrics.iloc[row],
            tags=tags,
            source=str(path),
            tokens=tokens[row],
            n_params=None if n_params[row] is None else int(n_params[row]),
        )
        for row, run_id in enumerate(ids)
    ]
    return _merge(store, records, source_desc=str(path))


def read_trainer_state(path: str | Path, tokens_per_step: float | None = None) -> list[Evaluation]:
    """The numeric entries of an HF Trainer `trainer_state.json` log_history, as curves.

    Tokens come from `num_input_tokens_seen` when the Trainer logged it, else from
    `tokens_per_step` x step.
    """
    import json

    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        history = state["log_history"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: not a readable trainer_state.json ({error})") from None
    skip = {"step", "epoch", "num_input_tokens_seen", "total_flos", "learning_rate", "grad_norm"}
    out = []
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or "step" not in entry:
            raise InputError(f"{path}: log_history[{i}] has no step")
        step = int(entry["step"])
        tokens = entry.get("num_input_tokens_seen")
        if tokens is None and tokens_per_step:
            tokens = step * tokens_per_step
        for key, value in entry.items():
            if key in skip or key.endswith(("_runtime", "_per_second")):
                continue
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and np.isfinite(value)
            ):
                out.append(Evaluation(step=step, tokens=tokens, metric=key, value=float(value)))
    if not out:
        raise InputError(f"{path}: log_history holds no metric values")
    return out


def read_tensorboard(path: str | Path, tokens_per_step: float | None = None) -> list[Evaluation]:
    """Scalar curves of a TensorBoard log folder (needs the `tensorboard` package)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise InputError(
            f"{path}: reading TensorBoard logs needs the tensorboard package "
            "(pip install tensorboard, the 'tensorboard' extra); or export the scalars as CSV "
            "and use --curves"
        ) from None
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    out = [
        Evaluation(
            step=int(e.step),
            tokens=e.step * tokens_per_step if tokens_per_step else None,
            metric=tag,
            value=float(e.value),
        )
        for tag in acc.Tags().get("scalars", [])
        for e in acc.Scalars(tag)
    ]
    if not out:
        raise InputError(f"{path}: no TensorBoard scalars found")
    return out


def import_logs(
    store: RunStore,
    logs: Sequence[str | Path],
    mixtures_path: str | Path,
    *,
    kind: str,
    id_column: str = "index",
    tags: Sequence[str] = (),
    renormalize: bool = False,
    tokens_per_step: float | None = None,
    id_prefix: str = "",
) -> ImportSummary:
    """Import trainer logs as curves: one run per log, its id the log's folder name.

    `kind` is `trainer_state` (HF Trainer JSON) or `tensorboard` (an event-file folder);
    each run's mixture comes from the mixture table row with the same id.
    """
    from mixlab.runs.tables import read_id_table

    mixtures_path = Path(mixtures_path)
    mixtures = validate_mixtures(
        read_id_table(mixtures_path, id_column), mixtures_path, renormalize=renormalize
    )
    reader = read_trainer_state if kind == "trainer_state" else read_tensorboard
    records = []
    for log in map(Path, logs):
        folder = log.parent if log.is_file() else log
        if folder.name.startswith("checkpoint-"):  # HF Trainer: OUTPUT_DIR/checkpoint-N/
            folder = folder.parent
        run_id = folder.name
        if run_id not in mixtures.index:
            raise InputError(
                f"{log}: run id {run_id!r} (the log's folder name) is not in {mixtures_path}"
            )
        evaluations = reader(log, tokens_per_step)
        seen = [e.tokens for e in evaluations if e.tokens is not None]
        records.append(
            RunRecord(
                id=id_prefix + run_id,
                tags=list(tags),
                mixture=mixtures.loc[run_id].to_dict(),
                evaluations=evaluations,
                tokens=max(seen) if seen else None,
                source=str(log),
            )
        )
    return _merge(store, records, source_desc=", ".join(map(str, logs)))
