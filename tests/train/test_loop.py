"""The training loop: learning, per-domain evaluation, probes, resume, failure, DDP on gloo."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mixlab.data.prepare import prepare
from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.train.config import parse_train_config
from mixlab.train.distributed import spawn_local
from mixlab.train.loop import TrainingDiverged, train
from mixlab.train.model import GPT

FACTS = {f"k{i}": v for i, v in enumerate(["red", "blue", "gold", "mint", "rust", "teal"])}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Three tiny byte-tokenised domains: word salad, sums, and memorisable key/value facts."""
    root = tmp_path_factory.mktemp("data")
    r = random.Random(0)
    words = ["the cat", "a dog", "sat on", "the mat", "and ran", "far away"]
    for name in ("words", "sums", "facts"):
        (root / name).mkdir()
    for i in range(40):
        (root / "words" / f"{i}.txt").write_text(" ".join(r.choice(words) for _ in range(50)))
        sums = "".join(
            f"{a}+{b}={a + b}\n" for a, b in ((r.randint(0, 9), r.randint(0, 9)) for _ in range(30))
        )
        (root / "sums" / f"{i}.txt").write_text(sums)
        for k, v in FACTS.items():  # one fact per document, as the probes ask them
            (root / "facts" / f"{i}-{k}.txt").write_text(f"{k}={v};")
    (root / "probes.jsonl").write_text(
        "".join(json.dumps({"prompt": f"{k}=", "answer": f"{v};"}) + "\n" for k, v in FACTS.items())
    )
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 4}\n"
        "domains: {words: [words], sums: [sums], facts: [facts]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def config(data_dir, **overrides):
    base = dict(
        data=str(data_dir / "prepared"),
        mixture={"words": 0.5, "sums": 0.5},
        model={"preset": "25k"},
        tokens=40_000,
        seq_len=32,
        batch_size=8,
        optimizer={"lr": 0.01},
        eval={"every": 25, "max_sequences": 8},
        seed=3,
    )
    base.update(overrides)
    return parse_train_config(base)


def test_loss_goes_down_and_domains_differ(data_dir, tmp_path):
    cfg = config(data_dir, run_id="r1", tags=["t"])
    with RunStore(tmp_path / "s.db") as store:
        record = train(cfg, store)
    assert record.status == "done" and record.tags == ["t"]
    assert record.mixture == {"words": 0.5, "sums": 0.5}
    assert record.n_params == cfg.model.build(258, 32).n_params()
    assert record.tokens == 156 * 8 * 32  # whole steps within the budget
    words = record.curve("val_loss/words")
    assert [e.step for e in words] == [0, 25, 50, 75, 100, 125, 150, 156]
    assert words[-1].value < 0.6 * words[0].value
    final = record.final_metrics()
    assert final["val_loss/facts"] > final["val_loss/words"]  # never trained on facts
    assert final["code_length_bits"] == pytest.approx(
        final["code_length_bits/words"] + final["code_length_bits/sums"]
    )
    assert final["val_bpb/words"] == pytest.approx(final["val_loss/words"] / np.log(2), rel=0.05)


def test_each_domains_loss_follows_its_share(data_dir, tmp_path):
    with RunStore(tmp_path / "s.db") as store:
        words = train(config(data_dir, mixture={"words": 0.9, "sums": 0.1}), store).final_metrics()
        sums = train(config(data_dir, mixture={"words": 0.1, "sums": 0.9}), store).final_metrics()
    assert words["val_loss/words"] < sums["val_loss/words"]
    assert sums["val_loss/sums"] < words["val_loss/sums"]


def test_probe_reaches_100_percent_on_memorisable_facts(data_dir, tmp_path):
    cfg = config(
        data_dir,
        mixture={"facts": 1.0},
        tokens=50_000,
        optimizer={"lr": 0.02},
        eval={"every": 1000, "probes": {"kv": str(data_dir / "probes.jsonl")}},
    )
    with RunStore(tmp_path / "s.db") as store:
        record = train(cfg, store)
    probe = record.curve("probe/kv")
    assert probe[0].value < 0.5 and probe[-1].value == 1.0


def test_resume_reproduces_the_uninterrupted_run_exactly(data_dir, tmp_path):
    ckpt = {"every": 40, "dir": str(tmp_path / "ckpt")}
    whole = config(data_dir, run_id="whole", checkpoint={"every": 0, "dir": str(tmp_path / "c0")})
    parts = config(data_dir, run_id="parts", checkpoint=ckpt)
    with RunStore(tmp_path / "s.db") as store:
        a = train(whole, store)
        train(parts, store, stop_after=50)  # "crashes" at step 50: the last checkpoint is at 40
        assert store.get("parts").status == "running"
        b = train(parts, store)
    curve = lambda r, m: [(e.step, e.value) for e in r.curve(m)]  # noqa: E731
    for metric in ("val_loss/words", "val_loss/sums", "code_length_bits", "train_loss"):
        assert curve(b, metric) == curve(a, metric), metric


def test_nan_loss_marks_the_run_failed_and_keeps_evaluations(data_dir, tmp_path, monkeypatch):
    original = GPT.forward
    calls = {"n": 0}

    def poisoned(self, idx, targets=None, reduction="mean"):
        logits, loss = original(self, idx, targets, reduction)
        if targets is not None and self.training:
            calls["n"] += 1
            if calls["n"] == 60:
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", poisoned)
    with RunStore(tmp_path / "s.db") as store:
        with pytest.raises(TrainingDiverged):
            train(config(data_dir, run_id="bad"), store)
        record = store.get("bad")
    assert record.status == "failed" and "at step 60" in record.error
    assert [e.step for e in record.curve("val_loss/words")] == [0, 25, 50]


def test_impossible_mixture_and_bad_config_fail_before_training(data_dir):
    with pytest.raises(InputError, match="'facts'.*epochs"):
        from mixlab.train.loop import Trainer, resolve_setup

        cfg = config(data_dir, mixture={"facts": 1.0}, max_epochs=1.0)
        Trainer(cfg, resolve_setup(cfg))
    with pytest.raises(InputError, match="optimizer.lr"):
        config(data_dir, optimizer={"lr": -1})
    with pytest.raises(InputError, match="model"):
        config(data_dir, model={"n_layer": 2})


def test_ddp_two_gloo_processes_match_one_process(data_dir, tmp_path):
    # global batch 8 = 2 ranks x 4 sequences, or 1 process x 8 sequences
    single = config(data_dir, run_id="single", tokens=12_000, batch_size=8)
    double = config(data_dir, run_id="ddp", tokens=12_000, batch_size=4)
    with RunStore(tmp_path / "one.db") as store:
        a = train(single, store)
    spawn_local(double, world=2, store_path=tmp_path / "two.db")
    with RunStore(tmp_path / "two.db") as store:
        b = store.get("ddp")
    assert b.tokens == a.tokens
    for metric in ("val_loss/words", "val_loss/sums", "train_loss", "code_length_bits"):
        va = [e.value for e in a.curve(metric)]
        vb = [e.value for e in b.curve(metric)]
        assert np.allclose(va, vb, rtol=1e-4), (metric, va, vb)


def test_allocator_and_decode_cache_change_no_number(data_dir, tmp_path):
    """Raised glibc thresholds (heap reuse instead of fresh zeroed pages) and KV-cache probe
    decoding: the same losses and probe accuracies as glibc's defaults and recomputing."""
    from mixlab.train.runtime import set_allocator

    probes = {"kv": str(data_dir / "probes.jsonl")}
    curves = []
    try:
        for tuned in (False, True):
            if not set_allocator(tuned=tuned):
                pytest.skip("no glibc mallopt here")
            cfg = config(
                data_dir,
                mixture={"facts": 0.5, "words": 0.5},
                tokens=16_000,
                run_id=f"alloc{tuned}",
                eval={"every": 20, "max_sequences": 4, "probes": probes, "decode_cache": tuned},
            )
            with RunStore(tmp_path / "s.db") as store:
                record = train(cfg, store)
            curves.append({(e.metric, e.step): e.value for e in record.evaluations})
    finally:
        set_allocator(tuned=True)
    assert curves[0] == curves[1]
    assert ("probe/kv", 60) in curves[0] and ("train_loss", 60) in curves[0]


def test_default_cadence_is_log_spaced_in_tokens(data_dir, tmp_path):
    from mixlab.train.cadence import evaluation_steps

    cfg = config(data_dir, tokens=20_000, eval={"max_sequences": 4, "points": 5})
    with RunStore(tmp_path / "s.db") as store:
        record = train(cfg, store)
    steps = [e.step for e in record.curve("val_loss/words")]
    assert steps == sorted(evaluation_steps(78, 256, points=5, warmup_steps=3))
    assert steps[:2] == [0, 3] and steps[-1] == 78 and len(steps) == 6
