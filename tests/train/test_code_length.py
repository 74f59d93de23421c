"""Compression: the prequential code length is the summed training losses in bits, and a
trained model codes its training text in fewer bits per byte than an untrained one."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mixlab.data.prepare import prepare
from mixlab.data.prepared import load_prepared
from mixlab.train.config import parse_train_config
from mixlab.train.evaluate import text_code_bits
from mixlab.train.loop import Trainer, resolve_setup


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("code")
    r = random.Random(1)
    words = ["the cat", "a dog", "sat on", "the mat", "and ran", "far away"]
    for name in ("words", "sums"):
        (root / name).mkdir()
    for i in range(30):
        (root / "words" / f"{i}.txt").write_text(" ".join(r.choice(words) for _ in range(60)))
        (root / "sums" / f"{i}.txt").write_text(
            "".join(
                f"{a}+{b}={a + b}\n"
                for a, b in ((r.randint(0, 9), r.randint(0, 9)) for _ in range(30))
            )
        )
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 3}\n"
        "domains: {words: [words], sums: [sums]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root / "prepared"


def trainer(data_dir, **overrides) -> Trainer:
    cfg = parse_train_config(
        dict(
            data=str(data_dir),
            mixture={"words": 0.7, "sums": 0.3},
            model={"preset": "25k"},
            tokens=60 * 8 * 32,
            seq_len=32,
            batch_size=8,
            optimizer={"lr": 0.01},
            seed=5,
            device="cpu",
            **overrides,
        )
    )
    return Trainer(cfg, resolve_setup(cfg))


def test_prequential_code_length_is_the_summed_batch_losses_in_bits(data_dir):
    t = trainer(data_dir)
    losses = [t.step() for _ in range(40)]  # mean nats per token of each batch, before its update
    tokens_per_batch = 8 * 32
    expected = sum(loss * tokens_per_batch for loss in losses) / math.log(2)
    code = t.code_length()
    assert code.sum() == pytest.approx(expected, rel=1e-5)
    assert t.code_tokens.sum() == 40 * tokens_per_batch
    # per domain, the split follows the mixture (7:3 of the sequences)
    assert t.code_tokens[t.sampler.domains.index("words")] == pytest.approx(
        0.7 * 40 * 8 * 32, rel=0.05
    )


def test_trained_model_codes_its_training_text_in_fewer_bits_per_byte(data_dir):
    t = trainer(data_dir)
    text = load_prepared(data_dir).train_tokens()["words"][:4000]
    n_bytes = len(t.tokenizer.decode(text.tolist()).encode())
    before, n = text_code_bits(t.model, text, 32, t.setup.device)
    for _ in range(60):
        t.step()
    after, n2 = text_code_bits(t.model, text, 32, t.setup.device)
    assert n == n2 > 3000
    assert after / n_bytes < 0.6 * before / n_bytes  # an untrained byte model needs ~8 bits/byte
    assert before / n == pytest.approx(np.log2(258), rel=0.1)
