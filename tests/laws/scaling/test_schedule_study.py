"""Joint fit of a study's schedule-aware step laws: one annealing coefficient C for all runs
recovers C where a single curve cut before its decay cannot."""

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws.scaling.schedule import ScheduleStepLaw, fit_schedule_study

TRUE = {"L0": 2.0, "A": 3.0, "alpha": 0.5, "C": 4e-4}


def curve(law, steps, rng, noise=3e-3):
    """Losses from the law itself at `steps`, with multiplicative noise; and the clean ones."""
    fitted = law.clone()
    fitted.params_ = dict(TRUE)
    clean = fitted.predict(steps)
    return clean * np.exp(rng.normal(0, noise, len(steps))), clean


def test_shared_c_recovers_the_annealing_a_cut_wsd_curve_cannot_see():
    rng = np.random.default_rng(0)
    # no warm-up: its momentum area would leak a little of C into the stable phase
    target = ScheduleStepLaw(total_steps=10000, lr_kind="wsd", warmup=0.0, decay=0.2)
    steps = np.arange(100, 10001, 100)
    y, clean = curve(target, steps, rng)
    cut = steps <= 7500  # the stable phase only: no decay in the curve
    single = target.clone().fit(steps[cut], y[cut])
    # the curve holds nothing to learn C from: the fit leaves it wherever it started
    assert abs(single.params_["C"] / TRUE["C"] - 1) > 0.5
    laws, curves = [target], [(steps[cut], y[cut])]
    for total in (2000, 4000):  # shorter cosine runs of the same model, decayed to the end
        law = ScheduleStepLaw(total_steps=total, lr_kind="cosine", warmup=0.02)
        s = np.arange(50, total + 1, 50)
        laws.append(law)
        curves.append((s, curve(law, s, rng)[0]))
    joint = fit_schedule_study(laws, curves)
    assert joint.shared["C"] == pytest.approx(TRUE["C"], rel=0.15)
    end = joint.laws[0].predict([10000])[0]
    assert abs(end - clean[-1]) < 0.01
    assert abs(end - clean[-1]) < 0.5 * abs(single.predict([10000])[0] - clean[-1])
    # the same model under every schedule: one law for all runs
    one = fit_schedule_study(laws, curves, shared=("L0", "A", "alpha", "C"))
    assert one.shared["C"] == pytest.approx(TRUE["C"], rel=0.15)
    assert one.shared["alpha"] == pytest.approx(TRUE["alpha"], rel=0.15)


def test_study_input_checks():
    law = ScheduleStepLaw(total_steps=100)
    s = np.arange(10, 101, 10.0)
    with pytest.raises(InputError, match="at least two runs"):
        fit_schedule_study([law], [(s, 3 - s / 100)])
    with pytest.raises(InputError, match="shared"):
        fit_schedule_study([law, law], [(s, 3 - s / 100)] * 2, shared=("L0",))
