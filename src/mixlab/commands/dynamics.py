"""`mixlab dynamics`: compare data choices by how fast a skill is acquired, and by compression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, output
from mixlab.commands.console import table
from mixlab.commands.sweep import execute_plan
from mixlab.commands.validate import at_least, output_file, output_folder

app = typer.Typer(
    help="Learning speed, emergence and compression of data choices (formats, curricula, mixtures).",
    no_args_is_help=True,
)


@app.command("study")
def dynamics_study(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Dynamics study config (YAML).")],
    out: Annotated[Path, typer.Option(help="Study folder to write.")] = Path("dynamics-study"),
    executor: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Runs at once (local) / CPUs (local Ray).")] = 1,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    gpus_per_run: Annotated[float, typer.Option(help="GPUs per run (Ray).")] = 0.0,
    plan_only: Annotated[bool, typer.Option(help="Write the plan, train nothing.")] = False,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Plan every choice x model x seed and train the runs not yet done (resumable)."""
    from mixlab.studies.dynamics import load_dynamics_config, plan_dynamics_study

    at_least(workers, 1, "--workers")
    output_folder(out, "--out")
    cfg, base_dir = load_dynamics_config(config)
    runs, info = plan_dynamics_study(cfg, base_dir, out, workers=workers)
    out_ = output(ctx)
    out_.info(
        f"{len(runs)} runs ({len(cfg.choices)} choices x {len(cfg.models)} "
        f"models x {len(cfg.seeds)} seeds) -> {info['plan']}"
    )
    if plan_only:
        out_.result({"plan": info["plan"], "runs": list(info["runs"])}, lambda con: None)
        return
    execute_plan(ctx, Path(info["plan"]), executor, workers, ray_address, gpus_per_run, store)


@app.command("report")
def dynamics_report(
    ctx: typer.Context,
    study: Annotated[Path, typer.Argument(help="Study folder written by `dynamics study`.")],
    store: StoreOpt = Path("mixlab.db"),
    out: Annotated[
        Path | None, typer.Option(help="HTML report (default: STUDY/report.html).")
    ] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for intervals.")] = 1000,
    compression: Annotated[bool, typer.Option(help="Compare code length with gzip/bz2/xz.")] = True,
) -> None:
    """Emergence points, speed ratios, cross-size rank agreement, compression -> HTML report."""
    from mixlab.report.build import write_report
    from mixlab.runs import RunStore
    from mixlab.studies.dynamics import analyze_dynamics, dynamics_curves, load_study

    output_file(out, "--out")
    at_least(n_bootstrap, 0, "--n-bootstrap")
    info = load_study(study)
    with RunStore(store, create=False) as db:
        curves = dynamics_curves(db, info)
    doc = analyze_dynamics(
        curves, info, Path(info["data"]) if compression else None, n_bootstrap=n_bootstrap
    )
    folder = (study if study.is_dir() else study.parent) / "dynamics"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dynamics.json").write_text(json.dumps(doc, indent=2) + "\n")
    curves.to_csv(folder / "curves.csv", index=False)
    html = write_report(
        store,
        out or folder.parent / "report.html",
        artifacts=folder.parent,
        run_ids=list(info["runs"]),
    )

    def show(con) -> None:
        rows = [
            (
                e["choice"],
                e["model_size"],
                e["status"],
                _fmt(e["value"]),
                "-" if not e.get("ci") else f"[{_fmt(e['ci'][0])}, {_fmt(e['ci'][1])}]",
                f"{e['reached']}/{e['n']}",
            )
            for e in doc["emergence"]
        ]
        con.print(
            table(
                f"tokens to {doc['threshold']:g} accuracy on {doc['skill']}",
                ["choice", "model size", "status", "tokens", "interval", "seeds"],
                rows,
            )
        )
        for s in doc["speed"]:
            con.print(
                f"  {s['model_size']}: {s['choice']} vs {s['reference']}: tokens ratio "
                + ", ".join(f"{k}: {_fmt(v)}" for k, v in s["ratio"].items())
            )
        for p in doc.get("rank_agreement", {}).get("pairs", []):
            con.print(
                f"  rank agreement {p['size_a']} vs {p['size_b']}: tau {_fmt(p['tau'])} "
                f"interval {p['ci']}"
            )
        con.print(f"report -> {html}")

    output(ctx).result(doc, show)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"
