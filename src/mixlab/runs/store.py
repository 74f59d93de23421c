"""The SQLite run store: every run, its mixture, model, provenance and evaluations.

One file, WAL mode, every write in one `BEGIN IMMEDIATE` transaction, so several processes
(a sweep's workers) may write at once and a killed writer never leaves a run half-written.
Readers get plain pandas frames shaped for the laws.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.runs.record import Evaluation, RunRecord, Status
from mixlab.runs.schema import migrate

DEFAULT_STORE = "mixlab.db"
STORE_ENV = "MIXLAB_STORE"
BUSY_TIMEOUT_S = 120.0


def default_store_path() -> Path:
    """`$MIXLAB_STORE` if set, else ./mixlab.db."""
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class RunStore:
    """A run store at `path`. Open one per process; use as a context manager to close it.

    `create=False` refuses to make a new file (for commands that only read).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_store_path()
        if not create and not self.path.exists():
            raise InputError(f"{self.path}: no run store here (import or train runs first)")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, not a run store file")
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise InputError(f"{self.path}: the store's file system does not support WAL mode")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self._conn)
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.path}: not a mixlab run store ({e})") from e
        except RuntimeError as e:
            raise InputError(f"{self.path}: {e}") from e

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if isinstance(exc, sqlite3.DatabaseError) and _is_damaged(exc):
            raise InputError(
                f"{self.path}: the run store is damaged ({exc}); restore it from a copy "
                f"(`sqlite3 {self.path} 'PRAGMA integrity_check'` shows where)"
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- writes ----------------------------------------------------------------------------
    def put(self, record: RunRecord) -> None:
        """Insert or replace one run (its tags, mixture and evaluations with it)."""
        self.put_many([record])

    def put_many(self, records: Iterable[RunRecord]) -> None:
        """Insert or replace many runs in a single transaction: all land or none."""
        now = _now()
        with self._transaction() as c:
            for r in records:
                c.execute(
                    """INSERT INTO runs (id, status, error, model, n_params, n_params_nonembed,
                           tokens, flops, seed, schedule, host, versions, wall_time, source,
                           created_at, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET
                           status=excluded.status, error=excluded.error, model=excluded.model,
                           n_params=excluded.n_params, n_params_nonembed=excluded.n_params_nonembed,
                           tokens=excluded.tokens, flops=excluded.flops, seed=excluded.seed,
                           schedule=excluded.schedule, host=excluded.host,
                           versions=excluded.versions, wall_time=excluded.wall_time,
                           source=excluded.source, updated_at=excluded.updated_at""",
                    (
                        r.id,
                        r.status,
                        r.error,
                        json.dumps(r.model),
                        r.n_params,
                        r.n_params_nonembed,
                        r.tokens,
                        r.flops,
                        r.seed,
                        None if r.schedule is None else json.dumps(r.schedule),
                        r.host,
                        json.dumps(r.versions),
                        r.wall_time,
                        r.source,
                        now,
                        now,
                    ),
                )
                for table in ("tags", "mixtures", "evaluations"):
                    c.execute(f"DELETE FROM {table} WHERE run_id = ?", (r.id,))
                c.executemany(
                    "INSERT INTO tags (run_id, tag) VALUES (?, ?)", [(r.id, t) for t in r.tags]
                )
                c.executemany(
                    "INSERT INTO mixtures (run_id, position, domain, weight) VALUES (?, ?, ?, ?)",
                    [(r.id, i, d, w) for i, (d, w) in enumerate(r.mixture.items())],
                )
                c.executemany(
                    "INSERT INTO evaluations (run_id, step, tokens, metric, value) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(r.id, e.step, e.tokens, e.metric, e.value) for e in r.evaluations],
                )

    def add_evaluations(self, run_id: str, evaluations: Sequence[Evaluation]) -> None:
        """Append evaluations to a stored run (a trainer logging as it goes)."""
        with self._transaction() as c:
            self._require(run_id)
            c.executemany(
                "INSERT INTO evaluations (run_id, step, tokens, metric, value) "
                "VALUES (?, ?, ?, ?, ?)",
                [(run_id, e.step, e.tokens, e.metric, e.value) for e in evaluations],
            )
            c.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (_now(), run_id))

    def set_status(
        self,
        run_id: str,
        status: Status,
        *,
        error: str | None = None,
        tokens: float | None = None,
        wall_time: float | None = None,
    ) -> None:
        """Mark a run running, done or failed (with its error), updating its budget and time."""
        with self._transaction() as c:
            self._require(run_id)
            c.execute(
                """UPDATE runs SET status = ?, error = ?, tokens = COALESCE(?, tokens),
                       wall_time = COALESCE(?, wall_time), updated_at = ? WHERE id = ?""",
                (status, error, tokens, wall_time, _now(), run_id),
            )

    def delete(self, run_ids: Iterable[str]) -> int:
        """Delete runs (and everything recorded for them); return how many existed."""
        with self._transaction() as c:
            return sum(c.execute("DELETE FROM runs WHERE id = ?", (i,)).rowcount for i in run_ids)

    # -- reads -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def __contains__(self, run_id: object) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
        )

    def ids(self, tag: str | None = None, status: Status | None = None) -> list[str]:
        """Run ids in insertion order, optionally only those with a tag and/or a status."""
        sql, args = "SELECT id FROM runs", []
        where = []
        if tag is not None:
            where.append("id IN (SELECT run_id FROM tags WHERE tag = ?)")
            args.append(tag)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [row[0] for row in self._conn.execute(sql + " ORDER BY rowid", args)]

    def get(self, run_id: str) -> RunRecord:
        """The full record of one run; InputError if there is none with that id."""
        return self.get_many([run_id])[0]

    def get_many(self, run_ids: Sequence[str]) -> list[RunRecord]:
        records = []
        for run_id in run_ids:
            row = self._conn.execute(
                """SELECT id, status, error, model, n_params, n_params_nonembed, tokens, flops,
                          seed, schedule, host, versions, wall_time, source
                   FROM runs WHERE id = ?""",
                (run_id,),
            ).fetchone()
            if row is None:
                raise InputError(f"{self.path}: no run with id {run_id!r}")
            tags = [
                t
                for (t,) in self._conn.execute(
                    "SELECT tag FROM tags WHERE run_id = ? ORDER BY rowid", (run_id,)
                )
            ]
            mixture = dict(
                self._conn.execute(
                    "SELECT domain, weight FROM mixtures WHERE run_id = ? ORDER BY position",
                    (run_id,),
                )
            )
            evals = [
                Evaluation(step=s, tokens=t, metric=m, value=v)
                for s, t, m, v in self._conn.execute(
                    "SELECT step, tokens, metric, value FROM evaluations WHERE run_id = ? "
                    "ORDER BY rowid",
                    (run_id,),
                )
            ]
            records.append(
                RunRecord.model_construct(
                    id=row[0],
                    status=row[1],
                    error=row[2],
                    model=json.loads(row[3]),
                    n_params=row[4],
                    n_params_nonembed=row[5],
                    tokens=row[6],
                    flops=row[7],
                    seed=row[8],
                    schedule=None if row[9] is None else json.loads(row[9]),
                    host=row[10],
                    versions=json.loads(row[11]),
                    wall_time=row[12],
                    source=row[13],
                    tags=tags,
                    mixture=mixture,
                    evaluations=evals,
                )
            )
        return records

    def summary(self, tag: str | None = None, status: Status | None = None) -> pd.DataFrame:
        """One row per run: id, status, tags, domains, metrics, evaluations, tokens, params."""
        ids = self.ids(tag, status)
        rows = self._conn.execute(
            """SELECT r.id, r.status, r.tokens, r.n_params, r.source, r.updated_at,
                      (SELECT group_concat(tag, ',') FROM tags WHERE run_id = r.id),
                      (SELECT COUNT(*) FROM mixtures WHERE run_id = r.id),
                      (SELECT COUNT(DISTINCT metric) FROM evaluations WHERE run_id = r.id),
                      (SELECT COUNT(*) FROM evaluations WHERE run_id = r.id)
               FROM runs r ORDER BY r.rowid"""
        ).fetchall()
        frame = pd.DataFrame(
            rows,
            columns=[
                "id",
                "status",
                "tokens",
                "n_params",
                "source",
                "updated_at",
                "tags",
                "n_domains",
                "n_metrics",
                "n_evaluations",
            ],
        )
        frame["tags"] = frame["tags"].fillna("")
        return frame[frame["id"].isin(set(ids))].reset_index(drop=True)

    def mixtures(self, ids: Sequence[str] | None = None, *, tag: str | None = None) -> pd.DataFrame:
        """Mixture matrix: index = run id, one column per domain (first-seen order), 0 if absent."""
        ids = self._select(ids, tag)
        long = self._long("SELECT run_id, position, domain, weight FROM mixtures", ids)
        order = _first_seen(long.sort_values(["_run_order", "position"])["domain"])
        wide = long.pivot(index="run_id", columns="domain", values="weight")
        return (
            wide.reindex(index=ids, columns=order).fillna(0.0).rename_axis(index="id", columns=None)
        )

    def metrics(
        self,
        ids: Sequence[str] | None = None,
        *,
        tag: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Metric matrix of final values: index = run id, one column per metric, NaN if absent.

        A run's final value of a metric is its step-less value if it has one, else the value
        at its highest step.
        """
        ids = self._select(ids, tag)
        long = self._long("SELECT run_id, step, metric, value, rowid AS _row FROM evaluations", ids)
        order = _first_seen(long.sort_values(["_run_order", "_row"])["metric"])
        last = (
            long.assign(_final=long["step"].isna(), _step=long["step"].fillna(-1))
            .sort_values(["run_id", "metric", "_final", "_step"])
            .groupby(["run_id", "metric"], sort=False)["value"]
            .last()
            .unstack("metric")
        )
        wanted = order if metrics is None else list(metrics)
        unknown = [m for m in wanted if m not in order]
        if unknown:
            raise InputError(f"{self.path}: no run has metric(s) {', '.join(map(repr, unknown))}")
        return last.reindex(index=ids, columns=wanted).rename_axis(index="id", columns=None)

    def curves(
        self,
        ids: Sequence[str] | None = None,
        *,
        tag: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Loss curves, long: columns run_id, step, tokens, metric, value (stepped points only)."""
        ids = self._select(ids, tag)
        long = self._long(
            "SELECT run_id, step, tokens, metric, value FROM evaluations WHERE step IS NOT NULL",
            ids,
        )
        if metrics is not None:
            long = long[long["metric"].isin(set(metrics))]
        long = long.sort_values(["_run_order", "metric", "step"], kind="stable")
        return long.drop(columns="_run_order").reset_index(drop=True)

    def curve(self, run_id: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run's curve of one metric as arrays (steps, tokens, values), in step order."""
        rows = self._conn.execute(
            "SELECT step, tokens, value FROM evaluations WHERE run_id = ? AND metric = ? "
            "AND step IS NOT NULL ORDER BY step",
            (run_id, metric),
        ).fetchall()
        if not rows:
            self._require(run_id)
            raise InputError(f"{self.path}: run {run_id!r} has no curve of metric {metric!r}")
        steps, tokens, values = zip(*rows, strict=False)
        return (
            np.asarray(steps, dtype=np.int64),
            np.asarray(tokens, dtype=float),
            np.asarray(values, dtype=float),
        )

    # -- helpers ---------------------------------------------------------------------------
    def _require(self, run_id: str) -> None:
        if run_id not in self:
            raise InputError(f"{self.path}: no run with id {run_id!r}")

    def _select(self, ids: Sequence[str] | None, tag: str | None) -> list[str]:
        if ids is None:
            return self.ids(tag)
        missing = [i for i in ids if i not in self]
        if missing:
            raise InputError(f"{self.path}: no run with id {missing[0]!r}")
        if tag is not None:
            tagged = set(self.ids(tag))
            ids = [i for i in ids if i in tagged]
        return list(ids)

    def _long(self, sql: str, ids: list[str]) -> pd.DataFrame:
        """Run `sql` and keep the rows of `ids`, with each run's position in `ids`."""
        frame = pd.read_sql_query(sql, self._conn)
        order = {run_id: i for i, run_id in enumerate(ids)}
        frame["_run_order"] = frame["run_id"].map(order)
        return frame[frame["_run_order"].notna()]


def _first_seen(values: pd.Series) -> list[str]:
    return list(dict.fromkeys(values))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite reports a corrupt file (not a busy, full or read-only one)."""
    name = getattr(exc, "sqlite_errorname", "")
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc)
