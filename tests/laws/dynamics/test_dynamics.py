"""Learning speed, emergence, rank agreement, compression and data scaling at one size."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from mixlab.errors import InputError
from mixlab.laws import dynamics
from mixlab.laws.core.estimator import kinds, law_from_dict
from mixlab.laws.dynamics import (
    DataScalingEstimator,
    EmergenceEstimator,
    RankAgreementEstimator,
    area_under_curve,
    baseline_bits_per_byte,
    bits_per_byte,
    code_length_bits,
    compression_table,
    data_scaling_at_fixed_size,
    emergence_across_seeds,
    emergence_point,
    kendall_tau,
    rank_agreement,
    speed_ratio,
)

X = np.arange(0.0, 1001.0, 100.0)  # 0, 100, ..., 1000
# spike to 0.95 at x=200 that falls back, then a lasting crossing between 600 and 700
NOISY = np.array([0.0, 0.1, 0.95, 0.3, 0.5, 0.7, 0.85, 0.92, 0.91, 0.95, 0.97])


def ramp(cross: float, x: np.ndarray = X) -> tuple[np.ndarray, np.ndarray]:
    """A linear accuracy curve that reaches 0.9 at x = cross."""
    return x, np.clip(0.9 * x / cross, 0.0, 1.0)


# ---- emergence --------------------------------------------------------------------------


def test_emergence_interpolates_between_bracketing_evaluations():
    x = [0, 1000, 2000, 3000, 4000]
    acc = [0.0, 0.2, 0.5, 0.85, 0.95]
    # 0.9 is halfway from 0.85 (x=3000) to 0.95 (x=4000)
    assert emergence_point(x, acc, 0.9) == pytest.approx(3500.0, rel=1e-12)
    assert emergence_point(x, acc, 0.35) == pytest.approx(1500.0, rel=1e-12)
    # exactly on an evaluation: that evaluation
    assert emergence_point(x, acc, 0.5) == pytest.approx(2000.0, rel=1e-12)
    # unsorted input is sorted by x first
    order = [3, 0, 4, 2, 1]
    assert emergence_point(np.take(x, order), np.take(acc, order), 0.9) == pytest.approx(3500.0)


def test_emergence_at_first_evaluation_and_never():
    assert emergence_point([50, 100, 200], [0.93, 0.95, 0.97], 0.9) == 50.0
    assert emergence_point([50, 100, 200], [0.1, 0.5, 0.89], 0.9) is None
    assert emergence_point([50, 100, 200], [0.1, 0.5, 0.89], threshold=0.5) == 100.0


def test_emergence_spike_versus_sustained_crossing():
    first = emergence_point(X, NOISY, 0.9)
    assert first == pytest.approx(100 + 0.8 / 0.85 * 100)  # the spike, between 100 and 200
    lasting = emergence_point(X, NOISY, 0.9, sustain=True)
    assert lasting == pytest.approx(600 + 0.05 / 0.07 * 100)  # between 600 and 700
    # a small dip after the crossing: strict sustain waits it out, a tolerance forgives it
    acc = [0.0, 0.5, 0.92, 0.89, 0.95, 0.96]
    x = [0, 1, 2, 3, 4, 5]
    assert emergence_point(x, acc, 0.9, sustain=True) == pytest.approx(3 + 0.01 / 0.06)
    assert emergence_point(x, acc, 0.9, sustain=True, tolerance=0.02) == pytest.approx(
        1 + 0.4 / 0.42
    )
    # a curve that ends below the threshold has no sustained crossing
    assert emergence_point([0, 1, 2], [0.2, 0.95, 0.5], 0.9, sustain=True) is None


@pytest.mark.parametrize(
    "x, acc, match",
    [
        ([0, 100, 100, 200], [0.1, 0.2, 0.3, 0.9], "twice"),
        ([0, 100, 200], [0.1, 0.2], "differ in length"),
        ([0, np.nan, 200], [0.1, 0.2, 0.3], "finite"),
        ([], [], "no evaluations"),
    ],
)
def test_emergence_rejects_bad_curves(x, acc, match):
    with pytest.raises(InputError, match=match):
        emergence_point(x, acc)


def test_emergence_across_seeds_all_reached():
    em = emergence_across_seeds([ramp(300), ramp(400), ramp(600)], n_bootstrap=500)
    assert em.status == "reached"
    assert em.points == pytest.approx([300, 400, 600])
    assert em.value == pytest.approx(400)
    assert em.mean == pytest.approx(1300 / 3)
    assert (em.reached, em.n) == (3, 3)
    lo, hi = em.ci
    assert 300 <= lo <= 400 <= hi <= 600 and lo < hi
    assert em.lower_bound is None
    assert json.loads(json.dumps(em.to_dict()))["value"] == pytest.approx(400)


def test_emergence_across_seeds_some_or_none_reached():
    slow = (np.arange(0.0, 801.0, 100.0), np.linspace(0.0, 0.8, 9))  # stops at x=800
    em = emergence_across_seeds([ramp(300), slow, ramp(600)])
    assert em.status == "not_reached_by_all"
    assert em.value is None
    assert em.points[1] is None and (em.reached, em.n) == (2, 3)
    assert em.lower_bound == 800.0
    assert em.ci == pytest.approx((300, 600)) and em.ci_kind == "range_of_reached"
    none = emergence_across_seeds([slow, slow])
    assert none.status == "not_reached" and none.value is None and none.ci is None
    with pytest.raises(InputError, match="curve 1"):
        emergence_across_seeds([ramp(300), ([0, 1], [0.5])])


def test_speed_ratio_of_stretched_curve_is_two():
    x = np.array([0, 50, 100, 200, 400, 800, 1600.0])
    acc = 1 - np.exp(-x / 300)
    ratios = speed_ratio((x, acc), (2 * x, acc), levels=(0.3, 0.5, 0.9, 0.999))
    assert ratios[0.3] == pytest.approx(2.0)
    assert ratios[0.5] == pytest.approx(2.0)
    assert ratios[0.9] == pytest.approx(2.0)
    assert ratios[0.999] is None  # never reached
    assert speed_ratio((2 * x, acc), (x, acc), levels=(0.5,))[0.5] == pytest.approx(0.5)


# ---- area under the curve ---------------------------------------------------------------


def test_area_under_constant_curve():
    x = [10, 100, 1000, 10000]
    assert area_under_curve(x, [0.5] * 4) == pytest.approx(0.5)
    assert area_under_curve(x, [0.5] * 4, log_x=True) == pytest.approx(0.5)
    assert area_under_curve(x, [0.5] * 4, x_max=50000) == pytest.approx(0.5)


def test_area_under_step_curve():
    x, acc = [0, 1, 2, 3, 4], [0, 0, 1, 1, 1]
    assert area_under_curve(x, acc) == pytest.approx(2.5 / 4)  # ramp 1..2 gives 0.5
    assert area_under_curve(x, acc, x_max=6) == pytest.approx(4.5 / 6)  # last value held
    assert area_under_curve(x, acc, x_max=1.5) == pytest.approx(0.125 / 1.5)  # cut at 1.5
    # on ln x: a ramp over the first decade and 1 over the second
    assert area_under_curve([1, 10, 100], [0, 1, 1], log_x=True) == pytest.approx(0.75)
    with pytest.raises(InputError, match="x_max"):
        area_under_curve(x, acc, x_max=0)
    with pytest.raises(InputError, match="positive"):
        area_under_curve(x, acc, log_x=True)


# ---- Kendall tau and rank agreement -----------------------------------------------------


def test_kendall_tau_known_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(2 / 3)
    rng = np.random.default_rng(3)
    for _ in range(5):  # with ties, tau-b as scipy computes it
        a, b = rng.integers(0, 4, 9), rng.integers(0, 4, 9)
        assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(InputError, match="differ in length"):
        kendall_tau([1, 2], [1, 2, 3])


def rank_table(
    noise: float, reverse_largest: bool = False, n_seeds: int = 4, seed: int = 0
) -> pd.DataFrame:
    """Five choices whose mean scores are 0.1 apart; the order flips at the largest size."""
    rng = np.random.default_rng(seed)
    sizes = [10_000_000, 50_000_000, 200_000_000]
    rows = []
    for size in sizes:
        flip = reverse_largest and size == sizes[-1]
        for i, choice in enumerate(["c0", "c1", "c2", "c3", "c4"]):
            mu = 3.0 + 0.1 * (4 - i if flip else i)
            for s in range(n_seeds):
                rows.append(
                    {
                        "choice": choice,
                        "model_size": size,
                        "seed": s,
                        "score": mu + rng.normal(0.0, noise),
                    }
                )
    return pd.DataFrame(rows)


def test_rank_agreement_same_ranking_everywhere():
    res = rank_agreement(rank_table(noise=0.01), n_bootstrap=500)
    assert len(res.pairs) == 3
    for pair in res.pairs:
        assert pair["tau"] == pytest.approx(1.0)
        assert pair["ci"][0] > 0
        assert pair["n_choices"] == 5
    assert res.rankings[10_000_000] == ["c0", "c1", "c2", "c3", "c4"]  # low loss first
    flipped = rank_agreement(rank_table(noise=0.01), n_bootstrap=0, higher_is_better=True)
    assert flipped.rankings[10_000_000] == ["c4", "c3", "c2", "c1", "c0"]
    assert flipped.pairs[0]["ci"] is None
    assert json.loads(json.dumps(res.to_dict()))["pairs"][0]["n_choices"] == 5


def test_rank_agreement_reversal_at_largest_size():
    res = rank_agreement(rank_table(noise=0.01, reverse_largest=True), n_bootstrap=300)
    taus = {(p["size_a"], p["size_b"]): p["tau"] for p in res.pairs}
    assert taus[(10_000_000, 50_000_000)] == pytest.approx(1.0)
    assert taus[(10_000_000, 200_000_000)] == pytest.approx(-1.0)
    assert taus[(50_000_000, 200_000_000)] == pytest.approx(-1.0)
    assert res.rankings[200_000_000][0] == "c4"


def test_rank_agreement_interval_widens_with_noise():
    def width(noise: float) -> float:
        lo, hi = rank_agreement(rank_table(noise=noise), n_bootstrap=500).pairs[0]["ci"]
        return hi - lo

    quiet, noisy = width(0.01), width(0.15)
    assert noisy > quiet + 0.3


def test_rank_agreement_rejects_bad_tables():
    table = rank_table(noise=0.01)
    bad = table.copy()
    bad.loc[7, "score"] = np.nan
    with pytest.raises(InputError, match="row 7"):
        rank_agreement(bad)
    with pytest.raises(InputError, match=">= 2 choices"):
        rank_agreement(table[table["choice"] == "c0"])
    with pytest.raises(InputError, match=">= 2 model sizes"):
        rank_agreement(table[table["model_size"] == 10_000_000])
    with pytest.raises(InputError, match="missing column"):
        rank_agreement(table.drop(columns="seed"))
    with pytest.raises(InputError, match="repeats"):
        rank_agreement(pd.concat([table, table.iloc[[3]]], ignore_index=True))


# ---- compression ------------------------------------------------------------------------


def test_code_length_bits_from_losses():
    losses, tokens = [2.0, 1.5, 1.2], [1000, 2000, 500]
    expected = (2.0 * 1000 + 1.5 * 2000 + 1.2 * 500) / math.log(2)
    assert code_length_bits(losses, tokens) == pytest.approx(expected, rel=1e-12)
    assert code_length_bits(losses, 1000) == pytest.approx(4.7 * 1000 / math.log(2))
    assert bits_per_byte(800.0, 100) == 8.0
    with pytest.raises(InputError, match="tokens"):
        code_length_bits(losses, [1, 2])
    with pytest.raises(InputError, match="n_bytes"):
        bits_per_byte(8.0, 0)


def test_baselines_on_repetitive_random_and_text_bytes():
    repetitive = baseline_bits_per_byte(b"the cat sat on the mat. " * 4000)
    assert set(repetitive) == {"gzip", "bz2", "lzma"}
    assert all(v < 1.0 for v in repetitive.values())
    random = baseline_bits_per_byte(os.urandom(50_000))
    assert all(v > 7.9 for v in random.values())
    text = baseline_bits_per_byte(Path(dynamics.emergence.__file__).read_bytes() * 3)
    assert text["lzma"] <= text["gzip"]
    assert all(1.0 < v < 8.0 for v in baseline_bits_per_byte(Path(__file__).read_bytes()).values())
    with pytest.raises(InputError, match="empty"):
        baseline_bits_per_byte(b"")


def test_compression_table_rows():
    sample = b"def f(x):\n    return x + 1\n" * 200
    rows = compression_table(
        {"code": 1600.0, "web": 3000.0}, {"code": 800, "web": 1000}, samples={"code": sample}
    )
    assert [r.domain for r in rows] == ["code", "web"]
    assert rows[0].model_bits_per_byte == pytest.approx(2.0)
    assert rows[0].gzip == pytest.approx(baseline_bits_per_byte(sample)["gzip"])
    assert rows[1].model_bits_per_byte == pytest.approx(3.0) and rows[1].lzma is None
    assert rows[0].to_dict()["sample_bytes"] == len(sample)
    with pytest.raises(InputError, match="'web'"):
        compression_table({"web": 1.0}, {"code": 10})


# ---- data scaling at a fixed size -------------------------------------------------------


def test_data_scaling_recovers_step_law():
    rng = np.random.default_rng(7)
    tokens = np.geomspace(1e6, 1e9, 40)
    truth = 2.0 + 50.0 * tokens**-0.3
    losses = truth * np.exp(rng.normal(0.0, 0.002, tokens.size))
    res = data_scaling_at_fixed_size(tokens, losses, n_params=1e7, n_bootstrap=8)
    assert res.E == pytest.approx(2.0, abs=0.03)
    assert res.a == pytest.approx(0.3, abs=0.03)
    assert res.B == pytest.approx(50.0, rel=0.3)
    true_2x = 2.0 + 50.0 * 2e9**-0.3
    assert res.loss_at_2x == pytest.approx(true_2x, abs=0.005)
    assert res.loss_at_10x < res.loss_at_2x < res.loss_at_last
    assert res.drop_from_doubling == pytest.approx(res.loss_at_last - res.loss_at_2x)
    assert res.still_improving  # true drop from doubling: about 0.02 nats
    assert res.tokens_per_param == pytest.approx(100.0)
    assert res.ci["a"][0] <= res.a <= res.ci["a"][1]
    assert res.drop_ci[0] > 0
    assert json.loads(json.dumps(res.to_dict()))["still_improving"] is True


def test_data_scaling_converged_curve_is_not_improving():
    rng = np.random.default_rng(8)
    tokens = np.geomspace(1e8, 1e10, 30)
    losses = (2.5 + 100.0 * tokens**-0.5) * np.exp(rng.normal(0.0, 0.001, tokens.size))
    res = data_scaling_at_fixed_size(tokens, losses)
    assert not res.still_improving
    assert res.drop_from_doubling < 0.01
    assert res.tokens_per_param is None
    with pytest.raises(InputError, match="differ in length"):
        data_scaling_at_fixed_size(tokens, losses[:-1])


# ---- the fits as estimators ------------------------------------------------------------


def _json_roundtrip(est):
    return law_from_dict(json.loads(json.dumps(est.to_dict())))


def test_dynamics_fits_are_registered_estimators_that_round_trip():
    assert kinds("dynamics") == ["data_scaling", "emergence", "rank_agreement"]
    curves = [ramp(300.0), ramp(500.0), ramp(400.0)]
    em = EmergenceEstimator(n_bootstrap=200)
    assert not em.is_fitted and em.fit(curves) is em
    assert em.value_ == pytest.approx(400.0) and em.status_ == "reached"
    assert em.result_ == emergence_across_seeds(curves, n_bootstrap=200)
    back = _json_roundtrip(em)
    assert isinstance(back, EmergenceEstimator) and back.to_dict() == em.to_dict()

    table = rank_table(noise=0.01)
    ra = RankAgreementEstimator(n_bootstrap=50).fit(table)
    assert ra.rankings_[10_000_000] == ["c0", "c1", "c2", "c3", "c4"]
    assert ra.to_dict()["result"] == rank_agreement(table, n_bootstrap=50).to_dict()
    assert _json_roundtrip(ra).to_dict() == ra.to_dict()

    tokens = np.geomspace(1e6, 1e9, 30)
    ds = DataScalingEstimator(n_bootstrap=4).fit(tokens, 2.0 + 50.0 * tokens**-0.3, n_params=1e7)
    assert ds.params_["a"] == pytest.approx(0.3, abs=0.01)
    back = _json_roundtrip(ds)
    assert np.array_equal(back.predict(tokens), ds.predict(tokens))
    assert back.to_dict() == ds.to_dict()
    assert back.result_.drop_ci == pytest.approx(ds.result_.drop_ci)
    assert repr(ds.clone(seed=3)).startswith("DataScalingEstimator(n_bootstrap=4")
    with pytest.raises(InputError, match="not fitted yet"):
        DataScalingEstimator().predict(tokens)
