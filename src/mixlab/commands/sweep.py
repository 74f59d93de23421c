"""`mixlab sweep`: plan proxy-run sweeps and run them, locally or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import (
    ExecutorOpt,
    GpusPerRunOpt,
    RayAddressOpt,
    StoreOpt,
    WorkersOpt,
    output,
)
from mixlab.commands.console import table
from mixlab.commands.validate import output_file
from mixlab.errors import InputError

app = typer.Typer(
    help="Plan proxy-run sweeps and run them (locally or on Ray).", no_args_is_help=True
)


@app.command("plan")
def sweep_plan(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Sweep config (YAML).")],
    out: Annotated[Path, typer.Option(help="Plan file to write (JSON).")] = Path("plan.json"),
) -> None:
    """Expand a sweep config into its runs (mixtures x models x budgets x seeds)."""
    from mixlab.sweep.plan import load_sweep_config, make_plan, save_plan

    output_file(out, "--out")
    sweep, base_dir = load_sweep_config(config)
    runs = make_plan(sweep, base_dir, origin=str(config))
    save_plan(runs, out, sweep)
    rows = [
        (
            r.id,
            r.model.preset or "custom",
            r.tokens,
            r.seed,
            _describe(r.mixture),
        )
        for r in runs
    ]
    output(ctx).result(
        {"plan": str(out), "runs": [r.id for r in runs]},
        lambda con: con.print(
            table(f"{len(runs)} runs -> {out}", ["id", "model", "tokens", "seed", "mixture"], rows)
        ),
    )


@app.command("run")
def sweep_run(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="Plan file from `mixlab sweep plan`.")],
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
    gpus_per_run: GpusPerRunOpt = 0.0,
    store: StoreOpt = Path("mixlab.db"),
    population: Annotated[
        str,
        typer.Option(
            help="Train compatible runs (differing in mixture, seed, optimiser) as one batched "
            "population: auto (on GPU only), off, or a size."
        ),
    ] = "auto",
) -> None:
    """Run every run of a plan not yet done; re-running retries failed and interrupted runs."""
    execute_plan(ctx, plan, executor, workers, ray_address, gpus_per_run, store, population)


def execute_plan(
    ctx: typer.Context,
    plan: Path,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_run: float = 0.0,
    store: Path = Path("mixlab.db"),
    population: str = "auto",
) -> None:
    """Run a plan file's pending runs with progress; exit 1 if any failed (shared by studies)."""
    from contextlib import nullcontext

    from mixlab.commands.console import sweep_progress
    from mixlab.sweep.execute import run_local, run_ray
    from mixlab.sweep.plan import load_plan
    from mixlab.sweep.population import parse_population

    if executor not in ("local", "ray"):
        raise InputError(f"--executor must be local or ray, not {executor!r}")
    if workers < 1:
        raise InputError(f"--workers must be >= 1, not {workers}")
    population = parse_population(population)
    runs, out = load_plan(plan), output(ctx)
    if executor == "local":  # the runs train on this machine: their devices must be here
        from mixlab.train.config import check_device

        for i, run in enumerate(runs):
            check_device(run, f"{plan}: runs[{i}] ({run.id})")
    with nullcontext(None) if out.quiet or out.json else sweep_progress(len(runs)) as progress:
        if executor == "local":
            status = run_local(
                runs, store, workers=workers, on_update=progress, population=population
            )
        else:
            status = run_ray(
                runs,
                store,
                address=ray_address,
                num_cpus=workers,
                gpus_per_run=gpus_per_run,
                on_update=progress,
                population=population,
            )
    out.result(
        status.to_dict(),
        lambda con: con.print(
            f"{status.done} done, {status.skipped} already done, "
            + (f"{status.elsewhere} done by another sweep process, " if status.elsewhere else "")
            + f"{status.failed} failed"
            + "".join(f"\n  {k}: {v}" for k, v in status.errors.items())
        ),
    )
    if status.failed:
        raise typer.Exit(1)


def _describe(mixture: dict) -> str:
    """A run's mixture in one line: `d=w ...`, or per phase `[f] d=w ... | [f] ...`."""
    if "stages" in mixture:
        return " | ".join(
            f"[{s['fraction']:.2g}] " + " ".join(f"{d}={w:.3g}" for d, w in s["weights"].items())
            for s in mixture["stages"]
        )
    if "kind" in mixture:
        return str(mixture["kind"])
    return " ".join(f"{d}={w:.3g}" for d, w in mixture.items())
