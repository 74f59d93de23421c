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


def loss_curves(
    curves: pd.DataFrame,
    metrics: Sequence[str],
    highlight: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> str:
    """Validation loss against tokens (log axis), one panel per metric, one line per run.

    `labels`: run id -> readable name (natural, recommended, round 2, ...); runs with the same
    name share a colour and one legend entry.  Runs in `highlight` are drawn bold.  Evaluations at 0 tokens (step 0) cannot sit on a log axis:
    they are left out, and the axis label says so.
    """
    labels = dict(labels or {})
    names = list(dict.fromkeys(labels.get(r, "") for r in dict.fromkeys(curves["run_id"])))
    palette = _palette([n for n in names if n])
    n = len(metrics)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    dropped = False
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = curves[curves["metric"] == metric]
        seen: set[str] = set()
        for run_id, run in part.groupby("run_id", sort=False):
            x = run["tokens"].to_numpy(dtype=float)
            x = np.where(np.isfinite(x), x, run["step"].to_numpy(dtype=float))
            keep = x > 0
            dropped |= not keep.all()
            name = labels.get(run_id, "")
            strong = run_id in highlight
            label = name if name and name not in seen else None
            if name:
                seen.add(name)
            elif strong:
                label = str(run_id)[:16]
            ax.plot(
                x[keep],
                run["value"].to_numpy()[keep],
                lw=1.8 if strong else 0.7,
                alpha=1.0 if strong else 0.5,
                color=palette.get(name),
                label=label,
            )
        ax.set_xscale("log")
        ax.set_xlabel("training tokens (log)")
        ax.set_ylabel("loss (nats / token)")
        ax.set_title(metric, fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    if dropped:
        for ax in list(axes.flat)[:n]:
            ax.set_xlabel("training tokens (log; step 0 not shown)")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def _palette(names: Sequence[str]) -> dict[str, str]:
    """Fixed colours for the reference and the recommendation; the rest from tab10."""
    fixed = {"natural": "black", "reference": "black", "recommended": "tab:green"}
    colors = plt.get_cmap("tab10").colors
    others = iter(c for i, c in enumerate(colors) if i not in (2, 7))  # green, grey: taken
    out = {}
    for name in names:
        base = name.split(" (")[0].split(" seed")[0]
        out[name] = fixed.get(base) or fixed.get(name) or next(others, None)
    return out


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


def mixture_trajectories(
    curves: pd.DataFrame, max_runs: int = 6, titles: dict[str, str] | None = None
) -> str:
    """Online runs: the mixture in force against tokens (`mix_weight/<domain>`), stacked,
    one panel per run (the first `max_runs`), titled by `titles` (run id -> name) or id."""
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
        ax.set_title((titles or {}).get(run_id, str(run_id)[:32]), fontsize=9)
        ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def decision_chart(
    mixtures: Mapping[str, Mapping[str, float]],
    predicted: Mapping[str, tuple[float, Sequence[float] | None]],
    observed: Mapping[str, Sequence[float]],
    target: str,
    level: float,
) -> str:
    """Left: each mixture's share per domain.  Right: the predicted target of each mixture
    (bar, with its interval) and the observed target of each verification seed (dots)."""
    names = list(mixtures)
    domains = list(dict.fromkeys(d for m in mixtures.values() for d in m))
    palette = _palette(names)
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(max(7.5, 1.0 * len(domains) + 4.5), 3.6), width_ratios=[2.2, 1]
    )
    x = np.arange(len(domains))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        ax.bar(
            x + i * width,
            [mixtures[name].get(d, 0.0) for d in domains],
            width,
            label=name,
            color=palette.get(name),
        )
    ax.set_xticks(x + width * (len(names) - 1) / 2, domains, rotation=20, fontsize=8)
    ax.set_ylabel("share of training tokens (weight)")
    ax.set_title("Mixture", fontsize=10)
    ax.legend(fontsize=8)
    for i, name in enumerate(names):
        y, interval = predicted.get(name, (np.nan, None))
        err = None
        if interval is not None and np.isfinite(y):
            err = [[max(0.0, y - interval[0])], [max(0.0, interval[1] - y)]]
        bx.bar(i, y, 0.6, color=palette.get(name), alpha=0.35, yerr=err, capsize=6)
        obs = list(observed.get(name) or [])
        if obs:
            jitter = np.linspace(-0.12, 0.12, len(obs)) if len(obs) > 1 else [0.0]
            bx.plot(i + np.asarray(jitter), obs, "o", color=palette.get(name) or "C0", ms=5)
    bx.set_xticks(range(len(names)), names, fontsize=8)
    vals = [v for v, _ in predicted.values() if v is not None and np.isfinite(v)]
    vals += [lo for _, iv in predicted.values() if iv for lo in iv]
    vals += [v for obs in observed.values() for v in obs]
    if vals:
        lo, hi = min(vals), max(vals)
        pad = 0.15 * (hi - lo or abs(hi) or 1)
        bx.set_ylim(lo - pad, hi + pad)
    bx.set_ylabel(f"{target} (nats / token)", fontsize=8)
    bx.set_title(
        f"Predicted (bar, {100 * level:.0f}% interval)\nand observed per seed (dots)", fontsize=9
    )
    fig.tight_layout()
    return _png(fig)


def predicted_vs_observed_all(
    cv: pd.DataFrame | None, verification: Sequence[Mapping[str, object]], target: str
) -> str:
    """Every run's prediction against its observation: the sweep runs out-of-fold (each
    predicted by a law fitted without it) and the verification runs (predicted before they
    were trained, with intervals)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    xs: list[float] = []
    if cv is not None and not cv.empty:
        ax.scatter(
            cv["observed"],
            cv["predicted"],
            s=14,
            color="tab:blue",
            alpha=0.7,
            label="sweep runs (out-of-fold)",
        )
        xs += list(cv["observed"]) + list(cv["predicted"])
    palette = _palette([str(v.get("name")) for v in verification])
    seen = set()
    for v in verification:
        obs, pred = v.get("observed"), v.get("predicted")
        if obs is None or pred is None:
            continue
        name = str(v.get("name"))
        iv = v.get("interval")
        err = None
        if iv:
            err = [[max(0.0, float(pred) - iv[0])], [max(0.0, iv[1] - float(pred))]]
        ax.errorbar(
            [obs],
            [pred],
            yerr=err,
            fmt="D",
            ms=6,
            capsize=4,
            color=palette.get(name) or "tab:red",
            label=f"verification: {name}" if name not in seen else None,
        )
        seen.add(name)
        xs += [float(obs), float(pred)] + ([float(iv[0]), float(iv[1])] if iv else [])
    if xs:
        lo, hi = float(np.nanmin(xs)), float(np.nanmax(xs))
        pad = 0.05 * (hi - lo or 1)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
    ax.set_xlabel(f"observed {target} (nats / token)", fontsize=8)
    ax.set_ylabel(f"predicted {target} (nats / token)", fontsize=8)
    ax.set_title("Predicted against observed, every run", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)
