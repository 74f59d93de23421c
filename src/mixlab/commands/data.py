"""`mixlab data`: prepare corpora as token shards and inspect them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import output
from mixlab.commands.console import table

app = typer.Typer(help="Prepare corpora as token shards and inspect them.", no_args_is_help=True)


@app.command("prepare")
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

    out = output(ctx)
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


@app.command("info")
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

    corpora = write_demo_corpora(directory, max_bytes_per_domain=max_bytes, seed=seed)
    output(ctx).result(
        {"config": str(corpora.config), "domains": {k: str(v) for k, v in corpora.domains.items()}},
        lambda con: con.print(
            f"wrote {len(corpora.domains)} domains and "
            f"{corpora.config} (next: mixlab data prepare {corpora.config})"
        ),
    )
