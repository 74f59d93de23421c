"""Back-tests of nested prediction's stages on the proxy runs themselves (hold out the top size)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.scaling.forms import SizeLaw
from mixlab.laws.scaling.shared_size import SharedExponentSizeLaw, fixed_exponent_fit

__all__ = ["stage_backtest"]


def stage_backtest(
    result: Any,
    size_fit: Any,
    gidx: np.ndarray,
    N: np.ndarray,
    keys: list[str],
    fit_idx: np.ndarray,
    R_all: np.ndarray,
    law: MixingLaw,
    seed: int,
    comp_pred: np.ndarray | None = None,
    components: Mapping[str, float] | None = None,
) -> dict[str, Any] | None:
    """Back-test of the stages on the runs themselves.

    Sizes: hold out the largest proxy size and predict it (at the target steps) from the
    smaller ones with the same size law; with only two smaller sizes the exponent is fixed
    at the full fit's, so E and A are still determined.  The error of each mixture
    (prediction - the held-out run's own stage-1 value) gives a bias and a spread, scaled
    to the target by the ratio of log-size extrapolation distances.  Mixing law: 5-fold
    cross-validated errors on the fitted mixtures (on the components `comp_pred`, mixtures
    x metrics, with their `components` weights when given).  Returns None when it cannot be
    run.
    """
    levels = np.unique(N)
    if len(levels) < 3 or len(fit_idx) < 4:
        return None
    top, second = levels[-1], levels[-2]
    pred = result.runs["predicted"].to_numpy()
    small = N < top
    held = {int(g): float(pred[i]) for i, g in enumerate(gidx) if N[i] == top}
    smaller_levels = len(levels) - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        bt_pred = _size_backtest(result, size_fit, gidx, N, keys, pred, small, top, smaller_levels)
        size_err = np.array([bt_pred[g] - held[g] for g in sorted(held) if np.isfinite(bt_pred[g])])
        cv_err, y = _mixing_cv(result, fit_idx, R_all, law, seed, comp_pred, components)
    if size_err.size < 2:
        return None
    scale = float(np.log(result.target_size / top) / np.log(top / second))
    scale = max(scale, 0.0)
    bias, sd = float(size_err.mean()), float(size_err.std(ddof=1))
    cv_rmse = float(np.sqrt(np.mean(cv_err**2)))
    sd_target = float(
        np.sqrt((scale * sd) ** 2 + (scale * bias / np.sqrt(size_err.size)) ** 2 + cv_rmse**2)
    )
    return {
        "held_out_size": float(top),
        "from_sizes": [float(v) for v in levels[:-1]],
        "exponent_fixed": smaller_levels < 3,
        "n": int(size_err.size),
        "size_bias": bias,
        "size_sd": sd,
        "size_mae": float(np.mean(np.abs(size_err))),
        "scale": scale,
        "mixing_cv_rmse": cv_rmse,
        "mixing_cv_baseline_rmse": float(np.sqrt(np.mean((y - y.mean()) ** 2))),
        "bias_at_target": scale * bias,
        "sd_at_target": sd_target,
    }


def _size_backtest(
    result: Any,
    size_fit: Any,
    gidx: np.ndarray,
    N: np.ndarray,
    keys: list[str],
    pred: np.ndarray,
    small: np.ndarray,
    top: float,
    smaller_levels: int,
) -> np.ndarray:
    """Each mixture's loss at the held-out top size, predicted from the smaller sizes."""
    if result.size_exponent == "shared":
        if smaller_levels >= 3:
            fit = SharedExponentSizeLaw().fit(N[small], pred[small], gidx[small])
        else:
            fit = SharedExponentSizeLaw()
            fit.theta_ = fixed_exponent_fit(
                N[small], pred[small], gidx[small], len(keys), size_fit.exponent_
            )
            fit.n_groups_ = len(keys)
        bt_pred = fit.predict(top)
    else:
        bt_pred = np.full(len(keys), np.nan)
        for k in range(len(keys)):
            m = small & (gidx == k)
            b = size_fit[k].params_["b"]
            if smaller_levels >= 3:
                bt_pred[k] = SizeLaw().fit(N[m], pred[m]).predict([top])[0]
            else:
                th = fixed_exponent_fit(N[m], pred[m], np.zeros(m.sum(), int), 1, b)
                bt_pred[k] = th[0] + th[1] * top**-b
    return bt_pred


def _mixing_cv(
    result: Any,
    fit_idx: np.ndarray,
    R_all: np.ndarray,
    law: MixingLaw,
    seed: int,
    comp_pred: np.ndarray | None = None,
    components: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The mixing law's 5-fold cross-validated errors on the size-stage predictions, and y."""
    from mixlab.laws.mixing.crossval import kfold_splits

    R = R_all[fit_idx]
    if components is None or comp_pred is None:
        Y = result.mixtures["predicted"].to_numpy()[fit_idx, None]
        kw: dict[str, Any] = {"target_names": ["loss"]}
        y = Y[:, 0]
    else:
        Y = comp_pred[fit_idx]
        kw = {"target_names": list(components), "weights": dict(components)}
        y = Y @ np.array(list(components.values()))
    cv_err = np.empty(len(y))
    for train, test in kfold_splits(len(y), min(5, len(y)), seed):
        f = law.clone().fit(R[train], Y[train], domain_names=result.domains, **kw)
        cv_err[test] = f.predict(R[test])[:, 0] - y[test]
    return cv_err, y
