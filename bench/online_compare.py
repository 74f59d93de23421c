"""Equal-compute comparison: natural, static law optimum, DoReMi, Aioli-style online, 2-phase.

On the demo corpora (code, prose, biographies, arithmetic), every strategy trains the same
token budget at two model sizes with several seeds; the target is the mean of the domains'
validation losses (`val_loss/avg`, as in the demo). The strategies:

- natural: the natural token shares;
- static: the optimum of the `auto` mixing law fitted on a Dirichlet swarm of static proxies
  (the smaller size, seed 0), under the demo's constraints (every domain >= 0.5x and <= 4x
  its natural share; at most `--max-epochs` epochs);
- doremi: Xie et al.'s recipe: a proxy (the smaller size, seed 0) trained with group DRO on
  the excess loss over the natural proxy; its weights averaged over training are the static
  mixture of the evaluation runs;
- aioli: each evaluation run mixes online (probe windows, least-squares A, exponentiated
  gradient), starting from the natural shares;
- phases: the 2-phase schedule (half the tokens each) optimised by the `auto` law fitted on
  phase features of a 2-phase swarm plus the static swarm, under the same constraints on the
  domain totals over both phases, every phase's shares kept inside the swarm's range.

For each strategy and size: the target's mean and seed standard deviation, per-domain
losses, and the paired (same seed) difference from the static optimum with a 90% t
interval; a strategy "beats the static optimum" only when that interval lies below zero.

Run: .venv/bin/python bench/online_compare.py [--tokens 200000 --sizes 25k 100k --seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import stats

STRATEGIES = ("natural", "static", "doremi", "aioli", "phases")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench-online"))
    p.add_argument("--tokens", type=int, default=200_000, help="token budget of every run")
    p.add_argument("--sizes", nargs="+", default=["25k", "100k"], help="model presets")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--swarm", type=int, default=12, help="proxies per swarm (static, 2-phase)")
    p.add_argument("--max-bytes", type=int, default=250_000, help="corpus bytes per domain")
    p.add_argument("--max-epochs", type=float, default=6.0)
    p.add_argument("--workers", type=int, default=2)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    from mixlab.data.demo_corpora import write_demo_corpora
    from mixlab.data.prepare import prepare
    from mixlab.laws.mixing.multiphase import optimize_schedule
    from mixlab.laws.mixing.optimize import MixtureConstraints, optimize_mixture
    from mixlab.runs import RunStore
    from mixlab.studies.mixing_fit import fit_law
    from mixlab.studies.multiphase import fit_phase_law
    from mixlab.sweep.execute import run_local
    from mixlab.sweep.plan import MixtureDesign, SweepConfig, expand_run, make_plan

    started = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "runs.db"
    proxy = args.sizes[0]
    corpora_dir = out / "corpora"
    if not (corpora_dir / "shards" / "manifest.json").exists():
        corpora = write_demo_corpora(
            corpora_dir, max_bytes_per_domain=args.max_bytes, vocab_size=1024, seed=0
        )
        prepare(corpora.config, workers=args.workers)
    shards = corpora_dir / "shards"
    base = {
        "data": str(shards),
        "seq_len": 128,
        "batch_size": 16,
        "optimizer": {"lr": 0.01},
        "max_epochs": args.max_epochs,
        "eval": {"every": 20, "max_sequences": 32},
    }

    def train(runs, what):
        t0 = time.perf_counter()
        status = run_local(runs, store_path, workers=args.workers)
        print(
            f"  {what}: {status.done} trained, {status.skipped} already done, "
            f"{status.failed} failed ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        if status.failed:
            raise SystemExit(f"{status.failed} runs failed: {status.errors}")

    print(f"1/4 swarms at {proxy}: {args.swarm} static + {args.swarm} 2-phase proxies", flush=True)
    design = dict(kind="dirichlet", n=args.swarm, cap=4.0, seed=0)
    static_swarm = make_plan(
        SweepConfig(
            base=base,
            models=[proxy],
            tokens=[args.tokens],
            tags=["swarm"],
            mixtures=MixtureDesign(**design),
        ),
        out,
    )
    phase_swarm = make_plan(
        SweepConfig(
            base=base,
            models=[proxy],
            tokens=[args.tokens],
            tags=["swarm", "phases"],
            mixtures=MixtureDesign(**{**design, "seed": 1}, phases=2, include_prior=False),
        ),
        out,
    )
    natural_proxy = static_swarm[0]  # the plan puts the prior (natural shares) first
    doremi_proxy = expand_run(
        base,
        natural_proxy.mixture,
        proxy,
        args.tokens,
        0,
        ["doremi-proxy"],
        "doremi proxy",
        out,
        online={
            "method": "doremi",
            "every_steps": 5,
            "step_size": 5.0,
            "reference_run": natural_proxy.id,
        },
    )
    train([*static_swarm, *phase_swarm, doremi_proxy], "swarms and the DoReMi proxy")

    print("2/4 laws: static auto law, 2-phase auto law; optimise both", flush=True)
    natural = {d: float(w) for d, w in natural_proxy.mixture.items()}
    domains = list(natural)
    targets = [f"val_loss/{d}" for d in domains]
    weights = {t: 1 / len(targets) for t in targets}
    with RunStore(store_path) as store:
        ids = [r.id for r in static_swarm]
        R, Y = store.mixtures(ids)[domains], store.metrics(ids)
        records = [store.get(r.id) for r in [*static_swarm, *phase_swarm]]
        Yall = store.metrics([r.id for r in records])
        doremi_rec = store.get(doremi_proxy.id)
        available = {d: float(t.size) for d, t in _train_tokens(shards).items()}
    cons = MixtureConstraints(
        lower={d: 0.5 * w for d, w in natural.items()},
        prior=natural,
        cap=4.0,
        available_tokens=available,
        token_budget=args.tokens,
        max_epochs=args.max_epochs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        law, report = fit_law("auto", R, Y, targets, weights, target_name="val_loss/avg")
        static_opt = optimize_mixture(law, cons, reference="prior").mixture
        plaw, preport, fractions = fit_phase_law(
            records, Yall, targets, weights, n_phases=2, domains=domains,
            target_name="val_loss/avg",
        )  # fmt: skip
        schedule = optimize_schedule(
            plaw, cons, fractions=[0.5, 0.5], observed_fractions=fractions, reference="prior",
            within_range=True,
        )  # fmt: skip
    doremi_avg = {
        e.metric.split("/", 1)[1]: e.value
        for e in doremi_rec.evaluations
        if e.metric.startswith("mix_weight_avg/")
    }
    laws = {
        "static_law": law.selection_[0]["chosen"],
        "static_cv_mae": float(report.mae_mean[0]),
        "static_cv_mae_mean_baseline": float(report.baseline_mae_mean[0]),
        "phase_law": plaw.selection_[0]["chosen"],
        "phase_cv_mae": float(preport.mae_mean[0]),
        "phase_cv_mae_mean_baseline": float(preport.baseline_mae_mean[0]),
        "schedule": schedule.to_dict(),
    }
    mixtures = {
        "natural": natural,
        "static": _clean(static_opt),
        "doremi": _clean(doremi_avg),
        "phases": schedule.curriculum(),
    }
    for k, v in mixtures.items():
        print(f"  {k}: {_rounded(v if k != 'phases' else schedule.mixtures)}")
    print(f"  laws: {json.dumps({k: v for k, v in laws.items() if k != 'schedule'})}")
    print(
        f"  phase law predicts {schedule.predicted:.4f} for the schedule, "
        f"{schedule.static_predicted:.4f} for its best static mixture",
        flush=True,
    )

    print(
        f"3/4 evaluation: {len(STRATEGIES)} strategies x {args.sizes} x seeds {args.seeds}",
        flush=True,
    )
    evals: dict[tuple[str, str, int], str] = {}
    runs = []
    for size in args.sizes:
        for seed in args.seeds:
            for strategy in STRATEGIES:
                extra = {}
                mixture = mixtures.get(strategy, natural)
                if strategy == "aioli":
                    extra["online"] = {"method": "aioli", "every_steps": 4}
                cfg = expand_run(
                    base, mixture, size, args.tokens, seed, ["compare", strategy],
                    f"{strategy} {size} seed {seed}", out, **extra,
                )  # fmt: skip
                evals[(strategy, size, seed)] = cfg.id
                runs.append(cfg)
    train(runs, "evaluation runs")

    print("4/4 results", flush=True)
    with RunStore(store_path) as store:
        M = store.metrics(list(dict.fromkeys(evals.values())))
    loss = M[targets].mean(axis=1)
    rows = []
    for size in args.sizes:
        ref = np.array([loss[evals[("static", size, s)]] for s in args.seeds])
        for strategy in STRATEGIES:
            v = np.array([loss[evals[(strategy, size, s)]] for s in args.seeds])
            diff = v - ref
            n = len(diff)
            half = (
                float(stats.t.ppf(0.95, n - 1) * diff.std(ddof=1) / np.sqrt(n))
                if n > 1 and strategy != "static"
                else 0.0
            )
            per_domain = {
                d: float(np.mean([M.loc[evals[(strategy, size, s)], f"val_loss/{d}"] for s in args.seeds]))
                for d in domains
            }  # fmt: skip
            rows.append(
                {
                    "size": size,
                    "strategy": strategy,
                    "mean": float(v.mean()),
                    "seed_sd": float(v.std(ddof=1)) if n > 1 else 0.0,
                    "vs_static": float(diff.mean()),
                    "vs_static_90": [float(diff.mean() - half), float(diff.mean() + half)],
                    "beats_static": bool(strategy != "static" and diff.mean() + half < 0),
                    "per_domain": per_domain,
                }
            )
    _print_table(rows, domains)
    doc = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}",
        "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        "settings": vars(args) | {"out": str(args.out)},
        "mixtures": mixtures,
        "laws": laws,
        "results": rows,
        "seconds": round(time.perf_counter() - started),
    }
    (out / "online_compare.json").write_text(json.dumps(doc, indent=2, default=str))
    beats = [f"{r['strategy']} at {r['size']}" for r in rows if r["beats_static"]]
    print(
        "beat the static optimum by more than seed noise (90% paired t interval below 0): "
        + (", ".join(beats) if beats else "none")
    )
    print(f"{doc['seconds']} s; {doc['machine']}; {doc['date']}; -> {out / 'online_compare.json'}")


def _print_table(rows: list[dict], domains: list[str]) -> None:
    head = ["size", "strategy", "val_loss/avg", "seed sd", "vs static (90% CI)", "beats"]
    print("| " + " | ".join(head + [f"{d}" for d in domains]) + " |")
    print("|" + "---|" * (len(head) + len(domains)))
    for r in rows:
        lo, hi = r["vs_static_90"]
        cells = [
            r["size"],
            r["strategy"],
            f"{r['mean']:.4f}",
            f"{r['seed_sd']:.4f}",
            "-" if r["strategy"] == "static" else f"{r['vs_static']:+.4f} [{lo:+.4f}, {hi:+.4f}]",
            "yes" if r["beats_static"] else "no",
            *[f"{r['per_domain'][d]:.3f}" for d in domains],
        ]
        print("| " + " | ".join(cells) + " |")


def _clean(mixture: dict[str, float]) -> dict[str, float]:
    kept = {d: w for d, w in mixture.items() if w > 1e-4}
    total = sum(kept.values())
    return {d: w / total for d, w in kept.items()}


def _rounded(x):
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return round(x, 3) if isinstance(x, float) else x


def _train_tokens(shards: Path) -> dict:
    from mixlab.data.prepared import load_prepared

    return load_prepared(shards).train_tokens()


if __name__ == "__main__":
    main()
