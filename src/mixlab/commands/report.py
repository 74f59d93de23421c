"""`mixlab report`: the self-contained HTML report of a decision, or of a store and its files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output
from mixlab.errors import InputError


def report_command(
    ctx: typer.Context,
    store: StoreOpt = Path("mixlab.db"),
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    decision: Annotated[
        Path | None,
        typer.Option(help="decision.json of `mixlab run`: the report leads with the decision."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(help="PROJECT.yaml of `mixlab run`: report its output folder's decision."),
    ] = None,
    law: Annotated[
        list[Path] | None,
        typer.Option("--law", metavar="<path>", help="Fitted law JSON (repeatable)."),
    ] = None,
    optimisation: Annotated[
        Path | None,
        typer.Option(
            "--optimisation", "--optimization", help="JSON of `mixlab law optimize --out`."
        ),
    ] = None,
    verification: Annotated[
        Path | None,
        typer.Option(help="JSON list of {name, run_id, predicted, observed} (proxy check)."),
    ] = None,
    cv_predictions: Annotated[
        Path | None, typer.Option(help="Out-of-fold predictions CSV (law, run_id, target, ...).")
    ] = None,
    artifacts: Annotated[
        Path | None,
        typer.Option(help="Folder in the demo's layout (laws/, recommendation.json, ...)."),
    ] = None,
    tag: TagOpt = None,
) -> None:
    """Write the HTML report.  With --decision or --project: the decision first, then the
    evidence.  Otherwise the store's runs, with the law, optimisation and verification files
    given explicitly (or found in --artifacts)."""
    from mixlab.commands.validate import input_file, input_folder, output_file

    output_file(out, "--out")
    if decision is not None and project is not None:
        raise InputError("give --decision or --project, not both")
    if project is not None:
        decision = decision_of_project(input_file(project, "--project"))
    if decision is not None:
        from mixlab.report.decision import write_decision_report

        path = write_decision_report(input_file(decision, "--decision"), out)
    else:
        from mixlab.report.build import ReportInputs, write_report

        input_folder(artifacts, "--artifacts")
        for p in law or []:
            input_file(p, "--law")
        for p, flag in (
            (optimisation, "--optimisation"),
            (verification, "--verification"),
            (cv_predictions, "--cv-predictions"),
        ):
            input_file(p, flag)
        inputs = ReportInputs.from_folder(
            artifacts,
            laws=law,
            optimisation=optimisation,
            verification=verification,
            cv_predictions=cv_predictions,
        )
        path = write_report(store, out, artifacts=inputs, tag=tag)
    output(ctx).result({"report": str(path)}, lambda con: con.print(f"report -> {path}"))


def decision_of_project(project: Path) -> Path:
    """The decision.json in a project's output folder (written by `mixlab run`)."""
    try:
        from mixlab.studies.project import load_project
    except ImportError:  # pragma: no cover - `mixlab run` not in this build
        raise InputError("--project: this mixlab has no `mixlab run`; use --decision") from None
    path = load_project(project).out / "decision.json"
    if not path.is_file():
        raise InputError(f"--project {project}: no {path} yet; run `mixlab run {project}` first")
    return path
