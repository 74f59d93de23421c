"""`mixlab demo`: the whole loop of DESIGN.md section 1 on data every machine has.

corpora (stdlib code and prose, biographies, arithmetic) -> token shards -> a Dirichlet
sweep of small proxy runs -> the `auto` mixing law (candidates chosen by cross-validation,
conformal intervals) -> the recommended mixture -> the recommended and the natural mixtures trained at the same budget,
predicted against observed -> exports and the HTML report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixlab.data.demo_corpora import write_demo_corpora
from mixlab.data.prepare import prepare
from mixlab.export.mixtures import write_mixture_export
from mixlab.export.tokens import export_tokens
from mixlab.io.laws import save_law
from mixlab.laws import MixtureConstraints, optimize_mixture
from mixlab.report.build import write_report
from mixlab.runs import RunStore
from mixlab.studies.mixing_fit import fit_law, oof_table
from mixlab.sweep.execute import run_local
from mixlab.sweep.plan import MixtureDesign, SweepConfig, make_plan
from mixlab.train.config import parse_train_config

EXPORTS = {
    "json": "recommended.json",
    "megatron": "recommended.megatron.txt",
    "olmo": "recommended.olmo.yaml",
    "hf": "recommended.hf.json",
}


@dataclass
class DemoSettings:
    """Sizes of the demo; `quick()` is the ≤ 3-minute version."""

    max_bytes: int = 600_000
    vocab_size: int = 1024
    preset: str = "25k"
    seq_len: int = 128
    batch_size: int = 16
    tokens: int = 800_000
    mixtures: int = 14
    max_epochs: float = 6.0
    cap: float = 4.0
    floor: float = 0.5
    workers: int = 2
    seed: int = 0

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(max_bytes=250_000, tokens=200_000, mixtures=12)


def run_demo(
    out: Path, settings: DemoSettings, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the loop into `out`; returns the summary printed at the end (also demo.json)."""
    started = time.perf_counter()
    out = Path(out).resolve()  # run configs hold absolute paths, whatever the cwd later
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "runs.db"

    say("1/6 demo corpora and token shards")
    corpora = write_demo_corpora(
        out / "corpora",
        max_bytes_per_domain=settings.max_bytes,
        vocab_size=settings.vocab_size,
        seed=settings.seed,
    )
    prepare(corpora.config, workers=settings.workers)
    shards = corpora.config.parent / "shards"

    say(
        f"2/6 sweep: {settings.mixtures} Dirichlet mixtures + the natural one, preset "
        f"{settings.preset}, {settings.tokens:,} tokens each, {settings.workers} workers"
    )
    base = {
        "data": str(shards),
        "seq_len": settings.seq_len,
        "batch_size": settings.batch_size,
        "optimizer": {"lr": 0.01},
        "max_epochs": settings.max_epochs,
        "eval": {
            "every": 25,
            "max_sequences": 32,
            "probes": {
                "arithmetic": str(corpora.probes["arithmetic_test"]),
                "biographies": str(corpora.probes["biographies"]),
            },
            "max_probes": 32,
        },
    }
    sweep = SweepConfig(
        base=base,
        models=[settings.preset],
        tokens=[settings.tokens],
        seeds=[settings.seed],
        tags=["demo"],
        mixtures=MixtureDesign(
            kind="dirichlet", n=settings.mixtures, cap=settings.cap, seed=settings.seed
        ),
    )
    runs = make_plan(sweep, out)
    status = run_local(runs, store_path, workers=settings.workers)
    if status.failed:
        raise RuntimeError(f"{status.failed} demo runs failed: {status.errors}")
    natural = runs[0]  # the plan puts the prior (natural shares) first

    say("3/6 mixing law: auto (candidates scored by 5-fold cross-validation)")
    with RunStore(store_path) as store:
        ids = [r.id for r in runs]
        R, Y = store.mixtures(ids), store.metrics(ids)
    domains = list(R.columns)
    targets = [f"val_loss/{d}" for d in domains]
    weights = {t: 1 / len(targets) for t in targets}  # the average of the domains' losses
    law, report = fit_law(
        "auto", R, Y, targets, weights, seed=settings.seed, n_splits=5, target_name="val_loss/avg"
    )
    for w in law.fit_warnings_:
        say(f"warning: {w}")
    (out / "laws").mkdir(exist_ok=True)
    save_law(law, out / "laws" / "auto.json")
    oof_table(law, report).drop(columns="baseline").to_csv(out / "cv_predictions.csv", index=False)
    cv = {"auto": float(report.mae_mean[0]), "predict-the-mean": float(report.baseline_mae_mean[0])}
    best = f"auto ({law.selection_[0]['chosen']})"

    say(f"4/6 optimise with the {best} law")
    prior = {d: float(natural.mixture.get(d, 0.0)) for d in domains}
    available = {d: float(t) for d, t in _train_tokens(shards).items()}
    # A domain's loss rises steeply as its share nears 0, where a dozen runs say little and
    # the laws extrapolate (the full demo's first recommendation cut arithmetic to 1.8% and
    # lost 0.27 nats): keep every domain at no less than `floor` times its natural share.
    constraints = MixtureConstraints(
        lower={d: settings.floor * w for d, w in prior.items()},
        prior=prior,
        cap=settings.cap,
        available_tokens=available,
        token_budget=settings.tokens,
        max_epochs=settings.max_epochs,
    )
    result = optimize_mixture(law, constraints, reference="prior", seed=settings.seed)
    recommended = {d: w for d, w in result.mixture.items() if w > 1e-4}
    total = sum(recommended.values())
    recommended = {d: w / total for d, w in recommended.items()}
    rec_doc = {
        "law": best,
        "mixture": recommended,
        "reference": prior,
        "target": "val_loss/avg",
        "predicted": result.predicted,
        "interval": result.interval,
        "level": result.level,
        "reference_predicted": result.reference_predicted,
        "gain": result.gain,
        "gain_interval": result.gain_interval,
        "interval_kind": result.interval_kind,
        "binding": result.binding,
        "extrapolated": result.extrapolated,
    }
    (out / "recommendation.json").write_text(json.dumps(rec_doc, indent=2))
    (out / "mixture").mkdir(exist_ok=True)
    for fmt, name in EXPORTS.items():
        # The trainers' own token files, so each export runs as written.
        data = shards if fmt == "json" else export_tokens(shards, fmt).directory
        write_mixture_export(
            out / "mixture" / name,
            recommended,
            fmt,
            data=data,
            max_epochs={d: settings.max_epochs for d in recommended},
            requested_tokens=settings.tokens,
            extra={"predicted": rec_doc} if fmt == "json" else None,
        )

    say("5/6 verify: train the recommended mixture at the same budget as the natural one")
    verify = parse_train_config(
        {
            **base,
            "mixture": recommended,
            "model": {"preset": settings.preset},
            "tokens": settings.tokens,
            "seed": settings.seed,
            "tags": ["demo", "recommended"],
        },
        "demo",
        out,
    )
    status = run_local([verify], store_path, workers=1)
    if status.failed:
        raise RuntimeError(f"the recommended run failed: {status.errors}")
    with RunStore(store_path) as store:
        observed = store.metrics([natural.id, verify.id])[targets].mean(axis=1)
    verification = [
        {
            "name": "recommended",
            "run_id": verify.id,
            "predicted": result.predicted,
            "interval": result.interval,
            "observed": float(observed[verify.id]),
            "inside_interval": bool(
                result.interval[0] <= float(observed[verify.id]) <= result.interval[1]
            ),
        },
        {
            "name": "natural",
            "run_id": natural.id,
            "predicted": result.reference_predicted,
            "observed": float(observed[natural.id]),
        },
    ]
    (out / "verification.json").write_text(json.dumps(verification, indent=2))

    say("6/6 report")
    report_path = write_report(store_path, out / "report.html", artifacts=out)
    summary = {
        "out": str(out),
        "runs": len(runs) + 1,
        "seconds": round(time.perf_counter() - started, 1),
        "cv_mae": cv,
        "law": best,
        "recommended": recommended,
        "natural": prior,
        "verification": verification,
        "observed_gain": float(observed[natural.id] - observed[verify.id]),
        "predicted_gain": result.gain,
        "gain_interval": result.gain_interval,
        "level": result.level,
        "report": str(report_path),
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    return summary


def _train_tokens(shards: Path) -> dict[str, int]:
    from mixlab.data.prepared import load_prepared

    return load_prepared(shards).token_counts()
