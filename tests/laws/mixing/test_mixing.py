import warnings

import numpy as np
import pytest

from mixlab.laws import ExpLaw, FitWarning, ImplicitLaw, LinearLaw

from ..conftest import DOMAINS, exp_truth


def test_exp_law_recovers_parameters(mixtures, rng):
    Y = exp_truth(mixtures) + rng.normal(0, 2e-3, (len(mixtures), 2))
    law = ExpLaw().fit(mixtures, Y, target_names=["a", "b"], domain_names=DOMAINS)
    np.testing.assert_allclose(law.c_, [2.0, 1.5], atol=0.02)
    np.testing.assert_allclose(law.k_, [0.8, 1.2], rtol=0.03)
    np.testing.assert_allclose(law.t_[0, 0], [-2.0, 1.0, 0.5, 0.5], atol=0.05)
    np.testing.assert_allclose(law.t_[1, 0], [0.8, -2.4, 0.6, 1.0], atol=0.05)
    assert law.predict(mixtures).shape == (len(mixtures), 2)
    assert law.params_table()["a"]["t"]["web"] == pytest.approx(-2.0, abs=0.05)


def test_exp_law_is_robust_to_outliers(mixtures, rng):
    y = exp_truth(mixtures)[:, :1] + rng.normal(0, 1e-3, (len(mixtures), 1))
    y[:6] += 1.5  # six broken runs
    robust = ExpLaw(delta=1e-2).fit(mixtures, y)
    plain = ExpLaw(loss="squared").fit(mixtures, y)
    truth = exp_truth(mixtures[6:])[:, 0]
    err_robust = np.abs(robust.predict(mixtures[6:])[:, 0] - truth).max()
    err_plain = np.abs(plain.predict(mixtures[6:])[:, 0] - truth).max()
    assert err_robust < 0.02 < err_plain


def test_log_features_recover_power_law(mixtures, rng):
    u = np.array([-0.3, 0.05, 0.0, 0.1])
    y = 1.0 + 0.5 * np.exp(np.log(mixtures + 0.01) @ u) + rng.normal(0, 1e-3, len(mixtures))
    law = ExpLaw(features="log").fit(mixtures, y[:, None])
    assert law.eps_[0] == pytest.approx(0.01, rel=0.3)
    np.testing.assert_allclose(law.u_[0, 0], u, atol=0.03)
    assert np.abs(law.predict(mixtures)[:, 0] - y).max() < 0.01


def test_implicit_law_recovers_predictions(mixtures, rng):
    t = np.array([[-3.0, 1.0, 1.0, 1.0], [1.0, 1.0, -3.0, 1.0]])
    y = 1.0 + np.exp(mixtures @ t.T) @ np.array([0.3, 0.6])
    y_noisy = y + rng.normal(0, 1e-3, len(y))
    law = ImplicitLaw(n_hidden=2, n_starts=3).fit(mixtures, y_noisy[:, None])
    fresh = rng.dirichlet(np.ones(4), 50)
    truth = 1.0 + np.exp(fresh @ t.T) @ np.array([0.3, 0.6])
    assert np.abs(law.predict(fresh)[:, 0] - truth).max() < 0.01
    assert law.s_.shape == (1, 2) and np.all(law.s_ > 0)


def test_linear_law_recovers_coefficients(mixtures, rng):
    beta = np.array([3.0, 2.0, 4.0, 1.0])
    y = mixtures @ beta + rng.normal(0, 1e-3, len(mixtures))
    law = LinearLaw().fit(mixtures, y[:, None], domain_names=DOMAINS)
    np.testing.assert_allclose(law.coef_[0], beta, atol=0.01)


def test_weighted_target_components_versus_direct(mixtures, rng):
    Y = exp_truth(mixtures) + rng.normal(0, 1e-3, (len(mixtures), 2))
    weights = {"a": 0.25, "b": 0.75}
    comp = ExpLaw().fit(
        mixtures, Y, target_names=["a", "b"], weights=weights, target_name="overall"
    )
    assert comp.fitted_names_ == ["a", "b"] and comp.target_names_ == ["overall"]
    np.testing.assert_allclose(
        comp.predict(mixtures)[:, 0], comp.predict_components(mixtures) @ [0.25, 0.75]
    )
    direct = ExpLaw(weighted="direct").fit(mixtures, Y, target_names=["a", "b"], weights=weights)
    assert direct.fitted_names_ == ["weighted"]
    truth = exp_truth(mixtures) @ [0.25, 0.75]
    assert np.abs(comp.predict(mixtures)[:, 0] - truth).max() < 0.01
    lin = LinearLaw().fit(mixtures, Y, target_names=["a", "b"], weights={"b": 1.0})
    assert lin.predict(mixtures).shape == (len(mixtures), 1)


@pytest.mark.parametrize(
    "law",
    [
        ExpLaw(features="linear+log"),
        ImplicitLaw(n_hidden=2, features="log", n_starts=1),
        LinearLaw(features="log"),
    ],
)
def test_gradient_matches_finite_differences(mixtures, law):
    Y = exp_truth(mixtures)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        law.fit(mixtures, Y)
    r = np.array([0.4, 0.3, 0.2, 0.1])
    G = law.gradient(r)[0]
    h = 1e-6
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        # the law is defined on the simplex, so compare along directions inside it
        d = e - h / 4
        fd = (law._predict((r + d)[None]) - law._predict((r - d)[None]))[0] / 2
        np.testing.assert_allclose(G @ d, fd, rtol=1e-4, atol=1e-9)


def test_fitting_is_deterministic(mixtures, rng):
    Y = exp_truth(mixtures)[:, :1] + rng.normal(0, 1e-3, (len(mixtures), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fits = [
            ImplicitLaw(n_hidden=2, n_starts=2, maxiter=200, seed=4).fit(mixtures, Y)
            for _ in range(2)
        ]
    np.testing.assert_array_equal(fits[0].predict(mixtures), fits[1].predict(mixtures))
