"""How commands speak: rich tables for people, JSON for programs, silence under --quiet.

Every string a command prints may hold user input (a path, a metric named `loss[web]`, a
YAML error quoting `[/x]`), so the consoles here never parse rich markup: text is printed
as it is. Styling is applied with `Text` objects, never with markup in strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def plain_console(stderr: bool = False) -> Console:
    """A console that prints strings as they are: no markup parsing, no highlighting."""
    return Console(stderr=stderr, markup=False, highlight=False)


@dataclass
class Output:
    """Where a command's results and messages go, given the global flags."""

    json: bool = False
    quiet: bool = False
    console: Console = field(default_factory=plain_console)
    err: Console = field(default_factory=lambda: plain_console(stderr=True))

    def result(self, data: Any, render: Callable[[Console], None] | None = None) -> None:
        """A command's result: JSON under --json, else `render` (or the data as JSON)."""
        if self.json:
            print(json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False))
        elif render is not None:
            render(self.console)
        else:
            self.console.print_json(json.dumps(_finite(data), default=_jsonable, allow_nan=False))

    def info(self, message: str) -> None:
        """A message for people (to stderr), silent under --quiet or --json."""
        if not (self.quiet or self.json):
            self.err.print(Text(str(message)))

    def warning(self, message: str) -> None:
        """A warning for people (to stderr), silent under --quiet or --json."""
        if not (self.quiet or self.json):
            self.err.print(Text.assemble(("warning:", "yellow"), " ", str(message)))

    def error(self, message: str) -> None:
        """An error message (always shown): `error:` in red, then the message as plain text."""
        self.err.print(Text.assemble(("error:", "bold red"), " ", str(message)))


@contextmanager
def train_progress(run_id: str) -> Iterator[Callable]:
    """A progress bar for `train(on_progress=...)`: steps, tokens/s and the training loss."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]:>10,.0f} tok/s  loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, console=plain_console()) as bar:
        task = bar.add_task(str(run_id), total=None, speed=0.0, loss=float("nan"))

        def update(p) -> None:
            bar.update(
                task, completed=p.step, total=p.total_steps, speed=p.tokens_per_s, loss=p.loss
            )

        yield update


@contextmanager
def sweep_progress(total: int) -> Iterator[Callable]:
    """A progress line for sweeps: runs done / running / failed and the time left."""
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        TextColumn("{task.fields[text]}", markup=False),
        console=plain_console(),
    ) as bar:
        task = bar.add_task("sweep", total=total, text="")

        def update(s) -> None:
            eta = "" if s.eta_seconds is None else f", about {s.eta_seconds / 60:.1f} min left"
            bar.update(
                task,
                completed=s.skipped + s.done + s.failed,
                text=f"{s.done + s.skipped}/{s.total} done, {s.running} running, "
                f"{s.failed} failed{eta}",
            )

        yield update


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table of plain values (floats shown with 6 significant digits).

    Title, headers and cells are `Text`: user strings are shown as they are, never as markup.
    """
    t = Table(
        title=None if title is None else Text(str(title)),
        title_justify="left",
        header_style="bold",
    )
    for i, c in enumerate(columns):
        t.add_column(Text(str(c)), overflow="fold", no_wrap=i == 0)
    for row in rows:
        t.add_row(*(Text(_cell(v)) for v in row))
    return t


def interval_row(label: str, interval: Sequence[float]) -> tuple[str, str]:
    """A table row ("90% interval", "low .. high") with 6 significant digits."""
    return label, "{:.6g} .. {:.6g}".format(*interval)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _finite(v: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)
