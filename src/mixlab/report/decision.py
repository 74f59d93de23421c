"""The decision report: what `mixlab run` recommends, read from its decision.json.

The format is described in docs/decision-format.md; this is a minimal first renderer.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from mixlab.io.files import read_json, write_text


def write_decision_report(decision_path: Path, out: Path) -> Path:
    """Write a self-contained HTML page for the decision in `decision_path`; returns `out`."""
    decision = read_json(Path(decision_path), what="decision", expect=dict)
    body = html.escape(json.dumps(decision, indent=2))
    page = f"<!doctype html><meta charset='utf-8'><title>mixlab decision</title><pre>{body}</pre>"
    write_text(Path(out), page)
    return Path(out)
