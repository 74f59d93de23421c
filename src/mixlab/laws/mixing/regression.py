"""Regression baselines of RegMix (Liu et al. 2024): linear regression and LightGBM.

Both map the mixture straight to a metric.  They fit a weighted target directly by default
(`weighted="direct"`), which for the linear law is the same as summing per-metric fits.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw

__all__ = ["LinearLaw", "LGBMLaw"]


class LinearLaw(MixingLaw):
    """y = sum_j coef_j r_j (`features="linear"`, RegMix's baseline), or
    y = intercept + sum_j coef_j log(r_j + eps) (`features="log"`).

    On the simplex an intercept is redundant with the weights, so the linear form is
    stored without one.  `alpha` adds a ridge penalty on the coefficients.
    Fitted attributes: `intercept_` (m,), `coef_` (m, d).
    """

    kind = "linear"

    def __init__(
        self,
        features: str = "linear",
        eps: float = 1e-3,
        alpha: float = 0.0,
        weighted: str = "direct",
    ) -> None:
        self.features = features
        self.eps = eps
        self.alpha = alpha
        self.weighted = weighted

    def _design(self, R: np.ndarray) -> np.ndarray:
        A = R[:, self.active_]
        return A if self.features == "linear" else np.log(A + self.eps)

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        if self.features not in ("linear", "log"):
            raise InputError(f"features must be 'linear' or 'log', got {self.features!r}")
        if self.features == "log" and not (np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive number, got {self.eps!r}")
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise InputError(f"alpha must be >= 0, got {self.alpha!r}")
        F = self._design(R)
        n, a = F.shape
        if n < a + 1 and self.alpha == 0:
            warnings.warn(
                f"linear law: {n} runs for {a + 1} coefficients; the fit is underdetermined",
                FitWarning,
                stacklevel=3,
            )
        D = np.hstack([np.ones((n, 1)), F])
        if self.alpha > 0:
            P = np.hstack([np.zeros((a, 1)), np.sqrt(self.alpha) * np.eye(a)])
            D = np.vstack([D, P])
            Y = np.vstack([Y, np.zeros((a, Y.shape[1]))])
        beta = np.linalg.lstsq(D, Y, rcond=None)[0]
        m, d = Y.shape[1], R.shape[1]
        self.intercept_ = beta[0].copy()
        self.coef_ = np.zeros((m, d))
        self.coef_[:, self.active_] = beta[1:].T
        if self.features == "linear":  # fold the intercept into the weights (sum r = s)
            s = float(R[0, self.active_].sum())
            self.coef_[:, self.active_] += self.intercept_[:, None] / s
            self.intercept_ = np.zeros(m)
        pred = self._predict(R)
        for j in range(m):
            self.fit_info_.append(
                {
                    "target": self.fitted_names_[j],
                    "mae": float(np.mean(np.abs(pred[:n, j] - Y[:n, j]))),
                }
            )

    def _predict(self, R: np.ndarray) -> np.ndarray:
        F = R if self.features == "linear" else np.log(R + self.eps)
        return self.intercept_ + F @ self.coef_.T

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        G = np.broadcast_to(self.coef_, (R.shape[0], *self.coef_.shape)).copy()
        if self.features == "log":
            G /= (R + self.eps)[:, None, :]
        return G

    def _params_to_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept_, "coef": self.coef_}

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        self.intercept_ = np.asarray(params["intercept"], float)
        self.coef_ = np.asarray(params["coef"], float)


class LGBMLaw(MixingLaw):
    """Gradient-boosted trees (LightGBM), one booster per fitted target.

    The number of trees is chosen by early stopping on a seeded split of the *training*
    runs (`validation_fraction`); with `refit=True` the booster is then retrained on all
    training runs with that many trees.  Deterministic given `seed` (LightGBM's
    deterministic mode, at most `n_jobs` threads).  Fitted attributes: `boosters_`,
    `n_trees_` (m,).
    """

    kind = "lgbm"

    def __init__(
        self,
        n_estimators: int = 3000,
        learning_rate: float = 0.01,
        num_leaves: int = 31,
        min_data_in_leaf: int | None = None,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.15,
        refit: bool = True,
        n_jobs: int = 1,
        seed: int = 0,
        extra_params: dict[str, Any] | None = None,
        weighted: str = "direct",
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.n_jobs = n_jobs
        self.seed = seed
        self.extra_params = extra_params
        self.weighted = weighted

    def _params(self, n: int) -> dict[str, Any]:
        leaf = self.min_data_in_leaf
        if leaf is None:
            leaf = int(min(20, max(2, n // 10)))
        params = {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": leaf,
            "min_data_in_bin": 1,
            "num_threads": max(1, min(int(self.n_jobs), 2)),
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }
        params.update(self.extra_params or {})
        return params

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        import lightgbm as lgb

        if not 0 < self.validation_fraction < 1:
            raise InputError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        n = R.shape[0]
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(n)
        n_val = int(round(self.validation_fraction * n))
        early = n_val >= 2 and n - n_val >= 2
        if not early:
            warnings.warn(
                f"lgbm law: {n} runs are too few to hold out an early-stopping split; "
                f"using all {self.n_estimators} trees",
                FitWarning,
                stacklevel=3,
            )
        val, tr = perm[:n_val], perm[n_val:]
        self.boosters_ = []
        self.n_trees_ = np.zeros(Y.shape[1], dtype=int)
        for j in range(Y.shape[1]):
            if early:
                params = self._params(len(tr))
                dtr = lgb.Dataset(R[tr], Y[tr, j], params={"verbose": -1})
                dva = lgb.Dataset(R[val], Y[val, j], reference=dtr, params={"verbose": -1})
                booster = lgb.train(
                    params,
                    dtr,
                    num_boost_round=self.n_estimators,
                    valid_sets=[dva],
                    callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
                )
                n_trees = int(booster.best_iteration or self.n_estimators)
                if n_trees >= self.n_estimators:
                    warnings.warn(
                        f"lgbm law, target {self.fitted_names_[j]!r}: early stopping never "
                        f"triggered in {self.n_estimators} trees",
                        FitWarning,
                        stacklevel=3,
                    )
            else:
                n_trees = int(self.n_estimators)
            if self.refit or not early:
                dall = lgb.Dataset(R, Y[:, j], params={"verbose": -1})
                booster = lgb.train(self._params(n), dall, num_boost_round=n_trees)
            else:
                booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=n_trees))
            self.boosters_.append(booster)
            self.n_trees_[j] = n_trees
            self.fit_info_.append({"target": self.fitted_names_[j], "n_trees": n_trees})

    def _predict(self, R: np.ndarray) -> np.ndarray:
        return np.stack([b.predict(R, num_threads=1) for b in self.boosters_], axis=1)

    def _params_to_dict(self) -> dict[str, Any]:
        models = [b.model_to_string() for b in self.boosters_]
        return {
            "models": models,
            "models_sha256": [hashlib.sha256(m.encode()).hexdigest() for m in models],
            "n_trees": self.n_trees_,
        }

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        import lightgbm as lgb

        self.boosters_ = []
        for i, text in enumerate(params["models"]):
            where = f"params.models[{i}]"
            _check_model_string(text, where)  # LightGBM crashes on some corrupt strings
            digests = params.get("models_sha256")  # absent in laws saved before it existed
            if digests is not None and (
                i >= len(digests) or hashlib.sha256(text.encode()).hexdigest() != digests[i]
            ):
                raise ValueError(
                    f"{where} does not match params.models_sha256[{i}] (edited or damaged)"
                )
            try:
                self.boosters_.append(lgb.Booster(model_str=text))
            except lgb.basic.LightGBMError as exc:
                raise ValueError(f"{where} is not a LightGBM model ({exc})") from None
        self.n_trees_ = np.asarray(params["n_trees"], dtype=int)


_TREE_SIZES = re.compile(r"^tree_sizes=([0-9 ]*)$", re.MULTILINE)


def _check_model_string(text: Any, where: str) -> None:
    """A whole LightGBM model string: its header's `tree_sizes` tile the trees exactly.

    LightGBM trusts those sizes and can abort or crash the process on a truncated or edited
    string, so a mismatch is a ValueError here, before LightGBM sees it.
    """
    bad = ValueError(f"{where} is not a whole LightGBM model string (truncated or edited)")
    if not isinstance(text, str) or not text.startswith("tree\n"):
        raise bad
    m = _TREE_SIZES.search(text)
    start = text.find("\nTree=")
    if m is None or start < 0:
        raise bad
    pos = start + 1
    for size in map(int, m.group(1).split()):
        if not text.startswith("Tree=", pos):
            raise bad
        pos += size
    if not text.startswith("end of trees", pos) or "\nend of parameters\n" not in text[pos:]:
        raise bad
