"""The evidence half of the decision report (mixed into `DecisionReport`): every run
predicted against observed, the rounds and the loss curves, read from the files that
decision.json names.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.report import figures
from mixlab.report.page import fmt, fmt_interval, fmt_signed, rows_table

MAX_CURVE_PANELS = 6


class DecisionEvidence:
    """Evidence sections; needs the report's `doc`, `ver`, `law`, `target`, `level`,
    `ref_name`, `_label`, `_baseline` and `_path`."""

    doc: Any
    ver: Any
    law: Any
    target: str
    level: float
    ref_name: str

    def _pred_vs_obs(self) -> str:
        cv = self._cv_frame()
        ver = []
        for name in ("reference", "recommended"):
            part = self.doc[name]
            for r in self.ver.get("runs") or []:
                if r.get("name") == name:
                    ver.append(
                        {
                            "name": self._label(name),
                            "seed": r.get("seed"),
                            "run_id": r.get("run_id"),
                            "predicted": part.get("predicted"),
                            "interval": part.get("interval"),
                            "observed": r.get("observed"),
                        }
                    )
        if cv is None and not ver:
            return "<p class='note'>No predictions recorded.</p>"
        out = (
            "<img alt='predicted against observed' src='"
            + figures.predicted_vs_observed_all(cv, ver, self.target)
            + "'>"
        )
        if cv is not None and len(cv):
            err = (cv["predicted"] - cv["observed"]).abs()
            out += (
                f"<p>{len(cv)} sweep runs, out-of-fold: mean absolute error {fmt(err.mean())}, "
                f"median {fmt(err.median())}"
                + (
                    f" (predict-the-mean baseline {fmt(self._baseline())})"
                    if self._baseline() is not None
                    else ""
                )
                + ".</p>"
            )
        if ver:
            rows = []
            for v in ver:
                iv = v["interval"]
                inside = (
                    None
                    if not iv or v["observed"] is None
                    else bool(iv[0] <= float(v["observed"]) <= iv[1])
                )
                rows.append(
                    [
                        v["name"],
                        v["seed"],
                        f"<span class='id'>{html.escape(str(v['run_id']))}</span>",
                        fmt(v["predicted"]),
                        fmt_interval(iv),
                        fmt(v["observed"]),
                        fmt_signed(as_float(v["observed"]) - as_float(v["predicted"])),
                        "-" if inside is None else ("yes" if inside else "no"),
                    ]
                )
            out += "<h3>Verification runs (trained after the prediction)</h3>" + rows_table(
                [
                    "mixture",
                    "seed",
                    "run",
                    "predicted",
                    f"{100 * self.level:.0f}% interval",
                    "observed",
                    "observed - predicted",
                    "inside",
                ],
                rows,
                raw=True,
            )
        return out

    def _cv_frame(self) -> pd.DataFrame | None:
        path = self._path(self.law.get("cv_predictions"))
        if path is None or not path.is_file():
            return None
        try:
            cv = pd.read_csv(path, dtype={"run_id": str})
            cv = cv[["target", "observed", "predicted", *(["run_id"] if "run_id" in cv else [])]]
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as e:
            raise InputError(f"{path}: not a cv_predictions table ({e})") from None
        if self.target in set(cv["target"]):
            cv = cv[cv["target"] == self.target]
        else:
            cv = cv[cv["target"] == cv["target"].iloc[0]] if len(cv) else cv
        return cv

    def _rounds(self) -> str:
        rounds = self.doc.get("rounds") or []
        if not rounds:
            return "<p class='note'>No rounds recorded.</p>"
        rows = [
            [
                r.get("round"),
                r.get("kind"),
                len(r.get("run_ids") or []),
                f"<span class='id'>{html.escape(', '.join(str(i) for i in r.get('run_ids') or []))}</span>",
            ]
            for r in rounds
        ]
        return rows_table(["round", "kind", "runs", "run ids"], rows, raw=True)

    def run_labels(self) -> dict[str, str]:
        """Run id -> readable name: the verification runs by mixture and seed, the rest by
        round (`round N`)."""
        labels: dict[str, str] = {}
        for r in self.doc.get("rounds") or []:
            for rid in r.get("run_ids") or []:
                labels[str(rid)] = f"round {r.get('round')}"
        for r in self.ver.get("runs") or []:
            if r.get("run_id") is not None:
                labels[str(r["run_id"])] = self._label(r.get("name"))
        return labels

    def _curves(self) -> str:
        from mixlab.runs import RunStore

        store = self._path(self.doc.get("store"))
        if store is None or not store.is_file():
            return f"<p class='note'>Run store {html.escape(str(store))} not found.</p>"
        labels = self.run_labels()
        with RunStore(store, create=False) as st:
            known = set(st.ids())
            ids = [i for i in labels if i in known]
            if not ids:
                return "<p class='note'>None of the decision's runs is in the store.</p>"
            curves = st.curves(ids)
        wanted = [
            k
            for k in ((self.doc.get("target") or {}).get("weights") or {})
            if k.startswith("val_loss/")
        ]
        have = list(dict.fromkeys(curves["metric"]))
        metrics = [m for m in wanted if m in have] or [m for m in have if m.startswith("val_loss/")]
        if not metrics:
            return "<p class='note'>No validation-loss curves in the store.</p>"
        shown = metrics[:MAX_CURVE_PANELS]
        note = (
            f"<p class='note'>Validation loss against training tokens on a log axis; "
            f"evaluations at step 0 (0 tokens) cannot sit on it and are left out. Bold: "
            f"{html.escape(self.ref_name)} and recommended (verification seeds); thin: the "
            f"rounds' runs."
            + (
                f" First {len(shown)} of {len(metrics)} metrics."
                if len(shown) < len(metrics)
                else ""
            )
            + "</p>"
        )
        verified = [str(r.get("run_id")) for r in self.ver.get("runs") or []]
        img = figures.loss_curves(curves, shown, verified, labels=labels)
        return note + f"<img alt='loss curves' src='{img}'>"


def as_float(v: Any) -> float:
    """A decision.json number as a float; NaN where it is missing or not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def mean_or_none(values: list[float] | None) -> float | None:
    """The mean of the observed values, or None without any."""
    return float(np.mean(values)) if values else None


def as_int(v: Any) -> int | None:
    """A decision.json number rounded to an int; None where it is missing or not a number."""
    try:
        return int(round(float(v)))
    except (TypeError, ValueError):
        return None
