"""Ingestion keeps a dataset's splits apart: test documents never reach the shards, the
dataset's own validation split is the validation set, and the other layouts are found."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mixlab.cli import main
from mixlab.data import load_prepared, prepare
from mixlab.data.sources import split_of


def texts_of(out: Path, domain: str, split: str) -> set[str]:
    data = load_prepared(out)
    shard = getattr(data, split)[domain]
    return {data.tokenizer.decode(shard.document(i)[:-1]) for i in range(shard.n_docs)}


def write_config(root: Path, domains: dict, **extra) -> Path:
    config = {
        "output": "shards",
        "tokenizer": {"kind": "bytes"},
        "workers": 1,
        "domains": domains,
        **extra,
    }
    path = root / "prepare.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_hub_folder_test_split_never_reaches_the_shards(tmp_path: Path, tools) -> None:
    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    train, test = tools.docs("train", 40), tools.docs("test", 10)
    tools.write_parquet(hub / "train-00000-of-00002.parquet", train[:20])
    tools.write_parquet(hub / "train-00001-of-00002.parquet", train[20:])
    tools.write_parquet(hub / "test-00000-of-00001.parquet", test)
    config = write_config(tmp_path, {"web": "hub"}, validation={"documents": 4})
    summary = prepare(config)
    out = tmp_path / "shards"
    seen = texts_of(out, "web", "train") | texts_of(out, "web", "validation")
    assert seen == set(train)  # every training document, and no test document
    assert not seen & set(test)
    assert summary.domains[0].skipped_test_files == 1
    assert summary.domains[0].validation_source == "drawn"


def test_own_validation_split_is_the_validation_set(tmp_path: Path, tools) -> None:
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "validation").mkdir()
    train, val = tools.docs("tr", 30), tools.docs("va", 6)
    tools.write_jsonl(root / "train" / "part.json.gz", train)  # Dolma's .json.gz
    tools.write_jsonl(root / "validation" / "part.jsonl", val)
    config = write_config(tmp_path, {"web": "ds"})
    summary = prepare(config)
    out = tmp_path / "shards"
    assert texts_of(out, "web", "validation") == set(val)
    assert texts_of(out, "web", "train") == set(train)
    assert summary.domains[0].validation_source == "dataset"
    assert any("too few to measure a loss to 0.01 nats" in w for w in summary.warnings)


def test_saved_dataset_dict_validation_split_is_used(tmp_path: Path, tools) -> None:
    root = tmp_path / "dd"
    tools.write_hf_dataset(root / "train", tools.docs("t", 12))
    tools.write_hf_dataset(root / "validation", tools.docs("v", 3))
    tools.write_hf_dataset(root / "test", tools.docs("e", 3))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation", "test"]}))
    prepare(write_config(tmp_path, {"d": "dd"}))
    out = tmp_path / "shards"
    assert texts_of(out, "d", "validation") == set(tools.docs("v", 3))
    assert texts_of(out, "d", "train") == set(tools.docs("t", 12))


def test_val_split_flag_sets_the_drawn_validation(tmp_path: Path, tools, capsys) -> None:
    tools.write_jsonl(tmp_path / "a.jsonl", tools.docs("a", 50))
    config = write_config(tmp_path, {"a": "a.jsonl"})
    assert main(["--quiet", "data", "prepare", str(config), "--val-split", "10"]) == 0
    assert load_prepared(tmp_path / "shards").validation["a"].n_docs == 10
    assert main(["data", "prepare", str(config), "--val-split", "x"]) == 2
    assert "--val-split" in capsys.readouterr().err


def test_split_names_follow_the_hub_rules() -> None:
    assert split_of(Path("data/train-00000-of-00001.parquet")) == "train"
    assert split_of(Path("validation/0.jsonl")) == "validation"
    assert split_of(Path("dev.jsonl")) == "validation"
    assert split_of(Path("wiki_test.jsonl.gz")) == "test"
    assert split_of(Path("data/CC-MAIN-2024-10/000_00000.parquet")) is None  # FineWeb
    assert split_of(Path("tests_and_docs/devices.txt")) is None
