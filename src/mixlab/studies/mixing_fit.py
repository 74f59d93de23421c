"""What the law commands read and write around the numerics of `laws/`.

The runs a law is fitted on (two CSV tables or the run store), target weights, the
constraints of an optimisation (JSON maps and `domain=value` flags), and prediction tables.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import read_json  # noqa: F401 - re-exported for the commands
from mixlab.laws import CVReport, MixingLaw, MixtureConstraints, fit_with_cv, make_law
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.mixing.conformal import has_residuals, prediction_halfwidth
from mixlab.laws.mixing.guardrails import fit_problems, outside_range, warn_problems
from mixlab.runs import RunStore
from mixlab.runs.tables import check_same_ids, read_id_table, validate_mixtures


def training_tables(
    mixtures: Path | None = None,
    metrics: Path | None = None,
    *,
    id_column: str = "index",
    store: Path | None = None,
    tag: str | None = None,
    renormalize: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mixtures, metrics) frames indexed by run id, from two CSV tables or from a store."""
    if mixtures is not None or metrics is not None:
        if mixtures is None or metrics is None:
            raise InputError("give both --mixtures and --metrics (or --store)")
        R = validate_mixtures(
            _read_mixtures(mixtures, id_column), mixtures, renormalize=renormalize
        )
        Y = read_id_table(metrics, id_column, allow_empty=True)
        check_same_ids(R.index, mixtures, Y.index, metrics)
        return R, Y.loc[R.index]
    if store is None:
        raise InputError("give --mixtures and --metrics, or --store")
    with RunStore(store, create=False) as s:
        ids = s.ids(tag=tag, status="done")
        if not ids:
            raise InputError(f"{store}: no finished runs{f' tagged {tag!r}' if tag else ''}")
        return s.mixtures(ids), s.metrics(ids)


def law_training_arrays(
    law: MixingLaw, mixtures: Path | None, metrics: Path | None, id_column: str = "index"
) -> tuple[np.ndarray, np.ndarray] | None:
    """The runs a law was fitted on (two CSV tables), in its domain and metric order: what a
    bootstrap refits.  None when neither table is given."""
    if mixtures is None and metrics is None:
        return None
    R, Y = training_tables(mixtures, metrics, id_column=id_column)
    return (
        R.reindex(columns=law.domain_names_, fill_value=0.0).to_numpy(),
        Y[law.metric_names_].to_numpy(),
    )


def _read_mixtures(path: Path, id_column: str) -> pd.DataFrame:
    """A mixture table; a blank weight means the domain is absent from that run (0)."""
    return read_id_table(path, id_column, allow_empty=True).fillna(0.0)


def read_weights(path: Path) -> dict[str, float]:
    """A JSON object {metric: weight} (validation-set shares, for a weighted target)."""
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected a JSON object of metric -> weight")
    out = {}
    for k, v in data.items():
        if not isinstance(v, int | float) or v < 0:
            raise InputError(f"{path}: weight of {k!r} must be a number >= 0, got {v!r}")
        out[str(k)] = float(v)
    return out


def target_metrics(
    metrics: Sequence[str], weights: Path | None
) -> tuple[list[str], dict[str, float] | None]:
    """--metric flags and a --weights file: the target metrics (default: the weights' keys)
    and their weights (None: no weighted target)."""
    w = None if weights is None else read_weights(weights)
    metrics = list(metrics or (w or {}))
    if not metrics:
        raise InputError("give --metric (repeatable) or --weights")
    if w is not None:
        missing = [m for m in metrics if m not in w]
        if missing:
            raise InputError(f"{weights}: no weight for metric(s) {missing}")
        w = {m: w[m] for m in metrics}
    return metrics, w


def resolve_targets(
    Y: pd.DataFrame, targets: Sequence[str], weights: Mapping[str, float] | None
) -> tuple[list[str], dict[str, float] | None]:
    """The metric columns a law is fitted on; a weighted target uses the weights' metrics."""
    if weights:
        missing = [m for m in weights if m not in Y.columns]
        if missing:
            raise InputError(f"target weights name metric(s) not in the metrics table: {missing}")
        return list(weights), dict(weights)
    if not targets:
        raise InputError("give --target (one or more metric columns) or --target-weights")
    missing = [t for t in targets if t not in Y.columns]
    if missing:
        raise InputError(
            f"--target {missing[0]!r} is not a metrics column; available: "
            + ", ".join(map(str, Y.columns[:40]))
            + (f" (and {len(Y.columns) - 40} more)" if len(Y.columns) > 40 else "")
        )
    return list(targets), None


def fit_law(
    kind: str,
    R: pd.DataFrame,
    Y: pd.DataFrame,
    targets: Sequence[str],
    weights: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
    n_splits: int = 5,
    target_name: str = "weighted",
    params: Mapping[str, Any] | None = None,
) -> tuple[MixingLaw, CVReport]:
    """Fit a law of `kind` (default flags: "auto") with `n_splits`-fold cross-validated errors.

    `params` are the law's hyperparameters by their Python names.  The auto law's own
    selection CV is the reported CV (no second, nested CV); any other law is cross-validated
    then refitted on all runs.  Either way the guardrails run on the out-of-fold predictions
    and the full fit, and what they find is a FitWarning in `law.fit_warnings_`.
    """
    cols, weights = resolve_targets(Y, targets, weights)
    part = Y[cols]
    complete = part.notna().all(axis=1)
    if not complete.all():
        raise InputError(f"run {part.index[~complete][0]!r} has no value for some target metric")
    params = dict(params or {})
    if kind in ("auto", "exp", "implicit", "lgbm"):
        params.setdefault("seed", seed)
    if kind == "auto":
        params.setdefault("n_splits", min(n_splits, len(R)))
    fit_kw = {
        "domain_names": list(R.columns),
        "target_names": cols,
        "weights": weights,
        "target_name": target_name,
        "run_ids": list(R.index),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        law = make_law(kind, **params)
        if kind == "auto":
            law.fit(R.to_numpy(), part.to_numpy(), **fit_kw)
            report = law.report_
        else:
            law, report = fit_with_cv(
                law,
                R.to_numpy(),
                part.to_numpy(),
                n_splits=min(n_splits, len(R)),
                seed=seed,
                **fit_kw,
            )
        fitted = law.predict(R.to_numpy())
        problems = {
            t: fit_problems(
                report.y[:, j],
                fitted=fitted[:, j],
                oof=report.oof[:, j],
                fit_info=[f for f in law.fit_info_ if kind != "auto"],
            )
            for j, t in enumerate(report.target_names)
        }
        for j, t in enumerate(report.target_names):
            if report.mae_mean[j] >= report.baseline_mae_mean[j]:
                problems[t].append(
                    f"CV MAE {report.mae_mean[j]:.4g} is no better than predicting the mean "
                    f"({report.baseline_mae_mean[j]:.4g})"
                )
        warn_problems(f"{kind} law", problems)
    law.fit_warnings_ = sorted({str(w.message) for w in caught})
    return law, report


def oof_table(law: MixingLaw, report: CVReport) -> pd.DataFrame:
    """Out-of-fold predictions, one row per run and target: run_id, target, observed,
    predicted (by a law not fitted on that run), baseline (the training folds' mean)."""
    rows = []
    base = np.full_like(report.y, np.nan)
    for tr, te in report.splits:
        base[te] = report.y[tr].mean(axis=0)
    ids = report.run_ids or list(range(report.y.shape[0]))
    for j, t in enumerate(report.target_names):
        for i, run_id in enumerate(ids):
            rows.append(
                (
                    law.kind,
                    run_id,
                    t,
                    float(report.y[i, j]),
                    float(report.oof[i, j]),
                    float(base[i, j]),
                )
            )
    return pd.DataFrame(
        rows, columns=["law", "run_id", "target", "observed", "predicted", "baseline"]
    )


def prediction_table(
    law: MixingLaw,
    mixtures: Path,
    id_column: str = "index",
    renormalize: bool = False,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """The id column, one column per target, its conformal `level` interval (`<target>:lo`,
    `<target>:hi`, when the law kept CV residuals), the domains outside the fitted runs'
    range (`outside_fitted_range`) and, for the auto law, whether a prediction was clipped."""
    R = validate_mixtures(_read_mixtures(mixtures, id_column), mixtures, renormalize=renormalize)
    unknown = [d for d in R.columns if d not in law.domain_names_ and (R[d] > 0).any()]
    if unknown:
        raise InputError(
            f"{mixtures}: domain column(s) {unknown} are not the law's domains {law.domain_names_}"
        )
    aligned = R.reindex(columns=law.domain_names_, fill_value=0.0).to_numpy()
    pred = law.predict(aligned)
    frame = pd.DataFrame(pred, index=R.index, columns=law.target_names_)
    if has_residuals(law):
        for j, t in enumerate(law.target_names_):
            q = prediction_halfwidth(law, t, level)
            frame[f"{t}:lo"] = pred[:, j] - q
            frame[f"{t}:hi"] = pred[:, j] + q
    frame["outside_fitted_range"] = [
        ";".join(d) for d in outside_range(law.domain_range_, law.domain_names_, aligned)
    ]
    if hasattr(law, "clipped"):
        frame["clipped"] = law.clipped(aligned).any(axis=1)
    return frame.reset_index()


def parse_pairs(
    items: Sequence[str],
    flag: str,
    convert: Callable[[str], Any] = float,
    expected: str = "DOMAIN=NUMBER",
) -> dict[str, Any]:
    """`name=value` flags into a dict (values through `convert`); names the bad item."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = convert(value)
        except ValueError:
            raise InputError(f"{flag} {item!r}: expected {expected}") from None
    return out


def json_or_text(raw: str) -> Any:
    """A flag value as JSON (numbers, true, lists) when it parses, else the text itself."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def constraints(
    law: MixingLaw,
    *,
    prior: Path | None = None,
    cap: float | None = None,
    lower: Sequence[str] = (),
    upper: Sequence[str] = (),
    available_tokens: Path | Mapping[str, float] | None = None,
    token_budget: float | None = None,
    max_epochs: float | None = None,
) -> MixtureConstraints:
    """Optimisation constraints from the law command's flags, checked against the law."""

    def known(mapping: Mapping[str, float], what: str) -> dict[str, float]:
        bad = [d for d in mapping if d not in law.domain_names_]
        if bad:
            raise InputError(
                f"{what} names domain(s) {bad} the law does not know ({law.domain_names_})"
            )
        return dict(mapping)

    prior_map = known(read_weights(prior), f"--prior {prior}") if prior else None
    if cap is not None and prior_map is None:
        raise InputError("--cap limits weights relative to a prior: give --prior too")
    if isinstance(available_tokens, Mapping):  # from the data folder (--data)
        avail = {d: float(t) for d, t in available_tokens.items() if d in law.domain_names_}
    else:
        avail = (
            known(read_weights(available_tokens), f"--available-tokens {available_tokens}")
            if available_tokens
            else None
        )
    if avail is not None and token_budget is None:
        raise InputError("--available-tokens needs --token-budget")
    return MixtureConstraints(
        lower=known(parse_pairs(lower, "--lower"), "--lower") or None,
        upper=known(parse_pairs(upper, "--upper"), "--upper") or None,
        prior=prior_map,
        cap=cap,
        available_tokens=avail,
        token_budget=token_budget,
        max_epochs=max_epochs,
    )
