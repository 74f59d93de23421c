"""The HTML report: one self-contained file (plots inlined as PNG) that opens offline.

It reads the run store and, when present, an artifacts folder written by the demo or by the
law commands:

- `laws/*.json`: fitted laws (`MixingLaw.to_dict()`), with `cv` (cross-validated errors);
- `cv_predictions.csv`: law, run_id, target, observed, predicted (out-of-fold);
- `recommendation.json`: mixture, reference, predicted, interval, reference_predicted, law;
- `verification.json`: list of {name, run_id, predicted, observed} (proxy-scale check);
- `scaling/*.json`: scaling fits (form, params, ci, n_points; `points` to plot them).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mixlab
from mixlab.errors import InputError
from mixlab.io.files import read_json
from mixlab.report import figures
from mixlab.report.study_sections import dynamics_sections, phase_sections
from mixlab.runs import RunStore

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #666; font-size: .9em; }
"""


def write_report(
    store_path: str | Path,
    out: str | Path,
    artifacts: str | Path | None = None,
    tag: str | None = None,
    run_ids: list[str] | None = None,
) -> Path:
    """Render the report for the runs in the store (optionally one tag, or given ids) to `out`."""
    out = Path(out)
    with RunStore(store_path, create=False) as store:
        ids = store.ids(tag=tag)
        if run_ids is not None:
            wanted = set(run_ids)
            ids = [i for i in ids if i in wanted]
        if not ids:
            raise InputError(f"{store_path}: no runs{f' tagged {tag!r}' if tag else ''} to report")
        mixtures = store.mixtures(ids)
        metrics = store.metrics(ids)
        curves = store.curves(ids)
        summary = store.summary(tag=tag)
    art = Path(artifacts) if artifacts else None
    sections = [
        _overview(store_path, summary),
        _section(
            "Sweep mixtures", f'<img alt="mixtures" src="{figures.mixtures_chart(mixtures)}">'
        ),
    ]
    loss_metrics = [m for m in metrics.columns if m.startswith("val_loss/")]
    if loss_metrics and not curves.empty:
        rec = _read_json(art / "verification.json", list) if art else None
        with _artifact(art / "verification.json" if art else Path("verification.json")):
            highlight = [r["run_id"] for r in rec] if rec else []
        sections.append(
            _section(
                "Loss curves per domain",
                f'<img alt="loss curves" src="{figures.loss_curves(curves, loss_metrics, highlight)}">',
            )
        )
    if not curves.empty and curves["metric"].str.startswith("mix_weight/").any():
        sections.append(
            _section(
                "Online mixture trajectories (the mixture in force from each update)",
                f'<img alt="mixture trajectories" src="{figures.mixture_trajectories(curves)}">',
            )
        )
    shown = [m for m in metrics.columns if m.startswith(("val_loss/", "probe/"))] or list(
        metrics.columns
    )
    sections.append(
        _section(
            "Final metrics (validation loss in nats / token, probe accuracy)",
            _table(metrics[shown].round(4).reset_index()),
        )
    )
    if art is not None:
        sections += _law_sections(art)
        sections += _recommendation_sections(art)
        sections += _scaling_sections(art)
        with _artifact(art / "phase" / "phase.json", art / "phase" / "predict.json"):
            sections += [_section(t, b) for t, b in phase_sections(art)]
        with _artifact(art / "dynamics" / "dynamics.json", art / "dynamics" / "curves.csv"):
            sections += [_section(t, b) for t, b in dynamics_sections(art)]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>mixlab report</title>"
        f"<style>{STYLE}</style></head><body><h1>mixlab report</h1>{''.join(sections)}"
        f"<p class='note'>mixlab {mixlab.__version__}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p></body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _overview(store_path: str | Path, summary: pd.DataFrame) -> str:
    counts = summary["status"].value_counts().to_dict()
    text = ", ".join(f"{v} {k}" for k, v in counts.items())
    return _section(
        "Runs",
        f"<p>{len(summary)} runs in <code>{html.escape(str(store_path))}</code>: "
        f"{html.escape(text)}.</p>",
    )


def _law_sections(art: Path) -> list[str]:
    laws = sorted((art / "laws").glob("*.json")) if (art / "laws").is_dir() else []
    if not laws:
        return []
    rows, params = [], []
    for path in laws:
        with _artifact(path):
            rows_, params_ = _law_rows(path)
        rows += rows_
        params.append(params_)
    body = _table(
        pd.DataFrame(
            rows,
            columns=["law", "kind", "target", "CV MAE (mean)", "CV MAE (median)", "CV Spearman"],
        )
    )
    pred_path = art / "cv_predictions.csv"
    if pred_path.is_file():
        with _artifact(pred_path):
            body += _cv_figures(pred_path)
    return [
        _section("Mixing laws: cross-validated error", body),
        _section("Fitted parameters", "".join(params)),
    ]


def _law_rows(path: Path) -> tuple[list[list[Any]], str]:
    """One fitted law's CV rows and its parameter table."""
    law = _read_json(path, dict)
    cv = (law.get("cv") or {}).get("targets") or {}
    rows = []
    for target in law.get("target_names") or []:
        scores = cv.get(target) or {}
        rows.append(
            [
                path.stem,
                law.get("kind"),
                target,
                scores.get("mae_mean"),
                scores.get("mae_median"),
                scores.get("spearman"),
            ]
        )
    return rows, (
        f"<h3>{html.escape(path.stem)} ({html.escape(str(law.get('kind')))})</h3>"
        f"{_params_table(law.get('params') or {})}"
    )


def _cv_figures(pred_path: Path) -> str:
    """Predicted-vs-observed plots of the out-of-fold predictions, one per law."""
    body = ""
    pred = pd.read_csv(pred_path, dtype={"run_id": str})
    for law_name, part in pred.groupby("law", sort=False):
        targets = list(dict.fromkeys(part["target"]))
        obs = np.column_stack([part[part.target == t]["observed"].to_numpy() for t in targets])
        prd = np.column_stack([part[part.target == t]["predicted"].to_numpy() for t in targets])
        img = figures.predicted_vs_observed(
            obs, prd, targets, f"{law_name}: out-of-fold predictions"
        )
        body += f'<img alt="predicted vs observed" src="{img}">'
    return body


def _recommendation_sections(art: Path) -> list[str]:
    out = []
    path = art / "recommendation.json"
    rec = _read_json(path, dict)
    if rec:
        with _artifact(path):
            out.append(_recommendation(rec))
    path = art / "verification.json"
    ver = _read_json(path, list)
    if ver:
        with _artifact(path):
            frame = pd.DataFrame(ver)
            frame["error"] = frame["observed"] - frame["predicted"]
            out.append(
                _section(
                    "Verification at proxy scale (observed, not predicted)", _table(frame.round(4))
                )
            )
    return out


def _recommendation(rec: dict[str, Any]) -> str:
    mixes = {"recommended": rec["mixture"]}
    if rec.get("reference"):
        mixes["reference"] = rec["reference"]
    text = (
        f"<p>Law <b>{html.escape(str(rec.get('law')))}</b> predicts "
        f"{_fmt(rec.get('predicted'))} ({100 * float(rec.get('level') or 0.9):.0f}% "
        f"interval {_fmt_interval(rec.get('interval'))}) "
        f"for the recommended mixture and {_fmt(rec.get('reference_predicted'))} for the "
        f"reference.</p>"
    )
    return _section(
        "Recommendation",
        text + f'<img alt="mixtures" src="'
        f'{figures.mixture_comparison(mixes)}">'
        + _table(
            pd.DataFrame(mixes).fillna(0).round(4).reset_index().rename(columns={"index": "domain"})
        ),
    )


def _scaling_sections(art: Path) -> list[str]:
    fits = sorted((art / "scaling").glob("*.json")) if (art / "scaling").is_dir() else []
    body = ""
    for path in fits:
        with _artifact(path):
            fit = _read_json(path, dict)
            body += f"<h3>{html.escape(path.stem)}: {html.escape(str(fit.get('form')))}</h3>"
            body += _params_table(fit.get("params") or {}, fit.get("ci") or {})
    return [_section("Scaling fits", body)] if body else []


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>{body}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="-", escape=True, float_format=_fmt)


def _params_table(params: dict[str, Any], ci: dict[str, Any] | None = None) -> str:
    rows = []
    for name, value in params.items():
        if isinstance(value, str) and len(value) > 80:  # a serialised model (LightGBM)
            value = f"({len(value):,} characters of serialised model)"
        arr = np.asarray(value, dtype=object)
        try:
            shown = (
                _fmt(value)
                if arr.ndim == 0
                else html.escape(
                    np.array2string(np.asarray(value, dtype=float), precision=4, max_line_width=120)
                )
            )
        except (TypeError, ValueError):
            shown = html.escape(json.dumps(value, default=str)[:300])
        interval = _fmt_interval((ci or {}).get(name))
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td><pre>{shown}</pre></td><td>{interval}</td></tr>"
        )
    return (
        "<table><tr><th>parameter</th><th>value</th><th>95% interval</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _read_json(path: Path, expect: type | None = None) -> Any:
    """An artifact's JSON, or None when the file is absent."""
    if not path.exists():
        return None
    return read_json(path, expect=expect, what="an artifact as mixlab writes it")


@contextmanager
def _artifact(*paths: Path) -> Iterator[None]:
    """An artifact whose content is not in the shape mixlab writes is bad input naming it."""
    try:
        yield
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        names = " or ".join(str(p) for p in paths)
        raise InputError(
            f"{names}: not in the shape mixlab writes ({type(e).__name__}: {e})"
        ) from None


def _fmt(v: Any) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return "-" if v is None else html.escape(str(v))


def _fmt_interval(v: Any) -> str:
    if not v or len(v) != 2:
        return "-"
    return f"[{_fmt(v[0])}, {_fmt(v[1])}]"
