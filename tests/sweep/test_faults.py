"""Sweeps under faults (issue 21): killed again and again, run twice at once, a worker killed,
duplicate runs, an unreachable Ray cluster, SIGTERM. Every run is trained exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import yaml

from mixlab.cli import main
from mixlab.data.prepare import prepare
from mixlab.runs import RunStore
from mixlab.sweep import execute
from mixlab.sweep.backends import LocalBackend
from mixlab.sweep.plan import load_sweep_config, make_plan, save_plan

BASE = {
    "data": "prepared",
    "seq_len": 32,
    "batch_size": 8,
    "optimizer": {"lr": 0.01},
    "eval": {"every": 10, "max_sequences": 2},
}
MIXTURES = {
    "kind": "list",
    "include_prior": False,
    "mixtures": [{"web": 1.0}, {"code": 1.0}, {"web": 0.5, "code": 0.5}, {"web": 0.2, "code": 0.8}],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    for name, unit in (("web", "the cat sat on the mat. "), ("code", "def f(x): return x\n")):
        (root / name).mkdir()
        for i in range(8):
            (root / name / f"{i}.txt").write_text(unit * (40 + i))
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {web: [web], code: [code]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def plan(root, name, tokens=6_000, seeds=(0,), mixtures=MIXTURES):
    cfg = {"base": BASE, "mixtures": mixtures, "models": ["25k"], "tokens": [tokens],
           "seeds": list(seeds)}  # fmt: skip
    (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    sweep, base = load_sweep_config(root / f"{name}.yaml")
    runs = make_plan(sweep, base)
    save_plan(runs, root / f"{name}.json", sweep)
    return runs


def sweep_cmd(root, name, store, workers=1):
    return [sys.executable, "-m", "mixlab", "--json", "sweep", "run", str(root / f"{name}.json"),
            "--store", str(store), "--workers", str(workers)]  # fmt: skip


def done_stamps(store_path) -> dict[str, str]:
    if not store_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, updated_at FROM runs WHERE status = 'done'").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        rows = []
    conn.close()
    return dict(rows)


def assert_each_point_once(store_path) -> None:
    conn = sqlite3.connect(store_path)
    dup = conn.execute(
        "SELECT run_id, metric, step, COUNT(*) FROM evaluations "
        "GROUP BY run_id, metric, step HAVING COUNT(*) > 1"
    ).fetchall()
    conn.close()
    assert dup == []


def test_a_sweep_killed_five_times_finishes_every_run_exactly_once(workdir):
    runs = plan(workdir, "kill", tokens=12_000)
    store = workdir / "kill.db"
    rng = random.Random(21)
    seen: dict[str, str] = {}
    for _ in range(5):
        proc = subprocess.Popen(sweep_cmd(workdir, "kill", store), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        time.sleep(rng.uniform(1.5, 5.0))
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must die with it
        proc.wait()
        now = done_stamps(store)
        assert all(now[i] == stamp for i, stamp in seen.items())  # done runs are never redone
        seen = now
    final = subprocess.run(sweep_cmd(workdir, "kill", store), capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert final.returncode == 0, final.stderr
    result = json.loads(final.stdout)
    assert result["done"] + result["skipped"] == len(runs) and result["skipped"] == len(seen)
    stamps = done_stamps(store)
    assert sorted(stamps) == sorted(r.id for r in runs)
    assert all(stamps[i] == s for i, s in seen.items())
    assert_each_point_once(store)


def test_two_sweep_processes_on_one_plan_train_each_run_once(workdir):
    runs = plan(workdir, "two", tokens=8_000, seeds=(1,))
    store = workdir / "two.db"
    RunStore(store).close()
    procs = [
        subprocess.Popen(
            sweep_cmd(workdir, "two", store),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    results = [json.loads(o[0]) for o in outs]
    assert sum(r["done"] for r in results) == len(runs)  # each run trained by exactly one
    assert sorted(done_stamps(store)) == sorted(r.id for r in runs)
    assert_each_point_once(store)
    with RunStore(store, create=False) as s:
        assert s._conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_a_killed_worker_fails_its_run_not_the_sweep(workdir):
    runs = plan(workdir, "worker", tokens=12_000, seeds=(2,))[:3]
    store = workdir / "worker.db"
    backend = LocalBackend(2)
    status = execute.SweepStatus(total=len(runs), workers=2)
    thread = threading.Thread(
        target=execute._drive, args=(runs, store, backend, status, None), daemon=True
    )
    thread.start()
    deadline = time.time() + 60
    while time.time() < deadline and not (backend._slots and backend._slots[0].run_id):
        time.sleep(0.1)
    victim = backend._slots[0]
    time.sleep(1.0)  # importing torch or training: either way, mid-run
    victim_run = victim.run_id
    os.kill(victim.proc.pid, signal.SIGKILL)
    thread.join(300)
    assert not thread.is_alive()
    assert (status.done, status.failed) == (2, 1)
    assert "worker process died" in status.errors[victim_run]
    with RunStore(store) as s:
        assert s.get(victim_run).status == "failed"
    again = execute.run_local(runs, store, workers=1)  # a re-run retries it
    assert (again.skipped, again.done, again.failed) == (2, 1, 0)


def test_duplicate_runs_are_refused_at_plan_and_at_run(workdir, capsys):
    cfg = {"base": BASE, "mixtures": MIXTURES, "models": ["25k"], "tokens": [4000],
           "seeds": [0, 0]}  # fmt: skip
    (workdir / "dup.yaml").write_text(yaml.safe_dump(cfg))
    code = main(["sweep", "plan", str(workdir / "dup.yaml"), "--out", str(workdir / "dup.json")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "seeds repeats 0" in err and "runs[0] and runs[1]" in err
    assert not (workdir / "dup.json").exists()
    plan(workdir, "single")
    doc = json.loads((workdir / "single.json").read_text())
    doc["runs"].append(doc["runs"][0])
    doc["sweep"]["seeds"] = [0, 0]
    (workdir / "dup.json").write_text(json.dumps(doc))
    code = main(["sweep", "run", str(workdir / "dup.json"), "--store", str(workdir / "d.db")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "dup.json" in err and "seeds repeats 0" in err
    assert not (workdir / "d.db").exists()


def test_an_unreachable_ray_cluster_is_a_clear_error(workdir, capsys):
    plan(workdir, "ray")
    start = time.perf_counter()
    code = main(["sweep", "run", str(workdir / "ray.json"), "--executor", "ray",
                 "--ray-address", "127.0.0.1:1", "--store", str(workdir / "ray.db")])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "127.0.0.1:1" in err and "no Ray cluster" in err
    assert time.perf_counter() - start < 30


def test_sigterm_stops_a_sweep_and_releases_its_runs(workdir):
    plan(workdir, "term", tokens=200_000, seeds=(3,))
    store = workdir / "term.db"
    proc = subprocess.Popen(sweep_cmd(workdir, "term", store), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 60
    leases = 0
    while time.time() < deadline and not leases:
        time.sleep(0.5)
        if store.exists():
            with RunStore(store, create=False) as s:
                leases = s._conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    assert leases == 1
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    with RunStore(store, create=False) as s:
        assert s._conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
        (run_id,) = s.ids()
        assert s.get(run_id).status == "failed" and "interrupted" in s.get(run_id).error


def _fail_elsewhere(path, run_id, ready, go) -> None:
    from mixlab.runs import RunRecord

    with RunStore(path) as s:
        s.claim(run_id, ttl_s=60)
        ready.set()
        go.wait(30)
        s.put(RunRecord(id=run_id, mixture={"web": 1.0}, status="failed", error="boom there"))
        s.release([run_id])


def test_a_run_another_sweep_failed_meanwhile_is_not_tried_twice(workdir):
    import multiprocessing as mp

    runs = plan(workdir, "elsewhere", seeds=(4,))[:1]
    store = workdir / "elsewhere.db"
    RunStore(store).close()
    ctx = mp.get_context("fork")
    ready, go = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_fail_elsewhere, args=(str(store), runs[0].id, ready, go))
    other.start()
    assert ready.wait(30)
    threading.Timer(1.0, go.set).start()  # the other sweep fails the run while this one waits
    status = execute.run_local(runs, store, workers=1)
    other.join(30)
    assert (status.done, status.failed) == (0, 1)
    assert "another sweep process: boom there" in status.errors[runs[0].id]
    with RunStore(store, create=False) as s:
        assert s.get(runs[0].id).error == "boom there"  # its record, not a second attempt's
