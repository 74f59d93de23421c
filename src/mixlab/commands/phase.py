"""`mixlab phase`: the knowledge phase-transition study (Gu et al. 2025): plan, run, fit, predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import (
    ExecutorOpt,
    GpusPerRunOpt,
    RayAddressOpt,
    StoreOpt,
    TagOpt,
    WorkersOpt,
    output,
)
from mixlab.commands.console import table
from mixlab.commands.sweep import execute_plan
from mixlab.commands.validate import at_least, input_file, output_file, output_folder
from mixlab.errors import InputError

app = typer.Typer(
    help="Phase transitions of knowledge acquisition: the study, its fit, the capacity theory.",
    no_args_is_help=True,
)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


@app.command("plan")
def phase_plan(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Phase study config (YAML).")],
    out: Annotated[Path, typer.Option(help="Study folder to write.")] = Path("phase-study"),
    workers: Annotated[int, typer.Option(help="Processes for tokenizing.")] = 1,
) -> None:
    """Write the biographies, web data, shards, fact probes and the run plan of a study."""
    import shutil

    from mixlab.studies.phase import load_phase_config, plan_phase_study

    at_least(workers, 1, "--workers")
    output_folder(out, "--out")
    cfg, base_dir = load_phase_config(config)
    existed = out.exists()
    try:
        runs, info = plan_phase_study(cfg, base_dir, out, workers=workers, origin=str(config))
    except BaseException:
        if not existed:  # leave no half-written study behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    rows = [
        (
            r.id,
            r.model.preset or "custom",
            r.tokens,
            r.seed,
            f"{r.mixture.get('biographies', 0.0):.3g}",
        )
        for r in runs
    ]
    output(ctx).result(
        {
            "plan": info["plan"],
            "study": str(Path(out) / "study.json"),
            "runs": [r.id for r in runs],
            "people": info["people"],
            "probes": info["probes"],
        },
        lambda con: con.print(
            table(
                f"{len(runs)} runs, {info['people']} people, {info['probes']} fact probes -> {out}",
                ["id", "model", "tokens", "seed", "ratio"],
                rows,
            )
        ),
    )


@app.command("size")
def phase_size(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Phase study config (YAML).")],
    tokens_per_rendering: Annotated[
        float | None, typer.Option(help="Tokens of one biography (default: estimated).")
    ] = None,
    bits_per_param: Annotated[
        str, typer.Option(help="Capacities to size against, bits per parameter (comma list).")
    ] = "1,2",
) -> None:
    """Before running: the knowledge set's bits against each size's capacity, and exposures."""
    from mixlab.studies.phase import load_phase_config
    from mixlab.studies.phase_theory import capacity_plan

    cfg, _ = load_phase_config(config)
    if tokens_per_rendering is not None and tokens_per_rendering <= 0:
        raise InputError(f"--tokens-per-rendering must be positive, not {tokens_per_rendering}")
    bits = _floats(bits_per_param, "--bits-per-param")
    doc = capacity_plan(cfg, tokens_per_rendering, tuple(bits))
    keys = [format(b, "g") for b in bits]

    def show(con) -> None:
        con.print(
            f"{doc['people']} people x {doc['bits_per_person']:.1f} bits = "
            f"{doc['knowledge_bits'] / 1e3:.1f} kbit of knowledge; "
            f"{doc['tokens_per_rendering']:.0f} tokens a biography"
        )
        con.print(
            table(
                f"capacity ({' and '.join(keys)} bits per non-embedding parameter) and the "
                "most it can learn",
                [
                    "model",
                    "params",
                    *(f"kbit @{k}" for k in keys),
                    *(f"learnable @{k}" for k in keys),
                ],
                [
                    (
                        s["model"] + ("" if s["mixed"] else " (web only)"),
                        f"{s['params_nonembed']:,}",
                        *(f"{s['capacity_bits'][k] / 1e3:.1f}" for k in keys),
                        *(f"{s['learnable'][k]:.2f}" for k in keys),
                    )
                    for s in doc["sizes"]
                ],
            )
        )
        con.print(
            "exposures per person: "
            + ", ".join(f"r={r}: {e:.0f}" for r, e in doc["exposures_per_person"].items())
        )

    output(ctx).result(doc, show)


@app.command("run")
def phase_run(
    ctx: typer.Context,
    study: Annotated[Path, typer.Argument(help="Study folder (or its plan.json).")],
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = 1,
    ray_address: RayAddressOpt = None,
    gpus_per_run: GpusPerRunOpt = 0.0,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Train every run of the study not yet done (resumable, like `sweep run`)."""
    plan = study / "plan.json" if study.is_dir() else study
    execute_plan(ctx, plan, executor, workers, ray_address, gpus_per_run, store)


@app.command("fit")
def phase_fit(
    ctx: typer.Context,
    results: Annotated[
        Path | None, typer.Option(help="CSV: model_size, ratio, accuracy [, tokens, seed].")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="Or read the study's runs from a store.")
    ] = None,
    tag: TagOpt = None,
    probe: Annotated[str, typer.Option(help="Probe set whose accuracy is analysed.")] = "facts",
    threshold: Annotated[float, typer.Option(help="Accuracy that defines 'learned'.")] = 0.5,
    tokens: Annotated[float | None, typer.Option(help="Analyse this token budget only.")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for intervals.")] = 500,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    table_out: Annotated[Path | None, typer.Option(help="Also write the results table.")] = None,
    out: Annotated[Path, typer.Option(help="PHASE.json to write.")] = Path("phase.json"),
) -> None:
    """Critical ratio per size, critical size per ratio, and r* = c * N^-gamma, with intervals."""
    from mixlab.laws.phase.transition import PhaseAnalysis
    from mixlab.studies.phase import phase_table, read_phase_results

    if (results is None) == (store is None):
        raise InputError("give exactly one of --results CSV or --store DB")
    if not 0 < threshold < 1:
        raise InputError(f"--threshold must be in (0, 1), not {threshold}")
    input_file(results, "--results")
    at_least(n_bootstrap, 0, "--n-bootstrap")
    output_file(out, "--out")
    output_file(table_out, "--table-out")
    if results is not None:
        frame = read_phase_results(results)
    else:
        from mixlab.runs import RunStore

        with RunStore(store, create=False) as db:
            frame = phase_table(db, tag=tag, probe=probe)
    if table_out:
        frame.to_csv(table_out, index=False)
    analysis = PhaseAnalysis(
        threshold=threshold, n_bootstrap=n_bootstrap, seed=seed, tokens=tokens
    ).fit(frame)
    doc = analysis.to_dict()
    out.write_text(json.dumps(doc, indent=2) + "\n")
    output(ctx).result(doc, lambda con: _print_fit(con, doc, out, threshold))


@app.command("predict")
def phase_predict(
    ctx: typer.Context,
    study: Annotated[Path | None, typer.Option(help="Study folder (its study.json).")] = None,
    store: Annotated[Path | None, typer.Option(help="Store with the web-only runs.")] = None,
    tag: TagOpt = None,
    web: Annotated[Path | None, typer.Option(help="Or a CSV: model_size, web_loss.")] = None,
    people: Annotated[int | None, typer.Option(help="Without --study: people in the set.")] = None,
    tokens_per_biography: Annotated[
        float | None, typer.Option(help="Without --study: tokens of one biography.")
    ] = None,
    bits_per_fact: Annotated[
        float | None, typer.Option(help="Information per fact (default: the generator's mean).")
    ] = None,
    bits_per_param: Annotated[float, typer.Option(help="Capacity per parameter.")] = 2.0,
    bits_range: Annotated[
        str, typer.Option(help="Capacities (bits per parameter) the range spans: LO,HI.")
    ] = "1,2",
    sizes: Annotated[
        str | None, typer.Option(help="Model sizes to predict r* for (comma list).")
    ] = None,
    ratios: Annotated[
        str | None, typer.Option(help="Ratios to predict N* for (comma list).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Share of facts that counts as 'learned'.")
    ] = 0.5,
    phase: Annotated[
        Path | None, typer.Option(help="PHASE.json from `phase fit`, to compare.")
    ] = None,
    out: Annotated[Path, typer.Option(help="JSON to write.")] = Path("phase-predict.json"),
) -> None:
    """Capacity theory: fit web loss vs capacity, solve the knapsack for r* and N*."""
    from mixlab.studies.phase_theory import predict_from_study

    input_file(phase, "--phase")
    input_file(web, "--web")
    output_file(out, "--out")
    span = _floats(bits_range, "--bits-range")
    if len(span) != 2 or span[0] > span[1]:
        raise InputError(f"--bits-range: expected LO,HI with LO <= HI, got {bits_range!r}")
    if bits_per_param <= 0:
        raise InputError(f"--bits-per-param must be positive, not {bits_per_param}")
    doc = predict_from_study(
        study=study,
        store=store,
        tag=tag,
        web_csv=web,
        people=people,
        tokens_per_biography=tokens_per_biography,
        bits_per_fact=bits_per_fact,
        bits_per_param=bits_per_param,
        sizes=_floats(sizes, "--sizes"),
        ratios=_floats(ratios, "--ratios"),
        threshold=threshold,
        phase=phase,
        bits_range=(span[0], span[1]),
    )
    out.write_text(json.dumps(doc, indent=2) + "\n")

    output(ctx).result(doc, lambda con: _print_predict(con, doc, out, bits_per_param, threshold))


def _print_fit(con, doc: dict, out: Path, threshold: float) -> None:
    """The critical ratio per size and size per ratio, with intervals, and the power law."""
    rows = [
        (
            size,
            t["status"],
            _fmt(t["value"]),
            "-" if not t["ci"] else f"[{_fmt(t['ci'][0])}, {_fmt(t['ci'][1])}]",
        )
        for size, t in doc["critical_ratio"].items()
    ]
    law = doc["power_law"]
    con.print(
        table(
            f"critical ratio per model size (accuracy {threshold:g}) -> {out}",
            ["model size", "status", "r*", "interval"],
            rows,
        )
    )
    if doc["critical_size"]:
        con.print(
            table(
                "critical size per ratio (logistic in log N)",
                ["ratio", "status", "N*", "interval"],
                [
                    (r, t["status"], _fmt(t["value"]), _range(t["ci"]))
                    for r, t in doc["critical_size"].items()
                ],
            )
        )
    if law.get("exponent") is not None:
        ci = (law.get("ci") or {}).get("exponent")
        con.print(
            f"r* = {law['coef']:.4g} * N^-{law['exponent']:.3f}"
            + (f"  (exponent interval [{ci[0]:.3f}, {ci[1]:.3f}])" if ci else "")
        )
    else:
        con.print(f"no power law: {law.get('reason', 'fewer than two bracketed sizes')}")


def _print_predict(con, doc: dict, out: Path, bits_per_param: float, threshold: float) -> None:
    """The web law, the predicted r* and N* tables with their ranges, and the exponent."""
    p = doc["web_law"]
    con.print(
        f"web loss = {p['C']:.4g} + {p['A']:.4g} * M^-{p['alpha']:.4g}  "
        f"(M = {bits_per_param:g} bits x N, {doc['web_points']} sizes)"
    )
    con.print(
        table(
            f"predicted critical ratio (share learned {threshold:g}) -> {out}",
            ["model size", "r* (theory)", "range", "r* (fitted)"],
            [
                (s, _fmt(v["theory"]), _range(v.get("range")), _fmt(v.get("fitted")))
                for s, v in doc["critical_ratio"].items()
            ],
        )
    )
    if doc["critical_size"]:
        con.print(
            table(
                "predicted critical size",
                ["ratio", "N* (theory)", "range", "N* (fitted)"],
                [
                    (r, _fmt(v["theory"]), _range(v.get("range")), _fmt(v.get("fitted")))
                    for r, v in doc["critical_size"].items()
                ],
            )
        )
    con.print(
        f"ranges: {doc['bits_range'][0]:g}-{doc['bits_range'][1]:g} bits per parameter and "
        "the web law without each size; the theory's sensitivity, not a calibrated interval"
    )
    con.print(
        f"exponent: theory {_fmt(doc['exponent']['theory'])} "
        f"{_range(doc['exponent'].get('range'))} over these sizes, "
        f"asymptotic {doc['exponent']['asymptotic']:.3f}"
        + (
            f"; fitted {doc['exponent']['fitted']:.3f}"
            if doc["exponent"].get("fitted") is not None
            else ""
        )
    )


def _range(r) -> str:
    return "-" if not r else f"[{r[0]:.4g}, {r[1]:.4g}]"


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option}: expected numbers separated by commas, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise InputError(f"{option}: expected positive numbers, got {text!r}")
    return values
