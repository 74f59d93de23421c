"""Data-layer throughput on this machine; prints its figures.

1. Tokenising the demo corpora with the prepare pipeline (read, hash, tokenise in worker
   processes, split, write shards) against the same tokenizer's raw `encode_batch` on the
   same texts held in memory. Goal: pipeline >= 80% of raw tokens/s, using all cores.
2. The mixture sampler's sequence rate against a demo training preset of ~20k tokens/s.
   Goal: >= 50x.

Run: .venv/bin/python bench/data_throughput.py [--bytes-per-domain N] [--repeats R]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tokenizers

from mixlab.data import MixtureSampler, load_prepare_config, load_prepared, prepare
from mixlab.data.demo_corpora import write_demo_corpora
from mixlab.data.parallel import default_workers
from mixlab.data.sources import expand_sources, read_documents

DEMO_PRESET_TOKENS_PER_S = 20_000


def load_texts(config_path: Path) -> list[str]:
    config = load_prepare_config(config_path)
    return [
        doc
        for sources in config.domains.values()
        for f in expand_sources(sources)
        for doc in read_documents(f)
    ]


def time_raw(hf: tokenizers.Tokenizer, texts: list[str], fast: bool) -> tuple[float, int]:
    start = time.perf_counter()
    if fast:
        encodings = hf.encode_batch_fast(texts, add_special_tokens=False)
    else:
        encodings = hf.encode_batch(texts, add_special_tokens=False)
    seconds = time.perf_counter() - start
    return seconds, sum(len(e.ids) for e in encodings)


def time_pipeline(config_path: Path, tokenizer: Path, out: Path, workers: int) -> tuple[float, int]:
    config = load_prepare_config(config_path)
    config = config.model_copy(
        update={
            "output": out,
            "tokenizer": config.tokenizer.model_copy(update={"kind": "file", "path": tokenizer}),
        }
    )
    start = time.perf_counter()
    summary = prepare(config, workers=workers)
    seconds = time.perf_counter() - start
    text_tokens = summary.tokens_written - sum(d.documents for d in summary.domains)
    return seconds, text_tokens


def bench_sampler(shards: Path, seq_len: int, batch_size: int, seconds: float) -> float:
    data = load_prepared(shards)
    weights = {d: 1 / len(data.domains) for d in data.domains}
    sampler = MixtureSampler.from_prepared(data, weights, seq_len, batch_size=batch_size, seed=0)
    sampler.next_batch()
    batches = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        sampler.next_batch()
        batches += 1
    return batches * batch_size * seq_len / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bytes-per-domain", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    print(
        f"mixlab data throughput: {default_workers()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}, tokenizers {tokenizers.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="mixlab-bench-") as tmp:
        root = Path(tmp)
        demo = write_demo_corpora(root / "demo", max_bytes_per_domain=args.bytes_per_domain)
        start = time.perf_counter()
        first = prepare(demo.config, workers=args.workers)
        print(
            f"demo corpora: {len(first.domains)} domains, {sum(demo.bytes.values()) / 1e6:.1f} MB "
            f"({', '.join(f'{k} {v / 1e6:.1f}' for k, v in demo.bytes.items())}); "
            f"BPE vocab {first.tokenizer['vocab_size']} trained and first prepare in "
            f"{time.perf_counter() - start:.1f} s"
        )
        tokenizer_path = demo.directory / "shards" / "tokenizer.json"
        hf = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        texts = load_texts(demo.config)

        raw, fast, pipe = [], [], []
        for i in range(args.repeats):  # interleaved, so background load hits all alike
            seconds, n_raw = time_raw(hf, texts, fast=False)
            raw.append(n_raw / seconds)
            seconds, _ = time_raw(hf, texts, fast=True)
            fast.append(n_raw / seconds)
            seconds, n_pipe = time_pipeline(
                demo.config, tokenizer_path, root / f"run{i}", args.workers
            )
            assert n_pipe == n_raw, (n_pipe, n_raw)
            pipe.append(n_pipe / seconds)

        def row(label: str, rates: list[float]) -> str:
            runs = " ".join(f"{r / 1e6:.3f}" for r in rates)
            return (
                f"  {label:<44} median {statistics.median(rates) / 1e6:.3f} M tok/s  (runs: {runs})"
            )

        print(f"tokenising {n_raw:,} tokens in {len(texts):,} documents, {args.repeats} runs each:")
        print(row("raw encode_batch (all cores, in memory)", raw))
        print(row("raw encode_batch_fast (all cores, in memory)", fast))
        print(row(f"prepare pipeline ({args.workers} worker processes, end to end)", pipe))
        ratio = statistics.median(pipe) / statistics.median(raw)
        ratio_fast = statistics.median(pipe) / statistics.median(fast)
        print(
            f"  pipeline / encode_batch = {ratio:.2f}  (goal >= 0.80: {'met' if ratio >= 0.8 else 'MISSED'})"
            f";  pipeline / encode_batch_fast = {ratio_fast:.2f}"
        )

        rate = bench_sampler(root / "run0", args.seq_len, args.batch_size, seconds=2.0)
        factor = rate / DEMO_PRESET_TOKENS_PER_S
        print(
            f"sampler: {rate / 1e6:.2f} M tokens/s (seq_len {args.seq_len}, batch {args.batch_size}, "
            f"4 domains, memory-mapped uint16 shards) = {factor:,.0f}x the assumed "
            f"{DEMO_PRESET_TOKENS_PER_S:,} tokens/s demo preset "
            f"(goal >= 50x: {'met' if factor >= 50 else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
