"""Population training: the same numbers and records as the runs trained alone, per-member
divergence, and resuming a killed population (members done are not retrained)."""

from __future__ import annotations

import random

import pytest
import torch

from mixlab.data.prepare import prepare
from mixlab.runs import RunStore
from mixlab.train.config import parse_train_config
from mixlab.train.loop import train
from mixlab.train.model import GPT
from mixlab.train.population import train_population
from mixlab.train.population_model import PopulationAdamW, PopulationGPT

STEPS = 24


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("popdata")
    r = random.Random(1)
    words = ["the cat", "a dog", "sat on", "the mat", "and ran", "far away"]
    for name in ("words", "sums"):
        (root / name).mkdir()
    for i in range(16):
        (root / "words" / f"{i}.txt").write_text(" ".join(r.choice(words) for _ in range(40)))
        sums = "".join(
            f"{a}+{b}={a + b}\n" for a, b in ((r.randint(0, 9), r.randint(0, 9)) for _ in range(25))
        )
        (root / "sums" / f"{i}.txt").write_text(sums)
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {words: [words], sums: [sums]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def configs(data_dir, tmp_path, **overrides):
    """Four runs that differ in mixture, seed, learning rate, schedule, decay and clipping."""
    members = [
        dict(mixture={"words": 0.5, "sums": 0.5}, seed=0),
        dict(mixture={"words": 0.9, "sums": 0.1}, seed=1, optimizer={"lr": 0.02}),
        dict(
            mixture={"sums": 1.0},
            seed=2,
            optimizer={"lr": 0.005, "grad_clip": None},
            lr_schedule={"kind": "wsd"},
        ),
        dict(
            mixture={"words": 0.2, "sums": 0.8},
            seed=3,
            optimizer={"weight_decay": 0.0, "grad_clip": 0.3},
            lr_schedule={"kind": "constant"},
        ),
    ]
    out = []
    for i, member in enumerate(members):
        base = dict(
            data=str(data_dir / "prepared"),
            model={"preset": "25k"},
            tokens=STEPS * 4 * 32,
            seq_len=32,
            batch_size=4,
            device="cpu",
            optimizer={"lr": 0.01},
            eval={"every": 1, "max_sequences": 2},
            checkpoint={"dir": str(tmp_path / "ckpt")},
            run_id=f"m{i}",
            tags=["pop"],
        )
        base.update(member)
        base.update(overrides)
        out.append(parse_train_config(base))
    return out


@pytest.fixture(scope="module")
def alone(data_dir, tmp_path_factory):
    """The four runs trained one by one with `train()` (the reference)."""
    tmp = tmp_path_factory.mktemp("alone")
    with RunStore(tmp / "alone.db") as store:
        return {c.id: train(c, store) for c in configs(data_dir, tmp)}


def curve(record, metric="train_loss"):
    return [(e.step, e.value) for e in record.curve(metric)]


def assert_same_record(a, b, rel=1e-5):
    for key in (
        "status",
        "mixture",
        "model",
        "n_params",
        "n_params_nonembed",
        "tokens",
        "flops",
        "seed",
        "schedule",
        "tags",
        "source",
        "error",
    ):
        assert getattr(a, key) == getattr(b, key), key
    assert [(e.step, e.tokens, e.metric) for e in a.evaluations] == [
        (e.step, e.tokens, e.metric) for e in b.evaluations
    ]
    for ea, eb in zip(a.evaluations, b.evaluations, strict=True):
        assert ea.value == pytest.approx(eb.value, rel=rel, abs=1e-6), (ea.step, ea.metric)


def test_batched_model_and_optimizer_match_gpt_and_adamw():
    """One forward, backward and AdamW/clipping step of 3 members equals 3 separate GPTs."""
    from mixlab.train.presets import preset

    cfg = preset("25k", 96, 16, tie_embeddings=False)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(GPT(cfg))
    pop = PopulationGPT.stack(models)
    hyper = dict(lr=[1e-2, 3e-3, 5e-2], weight_decay=[0.1, 0.0, 0.3], clip=[1.0, None, 0.05])
    opt = PopulationAdamW(
        list(pop.parameters()),
        weight_decay=hyper["weight_decay"],
        beta1=[0.9] * 3,
        beta2=[0.95, 0.99, 0.95],
        eps=[1e-8] * 3,
        grad_clip=hyper["clip"],
    )
    singles = [
        torch.optim.AdamW(
            [
                {"params": [p for p in m.parameters() if p.ndim >= 2], "weight_decay": wd},
                {"params": [p for p in m.parameters() if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=lr,
            betas=(0.9, b2),
        )
        for m, lr, wd, b2 in zip(
            models, hyper["lr"], hyper["weight_decay"], [0.95, 0.99, 0.95], strict=True
        )
    ]
    for _ in range(3):
        x = torch.randint(0, 96, (3, 4, 17))
        _, losses = pop(x[..., :-1], x[..., 1:])
        losses.sum().backward()
        opt.clip_()
        opt.step(hyper["lr"])
        opt.zero_grad()
        for i, (m, o, clip) in enumerate(zip(models, singles, hyper["clip"], strict=True)):
            _, loss = m(x[i, :, :-1], x[i, :, 1:])
            assert loss.item() == pytest.approx(losses[i].item(), rel=1e-6)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
            o.step()
            o.zero_grad()
    for name, p in pop.named_parameters():
        for i, m in enumerate(models):
            ref = m.get_parameter(name)  # exact but for the clipping norm's summation order
            assert (p[i] - ref).norm() <= 1e-5 * ref.norm(), name


def test_population_gives_the_runs_trained_alone(data_dir, tmp_path, alone):
    """Per-step losses within 1e-5 relative, and the same store records, as four solo runs."""
    cfgs = configs(data_dir, tmp_path)
    with RunStore(tmp_path / "pop.db") as store:
        records = train_population(cfgs, store)
    for cfg, record in zip(cfgs, records, strict=True):
        solo = alone[cfg.id]
        assert len(curve(record)) == STEPS  # every step's training loss (eval every step)
        assert_same_record(record, solo)
        for (s1, a), (s2, b) in zip(curve(record), curve(solo), strict=True):
            assert s1 == s2 and abs(a - b) <= 1e-5 * abs(b), (cfg.id, s1, a, b)


def test_a_diverged_member_fails_and_the_others_continue(data_dir, tmp_path, alone, monkeypatch):
    original = PopulationGPT.forward
    calls = {"n": 0}

    def poisoned(self, idx, targets=None, reduction="mean"):
        logits, loss = original(self, idx, targets, reduction)
        calls["n"] += 1
        if calls["n"] == 10:  # member 1's loss at step 10 becomes NaN
            loss = loss.clone()
            loss[1] = float("nan")
        return logits, loss

    monkeypatch.setattr(PopulationGPT, "forward", poisoned)
    cfgs = configs(data_dir, tmp_path)
    with RunStore(tmp_path / "pop.db") as store:
        records = train_population(cfgs, store)
    assert records[1].status == "failed" and "at step 10" in records[1].error
    assert [s for s, _ in curve(records[1])][-1] == 9  # evaluations up to the last good step
    for i in (0, 2, 3):  # the survivors were not disturbed by dropping a member
        assert_same_record(records[i], alone[cfgs[i].id])


def test_killed_population_resumes_and_done_members_are_not_retrained(data_dir, tmp_path, alone):
    cfgs = configs(data_dir, tmp_path, checkpoint={"every": 8, "dir": str(tmp_path / "ck")})
    with RunStore(tmp_path / "pop.db") as store:
        train_population(cfgs, store, stop_after=12)  # "killed" at 12; checkpoints at 8
        assert {store.get(c.id).status for c in cfgs} == {"running"}
        # member 0 finishes alone from its population checkpoint (the single-run format)
        assert train(cfgs[0], store).status == "done"
        stamp = store._conn.execute("SELECT updated_at FROM runs WHERE id='m0'").fetchone()
        records = train_population(cfgs, store)  # the other three resume from step 8
        assert store._conn.execute("SELECT updated_at FROM runs WHERE id='m0'").fetchone() == stamp
    for cfg, record in zip(cfgs, records, strict=True):
        assert_same_record(record, alone[cfg.id])
