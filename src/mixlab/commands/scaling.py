"""`mixlab scaling`: fit scaling laws, predict with them, allocate compute (and `nested`,
whose command lives in commands/nested.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mixlab.commands.common import output
from mixlab.commands.console import interval_row, table
from mixlab.commands.nested import scaling_nested
from mixlab.commands.validate import check_bootstrap, input_file, output_file
from mixlab.laws.core.estimator import DEFAULT_LEVEL

app = typer.Typer(
    help="Scaling laws: fit L(N, D) and friends, predict, allocate compute, nested prediction.",
    no_args_is_help=True,
)
FitPath = Annotated[Path, typer.Argument(help="A fitted scaling law (JSON from `scaling fit`).")]


def _params_table(law) -> Any:
    rows = [(n, v, *(law.ci_.get(n) or (None, None))) for n, v in law.params_.items()]
    level = f"{100 * law.level:g}%"
    return table(
        f"{law.form} law ({law.n_points_} points)",
        ["param", "value", f"{level} low", f"{level} high"],
        rows,
    )


# -- fit ------------------------------------------------------------------------------------------
@app.command("fit")
def scaling_fit(
    ctx: typer.Context,
    runs: Annotated[Path, typer.Option("--runs", help="Runs table (CSV), one row per point.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fitted law (JSON).")],
    loss_column: Annotated[str, typer.Option("--loss-column", help="Loss column.")],
    n_column: Annotated[
        str | None, typer.Option("--n-column", help="Model size (parameters) column.")
    ] = None,
    d_column: Annotated[
        str | None, typer.Option("--d-column", help="Training tokens column.")
    ] = None,
    c_column: Annotated[
        str | None, typer.Option("--c-column", help="Training FLOPs column; D = C / (6 N).")
    ] = None,
    step_column: Annotated[
        str | None, typer.Option("--step-column", help="Step (or token) column, form step.")
    ] = None,
    u_column: Annotated[
        str | None,
        typer.Option("--u-column", help="Unique tokens column: data-constrained Chinchilla."),
    ] = None,
    r_star: Annotated[
        str, typer.Option("--r-star", help="With --u-column: 'fit' or a fixed R* (e.g. 15.4).")
    ] = "fit",
    form: Annotated[str, typer.Option("--form", help="chinchilla, size, step or overtrain.")] = (
        "chinchilla"
    ),
    drop_highest: Annotated[
        int, typer.Option("--drop-highest", help="Leave out the K highest-loss points.")
    ] = 0,
    min_step: Annotated[float, typer.Option(help="Form step: first step used.")] = 0.0,
    min_fraction: Annotated[
        float, typer.Option(help="Form step: skip steps below this fraction of the last.")
    ] = 0.0,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap refits for the intervals (0: none).")
    ] = 100,
    level: Annotated[float, typer.Option(help="Interval level.")] = DEFAULT_LEVEL,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Fit a scaling law to a runs table and write it as JSON."""
    from mixlab.io.laws import save_scaling_law
    from mixlab.studies.scaling_fit import fit_scaling_csv

    input_file(runs, "--runs")
    output_file(out, "--out")
    check_bootstrap(bootstrap)
    columns = {
        "--loss-column": loss_column,
        "--step-column": step_column,
        "--n-column": n_column,
        "--d-column": d_column,
        "--c-column": c_column,
        "--u-column": u_column,
    }
    law = fit_scaling_csv(
        runs,
        form,
        columns,
        r_star=r_star,
        min_step=min_step,
        min_fraction=min_fraction,
        drop_highest=drop_highest,
        n_bootstrap=bootstrap,
        level=level,
        seed=seed,
    )
    save_scaling_law(law, out)
    o = output(ctx)
    o.info(f"{law.form} law fitted on {law.n_points_} points -> {out}")
    o.result(law.to_dict() | {"out": str(out)}, lambda con: con.print(_params_table(law)))


# -- predict --------------------------------------------------------------------------------------
@app.command("predict")
def scaling_predict(
    ctx: typer.Context,
    fit: FitPath,
    n: Annotated[float | None, typer.Option("--n", help="Model size (parameters).")] = None,
    d: Annotated[float | None, typer.Option("--d", help="Training tokens.")] = None,
    steps: Annotated[float | None, typer.Option("--steps", help="Steps (form step).")] = None,
    unique_tokens: Annotated[
        float | None, typer.Option(help="Unique tokens (data-constrained law).")
    ] = None,
) -> None:
    """Predict the loss of a fitted law at N (and D), or at a step count."""
    from mixlab.io.laws import load_scaling_law
    from mixlab.studies.scaling_fit import predict_at

    law = load_scaling_law(fit)
    result = predict_at(law, {"N": n, "D": d, "S": steps, "U": unique_tokens}, fit)

    def render(con) -> None:
        rows = [(k, v) for k, v in result.items() if k not in ("interval", "backtest_interval")]
        for key, what in (("interval", "interval"), ("backtest_interval", "back-tested")):
            if key in result:
                rows.append(interval_row(f"{100 * law.level:g}% {what}", result[key]))
        con.print(table("prediction", ["", "value"], rows))

    output(ctx).result(result, render)


# -- allocate -------------------------------------------------------------------------------------
@app.command("allocate")
def scaling_allocate(
    ctx: typer.Context,
    fit: FitPath,
    compute: Annotated[float, typer.Option("--compute", help="Training FLOPs budget C.")],
    inference_tokens: Annotated[
        float | None, typer.Option("--inference-tokens", help="Expected inference tokens.")
    ] = None,
    target_loss: Annotated[
        float | None,
        typer.Option("--target-loss", help="Loss to reach (default: the C-optimal loss)."),
    ] = None,
    unique_tokens: Annotated[
        float | None, typer.Option(help="Unique tokens available (data-constrained law).")
    ] = None,
) -> None:
    """Compute-optimal N and D for a budget; with inference demand, the cheaper-overall choice."""
    from mixlab.io.laws import load_scaling_law
    from mixlab.studies.scaling_fit import allocate

    result = allocate(
        load_scaling_law(fit), compute, inference_tokens, target_loss, unique_tokens, fit
    )

    def render(con) -> None:
        cols = ["", "N", "D", "D/N", "loss", "train FLOPs", "inference FLOPs", "total FLOPs"]
        keys = ["n_params", "tokens", "tokens_per_param", "loss"]
        keys += ["train_flops", "inference_flops", "total_flops"]
        rows = [
            (name.replace("_", "-"), *(result[name][k] for k in keys))
            for name in ("compute_optimal", "inference_aware")
            if result.get(name)
        ]
        con.print(table(f"allocation for C = {compute:.4g} FLOPs", cols, rows))

    output(ctx).result(result, render)


# nested prediction crosses mixing and scaling; its 20 options live in commands/nested.py
app.command("nested")(scaling_nested)
