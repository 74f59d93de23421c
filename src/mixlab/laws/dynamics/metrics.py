"""Training dynamics: how fast a skill is acquired, whether a ranking transfers, compression.

* **Emergence** (DESIGN.md section 4, "Learning speed and emergence"): the first token count
  (or step) at which a skill's accuracy reaches a threshold, interpolated between the two
  evaluations that bracket the crossing; across seeds, the median with a bootstrap interval.
  Data choices are compared by speed (`speed_ratio`) and by the area under the accuracy
  curve, not only by final loss.
* **Rank agreement**: a data-engineering gain found at one model size may vanish at another,
  so the ranking of choices is compared across sizes by Kendall's tau-b, with an interval
  from resampling seeds.
* **Compression** (section 4, "Compression"): the prequential code length of a training
  stream (the area under the training-loss curve, in bits) against gzip, bz2 and xz.
* **Data scaling at fixed size**: a step law L(D) = E + B D^-a on one run's loss curve says
  whether more tokens would still help.

Pure numerics (numpy, scipy, pandas tables); no torch.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_indices, percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Result
from mixlab.laws.scaling.forms import StepLaw

__all__ = [
    "CompressionRow",
    "DataScaling",
    "Emergence",
    "RankAgreement",
    "area_under_curve",
    "baseline_bits_per_byte",
    "bits_per_byte",
    "code_length_bits",
    "compression_table",
    "data_scaling_at_fixed_size",
    "emergence_across_seeds",
    "emergence_point",
    "kendall_tau",
    "rank_agreement",
    "speed_ratio",
]

RANK_COLUMNS = ("choice", "model_size", "seed", "score")


# ---------------------------------------------------------------------------------------
# Validation helpers


def _finite_1d(values: Any, name: str) -> np.ndarray:
    """A 1-d float array with every entry finite, or an InputError naming `name`."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-d sequence, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"{name}[{int(bad[0])}] is {arr[bad[0]]}; values must be finite")
    return arr


def _check_level(level: float, name: str = "level") -> float:
    if not 0 < level < 1:
        raise InputError(f"{name} must be in (0, 1), got {level!r}")
    return float(level)


def _check_curve(x: Any, accuracy: Any, name: str = "curve") -> tuple[np.ndarray, np.ndarray]:
    """Evaluations sorted by x; same length, finite, at least one, no repeated x."""
    xs = _finite_1d(x, f"{name}: x")
    ys = _finite_1d(accuracy, f"{name}: accuracy")
    if len(xs) != len(ys):
        raise InputError(f"{name}: x and accuracy differ in length ({len(xs)} vs {len(ys)})")
    if len(xs) == 0:
        raise InputError(f"{name}: no evaluations")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    dup = np.flatnonzero(np.diff(xs) == 0)
    if dup.size:
        i, j = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise InputError(
            f"{name}: x has the value {xs[dup[0]]:g} twice (positions {i} and {j}); "
            "each evaluation needs its own x"
        )
    return xs, ys


def _unpack_curve(curve: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, acc = curve
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (x, accuracy)") from None
    return _check_curve(x, acc, name)


# ---------------------------------------------------------------------------------------
# Emergence: the first x at which accuracy reaches a threshold


def _crossing_index(acc: np.ndarray, threshold: float, sustain: bool, tolerance: float) -> int:
    """Index of the first evaluation at or above threshold (-1 if none).

    With `sustain`, only an evaluation after which accuracy never drops below
    threshold - tolerance counts.
    """
    hits = acc >= threshold
    if sustain:
        # lowest accuracy strictly after each evaluation (inf after the last one)
        after = np.minimum.accumulate(acc[::-1])[::-1]
        after = np.append(after[1:], np.inf)
        hits &= after >= threshold - tolerance
    idx = np.flatnonzero(hits)
    return int(idx[0]) if idx.size else -1


def _interpolate_crossing(x: np.ndarray, acc: np.ndarray, i: int, threshold: float) -> float:
    """The x where the segment from evaluation i-1 (below) to i (at or above) meets threshold."""
    if i == 0:
        return float(x[0])
    x0, x1, a0, a1 = x[i - 1], x[i], acc[i - 1], acc[i]
    return float(x0 + (threshold - a0) / (a1 - a0) * (x1 - x0))


def emergence_point(
    x: Any,
    accuracy: Any,
    threshold: float = 0.9,
    sustain: bool = False,
    tolerance: float = 0.0,
) -> float | None:
    """First x (tokens or steps) at which accuracy reaches `threshold`; None if never.

    Evaluations are sorted by x; the crossing is linearly interpolated between the last
    evaluation below the threshold and the first at or above it.  If the first evaluation
    already meets the threshold its x is returned, and the true point is <= x[0].

    `sustain=True` skips crossings that do not last (noisy, non-monotone curves): it returns
    the first crossing after which accuracy never again drops below threshold - tolerance.
    A crossing at the last evaluation counts, since nothing contradicts it.
    """
    if not np.isfinite(threshold):
        raise InputError(f"threshold must be a finite number, got {threshold!r}")
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance!r}")
    xs, acc = _check_curve(x, accuracy)
    i = _crossing_index(acc, float(threshold), sustain, float(tolerance))
    return None if i < 0 else _interpolate_crossing(xs, acc, i, float(threshold))


@dataclass
class Emergence(Result):
    """Emergence points of one skill over seeds.

    `status` is "reached" (every seed reached the threshold), "not_reached_by_all" or
    "not_reached".  `value` is the median point over seeds, only when all reached.
    `ci` is a bootstrap percentile interval of that median when all of >= 2 seeds reached
    (`ci_kind` "bootstrap_median"); when only some reached it is the range (min, max) of
    the reached points (`ci_kind` "range_of_reached"), otherwise None.  `lower_bound` is
    the largest x evaluated among seeds that never reached the threshold: the slowest seed
    needs more than that.  `at_first` counts seeds that met the threshold at their first
    evaluation, whose points are only upper bounds.
    """

    status: str
    value: float | None
    ci: tuple[float, float] | None
    ci_kind: str | None
    points: list[float | None]
    reached: int
    n: int
    mean: float | None
    lower_bound: float | None
    at_first: int
    threshold: float
    level: float
    sustain: bool


def _bootstrap_median(
    points: np.ndarray, n_bootstrap: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile interval of the median over seeds resampled with replacement."""
    idx = bootstrap_indices(len(points), n_bootstrap, seed)
    lo, hi = percentile_interval(np.median(points[idx], axis=1), level)
    return float(lo), float(hi)


def emergence_across_seeds(
    curves: Sequence[tuple[Any, Any]],
    threshold: float = 0.9,
    level: float = DEFAULT_LEVEL,
    sustain: bool = False,
    n_bootstrap: int = 2000,
    seed: int = 0,
    tolerance: float = 0.0,
) -> Emergence:
    """Emergence point of each seed's curve (x, accuracy) and their median with an interval.

    The median, not the mean, so that one slow seed does not dominate; its interval comes
    from resampling seeds (coarse with few seeds: its ends are among the seed points).
    """
    level = _check_level(level)
    if not (isinstance(n_bootstrap, int | np.integer) and n_bootstrap >= 1):
        raise InputError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
    if len(curves) == 0:
        raise InputError("curves: need at least one seed's curve")
    points: list[float | None] = []
    last_x: list[float] = []
    at_first = 0
    for k, curve in enumerate(curves):
        xs, acc = _unpack_curve(curve, f"curve {k}")
        point = emergence_point(xs, acc, threshold, sustain, tolerance)
        points.append(point)
        last_x.append(float(xs[-1]))
        at_first += point is not None and point == xs[0]
    reached = np.array([p for p in points if p is not None], dtype=float)
    unreached_last = [lx for p, lx in zip(points, last_x, strict=True) if p is None]
    n = len(points)
    common = dict(
        points=points,
        reached=len(reached),
        n=n,
        at_first=int(at_first),
        threshold=float(threshold),
        level=level,
        sustain=bool(sustain),
    )
    if len(reached) == n:
        ci = _bootstrap_median(reached, n_bootstrap, level, seed) if n >= 2 else None
        return Emergence(
            status="reached",
            value=float(np.median(reached)),
            ci=ci,
            ci_kind="bootstrap_median" if ci else None,
            mean=float(reached.mean()),
            lower_bound=None,
            **common,
        )
    partial = len(reached) > 0
    return Emergence(
        status="not_reached_by_all" if partial else "not_reached",
        value=None,
        ci=(float(reached.min()), float(reached.max())) if partial else None,
        ci_kind="range_of_reached" if partial else None,
        mean=None,
        lower_bound=max(unreached_last),
        **common,
    )


def speed_ratio(
    curve_a: tuple[Any, Any],
    curve_b: tuple[Any, Any],
    levels: Sequence[float] = (0.5, 0.9),
    sustain: bool = False,
) -> dict[float, float | None]:
    """tokens_b(level) / tokens_a(level) per accuracy level: > 1 means choice a learns faster.

    None at a level that either curve never reaches (or that a reaches at x = 0).
    """
    xa, aa = _unpack_curve(curve_a, "curve_a")
    xb, ab = _unpack_curve(curve_b, "curve_b")
    out: dict[float, float | None] = {}
    for level in levels:
        ta = emergence_point(xa, aa, threshold=level, sustain=sustain)
        tb = emergence_point(xb, ab, threshold=level, sustain=sustain)
        out[float(level)] = None if ta is None or tb is None or ta == 0 else tb / ta
    return out


def area_under_curve(
    x: Any, accuracy: Any, x_max: float | None = None, log_x: bool = False
) -> float:
    """Mean accuracy over [x[0], x_max]: trapezoid area divided by the interval's length.

    With accuracies in [0, 1] the result is in [0, 1]; it rewards learning early as well as
    well.  `x_max` defaults to the last evaluation; beyond it the last accuracy is held
    (a curve that stopped is taken to stay where it stopped), and before it the curve is
    cut, interpolating at `x_max`.  `log_x` integrates over ln x (x must be positive),
    weighting each decade of training equally.
    """
    xs, acc = _check_curve(x, accuracy)
    x_max = float(xs[-1]) if x_max is None else float(x_max)
    if not (np.isfinite(x_max) and x_max > xs[0]):
        raise InputError(f"x_max must be finite and above the first x ({xs[0]:g}), got {x_max!r}")
    if log_x and xs[0] <= 0:
        raise InputError(f"log_x needs positive x; the first x is {xs[0]:g}")
    inside = xs < x_max
    grid = np.append(xs[inside], x_max)
    vals = np.append(acc[inside], np.interp(x_max, xs, acc))  # np.interp holds the ends
    u = np.log(grid) if log_x else grid
    area = float(np.sum(np.diff(u) * (vals[1:] + vals[:-1]) / 2))
    return area / float(u[-1] - u[0])


# ---------------------------------------------------------------------------------------
# Rank agreement across model sizes


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
    xa, xb = _finite_1d(a, "a"), _finite_1d(b, "b")
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


def rank_agreement(
    table: Any,
    n_bootstrap: int = 2000,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    higher_is_better: bool = False,
) -> RankAgreement:
    """Do data choices rank the same at every model size?

    `table` has columns choice, model_size, seed, score (final loss, tokens to 90%,
    accuracy...; one row per run, no missing scores).  For each pair of sizes: Kendall's
    tau-b between the choices' mean scores at the two sizes, and a percentile interval
    from `n_bootstrap` resamples that redraw the seeds of every (choice, size) cell with
    replacement (0 skips it).  tau does not depend on the direction of the score;
    `higher_is_better` only orders `rankings`.
    """
    level = _check_level(level)
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
            k: v[bootstrap_indices(len(v), n_bootstrap, rng)].mean(axis=1) for k, v in cells.items()
        }
    )
    pairs = [
        _rank_pair(sa, sb, choices, mean, boot, level)
        for i, sa in enumerate(sizes)
        for sb in sizes[i + 1 :]
    ]
    sign = -1.0 if higher_is_better else 1.0
    rankings = {
        s: sorted((c for c in choices if (c, s) in mean), key=lambda c, s=s: sign * mean[(c, s)])
        for s in sizes
    }
    return RankAgreement(
        pairs=pairs,
        rankings=rankings,
        level=level,
        n_bootstrap=int(n_bootstrap),
        higher_is_better=bool(higher_is_better),
    )


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


# ---------------------------------------------------------------------------------------
# Compression: prequential code length against general-purpose compressors


def _check_bytes(data: Any, name: str = "data") -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"{name} must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise InputError(f"{name} is empty; bits per byte needs at least one byte")
    return data


def _xz(data: bytes) -> bytes:
    """xz at preset 9 | EXTREME, its dictionary capped at the input's size: the output is
    the same (a match cannot reach past the input) without allocating ~700 MiB."""
    dict_size = min(max(len(data), 4096), 64 << 20)
    return lzma.compress(
        data,
        filters=[
            {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": dict_size}
        ],
    )


def baseline_bits_per_byte(data: bytes) -> dict[str, float]:
    """Bits per byte that gzip -9, bz2 -9 and xz -9e achieve on `data`.

    Compressed length (container headers included: tens of bytes, which matter only for
    samples of a few kB) * 8 / len(data).
    """
    data = _check_bytes(data)
    sizes = {
        "gzip": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "bz2": len(bz2.compress(data, compresslevel=9)),
        "lzma": len(_xz(data)),
    }
    return {k: 8.0 * v / len(data) for k, v in sizes.items()}


def code_length_bits(losses_nats: Any, tokens: Any) -> float:
    """Prequential code length of a training stream, in bits: sum(loss_i * tokens_i) / ln 2.

    `losses_nats` are per-batch mean losses (nats/token) measured before each batch's
    update, `tokens` the tokens per batch (one number or one per batch).  Only the first
    pass over the data is a code for it: repeated tokens have been seen before.
    """
    loss = _finite_1d(np.atleast_1d(losses_nats), "losses_nats")
    if loss.size == 0:
        raise InputError("losses_nats is empty")
    tok = _finite_1d(np.atleast_1d(tokens), "tokens")
    if np.ndim(tokens) == 0:  # the same batch size throughout
        tok = np.full(loss.shape, tok[0])
    if len(tok) != len(loss):
        raise InputError(f"tokens has {len(tok)} entries but losses_nats has {len(loss)}")
    for name, arr in (("losses_nats", loss), ("tokens", tok)):
        bad = np.flatnonzero(arr < 0)
        if bad.size:
            raise InputError(f"{name}[{int(bad[0])}] is {arr[bad[0]]:g}; must be >= 0")
    return float(np.sum(loss * tok) / math.log(2))


def bits_per_byte(code_bits: float, n_bytes: int) -> float:
    """Code length per byte of raw text (8 means no compression)."""
    bits = _finite_1d([code_bits], "code_bits")[0]
    n = _finite_1d([n_bytes], "n_bytes")[0]
    if bits < 0:
        raise InputError(f"code_bits must be >= 0, got {code_bits!r}")
    if n <= 0:
        raise InputError(f"n_bytes must be positive, got {n_bytes!r}")
    return float(bits / n)


@dataclass
class CompressionRow(Result):
    """One domain: the model's bits per byte against the compressors' on a sample."""

    domain: str
    model_bits_per_byte: float
    gzip: float | None
    bz2: float | None
    lzma: float | None
    code_bits: float
    n_bytes: int
    sample_bytes: int | None


def compression_table(
    code_bits_by_domain: Mapping[str, float],
    bytes_by_domain: Mapping[str, int],
    samples: Mapping[str, bytes] | None = None,
) -> list[CompressionRow]:
    """One row per domain of `code_bits_by_domain`: the model's code length per raw byte,
    and gzip / bz2 / lzma bits per byte measured on that domain's sample bytes (None for a
    domain without a sample).  The baselines see a sample, not the whole stream, so the
    comparison is as good as the sample is representative.  Extra keys are ignored.
    """
    if not code_bits_by_domain:
        raise InputError("code_bits_by_domain is empty")
    samples = samples or {}
    rows = []
    for domain, bits in code_bits_by_domain.items():
        if domain not in bytes_by_domain:
            raise InputError(f"bytes_by_domain has no entry for domain {domain!r}")
        n_bytes = bytes_by_domain[domain]
        model_bpb = bits_per_byte(bits, n_bytes)
        base: dict[str, float | None] = dict.fromkeys(("gzip", "bz2", "lzma"))
        sample = samples.get(domain)
        if sample is not None:
            base = dict(baseline_bits_per_byte(_check_bytes(sample, f"samples[{domain!r}]")))
        rows.append(
            CompressionRow(
                domain=str(domain),
                model_bits_per_byte=model_bpb,
                code_bits=float(bits),
                n_bytes=int(n_bytes),
                sample_bytes=None if sample is None else len(sample),
                **base,
            )
        )
    return rows


# ---------------------------------------------------------------------------------------
# Data scaling at one model size


@dataclass
class DataScaling(Result):
    """A step law L(D) = E + B D^-a fitted to one model's loss against training tokens.

    `still_improving` is whether doubling the tokens is predicted to lower the loss by more
    than `tolerance` nats.  `ci` (parameter -> [low, high]) and `drop_ci` (of the drop from
    doubling) come from a bootstrap over points, when one was asked for.  `law` is the
    fitted StepLaw (left out of `to_dict`).
    """

    E: float
    B: float
    a: float
    tokens: float
    loss_at_last: float
    loss_at_2x: float
    loss_at_10x: float
    drop_from_doubling: float
    still_improving: bool
    tolerance: float
    tokens_per_param: float | None
    ci: dict[str, list[float]]
    drop_ci: tuple[float, float] | None
    law: StepLaw = field(repr=False)


def _doubling_drop(B: Any, a: Any, tokens: float) -> Any:
    """L(D) - L(2D) = B D^-a (1 - 2^-a)."""
    return B * tokens**-a * (1.0 - 2.0**-a)


def data_scaling_at_fixed_size(
    tokens: Any,
    losses: Any,
    n_bootstrap: int = 0,
    n_params: float | None = None,
    tolerance: float = 0.01,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    min_fraction: float = 0.0,
) -> DataScaling:
    """Would more data still help this model?  Fit E + B D^-a to its loss curve.

    `tokens` (positive) and `losses` are one run's evaluations; `min_fraction` leaves out
    the points before that fraction of the largest token count (warm-up).  Predictions at
    2x and 10x the last token count extrapolate the law.
    """
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance!r}")
    if n_params is not None and not (np.isfinite(n_params) and n_params > 0):
        raise InputError(f"n_params must be positive, got {n_params!r}")
    D = _finite_1d(tokens, "tokens")
    y = _finite_1d(losses, "losses")
    if len(D) != len(y):
        raise InputError(f"tokens and losses differ in length ({len(D)} vs {len(y)})")
    law = StepLaw(min_fraction=min_fraction, n_bootstrap=n_bootstrap, level=level, seed=seed)
    law.fit(D, y)
    last = float(D.max())
    pred = law.predict(np.array([last, 2 * last, 10 * last]))
    p = law.params_
    drop = float(_doubling_drop(p["B"], p["a"], last))
    drop_ci = None
    if law.boot_params_ is not None and len(law.boot_params_):
        bp = law.boot_params_
        lo, hi = percentile_interval(_doubling_drop(bp[:, 1], bp[:, 2], last), level)
        drop_ci = (float(lo), float(hi))
    return DataScaling(
        E=p["E"],
        B=p["B"],
        a=p["a"],
        tokens=last,
        loss_at_last=float(pred[0]),
        loss_at_2x=float(pred[1]),
        loss_at_10x=float(pred[2]),
        drop_from_doubling=drop,
        still_improving=bool(drop > tolerance),
        tolerance=float(tolerance),
        tokens_per_param=None if n_params is None else last / float(n_params),
        ci=dict(law.ci_),
        drop_ci=drop_ci,
        law=law,
    )
