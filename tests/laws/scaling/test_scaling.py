"""Scaling laws: parameter recovery per form, intervals, dropping, validation, save/load."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mixlab.errors import InputError
from mixlab.io.laws import load_scaling_law, save_scaling_law
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.scaling.forms import (
    ChinchillaLaw,
    OvertrainLaw,
    ScalingLaw,
    SizeLaw,
    StepLaw,
    effective_data,
    make_scaling_law,
)

CHIN = {"E": 1.82, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def noisy(y, rng, sd):
    return y * np.exp(rng.normal(0.0, sd, np.shape(y)))


def chinchilla_data(rng, sd=0.005):
    N, D = np.meshgrid(np.geomspace(5e7, 1e10, 10), np.geomspace(1e9, 5e11, 10))
    N, D = N.ravel(), D.ravel()
    p = CHIN
    y = p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]
    return np.column_stack([N, D]), noisy(y, rng, sd)


def test_step_law_recovers_parameters_and_skips_warmup(rng):
    S = np.arange(100, 20001, 100.0)
    y = noisy(2.1 + 25.0 * S**-0.45, rng, 0.002)
    y[S < 1000] += 3.0  # warm-up: far above the law
    law = StepLaw(min_step=1000).fit(S, y)
    assert law.params_["E"] == pytest.approx(2.1, rel=0.02)
    assert law.params_["a"] == pytest.approx(0.45, rel=0.08)
    assert law.n_points_ == int(np.sum(S >= 1000))
    frac = StepLaw(min_fraction=0.05).fit(S, y)
    assert frac.warmup_end(S) == pytest.approx(1000.0)
    assert frac.predict([1e5])[0] == pytest.approx(2.1 + 25.0 * 1e5**-0.45, rel=0.01)


def test_size_law_recovers_parameters_with_interval(rng):
    N = np.geomspace(1e7, 1e10, 20)
    y = noisy(1.8 + 400.0 * N**-0.34, rng, 0.003)
    law = SizeLaw(n_bootstrap=60, seed=1).fit(N, y)
    assert law.params_["E"] == pytest.approx(1.8, rel=0.03)
    assert law.params_["b"] == pytest.approx(0.34, rel=0.08)
    lo, hi = law.ci_["b"]
    assert lo <= 0.34 <= hi and hi - lo < 0.2
    band = law.predict_interval([1e11])
    assert band.shape == (2, 1) and band[0, 0] < band[1, 0]


def test_chinchilla_recovers_parameters(rng):
    X, y = chinchilla_data(rng)
    law = ChinchillaLaw().fit(X, y)
    p = law.params_
    assert p["E"] == pytest.approx(CHIN["E"], rel=0.03)
    assert p["alpha"] == pytest.approx(CHIN["alpha"], rel=0.06)
    assert p["beta"] == pytest.approx(CHIN["beta"], rel=0.06)
    assert law.fit_info_["success"]
    # a worse parameter set scores a higher objective on the same points
    assert law.cost(X, y) < law.cost(X, y, {**p, "beta": 0.28})


def test_chinchilla_drop_highest_leaves_out_outliers(rng):
    X, y = chinchilla_data(rng)
    y = y.copy()
    bad = [3, 40, 77]
    y[bad] += 5.0
    law = ChinchillaLaw(drop_highest=3).fit(X, y)
    assert law.dropped_ == bad
    assert law.n_points_ == len(y) - 3
    assert law.params_["alpha"] == pytest.approx(CHIN["alpha"], rel=0.06)


def test_effective_data_matches_muennighoff():
    U = 1e9
    assert effective_data(5e8, U, 15.0) == pytest.approx(5e8)  # fewer tokens than unique
    assert effective_data(U, U, 15.0) == pytest.approx(U)
    # 4 epochs: R = 3 repeats, D' = U + U R* (1 - exp(-R / R*))
    assert effective_data(4 * U, U, 15.0) == pytest.approx(U + U * 15 * (1 - np.exp(-3 / 15)))
    assert effective_data(1e6 * U, U, 15.0) == pytest.approx(16 * U, rel=1e-6)  # the ceiling


def test_data_constrained_chinchilla_recovers_r_star(rng):
    p, r_star = {"E": 1.9, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.3}, 5.0
    N, U, E = np.meshgrid(np.geomspace(1e8, 3e9, 5), [2e8, 1e9, 5e9], [0.5, 1, 2, 4, 8, 16, 40])
    N, U, D = N.ravel(), U.ravel(), (U * E).ravel()
    Deff = effective_data(D, U, r_star)
    y = noisy(p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * Deff ** -p["beta"], rng, 0.002)
    law = ChinchillaLaw(r_star="fit").fit({"N": N, "D": D, "U": U}, y)
    assert law.variables == ("N", "D", "U")
    assert law.params_["r_star"] == pytest.approx(r_star, rel=0.3)
    assert law.params_["beta"] == pytest.approx(p["beta"], rel=0.1)
    fixed = ChinchillaLaw(r_star=5.0).fit({"N": N, "D": D, "U": U}, y)
    assert "r_star" not in fixed.params_
    assert fixed.params_["alpha"] == pytest.approx(p["alpha"], rel=0.1)
    # more epochs of the same unique data help less and less
    more = fixed.loss_at(1e9, np.array([1, 10, 100, 1000]) * 1e9, 1e9)
    assert np.all(np.diff(more) < 0) and more[2] - more[3] < 1e-3


def test_overtrain_law_recovers_parameters_and_matches_chinchilla(rng):
    E, a, b, eta = 1.9, 3000.0, 2500.0, 0.17
    N, M = np.meshgrid(np.geomspace(1e7, 3e9, 8), [5, 10, 20, 40, 80, 160, 320])
    N, M = N.ravel(), M.ravel()
    D = N * M
    C = 6 * N * D
    y = noisy(E + (a * M**eta + b * M**-eta) * C**-eta, rng, 0.002)
    law = OvertrainLaw().fit(np.column_stack([N, D]), y)
    assert law.params_["eta"] == pytest.approx(eta, rel=0.08)
    assert law.params_["E"] == pytest.approx(E, rel=0.03)
    cp = law.chinchilla_params()
    chin = cp["E"] + cp["A"] * N ** -cp["alpha"] + cp["B"] * D ** -cp["beta"]
    np.testing.assert_allclose(law.predict(np.column_stack([N, D])), chin, rtol=1e-10)


def test_bootstrap_intervals_cover_truth_and_are_seeded(rng):
    X, y = chinchilla_data(rng, sd=0.01)
    a = ChinchillaLaw(n_bootstrap=40, seed=3).fit(X, y)
    b = ChinchillaLaw(n_bootstrap=40, seed=3).fit(X, y)
    np.testing.assert_array_equal(a.boot_params_, b.boot_params_)
    for name in ("E", "alpha", "beta"):
        lo, hi = a.ci_[name]
        assert lo <= a.params_[name] <= hi


def test_save_load_predicts_identically(rng, tmp_path):
    X, y = chinchilla_data(rng)
    law = ChinchillaLaw(n_bootstrap=10, drop_highest=2).fit(X, y)
    path = save_scaling_law(law, tmp_path / "fit.json")
    back = load_scaling_law(path)
    assert isinstance(back, ChinchillaLaw) and back.get_params() == law.get_params()
    pts = np.array([[1e11, 2e12], [3e8, 6e9]])
    np.testing.assert_array_equal(back.predict(pts), law.predict(pts))
    np.testing.assert_array_equal(back.predict_interval(pts), law.predict_interval(pts))
    assert back.ci_ == law.ci_ and back.dropped_ == law.dropped_
    assert ScalingLaw.from_dict(law.to_dict()).params_ == law.params_
    for form in ("step", "size", "overtrain"):
        assert make_scaling_law(form).form == form


@pytest.mark.parametrize(
    "X, y, words",
    [
        (
            np.array([[1e8, 1e9], [-1e8, 1e9], [2e8, 1e9]]),
            [3.0, 2.9, 2.8],
            ["'N'", "row 1", "positive"],
        ),
        (np.array([[1e8, 1e9], [2e8, 0.0], [3e8, 1e9]]), [3.0, 2.9, 2.8], ["'D'", "row 1"]),
        (np.array([[1e8, np.nan], [2e8, 1e9], [3e8, 1e9]]), [3.0, 2.9, 2.8], ["'D'", "NaN"]),
        (np.array([[1e8, 1e9], [2e8, 1e9], [3e8, 1e9]]), [3.0, np.nan, 2.8], ["row 1", "NaN"]),
        (
            np.array([[1e8, 1e9], [2e8, 1e9], [3e8, 1e9]]),
            [3.0, 2.9, 2.8],
            ["3 usable", "5 parameters"],
        ),
        (pd.DataFrame({"N": [1e8, 2e8], "tokens": [1e9, 1e9]}), [3.0, 2.9], ["missing", "'D'"]),
        (np.ones((4, 3)), [3.0, 2.9, 2.8, 2.7], ["2 column"]),
        (np.array([[1e8, 1e9]] * 6), [3.0] * 5, ["6 input rows", "5 losses"]),
    ],
)
def test_bad_input_is_a_clear_input_error(X, y, words):
    with pytest.raises(InputError) as err:
        ChinchillaLaw().fit(X, y)
    for w in words:
        assert w in str(err.value)


def test_other_validation():
    with pytest.raises(InputError, match="not fitted"):
        SizeLaw().predict([1e9])
    with pytest.raises(InputError, match="r_star"):
        ChinchillaLaw(r_star=-1).fit(np.ones((3, 3)), [1, 2, 3])
    with pytest.raises(InputError, match="2 usable"):
        StepLaw(min_step=250).fit([100, 200, 300, 400], [3.0, 2.9, 2.8, 2.7])
    with pytest.raises(InputError, match="unknown scaling-law form"):
        make_scaling_law("kaplan")
    with pytest.raises(InputError, match="not a fitted mixlab scaling law"):
        ScalingLaw.from_dict({"format": "mixlab.law"})
    with pytest.raises(InputError, match="n_bootstrap"):
        SizeLaw().fit([1e7, 1e8, 1e9, 1e10], [3, 2.5, 2.2, 2.1]).param_interval()


def test_exact_fit_on_as_many_points_as_parameters():
    N = np.array([7e7, 1.6e8, 3.05e8])
    y = 1.5 + 60.0 * N**-0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        law = SizeLaw().fit(N, y)
    np.testing.assert_allclose(law.predict(N), y, rtol=1e-4)


def test_unlimited_unique_data_is_plain_chinchilla(rng):
    X, y = chinchilla_data(rng)
    law = ChinchillaLaw(r_star=15.0).fit(
        {"N": X[:, 0], "D": X[:, 1], "U": np.full(len(y), 1e15)}, y
    )
    plain = law.predict({"N": [1e9], "D": [1e11], "U": [np.inf]})
    assert plain[0] == pytest.approx(law.loss_at(1e9, 1e11)[()])
    assert plain[0] < law.predict({"N": [1e9], "D": [1e11], "U": [1e9]})[0]
