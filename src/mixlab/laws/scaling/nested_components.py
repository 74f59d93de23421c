"""Nested prediction per validation domain: the step and size stages on every component.

A target that is a weighted sum of validation losses (the Data Mixing Laws runs: 22 Pile
domains) can be predicted as one curve, or, as Ye et al. fit their multi-domain law, one
law per domain summed with the weights.  Each domain's loss is a simpler function of the
mixture than their sum (one floor and one shape each), so the per-domain sum extrapolates
better to a held-out mixture.  This module runs stages 1-2 on every component metric;
`nested_predict(components=...)` fits the mixing law on the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError

__all__ = ["check_components", "component_stages"]

_RESERVED = ("run_id", "step", "value")


def check_components(
    curves: pd.DataFrame, components: Mapping[str, float], n_bootstrap: int
) -> dict[str, float]:
    """The component weights, checked against the curve columns (an InputError naming the
    metric otherwise)."""
    comps = {str(m): float(w) for m, w in components.items()}
    if not comps:
        raise InputError("nested prediction: components must name at least one metric")
    for m, w in comps.items():
        if m in _RESERVED:
            raise InputError(f"nested prediction: component metric may not be named {m!r}")
        if m not in curves.columns:
            raise InputError(f"nested prediction: curves table lacks component column {m!r}")
        if not np.isfinite(w):
            raise InputError(f"nested prediction: component {m!r} has weight {w!r}")
    if n_bootstrap > 0:
        raise InputError(
            "nested prediction: the stage bootstrap is not available per component; "
            "use the back-tested interval (n_bootstrap=0)"
        )
    return comps


def component_stages(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    components: Mapping[str, float],
    step_stage: Callable[..., tuple[pd.DataFrame, Any, Any]],
    size_stage: Callable[[np.ndarray], tuple[np.ndarray, Any]],
) -> tuple[pd.DataFrame, np.ndarray]:
    """(stage-1 table: one row per run with `mixture`, `n_params` and each component's
    loss at the target steps; stage-2 predictions, mixtures x components).

    `step_stage(curves, runs)` and `size_stage(predicted)` are the pipeline's own stages,
    bound to its step law, targets and the run order of `runs`.
    """
    table = runs[["mixture", "n_params"]].copy()
    table["n_params"] = table["n_params"].astype(float)
    preds = []
    for metric in components:
        one = curves[["run_id", "step", metric]].rename(columns={metric: "value"})
        one = one[np.isfinite(one["value"].to_numpy(float))]
        stage1, _, _ = step_stage(one, runs)
        table[metric] = stage1["predicted"].reindex(table.index).to_numpy()
        pred, _ = size_stage(table[metric].to_numpy())
        preds.append(pred)
    return table, np.column_stack(preds)
