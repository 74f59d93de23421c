"""Plots of the phase-transition and learning-dynamics studies, as inline PNG data URIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from mixlab.report.figures import _png, plt


def _sigmoid(x: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    z = params["k"] * (np.log(x) - np.log(params["x0"]))
    return params.get("floor", 0.0) + (params.get("top", 1.0) - params.get("floor", 0.0)) / (
        1 + np.exp(-z)
    )


def phase_transition(results: pd.DataFrame, critical: Mapping[str, Any], threshold: float) -> str:
    """Fact accuracy against the knowledge ratio, one colour per model size, fitted sigmoids."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for i, (size, part) in enumerate(results.groupby("model_size")):
        mean = part.groupby("ratio")["accuracy"].mean()
        ax.scatter(part["ratio"], part["accuracy"], s=10, color=f"C{i}", alpha=0.5)
        ax.plot(mean.index, mean.values, "o", color=f"C{i}", label=f"N = {size:,.0f}")
        fit = critical.get(format(size, "g"), {})
        if fit.get("params") and fit["params"].get("k") is not None:
            grid = np.geomspace(mean.index.min(), mean.index.max(), 200)
            ax.plot(grid, _sigmoid(grid, fit["params"]), color=f"C{i}", lw=1)
        if fit.get("value"):
            ax.axvline(fit["value"], color=f"C{i}", ls=":", lw=1)
    ax.axhline(threshold, color="grey", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(
        sorted(results["ratio"].unique()),
        [f"{r:g}" for r in sorted(results["ratio"].unique())],
        fontsize=7,
    )
    ax.set_xlabel("knowledge ratio r (share of training tokens)")
    ax.set_ylabel("facts learned (exact match)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Phase transition in the mixing ratio", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def critical_ratio_law(phase: Mapping[str, Any], predict: Mapping[str, Any] | None) -> str:
    """r* against model size: the measured critical ratios, the fitted power law and the
    capacity theory's prediction."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    points = [
        (float(s), t["value"], t.get("ci"))
        for s, t in phase["critical_ratio"].items()
        if t.get("value")
    ]
    sizes = [float(s) for s in phase["critical_ratio"]]
    if points:
        x = np.array([p[0] for p in points])
        y = np.array([p[1] for p in points])
        err = np.array([[p[1] - p[2][0], p[2][1] - p[1]] if p[2] else [0, 0] for p in points]).T
        ax.errorbar(x, y, yerr=np.maximum(err, 0), fmt="o", color="C0", label="measured r*")
    lo, hi = min(sizes) / 1.5, max(sizes) * 1.5
    grid = np.geomspace(lo, hi, 100)
    law = phase.get("power_law") or {}
    if law.get("exponent") is not None:
        ax.plot(
            grid,
            law["coef"] * grid ** -law["exponent"],
            color="C0",
            label=f"fit: N^-{law['exponent']:.2f}",
        )
    if predict and predict.get("curve"):
        curve = predict["curve"]
        xs = np.array(curve["sizes"], float)
        ys = np.array([np.nan if v is None else v for v in curve["critical_ratio"]], float)
        ax.plot(
            xs,
            ys,
            color="C3",
            ls="--",
            label=f"capacity theory: N^-{predict['exponent']['theory']:.2f}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("model size N (non-embedding parameters)")
    ax.set_ylabel("critical ratio r*")
    ax.set_title("Critical ratio against model size", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def skill_curves(
    curves: pd.DataFrame, metric: str, emergence: Sequence[Mapping[str, Any]], threshold: float
) -> str:
    """Skill accuracy against tokens, one panel per model size, seeds averaged per choice;
    dotted lines mark each choice's emergence point."""
    part = curves[curves["metric"] == metric]
    sizes = sorted(part["model_size"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.4 * len(sizes), 3.4), squeeze=False)
    choices = list(dict.fromkeys(part["choice"]))
    for ax, size in zip(axes[0], sizes, strict=True):
        for i, choice in enumerate(choices):
            runs = part[(part["model_size"] == size) & (part["choice"] == choice)]
            for _, run in runs.groupby("run_id"):
                ax.plot(run["tokens"], run["value"], color=f"C{i}", lw=0.5, alpha=0.35)
            mean = runs.groupby("tokens")["value"].mean()
            ax.plot(mean.index, mean.values, color=f"C{i}", lw=1.6, label=choice)
            for e in emergence:
                if e["choice"] == choice and e["model_size"] == size and e.get("value"):
                    ax.axvline(e["value"], color=f"C{i}", ls=":", lw=1)
        ax.axhline(threshold, color="grey", lw=0.6, ls="--")
        ax.set_xlabel("training tokens")
        ax.set_ylabel("skill accuracy (exact match)")
        ax.set_title(f"N = {size:,.0f}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def loss_by_choice(curves: pd.DataFrame, metric: str) -> str:
    """A domain's validation loss against tokens, seeds averaged, one line per choice and size."""
    part = curves[curves["metric"] == metric]
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    choices = list(dict.fromkeys(part["choice"]))
    for j, size in enumerate(sorted(part["model_size"].unique())):
        for i, choice in enumerate(choices):
            mean = (
                part[(part["model_size"] == size) & (part["choice"] == choice)]
                .groupby("tokens")["value"]
                .mean()
            )
            ax.plot(
                mean.index,
                mean.values,
                color=f"C{i}",
                ls=["-", "--", ":", "-."][j % 4],
                label=f"{choice}, N = {size:,.0f}",
            )
    ax.set_xlabel("training tokens")
    ax.set_ylabel(f"{metric} (nats / token)")
    ax.set_yscale("log")
    ax.legend(fontsize=6)
    return _png(fig)


def compression_bars(rows: Sequence[Mapping[str, Any]]) -> str:
    """Bits per byte per domain: the proxies' prequential code against gzip, bz2 and xz."""
    frame = pd.DataFrame(rows)
    domains = list(dict.fromkeys(frame["domain"]))
    model = frame.groupby("domain")["model_bits_per_byte"].min()
    base = frame.groupby("domain")[["gzip", "bz2", "lzma"]].first()
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(domains), 3.4))
    width = 0.2
    x = np.arange(len(domains))
    for k, (label, values) in enumerate(
        [
            ("best proxy (prequential)", model),
            ("gzip -9", base["gzip"]),
            ("bz2 -9", base["bz2"]),
            ("xz -9e", base["lzma"]),
        ]
    ):
        ax.bar(x + (k - 1.5) * width, [values[d] for d in domains], width, label=label)
    ax.set_xticks(x, domains, fontsize=8)
    ax.set_ylabel("bits per byte")
    ax.legend(fontsize=7)
    return _png(fig)
