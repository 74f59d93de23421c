"""The knowledge phase-transition study end to end; prints its figures and the machine.

plan (biographies + web text at each ratio, each model size) -> train every run (resumable:
re-running skips finished runs) -> fit the transition per size and r* = c·N^-gamma ->
the capacity theory's prediction from the web-only runs -> the HTML report.

Run:  .venv/bin/python bench/phase_study.py                          # CPU study, ~30-45 min
      .venv/bin/python bench/phase_study.py --config examples/phase/gpu.yaml --out out/phase-gpu
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "phase" / "cpu.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "phase-cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()

    import pandas as pd
    import torch

    from mixlab.laws.core.fitting import FitWarning
    from mixlab.laws.phase.transition import PhaseAnalysis
    from mixlab.report.build import write_report
    from mixlab.runs import RunStore
    from mixlab.studies.phase import load_phase_config, phase_table, plan_phase_study
    from mixlab.studies.phase_theory import predict_from_study
    from mixlab.sweep.execute import run_local

    started = time.perf_counter()
    out = args.out.resolve()
    cfg, base = load_phase_config(args.config)
    runs, info = plan_phase_study(cfg, base, out, workers=args.workers)
    store = out / "runs.db"
    status = run_local(runs, store, workers=args.workers)
    trained = time.perf_counter() - started
    print(
        f"{len(runs)} runs: {status.done} trained, {status.skipped} already done, "
        f"{status.failed} failed ({trained / 60:.1f} min)"
    )

    (out / "phase").mkdir(exist_ok=True)
    with RunStore(store) as db:
        table = phase_table(db, tag=cfg.tags[-1] if cfg.tags else None)
    table.to_csv(out / "phase" / "results.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        analysis = PhaseAnalysis(threshold=args.threshold, n_bootstrap=args.n_bootstrap).fit(table)
    phase = analysis.to_dict()
    (out / "phase" / "phase.json").write_text(json.dumps(phase, indent=2))
    predict = None
    if cfg.web_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            predict = predict_from_study(
                study=out,
                store=store,
                tag=cfg.tags[-1] if cfg.tags else None,
                phase=out / "phase" / "phase.json",
                threshold=args.threshold,
            )
        (out / "phase" / "predict.json").write_text(json.dumps(predict, indent=2))
    report = write_report(store, out / "report.html", artifacts=out)

    pivot = table.pivot_table(index="ratio", columns="model_size", values="accuracy")
    print(
        "\nfacts learned (exact match, final) by knowledge ratio (rows) and model size "
        "(non-embedding parameters, columns):"
    )
    print(pivot.round(3).to_string())
    print(
        f"\ncritical ratio (accuracy {args.threshold:g}), {args.n_bootstrap} bootstrap replicates:"
    )
    for size, t in phase["critical_ratio"].items():
        ci = "" if not t["ci"] else f"  [{t['ci'][0]:.4f}, {t['ci'][1]:.4f}]"
        print(
            f"  N = {size:>10}: {t['status']:<13} r* = {t['value'] if t['value'] is None else round(t['value'], 4)}{ci}"
        )
    law = phase["power_law"]
    if law.get("exponent") is not None:
        ci = (law.get("ci") or {}).get("exponent") or [float("nan")] * 2
        print(
            f"fitted r* = {law['coef']:.4g} * N^-{law['exponent']:.3f}  "
            f"exponent interval [{ci[0]:.3f}, {ci[1]:.3f}]"
        )
    else:
        print(f"no power law: {law.get('reason')}")
    if predict:
        w = predict["web_law"]
        print(
            f"web loss = {w['C']:.4f} + {w['A']:.4g} * M^-{w['alpha']:.4f} "
            f"(M = {predict['bits_per_param']:g} bits x N; {predict['web_points']} sizes: "
            + ", ".join(f"{s}: {v:.3f}" for s, v in predict["web_losses"].items())
            + ")"
        )
        print(
            "theory's critical ratio: "
            + ", ".join(
                f"N={s}: {v['theory'] if v['theory'] is None else round(v['theory'], 5)}"
                for s, v in predict["critical_ratio"].items()
            )
        )
        e = predict["exponent"]
        print(
            f"exponent: theory {e['theory']}, asymptotic alpha+1 = {e['asymptotic']:.3f}, "
            f"fitted {e['fitted']}"
        )
    print(f"\nreport: {report}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; "
        f"{datetime.now(timezone.utc):%Y-%m-%d}; total {(time.perf_counter() - started) / 60:.1f} min"
    )
    del pd


if __name__ == "__main__":
    main()
