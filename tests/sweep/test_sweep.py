"""Sweeps: plans are reproducible, executors agree, a killed sweep finishes every run once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from mixlab.data.prepare import prepare
from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.sweep.execute import run_local, run_ray
from mixlab.sweep.plan import load_plan, load_sweep_config, make_plan, save_plan

BASE = {
    "data": "prepared",
    "seq_len": 32,
    "batch_size": 8,
    "optimizer": {"lr": 0.01},
    "eval": {"every": 20, "max_sequences": 4},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for name, unit in (
        ("web", "the cat sat on the mat. "),
        ("code", "def f(x): return x + 1\n"),
        ("math", "12+30=42\n"),
    ):
        (root / name).mkdir()
        for i in range(12):
            (root / name / f"{i}.txt").write_text(unit * (40 + i))
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {web: [web], code: [code], math: [math]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def write_sweep(root, name, mixtures, tokens=(4_000,), **extra):
    cfg = {
        "base": BASE,
        "mixtures": mixtures,
        "models": ["25k"],
        "tokens": list(tokens),
        "seeds": [0],
        "tags": ["test"],
        **extra,
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    sweep, base = load_sweep_config(path)
    runs = make_plan(sweep, base)
    save_plan(runs, root / f"{name}.json", sweep)
    return runs


LIST = {
    "kind": "list",
    "include_prior": False,
    "mixtures": [{"web": 1.0}, {"web": 0.5, "code": 0.5}, {"web": 0.2, "code": 0.3, "math": 0.5}],
}


def test_plan_is_reproducible_and_ids_hash_the_config(workdir):
    a = write_sweep(workdir, "p1", {"kind": "dirichlet", "n": 5, "seed": 1})
    b = write_sweep(workdir, "p2", {"kind": "dirichlet", "n": 5, "seed": 1})
    assert [r.id for r in a] == [r.id for r in b] and len(a) == 6  # 5 + the natural mixture
    assert len({r.id for r in a}) == 6
    c = write_sweep(workdir, "p3", {"kind": "dirichlet", "n": 5, "seed": 2})
    assert [r.id for r in c][0] == a[0].id  # the natural mixture is the same run
    assert set(r.id for r in c[1:]).isdisjoint(r.id for r in a[1:])
    assert [r.id for r in load_plan(workdir / "p1.json")] == [r.id for r in a]
    with pytest.raises(InputError, match="unknown domain"):
        write_sweep(workdir, "bad", {"kind": "dirichlet", "prior": {"nope": 1.0}})


def test_local_and_ray_executors_give_the_same_records(workdir):
    runs = write_sweep(workdir, "list", LIST)
    local = run_local(runs, workdir / "local.db", workers=2)
    assert (local.done, local.failed) == (3, 0)
    again = run_local(runs, workdir / "local.db", workers=2)
    assert (again.skipped, again.done) == (3, 0)  # nothing is trained twice
    ray_status = run_ray(runs, workdir / "ray.db", num_cpus=2)
    assert (ray_status.done, ray_status.failed) == (3, 0)
    with RunStore(workdir / "local.db") as a, RunStore(workdir / "ray.db") as b:
        for run in runs:
            ra, rb = a.get(run.id), b.get(run.id)
            assert ra.mixture == rb.mixture
            assert ra.final_metrics() == rb.final_metrics()


def test_a_failing_run_is_recorded_and_the_rest_continue(workdir):
    runs = write_sweep(workdir, "fail", LIST)
    impossible = runs[2].model_copy(update={"max_epochs": 0.01, "run_id": "doomed"})
    status = run_local([runs[0], impossible, runs[1]], workdir / "fail.db", workers=1)
    assert (status.done, status.failed) == (2, 1)
    assert "epochs" in status.errors["doomed"]
    with RunStore(workdir / "fail.db") as store:
        doomed = store.get("doomed")
        assert doomed.status == "failed" and "epochs" in doomed.error
        assert store.get(runs[1].id).status == "done"


def test_killed_sweep_finishes_every_run_exactly_once(workdir):
    runs = write_sweep(workdir, "kill", LIST, tokens=(30_000,))
    store_path = workdir / "kill.db"
    cmd = [
        sys.executable,
        "-m",
        "mixlab",
        "--quiet",
        "sweep",
        "run",
        str(workdir / "kill.json"),
        "--store",
        str(store_path),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.time() + 120
    finished_first: dict[str, str] = {}
    while time.time() < deadline and not finished_first:
        time.sleep(0.5)
        if store_path.exists():
            with RunStore(store_path) as store:
                finished_first = {
                    i: store._conn.execute(
                        "SELECT updated_at FROM runs WHERE id = ?", (i,)
                    ).fetchone()[0]
                    for i in store.ids(status="done")
                }
    os.kill(proc.pid, signal.SIGKILL)  # the sweep process only: its workers must die with it
    proc.wait()
    assert finished_first and len(finished_first) < len(runs), "kill came too late to test"
    time.sleep(1.0)
    with RunStore(store_path) as store:
        before = {i: store.get(i).status for i in store.ids()}
    assert list(before.values()).count("done") == len(finished_first)

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with RunStore(store_path) as store:
        assert sorted(store.ids(status="done")) == sorted(r.id for r in runs)
        for run_id, stamp in finished_first.items():  # finished runs were not run again
            assert (
                store._conn.execute(
                    "SELECT updated_at FROM runs WHERE id = ?", (run_id,)
                ).fetchone()[0]
                == stamp
            )
