"""`mixlab law`: fit, predict, optimise mixing laws, and the continual-pretraining share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import output
from mixlab.commands.console import table
from mixlab.commands.validate import at_least, law_target, one_of, output_file, positive
from mixlab.errors import InputError

app = typer.Typer(
    help="Fit data mixing laws, predict unseen mixtures, recommend a mixture.", no_args_is_help=True
)
IdOpt = Annotated[str, typer.Option(help="Run-id column of the tables.")]


@app.command("fit")
def law_fit(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Fitted law (JSON).")],
    mixtures: Annotated[Path | None, typer.Option(help="Mixture table (CSV).")] = None,
    metrics: Annotated[Path | None, typer.Option(help="Metrics table (CSV).")] = None,
    id_column: IdOpt = "index",
    target: Annotated[
        list[str] | None, typer.Option(help="Metric column to model (repeatable).")
    ] = None,
    target_weights: Annotated[
        Path | None, typer.Option(help="JSON metric -> weight: one weighted target.")
    ] = None,
    law: Annotated[str, typer.Option(help="exp, implicit, linear or lgbm.")] = "exp",
    seed: Annotated[int, typer.Option(help="Seed for starts, splits, trees.")] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    renormalize: Annotated[bool, typer.Option(help="Rescale mixture rows to sum to 1.")] = False,
    store: Annotated[
        Path | None, typer.Option(help="Fit on the store's runs instead of CSVs.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="With --store: only runs with this tag.")] = None,
) -> None:
    """Fit a mixing law on runs and report its cross-validated MAE and Spearman per target."""
    from mixlab.io.laws import save_law
    from mixlab.laws.core.estimator import kinds
    from mixlab.studies.mixing_fit import fit_law, read_weights, training_tables

    if law not in kinds("mixing"):
        raise InputError(f"--law must be one of {', '.join(kinds('mixing'))}, not {law!r}")
    at_least(folds, 2, "--folds")
    if store is not None and (mixtures is not None or metrics is not None):
        raise InputError("give either --store or --mixtures/--metrics, not both: drop --store "
                         "to fit on the CSV tables, or drop --mixtures and --metrics")
    output_file(out, "--out")
    R, Y = training_tables(
        mixtures, metrics, id_column=id_column, store=store, tag=tag, renormalize=renormalize
    )
    weights = read_weights(target_weights) if target_weights else None
    fitted, report = fit_law(law, R, Y, target or [], weights, seed=seed, n_splits=folds)
    save_law(fitted, out)
    cv = report.summary()
    rows = [(t, s["mae_mean"], s["mae_median"], s["spearman"]) for t, s in cv["targets"].items()]
    o = output(ctx)
    for w in fitted.fit_warnings_:
        o.warning(str(w))
    o.result(
        {"law": str(out), "kind": law, "n_runs": len(R), "cv": cv},
        lambda con: con.print(
            table(
                f"{law} law on {len(R)} runs -> {out} ({cv['scheme']})",
                ["target", "CV MAE (mean)", "CV MAE (median)", "CV Spearman"],
                rows,
            )
        ),
    )


@app.command("predict")
def law_predict(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Fitted law (JSON).")],
    mixtures: Annotated[Path, typer.Option(help="Mixtures to predict (CSV).")],
    out: Annotated[Path, typer.Option(help="Predictions (CSV): id + one column per target.")],
    id_column: IdOpt = "index",
    renormalize: Annotated[bool, typer.Option(help="Rescale mixture rows to sum to 1.")] = False,
) -> None:
    """Predict the targets of unseen mixtures."""
    from mixlab.io.laws import load_law
    from mixlab.studies.mixing_fit import prediction_table

    output_file(out, "--out")
    frame = prediction_table(load_law(law_file), mixtures, id_column, renormalize)
    frame.to_csv(out, index=False)
    output(ctx).info(f"{len(frame)} predictions -> {out}")
    if output(ctx).json:
        output(ctx).result({"predictions": str(out), "rows": len(frame)})


@app.command("optimize")
def law_optimize(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Fitted law (JSON).")],
    out: Annotated[Path, typer.Option(help="The recommended mixture, in --format.")],
    fmt: Annotated[str, typer.Option("--format", help="json, megatron, olmo or hf.")] = "json",
    target: Annotated[
        str | None, typer.Option(help="Which of the law's targets to minimise.")
    ] = None,
    prior: Annotated[
        Path | None, typer.Option(help="JSON domain -> natural share (reference).")
    ] = None,
    cap: Annotated[
        float | None, typer.Option(help="No weight above cap x its prior share.")
    ] = None,
    lower: Annotated[list[str] | None, typer.Option(help="DOMAIN=MIN (repeatable).")] = None,
    upper: Annotated[list[str] | None, typer.Option(help="DOMAIN=MAX (repeatable).")] = None,
    available_tokens: Annotated[
        Path | None, typer.Option(help="JSON domain -> tokens available (default: from --data).")
    ] = None,
    token_budget: Annotated[
        float | None, typer.Option(help="Training tokens of the target run.")
    ] = None,
    max_epochs: Annotated[
        float | None, typer.Option(help="Repetitions allowed per domain.")
    ] = None,
    mixtures: Annotated[
        Path | None, typer.Option(help="The law's runs (for a bootstrap interval).")
    ] = None,
    metrics: Annotated[Path | None, typer.Option(help="Their metrics (for the interval).")] = None,
    id_column: IdOpt = "index",
    bootstrap: Annotated[int, typer.Option(help="Refits for the interval (needs the runs).")] = 20,
    paths: Annotated[
        Path | None, typer.Option(help="JSON domain -> data path(s) for exports.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Token export (mixlab data export) or prepared folder the paths, "
            "document lengths and tokenizer come from.",
        ),
    ] = None,
    unit: Annotated[str, typer.Option(help="Shares in tokens (proxy tokenizer) or bytes.")] = "tokens",
    global_batch_size: Annotated[
        int | None, typer.Option(help="OLMo: global batch size in tokens.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for restarts and bootstrap.")] = 0,
) -> None:
    """Recommend the mixture minimising the predicted target under constraints."""
    from mixlab.export.mixtures import FORMATS, load_export_data, write_mixture_export
    from mixlab.io.laws import load_law
    from mixlab.laws import optimize_mixture
    from mixlab.studies.mixing_fit import constraints, read_json, training_tables

    one_of(fmt, FORMATS, "--format")
    for value, flag in ((cap, "--cap"), (token_budget, "--token-budget"),
                        (max_epochs, "--max-epochs")):
        positive(value, flag)
    at_least(bootstrap, 0, "--bootstrap")
    if (token_budget is not None or max_epochs is not None) and (
        available_tokens is None and data_dir is None
    ):
        raise InputError("--token-budget and --max-epochs need --available-tokens "
                         "(JSON domain -> tokens available) or --data (exported token files)")
    output_file(out, "--out")
    law = load_law(law_file)
    exported = load_export_data(data_dir) if data_dir is not None else None
    if exported is not None and available_tokens is None and token_budget is not None:
        available_tokens = {d: dd.tokens for d, dd in exported.domains.items()}  # type: ignore[assignment]
    law_target(law, target)
    cons = constraints(
        law,
        prior=prior,
        cap=cap,
        lower=lower or [],
        upper=upper or [],
        available_tokens=available_tokens,
        token_budget=token_budget,
        max_epochs=max_epochs,
    )
    data = None
    if mixtures is not None or metrics is not None:
        R, Y = training_tables(mixtures, metrics, id_column=id_column)
        data = (
            R.reindex(columns=law.domain_names_, fill_value=0.0).to_numpy(),
            Y[law.metric_names_].to_numpy(),
        )
    result = optimize_mixture(
        law,
        cons,
        target=target,
        reference="prior" if prior else None,
        data=data,
        n_bootstrap=bootstrap,
        seed=seed,
    )
    doc = result.to_dict()
    write_mixture_export(
        out,
        result.mixture,
        fmt,
        paths=read_json(paths, expect=dict, what="JSON domain -> data path(s)") if paths else None,
        data=exported,
        unit=unit,
        max_epochs=None if max_epochs is None else dict.fromkeys(result.mixture, max_epochs),
        requested_tokens=int(token_budget) if token_budget else None,
        global_batch_size=global_batch_size,
        seed=seed,
        extra={k: v for k, v in doc.items() if k != "mixture"},
    )
    rows = [(d, w, (result.reference or {}).get(d)) for d, w in result.mixture.items()]

    def render(con):
        con.print(
            table(f"recommended mixture -> {out} ({fmt})", ["domain", "weight", "reference"], rows)
        )
        interval = (
            ""
            if result.interval is None
            else f" ({100 * result.level:.0f}% interval {result.interval[0]:.4f}..{result.interval[1]:.4f})"
        )
        con.print(f"predicted {result.target}: {result.predicted:.4f}{interval}")
        if result.gain is not None:
            con.print(f"predicted gain over the reference: {result.gain:+.4f}")

    output(ctx).result(doc, render)


@app.command("critical-share")
def law_critical_share(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Law over (original, new) data (JSON).")],
    original: Annotated[str, typer.Option(help="The original-data domain.")],
    level: Annotated[float, typer.Option(help="Original-domain loss before continuation.")],
    bound: Annotated[float, typer.Option(help="Allowed rise of that loss.")],
    relative: Annotated[bool, typer.Option(help="--bound is a fraction of --level.")] = False,
    target: Annotated[str | None, typer.Option(help="The original domain's loss metric.")] = None,
) -> None:
    """Continual pretraining: the least share of original data that keeps its loss in bound."""
    from mixlab.io.laws import load_law
    from mixlab.laws import critical_share

    law = load_law(law_file)
    law_target(law, target)
    result = critical_share(
        law,
        original=original,
        level=level,
        bound=bound,
        relative=relative,
        target=target,
    )
    output(ctx).result(result.to_dict(), lambda con: con.print(result.message))
