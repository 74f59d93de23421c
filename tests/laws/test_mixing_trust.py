"""The auto law, guardrails and conformal intervals (issue 14): behaviour that breaks if wrong."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import AutoLaw, FitWarning, LinearLaw, MixingLaw, law_from_dict, optimize_mixture
from mixlab.laws.core.estimator import REGISTRY
from mixlab.laws.mixing import selection
from mixlab.laws.mixing.conformal import conformal_quantile, prediction_interval
from mixlab.laws.mixing.guardrails import fit_problems, outside_range

T_TRUE = np.array([-2.0, 1.0, 0.5])


def exp_data(n: int, seed: int, noise: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """L = 2 + 0.5 exp(t . r) + noise on Dirichlet mixtures of 3 domains."""
    rng = np.random.default_rng(seed)
    R = rng.dirichlet([1.0, 1.0, 1.0], n)
    return R, (2.0 + 0.5 * np.exp(R @ T_TRUE) + rng.normal(0, noise, n))[:, None]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return fn(*args, **kwargs)


def test_auto_picks_the_true_law_and_recovers_its_parameters():
    R, y = exp_data(80, 0, noise=0.003)
    law = quiet(
        AutoLaw(candidates=["linear", "exp[linear]"], n_splits=3).fit, R, y, target_names=["y"]
    )
    sel = law.selection_[0]
    assert sel["chosen"] == "exp[linear]"
    rows = {r["name"]: r for r in sel["candidates"]}
    assert rows["exp[linear]"]["mae"] < rows["linear"]["mae"] < rows["mean"]["mae"]
    assert all(r["baseline_mae"] == rows["mean"]["mae"] for r in sel["candidates"])
    member = law.members_[law.member_names_.index("exp[linear]")]
    t = member.t_[0, 0]
    # t is identified up to a common shift on the simplex (stored centred)
    assert np.allclose(t, T_TRUE - T_TRUE.mean(), atol=0.1)
    assert member.c_[0] == pytest.approx(2.0, abs=0.05)


class SpikyLaw(MixingLaw):
    """Exact on most mixtures, absurd beyond the largest d0 share it was fitted on: in
    cross-validation exactly one run (the corner) blows up, the ranks stay near perfect."""

    # registered only inside the test (monkeypatch), so the registry stays clean
    def __init__(self, weighted: str = "direct") -> None:
        self.weighted = weighted

    def _fit(self, R, Y):
        self.corner_ = float(R[:, 0].max())

    def _predict(self, R):
        good = 2.0 + 0.5 * np.exp(R @ T_TRUE)
        return (good - 100.0 * (R[:, 0] > self.corner_))[:, None]  # the lowest stays lowest

    def _params_to_dict(self):
        return {"corner": self.corner_}

    def _params_from_dict(self, params):
        self.corner_ = float(params["corner"])


def test_auto_never_selects_a_candidate_that_blows_up(monkeypatch):
    monkeypatch.setattr(SpikyLaw, "kind", "test_spiky", raising=False)
    monkeypatch.setitem(REGISTRY, "test_spiky", SpikyLaw)
    monkeypatch.setitem(selection.CANDIDATES, "spiky", ("test_spiky", {}))
    R, y = exp_data(60, 1)
    with pytest.warns(FitWarning, match=r"spiky.*blow up"):
        law = AutoLaw(candidates=["linear", "spiky"], n_splits=3, ensemble=False).fit(
            R, y, target_names=["y"]
        )
    rows = {r["name"]: r for r in law.selection_[0]["candidates"]}
    # by rank quality alone the spiky law would win; the guardrail rules it out
    assert rows["spiky"]["spearman"] > rows["linear"]["spearman"]
    assert not rows["spiky"]["eligible"] and law.selection_[0]["chosen"] == "linear"


def test_guardrails_fire_on_degenerate_fits():
    y = np.linspace(4.0, 5.0, 20)
    assert "near-constant" in " ".join(fit_problems(y, fitted=np.full(20, 4.5) + 1e-4 * y))
    oof = y.copy()
    oof[3] = 143.0  # the quick demo's blow-up: an exponent of -45 in a corner
    assert "blow up" in " ".join(fit_problems(y, oof=oof))
    assert "constant" in " ".join(fit_problems(np.full(10, 3.0)))
    assert fit_problems(y, fitted=y + 0.01, oof=y - 0.02) == []
    assert "bound" in " ".join(fit_problems(y, fit_info=[{"at_bounds": ["t0"]}]))


def test_far_extrapolation_is_flagged_and_clipped():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.3, 0.7, 40)
    R = np.column_stack([a, 1 - a])
    y = (1.0 + np.exp(8.0 * a) + rng.normal(0, 0.5, 40))[:, None]
    law = quiet(AutoLaw(candidates=["exp[linear]"], n_splits=3).fit, R, y, target_names=["y"])
    far = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert outside_range(law.domain_range_, law.domain_names_, far) == [["domain0", "domain1"], []]
    pred = law.predict(far)
    assert pred[0, 0] <= law.bounds_[0, 1] + 1e-9 and law.clipped(far)[:, 0].tolist() == [
        True,
        False,
    ]


def test_conformal_intervals_cover_at_the_nominal_level():
    R, y = exp_data(200, 3, noise=0.02)
    law = quiet(AutoLaw(candidates=["exp[linear]"], n_splits=5).fit, R, y, target_names=["y"])
    Rt, yt = exp_data(3000, 4, noise=0.02)
    _, lo, hi = prediction_interval(law, Rt, 0.9)
    cover = np.mean((yt >= lo) & (yt <= hi))
    # the conformal quantile of 200 residuals: coverage ~ Beta, sd ~ 0.021, plus 0.005 test
    assert abs(cover - 0.9) < 0.06
    assert conformal_quantile(np.arange(1.0, 10.0), 0.9) == 9.0
    assert conformal_quantile(np.arange(1.0, 5.0), 0.9) == np.inf


def test_auto_ensemble_round_trips_and_optimizes_with_intervals():
    R, y = exp_data(50, 5)
    Y = np.hstack([y, y + 0.1 * R[:, :1]])
    law = quiet(
        AutoLaw(candidates=["linear", "exp[linear]", "lgbm"], n_splits=3).fit,
        R,
        Y,
        target_names=["a", "b"],
        domain_names=["d0", "d1", "d2"],
    )
    back = law_from_dict(json.loads(json.dumps(law.to_dict())))
    Rt = np.random.default_rng(6).dirichlet([1, 1, 1], 30)
    assert np.array_equal(back.predict(Rt), law.predict(Rt))
    assert back.selection_ == json.loads(json.dumps(law.selection_))
    prior = {"d0": 0.2, "d1": 0.5, "d2": 0.3}
    from mixlab.laws import MixtureConstraints

    res = quiet(optimize_mixture, back, MixtureConstraints(prior=prior, cap=2.0), target="a")
    assert res.interval_kind.startswith("conformal") and res.gain is not None
    assert res.interval[0] < res.predicted < res.interval[1]
    assert res.gain_interval[0] < res.gain < res.gain_interval[1]


def test_auto_rejects_unknown_candidates_and_tiny_tables():
    R, y = exp_data(10, 7)
    with pytest.raises(InputError, match="unknown auto candidate"):
        AutoLaw(candidates=["cubic"]).fit(R, y)
    with pytest.raises(InputError, match="at least 4 runs"):
        AutoLaw(candidates=["linear"]).fit(R[:3], y[:3])
    assert isinstance(selection.make_candidate("linear"), LinearLaw)
    assert "implicit[2]" in selection.default_candidates(512, 17)
    assert "implicit[2]" not in selection.default_candidates(410, 64)
