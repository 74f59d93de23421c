"""Rank agreement: do data choices rank the same at every model size?

A data-engineering gain found at one model size may vanish at another, so the ranking of
choices is compared across sizes by Kendall's tau-b, with an interval from resampling seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_indices, percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.dynamics.base import DynamicsEstimator
from mixlab.laws.dynamics.checks import check_level, finite_1d

__all__ = [
    "RANK_COLUMNS",
    "RankAgreement",
    "RankAgreementEstimator",
    "kendall_tau",
    "rank_agreement",
]

RANK_COLUMNS = ("choice", "model_size", "seed", "score")


def _tau_b_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between matching rows of a and b, shape (r, n) -> (r,); NaN if a row
    is constant.  tau-b = sum sign(da) sign(db) / sqrt(untied pairs in a * untied in b)."""
    i, j = np.triu_indices(a.shape[1], k=1)
    sa = np.sign(a[:, i] - a[:, j])
    sb = np.sign(b[:, i] - b[:, j])
    denom = np.sqrt(np.count_nonzero(sa, axis=1) * np.count_nonzero(sb, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(sa * sb, axis=1) / denom, np.nan)


def kendall_tau(a: Any, b: Any) -> float:
    """Kendall's tau-b between two score vectors (ties handled as scipy does); NaN when
    either vector is constant."""
    xa, xb = finite_1d(a, "a"), finite_1d(b, "b")
    if len(xa) != len(xb):
        raise InputError(f"a and b differ in length ({len(xa)} vs {len(xb)})")
    if len(xa) < 2:
        raise InputError("kendall tau needs at least 2 items")
    return float(_tau_b_rows(xa[None, :], xb[None, :])[0])


@dataclass
class RankAgreement(Result):
    """Kendall tau between the choices' rankings at each pair of model sizes.

    `pairs`: one dict per pair of sizes {size_a, size_b, tau, ci, n_choices} (size_a <
    size_b; tau over the choices present at both; ci None without a bootstrap or when
    under 2 choices are shared).  `rankings`: size -> choices, best first.
    """

    pairs: list[dict[str, Any]]
    rankings: dict[Any, list[Any]]
    level: float
    n_bootstrap: int
    higher_is_better: bool


def _py(value: Any) -> Any:
    """A numpy scalar as the matching Python scalar (keys and labels stay JSON-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_rank_table(table: Any) -> Any:
    """The table's four columns, validated; errors name the row (its index label)."""
    if not (hasattr(table, "columns") and hasattr(table, "index")):
        raise InputError("rank agreement: table must be a pandas DataFrame")
    missing = [c for c in RANK_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"rank agreement: missing column(s) {missing}; need {list(RANK_COLUMNS)}")
    t = table[list(RANK_COLUMNS)]
    for col in ("choice", "model_size", "seed"):
        bad = np.flatnonzero(t[col].isna().to_numpy())
        if bad.size:
            raise InputError(f"rank agreement: row {t.index[bad[0]]!r}: {col} is missing")
    try:
        score = t["score"].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"rank agreement: column 'score' must be numbers ({exc})") from None
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        raise InputError(
            f"rank agreement: row {t.index[bad[0]]!r}: score is {score[bad[0]]}; drop runs "
            "without a score (or give them a value) before comparing rankings"
        )
    dup = np.flatnonzero(t.duplicated(["choice", "model_size", "seed"]).to_numpy())
    if dup.size:
        r = t.iloc[dup[0]]
        raise InputError(
            f"rank agreement: row {t.index[dup[0]]!r} repeats choice {r['choice']!r}, "
            f"model_size {r['model_size']!r}, seed {r['seed']!r}"
        )
    return t.assign(score=score)


def _sorted_labels(values: Any) -> list[Any]:
    """Unique labels, sorted (in order of appearance if they do not compare)."""
    uniq = [_py(v) for v in dict.fromkeys(values)]
    try:
        return sorted(uniq)
    except TypeError:
        return uniq


class RankAgreementEstimator(DynamicsEstimator):
    """Do data choices rank the same at every model size?

    `table` has columns choice, model_size, seed, score (final loss, tokens to 90%,
    accuracy...; one row per run, no missing scores).  For each pair of sizes: Kendall's
    tau-b between the choices' mean scores at the two sizes, and a percentile interval
    from `n_bootstrap` resamples that redraw the seeds of every (choice, size) cell with
    replacement (0 skips it).  tau does not depend on the direction of the score;
    `higher_is_better` only orders `rankings`.  `fit(table)` sets `result_` (a
    :class:`RankAgreement`), `pairs_` and `rankings_`.
    """

    kind = "rank_agreement"
    label = "rank agreement"
    result_type = RankAgreement

    def __init__(
        self,
        n_bootstrap: int = 2000,
        level: float = DEFAULT_LEVEL,
        seed: int = 0,
        higher_is_better: bool = False,
    ) -> None:
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.seed = seed
        self.higher_is_better = higher_is_better

    def _set_result(self, result: RankAgreement) -> None:
        self.result_ = result
        self.pairs_, self.rankings_ = result.pairs, result.rankings

    def fit(self, table: Any) -> RankAgreementEstimator:
        """Fit on a table with columns choice, model_size, seed, score."""
        self._set_result(self._agreement(table))
        return self

    def _agreement(self, table: Any) -> RankAgreement:
        n_bootstrap, seed, higher_is_better = self.n_bootstrap, self.seed, self.higher_is_better
        level = check_level(self.level)
        if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 0):
            raise InputError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
        t = _check_rank_table(table)
        choices = _sorted_labels(t["choice"])
        sizes = _sorted_labels(t["model_size"])
        if len(choices) < 2 or len(sizes) < 2:
            raise InputError(
                f"rank agreement needs >= 2 choices and >= 2 model sizes; got {len(choices)} "
                f"choice(s) and {len(sizes)} size(s)"
            )
        rng = np.random.default_rng(seed)
        cells = {
            (_py(c), _py(s)): g.to_numpy(float)
            for (c, s), g in t.groupby(["choice", "model_size"], sort=False)["score"]
        }
        mean = {k: float(v.mean()) for k, v in cells.items()}
        boot = (
            None
            if n_bootstrap == 0
            else {
                k: v[bootstrap_indices(len(v), n_bootstrap, rng)].mean(axis=1)
                for k, v in cells.items()
            }
        )
        pairs = [
            _rank_pair(sa, sb, choices, mean, boot, level)
            for i, sa in enumerate(sizes)
            for sb in sizes[i + 1 :]
        ]
        sign = -1.0 if higher_is_better else 1.0
        rankings = {
            s: sorted(
                (c for c in choices if (c, s) in mean), key=lambda c, s=s: sign * mean[(c, s)]
            )
            for s in sizes
        }
        return RankAgreement(
            pairs=pairs,
            rankings=rankings,
            level=level,
            n_bootstrap=int(n_bootstrap),
            higher_is_better=bool(higher_is_better),
        )


def rank_agreement(table: Any, **params: Any) -> RankAgreement:
    """`RankAgreementEstimator(**params).fit(table).result_`, hyperparameters by keyword."""
    return RankAgreementEstimator(**params).fit(table).result_


def _rank_pair(
    size_a: Any, size_b: Any, choices: list[Any], mean: dict, boot: dict | None, level: float
) -> dict[str, Any]:
    """tau (and its bootstrap interval) over the choices present at both sizes.

    `mean` and `boot` map (choice, size) to the mean score and its bootstrap means.
    """
    shared = [c for c in choices if (c, size_a) in mean and (c, size_b) in mean]
    row: dict[str, Any] = {
        "size_a": size_a,
        "size_b": size_b,
        "tau": None,
        "ci": None,
        "n_choices": len(shared),
    }
    if len(shared) < 2:
        return row
    a = np.array([[mean[(c, size_a)] for c in shared]])
    b = np.array([[mean[(c, size_b)] for c in shared]])
    tau = float(_tau_b_rows(a, b)[0])
    row["tau"] = None if np.isnan(tau) else tau
    if boot is not None:
        taus = _tau_b_rows(
            np.column_stack([boot[(c, size_a)] for c in shared]),
            np.column_stack([boot[(c, size_b)] for c in shared]),
        )
        taus = taus[~np.isnan(taus)]  # resamples where every choice tied
        if taus.size:
            lo, hi = percentile_interval(taus, level)
            row["ci"] = (float(lo), float(hi))
    return row
