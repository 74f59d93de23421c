"""The report draws an online run's mixture trajectory (`mix_weight/<domain>` evaluations)."""

from __future__ import annotations

from mixlab.report.build import write_report
from mixlab.runs import Evaluation, RunRecord, RunStore


def test_report_draws_the_mixture_trajectory(tmp_path):
    evals = [
        Evaluation(step=s, tokens=s * 100.0, metric="val_loss/a", value=3 - s / 100)
        for s in (0, 10, 20)
    ]
    for s, w in ((0, 0.5), (10, 0.7), (20, 0.8)):
        evals += [
            Evaluation(step=s, tokens=s * 100.0, metric="mix_weight/a", value=w),
            Evaluation(step=s, tokens=s * 100.0, metric="mix_weight/b", value=1 - w),
        ]
    with RunStore(tmp_path / "s.db") as store:
        store.put(RunRecord(id="online", mixture={"a": 0.7, "b": 0.3}, evaluations=evals))
        store.put(RunRecord(id="static", mixture={"a": 0.5, "b": 0.5}, evaluations=evals[:3]))
    page = write_report(tmp_path / "s.db", tmp_path / "r.html").read_text()
    assert "<h2>Online mixture trajectories" in page
    assert page.count("data:image/png;base64,") == 3  # mixtures, loss curves, trajectories
    static_only = write_report(tmp_path / "s.db", tmp_path / "r2.html", run_ids=["static"])
    assert "Online mixture trajectories" not in static_only.read_text()
