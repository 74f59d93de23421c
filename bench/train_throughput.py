"""Proxy-trainer throughput: tokens/s of the real training step (`Trainer.step`).

CPU: the small presets on the demo corpora (BPE 4096), and the wall time of a demo-sized
budget. GPU (when CUDA is present): a 124M model at sequence length 1024 in bf16 with
torch.compile, its model FLOPs utilisation (PaLM accounting: 6N + 12·L·d·T per token), and
a 1M-class RegMix-style proxy with the time it would take for 1B tokens.

Usage: python bench/train_throughput.py [--work DIR] [--steps N] [--cpu-only]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from mixlab.data.demo_corpora import write_demo_corpora
from mixlab.data.prepare import prepare
from mixlab.train.config import parse_train_config
from mixlab.train.loop import Trainer, resolve_setup

# dense bf16 peak (no sparsity), TFLOP/s, by device-name fragment
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def prepared(work: Path, tokenizer: dict) -> Path:
    corpora = write_demo_corpora(work / "corpora", max_bytes_per_domain=2_000_000)
    cfg = corpora.config.read_text().replace("output: shards", f"output: {work / 'shards'}")
    if tokenizer["kind"] == "bytes":
        cfg = cfg.replace("kind: bpe", "kind: bytes")
    corpora.config.write_text(cfg)
    prepare(corpora.config)
    return work / "shards"


def measure(data: Path, steps: int, warmup: int, **cfg) -> dict:
    """Tokens/s of `steps` training steps after `warmup` (compilation, allocator) steps."""
    base = dict(data=str(data), mixture={"code": 0.25, "prose": 0.25, "biographies": 0.25,
                                         "arithmetic": 0.25},
                tokens=10**12, eval={"every": 10**9})
    config = parse_train_config({**base, **cfg})
    trainer = Trainer(config, resolve_setup(config))
    for _ in range(warmup):
        trainer.step()
    if trainer.setup.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()  # ends with .item(): the step has finished on the device
    seconds = time.perf_counter() - start
    tokens = steps * trainer.global_batch * config.seq_len
    m = trainer.model_cfg
    return {"tokens_per_s": tokens / seconds, "flops_per_token": m.flops_per_token(),
            "n_params": m.n_params(), "n_params_nonembed": m.n_params_nonembed(),
            "device": str(trainer.setup.device), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--demo-tokens", type=int, default=1_000_000,
                        help="budget whose wall time is reported for each CPU preset")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mixlab-bench-"))
    print(f"mixlab train throughput: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    data = prepared(work, {"kind": "bpe"})

    print("\nCPU, demo corpora (BPE vocabulary 4096), seq_len 128, batch 16, float32:")
    for name in ("25k", "100k", "400k"):
        r = measure(data, args.steps, 3, model={"preset": name}, seq_len=128, batch_size=16,
                    device="cpu")
        print(f"  {name:>5}: {r['n_params_nonembed']:>9,} non-embedding / {r['n_params']:>9,} "
              f"params, {r['threads']} thread(s): {r['tokens_per_s']:>9,.0f} tokens/s; "
              f"{args.demo_tokens:,} tokens in {args.demo_tokens / r['tokens_per_s']:.1f} s")

    if args.cpu_only or not torch.cuda.is_available():
        print("\nGPU: no CUDA device here; GPU figures not measured.")
        return
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    print(f"\nGPU: {name}, bf16, torch.compile")
    r = measure(data, args.steps, 10, model={"preset": "124M", "vocab_size": 50304},
                seq_len=1024, batch_size=16, grad_accum=2, device="cuda", dtype="bfloat16",
                compile="on")
    # GPT-2 small's shape: a 50304-entry output layer (the demo BPE uses 4096 of its ids)
    mfu = r["tokens_per_s"] * r["flops_per_token"] / peak if peak else float("nan")
    print(f"  124M preset ({r['n_params']:,} params, vocabulary 50304), seq 1024: "
          f"{r['tokens_per_s']:,.0f} tokens/s, MFU {mfu:.1%} of {peak / 1e12 if peak else 0:.0f} TFLOP/s")
    r = measure(data, args.steps, 10, model={"preset": "1M"}, seq_len=1024, batch_size=64,
                device="cuda", dtype="bfloat16", compile="on")
    print(f"  1M preset ({r['n_params_nonembed']:,} non-embedding), seq 1024, batch 64: "
          f"{r['tokens_per_s']:,.0f} tokens/s -> 1B tokens in {1e9 / r['tokens_per_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
