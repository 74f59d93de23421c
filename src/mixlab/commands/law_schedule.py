"""`mixlab law schedule`: fit a law on phase-trained runs and optimise a P-phase schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output
from mixlab.commands.console import table
from mixlab.commands.validate import at_least, output_file, positive
from mixlab.errors import InputError


# Over 80 lines for its 16 typer options; the body checks the flags, calls
# schedule_from_store, writes the schedule and prints it (_print_schedule).
def schedule_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="The schedule (JSON; `mixlab export` reads it).")],
    phases: Annotated[int, typer.Option(help="Phases P of the runs and the schedule.")] = 2,
    target: Annotated[
        list[str] | None,
        typer.Option(help="Metric to minimise (repeatable: averaged). Default: mean val_loss."),
    ] = None,
    fractions: Annotated[
        list[str] | None,
        typer.Option(
            help="Candidate phase fractions, e.g. 0.5,0.5 (repeatable; default: the runs')."
        ),
    ] = None,
    law: Annotated[
        str, typer.Option(help="Mixing law kind fitted on the phase features.")
    ] = "auto",
    prior: Annotated[
        Path | None, typer.Option(help="JSON domain -> natural share (reference, --cap).")
    ] = None,
    cap: Annotated[float | None, typer.Option(help="No domain total above cap x prior.")] = None,
    lower: Annotated[list[str] | None, typer.Option(help="DOMAIN=MIN total (repeatable).")] = None,
    upper: Annotated[list[str] | None, typer.Option(help="DOMAIN=MAX total (repeatable).")] = None,
    available_tokens: Annotated[
        Path | None, typer.Option(help="JSON domain -> tokens available (default: from --data).")
    ] = None,
    token_budget: Annotated[float | None, typer.Option(help="Tokens of the target run.")] = None,
    max_epochs: Annotated[
        float | None, typer.Option(help="Repetitions per domain, counted over every phase.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data", help="Token export or prepared folder (tokens).")
    ] = None,
    within_range: Annotated[
        bool,
        typer.Option(
            "--within-range/--extrapolate",
            help="Keep every phase's shares inside the range the runs covered.",
        ),
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the law fit and the optimiser.")] = 0,
    tag: TagOpt = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Fit `--law` on the runs' fraction-weighted phase mixtures; print and write the best
    schedule beside the best static mixture under the same law and constraints."""
    from mixlab.export.mixtures import load_export_data
    from mixlab.runs import RunStore
    from mixlab.studies.multiphase import schedule_from_store

    at_least(phases, 2, "--phases")
    positive(cap, "--cap")
    positive(token_budget, "--token-budget")
    positive(max_epochs, "--max-epochs")
    output_file(out, "--out")
    candidates = [_fractions(f) for f in fractions or []]
    if (token_budget is not None or max_epochs is not None) and not (available_tokens or data_dir):
        raise InputError("--token-budget and --max-epochs need --available-tokens or --data")
    avail = available_tokens
    if data_dir is not None and available_tokens is None:
        avail = {d: dd.tokens for d, dd in load_export_data(data_dir).domains.items()}
    with RunStore(store, create=False) as db:
        doc = schedule_from_store(
            db,
            tag=tag,
            n_phases=phases,
            targets=target or [],
            fractions=candidates or None,
            kind=law,
            seed=seed,
            within_range=within_range,
            prior=prior,
            cap=cap,
            lower=lower or [],
            upper=upper or [],
            available_tokens=avail,
            token_budget=token_budget,
            max_epochs=max_epochs,
        )
    out.write_text(json.dumps(doc, indent=2) + "\n")

    output(ctx).result(doc, lambda con: _print_schedule(con, doc, out))


def _print_schedule(con, doc: dict, out: Path) -> None:
    """The schedule's phases beside the best static mixture, its prediction and CV error."""
    domains = list(doc["totals"])
    rows = [
        (f"phase {k + 1} ({f:.2f})", *[f"{m[d]:.3f}" for d in domains])
        for k, (f, m) in enumerate(zip(doc["fractions"], doc["mixtures"], strict=True))
    ]
    rows.append(("total", *[f"{doc['totals'][d]:.3f}" for d in domains]))
    rows.append(("best static", *[f"{doc['static_mixture'][d]:.3f}" for d in domains]))
    con.print(table(f"{doc['law']} on {doc['runs']} runs", ["", *domains], rows))
    lo_hi = doc["interval"]
    con.print(
        f"predicted {doc['target']}: {doc['predicted']:.4f}"
        + (f" [{lo_hi[0]:.4f}, {lo_hi[1]:.4f}]" if lo_hi else "")
        + f"; best static {doc['static_predicted']:.4f}; gain {doc['gain_over_static']:+.4f}"
        + (
            f" [{doc['gain_interval'][0]:+.4f}, {doc['gain_interval'][1]:+.4f}]"
            if doc["gain_interval"]
            else ""
        )
    )
    con.print(f"CV MAE {doc['cv_mae']:.4f} (predict-the-mean {doc['cv_mae_predict_the_mean']:.4f})")
    for w in doc["fit_warnings"] + [f"extrapolated: {e}" for e in doc["extrapolated"]]:
        con.print(f"warning: {w}")
    con.print(f"-> {out}")


def _fractions(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--fractions {text!r}: comma-separated numbers, e.g. 0.5,0.5") from None
    return values
