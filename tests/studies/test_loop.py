"""`mixlab run` on a small generated corpus: resumable after kill -9, finds the known best.

One project of three generated domains whose target is one domain's own validation text, so
the best mixture is known: as much of that domain as the constraints allow.  The loop is
killed (SIGKILL) during round 2 and again during verification, then run to the end.
"""

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
from mixlab.runs import RunStore
from mixlab.studies.project import load_project


def _words(rng, letters: str, n: int) -> list[str]:
    return ["".join(rng.choice(list(letters), rng.integers(4, 8))) for _ in range(n)]


def _corpus(root: Path, seed: int = 0) -> dict[str, str]:
    """Three domains of made-up words from disjoint alphabets: a model learns a domain's
    spelling only from that domain's text, so more of it keeps lowering its loss."""
    rng = np.random.default_rng(seed)
    vocab = {
        "alpha": _words(rng, "abcdefghijklm", 150),
        "beta": _words(rng, "nopqrstuvwxyz", 150),
        "gamma": _words(rng, "0123456789", 150),
    }
    out = {}
    for name, words in vocab.items():
        path = root / f"{name}.jsonl"
        with open(path, "w") as f:
            for _ in range(250):
                f.write(json.dumps({"text": " ".join(rng.choice(words, 30))}) + "\n")
        out[name] = path.name
    return out


def _project(root: Path) -> Path:
    domains = _corpus(root)
    doc = {
        "name": "toy",
        "output": "out",
        "data": {
            "domains": {d: [p] for d, p in domains.items()},
            "tokenizer": {"kind": "bytes"},
            "validation": 0.1,
        },
        "proxy": {
            "models": ["25k"],
            "tokens": 16_000,
            "seq_len": 32,
            "batch_size": 8,
            "lr": 0.003,  # slow enough that more of a domain keeps lowering its loss
            "eval_every": 1000,
            "eval_sequences": 16,
            "workers": 2,
        },
        "target": {"name": "alpha", "description": "alpha's own text", "metric": "val_loss/alpha"},
        "constraints": {"floor": 0.25, "cap": 2.5, "max_epochs": 4},
        "rounds": {"count": 2, "first": 4, "per_round": 1},
        "verify": {"seeds": [0, 1]},
    }
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _mixlab(*args: str, kill_when=None) -> tuple[int, list[dict]]:
    """Run `mixlab --json ...` in a subprocess; SIGKILL it when `kill_when(event)` is true."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mixlab", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    events = []
    assert proc.stdout is not None
    for line in proc.stdout:
        events.append(json.loads(line))
        if kill_when is not None and kill_when(events[-1]):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    return proc.wait(timeout=300), events


def _records(store: Path) -> dict[str, tuple]:
    with RunStore(store) as s:
        return {r.id: (r.status, r.wall_time, r.host) for r in s.get_many(s.ids())}


@pytest.mark.slow
def test_loop_resumes_after_kill_and_finds_the_known_best(tmp_path):
    path = _project(tmp_path)
    out = tmp_path / "out"

    def in_stage(stage):
        return lambda e: (
            e.get("stage") == stage
            and e.get("event") == "progress"
            and e["done"] - e["skipped"] >= 1
        )

    code, _ = _mixlab("run", str(path), kill_when=in_stage("round 2"))
    assert code == -signal.SIGKILL
    before = {k: v for k, v in _records(out / "runs.db").items() if v[0] == "done"}
    assert (out / "loop" / "round2.json").exists() and before

    code, _ = _mixlab("run", str(path), kill_when=in_stage("verify"))
    assert code == -signal.SIGKILL
    middle = {k: v for k, v in _records(out / "runs.db").items() if v[0] == "done"}
    assert (out / "loop" / "verify.json").exists()

    code, events = _mixlab("run", str(path))
    assert code == 0
    after = _records(out / "runs.db")
    # nothing that finished was trained again: same wall time and host as before the kills
    for done in (before, middle):
        assert all(after[k] == v for k, v in done.items())
    decision = json.loads((out / "decision.json").read_text())
    planned = [i for r in decision["rounds"] for i in r["run_ids"]]
    planned += [r["run_id"] for r in decision["verification"]["runs"]]
    assert len(set(planned)) == len(after)  # every run exactly once in the store
    assert all(v[0] == "done" for v in after.values())
    skipped = [e for e in events if e.get("event") == "progress" and e["stage"] == "round 1"]
    assert skipped[-1]["skipped"] == skipped[-1]["total"]

    # the known best: alpha at its upper limit (cap 2.5 x natural, others at their floors)
    rec = decision["recommended"]["mixture"]
    natural = decision["reference"]["mixture"]
    best_alpha = min(2.5 * natural["alpha"], 1 - 0.25 * (natural["beta"] + natural["gamma"]))
    assert rec["alpha"] >= best_alpha - 0.05
    v = decision["verification"]
    assert v["observed_gain"] > 0
    assert {"alpha", "beta", "gamma"} >= set(rec) and decision["exports"]["megatron"]
    assert (out / "report.html").exists()
    assert events[-1]["event"] == "result"

    # the observed target of the recommendation is within noise of the known best mixture's
    best = {"alpha": best_alpha, "beta": 0.25 * natural["beta"], "gamma": 0.25 * natural["gamma"]}
    best = {d: w / sum(best.values()) for d, w in best.items()}
    from mixlab.studies.loop import Loop
    from mixlab.sweep.execute import run_local

    loop = Loop(load_project(path))
    runs = [loop._run(best, seed, ["best"]) for seed in (0, 1)]
    run_local(runs, out / "runs.db", workers=2)
    known = loop.observed([r.id for r in runs]).mean()
    found = v["recommended_observed"]
    assert abs(found - known) <= max(3 * v["seed_noise_unpaired"], 0.02)


def test_project_errors_name_the_field(tmp_path):
    path = _project(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["target"]["weights"] = {"val_loss/alpha": 1.0}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match="target"):
        load_project(path)
    doc["target"] = {"weights": {"val_loss/delta": 1.0}}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match="delta"):
        load_project(path)
    doc["target"] = {"metric": "val_loss/alpha"}
    doc["verify"] = {"seeds": [0]}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match="verify.seeds"):
        load_project(path)


def test_resume_refuses_a_changed_project(tmp_path):
    from mixlab.studies.loop import Loop

    path = _project(tmp_path)
    Loop(load_project(path)).check_unchanged()
    doc = yaml.safe_load(path.read_text())
    doc["proxy"]["tokens"] = 32_000
    doc["proxy"]["workers"] = 1  # not a setting of the runs: allowed
    path.write_text(yaml.safe_dump(doc))
    loop = Loop(load_project(path))
    loop.state.mkdir(parents=True, exist_ok=True)
    with pytest.raises(InputError, match="proxy changed"):
        loop.check_unchanged()
