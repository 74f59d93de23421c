"""`mixlab phase`: a tiny study planned, trained and fitted end to end through the CLI, the
study's data (probes per attribute, popularity groups, remedies), and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mixlab import cli
from mixlab.data.probes import read_probes
from mixlab.studies.phase import KNOWLEDGE, TUPLES, PhaseConfig, write_phase_data


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


TINY = """
people: 30
web: {demo_bytes: 100000}
tokenizer: {kind: bpe, vocab_size: 400, sample_bytes: 200000}
ratios: [0.2, 0.6]
models: ["25k"]
tokens: [8000]
train: {seq_len: 64, batch_size: 8, optimizer: {lr: 0.01}, eval: {every: 10, max_sequences: 4}}
"""


def test_plan_run_fit_predict_end_to_end(tmp_path, capsys):
    (tmp_path / "phase.yaml").write_text(TINY)
    study = tmp_path / "study"
    code, out, err = run_cli(
        capsys, "--json", "phase", "plan", tmp_path / "phase.yaml", "--out", study
    )
    assert code == 0, err
    plan = json.loads(out)
    assert len(plan["runs"]) == 2 and plan["people"] == 30 and plan["probes"] == 150
    info = json.loads((study / "study.json").read_text())
    assert info["web_domains"] == ["code", "prose"] and info["tokens_per_rendering"] > 20
    db = tmp_path / "runs.db"
    code, out, err = run_cli(
        capsys, "--quiet", "phase", "run", study, "--store", db, "--workers", "1"
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys,
        "--json",
        "phase",
        "fit",
        "--store",
        db,
        "--out",
        tmp_path / "phase.json",
        "--table-out",
        tmp_path / "r.csv",
        "--n-bootstrap",
        "20",
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "phase.json").read_text())
    assert set(doc) >= {"critical_ratio", "critical_size", "power_law", "threshold"}
    (only,) = doc["critical_ratio"].values()  # one size; 8k tokens learn no fact
    assert only["status"] == "not_reached" and only["value"] is None
    table = pd.read_csv(tmp_path / "r.csv")
    assert sorted(table["ratio"]) == [0.2, 0.6]
    assert {"attribute=birth_city", "attribute=employer"} <= set(table.columns)
    # the CSV route reads the same table
    code, out, err = run_cli(
        capsys,
        "--json",
        "phase",
        "fit",
        "--results",
        tmp_path / "r.csv",
        "--out",
        tmp_path / "phase2.json",
        "--n-bootstrap",
        "20",
    )
    assert code == 0, err


def test_popularity_tuples_and_subsample_shape_the_knowledge_data(tmp_path):
    cfg = PhaseConfig.model_validate(
        {
            "people": 40,
            "subsample": 0.5,
            "tuples": 0.1,
            "popularity": {"groups": 2, "alpha": 1.0},
            "web": {"sources": {"web": [{"path": str(tmp_path / "web.txt")}]}},
            "ratios": [0.3],
            "models": ["25k"],
            "tokens": [20000],
        }
    )
    (tmp_path / "web.txt").write_text("some web text\n" * 50)
    info = write_phase_data(cfg, tmp_path, tmp_path / "study")
    assert info["people"] == 20 and info["web_domains"] == ["web"]
    first, second = info["groups"]
    assert first["renderings_per_person"] == pytest.approx(
        2 * second["renderings_per_person"], rel=0.1
    )
    probes = read_probes(tmp_path / "study" / "probes" / "facts.jsonl")
    assert len(probes) == 20 * 5
    assert {p.meta["group"] for p in probes} == {0, 1}
    assert {p.meta["attribute"] for p in probes} == set(info["attributes"])
    corpora = tmp_path / "study" / "corpora"
    assert (corpora / f"{TUPLES}.jsonl").is_file() and (corpora / f"{KNOWLEDGE}.jsonl").is_file()
    bios = (corpora / f"{KNOWLEDGE}.jsonl").read_text().splitlines()
    assert len(bios) == sum(g["people"] * g["renderings_per_person"] for g in info["groups"])


def test_predict_from_a_web_loss_table(tmp_path, capsys):
    sizes = np.array([3e4, 1e5, 4e5, 1.6e6])
    loss = 1.5 + 40.0 * (2 * sizes) ** -0.3
    pd.DataFrame({"model_size": sizes, "web_loss": loss}).to_csv(tmp_path / "web.csv", index=False)
    code, out, err = run_cli(
        capsys,
        "--json",
        "phase",
        "predict",
        "--web",
        tmp_path / "web.csv",
        "--people",
        "1000",
        "--tokens-per-biography",
        "80",
        "--sizes",
        "1e5,1e6",
        "--ratios",
        "0.2",
        "--out",
        tmp_path / "p.json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["web_law"]["alpha"] == pytest.approx(0.3, rel=0.05)
    r_small, r_large = (doc["critical_ratio"][k]["theory"] for k in ("100000", "1e+06"))
    assert r_large < r_small  # larger models need less knowledge data
    assert doc["exponent"]["asymptotic"] == pytest.approx(1.3, rel=0.05)


@pytest.mark.parametrize(
    "text, message",
    [
        ("people: 30\nratios: [1.2]\nmodels: [25k]\ntokens: [100]\n", "ratios"),
        (
            "people: 30\nratios: [0.2]\nmodels: [25k]\ntokens: [100]\ntrain: {tokens: 5}\n",
            "train.tokens",
        ),
        ("people: 30\nratios: [0.2]\nmodels: [25k]\n", "tokens"),
    ],
)
def test_bad_config_exits_2_naming_the_field(tmp_path, capsys, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    code, out, err = run_cli(
        capsys, "phase", "plan", tmp_path / "bad.yaml", "--out", tmp_path / "s"
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_results_csv_names_line_and_column(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("model_size,ratio,accuracy\n1e5,0.1,0.2\n1e5,0.2,1.5\n")
    code, out, err = run_cli(capsys, "phase", "fit", "--results", tmp_path / "r.csv")
    assert code == 2 and "line 3" in err and "accuracy" in err
