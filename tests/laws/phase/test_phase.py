"""Phase transitions: critical ratio / size recovery, statuses, PHASE.json, capacity theory."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from mixlab.errors import InputError
from mixlab.laws.phase.transition import (
    CapacityTheory,
    FactGroup,
    PhaseAnalysis,
    WebCapacityLaw,
    fit_transition,
)

# Truth: critical ratio r*(N) = COEF * N^-GAMMA; accuracy a sigmoid in ln r around it.
COEF, GAMMA, K, FLOOR, TOP = 300.0, 0.6, 3.0, 0.02, 0.92
RATIOS = np.geomspace(0.005, 1.0, 9)
BRACKETED = [1e5, 4e5, 1.6e6, 6.4e6]
LOW, HIGH = 1e4, 3e8  # every ratio tried stays below / above the threshold
LEVEL = 0.99


def true_accuracy(size, ratio):
    z0 = logit((0.5 - FLOOR) / (TOP - FLOOR))  # so that the curve crosses 0.5 at r*
    return FLOOR + (TOP - FLOOR) * expit(K * np.log(ratio / (COEF * size**-GAMMA)) + z0)


def study_table(seed=0, seeds=3, sd=0.03, sizes=BRACKETED):
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for r in RATIOS:
            for s in range(seeds):
                acc = true_accuracy(n, r) + rng.normal(0, sd)
                rows.append((n, r, s, float(np.clip(acc, 0, 1))))
    return pd.DataFrame(rows, columns=["model_size", "ratio", "seed", "accuracy"])


@pytest.fixture(scope="module")
def study():
    return PhaseAnalysis(n_bootstrap=100, level=LEVEL, seed=0).fit(study_table())


def test_critical_ratio_per_size_recovered_within_interval(study):
    pa = study
    for n in BRACKETED:
        t = pa.critical_ratio_[n]
        truth = COEF * n**-GAMMA
        assert t.status == "bracketed" and t.method == "sigmoid"
        assert t.ci[0] <= truth <= t.ci[1]
        assert t.value == pytest.approx(truth, rel=0.15)
        assert t.boot_values.shape == (100,) and t.boot_bracketed_share > 0.9


def test_unbracketed_sizes_get_a_status_and_stay_out_of_the_power_law():
    pa = PhaseAnalysis(n_bootstrap=0).fit(study_table(sizes=[LOW, *BRACKETED, HIGH]))
    low, high = pa.critical_ratio_[LOW], pa.critical_ratio_[HIGH]
    assert low.status == "not_reached" and low.value is None and low.ci is None
    assert high.status == "already_above" and high.value is None and high.ci is None
    assert pa.power_law_.sizes == BRACKETED
    assert pa.power_law_.exponent == pytest.approx(GAMMA, abs=0.03)
    assert pa.power_law_.ci is None  # no bootstrap asked for


def test_power_law_recovered_within_interval(study):
    law = study.power_law_
    assert law.sizes == BRACKETED
    lo, hi = law.ci["exponent"]
    assert lo <= GAMMA <= hi
    assert law.exponent == pytest.approx(GAMMA, abs=0.03)
    assert law.ci["coef"][0] <= law.coef <= law.ci["coef"][1]
    assert law.predict([1e6])[0] == pytest.approx(COEF * 1e6**-GAMMA, rel=0.1)


def test_critical_size_per_ratio_recovered(study):
    pa = study
    assert sorted(pa.critical_size_) == pytest.approx(RATIOS.tolist())
    n_lo, n_hi = BRACKETED[0], BRACKETED[-1]
    n_bracketed = 0
    for r, t in pa.critical_size_.items():
        truth = (COEF / r) ** (1 / GAMMA)
        if truth > 1.1 * n_hi:
            assert t.status == "not_reached" and t.value is None
        elif truth < n_lo / 1.1:
            assert t.status == "already_above" and t.value is None
        else:
            n_bracketed += 1
            assert t.status == "bracketed"
            assert t.value == pytest.approx(truth, rel=0.2)
            assert t.ci[0] <= truth <= t.ci[1]
    assert n_bracketed == 4


def test_phase_json_contract(study):
    pa = study
    d = json.loads(json.dumps(pa.to_dict()))
    assert {"threshold", "critical_ratio", "critical_size", "power_law"} <= set(d)
    assert d["threshold"] == 0.5
    assert set(d["critical_ratio"]) == {"100000", "400000", "1.6e+06", "6.4e+06"}
    t = d["critical_ratio"]["100000"]
    assert {"value", "ci", "status", "params", "n_points", "threshold"} <= set(t)
    assert set(t["params"]) == {"k", "x0", "floor", "top"} and t["n_points"] == 27
    assert t["value"] == pytest.approx(pa.critical_ratio_[1e5].value)
    assert d["critical_size"]["0.005"]["value"] is None
    assert d["critical_size"]["0.005"]["status"] == "not_reached"
    p = d["power_law"]
    assert {"coef", "exponent", "ci", "sizes"} <= set(p)
    assert set(p["ci"]) == {"coef", "exponent"} and len(p["ci"]["exponent"]) == 2


def test_power_law_absent_with_reason_when_one_size_is_bracketed():
    table = study_table(seeds=2, sizes=[LOW, 1e5, HIGH])
    pa = PhaseAnalysis(n_bootstrap=0).fit(table)
    assert pa.power_law_ is None and "1 model size" in pa.power_law_reason_
    d = json.loads(json.dumps(pa.to_dict()))
    assert d["power_law"]["coef"] is None and d["power_law"]["reason"]


def test_tokens_pick_the_largest_budget_per_size_or_the_one_named():
    good = study_table(seeds=2)
    good = good[good.model_size.isin(BRACKETED[:2])].assign(tokens=2e9)
    junk = good.assign(tokens=1e9, accuracy=0.0)  # a shorter run that learned nothing
    table = pd.concat([good, junk], ignore_index=True)
    pa = PhaseAnalysis(n_bootstrap=0).fit(table)
    assert pa.tokens_used_ == {1e5: 2e9, 4e5: 2e9}
    assert pa.critical_ratio_[1e5].value == pytest.approx(
        PhaseAnalysis(n_bootstrap=0).fit(good).critical_ratio_[1e5].value
    )
    short = PhaseAnalysis(n_bootstrap=0, tokens=1e9).fit(table)
    assert short.critical_ratio_[1e5].status == "not_reached"
    with pytest.raises(InputError, match="tokens"):
        PhaseAnalysis(tokens=5e9).fit(table)


def test_bad_input_names_the_column():
    table = study_table(seeds=1).iloc[:12]
    with pytest.raises(InputError, match="'accuracy'"):
        PhaseAnalysis().fit(table.drop(columns="accuracy"))
    bad = table.copy()
    bad.loc[bad.index[4], "accuracy"] = 1.5
    with pytest.raises(InputError, match=r"'accuracy', row 4 is 1\.5"):
        PhaseAnalysis().fit(bad)
    with pytest.raises(InputError, match=r"'ratio', row 0"):
        PhaseAnalysis().fit(dict(table.assign(ratio=0.0)))
    with pytest.raises(InputError, match="'model_size'"):
        PhaseAnalysis().fit(table.assign(model_size=-1.0))


def test_one_row_per_x_uses_a_residual_bootstrap():
    x = np.geomspace(0.01, 1.0, 12)
    rng = np.random.default_rng(3)
    y = np.clip(true_accuracy(4e5, x) + rng.normal(0, 0.03, x.size), 0, 1)
    t = fit_transition(x, y, n_bootstrap=200, seed=1)
    truth = COEF * 4e5**-GAMMA
    assert t.bootstrap == "residual" and t.ci[0] <= truth <= t.ci[1]
    assert t.value == pytest.approx(truth, rel=0.15)
    assert t.params["floor"] < 0.1 and t.params["top"] == pytest.approx(TOP, abs=0.08)


def test_many_seeds_use_a_stratified_bootstrap_in_any_row_order():
    x = np.repeat(RATIOS, 5)
    rng = np.random.default_rng(4)
    y = np.clip(true_accuracy(1.6e6, x) + rng.normal(0, 0.03, x.size), 0, 1)
    t = fit_transition(x, y, n_bootstrap=100, seed=2)
    truth = COEF * 1.6e6**-GAMMA
    assert t.bootstrap == "stratified" and t.ci[0] <= truth <= t.ci[1]
    perm = rng.permutation(x.size)
    shuffled = fit_transition(x[perm], y[perm], n_bootstrap=100, seed=2)
    assert shuffled.value == pytest.approx(t.value, rel=1e-6)
    assert shuffled.ci[0] <= truth <= shuffled.ci[1]
    assert np.log(shuffled.ci[1] / shuffled.ci[0]) == pytest.approx(
        np.log(t.ci[1] / t.ci[0]), rel=0.5
    )


def test_stratified_resampling_keeps_each_row_at_its_x():
    from mixlab.laws.phase.curve import _Curve

    rng = np.random.default_rng(5)
    x = rng.permutation(np.repeat([1.0, 2.0, 4.0], [2, 3, 5]))
    for _ in range(5):
        idx = _Curve(x, 0.5).stratified(rng)
        assert np.array_equal(x[idx], x)


def test_two_points_interpolate_in_log_x():
    t = fit_transition([1e6, 1e6, 4e6, 4e6], [0.2, 0.3, 0.7, 0.8], n_bootstrap=50)
    assert t.status == "bracketed" and t.method == "interpolation"
    assert t.value == pytest.approx(2e6)  # halfway in ln x
    assert t.ci[0] <= t.value <= t.ci[1] and 1e6 <= t.ci[0]
    single = fit_transition([1e6, 4e6], [0.25, 0.75], n_bootstrap=50)
    assert single.value == pytest.approx(2e6) and single.ci is None


def test_crossing_outside_the_range_falls_back_to_interpolation():
    # the data cross 0.5 between x = 8 and 16 only; an increasing sigmoid cannot follow
    # them and its crossing lies far below x = 1, so interpolation takes over
    t = fit_transition([1, 2, 4, 8, 16], [0.9, 0.9, 0.9, 0.1, 0.55], n_bootstrap=0)
    assert t.status == "bracketed" and t.method == "interpolation"
    assert t.value == pytest.approx(8 * 2 ** (0.4 / 0.45))
    inverted = fit_transition([1, 2, 4], [0.9, 0.6, 0.2], n_bootstrap=0)
    assert inverted.status == "inverted" and inverted.value is None


# ---------------------------------------------------------------------------------------
# Capacity theory

WEB = {"C": 1.8, "A": 200.0, "alpha": 0.3}


def test_web_capacity_law_recovers_constants():
    N = np.geomspace(1e6, 1e10, 16)
    loss = WEB["C"] + WEB["A"] * (2 * N) ** -WEB["alpha"]
    loss *= np.exp(np.random.default_rng(0).normal(0, 0.001, N.size))
    law = WebCapacityLaw(bits_per_param=2.0).fit(N, loss)
    for k, v in WEB.items():
        assert law.params_[k] == pytest.approx(v, rel=0.05)
    M = 2e8
    h = 1e-4 * M
    slope = (law.predict([(M + h) / 2])[0] - law.predict([(M - h) / 2])[0]) / (2 * h)
    assert law.marginal(M) == pytest.approx(-slope, rel=1e-5)
    with pytest.raises(InputError, match="2 distinct size"):
        WebCapacityLaw().fit([1e6, 1e7, 1e7], [3.0, 2.5, 2.5])


@pytest.fixture
def web():
    return WebCapacityLaw.from_params(**WEB, bits_per_param=2.0)


def test_fraction_learned_monotone_and_zero_at_tiny_ratio(web):
    theory = CapacityTheory(web, [FactGroup(1e6, 2e-8, 8.0)])
    ratios = np.geomspace(1e-6, 1.0, 40)
    sizes = np.geomspace(1e6, 1e10, 40)
    by_r = [theory.fraction_learned(r, 1e8) for r in ratios]
    by_n = [theory.fraction_learned(0.2, n) for n in sizes]
    assert np.all(np.diff(by_r) >= 0) and np.all(np.diff(by_n) >= 0)
    assert by_r[0] == 0.0 and by_r[-1] == 1.0
    assert by_n[0] == 0.0 and by_n[-1] > 0.9


def test_critical_ratio_matches_the_closed_form_and_the_threshold(web):
    g = FactGroup(1e6, 2e-8, 8.0)
    theory = CapacityTheory(web, [g])
    for size, thr in [(1e8, 0.5), (3e8, 0.3)]:
        r = theory.critical_ratio(size, thr)
        assert theory.fraction_learned(r, size) == pytest.approx(thr, abs=1e-6)
        # M - thr * bits * count bits stay for the web at the transition
        m_web = 2 * size - thr * g.bits * g.count
        odds = WEB["alpha"] * WEB["A"] * m_web ** -(WEB["alpha"] + 1) / (g.exposure * math.log(2))
        assert r / (1 - r) == pytest.approx(odds, rel=1e-6)
        n = theory.critical_size(r, thr)
        assert n == pytest.approx(size, rel=1e-6)
    assert theory.critical_ratio(1e3) is None  # too small to hold half the facts


def test_exponent_tends_to_alpha_plus_one_when_facts_are_cheap(web):
    theory = CapacityTheory(web, [FactGroup(1000, 5e-5, 8.0)])  # 8000 bits in all
    gamma = theory.exponent(np.geomspace(1e8, 1e10, 5))
    assert theory.asymptotic_exponent == pytest.approx(1.3)
    assert gamma == pytest.approx(1.3, rel=0.02)


def test_frequent_facts_are_learned_first(web):
    freq, rare = FactGroup(1e5, 1e-7, 8.0, "freq"), FactGroup(3e5, 1e-8, 8.0, "rare")
    theory = CapacityTheory(web, [rare, freq])  # order given does not matter
    r = theory.critical_ratio(1e8, 0.5)
    learned = theory.learned_by_group(r, 1e8)
    assert theory.fraction_learned(r, 1e8) == pytest.approx(0.5, abs=1e-6)
    assert learned[1] > learned[0]
    assert learned[1] == pytest.approx(1.0) and learned[0] == pytest.approx(1 / 3, abs=1e-6)
    # at a lower ratio only the frequent group is (partly) learned
    r_low = theory.critical_ratio(1e8, 0.1)
    assert r_low < r
    assert theory.learned_by_group(r_low, 1e8) == pytest.approx([0.0, 0.4])


def test_frequent_facts_crowd_out_rare_ones(web):
    # alone, the rare facts are worth their capacity at r = 0.17; beside a frequent group
    # too big to learn in full, none of them is
    freq, rare = FactGroup(3e7, 1e-7, 8.0, "freq"), FactGroup(1e5, 1e-8, 8.0, "rare")
    r, size = 0.17, 1e8
    alone = CapacityTheory(web, [rare])
    assert alone.min_web_capacity(r, rare.exposure) < 2 * size
    assert alone.fraction_learned(r, size) == 1.0
    both = CapacityTheory(web, [rare, freq]).learned_by_group(r, size)
    assert both[0] == 0.0 and 0.5 < both[1] < 1.0


def test_fact_group_rejects_bad_fields():
    with pytest.raises(InputError, match="exposure"):
        FactGroup(10, 2.0, 8.0)
    with pytest.raises(InputError, match="bits"):
        FactGroup(10, 1e-6, 0.0)
