"""`sweep run --population`: which runs are grouped, and a grouped sweep records every run."""

from __future__ import annotations

import pytest

from mixlab.cli import main
from mixlab.data.prepare import prepare
from mixlab.errors import InputError
from mixlab.runs import RunRecord, RunStore
from mixlab.sweep.execute import run_local
from mixlab.sweep.plan import save_plan
from mixlab.sweep.population import auto_size, group_runs, parse_population, run_group
from mixlab.train.config import parse_train_config
from mixlab.train.loop import train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("popsweep")
    for name, unit in (("web", "the cat sat on the mat. "), ("math", "12+30=42\n")):
        (root / name).mkdir()
        for i in range(6):
            (root / name / f"{i}.txt").write_text(unit * (40 + i))
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {web: [web], math: [math]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root / "prepared"


def run(data, **fields):
    base = dict(
        data=str(data),
        mixture={"web": 0.5, "math": 0.5},
        model={"preset": "25k"},
        tokens=2_048,
        seq_len=32,
        batch_size=4,
        device="cpu",
        eval={"every": 8, "max_sequences": 2},
    )
    return parse_train_config({**base, **fields})


def test_grouping_keeps_plan_order_and_only_joins_compatible_runs(data):
    runs = [
        run(data, mixture={"web": 1.0}),
        run(data, seed=1),
        run(data, tokens=4_096),  # another budget: another population
        run(data, optimizer={"lr": 0.02}, lr_schedule={"kind": "wsd"}, max_epochs=50),
        run(data, model={"preset": "100k"}),  # another model
        run(data, seed=2, tags=["x"]),
        run(data, tokens=4_096, seed=5),
    ]
    ids = lambda groups: [[runs.index(r) for r in g] for g in groups]  # noqa: E731
    assert ids(group_runs(runs, 8)) == [[0, 1, 3, 5], [2, 6], [4]]
    assert ids(group_runs(runs, 2)) == [[0, 1], [2, 6], [3, 5], [4]]
    assert ids(group_runs(runs, "off")) == [[i] for i in range(7)]
    # auto: never on CPU (a population measured slower there than the runs one by one)
    assert auto_size(runs[0]) == 1
    assert ids(group_runs(runs, "auto")) == [[i] for i in range(7)]
    assert parse_population("AUTO") == "auto" and parse_population("16") == 16
    for bad in ("0", "many", "-3"):
        with pytest.raises(InputError, match="--population"):
            parse_population(bad)


def test_a_population_sweep_records_what_a_plain_sweep_does(data, tmp_path):
    runs = [
        run(data, mixture=m, seed=s, run_id=f"r{s}")
        for s, m in enumerate([{"web": 1.0}, {"web": 0.5, "math": 0.5}, {"math": 1.0}])
    ]
    doomed = run(data, mixture={"math": 1.0}, max_epochs=0.001, run_id="doomed")
    # the task a worker runs, here in-process (a worker's start-up costs more than the runs)
    results = run_group([r.model_dump_json() for r in [*runs, doomed]])
    assert [(i, status) for i, _, status, _, _ in results] == [
        *((r.id, "done") for r in runs),
        ("doomed", "failed"),
    ]
    assert "epochs" in results[-1][3]  # an impossible member fails alone; the others train
    with RunStore(tmp_path / "pop.db") as store:  # what the sweep's driver does with them
        for _, payload, _, _, _ in results:
            store.put(RunRecord.model_validate_json(payload))
    again = run_local(runs, tmp_path / "pop.db", population=3)
    assert (again.skipped, again.done) == (3, 0)  # nothing is trained twice
    with RunStore(tmp_path / "pop.db") as a, RunStore(tmp_path / "plain.db") as b:
        for r in runs:
            fa, fb = a.get(r.id).final_metrics(), train(r, b).final_metrics()
            assert fa.keys() == fb.keys()
            for k in fa:
                assert fa[k] == pytest.approx(fb[k], rel=1e-5), k


def test_cli_rejects_a_bad_population(data, tmp_path, capsys):
    save_plan([run(data)], tmp_path / "plan.json")
    code = main(
        [
            "sweep",
            "run",
            str(tmp_path / "plan.json"),
            "--store",
            str(tmp_path / "s.db"),
            "--population",
            "0",
        ]
    )
    assert code == 2 and "--population" in capsys.readouterr().err
