"""The run store's SQLite schema as an ordered list of migrations.

The schema version lives in `PRAGMA user_version`. Migration i (1-based) takes a store from
version i-1 to i; a new schema is a new entry at the end, never an edit of an old one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: runs, their tags, mixtures and evaluations.
    """
    CREATE TABLE runs (
        id                TEXT PRIMARY KEY,
        status            TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        error             TEXT,
        model             TEXT NOT NULL,
        n_params          INTEGER,
        n_params_nonembed INTEGER,
        tokens            REAL,
        flops             REAL,
        seed              INTEGER,
        schedule          TEXT,
        host              TEXT,
        versions          TEXT NOT NULL,
        wall_time         REAL,
        source            TEXT,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        tag    TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
    );
    CREATE INDEX tags_by_tag ON tags(tag);
    CREATE TABLE mixtures (
        run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        domain   TEXT NOT NULL,
        weight   REAL NOT NULL CHECK (weight >= 0),
        PRIMARY KEY (run_id, domain)
    );
    CREATE TABLE evaluations (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step   INTEGER,
        tokens REAL,
        metric TEXT NOT NULL,
        value  REAL NOT NULL
    );
    CREATE INDEX evaluations_by_run ON evaluations(run_id, metric, step);
    """,
    # 2: leases: the sweep process (host, pid) training a run, until its lease expires.
    """
    CREATE TABLE leases (
        run_id     TEXT PRIMARY KEY,
        host       TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
]


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, migrations: list[str] | None = None) -> int:
    """Apply the pending migrations in one transaction; return the version reached.

    Raises RuntimeError if the store was written by a newer mixlab (a higher version).
    """
    migrations = MIGRATIONS if migrations is None else migrations
    target = len(migrations)
    if current_version(conn) == target:
        return target
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)  # re-read under the lock: another process may have migrated
        if version > target:
            raise RuntimeError(
                f"store schema version {version} is newer than this mixlab understands ({target}); "
                "upgrade mixlab"
            )
        for i in range(version, target):
            for statement in _statements(migrations[i]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return target


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit mid-transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]
