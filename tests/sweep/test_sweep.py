"""Sweeps: plans are reproducible, executors agree, a failing run does not stop the rest.

The fault tests (kills, two sweeps at once, a dead worker) are in test_faults.py.
"""

from __future__ import annotations

import sys

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
    # A local Ray cluster of 2 workers in which no worker may open an SQLite file: only the
    # driver writes the store (a worker that tried would fail its run).
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"worker_process_setup_hook": _forbid_sqlite})  # fmt: skip
    try:
        ray_status = run_ray(runs, workdir / "ray.db")
        assert (ray_status.done, ray_status.failed) == (3, 0), ray_status.errors
        probe = ray.remote(_opens_sqlite)
        assert ray.get(probe.remote()) == "refused"  # the hook was in force in the workers
    finally:
        ray.shutdown()
    with RunStore(workdir / "local.db") as a, RunStore(workdir / "ray.db") as b:
        for run in runs:
            ra, rb = a.get(run.id), b.get(run.id)
            assert ra.mixture == rb.mixture
            assert ra.final_metrics() == rb.final_metrics()


def _forbid_sqlite() -> None:
    """Ray worker setup hook: any SQLite open in this worker raises."""
    import sqlite3

    def refuse(*args, **kwargs):
        raise RuntimeError("a Ray worker opened an SQLite database")

    sqlite3.connect = refuse


def _opens_sqlite() -> str:
    import sqlite3

    try:
        sqlite3.connect(":memory:")
    except RuntimeError:
        return "refused"
    return "opened"


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
