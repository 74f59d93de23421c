"""`mixlab scaling`: fit scaling laws, predict with them, allocate compute, nested prediction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output
from mixlab.commands.console import table
from mixlab.commands.validate import input_file, output_file, positive
from mixlab.errors import InputError
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
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
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
        if "interval" in result:
            rows.append(
                (f"{100 * law.level:g}% interval", "{:.6g} .. {:.6g}".format(*result["interval"]))
            )
        if "backtest_interval" in result:
            rows.append(
                (
                    f"{100 * law.level:g}% back-tested",
                    "{:.6g} .. {:.6g}".format(*result["backtest_interval"]),
                )
            )
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
        rows = []
        for name, key in (
            ("compute-optimal", "compute_optimal"),
            ("inference-aware", "inference_aware"),
        ):
            a = result.get(key)
            if a:
                rows.append(
                    (
                        name,
                        a["n_params"],
                        a["tokens"],
                        a["tokens_per_param"],
                        a["loss"],
                        a["train_flops"],
                        a["inference_flops"],
                        a["total_flops"],
                    )
                )
        con.print(table(f"allocation for C = {compute:.4g} FLOPs", cols, rows))

    output(ctx).result(result, render)


# -- nested ---------------------------------------------------------------------------------------
@app.command("nested")
def scaling_nested(
    ctx: typer.Context,
    target_steps: Annotated[float, typer.Option("--target-steps", help="Steps of the target run.")],
    target_size: Annotated[
        float, typer.Option("--target-size", help="Parameters of the target model.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the result (JSON).")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Target metric (repeatable; default: the --weights keys)."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="JSON {metric: weight}: a weighted target.")
    ] = None,
    law: Annotated[
        str, typer.Option("--law", help="Mixing law kind (auto, exp, implicit, ...).")
    ] = "auto",
    law_param: Annotated[
        list[str] | None, typer.Option("--law-param", help="Mixing law KEY=VALUE (repeatable).")
    ] = None,
    size_exponent: Annotated[
        str, typer.Option(help="shared (one exponent for all mixtures) or per-mixture.")
    ] = "shared",
    size_field: Annotated[
        str, typer.Option(help="auto (non-embedding if known), n_params or n_params_nonembed.")
    ] = "auto",
    lr_schedule: Annotated[
        str | None,
        typer.Option(
            help='Schedule of runs that record none, as JSON: {"steps": 30000, "lr": '
            '{"kind": "cosine", "warmup": 0.01, "min_lr_ratio": 0.1}}.'
        ),
    ] = None,
    skip_incomplete: Annotated[
        bool, typer.Option(help="Leave out (with a warning) mixtures with < 3 sizes.")
    ] = True,
    min_step: Annotated[float, typer.Option(help="First step of each curve to use.")] = 0.0,
    min_fraction: Annotated[
        float, typer.Option(help="Skip steps below this fraction of a curve's last step.")
    ] = 0.0,
    optimize: Annotated[bool, typer.Option(help="Optimise the mixture.")] = True,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates.")] = 0,
    mixture_resampling: Annotated[
        str, typer.Option(help="Mixing-law stage of the bootstrap: residual, cases or none.")
    ] = "residual",
    level: Annotated[float, typer.Option(help="Interval level.")] = DEFAULT_LEVEL,
    seed: Annotated[int, typer.Option("--seed", help="Seed.")] = 0,
    tag: TagOpt = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Nested prediction: step laws, then size laws, then a mixing law, then the optimum."""
    from mixlab.io.files import write_json
    from mixlab.laws.scaling.forms import StepLaw
    from mixlab.laws.scaling.schedule import ScheduleStepLaw
    from mixlab.runs import RunStore
    from mixlab.studies.mixing_fit import json_or_text, parse_pairs, target_metrics
    from mixlab.studies.nested import nested_from_store, nested_law

    output_file(out, "--out")
    positive(target_steps, "--target-steps")
    positive(target_size, "--target-size")
    if not 0 < level < 1:
        raise InputError(f"--level must be in (0, 1), not {level:g}")
    metrics, w = target_metrics(metric or [], weights)
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    mixing = nested_law(
        law, **parse_pairs(law_param or [], "--law-param", json_or_text, "KEY=VALUE")
    )
    schedule = None
    if lr_schedule is not None:
        try:
            schedule = json.loads(lr_schedule)
            ScheduleStepLaw.from_record(schedule)._check_hyper()
        except (json.JSONDecodeError, InputError) as exc:
            raise InputError(f"--lr-schedule: {exc}") from None
    with RunStore(store, create=False) as s:
        result = nested_from_store(
            s,
            metrics,
            weights=w,
            tag=tag,
            size_field=size_field,
            law=mixing,
            target_steps=target_steps,
            target_size=target_size,
            step_law=StepLaw(min_step=min_step, min_fraction=min_fraction),
            size_exponent=size_exponent,
            optimize=optimize,
            n_bootstrap=bootstrap,
            mixture_resampling=mixture_resampling,
            level=level,
            seed=seed,
            skip_incomplete=skip_incomplete,
            default_schedule=schedule,
        )
    data = result.to_dict()
    write_json(data, out)
    o = output(ctx)
    o.info(
        f"nested prediction over {len(result.mixtures)} mixtures (sizes: "
        f"{result.size_field}; --target-size counts the same) -> {out}"
    )

    def render(con) -> None:
        mix = data["mixtures"]
        extra = [c for c in ("corrected", "low", "high") if c in mix[0]]
        con.print(
            table(
                f"predicted loss at {target_steps:g} steps, {target_size:.4g} params",
                ["mixture", "sizes", "predicted", *extra],
                [[m["mixture"], m["n_sizes"], m["predicted"], *(m[c] for c in extra)] for m in mix],
            )
        )
        opt = data["optimum"]
        if opt:
            rows = list(opt["mixture"].items()) + [("predicted", opt["predicted"])]
            if "corrected" in opt:
                rows.append(("corrected (back-test)", opt["corrected"]))
            if opt.get("interval") is not None:
                rows.append(
                    (f"{100 * level:g}% interval", "{:.6g} .. {:.6g}".format(*opt["interval"]))
                )
            con.print(table("optimum", ["", "value"], rows))

    o.result(data | {"out": str(out)}, render)
