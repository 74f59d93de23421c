"""The two example learning-dynamics studies (format, curriculum) end to end; prints figures.

For each config: plan and train every choice x model x seed (resumable), then emergence
tokens per choice and size with intervals across seeds, speed ratios against the first
choice, Kendall tau of the choices' ranking across sizes, the final target loss, and the
prequential code length against gzip / bz2 / xz.

Run: .venv/bin/python bench/dynamics_studies.py [--only format|curriculum] [--workers 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ("format", "curriculum")


def _n(v, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def run_study(name: str, out_root: Path, workers: int, n_bootstrap: int) -> None:
    from mixlab.laws.core.fitting import FitWarning
    from mixlab.report.build import write_report
    from mixlab.runs import RunStore
    from mixlab.studies.dynamics import (
        analyze_dynamics,
        dynamics_curves,
        load_dynamics_config,
        plan_dynamics_study,
    )
    from mixlab.sweep.execute import run_local

    started = time.perf_counter()
    cfg, base = load_dynamics_config(ROOT / "examples" / "dynamics" / f"{name}.yaml")
    out = out_root / name
    runs, info = plan_dynamics_study(cfg, base, out, workers=workers)
    store = out / "runs.db"
    status = run_local(runs, store, workers=workers)
    with RunStore(store) as db:
        curves = dynamics_curves(db, info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        doc = analyze_dynamics(curves, info, Path(info["data"]), n_bootstrap=n_bootstrap)
    (out / "dynamics").mkdir(exist_ok=True)
    (out / "dynamics" / "dynamics.json").write_text(json.dumps(doc, indent=2))
    curves.to_csv(out / "dynamics" / "curves.csv", index=False)
    report = write_report(store, out / "report.html", artifacts=out, run_ids=list(info["runs"]))

    print(
        f"\n=== {name}: {len(runs)} runs ({status.done} trained, {status.skipped} already done, "
        f"{status.failed} failed), {cfg.tokens:,} tokens each, "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )
    print(
        f"tokens to {doc['threshold']:g} accuracy on {doc['skill']} (median over seeds, "
        "bootstrap interval; final accuracy mean):"
    )
    finals = {}
    for row in doc["auc"]:
        finals.setdefault((row["choice"], row["model_size"]), []).append(row["final"])
    aucs = {}
    for row in doc["auc"]:
        aucs.setdefault((row["choice"], row["model_size"]), []).append(row["auc"])
    for e in doc["emergence"]:
        key = (e["choice"], e["model_size"])
        ci = "" if not e.get("ci") else f" [{_n(e['ci'][0])}, {_n(e['ci'][1])}]"
        mean_final = sum(finals[key]) / len(finals[key])
        mean_auc = sum(aucs[key]) / len(aucs[key])
        print(
            f"  N={e['model_size']:>8,} {e['choice']:<20} {e['status']:<19} {_n(e['value'])}{ci}"
            f"  seeds {e['reached']}/{e['n']}, final acc {mean_final:.3f}, AUC {mean_auc:.3f}"
        )
    for s in doc["speed"]:
        bounds = s.get("bounds", {})
        print(
            f"  speed N={s['model_size']:,}: {s['choice']} vs {s['reference']} "
            "(reference tokens / choice tokens): "
            + ", ".join(
                f"at {k}: "
                + (
                    _n(v, 3)
                    if v is not None
                    else " ".join(
                        f"{b.replace('_', ' ')} {x:.3g}" for b, x in bounds.get(k, {}).items()
                    )
                    or "-"
                )
                for k, v in s["ratio"].items()
            )
        )
    for p in doc.get("rank_agreement", {}).get("pairs", []):
        print(
            f"  rank agreement (AUC) N={p['size_a']:,} vs N={p['size_b']:,}: tau {_n(p['tau'], 3)} "
            f"interval {p['ci']}"
        )
    for t in doc.get("target_loss", []):
        print(
            f"  final target loss N={t['model_size']:,} {t['choice']:<20} {t['mean']:.4f}"
            + (f" ± {t['sd']:.4f}" if t["sd"] is not None else "")
        )
    for f in doc.get("data_scaling", []):
        if "error" not in f:
            print(
                f"  L(D) N={f['model_size']:,} {f['choice']:<20} {f['metric']}: a={f['a']:.3f} "
                f"drop at 2x {f['drop_from_doubling']:.4f} still improving {f['still_improving']}"
            )
    comp = {}
    for r in doc.get("compression", []):
        comp.setdefault((r["domain"], r["model_size"]), []).append(r)
    print("  bits per byte of the training stream (best run; prequential) vs gzip / bz2 / xz:")
    for (domain, size), rows in sorted(comp.items()):
        best = min(rows, key=lambda r: r["model_bits_per_byte"])
        seen = (
            f"  ({best['epochs']:.1f} epochs: the model has seen most of it before)"
            if best["epochs"] > 1
            else ""
        )
        print(
            f"    {domain:<18} N={size:>8,} {best['model_bits_per_byte']:.3f}  "
            f"{best['gzip']:.3f} / {best['bz2']:.3f} / {best['lzma']:.3f}{seen}"
        )
    print(f"  report: {report}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=STUDIES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-bootstrap", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "dynamics")
    args = parser.parse_args()
    import torch

    for name in [args.only] if args.only else STUDIES:
        run_study(name, args.out.resolve(), args.workers, args.n_bootstrap)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
        f"{datetime.now(timezone.utc):%Y-%m-%d}"
    )


if __name__ == "__main__":
    main()
