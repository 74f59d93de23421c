"""Online mixing inside the training loop: a DoReMi proxy against a reference run in the store."""

from __future__ import annotations

import random

import pytest

from mixlab.data.prepare import prepare
from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.train.config import parse_train_config
from mixlab.train.loop import train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two tiny byte-tokenised domains: learnable word salad and random bytes (pure noise)."""
    root = tmp_path_factory.mktemp("data")
    r = random.Random(0)
    words = ["the cat", "a dog", "sat on", "the mat", "and ran", "far away"]
    for name in ("words", "noise"):
        (root / name).mkdir()
    for i in range(30):
        (root / "words" / f"{i}.txt").write_text(" ".join(r.choice(words) for _ in range(50)))
        (root / "noise" / f"{i}.txt").write_text(
            "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(300))
        )
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 3}\n"
        "domains: {words: [words], noise: [noise]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def config(data_dir, **overrides):
    base = dict(
        data=str(data_dir / "prepared"),
        mixture={"words": 0.5, "noise": 0.5},
        model={"preset": "25k"},
        tokens=16_000,
        seq_len=32,
        batch_size=8,
        optimizer={"lr": 0.01},
        eval={"every": 20, "max_sequences": 4},
        seed=3,
        compile="off",
    )
    base.update(overrides)
    return parse_train_config(base)


def weights_by_step(record):
    out: dict[int, dict[str, float]] = {}
    for e in record.evaluations:
        if e.metric.startswith("mix_weight/"):
            out.setdefault(e.step, {})[e.metric.split("/", 1)[1]] = e.value
    return out


def test_doremi_run_logs_a_deterministic_trajectory(data_dir, tmp_path):
    online = {"method": "doremi", "every_steps": 10, "step_size": 2.0, "reference_run": "ref"}
    with RunStore(tmp_path / "s.db") as store:
        train(config(data_dir, run_id="ref", mixture={"words": 0.9, "noise": 0.1}), store)
        a = train(config(data_dir, run_id="a", online=online), store)
        b = train(config(data_dir, run_id="b", online=online), store)
    traj = weights_by_step(a)
    assert sorted(traj) == list(range(0, 62, 10))  # 62 steps: updates at 0, 10, ..., 60
    for w in traj.values():
        assert sum(w.values()) == pytest.approx(1.0)
        assert min(w.values()) > 0  # smoothing keeps both alive
    assert traj == weights_by_step(b)  # deterministic given the seed
    # the record holds the realised shares and the schedule followed, like a curriculum run
    assert a.schedule["online"]["method"] == "doremi"
    stages = a.schedule["mixture"]["stages"]
    assert len(stages) == len(traj) and stages[1]["weights"] == pytest.approx(traj[10])
    assert sum(a.mixture.values()) == pytest.approx(1.0)
    assert a.mixture["words"] == pytest.approx(
        sum(st["fraction"] * st["weights"]["words"] for st in stages)
    )
    assert a.final_metrics()["val_loss/words"] == b.final_metrics()["val_loss/words"]
    avg = {
        k.split("/", 1)[1]: v
        for k, v in a.final_metrics().items()
        if k.startswith("mix_weight_avg/")
    }
    assert sum(avg.values()) == pytest.approx(1.0)
    # the reference cannot learn noise either, so the noise domain gains no weight
    assert avg["noise"] <= 0.5 + 1e-9


def test_aioli_run_samples_its_probe_mixtures(data_dir, tmp_path):
    online = {"method": "aioli", "every_steps": 8, "floor": 0.05}
    with RunStore(tmp_path / "s.db") as store:
        rec = train(config(data_dir, run_id="ai", online=online, tokens=8_000), store)
    traj = weights_by_step(rec)
    # a round of one window per domain: (1 - delta) p + delta e_j, delta 0.5, p uniform
    assert traj[0] == pytest.approx({"words": 0.75, "noise": 0.25})
    assert traj[8] == pytest.approx({"words": 0.25, "noise": 0.75})
    assert traj[16] != pytest.approx(traj[0])  # the round's end moved p
    assert all(sum(w.values()) == pytest.approx(1.0) for w in traj.values())


def test_online_config_errors_name_the_field(data_dir, tmp_path):
    with pytest.raises(InputError, match="online"):
        config(data_dir, online={"method": "doremi"})
    with pytest.raises(InputError, match="online.every_steps"):
        config(data_dir, online={"method": "aioli", "every_steps": 0})
    cfg = config(data_dir, online={"method": "doremi", "reference_run": "missing"})
    with RunStore(tmp_path / "s.db") as store, pytest.raises(InputError, match="reference_run"):
        train(cfg, store)
    with pytest.raises(InputError, match="online: needs a static mixture"):
        train(
            config(
                data_dir,
                online={"method": "aioli"},
                mixture={"kind": "linear", "start": {"words": 1.0}, "end": {"noise": 1.0}},
            )
        )


def test_static_runs_keep_their_ids():
    """`online` came after runs were recorded: unset, it leaves the fingerprint (run id) alone."""
    base = dict(data="/x", mixture={"a": 1.0}, model={"preset": "25k"}, tokens=1000)
    assert parse_train_config(base).fingerprint() == "e60de127cd544237"  # as before `online`
    online = parse_train_config({**base, "online": {"method": "aioli"}})
    assert online.fingerprint() != "e60de127cd544237"


def test_resumed_aioli_run_matches_the_uninterrupted_one(data_dir, tmp_path):
    online = {"method": "aioli", "every_steps": 6}
    whole = config(data_dir, run_id="whole", online=online, tokens=8_000)
    parts = config(
        data_dir,
        run_id="parts",
        online=online,
        tokens=8_000,
        checkpoint={"every": 12, "dir": str(tmp_path / "ckpt")},
    )
    with RunStore(tmp_path / "s.db") as store:
        a = train(whole, store)
        train(parts, store, stop_after=16)  # the last checkpoint (and mixer state) is at 12
        b = train(parts, store)
    assert weights_by_step(b) == weights_by_step(a)
    assert [e.value for e in b.curve("val_loss/words")] == [
        e.value for e in a.curve("val_loss/words")
    ]


def test_population_refuses_online_runs_by_recording_them_failed(data_dir, tmp_path):
    from mixlab.train.population import train_population

    cfg = config(data_dir, run_id="pop-online", online={"method": "aioli"})
    with RunStore(tmp_path / "s.db") as store:
        train_population([cfg], store)
        record = store.get("pop-online")
    assert record.status == "failed" and "trains alone" in record.error


def epochs_served(record, data_dir) -> dict[str, float]:
    from mixlab.data.prepared import load_prepared

    train_tokens = {
        d: t.size for d, t in load_prepared(data_dir / "prepared").train_tokens().items()
    }
    last = max(e.step for e in record.evaluations if e.metric.startswith("code_tokens/"))
    return {
        e.metric.split("/", 1)[1]: e.value / train_tokens[e.metric.split("/", 1)[1]]
        for e in record.evaluations
        if e.metric.startswith("code_tokens/") and e.step == last
    }


def test_online_weights_respect_max_epochs_over_the_whole_run(data_dir, tmp_path):
    """DoReMi with a strong step moves most of the budget to one domain; with a cap of 1
    epoch on every domain the mixer's weights are clipped (the excess renormalised onto the
    other) so no domain is served past its cap, counted over the whole run."""
    online = {"method": "doremi", "every_steps": 5, "step_size": 30.0, "reference_run": "ref"}
    with RunStore(tmp_path / "s.db") as store:
        train(config(data_dir, run_id="ref", mixture={"words": 0.9, "noise": 0.1}), store)
        free = train(config(data_dir, run_id="free", online=online), store)
        capped = train(config(data_dir, run_id="capped", online=online, max_epochs=1.0), store)
    assert max(epochs_served(free, data_dir).values()) > 1.1  # uncapped, it would pass the cap
    served = epochs_served(capped, data_dir)
    seq = 33 / 10_000  # one sequence of slack, in epochs of a ~10k-token domain
    assert all(e <= 1.0 + seq for e in served.values()), served
    assert max(served.values()) > 0.95  # the cap binds: the mixer pushed up to it
    for w in weights_by_step(capped).values():
        assert sum(w.values()) == pytest.approx(1.0)
