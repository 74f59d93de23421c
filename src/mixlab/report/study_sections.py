"""Report sections of the studies, read from an artifacts folder:

- `phase/phase.json` (`phase fit`), `phase/results.csv` (its table), `phase/predict.json`
  (`phase predict`): the transition plot and r* against N with the fitted and theory laws;
- `dynamics/dynamics.json` and `dynamics/curves.csv` (`dynamics report`): skill curves with
  emergence points, speed ratios, cross-size rank agreement, the code-length comparison.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import read_json
from mixlab.report import study_figures as fig


def _read(path: Path) -> Any:
    """A study's JSON output, or None when it is missing or unreadable (section skipped)."""
    try:
        return read_json(path)
    except InputError:
        return None


def _img(alt: str, uri: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{uri}">'


def _interval(ci) -> str:
    return "-" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _num(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def _speed(entry: dict[str, Any], level: str) -> str:
    """The ratio, or its bound when one of the two never reached the level ("≥ 1.5")."""
    if entry["ratio"].get(level) is not None:
        return _num(entry["ratio"][level])
    bound = entry.get("bounds", {}).get(level, {})
    if "at_least" in bound:
        return f"≥ {bound['at_least']:.3g}"
    if "at_most" in bound:
        return f"≤ {bound['at_most']:.3g}"
    return "-"


def _rows(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<div class='wide'><table><tr>{head}</tr>{body}</table></div>"


def phase_sections(art: Path) -> list[tuple[str, str]]:
    phase = _read(art / "phase" / "phase.json")
    if not phase:
        return []
    predict = _read(art / "phase" / "predict.json")
    body = ""
    results = art / "phase" / "results.csv"
    if results.is_file():
        frame = pd.read_csv(results)
        body += _img(
            "phase transition",
            fig.phase_transition(frame, phase["critical_ratio"], phase["threshold"]),
        )
    body += _img("critical ratio against size", fig.critical_ratio_law(phase, predict))
    body += _rows(
        ["model size", "status", "critical ratio r*", "interval"],
        [
            [s, t["status"], _num(t["value"]), _interval(t.get("ci"))]
            for s, t in phase["critical_ratio"].items()
        ],
    )
    law = phase.get("power_law") or {}
    if law.get("exponent") is not None:
        body += (
            f"<p>Fitted r* = {law['coef']:.4g} · N<sup>−{law['exponent']:.3f}</sup>, "
            f"exponent interval {_interval((law.get('ci') or {}).get('exponent'))}.</p>"
        )
    else:
        body += f"<p class='note'>No power law: {html.escape(str(law.get('reason', '')))}</p>"
    if phase.get("critical_size"):
        body += _rows(
            ["ratio", "status", "critical size N*", "interval"],
            [
                [r, t["status"], _num(t["value"]), _interval(t.get("ci"))]
                for r, t in phase["critical_size"].items()
            ],
        )
    if predict:
        w = predict["web_law"]
        body += (
            f"<p>Capacity theory: web loss = {w['C']:.4g} + {w['A']:.4g} · M<sup>−"
            f"{w['alpha']:.4g}</sup> (M = {predict['bits_per_param']:g} bits × N); predicted "
            f"exponent {_num(predict['exponent']['theory'])} over these sizes, asymptotic "
            f"α + 1 = {predict['exponent']['asymptotic']:.3f}.</p>"
        )
        body += _rows(
            ["quantity", "predicted", "range", "measured", "interval"],
            _against(predict, phase),
        )
    return [("Knowledge phase transition", body)]


def _against(predict: dict, phase: dict) -> list[list[str]]:
    """Rows of the theory's prediction beside the measured value, r* per size, N* per ratio."""
    rows = []
    for key, name in (("critical_ratio", "r* at N = "), ("critical_size", "N* at r = ")):
        for k, p in predict.get(key, {}).items():
            t = phase.get(key, {}).get(k, {})
            rows.append(
                [
                    name + k,
                    _num(p.get("theory")),
                    _interval(p.get("range")),
                    _num(t.get("value")) if t.get("value") is not None else t.get("status", "-"),
                    _interval(t.get("ci")),
                ]
            )
    return rows


def dynamics_sections(art: Path) -> list[tuple[str, str]]:
    """The learning-dynamics study's sections: emergence, speed, rank agreement, target
    loss, data scaling; and compression when the study measured it."""
    doc = _read(art / "dynamics" / "dynamics.json")
    curves_path = art / "dynamics" / "curves.csv"
    if not doc or not curves_path.is_file():
        return []
    curves = pd.read_csv(curves_path)
    body = (
        _emergence_html(doc, curves)
        + _speed_html(doc)
        + _agreement_html(doc)
        + _target_loss_html(doc, curves)
        + _data_scaling_html(doc)
    )
    sections = [("Learning dynamics: " + doc["name"], body)]
    if doc.get("compression"):
        comp = _compression_html(doc["compression"])
        sections.append(("Compression: prequential code length against gzip, bz2, xz", comp))
    return sections


def _emergence_html(doc: dict, curves: pd.DataFrame) -> str:
    """The skill curves and the tokens each choice needs to reach the threshold."""
    body = _img(
        "skill curves", fig.skill_curves(curves, doc["skill"], doc["emergence"], doc["threshold"])
    )
    body += _rows(
        [
            "choice",
            "model size",
            "status",
            f"tokens to {doc['threshold']:g}",
            "interval",
            "seeds reached",
        ],
        [
            [
                e["choice"],
                e["model_size"],
                e["status"],
                _num(e["value"]),
                _interval(e.get("ci")),
                f"{e['reached']}/{e['n']}",
            ]
            for e in doc["emergence"]
        ],
    )
    return body


def _speed_html(doc: dict) -> str:
    """Speed ratios of each choice against the reference at each accuracy level."""
    if not doc["speed"]:
        return ""
    body = ""
    levels = list(doc["speed"][0]["ratio"])
    body += (
        "<p>Speed ratio: tokens the reference needs / tokens the choice needs to reach "
        "the same accuracy (> 1: the choice is faster).</p>"
    )
    body += _rows(
        ["model size", "choice", "reference", *[f"at {lv}" for lv in levels]],
        [
            [s["model_size"], s["choice"], s["reference"], *[_speed(s, lv) for lv in levels]]
            for s in doc["speed"]
        ],
    )
    return body


def _agreement_html(doc: dict) -> str:
    """Kendall τ between the choices' ranks at each pair of model sizes."""
    agreement = doc.get("rank_agreement")
    if not agreement:
        return ""
    body = ""
    body += f"<p>Rank agreement across sizes (score: {html.escape(agreement['score'])}).</p>"
    body += _rows(
        ["size a", "size b", "Kendall τ", "interval", "choices"],
        [
            [p["size_a"], p["size_b"], _num(p["tau"]), _interval(p.get("ci")), p["n_choices"]]
            for p in agreement["pairs"]
        ],
    )
    return body


def _target_loss_html(doc: dict, curves: pd.DataFrame) -> str:
    """The final target-domain loss of each choice, by model size."""
    if not doc.get("target_loss"):
        return ""
    body = ""
    target_metric = f"val_loss/{doc['target_domain']}"
    body += _img("target loss", fig.loss_by_choice(curves, target_metric))
    body += _rows(
        ["model size", "choice", f"final {target_metric}", "sd", "seeds"],
        [
            [r["model_size"], r["choice"], _num(r["mean"]), _num(r["sd"]), r["n"]]
            for r in doc["target_loss"]
        ],
    )
    return body


def _data_scaling_html(doc: dict) -> str:
    """L(D) fits at fixed size: is each model still improving?"""
    fits = [f for f in doc.get("data_scaling", []) if "error" not in f]
    if not fits:
        return ""
    body = ""
    body += (
        "<p>Loss against tokens at fixed size, L(D) = E + B·D<sup>−a</sup>: is the "
        "model still improving? (drop: predicted loss fall from doubling the tokens)</p>"
    )
    body += _rows(
        [
            "model size",
            "choice",
            "loss",
            "a",
            "E",
            "loss now",
            "drop at 2×",
            "still improving",
            "tokens / parameter",
        ],
        [
            [
                f["model_size"],
                f["choice"],
                f["metric"],
                _num(f["a"]),
                _num(f["E"]),
                _num(f["loss_at_last"]),
                _num(f["drop_from_doubling"]),
                "yes" if f["still_improving"] else "no",
                _num(f.get("tokens_per_param")),
            ]
            for f in fits
        ],
    )
    return body


def _compression_html(rows: list[dict]) -> str:
    """Prequential code length against gzip, bz2 and xz."""
    comp = (
        "<p class='note'>Prequential code: each batch coded by the model before it "
        "learned from it. Like for like with the compressors only at ≤ 1 epoch; beyond "
        "that the model has seen the text it codes.</p>"
    )
    comp += _img("compression", fig.compression_bars(rows))
    comp += _rows(
        [
            "choice",
            "model size",
            "domain",
            "tokens",
            "epochs",
            "proxy bits/byte",
            "gzip",
            "bz2",
            "xz",
        ],
        [
            [
                r["choice"],
                r["model_size"],
                r["domain"],
                f"{r['tokens']:,.0f}",
                f"{r.get('epochs', float('nan')):.2g}",
                _num(r["model_bits_per_byte"]),
                _num(r["gzip"]),
                _num(r["bz2"]),
                _num(r["lzma"]),
            ]
            for r in rows
        ],
    )
    return comp
