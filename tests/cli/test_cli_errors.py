"""Regression tests for issue 21's CLI items: plain-text rendering of user strings (6), bad
input found before any work and reported with exit 2 (9), the minor items (12), and the
top-level safety net (exit 2 for InputError, exit 1 and one line otherwise)."""

from __future__ import annotations

import os
import stat

import pytest
from rich.console import Console

from mixlab.commands.console import Output, table
from mixlab.errors import InputError


# -- item 6: user strings are plain text, never rich markup -----------------------------------
def test_error_message_with_markup_is_printed_as_is(capsys):
    Output().error("metric 'loss[/web]' and column 'x[web]' [bold]not bold[/bold]")
    err = " ".join(capsys.readouterr().err.split())
    assert "error: metric 'loss[/web]' and column 'x[web]' [bold]not bold[/bold]" in err


def test_table_cells_titles_and_headers_keep_brackets():
    con = Console(width=200, record=True)  # markup on: the table itself must not parse it
    con.print(table("runs in [web]/x[/y]", ["[b]name", "value"], [["loss[/web]", "[web]"]]))
    text = con.export_text()
    for s in ("runs in [web]/x[/y]", "[b]name", "loss[/web]", "[web]"):
        assert s in text


def test_target_with_closing_tag_exits_2_and_is_quoted(world, cli):
    code, out, err = cli(
        "law",
        "fit",
        "--mixtures",
        world / "m.csv",
        "--metrics",
        world / "y.csv",
        "--target",
        "nope[/x]",
        "--out",
        world / "l6.json",
    )
    assert code == 2 and "Traceback" not in err
    assert "--target 'nope[/x]'" in err


def test_metric_names_with_brackets_show_in_tables(tmp_path, cli):
    (tmp_path / "m.csv").write_text("index,web,code\n1,0.5,0.5\n")
    (tmp_path / "y.csv").write_text("index,loss[web],loss[/web]\n1,3.0,2.0\n")
    db = tmp_path / "s.db"
    assert (
        cli(
            "runs",
            "import",
            "--mixtures",
            tmp_path / "m.csv",
            "--metrics",
            tmp_path / "y.csv",
            "--store",
            db,
        )[0]
        == 0
    )
    code, out, err = cli("runs", "show", "1", "--store", db)
    assert code == 0, err
    assert "loss[web]" in out and "loss[/web]" in out


def test_warning_is_plain_text(capsys):
    Output().warning("domain 'a[/b]' at its bound")
    assert "warning: domain 'a[/b]' at its bound" in " ".join(capsys.readouterr().err.split())


# -- item 9: exit 2, found before any work ----------------------------------------------------
def test_demo_workers_0_fails_before_preparing_data(tmp_path, cli):
    code, out, err = cli("demo", "--workers", "0", "--out", tmp_path / "demo")
    assert code == 2 and "--workers" in err
    assert not (tmp_path / "demo").exists()


def test_dynamics_study_with_unprepared_domain_fails_at_plan_time(world, tmp_path, cli):
    db = tmp_path / "d.db"
    code, out, err = cli(
        "dynamics", "study", world / "dynamics.yaml", "--out", tmp_path / "ds", "--store", db
    )
    assert code == 2 and "choices[b].mixture" in err and "nowhere" in err
    assert not db.exists()  # nothing trained, not even the valid choice


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a CUDA device"
)
def test_device_cuda_on_a_cpu_machine_exits_2(world, tmp_path, cli):
    (tmp_path / "t.yaml").write_text(
        (world / "train.yaml").read_text().replace("data: prepared", f"data: {world}/prepared")
        + "device: cuda\n"
    )
    code, out, err = cli("train", tmp_path / "t.yaml", "--store", tmp_path / "s.db")
    assert code == 2 and "t.yaml" in err and "device: 'cuda'" in err
    assert not (tmp_path / "s.db").exists()


def test_store_with_a_corrupt_page_names_its_path(world, cli):
    code, out, err = cli("runs", "list", "--store", world / "corrupt.db")
    assert code == 2 and f"{world / 'corrupt.db'}: the run store is damaged" in err


# -- item 12 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("folds", ["0", "1"])
def test_folds_below_two_are_refused(world, cli, folds):
    code, out, err = cli(
        "law",
        "fit",
        "--mixtures",
        world / "m.csv",
        "--metrics",
        world / "y.csv",
        "--target",
        "loss",
        "--law",
        "linear",
        "--folds",
        folds,
        "--out",
        world / "l12.json",
    )
    assert code == 2 and f"--folds must be at least 2, not {folds}" in err


def test_negative_prior_names_the_domain_in_plain_numbers(world, cli):
    code, out, err = cli("sweep", "plan", world / "sweep_prior.yaml", "--out", world / "p12.json")
    assert code == 2
    assert "mixtures.prior: share of 'web' is -0.5" in err and "np.float64" not in err


def test_law_messages_name_the_flag(tmp_path, cli):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    R = rng.dirichlet([1, 1], size=12)
    ids = pd.Index([f"r{i}" for i in range(12)], name="index")
    pd.DataFrame(R, index=ids, columns=["a", "b"]).to_csv(tmp_path / "m.csv")
    pd.DataFrame({"la": 3 - R[:, 0], "lb": 3 - R[:, 1]}, index=ids).to_csv(tmp_path / "y.csv")
    law = tmp_path / "law.json"
    assert (
        cli(
            "--quiet",
            "law",
            "fit",
            "--mixtures",
            tmp_path / "m.csv",
            "--metrics",
            tmp_path / "y.csv",
            "--target",
            "la",
            "--target",
            "lb",
            "--law",
            "linear",
            "--out",
            law,
        )[0]
        == 0
    )
    code, out, err = cli("law", "optimize", law, "--out", tmp_path / "o.json")
    assert code == 2 and "--target" in err and "target=" not in err
    code, out, err = cli(
        "law", "critical-share", law, "--original", "a", "--level", "3", "--bound", "0.1"
    )
    assert code == 2 and "--target" in err and "target=" not in err


def test_run_messages_name_the_config_file(world, tmp_path, cli):
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(
        (world / "sweep.yaml")
        .read_text()
        .replace("data: prepared", f"data: {world}/prepared")
        .replace("batch_size: 8", "batch_size: 0")
    )
    code, out, err = cli("sweep", "plan", sweep, "--out", tmp_path / "p.json")
    assert code == 2 and f"{sweep}: base" in err and "batch_size" in err
    sweep.write_text(
        (world / "sweep.yaml")
        .read_text()
        .replace("data: prepared", f"data: {world}/prepared")
        .replace("tokens: [2000]", "tokens: [-5]")
    )
    code, out, err = cli("sweep", "plan", sweep, "--out", tmp_path / "p.json")
    assert code == 2 and f"{sweep}: run (mixture 0, model 25k, tokens -5" in err, err
    assert "sweep run:" not in err


PHASE_FAILING_LATE = """people: 10
web: {demo_bytes: 20000}
tokenizer: {kind: bytes}
ratios: [0.2]
models: ["25k"]
tokens: [1000]
train: {batch_size: 0}
"""


@pytest.mark.slow
def test_phase_plan_failure_leaves_no_partial_study_and_names_the_config(tmp_path, cli):
    (tmp_path / "ph.yaml").write_text(PHASE_FAILING_LATE)  # fails after writing the data
    code, out, err = cli("phase", "plan", tmp_path / "ph.yaml", "--out", tmp_path / "study")
    assert code == 2 and f"{tmp_path / 'ph.yaml'}: run (ratio 0.2" in err
    assert "phase run:" not in err
    assert not (tmp_path / "study").exists()


def test_law_fit_refuses_store_and_csv_together(world, cli):
    code, out, err = cli(
        "law",
        "fit",
        "--mixtures",
        world / "m.csv",
        "--metrics",
        world / "y.csv",
        "--target",
        "loss",
        "--store",
        world / "s.db",
        "--out",
        world / "l12.json",
    )
    assert code == 2 and "drop --store" in err and "drop --mixtures and --metrics" in err


def test_missing_artifacts_folder_is_an_error(world, tmp_path, cli):
    code, out, err = cli(
        "report",
        "--store",
        world / "s.db",
        "--out",
        tmp_path / "r.html",
        "--artifacts",
        tmp_path / "nope",
    )
    assert code == 2 and "--artifacts" in err and "no such folder" in err
    assert not (tmp_path / "r.html").exists()


def test_negative_sizes_are_refused(world, tmp_path, cli):
    code, out, err = cli("data", "demo-corpora", tmp_path / "c", "--max-bytes", "-5")
    assert code == 2 and "--max-bytes must be positive" in err
    assert not (tmp_path / "c").exists()
    db = tmp_path / "s.db"
    code, out, err = cli(
        "runs",
        "import",
        "--mixinglaws-log",
        world / "one.log",
        "--tokens-per-step",
        "-5",
        "--store",
        db,
    )
    assert code == 2 and "--tokens-per-step must be positive" in err
    assert not db.exists()


def test_runs_export_files_follow_the_umask(world, tmp_path, cli):
    old = os.umask(0o022)
    try:
        code, out, err = cli(
            "runs", "export", "--out", tmp_path / "x.csv", "--store", world / "s.db"
        )
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("x_mixtures.csv", "x_metrics.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


# -- the safety net ---------------------------------------------------------------------------
def test_input_error_from_deep_inside_exits_2_without_traceback(world, cli, monkeypatch):
    def deep(*a, **k):
        raise InputError("somewhere.csv, line 7: column 'x' is bad")

    monkeypatch.setattr("mixlab.report.build.write_report", deep)
    code, out, err = cli("report", "--store", world / "s.db", "--out", world / "r.html")
    assert code == 2 and "Traceback" not in err and "somewhere.csv, line 7" in err


def test_unexpected_error_is_one_line_exit_1_traceback_under_debug(world, cli, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("first line [/x]\nsecond line\nthird line")

    monkeypatch.setattr("mixlab.report.build.write_report", boom)
    code, out, err = cli("report", "--store", world / "s.db", "--out", world / "r.html")
    assert code == 1 and "Traceback" not in err
    assert "RuntimeError: first line [/x] ... (run with --debug" in err
    assert "second line" not in err
    code, out, err = cli("--debug", "report", "--store", world / "s.db", "--out", world / "r.html")
    assert code == 1 and "Traceback" in err
