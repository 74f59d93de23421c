"""The one estimator protocol: registry, clone/repr, fitted check, to_dict/from_dict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import ExpLaw, LinearLaw
from mixlab.laws.core.estimator import (
    DEFAULT_LEVEL,
    REGISTRY,
    Estimator,
    kinds,
    law_from_dict,
    make,
)
from mixlab.laws.phase.transition import PhaseAnalysis, WebCapacityLaw
from mixlab.laws.scaling.forms import ChinchillaLaw, OvertrainLaw, SizeLaw, StepLaw
from mixlab.laws.scaling.nested import SharedExponentSizeLaw

DATA = Path(__file__).parent / "data"


def test_registry_lists_every_law_by_family():
    assert kinds("mixing") == ["auto", "exp", "implicit", "lgbm", "linear", "mean", "power"]
    assert kinds("scaling") == [
        "chinchilla",
        "constrained",
        "overtrain",
        "schedule",
        "size",
        "step",
    ]
    assert {"phase", "web_capacity", "shared_size"} <= set(kinds())
    assert all(issubclass(cls, Estimator) for cls in REGISTRY.values())
    with pytest.raises(InputError, match="unknown law kind 'cubic'"):
        make("cubic", "mixing")
    assert isinstance(make("step", "scaling", min_step=10), StepLaw)


@pytest.mark.parametrize(
    "law",
    [
        ExpLaw(seed=3),
        LinearLaw(),
        StepLaw(min_step=5.0),
        ChinchillaLaw(r_star="fit"),
        OvertrainLaw(),
        PhaseAnalysis(threshold=0.4),
        WebCapacityLaw(bits_per_param=1.5),
        SharedExponentSizeLaw(n_refine=2),
    ],
    ids=lambda law: type(law).__name__,
)
def test_clone_repr_and_fitted_check(law):
    copy = law.clone()
    assert type(copy) is type(law) and copy.get_params() == law.get_params()
    assert repr(copy) == repr(law) and repr(law).startswith(type(law).__name__ + "(")
    assert not law.is_fitted
    with pytest.raises(InputError, match="not fitted yet"):
        law._check_fitted()
    with pytest.raises(InputError, match="unknown hyperparameter"):
        law.clone(no_such_knob=1)


def test_every_interval_defaults_to_one_level():
    for cls in (StepLaw, SizeLaw, ChinchillaLaw, OvertrainLaw, PhaseAnalysis):
        assert cls().level == DEFAULT_LEVEL


def _mixing_data(seed=0):
    rng = np.random.default_rng(seed)
    R = rng.dirichlet([1, 1, 1], 12)
    y = 2 + np.exp(R @ np.array([0.5, -1.0, 0.2])) + rng.normal(0, 0.01, 12)
    return R, y[:, None]


def _roundtrip(law):
    return law_from_dict(json.loads(json.dumps(law.to_dict())))


def test_fitted_laws_round_trip_through_json():
    R, Y = _mixing_data()
    mix = ExpLaw(seed=0).fit(R, Y, domain_names=["a", "b", "c"], target_names=["loss"])
    back = _roundtrip(mix)
    assert np.array_equal(back.predict(R), mix.predict(R)) and back.to_dict() == mix.to_dict()

    S = np.arange(100, 2100, 100.0)
    step = StepLaw(n_bootstrap=10).fit(S, 2 + 30 * S**-0.5)
    back = _roundtrip(step)
    assert np.array_equal(back.predict(S), step.predict(S))
    assert np.array_equal(back.predict_interval(S), step.predict_interval(S))
    assert back.to_dict() == step.to_dict() and back.ci_ == step.ci_

    N = np.geomspace(1e6, 1e9, 6)
    web = WebCapacityLaw().fit(N, 1.5 + 40 * (2 * N) ** -0.3)
    back = _roundtrip(web)
    assert np.array_equal(back.predict(N), web.predict(N))

    groups = np.repeat([0, 1], 6)
    NN = np.tile(N, 2)
    shared = SharedExponentSizeLaw().fit(NN, np.where(groups, 2.0, 2.5) + 50 * NN**-0.3, groups)
    back = _roundtrip(shared)
    assert np.array_equal(back.predict(3e9), shared.predict(3e9))
    assert back.exponent_ == pytest.approx(0.3, rel=1e-3)


def test_law_files_written_by_the_old_code_load_and_predict_the_same():
    expected = json.loads((DATA / "expected_v1.json").read_text())
    exp = law_from_dict(json.loads((DATA / "exp_law_v1.json").read_text()))
    assert isinstance(exp, ExpLaw)
    assert np.array_equal(exp.predict(expected["exp_R"])[:, 0], expected["exp_pred"])
    old_step = json.loads((DATA / "step_law_v1.json").read_text())
    assert "kind" not in old_step and "objective" in old_step  # the pre-registry layout
    step = StepLaw.from_dict(old_step)
    assert np.array_equal(step.predict(expected["step_S"]), expected["step_pred"])
    assert np.array_equal(step.predict_interval(expected["step_S"]), expected["step_interval"])
    assert step.ci_ == expected["step_ci"] and step.cost_ == old_step["objective"]
    with pytest.raises(InputError, match="is not a SizeLaw"):
        SizeLaw.from_dict(old_step)


def test_step_and_size_laws_are_one_power_law_with_named_variable():
    common = [
        "loss",
        "delta",
        "residual",
        "drop_highest",
        "n_refine",
        "n_bootstrap",
        "level",
        "seed",
        "maxiter",
    ]
    assert list(StepLaw().get_params()) == ["min_step", "min_fraction", *common]
    assert list(SizeLaw().get_params()) == common
    x = np.geomspace(1e6, 1e9, 8)
    y = 2.0 + 300.0 * x**-0.4
    step = StepLaw().fit(x, y)
    size = SizeLaw().fit(x, y)
    assert step.variables == ("S",) and size.variables == ("N",)
    assert list(step.params_.values()) == pytest.approx(list(size.params_.values()))
    assert size.params_["b"] == pytest.approx(0.4, rel=1e-3)
