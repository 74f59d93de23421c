"""`mixlab train`: train one proxy model and record it in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, output
from mixlab.commands.console import table


def train_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Training config (YAML).")],
    store: StoreOpt = Path("mixlab.db"),
    resume: Annotated[bool, typer.Option(help="Continue from the run's checkpoint if any.")] = True,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace a finished run of the same id that has other settings."
        ),
    ] = False,
) -> None:
    """Train one proxy model on a mixture and record it (evaluations as it goes) in the store."""
    from contextlib import nullcontext

    from mixlab.commands.console import train_progress
    from mixlab.runs import RunStore
    from mixlab.train.config import load_train_config
    from mixlab.train.loop import train
    from mixlab.train.runtime import start_process

    start_process()

    out = output(ctx)
    cfg = load_train_config(config)
    with (
        RunStore(store) as s,
        nullcontext(None) if out.quiet or out.json else train_progress(cfg.id) as progress,
    ):
        record = train(cfg, s, resume=resume, on_progress=progress, force=force)
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
