"""Coverage of the phase study's 90% intervals (N* per ratio, r* per size) on generated studies.

Binomial studies with a known transition (the generator of tests/laws/phase/test_size_transition.py
for N*; a four-parameter sigmoid in ln r for r*), each fitted with its bootstrap interval, with
the expanded percentile level (Student's t on the residual degrees of freedom) and with the plain
one.  Prints, per design, the share of studies whose interval holds the truth.

Run: python bench/phase_interval_coverage.py [--studies 200] [--replicates 100]
(about 5 minutes on a 2-core machine with the defaults, measured 2026-11-29)
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import numpy as np
from scipy.special import expit, logit

import mixlab.laws.phase.curve as curve
import mixlab.laws.phase.size_transition as size_transition
from mixlab.laws.phase.size_transition import SizeTransition
from mixlab.laws.phase.transition import fit_transition

N_STAR, K_N = 2.0e4, 2.5
R_STAR, K_R, FLOOR, TOP = 0.45, 3.0, 0.01, 0.95
RATIOS = np.array([0.15, 0.3, 0.5, 0.7, 0.9])


@contextmanager
def plain_level(on: bool):
    """Within the block, the intervals use the plain percentile level (for comparison)."""
    saved = size_transition.expanded_level, curve.expanded_level
    if on:
        size_transition.expanded_level = curve.expanded_level = lambda level, dof: level
    try:
        yield
    finally:
        size_transition.expanded_level, curve.expanded_level = saved


def size_study(seed: int, sizes: int, seeds: int, facts: int = 300):
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(2e3, 2e5, sizes), seeds)
    return n, rng.binomial(facts, expit(K_N * (np.log(n) - np.log(N_STAR)))) / facts


def ratio_study(seed: int, seeds: int, facts: int = 750):
    rng = np.random.default_rng(seed)
    r = np.repeat(RATIOS, seeds)
    z0 = logit((0.5 - FLOOR) / (TOP - FLOOR))
    p = FLOOR + (TOP - FLOOR) * expit(K_R * np.log(r / R_STAR) + z0)
    return r, rng.binomial(facts, p) / facts


def coverage(fit, truth: float, studies: int) -> float:
    hits = 0
    for s in range(studies):
        ci = fit(s)
        hits += ci is not None and ci[0] <= truth <= ci[1]
    return hits / studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=100)
    args = parser.parse_args()
    nb = args.replicates
    designs = [
        ("N*, 6 sizes x 1 seed (residual)", N_STAR, lambda s: size_study(1000 + s, 6, 1), "n"),
        ("N*, 5 sizes x 2 seeds (residual)", N_STAR, lambda s: size_study(1000 + s, 5, 2), "n"),
        ("N*, 6 sizes x 5 seeds (stratified)", N_STAR, lambda s: size_study(1000 + s, 6, 5), "n"),
        ("r*, 5 ratios x 2 seeds (sigmoid)", R_STAR, lambda s: ratio_study(500 + s, 2), "r"),
    ]
    print(f"90% intervals, {args.studies} generated studies each, {nb} replicates a fit:")
    for name, truth, data, kind in designs:
        row = []
        for plain in (True, False):
            started = time.perf_counter()
            with plain_level(plain):
                if kind == "n":
                    share = coverage(
                        lambda s, data=data: (
                            SizeTransition(n_bootstrap=nb, seed=s).fit(*data(s)).ci_
                        ),
                        truth,
                        args.studies,
                    )
                else:
                    share = coverage(
                        lambda s, data=data: fit_transition(*data(s), n_bootstrap=nb, seed=s).ci,
                        truth,
                        args.studies,
                    )
            row.append(f"{share:.1%} ({time.perf_counter() - started:.0f} s)")
        print(f"  {name:<38} plain {row[0]:<16} expanded {row[1]}")


if __name__ == "__main__":
    main()
