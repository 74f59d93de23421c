"""`mixlab runs`: import, list, show and export runs in the run store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output
from mixlab.commands.console import table
from mixlab.commands.validate import output_file, positive
from mixlab.errors import InputError

app = typer.Typer(help="Import, list, show and export runs in the run store.", no_args_is_help=True)


# Over 80 lines for its 20 typer options; the body checks the flags (_import_source) and calls
# the one importer they name.
@app.command("import")
def runs_import(
    ctx: typer.Context,
    mixtures: Annotated[
        Path | None, typer.Option(help="Mixture table (CSV): id + one column per domain.")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Metrics table (CSV): id + one column per metric.")
    ] = None,
    curves: Annotated[
        Path | None, typer.Option(help="Long curves (CSV): run_id, step, tokens, metric, value.")
    ] = None,
    mixinglaws_log: Annotated[
        list[Path] | None,
        typer.Option("--mixinglaws-log", help="Data Mixing Laws log (repeatable)."),
    ] = None,
    id_column: Annotated[str, typer.Option(help="Run-id column of the tables.")] = "index",
    tag: Annotated[
        list[str] | None, typer.Option(help="Tag for the imported runs (repeatable).")
    ] = None,
    renormalize: Annotated[bool, typer.Option(help="Rescale mixture rows to sum to 1.")] = False,
    id_prefix: Annotated[
        str, typer.Option(help="Prefix for the run ids (keeps sources apart).")
    ] = "",
    domains: Annotated[
        str | None, typer.Option(help="Comma-separated domain names for log weights.")
    ] = None,
    tokens_per_step: Annotated[float | None, typer.Option(help="Tokens per step (logs).")] = None,
    max_run_id: Annotated[int | None, typer.Option(help="Skip log runs with a higher id.")] = None,
    table: Annotated[
        Path | None,
        typer.Option(help="One runs table (W&B runs-table CSV or any CSV), columns by pattern."),
    ] = None,
    mixture_columns: Annotated[
        list[str] | None,
        typer.Option(help="With --table: glob of the mixture columns ('mix_*'; * = domain)."),
    ] = None,
    metric_columns: Annotated[
        list[str] | None, typer.Option(help="With --table: glob of the metric columns.")
    ] = None,
    n_column: Annotated[
        str | None, typer.Option(help="With --table: model-size column (1.2e8 or 125M).")
    ] = None,
    tokens_column: Annotated[
        str | None, typer.Option(help="With --table: training-tokens column.")
    ] = None,
    trainer_state: Annotated[
        list[Path] | None,
        typer.Option(help="HF Trainer trainer_state.json (repeatable; run id = its folder)."),
    ] = None,
    tensorboard: Annotated[
        list[Path] | None,
        typer.Option(help="TensorBoard log folder (repeatable; run id = folder name)."),
    ] = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Import runs trained elsewhere: wide tables, one runs table, long curves, trainer logs,
    or Data Mixing Laws logs."""
    from mixlab.runs import RunStore, import_curves, import_mixinglaws_logs, import_wide
    from mixlab.runs.table_import import import_logs, import_table

    out, tags = output(ctx), tag or []
    positive(tokens_per_step, "--tokens-per-step")
    source = _import_source(
        table=table is not None,
        logs=bool(trainer_state or tensorboard),
        mixinglaws=bool(mixinglaws_log),
        mixtures=mixtures is not None,
        metrics=metrics is not None,
        curves=curves is not None,
        patterns=bool(mixture_columns and metric_columns),
    )
    with RunStore(store) as s:
        if source == "table":
            summary = import_table(
                s,
                table,
                mixture_columns=mixture_columns,
                metric_columns=metric_columns,
                id_column=id_column,
                n_column=n_column,
                tokens_column=tokens_column,
                tags=tags,
                renormalize=renormalize,
                id_prefix=id_prefix,
            )
        elif source == "logs":
            kind, logs = (
                ("trainer_state", trainer_state) if trainer_state else ("tensorboard", tensorboard)
            )
            summary = import_logs(
                s,
                logs,
                mixtures,
                kind=kind,
                id_column=id_column,
                tags=tags,
                renormalize=renormalize,
                tokens_per_step=tokens_per_step,
                id_prefix=id_prefix,
            )
        elif source == "mixinglaws":
            names = [d.strip() for d in domains.split(",")] if domains else None
            summary = import_mixinglaws_logs(
                s,
                mixinglaws_log,
                domains=names,
                tags=tags,
                tokens_per_step=tokens_per_step,
                max_run_id=max_run_id,
                id_prefix=id_prefix,
                renormalize=renormalize,
            )
        else:
            kw = dict(id_column=id_column, tags=tags, renormalize=renormalize, id_prefix=id_prefix)
            summary = (
                import_wide(s, mixtures, metrics, **kw)
                if metrics is not None
                else import_curves(s, curves, mixtures, **kw)
            )
    counts = summary.to_dict()
    out.info(
        f"{store}: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )
    if out.json:
        out.result(counts)


def _import_source(
    *,
    table: bool,
    logs: bool,
    mixinglaws: bool,
    mixtures: bool,
    metrics: bool,
    curves: bool,
    patterns: bool,
) -> str:
    """Which import the flags ask for (table, logs, mixinglaws or wide/curves); InputError for
    a combination that names none or two."""
    if table:
        if mixtures or metrics or curves or mixinglaws:
            raise InputError("--table takes no --mixtures, --metrics, --curves or logs")
        if not patterns:
            raise InputError("--table needs --mixture-columns and --metric-columns patterns")
        return "table"
    if logs:
        if not mixtures or metrics or curves:
            raise InputError("--trainer-state / --tensorboard need --mixtures (and no --metrics)")
        return "logs"
    if mixinglaws:
        if mixtures or metrics or curves:
            raise InputError("--mixinglaws-log takes no --mixtures, --metrics or --curves")
        return "mixinglaws"
    if not mixtures or metrics == curves:
        raise InputError(
            "give --mixtures with either --metrics (wide) or --curves (long), or --mixinglaws-log"
        )
    return "wide"


@app.command("list")
def runs_list(
    ctx: typer.Context,
    tag: TagOpt = None,
    status: Annotated[str | None, typer.Option(help="running, done or failed.")] = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """List the runs in the store."""
    from mixlab.runs import RunStore

    if status not in (None, "running", "done", "failed"):
        raise InputError(f"--status must be running, done or failed, not {status!r}")
    with RunStore(store, create=False) as s:
        frame = s.summary(tag=tag, status=status)
    cols = ["id", "status", "tags", "n_domains", "n_metrics", "n_evaluations", "tokens"]
    output(ctx).result(
        frame.to_dict(orient="records"),
        lambda con: con.print(
            table(f"{len(frame)} runs in {store}", cols, frame[cols].itertuples(index=False))
        ),
    )


@app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Show one run: its record, mixture, final metrics and curves."""
    from mixlab.runs import RunStore

    with RunStore(store, create=False) as s:
        record = s.get(run_id)

    def render(con):
        fields = [
            "status",
            "error",
            "tags",
            "model",
            "n_params",
            "n_params_nonembed",
            "tokens",
            "flops",
            "seed",
            "schedule",
            "host",
            "wall_time",
            "source",
        ]
        con.print(
            table(
                f"run {record.id}",
                ["field", "value"],
                [
                    (f, getattr(record, f))
                    for f in fields
                    if getattr(record, f) not in (None, [], {})
                ],
            )
        )
        con.print(
            table(
                "mixture",
                ["domain", "weight"],
                [(d, w) for d, w in record.mixture.items() if w > 0],
            )
        )
        curves = {m: record.curve(m) for m in record.final_metrics()}
        con.print(
            table(
                "metrics",
                ["metric", "final", "points", "steps"],
                [
                    (
                        m,
                        v,
                        len(curves[m]),
                        f"{curves[m][0].step}..{curves[m][-1].step}" if curves[m] else "-",
                    )
                    for m, v in record.final_metrics().items()
                ],
            )
        )

    output(ctx).result(record.model_dump(), render)


@app.command("export")
def runs_export(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="runs.csv writes runs_mixtures.csv and runs_metrics.csv.")
    ] = None,
    mixtures: Annotated[
        Path | None, typer.Option(help="Mixture table path (instead of --out).")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Metrics table path (instead of --out).")
    ] = None,
    curves: Annotated[
        Path | None, typer.Option(help="Also write the long curves table here.")
    ] = None,
    id_column: Annotated[str, typer.Option(help="Run-id column name.")] = "index",
    tag: TagOpt = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Export runs as the wide mixture and metrics tables they can be imported from."""
    from mixlab.runs import RunStore, export_curves, export_paths, export_wide

    if out is not None:
        mixtures, metrics = (mixtures, metrics) if mixtures and metrics else export_paths(out)
    if mixtures is None or metrics is None:
        raise InputError("give --out, or both --mixtures and --metrics")
    for path, flag in ((mixtures, "--mixtures"), (metrics, "--metrics"), (curves, "--curves")):
        output_file(path, "--out" if out is not None and flag != "--curves" else flag)
    with RunStore(store, create=False) as s:
        n = export_wide(s, mixtures, metrics, tag=tag, id_column=id_column)
        n_points = export_curves(s, curves, tag=tag) if curves else 0
    written = {"runs": n, "mixtures": str(mixtures), "metrics": str(metrics)}
    if curves:
        written.update(curves=str(curves), curve_points=n_points)
    o = output(ctx)
    o.info(
        f"{n} runs -> {mixtures}, {metrics}"
        + (f"; {n_points} curve points -> {curves}" if curves else "")
    )
    if o.json:
        o.result(written)
