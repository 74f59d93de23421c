"""Choose the nested pipeline's mixing law on the proxies' own losses.

At the target size the mixing law is fitted on predicted losses: one value per mixture,
extrapolated through the step and size stages, so a cross-validation there scores the
candidates on 20-odd noisy points and the choice flips from split to split (on the Data
Mixing Laws runs `auto` mixed in lgbm or exp[linear] ensembles at the 410M target where
the ridge exp[linear+log] law alone was better).  The proxies' stage-1 losses at each
proxy size are the same mixtures measured, not extrapolated: `auto` scores its candidates
on each of them, the scores are averaged over sizes, and the single candidate that wins
(guardrails at every size, then mean OOF Spearman rounded as `auto` rounds it, then mean
OOF MAE relative to predict-the-mean) is the law fitted at the target size.  Only training
mixtures and proxy sizes are used: nothing of the target size enters the choice.

With component metrics (a weighted sum of validation losses), the candidates are scored at
each size on the components with their weights, as the law is fitted at the target: an exp
candidate fits one law per component, a `direct` one the weighted sum.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw

__all__ = ["select_on_proxies"]


def select_on_proxies(
    law: MixingLaw,
    run_table: pd.DataFrame,
    fit_keys: list[str],
    R_fit: np.ndarray,
    domains: list[str],
    component_runs: pd.DataFrame | None = None,
    components: Mapping[str, float] | None = None,
) -> tuple[MixingLaw, dict[str, Any] | None]:
    """(law to fit at the target, selection record) for an `auto` law; other laws unchanged.

    `run_table`: one row per proxy run with `mixture`, `n_params` and `predicted` (the
    stage-1 loss at the target steps); `component_runs` the same with one column per
    metric of `components` (metric -> weight) instead of `predicted`.  Sizes at which every
    fit mixture has a run are used; with none, or fewer than 4 fit mixtures, `law` is
    returned as it is.
    """
    if getattr(law, "kind", None) != "auto" or len(fit_keys) < 4:
        return law, None
    runs = run_table[run_table["mixture"].isin(fit_keys)]
    wide = runs.pivot_table(index="mixture", columns="n_params", values="predicted")
    wide = wide.reindex(fit_keys).dropna(axis=1)
    if wide.shape[1] == 0:
        return law, None
    sizes = [float(s) for s in wide.columns]
    names = [f"N={s:.4g}" for s in sizes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        if components is None or component_runs is None:
            selections = (
                law.clone()
                .fit(R_fit, wide.to_numpy(float), target_names=names, domain_names=domains)
                .selection_
            )
        else:
            selections = _component_selections(
                law, component_runs, fit_keys, R_fit, domains, components, sizes, names
            )
    per_name: dict[str, list[dict[str, Any]]] = {}
    for sel in selections:
        for row in sel["candidates"]:
            if len(row["members"]) == 1 and row["members"] != ["mean"]:
                per_name.setdefault(row["name"], []).append(row)
    decimals = int(getattr(law, "spearman_decimals", 2))
    table = []
    for name, rows in per_name.items():
        rel = [r["mae"] / r["baseline_mae"] if r["baseline_mae"] > 0 else np.inf for r in rows]
        table.append(
            {
                "name": name,
                "spearman": float(np.nanmean([r["spearman"] for r in rows])),
                "relative_mae": float(np.mean(rel)),
                "eligible": len(rows) == len(sizes) and all(r["eligible"] for r in rows),
            }
        )
    eligible = [r for r in table if r["eligible"]]
    if not eligible:
        return law, {"sizes": sizes, "candidates": table, "chosen": None}
    best = min(eligible, key=lambda r: (-round(r["spearman"], decimals), r["relative_mae"]))
    chosen = law.clone(candidates=[best["name"]], ensemble=False)
    record = {"sizes": sizes, "candidates": table, "chosen": best["name"]}
    return chosen, record


def _component_selections(
    law: MixingLaw,
    component_runs: pd.DataFrame,
    fit_keys: list[str],
    R_fit: np.ndarray,
    domains: list[str],
    components: Mapping[str, float],
    sizes: list[float],
    names: list[str],
) -> list[dict[str, Any]]:
    """`auto`'s selection record at each proxy size, fitted on the components there."""
    metrics = list(components)
    out = []
    for size, name in zip(sizes, names, strict=True):
        at = component_runs[component_runs["n_params"] == size]
        Y = at.groupby("mixture")[metrics].mean().reindex(fit_keys).to_numpy(float)
        fitted = law.clone().fit(
            R_fit,
            Y,
            target_names=metrics,
            domain_names=domains,
            weights=dict(components),
            target_name=name,
        )
        out.extend(fitted.selection_)
    return out
