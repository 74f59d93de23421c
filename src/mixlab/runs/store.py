"""The SQLite run store: every run, its mixture, model, provenance and evaluations.

One file, WAL mode, every write in one `BEGIN IMMEDIATE` transaction, so several processes
(a sweep's workers) may write at once and a killed writer never leaves a run half-written.
Readers get plain pandas frames shaped for the laws.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mixlab.errors import InputError
from mixlab.runs.frames import StoreFrames
from mixlab.runs.record import Evaluation, RunRecord, Status
from mixlab.runs.schema import MIGRATIONS, current_version, migrate

DEFAULT_STORE = "mixlab.db"
STORE_ENV = "MIXLAB_STORE"
NO_STORE_ENV = "MIXLAB_NO_STORE"
BUSY_TIMEOUT_S = 120.0


class DoneRunError(InputError):
    """A write would have replaced a run recorded as done (refused; nothing written)."""


def default_store_path() -> Path:
    """`$MIXLAB_STORE` if set, else ./mixlab.db."""
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class RunStore(StoreFrames):
    """A run store at `path`. Open one per process; use as a context manager to close it.

    `create=False` opens the store read-only (SQLite `mode=ro`): for commands that only read.
    Such an open never creates a file, a table or a journal, refuses a file that is not a
    mixlab store without touching it, and works in a folder the user may not write to.
    A process with `$MIXLAB_NO_STORE` set (a sweep worker) may not open a store at all: only
    the sweep's driver writes, because SQLite's locks are not safe across machines.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_store_path()
        self.readonly = not create
        self._depth = 0
        if os.environ.get(NO_STORE_ENV):
            raise RuntimeError(
                f"{self.path}: this process may not open the run store "
                f"(${NO_STORE_ENV} is set: sweep workers send their results to the driver)"
            )
        if not create and not self.path.exists():
            raise InputError(f"{self.path}: no run store here (import or train runs first)")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, not a run store file")
        try:
            if self.readonly:
                self._conn = self._open_readonly()
            else:
                self._conn = self._open_writable()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.path}: not a mixlab run store ({e})") from None
        except RuntimeError as e:
            raise InputError(f"{self.path}: {e}") from None

    def _open_writable(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _refuse_foreign(conn, self.path)  # before anything writes (WAL mode, tables)
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise InputError(f"{self.path}: the store's file system does not support WAL mode")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        conn = None
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            # immutable: a WAL store in a folder we cannot write (no -shm can be made there)
            conn = sqlite3.connect(
                uri + query, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
            try:
                version = current_version(conn)
                break
            except sqlite3.OperationalError:
                conn.close()
                if query.endswith("immutable=1") or os.access(self.path.parent, os.W_OK):
                    raise
        if version == 0 or version > len(MIGRATIONS):
            conn.close()
            if version == 0:
                raise InputError(f"{self.path}: not a mixlab run store (no mixlab tables)")
            raise InputError(
                f"{self.path}: store schema version {version} is newer than this mixlab "
                f"understands ({len(MIGRATIONS)}); upgrade mixlab"
            )
        conn.execute("PRAGMA query_only = ON")
        return conn

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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` write transaction; nested uses join the outer one.

        Reads made inside it see the store as the write will find it (no other writer can
        slip in between a check and the write that depends on it).
        """
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _write_error(self.path, e) from None
        self._depth = 1
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as e:
            # SQLite has already rolled back after some errors (a full disk): do not hide them
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                raise _write_error(self.path, e) from None
            raise
        finally:
            self._depth = 0

    _transaction = transaction

    # -- writes ----------------------------------------------------------------------------
    def put(self, record: RunRecord, *, replace_done: bool = True) -> None:
        """Insert or replace one run (its tags, mixture and evaluations with it)."""
        self.put_many([record], replace_done=replace_done)

    def put_many(self, records: Iterable[RunRecord], *, replace_done: bool = True) -> None:
        """Insert or replace many runs in a single transaction: all land or none.

        `replace_done=False` refuses (InputError, nothing written) to replace a run that is
        recorded as done: the check and the write are one transaction.
        """
        now = _now()
        with self._transaction() as c:
            for r in records:
                if not replace_done:
                    row = c.execute("SELECT status FROM runs WHERE id = ?", (r.id,)).fetchone()
                    if row is not None and row[0] == "done":
                        raise DoneRunError(
                            f"{self.path}: run {r.id!r} is already done; it is never replaced "
                            "(delete it first, or train with --force)"
                        )
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

    # -- leases: which sweep process is training which run ------------------------------
    def claim(self, run_id: str, ttl_s: float) -> str:
        """Claim a run for this process: "claimed", "done" (nothing to do) or "held".

        A run is held while another process's lease on it lives. A lease is stale, and is
        taken over, when it expired (its owner stopped renewing it) or when its owner was a
        process on this host that no longer exists (killed).
        """
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self._transaction() as c:
            row = c.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None and row[0] == "done":
                return "done"
            lease = c.execute(
                "SELECT host, pid, expires_at FROM leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            if lease is not None and (lease[0], lease[1]) != (host, pid) and lease[2] > now:
                if lease[0] != host or _alive(lease[1]):
                    return "held"
            c.execute(
                "INSERT OR REPLACE INTO leases (run_id, host, pid, expires_at) VALUES (?, ?, ?, ?)",
                (run_id, host, pid, now + ttl_s),
            )
            return "claimed"

    def renew(self, run_ids: Iterable[str], ttl_s: float) -> None:
        """Extend this process's leases on `run_ids` (a heartbeat)."""
        host, pid, until = socket.gethostname(), os.getpid(), time.time() + ttl_s
        with self._transaction() as c:
            c.executemany(
                "UPDATE leases SET expires_at = ? WHERE run_id = ? AND host = ? AND pid = ?",
                [(until, i, host, pid) for i in run_ids],
            )

    def failed_since(self, run_id: str, since: str) -> str | None:
        """The error of a run recorded as failed at or after `since` (a `now()`), else None."""
        row = self._conn.execute(
            "SELECT error FROM runs WHERE id = ? AND status = 'failed' AND updated_at >= ?",
            (run_id, since),
        ).fetchone()
        return None if row is None else (row[0] or "failed")

    @staticmethod
    def now() -> str:
        """The store's timestamp of this moment (what `updated_at` holds)."""
        return _now()

    def release(self, run_ids: Iterable[str]) -> None:
        """Give up this process's leases on `run_ids`."""
        host, pid = socket.gethostname(), os.getpid()
        with self._transaction() as c:
            c.executemany(
                "DELETE FROM leases WHERE run_id = ? AND host = ? AND pid = ?",
                [(i, host, pid) for i in run_ids],
            )

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

    # -- helpers ---------------------------------------------------------------------------
    def _require(self, run_id: str) -> None:
        if run_id not in self:
            raise InputError(f"{self.path}: no run with id {run_id!r}")


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, without writing to it, an SQLite file that another program made."""
    if current_version(conn) != 0:
        return
    tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if tables:
        raise InputError(
            f"{path}: not a mixlab run store: it holds another program's tables ({', '.join(tables[:5])}); "
            "give mixlab a store file of its own"
        )


def _write_error(path: Path, error: sqlite3.OperationalError) -> Exception:
    """A clear error for a write the store could not make (full disk, read-only file)."""
    text = str(error)
    if "full" in text:
        return InputError(f"{path}: cannot write the run store: database or disk is full ({text})")
    if "readonly" in text or "read-only" in text:
        return InputError(f"{path}: cannot write the run store: {text}")
    return error


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _is_damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite reports a corrupt file (not a busy, full or read-only one)."""
    name = getattr(exc, "sqlite_errorname", "")
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc)
