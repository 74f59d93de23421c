"""`mixlab demo`: `mixlab run` on the built-in corpora, end to end, on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import output
from mixlab.commands.progress import EventPrinter
from mixlab.commands.project import show_decision
from mixlab.commands.validate import at_least, output_folder


def demo_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for the store, laws, exports, report.")] = Path(
        "mixlab-demo"
    ),
    quick: Annotated[
        bool, typer.Option(help="The short version (about 3 minutes on 2 cores).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Proxy runs trained at once.")] = 2,
) -> None:
    """`mixlab run` on the demo corpora: rounds of proxies, a verified recommendation, a report."""
    from dataclasses import replace

    from mixlab.studies.demo import DemoSettings, run_demo

    at_least(workers, 1, "--workers")  # before any data is prepared
    output_folder(out, "--out")
    o = output(ctx)
    settings = replace(DemoSettings.quick() if quick else DemoSettings(), workers=workers)
    command = f"mixlab demo --out {out}" + (" --quick" if quick else "")
    doc = run_demo(out, settings, EventPrinter(o), commands=[command])
    show_decision(o, doc)
