"""Online mixing numerics (no torch): DoReMi on a constructed case, Aioli's mixing matrix."""

from __future__ import annotations

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.train.online_mixing import (
    Aioli,
    DoReMi,
    MixPoint,
    ReferenceLosses,
    estimate_mixing_matrix,
    guard,
    history_schedule,
)

DOMAINS = ["noise", "easy", "hard"]
START = np.array([3.0, 3.0, 3.0])
FLOOR = np.array([3.0, 1.0, 1.0])  # noise: nothing to learn
RATE = np.array([1.0, 1.0, 0.08])  # per unit of (weight x step)


def losses(seen: np.ndarray) -> np.ndarray:
    """Loss per domain after `seen` weighted steps of it: exponential approach to its floor."""
    return FLOOR + (START - FLOOR) * np.exp(-RATE * seen)


def run_doremi(steps: int = 200, **kw) -> DoReMi:
    """A proxy whose per-domain learning follows its mixture; a stronger reference (it learns
    each domain as fast as the proxy would on that domain alone)."""
    ref = ReferenceLosses(
        steps=np.arange(steps + 1),
        table=dict(zip(DOMAINS, losses(np.arange(steps + 1)[:, None] * 1.0).T, strict=True)),
    )
    mixer = DoReMi(dict.fromkeys(DOMAINS, 1 / 3), ref, **kw)
    seen = np.zeros(3)
    for step in range(1, steps + 1):
        w = np.array([mixer.weights()[d] for d in DOMAINS])
        seen += w
        mixer.update(step, dict(zip(DOMAINS, losses(seen), strict=True)))
    return mixer


def test_doremi_downweights_noise_and_a_domain_the_reference_learns_well():
    mixer = run_doremi()
    avg = mixer.averaged_weights()
    assert sum(avg.values()) == pytest.approx(1.0)
    # the noise domain's excess is 0 throughout: it only loses weight
    assert avg["noise"] < 0.2
    # the easy domain is learned fast by both: little excess, less weight than the hard one
    assert avg["easy"] < avg["hard"]
    assert avg["hard"] > 0.5
    # smoothing keeps every domain alive
    assert min(m.weights["noise"] for m in mixer.trajectory) >= 1e-3 / 3 * 0.999


def test_doremi_update_is_the_papers_rule():
    ref = ReferenceLosses({"a": 1.0, "b": 2.0})
    m = DoReMi({"a": 0.5, "b": 0.5}, ref, step_size=0.7, smoothing=0.1)
    m.update(5, {"a": 1.5, "b": 1.0})  # excess (0.5, 0 after clipping)
    a = np.array([0.5 * np.exp(0.7 * 0.5), 0.5])
    expected = 0.9 * a / a.sum() + 0.1 * 0.5
    assert [m.weights()["a"], m.weights()["b"]] == pytest.approx(expected.tolist())
    assert m.trajectory[-1] == MixPoint(5, m.weights())
    assert m.averaged_weights()["a"] == pytest.approx(expected[0])  # mean of alpha_1..T
    m.update(6, {"a": 1.0, "b": 2.5})  # excess (0, 0.5)
    second = m.weights()["a"]
    assert m.averaged_weights()["a"] == pytest.approx((expected[0] + second) / 2)


def test_doremi_is_deterministic_and_the_floor_holds_against_collapse():
    a = run_doremi(step_size=50.0, smoothing=0.0, floor=0.05)
    b = run_doremi(step_size=50.0, smoothing=0.0, floor=0.05)
    assert a.trajectory == b.trajectory
    lows = [min(m.weights.values()) for m in a.trajectory]
    assert min(lows) >= 0.05 - 1e-12


def test_guard_floor_and_errors():
    p = guard(np.array([0.98, 0.01, 0.01]), np.full(3, 1 / 3), 0.0, 0.1)
    assert p == pytest.approx([0.8, 0.1, 0.1])
    with pytest.raises(InputError, match="online.floor"):
        DoReMi({"a": 0.5, "b": 0.5}, ReferenceLosses({"a": 1, "b": 1}), floor=0.5)
    with pytest.raises(InputError, match="reference losses lack"):
        DoReMi({"a": 0.5, "b": 0.5}, ReferenceLosses({"a": 1})).update(1, {"a": 1, "b": 1})


def test_reference_losses_nearest_in_tokens_then_steps():
    ref = ReferenceLosses(steps=[0, 10, 20], tokens=[0, 1000, 2000], table={"a": [5.0, 3.0, 2.0]})
    assert ref.at(0, tokens=1400.0) == {"a": 3.0}
    assert ref.at(19) == {"a": 2.0}


def test_estimator_recovers_a_known_mixing_matrix():
    rng = np.random.default_rng(0)
    A = np.array([[0.30, 0.05, 0.00], [0.10, 0.20, 0.02], [0.00, 0.08, 0.25]])
    P = rng.dirichlet(np.ones(3), size=40)
    drops = P @ A.T + rng.normal(0, 1e-3, size=(40, 3))
    assert estimate_mixing_matrix(P, drops) == pytest.approx(A, abs=5e-3)


def test_aioli_learns_the_matrix_from_simulated_loss_dynamics():
    """Linear dynamics L(t+1) = L(t) - A p(t) + noise, driven by Aioli's own probe mixtures."""
    rng = np.random.default_rng(1)
    A = np.array([[0.02, 0.00, 0.00], [0.005, 0.01, 0.0], [0.0, 0.0, 0.001]])
    names = ["a", "b", "c"]
    mixer = Aioli(dict.fromkeys(names, 1 / 3), step_size=5.0, smoothing=0.0, delta=0.5)
    loss = np.array([4.0, 4.0, 4.0])
    estimates = []
    mixer.update(0, dict(zip(names, loss, strict=True)))
    for step in range(1, 61):
        p = np.array([mixer.weights()[n] for n in names])
        assert p.sum() == pytest.approx(1.0)
        loss = loss - A @ p + rng.normal(0, 1e-5, 3)
        mixer.update(step, dict(zip(names, loss, strict=True)))
        if step % 3 == 0:
            estimates.append(mixer.A_)
    assert len(mixer.trajectory) == 21  # the start and one update per round of 3 windows
    assert np.mean(estimates, axis=0) == pytest.approx(A, abs=1e-3)
    # p_j grows with the total loss drop per unit of j: a (0.025) > b (0.01) > c (0.001)
    final = mixer.averaged_weights()
    assert final["a"] > final["b"] > final["c"]


def test_history_schedule_keeps_the_past():
    hist = [MixPoint(0, {"a": 0.5, "b": 0.5}), MixPoint(10, {"a": 0.9, "b": 0.1})]
    s = history_schedule(hist, tokens_per_step=100, budget_tokens=4000)
    assert [st.fraction for st in s.stages] == pytest.approx([0.25, 0.75])
    cum = s.cumulative(np.array([0.25, 1.0]), ["a", "b"])
    assert cum[0] == pytest.approx([0.125, 0.125])
    assert cum[1] == pytest.approx([0.125 + 0.675, 0.125 + 0.075])


def test_aioli_round_is_probes_then_exploitation_at_p():
    mixer = Aioli({"a": 0.5, "b": 0.5}, delta=0.5, exploit_windows=2, smoothing=0.0)
    seen = []
    loss = np.array([3.0, 3.0])
    for step in range(9):
        mixer.update(step, {"a": loss[0], "b": loss[1]})
        seen.append(round(mixer.weights()["a"], 6))
        w = mixer.weights()
        loss = loss - np.array([0.2 * w["a"], 0.05 * w["b"]])  # a learns faster per unit weight
    p1 = mixer.trajectory[1].weights["a"]
    assert p1 > 0.5  # a's column of A is larger: it gains weight
    # probes (a-heavy, b-heavy) at p = 0.5, two windows at p1, then probes around p1
    assert seen[:6] == pytest.approx([0.75, 0.25, p1, p1, (p1 + 1) / 2, p1 / 2], abs=1e-6)


def test_normalized_matrix_is_nonnegative_and_sums_to_one():
    from mixlab.train.online_mixing import normalized

    A = normalized(np.array([[0.2, -0.1], [0.0, 0.3]]))
    assert A.min() == 0 and A.sum() == pytest.approx(1.0)


def test_cap_weights_clips_and_renormalises():
    from mixlab.train.online_mixing import cap_weights

    p = np.array([0.7, 0.2, 0.1])
    q = cap_weights(p, np.array([0.4, 1.0, 1.0]))
    assert q == pytest.approx([0.4, 0.4, 0.2])  # the excess 0.3 shared 2:1 by the others
    q = cap_weights(p, np.array([0.4, 0.25, 1.0]))
    assert q.sum() == pytest.approx(1.0) and q[0] == pytest.approx(0.4)
    assert q[1] == pytest.approx(0.25) and q[2] == pytest.approx(0.35)
    assert cap_weights(p, None) is p
    assert cap_weights(p, np.array([0.2, 0.2, 0.2])) == pytest.approx([1 / 3] * 3)
    mixer = DoReMi({"a": 0.5, "b": 0.5}, ReferenceLosses({"a": 0.0, "b": 0.0}), step_size=5.0)
    mixer.set_upper({"a": 0.6, "b": 1.0})
    for step in range(1, 20):
        mixer.update(step, {"a": 1.0, "b": 0.0})  # all excess on a: DoReMi wants a -> 1
    assert mixer.weights()["a"] == pytest.approx(0.6)
    assert all(m.weights["a"] <= 0.6 + 1e-12 for m in mixer.trajectory)


def test_aioli_objective_weights_the_domains_it_lowers():
    """With the objective on domain c alone, Aioli moves weight to what lowers c's loss (b,
    which transfers to c), not to a, which lowers the average most but does nothing for c."""
    A = np.array([[0.05, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.01, 0.002]])
    names = ["a", "b", "c"]

    def run(objective):
        mixer = Aioli(
            dict.fromkeys(names, 1 / 3), step_size=2.0, smoothing=0.0, objective=objective
        )
        loss = np.array([4.0, 4.0, 4.0])
        mixer.update(0, dict(zip(names, loss, strict=True)))
        for step in range(1, 31):
            p = np.array([mixer.weights()[n] for n in names])
            loss = loss - A @ p
            mixer.update(step, dict(zip(names, loss, strict=True)))
        return mixer.averaged_weights()

    average, target = run(None), run({"c": 1.0})
    assert average["a"] > average["b"]
    assert target["b"] > target["a"] and target["b"] > 0.5
    # equal weights are the paper's rule exactly
    assert run(dict.fromkeys(names, 2.0)) == pytest.approx(average)
    with pytest.raises(InputError, match="online.objective: unknown domain"):
        Aioli(dict.fromkeys(names, 1 / 3), objective={"z": 1.0})
