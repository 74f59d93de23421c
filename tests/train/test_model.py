"""The model family: exact parameter and FLOP counts, causality, presets."""

from __future__ import annotations

import pytest
import torch

from mixlab.errors import InputError
from mixlab.train.model import GPT, ModelConfig
from mixlab.train.presets import PRESETS, preset


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # tied weights are counted once


SHAPES = [
    # hand-computed: V=100, d=32, L=2, SwiGLU hidden 64*ceil(8*32/3/64)=128, tied
    #   per layer 4*32*32 + 3*32*128 + 2*32 = 4096 + 12288 + 64 = 16448; +32 final norm
    (
        dict(vocab_size=100, n_layer=2, n_head=4, n_embd=32, seq_len=16),
        32928,
        32928 + 3200,
        6 * (32928 + 3200) + 12 * 2 * 32 * 16,
    ),
    # V=50, d=48, L=3, GELU hidden 192, untied
    #   per layer 4*48*48 + 2*48*192 + 2*48 = 9216 + 18432 + 96 = 27744; *3 + 48 = 83280
    (
        dict(
            vocab_size=50,
            n_layer=3,
            n_head=2,
            n_embd=48,
            seq_len=8,
            mlp="gelu",
            tie_embeddings=False,
        ),
        83280,
        83280 + 2 * 2400,
        6 * (83280 + 2400) + 12 * 3 * 48 * 8,
    ),
]


@pytest.mark.parametrize("kw,nonembed,total,flops", SHAPES)
def test_counts_match_hand_computed_and_module(kw, nonembed, total, flops):
    cfg = ModelConfig(**kw)
    assert cfg.n_params_nonembed() == nonembed
    assert cfg.n_params() == total
    assert cfg.flops_per_token() == flops
    model = GPT(cfg)
    assert count(model) == total
    embed = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("embed", "head")))
    assert count(model) - embed == nonembed


def test_forward_shapes_loss_and_causality():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=61, n_layer=2, n_head=2, n_embd=16, seq_len=12)
    model = GPT(cfg).eval()
    idx = torch.randint(0, 61, (3, 12))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 12, 61) and loss.ndim == 0
    assert abs(loss.item() - torch.log(torch.tensor(61.0)).item()) < 0.5  # near uniform at init
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 61
    logits2, _ = model(changed)
    assert torch.allclose(logits[:, :7], logits2[:, :7], atol=1e-5)
    assert not torch.allclose(logits[:, 7:], logits2[:, 7:])
    _, per_token = model(idx, idx, reduction="none")
    assert per_token.shape == (3, 12)
    assert torch.allclose(per_token.mean(), loss)
    with pytest.raises(ValueError, match="longer than seq_len"):
        model(torch.zeros(1, 13, dtype=torch.long))


def test_greedy_generation_appends_tokens():
    cfg = ModelConfig(vocab_size=20, n_layer=1, n_head=2, n_embd=8, seq_len=8)
    out = GPT(cfg).generate_greedy(torch.zeros(2, 3, dtype=torch.long), 4)
    assert out.shape == (2, 7)


def test_presets_span_tens_of_thousands_to_350m():
    sizes = {name: preset(name, vocab_size=50304, seq_len=1024) for name in PRESETS}
    assert 15_000 < sizes["25k"].n_params_nonembed() < 40_000
    assert 80e6 < sizes["124M"].n_params_nonembed() < 90e6  # GPT-2 small: 85M non-embedding
    assert 120e6 < sizes["124M"].n_params() < 130e6
    assert 290e6 < sizes["350M"].n_params_nonembed() < 360e6
    counts = [c.n_params_nonembed() for c in sizes.values()]
    assert counts == sorted(counts)
    with pytest.raises(InputError, match="not one of"):
        preset("huge", vocab_size=10)
    with pytest.raises(ValueError, match="multiple of n_head"):
        ModelConfig(vocab_size=10, n_layer=1, n_head=3, n_embd=16)
