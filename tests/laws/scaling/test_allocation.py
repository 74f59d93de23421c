"""Compute allocation: closed form versus numeric, inference-aware allocation, errors."""

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws.scaling.allocation import (
    chinchilla_optimal,
    compute_optimal,
    inference_optimal,
    tokens_for_loss,
)
from mixlab.laws.scaling.forms import ScalingLaw

EPOCH = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}


def fitted(form, params, **hyper):
    return ScalingLaw.from_dict(
        {
            "format": "mixlab.scaling_law",
            "version": 1,
            "form": form,
            "hyperparams": hyper,
            "params": params,
            "n_points": 10,
            "objective": 0.0,
        }
    )


@pytest.mark.parametrize("C", [1e19, 5.76e23, 1e26])
def test_closed_form_is_the_compute_optimum(C):
    law = fitted("chinchilla", EPOCH)
    best = compute_optimal(law, C)
    assert best.method == "closed form"
    assert 6 * best.n_params * best.tokens == pytest.approx(C, rel=1e-9)
    # first-order condition of min L(N, C / 6N): alpha A N^-alpha = beta B D^-beta
    p = EPOCH
    assert p["alpha"] * p["A"] * best.n_params ** -p["alpha"] == pytest.approx(
        p["beta"] * p["B"] * best.tokens ** -p["beta"], rel=1e-8
    )
    numeric = compute_optimal(law, C, flops_per_token=lambda N: 6 * N)
    assert numeric.method == "numeric"
    assert numeric.n_params == pytest.approx(best.n_params, rel=1e-4)
    assert numeric.loss == pytest.approx(best.loss, abs=1e-12)
    # no other split of the budget does better
    N = best.n_params * np.geomspace(0.2, 5, 41)
    assert np.all(law.loss_at(N, C / (6 * N)) >= best.loss - 1e-12)


def test_chinchilla_optimal_formula():
    N, D, loss = chinchilla_optimal(compute=6e20, **EPOCH)
    G = (EPOCH["alpha"] * EPOCH["A"] / (EPOCH["beta"] * EPOCH["B"])) ** (
        1 / (EPOCH["alpha"] + EPOCH["beta"])
    )
    s = EPOCH["alpha"] + EPOCH["beta"]
    assert N == pytest.approx(G * 1e20 ** (EPOCH["beta"] / s))
    assert D == pytest.approx(1e20 ** (EPOCH["alpha"] / s) / G)


def test_overtrain_law_allocates_like_its_chinchilla_twin():
    law = fitted("overtrain", {"E": 1.9, "a": 3000.0, "b": 2500.0, "eta": 0.17})
    best = compute_optimal(law, 1e22)
    numeric = compute_optimal(law, 1e22, flops_per_token=lambda N: 6 * N)
    assert best.method == "closed form"
    assert numeric.n_params == pytest.approx(best.n_params, rel=1e-4)


def test_inference_demand_moves_to_smaller_models():
    law = fitted("chinchilla", EPOCH)
    base = compute_optimal(law, 1e23)
    zero = inference_optimal(law, base.loss, 0.0)
    assert zero.n_params == pytest.approx(base.n_params, rel=1e-3)
    sizes, totals = [], []
    for T in (1e10, 1e11, 1e12, 1e13):
        a = inference_optimal(law, base.loss, T)
        assert a.loss == pytest.approx(base.loss, abs=1e-9)
        assert a.total_flops <= base.train_flops + 2 * base.n_params * T
        sizes.append(a.n_params)
        totals.append(a.total_flops)
    assert np.all(np.diff(sizes) < 0)
    assert np.all(np.diff(totals) > 0)


def test_tokens_for_loss_inverts_the_law():
    law = fitted("chinchilla", EPOCH)
    N = np.array([1e9, 1e10, 1e11])
    D = tokens_for_loss(law, N, 2.3)
    np.testing.assert_allclose(law.loss_at(N, D), 2.3, rtol=1e-10)
    assert np.isinf(tokens_for_loss(law, 1e8, 2.3)[0])  # E + A/N^alpha > 2.3: never
    dc = fitted("chinchilla", EPOCH, r_star=15.0)
    Dg = tokens_for_loss(dc, N, 2.3, unique_tokens=1e15)
    np.testing.assert_allclose(Dg, D, rtol=1e-6)


def test_scarce_unique_data_favours_bigger_models():
    law = fitted("chinchilla", EPOCH, r_star=15.0)
    free = compute_optimal(law, 1e24)
    scarce = compute_optimal(law, 1e24, unique_tokens=1e11)
    assert free.method == scarce.method == "numeric"
    assert scarce.n_params > 1.5 * free.n_params
    assert scarce.loss > free.loss


def test_allocation_errors():
    law = fitted("chinchilla", EPOCH)
    with pytest.raises(InputError, match="below what the law can reach"):
        inference_optimal(law, 1.8, 1e12)
    with pytest.raises(InputError, match="compute must be a positive"):
        compute_optimal(law, -1)
    with pytest.raises(InputError, match="needs a law in N and D"):
        compute_optimal(fitted("size", {"E": 2, "A": 100, "b": 0.3}), 1e20)
