"""`auto`: choose the mixing law by K-fold cross-validation on the training runs alone.

No law is best everywhere (RegMix: the implicit law; the 64-domain Olmix swarm: a ridge-
regularised exp[linear+log]; the 5-domain Data Mixing Laws runs: exp[linear+log]), so the
default law tries several candidates on the same folds and picks, per target, by a stated
rule:

1. a candidate whose out-of-fold (OOF) predictions trip a guardrail (near-constant, blow-up
   beyond the observed range; see `guardrails`) is never chosen;
2. rank quality first: the highest OOF Spearman, rounded to `spearman_decimals` (differences
   below 0.01 are within fold-to-fold noise on the reference sets);
3. then the lowest OOF mean absolute error; then the fewest members.

With `ensemble=True` the equal-weight averages of the top 2..`max_members` eligible
candidates compete under the same rule (their OOF predictions are the averages of the
members' OOF predictions).  If nothing passes the guardrails the law predicts the training
mean and says so.  The chosen members are refitted on all runs; a member whose full fit trips
a guardrail is dropped and the choice redone.  Predictions are clipped to the plausible range
(observed range widened by its span on both sides), so an extrapolation can never run off to
an absurd value; `prediction_table`/`optimize` flag such mixtures.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.checks import check_targets
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import LAW_KINDS, MixingLaw, law_from_dict
from mixlab.laws.mixing.crossval import (
    CVReport,
    cross_validate,
    cv_record,
    kfold_splits,
    spearman,
)
from mixlab.laws.mixing.guardrails import fit_problems, plausible_range, warn_problems

__all__ = ["AutoLaw", "CANDIDATES", "MeanLaw", "default_candidates", "make_candidate"]

#: candidate name -> (law kind, hyperparameters); names are what tables and JSON show.
#: exp candidates stop at 200 iterations (the default 1000 took 4x longer on 20-run fits of
#: the Data Mixing Laws set for the same held-out MAE within 0.0004); the ridge one, whose
#: penalty leaves fewer local minima, starts from 2 points instead of 6 (3x cheaper).
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("linear", {}),
    "exp[linear]": ("exp", {"features": "linear", "maxiter": 200}),
    "exp[linear+log]": ("exp", {"features": "linear+log", "maxiter": 200}),
    "exp[linear+log],alpha=0.01": (
        "exp",
        {
            "features": "linear+log",
            "alpha": 0.01,
            "maxiter": 200,
            "c_offsets": (0.05, 0.3),
            "eps_starts": (1e-2,),
        },
    ),
    "implicit[2]": ("implicit", {"n_hidden": 2, "n_starts": 2, "features": "linear+log"}),
    "implicit[3]": ("implicit", {"n_hidden": 3, "n_starts": 2, "features": "linear+log"}),
    "lgbm": ("lgbm", {}),
    "mean": ("mean", {}),
    "power": ("power", {"maxiter": 200}),
}
#: the ridge law fitted to a weighted target's sum itself (an `auto` candidate only with
#: `direct_sum`, which nested prediction per metric turns on)
CANDIDATES["exp[linear+log],alpha=0.01,direct"] = (
    "exp",
    {**CANDIDATES["exp[linear+log],alpha=0.01"][1], "weighted": "direct"},
)

#: runs per parameter an implicit law needs before `auto` tries it (see default_candidates)
IMPLICIT_RUNS_PER_PARAM = 4


def default_candidates(n_runs: int, n_domains: int, n_components: int = 1) -> list[str]:
    """The candidates `auto` tries on `n_runs` runs over `n_domains` varying domains; with
    `n_components` >= 2 (a weighted sum of metrics, for an auto law with `direct_sum`) the
    ridge exp law fitted to the sum as well.

    linear, exp[linear], the ridge-regularised exp[linear+log] and lgbm always.  The plain
    exp[linear+log] is not a default: the ridge version matched or beat it on the reference
    sets (Olmix 80/20: Spearman 0.937 against 0.905; Data Mixing Laws, 20-run CV: steadier
    across splits) and its fits take up to 6x longer on small tables.  The
    implicit law with 2 hidden domains only with >= 4 runs per parameter (2 x 2 x domains + 3):
    below that its sums of exponentials are not identified, it lost on every reference set
    (Olmix 64 domains: Spearman 0.889 against 0.905 for exp[linear+log] at 30 s a fit;
    Data Mixing Laws 20 runs: held-out MAE 0.022 against 0.0094) and it is the slowest fit.

    The exp candidates fit a weighted sum one component at a time (Ye et al.'s multi-domain
    law); the ridge exp law fitted to the sum itself (`...,direct`) lets the data decide
    between the two.  Nested prediction per metric turns it on (its choice is on single
    laws); plain `auto` does not: its ensembles of the two near-twins were worse on the Data
    Mixing Laws 70M splits (median held-out MAE 0.0116 against 0.0102; docs/benchmarks.md,
    issue 15 third pass).
    """
    names = ["linear", "exp[linear]", "exp[linear+log],alpha=0.01", "lgbm"]
    if n_components >= 2:
        names.insert(3, "exp[linear+log],alpha=0.01,direct")
    if (2 * 2 * n_domains + 3) * IMPLICIT_RUNS_PER_PARAM <= n_runs:
        names.insert(3, "implicit[2]")
    return names


def make_candidate(name: str, seed: int = 0) -> MixingLaw:
    """A fresh law for a candidate name of `CANDIDATES`."""
    if name not in CANDIDATES:
        raise InputError(f"unknown auto candidate {name!r}; known: {sorted(CANDIDATES)}")
    kind, params = CANDIDATES[name]
    params = dict(params)
    if kind in ("exp", "implicit", "lgbm"):
        params["seed"] = seed
    return LAW_KINDS[kind](**params)


class MeanLaw(MixingLaw):
    """Predict the training runs' mean: the baseline every CV figure is compared with."""

    kind = "mean"

    def __init__(self, weighted: str = "direct") -> None:
        self.weighted = weighted

    def _fit(self, R: np.ndarray, Y: np.ndarray) -> None:
        self.mean_ = Y.mean(axis=0)

    def _predict(self, R: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.mean_, (R.shape[0], self.mean_.size)).copy()

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        return np.zeros((R.shape[0], self.mean_.size, R.shape[1]))

    def _params_to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean_}

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        self.mean_ = np.asarray(params["mean"], float)


def _key(row: Mapping[str, Any], decimals: int) -> tuple[float, float, int]:
    sp = row["spearman"]
    return (-round(sp, decimals) if np.isfinite(sp) else np.inf, row["mae"], len(row["members"]))


class AutoLaw(MixingLaw):
    """The law cross-validation prefers among candidates, per target (see module docstring).

    `candidates`: names from `CANDIDATES` (None: `default_candidates`); `extra_candidates`:
    names tried as well (e.g. `["power"]`, not a default); `direct_sum`: for a
    weighted target of >= 2 metrics, also the ridge exp law on the sum.  Fitted attributes:
    `members_` (the refitted laws), `member_names_`, `member_weights_` (targets x members),
    `selection_` (per target: the candidate table and the choice), `bounds_` (targets x 2,
    the clip range), `report_` (the chosen law's CV, not saved), `cv_` (its summary with the
    OOF residuals, for conformal intervals).
    """

    kind = "auto"

    def __init__(
        self,
        candidates: Sequence[str] | None = None,
        n_splits: int = 5,
        seed: int = 0,
        ensemble: bool = True,
        max_members: int = 3,
        spearman_decimals: int = 2,
        weighted: str = "direct",
        direct_sum: bool = False,
        extra_candidates: Sequence[str] = (),
    ) -> None:
        self.candidates = None if candidates is None else list(candidates)
        extra = [extra_candidates] if isinstance(extra_candidates, str) else extra_candidates
        self.extra_candidates = list(extra)
        self.direct_sum = direct_sum
        self.n_splits = n_splits
        self.seed = seed
        self.ensemble = ensemble
        self.max_members = max_members
        self.spearman_decimals = spearman_decimals
        self.weighted = weighted

    def fit(self, R: Any, Y: Any, **kwargs: Any) -> AutoLaw:
        """Fit like any law (same keywords); the candidates see the raw metrics and weights."""
        if self.weighted != "direct":
            raise InputError(
                "the auto law fits weighted targets through its candidates; "
                f"weighted must be 'direct', got {self.weighted!r}"
            )
        self._raw_y = Y
        try:
            super().fit(R, Y, **kwargs)
        finally:
            del self._raw_y
        return self

    # ---- selection --------------------------------------------------------------------

    def _fit(self, R: np.ndarray, Yfit: np.ndarray) -> None:
        n = R.shape[0]
        Ym, _ = check_targets(self._raw_y, n, self.metric_names_)
        kw: dict[str, Any] = {
            "target_names": self.metric_names_,
            "domain_names": self.domain_names_,
        }
        if self.weights_ is not None:
            kw.update(weights=self.weights_, target_name=self.target_names_[0])
        names = self._candidate_names(n)
        splits = kfold_splits(n, int(min(self.n_splits, n)), self.seed)
        oofs, n_warned = self._cross_validate_candidates(names, R, Ym, splits, kw)
        tables, choice, needed, members_fit = self._select(names, oofs, n_warned, R, Ym, Yfit, kw)
        self._store_choice(tables, choice, needed, members_fit, oofs, splits, Yfit)
        self._warn_rejections(tables, choice)
        oof = np.stack(
            [np.mean([oofs[m][:, j] for m in pick], axis=0) for j, pick in enumerate(choice)],
            axis=1,
        )
        self.report_ = _report(self.target_names_, splits, Yfit, oof, self.run_ids_)
        self.fit_info_ = [{"target": s["target"], "chosen": s["chosen"]} for s in self.selection_]
        self.cv_ = cv_record(self.report_)

    def _candidate_names(self, n: int) -> list[str]:
        """The candidates to compare, checked (known names, n_splits, enough runs)."""
        names = (
            self.candidates
            if self.candidates is not None
            else default_candidates(
                n, int(self.active_.sum()), len(self.weights_ or {}) if self.direct_sum else 1
            )
        )
        names = [*names, *(e for e in self.extra_candidates if e not in names)]
        for name in names:
            make_candidate(name)  # unknown names fail before any fitting
        if not (isinstance(self.n_splits, int | np.integer) and self.n_splits >= 2):
            raise InputError(f"n_splits must be an integer >= 2, got {self.n_splits!r}")
        if n < 4:
            raise InputError(f"the auto law needs at least 4 runs to cross-validate, got {n}")
        return names

    def _cross_validate_candidates(
        self,
        names: Sequence[str],
        R: np.ndarray,
        Ym: np.ndarray,
        splits: list,
        kw: Mapping[str, Any],
    ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Out-of-fold predictions of every candidate and the mean, and their FitWarning counts."""
        oofs: dict[str, np.ndarray] = {}
        n_warned: dict[str, int] = {}
        for name in dict.fromkeys([*names, "mean"]):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rep = cross_validate(make_candidate(name, self.seed), R, Ym, splits=splits, **kw)
            oofs[name] = rep.oof
            n_warned[name] = sum(issubclass(w.category, FitWarning) for w in caught)
        return oofs, n_warned

    def _select(
        self,
        names: Sequence[str],
        oofs: Mapping[str, np.ndarray],
        n_warned: Mapping[str, int],
        R: np.ndarray,
        Ym: np.ndarray,
        Yfit: np.ndarray,
        kw: Mapping[str, Any],
    ) -> tuple[list, list, list[str], dict[str, MixingLaw]]:
        """Choose per target by CV; refit the chosen on all runs, and choose again without any
        whose full fit trips a guardrail, until none does."""
        T = Yfit.shape[1]
        baseline = oofs["mean"]
        banned: list[set[tuple[str, ...]]] = [set() for _ in range(T)]
        members_fit: dict[str, MixingLaw] = {}
        for _ in range(len(names) + 2):
            tables, choice = [], []
            for j in range(T):
                rows, pick = self._score_target(j, names, oofs, Yfit, baseline, banned[j], n_warned)
                tables.append(rows)
                choice.append(pick)
            needed = sorted({m for pick in choice for m in pick})
            redo = False
            for name in needed:
                if name not in members_fit:
                    members_fit[name] = self._full_fit(name, R, Ym, kw)
                law = members_fit[name]
                fitted = law.predict_unchecked(R)
                for j, pick in enumerate(choice):
                    if name not in pick or name == "mean":
                        continue
                    info = [
                        f
                        for f in law.fit_info_
                        if f.get("target") in (self.target_names_[j], *self.metric_names_)
                    ]
                    problems = fit_problems(Yfit[:, j], fitted=fitted[:, j], fit_info=info)
                    if problems:
                        banned[j].add((name,))
                        for row in tables[j]:
                            if name in row["members"]:
                                row["problems"] = row["problems"] + [
                                    f"full fit: {p}" for p in problems
                                ]
                        redo = True
            if not redo:
                break
        return tables, choice, needed, members_fit

    def _full_fit(
        self, name: str, R: np.ndarray, Ym: np.ndarray, kw: Mapping[str, Any]
    ) -> MixingLaw:
        """One candidate fitted on every run; its FitWarnings are judged by the guardrails,
        other warnings pass through."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            law = make_candidate(name, self.seed).fit(R, Ym, run_ids=self.run_ids_, **kw)
        for w in caught:
            if not issubclass(w.category, FitWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return law

    def _store_choice(
        self,
        tables: list,
        choice: list,
        needed: list[str],
        members_fit: Mapping[str, MixingLaw],
        oofs: Mapping[str, np.ndarray],
        splits: list,
        Yfit: np.ndarray,
    ) -> None:
        """Set the fitted members, their weights per target, the bounds and `selection_`."""
        T = Yfit.shape[1]
        self.member_names_ = needed
        self.members_ = [members_fit[m] for m in needed]
        W = np.zeros((T, len(needed)))
        for j, pick in enumerate(choice):
            for m in pick:
                W[j, needed.index(m)] = 1.0 / len(pick)
        self.member_weights_ = W
        self.bounds_ = np.array([plausible_range(Yfit[:, j]) for j in range(T)])
        self.selection_ = [
            {
                "target": self.target_names_[j],
                "chosen": " + ".join(choice[j]),
                "rule": "guardrails, then OOF Spearman rounded to "
                f"{self.spearman_decimals} decimals (higher), then OOF MAE (lower)",
                "scheme": f"{len(splits)}-fold",
                "candidates": tables[j],
            }
            for j in range(T)
        ]

    def _warn_rejections(self, tables: list, choice: list) -> None:
        """Warn for every single candidate a guardrail rejected and every target left to the mean."""
        for j, rows in enumerate(tables):
            for r in rows:
                if len(r["members"]) == 1 and r["problems"]:
                    warn_problems(
                        f"auto law: candidate {r['name']} rejected",
                        {self.target_names_[j]: r["problems"]},
                    )
        for j, pick in enumerate(choice):
            if pick == ("mean",):
                warn_problems(
                    "auto law",
                    {
                        self.target_names_[j]: [
                            "every candidate tripped a guardrail; predicting the training mean"
                        ]
                    },
                )

    def _score_target(
        self,
        j: int,
        names: Sequence[str],
        oofs: Mapping[str, np.ndarray],
        Y: np.ndarray,
        baseline: np.ndarray,
        banned: set[tuple[str, ...]],
        n_warned: Mapping[str, int],
    ) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
        y = Y[:, j]
        base_mae = float(np.mean(np.abs(baseline[:, j] - y)))

        def row(members: tuple[str, ...]) -> dict[str, Any]:
            o = np.mean([oofs[m][:, j] for m in members], axis=0)
            problems = [] if members == ("mean",) else fit_problems(y, oof=o)
            if any((m,) in banned for m in members):
                problems.append("a member failed the guardrails on the full fit")
            return {
                "name": " + ".join(members),
                "members": list(members),
                "spearman": spearman(o, y),
                "mae": float(np.mean(np.abs(o - y))),
                "baseline_mae": base_mae,
                "fit_warnings": int(sum(n_warned.get(m, 0) for m in members)),
                "problems": problems,
                "eligible": not problems,
                "chosen": False,
            }

        rows = [row((name,)) for name in names]
        ranked = sorted(
            (r for r in rows if r["eligible"]), key=lambda r: _key(r, self.spearman_decimals)
        )
        if self.ensemble:
            for k in range(2, int(self.max_members) + 1):
                if len(ranked) >= k:
                    rows.append(row(tuple(r["name"] for r in ranked[:k])))
        rows.append(row(("mean",)))
        eligible = [r for r in rows if r["eligible"] and r["members"] != ["mean"]]
        best = (
            min(eligible, key=lambda r: _key(r, self.spearman_decimals)) if eligible else rows[-1]
        )
        best["chosen"] = True
        return rows, tuple(best["members"])

    # ---- prediction -------------------------------------------------------------------

    def _raw_predict(self, R: np.ndarray) -> np.ndarray:
        out = np.zeros((R.shape[0], self.member_weights_.shape[0]))
        for m, law in enumerate(self.members_):
            w = self.member_weights_[:, m]
            if np.any(w):
                out += w * law.predict_unchecked(R)
        return out

    def _predict(self, R: np.ndarray) -> np.ndarray:
        return np.clip(self._raw_predict(R), self.bounds_[:, 0], self.bounds_[:, 1])

    def clipped(self, R: Any) -> np.ndarray:
        """(n, targets) True where a prediction was clipped to the plausible range."""
        raw = self._raw_predict(self._validated(R))
        return (raw < self.bounds_[:, 0]) | (raw > self.bounds_[:, 1])

    @property
    def has_gradient(self) -> bool:
        used = np.any(self.member_weights_ != 0, axis=0)
        return all(law.has_gradient for law, u in zip(self.members_, used, strict=True) if u)

    def _gradient(self, R: np.ndarray) -> np.ndarray:
        G = np.zeros((R.shape[0], self.member_weights_.shape[0], R.shape[1]))
        for m, law in enumerate(self.members_):
            w = self.member_weights_[:, m]
            if np.any(w):
                G += w[None, :, None] * law.gradient_unchecked(R)
        raw = self._raw_predict(R)
        out = (raw < self.bounds_[:, 0]) | (raw > self.bounds_[:, 1])
        G[out] = 0.0
        return G

    # ---- serialisation ----------------------------------------------------------------

    def _params_to_dict(self) -> dict[str, Any]:
        return {
            "member_names": self.member_names_,
            "members": [law.to_dict() for law in self.members_],
            "member_weights": self.member_weights_,
            "bounds": self.bounds_,
            "selection": self.selection_,
        }

    def _params_from_dict(self, params: Mapping[str, Any]) -> None:
        self.member_names_ = list(params["member_names"])
        self.members_ = [law_from_dict(d) for d in params["members"]]
        self.member_weights_ = np.asarray(params["member_weights"], float)
        self.bounds_ = np.asarray(params["bounds"], float)
        self.selection_ = list(params["selection"])


def _report(
    names: list[str], splits: list, y: np.ndarray, oof: np.ndarray, ids: list | None
) -> CVReport:
    """A CVReport for given out-of-fold predictions on K-fold splits (each run held out once)."""
    T = y.shape[1]
    mae = np.zeros((len(splits), T))
    sp = np.full((len(splits), T), np.nan)
    base = np.zeros((len(splits), T))
    for s, (tr, te) in enumerate(splits):
        mae[s] = np.mean(np.abs(oof[te] - y[te]), axis=0)
        base[s] = np.mean(np.abs(y[tr].mean(axis=0) - y[te]), axis=0)
        for j in range(T):
            sp[s, j] = spearman(oof[te, j], y[te, j])
    return CVReport(
        list(names),
        f"{len(splits)}-fold (auto selection)",
        list(splits),
        y,
        oof,
        mae,
        sp,
        ids,
        base,
    )
