"""The store's promises (issue 21): read-only commands write nothing, foreign files are refused
untouched, a full disk says so, done runs are never replaced by accident, conflicting imports
at once let exactly one land, leases hand a run to one sweep process at a time."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sqlite3
import time

import pytest

from mixlab.cli import main
from mixlab.errors import InputError
from mixlab.runs import Evaluation, RunRecord, RunStore
from mixlab.runs import store as store_mod


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_db(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()


READ_COMMANDS = [
    ("runs", "list"),
    ("runs", "show", "r1"),
    ("runs", "export", "--mixtures", "{tmp}/m.csv", "--metrics", "{tmp}/x.csv"),
    ("law", "fit", "--store", "{store}", "--out", "{tmp}/law.json"),
    (
        "scaling",
        "nested",
        "--store",
        "{store}",
        "--target-steps",
        "1000",
        "--target-size",
        "1e9",
        "--out",
        "{tmp}/n.json",
        "--metric",
        "loss",
    ),
    ("report", "--out", "{tmp}/r.html"),
]


def _argv(cmd, store, tmp):
    argv = [a.format(tmp=tmp, store=store) for a in cmd]
    if "--store" not in argv:
        argv += ["--store", str(store)]
    return argv


@pytest.mark.parametrize("cmd", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_only_commands_refuse_a_foreign_db_without_writing(tmp_path, capsys, cmd):
    db = tmp_path / "other-app.db"
    foreign_db(db)
    before = digest(db)
    code, _, err = run_cli(capsys, *_argv(cmd, db, tmp_path))
    assert code == 2, err
    assert "other-app.db" in err and "not a mixlab run store" in err
    assert digest(db) == before
    assert not (tmp_path / "other-app.db-wal").exists()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


def test_a_zero_byte_file_is_not_made_a_store_by_reading(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = run_cli(capsys, "runs", "list", "--store", empty)
    assert code == 2 and "empty.db" in err and "not a mixlab run store" in err
    assert empty.stat().st_size == 0


def test_writing_commands_refuse_a_foreign_db_too(tmp_path):
    db = tmp_path / "other-app.db"
    foreign_db(db)
    before = digest(db)
    with pytest.raises(InputError, match="another program's tables"):
        RunStore(db)
    assert digest(db) == before


def test_reading_writes_nothing_to_a_store(tmp_path, capsys):
    path = tmp_path / "s.db"
    with RunStore(path) as s:
        s.put(RunRecord(id="r1", mixture={"a": 1.0}, evaluations=[Evaluation(metric="l", value=1)]))
    before = digest(path)
    code, out, err = run_cli(capsys, "runs", "list", "--store", path)
    assert code == 0, err
    assert digest(path) == before
    with RunStore(path, create=False) as s, pytest.raises(InputError, match="readonly"):
        s.put(RunRecord(id="r2", mixture={"a": 1.0}))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_store_in_a_read_only_folder_can_be_read(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    with RunStore(folder / "s.db") as s:
        s.put(RunRecord(id="r1", mixture={"a": 1.0}))
    os.chmod(folder / "s.db", 0o444)
    os.chmod(folder, 0o555)
    try:
        code, out, err = run_cli(capsys, "--json", "runs", "list", "--store", folder / "s.db")
    finally:
        os.chmod(folder, 0o755)
    assert code == 0, err
    assert '"r1"' in out


def test_a_full_disk_is_reported_as_such(tmp_path):
    path = tmp_path / "s.db"
    with RunStore(path) as s:
        s._conn.execute("PRAGMA max_page_count = 30")  # a disk that fills after 30 pages
        big = [Evaluation(step=i, metric=f"metric/{i}", value=float(i)) for i in range(3000)]
        with pytest.raises(InputError) as err:
            s.put(RunRecord(id="big", mixture={"a": 1.0}, evaluations=big))
        assert "database or disk is full" in str(err.value) and str(path) in str(err.value)
        assert "cannot rollback" not in str(err.value)
        assert "big" not in s  # nothing half-written; the store still works
        s.put(RunRecord(id="small", mixture={"a": 1.0}))
        assert s.ids() == ["small"]


def test_a_done_run_is_not_replaced_unless_asked(store):
    store.put(RunRecord(id="r", mixture={"a": 1.0}, evaluations=[Evaluation(metric="l", value=1)]))
    failed = RunRecord(id="r", mixture={"a": 1.0}, status="failed", error="boom")
    with pytest.raises(InputError, match="already done"):
        store.put(failed, replace_done=False)
    assert store.get("r").status == "done" and len(store.get("r").evaluations) == 1


def test_curve_steps_beyond_2_63_are_refused_naming_the_row(tmp_path, capsys):
    (tmp_path / "mix.csv").write_text("index,web\nA,1.0\n")
    for step in ("1e30", "9.3e18", "9300000000000000000"):
        (tmp_path / "c.csv").write_text(
            f"run_id,step,tokens,metric,value\nA,1,,loss,3.0\nA,{step},,loss,2.0\n"
        )
        code, _, err = run_cli(
            capsys, "runs", "import", "--mixtures", tmp_path / "mix.csv",
            "--curves", tmp_path / "c.csv", "--store", tmp_path / "s.db",
        )  # fmt: skip
        assert code == 2, err
        assert "c.csv" in err and "line 3" in err and "'step'" in err
    with RunStore(tmp_path / "s.db", create=False) as s:
        assert len(s) == 0
    with pytest.raises(ValueError, match="step"):
        Evaluation(step=2**63, metric="loss", value=1.0)


# -- two conflicting imports at once -------------------------------------------------------
def _import(path: str, mixtures: str, metrics: str, barrier, results) -> None:
    original = RunStore.get_many

    def slow(self, ids):  # widen the window between the conflict check and the write
        got = original(self, ids)
        time.sleep(0.5)
        return got

    RunStore.get_many = slow
    barrier.wait()
    results.put(main(["--quiet", "runs", "import", "--mixtures", mixtures, "--metrics", metrics,
                      "--store", path]))  # fmt: skip


def test_concurrent_conflicting_imports_one_wins_the_other_exits_2(tmp_path):
    path = tmp_path / "s.db"
    RunStore(path).close()
    files = []
    for name, w in (("a", 0.25), ("b", 0.75)):
        (tmp_path / f"{name}-mix.csv").write_text(
            "index,web,code\n" + "".join(f"{i},{w},{1 - w}\n" for i in range(50))
        )
        (tmp_path / f"{name}-met.csv").write_text(
            "index,loss\n" + "".join(f"{i},{w + 2}\n" for i in range(50))
        )
        files.append((str(tmp_path / f"{name}-mix.csv"), str(tmp_path / f"{name}-met.csv")))
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_import, args=(str(path), *f, barrier, results)) for f in files]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    codes = sorted(results.get(timeout=5) for _ in procs)
    assert codes == [0, 2]
    with RunStore(path, create=False) as s:
        mixtures = s.mixtures()
    assert len(mixtures) == 50
    assert mixtures["web"].nunique() == 1  # all of one import, none of the other


# -- leases ------------------------------------------------------------------------------------
def test_leases_hand_a_run_to_one_process_and_stale_ones_are_taken_over(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    with RunStore(path) as s:
        assert s.claim("r", ttl_s=60) == "claimed"
        assert s.claim("r", ttl_s=60) == "claimed"  # the owner may renew by claiming again
    # another live process on this host holds it
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), "h", ready, release))
    holder.start()
    assert ready.wait(30)
    with RunStore(path) as s:
        assert s.claim("h", ttl_s=60) == "held"
    release.set()
    holder.join(30)  # the holder exits without releasing: its pid is gone, the lease is stale
    with RunStore(path) as s:
        assert s.claim("h", ttl_s=60) == "claimed"
        # a lease of another host is held until it expires
        s._conn.execute(
            "INSERT OR REPLACE INTO leases VALUES ('x', 'elsewhere', 1, ?)", (time.time() + 60,)
        )
        assert s.claim("x", ttl_s=60) == "held"
        s._conn.execute("UPDATE leases SET expires_at = ? WHERE run_id = 'x'", (time.time() - 1,))
        assert s.claim("x", ttl_s=60) == "claimed"
        s.put(RunRecord(id="d", mixture={"a": 1.0}))
        assert s.claim("d", ttl_s=60) == "done"


def _hold(path, run_id, ready, release) -> None:
    with RunStore(path) as s:
        s.claim(run_id, ttl_s=60)
    ready.set()
    release.wait(30)


def test_a_worker_process_may_not_open_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv(store_mod.NO_STORE_ENV, "1")
    with pytest.raises(RuntimeError, match="may not open the run store"):
        RunStore(tmp_path / "s.db")
    assert not (tmp_path / "s.db").exists()
