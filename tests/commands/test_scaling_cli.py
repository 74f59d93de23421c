"""`mixlab scaling`: fit / predict / allocate / nested through the CLI, and bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from mixlab import cli
from mixlab.laws.core.fitting import FitWarning
from mixlab.runs import Evaluation, RunRecord, RunStore

P = {"E": 1.82, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def write_runs(path, rng, with_c=True):
    N, D = np.meshgrid(np.geomspace(5e7, 1e10, 8), np.geomspace(1e9, 5e11, 8))
    N, D = N.ravel(), D.ravel()
    loss = (P["E"] + P["A"] * N ** -P["alpha"] + P["B"] * D ** -P["beta"]) * np.exp(
        rng.normal(0, 0.003, N.size)
    )
    lines = ["params,flops,tokens,loss"] + [
        f"{n:.6g},{6 * n * d:.6g},{d:.6g},{y:.6f}" for n, d, y in zip(N, D, loss, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def runs_csv(tmp_path):
    return write_runs(tmp_path / "runs.csv", np.random.default_rng(0))


def test_fit_predict_allocate(runs_csv, tmp_path, capsys):
    fit = tmp_path / "fit.json"
    code, out, err = run_cli(
        capsys,
        "--json",
        "scaling",
        "fit",
        "--runs",
        runs_csv,
        "--n-column",
        "params",
        "--c-column",
        "flops",
        "--loss-column",
        "loss",
        "--bootstrap",
        "20",
        "--drop-highest",
        "2",
        "--out",
        fit,
    )
    assert code == 0, err
    data = json.loads(fit.read_text())
    assert data["form"] == "chinchilla" and data["n_points"] == 62
    assert set(data["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(data["ci"]) == set(data["params"]) and data["cost"] > 0
    assert data["params"]["alpha"] == pytest.approx(P["alpha"], rel=0.1)
    assert json.loads(out)["out"] == str(fit)

    code, out, err = run_cli(
        capsys, "--json", "scaling", "predict", fit, "--n", "1e9", "--d", "2e10"
    )
    assert code == 0, err
    pred = json.loads(out)
    assert pred["loss"] == pytest.approx(
        P["E"] + P["A"] * 1e9 ** -P["alpha"] + P["B"] * 2e10 ** -P["beta"], rel=0.01
    )
    assert pred["interval"][0] <= pred["loss"] <= pred["interval"][1]

    code, out, err = run_cli(
        capsys,
        "--json",
        "scaling",
        "allocate",
        fit,
        "--compute",
        "1e22",
        "--inference-tokens",
        "1e12",
    )
    assert code == 0, err
    alloc = json.loads(out)
    best, aware = alloc["compute_optimal"], alloc["inference_aware"]
    assert best["method"] == "closed form"
    assert aware["n_params"] < best["n_params"] and aware["loss"] == pytest.approx(best["loss"])
    assert alloc["flops_saved"] > 0

    code, out, err = run_cli(capsys, "scaling", "allocate", fit, "--compute", "1e22")
    assert code == 0 and "compute-optimal" in out


def test_fit_with_d_column_and_other_forms(runs_csv, tmp_path, capsys):
    for form, extra in (
        ("chinchilla", ["--d-column", "tokens"]),
        ("overtrain", ["--d-column", "tokens"]),
    ):
        code, _, err = run_cli(
            capsys,
            "scaling",
            "fit",
            "--runs",
            runs_csv,
            "--n-column",
            "params",
            *extra,
            "--loss-column",
            "loss",
            "--form",
            form,
            "--bootstrap",
            "0",
            "--out",
            tmp_path / f"{form}.json",
        )
        assert code == 0, err
    steps = tmp_path / "curve.csv"
    S = np.arange(100, 5001, 100)
    steps.write_text("step,loss\n" + "".join(f"{s},{2 + 30 * s**-0.5:.6f}\n" for s in S))
    code, _, err = run_cli(
        capsys,
        "scaling",
        "fit",
        "--runs",
        steps,
        "--form",
        "step",
        "--step-column",
        "step",
        "--loss-column",
        "loss",
        "--min-step",
        "500",
        "--out",
        tmp_path / "step.json",
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "--json", "scaling", "predict", tmp_path / "step.json", "--steps", "20000"
    )
    assert code == 0 and json.loads(out)["loss"] == pytest.approx(2 + 30 * 20000**-0.5, rel=1e-3)
    code, _, err = run_cli(
        capsys, "scaling", "allocate", tmp_path / "step.json", "--compute", "1e20"
    )
    assert code == 2 and "needs a law in N and D" in err


@pytest.mark.parametrize(
    "csv, args, words",
    [
        (
            "params,flops,loss\n1e8,1e18,3.0\n-2e8,1e18,2.9\n",
            [],
            ["runs.csv", "line 3", "'params'", "positive"],
        ),
        ("params,flops,loss\n1e8,1e18,3.0\n2e8,nan,2.9\n", [], ["line 3", "'flops'", "not finite"]),
        ("params,flops,loss\n1e8,1e18,3.0\n2e8,1e18,\n", [], ["line 3", "'loss'", "empty"]),
        ("params,flops,loss\n1e8,1e18,3.0\n2e8,abc,2.9\n", [], ["'abc' is not a number"]),
        ("params,flops,loss\n1e8,1e18,3.0\n2e8,1e18,2.9\n", [], ["2 usable", "5 parameters"]),
        ("params,compute,loss\n1e8,1e18,3.0\n", [], ["no column 'flops'", "--c-column"]),
    ],
)
def test_bad_runs_table_exits_2_naming_the_place(tmp_path, capsys, csv, args, words):
    path = tmp_path / "runs.csv"
    path.write_text(csv)
    code, out, err = run_cli(
        capsys,
        "scaling",
        "fit",
        "--runs",
        path,
        "--n-column",
        "params",
        "--c-column",
        "flops",
        "--loss-column",
        "loss",
        "--out",
        tmp_path / "f.json",
        *args,
    )
    assert code == 2, err
    for w in words:
        assert w in err
    assert "Traceback" not in err and not (tmp_path / "f.json").exists()


def test_bad_options_exit_2(runs_csv, tmp_path, capsys):
    base = [
        "scaling",
        "fit",
        "--runs",
        runs_csv,
        "--n-column",
        "params",
        "--loss-column",
        "loss",
        "--out",
        tmp_path / "f.json",
    ]
    code, _, err = run_cli(capsys, *base)
    assert code == 2 and "exactly one of --d-column or --c-column" in err
    code, _, err = run_cli(capsys, *base, "--d-column", "tokens", "--form", "kaplan")
    assert code == 2 and "--form must be one of" in err
    code, _, err = run_cli(capsys, "scaling", "predict", tmp_path / "missing.json", "--n", "1")
    assert code == 2 and "missing.json: no such file" in err
    (tmp_path / "bad.json").write_text("{}")
    code, _, err = run_cli(
        capsys, "scaling", "allocate", tmp_path / "bad.json", "--compute", "1e20"
    )
    assert code == 2 and "bad.json" in err and "not a fitted mixlab scaling law" in err


def test_nested_command(tmp_path, capsys):
    rng = np.random.default_rng(1)
    steps = np.arange(500, 6001, 500)
    records = []
    for i, r in enumerate(rng.dirichlet(np.full(3, 2.0), 8)):
        mixture = dict(zip(["web", "code", "books"], r / r.sum(), strict=True))
        for N in (3e7, 1e8, 3e8):
            base = 1.5 + 0.8 * np.exp(r @ [-1.5, 0.5, 1.0]) + 60 * N**-0.25 + 9 * steps**-0.4
            evals = [
                Evaluation(step=int(s), metric=m, value=float(v + off))
                for s, v in zip(steps, base, strict=True)
                for m, off in (("a", 0.0), ("b", 0.3))
            ]
            records.append(
                RunRecord(
                    id=f"r{i}_{N:g}",
                    mixture=mixture,
                    n_params=int(N),
                    evaluations=evals,
                    tags=["sweep"],
                )
            )
    with RunStore(tmp_path / "s.db") as s:
        s.put_many(records)
    (tmp_path / "w.json").write_text(json.dumps({"a": 0.5, "b": 0.5}))
    out_path = tmp_path / "nested.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # the optimum lies at a corner
        code, out, err = run_cli(
            capsys,
            "--json",
            "scaling",
            "nested",
            "--store",
            tmp_path / "s.db",
            "--tag",
            "sweep",
            "--weights",
            tmp_path / "w.json",
            "--target-steps",
            "20000",
            "--target-size",
            "1e9",
            "--out",
            out_path,
        )
    assert code == 0, err
    data = json.loads(out_path.read_text())
    assert len(data["mixtures"]) == 8 and data["optimum"]["mixture"].keys() == {
        "web",
        "code",
        "books",
    }
    r = np.array([data["mixtures"][0][d] for d in ("web", "code", "books")])
    want = 1.5 + 0.8 * np.exp(r @ [-1.5, 0.5, 1.0]) + 60 * 1e9**-0.25 + 9 * 20000**-0.4 + 0.15
    assert data["mixtures"][0]["predicted"] == pytest.approx(want, abs=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        code, _, err = run_cli(
            capsys,
            "--json",
            "scaling",
            "nested",
            "--store",
            tmp_path / "s.db",
            "--weights",
            tmp_path / "w.json",
            "--target-steps",
            "20000",
            "--target-size",
            "1e9",
            "--law",
            "exp",
            "--per-metric",
            "--no-optimize",
            "--out",
            out_path,
        )
    assert code == 0, err
    per = json.loads(out_path.read_text())
    assert per["law"]["fitted_names"] == ["a", "b"]  # one law per metric, summed
    assert per["mixtures"][0]["predicted_components"] == pytest.approx(want, abs=0.01)
    code, _, err = run_cli(
        capsys,
        "scaling",
        "nested",
        "--store",
        tmp_path / "s.db",
        "--metric",
        "nope",
        "--target-steps",
        "1e4",
        "--target-size",
        "1e9",
        "--out",
        out_path,
    )
    assert code == 2 and "'nope'" in err


def test_data_constrained_fit_and_predict(tmp_path, capsys):
    rng = np.random.default_rng(2)
    N, U, E = np.meshgrid(np.geomspace(1e8, 3e9, 4), [2e8, 1e9], [0.5, 1, 4, 16, 40])
    N, U, D = N.ravel(), U.ravel(), (U * E).ravel()
    Ud = np.minimum(U, D)
    Deff = Ud + Ud * 5.0 * -np.expm1(-(D / Ud - 1) / 5.0)
    y = (1.9 + 400 * N**-0.34 + 1500 * Deff**-0.3) * np.exp(rng.normal(0, 0.002, N.size))
    path = tmp_path / "dc.csv"
    path.write_text(
        "n,d,u,loss\n"
        + "".join(
            f"{a:.6g},{b:.6g},{c:.6g},{v:.6f}\n" for a, b, c, v in zip(N, D, U, y, strict=True)
        )
    )
    fit = tmp_path / "dc.json"
    code, _, err = run_cli(
        capsys,
        "scaling",
        "fit",
        "--runs",
        path,
        "--n-column",
        "n",
        "--d-column",
        "d",
        "--u-column",
        "u",
        "--loss-column",
        "loss",
        "--bootstrap",
        "0",
        "--out",
        fit,
    )
    assert code == 0, err
    assert json.loads(fit.read_text())["params"]["r_star"] == pytest.approx(5.0, rel=0.3)
    held = tmp_path / "held.json"
    code, _, err = run_cli(
        capsys, "scaling", "fit", "--runs", path, "--form", "constrained", "--n-column", "n",
        "--d-column", "d", "--u-column", "u", "--loss-column", "loss", "--r-star", "5",
        "--bootstrap", "0", "--out", held,
    )  # fmt: skip
    assert code == 0, err
    assert "r_star" not in json.loads(held.read_text())["params"]  # held at 5, not fitted
    losses = []
    for extra in ([], ["--unique-tokens", "1e9"]):
        code, out, err = run_cli(
            capsys, "--json", "scaling", "predict", fit, "--n", "1e9", "--d", "4e10", *extra
        )
        assert code == 0, err
        losses.append(json.loads(out)["loss"])
    assert losses[0] < losses[1]  # 40 epochs of 1e9 unique tokens are worth less


def nested_store(path, *, first_step=500, two_size_mixture=False, n_mix=8):
    """Runs of `n_mix` mixtures at 3 sizes, metrics a and b, curves from `first_step`."""
    rng = np.random.default_rng(1)
    steps = np.arange(first_step, 30001, 1000)
    records = []
    for i, r in enumerate(rng.dirichlet(np.full(3, 2.0), n_mix)):
        mixture = dict(zip(["web", "code", "books"], r / r.sum(), strict=True))
        sizes = (3e7, 1e8) if two_size_mixture and i == 0 else (3e7, 1e8, 3e8)
        for N in sizes:
            base = (
                1.5
                + 0.8 * np.exp(r @ [-1.5, 0.5, 1.0])
                + 60 * N**-0.25
                + 9 * np.maximum(steps, 1) ** -0.4
                + (steps == 0) * 5.0
            )
            evals = [
                Evaluation(step=int(s), metric=m, value=float(v + off))
                for s, v in zip(steps, base, strict=True)
                for m, off in (("a", 0.0), ("b", 0.3))
            ]
            records.append(
                RunRecord(id=f"r{i}_{N:g}", mixture=mixture, n_params=int(N), evaluations=evals)
            )
    with RunStore(path) as s:
        s.put_many(records)
    return path


def test_readme_nested_example_runs_as_written(tmp_path, capsys, monkeypatch):
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("mixlab scaling nested"))
    args = shlex.split(line)[1:]
    monkeypatch.chdir(tmp_path)
    store = args[args.index("--store") + 1]
    nested_store(tmp_path / store)
    (tmp_path / args[args.index("--weights") + 1]).write_text(json.dumps({"a": 0.5, "b": 0.5}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "interval" in out and "optimum" in out
    data = json.loads((tmp_path / args[args.index("--out") + 1]).read_text())
    assert data["backtest"]["n"] == 8 and data["optimum"]["interval_kind"] == "back-test"
    lo, hi = data["optimum"]["interval"]
    assert lo < data["optimum"]["corrected"] < hi


def test_nested_curves_from_step_zero(tmp_path, capsys):
    db = nested_store(tmp_path / "s.db", first_step=0)
    (tmp_path / "w.json").write_text(json.dumps({"a": 0.5, "b": 0.5}))
    for extra in ([], ["--min-step", "1"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            code, _, err = run_cli(
                capsys,
                "--json",
                "scaling",
                "nested",
                "--store",
                db,
                "--weights",
                tmp_path / "w.json",
                "--target-steps",
                "40000",
                "--target-size",
                "1e9",
                "--no-optimize",
                "--law",
                "linear",
                "--out",
                tmp_path / "n.json",
                *extra,
            )
        assert code == 0, err
        runs = json.loads((tmp_path / "n.json").read_text())["runs"]
        assert all(r["n_points"] == 30 for r in runs)  # step 0 left out, not an error


def test_nested_skips_mixtures_with_fewer_than_three_sizes(tmp_path, capsys):
    db = nested_store(tmp_path / "s.db", two_size_mixture=True)
    (tmp_path / "w.json").write_text(json.dumps({"a": 0.5, "b": 0.5}))
    args = [
        "--json",
        "scaling",
        "nested",
        "--store",
        db,
        "--weights",
        tmp_path / "w.json",
        "--target-steps",
        "30000",
        "--target-size",
        "1e9",
        "--no-optimize",
        "--law",
        "linear",
        "--out",
        tmp_path / "n.json",
    ]
    with pytest.warns(FitWarning, match=r"fewer than 3 model sizes: 0\.\d+-"):
        code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    data = json.loads((tmp_path / "n.json").read_text())
    assert len(data["mixtures"]) == 7 and len(data["skipped"]) == 1
    code, _, err = run_cli(capsys, *args, "--no-skip-incomplete")
    assert code == 2 and "has runs at 2 model size(s)" in err


def test_fit_records_a_size_backtest_and_predict_uses_it(runs_csv, tmp_path, capsys):
    fit = tmp_path / "fit.json"
    code, _, err = run_cli(
        capsys,
        "scaling",
        "fit",
        "--runs",
        runs_csv,
        "--n-column",
        "params",
        "--d-column",
        "tokens",
        "--loss-column",
        "loss",
        "--bootstrap",
        "0",
        "--out",
        fit,
    )
    assert code == 0, err
    bt = json.loads(fit.read_text())["backtest"]
    assert bt["held_out_size"] == pytest.approx(1e10) and bt["n"] == 8
    assert abs(bt["bias"]) < 0.01  # the generating law extrapolates exactly
    code, out, err = run_cli(
        capsys, "--json", "scaling", "predict", fit, "--n", "3e10", "--d", "1e12"
    )
    assert code == 0, err
    res = json.loads(out)
    lo, hi = res["backtest_interval"]
    want = P["E"] + P["A"] * 3e10 ** -P["alpha"] + P["B"] * 1e12 ** -P["beta"]
    assert lo < want < hi and lo < res["corrected"] < hi
