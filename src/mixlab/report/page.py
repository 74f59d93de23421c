"""The HTML pieces every report shares: the page, its style, tables and preformatted blocks.

Nothing may be wider than the page: the body has a max width, every table and preformatted
block sits in a `div.wide` that scrolls sideways on its own, and long ids break anywhere.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; overflow-wrap: break-word; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.wide { max-width: 100%; overflow-x: auto; margin: .6em 0; }
table { border-collapse: collapse; font-size: .85em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; white-space: nowrap; } td.num { text-align: right; white-space: nowrap; }
.id, code { word-break: break-all; }
.part { font-size: 1.5em; font-weight: bold; margin-top: 2.5em; padding-top: .4em;
        border-top: 3px solid #999; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: .85em; }
img { max-width: 100%; height: auto; } .note { color: #666; font-size: .9em; }
.headline { font-size: 1.15em; background: #f6f8fa; border-left: 4px solid #2a7; padding: .6em 1em; }
.headline.warn { border-left-color: #d80; }
tr.chosen td { font-weight: bold; background: #eef8f0; } tr.baseline td { color: #666; }
td.worse { color: #b30; } td.better { color: #172; }
"""


def page(title: str, body: str, footer: str = "") -> str:
    """A whole self-contained page: inline style, no scripts, no external resources."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}"
        + (f"<p class='note'>{footer}</p>" if footer else "")
        + "</body></html>"
    )


def section(title: str, body: str, anchor: str | None = None) -> str:
    """A titled section (`anchor` becomes its id)."""
    ident = f" id='{html.escape(anchor)}'" if anchor else ""
    return f"<section{ident}><h2>{html.escape(title)}</h2>{body}</section>"


def wide(inner: str) -> str:
    """Wrap a table or preformatted block so it scrolls instead of widening the page."""
    return f"<div class='wide'>{inner}</div>"


def pre(text: str) -> str:
    """A preformatted block, escaped and wrapped."""
    return wide(f"<pre>{html.escape(text)}</pre>")


def frame_table(frame: pd.DataFrame) -> str:
    """A DataFrame as an HTML table (no index), wrapped."""
    return rows_table([str(c) for c in frame.columns], frame.astype(object).values.tolist())


def rows_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    classes: Sequence[str] | None = None,
    raw: bool = False,
) -> str:
    """A table from rows of cells (numbers formatted, text escaped unless `raw`), wrapped.

    `classes`: a CSS class per row (e.g. "chosen", "baseline")."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f" class='{classes[i]}'" if classes and classes[i] else ""
        cells = "".join(_td(c if raw else cell(c), c) for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return wide(f"<table><tr>{head}</tr>{''.join(body)}</table>")


_NUMERIC = re.compile(r"^(-|[+\-]?[\d.,]+(e[+\-]?\d+)?%?|\[[^\]]*\])$", re.IGNORECASE)


def _td(text: str, value: Any) -> str:
    """A cell; numbers and intervals right-aligned, text left."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = number or bool(_NUMERIC.match(re.sub(r"<[^>]+>", "", text)))
    return f"<td class='num'>{text}</td>" if number else f"<td>{text}</td>"


def cell(v: Any) -> str:
    """A table cell's text: numbers to 4 significant digits, None as '-', text escaped."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{v:,}"
    if isinstance(v, list | tuple) and len(v) == 2:
        return fmt_interval(v)
    return fmt(v)


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return html.escape(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return "-" if x != x else f"{x:.4g}"


def fmt_interval(v: Any) -> str:
    if v is None or isinstance(v, str) or len(v) != 2:
        return "-"
    return f"[{fmt(v[0])}, {fmt(v[1])}]"


def fmt_signed(v: Any) -> str:
    try:
        return f"{float(v):+.4f}"
    except (TypeError, ValueError):
        return "-"
