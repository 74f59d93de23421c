"""`mixlab export`: an online run's averaged weights as a static mixture; schedules per phase."""

from __future__ import annotations

import json

import pytest

from mixlab.cli import main
from mixlab.runs import RunStore
from mixlab.train.loop import train
from tests.train.test_online_loop import config, data_dir  # noqa: F401 - the fixture


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


@pytest.fixture(scope="module")
def store(data_dir, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("export") / "s.db"
    online = {"method": "doremi", "every_steps": 10, "reference_losses": {"words": 0, "noise": 0}}
    stages = [
        {"fraction": 0.25, "weights": {"words": 0.8, "noise": 0.2}},
        {"fraction": 0.75, "weights": {"words": 0.3, "noise": 0.7}},
    ]
    with RunStore(path) as db:
        train(config(data_dir, run_id="dro", online=online, tokens=8_000), db)
        train(config(data_dir, run_id="two", mixture={"kind": "curriculum", "stages": stages}), db)
    return path


def test_online_run_exports_its_averaged_weights(store, tmp_path, capsys):
    out = tmp_path / "mix.json"
    code, _, err = run(capsys, "export", "dro", "--out", out, "--store", store)
    assert code == 0, err
    doc = json.loads(out.read_text())
    with RunStore(store) as db:
        rec = db.get("dro")
    avg = {
        e.metric.split("/", 1)[1]: e.value for e in rec.evaluations if "mix_weight_avg/" in e.metric
    }
    assert doc["mixture"] == pytest.approx(avg)
    assert doc["mixture"] != pytest.approx(rec.mixture)  # not the realised shares
    assert "averaged" in doc["source"]
    code, _, _ = run(capsys, "export", "dro", "--use", "realised", "--out", out, "--store", store)
    assert json.loads(out.read_text())["mixture"] == pytest.approx(rec.mixture)


def test_phase_run_exports_a_manifest_and_a_file_per_phase(store, tmp_path, capsys):
    out = tmp_path / "sched.json"
    paths = tmp_path / "paths.json"
    paths.write_text(json.dumps({"words": "/data/words", "noise": "/data/noise"}))
    code, _, err = run(
        capsys, "export", "two", "--format", "megatron", "--out", out, "--paths", paths,
        "--token-budget", 1000, "--store", store,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert [(r["start_tokens"], r["end_tokens"]) for r in doc["schedule"]] == [
        (0, 250),
        (250, 1000),
    ]
    first = (tmp_path / doc["schedule"][0]["file"]).read_text().split()
    assert dict(zip(first[1::2], map(float, first[::2]), strict=True)) == pytest.approx(
        {"/data/words": 0.8, "/data/noise": 0.2}
    )


def test_optimised_schedule_file_and_bad_sources(store, tmp_path, capsys):
    sched = tmp_path / "best.json"
    sched.write_text(json.dumps({"fractions": [0.5, 0.5], "mixtures": [{"a": 1.0}, {"b": 1.0}]}))
    out = tmp_path / "o.json"
    code, _, err = run(capsys, "export", sched, "--out", out, "--token-budget", 100)
    assert code == 0, err
    assert json.loads(out.read_text())["schedule"][1]["mixture"] == {"b": 1.0}
    code, _, err = run(capsys, "export", "ghost", "--out", out, "--store", store)
    assert code == 2 and "no run 'ghost'" in err
    code, _, err = run(capsys, "export", "two", "--use", "averaged", "--out", out, "--store", store)
    assert code == 2 and "did not mix online" in err


def test_law_schedule_recovers_the_better_phase_order_from_stored_runs(tmp_path, capsys):
    """Stored 2-phase runs whose loss rewards `a` early and `b` late (plus static runs): the
    schedule puts a first and b second, beats the best static mixture, and `mixlab export`
    reads the schedule file it wrote."""
    import numpy as np

    from mixlab.runs.record import Evaluation, RunRecord

    rng = np.random.default_rng(0)
    path = tmp_path / "phases.db"
    with RunStore(path) as db:
        for i in range(40):
            w = (
                rng.dirichlet([1, 1], size=2)
                if i >= 8
                else np.repeat(rng.dirichlet([1, 1])[None], 2, 0)
            )
            x = 0.5 * w.ravel()  # a@1, b@1, a@2, b@2
            loss = 3 - np.log(x + 1e-3) @ [2.0, 0.5, 0.5, 2.0] / 4 + rng.normal(0, 0.005)
            stages = [{"fraction": 0.5, "weights": {"a": w[k, 0], "b": w[k, 1]}} for k in (0, 1)]
            db.put(
                RunRecord(
                    id=f"r{i}",
                    tags=["swarm"],
                    mixture={"a": float(x[0] + x[2]), "b": float(x[1] + x[3])},
                    schedule={"mixture": {"kind": "curriculum", "stages": stages}},
                    evaluations=[
                        Evaluation(step=10, metric="val_loss/a", value=float(loss)),
                        Evaluation(step=10, metric="val_loss/b", value=float(loss)),
                    ],
                )
            )
    out = tmp_path / "best.json"
    code, _, err = run(
        capsys, "law", "schedule", "--store", path, "--tag", "swarm", "--law", "linear",
        "--target", "val_loss/a", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["mixtures"][0]["a"] > 0.65 and doc["mixtures"][1]["b"] > 0.65
    assert doc["gain_over_static"] > 0.1
    code, _, err = run(capsys, "export", out, "--out", tmp_path / "e.json", "--token-budget", 100)
    assert code == 0, err
    code, _, err = run(capsys, "law", "schedule", "--store", path, "--phases", "1", "--out", out)
    assert code == 2 and "--phases" in err
