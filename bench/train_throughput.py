"""Proxy-trainer throughput: tokens/s of the real training step (`Trainer.step`).

CPU, whole runs (issue 17): `mixlab train` processes at the demo's settings (BPE 1024,
seq 128, batch 16, evaluation every 25 steps with both probe sets), today's path (allocator
untouched, probes decoded without the KV cache) against the new defaults, alternating,
`--repeats` times each: tokens per wall second of the whole process, the ratio, and whether
the losses and probe accuracies came out identical. Then the warm rate of a compiled step
(what a sweep worker that compiles gets) against the eager one, in one process.
CPU, steps: the small presets on the demo corpora (BPE 4096), and the wall time of a demo-sized
budget. GPU (when CUDA is present): a 124M model at sequence length 1024 in bf16 with
torch.compile, its model FLOPs utilisation (PaLM accounting: 6N + 12·L·d·T per token), and
a 1M-class RegMix-style proxy with the time it would take for 1B tokens.

Usage: python bench/train_throughput.py [--work DIR] [--steps N] [--cpu-only]
       [--whole-only] [--repeats 3] [--whole-tokens 200000] [--presets 25k,1M]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

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


def demo_data(work: Path) -> tuple[Path, dict[str, Path]]:
    """The quick demo's corpora (250 kB per domain, BPE 1024): shards and probe files."""
    corpora = write_demo_corpora(work / "demo-corpora", max_bytes_per_domain=250_000,
                                 vocab_size=1024)
    prepare(corpora.config, workers=1)
    return corpora.config.parent / "shards", corpora.probes


def demo_config(shards: Path, probes: dict[str, Path], model: str, tokens: int,
                today: bool) -> dict:
    """`mixlab demo`'s run settings (studies/demo.py) for one preset and budget."""
    return {
        "data": str(shards), "model": {"preset": model}, "tokens": tokens,
        "mixture": {"code": 0.25, "prose": 0.25, "biographies": 0.25, "arithmetic": 0.25},
        "seq_len": 128, "batch_size": 16, "optimizer": {"lr": 0.01}, "max_epochs": 6.0,
        "eval": {"every": 25, "max_sequences": 32, "max_probes": 32,
                 "decode_cache": not today,
                 "probes": {"arithmetic": str(probes["arithmetic_test"]),
                            "biographies": str(probes["biographies"])}},
        "compile": "off" if today else "auto",
    }


def whole_run(work: Path, cfg: dict, today: bool, tag: str) -> dict:
    """One `mixlab train` process: wall seconds, tokens, the curves it recorded."""
    path = work / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = work / f"{tag}.db"
    env = {**os.environ, "MIXLAB_MALLOC": "off" if today else "on"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mixlab", "--json", "train", str(path),
                           "--store", str(store)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"mixlab train failed: {proc.stderr[-2000:]}")
    from mixlab.runs import RunStore

    with RunStore(store) as s:
        record = s.get(s.ids()[0])
    curves = {(e.metric, e.step): e.value for e in record.evaluations
              if e.metric.startswith(("train_loss", "val_loss", "probe/"))}
    return {"wall": wall, "tokens": record.tokens, "loop": record.wall_time, "curves": curves}


def whole_runs(work: Path, presets: list[str], tokens: int, repeats: int) -> Path:
    """Today's path against the new defaults, alternating; returns the shards used."""
    shards, probes = demo_data(work)
    print(f"\nCPU, whole `mixlab train` runs at the demo's settings (BPE 1024, seq 128, batch 16, "
          f"eval every 25 steps, 32 validation sequences and 32 probes per set), {tokens:,} "
          f"tokens, {repeats} alternating repeats, medians:")
    for model in presets:
        rows = {True: [], False: []}
        for r in range(repeats):
            for today in (True, False):
                cfg = demo_config(shards, probes, model, tokens, today)
                rows[today].append(whole_run(work, cfg, today, f"{model}-{r}-{int(today)}"))
        rate = {k: [x["tokens"] / x["wall"] for x in v] for k, v in rows.items()}
        loop = {k: [x["tokens"] / x["loop"] for x in v] for k, v in rows.items()}
        pairs = [n / t for n, t in zip(rate[False], rate[True], strict=True)]
        same = all(a["curves"] == b["curves"] for a, b in zip(rows[True], rows[False], strict=True))
        print(f"  {model:>4}: today {statistics.median(rate[True]):>7,.0f} tok/s "
              f"(wall {statistics.median(x['wall'] for x in rows[True]):.1f} s), new "
              f"{statistics.median(rate[False]):>7,.0f} tok/s "
              f"(wall {statistics.median(x['wall'] for x in rows[False]):.1f} s): "
              f"x{statistics.median(rate[False]) / statistics.median(rate[True]):.2f} "
              f"(paired ratios {', '.join(f'{p:.2f}' for p in pairs)}); inside the loop "
              f"x{statistics.median(loop[False]) / statistics.median(loop[True]):.2f}; "
              f"losses and probe accuracies identical: {same}")
    return shards


def compiled_rate(data: Path, steps: int, model: str) -> None:
    """Warm tokens/s of the compiled training step against the eager one, in this process."""
    from mixlab.train.runtime import tune_allocator

    tune_allocator()
    start = time.perf_counter()
    eager = measure(data, steps, 3, model={"preset": model}, device="cpu", compile="off")
    compiled = measure(data, steps, 3, model={"preset": model}, device="cpu", compile="on")
    print(f"  {model:>4}: eager {eager['tokens_per_s']:>7,.0f} tok/s, compiled (warm) "
          f"{compiled['tokens_per_s']:>7,.0f} tok/s: x{compiled['tokens_per_s'] / eager['tokens_per_s']:.2f} "
          f"({time.perf_counter() - start:.0f} s for both, compilation included)")


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
    parser.add_argument("--whole-only", action="store_true", help="only the issue-17 sections")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--whole-tokens", type=int, default=200_000)
    parser.add_argument("--presets", default="25k,1M", help="presets of the whole-run section")
    parser.add_argument("--demo-tokens", type=int, default=1_000_000,
                        help="budget whose wall time is reported for each CPU preset")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mixlab-bench-"))
    print(f"mixlab train throughput: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    shards = whole_runs(work, args.presets.split(","), args.whole_tokens, args.repeats)
    print("\nCPU, warm compiled step vs eager (what a compiling sweep worker gets), BPE 1024:")
    for model in args.presets.split(","):
        compiled_rate(shards, args.steps, model)
    if args.whole_only:
        return
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
