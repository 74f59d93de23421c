"""The `mixlab` command line: parse, validate, call one function of a layer below, print.

Exit codes: 0 success; 2 bad input (a message naming the file, row or field, no traceback);
1 anything else (the traceback only under --debug).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from mixlab import __version__
from mixlab.console import Output, table
from mixlab.errors import InputError

GLOBAL_FLAGS = ("--json", "--quiet", "--debug")

app = typer.Typer(
    name="mixlab",
    help="Predict what a pretraining run will do from cheap proxy runs, and choose its data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
runs_app = typer.Typer(
    help="Import, list, show and export runs in the run store.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
data_app = typer.Typer(
    help="Prepare corpora as token shards and inspect them.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

StoreOpt = Annotated[
    Path,
    typer.Option(
        "--store", envvar="MIXLAB_STORE", help="Run store (SQLite file).", show_default=True
    ),
]
TagOpt = Annotated[str | None, typer.Option("--tag", help="Only runs with this tag.")]


def _out(ctx: typer.Context) -> Output:
    return ctx.find_root().obj


def _print_version(value: bool) -> None:
    if value:
        print(f"mixlab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only results, no messages.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Flags here may also be given after the subcommand (`mixlab runs list --json`)."""
    ctx.obj = Output(json=json_, quiet=quiet)


# -- runs -------------------------------------------------------------------------------------
@runs_app.command("import")
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
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Import runs trained elsewhere: wide tables, long curves, or Data Mixing Laws logs."""
    from mixlab.runs import RunStore, import_curves, import_mixinglaws_logs, import_wide

    out, tags = _out(ctx), tag or []
    if mixinglaws_log:
        if mixtures or metrics or curves:
            raise InputError("--mixinglaws-log takes no --mixtures, --metrics or --curves")
        names = [d.strip() for d in domains.split(",")] if domains else None
        with RunStore(store) as s:
            summary = import_mixinglaws_logs(
                s,
                mixinglaws_log,
                domains=names,
                tags=tags,
                tokens_per_step=tokens_per_step,
                max_run_id=max_run_id,
                id_prefix=id_prefix,
            )
    elif mixtures is None or (metrics is None) == (curves is None):
        raise InputError(
            "give --mixtures with either --metrics (wide) or --curves (long), or --mixinglaws-log"
        )
    else:
        kw = dict(id_column=id_column, tags=tags, renormalize=renormalize, id_prefix=id_prefix)
        with RunStore(store) as s:
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


@runs_app.command("list")
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
    _out(ctx).result(
        frame.to_dict(orient="records"),
        lambda con: con.print(
            table(f"{len(frame)} runs in {store}", cols, frame[cols].itertuples(index=False))
        ),
    )


@runs_app.command("show")
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

    _out(ctx).result(record.model_dump(), render)


@runs_app.command("export")
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
    with RunStore(store, create=False) as s:
        n = export_wide(s, mixtures, metrics, tag=tag, id_column=id_column)
        n_points = export_curves(s, curves, tag=tag) if curves else 0
    written = {"runs": n, "mixtures": str(mixtures), "metrics": str(metrics)}
    if curves:
        written.update(curves=str(curves), curve_points=n_points)
    o = _out(ctx)
    o.info(
        f"{n} runs -> {mixtures}, {metrics}"
        + (f"; {n_points} curve points -> {curves}" if curves else "")
    )
    if o.json:
        o.result(written)


# -- data -------------------------------------------------------------------------------------
@data_app.command("prepare")
def data_prepare(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Prepare config (YAML).")],
    workers: Annotated[
        int | None, typer.Option(help="Tokeniser processes (default: cores).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild the tokenizer and every domain.")] = False,
) -> None:
    """Tokenise every domain once into train / validation shards (only what changed)."""
    from contextlib import nullcontext

    from mixlab.data.prepare import prepare
    from mixlab.data.progress import rich_progress

    out = _out(ctx)
    with nullcontext(None) if out.quiet or out.json else rich_progress() as progress:
        summary = prepare(config, progress=progress, workers=workers, force=force)
    result = summary.to_dict()
    out.result(
        result,
        lambda con: con.print(
            table(
                f"{summary.output} (tokenizer {summary.tokenizer['status']}, {summary.seconds:.1f} s)",
                ["domain", "status", "documents", "train tokens", "validation tokens"],
                [
                    (d.name, d.status, d.documents, d.train_tokens, d.validation_tokens)
                    for d in summary.domains
                ],
            )
        ),
    )


@data_app.command("info")
def data_info(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A prepared folder.")],
    verify: Annotated[bool, typer.Option(help="Re-hash every shard.")] = False,
) -> None:
    """Tokens and documents per domain and split of a prepared folder."""
    from mixlab.data.prepare import info

    result = info(directory, verify=verify)
    cols = ["name", "status", "documents", "train_tokens", "validation_tokens", "input_bytes"]
    tok = result["tokenizer"]
    _out(ctx).result(
        result,
        lambda con: con.print(
            table(
                f"{directory}: tokenizer {tok['kind']}, vocabulary {tok['vocab_size']}",
                cols,
                [[r[c] for c in cols] for r in result["domains"]],
            )
        ),
    )


@data_app.command("demo-corpora")
def data_demo_corpora(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to write the corpora into.")],
    max_bytes: Annotated[int, typer.Option(help="Bytes per domain at most.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic domains.")] = 0,
) -> None:
    """Write the demo corpora (stdlib code and prose, biographies, arithmetic) and their config."""
    from mixlab.data.demo_corpora import write_demo_corpora

    corpora = write_demo_corpora(directory, max_bytes_per_domain=max_bytes, seed=seed)
    _out(ctx).result(
        {"config": str(corpora.config), "domains": {k: str(v) for k, v in corpora.domains.items()}},
        lambda con: con.print(
            f"wrote {len(corpora.domains)} domains and "
            f"{corpora.config} (next: mixlab data prepare {corpora.config})"
        ),
    )


# -- train ------------------------------------------------------------------------------------
@app.command("train")
def train_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Training config (YAML).")],
    store: StoreOpt = Path("mixlab.db"),
    resume: Annotated[bool, typer.Option(help="Continue from the run's checkpoint if any.")] = True,
) -> None:
    """Train one proxy model on a mixture and record it (evaluations as it goes) in the store."""
    from contextlib import nullcontext

    from mixlab.console import train_progress
    from mixlab.runs import RunStore
    from mixlab.train.config import load_train_config
    from mixlab.train.loop import train

    out = _out(ctx)
    cfg = load_train_config(config)
    with (
        RunStore(store) as s,
        nullcontext(None) if out.quiet or out.json else train_progress(cfg.id) as progress,
    ):
        record = train(cfg, s, resume=resume, on_progress=progress)
    if record is None:  # a rank other than 0 under torchrun: rank 0 reports
        return
    final = record.final_metrics()
    out.result(
        {
            "id": record.id,
            "status": record.status,
            "tokens": record.tokens,
            "wall_time": record.wall_time,
            "final": final,
        },
        lambda con: con.print(
            table(
                f"run {record.id}: {record.status}, "
                f"{record.tokens:,.0f} tokens in {record.wall_time:.1f} s",
                ["metric", "final"],
                sorted(final.items()),
            )
        ),
    )


# -- entry point ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code (0 ok, 2 bad input, 1 otherwise)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in argv if a in GLOBAL_FLAGS]
    rest = [a for a in argv if a not in GLOBAL_FLAGS]
    argv = flags + rest
    debug = "--debug" in flags
    err = Output().err
    try:
        result = app(args=argv, prog_name="mixlab", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except InputError as e:
        if debug:
            traceback.print_exc()
        Output().error(str(e))
        return 2
    except typer.Exit as e:
        return e.exit_code
    except TyperException as e:  # usage errors: unknown command, bad option value, ...
        e.show()
        return getattr(e, "exit_code", 2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: exit 1, quietly
        if debug:
            traceback.print_exc()
        else:
            Output().error(f"{type(e).__name__}: {e} (run with --debug for the traceback)")
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
