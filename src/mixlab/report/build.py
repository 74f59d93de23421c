"""The HTML report: one self-contained file (plots inlined as PNG) that opens offline.

It reads the run store and, when present, an artifacts folder written by the demo or by the
law commands:

- `laws/*.json`: fitted laws (`MixingLaw.to_dict()`), with `cv` (cross-validated errors);
- `cv_predictions.csv`: law, run_id, target, observed, predicted (out-of-fold);
- `recommendation.json`: mixture, reference, predicted, interval, reference_predicted, law;
- `verification.json`: list of {name, run_id, predicted, observed} (proxy-scale check);
- `scaling/*.json`: scaling fits (form, params, ci, n_points; `points` to plot them).

Each of these may instead be given explicitly (`ReportInputs`: the law files, the
optimisation output of `mixlab law optimize`, a verification list), so a user's own files
need no demo folder layout.  The decision report of `mixlab run` is `report/decision.py`.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mixlab
from mixlab.errors import InputError
from mixlab.io.files import read_json
from mixlab.report import figures
from mixlab.report.law_tables import law_html, law_name, params_table
from mixlab.report.page import fmt as _fmt
from mixlab.report.page import fmt_interval as _fmt_interval
from mixlab.report.page import frame_table, page
from mixlab.report.page import section as _page_section
from mixlab.report.study_sections import dynamics_sections, phase_sections
from mixlab.runs import RunStore


@dataclass
class ReportInputs:
    """The files a store report draws on besides the store; any may be absent."""

    laws: list[Path] = field(default_factory=list)
    cv_predictions: Path | None = None
    optimisation: Path | None = None
    verification: Path | None = None
    scaling: list[Path] = field(default_factory=list)
    folder: Path | None = None  # phase/ and dynamics/ studies

    @classmethod
    def from_folder(cls, art: str | Path | None, **explicit: Any) -> ReportInputs:
        """The demo's layout under `art` (if given), overridden by explicit files."""
        found = cls()
        if art is not None:
            art = Path(art)
            found = cls(
                laws=sorted((art / "laws").glob("*.json")) if (art / "laws").is_dir() else [],
                cv_predictions=_existing(art / "cv_predictions.csv"),
                optimisation=_existing(art / "recommendation.json"),
                verification=_existing(art / "verification.json"),
                scaling=sorted((art / "scaling").glob("*.json"))
                if (art / "scaling").is_dir()
                else [],
                folder=art,
            )
        for key, value in explicit.items():
            if value:
                setattr(
                    found,
                    key,
                    [Path(v) for v in value] if key in ("laws", "scaling") else Path(value),
                )
        return found


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def write_report(
    store_path: str | Path,
    out: str | Path,
    artifacts: str | Path | ReportInputs | None = None,
    tag: str | None = None,
    run_ids: list[str] | None = None,
) -> Path:
    """Render the report for the runs in the store (optionally one tag, or given ids) to `out`.

    `artifacts`: a folder in the demo's layout, or `ReportInputs` naming the files."""
    out = Path(out)
    inputs = (
        artifacts if isinstance(artifacts, ReportInputs) else ReportInputs.from_folder(artifacts)
    )
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
    ver_path = inputs.verification
    with _artifact(ver_path or Path("verification.json")):
        ver = _read_json(ver_path, list) if ver_path else None
        labels = {str(r["run_id"]): str(r.get("name") or "verification") for r in ver or []}
    sections = [
        _overview(store_path, summary),
        _section(
            "Sweep mixtures", f'<img alt="mixtures" src="{figures.mixtures_chart(mixtures)}">'
        ),
    ]
    loss_metrics = [m for m in metrics.columns if m.startswith("val_loss/")]
    if loss_metrics and not curves.empty:
        named = {**dict.fromkeys(curves["run_id"].astype(str), "sweep runs"), **labels}
        img = figures.loss_curves(curves, loss_metrics, list(labels), labels=named)
        sections.append(
            _section(
                "Loss curves per domain",
                "<p class='note'>Log token axis; evaluations at step 0 (0 tokens) are left out."
                f'</p><img alt="loss curves" src="{img}">',
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
    sections += _law_sections(inputs)
    sections += _recommendation_sections(inputs)
    sections += _scaling_sections(inputs.scaling)
    art = inputs.folder
    if art is not None:
        with _artifact(art / "phase" / "phase.json", art / "phase" / "predict.json"):
            sections += [_section(t, b) for t, b in phase_sections(art)]
        with _artifact(art / "dynamics" / "dynamics.json", art / "dynamics" / "curves.csv"):
            sections += [_section(t, b) for t, b in dynamics_sections(art)]
    text = page(
        "mixlab report",
        "".join(sections),
        f"mixlab {mixlab.__version__}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def _overview(store_path: str | Path, summary: pd.DataFrame) -> str:
    counts = summary["status"].value_counts().to_dict()
    text = ", ".join(f"{v} {k}" for k, v in counts.items())
    return _section(
        "Runs",
        f"<p>{len(summary)} runs in <code>{html.escape(str(store_path))}</code>: "
        f"{html.escape(text)}.</p>",
    )


def _law_sections(inputs: ReportInputs) -> list[str]:
    laws = inputs.laws
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
    pred_path = inputs.cv_predictions
    if pred_path is not None and pred_path.is_file():
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
    return rows, law_html(law, path.stem)


def _cv_figures(pred_path: Path) -> str:
    """Predicted-vs-observed plots of the out-of-fold predictions, one per law."""
    body = ""
    pred = pd.read_csv(pred_path, dtype={"run_id": str})
    for name, part in pred.groupby("law", sort=False):
        targets = list(dict.fromkeys(part["target"]))
        obs = np.column_stack([part[part.target == t]["observed"].to_numpy() for t in targets])
        prd = np.column_stack([part[part.target == t]["predicted"].to_numpy() for t in targets])
        img = figures.predicted_vs_observed(obs, prd, targets, f"{name}: out-of-fold predictions")
        body += f'<img alt="predicted vs observed" src="{img}">'
    return body


def _recommendation_sections(inputs: ReportInputs) -> list[str]:
    out = []
    path = inputs.optimisation
    rec = _read_json(path, dict) if path else None
    if rec:
        with _artifact(path):
            out.append(_recommendation(rec, _law_label(rec, inputs.laws, path)))
    path = inputs.verification
    ver = _read_json(path, list) if path else None
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


def _law_label(rec: dict[str, Any], laws: list[Path], path: Path) -> str:
    """The law behind an optimisation: its own record (the demo's, or `law optimize` since it
    writes `law`), else the one law file given, else a plain statement that it is unknown."""
    if rec.get("law"):
        return str(rec["law"])
    if len(laws) == 1:
        with _artifact(laws[0]):
            return f"{laws[0].stem} ({law_name(_read_json(laws[0], dict))})"
    return f"(the law is not recorded in {path.name}; pass --law)"


def _recommendation(rec: dict[str, Any], law: str) -> str:
    mixes = {"recommended": rec["mixture"]}
    if rec.get("reference"):
        mixes["reference"] = rec["reference"]
    text = (
        f"<p>Law <b>{html.escape(law)}</b> predicts "
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


def _scaling_sections(fits: list[Path]) -> list[str]:
    body = ""
    for path in fits:
        with _artifact(path):
            fit = _read_json(path, dict)
            body += f"<h3>{html.escape(path.stem)}: {html.escape(str(fit.get('form')))}</h3>"
            body += _params_table(fit.get("params") or {}, fit.get("ci") or {})
    return [_section("Scaling fits", body)] if body else []


def _section(title: str, body: str) -> str:
    return _page_section(title, body)


def _table(frame: pd.DataFrame) -> str:
    return frame_table(frame)


def _params_table(params: dict[str, Any], ci: dict[str, Any] | None = None) -> str:
    return params_table(params, ci)


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
