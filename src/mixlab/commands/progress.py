"""Progress of long commands: plain periodic lines for people, one JSON event a line for programs.

A terminal is not assumed: lines carry the elapsed time and the time left, and a progress
line is printed when the count of finished runs changes or `every_s` seconds have passed,
so a log file or CI output stays short and readable.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.text import Text

from mixlab.commands.console import Output


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class EventPrinter:
    """A callable for the loop's events (`studies/loop.py`), printing as `out` asks."""

    def __init__(self, out: Output, every_s: float = 15.0):
        self.out = out
        self.every_s = every_s
        self.started = time.monotonic()
        self._last: dict[str, tuple[int, float]] = {}

    def _line(self, message: str) -> None:
        """One line to stderr, never wrapped (log files and CI keep one event a line)."""
        if not self.out.quiet:
            self.out.err.print(Text(message), soft_wrap=True)

    def __call__(self, event: dict[str, Any]) -> None:
        if self.out.json:
            line = json.dumps({**event, "t": round(time.monotonic() - self.started, 1)})
            print(line, file=sys.stdout, flush=True)
            return
        elapsed = _clock(time.monotonic() - self.started)
        kind = event.get("event")
        if kind == "stage":
            self._line(f"[{elapsed}] {event['stage']}: {event['message']}")
        elif kind == "warning":
            self._line(f"warning: {event['message']}")
        elif kind == "progress":
            stage, done = event["stage"], event["done"]
            last_done, last_t = self._last.get(stage, (-1, 0.0))
            now = time.monotonic()
            final = done + event["failed"] >= event["total"]
            if done == last_done and now - last_t < self.every_s and not final:
                return
            if final and last_done == done:
                return
            self._last[stage] = (done, now)
            skipped = f" ({event['skipped']} already in the store)" if event["skipped"] else ""
            eta = "" if final else f", about {_clock(event['eta_s'])} left"
            self._line(
                f"[{elapsed}] {stage}: {done}/{event['total']} runs done{skipped}, "
                f"{event['running']} running, {event['failed']} failed{eta}"
            )
