"""Nested prediction (Ye et al. 2024): from small, short proxy runs to a large, long run.

For every mixture:

1. steps: fit L(S) = E + B S^-a to each proxy run's curve and read it at the target steps
   (a run evaluated at the target steps, whose schedule ends there or is unknown, gives
   its measured loss instead: the law only extrapolates what was not measured);
2. size: fit L(N) = E + A N^-b across the proxy sizes and read it at the target size;

then fit a mixing law on those predicted losses and optimise the mixture.  With 3 or 4
proxy sizes a per-mixture size law is fitted to as many points as it has parameters, so by
default the exponent b is shared by all mixtures (E and A stay per mixture); pass
`size_exponent="per-mixture"` for Ye et al.'s independent fits.

Intervals propagate through the stages by bootstrap: each replicate resamples every
curve's points (step laws refitted from their optimum) and refits the size laws on those
predictions; the mixing law is then refitted either on those predictions plus resampled
residuals of its own fit (`mixture_resampling="residual"`, the default: every mixture stays
in the design, which a law with about as many parameters as mixtures needs) or on a
resample of the mixtures (`"cases"`), or on the predictions alone (`"none"`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import (
    bootstrap_indices,
    bootstrap_replicates,
)
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.optimize import MixtureConstraints, optimize_mixture
from mixlab.laws.scaling.forms import (
    SizeLaw,
    StepLaw,
)
from mixlab.laws.scaling.nested_backtest import stage_backtest
from mixlab.laws.scaling.nested_components import check_components, component_stages
from mixlab.laws.scaling.nested_result import NestedResult
from mixlab.laws.scaling.proxy_selection import select_on_proxies
from mixlab.laws.scaling.schedule import ScheduleStepLaw
from mixlab.laws.scaling.shared_size import SharedExponentSizeLaw

__all__ = ["NestedResult", "SharedExponentSizeLaw", "degenerate_law", "nested_predict"]

EXPONENT_LIMIT = 600.0  # |t| beyond this: exp() of the law runs past float range


def _check_inputs(curves: pd.DataFrame, runs: pd.DataFrame, mixtures: pd.DataFrame) -> None:
    for frame, what, cols in (
        (curves, "curves", ("run_id", "step", "value")),
        (runs, "runs", ("mixture", "n_params")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"nested prediction: {what} table lacks column(s) {missing}")
    unknown = sorted(set(runs["mixture"]) - set(mixtures.index))
    if unknown:
        raise InputError(
            f"nested prediction: run mixture(s) {unknown[:3]} not in the mixtures table"
        )
    no_curve = [r for r in runs.index if r not in set(curves["run_id"])]
    if no_curve:
        raise InputError(f"nested prediction: run {no_curve[0]!r} has no curve points")
    n = pd.to_numeric(runs["n_params"], errors="coerce")
    bad = runs.index[~(n > 0)]
    if len(bad):
        raise InputError(f"nested prediction: run {bad[0]!r} has no positive model size (n_params)")


# Over 80 lines with its 20 parameters and their docstring; the body (~65 lines) is the
# three stages, each a named step below.
def nested_predict(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    mixtures: pd.DataFrame,
    *,
    target_steps: float,
    target_size: float,
    law: MixingLaw,
    step_law: StepLaw | None = None,
    size_exponent: str = "shared",
    fit_mixtures: Sequence[str] | None = None,
    optimize: bool = True,
    constraints: MixtureConstraints | None = None,
    n_bootstrap: int = 0,
    mixture_resampling: str = "residual",
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    skip_incomplete: bool = True,
    backtest: bool = True,
    schedule_aware: bool = True,
    select_on_proxy_sizes: bool = True,
    components: Mapping[str, float] | None = None,
    measured_at_target: bool = True,
) -> NestedResult:
    """Predict every mixture's loss at `target_steps` and `target_size`; fit `law` on them.

    `curves`: long table run_id, step, value (one target metric).  `runs`: index run id,
    columns `mixture` (a key into `mixtures`) and `n_params`.  `mixtures`: index mixture
    key, one column per domain.  `law` is an unfitted mixing law (e.g.
    ``make_law("exp", features="linear+log")``), fitted on the mixtures in
    `fit_mixtures` (default all).  Each mixture needs runs at >= 3 model sizes: others are
    left out with a FitWarning naming them (`skip_incomplete=False`: an InputError).

    Runs whose `runs` row has a `schedule` (a mixlab run record's: {"steps": T, "lr":
    {kind, warmup, min_lr_ratio, decay}}) get the schedule-aware step law, read at the
    target steps of a run with the same schedule shape (`schedule_aware=False`: the plain
    law for all); the others the plain step law, with a FitWarning.

    `measured_at_target` (default on): a run with an evaluation at the target steps (within
    0.5%) whose recorded schedule ends there, or which records none, contributes that
    measured loss rather than its step law's reading: the plain law cannot follow the drop
    at the end of a decaying schedule and read at the curve's own end it over-predicts (on
    the Data Mixing Laws runs, +0.003 of bias at 410M; docs/benchmarks.md).  The run table
    says which runs were measured (`source`).

    `backtest` (default on): hold out the largest proxy size, predict it from the smaller
    ones with the same stages, and cross-validate the mixing law; those errors correct the
    bias of the prediction and set its interval (:meth:`NestedResult.backtest_interval`).
    A mixing law whose fit looks degenerate (exponents beyond +-600, or one value for all
    mixtures) raises a FitWarning and is flagged in `law_check`.

    An `auto` law chooses its candidate on the proxies' own stage-1 losses at every proxy
    size (`select_on_proxy_sizes`, see :mod:`~mixlab.laws.scaling.proxy_selection`), not on
    the extrapolated target losses; the choice is in `law_selection`.

    `components` (metric -> weight; `curves` then has one column per metric, the `value`
    being their weighted sum): the step and size stages also run on every component metric,
    and the mixing law is fitted on the components with these weights, so an exp law fits
    one law per validation domain and sums them (Ye et al.'s multi-domain form; see
    :mod:`~mixlab.laws.scaling.nested_components`).  The size back-test stays on `value`.
    """
    _check_inputs(curves, runs, mixtures)
    if components is not None:
        components = check_components(curves, components, n_bootstrap)
    _check_options(target_steps, target_size, mixture_resampling, size_exponent)
    step_law = step_law or StepLaw()
    rng = np.random.default_rng(seed)
    keys = list(dict.fromkeys(runs["mixture"]))
    fit_keys = keys if fit_mixtures is None else list(fit_mixtures)
    unknown = [k for k in fit_keys if k not in keys]
    if unknown:
        raise InputError(f"nested prediction: fit mixture(s) {unknown[:3]} have no runs")

    # stage 1: steps
    run_table, step_fits, arrays = _step_stage(
        curves,
        runs,
        step_law,
        target_steps,
        schedule_aware,
        measured=measured_at_target,
        fit_measured=n_bootstrap > 0,
    )

    # stage 2: sizes
    sizes = run_table.groupby("mixture")["n_params"].nunique()
    skipped = _incomplete_mixtures(sizes, fit_mixtures, skip_incomplete)
    if skipped:
        keys = [k for k in keys if k not in skipped]
        fit_keys = [k for k in fit_keys if k not in skipped]
        run_table = run_table[run_table["mixture"].isin(keys)]
        step_fits = {r: step_fits[r] for r in run_table.index if r in step_fits}
        arrays = {r: arrays[r] for r in run_table.index if r in arrays}
        sizes = sizes[keys]
    gidx = np.array([keys.index(k) for k in run_table["mixture"]])
    N = run_table["n_params"].to_numpy()
    size_stage = partial(_size_stage, N, gidx, len(keys), size_exponent, target_size)
    size_pred, size_fit = size_stage(run_table["predicted"].to_numpy())
    mix_table = _mixture_table(mixtures, keys, sizes, size_fit, size_pred, size_exponent)
    comp_runs = comp_pred = None
    if components is not None:
        step_stage = partial(
            _step_stage,
            step_law=step_law,
            target_steps=target_steps,
            schedule_aware=schedule_aware,
            warn=False,
            measured=measured_at_target,
            fit_measured=n_bootstrap > 0,
        )
        comp_runs, comp_pred = component_stages(
            curves, runs.loc[run_table.index], components, step_stage, size_stage
        )
        mix_table["predicted_components"] = comp_pred @ np.array(list(components.values()))

    # stage 3: the mixing law on the predicted losses
    domains = [str(c) for c in mixtures.columns]
    fit_idx = np.array([keys.index(k) for k in fit_keys])
    R_all = mixtures.loc[keys, domains].to_numpy(float)
    selection = None
    if select_on_proxy_sizes:
        law, selection = select_on_proxies(
            law, run_table, fit_keys, R_all[fit_idx], domains, comp_runs, components
        )
    fitted_law, law_check = _fit_mixing_law(
        law,
        R_all[fit_idx],
        size_pred[fit_idx] if comp_pred is None else comp_pred[fit_idx],
        domains,
        fit_keys,
        components,
    )
    opt = optimize_mixture(fitted_law, constraints, seed=seed) if optimize else None

    result = NestedResult(
        target_steps=float(target_steps),
        target_size=float(target_size),
        runs=run_table,
        mixtures=mix_table,
        domains=domains,
        law=fitted_law,
        fit_mixtures=list(fit_keys),
        size_exponent=size_exponent,
        optimum=opt,
        level=level,
        skipped=skipped,
        law_check=law_check,
        law_selection=selection,
    )
    if backtest:
        result.backtest = stage_backtest(
            result, size_fit, gidx, N, keys, fit_idx, R_all, law, seed, comp_pred, components
        )
    if n_bootstrap > 0:
        _bootstrap(
            result,
            arrays,
            step_fits,
            size_stage,
            size_fit,
            R_all,
            fit_idx,
            rng,
            n_bootstrap,
            mixture_resampling,
        )
    return result


def _check_options(
    target_steps: float, target_size: float, mixture_resampling: str, size_exponent: str
) -> None:
    for value, what in ((target_steps, "target steps"), (target_size, "target size")):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"nested prediction: {what} must be positive, got {value!r}")
    if mixture_resampling not in ("residual", "cases", "none"):
        raise InputError(
            f"mixture_resampling must be 'residual', 'cases' or 'none', got {mixture_resampling!r}"
        )
    if size_exponent not in ("shared", "per-mixture"):
        raise InputError(f"size_exponent must be 'shared' or 'per-mixture', got {size_exponent!r}")


def _step_stage(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    step_law: StepLaw,
    target_steps: float,
    schedule_aware: bool,
    warn: bool = True,
    measured: bool = True,
    fit_measured: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Stage 1: a step law per run, read at the target steps, or the loss measured there
    (`measured`, see :func:`nested_predict`); the run table, fits, points.  A measured run
    gets a step fit only with `fit_measured` (the bootstrap resamples its curve)."""
    per_run = {rid: g.sort_values("step") for rid, g in curves.groupby("run_id", sort=False)}
    run_ids = list(runs.index)
    step_fits: dict[str, Any] = {}
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    schedules = runs["schedule"] if "schedule" in runs.columns else pd.Series(dtype=object)
    no_schedule = [r for r in run_ids if not isinstance(schedules.get(r), Mapping)]
    read: list[str] = []  # runs read through the plain law for want of a schedule
    for rid in run_ids:
        g = per_run[rid]
        S, v = g["step"].to_numpy(float), g["value"].to_numpy(float)
        at = _measured_at(S, v, target_steps, schedules.get(rid)) if measured else None
        if at is None and rid in no_schedule:
            read.append(rid)
        row = {
            "run_id": rid,
            "mixture": runs.at[rid, "mixture"],
            "n_params": float(runs.at[rid, "n_params"]),
            "n_points": len(v),
            "last_step": float(S.max()),
        }
        if at is not None and not fit_measured:  # nothing to read through a law
            rows.append({**row, "predicted": at, "source": "measured"})
            continue
        this: Any = step_law
        if schedule_aware and rid not in no_schedule:
            this = ScheduleStepLaw.from_record(schedules[rid], min_step=step_law.warmup_end(S))
        try:
            fitted = this.clone(n_bootstrap=0).fit(S, v)
        except InputError as exc:
            raise InputError(f"run {rid!r}: {exc}") from None
        step_fits[rid] = fitted
        keep = fitted.rows_
        arrays[rid] = (S[keep], v[keep])
        rows.append(
            {
                **row,
                "n_points": fitted.n_points_,
                **fitted.params_,
                "predicted": _at_target(fitted, target_steps) if at is None else at,
                "source": "step law" if at is None else "measured",
            }
        )
    if schedule_aware and read and warn:
        warnings.warn(
            f"nested prediction: {len(read)} of {len(run_ids)} runs have no "
            f"learning-rate schedule and no loss measured at the target steps (e.g. "
            f"{read[0]!r}): plain step law for them, which cannot follow the drop at the "
            "end of a decaying schedule",
            FitWarning,
            stacklevel=3,
        )
    return pd.DataFrame(rows).set_index("run_id"), step_fits, arrays


def _measured_at(S: np.ndarray, v: np.ndarray, target_steps: float, schedule: Any) -> float | None:
    """The loss a run measured at the target steps (within 0.5%), or None: none there, or
    its recorded schedule ends elsewhere (then the schedule-aware law's reading stands)."""
    if isinstance(schedule, Mapping):
        total = schedule.get("steps")
        if total is None or abs(float(total) - target_steps) > 0.005 * target_steps:
            return None
    near = np.flatnonzero(np.abs(S - target_steps) <= 0.005 * target_steps)
    if near.size == 0:
        return None
    return float(v[near[np.argmin(np.abs(S[near] - target_steps))]])


def _incomplete_mixtures(
    sizes: pd.Series, fit_mixtures: Sequence[str] | None, skip_incomplete: bool
) -> list[str]:
    """The mixtures with runs at fewer than 3 model sizes, warned about (or an InputError)."""
    few = sizes[sizes < 3]
    if not len(few):
        return []
    if not skip_incomplete:
        raise InputError(
            f"nested prediction: mixture {few.index[0]!r} has runs at {int(few.iloc[0])} model "
            "size(s); the size law needs at least 3 (skip such mixtures with --skip-incomplete)"
        )
    skipped = [str(k) for k in few.index]
    warnings.warn(
        f"nested prediction: left out {len(skipped)} mixture(s) with runs at "
        f"fewer than 3 model sizes: {', '.join(skipped)}",
        FitWarning,
        stacklevel=3,
    )
    named = [k for k in (fit_mixtures or []) if k in skipped]
    kept = [k for k in sizes.index if k not in skipped]
    kept_fit = kept if fit_mixtures is None else [k for k in fit_mixtures if k not in skipped]
    if not kept or not kept_fit:
        raise InputError(
            "nested prediction: no mixture has runs at 3 or more model sizes (mixture "
            f"{few.index[0]!r} has runs at {int(few.iloc[0])} model size(s))"
        )
    if named:
        warnings.warn(
            f"nested prediction: fit mixture(s) {named} left out (fewer than 3 sizes)",
            FitWarning,
            stacklevel=3,
        )
    return skipped


def _size_stage(
    N: np.ndarray,
    gidx: np.ndarray,
    n_mixtures: int,
    size_exponent: str,
    target_size: float,
    pred: np.ndarray,
    init: Any = None,
) -> tuple[np.ndarray, Any]:
    """Stage 2: size laws on the step-stage predictions, read at the target size."""
    if size_exponent == "shared":
        joint = SharedExponentSizeLaw().fit(N, pred, gidx, init=init)
        return joint.predict(target_size), joint
    out, fits = np.empty(n_mixtures), []
    for k in range(n_mixtures):
        m = gidx == k
        start = None if init is None else init[k].params_
        fit = SizeLaw().fit(N[m], pred[m], init=start)
        out[k] = fit.predict([target_size])[0]
        fits.append(fit)
    return out, fits


def _mixture_table(
    mixtures: pd.DataFrame,
    keys: list[str],
    sizes: pd.Series,
    size_fit: Any,
    size_pred: np.ndarray,
    size_exponent: str,
) -> pd.DataFrame:
    """One row per mixture: its weights, its size law's parameters and its predicted loss."""
    mix_rows = []
    for k, key in enumerate(keys):
        params = size_fit.params(k) if size_exponent == "shared" else size_fit[k].params_
        mix_rows.append(
            {
                "mixture": key,
                **mixtures.loc[key].to_dict(),
                "n_sizes": int(sizes[key]),
                **params,
                "predicted": float(size_pred[k]),
            }
        )
    return pd.DataFrame(mix_rows).set_index("mixture")


def _fit_mixing_law(
    law: MixingLaw,
    R: np.ndarray,
    y: np.ndarray,
    domains: list[str],
    fit_keys: list[str],
    components: Mapping[str, float] | None = None,
) -> tuple[MixingLaw, str | None]:
    """Stage 3: a clone of `law` fitted on the predicted losses (a vector, or a mixtures x
    components table with `components` as weights), with its degeneracy check."""
    if components is None:
        fitted_law = law.clone().fit(
            R, y[:, None], domain_names=domains, target_names=["loss"], run_ids=list(fit_keys)
        )
    else:
        fitted_law = law.clone().fit(
            R,
            y,
            domain_names=domains,
            target_names=list(components),
            weights=dict(components),
            target_name="loss",
            run_ids=list(fit_keys),
        )
        y = y @ np.array(list(components.values()))
    law_check = degenerate_law(fitted_law, R, y)
    if law_check:
        warnings.warn(
            f"nested prediction: the {fitted_law.kind} mixing law is degenerate "
            f"({law_check}); do not use its ranking: pick another law "
            "(e.g. exp with features=linear+log, or linear)",
            FitWarning,
            stacklevel=3,
        )
    return fitted_law, law_check


def _bootstrap(
    result: NestedResult,
    arrays: Mapping[str, tuple[np.ndarray, np.ndarray]],
    step_fits: Mapping[str, StepLaw],
    size_stage: Any,
    size_fit: Any,
    R_all: np.ndarray,
    fit_idx: np.ndarray,
    rng: np.random.Generator,
    n_bootstrap: int,
    mixture_resampling: str,
) -> None:
    """Replicates that resample curve points (stages 1-2), then residuals or mixtures."""
    target = result.target_steps
    stage1 = result.runs
    init = size_fit.theta_ if result.size_exponent == "shared" else size_fit
    opt_w = None if result.optimum is None else result.optimum.weights[None, :]
    fitted_y = result.mixtures["predicted"].to_numpy()[fit_idx]
    resid = fitted_y - result.law.predict(R_all[fit_idx])[:, 0]
    resid = resid - resid.mean()

    def replicate(_: int) -> tuple[np.ndarray, MixingLaw]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            preds = []
            for rid, fitted in step_fits.items():
                S, v = arrays[rid]
                idx = bootstrap_indices(len(v), 1, rng)[0]
                loose = {"min_step": 0.0, "drop_highest": 0}
                if isinstance(fitted, StepLaw):
                    loose["min_fraction"] = 0.0
                refit = fitted.clone(**loose).fit(S[idx], v[idx], init=fitted.params_)
                move = _at_target(refit, target) - _at_target(fitted, target)
                preds.append(stage1.at[rid, "predicted"] + move)
            size_pred, _ = size_stage(np.array(preds), init)
            idx, y = fit_idx, size_pred[fit_idx]
            if mixture_resampling == "cases":
                pick = bootstrap_indices(len(fit_idx), 1, rng)[0]
                idx, y = fit_idx[pick], y[pick]
            elif mixture_resampling == "residual":
                y = y + resid[bootstrap_indices(len(resid), 1, rng)[0]]
            law = result.law.clone().fit(
                R_all[idx],
                y[:, None],
                domain_names=result.domains,
                target_names=["loss"],
                renormalize=True,
            )
        return size_pred, law

    reps = bootstrap_replicates(replicate, n_bootstrap, "nested bootstrap replicates")
    size_samples = [size_pred for size_pred, _ in reps]
    laws = [law for _, law in reps]
    opt_samples = [] if opt_w is None else [float(law.predict(opt_w)[0, 0]) for law in laws]
    result.size_samples = np.array(size_samples)
    result.boot_laws = laws
    result.optimum_samples = None if opt_w is None else np.array(opt_samples)


def _at_target(fitted: Any, target_steps: float) -> float:
    """A fitted step law's loss at the target steps; a schedule-aware one under the same
    schedule stretched to end at the target steps (the target run's own schedule)."""
    if isinstance(fitted, ScheduleStepLaw):
        fitted = fitted.with_schedule(total_steps=int(round(target_steps)))
    return float(fitted.predict([target_steps])[0])


def degenerate_law(law: MixingLaw, R: np.ndarray, y: np.ndarray) -> str | None:
    """Why a fitted mixing law looks degenerate, or None: exponents beyond +-600 (the
    exponential saturates) or predictions that no longer vary although the losses do."""
    t = getattr(law, "t_", None)
    if t is not None and np.size(t) and np.nanmax(np.abs(np.asarray(t, float))) > EXPONENT_LIMIT:
        return f"exponent |t| = {float(np.nanmax(np.abs(t))):.3g} > {EXPONENT_LIMIT:g}"
    pred = np.asarray(law.predict(R), float)[:, 0]
    if not np.all(np.isfinite(pred)):
        return "non-finite predictions on the fitted mixtures"
    spread = float(np.ptp(y))
    if spread > 0 and float(np.ptp(pred)) < 1e-3 * spread:
        return (
            f"predictions span {float(np.ptp(pred)):.3g} where the losses span "
            f"{spread:.3g}: one value for every mixture"
        )
    return None
