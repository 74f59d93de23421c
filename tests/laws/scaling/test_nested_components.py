"""Nested prediction per validation domain: stages and mixing law on each component metric."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mixlab.errors import InputError
from mixlab.laws import make_law
from mixlab.laws.core.fitting import FitWarning
from mixlab.laws.mixing.selection import default_candidates
from mixlab.laws.scaling.nested import nested_predict
from mixlab.studies.nested import nested_law

DOMAINS = ["web", "code", "books"]
SIZES = (3e7, 1e8, 3e8)
STEPS = np.arange(500, 8001, 500)
# two validation domains whose losses move in opposite directions with the mixture: their
# weighted sum is not one exponential, each of them is
T = {"val_a": np.array([-2.0, 0.5, 1.5]), "val_b": np.array([1.5, -2.0, 0.5])}
C = {"val_a": (1.2, 0.9), "val_b": (0.8, 0.6)}
WEIGHTS = {"val_a": 0.6, "val_b": 0.4}


def component(name, R, N, S):
    c, k = C[name]
    return c + k * np.exp(R @ T[name]) + 60.0 * N**-0.25 + 9.0 * S**-0.4


def target(R, N, S):
    return sum(w * component(m, R, N, S) for m, w in WEIGHTS.items())


def synthetic(rng, n_mix=14):
    R = rng.dirichlet(np.full(3, 1.5), n_mix)
    keys = [f"m{i}" for i in range(n_mix)]
    mixtures = pd.DataFrame(R, index=pd.Index(keys, name="mixture"), columns=DOMAINS)
    curves, runs = [], []
    for key, r in zip(keys, R, strict=True):
        for N in SIZES:
            rid = f"{key}_{N:g}"
            cols = {
                m: component(m, r, N, STEPS) * np.exp(rng.normal(0, 5e-4, len(STEPS)))
                for m in WEIGHTS
            }
            value = sum(WEIGHTS[m] * v for m, v in cols.items())
            curves.append(pd.DataFrame({"run_id": rid, "step": STEPS, "value": value, **cols}))
            runs.append({"run_id": rid, "mixture": key, "n_params": N})
    return pd.concat(curves, ignore_index=True), pd.DataFrame(runs).set_index("run_id"), mixtures


def run(curves, runs, mixtures, law, components, n_fit=11, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return nested_predict(
            curves,
            runs,
            mixtures,
            target_steps=20000,
            target_size=1e9,
            law=law,
            fit_mixtures=list(mixtures.index[:n_fit]),
            optimize=False,
            components=components,
            **kw,
        )


def test_per_component_law_recovers_each_domain_and_beats_the_sum(rng):
    curves, runs, mixtures = synthetic(rng)
    R = mixtures.to_numpy()
    want = target(R, 1e9, 20000)
    held = mixtures.index[11:]
    res = run(curves, runs, mixtures, make_law("exp"), WEIGHTS)
    # stage 2 per component, summed: the target loss of every mixture
    np.testing.assert_allclose(res.mixtures["predicted_components"], want, atol=0.01)
    # the law is one exp law per validation domain, with the generating exponents
    params = res.law.params_table()
    for m in WEIGHTS:
        t = np.array([params[m]["t"][d] for d in DOMAINS])
        np.testing.assert_allclose(t, T[m] - T[m].mean(), atol=0.15)
    per_component = np.abs(res.predict(mixtures.loc[held]) - want[11:])
    assert per_component.max() < 0.02
    # one exp law on the weighted sum cannot follow two opposite shapes
    summed = run(curves, runs, mixtures, make_law("exp"), None)
    assert np.abs(summed.predict(mixtures.loc[held]) - want[11:]).mean() > 2 * per_component.mean()
    # the back-test cross-validates the per-component law on the weighted target
    assert res.backtest is not None and 0 < res.backtest["mixing_cv_rmse"] < 0.05
    data = res.to_dict()
    assert data["law"]["fitted_names"] == list(WEIGHTS)


def test_auto_chooses_between_components_and_the_sum_on_the_proxies(rng):
    curves, runs, mixtures = synthetic(rng, n_mix=12)
    direct = "exp[linear+log],alpha=0.01,direct"
    per_metric = "exp[linear]"  # an exp law per component: the generating form
    law = make_law("auto", candidates=[per_metric, direct], n_splits=3)
    res = run(curves, runs, mixtures, law, WEIGHTS, n_fit=10)
    sel = res.law_selection
    assert sel is not None and len(sel["sizes"]) == 3
    assert {r["name"] for r in sel["candidates"]} == {per_metric, direct}
    score = {r["name"]: r["relative_mae"] for r in sel["candidates"]}
    assert score[per_metric] < 0.5 * score[direct]
    assert sel["chosen"] == per_metric
    assert res.law.selection_[0]["chosen"] == per_metric


def test_the_law_on_the_sum_is_a_candidate_only_with_direct_sum(rng):
    direct = "exp[linear+log],alpha=0.01,direct"
    assert direct not in default_candidates(20, 5)
    assert direct in default_candidates(20, 5, n_components=22)
    R = rng.dirichlet(np.full(3, 1.5), 12)
    Y = np.column_stack([component(m, R, 1e9, 2e4) for m in WEIGHTS])

    def names(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            law = make_law("auto", n_splits=3, ensemble=False, **kw).fit(
                R, Y, target_names=list(WEIGHTS), weights=WEIGHTS
            )
        return {r["name"] for r in law.selection_[0]["candidates"]}

    assert direct not in names()  # plain auto: unchanged
    assert direct in names(direct_sum=True)
    assert nested_law().direct_sum


def test_component_input_errors(rng):
    curves, runs, mixtures = synthetic(rng, n_mix=6)
    with pytest.raises(InputError, match="component column 'val_c'"):
        run(curves, runs, mixtures, make_law("exp"), {**WEIGHTS, "val_c": 0.1}, n_fit=6)
    with pytest.raises(InputError, match="bootstrap"):
        run(curves, runs, mixtures, make_law("exp"), WEIGHTS, n_fit=6, n_bootstrap=2)
    with pytest.raises(InputError, match="'value'"):
        run(curves, runs, mixtures, make_law("exp"), {"value": 1.0}, n_fit=6)
