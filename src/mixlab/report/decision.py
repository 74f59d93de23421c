"""The decision report: what `mixlab run` recommends, read from its decision.json.

The page leads with the decision (the recommended mixture against the reference, predicted
and observed gain, the law and why, binding constraints, what gets worse, repetitions,
provenance) and then gives the evidence (every run predicted against observed, the rounds,
loss curves, the law's parameters).  The format is docs/decision-format.md.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_text
from mixlab.laws.core.noise import beyond_noise
from mixlab.report import figures
from mixlab.report.decision_evidence import DecisionEvidence, as_float, as_int, mean_or_none
from mixlab.report.law_tables import law_html
from mixlab.report.page import (
    cell,
    fmt,
    fmt_interval,
    fmt_signed,
    page,
    pre,
    rows_table,
    section,
)

FORMAT = "mixlab.decision/1"


def write_decision_report(decision_path: Path, out: Path) -> Path:
    """Write a self-contained HTML page for the decision in `decision_path`; returns `out`."""
    decision_path = Path(decision_path)
    doc = read_json(decision_path, what="decision (mixlab.decision/1)", expect=dict)
    try:
        text = DecisionReport(doc, decision_path).render()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise InputError(
            f"{decision_path}: not in the shape docs/decision-format.md describes "
            f"({type(e).__name__}: {e})"
        ) from None
    write_text(Path(out), text)
    return Path(out)


class DecisionReport(DecisionEvidence):
    """Renders one decision.json (paths inside it are relative to its folder)."""

    def __init__(self, doc: Mapping[str, Any], path: Path) -> None:
        if doc.get("format") != FORMAT:
            raise InputError(f"{path}: field 'format' is {doc.get('format')!r}, not {FORMAT!r}")
        for key in ("reference", "recommended"):
            if not isinstance(doc.get(key), Mapping) or not isinstance(
                doc[key].get("mixture"), Mapping
            ):
                raise InputError(f"{path}: field '{key}.mixture' is missing or not an object")
        self.doc = doc
        self.path = path
        self.base = path.parent
        self.level = float(doc.get("level") or 0.9)
        self.target = (doc.get("target") or {}).get("name") or "target"
        self.ref_name = str(doc["reference"].get("name") or "reference")
        self.ver = doc.get("verification") or {}
        self.law = doc.get("law") or {}

    # ---- the page ----------------------------------------------------------------------

    def render(self) -> str:
        parts = [
            section("Decision", self._decision(), "decision"),
            section("Which law, and why", self._law_choice(), "law"),
            section("Binding constraints", self._constraints(), "constraints"),
            section(
                "Per-domain predicted losses: what gets worse to pay for the gain",
                self._per_domain(),
                "per-domain",
            ),
            section("Repetitions per domain against available tokens", self._repetitions(), "reps"),
            self._strategies(),
            section("Provenance", self._provenance(), "provenance"),
            "<div class='part' id='evidence'>Evidence: what the decision rests on</div>",
            section("Predicted against observed, every run", self._pred_vs_obs(), "pred-obs"),
            section("Rounds", self._rounds(), "rounds"),
            section("Loss curves", self._curves(), "curves"),
            section("Law parameters", self._law_params(), "law-params"),
        ]
        prov = self.doc.get("provenance") or {}
        footer = (
            f"mixlab {html.escape(str(prov.get('mixlab_version', '?')))}; decision written "
            f"{html.escape(str(prov.get('created', '?')))}; read from "
            f"<code>{html.escape(str(self.path))}</code>"
        )
        project = self.doc.get("project")
        title = f"mixlab decision: {project}" if project else "mixlab decision"
        return page(title, "".join(parts), footer)

    def _strategies(self) -> str:
        """DoReMi / Aioli / 2-phase against the static recommendation (when asked for)."""
        block = self.doc.get("strategies")
        if not isinstance(block, Mapping):
            return ""
        from mixlab.report.decision_strategies import strategies_html

        body = strategies_html(block, self._path(self.doc.get("store")))
        return section("Strategies: mixtures that change during training", body, "strategies")

    # ---- decision ----------------------------------------------------------------------

    def _decision(self) -> str:
        observed = self._observed_by_name()
        return (
            self._headline()
            + self._target_note()
            + self._mixture_comparison(observed)
            + self._prediction_table(observed)
            + self._exports()
        )

    def _headline(self) -> str:
        """The recommendation, its predicted gain and whether the verification confirms it."""
        d = self.doc
        lv = f"{100 * self.level:.0f}%"
        gain, gint = d.get("predicted_gain"), d.get("gain_interval")
        obs_gain, noise = self.ver.get("observed_gain"), self.ver.get("seed_noise")
        og, sn = as_float(obs_gain), as_float(noise)
        confirmed = beyond_noise(og, sn)  # False when the seed noise is unknown (NaN)
        lines = [
            f"Recommended: train on the mixture below instead of <b>{html.escape(self.ref_name)}"
            f"</b>. Predicted gain in {html.escape(self.target)}: <b>{fmt_signed(gain)}</b> nats "
            f"({lv} interval {fmt_interval(gint)})"
            + (
                "; the interval includes 0: the law alone cannot rule out no gain."
                if gint and gint[0] <= 0 <= gint[1]
                else "."
            )
        ]
        if obs_gain is not None:
            inside = self.ver.get("inside_interval")
            spread = (
                f"± {fmt(noise)} (seed noise; {self._seeds()})"
                if not np.isnan(sn)
                else f"(seed noise unknown: {self._seeds()})"
            )
            verdict = (
                "the verification does not confirm the gain"
                if og <= 0
                else "positive, but with one seed per mixture its noise is unknown: not confirmed"
                if np.isnan(sn)
                else "smaller than twice the seed noise: not confirmed"
                if not confirmed
                else "confirmed by the verification runs"
            )
            where = (
                "inside the predicted interval"
                if inside
                else "outside the predicted interval"
                if inside is not None
                else "interval check not recorded"
            )
            lines.append(
                f"Observed at proxy scale: <b>{fmt_signed(obs_gain)}</b> {spread}, {where}; "
                f"{verdict}."
            )
        else:
            confirmed = False
            lines.append("Not verified: no verification runs recorded.")
        cls = "headline" if confirmed else "headline warn"
        return f"<p class='{cls}'>{'<br>'.join(lines)}</p>"

    def _target_note(self) -> str:
        """The target's description and metric weights, where recorded."""
        target = self.doc.get("target") or {}
        out = ""
        if target.get("description"):
            out += f"<p>Target: {html.escape(str(target['description']))}</p>"
        weights = target.get("weights") or {}
        if weights:
            out += (
                "<p class='note'>Target weights: "
                + ", ".join(f"{html.escape(str(k))} {fmt(v)}" for k, v in weights.items())
                + "</p>"
            )
        return out

    def _mixture_comparison(self, observed: dict[str, list[float]]) -> str:
        """The chart and the table of the recommended mixture against the reference."""
        ref, rec = self.doc["reference"], self.doc["recommended"]
        out = (
            "<img alt='recommended mixture against the reference, predicted and observed' src='"
            + figures.decision_chart(
                {self.ref_name: ref["mixture"], "recommended": rec["mixture"]},
                {
                    self.ref_name: (as_float(ref.get("predicted")), ref.get("interval")),
                    "recommended": (as_float(rec.get("predicted")), rec.get("interval")),
                },
                observed,
                self.target,
                self.level,
            )
            + "'>"
        )
        domains = list(dict.fromkeys([*ref["mixture"], *rec["mixture"]]))
        out += rows_table(
            ["domain", self.ref_name, "recommended", "change"],
            [
                [
                    dom,
                    ref["mixture"].get(dom, 0.0),
                    rec["mixture"].get(dom, 0.0),
                    fmt_signed(rec["mixture"].get(dom, 0.0) - ref["mixture"].get(dom, 0.0)),
                ]
                for dom in domains
            ],
        )
        return out

    def _prediction_table(self, observed: dict[str, list[float]]) -> str:
        """Predicted against observed target for both mixtures and the gain, with notes."""
        d = self.doc
        ref, rec = d["reference"], d["recommended"]
        lv = f"{100 * self.level:.0f}%"
        gain, gint = d.get("predicted_gain"), d.get("gain_interval")
        obs_gain, noise = self.ver.get("observed_gain"), self.ver.get("seed_noise")
        rows = [
            [
                self.ref_name,
                ref.get("predicted"),
                fmt_interval(ref.get("interval")),
                mean_or_none(observed.get(self.ref_name)),
            ],
            [
                "recommended",
                rec.get("predicted"),
                fmt_interval(rec.get("interval")),
                mean_or_none(observed.get("recommended")),
            ],
            ["gain (reference - recommended)", gain, fmt_interval(gint), obs_gain],
        ]
        out = rows_table(
            ["", f"predicted {self.target}", f"{lv} interval", "observed (mean over seeds)"],
            rows,
        )
        notes = ["Gains are reference minus recommended: positive means lower loss."]
        if noise is not None:
            notes.append(
                f"Seed noise {fmt(noise)}: the standard error of the observed gain from the "
                "spread over seeds."
            )
        if d.get("interval_kind"):
            notes.append(f"Intervals: {html.escape(str(d['interval_kind']))}.")
        return out + f"<p class='note'>{' '.join(notes)}</p>"

    def _exports(self) -> str:
        exports = self.doc.get("exports") or {}
        if not exports:
            return ""
        return (
            "<p>Exports: "
            + ", ".join(
                f"{html.escape(str(k))} <code>{html.escape(str(v))}</code>"
                for k, v in exports.items()
            )
            + "</p>"
        )

    def _seeds(self) -> str:
        runs = self.ver.get("runs") or []
        counts: dict[str, int] = {}
        for r in runs:
            counts[self._label(r.get("name"))] = counts.get(self._label(r.get("name")), 0) + 1
        return ", ".join(f"{n} {k} seed{'s' if n != 1 else ''}" for k, n in counts.items()) or (
            "no seeds recorded"
        )

    def _label(self, name: Any) -> str:
        return self.ref_name if name == "reference" else str(name)

    def _observed_by_name(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for r in self.ver.get("runs") or []:
            if r.get("observed") is not None:
                out.setdefault(self._label(r.get("name")), []).append(float(r["observed"]))
        return out

    # ---- law ---------------------------------------------------------------------------

    def _law_choice(self) -> str:
        law = self.law
        out = (
            f"<p>Law: <b>{html.escape(str(law.get('chosen') or 'not recorded'))}</b>"
            + (f", chosen by {html.escape(str(law['why']))}" if law.get("why") else "")
            + ".</p>"
        )
        table = law.get("table") or []
        chosen = next((r for r in table if r.get("chosen")), {})
        base = self._baseline()
        mae = chosen.get("cv_mae", law.get("cv_mae"))
        if mae is not None and base is not None:
            better = float(mae) < float(base)
            out += (
                f"<p>Its out-of-fold error is {fmt(mae)} nats against {fmt(base)} for "
                "predicting the mean of the training runs: "
                + (
                    f"{100 * (1 - float(mae) / float(base)):.0f}% lower."
                    if better
                    else "<b>no better than the baseline</b>; treat its predictions with caution."
                )
                + "</p>"
            )
        if not table:
            return out + "<p class='note'>No candidate table recorded.</p>"
        columns = [
            ("spearman", "CV Spearman"),
            ("cv_mae", "CV MAE (mean)"),
            ("cv_median_ae", "CV MAE (median)"),
            ("coverage", f"coverage of {100 * self.level:.0f}% intervals"),
        ]
        columns = [(k, h) for k, h in columns if any(r.get(k) is not None for r in table)]
        rows, classes = [], []
        has_mean = False
        for r in table:
            is_mean = r.get("candidate") == "mean"
            has_mean |= is_mean
            problems = r.get("problems") or []
            rows.append(
                [
                    "predict-the-mean baseline" if is_mean else r.get("candidate"),
                    *(r.get(k) for k, _ in columns),
                    "; ".join(map(str, problems)) if isinstance(problems, list) else problems,
                    "chosen" if r.get("chosen") else "",
                ]
            )
            classes.append("chosen" if r.get("chosen") else ("baseline" if is_mean else ""))
        if not has_mean and law.get("baseline_mae") is not None:
            rows.append(
                [
                    "predict-the-mean baseline",
                    *(law["baseline_mae"] if k == "cv_mae" else None for k, _ in columns),
                    "",
                    "",
                ]
            )
            classes.append("baseline")
        out += rows_table(
            ["candidate", *(h for _, h in columns), "excluded because", ""], rows, classes
        )
        return out + (
            "<p class='note'>Errors are out-of-fold (each run predicted by a law fitted "
            "without it), in nats per token of the target; the baseline predicts the mean "
            "of the training runs.</p>"
        )

    def _baseline(self) -> float | None:
        """The predict-the-mean CV MAE: the candidate table's `mean` row, else `baseline_mae`."""
        table = self.law.get("table") or []
        row = next((r for r in table if r.get("candidate") == "mean"), None)
        if row is not None and row.get("cv_mae") is not None:
            return float(row["cv_mae"])
        base = self.law.get("baseline_mae")
        return None if base is None else float(base)

    def _law_params(self) -> str:
        path = self._path(self.law.get("file"))
        if path is None:
            return "<p class='note'>No law file recorded.</p>"
        if not path.is_file():
            return f"<p class='note'>Law file <code>{html.escape(str(path))}</code> not found.</p>"
        doc = read_json(path, what="a fitted law", expect=dict)
        return (
            f"<p class='note'>From <code>{html.escape(str(self.law.get('file')))}</code>"
            + ("; the candidate table is above." if doc.get("kind") == "auto" else ".")
            + "</p>"
            + law_html(doc, path.stem, selection=False)
        )

    # ---- constraints, per domain, repetitions, provenance ------------------------------

    def _constraints(self) -> str:
        cons = self.doc.get("constraints") or {}
        binding = cons.get("binding") or []
        force = [
            f"{label} {fmt(cons[key])}"
            for key, label in (
                ("floor", "floor (x natural share)"),
                ("cap", "cap (x natural share)"),
                ("max_epochs", "max epochs per domain"),
            )
            if cons.get(key) is not None
        ]
        out = f"<p class='note'>In force: {', '.join(force)}.</p>" if force else ""
        if cons.get("extrapolated"):
            out += (
                "<p><b>Extrapolated</b>: the recommendation lies outside the fitted runs' range "
                f"for {html.escape(', '.join(map(str, cons['extrapolated'])))}.</p>"
            )
        if not binding:
            return out + "<p>No constraint binds: the optimum is interior.</p>"
        return out + rows_table(
            ["domain", "kind", "bound"],
            [[b.get("domain"), b.get("kind"), b.get("bound")] for b in binding],
        )

    def _per_domain(self) -> str:
        rows = self.doc.get("per_domain") or []
        if not rows:
            return "<p class='note'>No per-domain predictions recorded.</p>"
        cells, worse = [], []
        for r in rows:
            change = as_float(r.get("recommended")) - as_float(r.get("reference"))
            cls = "worse" if change > 0 else "better"
            if change > 0:
                worse.append(str(r.get("domain")))
            cells.append(
                [
                    html.escape(str(r.get("domain"))),
                    fmt(r.get("reference")),
                    fmt(r.get("recommended")),
                    f"<span class='{cls}'>{fmt_signed(change)}</span>",
                    fmt_interval(r.get("interval")),
                ]
            )
        lead = (
            f"<p>Predicted to get worse: <b>{html.escape(', '.join(worse))}</b>.</p>"
            if worse
            else "<p>No domain is predicted to get worse.</p>"
        )
        return lead + rows_table(
            [
                "domain",
                f"{self.ref_name} (predicted)",
                "recommended (predicted)",
                "change (+ = worse)",
                f"{100 * self.level:.0f}% interval (recommended)",
            ],
            cells,
            raw=True,
        )

    def _repetitions(self) -> str:
        rows = self.doc.get("repetitions") or []
        if not rows:
            return "<p class='note'>No token accounting recorded.</p>"
        cells = []
        for r in rows:
            epochs, cap = r.get("epochs"), r.get("max_epochs")
            at_cap = epochs is not None and cap is not None and float(epochs) >= 0.999 * float(cap)
            cells.append(
                [
                    r.get("domain"),
                    r.get("share"),
                    as_int(r.get("tokens_needed")),
                    as_int(r.get("tokens_available")),
                    epochs,
                    cap,
                    "at the cap" if at_cap else "",
                ]
            )
        headers = ["domain", "share", "tokens needed", "tokens available", "epochs", "max epochs"]
        if any(c[-1] for c in cells):
            return rows_table([*headers, ""], cells)
        return rows_table(headers, [c[:-1] for c in cells])

    def _provenance(self) -> str:
        prov = self.doc.get("provenance") or {}
        rows = [
            ["data: " + str(k), f"<code>{html.escape(str(v))}</code>"]
            for k, v in (prov.get("data") or {}).items()
        ]
        if prov.get("tokenizer"):
            rows.append(["tokenizer", f"<code>{html.escape(str(prov['tokenizer']))}</code>"])
        for k, v in (prov.get("model_sizes") or {}).items():
            rows.append([f"model {k}", f"{cell(v)} parameters"])
        for key, v in prov.items():
            if key not in ("data", "tokenizer", "model_sizes") and v is not None:
                shown = json.dumps(v) if isinstance(v, dict | list) else str(v)
                rows.append([key.replace("_", " "), html.escape(shown)])
        if self.doc.get("store"):
            rows.append(["run store", f"<code>{html.escape(str(self.doc['store']))}</code>"])
        out = rows_table(["item", "value"], [[html.escape(a), b] for a, b in rows], raw=True)
        commands = self.doc.get("commands") or []
        if commands:
            out += "<p>Commands:</p>" + pre("\n".join(str(c) for c in commands))
        return out

    def _path(self, rel: Any) -> Path | None:
        if not rel:
            return None
        p = Path(str(rel))
        return p if p.is_absolute() else self.base / p
