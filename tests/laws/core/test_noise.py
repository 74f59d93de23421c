"""The seed-noise rule shared by the verification and the strategies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixlab.laws.core.noise import BEATS, WITHIN, WORSE, beyond_noise, noise_verdict, paired_gain


def test_paired_noise_removes_the_shared_seed_effect():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.5, 8)  # large, shared by both candidates of a seed
    base = {s: 3.0 + e for s, e in enumerate(seed_effect)}
    new = {s: 2.9 + e + rng.normal(0, 0.01) for s, e in enumerate(seed_effect)}
    p = paired_gain(base, new)
    assert p["gain"] == pytest.approx(0.1, abs=0.01)
    assert p["seed_noise"] < 0.01 < p["seed_noise_unpaired"]  # paired: the seed effect cancels
    assert noise_verdict(p["gain"], p["seed_noise"]) == BEATS
    assert noise_verdict(p["gain"], p["seed_noise_unpaired"]) == WITHIN
    assert noise_verdict(-p["gain"], p["seed_noise"]) == WORSE


def test_rule_is_twice_the_noise_and_unknown_noise_confirms_nothing():
    assert beyond_noise(0.21, 0.1) and not beyond_noise(0.19, 0.1)
    assert not beyond_noise(0.5, math.nan)
    assert noise_verdict(-0.5, math.nan) == WITHIN
    one = paired_gain({0: 1.0}, {0: 0.5})
    assert one["gain"] == 0.5 and math.isnan(one["seed_noise"])
