"""`mixlab report`: the self-contained HTML report of a store (and a run's artifacts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output


def report_command(
    ctx: typer.Context,
    store: StoreOpt = Path("mixlab.db"),
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    artifacts: Annotated[
        Path | None, typer.Option(help="Folder with laws/, recommendation.json, ... (the demo's).")
    ] = None,
    tag: TagOpt = None,
) -> None:
    """Write the HTML report: mixtures, loss curves, law errors and parameters, recommendation."""
    from mixlab.commands.validate import input_folder, output_file
    from mixlab.report.build import write_report

    input_folder(artifacts, "--artifacts")
    output_file(out, "--out")
    path = write_report(store, out, artifacts=artifacts, tag=tag)
    output(ctx).result({"report": str(path)}, lambda con: con.print(f"report -> {path}"))
