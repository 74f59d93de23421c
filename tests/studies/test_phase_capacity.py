"""Issue 20's study options: per-size learning rates, compact renderings, sizing with the
theory before running (`phase size`), and the theory's ranges in `phase predict`."""

from __future__ import annotations

import json

import pytest

from mixlab import cli
from mixlab.data.biographies import ATTRIBUTES, compact_probes, make_people, render_compact
from mixlab.studies.phase import PhaseConfig, phase_runs
from mixlab.studies.phase_theory import capacity_plan, predict_from_study

CFG = {
    "people": 200,
    "rendering": "compact",
    "ratios": [0.2, 0.4],
    "models": ["100k", {"n_layer": 1, "n_head": 2, "n_embd": 16}, "400k"],
    "tokens": [1_000_000],
    "web_only": ["25k"],
    "lr": {"base": 0.01, "base_width": 64, "max_lr": 0.03, "warmup": 0.1},
}


def test_lr_rule_scales_with_one_over_width_and_reaches_every_run(tmp_path):
    cfg = PhaseConfig(**CFG)
    rates = cfg.learning_rates()
    assert rates["100k"]["lr"] == pytest.approx(0.01)
    assert rates["400k"]["lr"] == pytest.approx(0.01 * 64 / 96)
    assert rates["1x2x16"]["lr"] == pytest.approx(0.03)  # 0.04 by the rule, capped
    assert rates["25k"]["lr"] == pytest.approx(0.02)
    runs = phase_runs(cfg, tmp_path, {"code": 0.5, "prose": 0.5})
    assert len(runs) == 2 * 3 + 1
    for run in runs:
        width = run.model.n_embd or {"25k": 32, "100k": 64, "400k": 96}[run.model.preset]
        assert run.optimizer.lr == pytest.approx(min(0.03, 0.01 * 64 / width))
        assert run.lr_schedule.warmup == pytest.approx(0.1)
    override = PhaseConfig(**{**CFG, "lr": {**CFG["lr"], "per_model": {"400k": 0.003}}})
    assert override.learning_rates()["400k"]["lr"] == pytest.approx(0.003)
    with pytest.raises(ValueError, match="1M"):
        PhaseConfig(**{**CFG, "lr": {"per_model": {"1M": 0.003}}})


def test_compact_rendering_states_every_fact_once_and_probes_are_unambiguous():
    people = make_people(20, 0)
    texts = {render_compact(people[0], e, 0) for e in range(8)}
    assert len(texts) > 1  # the field order changes between exposures
    for text in texts:
        assert text.count(people[0].name) == 1
        for a in ATTRIBUTES:
            assert people[0].attribute(a) in text
    probes = compact_probes(people)
    assert len(probes) == 100
    many = [render_compact(people[0], e, 0) for e in range(40)]
    for p in probes[:5]:  # person 0's five facts, each as the training text states it
        assert p.prompt.startswith(people[0].name + ";")
        assert any(
            text.startswith(p.prompt + p.target + ";")
            or (p.prompt + p.target + ".") == text[: len(p.prompt + p.target) + 1]
            for text in many
        )


def test_capacity_plan_sets_knowledge_bits_against_capacity():
    doc = capacity_plan(PhaseConfig(**CFG), tokens_per_rendering=40.0)
    assert doc["knowledge_bits"] == pytest.approx(200 * 45.58, rel=1e-3)
    sizes = {s["model"]: s for s in doc["sizes"]}
    tiny = sizes["1x2x16"]
    assert tiny["params_nonembed"] == 4144
    assert tiny["learnable"]["1"] == pytest.approx(4144 / doc["knowledge_bits"])
    assert sizes["400k"]["learnable"]["2"] == 1.0
    assert not sizes["25k"]["mixed"] and sizes["100k"]["mixed"]
    assert doc["exposures_per_person"]["0.2"] == pytest.approx(0.2 * 1e6 / (200 * 40))


def test_phase_size_command_prints_the_table(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(json.dumps(CFG))
    code = cli.main(["phase", "size", str(tmp_path / "c.yaml"), "--tokens-per-rendering", "40"])
    out = capsys.readouterr().out
    assert code == 0 and "9.1 kbit" in out and "1x2x16" in out and "r=0.4: 50" in out


def test_predict_gives_a_range_over_capacities_and_web_laws(tmp_path):
    sizes = [4e3, 1.6e4, 6.4e4, 2.5e5]
    web = tmp_path / "web.csv"
    web.write_text(
        "model_size,web_loss\n"
        + "".join(f"{n},{3.0 + 40.0 * (2 * n) ** -0.35:.6f}\n" for n in sizes)
    )
    doc = predict_from_study(web_csv=web, people=200, tokens_per_biography=44.0, ratios=[0.2, 0.4])
    for entry in [*doc["critical_ratio"].values(), *doc["critical_size"].values()]:
        if entry["theory"] is not None:
            lo, hi = entry["range"]
            assert lo <= entry["theory"] <= hi and lo < hi
        assert entry["variants"] == 2 * 5  # 1 and 2 bits x (all sizes + 4 leave-one-out)
    assert doc["exponent"]["range"][0] <= doc["exponent"]["theory"] <= doc["exponent"]["range"][1]


def test_predict_takes_a_measured_capacity_and_its_range(tmp_path, capsys):
    """`phase predict --bits-per-param B --bits-range LO,HI`: the theory at a capacity an earlier
    study measured (issue 20: ~0.04 bits per parameter), its range spanning LO-HI only."""
    sizes = [4e3, 1.6e4, 6.4e4, 2.5e5]
    web = tmp_path / "web.csv"
    web.write_text(
        "model_size,web_loss\n"
        + "".join(f"{n},{3.0 + 40.0 * (2 * n) ** -0.35:.6f}\n" for n in sizes)
    )
    args = ["phase", "predict", "--web", str(web), "--people", "200"]
    args += ["--tokens-per-biography", "44", "--ratios", "0.4"]
    assert cli.main([*args, "--out", str(tmp_path / "two.json")]) == 0
    code = cli.main(
        [*args, "--out", str(tmp_path / "low.json")]
        + ["--bits-per-param", "0.04", "--bits-range", "0.035,0.046"]
    )
    assert code == 0
    two = json.loads((tmp_path / "two.json").read_text())
    low = json.loads((tmp_path / "low.json").read_text())
    assert low["bits_per_param"] == 0.04 and low["bits_range"] == [0.035, 0.046]
    n2, n004 = two["critical_size"]["0.4"], low["critical_size"]["0.4"]
    # 50x less capacity per parameter: the critical size grows by more than 10x
    assert n004["theory"] > 10 * n2["theory"]
    assert n004["range"][0] <= n004["theory"] <= n004["range"][1]
    assert n004["range"][1] < 10 * n004["theory"]  # the range spans 0.035-0.046, not 1-2 bits
    capsys.readouterr()
    assert cli.main([*args, "--bits-range", "2,1"]) == 2
    assert "--bits-range" in capsys.readouterr().err


def test_phase_size_takes_capacities(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(json.dumps(CFG))
    code = cli.main(
        ["phase", "size", str(tmp_path / "c.yaml"), "--tokens-per-rendering", "40"]
        + ["--bits-per-param", "0.04,2"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "capacity (0.04 and 2 bits per" in out
    doc = capacity_plan(PhaseConfig(**CFG), 40.0, (0.04, 2.0))
    tiny = {s["model"]: s for s in doc["sizes"]}["1x2x16"]
    assert tiny["learnable"]["0.04"] == pytest.approx(0.04 * 4144 / doc["knowledge_bits"])
