"""The `scaling` command's input layer: a runs CSV to a fitted scaling law, predictions and
allocations at a point.

Every check names the file, line, column or flag; the CLI only parses options and prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.laws.core.estimator import kinds
from mixlab.laws.scaling.backtest import backtest_interval, size_backtest
from mixlab.laws.scaling.forms import ScalingLaw, make_scaling_law

__all__ = ["allocate", "fit_scaling_csv", "predict_at", "read_columns"]

FLAGS = {"N": "--n", "D": "--d", "S": "--steps", "U": "--unique-tokens"}


def read_columns(path: Path, columns: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The named columns of a CSV as positive float arrays; InputError naming file, line
    and column.  `columns` maps the option that named a column (for messages) to its name."""
    frame = read_csv_text(path)
    out = {}
    for option, col in columns.items():
        if col not in frame.columns:
            raise InputError(
                f"{path}: no column {col!r} (given by {option}); columns are "
                f"{', '.join(map(repr, frame.columns))}"
            )
        out[option] = np.array([_positive(raw, path, i, col) for i, raw in enumerate(frame[col])])
    if not len(frame):
        raise InputError(f"{path}: no rows")
    return out


def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV table with every cell as text (checked by the caller, naming line and column)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from None


def _positive(raw: str, path: Path, i: int, col: str) -> float:
    where = f"{path}, line {i + 2}: column {col!r}"
    text = raw.strip()
    if not text:
        raise InputError(f"{where} is empty")
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{where}: {text!r} is not a number") from None
    if not np.isfinite(v):
        raise InputError(f"{where} is {text!r}, not finite")
    if v <= 0:
        raise InputError(f"{where} is {text}; it must be positive")
    return v


def parse_r_star(text: str) -> float | str:
    """--r-star: 'fit' or a positive number."""
    if text == "fit":
        return "fit"
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--r-star must be 'fit' or a positive number, not {text!r}") from None
    if not value > 0:
        raise InputError(f"--r-star must be positive, got {text}")
    return value


def csv_forms() -> list[str]:
    """The scaling forms a runs CSV can fit (the schedule-aware step law needs a run's
    learning-rate schedule, which only nested prediction has)."""
    return [k for k in kinds("scaling") if k != "schedule"]


def fit_scaling_csv(
    runs: Path,
    form: str,
    columns: Mapping[str, str | None],
    *,
    r_star: str = "fit",
    min_step: float = 0.0,
    min_fraction: float = 0.0,
    **common: Any,
) -> ScalingLaw:
    """Fit a law of `form` on a runs CSV.

    `columns` maps the flags --loss-column, --step-column, --n-column, --d-column,
    --c-column, --u-column to column names (None: not given); `common` holds the
    hyperparameters every form has (drop_highest, n_bootstrap, level, seed).
    """
    forms = csv_forms()
    if form not in forms:
        raise InputError(f"--form must be one of {', '.join(forms)}, not {form!r}")
    if common.get("n_bootstrap", 0) < 0:
        raise InputError(f"--bootstrap must be >= 0, got {common['n_bootstrap']}")
    law, cols = _law_and_columns(form, columns, r_star, min_step, min_fraction, common)
    data = read_columns(runs, cols)
    X: Any
    if form == "step":
        X = data["--step-column"]
    elif form == "size":
        X = data["--n-column"]
    else:
        N = data["--n-column"]
        X = {
            "N": N,
            "D": data["--d-column"] if "--d-column" in data else data["--c-column"] / (6.0 * N),
        }
        if "--u-column" in data:
            X["U"] = data["--u-column"]
    y = data["--loss-column"]
    try:
        law.fit(X, y)
    except InputError as exc:
        raise InputError(f"{runs}: {exc}") from None
    if form in ("chinchilla", "overtrain") and len(set(X["N"])) >= 3:
        law.backtest_ = size_backtest(law.clone(), X, y)  # the largest size from the rest
    return law


def _law_and_columns(
    form: str,
    columns: Mapping[str, str | None],
    r_star: str,
    min_step: float,
    min_fraction: float,
    common: dict[str, Any],
) -> tuple[ScalingLaw, dict[str, str]]:
    """The unfitted law and the columns it reads (flag -> column), checking the flags."""
    given = {flag: col for flag, col in columns.items() if col is not None}
    cols = {"--loss-column": given["--loss-column"]}
    if form == "step":
        if "--step-column" not in given:
            raise InputError("--form step needs --step-column")
        cols["--step-column"] = given["--step-column"]
        return make_scaling_law(
            "step", min_step=min_step, min_fraction=min_fraction, **common
        ), cols
    if "--n-column" not in given:
        raise InputError(f"--form {form} needs --n-column")
    cols["--n-column"] = given["--n-column"]
    if form == "size":
        return make_scaling_law("size", **common), cols
    data_flags = [f for f in ("--d-column", "--c-column") if f in given]
    if len(data_flags) != 1:
        raise InputError(f"--form {form} needs exactly one of --d-column or --c-column")
    cols[data_flags[0]] = given[data_flags[0]]
    extra: dict[str, Any] = {}
    if "--u-column" in given:
        if form not in ("chinchilla", "constrained"):
            raise InputError("--u-column (repeated data) needs --form chinchilla or constrained")
        cols["--u-column"] = given["--u-column"]
        extra["r_star"] = parse_r_star(r_star)  # constrained: a number holds R*_D
    elif form == "constrained":
        raise InputError("--form constrained needs --u-column (unique tokens)")
    return make_scaling_law(form, **extra, **common), cols


def predict_at(law: ScalingLaw, given: Mapping[str, float | None], source: Path) -> dict[str, Any]:
    """The law's loss (and bootstrap interval) at one point; `given` maps N, D, S, U to the
    flag values (None: not given; U defaults to unlimited unique data)."""
    point = {}
    for var in law.variables:
        if given.get(var) is None:
            if var == "U":
                continue
            raise InputError(f"{source}: a {law.form} law needs {FLAGS[var]}")
        if not given[var] > 0:
            raise InputError(f"{FLAGS[var]} must be positive, got {given[var]}")
        point[var] = [given[var]]
    if "U" in law.variables and "U" not in point:
        point["U"] = [float("inf")]
    loss = float(law.predict(point)[0])
    result: dict[str, Any] = {"form": law.form, **{k: v[0] for k, v in point.items()}, "loss": loss}
    if law.boot_params_ is not None:
        lo, hi = law.predict_interval(point)[:, 0]
        result["interval"] = [float(lo), float(hi)]
        result["level"] = law.level
    if getattr(law, "backtest_", None) and "N" in point:
        c, lo, hi = backtest_interval(law.backtest_, point["N"], [loss], law.level)
        result["corrected"] = float(c[0])
        result["backtest_interval"] = [float(lo[0]), float(hi[0])]
    return result


def allocate(
    law: ScalingLaw,
    compute: float,
    inference_tokens: float | None,
    target_loss: float | None,
    unique_tokens: float | None,
    source: Path,
) -> dict[str, Any]:
    """The compute-optimal N and D for `compute`; with inference demand or a target loss,
    the inference-aware choice too (and the FLOPs it saves)."""
    from mixlab.laws.scaling.allocation import compute_optimal, inference_optimal

    T = 0.0 if inference_tokens is None else inference_tokens
    if T < 0:
        raise InputError(f"--inference-tokens must be >= 0, got {inference_tokens}")
    try:
        best = compute_optimal(law, compute, unique_tokens=unique_tokens, inference_tokens=T)
        result: dict[str, Any] = {
            "form": law.form,
            "compute": compute,
            "compute_optimal": best.to_dict(),
            "inference_aware": None,
        }
        if inference_tokens is not None or target_loss is not None:
            ell = best.loss if target_loss is None else target_loss
            aware = inference_optimal(law, ell, T, unique_tokens=unique_tokens)
            result.update(target_loss=ell, inference_aware=aware.to_dict())
            if target_loss is None:
                result["flops_saved"] = best.total_flops - aware.total_flops
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return result
