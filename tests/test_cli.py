"""The CLI: exit codes, messages that name the offending place, JSON output, the console script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mixlab.cli import main

MIX = "index,web,code\n1,0.5,0.5\n2,0.25,0.75\n"
MET = "index,loss\n1,3.0\n2,2.5\n"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())  # rich wraps long lines


def import_args(tmp_path, mix=MIX, met=MET, *extra):
    (tmp_path / "mix.csv").write_text(mix)
    (tmp_path / "met.csv").write_text(met)
    return (
        "runs",
        "import",
        "--mixtures",
        str(tmp_path / "mix.csv"),
        "--metrics",
        str(tmp_path / "met.csv"),
        "--store",
        str(tmp_path / "s.db"),
        *extra,
    )


BAD_TABLES = [
    # (mixtures, metrics, words the message must contain)
    (
        "index,web,code\n1,0.5,0.5\n2,-0.25,1.25\n",
        MET,
        ["mix.csv", "line 3", "'2'", "'web'", "negative"],
    ),
    (
        "index,web,code\n1,0.5,0.5\n2,0.25,0.7\n",
        MET,
        ["mix.csv", "line 3", "sum to 0.95", "--renormalize"],
    ),
    (
        "index,web,code\n1,nan,0.5\n2,0.25,0.75\n",
        MET,
        ["mix.csv", "line 2", "'web'", "'nan' is not a number"],
    ),
    ("index,web,code\n1,0.5,0.5\n2,0.25,\n", MET, ["mix.csv", "line 3", "'code'", "empty"]),
    (MIX, "index,loss\n1,inf\n2,2.5\n", ["met.csv", "line 2", "'loss'", "not finite"]),
    (MIX, "index,loss\n1,3.0\n2,abc\n", ["met.csv", "line 3", "'loss'", "'abc' is not a number"]),
    ("index,web,code\n1,0.5,0.5\n1,0.25,0.75\n", MET, ["mix.csv", "id '1'", "lines (2, 3)"]),
    (MIX, "index,loss\n1,3.0\n", ["id '2'", "mix.csv", "not in", "met.csv"]),
    (MIX, "index,loss\n1,3.0\n2,2.5\n3,1.0\n", ["id '3'", "met.csv", "not in", "mix.csv"]),
    ("run,web,code\n1,0.5,0.5\n", MET, ["mix.csv", "no id column 'index'", "--id-column"]),
    ("index,web,web\n1,0.5,0.5\n", MET, ["mix.csv", "duplicated column name 'web'"]),
    ("index,,web\n1,0.5,0.5\n", MET, ["mix.csv", "empty column name"]),
    ("", MET, ["mix.csv", "cannot read"]),
    ("index,web\n", MET, ["mix.csv", "no rows"]),
]


@pytest.mark.parametrize("mix,met,words", BAD_TABLES)
def test_bad_wide_tables_exit_2_and_name_the_place(tmp_path, capsys, mix, met, words):
    code, out, err = run_cli(capsys, *import_args(tmp_path, mix, met))
    assert code == 2, err
    assert "Traceback" not in err + out
    for w in words:
        assert w in err, (w, err)
    assert (
        not (tmp_path / "s.db").exists()
        or "0 runs" in run_cli(capsys, "runs", "list", "--store", str(tmp_path / "s.db"))[1]
    )


def test_bad_curves_and_logs_exit_2(tmp_path, capsys):
    (tmp_path / "mix.csv").write_text("index,web\nr1,1\n")
    cases = [
        ("run_id,step,metric,value\nr1,1,m,1\n", ["c.csv", "missing column", "'tokens'"]),
        (
            "run_id,step,tokens,metric,value\nr1,1.5,1,m,1\n",
            ["c.csv", "line 2", "'step'", "not a non-negative integer"],
        ),
        (
            "run_id,step,tokens,metric,value\nr2,1,1,m,1\n",
            ["id 'r1'", "mix.csv", "not in", "c.csv"],
        ),
        ("run_id,step,tokens,metric,value\nr1,1,1,,1\n", ["c.csv", "line 2", "empty 'metric'"]),
    ]
    for text, words in cases:
        (tmp_path / "c.csv").write_text(text)
        code, out, err = run_cli(
            capsys,
            "runs",
            "import",
            "--curves",
            str(tmp_path / "c.csv"),
            "--mixtures",
            str(tmp_path / "mix.csv"),
            "--store",
            str(tmp_path / "s.db"),
        )
        assert code == 2 and "Traceback" not in err
        for w in words:
            assert w in err, (w, err)
    (tmp_path / "log.txt").write_text("a\tb\n")
    code, _, err = run_cli(
        capsys,
        "runs",
        "import",
        "--mixinglaws-log",
        str(tmp_path / "log.txt"),
        "--store",
        str(tmp_path / "s.db"),
    )
    assert code == 2 and "log.txt, line 1" in err


def test_bad_arguments_and_stores_exit_2(tmp_path, capsys):
    store = str(tmp_path / "s.db")
    assert run_cli(capsys, "runs", "import", "--mixtures", "m.csv", "--store", store)[0] == 2
    code, _, err = run_cli(
        capsys,
        "runs",
        "import",
        "--mixtures",
        str(tmp_path / "none.csv"),
        "--metrics",
        str(tmp_path / "none2.csv"),
        "--store",
        store,
    )
    assert code == 2 and "none.csv: no such file" in err
    code, _, err = run_cli(capsys, "runs", "list", "--store", str(tmp_path / "missing.db"))
    assert code == 2 and "missing.db: no run store here" in err
    (tmp_path / "junk.db").write_text("junk" * 1000)
    code, _, err = run_cli(capsys, "runs", "list", "--store", str(tmp_path / "junk.db"))
    assert code == 2 and "not a mixlab run store" in err
    assert run_cli(capsys, "runs", "frobnicate")[0] == 2
    run_cli(capsys, *import_args(tmp_path))
    code, _, err = run_cli(capsys, "runs", "show", "nope", "--store", store)
    assert code == 2 and "no run with id 'nope'" in err


def test_unexpected_error_exits_1_traceback_only_under_debug(tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("mixlab.runs.import_wide", boom)
    code, out, err = run_cli(capsys, *import_args(tmp_path))
    assert code == 1 and "disk on fire" in err and "Traceback" not in err
    code, out, err = run_cli(capsys, *import_args(tmp_path), "--debug")
    assert code == 1 and "Traceback" in err


def test_import_list_show_export_json(tmp_path, capsys):
    code, out, _ = run_cli(capsys, *import_args(tmp_path, MIX, MET, "--tag", "t1", "--json"))
    assert code == 0 and json.loads(out) == {"added": 2, "updated": 0, "unchanged": 0, "runs": 2}
    store = str(tmp_path / "s.db")
    code, out, _ = run_cli(capsys, "--json", "runs", "list", "--store", store, "--tag", "t1")
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["1", "2"]
    code, out, _ = run_cli(capsys, "runs", "show", "2", "--store", store, "--json")
    record = json.loads(out)
    assert record["mixture"] == {"web": 0.25, "code": 0.75} and record["tags"] == ["t1"]
    code, out, _ = run_cli(capsys, "runs", "show", "2", "--store", store)
    assert code == 0 and "code" in out and "0.75" in out
    code, out, _ = run_cli(
        capsys, "runs", "export", "--out", str(tmp_path / "x.csv"), "--store", store, "--json"
    )
    assert code == 0 and json.loads(out)["runs"] == 2
    assert (tmp_path / "x_mixtures.csv").read_text() == "index,web,code\n1,0.5,0.5\n2,0.25,0.75\n"
    assert (tmp_path / "x_metrics.csv").read_text() == "index,loss\n1,3.0\n2,2.5\n"


def test_store_from_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MIXLAB_STORE", str(tmp_path / "env.db"))
    (tmp_path / "mix.csv").write_text(MIX)
    (tmp_path / "met.csv").write_text(MET)
    assert (
        run_cli(
            capsys,
            "runs",
            "import",
            "--mixtures",
            str(tmp_path / "mix.csv"),
            "--metrics",
            str(tmp_path / "met.csv"),
            "--quiet",
        )[0]
        == 0
    )
    assert (tmp_path / "env.db").exists()


def test_console_script_runs():
    done = subprocess.run(
        [sys.executable, "-m", "mixlab", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("mixlab ")
    done = subprocess.run(
        [sys.executable, "-m", "mixlab", "runs", "list", "--store", "/nonexistent/x.db"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
