"""`strategies:` in project.yaml: DoReMi, Aioli-style online mixing and a 2-phase schedule,
trained after the verification with its seeds and compared with the static recommendation
paired by seed; resumable after kill -9 during the strategy stage; errors name the field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mixlab.errors import InputError
from mixlab.laws.core.noise import noise_verdict
from mixlab.studies.project import load_project
from tests.studies.test_loop import _mixlab, _project, _records

STRATEGIES = {
    "doremi": {"every_steps": 5, "step_size": 5.0},
    "aioli": {"every_steps": 4},
    "two_phase": {"n": 3},
}


def _strategy_project(root: Path, strategies=STRATEGIES) -> Path:
    """The loop test's toy project, one design round, with every strategy."""
    path = _project(root)
    doc = yaml.safe_load(path.read_text())
    doc["rounds"] = {"count": 1, "first": 3, "per_round": 1}
    doc["proxy"]["tokens"] = 8_000  # 31 steps: enough for a few online updates
    doc["strategies"] = strategies
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    "strategies, field",
    [
        ({"dormi": {}}, "strategies.dormi"),
        ({"doremi": {"step_size": -1}}, "strategies.doremi.step_size"),
        ({"aioli": {"probes": 3}}, "strategies.aioli.probes"),
        ({"two_phase": {"fractions": [0.2, 0.3]}}, "strategies.two_phase.fractions"),
        ({"two_phase": {"n": 0}}, "strategies.two_phase.n"),
        ({"aioli": {"floor": 0.4}}, "strategies.aioli.floor"),  # 3 domains x 0.4 >= 1
        (["doremi", "sgd"], "strategies.sgd"),
    ],
)
def test_strategy_errors_name_the_field(tmp_path, strategies, field):
    path = _strategy_project(tmp_path, strategies)
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        load_project(path)


def test_strategy_error_exits_2_before_any_work(tmp_path):
    path = _strategy_project(tmp_path, {"doremi": {"smoothing": 2}})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "mixlab", "run", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "strategies.doremi.smoothing" in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


def test_no_strategies_by_default(tmp_path):
    project = load_project(_project(tmp_path))
    assert project.config.strategies is None
    shorthand = _strategy_project(tmp_path, ["aioli", "two_phase"])
    asked = load_project(shorthand).config.strategies.asked()
    assert list(asked) == ["aioli", "two_phase"]
    assert asked["aioli"].every_steps == 10  # the trainer's default, not a second copy


@pytest.mark.slow
def test_strategies_resume_after_kill_and_compare_paired_by_seed(tmp_path):
    path = _strategy_project(tmp_path)
    out = tmp_path / "out"

    def second_batch(e):
        return (
            e.get("stage") == "strategies 2/2"
            and e.get("event") == "progress"
            and e["done"] - e["skipped"] >= 1
        )

    code, _ = _mixlab("run", str(path), kill_when=second_batch)
    assert code == -signal.SIGKILL
    assert (out / "loop" / "strategy-two_phase.json").exists()
    before = {k: v for k, v in _records(out / "runs.db").items() if v[0] == "done"}

    code, events = _mixlab("run", str(path))
    assert code == 0
    after = _records(out / "runs.db")
    assert all(after[k] == v for k, v in before.items())  # nothing finished trained again
    assert all(v[0] == "done" for v in after.values())
    first = [e for e in events if e.get("event") == "progress" and e["stage"] == "strategies 1/2"]
    assert first[-1]["skipped"] == first[-1]["total"]

    d = json.loads((out / "decision.json").read_text())
    block = d["strategies"]
    seeds = d["verification"]["runs"]
    static = {r["seed"]: r["observed"] for r in seeds if r["name"] == "recommended"}
    assert {x["seed"]: x["observed"] for x in block["static"]["runs"]} == static
    planned = [i for r in d["rounds"] for i in r["run_ids"]] + [r["run_id"] for r in seeds]
    for name in STRATEGIES:
        s = block[name]
        mine = {x["seed"]: x["observed"] for x in s["runs"]}
        assert sorted(mine) == [0, 1]
        diffs = [static[k] - mine[k] for k in (0, 1)]
        assert np.allclose([s["per_seed_gain"][str(k)] for k in (0, 1)], diffs)
        assert s["gain_over_static"] == pytest.approx(np.mean(diffs))
        assert s["seed_noise"] == pytest.approx(np.std(diffs, ddof=1) / np.sqrt(2))
        assert s["verdict"] == noise_verdict(s["gain_over_static"], s["seed_noise"])
        assert set(s["per_domain"]) == {"alpha", "beta", "gamma"}
        assert all((out / f).is_file() for f in s["exports"].values())
        planned += [x["run_id"] for x in s["runs"]] + s.get("online_run_ids", [])
        planned += s.get("swarm_run_ids", [])
    assert set(planned) == set(after)  # every run of every plan in the store, nothing else

    natural = d["reference"]["mixture"]
    doremi = block["doremi"]
    assert doremi["reference_run_id"] in {r["run_id"] for r in seeds if r["name"] == "reference"}
    assert sum(doremi["mixture"].values()) == pytest.approx(1)
    assert all(doremi["mixture"][k] >= 0.25 * natural[k] - 1e-3 for k in natural)  # the floors
    assert abs(sum(block["aioli"]["averaged_weights"].values()) - 1) < 1e-9
    # Aioli lowers the project's target (its val_loss weights), not the average of every domain
    target = d["target"]["weights"]
    aioli_plan = json.loads((out / "loop" / "strategy-aioli.json").read_text())["runs"]
    objective = {f"val_loss/{k}": v for k, v in aioli_plan[0]["online"]["objective"].items()}
    assert objective == pytest.approx(target)
    two = block["two_phase"]
    assert [st["fraction"] for st in two["stages"]] == [0.5, 0.5]
    assert all(two["totals"][k] >= 0.25 * natural[k] - 1e-3 for k in natural)
    assert two["law"]["usable"] == (not two["law"]["problems"])
    manifest = json.loads((out / two["exports"]["megatron"]).read_text())
    assert [p["phase"] for p in manifest["schedule"]] == [1, 2]
    report = (out / "report.html").read_text()
    assert "Strategies: mixtures that change during training" in report
    assert "mixture trajectories" in report

    # a strategy's options changed since its plans: refused, naming it
    doc = yaml.safe_load(path.read_text())
    doc["strategies"]["aioli"]["step_size"] = 2.0
    path.write_text(yaml.safe_dump(doc))
    from mixlab.studies.loop import Loop

    with pytest.raises(InputError, match=r"strategies\.aioli: step_size changed"):
        Loop(load_project(path)).run()


def test_init_documents_every_strategy_field_with_the_trainers_defaults(tmp_path):
    from mixlab.studies.project_init import init_project

    domains = {"alpha": "alpha.jsonl", "beta": "beta.jsonl"}
    path = init_project(tmp_path / "p", domains)[0]
    text = path.read_text()
    block = text[text.index("# strategies:") :]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else "" for line in block.splitlines()
    )
    path.write_text(text[: text.index("# strategies:")] + uncommented)
    asked = load_project(path).config.strategies.asked()
    assert list(asked) == ["doremi", "aioli", "two_phase"]
    defaults = load_project(path).config.strategies.model_validate(["doremi", "aioli", "two_phase"])
    assert {k: v.model_dump() for k, v in asked.items()} == {
        k: v.model_dump() for k, v in defaults.asked().items()
    }
