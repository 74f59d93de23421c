"""`phase predict`: the capacity-allocation theory fed from a study's web-only runs.

The web loss of web-only runs at several sizes gives L(M) = C + A·M^-alpha in capacity
M = bits_per_param·N; the study's knowledge set gives the fact groups (how many facts, how
often each occurs per knowledge token, how many bits each holds); `CapacityTheory` then
solves the knapsack for the critical ratio at each size and the critical size at each ratio.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import read_json


def fact_groups_from_study(study: dict[str, Any], bits_per_fact: float | None = None) -> list:
    """One FactGroup per (popularity group, attribute): count, exposure per knowledge token, bits."""
    from mixlab.laws.phase.transition import FactGroup

    groups = study["groups"]
    total_renderings = sum(g["people"] * g["renderings_per_person"] for g in groups)
    per_token = 1.0 / study["tokens_per_rendering"]
    out = []
    for g in groups:
        share = g["renderings_per_person"] / total_renderings  # of knowledge renderings, per person
        for attribute, bits in study["bits_per_fact"].items():
            out.append(
                FactGroup(
                    count=g["people"],
                    exposure=share * per_token,
                    bits=bits_per_fact or bits,
                    name=f"{g['group']}:{attribute}",
                )
            )
    return out


def uniform_fact_groups(people: int, tokens_per_biography: float, bits_per_fact: float | None):
    """Fact groups of a uniform biography set (every person equally often), 5 attributes."""
    from mixlab.studies.phase import fact_bits

    study = {
        "groups": [{"group": 0, "people": people, "renderings_per_person": 1.0}],
        "tokens_per_rendering": tokens_per_biography,
        "bits_per_fact": fact_bits(),
    }
    return fact_groups_from_study(study, bits_per_fact)


def _theory_variants(web: pd.DataFrame, groups: list, bits_per_param: float, bits_range):
    """The theory under each capacity in bits_range and each leave-one-size-out web law."""
    from mixlab.laws.phase.transition import CapacityTheory, WebCapacityLaw

    sizes = web["model_size"].to_numpy(float)
    losses = web["web_loss"].to_numpy(float)
    subsets = [np.ones(sizes.size, bool)]
    if np.unique(sizes).size >= 4:
        subsets += [sizes != s for s in np.unique(sizes)]
    out = []
    for bpp in sorted({*bits_range, bits_per_param}):
        for keep in subsets:
            try:
                law = WebCapacityLaw(bits_per_param=bpp).fit(sizes[keep], losses[keep])
            except InputError:
                continue
            if law.params_["alpha"] > 0 and law.params_["A"] > 0:  # else: no capacity trade-off
                out.append(CapacityTheory(law, groups))
    return out


def _spread(values: list[float | None]) -> dict[str, Any]:
    """[least, greatest] of the variants' predictions, and how many had no crossing."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return {
        "range": [min(finite), max(finite)] if finite else None,
        "variants": len(values),
        "variants_without_crossing": len(values) - len(finite),
    }


def _exponent_range(variants: list, sizes: list[float], threshold: float) -> list[float] | None:
    """[least, greatest] slope of ln r* on ln N over `sizes` across the theory's variants."""
    slopes = []
    for t in variants:
        points = [(s, t.critical_ratio(s, threshold)) for s in sizes]
        points = [(s, r) for s, r in points if r is not None]
        if len(points) >= 2:
            x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
            slopes.append(-float(np.polyfit(x, y, 1)[0]))
    return [min(slopes), max(slopes)] if slopes else None


def read_web_losses(path: Path) -> pd.DataFrame:
    """A CSV with model_size and web_loss columns (positive numbers), errors naming the line."""
    from mixlab.studies.scaling_fit import read_columns

    cols = read_columns(path, {"model_size": "model_size", "web_loss": "web_loss"})
    return pd.DataFrame(cols)


def read_phase_fit(path: Path) -> dict[str, Any]:
    """PHASE.json written by `phase fit`: its critical ratios (and sizes) by key."""
    doc = read_json(path, expect=dict, what="PHASE.json from `mixlab phase fit`")
    for key in ("critical_ratio", "critical_size"):
        table = doc.get(key, {})
        if not isinstance(table, dict) or not all(
            isinstance(v, dict) and "value" in v for v in table.values()
        ):
            raise InputError(
                f"{path}: field {key!r} is not a table of {{size: {{value: ...}}}} "
                "(expected PHASE.json from `mixlab phase fit`)"
            )
    if "critical_ratio" not in doc:
        raise InputError(
            f"{path}: no field 'critical_ratio' (expected PHASE.json from `mixlab phase fit`)"
        )
    if not isinstance(doc.get("power_law", {}), dict):
        raise InputError(f"{path}: field 'power_law' must be an object")
    return doc


# Over 80 lines with its 13 parameters and their docstring; the body (~60 lines) is named
# steps: web losses, web law, fact groups, critical tables, slope, the JSON document.
def predict_from_study(
    study: Path | None = None,
    store: Path | None = None,
    tag: str | None = None,
    web_csv: Path | None = None,
    people: int | None = None,
    tokens_per_biography: float | None = None,
    bits_per_fact: float | None = None,
    bits_per_param: float = 2.0,
    sizes: list[float] | None = None,
    ratios: list[float] | None = None,
    threshold: float = 0.5,
    phase: Path | None = None,
    bits_range: tuple[float, float] = (1.0, 2.0),
) -> dict[str, Any]:
    """Fit the web-loss law, build the fact groups, and predict r* and N* (JSON-ready).

    Each prediction carries a sensitivity range (`range`): the least and greatest value
    over capacities of bits_range bits per parameter (Allen-Zhu & Li: about 1 at 100
    exposures, 2 at 1,000) and, with >= 4 web-only sizes, the web law refitted without
    each size in turn.  It is the theory's own uncertainty, not a calibrated interval.
    """
    from mixlab.laws.phase.transition import CapacityTheory, WebCapacityLaw
    from mixlab.studies.phase import load_study

    info = load_study(study) if study is not None else None
    web = _web_losses(info, web_csv, store, tag)
    per_size = web.groupby("model_size")["web_loss"].mean()
    if len(per_size) < 3:
        raise InputError(
            f"the web-loss law needs web-only runs at >= 3 model sizes, "
            f"got {len(per_size)} ({', '.join(f'{s:g}' for s in per_size.index)})"
        )
    law = WebCapacityLaw(bits_per_param=bits_per_param).fit(
        web["model_size"].to_numpy(float), web["web_loss"].to_numpy(float)
    )

    groups = _fact_groups(info, people, tokens_per_biography, bits_per_fact)
    theory = CapacityTheory(law, groups)
    variants = _theory_variants(web, groups, bits_per_param, bits_range)

    fitted = read_phase_fit(phase) if phase else None
    if sizes is None:
        sizes = (
            [float(s) for s in fitted["critical_ratio"]]
            if fitted
            else [float(s) for s in per_size.index]
        )
    if ratios is None:
        if fitted:
            ratios = [float(r) for r in fitted["critical_size"]]
        else:
            ratios = [float(r) for r in (info or {}).get("config", {}).get("ratios", [])]
    crit_ratio = _critical_table(theory.critical_ratio, variants, sizes, threshold, fitted, "ratio")
    crit_size = _critical_table(theory.critical_size, variants, ratios, threshold, fitted, "size")
    lo, hi = min(sizes), max(sizes)
    grid = np.geomspace(lo / 2, hi * 2, 25)
    curve = [theory.critical_ratio(float(n), threshold) for n in grid]
    slope = _theory_slope(crit_ratio, sizes, grid, curve)
    power_law = (fitted or {}).get("power_law", {})
    exponent: dict[str, Any] = {
        "theory": slope,
        "asymptotic": theory.asymptotic_exponent,
        "fitted": power_law.get("exponent"),
        "fitted_ci": (power_law.get("ci") or {}).get("exponent"),
    }
    theory_exponent = _exponent_range(variants, sizes, threshold)
    exponent["range"] = theory_exponent
    return {
        "threshold": threshold,
        "bits_per_param": bits_per_param,
        "bits_range": list(bits_range),
        "web_law": {k: float(v) for k, v in law.params_.items()},
        "web_points": int(len(per_size)),
        "web_losses": {format(float(s), "g"): float(v) for s, v in per_size.items()},
        "facts": int(sum(g.count for g in groups)),
        "fact_bits": float(sum(g.count * g.bits for g in groups)),
        "critical_ratio": crit_ratio,
        "critical_size": crit_size,
        "exponent": exponent,
        "curve": {
            "sizes": grid.tolist(),
            "critical_ratio": [None if c is None or not math.isfinite(c) else c for c in curve],
        },
    }


def _web_losses(
    info: dict[str, Any] | None, web_csv: Path | None, store: Path | None, tag: str | None
) -> pd.DataFrame:
    """The web-only runs' losses by model size, from a CSV or from the store."""
    from mixlab.studies.phase import web_loss_table

    if (web_csv is None) == (store is None):
        raise InputError("give exactly one of --web CSV or --store DB (with the web-only runs)")
    if web_csv is not None:
        return read_web_losses(web_csv)
    from mixlab.runs import RunStore

    domains = info["web_domains"] if info else None
    if domains is None:
        raise InputError("--store needs --study (which names the web domains)")
    with RunStore(store, create=False) as db:
        return web_loss_table(db, domains, tag=tag)


def _fact_groups(
    info: dict[str, Any] | None,
    people: int | None,
    tokens_per_biography: float | None,
    bits_per_fact: float | None,
) -> list:
    """The fact groups to store: the study's, or uniform ones from the people and tokens."""
    if info is not None:
        return fact_groups_from_study(info, bits_per_fact)
    if people and tokens_per_biography:
        return uniform_fact_groups(people, tokens_per_biography, bits_per_fact)
    raise InputError("give --study, or --people and --tokens-per-biography")


def _critical_table(
    predict, variants: list, points: list[float], threshold: float, fitted, kind: str
) -> dict[str, dict[str, Any]]:
    """r* by size (`kind` "ratio") or N* by ratio ("size"): the theory's value, its
    sensitivity range over `variants`, and the fitted value where PHASE.json has one."""
    key = f"critical_{kind}"
    table = {}
    for x in points:
        entry: dict[str, Any] = {
            "theory": predict(x, threshold),
            **_spread([getattr(t, key)(x, threshold) for t in variants]),
        }
        if fitted and format(x, "g") in fitted.get(key, {}):
            entry["fitted"] = fitted[key][format(x, "g")]["value"]
        table[format(x, "g")] = entry
    return table


def _theory_slope(
    crit_ratio: dict[str, dict[str, Any]], sizes: list[float], grid: np.ndarray, curve: list
) -> float | None:
    """The theory's slope of ln r* on ln N over the asked sizes (or the plotted grid)."""
    finite = [(n, c) for n, c in zip(grid, curve, strict=True) if c is not None]
    points = [
        (s, crit_ratio[format(s, "g")]["theory"])
        for s in sizes
        if crit_ratio[format(s, "g")]["theory"] is not None
    ]
    points = points if len(points) >= 2 else finite
    return (
        -float(np.polyfit(np.log([p[0] for p in points]), np.log([p[1] for p in points]), 1)[0])
        if len(points) >= 2
        else None
    )


# Bytes per BPE token of the biographies before the study's tokenizer exists (measured: about 5
# with a 2048-entry BPE trained on the study's data; a smaller vocabulary packs fewer).
BYTES_PER_TOKEN_ESTIMATE = 4.0


def capacity_plan(
    cfg,
    tokens_per_rendering: float | None = None,
    bits_per_param: tuple[float, float] = (1.0, 2.0),
) -> dict[str, Any]:
    """Size a phase config with the theory before running it: knowledge bits against capacity.

    Knowledge = people x the bits of one person's five facts.  Capacity = bits_per_param x N
    (non-embedding parameters), at 1 bit per parameter (Allen-Zhu & Li: about 100 exposures
    per fact) and 2 (about 1,000 exposures).  `learnable` is the share of the facts a model
    can hold at most (capacity / knowledge, at most 1): below the threshold at every ratio,
    the size cannot cross it however much knowledge is mixed in (capacity binds); near 1 it
    can hold them all (exposure binds).  `exposures` per person at each ratio =
    ratio x tokens / (people x tokens per rendering).
    """
    from mixlab.data.biographies import make_people, render_biography, render_compact
    from mixlab.studies.phase import fact_bits, model_label

    people = max(1, round(cfg.people * cfg.subsample))
    bits_person = sum(fact_bits().values())
    knowledge = people * bits_person
    if tokens_per_rendering is None:
        render = render_compact if cfg.rendering == "compact" else render_biography
        sample = [render(p, 0, cfg.seed) for p in make_people(50, cfg.seed)]
        mean_bytes = float(np.mean([len(t.encode()) + 1 for t in sample]))
        tokens_per_rendering = mean_bytes / BYTES_PER_TOKEN_ESTIMATE
    budget = max(cfg.tokens)
    exposures = {format(r, "g"): r * budget / (people * tokens_per_rendering) for r in cfg.ratios}
    sizes = []
    models = {model_label(m): m for m in [*cfg.models, *cfg.web_only]}
    mixed = {model_label(m) for m in cfg.models}
    for label, m in models.items():
        n = _nonembed(m)
        cap = {format(b, "g"): b * n for b in bits_per_param}
        sizes.append(
            {
                "model": label,
                "params_nonembed": n,
                "capacity_bits": cap,
                "learnable": {k: min(1.0, c / knowledge) for k, c in cap.items()},
                "mixed": label in mixed,
            }
        )
    return {
        "people": people,
        "bits_per_person": bits_person,
        "knowledge_bits": knowledge,
        "tokens": budget,
        "tokens_per_rendering": tokens_per_rendering,
        "exposures_per_person": exposures,
        "sizes": sizes,
    }


def _nonembed(model) -> int:
    """Non-embedding parameters of a preset name or a ModelSpec."""
    from mixlab.train.config import ModelSpec

    spec = ModelSpec(preset=model) if isinstance(model, str) else model
    return int(spec.build(1024, 128).n_params_nonembed())
