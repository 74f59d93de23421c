"""`mixlab export`: a run's mixture or schedule, or an optimised schedule, for production trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, output
from mixlab.commands.validate import one_of, output_file, positive
from mixlab.errors import InputError


def export_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="A run id in the store, or a JSON file: {mixture}, a curriculum (stages), or "
            "an optimised phase schedule (fractions, mixtures)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="File to write (a schedule: its manifest, JSON).")],
    fmt: Annotated[str, typer.Option("--format", help="json, megatron, olmo or hf.")] = "json",
    use: Annotated[
        str,
        typer.Option(
            help="For a run: auto (an online run's averaged weights, else its schedule), "
            "averaged, realised (token shares) or schedule."
        ),
    ] = "auto",
    data_dir: Annotated[
        Path | None,
        typer.Option("--data", help="Token export or prepared folder (paths, tokenizer)."),
    ] = None,
    paths: Annotated[
        Path | None, typer.Option(help="JSON domain -> data path(s) for exports.")
    ] = None,
    token_budget: Annotated[
        float | None, typer.Option(help="Training tokens of the production run.")
    ] = None,
    max_epochs: Annotated[
        float | None, typer.Option(help="Repetitions allowed per domain, over all phases.")
    ] = None,
    global_batch_size: Annotated[
        int | None, typer.Option(help="Tokens per step (OLMo; phase iterations).")
    ] = None,
    unit: Annotated[str, typer.Option(help="Shares in tokens or bytes.")] = "tokens",
    seed: Annotated[int, typer.Option(help="Seed of the data order (phase k: seed + k - 1).")] = 0,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Write a mixture (one file) or a phase schedule (a manifest + one file per phase)."""
    from mixlab.export.mixtures import FORMATS, load_export_data, write_mixture_export
    from mixlab.export.schedules import USES, parse_phases, source_schedule, write_schedule_export
    from mixlab.io.files import read_json
    from mixlab.runs import RunStore

    one_of(fmt, FORMATS, "--format")
    one_of(use, USES, "--use")
    positive(token_budget, "--token-budget")
    positive(max_epochs, "--max-epochs")
    output_file(out, "--out")
    if Path(source).suffix == ".json" or Path(source).is_file():
        doc = read_json(Path(source), expect=dict, what="a mixture or schedule")
    else:
        with RunStore(store, create=False) as db:
            if source not in db:
                raise InputError(f"no run {source!r} in {store} (nor a file of that name)")
            doc = db.get(source)
    schedule, what = source_schedule(doc, use)
    phases = parse_phases(schedule)
    loaded = load_export_data(data_dir) if data_dir is not None else None
    domains = sorted({d for _, m in phases for d in m})
    caps = None if max_epochs is None else dict.fromkeys(domains, max_epochs)
    common = dict(
        data=loaded,
        paths=read_json(paths, expect=dict, what="JSON domain -> data path(s)") if paths else None,
        unit=unit,
        max_epochs=caps,
        requested_tokens=int(token_budget) if token_budget else None,
        global_batch_size=global_batch_size,
        seed=seed,
    )
    if len(phases) == 1:
        written = write_mixture_export(
            out, phases[0][1], fmt, extra={"source": what} if fmt == "json" else None, **common
        )
    else:
        written = write_schedule_export(out, schedule, fmt, extra={"source": what}, **common)
    o = output(ctx)
    o.info(f"{what} -> " + ", ".join(str(p) for p in written))
    if o.json:
        o.result({"source": what, "written": [str(p) for p in written], "phases": len(phases)})
