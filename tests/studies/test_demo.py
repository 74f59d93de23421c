"""`mixlab demo --quick` end to end: `mixlab run` on the demo corpora writes every artifact."""

from __future__ import annotations

import json

import pytest
import yaml

from mixlab.cli import main
from mixlab.io.laws import load_law
from mixlab.runs import RunStore


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out, as `make demo` gives it
    out = tmp_path / "out" / "demo"
    assert main(["--json", "demo", "--quick", "--out", "out/demo"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["event"] for e in events} >= {"stage", "progress", "result"}
    assert all("elapsed_s" in e for e in events if e["event"] == "progress")
    decision = json.loads((out / "decision.json").read_text())
    assert events[-1]["event"] == "result" and events[-1]["project"] == "demo"
    planned = {i for r in decision["rounds"] for i in r["run_ids"]}
    planned |= {r["run_id"] for r in decision["verification"]["runs"]}
    with RunStore(out / "runs.db") as store:
        assert set(store.ids(status="done")) == planned and len(store) == len(planned)
    assert [r["kind"] for r in decision["rounds"]] == ["design", "acquisition"]
    law = load_law(out / "laws" / "auto.json")
    cv = law.cv_["targets"]["docs-assistant"]
    lo, hi = law.cv_["y_range"]["docs-assistant"]
    # a held-out error that is positive and inside the spread it has to explain; a law that
    # does not beat predicting the mean (the quick demo's 14 noisy runs) says so
    assert 0 < cv["mae_mean"] < hi - lo
    if cv["mae_mean"] >= decision["law"]["baseline_mae"]:
        warned = [e["message"] for e in events if e["event"] == "warning"]
        assert any("no better than predicting the mean" in w for w in warned)
    rec, ref = decision["recommended"]["mixture"], decision["reference"]["mixture"]
    assert abs(sum(rec.values()) - 1) < 1e-9
    assert all(rec[d] >= 0.25 * w - 1e-4 for d, w in ref.items())
    # the target does not weigh arithmetic: the natural shares are far from its optimum
    assert rec["arithmetic"] < ref["arithmetic"] / 2
    v = decision["verification"]
    assert len(v["runs"]) == 4 and v["observed_gain"] > 0
    assert json.loads((out / "mixture" / "recommended.hf.json").read_text())["probabilities"]
    assert yaml.safe_load((out / "mixture" / "recommended.olmo.yaml").read_text())["source_list"]
    assert (out / "mixture" / "recommended.megatron.txt").read_text().strip()
    assert (out / "report.html").exists()
