"""`mixlab demo --quick` end to end: every artifact the demo promises is written."""

from __future__ import annotations

import json

import numpy as np
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
    summary = json.loads(capsys.readouterr().out)
    with RunStore(out / "runs.db") as store:
        done = store.ids(status="done")
        assert len(done) >= 14 and len(done) == len(store)  # 12 + natural + recommended
    law = load_law(out / "laws" / "auto.json")
    cv = law.cv_["targets"]["val_loss/avg"]
    lo, hi = law.cv_["y_range"]["val_loss/avg"]
    # a held-out error that is positive and inside the spread it has to explain
    assert 0 < cv["mae_mean"] < hi - lo and np.isfinite(cv["spearman"]) and law.selection_
    rec = json.loads((out / "recommendation.json").read_text())
    assert abs(sum(rec["mixture"].values()) - 1) < 1e-9
    assert all(rec["mixture"][d] >= 0.5 * w - 1e-9 for d, w in rec["reference"].items())
    assert json.loads((out / "mixture" / "recommended.hf.json").read_text())["probabilities"]
    assert yaml.safe_load((out / "mixture" / "recommended.olmo.yaml").read_text())["source_list"]
    assert (out / "mixture" / "recommended.megatron.txt").read_text().strip()
    names = [v["name"] for v in summary["verification"]]
    assert names == ["recommended", "natural"]
    page = (out / "report.html").read_text()
    assert "Recommendation" in page and "Verification at proxy scale" in page
