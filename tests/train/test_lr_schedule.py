"""train/lr_schedule: warm-up, then cosine, WSD or constant, hitting the promised values."""

from __future__ import annotations

import math

import pytest

from mixlab.train.config import LRScheduleConfig
from mixlab.train.lr_schedule import lr_at

PEAK, TOTAL = 1e-3, 1000


def curve(**cfg):
    c = LRScheduleConfig(**cfg)
    return [lr_at(s, TOTAL, PEAK, c) for s in range(TOTAL)]


def test_warmup_is_linear_up_to_the_peak():
    lr = curve(kind="cosine", warmup=0.1)
    assert lr[0] == pytest.approx(PEAK / 100) and lr[49] == pytest.approx(PEAK / 2)
    assert lr[99] == pytest.approx(PEAK) and max(lr) == pytest.approx(PEAK)
    assert all(a < b for a, b in zip(lr[:99], lr[1:100], strict=True))


def test_cosine_decays_to_the_floor_halfway_at_the_midpoint():
    lr = curve(kind="cosine", warmup=0.0, min_lr_ratio=0.1)
    floor = 0.1 * PEAK
    assert lr[0] == pytest.approx(PEAK)
    assert lr[500] == pytest.approx(floor + (PEAK - floor) / 2)
    assert lr[-1] == pytest.approx(floor + (PEAK - floor) * 0.5 * (1 + math.cos(math.pi * 0.999)))
    assert all(a >= b for a, b in zip(lr, lr[1:], strict=False))


def test_wsd_holds_then_decays_linearly_over_the_last_fraction():
    lr = curve(kind="wsd", warmup=0.05, decay=0.2, min_lr_ratio=0.0)
    assert set(lr[50:800]) == {PEAK}
    assert lr[900] == pytest.approx(PEAK / 2) and lr[-1] == pytest.approx(PEAK / 200)


def test_constant_after_warmup():
    lr = curve(kind="constant", warmup=0.02)
    assert lr[0] < PEAK and set(lr[20:]) == {PEAK}
