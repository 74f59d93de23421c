"""Compression of the demo corpora: a proxy's prequential code length against gzip, bz2, xz.

One pass (one epoch, the natural mixture) over the stdlib code and prose, the biographies and
the arithmetic; the prequential code length of that stream (each batch coded by the model as
it was before learning from it) is the length of a lossless code a decoder can reproduce by
retraining, so its bits per raw byte is a compression rate next to gzip -9, bz2 -9 and
xz -9e on the same domain's training bytes. Also printed: the trained model's held-out bits
per byte (what it would cost from now on).

Run: .venv/bin/python bench/compression.py [--bytes 600000] [--model 1M]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=600_000, help="bytes per demo domain")
    parser.add_argument("--model", default="1M")
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from mixlab.data.demo_corpora import write_demo_corpora
    from mixlab.data.prepare import prepare
    from mixlab.data.prepared import load_prepared
    from mixlab.laws.dynamics import baseline_bits_per_byte
    from mixlab.runs import RunStore
    from mixlab.train.config import parse_train_config
    from mixlab.train.loop import train

    out = args.out or Path(tempfile.mkdtemp(prefix="mixlab-compression-"))
    started = time.perf_counter()
    corpora = write_demo_corpora(
        out / "corpora", max_bytes_per_domain=args.bytes, vocab_size=args.vocab
    )
    prepare(corpora.config, workers=2)
    shards = corpora.config.parent / "shards"
    data = load_prepared(shards)
    train_tokens = {d: t for d, t in data.train_tokens().items()}
    total = sum(t.size for t in train_tokens.values())
    seq, batch = 128, 16
    budget = (total // (seq * batch)) * seq * batch  # whole steps, at most one epoch
    cfg = parse_train_config(
        {
            "data": str(shards),
            "mixture": {d: t.size / total for d, t in train_tokens.items()},
            "model": {"preset": args.model},
            "tokens": budget,
            "seq_len": seq,
            "batch_size": batch,
            "max_epochs": 1.0,
            "optimizer": {"lr": args.lr},
            "eval": {"every": 200, "max_sequences": 32},
            "run_id": "compression",
        }
    )
    with RunStore(out / "runs.db") as store:
        record = train(cfg, store)
    final = record.final_metrics()
    print(
        f"{args.model} ({record.n_params_nonembed:,} non-embedding parameters), one pass over "
        f"{budget:,} of {total:,} training tokens, {(time.perf_counter() - started) / 60:.1f} min\n"
    )
    print(
        f"{'domain':<12} {'MB':>6} {'prequential':>12} {'held-out':>9} {'gzip -9':>8} "
        f"{'bz2 -9':>8} {'xz -9e':>8}   (bits per byte)"
    )
    sums = {"bytes": 0.0, "model": 0.0, "gzip": 0.0, "bz2": 0.0, "lzma": 0.0}
    for domain, tokens in train_tokens.items():
        text = data.tokenizer.decode(tokens.tolist()).encode("utf-8")
        bytes_per_token = len(text) / tokens.size
        bits = final[f"code_length_bits/{domain}"]
        coded_bytes = final[f"code_tokens/{domain}"] * bytes_per_token
        model_bpb = bits / coded_bytes
        base = baseline_bits_per_byte(text)
        print(
            f"{domain:<12} {len(text) / 1e6:>6.2f} {model_bpb:>12.3f} "
            f"{final[f'val_bpb/{domain}']:>9.3f} {base['gzip']:>8.3f} {base['bz2']:>8.3f} "
            f"{base['lzma']:>8.3f}"
        )
        sums["bytes"] += coded_bytes
        sums["model"] += bits
        for k in ("gzip", "bz2", "lzma"):
            sums[k] += base[k] * coded_bytes
    b = sums["bytes"]
    print(
        f"{'all':<12} {b / 1e6:>6.2f} {sums['model'] / b:>12.3f} {'':>9} {sums['gzip'] / b:>8.3f} "
        f"{sums['bz2'] / b:>8.3f} {sums['lzma'] / b:>8.3f}"
    )
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"{datetime.now(timezone.utc):%Y-%m-%d}; data in {out}"
    )


if __name__ == "__main__":
    main()
