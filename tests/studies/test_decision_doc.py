"""The verification figures of decision.json: observed gain and its paired seed noise."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mixlab.studies.decision import verification_summary


def test_gain_and_paired_seed_noise():
    runs, obs = [], {}
    values = {0: (4.40, 4.20), 1: (4.60, 4.30), 2: (4.50, 4.35)}  # seed: (reference, recommended)
    for seed, (ref, rec) in values.items():
        for name, y in (("reference", ref), ("recommended", rec)):
            rid = f"{name}-{seed}"
            runs.append((name, seed, SimpleNamespace(id=rid)))
            obs[rid] = y
    rec = {"recommended": {"interval": [4.0, 4.5]}, "gain_interval": [0.0, 0.3]}
    v = verification_summary(runs, pd.Series(obs), rec)
    diffs = np.array([0.20, 0.30, 0.15])
    assert v["observed_gain"] == pytest.approx(diffs.mean())
    assert v["seed_noise"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(3))
    assert v["seed_noise_unpaired"] > v["seed_noise"]  # the shared seed cancels out
    assert v["inside_interval"] is True and v["recommended_inside_interval"] is True
    assert v["per_seed_gain"] == pytest.approx({"0": 0.20, "1": 0.30, "2": 0.15})


def test_unbounded_intervals_are_null():
    from mixlab.studies.loop import _interval

    assert _interval((1.0, float("inf"))) is None and _interval(None) is None
    assert _interval((np.float64(1.0), 2)) == [1.0, 2.0]
