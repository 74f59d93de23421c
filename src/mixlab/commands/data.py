"""`mixlab data`: prepare corpora as token shards and inspect them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import output
from mixlab.commands.console import table
from mixlab.commands.validate import at_least, output_folder, positive
from mixlab.errors import InputError

app = typer.Typer(help="Prepare corpora as token shards and inspect them.", no_args_is_help=True)


@app.command("prepare")
def data_prepare(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Prepare config (YAML).")],
    workers: Annotated[
        int | None, typer.Option(help="Tokeniser processes (default: cores).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild the tokenizer and every domain.")] = False,
    val_split: Annotated[
        str | None,
        typer.Option(
            help="Validation size where a dataset has no validation split of its own: a "
            "fraction (0.01) or a number of documents (500)."
        ),
    ] = None,
) -> None:
    """Tokenise every domain once into train / validation shards (only what changed).

    Splits in the data are kept: a dataset's own validation split is its validation set, and
    test files never reach the shards.
    """
    from contextlib import nullcontext

    from mixlab.data.prepare import prepare
    from mixlab.data.progress import rich_progress

    at_least(workers, 1, "--workers")
    out = output(ctx)
    split: float | int | None = None
    if val_split is not None:
        try:
            split = int(val_split) if val_split.strip().isdigit() else float(val_split)
        except ValueError:
            raise InputError(f"--val-split {val_split!r}: not a fraction or a count") from None
    with nullcontext(None) if out.quiet or out.json else rich_progress() as progress:
        summary = prepare(config, progress=progress, workers=workers, force=force, val_split=split)
    for w in summary.warnings:
        out.info(f"[yellow]warning:[/] {w}")
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


@app.command("info")
def data_info(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A prepared folder.")],
    verify: Annotated[bool, typer.Option(help="Re-hash every shard.")] = False,
) -> None:
    """Tokens and documents per domain and split of a prepared folder."""
    from mixlab.data.prepare import info

    result = info(directory, verify=verify)
    cols = [
        "name",
        "status",
        "documents",
        "train_tokens",
        "validation_tokens",
        "validation_source",
        "skipped_test_files",
    ]
    tok = result["tokenizer"]
    output(ctx).result(
        result,
        lambda con: con.print(
            table(
                f"{directory}: tokenizer {tok['kind']}, vocabulary {tok['vocab_size']}",
                cols,
                [[r[c] for c in cols] for r in result["domains"]],
            )
        ),
    )


@app.command("demo-corpora")
def data_demo_corpora(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to write the corpora into.")],
    max_bytes: Annotated[int, typer.Option(help="Bytes per domain at most.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic domains.")] = 0,
) -> None:
    """Write the demo corpora (stdlib code and prose, biographies, arithmetic) and their config."""
    from mixlab.data.demo_corpora import write_demo_corpora

    positive(max_bytes, "--max-bytes")
    output_folder(directory, "DIRECTORY")
    corpora = write_demo_corpora(directory, max_bytes_per_domain=max_bytes, seed=seed)
    output(ctx).result(
        {"config": str(corpora.config), "domains": {k: str(v) for k, v in corpora.domains.items()}},
        lambda con: con.print(
            f"wrote {len(corpora.domains)} domains and "
            f"{corpora.config} (next: mixlab data prepare {corpora.config})"
        ),
    )


@app.command("export")
def data_export(
    ctx: typer.Context,
    shards: Annotated[Path, typer.Argument(help="A prepared folder (mixlab data prepare).")],
    fmt: Annotated[str, typer.Option("--format", help="megatron, olmo, nanogpt or hf (parquet).")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default SHARDS/export-FORMAT).")
    ] = None,
    max_file_tokens: Annotated[
        int | None, typer.Option(help="Split a domain into files of at most this many tokens.")
    ] = None,
) -> None:
    """Write each domain's tokens in a trainer's own format, with a manifest and the tokenizer."""
    from mixlab.export.tokens import export_tokens

    done = export_tokens(shards, fmt, out, max_file_tokens=max_file_tokens)
    o = output(ctx)
    for w in done.warnings:
        o.info(f"[yellow]warning:[/] {w}")
    rows = [
        (
            name,
            d["train"]["tokens"],
            d["train"]["documents"],
            len(d["train"]["files"]),
            d["validation"]["tokens"],
        )
        for name, d in done.manifest["domains"].items()
    ]
    o.result(
        done.to_dict(),
        lambda con: con.print(
            table(
                f"{done.directory} ({fmt}, {done.manifest['dtype']}, tokenizer copied)",
                ["domain", "train tokens", "train documents", "files", "validation tokens"],
                rows,
            )
        ),
    )
