"""Nested prediction: steps, then sizes, then a mixing law, on data with a known answer."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mixlab.errors import InputError
from mixlab.laws import make_law
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.scaling.nested import SharedExponentSizeLaw, nested_predict

DOMAINS = ["web", "code", "books"]
SIZES = (3e7, 1e8, 3e8)
STEPS = np.arange(500, 8001, 500)
T = np.array([-1.5, 0.5, 1.0])


def truth(R, N, S):
    """Mixing term + size term + step term: each stage of the nest is exact."""
    return 1.5 + 0.8 * np.exp(R @ T) + 60.0 * N**-0.25 + 9.0 * S**-0.4


def synthetic(rng, n_mix=12, sizes=SIZES):
    R = rng.dirichlet(np.full(3, 2.0), n_mix)
    keys = [f"m{i}" for i in range(n_mix)]
    mixtures = pd.DataFrame(R, index=pd.Index(keys, name="mixture"), columns=DOMAINS)
    curves, runs = [], []
    for k, r in zip(keys, R, strict=True):
        for N in sizes:
            rid = f"{k}_{N:g}"
            y = truth(r, N, STEPS) * np.exp(rng.normal(0, 5e-4, len(STEPS)))
            curves.append(pd.DataFrame({"run_id": rid, "step": STEPS, "value": y}))
            runs.append({"run_id": rid, "mixture": k, "n_params": N})
    return pd.concat(curves), pd.DataFrame(runs).set_index("run_id"), mixtures


def test_nested_prediction_recovers_the_target(rng):
    curves, runs, mixtures = synthetic(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # the optimum lies at a corner
        res = nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=20000,
            target_size=1e9,
            law=make_law("exp"),
            fit_mixtures=list(mixtures.index[:10]),
        )
    R = mixtures.to_numpy()
    want = truth(R, 1e9, 20000)
    np.testing.assert_allclose(res.mixtures["predicted"], want, atol=0.01)
    assert res.mixtures["b"].iloc[0] == pytest.approx(0.25, rel=0.15)
    held = mixtures.index[10:]
    np.testing.assert_allclose(res.predict(mixtures.loc[held]), want[10:], atol=0.02)
    assert res.optimum is not None
    assert res.optimum.predicted <= res.mixtures["predicted"].min() + 1e-3
    data = res.to_dict()
    assert data["format"] == "mixlab.nested" and len(data["runs"]) == 36
    assert data["law"]["kind"] == "exp" and data["fit_mixtures"] == list(mixtures.index[:10])


def test_nested_bootstrap_propagates_intervals(rng):
    curves, runs, mixtures = synthetic(rng, n_mix=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=20000,
            target_size=1e9,
            law=make_law("exp"),
            size_exponent="per-mixture",
            n_bootstrap=3,
            seed=2,
        )
    assert res.size_samples.shape == (3, 8)
    band = res.predict_interval(mixtures.iloc[:2])
    assert band.shape == (2, 2) and np.all(band[0] <= band[1])
    data = res.to_dict()
    assert data["n_bootstrap"] == 3 and len(data["optimum"]["interval"]) == 2
    assert all(m["low"] <= m["high"] for m in data["mixtures"])
    for how in ("cases", "none"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            other = nested_predict(
                curves,
                runs,
                mixtures,
                target_steps=20000,
                target_size=1e9,
                law=make_law("exp"),
                n_bootstrap=2,
                optimize=False,
                mixture_resampling=how,
            )
        assert len(other.boot_laws) == 2 and other.optimum_samples is None
    with pytest.raises(InputError, match="mixture_resampling"):
        nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=2e4,
            target_size=1e9,
            law=make_law("exp"),
            mixture_resampling="jackknife",
        )


def test_shared_exponent_size_law_fits_groups():
    N = np.tile([1e7, 3e7, 1e8, 3e8], 3)
    g = np.repeat([0, 1, 2], 4)
    E = np.array([2.0, 2.3, 1.8])
    y = E[g] + 50.0 * N**-0.3
    law = SharedExponentSizeLaw().fit(N, y, g)
    assert law.exponent_ == pytest.approx(0.3, rel=1e-3)
    np.testing.assert_allclose(law.predict(1e12), E + 50.0 * 1e12**-0.3, rtol=1e-4)


def test_nested_input_errors(rng):
    curves, runs, mixtures = synthetic(rng, n_mix=4, sizes=(1e7, 1e8))
    kw = dict(target_steps=1e4, target_size=1e9, law=make_law("exp"))
    with pytest.raises(InputError, match="2 model size"):
        nested_predict(curves, runs, mixtures, **kw)
    with pytest.raises(InputError, match="target size must be positive"):
        nested_predict(curves, runs, mixtures, **{**kw, "target_size": -1.0})
    with pytest.raises(InputError, match="lacks column"):
        nested_predict(curves.drop(columns="value"), runs, mixtures, **kw)
    with pytest.raises(InputError, match="no curve points"):
        nested_predict(curves[curves.run_id != runs.index[0]], runs, mixtures, **kw)


def test_degenerate_mixing_law_is_flagged(rng, monkeypatch):
    from mixlab.laws.scaling import nested as nested_mod
    from mixlab.laws.scaling.nested import degenerate_law

    curves, runs, mixtures = synthetic(rng, n_mix=8)
    R = mixtures.to_numpy()
    y = truth(R, 1e9, 20000)
    law = make_law("exp").fit(R, y[:, None], domain_names=DOMAINS)
    assert degenerate_law(law, R, y) is None
    law.t_ = law.t_ * 0 + 700.0
    assert "700" in degenerate_law(law, R, y)
    monkeypatch.setattr(nested_mod, "degenerate_law", lambda *a: "exponent |t| = 700 > 600")
    with pytest.warns(FitWarning, match="degenerate"):
        res = nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=20000,
            target_size=1e9,
            law=make_law("exp"),
            optimize=False,
        )
    assert res.to_dict()["law_check"] == "exponent |t| = 700 > 600"


def test_backtest_corrects_a_known_size_bias(rng):
    """Sizes follow E + A N^-b exactly: the back-test finds no bias; its interval holds."""
    curves, runs, mixtures = synthetic(rng, n_mix=10, sizes=(1e7, 3e7, 1e8, 3e8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=8000,
            target_size=1e9,
            law=make_law("exp"),
            optimize=False,
        )
    bt = res.backtest
    assert bt["held_out_size"] == 3e8 and not bt["exponent_fixed"] and bt["n"] == 10
    assert abs(bt["size_bias"]) < 0.005
    R = mixtures.to_numpy()
    lo, hi = res.backtest_interval(R, 0.9)
    want = truth(R, 1e9, 8000)
    assert np.mean((lo <= want) & (want <= hi)) >= 0.9


def test_runs_with_a_schedule_get_the_schedule_aware_step_law(rng):
    """Proxies of 8000 cosine steps; the target is a 20000-step cosine run."""
    from mixlab.laws.scaling.schedule import ScheduleStepLaw

    sched = {"steps": 8000, "lr": {"kind": "cosine", "warmup": 0.02, "min_lr_ratio": 0.1}}
    keys = [f"m{i}" for i in range(5)]
    R = rng.dirichlet(np.full(3, 2.0), len(keys))
    mixtures = pd.DataFrame(R, index=pd.Index(keys, name="mixture"), columns=DOMAINS)
    curves, runs, want = [], [], {}
    steps = np.arange(200, 8001, 200)
    for k, r in zip(keys, R, strict=True):
        for N in SIZES:
            law = ScheduleStepLaw.from_record(sched)
            law.params_ = {
                "L0": float(1.5 + 0.8 * np.exp(r @ T) + 60.0 * N**-0.25),
                "A": 3.0,
                "alpha": 0.5,
                "C": 4e-4,
            }
            rid = f"{k}_{N:g}"
            y = law.predict(steps) * np.exp(rng.normal(0, 3e-4, len(steps)))
            curves.append(pd.DataFrame({"run_id": rid, "step": steps, "value": y}))
            runs.append({"run_id": rid, "mixture": k, "n_params": N, "schedule": sched})
            want[rid] = law.with_schedule(total_steps=20000).predict([20000])[0]
    curves, runs = pd.concat(curves), pd.DataFrame(runs).set_index("run_id")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)  # no "no schedule" warning
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = nested_predict(
                curves,
                runs,
                mixtures,
                target_steps=20000,
                target_size=1e9,
                law=make_law("linear"),
                optimize=False,
                backtest=False,
            )
        except FitWarning as w:
            assert "schedule" not in str(w), w
            raise
    got = res.runs["predicted"]
    np.testing.assert_allclose(got.to_numpy(), [want[r] for r in got.index], atol=0.01)
    with pytest.warns(FitWarning, match="no learning-rate schedule"):
        nested_predict(
            curves,
            runs.drop(columns="schedule"),
            mixtures,
            target_steps=20000,
            target_size=1e9,
            law=make_law("linear"),
            optimize=False,
            backtest=False,
        )


def test_auto_law_is_chosen_on_the_proxy_sizes(rng):
    curves, runs, mixtures = synthetic(rng)
    law = make_law("auto", candidates=["linear", "exp[linear]"], ensemble=False, n_splits=3)
    kw = dict(target_steps=20000, target_size=1e9, optimize=False, backtest=False)
    fit = list(mixtures.index[:10])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        res = nested_predict(curves, runs, mixtures, law=law, fit_mixtures=fit, **kw)
        old = nested_predict(
            curves, runs, mixtures, law=law, fit_mixtures=fit, select_on_proxy_sizes=False, **kw
        )
    sel = res.law_selection
    assert sel["sizes"] == list(SIZES) and sel["chosen"] == "exp[linear]"
    assert {c["name"] for c in sel["candidates"]} == {"linear", "exp[linear]"}
    assert res.law.candidates == ["exp[linear]"]  # the target fit tries that law alone
    assert res.to_dict()["law_selection"]["chosen"] == "exp[linear]"
    assert old.law_selection is None and old.law.candidates == ["linear", "exp[linear]"]
    want = truth(mixtures.to_numpy()[10:], 1e9, 20000)
    np.testing.assert_allclose(res.predict(mixtures.iloc[10:]), want, atol=0.02)


def test_a_loss_measured_at_the_target_steps_is_used_as_measured(rng):
    """Cosine proxies of 8000 steps with no schedule on record, read at 8000 steps: the plain
    step law cannot follow the end of the decay and over-predicts; the measured loss stands."""
    from mixlab.laws.scaling.schedule import ScheduleStepLaw

    sched = {"steps": 8000, "lr": {"kind": "cosine", "warmup": 0.02, "min_lr_ratio": 0.1}}
    keys = [f"m{i}" for i in range(5)]
    R = rng.dirichlet(np.full(3, 2.0), len(keys))
    mixtures = pd.DataFrame(R, index=pd.Index(keys, name="mixture"), columns=DOMAINS)
    curves, runs, want = [], [], {}
    steps = np.arange(200, 8001, 200)
    for k, r in zip(keys, R, strict=True):
        for N in SIZES:
            law = ScheduleStepLaw.from_record(sched)
            law.params_ = {"L0": float(1.5 + 60.0 * N**-0.25), "A": 3.0, "alpha": 0.5, "C": 4e-4}
            rid = f"{k}_{N:g}"
            y = law.predict(steps) + 0.8 * np.exp(r @ T) + rng.normal(0, 5e-4, len(steps))
            curves.append(pd.DataFrame({"run_id": rid, "step": steps, "value": y}))
            runs.append({"run_id": rid, "mixture": k, "n_params": N})
            want[rid] = y[-1]
    curves, runs = pd.concat(curves), pd.DataFrame(runs).set_index("run_id")
    kw = dict(target_steps=8000, target_size=1e9, law=make_law("linear"), optimize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        measured = nested_predict(curves, runs, mixtures, **kw).runs
        fitted = nested_predict(curves, runs, mixtures, measured_at_target=False, **kw).runs
        later = runs.assign(schedule=[{**sched, "steps": 20000}] * len(runs))
        other = nested_predict(curves, later, mixtures, backtest=False, **kw).runs
        boot = nested_predict(curves, runs, mixtures, n_bootstrap=8, backtest=False, **kw)
    centre = np.median(boot.size_samples, axis=0) - boot.mixtures["predicted"].to_numpy()
    assert np.all(np.ptp(boot.size_samples, axis=0) > 0) and np.all(np.abs(centre) < 0.04)
    assert np.isfinite(boot.runs["E"]).all()  # measured runs are fitted for the bootstrap
    truth_ = np.array([want[r] for r in measured.index])
    assert (measured["source"] == "measured").all() and "E" not in measured  # no step fit
    np.testing.assert_allclose(measured["predicted"], truth_, atol=1e-9)
    assert (fitted["source"] == "step law").all()
    assert np.mean(fitted["predicted"].to_numpy() - truth_) > 0.01  # the bias it removes
    assert (other["source"] == "step law").all()  # its schedule ends at 20000, not here
