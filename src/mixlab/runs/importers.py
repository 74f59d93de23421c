"""Importing runs trained elsewhere: wide tables (RegMix), long curves, Data Mixing Laws logs.

Every importer validates the whole input before writing anything, then writes all its runs in
one transaction. Importing the same data again changes nothing; a run id that already holds a
different mixture is an error (use an id prefix to keep two sources apart).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mixlab.errors import InputError
from mixlab.runs.record import Evaluation, RunRecord
from mixlab.runs.store import RunStore
from mixlab.runs.tables import (
    check_same_ids,
    drop_duplicate_points,
    is_close_mixture,
    read_curves,
    read_id_table,
    validate_mixtures,
)


@dataclass
class ImportSummary:
    """What an import did: runs added, changed, and already present unchanged."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "runs": len(self.added) + len(self.updated) + len(self.unchanged),
        }


def _read_mixtures(path: Path, id_column: str, renormalize: bool) -> pd.DataFrame:
    """A mixture table keyed by `id_column`, every row checked by the one mixture rule."""
    return validate_mixtures(read_id_table(path, id_column), path, renormalize=renormalize)


def final_record(
    run_id: str,
    mixture: dict[str, float],
    values: pd.Series,
    *,
    tags: Sequence[str],
    source: str,
    tokens: float | None = None,
    n_params: int | None = None,
) -> RunRecord:
    """A run known by its final values: one evaluation per metric that has a value."""
    return RunRecord(
        id=run_id,
        tags=list(tags),
        mixture=mixture,
        evaluations=[
            Evaluation(metric=m, value=float(v), tokens=tokens)
            for m, v in values.items()
            if not pd.isna(v)
        ],
        n_params=n_params,
        tokens=tokens,
        source=source,
    )


def import_wide(
    store: RunStore,
    mixtures_path: str | Path,
    metrics_path: str | Path,
    *,
    id_column: str = "index",
    tags: Sequence[str] = (),
    renormalize: bool = False,
    id_prefix: str = "",
) -> ImportSummary:
    """Import a mixture table and a metrics table joined on `id_column` (final values only)."""
    mixtures_path, metrics_path = Path(mixtures_path), Path(metrics_path)
    mixtures = _read_mixtures(mixtures_path, id_column, renormalize)
    metrics = read_id_table(metrics_path, id_column, allow_empty=True)
    check_same_ids(mixtures.index, mixtures_path, metrics.index, metrics_path)
    records = [
        final_record(
            id_prefix + run_id,
            mixtures.loc[run_id].to_dict(),
            metrics.loc[run_id],
            tags=tags,
            source=str(metrics_path),
        )
        for run_id in mixtures.index
    ]
    return _merge(store, records, source_desc=str(mixtures_path))


def import_curves(
    store: RunStore,
    curves_path: str | Path,
    mixtures_path: str | Path,
    *,
    id_column: str = "index",
    tags: Sequence[str] = (),
    renormalize: bool = False,
    id_prefix: str = "",
) -> ImportSummary:
    """Import long-format curves (`run_id, step, tokens, metric, value`) with a mixture table."""
    curves_path, mixtures_path = Path(curves_path), Path(mixtures_path)
    mixtures = _read_mixtures(mixtures_path, id_column, renormalize)
    curves = read_curves(curves_path)
    check_same_ids(mixtures.index, mixtures_path, pd.Index(curves["run_id"].unique()), curves_path)
    by_run = dict(tuple(curves.groupby("run_id", sort=False)))
    records = [
        RunRecord(
            id=id_prefix + run_id,
            tags=list(tags),
            mixture=mixtures.loc[run_id].to_dict(),
            evaluations=_evaluations(by_run[run_id]),
            tokens=_max_tokens(by_run[run_id]),
            source=str(curves_path),
        )
        for run_id in mixtures.index
    ]
    return _merge(store, records, source_desc=str(curves_path))


# The Data Mixing Laws release: `CHECKPOINT_PATH<TAB>VALIDATION_FILE<TAB>LOSS`, with the
# checkpoint path ending in `<size>_<id>-<w1>-...-<wK>/<step>`, or with a tag between size and
# id (`70M_RP_14-...`, the layout of the released RedPajama logs).
_CHECKPOINT = re.compile(
    r"(?:^|/)(?P<run>(?P<size>[0-9.]+[KMBT])_(?:[A-Za-z][A-Za-z0-9]*_)*(?P<id>\d+)"
    r"-(?P<weights>[0-9.eE+\-]+))/(?P<step>\d+)/?$"
)
# Non-embedding parameters of the release's model sizes (Pythia-style configs: 12 * layers *
# width^2), as the authors' own size-law code counts them (pipeline/utils.py, MODEL_SIZES).
MIXINGLAWS_NONEMBED = {
    "70M": 18915328,
    "160M": 85056000,
    "305M": 201541632,
    "410M": 302311424,
    "1B": 805736448,
    "2.8B": 2517652480,
}
_VALIDATION = re.compile(r"valid\.(?P<subset>[^/]+?)\.bin$")
_SIZE_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def import_mixinglaws_logs(
    store: RunStore,
    log_paths: Sequence[str | Path],
    *,
    domains: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    tokens_per_step: float | None = None,
    max_run_id: int | None = None,
    id_prefix: str = "",
    renormalize: bool = False,
) -> ImportSummary:
    """Import Data Mixing Laws logs: one run per checkpoint folder, one curve per validation file.

    The mixture is read from the folder name; `domains` names its weights in order (default
    `domain_1 ... domain_K`, since the release does not say which part of the Pile each is).
    Runs whose id exceeds `max_run_id` are skipped, as the release's own scripts do for 900.
    `renormalize` rescales weights that do not sum to 1 (the released names round them).
    The model size is the name's (`70M`); for the release's own sizes the non-embedding
    count the authors fitted with is recorded as `n_params_nonembed`.
    """
    if not log_paths:
        raise InputError("no Data Mixing Laws log file given")
    rows = []
    for path in map(Path, log_paths):
        rows.extend(_parse_mixinglaws_log(path, max_run_id))
    if not rows:
        why = "" if max_run_id is None else f" with a run id up to {max_run_id} (--max-run-id)"
        raise InputError(f"{', '.join(map(str, log_paths))}: no log lines{why} to import")
    frame = pd.DataFrame(
        rows, columns=["run_id", "size", "weights", "step", "metric", "value", "_line", "_path"]
    )
    frame = pd.concat(
        [
            drop_duplicate_points(part.drop(columns="_path"), path)
            for path, part in frame.groupby("_path", sort=False)
        ],
        ignore_index=True,
    )
    if frame.empty:
        raise InputError(f"{', '.join(map(str, log_paths))}: no runs left to import")
    records = []
    for run_id, part in frame.groupby("run_id", sort=False):
        weights = part["weights"].iloc[0]
        total = sum(weights)
        if renormalize and total > 0:
            weights = tuple(w / total for w in weights)
        names = list(domains) if domains else [f"domain_{i + 1}" for i in range(len(weights))]
        if len(names) != len(weights):
            raise InputError(
                f"run {run_id!r} has {len(weights)} mixture weights but {len(names)} domain "
                f"names were given ({', '.join(names)})"
            )
        size = part["size"].iloc[0]
        part = part.assign(tokens=part["step"] * tokens_per_step if tokens_per_step else None)
        try:
            record = RunRecord(
                id=id_prefix + run_id,
                tags=list(tags),
                mixture=dict(zip(names, weights, strict=False)),
                model={"name": size},
                n_params=int(float(size[:-1]) * _SIZE_UNITS[size[-1]]),
                n_params_nonembed=MIXINGLAWS_NONEMBED.get(size),
                evaluations=_evaluations(part),
                tokens=_max_tokens(part),
                source=",".join(map(str, log_paths)),
            )
        except ValueError as e:
            raise InputError(f"run {run_id!r}: {e}") from e
        records.append(record)
    return _merge(store, records, source_desc=", ".join(map(str, log_paths)))


def _parse_mixinglaws_log(path: Path, max_run_id: int | None) -> list[tuple]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise InputError(
                    f"{path}, line {line_no}: expected 3 tab-separated fields "
                    f"(CHECKPOINT_PATH, VALIDATION_FILE, LOSS), found {len(parts)}"
                )
            ckpt, valid, loss = (p.strip() for p in parts)
            m = _CHECKPOINT.search(ckpt)
            if m is None:
                raise InputError(
                    f"{path}, line {line_no}: checkpoint path {ckpt!r} does not end in "
                    "<size>_<id>-<w1>-...-<wK>/<step>"
                )
            if max_run_id is not None and int(m["id"]) > max_run_id:
                continue
            try:
                weights = tuple(float(w) for w in m["weights"].split("-"))
                value = float(loss)
            except ValueError as e:
                raise InputError(f"{path}, line {line_no}: {e}") from e
            v = _VALIDATION.search(valid)
            metric = v["subset"] if v else Path(valid).stem
            rows.append(
                (m["run"], m["size"], weights, int(m["step"]), metric, value, line_no, str(path))
            )
    return rows


def _evaluations(points: pd.DataFrame) -> list[Evaluation]:
    return [
        Evaluation(step=int(s), tokens=None if pd.isna(t) else float(t), metric=m, value=float(v))
        for s, t, m, v in points[["step", "tokens", "metric", "value"]].itertuples(index=False)
    ]


def _max_tokens(points: pd.DataFrame) -> float | None:
    tokens = pd.to_numeric(points["tokens"], errors="coerce")
    return None if tokens.isna().all() else float(tokens.max())


def _merge(store: RunStore, records: list[RunRecord], *, source_desc: str) -> ImportSummary:
    """Write `records`, keeping what the store knows of runs that are already there.

    A stored run keeps its tags (the new ones are added) and its model details; its
    evaluations are replaced by the imported ones. A stored run with a different mixture is
    a conflict: nothing is written. The check runs inside the write transaction, so of two
    conflicting imports at once exactly one lands and the other is refused.
    """
    summary = ImportSummary()
    with store.transaction():  # the conflict check and the write see the same store
        existing = {r.id: r for r in store.get_many([r.id for r in records if r.id in store])}
        to_write = []
        for new in records:
            old = existing.get(new.id)
            if old is None:
                summary.added.append(new.id)
                to_write.append(new)
                continue
            if not is_close_mixture(old.mixture, new.mixture):
                raise InputError(
                    f"{source_desc}: run id {new.id!r} is already in {store.path} with a different "
                    "mixture; pass --id-prefix to import these runs under other ids"
                )
            merged = old.model_copy(
                update={
                    "tags": list(dict.fromkeys(old.tags + new.tags)),
                    "evaluations": new.evaluations,
                    "tokens": new.tokens if new.tokens is not None else old.tokens,
                    "n_params": new.n_params if new.n_params is not None else old.n_params,
                    "n_params_nonembed": (
                        new.n_params_nonembed
                        if new.n_params_nonembed is not None
                        else old.n_params_nonembed
                    ),
                    "model": new.model or old.model,
                    "source": new.source,
                }
            )
            if merged == old:
                summary.unchanged.append(new.id)
            else:
                summary.updated.append(new.id)
                to_write.append(merged)
        store.put_many(to_write)
        return summary
