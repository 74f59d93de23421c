"""The run store: round trips, replacement, queries shaped for the laws, schema migrations."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.runs import Evaluation, RunRecord, RunStore
from mixlab.runs import schema as schema_mod


def full_record(run_id: str = "run-1", **changes) -> RunRecord:
    fields = dict(
        id=run_id,
        tags=["sweep-a", "proxy"],
        mixture={"code": 0.25, "prose": 0.5, "math": 0.25},
        model={"preset": "tiny", "n_layer": 2, "n_embd": 64, "tied": True},
        n_params=123_456,
        n_params_nonembed=98_765,
        tokens=2.5e6,
        flops=1.7e12,
        seed=7,
        schedule={"kind": "cosine", "warmup": 100},
        evaluations=[
            Evaluation(step=s, tokens=s * 1024.0, metric=m, value=v + s / 1000)
            for s in (0, 100, 200)
            for m, v in (("val/code", 3.0), ("val/prose", 4.0))
        ]
        + [Evaluation(step=200, tokens=204800.0, metric="probe/bio", value=0.125)],
        host="node-3",
        versions={"mixlab": "0.1.0", "torch": "2.13.0"},
        wall_time=12.5,
        status="done",
        source="test",
    )
    fields.update(changes)
    return RunRecord(**fields)


def test_full_record_round_trips(store):
    record = full_record()
    store.put(record)
    assert store.get("run-1") == record
    assert len(store) == 1 and "run-1" in store and "nope" not in store


def test_round_trip_survives_reopening(tmp_path):
    path = tmp_path / "s.db"
    with RunStore(path) as s:
        s.put(full_record())
    with RunStore(path, create=False) as s:
        assert s.get("run-1") == full_record()


def test_put_replaces_the_whole_run(store):
    store.put(full_record())
    smaller = full_record(
        tags=["other"],
        mixture={"code": 1.0},
        evaluations=[Evaluation(metric="val/code", value=2.0)],
    )
    store.put(smaller)
    assert store.get("run-1") == smaller
    assert len(store) == 1


def test_put_many_is_all_or_nothing(store):
    def records():
        yield full_record("a")
        yield full_record("b")
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        store.put_many(records())
    assert len(store) == 0


def test_failed_run_keeps_its_error_and_evaluations(store):
    store.put(full_record(status="running", evaluations=[]))
    store.add_evaluations("run-1", [Evaluation(step=10, tokens=10.0, metric="train", value=5.0)])
    store.set_status("run-1", "failed", error="loss became NaN at step 11", tokens=11.0)
    got = store.get("run-1")
    assert got.status == "failed" and got.error == "loss became NaN at step 11"
    assert got.tokens == 11.0 and [e.value for e in got.evaluations] == [5.0]
    with pytest.raises(InputError, match="no run with id 'ghost'"):
        store.set_status("ghost", "done")


def test_metric_matrix_takes_final_values(store):
    store.put(full_record("a"))
    store.put(
        full_record(
            "b",
            evaluations=[
                Evaluation(step=5, metric="val/code", value=9.0),
                Evaluation(step=None, metric="val/code", value=1.5),  # step-less final wins
                Evaluation(step=3, metric="val/code", value=8.0),
            ],
        )
    )
    metrics = store.metrics()
    assert list(metrics.index) == ["a", "b"]
    assert list(metrics.columns) == ["val/code", "val/prose", "probe/bio"]
    assert metrics.loc["a", "val/code"] == pytest.approx(3.2)
    assert metrics.loc["b", "val/code"] == 1.5
    assert np.isnan(metrics.loc["b", "val/prose"])
    with pytest.raises(InputError, match="'val/none'"):
        store.metrics(metrics=["val/none"])


def test_mixture_matrix_unions_domains_and_filters_by_tag(store):
    store.put(full_record("a", tags=["x"]))
    store.put(full_record("b", tags=["y"], mixture={"prose": 0.5, "web": 0.5}))
    mix = store.mixtures()
    assert list(mix.columns) == ["code", "prose", "math", "web"]
    assert mix.loc["b"].tolist() == [0.0, 0.5, 0.0, 0.5]
    assert list(store.mixtures(tag="y").index) == ["b"]
    assert store.ids(tag="x") == ["a"]
    assert list(store.mixtures(["b", "a"]).index) == ["b", "a"]


def test_curves_long_and_single(store):
    store.put(full_record("a"))
    curves = store.curves(metrics=["val/code"])
    assert curves.columns.tolist() == ["run_id", "step", "tokens", "metric", "value"]
    assert curves["step"].tolist() == [0, 100, 200]
    steps, tokens, values = store.curve("a", "val/prose")
    assert steps.tolist() == [0, 100, 200]
    assert tokens.tolist() == [0.0, 102400.0, 204800.0]
    assert values == pytest.approx([4.0, 4.1, 4.2])
    with pytest.raises(InputError, match="no curve"):
        store.curve("a", "val/none")


def test_record_validation():
    with pytest.raises(ValueError, match="sum to"):
        full_record(mixture={"a": 0.5, "b": 0.4})
    with pytest.raises(ValueError, match=">= 0"):
        full_record(mixture={"a": 1.5, "b": -0.5})
    with pytest.raises(ValueError, match="twice"):
        full_record(evaluations=[Evaluation(step=1, metric="m", value=1.0)] * 2)
    with pytest.raises(ValueError, match="finite"):
        Evaluation(metric="m", value=float("nan"))


def test_new_store_is_at_the_latest_schema_in_wal_mode(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema_mod.MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pending_migration_applies_once_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    with RunStore(path) as s:
        s.put(full_record())
    extra = schema_mod.MIGRATIONS + ["ALTER TABLE runs ADD COLUMN note TEXT"]
    monkeypatch.setattr(schema_mod, "MIGRATIONS", extra)
    for _ in range(2):  # the second open finds nothing to do
        with RunStore(path) as s:
            assert s.get("run-1") == full_record()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(extra)
    assert "note" in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]


def test_store_from_a_newer_mixlab_is_refused(tmp_path):
    path = tmp_path / "s.db"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(InputError, match="newer than this mixlab"):
        RunStore(path)


def test_bad_store_files(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a mixlab run store"):
        RunStore(junk)
    with pytest.raises(InputError, match="no run store here"):
        RunStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
