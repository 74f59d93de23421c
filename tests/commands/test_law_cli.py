"""`mixlab law`: fit / predict / optimize / critical-share through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mixlab.cli import main

DOMAINS = ["web", "code", "math"]


@pytest.fixture
def tables(tmp_path):
    """Runs whose losses follow L_i = c_i + k_i exp(t_i . r) with a little noise."""
    rng = np.random.default_rng(0)
    R = rng.dirichlet([1, 1, 1], size=40)
    t = np.array([[-3.0, -0.5, -0.2], [-0.4, -2.5, -0.3], [-0.2, -0.6, -2.0]])
    Y = np.array([2.0, 1.5, 1.0]) + np.exp(R @ t.T) + rng.normal(0, 1e-3, (40, 3))
    ids = [f"r{i}" for i in range(40)]
    pd.DataFrame(R, index=pd.Index(ids, name="index"), columns=DOMAINS).to_csv(tmp_path / "m.csv")
    pd.DataFrame(
        Y, index=pd.Index(ids, name="index"), columns=[f"loss_{d}" for d in DOMAINS]
    ).to_csv(tmp_path / "y.csv")
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_fit_predict_optimize(tables, capsys):
    law = tables / "law.json"
    code, out, err = run(
        capsys,
        "--json",
        "law",
        "fit",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--target",
        "loss_web",
        "--target",
        "loss_code",
        "--law",
        "exp",
        "--out",
        law,
    )
    assert code == 0, err
    cv = json.loads(out)["cv"]["targets"]
    assert cv["loss_web"]["mae_mean"] < 0.01 and cv["loss_code"]["spearman"] > 0.95
    code, _, err = run(
        capsys, "law", "predict", law, "--mixtures", tables / "m.csv", "--out", tables / "p.csv"
    )
    assert code == 0, err
    pred = pd.read_csv(tables / "p.csv")
    assert list(pred.columns)[:3] == ["index", "loss_web", "loss_code"] and len(pred) == 40
    assert {"loss_web:lo", "loss_web:hi", "outside_fitted_range"} <= set(pred.columns)
    assert (pred["loss_web:lo"] < pred["loss_web"]).all() and (
        pred["outside_fitted_range"].isna()
    ).all()
    (tables / "prior.json").write_text(json.dumps({"web": 0.6, "code": 0.3, "math": 0.1}))
    code, out, err = run(
        capsys,
        "--json",
        "law",
        "optimize",
        law,
        "--target",
        "loss_web",
        "--prior",
        tables / "prior.json",
        "--cap",
        "1.5",
        "--upper",
        "code=0.2",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--bootstrap",
        "5",
        "--out",
        tables / "mix.json",
        "--format",
        "json",
    )
    assert code == 0, err
    result = json.loads(out)
    mix = result["mixture"]
    assert mix["web"] <= 0.9 + 1e-9 and mix["code"] <= 0.2 + 1e-9  # cap 1.5 x 0.6, upper bound
    assert abs(sum(mix.values()) - 1) < 1e-9
    assert result["interval"][0] <= result["predicted"] <= result["interval"][1]
    assert json.loads((tables / "mix.json").read_text())["mixture"] == pytest.approx(
        {d: w for d, w in mix.items() if w > 0}
    )


def test_law_bad_input_exits_2(tables, capsys):
    base = [
        "law",
        "fit",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--out",
        tables / "l.json",
    ]
    code, _, err = run(capsys, *base, "--target", "nope")
    assert code == 2 and "--target 'nope' is not a metrics column" in err
    code, _, err = run(capsys, *base, "--target", "loss_web", "--law", "cubic")
    assert code == 2 and "--law must be one of" in err
    run(capsys, *base, "--target", "loss_web", "--law", "linear")
    code, _, err = run(
        capsys, "law", "optimize", tables / "l.json", "--out", tables / "x", "--cap", "2"
    )
    assert code == 2 and "--cap" in err and "--prior" in err
    code, _, err = run(
        capsys, "law", "optimize", tables / "l.json", "--out", tables / "x", "--lower", "web"
    )
    assert code == 2 and "--lower 'web': expected DOMAIN=NUMBER" in err


def test_critical_share_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    share = rng.uniform(0, 1, 30)
    R = np.column_stack([share, 1 - share])
    loss = 2.0 + 0.8 * np.exp(-3.0 * share) + rng.normal(0, 1e-4, 30)
    ids = [f"c{i}" for i in range(30)]
    pd.DataFrame(R, index=pd.Index(ids, name="index"), columns=["orig", "new"]).to_csv(
        tmp_path / "m.csv"
    )
    pd.DataFrame({"index": ids, "loss_orig": loss}).to_csv(tmp_path / "y.csv", index=False)
    law = tmp_path / "law.json"
    assert (
        run(
            capsys,
            "law",
            "fit",
            "--mixtures",
            tmp_path / "m.csv",
            "--metrics",
            tmp_path / "y.csv",
            "--target",
            "loss_orig",
            "--out",
            law,
            "--law",
            "exp",
        )[0]
        == 0
    )
    level = 2.0 + 0.8 * np.exp(-3.0)  # the loss with only original data
    code, out, err = run(
        capsys,
        "--json",
        "law",
        "critical-share",
        law,
        "--original",
        "orig",
        "--level",
        level,
        "--bound",
        0.05,
    )
    assert code == 0, err
    # 0.8 exp(-3 s) = 0.8 exp(-3) + 0.05  ->  s = -ln(exp(-3) + 0.0625) / 3
    expected = -np.log(np.exp(-3.0) + 0.0625) / 3
    assert json.loads(out)["share"] == pytest.approx(expected, abs=0.01)


def test_fit_defaults_to_auto_with_candidate_table_and_oof(tables, capsys):
    law = tables / "auto.json"
    code, out, err = run(
        capsys,
        "--json",
        "law",
        "fit",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--target",
        "loss_web",
        "--out",
        law,
        "--folds",
        "3",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "auto" and doc["selection"][0]["scheme"] == "3-fold"
    sel = doc["selection"][0]
    names = [r["name"] for r in sel["candidates"]]
    assert {"linear", "exp[linear]", "exp[linear+log],alpha=0.01", "lgbm", "mean"} <= set(names)
    assert sum(r["chosen"] for r in sel["candidates"]) == 1
    best = next(r for r in sel["candidates"] if r["chosen"])
    assert best["mae"] < 0.2 * best["baseline_mae"] and best["name"].startswith("exp")
    saved = json.loads(law.read_text())
    assert saved["params"]["selection"][0]["chosen"] == sel["chosen"]
    oof = pd.read_csv(tables / "auto.oof.csv")
    assert list(oof.columns) == ["law", "run_id", "target", "observed", "predicted", "baseline"]
    assert len(oof) == 40 and (oof["predicted"] - oof["observed"]).abs().mean() < 0.01
    # the CLI text shows the table with the chosen one marked and the baseline beside it
    code, out, err = run(
        capsys,
        "law",
        "fit",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--target",
        "loss_web",
        "--out",
        law,
        "--law",
        "exp",
        "--features",
        "linear+log",
        "--oof",
        tables / "o.csv",
    )
    assert code == 0, err and "mean-baseline MAE" in out
    assert json.loads(law.read_text())["hyperparams"]["features"] == "linear+log"
    assert (tables / "o.csv").is_file()


def test_law_hyperparameter_flags_bad_input_exit_2(tables, capsys):
    base = [
        "law",
        "fit",
        "--mixtures",
        tables / "m.csv",
        "--metrics",
        tables / "y.csv",
        "--out",
        tables / "l.json",
        "--target",
        "loss_web",
    ]
    code, _, err = run(capsys, *base, "--law", "exp", "--features", "cubic")
    assert code == 2 and "--features 'cubic'" in err and "linear+log" in err
    code, _, err = run(capsys, *base, "--law", "implicit", "--hidden", "0")
    assert code == 2 and "--hidden must be an integer >= 1" in err
    code, _, err = run(capsys, *base, "--law", "exp", "--hidden", "3")
    assert code == 2 and "--hidden (n_hidden) does not apply to --law exp" in err
    code, _, err = run(capsys, *base, "--law", "lgbm", "--param", "depth=3")
    assert code == 2 and "no hyperparameter 'depth'" in err
    code, _, err = run(capsys, *base[:-2], "--target", "loss_nope")
    assert code == 2 and "available: loss_web, loss_code, loss_math" in err
