"""`mixlab data export`: the consumers' on-disk formats, exact counts, and the way back in
(pre-tokenised Megatron / OLMo / nanoGPT files as a domain)."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from mixlab.cli import main
from mixlab.data import load_prepared, prepare
from mixlab.data.token_files import read_megatron, write_megatron
from mixlab.errors import InputError
from mixlab.export.mixtures import convert_shares, format_mixture, load_export_data
from mixlab.export.tokens import export_tokens


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tok")
    rng = np.random.default_rng(1)
    domains = {}
    for name, n, size in (("web", 60, 20), ("code", 30, 90)):
        texts = ["é" * int(rng.integers(1, 4)) + "x" * int(rng.integers(1, size)) for _ in range(n)]
        (root / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        domains[name] = f"{name}.jsonl"
    config = {
        "output": "shards",
        "tokenizer": {"kind": "bytes"},
        "validation": {"documents": 5},
        "workers": 1,
        "domains": domains,
    }
    (root / "prepare.yaml").write_text(yaml.safe_dump(config))
    prepare(root / "prepare.yaml", workers=1)
    return root / "shards"


def test_megatron_index_follows_the_published_layout(tmp_path):
    lengths = np.array([3, 1, 4])
    tokens = np.arange(8, dtype=np.uint16)
    write_megatron(tmp_path / "p", tokens, lengths, np.dtype("<u2"))
    raw = (tmp_path / "p.idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    assert struct.unpack_from("<QBQQ", raw, 9) == (1, 8, 3, 4)  # version, uint16, seqs, docs+1
    assert np.frombuffer(raw, "<i4", 3, 34).tolist() == [3, 1, 4]
    assert np.frombuffer(raw, "<i8", 3, 46).tolist() == [0, 6, 8]  # byte pointers
    assert np.frombuffer(raw, "<i8", 4, 70).tolist() == [0, 1, 2, 3]
    assert len(raw) == 70 + 32
    assert (tmp_path / "p.bin").read_bytes() == tokens.tobytes()
    back, doc_lengths = read_megatron(tmp_path / "p")
    assert back.tolist() == tokens.tolist() and doc_lengths.tolist() == [3, 1, 4]


@pytest.mark.parametrize("fmt", ["megatron", "olmo", "nanogpt", "hf"])
def test_export_counts_equal_the_shards(shards, tmp_path, fmt, capsys):
    out = tmp_path / fmt
    assert (
        main(
            [
                "--json",
                "data",
                "export",
                str(shards),
                "--format",
                fmt,
                "--out",
                str(out),
                "--max-file-tokens",
                "400",
            ]
        )
        == 0
    )
    manifest = json.loads(capsys.readouterr().out)
    data = load_prepared(shards)
    assert (out / "tokenizer.json").read_bytes() == (shards / "tokenizer.json").read_bytes()
    assert manifest["tokenizer"]["eod_id"] == data.tokenizer.eod_id
    assert manifest["dtype"] == "uint16"
    for name, entry in manifest["domains"].items():
        for split, shard in (("train", data.train[name]), ("validation", data.validation[name])):
            assert entry[split]["tokens"] == shard.n_tokens
            assert entry[split]["documents"] == shard.n_docs
            files = entry[split]["files"]
            if fmt in ("olmo", "nanogpt"):  # raw ids only: the size is exactly the tokens
                got = np.concatenate([np.fromfile(out / f["path"], "<u2") for f in files])
                assert got.tolist() == np.asarray(shard.tokens).tolist()
    if fmt == "nanogpt":
        assert (out / "web" / "val.bin").is_file() or (out / "web" / "val-00000.bin").is_file()
        meta = pickle.loads((out / "web" / "meta.pkl").read_bytes())
        assert meta["vocab_size"] == data.tokenizer.vocab_size


@pytest.mark.parametrize("fmt", ["megatron", "olmo", "nanogpt"])
def test_pretokenised_files_are_a_domain(shards, tmp_path, fmt):
    export = export_tokens(shards, fmt, tmp_path / "exp")
    config = {
        "output": "again",
        "tokenizer": {"kind": "file", "path": str(export.directory / "tokenizer.json")},
        "workers": 1,
        "domains": {"web": {"path": str(export.directory / "web"), "format": fmt}},
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    summary = prepare(tmp_path / "p.yaml")
    assert summary.domains[0].validation_source == "dataset"  # the files' own split
    before, after = load_prepared(shards), load_prepared(tmp_path / "again")
    for split in ("train", "validation"):
        a, b = getattr(before, split)["web"], getattr(after, split)["web"]
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets)

    config["tokenizer"] = {"kind": "bytes"}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match="name the tokenizer"):
        prepare(tmp_path / "p.yaml")


def test_unit_bytes_weights_shares_by_bytes_per_token(shards):
    data = load_export_data(shards)
    manifest = json.loads((shards / "manifest.json").read_text())
    shares = {"web": 0.5, "code": 0.5}
    ratio = {}
    for d, entry in manifest["domains"].items():
        s = entry["splits"]
        ratio[d] = entry["text_bytes"] / (s["train"]["tokens"] + s["validation"]["tokens"])
    got = convert_shares(shares, data, "bytes")
    total = sum(shares[d] * ratio[d] for d in shares)
    assert got == pytest.approx({d: shares[d] * ratio[d] / total for d in shares}, rel=1e-3)
    assert ratio["web"] != pytest.approx(ratio["code"], rel=1e-2)  # "é" is 2 bytes
    doc = json.loads(format_mixture(shares, "json", data=data, unit="bytes"))
    assert doc["export"]["unit"] == "bytes" and doc["mixture"] == pytest.approx(got)
    assert doc["export"]["tokenizer"]["sha256"]


def test_hf_probabilities_are_token_shares_over_document_length(shards, tmp_path):
    export = export_tokens(shards, "hf", tmp_path / "hf")
    shares = {"web": 0.5, "code": 0.5}
    spec = json.loads(
        format_mixture(
            shares,
            "hf",
            data=load_export_data(export.directory),
            requested_tokens=2000,
            max_epochs={"web": 3, "code": 3},
        )
    )
    mean = dict(zip(spec["domains"], spec["mean_document_size"], strict=True))
    raw = {d: shares[d] / mean[d] for d in shares}
    want = [raw[d] / sum(raw.values()) for d in spec["domains"]]
    assert spec["probabilities"] == pytest.approx(want)
    assert spec["documents"] * sum(
        p * mean[d] for p, d in zip(want, spec["domains"], strict=True)
    ) == pytest.approx(2000, rel=0.02)
    with pytest.raises(InputError, match="max-epochs"):
        format_mixture(
            shares, "hf", data=load_export_data(export.directory), requested_tokens=10**7
        )
