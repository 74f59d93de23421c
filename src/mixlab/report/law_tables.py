"""Fitted laws as readable tables: parameters by domain and target, never a raw model dump.

A law file (`MixingLaw.to_dict()` or a scaling fit) holds arrays indexed by fitted target,
term and domain, and for LightGBM a serialised booster of thousands of characters; the
report shows the arrays as tables with named rows and columns, and a booster by its size
and hash.  `auto` shows its candidate table (with the predict-the-mean baseline) and then
its members' parameters.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixlab.report.page import fmt, fmt_interval, rows_table

NO_INTERVALS = (
    "Mixing-law files carry no parameter intervals; the prediction intervals beside each "
    "prediction are conformal, from the out-of-fold residuals (coverage measured by CV)."
)


def law_html(
    law: Mapping[str, Any], name: str | None = None, depth: int = 3, selection: bool = True
) -> str:
    """A fitted law's parameters (and, for `auto`, its selection unless `selection` is
    False: the decision report shows it already) as HTML tables."""
    kind = str(law.get("kind", law.get("form", "?")))
    title = f"{name} ({kind})" if name and name != kind else kind
    out = f"<h{depth}>{html.escape(title)}</h{depth}>"
    params = law.get("params") or {}
    if kind == "auto":
        for sel in params.get("selection") or [] if selection else []:
            out += (
                f"<p>Target <b>{html.escape(str(sel.get('target')))}</b>: chose "
                f"<b>{html.escape(str(sel.get('chosen')))}</b> by {html.escape(str(sel.get('rule')))}"
                f" ({html.escape(str(sel.get('scheme')))}).</p>"
            )
            out += selection_table(sel.get("candidates") or [])
        for member_name, member in zip(
            params.get("member_names") or [], params.get("members") or [], strict=False
        ):
            out += law_html(member, member_name, depth=min(depth + 1, 6))
        return out
    if kind == "lgbm":
        return out + _lgbm_html(law)
    out += params_table(
        params,
        law.get("ci") or {},
        domains=law.get("domain_names") or [],
        targets=_fitted_names(law),
    )
    return out


def law_name(law: Mapping[str, Any]) -> str:
    """A fitted law's readable name: its kind, and for `auto` the candidate(s) it chose."""
    kind = str(law.get("kind", law.get("form", "?")))
    chosen = [str(s.get("chosen")) for s in (law.get("params") or {}).get("selection") or []]
    return f"{kind} ({', '.join(dict.fromkeys(chosen))})" if kind == "auto" and chosen else kind


def selection_rows(candidates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `auto` candidate table, one dict per candidate, the baseline (`mean`) last."""
    rows = []
    base = None
    for c in candidates:
        row = {
            "candidate": c.get("name"),
            "cv_spearman": c.get("spearman"),
            "cv_mae": c.get("mae"),
            "baseline_mae": c.get("baseline_mae"),
            "problems": "; ".join(c.get("problems") or []) or None,
            "chosen": bool(c.get("chosen")),
        }
        if row["candidate"] == "mean":
            base = row
        else:
            rows.append(row)
    return rows + ([base] if base else [])


def selection_table(candidates: Sequence[Mapping[str, Any]]) -> str:
    rows = selection_rows(candidates)
    cells = [
        [
            ("predict-the-mean baseline" if r["candidate"] == "mean" else r["candidate"]),
            r["cv_spearman"],
            r["cv_mae"],
            r["problems"] or "",
            "chosen" if r["chosen"] else "",
        ]
        for r in rows
    ]
    classes = [
        "chosen" if r["chosen"] else ("baseline" if r["candidate"] == "mean" else "") for r in rows
    ]
    return rows_table(
        ["candidate", "CV Spearman", "CV MAE", "excluded because", ""], cells, classes
    )


def params_table(
    params: Mapping[str, Any],
    ci: Mapping[str, Any] | None = None,
    domains: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> str:
    """Scalars in one table (with intervals where the file has them); each array in a table
    whose rows are targets (and terms) and whose columns are domains where the shape says so."""
    ci = ci or {}
    scalars, arrays = [], []
    for key, value in params.items():
        if isinstance(value, str):
            scalars.append([key, _text_note(value), "-"])
            continue
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            scalars.append([key, f"({type(value).__name__}, not shown)", "-"])
            continue
        if arr.ndim == 0:
            scalars.append([key, fmt(float(arr)), fmt_interval(ci.get(key))])
        else:
            arrays.append((key, arr))
    out = ""
    if scalars:
        out += rows_table(["parameter", "value", "interval"], scalars, raw=True)
    zero = [key for key, arr in arrays if arr.size and not np.any(arr)]
    for key, arr in arrays:
        if key in zero:
            continue
        out += f"<p class='note'>{html.escape(key)} {_shape_note(arr, domains, targets)}</p>"
        out += _array_table(arr, domains, targets)
    if zero:
        out += f"<p class='note'>All zero (term unused): {html.escape(', '.join(zero))}.</p>"
    if not ci and (arrays or scalars) and domains:
        out += f"<p class='note'>{html.escape(NO_INTERVALS)}</p>"
    return out


def _fitted_names(law: Mapping[str, Any]) -> list[str]:
    for key in ("fitted_names", "target_names", "metric_names"):
        names = law.get(key)
        if names:
            return [str(n) for n in names]
    return []


def _text_note(value: str) -> str:
    if len(value) <= 60:
        return html.escape(value)
    return f"({len(value):,} characters, stored in the law file; not shown)"


def _lgbm_html(law: Mapping[str, Any]) -> str:
    params = law.get("params") or {}
    targets = _fitted_names(law)
    models = params.get("models") or []
    hashes = params.get("models_sha256") or [None] * len(models)
    trees = params.get("n_trees") or [None] * len(models)
    rows = [
        [
            targets[i] if i < len(targets) else f"#{i}",
            trees[i] if i < len(trees) else None,
            f"{len(m):,}" if isinstance(m, str) else "-",
            (hashes[i] or "-")[:16] if i < len(hashes) else "-",
        ]
        for i, m in enumerate(models)
    ]
    return (
        "<p>Gradient-boosted trees: one LightGBM booster per target, kept in the law file "
        "(its serialised text is not shown).</p>"
        + rows_table(["target", "trees", "model size (characters)", "sha256 (first 16)"], rows)
    )


def _shape_note(arr: np.ndarray, domains: Sequence[str], targets: Sequence[str]) -> str:
    axes = []
    for i, n in enumerate(arr.shape):
        if i == arr.ndim - 1 and domains and n == len(domains):
            axes.append("domain")
        elif i == 0 and targets and n == len(targets):
            axes.append("target")
        else:
            axes.append("term")
    return "(" + " x ".join(axes) + ")"


def _array_table(arr: np.ndarray, domains: Sequence[str], targets: Sequence[str]) -> str:
    by_domain = bool(domains) and arr.shape[-1] == len(domains)
    if arr.ndim == 1:
        if targets and len(arr) == len(targets) and not by_domain:
            cols = list(targets)
        elif by_domain:
            cols = list(domains)
        else:
            cols = [str(i) for i in range(len(arr))]
        return rows_table(cols, [[fmt(v) for v in arr]], raw=True)
    cols = list(domains) if by_domain else [f"[{i}]" for i in range(arr.shape[-1])]
    lead = arr.reshape(-1, arr.shape[-1])
    labels = []
    for idx in np.ndindex(*arr.shape[:-1]):
        parts = []
        for axis, i in enumerate(idx):
            if axis == 0 and targets and arr.shape[0] == len(targets):
                parts.append(str(targets[i]))
            else:
                parts.append(f"term {i}")
        labels.append(", ".join(parts))
    rows = [
        [html.escape(lab), *(fmt(v) for v in row)] for lab, row in zip(labels, lead, strict=True)
    ]
    return rows_table(["", *cols], rows, raw=True)
