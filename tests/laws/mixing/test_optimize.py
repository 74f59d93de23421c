import time
import warnings

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import (
    ExpLaw,
    FitWarning,
    LGBMLaw,
    LinearLaw,
    MixtureConstraints,
    dirichlet_design,
    optimize_mixture,
    project_to_box_simplex,
)

NAMES = ["a", "b", "c", "d"]
V = np.array([1.0, 2.0, 3.0, 4.0])
A = 8.0


def separable_law(rng) -> ExpLaw:
    """Target sum_i v_i exp(-A r_i), fitted from noise-free per-domain components."""
    R = rng.dirichlet(np.ones(4), 80)
    Y = np.exp(-A * R)
    return ExpLaw(loss="squared").fit(
        R, Y, target_names=NAMES, domain_names=NAMES, weights=dict(zip(NAMES, V, strict=True))
    )


def analytic_optimum() -> np.ndarray:
    # KKT: v_i A exp(-A r_i) = lambda  =>  r_i = log(v_i) / A + const
    r = np.log(V) / A
    return r + (1 - r.sum()) / 4


def test_finds_known_optimum(rng):
    law = separable_law(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # the optimum is outside the sampled runs
        res = optimize_mixture(law, MixtureConstraints())
    np.testing.assert_allclose(res.weights, analytic_optimum(), atol=2e-3)
    truth = float(V @ np.exp(-A * analytic_optimum()))
    assert res.predicted == pytest.approx(truth, rel=1e-3)


def test_respects_every_constraint(rng):
    law = separable_law(rng)
    prior = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    cons = MixtureConstraints(
        lower={"a": 0.05},
        upper={"c": 0.2},
        prior=prior,
        cap=1.5,
        available_tokens={"a": 1e9, "b": 1e9, "c": 1e12, "d": 1e12},
        token_budget=1e10,
        max_epochs={"a": 1.0, "b": 4.0},
    )
    res = optimize_mixture(law, cons)
    w = res.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert w[0] >= 0.05 - 1e-9 and w[2] <= 0.2 + 1e-9
    assert np.all(w <= 1.5 * np.array([0.1, 0.2, 0.3, 0.4]) + 1e-9)
    assert w[0] * 1e10 <= 1.0 * 1e9 * (1 + 1e-9) and w[1] * 1e10 <= 4.0 * 1e9 * (1 + 1e-9)
    assert any(b.startswith("a at upper limit 0.1 (tokens: 1 epochs") for b in res.binding)
    assert res.reference == prior and res.gain == pytest.approx(
        res.reference_predicted - res.predicted
    )


def test_conflicting_constraints_are_named(rng):
    law = separable_law(rng)
    with pytest.raises(InputError, match="domain 'a': lower bound 0.5 exceeds .*cap"):
        optimize_mixture(law, MixtureConstraints(lower={"a": 0.5}, prior=[1, 1, 1, 1], cap=1.2))
    with pytest.raises(InputError, match="upper limits sum to 0.4 < 1"):
        optimize_mixture(law, MixtureConstraints(upper=0.1))
    with pytest.raises(InputError, match="lower bounds sum"):
        optimize_mixture(law, MixtureConstraints(lower=0.3))
    with pytest.raises(InputError, match="tokens"):
        optimize_mixture(
            law,
            MixtureConstraints(
                available_tokens=dict.fromkeys(NAMES, 1e9), token_budget=1e11, max_epochs=4
            ),
        )
    with pytest.raises(InputError, match="token_budget"):
        optimize_mixture(law, MixtureConstraints(available_tokens=dict.fromkeys(NAMES, 1.0)))


def test_linear_law_goes_to_the_best_vertex_within_bounds(rng):
    R = rng.dirichlet(np.ones(4), 50)
    law = LinearLaw().fit(R, R @ np.array([4.0, 3.0, 1.0, 2.0])[:, None], domain_names=NAMES)
    res = optimize_mixture(law, MixtureConstraints(upper=0.6))
    np.testing.assert_allclose(res.weights, [0, 0, 0.6, 0.4], atol=1e-6)


def test_sampling_method_for_lgbm_respects_constraints(rng):
    R = dirichlet_design(np.full(4, 0.25), 150, decimals=3, cap=None, seed=0)
    y = (np.exp(-A * R) @ V)[:, None]
    law = LGBMLaw(n_estimators=200, learning_rate=0.05).fit(R, y, domain_names=NAMES)
    cons = MixtureConstraints(upper={"d": 0.3}, lower={"a": 0.1})
    res = optimize_mixture(law, cons, n_candidates=3000, top_k=50, data=(R, y), n_bootstrap=3)
    assert res.method == "sample"
    assert res.mixture["d"] <= 0.3 + 1e-9 and res.mixture["a"] >= 0.1 - 1e-9
    assert res.interval is not None and res.interval[0] <= res.interval[1]
    truth_opt = float(V @ np.exp(-A * res.weights))
    truth_uniform = float(V @ np.exp(-A * np.full(4, 0.25)))
    assert truth_opt < truth_uniform


def test_bootstrap_interval_and_gain(rng):
    R = rng.dirichlet(np.ones(4), 60)
    Y = np.exp(-A * R) + rng.normal(0, 0.005, (60, 4))
    weights = dict(zip(NAMES, V, strict=True))
    law = ExpLaw(loss="squared").fit(R, Y, target_names=NAMES, weights=weights)
    res = optimize_mixture(
        law, MixtureConstraints(prior=[0.7, 0.1, 0.1, 0.1]), data=(R, Y), n_bootstrap=8
    )
    lo, hi = res.interval
    assert lo <= res.predicted <= hi
    assert res.gain > 0 and res.gain_interval[0] > 0


def test_exp_law_with_17_domains_optimises_quickly(rng):
    d = 17
    R = rng.dirichlet(np.ones(d) * 0.5, 300)
    t = rng.normal(0, 1.0, (3, d))
    Y = 2.0 + np.exp(R @ t.T) + rng.normal(0, 1e-3, (300, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        law = ExpLaw(features="linear+log").fit(R, Y)
    prior = np.full(d, 1 / d)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = optimize_mixture(law, MixtureConstraints(prior=prior, cap=4.0), target="target1")
    assert time.perf_counter() - start < 2.0
    assert res.predicted <= res.reference_predicted


def test_projection_onto_box_simplex(rng):
    V_ = rng.normal(0, 1, (20, 5))
    lb, ub = np.full(5, 0.05), np.array([0.5, 0.5, 0.3, 0.3, 0.3])
    W = project_to_box_simplex(V_, lb, ub)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(W >= lb - 1e-12) and np.all(W <= ub + 1e-12)
