"""The schedule-aware step law (Tissue et al. 2024): areas, parameter recovery, prediction
of the decay from a curve cut before it, and a WSD cooldown."""

import warnings

import numpy as np
import pytest

from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.scaling.forms import StepLaw, make_scaling_law, scaling_law_from_dict
from mixlab.laws.scaling.schedule import ScheduleStepLaw, annealing_areas, lr_schedule
from mixlab.train.config import LRScheduleConfig
from mixlab.train.lr_schedule import lr_at

TRUE = {"L0": 2.0, "A": 3.0, "alpha": 0.5, "C": 4e-4}


def curve(law, steps, rng, noise=1e-3):
    """Losses from the law itself at `steps`, with multiplicative noise."""
    fitted = law.clone()
    fitted.params_ = dict(TRUE)
    clean = fitted.predict(steps)
    return clean * np.exp(rng.normal(0, noise, len(steps))), clean


@pytest.mark.parametrize("kind", ["cosine", "wsd", "constant"])
def test_lr_schedule_matches_the_trainer(kind):
    cfg = LRScheduleConfig(kind=kind, warmup=0.05, min_lr_ratio=0.1, decay=0.2)
    got = lr_schedule(1000, 1000, kind, 0.05, 0.1, 0.2)
    want = [lr_at(i, 1000, 1.0, cfg) for i in range(1000)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_annealing_area_is_the_momentum_sum():
    lr = np.array([1.0, 1.0, 0.5, 0.5, 0.0])
    s1, s2 = annealing_areas(lr, lam=0.5)
    np.testing.assert_allclose(s1, [0, 1, 2, 2.5, 3, 3])
    # m = [0, 0, 0.5, 0.25, 0.625]
    np.testing.assert_allclose(s2, [0, 0, 0, 0.5, 0.75, 1.375])


def test_recovers_parameters_and_predicts_the_decay_from_a_cut_curve():
    rng = np.random.default_rng(0)
    law = ScheduleStepLaw(total_steps=10000, lr_kind="cosine", warmup=0.02)
    steps = np.arange(100, 10001, 100)
    y, clean = curve(law, steps, rng)
    full = law.clone().fit(steps, y)
    for k, v in TRUE.items():
        assert full.params_[k] == pytest.approx(v, rel=0.15), k
    cut = steps <= 6000
    part = law.clone().fit(steps[cut], y[cut])
    end = part.predict([10000])[0]
    assert abs(end - clean[-1]) < 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        plain = StepLaw().fit(steps[cut], y[cut]).predict([10000])[0]
    assert abs(end - clean[-1]) < 0.5 * abs(plain - clean[-1])
    again = scaling_law_from_dict(part.to_dict())
    assert again.predict([10000])[0] == pytest.approx(end)
    assert isinstance(make_scaling_law("schedule", total_steps=5), ScheduleStepLaw)


def test_wsd_cooldown_from_a_fitted_annealing_coefficient():
    """Fit a cosine run; predict a WSD run's cooldown from its stable phase alone."""
    rng = np.random.default_rng(1)
    cos = ScheduleStepLaw(total_steps=8000, lr_kind="cosine", warmup=0.02)
    steps = np.arange(100, 8001, 100)
    y, _ = curve(cos, steps, rng)
    fitted = cos.clone().fit(steps, y)
    wsd = ScheduleStepLaw(total_steps=8000, lr_kind="wsd", decay=0.2, warmup=0.02)
    yw, clean_w = curve(wsd, steps, rng)
    stable = steps <= 6400
    cool = wsd.clone(C=fitted.params_["C"]).fit(steps[stable], yw[stable])
    assert cool.predict([8000])[0] == pytest.approx(clean_w[-1], abs=0.01)
    assert fitted.with_schedule(lr_kind="wsd", decay=0.2).predict([8000])[0] == pytest.approx(
        clean_w[-1], abs=0.01
    )
    drop = clean_w[stable][-1] - clean_w[-1]
    assert drop > 0.1  # the cooldown is a real drop that the stable phase does not show


def paper_areas(lr, warmup, lam=0.999):
    """S1, S2 written out step by step from the paper's definition, the annealing momentum
    counting the drops from the peak (the warm-up's rise is no annealing)."""
    s1, s2, m = [0.0], [0.0], 0.0
    for i, eta in enumerate(lr):
        drop = lr[i - 1] - eta if i > warmup else 0.0
        m = lam * m + drop
        s1.append(s1[-1] + eta)
        s2.append(s2[-1] + m)
    return np.array(s1), np.array(s2)


def test_warm_up_does_not_enter_the_annealing_area():
    """A warm-up's rise counted as negative annealing keeps S2 below 0 for ~1/(1-lam) steps."""
    lr = lr_schedule(1171, 1171, "cosine", 0.05, 0.1)
    s1, s2 = annealing_areas(lr, 0.999, warmup_steps=59)
    want1, want2 = paper_areas(lr, 59)
    np.testing.assert_allclose(s1, want1)
    np.testing.assert_allclose(s2, want2, atol=1e-9)
    assert s2.min() >= 0 and s2[-1] > 300  # not -301 as with the rise counted


def test_predicts_the_end_of_a_short_warmed_up_cosine_run():
    """1,171 steps with a 5% warm-up (the real bench run's schedule), cut at 60%: the law
    fitted on the cut curve predicts the final loss, and better than the plain step law."""
    T, w = 1171, 59
    s1, s2 = paper_areas(lr_schedule(T, T, "cosine", 0.05, 0.1), w)
    steps = np.arange(10, T + 1, 10)
    clean = 3.0 + 2.0 * s1[steps] ** -0.4 - 4e-4 * s2[steps]
    y = clean * np.exp(np.random.default_rng(2).normal(0, 1e-3, len(steps)))
    cut = steps <= 0.6 * T
    law = ScheduleStepLaw(total_steps=T, lr_kind="cosine", warmup=0.05).fit(steps[cut], y[cut])
    end = law.predict([T])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        plain = StepLaw(min_step=w).fit(steps[cut], y[cut]).predict([T])[0]
    assert abs(end - clean[-1]) < 0.02
    assert abs(end - clean[-1]) < 0.5 * abs(plain - clean[-1])
    assert law.params_["C"] == pytest.approx(4e-4, rel=0.3)
