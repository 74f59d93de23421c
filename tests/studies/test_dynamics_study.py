"""`mixlab dynamics`: a tiny format study planned, trained and reported through the CLI, and
bad configs."""

from __future__ import annotations

import json

import pytest

from mixlab import cli
from mixlab.data.probes import read_probes
from mixlab.studies.dynamics import CorpusConfig, write_corpus


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


TINY = """
name: tiny-format
corpus: {kind: formats, digits: 2, operations: ["+"], train_problems: 300, test_problems: 20,
         tokenizer: {kind: bpe, vocab_size: 300, sample_bytes: 100000}}
choices:
  - {name: plain, mixture: {arith_plain: 1.0}, probes: {skill: test_plain}}
  - {name: scratchpad, mixture: {arith_scratchpad: 1.0}, probes: {skill: test_scratchpad}}
models: ["25k"]
tokens: 6000
train: {seq_len: 64, batch_size: 8, max_epochs: 10, eval: {every: 4, max_sequences: 4}}
"""


def test_study_and_report_end_to_end(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(TINY)
    db, study = tmp_path / "d.db", tmp_path / "study"
    code, out, err = run_cli(
        capsys, "--quiet", "dynamics", "study", tmp_path / "s.yaml", "--out", study, "--store", db
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "--json", "dynamics", "report", study, "--store", db, "--n-bootstrap", "50"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["choices"] == ["plain", "scratchpad"]
    assert {e["choice"] for e in doc["emergence"]} == {"plain", "scratchpad"}
    for e in doc["emergence"]:  # one seed: reached means a value, else none
        assert e["n"] == 1 and (e["status"] == "reached") == (e["reached"] == 1)
        assert (e["value"] is not None) == (e["status"] == "reached")
    comp = {r["domain"]: r for r in doc["compression"]}
    assert set(comp) == {"arith_plain", "arith_scratchpad"}
    for row in comp.values():
        assert 0 < row["model_bits_per_byte"] < 12 and 0 < row["lzma"] < row["gzip"] + 0.5
    saved = json.loads((study / "dynamics" / "dynamics.json").read_text())
    assert saved["emergence"] == doc["emergence"]
    page = (study / "report.html").read_text()
    assert "Learning dynamics: tiny-format" in page and "Compression" in page
    # re-running the study trains nothing new
    code, out, err = run_cli(
        capsys, "--json", "dynamics", "study", tmp_path / "s.yaml", "--out", study, "--store", db
    )
    assert code == 0 and json.loads(out)["skipped"] == 2


def test_formats_corpus_writes_one_problem_set_in_three_formats(tmp_path):
    cfg = CorpusConfig(kind="formats", train_problems=50, test_problems=10, operations=["+", "-"])
    config, probes = write_corpus(cfg, tmp_path)
    assert set(probes) == {
        f"{s}_{f}" for s in ("test", "train") for f in ("plain", "cot", "scratchpad")
    }
    prompts = {
        f: [p.prompt for p in read_probes(probes[f"test_{f}"])]
        for f in ("plain", "cot", "scratchpad")
    }
    assert prompts["plain"] == prompts["cot"] == prompts["scratchpad"]
    documents = (tmp_path / "corpus" / "arith_plain.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in documents]
    train_lines = {
        line.split("=")[0] for text in texts for line in text.splitlines() if "=" in line
    }
    assert len(train_lines) >= 40 and len(prompts["plain"]) == 10  # what is compared is there
    assert not set(p.rstrip("=") for p in prompts["plain"]) & train_lines  # test problems held out


@pytest.mark.parametrize(
    "patch, message",
    [
        ("choices:\n  - {name: a, mixture: {x: 1.0}, probes: {skill: p}}\n", "choices"),
        ("tokens: -5\n", "tokens"),
        ("skill: other\n", "no probe named 'other'"),
    ],
)
def test_bad_config_exits_2_naming_the_field(tmp_path, capsys, patch, message):
    text = TINY + patch  # a later key replaces the earlier one
    (tmp_path / "bad.yaml").write_text(text)
    code, out, err = run_cli(
        capsys, "dynamics", "study", tmp_path / "bad.yaml", "--out", tmp_path / "s", "--plan-only"
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_a_choice_can_mix_online(tmp_path, capsys):
    """A choice with `online:` plans a run that mixes online from its mixture."""
    text = TINY.replace(
        "  - {name: scratchpad, mixture: {arith_scratchpad: 1.0}, probes: {skill: test_scratchpad}}",
        "  - {name: scratchpad, mixture: {arith_scratchpad: 1.0}, probes: {skill: test_scratchpad}}\n"
        "  - {name: aioli, mixture: {arith_plain: 0.5, arith_scratchpad: 0.5},\n"
        "     probes: {skill: test_plain}, online: {method: aioli, every_steps: 4}}",
    )
    (tmp_path / "s.yaml").write_text(text)
    code, out, err = run_cli(
        capsys, "--json", "dynamics", "study", tmp_path / "s.yaml", "--out", tmp_path / "st",
        "--plan-only",
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads((tmp_path / "st" / "plan.json").read_text())
    online = [r["online"] for r in plan["runs"] if r.get("online")]
    assert len(online) == 1 and online[0]["method"] == "aioli" and online[0]["every_steps"] == 4
