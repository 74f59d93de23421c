"""Multi-phase schedules: a law on phase features recovers a known best 2-phase schedule."""

from __future__ import annotations

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws.mixing.multiphase import (
    optimize_schedule,
    parse_phase_names,
    phase_features,
    phase_names,
)
from mixlab.laws.mixing.optimize import MixtureConstraints
from mixlab.laws.mixing.regression import LinearLaw

DOMAINS = ["web", "code", "math"]
EPS = 1e-3
# loss = 3 - sum_kd A_kd log(x_kd + eps): early on web pays most, late math does
A = np.array([[3.0, 1.0, 1.0], [1.0, 1.0, 3.0]])
FRAC = np.array([0.5, 0.5])


def true_loss(X: np.ndarray) -> np.ndarray:
    return 3.0 - np.log(np.atleast_2d(X) + EPS) @ A.ravel()


def best_schedule(frac: np.ndarray) -> np.ndarray:
    """Within phase k, x_kd + eps is proportional to A_kd (Lagrange), in closed form."""
    d = A.shape[1]
    return np.array(
        [(f + d * EPS) * a / a.sum() - EPS for f, a in zip(frac, A, strict=True)]
    ).ravel()


@pytest.fixture(scope="module")
def law():
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(3), size=(60, 2))
    X = phase_features(W, FRAC)
    y = true_loss(X) + rng.normal(0, 0.01, len(X))
    return LinearLaw(features="log", eps=EPS).fit(
        X, y[:, None], domain_names=phase_names(DOMAINS, 2), target_names=["loss"]
    )


def test_phase_features_and_names():
    X = phase_features([[[2, 1, 1], [0, 0, 1]]], [[0.25, 0.75]])
    assert np.allclose(X, [[0.125, 0.0625, 0.0625, 0, 0, 0.75]])
    assert X.sum() == pytest.approx(1.0)
    assert phase_names(["a", "b"], 2) == ["a@1", "b@1", "a@2", "b@2"]
    assert parse_phase_names(["a@1", "b@1", "a@2", "b@2"]) == (["a", "b"], 2)
    with pytest.raises(InputError, match="phase-domain"):
        parse_phase_names(["a", "b"])
    with pytest.raises(InputError, match="sum to"):
        phase_features([[[1, 1], [1, 1]]], [[0.5, 0.6]])


def test_recovers_known_best_two_phase_schedule(law):
    result = optimize_schedule(law, fractions=FRAC)
    want = best_schedule(FRAC).reshape(2, 3) / FRAC[:, None]
    got = np.array([[m[d] for d in DOMAINS] for m in result.mixtures])
    assert np.abs(got - want).max() < 0.03  # (0.6, 0.2, 0.2) then (0.2, 0.2, 0.6)
    assert result.totals["web"] == pytest.approx(0.4, abs=0.02)
    # the phases beat the best static mixture, as the truth says they should
    static = np.kron(FRAC, [result.static_mixture[d] for d in DOMAINS])
    best = best_schedule(FRAC)
    assert true_loss(best)[0] < true_loss(static)[0] - 0.1
    assert result.gain_over_static > 0.1


def test_epoch_cap_counts_every_phase(law):
    """web may take 0.25 of the budget in all: the optimum (0.4) must give some of it up,
    and the cap holds for the sum of its tokens over both phases, not per phase."""
    available = {"web": 250.0, "code": 1e6, "math": 1e6}
    cons = MixtureConstraints(available_tokens=available, token_budget=1000.0, max_epochs=1.0)
    result = optimize_schedule(law, cons, fractions=FRAC, reference=None)
    web = sum(f * m["web"] for f, m in zip(result.fractions, result.mixtures, strict=True))
    assert web <= 0.25 + 1e-6 and web == pytest.approx(0.25, abs=1e-4)
    assert any(b.startswith("web total at upper limit") for b in result.binding)
    # web stays most useful early: the capped tokens go mostly to phase 1
    assert result.mixtures[0]["web"] > 2 * result.mixtures[1]["web"]
    # the truth's own constrained optimum is no better than what the law found (within noise)
    from scipy.optimize import minimize

    S = np.kron(np.ones(2), np.eye(3))
    B = np.kron(np.eye(2), np.ones(3))
    truth = minimize(
        lambda x: true_loss(x)[0],
        np.kron(FRAC, [0.25, 0.375, 0.375]),
        method="SLSQP",
        bounds=[(0, 0.5)] * 6,
        constraints=[
            {"type": "eq", "fun": lambda x: B @ x - FRAC},
            {"type": "ineq", "fun": lambda x: 0.25 - (S @ x)[0]},
        ],
    )
    got = np.array(
        [f * m[d] for f, m in zip(result.fractions, result.mixtures, strict=True) for d in DOMAINS]
    )
    assert true_loss(got)[0] <= truth.fun + 0.01


def test_best_fraction_candidate_and_sample_method(law):
    """Among candidate boundaries the better one (per the law) wins; the sampling optimiser
    (for laws without a gradient) lands near the gradient one."""
    grad = optimize_schedule(law, fractions=FRAC)
    sample = optimize_schedule(law, fractions=FRAC, method="sample", n_candidates=20000)
    assert sample.predicted == pytest.approx(grad.predicted, abs=0.05)
    assert sample.predicted >= grad.predicted - 1e-9
    both = optimize_schedule(
        law, fractions=[[0.5, 0.5], [0.3, 0.7]], observed_fractions=[[0.5, 0.5]]
    )
    alone = [optimize_schedule(law, fractions=f).predicted for f in ([0.5, 0.5], [0.3, 0.7])]
    assert both.predicted == pytest.approx(min(alone), abs=1e-6)
    with pytest.raises(InputError, match="fractions"):
        optimize_schedule(law, fractions=[0.5, 0.3, 0.2])


def test_within_range_keeps_a_linear_law_inside_the_swarm():
    """A linear law's optimum is a vertex (one-hot phases) that no run came near; with
    `within_range` every phase-domain share stays inside the runs' range."""
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.full(3, 4.0), size=(40, 2))  # concentrated: no run near a vertex
    X = phase_features(W, FRAC)
    y = true_loss(X) + rng.normal(0, 0.01, len(X))
    law = LinearLaw().fit(X, y[:, None], domain_names=phase_names(DOMAINS, 2))
    with pytest.warns(Warning, match="outside the fitted runs' range"):
        free = optimize_schedule(law, fractions=FRAC)
    assert free.extrapolated
    kept = optimize_schedule(law, fractions=FRAC, within_range=True)
    assert kept.extrapolated == []
    x = np.array(
        [f * m[d] for f, m in zip(kept.fractions, kept.mixtures, strict=True) for d in DOMAINS]
    )
    lo, hi = law.domain_range_[:, 0], law.domain_range_[:, 1]
    assert ((x >= lo - 1e-9) & (x <= hi + 1e-9)).all()
    assert kept.predicted >= free.predicted  # the box costs predicted loss, never gains it
    assert true_loss(x)[0] < true_loss(np.kron(FRAC, [1 / 3] * 3))[0]  # still better than uniform
