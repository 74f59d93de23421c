"""Issue 17's single-run speed-ups change no numbers: KV-cache decoding, evaluation cadence,
worker GPU assignment and the CPU-compile rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixlab.train.cadence import evaluation_steps
from mixlab.train.model import GPT, ModelConfig
from mixlab.train.runtime import cpu_compile_pays, gpu_for_worker


def peaked_model(seed: int = 0) -> GPT:
    """A random model with confident (far from tied) next-token choices."""
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=50, n_layer=2, n_head=2, n_embd=32, seq_len=40, init_std=0.3)
    return GPT(cfg).eval()


def test_cached_padded_decoding_gives_the_tokens_of_recomputing_each_prompt():
    model = peaked_model()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (3, 9, 5, 1, 14, 9)]
    width, new = max(map(len, prompts)), 12
    padded = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    lengths = torch.tensor([len(p) for p in prompts])
    cached = model.generate_greedy(padded, new, lengths=lengths)[:, width:]
    for row, p in zip(cached.tolist(), prompts, strict=True):
        alone = model.generate_greedy(torch.tensor([p]), new, use_cache=False)[0, len(p) :]
        assert row == alone.tolist()
    # unpadded rows, and a budget past seq_len (the context slides: recomputed, no cache)
    same = torch.tensor([prompts[1], prompts[5]])
    assert torch.equal(
        model.generate_greedy(same, 20), model.generate_greedy(same, 20, use_cache=False)
    )
    assert model.generate_greedy(same, 40).shape == (2, 49)


def test_decoding_under_bfloat16_autocast_runs_with_the_cache():
    model = peaked_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.generate_greedy(
            torch.tensor([[1, 2, 3], [0, 4, 5]]), 5, lengths=torch.tensor([3, 2])
        )
    assert out.shape == (2, 8) and int(out.max()) < 50


def test_evaluation_steps_fixed_by_tokens_and_log_spaced():
    assert evaluation_steps(100, 64, every=25) == {0, 25, 50, 75, 100}
    assert evaluation_steps(10, 100, every_tokens=250) == {
        0,
        3,
        5,
        8,
        10,
    }  # first step past each 250
    steps = sorted(evaluation_steps(1000, 2048, points=8, warmup_steps=50))
    assert steps[0] == 0 and steps[1] == 50 and steps[-1] == 1000 and len(steps) == 9
    ratios = np.diff(np.log(steps[1:]))
    assert np.allclose(ratios, ratios.mean(), atol=0.02)  # evenly spaced in log tokens
    assert evaluation_steps(3, 64, points=8) == {0, 1, 2, 3}  # short runs: every step, no more
    assert evaluation_steps(50, 64, points=0) == {0, 50}


def test_workers_go_round_the_visible_gpus():
    assert [gpu_for_worker(w, None, 4) for w in range(6)] == ["0", "1", "2", "3", "0", "1"]
    assert [gpu_for_worker(w, "2,5", 8) for w in range(3)] == ["2", "5", "2"]
    assert gpu_for_worker(0, None, 0) is None and gpu_for_worker(1, "", 2) is None
    assert gpu_for_worker(0, "-1", 2) is None
    assert gpu_for_worker(3, "GPU-a1,GPU-b2", 2) == "GPU-b2"  # UUIDs pass through


@pytest.mark.parametrize(
    ("steps", "workers", "pays"),
    [
        ([97] * 13, 2, False),  # the quick demo: 630 steps per worker
        ([3000] * 8, 2, True),  # many long runs per worker
        ([50_000], 1, False),  # a single run: nothing to amortise over
    ],
)
def test_cpu_compile_only_where_workers_train_many_steps(steps, workers, pays):
    assert cpu_compile_pays(steps, workers) is pays


def test_cpu_adamw_is_torch_adamw_bit_for_bit_and_shares_its_state_dict():
    from mixlab.train.adamw import AdamW

    def setup(cls, **kw):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 3))
        groups = [
            {"params": [model[0].weight, model[1].weight], "weight_decay": 0.1},
            {"params": [model[0].bias, model[1].bias], "weight_decay": 0.0},
        ]
        return model, cls(groups, lr=0.01, betas=(0.9, 0.95), eps=1e-8, **kw)

    def train(model, opt, steps, seed):
        g = torch.Generator().manual_seed(seed)
        for i in range(steps):
            for group in opt.param_groups:
                group["lr"] = 0.01 / (1 + i)
            model(torch.randn(4, 6, generator=g)).square().mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    ours, opt = setup(AdamW)
    ref, ref_opt = setup(torch.optim.AdamW, fused=False)
    train(ours, opt, 7, 1)
    train(ref, ref_opt, 7, 1)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    # checkpoints cross over: ours -> torch.optim and torch.optim -> ours, then train on
    ref_opt.load_state_dict(opt.state_dict())
    opt.load_state_dict(ref_opt.state_dict())
    train(ours, opt, 3, 2)
    train(ref, ref_opt, 3, 2)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
