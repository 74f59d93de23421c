"""The knowledge phase-transition study end to end, pre-registered; prints its figures.

Stages (each resumable: finished runs are skipped):
  web      plan the study and train its web-only runs
  predict  the capacity theory from the web-only runs -> the prediction file (commit it!)
  mix      train the mixture runs (refused without the prediction file)
  remedies train the remedy configs (--remedies; default <config stem>-remedy-*.yaml beside the config)
  report   fit r* per size, N* per ratio and r* = c N^-gamma; set them against the prediction;
           the remedies against the study's runs at the same size and ratio
  all      web, predict, mix, report in order (no commit between: not pre-registered)

Run (the capacity-bound CPU study of issue 20, about 80 min on a shared 2-core machine):
  python bench/phase_study.py --config examples/phase/capacity-cpu.yaml --stage web
  python bench/phase_study.py --config examples/phase/capacity-cpu.yaml --stage predict \
      --measured-bits 0.04 0.035 0.046 --measured-bits-source "capacity-cpu-reduced.yaml ..."
  git add examples/phase/capacity-cpu.prediction.json && git commit -m "pre-register ..."
  python bench/phase_study.py --config examples/phase/capacity-cpu.yaml --stage mix
  python bench/phase_study.py --config examples/phase/capacity-cpu.yaml --stage report
--measured-bits adds a second pre-registered line: the theory with its capacity constant set
to what an earlier study measured (bits per parameter, and a range), besides the published one.
GPU: the same with --config examples/phase/gpu.yaml --out out/phase-gpu --workers 1.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _plan(cfg, base: Path, out: Path, workers: int):
    """The study's runs: planned once, then read back (the data are not rebuilt)."""
    from mixlab.studies.phase import load_study, plan_phase_study
    from mixlab.sweep.plan import load_plan

    if (out / "study.json").exists() and (out / "plan.json").exists():
        info = load_study(out)
        if info.get("config") == cfg.model_dump(mode="json"):
            return load_plan(out / "plan.json"), info
    return plan_phase_study(cfg, base, out, workers=workers)


def _train(runs, store: Path, workers: int, what: str) -> None:
    from mixlab.sweep.execute import run_local

    started = time.perf_counter()
    status = run_local(runs, store, workers=workers)
    print(
        f"{what}: {len(runs)} runs, {status.done} trained, {status.skipped} already done, "
        f"{status.failed} failed ({(time.perf_counter() - started) / 60:.1f} min)"
    )


def _committed(path: Path) -> str:
    """The commit that last touched `path` and its time, or why there is none."""
    try:
        line = subprocess.run(
            ["git", "log", "-1", "--format=%h authored %aI", "--", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "git not available"
    return line or "NOT COMMITTED"


# The pre-registered lines: the theory as published (2 bits per parameter, range 1-2,
# Allen-Zhu & Li) and, with --measured-bits, the same theory with its capacity constant set
# to what an earlier study measured (known before this study's mixture runs).
LINE_KEYS = ("bits_per_param", "bits_range", "web_law", "critical_ratio", "critical_size")


def predict_stage(cfg, out: Path, store: Path, prediction: Path, args) -> None:
    from mixlab.laws.core.fitting import FitWarning
    from mixlab.studies.phase_theory import predict_from_study

    tag = cfg.tags[-1] if cfg.tags else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        doc = predict_from_study(study=out, store=store, tag=tag, threshold=args.threshold)
        if args.measured_bits:
            bits, lo, hi = args.measured_bits
            alt = predict_from_study(
                study=out,
                store=store,
                tag=tag,
                threshold=args.threshold,
                bits_per_param=bits,
                bits_range=(lo, hi),
            )
            doc["measured_capacity"] = {
                **{k: alt[k] for k in (*LINE_KEYS, "exponent")},
                "source": args.measured_bits_source,
            }
    doc["made"] = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
    doc["before"] = "the mixture runs (pre-registered)"
    prediction.write_text(json.dumps(doc, indent=2) + "\n")
    w = doc["web_law"]
    print(
        f"web loss = {w['C']:.4f} + {w['A']:.4g} * M^-{w['alpha']:.4f}  (sizes: "
        + ", ".join(f"{s}: {v:.3f}" for s, v in doc["web_losses"].items())
        + ")"
    )
    for name, line in _lines(doc):
        print(f"{name}:")
        for s, v in line["critical_ratio"].items():
            print(f"  predicted r*(N={s}) = {_f(v['theory'])}  range {_rng(v['range'])}")
        for r, v in line["critical_size"].items():
            print(f"  predicted N*(r={r}) = {_f(v['theory'])}  range {_rng(v['range'])}")
        e = line["exponent"]
        print(f"  predicted exponent {_f(e['theory'])} range {_rng(e['range'])}")
    print(f"-> {prediction}: commit it before `--stage mix`")


def _lines(pred: dict) -> list[tuple[str, dict]]:
    """(name, prediction) of each pre-registered line of a prediction file."""

    def name(line: dict) -> str:
        lo, hi = line.get("bits_range", (1, 2))
        return f"theory at {line['bits_per_param']:g} bits/parameter (range {lo:g}-{hi:g})"

    out = [(name(pred) + ", as published", pred)]
    if "measured_capacity" in pred:
        line = pred["measured_capacity"]
        out.append((name(line) + f", measured: {line.get('source', '')}", line))
    return out


def _f(v) -> str:
    return "none" if v is None else f"{v:.4g}"


def _rng(r) -> str:
    return "-" if not r else f"[{r[0]:.4g}, {r[1]:.4g}]"


def _verdict(pred: float | None, measured: dict) -> str:
    """Predicted / measured and whether the prediction lies in the measured interval."""
    value, ci = measured.get("value"), measured.get("ci")
    if pred is None or value is None:
        return f"measured {measured.get('status', '-')}; predicted {_f(pred)}"
    inside = "-" if not ci else ("inside" if ci[0] <= pred <= ci[1] else "outside")
    return f"predicted/measured = {pred / value:.3g}; prediction {inside} the measured interval"


def report_stage(cfg, out: Path, store: Path, prediction: Path, args) -> None:
    from mixlab.laws.core.fitting import FitWarning
    from mixlab.laws.phase.transition import PhaseAnalysis
    from mixlab.runs import RunStore
    from mixlab.studies.phase import load_study, phase_table

    info = load_study(out)
    tag = cfg.tags[-1] if cfg.tags else None
    (out / "phase").mkdir(exist_ok=True)
    with RunStore(store) as db:
        table = phase_table(db, tag=tag)
    table.to_csv(out / "phase" / "results.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        analysis = PhaseAnalysis(threshold=args.threshold, n_bootstrap=args.n_bootstrap).fit(table)
    phase = analysis.to_dict()
    (out / "phase" / "phase.json").write_text(json.dumps(phase, indent=2))

    pivot = table.pivot_table(index="ratio", columns="model_size", values="accuracy")
    print("learning rates (rule recorded in study.json):", json.dumps(info["learning_rates"]))
    print("\nfacts learned (exact match, final) by ratio (rows) and non-embedding size (columns):")
    print(pivot.round(3).to_string())
    per_person = info["tokens_per_rendering"] * info["people"]
    print(
        f"({info['people']} people, {info['tokens_per_rendering']:.1f} tokens a rendering; "
        "exposures per person: "
        + ", ".join(f"r={r:g}: {r * max(cfg.tokens) / per_person:.0f}" for r in pivot.index)
        + ")"
    )
    level = phase["level"]
    print(f"\nmeasured critical ratio r* per size ({level:.0%} intervals):")
    for size, t in phase["critical_ratio"].items():
        print(f"  N = {size:>8}: {t['status']:<13} r* = {_f(t['value'])}  {_rng(t['ci'])}")
    law = phase["power_law"]
    if law.get("exponent") is not None:
        ci = (law.get("ci") or {}).get("exponent")
        print(
            f"measured r* = {law['coef']:.4g} * N^-{law['exponent']:.3f}, exponent interval "
            f"{_rng(ci)}"
        )
    else:
        print(f"no measured power law: {law.get('reason')}")
    print(f"\nmeasured critical size N* per ratio ({level:.0%} intervals):")
    for r, t in phase["critical_size"].items():
        print(
            f"  r = {r:>5}: {t['status']:<13} N* = {_f(t['value'])}  {_rng(t['ci'])} ({t['method']})"
        )

    if not prediction.exists():
        print(f"\nno prediction file {prediction}: nothing to set the measurements against")
    else:
        pred = json.loads(prediction.read_text())
        (out / "phase" / "predict.json").write_text(json.dumps(pred, indent=2))
        print(
            f"\npre-registered prediction {prediction.relative_to(ROOT)} "
            f"(made {pred.get('made', '?')}; last commit {_committed(prediction)}):"
        )
        for name, line in _lines(pred):
            print(f" {name}:")
            for size, t in phase["critical_ratio"].items():
                p = line["critical_ratio"].get(size, {})
                print(
                    f"  r*(N={size}): predicted {_f(p.get('theory'))} {_rng(p.get('range'))}, "
                    f"measured {_f(t['value'])} {_rng(t['ci'])}: {_verdict(p.get('theory'), t)}"
                )
            for r, t in phase["critical_size"].items():
                p = line["critical_size"].get(r, {})
                print(
                    f"  N*(r={r}): predicted {_f(p.get('theory'))} {_rng(p.get('range'))}, "
                    f"measured {_f(t['value'])} {_rng(t['ci'])}: {_verdict(p.get('theory'), t)}"
                )
            e = line["exponent"]
            ci = (law.get("ci") or {}).get("exponent")
            print(
                f"  exponent: predicted {_f(e['theory'])} {_rng(e.get('range'))}, measured "
                f"{_f(law.get('exponent'))} {_rng(ci)}: "
                + _verdict(e["theory"], {"value": law.get("exponent"), "ci": ci})
            )


def remedies_report(out: Path, store: Path, remedies: list[Path]) -> None:
    """Facts learned with each remedy against the study's run at the same size and ratio."""
    from mixlab.runs import RunStore
    from mixlab.studies.phase import load_study, phase_table

    with RunStore(store) as db:
        base = phase_table(db)
    base_facts = load_study(out)["probes"]
    rows = []
    for path in remedies:
        folder = out.parent / f"{out.name}-{path.stem}"
        if not (folder / "runs.db").exists():
            continue
        with RunStore(folder / "runs.db") as db:
            table = phase_table(db)
        facts = load_study(folder)["probes"]
        for r in table.itertuples():
            match = base[(base.model_size == r.model_size) & (abs(base.ratio - r.ratio) < 1e-9)]
            b = match.accuracy.mean() if len(match) else float("nan")
            rows.append(
                f"  {path.stem:<28} N = {r.model_size:>7} r = {r.ratio:g}: "
                f"{r.accuracy:.3f} of {facts} facts = {r.accuracy * facts:.0f} learned; "
                f"study: {b:.3f} of {base_facts} = {b * base_facts:.0f}"
            )
    if rows:
        print("\nremedies (facts learned: share and count) against the study's runs:")
        print("\n".join(rows))


def checks_report(out: Path, store: Path, checks: list[Path], args) -> None:
    """Runs of check configs (trained like remedies, at points the study lacks): each against
    the study's fitted sigmoid there, then r*, N* and the exponent refitted with them added."""
    import numpy as np
    import pandas as pd
    from scipy.special import expit

    from mixlab.laws.core.fitting import FitWarning
    from mixlab.laws.phase.transition import PhaseAnalysis
    from mixlab.runs import RunStore
    from mixlab.studies.phase import phase_table

    fitted = json.loads((out / "phase" / "phase.json").read_text())["critical_ratio"]
    with RunStore(store) as db:
        tables = [phase_table(db)]
    for path in checks:
        folder = out.parent / f"{out.name}-{path.stem}"
        if not (folder / "runs.db").exists():
            print(
                f"\ncheck {path.stem}: no runs (train it with --stage remedies --remedies {path})"
            )
            continue
        with RunStore(folder / "runs.db") as db:
            table = phase_table(db)
        tables.append(table)
        print(f"\ncheck {path.stem}: facts learned against the study's fitted sigmoid there")
        for r in table.sort_values(["model_size", "seed"]).itertuples():
            p = fitted.get(str(int(r.model_size)), {}).get("params") or {}
            if not p:
                continue
            curve = p["floor"] + (p["top"] - p["floor"]) * expit(
                p["k"] * (np.log(r.ratio) - np.log(p["x0"]))
            )
            print(
                f"  N = {r.model_size:>7} r = {r.ratio:g} seed {r.seed}: "
                f"{r.accuracy:.3f} (fitted {curve:.3f})"
            )
    if len(tables) == 1:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        both = PhaseAnalysis(threshold=args.threshold, n_bootstrap=args.n_bootstrap).fit(
            pd.concat(tables, ignore_index=True)
        )
    doc = both.to_dict()
    print("refitted with the checks' runs added (post hoc):")
    for size, t in doc["critical_ratio"].items():
        print(f"  r*(N={size}): {t['status']:<13} {_f(t['value'])} {_rng(t['ci'])}")
    for r, t in doc["critical_size"].items():
        print(f"  N*(r={r}): {t['status']:<13} {_f(t['value'])} {_rng(t['ci'])}")
    law = doc["power_law"]
    print(f"  exponent {_f(law.get('exponent'))} {_rng((law.get('ci') or {}).get('exponent'))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=ROOT / "examples" / "phase" / "capacity-cpu.yaml"
    )
    parser.add_argument("--out", type=Path, default=None, help="default out/<config stem>")
    parser.add_argument(
        "--stage", choices=("web", "predict", "mix", "remedies", "report", "all"), default="all"
    )
    parser.add_argument(
        "--remedies",
        type=Path,
        nargs="*",
        default=None,
        help="default: the configs named <config stem>-remedy-*.yaml beside --config",
    )
    parser.add_argument(
        "--checks",
        type=Path,
        nargs="*",
        default=[],
        help="report: configs run after the study at points it lacks (trained by --stage "
        "remedies --remedies CONFIG), set against the fitted curves and refitted with them",
    )
    parser.add_argument("--prediction", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument(
        "--measured-bits",
        type=float,
        nargs=3,
        metavar=("BITS", "LO", "HI"),
        default=None,
        help="predict: a second pre-registered line at this capacity (bits per parameter) "
        "and range, measured before this study's mixture runs",
    )
    parser.add_argument(
        "--measured-bits-source", default="", help="where --measured-bits was measured"
    )
    args = parser.parse_args()

    import torch

    from mixlab.studies.phase import KNOWLEDGE, load_phase_config

    started = time.perf_counter()
    out = (args.out or ROOT / "out" / f"phase-{args.config.stem}").resolve()
    prediction = (
        args.prediction or args.config.with_name(f"{args.config.stem}.prediction.json")
    ).resolve()
    cfg, base = load_phase_config(args.config)
    if args.remedies is None:
        args.remedies = sorted(args.config.parent.glob(f"{args.config.stem}-remedy-*.yaml"))
    store = out / "runs.db"
    runs, info = _plan(cfg, base, out, args.workers)
    stages = ("web", "predict", "mix", "report") if args.stage == "all" else (args.stage,)
    if "web" in stages:
        web = [r for r in runs if r.mixture.get(KNOWLEDGE, 0.0) == 0]
        _train(web, store, args.workers, "web-only runs")
    if "predict" in stages:
        predict_stage(cfg, out, store, prediction, args)
    if "mix" in stages:
        if not prediction.exists():
            raise SystemExit(f"no prediction file {prediction}: run --stage predict first")
        mixed = [r for r in runs if r.mixture.get(KNOWLEDGE, 0.0) > 0]
        _train(mixed, store, args.workers, "mixture runs")
    if "remedies" in stages:
        for path in args.remedies:
            rcfg, rbase = load_phase_config(path)
            rruns, _ = _plan(rcfg, rbase, out.parent / f"{out.name}-{path.stem}", args.workers)
            _train(
                rruns, out.parent / f"{out.name}-{path.stem}" / "runs.db", args.workers, path.stem
            )
    if "report" in stages:
        from mixlab.report.build import write_report

        report_stage(cfg, out, store, prediction, args)
        remedies_report(out, store, args.remedies)
        checks_report(out, store, args.checks, args)
        print(f"\nreport: {write_report(store, out / 'report.html', artifacts=out)}")
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
        f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}Z; this stage "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
