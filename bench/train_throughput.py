"""Proxy-trainer throughput: tokens/s of the real training step (`Trainer.step`).

CPU, whole runs (issue 17): `mixlab train` processes at the demo's settings (BPE 1024,
seq 128, batch 16, evaluation every 25 steps with both probe sets), the same config run by
today's code (`src/` of the commit where this branch left main, via git archive) and by this
tree, alternating, `--repeats` times each: tokens per wall second of the whole process (and
per CPU second, and inside the run), the ratio, and whether the losses and probe accuracies
came out identical. `--compiled`: the warm rate of a compiled step (what a sweep worker
that compiles gets) against the eager one, in one process.
CPU, steps: the small presets on the demo corpora (BPE 4096), and the wall time of a demo-sized
budget. GPU (when CUDA is present): a 124M model at sequence length 1024 in bf16 with
torch.compile, its model FLOPs utilisation (PaLM accounting: 6N + 12·L·d·T per token), and
a 1M-class RegMix-style proxy with the time it would take for 1B tokens.

Population mode (`--population 4,8`): the aggregate tokens/s of P runs (different mixtures,
seeds, learning rates) trained as one batched population (`mixlab.train.population`) against
the same P runs stepped one after another in the same process (one worker), ratios within
one run.

Usage: python bench/train_throughput.py [--work DIR] [--steps N] [--cpu-only]
       [--whole-only] [--repeats 3] [--whole 25k:200000,1M:100000] [--compiled 25k]
       python bench/train_throughput.py --population 4,8 [--presets 25k,1M] [--rounds 2]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
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
    corpora = write_demo_corpora(
        work / "demo-corpora", max_bytes_per_domain=250_000, vocab_size=1024
    )
    prepare(corpora.config, workers=1)
    return corpora.config.parent / "shards", corpora.probes


def demo_config(shards: Path, probes: dict[str, Path], model: str, tokens: int) -> dict:
    """`mixlab demo`'s run settings (studies/demo.py) for one preset and budget."""
    return {
        "data": str(shards),
        "model": {"preset": model},
        "tokens": tokens,
        "mixture": {"code": 0.25, "prose": 0.25, "biographies": 0.25, "arithmetic": 0.25},
        "seq_len": 128,
        "batch_size": 16,
        "optimizer": {"lr": 0.01},
        "max_epochs": 6.0,
        "eval": {
            "every": 25,
            "max_sequences": 32,
            "max_probes": 32,
            "probes": {
                "arithmetic": str(probes["arithmetic_test"]),
                "biographies": str(probes["biographies"]),
            },
        },
    }


TODAY_REF = "aaecd1e"  # main before issue 17's single-run changes


def today_source(work: Path, ref: str | None) -> Path:
    """`src/` of the commit before issue 17 (`--today-ref`, default TODAY_REF)."""
    repo = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(repo)]
    ref = ref or TODAY_REF
    out = work / f"today-{ref[:10]}"
    if not (out / "src").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run([*git, "archive", ref, "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "src"


def whole_run(work: Path, cfg: dict, src: Path, tag: str) -> dict:
    """One `mixlab train` process with `src` first on the path: wall and CPU seconds, curves."""
    path = work / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = work / f"{tag}.db"
    env = {**os.environ, "PYTHONPATH": str(src)}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mixlab", "--json", "train", str(path), "--store", str(store)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"mixlab train failed: {proc.stderr[-2000:]}")
    from mixlab.runs import RunStore

    with RunStore(store) as s:
        record = s.get(s.ids()[0])
    curves = {
        (e.metric, e.step): e.value
        for e in record.evaluations
        if e.metric.startswith(("train_loss", "val_loss", "probe/"))
    }
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return {
        "wall": wall,
        "cpu": cpu,
        "tokens": record.tokens,
        "loop": record.wall_time,
        "curves": curves,
    }


def whole_runs(work: Path, budgets: dict[str, int], repeats: int, today_ref: str | None) -> Path:
    """Today's code against this branch's, same config, alternating; returns the shards."""
    shards, probes = demo_data(work)
    today = today_source(work, today_ref)
    new = work / "new" / "src"  # a snapshot: edits to the tree during the run change nothing
    shutil.copytree(Path(__file__).resolve().parents[1] / "src", new, dirs_exist_ok=True)
    print(
        f"\nCPU, whole `mixlab train` processes at the demo's settings (BPE 1024, seq 128, "
        f"batch 16, eval every 25 steps: 32 validation sequences per domain, 32 probes per "
        f"set), today = {today.parent.name}, {repeats} alternating repeats, medians "
        f"(tokens per second of the whole process; per CPU second; inside the run):"
    )
    for model, tokens in budgets.items():
        cfg = demo_config(shards, probes, model, tokens)
        rows = {"today": [], "new": []}
        for r in range(repeats):
            for name, src in (("today", today), ("new", new)):
                x = whole_run(work, cfg, src, f"{model}-{r}-{name}")
                rows[name].append(x)
                print(
                    f"    {model} #{r} {name:>5}: process {x['wall']:.1f} s, CPU {x['cpu']:.1f} s, "
                    f"run {x['loop']:.1f} s",
                    flush=True,
                )
        med = {
            k: {
                m: statistics.median(x["tokens"] / x[m] for x in v) for m in ("wall", "cpu", "loop")
            }
            for k, v in rows.items()
        }
        pairs = [
            n["tokens"] / n["wall"] / (t["tokens"] / t["wall"])
            for t, n in zip(rows["today"], rows["new"], strict=True)
        ]
        same = all(
            a["curves"] == b["curves"] for a, b in zip(rows["today"], rows["new"], strict=True)
        )
        print(
            f"  {model:>4}, {tokens:,} tokens: today {med['today']['wall']:,.0f} tok/s "
            f"(process {statistics.median(x['wall'] for x in rows['today']):.1f} s), new "
            f"{med['new']['wall']:,.0f} tok/s "
            f"(process {statistics.median(x['wall'] for x in rows['new']):.1f} s): "
            f"x{med['new']['wall'] / med['today']['wall']:.2f}; paired ratios "
            f"{', '.join(f'{p:.2f}' for p in pairs)}, median x{statistics.median(pairs):.2f}; "
            f"per CPU second "
            f"x{med['new']['cpu'] / med['today']['cpu']:.2f}; inside the run "
            f"x{med['new']['loop'] / med['today']['loop']:.2f}; losses and probe "
            f"accuracies identical: {same}"
        )
    return shards


def compiled_rate(data: Path, steps: int, model: str) -> None:
    """Warm tokens/s of the compiled training step against the eager one, in this process."""
    from mixlab.train.runtime import tune_allocator

    tune_allocator()
    start = time.perf_counter()
    eager = measure(data, steps, 3, model={"preset": model}, device="cpu", compile="off")
    compiled = measure(data, steps, 3, model={"preset": model}, device="cpu", compile="on")
    print(
        f"  {model:>4}: eager {eager['tokens_per_s']:>7,.0f} tok/s, compiled (warm) "
        f"{compiled['tokens_per_s']:>7,.0f} tok/s: x{compiled['tokens_per_s'] / eager['tokens_per_s']:.2f} "
        f"({time.perf_counter() - start:.0f} s for both, compilation included)"
    )


def measure(data: Path, steps: int, warmup: int, **cfg) -> dict:
    """Tokens/s of `steps` training steps after `warmup` (compilation, allocator) steps."""
    base = dict(
        data=str(data),
        mixture={"code": 0.25, "prose": 0.25, "biographies": 0.25, "arithmetic": 0.25},
        tokens=10**12,
        eval={"every": 10**9},
    )
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
    return {
        "tokens_per_s": tokens / seconds,
        "flops_per_token": m.flops_per_token(),
        "n_params": m.n_params(),
        "n_params_nonembed": m.n_params_nonembed(),
        "device": str(trainer.setup.device),
        "threads": torch.get_num_threads(),
    }


MIXTURES = [
    {"code": 0.25, "prose": 0.25, "biographies": 0.25, "arithmetic": 0.25},
    {"code": 0.7, "prose": 0.1, "biographies": 0.1, "arithmetic": 0.1},
    {"prose": 0.5, "biographies": 0.5},
    {"arithmetic": 0.6, "code": 0.4},
]


def population_members(data: Path, size: int, **cfg) -> list:
    """`size` runs of one shape that differ in mixture, seed and learning rate."""
    members = []
    for i in range(size):
        config = parse_train_config(
            dict(
                data=str(data),
                mixture=MIXTURES[i % len(MIXTURES)],
                seed=i,
                tokens=10**12,
                optimizer={"lr": 3e-3 * (1 + i % 3)},
                eval={"every": 10**9},
                **cfg,
            )
        )
        members.append(Trainer(config, resolve_setup(config)))
    return members


def measure_population(data: Path, size: int, steps: int, rounds: int, **cfg) -> dict:
    """Aggregate tokens/s of `size` runs as a population and one after another (best round)."""
    from mixlab.train.population import PopulationBatch

    alone_runs = population_members(data, size, **cfg)
    population = PopulationBatch(population_members(data, size, **cfg))
    cuda = population.setup.device.type == "cuda"

    def timed(fn) -> float:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def one_by_one() -> None:
        for run in alone_runs:
            for _ in range(steps):
                run.step()

    def batched() -> None:
        for _ in range(steps):
            population.step()

    for run in alone_runs:  # warm-up: allocator, first-step costs
        run.step()
    population.step()
    alone = batch = math.inf
    for _ in range(rounds):  # interleaved, so a slow spell of a shared machine hits both
        alone = min(alone, timed(one_by_one))
        batch = min(batch, timed(batched))
    tokens = size * steps * alone_runs[0].global_batch * alone_runs[0].cfg.seq_len
    return {
        "alone": tokens / alone,
        "population": tokens / batch,
        "ratio": alone / batch,
        "threads": torch.get_num_threads(),
    }


def population_main(args: argparse.Namespace, data: Path) -> None:
    sizes = [int(x) for x in args.population.split(",")]
    print(
        "\nPopulation on CPU, demo corpora (BPE 4096), seq_len 128, batch 16, float32, one "
        f"worker; {args.steps} steps per run, best of {args.rounds} round(s):"
    )
    for name in args.presets.split(","):
        for size in sizes:
            r = measure_population(
                data,
                size,
                args.steps,
                args.rounds,
                model={"preset": name},
                seq_len=128,
                batch_size=16,
                device="cpu",
            )
            print(
                f"  {name:>5} x {size}: one by one {r['alone']:>8,.0f} tokens/s, population "
                f"{r['population']:>8,.0f} tokens/s: ratio {r['ratio']:.2f} "
                f"({r['threads']} thread(s))"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--whole-only", action="store_true", help="only the issue-17 sections")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--whole", default="25k:200000,1M:100000", help="preset:tokens of the whole-run section"
    )
    parser.add_argument(
        "--today-ref", default=None, help=f"git commit of 'today' (default {TODAY_REF})"
    )
    parser.add_argument("--compiled", default="", help="presets for the compiled-step rate")
    parser.add_argument(
        "--demo-tokens",
        type=int,
        default=1_000_000,
        help="budget whose wall time is reported for each CPU preset",
    )
    parser.add_argument(
        "--population",
        default=None,
        help="population sizes to compare with one-by-one runs, e.g. 4,8",
    )
    parser.add_argument("--presets", default="25k,1M", help="population mode: model presets")
    parser.add_argument("--rounds", type=int, default=2, help="population mode: timed rounds")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mixlab-bench-"))
    print(
        f"mixlab train throughput: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    if args.population:
        population_main(args, prepared(work, {"kind": "bpe"}))
        return
    budgets = {b.split(":")[0]: int(b.split(":")[1]) for b in args.whole.split(",")}
    shards = whole_runs(work, budgets, args.repeats, args.today_ref)
    if args.compiled:
        print("\nCPU, warm compiled step vs eager (what a compiling sweep worker gets), BPE 1024:")
        for model in args.compiled.split(","):
            compiled_rate(shards, args.steps, model)
    if args.whole_only:
        return
    data = prepared(work, {"kind": "bpe"})

    print("\nCPU, demo corpora (BPE vocabulary 4096), seq_len 128, batch 16, float32:")
    for name in ("25k", "100k", "400k"):
        r = measure(
            data, args.steps, 3, model={"preset": name}, seq_len=128, batch_size=16, device="cpu"
        )
        print(
            f"  {name:>5}: {r['n_params_nonembed']:>9,} non-embedding / {r['n_params']:>9,} "
            f"params, {r['threads']} thread(s): {r['tokens_per_s']:>9,.0f} tokens/s; "
            f"{args.demo_tokens:,} tokens in {args.demo_tokens / r['tokens_per_s']:.1f} s"
        )

    if args.cpu_only or not torch.cuda.is_available():
        print("\nGPU: no CUDA device here; GPU figures not measured.")
        return
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    print(f"\nGPU: {name}, bf16, torch.compile")
    r = measure(
        data,
        args.steps,
        10,
        model={"preset": "124M", "vocab_size": 50304},
        seq_len=1024,
        batch_size=16,
        grad_accum=2,
        device="cuda",
        dtype="bfloat16",
        compile="on",
    )
    # GPT-2 small's shape: a 50304-entry output layer (the demo BPE uses 4096 of its ids)
    mfu = r["tokens_per_s"] * r["flops_per_token"] / peak if peak else float("nan")
    print(
        f"  124M preset ({r['n_params']:,} params, vocabulary 50304), seq 1024: "
        f"{r['tokens_per_s']:,.0f} tokens/s, MFU {mfu:.1%} of {peak / 1e12 if peak else 0:.0f} TFLOP/s"
    )
    r = measure(
        data,
        args.steps,
        10,
        model={"preset": "1M"},
        seq_len=1024,
        batch_size=64,
        device="cuda",
        dtype="bfloat16",
        compile="on",
    )
    print(
        f"  1M preset ({r['n_params_nonembed']:,} non-embedding), seq 1024, batch 64: "
        f"{r['tokens_per_s']:,.0f} tokens/s -> 1B tokens in {1e9 / r['tokens_per_s'] / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
