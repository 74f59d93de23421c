"""Glue from phase-trained runs in the store to the phase law and the best P-phase schedule.

A run's phases come from its recorded schedule (`schedule.mixture`): a curriculum of P stages
gives its P mixtures and fractions; a static run is the same mixture in every phase, at the
phase fractions of the study (a static run is every P-phase schedule with equal phases).
Online runs (whose recorded schedule is the sequence of mixtures they followed) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.crossval import CVReport
from mixlab.laws.mixing.multiphase import phase_features, phase_names


def run_phases(
    record: Any, domains: Sequence[str], n_phases: int, fractions: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(mixtures (P, d), fractions (P,)) of one run record; InputError naming the run."""
    schedule = (record.schedule or {}).get("mixture") or {
        "kind": "static",
        "weights": record.mixture,
    }
    if (record.schedule or {}).get("online"):
        raise InputError(f"run {record.id!r} mixes online: its phases are not a design point")
    kind = schedule.get("kind", "static")
    if kind == "static":
        w = [float(schedule["weights"].get(d, 0.0)) for d in domains]
        return np.array([w] * n_phases), np.asarray(fractions, float)
    if kind == "curriculum" and len(schedule["stages"]) == n_phases:
        stages = schedule["stages"]
        mixtures = np.array([[float(s["weights"].get(d, 0.0)) for d in domains] for s in stages])
        return mixtures, np.array([float(s["fraction"]) for s in stages])
    raise InputError(
        f"run {record.id!r}: a {kind} schedule"
        + (f" of {len(schedule['stages'])} stages" if kind == "curriculum" else "")
        + f" is not a {n_phases}-phase schedule"
    )


def phase_table(
    records: Sequence[Any],
    domains: Sequence[str],
    n_phases: int,
    fractions: Sequence[float] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The runs' phase features (index run id, columns `domain@k`) and their fractions (n, P).

    Static runs take `fractions` (default: the phase runs' own, when they all share one)."""
    parsed = []
    if fractions is None:
        seen = {
            tuple(s["fraction"] for s in r.schedule["mixture"]["stages"])
            for r in records
            if (r.schedule or {}).get("mixture", {}).get("kind") == "curriculum"
        }
        fractions = list(seen.pop()) if len(seen) == 1 else [1.0 / n_phases] * n_phases
    for r in records:
        parsed.append(run_phases(r, domains, n_phases, fractions))
    W = np.array([m for m, _ in parsed])
    F = np.array([f for _, f in parsed])
    X = phase_features(W, F)
    table = pd.DataFrame(X, index=[r.id for r in records], columns=phase_names(domains, n_phases))
    return table, F


def fit_phase_law(
    records: Sequence[Any],
    metrics: pd.DataFrame,
    targets: Sequence[str],
    weights: Mapping[str, float] | None = None,
    *,
    n_phases: int = 2,
    domains: Sequence[str] | None = None,
    kind: str = "auto",
    fractions: Sequence[float] | None = None,
    seed: int = 0,
    n_splits: int = 5,
    target_name: str = "weighted",
) -> tuple[MixingLaw, CVReport, np.ndarray]:
    """A mixing law of `kind` on the runs' phase features, cross-validated as `law fit` does;
    also returns the runs' fractions (for `optimize_schedule(observed_fractions=...)`)."""
    from mixlab.studies.mixing_fit import fit_law

    if domains is None:
        domains = list(dict.fromkeys(d for r in records for d in r.mixture))
    X, F = phase_table(records, domains, n_phases, fractions)
    law, report = fit_law(
        kind,
        X,
        metrics.loc[X.index],
        targets,
        weights,
        seed=seed,
        n_splits=n_splits,
        target_name=target_name,
    )
    return law, report, F


def schedule_from_store(
    store: Any,
    *,
    tag: str | None,
    n_phases: int,
    targets: Sequence[str] = (),
    fractions: Sequence[Sequence[float]] | None = None,
    kind: str = "auto",
    seed: int = 0,
    within_range: bool = True,
    **constraint_flags: Any,
) -> dict[str, Any]:
    """Fit the phase law on the store's done, non-online runs (of `tag`) and optimise a
    P-phase schedule. `targets` are averaged (default: every domain's val_loss, as the demo);
    `constraint_flags` are `law optimize`'s (prior, cap, lower, upper, available_tokens,
    token_budget, max_epochs). Returns the schedule's dict with the law's choice and CV."""
    from types import SimpleNamespace

    from mixlab.laws.mixing.multiphase import optimize_schedule
    from mixlab.studies.mixing_fit import constraints

    records = [store.get(i) for i in store.ids(tag=tag, status="done")]
    records = [r for r in records if not (r.schedule or {}).get("online")]
    if len(records) < 4:
        raise InputError(
            f"--tag {tag}: {len(records)} finished runs without online mixing; a phase law "
            "needs at least 4 (a swarm: `mixtures: {phases: P}` in a sweep config)"
        )
    domains = list(dict.fromkeys(d for r in records for d in r.mixture))
    name = targets[0] if len(targets) == 1 else "target"
    if not targets:
        targets, name = [f"val_loss/{d}" for d in domains], "val_loss/avg"
    metrics = store.metrics([r.id for r in records])
    missing = [t for t in targets if t not in metrics.columns]
    if missing:
        raise InputError(f"--target: no run records {missing[0]!r}")
    law, report, seen = fit_phase_law(
        records,
        metrics,
        targets,
        None if len(targets) == 1 else {t: 1 / len(targets) for t in targets},
        n_phases=n_phases,
        domains=domains,
        kind=kind,
        seed=seed,
        target_name=name,
    )
    cons = constraints(SimpleNamespace(domain_names_=domains), **constraint_flags)
    result = optimize_schedule(
        law,
        cons,
        fractions=fractions if fractions else seen[0],
        observed_fractions=seen,
        reference="prior" if cons.prior is not None else None,
        within_range=within_range,
        seed=seed,
    )
    return {
        **result.to_dict(),
        "stages": result.stages(),
        "runs": len(records),
        "law": getattr(law, "selection_", [{}])[0].get("chosen", kind),
        "cv_mae": float(report.mae_mean[0]),
        "cv_mae_predict_the_mean": float(report.baseline_mae_mean[0]),
        "fit_warnings": [str(w) for w in getattr(law, "fit_warnings_", [])],
    }
