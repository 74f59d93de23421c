"""Mixture designs for sweeps: Dirichlet sampling around a prior, simplex grids, checks.

The Dirichlet design follows RegMix: each mixture draws its own concentration
log-uniformly from a range, then weights ~ Dirichlet(concentration * prior), so small
concentrations give sparse, extreme mixtures and large ones stay near the prior.  Mixtures
are rounded to a grid of 10**-decimals (largest-remainder rounding, so every row still sums
to exactly 1 in grid units), rejected when a weight exceeds `cap` times its prior share,
and de-duplicated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.checks import check_mixtures
from mixlab.mixture import WEIGHT_TOLERANCE

__all__ = [
    "check_prior",
    "dirichlet_design",
    "round_mixtures",
    "simplex_grid",
    "validate_mixture_list",
]


def check_prior(
    prior: Mapping[str, float] | Sequence[float] | np.ndarray,
    domain_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """A prior (e.g. natural token shares) as a normalised vector plus domain names."""
    if isinstance(prior, Mapping):
        names = [str(k) for k in prior] if domain_names is None else list(domain_names)
        unknown = [k for k in prior if str(k) not in names]
        if unknown:
            raise InputError(f"prior: unknown domain(s) {unknown}")
        vec = np.array([float(prior.get(n, 0.0)) for n in names])
    else:
        vec = np.asarray(prior, dtype=float).ravel()
        names = (
            list(domain_names)
            if domain_names is not None
            else [f"domain{i}" for i in range(vec.size)]
        )
        if len(names) != vec.size:
            raise InputError(f"prior: {vec.size} shares for {len(names)} domain names")
    bad = np.flatnonzero(~np.isfinite(vec) | (vec < 0))
    if bad.size:
        raise InputError(
            f"prior: share of {names[bad[0]]!r} is {float(vec[bad[0]]):g}; "
            "shares must be finite and >= 0"
        )
    if vec.sum() <= 0:
        raise InputError("prior: every share is zero")
    return vec / vec.sum(), names


def round_mixtures(W: np.ndarray, decimals: int) -> np.ndarray:
    """Round rows to multiples of 10**-decimals that still sum to 1 (largest remainder)."""
    if not (isinstance(decimals, int | np.integer) and 0 <= decimals <= 9):
        raise InputError(f"decimals must be an integer in [0, 9], got {decimals!r}")
    W = np.atleast_2d(np.asarray(W, dtype=float))
    units = 10 ** int(decimals)
    scaled = W / W.sum(axis=1, keepdims=True) * units
    base = np.floor(scaled)
    missing = (units - base.sum(axis=1)).round().astype(int)
    rem = scaled - base
    order = np.argsort(-rem, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(W.shape[1])[None, :].repeat(len(W), 0), axis=1)
    base += ranks < missing[:, None]
    return base / units


def dirichlet_design(
    prior: Mapping[str, float] | Sequence[float] | np.ndarray,
    n: int,
    *,
    concentration: tuple[float, float] = (0.1, 5.0),
    cap: float | None = 4.0,
    decimals: int | None = 3,
    deduplicate: bool = True,
    exclude: np.ndarray | None = None,
    seed: int = 0,
    max_draws: int | None = None,
) -> np.ndarray:
    """`n` mixtures drawn around `prior`, shape (n, d); deterministic given `seed`.

    `concentration=(lo, hi)`: per-mixture Dirichlet concentration, log-uniform in
    [lo, hi] (lo == hi fixes it).  `cap`: reject a mixture if any weight exceeds
    cap * prior share (None: no cap).  `decimals`: rounding grid (None: no rounding).
    `exclude`: existing mixtures that must not be drawn again.  Raises `InputError` when
    `max_draws` candidates (default 2000 * n) do not yield n acceptable mixtures.
    """
    p, _ = check_prior(prior)
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise InputError(f"n must be a positive integer, got {n!r}")
    lo, hi = (float(concentration[0]), float(concentration[1]))
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise InputError(f"concentration must be (lo, hi) with 0 < lo <= hi, got {concentration}")
    if cap is not None and not (np.isfinite(cap) and cap >= 1):
        raise InputError(f"cap must be >= 1 (a multiple of the prior share), got {cap!r}")
    rng = np.random.default_rng(seed)
    support = p > 0
    limit = np.inf if cap is None else cap * p + 1e-12
    max_draws = int(max_draws or 2000 * n)
    seen: set[bytes] = set()
    key_units = 10 ** (decimals if decimals is not None else 12)

    def key(row: np.ndarray) -> bytes:
        return np.round(row * key_units).astype(np.int64).tobytes()

    if exclude is not None:
        for row in np.atleast_2d(np.asarray(exclude, dtype=float)):
            seen.add(key(row))
    out: list[np.ndarray] = []
    drawn = 0
    while len(out) < n and drawn < max_draws:
        batch = int(min(max(4 * (n - len(out)), 256), max_draws - drawn))
        drawn += batch
        conc = np.exp(rng.uniform(np.log(lo), np.log(hi), batch))
        alpha = conc[:, None] * p[support][None, :]
        g = rng.gamma(alpha)
        W = np.zeros((batch, p.size))
        W[:, support] = g
        sums = W.sum(axis=1)
        W = W[sums > 0] / sums[sums > 0, None]
        if decimals is not None and len(W):
            W = round_mixtures(W, decimals)
        W = W[np.all(W <= limit, axis=1)]
        for row in W:
            if deduplicate:
                k = key(row)
                if k in seen:
                    continue
                seen.add(k)
            out.append(row)
            if len(out) == n:
                break
    if len(out) < n:
        raise InputError(
            f"dirichlet_design: only {len(out)} of {n} acceptable unique mixtures after "
            f"{drawn} draws; loosen cap ({cap}), use more decimals ({decimals}), or widen the "
            f"concentration range {concentration}"
        )
    return np.array(out)


def simplex_grid(n_domains: int, m: int, *, max_points: int = 1_000_000) -> np.ndarray:
    """Every mixture whose weights are multiples of 1/m, shape (C(m+d-1, d-1), d)."""
    if not (isinstance(n_domains, int | np.integer) and n_domains >= 1):
        raise InputError(f"n_domains must be a positive integer, got {n_domains!r}")
    if not (isinstance(m, int | np.integer) and m >= 1):
        raise InputError(f"m must be a positive integer, got {m!r}")
    count = math.comb(m + n_domains - 1, n_domains - 1)
    if count > max_points:
        raise InputError(
            f"simplex_grid: {count} points for {n_domains} domains at step 1/{m} exceeds "
            f"max_points={max_points}"
        )
    rows = []

    def rec(prefix: list[int], left: int, k: int) -> None:
        if k == 1:
            rows.append(prefix + [left])
            return
        for v in range(left, -1, -1):
            rec(prefix + [v], left - v, k - 1)

    rec([], m, n_domains)
    return np.array(rows, dtype=float) / m


def validate_mixture_list(
    mixtures: Any,
    domain_names: Sequence[str] | None = None,
    *,
    renormalize: bool = False,
    allow_duplicates: bool = False,
    atol: float = WEIGHT_TOLERANCE,
) -> tuple[np.ndarray, list[str]]:
    """Check user-given mixtures: a table, an array, or a list of {domain: weight} dicts.

    Missing domains in a dict count as 0; unknown domains, negative or non-finite weights,
    rows not summing to 1 (unless `renormalize`) and duplicate rows are `InputError`s that
    name the row.
    """
    if isinstance(mixtures, Sequence) and mixtures and isinstance(mixtures[0], Mapping):
        names = (
            list(domain_names)
            if domain_names is not None
            else sorted({str(k) for row in mixtures for k in row})
        )
        table = np.zeros((len(mixtures), len(names)))
        for i, row in enumerate(mixtures):
            for k, v in row.items():
                if str(k) not in names:
                    raise InputError(f"mixtures: row {i} names unknown domain {k!r}")
                try:
                    table[i, names.index(str(k))] = float(v)
                except (TypeError, ValueError):
                    raise InputError(
                        f"mixtures: row {i}, domain {k!r}: {v!r} is not a number"
                    ) from None
        mixtures, domain_names = table, names
    W, names = check_mixtures(mixtures, domain_names, renormalize=renormalize, atol=atol)
    if not allow_duplicates:
        first: dict[bytes, int] = {}
        for i, row in enumerate(np.round(W, 9)):
            k = row.tobytes()
            if k in first:
                raise InputError(f"mixtures: row {i} duplicates row {first[k]}")
            first[k] = i
    return W, names
