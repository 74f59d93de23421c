"""Time `mixlab demo` (quick or full) from a clean folder and print the figures issue 18 asks for.

    python bench/demo_loop.py --quick --out /tmp/qdemo
    python bench/demo_loop.py --out /tmp/fdemo

Prints the wall time, the load average before and after (the machine may be shared), the
recommended and natural mixtures, the predicted gain with its 90% interval, the observed gain
with its seed noise, and whether the goals hold (quick: <= 180 s and gain > 0; full: <= 900 s,
gain > 0, gain > 2 x seed noise, gain inside the interval).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="resume in --out instead of a clean start")
    a = ap.parse_args()
    if a.out.exists() and not a.keep:
        shutil.rmtree(a.out)
    cmd = [sys.executable, "-m", "mixlab", "--quiet", "demo", "--out", str(a.out)]
    cmd += ["--workers", str(a.workers)] + (["--quick"] if a.quick else [])
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    d = json.loads((a.out / "decision.json").read_text())
    v = d["verification"]
    gain, noise, gi = v["observed_gain"], v["seed_noise"], d["gain_interval"]
    limit = 180 if a.quick else 900
    print(
        f"mixlab demo{' --quick' if a.quick else ''}: {wall:.0f} s wall on {os.cpu_count()} cores"
    )
    print(f"load average (1/5/15 min) before {load0}, after {load1}")
    print(
        f"law: auto ({d['law']['chosen']}), CV MAE {d['law']['cv_mae']:.4f}, "
        f"predict-the-mean {d['law']['baseline_mae']:.4f}"
    )
    for name in ("recommended", "reference"):
        mix = ", ".join(f"{k} {w:.3f}" for k, w in d[name]["mixture"].items())
        print(f"{name}: {mix}; predicted {d[name]['predicted']:.4f}")
    print(f"predicted gain {d['predicted_gain']:+.4f}, 90% interval [{gi[0]:+.4f}, {gi[1]:+.4f}]")
    per_seed = ", ".join(f"seed {k}: {g:+.4f}" for k, g in v["per_seed_gain"].items())
    print(
        f"observed gain {gain:+.4f} +- {noise:.4f} (paired seed noise; unpaired "
        f"{v['seed_noise_unpaired']:.4f}); {per_seed}"
    )
    goals = {f"wall <= {limit} s": wall <= limit, "gain > 0": gain > 0}
    if not a.quick:
        goals["gain > 2 x seed noise"] = gain > 2 * noise
        goals["gain inside the interval"] = bool(v["inside_interval"])
    for goal, ok in goals.items():
        print(f"{'met' if ok else 'MISSED'}: {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
