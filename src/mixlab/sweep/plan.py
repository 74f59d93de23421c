"""Experiment plans: mixtures × model sizes × token budgets × seeds, as a list of run configs.

Every run's id is a hash of its whole configuration, so the same plan always names the same
runs and a run already in the store is never trained twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mixlab.errors import InputError
from mixlab.io.files import format_validation_error, load_typed_yaml, read_json, write_text
from mixlab.train.config import ModelSpec, TrainConfig, parse_train_config

PLAN_VERSION = 1


class MixtureDesign(BaseModel):
    """Which mixtures to train: RegMix's Dirichlet design around a prior, a grid, or a list."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["dirichlet", "grid", "list"] = "dirichlet"
    n: int = Field(default=16, gt=0, description="dirichlet: how many mixtures")
    prior: Literal["natural", "uniform"] | dict[str, float] = "natural"
    concentration: tuple[float, float] = (0.3, 5.0)
    cap: float | None = Field(default=4.0, gt=0, description="no weight above cap × its prior")
    decimals: int = Field(default=3, ge=1, le=8)
    grid: int = Field(default=4, gt=0, description="grid: weights are multiples of 1/grid")
    mixtures: list[dict[str, float]] = Field(default_factory=list, description="list: the mixtures")
    include_prior: bool = Field(default=True, description="also train the prior mixture itself")
    seed: int = 0
    phases: int = Field(
        default=1, ge=1, le=8, description="dirichlet: P > 1 trains P-phase schedules"
    )
    fractions: list[float] | None = Field(
        default=None, description="phases: each phase's share of the tokens (default equal)"
    )


class SweepConfig(BaseModel):
    """A sweep: shared training settings (`base`) and the axes it varies."""

    model_config = ConfigDict(extra="forbid")

    base: dict[str, Any]
    mixtures: MixtureDesign = Field(default_factory=MixtureDesign)
    models: list[str | ModelSpec] = Field(min_length=1)
    tokens: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    tags: list[str] = Field(default_factory=list)


def load_sweep_config(path: str | Path) -> tuple[SweepConfig, Path]:
    return load_typed_yaml(path, SweepConfig, "sweep config")


def natural_shares(data_dir: Path) -> dict[str, float]:
    """Each domain's share of the prepared train tokens (the 'natural' mixture)."""
    from mixlab.data.prepared import load_prepared

    return load_prepared(data_dir).token_shares()


def design_mixtures(
    design: MixtureDesign, domains: list[str], natural: dict[str, float]
) -> list[dict[str, float]]:
    """The mixtures a design asks for, each a {domain: weight} summing to 1."""
    from mixlab.laws.mixing import design as designs

    if design.kind == "list":
        if not design.mixtures:
            raise InputError("mixtures.mixtures: a list design needs at least one mixture")
        matrix, _ = designs.validate_mixture_list(design.mixtures, domains)
        return [dict(zip(domains, map(float, row), strict=True)) for row in matrix]
    prior = _prior(design.prior, domains, natural)
    if design.kind == "grid":
        matrix = designs.simplex_grid(len(domains), design.grid)
    else:
        matrix = designs.dirichlet_design(
            prior,
            design.n,
            concentration=design.concentration,
            cap=design.cap,
            decimals=design.decimals,
            seed=design.seed,
        )
    rows = [dict(zip(domains, map(float, row), strict=True)) for row in matrix]
    if design.include_prior:
        prior_row = dict(zip(domains, map(float, prior), strict=True))
        if not any(np.allclose(list(r.values()), prior) for r in rows):
            rows.insert(0, prior_row)
    return rows


def design_schedules(
    design: MixtureDesign, domains: list[str], natural: dict[str, float]
) -> list[dict[str, Any]]:
    """The runs' `mixture` values: static mixtures, or with `phases` P > 1 curricula of P
    phases whose mixtures are drawn independently from the design (Marin's two-phase swarms;
    RegMix-D), the prior in every phase first when `include_prior`."""
    if design.phases == 1:
        if design.fractions is not None:
            raise InputError("mixtures.fractions: only with phases > 1")
        return [
            {d: w for d, w in m.items() if w > 0} for m in design_mixtures(design, domains, natural)
        ]
    if design.kind != "dirichlet":
        raise InputError(f"mixtures.phases: a {design.kind} design has no phases; use dirichlet")
    P = design.phases
    fractions = design.fractions or [1.0 / P] * P
    if len(fractions) != P or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise InputError(
            f"mixtures.fractions: {fractions} must be {P} positive shares summing to 1"
        )
    draws = design_mixtures(
        design.model_copy(update={"n": design.n * P, "include_prior": False}), domains, natural
    )
    runs = [draws[i : i + P] for i in range(0, len(draws), P)]
    if design.include_prior:
        prior = dict(zip(domains, map(float, _prior(design.prior, domains, natural)), strict=True))
        runs.insert(0, [prior] * P)
    return [
        {
            "kind": "curriculum",
            "stages": [
                {"fraction": f, "weights": {d: w for d, w in m.items() if w > 0}}
                for f, m in zip(fractions, phases, strict=True)
            ],
        }
        for phases in runs
    ]


def _prior(
    prior: str | dict[str, float], domains: list[str], natural: dict[str, float]
) -> np.ndarray:
    if prior == "natural":
        vec = np.array([natural[d] for d in domains])
    elif prior == "uniform":
        vec = np.full(len(domains), 1 / len(domains))
    else:
        unknown = sorted(set(prior) - set(domains))
        if unknown:
            raise InputError(f"mixtures.prior names unknown domain(s) {unknown} (have {domains})")
        vec = np.array([prior.get(d, 0.0) for d in domains])
        bad = [d for d, v in zip(domains, vec, strict=True) if not (np.isfinite(v) and v >= 0)]
        if bad:
            raise InputError(
                f"mixtures.prior: share of {bad[0]!r} is {float(prior[bad[0]]):g}; "
                "shares must be finite and >= 0"
            )
    return vec / vec.sum()


def make_plan(
    sweep: SweepConfig, base_dir: Path, origin: str = "sweep config"
) -> list[TrainConfig]:
    """Every run of the sweep, validated, in a stable order (mixture, model, tokens, seed).

    `origin` (the config file) is named in the messages about a run that does not validate.
    """
    probe = parse_train_config(
        {**sweep.base, "mixture": {"_": 1.0}, "model": {"preset": "25k"}, "tokens": 1},
        f"{origin}: base",
        base_dir,
    )
    natural = natural_shares(probe.data)
    domains = list(natural)
    mixtures = design_schedules(sweep.mixtures, domains, natural)
    runs = [
        expand_run(
            sweep.base,
            mixture,
            model,
            tokens,
            seed,
            sweep.tags,
            f"{origin}: run (mixture {i}, model {model if isinstance(model, str) else 'custom'}"
            f", tokens {tokens}, seed {seed})",
            base_dir,
        )
        for (i, mixture), model, tokens, seed in itertools.product(
            enumerate(mixtures), sweep.models, sweep.tokens, sweep.seeds
        )
    ]
    check_unique_runs(runs, origin, sweep, mixtures)
    return runs


def model_spec(model: str | ModelSpec) -> dict[str, Any]:
    """A model axis value (a preset name or a spec) as the run config's `model` field."""
    return {"preset": model} if isinstance(model, str) else model.model_dump()


def expand_run(
    base: Mapping[str, Any],
    mixture: Mapping[str, float],
    model: str | ModelSpec,
    tokens: int,
    seed: int,
    tags: Sequence[str],
    origin: str,
    base_dir: Path,
    **fields: Any,
) -> TrainConfig:
    """One run of a plan: `base` fields at one point of the axes (mixture, model, tokens,
    seed), tags appended to the base's.  The one expander of sweeps and studies; `fields`
    override base fields (a study's probes)."""
    doc = {
        **base,
        **fields,
        "mixture": dict(mixture),
        "model": model_spec(model),
        "tokens": tokens,
        "seed": seed,
        "tags": list(dict.fromkeys([*base.get("tags", []), *tags])),
    }
    return parse_train_config(doc, origin, base_dir)


def _repeated(values: list) -> object | None:
    seen = []
    for v in values:
        if v in seen:
            return v
        seen.append(v)
    return None


def check_unique_runs(
    runs: list[TrainConfig],
    origin: str,
    sweep: SweepConfig | None = None,
    mixtures: list[dict[str, float]] | None = None,
) -> None:
    """Refuse a plan in which two runs share an id (they would train at once, twice)."""
    first: dict[str, int] = {}
    for i, run in enumerate(runs):
        if run.id not in first:
            first[run.id] = i
            continue
        where = f"runs[{first[run.id]}] and runs[{i}] have the same run id {run.id!r}"
        axis = None
        if sweep is not None:
            models = [m if isinstance(m, str) else m.model_dump_json() for m in sweep.models]
            for name, values in (
                ("seeds", sweep.seeds),
                ("tokens", sweep.tokens),
                ("models", models),
                ("mixtures", mixtures or []),
            ):
                if (value := _repeated(values)) is not None:
                    axis = f"{name} repeats {value!r}"
                    break
            if axis is None and "run_id" in sweep.base:
                axis = "base.run_id gives every run the same id; leave run ids to the plan"
        raise InputError(
            f"{origin}: {axis + ': ' if axis else ''}{where}; every run of a plan must be distinct"
        )


def save_plan(runs: list[TrainConfig], path: str | Path, sweep: SweepConfig | None = None) -> None:
    doc = {
        "version": PLAN_VERSION,
        "sweep": None if sweep is None else sweep.model_dump(mode="json"),
        "runs": [{**r.model_dump(mode="json"), "run_id": r.id} for r in runs],
    }
    write_text(path, json.dumps(doc, indent=1) + "\n")


def load_plan(path: str | Path) -> list[TrainConfig]:

    path = Path(path)
    doc = read_json(path, expect=dict, what="a plan from `mixlab sweep plan`")
    if doc.get("version") != PLAN_VERSION or not isinstance(doc.get("runs"), list):
        raise InputError(
            f"{path}: not a mixlab plan (version {PLAN_VERSION}, with a list of "
            "runs); write one with `mixlab sweep plan`"
        )
    runs = []
    for i, run in enumerate(doc.get("runs", [])):
        try:
            runs.append(TrainConfig.model_validate(run))
        except ValidationError as e:
            raise InputError(format_validation_error(f"{path}: runs[{i}]", e)) from None
    sweep = None
    if isinstance(doc.get("sweep"), dict):
        try:
            sweep = SweepConfig.model_validate(doc["sweep"])
        except ValidationError:
            sweep = None  # the axes only help name a duplicate; the runs are what counts
    check_unique_runs(runs, str(path), sweep)
    return runs
