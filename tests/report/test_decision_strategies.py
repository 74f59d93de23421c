"""The decision report's strategies section, from a decision.json alone: one row per strategy
with its verdict, a failing phase law said to fail, no section without a `strategies` block."""

from __future__ import annotations

import json

from mixlab.report.decision import write_decision_report


def _runs(values):
    return [
        {"seed": s, "run_id": f"run-{s}", "observed": v, "per_domain": {"web": v, "code": v}}
        for s, v in enumerate(values)
    ]


def _decision(tmp_path, strategies=None):
    doc = {
        "format": "mixlab.decision/1",
        "store": "runs.db",
        "reference": {"name": "natural", "mixture": {"web": 0.5, "code": 0.5}},
        "recommended": {"mixture": {"web": 0.3, "code": 0.7}},
    }
    if strategies is not None:
        doc["strategies"] = strategies
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(doc))
    return write_decision_report(path, tmp_path / "report.html").read_text()


def test_strategies_section_rows_verdicts_and_a_failing_phase_law(tmp_path):
    static = {"mixture": {"web": 0.3, "code": 0.7}, "observed": 3.0, "runs": _runs([3.0, 3.0])}
    static["per_domain"] = {"web": 3.0, "code": 3.0}
    common = {"per_domain": {"web": 3.1, "code": 2.9}, "seed_noise": 0.01}
    block = {
        "seeds": [0, 1],
        "rule": "paired by seed; beyond noise = more than 2 x the standard error",
        "static": static,
        "doremi": {
            **common,
            "kind": "doremi",
            "mixture": {"web": 0.6, "code": 0.4},
            "averaged_weights": {"web": 0.9, "code": 0.1},
            "outside_constraints": ["code"],
            "observed": 3.2,
            "runs": _runs([3.2, 3.2]),
            "gain_over_static": -0.2,
            "verdict": "worse beyond noise",
            "online_run_ids": ["run-proxy"],
        },
        "two_phase": {
            **common,
            "kind": "two_phase",
            "stages": [
                {"fraction": 0.5, "weights": {"web": 0.2, "code": 0.8}},
                {"fraction": 0.5, "weights": {"web": 0.4, "code": 0.6}},
            ],
            "observed": 2.99,
            "runs": _runs([2.98, 3.0]),
            "gain_over_static": 0.01,
            "verdict": "within noise",
            "law": {
                "chosen": "linear",
                "runs": 9,
                "cv_mae": 0.3,
                "baseline_mae": 0.2,
                "problems": ["CV MAE 0.3 does not beat predicting the mean (0.2)"],
                "usable": False,
            },
            "exports": {"json": "mixture/two_phase.json"},
        },
    }
    html = _decision(tmp_path, block)
    part = html[html.index("id='strategies'") :]
    assert "static recommendation" in part and "DoReMi" in part and "2-phase schedule" in part
    assert "worse beyond noise" in part and "within noise" in part
    assert "-0.2000 ± 0.01" in part
    assert "phase 2 (50% of tokens): web 0.400, code 0.600" in part
    assert "<b>fails</b>" in part and "does not beat predicting the mean" in part
    assert "constraints for code" in part
    assert "mixture/two_phase.json" in part
    assert "not found" in part  # no store: the trajectories say so instead of failing


def test_no_strategies_no_section(tmp_path):
    assert "id='strategies'" not in _decision(tmp_path)
