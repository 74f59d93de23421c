"""A P-phase schedule (mixtures with token boundaries) written for production trainers.

None of the consumers changes its blend inside one dataset: Megatron's BlendedDataset, an
OLMo-core `SourceMixtureDatasetConfig` and an HF spec each hold one mixture. So a schedule is
one file per phase, in the format's own mixture export (`export.mixtures.format_mixture`), each
with that phase's share of the budget as its token count, plus a manifest (`out`, JSON) with
the phases in order, their token boundaries [start, end), the files, and how to run them:

- megatron: run phase k with `--data-path $(cat phaseK file)` for its iterations, then resume
  from the checkpoint with the next phase's `--data-path` (the iteration counts are in the
  manifest when the global batch size is given);
- olmo: build each phase's dataset from its config (`SourceMixtureDatasetConfig.from_yaml`)
  and train on them in order (a new data loader per phase);
- hf: `load_hf_schedule(manifest)` concatenates the phases' mixed datasets in order
  (`datasets.concatenate_datasets`), one dataset for the whole run.
- json: the manifest alone, with every phase's mixture.

Epoch caps count every phase: phase k may repeat domain d only by the epochs its cap has
left after the phases before it (`remaining_epochs`), which is the `max_epochs` its file is
written (and checked) with. A phase's consumer reads its domain files from the start again,
so documents served in phase 1 can come back in phase 2 even below one epoch in total: use
different seeds per phase (the default here: seed + k - 1) and budget caps accordingly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mixlab.errors import InputError
from mixlab.export.mixtures import (
    FORMATS,
    ExportData,
    format_mixture,
    load_export_data,
    mixture_record,
)
from mixlab.mixture import check_mixture

EXTENSIONS = {"megatron": ".megatron.txt", "olmo": ".olmo.yaml", "hf": ".hf.json"}
HOW_TO = {
    "json": "the phases' mixtures and token boundaries; train phase k on its mixture for its tokens",
    "megatron": "train each phase with --data-path $(cat FILE) for its iterations, resuming from "
    "the previous phase's checkpoint (one blend per run)",
    "olmo": "SourceMixtureDatasetConfig.from_yaml(FILE) per phase, trained in order (one data "
    "loader per phase)",
    "hf": "mixlab.export.schedules.load_hf_schedule(MANIFEST): the phases concatenated in order",
}


def parse_phases(schedule: Any) -> list[tuple[float, dict[str, float]]]:
    """(fraction, mixture) per phase from a curriculum (`{"kind": "curriculum", "stages":
    [...]}`), a list of stages ({fraction, weights}) or a static mixture (one phase)."""
    if isinstance(schedule, Mapping) and schedule.get("kind") == "static":
        schedule = schedule["weights"]
    if isinstance(schedule, Mapping) and "stages" not in schedule and "kind" not in schedule:
        return [(1.0, check_mixture(schedule))]
    stages = schedule.get("stages") if isinstance(schedule, Mapping) else schedule
    if not isinstance(stages, Sequence) or not stages:
        raise InputError("schedule: expected a curriculum with stages, or a mixture")
    phases = []
    for k, stage in enumerate(stages):
        if not isinstance(stage, Mapping) or "fraction" not in stage or "weights" not in stage:
            raise InputError(f"schedule.stages[{k}]: needs fraction and weights")
        fraction = float(stage["fraction"])
        if not (math.isfinite(fraction) and fraction > 0):
            raise InputError(f"schedule.stages[{k}].fraction: {fraction} must be > 0")
        phases.append((fraction, check_mixture(stage["weights"])))
    total = math.fsum(f for f, _ in phases)
    if abs(total - 1) > 1e-6:
        raise InputError(f"schedule: stage fractions sum to {total:.6g}, not 1")
    return phases


def remaining_epochs(
    phases: Sequence[tuple[float, Mapping[str, float]]],
    requested_tokens: float,
    available: Mapping[str, float],
    max_epochs: Mapping[str, float] | None = None,
) -> list[dict[str, float]]:
    """Per phase, the epochs each of its domains may still use: its cap (default 1) less what
    the phases before it used. InputError when the schedule passes a cap in total."""
    caps = dict(max_epochs or {})
    used: dict[str, float] = {}
    out = []
    for k, (fraction, mixture) in enumerate(phases):
        left = {}
        for d, w in mixture.items():
            if w == 0:
                continue
            cap = float(caps.get(d, 1.0))
            if d not in available or available[d] <= 0:
                raise InputError(f"phase {k + 1}: no available tokens known for domain {d!r}")
            left[d] = cap - used.get(d, 0.0)
            need = w * fraction * requested_tokens / available[d]
            if need > left[d] * (1 + 1e-6) + 1 / available[d]:
                raise InputError(
                    f"phase {k + 1}: domain {d!r} needs {need:.3g} epochs but its cap of "
                    f"{cap:g} leaves {max(left[d], 0):.3g} after the earlier phases "
                    "(epoch caps count every phase; raise --max-epochs or lower its share)"
                )
            used[d] = used.get(d, 0.0) + need
        out.append(left)
    return out


def phase_path(out: Path, k: int, fmt: str) -> Path:
    """The file of phase k (1-based) beside the manifest `out`."""
    stem = out.name.split(".")[0]
    return out.with_name(f"{stem}.phase{k}{EXTENSIONS[fmt]}")


def write_schedule_export(
    out: str | Path,
    schedule: Any,
    fmt: str = "json",
    *,
    data: str | Path | ExportData | None = None,
    requested_tokens: int | None = None,
    max_epochs: Mapping[str, float] | None = None,
    global_batch_size: int | None = None,
    seed: int = 0,
    paths: Mapping[str, str | list[str]] | None = None,
    unit: str = "tokens",
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the manifest `out` and, for megatron / olmo / hf, one mixture file per phase.

    Returns the paths written (manifest first)."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(out)
    phases = parse_phases(schedule)
    loaded = load_export_data(data) if isinstance(data, (str, Path)) else data
    if fmt != "json" and not requested_tokens:
        raise InputError("a phase schedule export needs the training budget: --token-budget")
    if requested_tokens and loaded is not None:
        available = {d: float(dd.tokens) for d, dd in loaded.domains.items()}
        left = remaining_epochs(phases, requested_tokens, available, max_epochs)
    else:
        left = [{d: float((max_epochs or {}).get(d, 1.0)) for d in m} for _, m in phases]
    rows, written, start = [], [], 0
    for k, (fraction, mixture) in enumerate(phases, start=1):
        end = requested_tokens if k == len(phases) else None
        tokens = None
        if requested_tokens:
            end = end or start + round(fraction * requested_tokens)
            tokens = end - start
        row: dict[str, Any] = {
            "phase": k,
            "fraction": fraction,
            "start_tokens": start if requested_tokens else None,
            "end_tokens": end,
            "mixture": mixture,
            "max_epochs_left": left[k - 1],
        }
        if tokens is not None and global_batch_size:
            row["iterations"] = round(tokens / global_batch_size)
        if fmt != "json":
            path = phase_path(out, k, fmt)
            text = format_mixture(
                mixture,
                fmt,
                paths=paths,
                data=loaded,
                unit=unit,
                max_epochs={d: max(v, 1e-9) for d, v in left[k - 1].items()},
                requested_tokens=tokens,
                global_batch_size=global_batch_size,
                seed=seed + k - 1,
            )
            path.write_text(text, encoding="utf-8")
            row["file"] = path.name
            written.append(path)
        rows.append(row)
        start = end or 0
    totals: dict[str, float] = {}
    for fraction, mixture in phases:
        for d, w in mixture.items():
            totals[d] = totals.get(d, 0.0) + fraction * w
    doc = {
        "format": fmt,
        "schedule": rows,
        "requested_tokens": requested_tokens,
        "global_batch_size": global_batch_size,
        "how_to_run": HOW_TO[fmt],
        **dict(extra or {}),
        "export": mixture_record(totals, loaded, unit),
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [out, *written]


def load_hf_schedule(manifest: str | Path):
    """The whole run's `datasets.Dataset`: each phase's HF spec mixed, then concatenated in order."""
    import datasets

    from mixlab.export.mixtures import load_hf_mixture

    manifest = Path(manifest)
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    if doc.get("format") != "hf":
        raise InputError(f"{manifest}: not an HF schedule manifest (format {doc.get('format')!r})")
    parts = [load_hf_mixture(manifest.with_name(row["file"])) for row in doc["schedule"]]
    return datasets.concatenate_datasets(parts)


USES = ("auto", "averaged", "realised", "schedule")


def source_schedule(source: Any, use: str = "auto") -> tuple[Any, str]:
    """What to export from a run record or a JSON document, and a line saying what it is.

    A record: `averaged` is an online run's output mixture (its weights averaged over the
    updates, DoReMi's recipe), `realised` the token shares it trained on, `schedule` the
    schedule it followed (an online run's: the mixtures in force, one phase per update);
    `auto` is averaged for an online run, else its schedule. A document: `{"mixture": ...}`,
    a curriculum (`stages`), or an optimised schedule (`fractions` and `mixtures`).
    """
    if use not in USES:
        raise InputError(f"--use must be one of {', '.join(USES)}, not {use!r}")
    if isinstance(source, Mapping):
        if "fractions" in source and "mixtures" in source:
            stages = [
                {"fraction": f, "weights": m}
                for f, m in zip(source["fractions"], source["mixtures"], strict=True)
            ]
            return {"stages": stages}, f"a {len(stages)}-phase schedule"
        if "stages" in source or source.get("kind") == "curriculum":
            return source, f"a {len(source.get('stages', []))}-phase schedule"
        if isinstance(source.get("mixture"), Mapping):
            return dict(source["mixture"]), "a mixture"
        raise InputError(
            "the JSON holds no mixture: expected `mixture`, curriculum `stages`, or an "
            "optimised schedule's `fractions` and `mixtures`"
        )
    schedule = (source.schedule or {}).get("mixture") or {"weights": source.mixture}
    online = (source.schedule or {}).get("online")
    if use == "auto":
        use = "averaged" if online else "schedule"
    if use == "averaged":
        if not online:
            raise InputError(f"--use averaged: run {source.id!r} did not mix online")
        prefix = "mix_weight_avg/"
        avg = {
            e.metric[len(prefix) :]: e.value
            for e in source.evaluations
            if e.metric.startswith(prefix)
        }
        if not avg:
            raise InputError(
                f"run {source.id!r} has no averaged weights ({prefix}*): not finished?"
            )
        return avg, f"run {source.id}'s {online['method']} weights averaged over training"
    if use == "realised":
        return dict(source.mixture), f"run {source.id}'s realised token shares"
    if schedule.get("kind", "static") == "static":
        return dict(schedule["weights"]), f"run {source.id}'s static mixture"
    if schedule.get("kind") != "curriculum":
        raise InputError(
            f"run {source.id!r}: a {schedule.get('kind')} schedule has no phases to export; "
            "use --use realised"
        )
    return schedule, f"run {source.id}'s {len(schedule['stages'])}-phase schedule"
