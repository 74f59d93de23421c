"""Several processes writing to one store at once (a sweep's workers) lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing as mp

from mixlab.runs import Evaluation, RunRecord, RunStore

WRITERS, RUNS_EACH = 4, 200


def _writer(path: str, worker: int) -> None:
    with RunStore(path) as store:
        for i in range(RUNS_EACH):
            run_id = f"w{worker}-r{i}"
            store.put(
                RunRecord(
                    id=run_id,
                    tags=[f"worker-{worker}"],
                    mixture={"a": i / RUNS_EACH, "b": 1 - i / RUNS_EACH},
                    evaluations=[
                        Evaluation(step=s, metric="loss", value=worker + i + s) for s in range(3)
                    ],
                    status="running",
                )
            )
            store.add_evaluations(run_id, [Evaluation(step=3, metric="loss", value=-1.0)])
            store.set_status(run_id, "done", wall_time=0.1)


def test_four_processes_write_800_runs(tmp_path):
    path = str(tmp_path / "shared.db")
    RunStore(path).close()  # create the schema once; the writers race on everything else
    ctx = mp.get_context("fork")  # the targets live in this test file
    procs = [ctx.Process(target=_writer, args=(path, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    with RunStore(path, create=False) as store:
        ids = store.ids()
        assert len(ids) == WRITERS * RUNS_EACH == len(set(ids))
        assert set(ids) == {f"w{w}-r{i}" for w in range(WRITERS) for i in range(RUNS_EACH)}
        assert store.ids(status="done") == ids
        for w in range(WRITERS):
            assert len(store.ids(tag=f"worker-{w}")) == RUNS_EACH
        curves = store.curves()
        assert len(curves) == WRITERS * RUNS_EACH * 4
        assert (store.metrics()["loss"] == -1.0).all()


def test_concurrent_first_open_creates_schema_once(tmp_path):
    path = str(tmp_path / "fresh.db")
    ctx = mp.get_context("fork")  # the targets live in this test file
    procs = [ctx.Process(target=_open_and_put, args=(path, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with RunStore(path) as store:
        assert len(store) == WRITERS


def _open_and_put(path: str, worker: int) -> None:
    with RunStore(path) as store:
        store.put(RunRecord(id=f"r{worker}", mixture={"a": 1.0}))
