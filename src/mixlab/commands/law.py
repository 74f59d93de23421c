"""`mixlab law`: fit, predict, optimise mixing laws, and the continual-pretraining share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mixlab.commands.common import output
from mixlab.commands.console import table
from mixlab.commands.validate import at_least, law_target, one_of, output_file, positive
from mixlab.errors import InputError
from mixlab.laws.core.estimator import DEFAULT_LEVEL

if TYPE_CHECKING:
    from mixlab.laws.mixing.base import MixingLaw
    from mixlab.laws.mixing.crossval import CVReport

app = typer.Typer(
    help="Fit data mixing laws, predict unseen mixtures, recommend a mixture.", no_args_is_help=True
)
IdOpt = Annotated[str, typer.Option(help="Run-id column of the tables.")]


# CLI flag -> the hyperparameter's name in the Python API (and the law kinds that take it)
LAW_FLAGS = {
    "--features": "features",
    "--hidden": "n_hidden",
    "--alpha": "alpha",
    "--eps": "eps",
    "--n-estimators": "n_estimators",
    "--learning-rate": "learning_rate",
    "--num-leaves": "num_leaves",
    "--candidates": "candidates",
}


def law_params(kind: str, given: dict[str, object], extra: list[str]) -> dict[str, object]:
    """Hyperparameters from the flags, checked against the law's constructor by name."""
    import inspect
    import json

    from mixlab.laws import LAW_KINDS
    from mixlab.laws.mixing.explicit import FEATURES

    accepted = set(inspect.signature(LAW_KINDS[kind].__init__).parameters) - {"self"}
    params: dict[str, object] = {}
    for flag, value in given.items():
        if value is None:
            continue
        name = LAW_FLAGS[flag]
        if name not in accepted:
            takers = sorted(
                k for k, c in LAW_KINDS.items() if name in inspect.signature(c.__init__).parameters
            )
            raise InputError(
                f"{flag} ({name}) does not apply to --law {kind}; it applies to "
                f"--law {', '.join(takers)}"
            )
        params[name] = value
    for item in extra:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param must look like NAME=VALUE, got {item!r}")
        if key not in accepted:
            raise InputError(
                f"--param {key}: --law {kind} has no hyperparameter {key!r}; it "
                f"has {', '.join(sorted(accepted))}"
            )
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    feats = params.get("features")
    allowed = ("linear", "log") if kind == "linear" else FEATURES
    if feats is not None and feats not in allowed:
        raise InputError(
            f"--features {feats!r}: unknown feature set for --law {kind}; "
            f"choose {', '.join(allowed)}"
        )
    hidden = params.get("n_hidden")
    if hidden is not None and not (isinstance(hidden, int) and hidden >= 1):
        raise InputError(f"--hidden must be an integer >= 1, got {hidden!r}")
    if isinstance(params.get("candidates"), str):
        from mixlab.laws.mixing.selection import CANDIDATES

        names = [c.strip() for c in str(params["candidates"]).split(";") if c.strip()]
        unknown = [c for c in names if c not in CANDIDATES]
        if unknown or not names:
            raise InputError(
                f"--candidates: unknown candidate(s) {unknown}; known: " + "; ".join(CANDIDATES)
            )
        params["candidates"] = names
    return params


# Over 80 lines for its 22 typer options; the body checks flags, reads the runs, fits, saves
# and calls _print_fit.
@app.command("fit")
def law_fit(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Fitted law (JSON).")],
    mixtures: Annotated[Path | None, typer.Option(help="Mixture table (CSV).")] = None,
    metrics: Annotated[Path | None, typer.Option(help="Metrics table (CSV).")] = None,
    id_column: IdOpt = "index",
    target: Annotated[
        list[str] | None, typer.Option(help="Metric column to model (repeatable).")
    ] = None,
    target_weights: Annotated[
        Path | None, typer.Option(help="JSON metric -> weight: one weighted target.")
    ] = None,
    law: Annotated[
        str, typer.Option(help="auto (choose by CV), exp, implicit, linear, lgbm or power.")
    ] = "auto",
    features: Annotated[
        str | None,
        typer.Option(help="exp/implicit: linear, log or linear+log; linear: linear or log."),
    ] = None,
    hidden: Annotated[
        int | None,
        typer.Option("--hidden", "--n-hidden", help="implicit: hidden domains (n_hidden)."),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="exp/implicit/linear: ridge strength.")
    ] = None,
    eps: Annotated[str | None, typer.Option(help="exp/implicit: log offset, or 'fit'.")] = None,
    n_estimators: Annotated[int | None, typer.Option(help="lgbm: most trees.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="lgbm: learning rate.")] = None,
    num_leaves: Annotated[int | None, typer.Option(help="lgbm: leaves per tree.")] = None,
    candidates: Annotated[
        str | None, typer.Option(help="auto: candidate names separated by ';'.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Any other hyperparameter, NAME=VALUE (repeatable).")
    ] = None,
    oof: Annotated[
        Path | None, typer.Option(help="Out-of-fold predictions CSV (default: next to --out).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for starts, splits, trees.")] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    renormalize: Annotated[bool, typer.Option(help="Rescale mixture rows to sum to 1.")] = False,
    store: Annotated[
        Path | None, typer.Option(help="Fit on the store's runs instead of CSVs.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="With --store: only runs with this tag.")] = None,
) -> None:
    """Fit a mixing law (by default the one CV prefers) and report its CV error per target."""
    from mixlab.io.laws import save_law
    from mixlab.studies.mixing_fit import fit_law, oof_table, read_weights, training_tables

    _check_fit_flags(
        law,
        folds,
        out,
        use_store=store is not None,
        use_csv=mixtures is not None or metrics is not None,
    )
    params = law_params(
        law,
        {
            "--features": features,
            "--hidden": hidden,
            "--alpha": alpha,
            "--eps": _eps_flag(eps),
            "--n-estimators": n_estimators,
            "--learning-rate": learning_rate,
            "--num-leaves": num_leaves,
            "--candidates": candidates,
        },
        param or [],
    )
    R, Y = training_tables(
        mixtures, metrics, id_column=id_column, store=store, tag=tag, renormalize=renormalize
    )
    weights = read_weights(target_weights) if target_weights else None
    fitted, report = fit_law(
        law, R, Y, target or [], weights, seed=seed, n_splits=folds, params=params
    )
    save_law(fitted, out)
    oof_path = oof or out.with_name(out.stem + ".oof.csv")
    oof_table(fitted, report).to_csv(oof_path, index=False)
    _print_fit(ctx, fitted, report, law, len(R), out, oof_path)


def _check_fit_flags(law: str, folds: int, out: Path, *, use_store: bool, use_csv: bool) -> None:
    """`law fit`'s flag checks: a known law, enough folds, one source of runs, a new --out."""
    from mixlab.laws.core.estimator import kinds

    user_kinds = [k for k in kinds("mixing") if k != "mean"]
    if law not in user_kinds:
        raise InputError(f"--law must be one of {', '.join(user_kinds)}, not {law!r}")
    at_least(folds, 2, "--folds")
    if use_store and use_csv:
        raise InputError(
            "give either --store or --mixtures/--metrics, not both: drop --store "
            "to fit on the CSV tables, or drop --mixtures and --metrics"
        )
    output_file(out, "--out")


def _eps_flag(eps: str | None) -> str | float | None:
    """--eps: a positive number, 'fit', or unset."""
    if eps is None or eps == "fit":
        return eps
    try:
        return float(eps)
    except ValueError:
        raise InputError(f"--eps must be a positive number or 'fit', got {eps!r}") from None


def _print_fit(
    ctx: typer.Context,
    fitted: MixingLaw,
    report: CVReport,
    law: str,
    n_runs: int,
    out: Path,
    oof_path: Path,
) -> None:
    """Print `law fit`'s outcome: warnings, auto's candidates, the CV error per target."""
    cv = report.summary()
    rows = [
        (t, s["mae_mean"], s["baseline_mae_mean"], s["spearman"]) for t, s in cv["targets"].items()
    ]
    o = output(ctx)
    for w in fitted.fit_warnings_:
        o.warning(str(w))
    selection = getattr(fitted, "selection_", None)

    def render(con) -> None:
        for sel in selection or []:
            cand = [
                (
                    ("* " if r["chosen"] else "  ") + r["name"],
                    r["spearman"],
                    r["mae"],
                    r["baseline_mae"],
                    "; ".join(r["problems"]) or "ok",
                )
                for r in sel["candidates"]
            ]
            con.print(
                table(
                    f"auto, target {sel['target']}: candidates ({sel['scheme']} CV on the "
                    f"training runs; * chosen)",
                    ["candidate", "CV Spearman", "CV MAE", "mean-baseline MAE", "guardrails"],
                    cand,
                )
            )
        con.print(
            table(
                f"{law} law on {n_runs} runs -> {out} ({cv['scheme']}); out-of-fold "
                f"predictions -> {oof_path}",
                ["target", "CV MAE (mean)", "mean-baseline MAE", "CV Spearman"],
                rows,
            )
        )

    o.result(
        {
            "law": str(out),
            "kind": law,
            "n_runs": n_runs,
            "cv": cv,
            "oof": str(oof_path),
            "selection": selection,
            "warnings": fitted.fit_warnings_,
        },
        render,
    )


@app.command("predict")
def law_predict(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Fitted law (JSON).")],
    mixtures: Annotated[Path, typer.Option(help="Mixtures to predict (CSV).")],
    out: Annotated[Path, typer.Option(help="Predictions (CSV): id + one column per target.")],
    id_column: IdOpt = "index",
    renormalize: Annotated[bool, typer.Option(help="Rescale mixture rows to sum to 1.")] = False,
    level: Annotated[float, typer.Option(help="Level of the conformal intervals.")] = DEFAULT_LEVEL,
) -> None:
    """Predict the targets of unseen mixtures, with conformal intervals and range flags."""
    from mixlab.io.laws import load_law
    from mixlab.studies.mixing_fit import prediction_table

    output_file(out, "--out")
    if not 0 < level < 1:
        raise InputError(f"--level must be in (0, 1), got {level}")
    frame = prediction_table(load_law(law_file), mixtures, id_column, renormalize, level)
    frame.to_csv(out, index=False)
    output(ctx).info(f"{len(frame)} predictions -> {out}")
    outside = int((frame["outside_fitted_range"] != "").sum())
    if outside:
        output(ctx).warning(
            f"{outside} mixture(s) lie outside the fitted runs' "
            "range (column outside_fitted_range): the law extrapolates there"
        )
    if "clipped" in frame and frame["clipped"].any():
        output(ctx).warning(
            f"{int(frame['clipped'].sum())} prediction(s) ran "
            "beyond the plausible range and were clipped (column clipped)"
        )
    if not any(c.endswith(":lo") for c in frame.columns):
        output(ctx).warning("this law kept no CV residuals: no intervals")
    if output(ctx).json:
        output(ctx).result({"predictions": str(out), "rows": len(frame)})


# Over 80 lines for its 22 typer options; the body checks flags, calls optimize_mixture and
# the export, and prints.
@app.command("optimize")
def law_optimize(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Fitted law (JSON).")],
    out: Annotated[Path, typer.Option(help="The recommended mixture, in --format.")],
    fmt: Annotated[str, typer.Option("--format", help="json, megatron, olmo or hf.")] = "json",
    target: Annotated[
        str | None, typer.Option(help="Which of the law's targets to minimise.")
    ] = None,
    prior: Annotated[
        Path | None, typer.Option(help="JSON domain -> natural share (reference).")
    ] = None,
    cap: Annotated[
        float | None, typer.Option(help="No weight above cap x its prior share.")
    ] = None,
    lower: Annotated[list[str] | None, typer.Option(help="DOMAIN=MIN (repeatable).")] = None,
    upper: Annotated[list[str] | None, typer.Option(help="DOMAIN=MAX (repeatable).")] = None,
    available_tokens: Annotated[
        Path | None, typer.Option(help="JSON domain -> tokens available (default: from --data).")
    ] = None,
    token_budget: Annotated[
        float | None, typer.Option(help="Training tokens of the target run.")
    ] = None,
    max_epochs: Annotated[
        float | None, typer.Option(help="Repetitions allowed per domain.")
    ] = None,
    mixtures: Annotated[
        Path | None, typer.Option(help="The law's runs (for a bootstrap interval).")
    ] = None,
    metrics: Annotated[Path | None, typer.Option(help="Their metrics (for the interval).")] = None,
    id_column: IdOpt = "index",
    bootstrap: Annotated[
        int, typer.Option(help="Refits for a bootstrap interval, for laws without CV residuals.")
    ] = 20,
    level: Annotated[float, typer.Option(help="Interval level.")] = DEFAULT_LEVEL,
    paths: Annotated[
        Path | None, typer.Option(help="JSON domain -> data path(s) for exports.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Token export (mixlab data export) or prepared folder the paths, "
            "document lengths and tokenizer come from.",
        ),
    ] = None,
    unit: Annotated[
        str, typer.Option(help="Shares in tokens (proxy tokenizer) or bytes.")
    ] = "tokens",
    global_batch_size: Annotated[
        int | None, typer.Option(help="OLMo: global batch size in tokens.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for restarts and bootstrap.")] = 0,
) -> None:
    """Recommend the mixture minimising the predicted target under constraints."""
    from mixlab.export.mixtures import FORMATS, load_export_data, write_mixture_export
    from mixlab.io.laws import load_law
    from mixlab.laws import optimize_mixture
    from mixlab.report.law_tables import law_name
    from mixlab.studies.mixing_fit import constraints, law_training_arrays, read_json

    one_of(fmt, FORMATS, "--format")
    for value, flag in (
        (cap, "--cap"),
        (token_budget, "--token-budget"),
        (max_epochs, "--max-epochs"),
    ):
        positive(value, flag)
    at_least(bootstrap, 0, "--bootstrap")
    if (token_budget is not None or max_epochs is not None) and (
        available_tokens is None and data_dir is None
    ):
        raise InputError(
            "--token-budget and --max-epochs need --available-tokens "
            "(JSON domain -> tokens available) or --data (exported token files)"
        )
    output_file(out, "--out")
    law = load_law(law_file)
    exported = load_export_data(data_dir) if data_dir is not None else None
    if exported is not None and available_tokens is None and token_budget is not None:
        available_tokens = {d: dd.tokens for d, dd in exported.domains.items()}  # type: ignore[assignment]
    law_target(law, target)
    cons = constraints(
        law,
        prior=prior,
        cap=cap,
        lower=lower or [],
        upper=upper or [],
        available_tokens=available_tokens,
        token_budget=token_budget,
        max_epochs=max_epochs,
    )
    result = optimize_mixture(
        law,
        cons,
        target=target,
        reference="prior" if prior else None,
        data=law_training_arrays(law, mixtures, metrics, id_column),
        n_bootstrap=bootstrap,
        level=level,
        seed=seed,
    )
    doc = result.to_dict()
    write_mixture_export(
        out,
        result.mixture,
        fmt,
        paths=read_json(paths, expect=dict, what="JSON domain -> data path(s)") if paths else None,
        data=exported,
        unit=unit,
        max_epochs=None if max_epochs is None else dict.fromkeys(result.mixture, max_epochs),
        requested_tokens=int(token_budget) if token_budget else None,
        global_batch_size=global_batch_size,
        seed=seed,
        extra={
            **{k: v for k, v in doc.items() if k != "mixture"},
            "law": law_name(law.to_dict()),
            "law_file": str(law_file),
        },
    )
    output(ctx).result(doc, lambda con: _print_recommendation(con, result, f"{out} ({fmt})"))


def _print_recommendation(con: Any, result: Any, where: str) -> None:
    """The recommended mixture beside the reference, its prediction and gain with intervals."""
    rows = [(d, w, (result.reference or {}).get(d)) for d, w in result.mixture.items()]
    con.print(table(f"recommended mixture -> {where}", ["domain", "weight", "reference"], rows))
    interval = (
        ""
        if result.interval is None
        else f" ({100 * result.level:.0f}% interval {result.interval[0]:.4f}..{result.interval[1]:.4f})"
    )
    con.print(
        f"predicted {result.target}: {result.predicted:.4f}{interval}"
        + (f" [{result.interval_kind}]" if result.interval_kind else "")
    )
    if result.gain is not None:
        gi = (
            ""
            if result.gain_interval is None
            else f" ({100 * result.level:.0f}% interval {result.gain_interval[0]:+.4f}.."
            f"{result.gain_interval[1]:+.4f})"
        )
        con.print(f"predicted gain over the reference: {result.gain:+.4f}{gi}")
    if result.extrapolated:
        con.print(
            f"warning: the recommended mixture lies outside the fitted "
            f"runs' range for {', '.join(result.extrapolated)}"
        )


@app.command("critical-share")
def law_critical_share(
    ctx: typer.Context,
    law_file: Annotated[Path, typer.Argument(help="Law over (original, new) data (JSON).")],
    original: Annotated[str, typer.Option(help="The original-data domain.")],
    level: Annotated[float, typer.Option(help="Original-domain loss before continuation.")],
    bound: Annotated[float, typer.Option(help="Allowed rise of that loss.")],
    relative: Annotated[bool, typer.Option(help="--bound is a fraction of --level.")] = False,
    target: Annotated[str | None, typer.Option(help="The original domain's loss metric.")] = None,
) -> None:
    """Continual pretraining: the least share of original data that keeps its loss in bound."""
    from mixlab.io.laws import load_law
    from mixlab.laws import critical_share

    law = load_law(law_file)
    law_target(law, target)
    result = critical_share(
        law,
        original=original,
        level=level,
        bound=bound,
        relative=relative,
        target=target,
    )
    output(ctx).result(result.to_dict(), lambda con: con.print(result.message))
