"""Held-out evaluation of mixing laws: splits, cross-validation, MAE and Spearman."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from mixlab.errors import InputError
from mixlab.laws.core.checks import check_mixtures, check_run_ids, check_targets, check_weights
from mixlab.laws.mixing.base import MixingLaw

__all__ = [
    "CVReport",
    "cross_validate",
    "cv_record",
    "fit_with_cv",
    "kfold_splits",
    "loo_splits",
    "score_predictions",
    "shuffle_splits",
    "spearman",
]

Split = tuple[np.ndarray, np.ndarray]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant or has < 3 values."""
    a, b = np.ravel(a), np.ravel(b)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def score_predictions(
    y_true: np.ndarray, y_pred: np.ndarray, target_names: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Per target: mean absolute error and Spearman rank correlation."""
    y_true = np.atleast_2d(np.asarray(y_true, float).T).T
    y_pred = np.atleast_2d(np.asarray(y_pred, float).T).T
    if y_true.shape != y_pred.shape:
        raise InputError(f"score: shapes differ, {y_true.shape} vs {y_pred.shape}")
    names = (
        list(target_names)
        if target_names is not None
        else [f"target{j}" for j in range(y_true.shape[1])]
    )
    return {
        name: {
            "mae": float(np.mean(np.abs(y_pred[:, j] - y_true[:, j]))),
            "spearman": spearman(y_pred[:, j], y_true[:, j]),
        }
        for j, name in enumerate(names)
    }


def kfold_splits(n: int, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Seeded K-fold partition of n runs."""
    if not 2 <= n_splits <= n:
        raise InputError(f"n_splits must be between 2 and the number of runs ({n}), got {n_splits}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, n_splits)
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(f))
        for i, f in enumerate(folds)
    ]


def shuffle_splits(n: int, test_size: int, n_repeats: int = 20, seed: int = 0) -> list[Split]:
    """`n_repeats` seeded random splits holding out `test_size` runs each."""
    if not 1 <= test_size < n - 1:
        raise InputError(f"test_size must be between 1 and {n - 2}, got {test_size}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_repeats):
        perm = rng.permutation(n)
        out.append((np.sort(perm[test_size:]), np.sort(perm[:test_size])))
    return out


def loo_splits(n: int) -> list[Split]:
    """Leave-one-out."""
    idx = np.arange(n)
    return [(np.delete(idx, i), np.array([i])) for i in range(n)]


@dataclass
class CVReport:
    """Out-of-sample errors of a law: per split, per target, per run."""

    target_names: list[str]
    scheme: str
    splits: list[Split]
    y: np.ndarray  # (n, T) the evaluated targets
    oof: np.ndarray  # (n, T) mean held-out prediction per run (NaN if never held out)
    split_mae: np.ndarray  # (n_splits, T)
    split_spearman: np.ndarray  # (n_splits, T), NaN for tiny test sets
    run_ids: list[Any] | None = None
    split_baseline_mae: np.ndarray | None = None  # (n_splits, T) predicting the training mean

    @property
    def baseline_mae_mean(self) -> np.ndarray:
        """Mean split MAE of predicting the training runs' mean (the baseline)."""
        if self.split_baseline_mae is None:
            return np.full(self.y.shape[1], np.nan)
        return self.split_baseline_mae.mean(axis=0)

    @property
    def residuals(self) -> np.ndarray:
        """Signed out-of-fold residuals y - oof (NaN where a run was never held out)."""
        return self.y - self.oof

    @property
    def mae_mean(self) -> np.ndarray:
        return self.split_mae.mean(axis=0)

    @property
    def mae_median(self) -> np.ndarray:
        return np.median(self.split_mae, axis=0)

    @property
    def spearman(self) -> np.ndarray:
        """Spearman of the pooled out-of-fold predictions (each run predicted once or more)."""
        ok = ~np.isnan(self.oof[:, 0])
        return np.array([spearman(self.oof[ok, j], self.y[ok, j]) for j in range(self.y.shape[1])])

    def worst_runs(self, k: int = 5, target: int | str = 0) -> list[tuple[int, float]]:
        """The k runs with the largest held-out error: (row, signed error)."""
        j = self.target_names.index(target) if isinstance(target, str) else target
        err = self.oof[:, j] - self.y[:, j]
        order = np.argsort(-np.nan_to_num(np.abs(err), nan=-1.0), kind="stable")
        return [(int(i), float(err[i])) for i in order[:k] if not np.isnan(err[i])]

    def summary(self) -> dict[str, Any]:
        """JSON-able summary, suitable for a fitted law's `cv_`."""
        return {
            "scheme": self.scheme,
            "n_splits": len(self.splits),
            "targets": {
                name: {
                    "mae_mean": float(self.mae_mean[j]),
                    "mae_median": float(self.mae_median[j]),
                    "spearman": float(self.spearman[j]),
                    "baseline_mae_mean": float(self.baseline_mae_mean[j]),
                }
                for j, name in enumerate(self.target_names)
            },
        }


def cross_validate(
    law: MixingLaw,
    R: Any,
    Y: Any,
    *,
    n_splits: int | None = 5,
    test_size: int | None = None,
    n_repeats: int = 20,
    loo: bool = False,
    splits: Sequence[Split] | None = None,
    seed: int = 0,
    target_names: Sequence[str] | None = None,
    domain_names: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    target_name: str = "weighted",
    run_ids: Sequence[Any] | None = None,
    renormalize: bool = False,
) -> CVReport:
    """Refit clones of `law` on training splits and score them on the held-out runs.

    The scheme is, in order of precedence: explicit `splits`; `loo=True`; `test_size`
    (`n_repeats` random splits holding out that many runs); K-fold with `n_splits`.
    `law` itself is left untouched; store `report.summary()` in `law.cv_` if wanted.
    """
    ids = check_run_ids(run_ids, len(R) if hasattr(R, "__len__") else 0)
    Rm, domains = check_mixtures(R, domain_names, run_ids=ids, renormalize=renormalize)
    Ym, metrics = check_targets(Y, Rm.shape[0], target_names, run_ids=ids)
    n = Rm.shape[0]
    if weights is not None:
        w = check_weights(weights, metrics)
        ytrue, names = (Ym @ w)[:, None], [target_name]
    else:
        ytrue, names = Ym, metrics
    if splits is not None:
        split_list, scheme = [(np.asarray(a), np.asarray(b)) for a, b in splits], "custom"
    elif loo:
        split_list, scheme = loo_splits(n), "leave-one-out"
    elif test_size is not None:
        split_list = shuffle_splits(n, test_size, n_repeats, seed)
        scheme = f"{n_repeats} random splits holding out {test_size}"
    else:
        split_list, scheme = kfold_splits(n, int(n_splits or 5), seed), f"{n_splits}-fold"
    T = ytrue.shape[1]
    total = np.zeros((n, T))
    count = np.zeros(n)
    split_mae = np.zeros((len(split_list), T))
    split_sp = np.full((len(split_list), T), np.nan)
    split_base = np.zeros((len(split_list), T))
    for s, (tr, te) in enumerate(split_list):
        clone = law.clone()
        clone.fit(
            Rm[tr],
            Ym[tr],
            target_names=metrics,
            domain_names=domains,
            weights=weights,
            target_name=target_name,
            run_ids=None if ids is None else [ids[i] for i in tr],
        )
        pred = clone.predict(Rm[te])
        total[te] += pred
        count[te] += 1
        split_mae[s] = np.mean(np.abs(pred - ytrue[te]), axis=0)
        split_base[s] = np.mean(np.abs(ytrue[tr].mean(axis=0) - ytrue[te]), axis=0)
        for j in range(T):
            split_sp[s, j] = spearman(pred[:, j], ytrue[te, j])
    with np.errstate(invalid="ignore"):
        oof = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)
    return CVReport(names, scheme, split_list, ytrue, oof, split_mae, split_sp, ids, split_base)


def fit_with_cv(law: MixingLaw, R: Any, Y: Any, **kwargs: Any) -> tuple[MixingLaw, CVReport]:
    """Cross-validate `law`, fit it on all runs, and record the CV summary in `law.cv_`.

    Keywords are those of :func:`cross_validate`; the fit-related ones are passed to `fit`.
    """
    report = cross_validate(law, R, Y, **kwargs)
    fit_keys = ("target_names", "domain_names", "weights", "target_name", "run_ids", "renormalize")
    law.fit(R, Y, **{k: kwargs[k] for k in fit_keys if k in kwargs})
    law.cv_ = cv_record(report)
    return law, report


def cv_record(report: CVReport) -> dict[str, Any]:
    """What a fitted law keeps of its CV: the summary, the signed out-of-fold residuals
    (for conformal intervals) and the observed range of each target (for guardrails)."""
    out = report.summary()
    res = report.residuals
    out["residuals"] = {
        name: [float(v) for v in res[:, j] if np.isfinite(v)]
        for j, name in enumerate(report.target_names)
    }
    out["y_range"] = {
        name: [float(report.y[:, j].min()), float(report.y[:, j].max())]
        for j, name in enumerate(report.target_names)
    }
    return out
