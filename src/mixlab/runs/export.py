"""Writing runs back out as the tables they can be imported from (import(export(x)) == x)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import atomic_path
from mixlab.runs.store import RunStore


def export_paths(out: str | Path) -> tuple[Path, Path]:
    """`runs.csv` -> (`runs_mixtures.csv`, `runs_metrics.csv`): the two wide tables."""
    out = Path(out)
    suffix = out.suffix or ".csv"
    return (
        out.with_name(f"{out.stem}_mixtures{suffix}"),
        out.with_name(f"{out.stem}_metrics{suffix}"),
    )


def export_wide(
    store: RunStore,
    mixtures_path: str | Path,
    metrics_path: str | Path,
    *,
    tag: str | None = None,
    id_column: str = "index",
) -> int:
    """Write the mixture table and the table of final metric values; return the run count."""
    mixtures = store.mixtures(tag=tag)
    if mixtures.empty:
        raise InputError(f"{store.path}: no runs{f' tagged {tag!r}' if tag else ''} to export")
    metrics = store.metrics(tag=tag)
    _write_csv(mixtures.rename_axis(id_column), Path(mixtures_path))
    _write_csv(metrics.rename_axis(id_column), Path(metrics_path))
    return len(mixtures)


def export_curves(store: RunStore, curves_path: str | Path, *, tag: str | None = None) -> int:
    """Write every stepped evaluation as a long table; return the number of rows."""
    curves = store.curves(tag=tag)
    _write_csv(curves, Path(curves_path), index=False)
    return len(curves)


def _write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    """Write atomically: a temporary file in the same folder, renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        frame.to_csv(f, index=index)
