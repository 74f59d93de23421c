"""The mixture sampler: exact prefix proportions, determinism, resume, schedules, epoch cap."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixlab.data.sampler import MixtureSampler, validation_batches, validation_sequences
from mixlab.data.schedule import parse_schedule
from mixlab.errors import InputError

L = 8


def domains(sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Domain k holds consecutive ids starting at k * 1e6, so a row reveals where it came from."""
    return {
        name: np.arange(n, dtype=np.int64) + k * 1_000_000
        for k, (name, n) in enumerate(sizes.items())
    }


@pytest.mark.parametrize("seed", range(6))
def test_every_prefix_is_within_one_sequence_of_the_weights(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    w = rng.dirichlet(np.full(k, [0.2, 1.0, 5.0][seed % 3]))
    weights = {f"d{i}": float(x) for i, x in enumerate(w / w.sum())}
    sampler = MixtureSampler(domains({d: 200 for d in weights}), weights, seq_len=L)
    target = np.array(list(weights.values()))
    for n in range(1, 600):
        sampler.choose(1)
        assert np.all(np.abs(sampler.counts - n * target) < 1.0), (n, sampler.counts)


def test_ties_go_to_the_earlier_domain() -> None:
    sampler = MixtureSampler(domains({"a": 100, "b": 100}), {"a": 0.5, "b": 0.5}, seq_len=L)
    assert sampler.choose(6).tolist() == [0, 1, 0, 1, 0, 1]


def test_rows_are_windows_and_each_epoch_visits_every_sequence_once() -> None:
    data = domains({"a": 81, "b": 400})
    sampler = MixtureSampler(data, {"a": 0.5, "b": 0.5}, seq_len=L, batch_size=5, seed=1)
    starts = []
    for _ in range(8):
        batch = sampler.next_batch()
        assert batch.shape == (5, L + 1) and batch.dtype == np.int64
        assert np.all(np.diff(batch, axis=1) == 1)
        starts += [int(r[0]) for r, d in zip(batch, sampler.last_domains, strict=True) if d == 0]
    # domain a has (81 - 1) // 8 = 10 sequences: 20 draws = exactly two passes
    assert sorted(starts[:10]) == sorted(starts[10:]) == list(range(0, 80, 8))
    assert starts[:10] != starts[10:]  # reshuffled per epoch
    assert sampler.epochs_seen()["a"] == 2.0


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    def stream(seed: int) -> np.ndarray:
        s = MixtureSampler(
            domains({"a": 500, "b": 300, "c": 90}),
            {"a": 0.5, "b": 0.3, "c": 0.2},
            seq_len=L,
            batch_size=4,
            seed=seed,
        )
        return np.stack([s.next_batch() for _ in range(30)])

    np.testing.assert_array_equal(stream(7), stream(7))
    assert not np.array_equal(stream(7), stream(8))


def test_resume_continues_the_identical_stream() -> None:
    def make() -> MixtureSampler:
        return MixtureSampler(
            domains({"a": 100, "b": 60}), {"a": 0.7, "b": 0.3}, seq_len=L, batch_size=3, seed=5
        )

    full = make()
    reference = [full.next_batch() for _ in range(40)]  # several epochs of both domains
    first = make()
    for _ in range(17):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make()
    resumed.load_state_dict(state)
    for expected in reference[17:]:
        np.testing.assert_array_equal(resumed.next_batch(), expected)
    other = MixtureSampler(domains({"a": 100, "b": 60}), {"a": 0.7, "b": 0.3}, seq_len=L, seed=6)
    with pytest.raises(InputError, match="seed"):
        other.load_state_dict(state)


@pytest.mark.parametrize(("budget", "stage_one"), [(800, 30), (840, 32)])
def test_curriculum_switches_at_the_stage_boundary(budget: int, stage_one: int) -> None:
    """Stage one is 30% of the budget: 30 sequences of 800 tokens; 31.5 of 840, where the
    straddling sequence goes to stage one's domain (its deficit 0.5 beats 0.25)."""
    schedule = {
        "kind": "curriculum",
        "stages": [
            {"fraction": 0.3, "weights": {"a": 1.0}},
            {"fraction": 0.7, "weights": {"b": 0.5, "c": 0.5}},
        ],
    }
    sampler = MixtureSampler(
        domains({"a": 500, "b": 500, "c": 500}), schedule, seq_len=L, budget_tokens=budget
    )
    chosen = sampler.choose(budget // L)
    assert np.all(chosen[:stage_one] == 0) and np.all(chosen[stage_one:] != 0)
    assert abs(int((chosen == 1).sum()) - int((chosen == 2).sum())) <= 1


def test_linear_schedule_tracks_its_integral() -> None:
    schedule = {"kind": "linear", "start": {"a": 1.0}, "end": {"b": 1.0}}
    budget = 100 * L
    sampler = MixtureSampler(
        domains({"a": 400, "b": 400}), schedule, seq_len=L, budget_tokens=budget
    )
    for n in range(1, 131):  # past the budget the end mixture holds
        sampler.choose(1)
        assert np.all(np.abs(sampler.counts - sampler.targets(n)[0]) < 1.0)
    assert sampler.counts.tolist() == [50, 80]


def test_epoch_cap_turns_an_impossible_mixture_into_an_input_error() -> None:
    data = domains({"big": 100_000, "small": 801})  # small: 100 sequences of 8
    sampler = MixtureSampler(data, {"big": 0.9, "small": 0.1}, seq_len=L, max_epochs={"small": 2})
    assert sampler.check(16_000)["small"] == pytest.approx(2.0)
    with pytest.raises(InputError) as error:
        sampler.check(40_000)
    message = str(error.value)
    assert "'small'" in message and "801 train tokens" in message and "5.00 epochs" in message
    assert "'big'" not in message


def test_bad_mixtures_are_input_errors() -> None:
    data = domains({"a": 100, "b": 5})
    with pytest.raises(InputError, match="weights sum to 1.1"):
        MixtureSampler(data, {"a": 0.5, "b": 0.6}, seq_len=L)
    with pytest.raises(InputError, match="'zzz'"):
        MixtureSampler(data, {"a": 0.5, "zzz": 0.5}, seq_len=L)
    with pytest.raises(InputError, match="domain 'b': 5 train tokens"):
        MixtureSampler(data, {"a": 0.5, "b": 0.5}, seq_len=L)
    with pytest.raises(InputError, match="budget_tokens"):
        MixtureSampler(data, {"kind": "linear", "start": {"a": 1}, "end": {"a": 1}}, seq_len=L)
    with pytest.raises(InputError, match=r"schedule\.stages"):
        parse_schedule({"kind": "curriculum", "stages": [{"fraction": 0.5, "weights": {"a": 1}}]})


def test_validation_sequences_are_a_fixed_even_spread() -> None:
    tokens = np.arange(1001)
    seqs = validation_sequences(tokens, L, max_sequences=10)
    assert seqs.shape == (10, L + 1) and seqs[0, 0] == 0 and seqs[-1, 0] == 992
    np.testing.assert_array_equal(seqs, validation_sequences(tokens, L, max_sequences=10))
    batches = validation_batches({"a": tokens, "b": np.arange(50)}, L, batch_size=4)
    assert [len(b) for b in batches["b"]] == [4, 2]
    with pytest.raises(InputError, match="domain 'c'"):
        validation_batches({"c": np.arange(5)}, L, batch_size=4)
