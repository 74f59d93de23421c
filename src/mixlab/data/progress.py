"""A rich progress display for `prepare` (what the CLI shows unless --quiet)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mixlab.data.prepare import PrepareProgress, ProgressCallback


@contextmanager
def rich_progress(transient: bool = False) -> Iterator[ProgressCallback]:
    """A callback for `prepare(progress=...)` that draws one bar per domain (input bytes)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description:<24}", markup=False),  # domain names are plain text
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[docs]:>10,} docs {task.fields[tokens]:>13,} tokens"),
        TextColumn("{task.fields[stage]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=transient) as bar:
        tasks: dict[str | None, int] = {}

        def update(event: PrepareProgress) -> None:
            if event.stage in ("sample", "tokenizer"):
                key, stage = None, f"{event.stage} {event.domain or ''}".strip()
            else:
                key, stage = event.domain, event.stage
            if key not in tasks:
                tasks[key] = bar.add_task(
                    key or "tokenizer", total=None, docs=0, tokens=0, stage=""
                )
            if key is None:
                bar.update(tasks[key], stage=stage)
                return
            bar.update(
                tasks[key],
                completed=event.bytes_done,
                total=event.bytes_total or None,
                docs=event.documents,
                tokens=event.tokens,
                stage=stage,
            )

        yield update
