"""The report's plots (matplotlib, Agg), each returned as an inline PNG data URI.

Every axis is labelled with its unit: tokens, nats per token, weight (share of tokens).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def mixtures_chart(mixtures: pd.DataFrame) -> str:
    """One horizontal stacked bar per run: its share of tokens from each domain."""
    height = max(2.5, 0.22 * len(mixtures) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    left = np.zeros(len(mixtures))
    for domain in mixtures.columns:
        ax.barh(range(len(mixtures)), mixtures[domain], left=left, label=domain)
        left += mixtures[domain].to_numpy()
    ax.set_yticks(range(len(mixtures)), [str(i)[:24] for i in mixtures.index], fontsize=7)
    ax.set_xlabel("share of training tokens (weight)")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(6, mixtures.shape[1]), fontsize=8
    )
    ax.set_title("Sweep mixtures")
    return _png(fig)


def loss_curves(curves: pd.DataFrame, metrics: Sequence[str], highlight: Sequence[str] = ()) -> str:
    """Validation loss against tokens, one panel per metric, one line per run."""
    n = len(metrics)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = curves[curves["metric"] == metric]
        for run_id, run in part.groupby("run_id", sort=False):
            x = run["tokens"].to_numpy(dtype=float)
            x = np.where(np.isfinite(x), x, run["step"].to_numpy(dtype=float))
            strong = run_id in highlight
            ax.plot(
                np.maximum(x, 1),
                run["value"],
                lw=1.8 if strong else 0.7,
                alpha=1.0 if strong else 0.45,
                label=run_id if strong else None,
            )
        ax.set_xscale("log")
        ax.set_xlabel("training tokens")
        ax.set_ylabel("loss (nats / token)")
        ax.set_title(metric, fontsize=9)
        if highlight:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def predicted_vs_observed(
    observed: np.ndarray, predicted: np.ndarray, labels: Sequence[str], title: str
) -> str:
    """Cross-validated predictions against observations, with the identity line."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for i, label in enumerate(labels):
        ax.scatter(observed[:, i], predicted[:, i], s=14, label=label)
    lo = float(np.nanmin([observed.min(), predicted.min()]))
    hi = float(np.nanmax([observed.max(), predicted.max()]))
    pad = 0.03 * (hi - lo or 1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
    ax.set_xlabel("observed loss (nats / token)")
    ax.set_ylabel("predicted loss (nats / token)")
    ax.set_title(title, fontsize=9)
    if len(labels) > 1:
        ax.legend(fontsize=7)
    return _png(fig)


def mixture_comparison(mixtures: Mapping[str, Mapping[str, float]]) -> str:
    """Grouped bars: each named mixture's weight per domain."""
    names = list(mixtures)
    domains = list(dict.fromkeys(d for m in mixtures.values() for d in m))
    x = np.arange(len(domains))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(domains)), 3.4))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [mixtures[name].get(d, 0.0) for d in domains], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, domains, rotation=20, fontsize=8)
    ax.set_ylabel("share of training tokens (weight)")
    ax.set_title("Recommended mixture against the reference")
    ax.legend(fontsize=8)
    return _png(fig)


def mixture_trajectories(curves: pd.DataFrame, max_runs: int = 6) -> str:
    """Online runs: the mixture in force against tokens (`mix_weight/<domain>`), stacked,
    one panel per run (the first `max_runs`)."""
    part = curves[curves["metric"].str.startswith("mix_weight/")]
    runs = list(dict.fromkeys(part["run_id"]))[:max_runs]
    cols = min(3, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, run_id in zip(axes.flat, runs, strict=False):
        wide = (
            part[part["run_id"] == run_id]
            .pivot_table(index="tokens", columns="metric", values="value", sort=True)
            .fillna(0.0)
        )
        x = wide.index.to_numpy(dtype=float)
        ys = [wide[c].to_numpy() for c in wide.columns]
        labels = [c.split("/", 1)[1] for c in wide.columns]
        ax.stackplot(x, *ys, labels=labels, step="post")
        ax.set_ylim(0, 1)
        ax.set_xlabel("training tokens")
        ax.set_ylabel("weight (share of tokens)")
        ax.set_title(str(run_id)[:32], fontsize=9)
        ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)
