"""The additive power law: recovers a known law, has the right gradient, round-trips."""

import warnings

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import law_from_dict, make_law
from mixlab.laws.core.fitting import FitWarning

K = np.array([0.05, 0.02, 0.1, 0.03])
A = np.array([0.3, 0.5, 0.2, 0.4])


def truth(R):
    return 2.0 + ((R + 0.02) ** -A) @ K


def test_recovers_a_known_law_from_noisy_runs():
    rng = np.random.default_rng(0)
    R = rng.dirichlet(np.ones(4), 40)
    y = truth(R) + rng.normal(0, 1e-4, len(R))
    law = make_law("power").fit(R, y[:, None])
    assert law.c_[0] == pytest.approx(2.0, abs=0.02)
    np.testing.assert_allclose(law.k_[0], K, rtol=0.1)
    np.testing.assert_allclose(law.a_[0], A, rtol=0.1)
    assert law.eps_[0] == pytest.approx(0.02, rel=0.1)
    Rt = rng.dirichlet(np.ones(4), 100)
    assert np.max(np.abs(law.predict(Rt)[:, 0] - truth(Rt))) < 2e-3


def test_gradient_and_round_trip():
    rng = np.random.default_rng(2)
    R = rng.dirichlet(np.ones(4), 30)
    law = make_law("power").fit(R, truth(R)[:, None] + rng.normal(0, 1e-3, (30, 1)))
    x, h = R[:3], 1e-6
    step = x.copy()
    step[:, 2] += h
    numeric = (law.predict_unchecked(step) - law.predict_unchecked(x))[:, 0] / h
    np.testing.assert_allclose(law.gradient(x)[:, 0, 2], numeric, rtol=1e-4)
    again = law_from_dict(law.to_dict())
    np.testing.assert_allclose(again.predict(R), law.predict(R))
    with pytest.raises(InputError, match="a_max"):
        make_law("power", a_max=-1.0).fit(R, truth(R)[:, None])


def test_auto_tries_extra_candidates():
    rng = np.random.default_rng(3)
    R = rng.dirichlet(np.ones(4), 24)
    y = truth(R)[:, None] + rng.normal(0, 1e-3, (24, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        law = make_law("auto", candidates=["linear"], extra_candidates=["power"]).fit(R, y)
    names = [row["name"] for row in law.selection_[0]["candidates"]]
    assert {"linear", "power"} <= set(names)
    assert law.selection_[0]["chosen"] == "power"
