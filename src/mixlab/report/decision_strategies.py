"""The decision report's strategies section: decision.json's `strategies` block (DoReMi,
Aioli-style online mixing, a 2-phase schedule against the static recommendation, paired by
seed) as a table, the phase law's verdict, the online weight trajectories from the store
(the figure `mixlab report` draws for online runs) and the strategies' export files."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mixlab.report import figures
from mixlab.report.page import fmt, fmt_signed, rows_table

NAMES = {"doremi": "DoReMi", "aioli": "Aioli-style online", "two_phase": "2-phase schedule"}


def strategies_html(block: Mapping[str, Any], store: Path | None) -> str:
    """The section's body; `store` (the run store) gives the weight trajectories."""
    static = block.get("static") or {}
    names = [k for k in NAMES if isinstance(block.get(k), Mapping)]
    domains = list((static.get("per_domain") or {}).keys())
    for k in names:
        domains += [d for d in block[k].get("per_domain") or {} if d not in domains]
    rows, classes = [_row("static recommendation", static, domains, static=True)], ["chosen"]
    for k in names:
        rows.append(_row(NAMES[k], block[k], domains))
        classes.append("")
    table = rows_table(
        [
            "strategy",
            "mixture or schedule",
            "target (mean)",
            "per seed",
            "gain over static ± seed noise",
            "verdict",
            *[f"{d} loss" for d in domains],
        ],
        rows,
        classes,
        raw=True,
    )
    intro = (
        "<p>Each strategy trained at the proxy budget with the verification seeds "
        f"({html.escape(', '.join(map(str, block.get('seeds') or [])))}) and compared with the "
        "static recommendation's verification runs of the same seeds. Gain: static target minus "
        "the strategy's (positive: the strategy has the lower loss); "
        f"{html.escape(str(block.get('rule') or ''))}.</p>"
    )
    return (
        intro
        + table
        + "".join(_details(k, block[k]) for k in names)
        + _trajectories(block, names, store)
    )


def _row(label: str, s: Mapping[str, Any], domains: list[str], static: bool = False) -> list:
    per_seed = ", ".join(fmt(r.get("observed")) for r in s.get("runs") or [])
    gain = (
        "-" if static else f"{fmt_signed(s.get('gain_over_static'))} ± {fmt(s.get('seed_noise'))}"
    )
    verdict = "-" if static else html.escape(str(s.get("verdict", "not recorded")))
    per_domain = s.get("per_domain") or {}
    return [
        html.escape(label),
        _mixture_text(s),
        fmt(s.get("observed")),
        per_seed,
        gain,
        verdict,
        *[fmt(per_domain.get(d)) for d in domains],
    ]


def _shares(m: Mapping[str, Any]) -> str:
    return html.escape(", ".join(f"{d} {float(w):.3f}" for d, w in m.items()))


def _mixture_text(s: Mapping[str, Any]) -> str:
    if s.get("stages"):
        return "<br>".join(
            f"phase {k + 1} ({float(st['fraction']):.0%} of tokens): {_shares(st['weights'])}"
            for k, st in enumerate(s["stages"])
        )
    if s.get("kind") == "aioli":
        return (
            f"online from the natural shares; averaged: {_shares(s.get('averaged_weights') or {})}"
        )
    return _shares(s.get("mixture") or {})


def _details(name: str, s: Mapping[str, Any]) -> str:
    notes = []
    if name == "doremi":
        notes.append(
            f"DoReMi: proxy <code>{html.escape(str(s.get('proxy_run_id')))}</code> against the "
            f"natural run <code>{html.escape(str(s.get('reference_run_id')))}</code>; its "
            f"averaged weights {_shares(s.get('averaged_weights') or {})}, projected onto the "
            "constraints, are the static mixture compared above (what DoReMi hands to "
            "production)."
        )
    if s.get("outside_constraints"):
        notes.append(
            f"{html.escape(NAMES[name])}: averaged weights outside the project's constraints "
            f"for {html.escape(', '.join(s['outside_constraints']))}."
        )
    law = s.get("law") or {}
    if name == "two_phase" and law:
        verdict = (
            "usable"
            if law.get("usable")
            else "<b>fails</b>: "
            + html.escape("; ".join(law.get("problems") or []))
            + ". The schedule was trained and compared anyway; it is no recommendation"
        )
        notes.append(
            f"2-phase: the phase law ({html.escape(str(law.get('chosen')))}, on "
            f"{fmt(law.get('runs'))} runs) has CV MAE {fmt(law.get('cv_mae'))} against "
            f"{fmt(law.get('baseline_mae'))} predicting the mean: {verdict}. It predicted "
            f"{fmt(s.get('predicted'))} for the schedule."
        )
    exports = s.get("exports") or {}
    if exports:
        notes.append(
            f"{html.escape(NAMES[name])} exports: "
            + ", ".join(
                f"{html.escape(str(k))} <code>{html.escape(str(v))}</code>"
                for k, v in exports.items()
            )
        )
    return "".join(f"<p class='note'>{n}</p>" for n in notes)


def _trajectories(block: Mapping[str, Any], names: list[str], store: Path | None) -> str:
    from mixlab.runs import RunStore

    labels = {}
    for k in names:
        runs = {r.get("run_id"): r.get("seed") for r in block[k].get("runs") or []}
        for i in block[k].get("online_run_ids") or []:
            seed = runs.get(i)
            labels[str(i)] = f"{NAMES[k]}, " + (f"seed {seed}" if seed is not None else "proxy")
    ids = list(labels)
    if not ids:
        return ""
    if store is None or not store.is_file():
        return f"<p class='note'>Run store {html.escape(str(store))} not found.</p>"
    with RunStore(store, create=False) as st:
        known = set(st.ids())
        curves = st.curves([i for i in ids if i in known])
    if curves.empty or not curves["metric"].str.startswith("mix_weight/").any():
        return "<p class='note'>No online weight trajectories in the store.</p>"
    img = figures.mixture_trajectories(curves, titles=labels)
    return (
        "<h3>Online weight trajectories (the mixture in force from each update)</h3>"
        f"<img alt='mixture trajectories' src='{img}'>"
    )
