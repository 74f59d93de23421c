"""Sweeps of phase schedules and online runs: P-phase designs, DoReMi references, populations."""

from __future__ import annotations

import pytest

from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.sweep.execute import run_local
from mixlab.sweep.plan import MixtureDesign, design_schedules
from mixlab.sweep.population import group_runs
from tests.sweep.test_sweep import LIST, workdir, write_sweep  # noqa: F401 - the fixture

DOMAINS = ["web", "code", "math"]
NATURAL = {"web": 0.5, "code": 0.3, "math": 0.2}


def test_phase_design_draws_independent_phases_with_the_prior_first():
    design = MixtureDesign(n=4, phases=2, fractions=[0.7, 0.3], seed=1)
    runs = design_schedules(design, DOMAINS, NATURAL)
    assert len(runs) == 5 and all(r["kind"] == "curriculum" for r in runs)
    assert [s["weights"] for s in runs[0]["stages"]] == [NATURAL, NATURAL]
    assert all([s["fraction"] for s in r["stages"]] == [0.7, 0.3] for r in runs)
    phases = [(r["stages"][0]["weights"], r["stages"][1]["weights"]) for r in runs[1:]]
    assert all(a != b for a, b in phases)  # drawn independently, not one mixture twice
    assert len({tuple(sorted(a.items())) for a, _ in phases}) == 4
    with pytest.raises(InputError, match="fractions"):
        design_schedules(MixtureDesign(phases=2, fractions=[0.5, 0.6]), DOMAINS, NATURAL)
    with pytest.raises(InputError, match="no phases"):
        design_schedules(MixtureDesign(kind="grid", phases=2), DOMAINS, NATURAL)
    static = design_schedules(MixtureDesign(n=3, seed=1), DOMAINS, NATURAL)
    assert all("kind" not in m for m in static)  # P = 1: the plain mixtures, ids unchanged


def test_sweep_trains_online_runs_doremi_after_its_reference(workdir):  # noqa: F811
    """One plan: a DoReMi run listed before its reference, and an Aioli run. The driver holds
    the DoReMi run until the reference is done and hands its curves to the worker (workers
    cannot open the store); `auto` populations train online runs alone, a fixed size refuses."""
    ref, other = write_sweep(workdir, "ref", LIST)[:2]
    ref = ref.model_copy(update={"run_id": "ref"})
    doremi = type(other).model_validate(
        {
            **other.model_dump(),
            "run_id": "doremi",
            "mixture": {"web": 0.4, "code": 0.3, "math": 0.3},
            "online": {"method": "doremi", "every_steps": 5, "reference_run": "ref"},
        }
    )
    aioli = type(doremi).model_validate(
        {
            **doremi.model_dump(),
            "run_id": "aioli",
            "online": {"method": "aioli", "every_steps": 3},
        }
    )
    with pytest.raises(InputError, match="population 4.*online"):
        group_runs([ref, doremi, aioli], 4)
    assert sorted(map(len, group_runs([ref, doremi, aioli], "auto"))) == [1, 1, 1]
    status = run_local([doremi, aioli, ref], workdir / "online.db", workers=2)
    assert status.failed == 0, status.errors
    with RunStore(workdir / "online.db") as store:
        rec = store.get("doremi")
        assert rec.schedule["online"]["method"] == "doremi"
        assert any(e.metric == "mix_weight_avg/web" for e in rec.evaluations)
        assert "reference_curves" in rec.schedule["online"]  # what the worker trained with
        assert store.get("aioli").status == "done"
    assert doremi.id == "doremi"


def test_sweep_plan_cli_prints_phase_schedules(workdir, tmp_path, capsys):  # noqa: F811
    import yaml

    from mixlab.cli import main
    from mixlab.sweep.plan import load_plan

    cfg = {
        "base": {"data": str(workdir / "prepared"), "seq_len": 32, "batch_size": 8},
        "mixtures": {"kind": "dirichlet", "n": 2, "phases": 2, "fractions": [0.3, 0.7]},
        "models": ["25k"],
        "tokens": [4000],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    code = main(["sweep", "plan", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "p.json")])
    out = capsys.readouterr().out
    assert code == 0 and "[0.3]" in out and "[0.7]" in out
    runs = load_plan(tmp_path / "p.json")
    assert len(runs) == 3 and all(r.mixture["kind"] == "curriculum" for r in runs)
