"""The HTML report renders every section from a small store and links to nothing outside."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from mixlab.cli import main
from mixlab.laws import make_law
from mixlab.runs import Evaluation, RunRecord, RunStore


def test_report_renders_every_section_offline(tmp_path, capsys):
    rng = np.random.default_rng(0)
    store_path = tmp_path / "s.db"
    mixtures = rng.dirichlet([1, 1, 1], size=8)
    with RunStore(store_path) as store:
        for i, w in enumerate(mixtures):
            evals = [
                Evaluation(
                    step=s, tokens=s * 100.0, metric=f"val_loss/{d}", value=3 + 2 / (1 + s) - w[j]
                )
                for s in (0, 10, 20)
                for j, d in enumerate("abc")
            ]
            store.put(
                RunRecord(id=f"r{i}", mixture=dict(zip("abc", w, strict=True)), evaluations=evals)
            )
        R, Y = store.mixtures(), store.metrics()
    art = tmp_path / "art"
    (art / "laws").mkdir(parents=True)
    (art / "scaling").mkdir()
    law = make_law("linear").fit(
        R.to_numpy(), Y.to_numpy(), domain_names=list(R.columns), target_names=list(Y.columns)
    )
    law.cv_ = {
        "scheme": "2-fold",
        "n_splits": 2,
        "targets": {t: {"mae_mean": 0.01, "mae_median": 0.01, "spearman": 0.9} for t in Y.columns},
    }
    (art / "laws" / "linear.json").write_text(json.dumps(law.to_dict()))
    pd.DataFrame(
        {
            "law": "linear",
            "run_id": list(R.index) * 3,
            "target": np.repeat(list(Y.columns), 8),
            "observed": Y.to_numpy().T.ravel(),
            "predicted": Y.to_numpy().T.ravel() + 0.01,
        }
    ).to_csv(art / "cv_predictions.csv", index=False)
    (art / "recommendation.json").write_text(
        json.dumps(
            {
                "law": "linear",
                "mixture": {"a": 0.6, "b": 0.2, "c": 0.2},
                "level": 0.9,
                "reference": {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3},
                "predicted": 2.1,
                "interval": [2.0, 2.2],
                "reference_predicted": 2.3,
            }
        )
    )
    (art / "verification.json").write_text(
        json.dumps([{"name": "recommended", "run_id": "r0", "predicted": 2.1, "observed": 2.15}])
    )
    (art / "scaling" / "chinchilla.json").write_text(
        json.dumps(
            {"form": "chinchilla", "params": {"E": 1.8, "alpha": 0.34}, "ci": {"E": [1.7, 1.9]}}
        )
    )
    out = tmp_path / "report.html"
    code = main(["report", "--store", str(store_path), "--out", str(out), "--artifacts", str(art)])
    assert code == 0, capsys.readouterr().err
    page = out.read_text()
    for heading in (
        "Runs",
        "Sweep mixtures",
        "Loss curves per domain",
        "Final metrics",
        "Mixing laws: cross-validated error",
        "Fitted parameters",
        "Recommendation",
        "Verification at proxy scale",
        "Scaling fits",
    ):
        assert f"<h2>{heading}" in page, heading
    assert page.count("data:image/png;base64,") == 4  # mixtures, curves, CV, recommendation
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I)  # no external URL
    assert "<script src" not in page and "<link" not in page
