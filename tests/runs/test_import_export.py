"""Importing the three run formats, idempotence, conflicts, and import(export(x)) == x."""

from __future__ import annotations

import pandas as pd
import pytest

from mixlab.errors import InputError
from mixlab.runs import (
    RunStore,
    export_curves,
    export_paths,
    export_wide,
    import_curves,
    import_mixinglaws_logs,
    import_wide,
)


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def wide(tmp_path):
    mix = write(
        tmp_path / "mix.csv", "index,web,code,books\n1,0.5,0.25,0.25\n2,0,1,0\n3,0.2,0.3,0.5\n"
    )
    met = write(
        tmp_path / "met.csv", "index,loss_web,loss_code\n3,3.1,2.2\n1,3.0,2.5\n2,4.5,1.25\n"
    )
    return mix, met


def test_wide_import_joins_on_id(store, wide):
    summary = import_wide(store, *wide, tags=["regmix"])
    assert summary.to_dict() == {"added": 3, "updated": 0, "unchanged": 0, "runs": 3}
    assert store.ids() == ["1", "2", "3"]
    assert store.mixtures().loc["3"].tolist() == [0.2, 0.3, 0.5]
    assert store.metrics().loc["3"].tolist() == [3.1, 2.2]
    assert store.ids(tag="regmix") == ["1", "2", "3"]


def test_importing_twice_does_not_duplicate(store, wide):
    import_wide(store, *wide)
    again = import_wide(store, *wide, tags=["second"])
    assert len(store) == 3
    assert again.to_dict()["added"] == 0 and again.to_dict()["updated"] == 3  # tag added
    third = import_wide(store, *wide, tags=["second"])
    assert third.to_dict()["unchanged"] == 3


def test_same_id_other_mixture_is_a_conflict(store, wide, tmp_path):
    import_wide(store, *wide)
    other = write(tmp_path / "mix2.csv", "index,web,code,books\n1,1,0,0\n2,0,1,0\n3,0.2,0.3,0.5\n")
    with pytest.raises(InputError, match="run id '1' is already in .* different mixture"):
        import_wide(store, other, wide[1])
    assert store.mixtures().loc["1"].tolist() == [0.5, 0.25, 0.25]  # nothing written
    import_wide(store, other, wide[1], id_prefix="b/")
    assert len(store) == 6


def test_renormalize(store, tmp_path, wide):
    mix = write(tmp_path / "m.csv", "index,web,code,books\n1,0.5,0.25,0.24\n2,0,2,0\n3,1,1,2\n")
    with pytest.raises(InputError, match=r"line 2 \(id '1'\): weights sum to 0.99"):
        import_wide(store, mix, wide[1])
    import_wide(store, mix, wide[1], renormalize=True)
    mixtures = store.mixtures()
    assert mixtures.sum(axis=1).tolist() == pytest.approx([1, 1, 1], abs=1e-12)
    assert mixtures.loc["3"].tolist() == [0.25, 0.25, 0.5]


def test_wide_round_trip_is_exact(store, wide, tmp_path):
    import_wide(store, *wide)
    mix_out, met_out = export_paths(tmp_path / "out" / "runs.csv")
    assert export_wide(store, mix_out, met_out) == 3
    with RunStore(tmp_path / "again.db") as again:
        import_wide(again, mix_out, met_out)
        pd.testing.assert_frame_equal(again.mixtures(), store.mixtures())
        pd.testing.assert_frame_equal(again.metrics(), store.metrics())
        mix2, met2 = export_paths(tmp_path / "out2" / "runs.csv")
        export_wide(again, mix2, met2)
    assert mix2.read_text() == mix_out.read_text() and met2.read_text() == met_out.read_text()


def test_missing_metric_cells_round_trip(store, tmp_path):
    mix = write(tmp_path / "mix.csv", "id,a,b\nx,1,0\ny,0,1\n")
    met = write(tmp_path / "met.csv", "id,l1,l2\nx,1.5,\ny,,2.5\n")
    import_wide(store, mix, met, id_column="id")
    assert [e.metric for e in store.get("x").evaluations] == ["l1"]
    out_mix, out_met = tmp_path / "o_mix.csv", tmp_path / "o_met.csv"
    export_wide(store, out_mix, out_met, id_column="id")
    assert out_met.read_text() == "id,l1,l2\nx,1.5,\ny,,2.5\n"


CURVES = """run_id,step,tokens,metric,value
r1,0,0,val/web,5.0
r1,100,1e5,val/web,4.0
r1,100,1e5,val/web,4.0
r1,200,2e5,val/web,3.5
r1,200,2e5,val/code,2.5
r2,100,,val/web,4.5
"""


def test_long_curves_import_and_round_trip(store, tmp_path):
    mix = write(tmp_path / "mix.csv", "index,web,code\nr1,0.5,0.5\nr2,1,0\n")
    curves = write(tmp_path / "curves.csv", CURVES)
    import_curves(store, curves, mix, tags=["long"])
    steps, tokens, values = store.curve("r1", "val/web")
    assert steps.tolist() == [0, 100, 200] and values.tolist() == [5.0, 4.0, 3.5]
    assert store.get("r1").tokens == 2e5 and store.get("r2").tokens is None
    assert store.metrics().loc["r1"].tolist() == [3.5, 2.5]
    out = tmp_path / "out_curves.csv"
    export_curves(store, out)
    with RunStore(tmp_path / "again.db") as again:
        import_curves(again, out, mix, tags=["long"])
        assert again.ids() == store.ids()
        pd.testing.assert_frame_equal(again.curves(), store.curves())
        pd.testing.assert_frame_equal(again.mixtures(), store.mixtures())
        assert [again.get(i).tokens for i in again.ids()] == [2e5, None]


def test_long_curves_conflicting_duplicate(store, tmp_path):
    mix = write(tmp_path / "mix.csv", "index,web\nr1,1\n")
    curves = write(
        tmp_path / "c.csv", "run_id,step,tokens,metric,value\nr1,5,1,m,1.0\nr1,5,1,m,2.0\n"
    )
    with pytest.raises(InputError, match="step 5 has different values on lines 2, 3"):
        import_curves(store, curves, mix)


LOG_LINE = "/ckpts/Pile//{size}_{id}-{w}/{step}\t/data//pythia-pile.valid.{sub}.bin\t{loss}\n"


def make_log(
    path, size="70M", runs=((3, "0.25-0-0.75"), (901, "1-0-0")), subsets=("ArXiv", "Github")
):
    lines = []
    for run_id, w in runs:
        for step in (1000, 2000, 3000):
            for j, sub in enumerate(subsets):
                lines.append(
                    LOG_LINE.format(
                        size=size, id=run_id, w=w, step=step, sub=sub, loss=4 - step / 1000 + j
                    )
                )
    lines.append(lines[0])  # the release repeats lines
    return write(path, "".join(lines))


def test_mixinglaws_logs_import_as_curves(store, tmp_path):
    log = make_log(tmp_path / "70M.txt")
    summary = import_mixinglaws_logs(store, [log], domains=["a", "b", "c"], tokens_per_step=10)
    assert summary.to_dict()["added"] == 2
    run = store.get("70M_3-0.25-0-0.75")
    assert run.mixture == {"a": 0.25, "b": 0.0, "c": 0.75}
    assert run.n_params == 70_000_000 and run.model == {"name": "70M"}
    assert run.curve("Github")[-1].tokens == 30000
    assert [e.step for e in run.curve("ArXiv")] == [1000, 2000, 3000]
    assert (
        import_mixinglaws_logs(store, [log], domains=["a", "b", "c"], tokens_per_step=10).to_dict()[
            "unchanged"
        ]
        == 2
    )


def test_mixinglaws_max_run_id_and_bad_lines(store, tmp_path):
    log = make_log(tmp_path / "70M.txt")
    import_mixinglaws_logs(store, [log], max_run_id=900)
    assert store.ids() == ["70M_3-0.25-0-0.75"]
    assert list(store.mixtures().columns) == ["domain_1", "domain_2", "domain_3"]
    bad = write(tmp_path / "bad.txt", "/x/70M_1-1/100\t/v.bin\n")
    with pytest.raises(InputError, match=r"bad.txt, line 1: expected 3 tab-separated"):
        import_mixinglaws_logs(store, [bad])
    bad.write_text("/x/seventy/100\t/pythia-pile.valid.A.bin\t1.0\n")
    with pytest.raises(InputError, match=r"bad.txt, line 1: checkpoint path"):
        import_mixinglaws_logs(store, [bad])
    with pytest.raises(InputError, match="3 mixture weights but 2 domain names"):
        import_mixinglaws_logs(store, [log], domains=["a", "b"])


def test_mixinglaws_tagged_names_and_renormalize(tmp_path):
    """The released RedPajama logs put a tag between size and id; their weights are rounded."""
    from mixlab.cli import main

    w = "0.125-0.25-0.25-0.25-0.140625"  # sums to 1.015625
    lines = [
        f"/ckpt/70M_RP_14-{w}/{step}\t/d/pythia-pile.valid.Github.bin\t{4 - step / 1e4}\n"
        for step in (1000, 27000)
    ]
    log = write(tmp_path / "70M.txt", "".join(lines))
    db = tmp_path / "s.db"
    assert main(["runs", "import", "--store", str(db), "--mixinglaws-log", str(log)]) == 2
    assert (
        main(["runs", "import", "--store", str(db), "--mixinglaws-log", str(log), "--renormalize"])
        == 0
    )
    with RunStore(db) as s:
        run = s.get(f"70M_RP_14-{w}")
        assert sum(run.mixture.values()) == pytest.approx(1.0)
        assert run.mixture["domain_5"] == pytest.approx(0.140625 / 1.015625)
        assert [e.step for e in run.curve("Github")] == [1000, 27000]
        assert run.n_params == 70_000_000 and run.n_params_nonembed == 18915328
