"""`mixlab demo`: the whole loop on the demo corpora, end to end, on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import output
from mixlab.commands.console import table
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
    """Prepare data, sweep mixtures, fit exp and lgbm laws, recommend, verify, report."""
    from dataclasses import replace

    from mixlab.studies.demo import DemoSettings, run_demo

    at_least(workers, 1, "--workers")  # before any data is prepared
    output_folder(out, "--out")
    o = output(ctx)
    settings = replace(DemoSettings.quick() if quick else DemoSettings(), workers=workers)
    s = run_demo(out, settings, say=o.info)
    rows = [
        (v["name"], v["run_id"], v["predicted"], v["observed"], v["observed"] - v["predicted"])
        for v in s["verification"]
    ]

    def render(con):
        con.print(
            "cross-validated MAE of the average validation loss: "
            + ", ".join(f"{k} {v:.4f}" for k, v in s["cv_mae"].items())
        )
        gi = s.get("gain_interval")
        if s.get("predicted_gain") is not None and gi:
            con.print(
                f"predicted gain over natural {s['predicted_gain']:+.4f} "
                f"({100 * s['level']:.0f}% interval {gi[0]:+.4f}..{gi[1]:+.4f})"
            )
        con.print(
            table(
                f"recommended by {s['law']} vs natural shares",
                ["domain", "recommended", "natural"],
                [(d, s["recommended"].get(d, 0.0), w) for d, w in s["natural"].items()],
            )
        )
        con.print(
            table(
                "predicted vs observed (average validation loss, nats/token)",
                ["mixture", "run", "predicted", "observed", "observed - predicted"],
                rows,
            )
        )
        con.print(
            f"observed gain of the recommended mixture over the natural one: "
            f"{s['observed_gain']:+.4f} nats/token; {s['seconds']:.0f} s; report: {s['report']}"
        )

    o.result(s, render)
