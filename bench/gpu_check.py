"""GPU check of the proxy trainer: one script, under 8 minutes on one H100/H200.

Prints, as each is measured:
  (a) the 124M preset at sequence length 1024, bf16, torch.compile: tokens/s and MFU against
      the device's dense bf16 peak (by its name) and against a bf16 matrix product measured here;
  (b) a 1M-class proxy: one run alone, then populations of 8, 32 and 128 runs trained as one
      batched model (`mixlab.train.population`): aggregate tokens/s and the ratio to one run;
  (c) the phase study's GPU models, read from examples/phase/gpu.yaml (--phase-config; now
      400k, 1M, 5M and 20M at seq 512, batch 64, vocabulary 8192, 500M tokens a run): tokens/s,
      minutes per run and the whole study's GPU-hours at those rates; then the demo's setting
      (25k, seq 128, batch 16, vocabulary 1024), its 13 runs alone and as one population.
Tokens/s are training steps only (no evaluation), after warm-up steps that include compiling.
Corpora are synthetic text (byte tokens, the model's vocabulary set explicitly): nothing is
downloaded. `--dry-run` does the same on CPU at tiny sizes in seconds (a CI test runs it).

Usage: python bench/gpu_check.py [--dry-run] [--work DIR] [--budget-s 450] [--json PATH]
                                [--phase-config examples/phase/gpu.yaml]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import torch

    from mixlab.data.prepare import prepare
    from mixlab.train.config import parse_train_config
    from mixlab.train.loop import Trainer, resolve_setup
    from mixlab.train.population import PopulationBatch
except ImportError as error:  # e.g. a bare GPU image without the project's dependencies
    sys.exit(f"gpu_check: cannot import {error.name!r}: install mixlab (pip install -e .) first")

ROOT = Path(__file__).resolve().parent.parent
PHASE_CONFIG = ROOT / "examples" / "phase" / "gpu.yaml"

# dense bf16 peak (no sparsity), FLOP/s, by device-name fragment; the first match wins
PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
]
DOMAINS = ("code", "prose", "biographies", "arithmetic")
MIXTURES = [
    {"code": 0.25, "prose": 0.25, "biographies": 0.25, "arithmetic": 0.25},
    {"code": 0.7, "prose": 0.1, "biographies": 0.1, "arithmetic": 0.1},
    {"prose": 0.5, "biographies": 0.5},
    {"arithmetic": 0.6, "code": 0.4},
    {"code": 0.1, "prose": 0.6, "biographies": 0.3},
]


@dataclass
class Check:
    """Settings of the whole check: the GPU sizes, or tiny CPU ones for --dry-run."""

    device: str
    dtype: str
    compile: str
    steps: int
    warmup: int
    big: dict
    proxy: dict
    populations: list[int]
    phase: dict[str, dict]  # model label -> model fields (preset or shape)
    phase_run: dict
    demo: dict
    demo_runs: int
    corpus_bytes: int
    results: dict = field(default_factory=dict)


def phase_settings(path: Path) -> tuple[dict[str, dict], dict]:
    """The GPU phase study's models and run shape, read from its config (what it will train)."""
    from mixlab.studies.phase import load_phase_config, model_label

    cfg, _ = load_phase_config(path)

    def fields(m) -> dict:
        return {"preset": m} if isinstance(m, str) else m.model_dump(exclude_defaults=True)

    models = {model_label(m): fields(m) for m in [*cfg.models, *cfg.web_only]}
    runs = {label: 0.0 for label in models}  # tokens each model trains in the whole study
    for m in cfg.models:
        runs[model_label(m)] += len(cfg.ratios) * len(cfg.seeds) * sum(cfg.tokens)
    for m in cfg.web_only:
        runs[model_label(m)] += len(cfg.seeds) * (cfg.web_only_tokens or max(cfg.tokens))
    n_runs = len(cfg.ratios) * len(cfg.models) * len(cfg.tokens) * len(cfg.seeds)
    run = dict(
        seq_len=int(cfg.train.get("seq_len", 512)),
        batch_size=int(cfg.train.get("batch_size", 64)),
        vocab=int(cfg.tokenizer.vocab_size),
        tokens=max(cfg.tokens),
        study_tokens=runs,
        study_runs=n_runs + len(cfg.web_only) * len(cfg.seeds),
        config=str(path),
    )
    return models, run


def gpu_check(phase_config: Path = PHASE_CONFIG) -> Check:
    phase, phase_run = phase_settings(phase_config)
    return Check(
        device="cuda",
        dtype="bfloat16",
        compile="on",
        steps=10,
        warmup=3,
        big=dict(
            model={"preset": "124M", "vocab_size": 50304}, seq_len=1024, batch_size=16, grad_accum=4
        ),
        proxy=dict(model={"preset": "1M", "vocab_size": 4096}, seq_len=1024, batch_size=4),
        populations=[8, 32, 128],
        phase=phase,
        phase_run=phase_run,
        demo=dict(model={"preset": "25k", "vocab_size": 1024}, seq_len=128, batch_size=16),
        demo_runs=13,
        corpus_bytes=2_000_000,
    )


def dry_run_check() -> Check:
    return Check(
        device="cpu",
        dtype="bfloat16",
        compile="off",
        steps=2,
        warmup=1,
        big=dict(
            model={"preset": "25k", "vocab_size": 512}, seq_len=64, batch_size=2, grad_accum=2
        ),
        proxy=dict(model={"preset": "25k", "vocab_size": 320}, seq_len=32, batch_size=2),
        populations=[2, 3],
        phase={"25k": {"preset": "25k"}},
        phase_run=dict(
            seq_len=32,
            batch_size=2,
            vocab=320,
            tokens=1_000_000,
            study_tokens={"25k": 5_000_000},
            study_runs=5,
            config="tiny dry-run stand-in",
        ),
        demo=dict(model={"preset": "25k", "vocab_size": 320}, seq_len=32, batch_size=2),
        demo_runs=2,
        corpus_bytes=40_000,
    )


def synthetic_corpora(work: Path, n_bytes: int) -> Path:
    """Four domains of seeded random text, prepared with byte tokens (seconds, no downloads)."""
    rng = random.Random(0)
    alphabets = {
        "code": "def return x = ( ) : + 1 if else for in self".split(),
        "prose": "the a of and to in was he she it that with as his on".split(),
        "biographies": "born in studied at worked for lives city year name".split(),
        "arithmetic": [str(i) for i in range(100)] + ["+", "-", "=", "*"],
    }
    for domain, words in alphabets.items():
        folder = work / "text" / domain
        folder.mkdir(parents=True, exist_ok=True)
        per_file = max(1, n_bytes // 8)
        for i in range(8):
            text, size = [], 0
            while size < per_file:
                word = rng.choice(words)
                text.append(word)
                size += len(word) + 1
            (folder / f"{i}.txt").write_text(" ".join(text))
    config = work / "prepare.yaml"
    config.write_text(
        f"output: {work / 'prepared'}\ntokenizer: {{kind: bytes}}\nvalidation: {{documents: 1}}\n"
        "domains: {" + ", ".join(f"{d}: [{work / 'text' / d}]" for d in DOMAINS) + "}\n"
    )
    prepare(config, workers=1)
    return work / "prepared"


class Timer:
    def __init__(self, cuda: bool):
        self.cuda = cuda

    def __call__(self, fn, repeat: int) -> float:
        """Seconds for `repeat` calls of fn, the device synchronised before and after."""
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start


def trainer(check: Check, data: Path, i: int = 0, **cfg):
    fields = dict(
        data=str(data),
        mixture=MIXTURES[i % len(MIXTURES)],
        seed=i,
        tokens=10**13,
        optimizer={"lr": 1e-3 * (1 + i % 4)},
        eval={"every": 10**9, "max_sequences": 1},
        device=check.device,
        dtype=check.dtype,
        compile=check.compile,
    )
    config = parse_train_config({**fields, **cfg})
    return Trainer(config, resolve_setup(config))


def tokens_per_s(check: Check, timer: Timer, step, tokens_per_step: int) -> float:
    for _ in range(check.warmup):  # the first step compiles
        step()
    return tokens_per_step * check.steps / timer(step, check.steps)


def single(check: Check, timer: Timer, data: Path, **cfg) -> tuple[float, object]:
    t = trainer(check, data, **cfg)
    rate = tokens_per_s(check, timer, t.step, t.global_batch * t.cfg.seq_len)
    return rate, t.model_cfg


def population(check: Check, timer: Timer, data: Path, size: int, **cfg) -> float:
    batch = PopulationBatch([trainer(check, data, i, **cfg) for i in range(size)])
    first = batch.members[0]
    return tokens_per_s(check, timer, batch.step, size * first.global_batch * first.cfg.seq_len)


def matmul_ceiling(cuda: bool) -> float:
    """bf16 FLOP/s of a large matrix product on random data (the attainable peak)."""
    if not cuda:
        return math.nan
    n = 8192
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    seconds = Timer(True)(lambda: a @ b, 10) / 10
    return 2 * n**3 / seconds


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU (CI)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the corpora")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=450.0,
        help="skip what is left once this many seconds have passed",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--phase-config",
        type=Path,
        default=PHASE_CONFIG,
        help="the phase study whose models (c) times (GPU only; the dry run uses a tiny one)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    check = dry_run_check() if args.dry_run else gpu_check(args.phase_config)
    cuda = check.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device (use --dry-run for the CPU check)")
    name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    peak = next((v for k, v in PEAK_BF16 if k in name), math.nan) if cuda else math.nan
    print(
        f"mixlab gpu_check: {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}"
        f"{' (dry run, CPU)' if args.dry_run else ''}",
        flush=True,
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="mixlab-gpu-check-"))
    data = synthetic_corpora(work, check.corpus_bytes)
    timer, results = Timer(cuda), check.results
    results["failed"] = []

    def guarded(label: str, fn):
        """Run one measurement; report an error or the time budget instead of stopping."""
        if time.perf_counter() - began > args.budget_s:
            print(f"  {label}: skipped (past --budget-s {args.budget_s:.0f})", flush=True)
            return None
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - one failed figure must not lose the others
            if check.compile == "on":
                print(
                    f"  {label}: failed compiled ({type(e).__name__}: {str(e)[:200]}); "
                    "again without torch.compile",
                    flush=True,
                )
                check.compile = "off"
                try:
                    return fn()
                except Exception as e2:  # noqa: BLE001
                    e = e2
                finally:
                    check.compile = "on"
            print(f"  {label}: FAILED ({type(e).__name__}: {str(e)[:300]})", flush=True)
            results["failed"].append(label)
            return None
        finally:
            free_memory()

    ceiling = matmul_ceiling(cuda)
    if cuda:
        print(
            f"  bf16 8192^3 matrix product, random data: {ceiling / 1e12:.0f} TFLOP/s "
            f"(dense bf16 peak by name: {peak / 1e12:.0f} TFLOP/s)",
            flush=True,
        )
    results["device"] = name
    results["matmul_tflops"] = ceiling / 1e12

    print("(a) 124M preset, seq 1024, bf16, compiled:" if cuda else "(a) big model:", flush=True)
    out = guarded("124M", lambda: single(check, timer, data, **check.big))
    if out:
        rate, m = out
        flops = rate * m.flops_per_token()
        results["a"] = {"tokens_per_s": rate, "mfu": flops / peak, "of_matmul": flops / ceiling}
        print(
            f"  {m.n_params():,} params: {rate:,.0f} tokens/s, {flops / 1e12:.0f} TFLOP/s = "
            f"MFU {flops / peak:.1%} of the bf16 peak ({flops / ceiling:.1%} of the measured "
            "product)",
            flush=True,
        )

    print(
        f"(b) 1M-class proxy, seq {check.proxy['seq_len']}, batch {check.proxy['batch_size']} "
        "per run:",
        flush=True,
    )
    out = guarded("one run", lambda: single(check, timer, data, **check.proxy))
    one = out[0] if out else math.nan
    results["b"] = {"1": one}
    if out:
        print(f"  one run alone: {one:,.0f} tokens/s", flush=True)
    for size in check.populations:
        rate = guarded(
            f"population of {size}",
            lambda size=size: population(check, timer, data, size, **check.proxy),
        )
        if rate:
            results["b"][str(size)] = rate
            print(
                f"  population of {size:>3}: {rate:>12,.0f} tokens/s aggregate = "
                f"{rate / one:.1f}x one run; 1B tokens x 512 runs in "
                f"{512e9 / rate / 3600:.1f} GPU-hours",
                flush=True,
            )

    p = check.phase_run
    print(
        f"(c) phase study {p['config']} (seq {p['seq_len']}, batch {p['batch_size']}, "
        f"vocabulary {p['vocab']}) and the demo:",
        flush=True,
    )
    results["c"] = {}
    hours = 0.0
    for label, model in check.phase.items():
        out = guarded(
            label,
            lambda model=model: single(
                check,
                timer,
                data,
                model={**model, "vocab_size": p["vocab"]},
                seq_len=p["seq_len"],
                batch_size=p["batch_size"],
            ),
        )
        if out:
            rate, _ = out
            results["c"][label] = rate
            hours += p["study_tokens"][label] / rate / 3600
            print(
                f"  {label:>8}: {rate:>12,.0f} tokens/s; {p['tokens']:,} tokens in "
                f"{p['tokens'] / rate / 60:.1f} min",
                flush=True,
            )
    if all(label in results["c"] for label in check.phase):
        results["c_study_hours"] = hours
        print(
            f"  the whole study ({p['study_runs']} runs, "
            f"{sum(p['study_tokens'].values()):,.0f} tokens): {hours:.1f} GPU-hours at these "
            "rates (training steps only; add evaluation and planning)",
            flush=True,
        )
    out = guarded("demo", lambda: single(check, timer, data, **check.demo))
    if out:
        rate = out[0]
        results["c"]["demo"] = rate
        print(f"  demo (25k, seq 128, batch 16): one run {rate:,.0f} tokens/s", flush=True)
        pop = guarded(
            "demo population", lambda: population(check, timer, data, check.demo_runs, **check.demo)
        )
        if pop:
            results["c"]["demo_population"] = pop
            print(
                f"  demo's {check.demo_runs} runs as one population: {pop:,.0f} tokens/s "
                f"= {pop / rate:.1f}x one run",
                flush=True,
            )
    results["seconds"] = time.perf_counter() - began
    print(f"done in {results['seconds']:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return results


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)
