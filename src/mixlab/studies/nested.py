"""Nested prediction from the run store: gather curves, sizes and mixtures, then predict.

The glue between `runs/` and `laws/nested.py`: one target curve per run (a metric, or a
weighted sum of metrics taken at the steps where a run has all of them), runs grouped by
mixture, model size from the run record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.scaling.nested import NestedResult, nested_predict
from mixlab.runs.store import RunStore

__all__ = [
    "mixture_key",
    "nested_from_options",
    "nested_from_store",
    "nested_inputs",
    "nested_law",
    "parse_schedule",
]

SIZE_FIELDS = ("n_params", "n_params_nonembed")


def nested_law(kind: str = "auto", **params: Any) -> MixingLaw:
    """The mixing law of the nested pipeline.  `auto`: the mixing-law selection of
    `make_law("auto")` where it exists (with `direct_sum`: fitted per metric, the law on
    the weighted sum is a candidate too), else the exp law on linear+log features (the plain
    linear-feature exp law degenerates on the Data Mixing Laws runs: exponents > 600)."""
    from mixlab.laws import LAW_KINDS, make_law

    if kind == "auto" and "auto" not in LAW_KINDS:
        return make_law("exp", **{"features": "linear+log", **params})
    if kind == "auto":  # per metric, the law on the sum competes too (see default_candidates)
        params = {"direct_sum": True, **params}
    return make_law(kind, **params)


def mixture_key(weights: Sequence[float]) -> str:
    """A stable name for a mixture: its weights, rounded to 6 digits, joined by '-'."""
    return "-".join(f"{round(float(w), 6):g}" for w in weights)


def nested_inputs(
    store: RunStore,
    metrics: Sequence[str],
    *,
    weights: Mapping[str, float] | None = None,
    tag: str | None = None,
    ids: Sequence[str] | None = None,
    size_field: str = "auto",
    default_schedule: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(curves, runs, mixtures) as :func:`mixlab.laws.nested.nested_predict` takes them.

    With one metric and no `weights` the curve is that metric; otherwise it is
    sum_m weights[m] * metric_m (weights default to 1 / len(metrics)).  `size_field`
    `auto`: non-embedding parameters when every run records them (Kaplan et al.'s choice,
    and the count Ye et al. fitted), else `n_params`.  The `schedule` column holds each
    run's learning-rate schedule ({"steps", "lr"}: mixlab's own runs record it), else
    `default_schedule` (for imported runs), else None.  With several metrics the curves
    also carry one column per metric (for ``nested_predict(components=weights)``).
    """
    metrics = list(dict.fromkeys(metrics))
    if not metrics:
        raise InputError("nested prediction: give at least one metric")
    if size_field not in (*SIZE_FIELDS, "auto"):
        raise InputError(f"size field must be one of {SIZE_FIELDS}, got {size_field!r}")
    if weights is None:
        w = {m: 1.0 / len(metrics) for m in metrics}
    else:
        extra = [m for m in weights if m not in metrics]
        missing = [m for m in metrics if m not in weights]
        if extra or missing:
            raise InputError(
                "nested prediction: weights must name exactly the metrics; "
                f"unknown {extra}, without weight {missing}"
            )
        w = {m: float(weights[m]) for m in metrics}
    ids = store.ids(tag) if ids is None else list(ids)
    if not ids:
        raise InputError(f"{store.path}: no runs" + (f" with tag {tag!r}" if tag else ""))
    long = store.curves(ids, metrics=metrics)
    if long.empty:
        raise InputError(f"{store.path}: no curve points of metric(s) {metrics}")
    absent = [m for m in metrics if m not in set(long["metric"])]
    if absent:
        raise InputError(f"{store.path}: no run has a curve of metric(s) {absent}")
    wide = long.pivot_table(
        index=["run_id", "step"], columns="metric", values="value", aggfunc="last"
    )
    wide = wide.dropna(subset=metrics)
    value = wide[metrics].to_numpy() @ np.array([w[m] for m in metrics])
    curves = pd.DataFrame(
        {
            "run_id": wide.index.get_level_values(0),
            "step": wide.index.get_level_values(1).astype(float),
            "value": value,
        }
    )
    if len(metrics) > 1:
        extra = [m for m in metrics if m not in curves.columns]
        curves = pd.concat([curves, pd.DataFrame(wide[extra].to_numpy(), columns=extra)], axis=1)
    with_curves = [i for i in ids if i in set(curves["run_id"])]
    if not with_curves:
        raise InputError(f"{store.path}: no run has all of the metrics {metrics} at one step")
    records = store.get_many(with_curves)
    if size_field == "auto":
        size_field = (
            "n_params_nonembed" if all(r.n_params_nonembed for r in records) else "n_params"
        )
    sizes = {r.id: getattr(r, size_field) for r in records}
    missing = [i for i, n in sizes.items() if n is None]
    if missing:
        raise InputError(f"{store.path}: run {missing[0]!r} has no {size_field}")
    mix = store.mixtures(with_curves)
    keys = [mixture_key(row) for row in mix.to_numpy()]
    runs = pd.DataFrame(
        {"mixture": keys, "n_params": [float(sizes[i]) for i in with_curves]},
        index=pd.Index(with_curves, name="run_id"),
    )
    runs["schedule"] = [_schedule_of(r, default_schedule) for r in records]
    runs.attrs["size_field"] = size_field
    mixtures = mix.set_axis(keys).loc[~pd.Index(keys).duplicated()]
    mixtures.index.name = "mixture"
    return curves, runs, mixtures


def _components(metrics: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    """The weight of each metric in the target (equal weights when none are given)."""
    metrics = list(dict.fromkeys(metrics))
    if weights is None:
        return {m: 1.0 / len(metrics) for m in metrics}
    return {m: float(weights[m]) for m in metrics}


def _schedule_of(record: Any, default: Mapping[str, Any] | None) -> dict[str, Any] | None:
    sched = record.schedule or {}
    if isinstance(sched.get("lr"), Mapping) and sched.get("steps"):
        return {"steps": int(sched["steps"]), "lr": dict(sched["lr"])}
    return None if default is None else dict(default)


def nested_from_store(
    store: RunStore,
    metrics: Sequence[str],
    *,
    law: MixingLaw,
    target_steps: float,
    target_size: float,
    weights: Mapping[str, float] | None = None,
    tag: str | None = None,
    size_field: str = "auto",
    default_schedule: Mapping[str, Any] | None = None,
    per_metric: bool = False,
    **kwargs: Any,
) -> NestedResult:
    """Run :func:`~mixlab.laws.nested.nested_predict` on the runs of `store` (optionally
    tagged); `per_metric`: the stages and the mixing law per metric, summed with the weights."""
    curves, runs, mixtures = nested_inputs(
        store,
        metrics,
        weights=weights,
        tag=tag,
        size_field=size_field,
        default_schedule=default_schedule,
    )
    result = nested_predict(
        curves,
        runs,
        mixtures,
        target_steps=target_steps,
        target_size=target_size,
        law=law,
        components=_components(metrics, weights) if per_metric and len(set(metrics)) > 1 else None,
        **kwargs,
    )
    result.size_field = runs.attrs.get("size_field", size_field)
    return result


def parse_schedule(text: str | None, flag: str = "--lr-schedule") -> dict[str, Any] | None:
    """A learning-rate schedule given as JSON text, checked as a run record's would be."""
    from mixlab.laws.scaling.schedule import ScheduleStepLaw

    if text is None:
        return None
    try:
        schedule = json.loads(text)
        ScheduleStepLaw.from_record(schedule)._check_hyper()
    except (json.JSONDecodeError, InputError) as exc:
        raise InputError(f"{flag}: {exc}") from None
    return schedule


def nested_from_options(
    store: Path,
    metric: Sequence[str],
    weights: Path | None,
    *,
    law: str,
    law_params: Sequence[str],
    lr_schedule: str | None,
    min_step: float,
    min_fraction: float,
    **kwargs: Any,
) -> NestedResult:
    """`mixlab scaling nested`: the target from --metric/--weights, the mixing law from its
    kind and KEY=VALUE items, the step law from its options, on the store at `store`."""
    from mixlab.laws.scaling.power import StepLaw
    from mixlab.studies.mixing_fit import json_or_text, parse_pairs, target_metrics

    metrics, w = target_metrics(metric, weights)
    mixing = nested_law(law, **parse_pairs(law_params, "--law-param", json_or_text, "KEY=VALUE"))
    schedule = parse_schedule(lr_schedule)
    with RunStore(store, create=False) as s:
        return nested_from_store(
            s,
            metrics,
            weights=w,
            law=mixing,
            step_law=StepLaw(min_step=min_step, min_fraction=min_fraction),
            default_schedule=schedule,
            **kwargs,
        )
