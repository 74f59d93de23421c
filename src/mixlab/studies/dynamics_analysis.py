"""The learning-dynamics study's analysis: emergence, speed ratios, area under the curve,
rank agreement across sizes, target loss, data scaling and compression, from the runs' curves
(`dynamics_curves`) to the JSON document `dynamics report` writes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.data.schedule import parse_schedule
from mixlab.errors import InputError


def analyze_dynamics(
    curves: pd.DataFrame,
    study: dict[str, Any],
    data_dir: Path | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Emergence per choice x size, speed ratios, AUC, rank agreement, compression, data scaling."""
    from mixlab.laws import dynamics as dyn

    skill = f"probe/{study['skill']}"
    threshold = study["threshold"]
    choices = study["choices"]
    acc = curves[curves["metric"] == skill]
    emergence, auc = _emergence_and_auc(acc, threshold, n_bootstrap, seed)
    speed = _speed_ratios(acc, choices, threshold)
    doc: dict[str, Any] = {
        "name": study["name"],
        "skill": skill,
        "threshold": threshold,
        "choices": choices,
        "target_domain": study.get("target_domain"),
        "emergence": emergence,
        "speed": speed,
        "auc": auc.to_dict(orient="records"),
    }
    if auc["model_size"].nunique() >= 2:
        table = auc.rename(columns={"auc": "score"})[["choice", "model_size", "seed", "score"]]
        doc["rank_agreement"] = dyn.rank_agreement(
            table, n_bootstrap=n_bootstrap, seed=seed, higher_is_better=True
        ).to_dict()
        doc["rank_agreement"]["score"] = "area under the skill-accuracy curve"
    target = study.get("target_domain")
    if target:
        doc["target_loss"] = _final_by_choice(curves, f"val_loss/{target}")
        doc["data_scaling"] = _data_scaling(curves, {c: f"val_loss/{target}" for c in choices})
    else:  # each choice's own (first) training domain: is more of it still helping?
        own = {
            c["name"]: f"val_loss/{_first_domain(c['mixture'])}" for c in study["config"]["choices"]
        }
        doc["data_scaling"] = _data_scaling(curves, own)
    if data_dir is not None:
        doc["compression"] = compression_rows(curves, Path(data_dir))
    return doc


def _emergence_and_auc(
    acc: pd.DataFrame, threshold: float, n_bootstrap: int, seed: int
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Emergence across seeds per size x choice, and each seed's area under the curve."""
    from mixlab.laws import dynamics as dyn

    emergence, auc_rows = [], []
    for (size, choice), group in acc.groupby(["model_size", "choice"], sort=True):
        per_seed = [
            (g["tokens"].to_numpy(float), g["value"].to_numpy(float))
            for _, g in group.sort_values("tokens").groupby("seed")
        ]
        e = dyn.emergence_across_seeds(
            per_seed, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed
        )
        emergence.append({"choice": choice, "model_size": int(size), **e.to_dict()})
        for s, (x, y) in zip(sorted(group["seed"].unique()), per_seed, strict=True):
            auc_rows.append(
                {
                    "choice": choice,
                    "model_size": int(size),
                    "seed": int(s),
                    "auc": dyn.area_under_curve(x, y),
                    "final": float(y[-1]),
                    "tokens_to_threshold": dyn.emergence_point(x, y, threshold),
                }
            )
    return emergence, pd.DataFrame(auc_rows)


def _speed_ratios(acc: pd.DataFrame, choices: list[str], threshold: float) -> list[dict[str, Any]]:
    """Each choice's speed against the first (the reference) on the seed-mean curves."""
    from mixlab.laws import dynamics as dyn

    speed = []
    reference = choices[0]
    mean_curves = acc.groupby(["model_size", "choice", "tokens"])["value"].mean().reset_index()
    for size, group in mean_curves.groupby("model_size"):
        ref = group[group["choice"] == reference].sort_values("tokens")
        for choice in choices[1:]:
            other = group[group["choice"] == choice].sort_values("tokens")
            if ref.empty or other.empty:
                continue
            mine = (other["tokens"].to_numpy(float), other["value"].to_numpy(float))
            theirs = (ref["tokens"].to_numpy(float), ref["value"].to_numpy(float))
            levels = (0.5, threshold)
            ratios = dyn.speed_ratio(mine, theirs, levels=levels)
            speed.append(
                {
                    "model_size": int(size),
                    "choice": choice,
                    "reference": reference,
                    "ratio": {format(k, "g"): v for k, v in ratios.items()},
                    "bounds": _speed_bounds(mine, theirs, levels),
                }
            )
    return speed


def _speed_bounds(mine, theirs, levels) -> dict[str, dict[str, float]]:
    """Where one side never got there: the ratio is bounded by that side's last evaluation."""
    from mixlab.laws import dynamics as dyn

    bounds = {}
    for level in levels:
        t_mine = dyn.emergence_point(*mine, threshold=level)
        t_ref = dyn.emergence_point(*theirs, threshold=level)
        if t_mine and t_ref is None:
            bounds[format(level, "g")] = {"at_least": float(theirs[0][-1]) / t_mine}
        elif t_ref and t_mine is None:
            bounds[format(level, "g")] = {"at_most": t_ref / float(mine[0][-1])}
    return bounds


def _final_by_choice(curves: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    rows = curves[curves["metric"] == metric]
    last = rows.sort_values("tokens").groupby("run_id").tail(1)
    out = []
    for (size, choice), g in last.groupby(["model_size", "choice"]):
        v = g["value"].to_numpy(float)
        out.append(
            {
                "model_size": int(size),
                "choice": choice,
                "mean": float(v.mean()),
                "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
                "n": len(v),
            }
        )
    return out


def _first_domain(mixture: dict[str, Any]) -> str:
    if "kind" not in mixture:
        return next(iter(mixture))
    return parse_schedule(mixture).domains()[-1]


def _data_scaling(curves: pd.DataFrame, metric_of: dict[str, str]) -> list[dict[str, Any]]:
    """The step law of a loss against tokens, per choice and size (seed means)."""
    import warnings

    from mixlab.laws.core.fitting import FitWarning
    from mixlab.laws.dynamics import data_scaling_at_fixed_size

    rows = curves[curves["tokens"] > 0]
    rows = rows[rows["metric"] == rows["choice"].map(metric_of)]
    out = []
    for (size, choice), g in rows.groupby(["model_size", "choice"]):
        metric = metric_of[choice]
        mean = g.groupby("tokens")["value"].mean()
        if len(mean) < 4:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            try:
                fit = data_scaling_at_fixed_size(
                    mean.index.to_numpy(float), mean.to_numpy(float), n_params=float(size)
                )
            except InputError as e:
                out.append(
                    {"model_size": int(size), "choice": choice, "metric": metric, "error": str(e)}
                )
                continue
        out.append({"model_size": int(size), "choice": choice, "metric": metric, **fit.to_dict()})
    return out


def compression_rows(
    curves: pd.DataFrame, data_dir: Path, max_bytes: int = 4_000_000
) -> list[dict[str, Any]]:
    """Prequential bits per byte of each run's training stream per domain, next to
    gzip / bz2 / lzma on that domain's training text (its first `max_bytes`)."""
    from mixlab.data.prepared import load_prepared
    from mixlab.laws.dynamics import baseline_bits_per_byte

    prepared = load_prepared(data_dir)
    tokenizer = prepared.tokenizer
    finals = curves.sort_values("tokens").groupby(["run_id", "metric"]).tail(1)
    wide = finals.pivot_table(index="run_id", columns="metric", values="value")
    meta = curves.drop_duplicates("run_id").set_index("run_id")
    baselines: dict[str, dict[str, float]] = {}
    bytes_per_token: dict[str, float] = {}
    rows = []
    for domain, tokens in prepared.train_tokens().items():
        if f"code_length_bits/{domain}" not in wide.columns:
            continue
        text = tokenizer.decode(np.asarray(tokens).tolist()).encode("utf-8")
        bytes_per_token[domain] = len(text) / max(1, len(tokens))
        baselines[domain] = baseline_bits_per_byte(text[:max_bytes])
        for run_id, row in wide.iterrows():
            bits, n_tok = row.get(f"code_length_bits/{domain}"), row.get(f"code_tokens/{domain}")
            if bits is None or n_tok is None or not (math.isfinite(bits) and n_tok > 0):
                continue
            rows.append(
                {
                    "run_id": run_id,
                    "choice": meta.loc[run_id, "choice"],
                    "model_size": int(meta.loc[run_id, "model_size"]),
                    "domain": domain,
                    "tokens": float(n_tok),
                    "epochs": float(n_tok) / max(1, len(tokens)),
                    "model_bits_per_byte": bits / (n_tok * bytes_per_token[domain]),
                    **baselines[domain],
                }
            )
    return rows
