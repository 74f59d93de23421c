"""`mixlab init DIR` and `mixlab run PROJECT.yaml`: the whole loop on a user's own corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mixlab.commands.common import output
from mixlab.commands.console import Output, table
from mixlab.commands.progress import EventPrinter
from mixlab.studies.project_init import parse_domains


def init_command(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder for project.yaml and its configs.")],
    domain: Annotated[
        list[str],
        typer.Option("--domain", help="NAME=PATH (a file, folder or glob); repeatable."),
    ] = [],  # noqa: B006 - typer reads the default
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder's).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing project.yaml.")] = False,
) -> None:
    """Write a commented project.yaml and the prepare/sweep/train configs it expands to."""
    from mixlab.studies.project_init import init_project

    written = init_project(directory, parse_domains(domain), name=name, force=force)
    o = output(ctx)
    o.result(
        {"written": [str(p) for p in written]},
        lambda con: con.print(
            "wrote " + ", ".join(str(p) for p in written) + f"\nnext: mixlab run {written[0]}"
        ),
    )


def run_command(
    ctx: typer.Context,
    project: Annotated[Path, typer.Argument(help="project.yaml (see `mixlab init`).")],
) -> None:
    """Prepare, rounds of proxy runs, fit, recommend, verify, export, report (resumable)."""
    from mixlab.studies.loop import run_project
    from mixlab.studies.project import load_project

    p = load_project(project)
    o = output(ctx)
    doc = run_project(p, EventPrinter(o), commands=[f"mixlab run {project}"])
    show_decision(o, doc)


def show_decision(o: Output, doc: dict[str, Any]) -> None:
    """The decision: one JSON event line under --json, else tables."""
    if o.json:
        import json

        from mixlab.commands.console import _finite, _jsonable

        print(json.dumps({"event": "result", **_finite(doc)}, default=_jsonable), flush=True)
        return
    v = doc["verification"]
    rec, ref = doc["recommended"], doc["reference"]
    gi = doc.get("gain_interval") or [float("nan")] * 2
    level = 100 * doc["level"]

    def render(con) -> None:
        con.print(f"target: {doc['target']['name']}: {doc['target']['description']}")
        con.print(
            f"law: auto ({doc['law']['chosen']}), CV MAE {doc['law']['cv_mae']:.4f} against "
            f"{doc['law']['baseline_mae']:.4f} predicting the mean"
        )
        con.print(
            table(
                "recommended vs reference mixture",
                ["domain", "recommended", ref["name"]],
                [(d, rec["mixture"].get(d, 0.0), w) for d, w in ref["mixture"].items()],
            )
        )
        con.print(
            table(
                "verification (target, lower is better)",
                ["mixture", "seed", "run", "observed"],
                [(r["name"], r["seed"], r["run_id"], r["observed"]) for r in v["runs"]],
            )
        )
        con.print(
            f"predicted gain {doc['predicted_gain']:+.4f} ({level:.0f}% interval "
            f"{gi[0]:+.4f}..{gi[1]:+.4f}); observed gain {v['observed_gain']:+.4f} "
            f"± {v['seed_noise']:.4f} (seed noise), inside the interval: {v['inside_interval']}"
        )
        strategies = doc.get("strategies") or {}
        names = [k for k in ("doremi", "aioli", "two_phase") if k in strategies]
        if names:
            con.print(
                table(
                    "strategies against the static recommendation, paired by seed",
                    ["strategy", "observed", "gain", "seed noise", "verdict"],
                    [("static", strategies["static"]["observed"], None, None, "")]
                    + [
                        (
                            k,
                            strategies[k]["observed"],
                            strategies[k]["gain_over_static"],
                            strategies[k]["seed_noise"],
                            strategies[k]["verdict"],
                        )
                        for k in names
                    ],
                )
            )
        con.print(f"{doc.get('seconds', 0):.0f} s; report: {doc.get('report')}")

    o.result(doc, render)
