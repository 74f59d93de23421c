"""analyze_dynamics on constructed curves: emergence, speed ratio direction, rank agreement,
and the curriculum corpus's formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixlab.data.probes import read_probes
from mixlab.studies.dynamics import CorpusConfig, analyze_dynamics, write_corpus


def curves_table() -> pd.DataFrame:
    """fast reaches each accuracy at half the tokens slow needs, at both sizes and seeds."""
    rows = []
    tokens = np.arange(0, 8001, 250.0)
    for size, scale in ((1000, 1.0), (4000, 0.8)):
        for choice, mid in (("slow", 2000.0), ("fast", 1000.0)):
            for seed in (0, 1):
                acc = 1 / (1 + np.exp(-(tokens - mid * scale) / (150 * scale * mid / 1000)))
                loss = 1.0 + 5.0 * np.maximum(tokens, 1) ** -0.5 * (mid / 1000)
                run = f"{choice}-{size}-{seed}"
                for t, a, lo in zip(tokens, acc, loss, strict=True):
                    rows.append((run, choice, size, seed, t, "probe/skill", a))
                    rows.append((run, choice, size, seed, t, "val_loss/d", lo))
    return pd.DataFrame(
        rows, columns=["run_id", "choice", "model_size", "seed", "tokens", "metric", "value"]
    )


def test_emergence_speed_and_rank_agreement():
    study = {
        "name": "t",
        "skill": "skill",
        "threshold": 0.9,
        "choices": ["slow", "fast"],
        "target_domain": None,
        "config": {
            "choices": [
                {"name": "slow", "mixture": {"d": 1.0}},
                {"name": "fast", "mixture": {"d": 1.0}},
            ]
        },
    }
    doc = analyze_dynamics(curves_table(), study, n_bootstrap=200)
    points = {(e["choice"], e["model_size"]): e for e in doc["emergence"]}
    assert all(e["status"] == "reached" and e["reached"] == 2 for e in points.values())
    for size in (1000, 4000):
        ratio = points[("slow", size)]["value"] / points[("fast", size)]["value"]
        assert ratio == pytest.approx(2.0, rel=0.05)
    (speed_1k,) = [s for s in doc["speed"] if s["model_size"] == 1000]
    # reference is the first choice (slow): fast needs half the tokens -> ratio 2 (> 1: faster)
    assert speed_1k["choice"] == "fast" and speed_1k["reference"] == "slow"
    assert speed_1k["ratio"]["0.9"] == pytest.approx(2.0, rel=0.05)
    (pair,) = doc["rank_agreement"]["pairs"]
    assert pair["tau"] == pytest.approx(1.0)
    assert doc["rank_agreement"]["rankings"] == {"1000": ["fast", "slow"], "4000": ["fast", "slow"]}
    scaling = {(f["choice"], f["model_size"]): f for f in doc["data_scaling"]}
    assert scaling[("slow", 1000)]["a"] == pytest.approx(0.5, rel=0.1)


def test_curriculum_corpus_can_give_target_and_support_different_formats(tmp_path):
    cfg = CorpusConfig(
        kind="curriculum",
        target_operations=["+"],
        support_operations=["+"],
        target_format="plain",
        support_format="scratchpad",
        train_problems=60,
        test_problems=10,
    )
    _, probes = write_corpus(cfg, tmp_path)
    target = read_probes(probes["test_target"])
    support = read_probes(probes["test_support"])
    assert [p.prompt for p in target] == [p.prompt for p in support]  # one split for both
    assert target[0].kind == "arithmetic_plain" and support[0].kind == "arithmetic_scratchpad"
