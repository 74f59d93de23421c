"""The published reference runs (../shared/reference-data) import as the issue says; skipped when absent."""

from __future__ import annotations

import csv

import numpy as np

from mixlab.cli import main
from mixlab.runs import RunStore

SIZES = ("70M", "160M", "305M", "410M")


def test_regmix_tables_import_to_512_runs(reference_data, tmp_path, capsys):
    store = tmp_path / "regmix.db"
    mix = reference_data / "regmix_train_mixture_1m.csv"
    met = reference_data / "regmix_train_pile_loss_1m.csv"
    args = ["runs", "import", "--mixtures", str(mix), "--metrics", str(met), "--store", str(store)]
    assert main(args) == 2  # weights are rounded to 3 decimals: they need --renormalize
    assert "--renormalize" in capsys.readouterr().err
    assert main([*args, "--renormalize", "--tag", "regmix-train"]) == 0
    assert main([*args, "--renormalize", "--tag", "regmix-train"]) == 0  # again: no duplicates
    with RunStore(store) as s:
        mixtures, metrics = s.mixtures(tag="regmix-train"), s.metrics(tag="regmix-train")
        assert mixtures.shape == (512, 17) and metrics.shape == (512, 13)
        assert np.allclose(mixtures.sum(axis=1), 1.0, atol=1e-12)
        assert "metric/the_pile_pile_cc_val_loss" in metrics.columns
        assert not metrics.isna().any().any()
    # the test mixtures reuse the ids 1..256 with other mixtures: a prefix keeps them apart
    test_args = [
        "runs",
        "import",
        "--renormalize",
        "--store",
        str(store),
        "--tag",
        "regmix-test",
        "--mixtures",
        str(reference_data / "regmix_test_mixture_1m.csv"),
        "--metrics",
        str(reference_data / "regmix_test_pile_loss_1m.csv"),
    ]
    assert main(test_args) == 2
    assert "--id-prefix" in capsys.readouterr().err
    assert main([*test_args, "--id-prefix", "test-"]) == 0
    with RunStore(store) as s:
        assert len(s) == 768 and len(s.ids(tag="regmix-test")) == 256


def test_mixinglaws_logs_import_one_curve_per_mixture_and_subset(reference_data, tmp_path):
    folder = reference_data / "mixinglaws_5mix"
    store = tmp_path / "dml.db"
    args = ["runs", "import", "--store", str(store), "--tag", "dml"]
    for size in SIZES:
        args += ["--mixinglaws-log", str(folder / f"{size}.txt")]
    assert main(args) == 0
    expected = set()  # distinct (run, subset) pairs in the raw files
    for size in SIZES:
        with open(folder / f"{size}.txt") as f:
            for ckpt, valid, _ in csv.reader(f, delimiter="\t"):
                run = ckpt.rstrip("/").split("/")[-2]
                expected.add((run, valid.split("valid.")[-1].removesuffix(".bin")))
    with RunStore(store) as s:
        curves = s.curves(tag="dml")
        pairs = set(map(tuple, curves[["run_id", "metric"]].drop_duplicates().to_numpy()))
        assert pairs == expected
        assert not curves.duplicated(["run_id", "metric", "step"]).any()
        assert len(s) == 26 * len(SIZES)
        assert curves["metric"].nunique() == 22
        mixtures = s.mixtures()
        assert mixtures.shape[1] == 5 and np.allclose(mixtures.sum(axis=1), 1.0)
        proportions = {
            tuple(float(w) for w in line.split("-"))
            for line in (folder / "proportions.txt").read_text().split()
        }
        assert {tuple(row) for row in mixtures.to_numpy()} == proportions
        steps, _, values = s.curve("70M_3-0.125-0-0-0.125-0.75", "Pile-CC")
        assert steps[-1] == 30000 and np.all(np.diff(steps) > 0) and np.isfinite(values).all()
