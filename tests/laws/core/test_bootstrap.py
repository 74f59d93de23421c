import numpy as np
import pytest

from mixlab.laws import ExpLaw, LinearLaw, bootstrap_law, percentile_interval

from ..conftest import exp_truth


def test_prediction_interval_contains_truth(rng):
    R = rng.dirichlet(np.ones(4), 60)
    y = exp_truth(R)[:, :1] + rng.normal(0, 0.01, (60, 1))
    law = ExpLaw(loss="squared").fit(R, y)
    boot = bootstrap_law(law, R, y, n_bootstrap=30, seed=1)
    points = rng.dirichlet(np.ones(4) * 3, 10)
    lo, hi = boot.interval(points, level=0.95)
    truth = exp_truth(points)[:, :1]
    assert np.mean((lo <= truth) & (truth <= hi)) >= 0.8
    c_lo, c_hi = boot.param_interval(0.95)["c"][:, 0]
    assert c_lo <= 2.0 <= c_hi


def test_linear_coefficient_interval_and_determinism(rng):
    R = rng.dirichlet(np.ones(3), 80)
    beta = np.array([1.0, 2.0, 3.0])
    y = (R @ beta + rng.normal(0, 0.05, 80))[:, None]
    law = LinearLaw().fit(R, y)
    b1 = bootstrap_law(law, R, y, n_bootstrap=50, seed=7)
    b2 = bootstrap_law(law, R, y, n_bootstrap=50, seed=7)
    np.testing.assert_array_equal(b1.predict(R[:5]), b2.predict(R[:5]))
    lo, hi = b1.param_interval(0.95)["coef"]
    assert np.all((lo[0] <= beta) & (beta <= hi[0]))


def test_percentile_interval():
    lo, hi = percentile_interval(np.arange(101.0), 0.9)
    assert (lo, hi) == (pytest.approx(5.0), pytest.approx(95.0))


def test_bootstrap_can_refit_only_some_targets(rng):
    R = rng.dirichlet(np.ones(4), 40)
    Y = exp_truth(R)
    law = LinearLaw().fit(R, Y, target_names=["a", "b"])
    boot = bootstrap_law(law, R, Y, n_bootstrap=3, targets=["b"])
    assert boot.predict(R[:4]).shape == (3, 4, 1)
    assert boot.laws[0].target_names_ == ["b"]
