"""What every command module shares: the store option, the tag filter, the executor options
(`sweep run`, `phase run`), the output object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.console import Output

StoreOpt = Annotated[
    Path,
    typer.Option(
        "--store", envvar="MIXLAB_STORE", help="Run store (SQLite file).", show_default=True
    ),
]
TagOpt = Annotated[str | None, typer.Option("--tag", help="Only runs with this tag.")]
ExecutorOpt = Annotated[str, typer.Option(help="local (process pool) or ray.")]
WorkersOpt = Annotated[int, typer.Option(help="Runs at once (local) / CPUs (local Ray).")]
RayAddressOpt = Annotated[str | None, typer.Option(help="Ray cluster address.")]
GpusPerRunOpt = Annotated[float, typer.Option(help="GPUs per run (Ray; may be fractional).")]


def output(ctx: typer.Context) -> Output:
    """The Output the root command set up from --json / --quiet."""
    return ctx.find_root().obj
