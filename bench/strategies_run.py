"""`mixlab run` with every strategy: the quick demo's project plus `strategies:` (issue 19).

Writes the quick demo's project (demo corpora, docs-assistant target, 200k-token 25k proxies,
verify seeds 0 and 1), adds DoReMi, Aioli-style online mixing and a 2-phase schedule, runs
`mixlab run` on it in a subprocess (timed) and prints the strategies table of its
decision.json as markdown, with the machine and the date.

Run: PYTHONPATH=src .venv/bin/python bench/strategies_run.py [--out bench-strategies]
[--aioli-exploit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

STRATEGIES = {
    # ~19 updates in a 195-step proxy: eta 5, as bench/online_compare.py (the paper's eta 1
    # is for ~10^5 updates)
    "doremi": {"step_size": 5.0},
    "aioli": {},
    "two_phase": {"n": 8},  # the quick demo's round-1 size
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench-strategies"))
    p.add_argument(
        "--aioli-exploit",
        type=int,
        default=None,
        help="strategies.aioli.exploit_windows (default: the trainer's, 0: every window a probe)",
    )
    args = p.parse_args()
    strategies = {**STRATEGIES}
    if args.aioli_exploit is not None:
        strategies["aioli"] = {"exploit_windows": args.aioli_exploit}
    from mixlab.studies.demo import DemoSettings, demo_project

    out = args.out.resolve()
    path = demo_project(out, DemoSettings.quick())
    doc = yaml.safe_load(path.read_text())
    doc["strategies"] = strategies
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    command = [sys.executable, "-m", "mixlab", "run", str(path)]
    print("$ mixlab run", path, "  # the quick demo's project +", json.dumps(strategies))
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    decision = json.loads((out / "decision.json").read_text())
    print_table(decision)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"wall {wall:.0f} s (the whole loop, strategies included); {platform.machine()}, "
        f"{os.cpu_count()} cores, load {load}; "
        f"{datetime.now(timezone.utc).isoformat(timespec='minutes')}"
    )


def print_table(decision: dict) -> None:
    block = decision["strategies"]
    static = block["static"]
    domains = list(static["per_domain"])
    print(f"\ntarget: {decision['target']['name']} ({decision['target']['weights']})")
    print(f"verification: natural -> recommended gain {decision['verification']['observed_gain']:+.4f}"
          f" ± {decision['verification']['seed_noise']:.4f}")  # fmt: skip
    head = ["strategy", "mixture or schedule", "target", "per seed", "gain ± noise", "verdict"]
    print("| " + " | ".join(head + domains) + " |")
    print("|" + "---|" * (len(head) + len(domains)))
    rows = [("static", static)] + [(k, block[k]) for k in ("doremi", "aioli", "two_phase")]
    for name, s in rows:
        if name == "two_phase":
            mix = " / ".join(_shares(st["weights"], domains) for st in s["stages"])
        else:
            mix = _shares(s.get("mixture") or s.get("averaged_weights"), domains)
            mix += " (averaged, online)" if name == "aioli" else ""
        cells = [
            name,
            mix,
            f"{s['observed']:.4f}",
            ", ".join(f"{r['observed']:.4f}" for r in s["runs"]),
            "-" if name == "static" else f"{s['gain_over_static']:+.4f} ± {s['seed_noise']:.4f}",
            "-" if name == "static" else s["verdict"],
            *[f"{s['per_domain'][d]:.3f}" for d in domains],
        ]
        print("| " + " | ".join(cells) + " |")
    law = block["two_phase"]["law"]
    print(
        f"\nphase law: {law['chosen']} on {law['runs']} runs, CV MAE {law['cv_mae']:.4f} against "
        f"{law['baseline_mae']:.4f} predicting the mean; usable: {law['usable']}"
        + (f" ({'; '.join(law['problems'])})" if law["problems"] else "")
    )
    d = block["doremi"]
    print(f"doremi averaged weights: {_shares(d['averaged_weights'], domains)}; outside the "
          f"constraints: {d['outside_constraints'] or 'none'}")  # fmt: skip
    print(f"domains in the mixture columns: {', '.join(domains)}")


def _shares(m: dict, domains: list[str]) -> str:
    return " ".join(f"{m.get(d, 0.0):.3f}" for d in domains)


if __name__ == "__main__":
    main()
