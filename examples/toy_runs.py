"""Write a small synthetic sweep as the two wide tables `mixlab runs import` reads.

Losses follow Ye et al.'s explicit mixing law L_i(r) = c_i + k_i exp(sum_j t_ij r_j) with
Gaussian noise: data with a known answer, for trying the import / fit loop on any machine.
Usage: python examples/toy_runs.py OUT_DIR [--runs 24] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DOMAINS = ["web", "code", "books", "math"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    k = len(DOMAINS)
    mixtures = rng.dirichlet(np.full(k, 0.8), size=args.runs).round(4)
    mixtures[:, -1] = 1 - mixtures[:, :-1].sum(axis=1)  # exact sums after rounding
    mixtures = np.clip(mixtures, 0, None)
    mixtures /= mixtures.sum(axis=1, keepdims=True)
    c = rng.uniform(2.0, 3.0, k)
    scale = rng.uniform(0.5, 1.5, k)
    t = -np.eye(k) * rng.uniform(1.5, 3.0, k) - rng.uniform(0.0, 0.4, (k, k)) * (1 - np.eye(k))
    losses = c + scale * np.exp(mixtures @ t.T) + rng.normal(0, 0.01, (args.runs, k))

    ids = [f"toy-{i:03d}" for i in range(args.runs)]
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(mixtures, index=pd.Index(ids, name="index"), columns=DOMAINS).to_csv(
        args.out / "mixtures.csv"
    )
    pd.DataFrame(
        losses, index=pd.Index(ids, name="index"), columns=[f"val_loss/{d}" for d in DOMAINS]
    ).to_csv(args.out / "metrics.csv")
    print(f"wrote {args.runs} runs to {args.out}/mixtures.csv and {args.out}/metrics.csv")


if __name__ == "__main__":
    main()
