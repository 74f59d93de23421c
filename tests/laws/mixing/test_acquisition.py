"""Expected improvement and the batch rule of `mixing.acquisition`, on a law with a known optimum."""

import numpy as np
import pytest

from mixlab.laws import make_law
from mixlab.laws.mixing.acquisition import (
    expected_improvement,
    propose_batch,
    select_batch,
    total_variation,
)

from ..conftest import exp_truth


def test_expected_improvement_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu, sigma, best = np.array([1.0, 1.2, 0.8]), np.array([0.3, 0.1, 0.05]), 1.05
    draws = rng.normal(mu, sigma, (200_000, 3))
    mc = np.maximum(best - draws, 0).mean(axis=0)
    assert np.allclose(expected_improvement(mu, sigma, best), mc, atol=2e-3)
    # no uncertainty: the plain improvement; more uncertainty at the same mean: more EI
    assert expected_improvement(np.array([0.9]), np.array([0.0]), 1.0)[0] == pytest.approx(0.1)
    lo, hi = expected_improvement(np.array([1.1, 1.1]), np.array([0.01, 0.2]), 1.0)
    assert hi > lo > 0


def test_select_batch_keeps_its_distance():
    C = np.array([[0.5, 0.5], [0.51, 0.49], [0.9, 0.1], [0.2, 0.8]])
    picked = select_batch(C, np.array([4.0, 3.0, 2.0, 1.0]), 3, min_distance=0.05)
    assert picked == [0, 2, 3]  # the runner-up is too close to the best
    assert select_batch(C, np.ones(4), 2, existing=C[:2], min_distance=0.05) == [2, 3]


def test_propose_batch_finds_the_known_optimum(mixtures, rng):
    R = mixtures[:30]
    Y = exp_truth(R) * (1 + 0.003 * rng.standard_normal((30, 2)))
    weights = {"a": 0.5, "b": 0.5}
    law = make_law("exp", seed=0).fit(R, Y, target_names=["a", "b"], weights=weights)

    def truth(W):
        return exp_truth(W) @ np.array([0.5, 0.5])

    dense = np.random.default_rng(1).dirichlet(np.ones(4) * 0.5, 200_000)
    best = truth(dense).min()
    lb, ub = np.zeros(4), np.ones(4)
    batch = propose_batch(law, R, Y, lb, ub, [np.full(4, 0.25)], 4, n_bootstrap=8, seed=0)
    assert len(batch.mixtures) == 4
    assert np.allclose(batch.mixtures.sum(axis=1), 1)
    # the first proposal is near the true optimum of the weighted target...
    spread = truth(R).max() - truth(R).min()
    assert truth(batch.mixtures[:1])[0] - best < 0.05 * spread
    # ... it improves on every run so far, and the batch is spread out
    assert truth(batch.mixtures[:1])[0] < truth(R).min()
    D = total_variation(batch.mixtures, batch.mixtures)
    assert D[np.triu_indices(4, 1)].min() >= 0.05
    assert np.all(batch.sigma >= 0) and np.all(np.diff(batch.ei) <= 1e-12)
