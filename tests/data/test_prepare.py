"""prepare: shards match the text, reruns redo only what changed, a crash leaves no fake shard."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from mixlab.data import info, load_prepared, prepare
from mixlab.data.config import load_prepare_config
from mixlab.data.tokenizer import bytes_to_unicode
from mixlab.errors import InputError

# The module that writes a domain's shards (the test below crashes it mid-write).
shards_module = importlib.import_module("mixlab.data.domain_shards")


def shard_files(out: Path) -> dict[str, int]:
    """Every shard and its modification time."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*.bin")}


def decoded_documents(out: Path, domain: str) -> list[str]:
    data = load_prepared(out, verify=True)
    texts = []
    for shard in (data.train[domain], data.validation[domain]):
        for i in range(shard.n_docs):
            doc = shard.document(i)
            assert doc[-1] == data.tokenizer.eod_id and data.tokenizer.eod_id not in doc[:-1]
            texts.append(data.tokenizer.decode(doc[:-1]))
    return texts


def test_prepare_writes_exact_documents_and_split(corpus: Path, tools) -> None:
    summary = prepare(corpus, workers=1)
    out = corpus.parent / "shards"
    assert [d.status for d in summary.domains] == ["prepared", "prepared"]
    assert sorted(decoded_documents(out, "code")) == sorted(tools.docs("code", 20))
    code = next(d for d in summary.domains if d.name == "code")
    assert (code.train_documents, code.validation_documents) == (18, 2)
    report = info(out, verify=True)
    assert {r["name"]: r["status"] for r in report["domains"]} == {
        "code": "complete",
        "web": "complete",
    }
    assert report["totals"]["documents"] == 32
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["domains"]["web"]["inputs"]) == 12
    assert all(len(i["sha256"]) == 64 for i in manifest["domains"]["web"]["inputs"])


def test_parallel_workers_give_identical_shards(corpus: Path, tmp_path: Path) -> None:
    config = load_prepare_config(corpus)
    prepare(config, workers=1)
    one = json.loads((config.output / "manifest.json").read_text())
    other = config.model_copy(update={"output": tmp_path / "parallel"})
    prepare(other, workers=2)
    two = json.loads((other.output / "manifest.json").read_text())
    for name in ("web", "code"):
        assert one["domains"][name]["splits"] == two["domains"][name]["splits"]


def test_unchanged_rerun_does_nothing_and_one_changed_domain_is_redone(corpus: Path, tools) -> None:
    out = corpus.parent / "shards"
    prepare(corpus, workers=1)
    before = shard_files(out)
    manifest_time = (out / "manifest.json").stat().st_mtime_ns
    again = prepare(corpus, workers=1)
    assert not again.changed and again.tokens_written == 0
    assert shard_files(out) == before
    assert (out / "manifest.json").stat().st_mtime_ns == manifest_time

    tools.write_jsonl(corpus.parent / "code.jsonl", tools.docs("code", 25))
    third = prepare(corpus, workers=1)
    assert {d.name: d.status for d in third.domains} == {"web": "unchanged", "code": "prepared"}
    after = shard_files(out)
    assert all(after[k] == before[k] for k in before if k.startswith("domains/web/"))
    assert all(after[k] != before[k] for k in before if k.startswith("domains/code/"))
    assert sorted(decoded_documents(out, "code")) == sorted(tools.docs("code", 25))


def test_tokenizer_change_redoes_everything_and_removed_domain_is_dropped(
    corpus: Path, tools
) -> None:
    out = corpus.parent / "shards"
    prepare(corpus, workers=1)
    config = yaml.safe_load(corpus.read_text())
    config["tokenizer"] = {"kind": "bpe", "vocab_size": 300, "sample_bytes": 2000}
    del config["domains"]["web"]
    corpus.write_text(yaml.safe_dump(config))
    summary = prepare(corpus, workers=1)
    assert summary.tokenizer["status"] == "trained" and summary.removed == ["web"]
    assert [d.status for d in summary.domains] == ["prepared"]
    assert not (out / "domains" / "web").exists()
    assert sorted(decoded_documents(out, "code")) == sorted(tools.docs("code", 20))
    assert prepare(corpus, workers=1).tokenizer["status"] == "unchanged"


def test_killed_prepare_leaves_no_complete_looking_shard(corpus: Path, tools, monkeypatch) -> None:
    out = corpus.parent / "shards"
    original = shards_module._copy_split

    def crash_in_web(src, is_val, train, val):  # web comes second (the YAML keys are sorted)
        if "web" in str(train.path):
            train.write(np.array([1, 2, 256]), np.array([3]))
            raise KeyboardInterrupt("killed mid-write")
        original(src, is_val, train, val)

    monkeypatch.setattr(shards_module, "_copy_split", crash_in_web)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, workers=1)
    assert not (out / "domains" / "web" / "train.bin").exists()
    assert not (out / "domains" / "web" / "validation.bin").exists()
    assert [r["name"] for r in info(out)["domains"]] == ["code"]
    # a hard kill would also leave temporaries behind
    (out / "domains" / "web" / "train.bin.tmp-424242").write_bytes(b"partial")

    monkeypatch.setattr(shards_module, "_copy_split", original)
    summary = prepare(corpus, workers=1)
    assert {d.name: d.status for d in summary.domains} == {"code": "unchanged", "web": "prepared"}
    assert not list(out.rglob("*.tmp-*"))
    assert sorted(decoded_documents(out, "web")) == sorted(tools.docs("web", 12))


def test_uint32_shards_for_large_vocabularies(corpus: Path, tools, tmp_path: Path) -> None:
    vocab = {char: b for b, char in bytes_to_unicode().items()}
    vocab.update({f"<unused{i}>": 256 + i for i in range(70_000)})
    hf = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.save(str(tmp_path / "big.json"))
    config = yaml.safe_load(corpus.read_text())
    config["tokenizer"] = {"kind": "file", "path": str(tmp_path / "big.json")}
    corpus.write_text(yaml.safe_dump(config))
    summary = prepare(corpus, workers=1)
    assert summary.tokenizer["dtype"] == "uint32" and summary.tokenizer["eod_id"] == 70_256
    data = load_prepared(corpus.parent / "shards")
    assert data.train["code"].tokens.dtype == np.uint32
    assert sorted(decoded_documents(corpus.parent / "shards", "code")) == sorted(
        tools.docs("code", 20)
    )


def test_split_is_deterministic_given_seed(corpus: Path, tmp_path: Path) -> None:
    config = load_prepare_config(corpus)
    runs = []
    for i, seed in enumerate((3, 3, 4)):
        c = config.model_copy(update={"output": tmp_path / f"o{i}", "seed": seed})
        prepare(c, workers=1)
        runs.append(
            json.loads((c.output / "manifest.json").read_text())["domains"]["code"]["splits"]
        )
    assert runs[0] == runs[1]
    assert runs[0]["validation"]["sha256"] != runs[2]["validation"]["sha256"]


def test_empty_domain_and_oversized_validation(corpus: Path) -> None:
    config = yaml.safe_load(corpus.read_text())
    (corpus.parent / "empty.jsonl").write_text('{"text": ""}\n')
    config["domains"]["empty"] = "empty.jsonl"
    corpus.write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match=r"domain 'empty': no documents in .*empty\.jsonl"):
        prepare(corpus, workers=1)
    del config["domains"]["empty"]
    config["validation"] = {"documents": 12}
    corpus.write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match="domain 'web': validation takes 12 of its 12"):
        prepare(corpus, workers=1)


def test_missing_source_fails_before_any_work(corpus: Path) -> None:
    config = yaml.safe_load(corpus.read_text())
    config["domains"]["code"] = [{"path": "nowhere.jsonl"}]
    corpus.write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match="nowhere.jsonl: does not exist"):
        prepare(corpus, workers=1)
    assert not (corpus.parent / "shards").exists()


def test_rich_progress_callback(corpus: Path) -> None:
    from mixlab.data.progress import rich_progress

    events = []
    with rich_progress(transient=True) as show:
        prepare(corpus, workers=1, progress=lambda e: (events.append(e), show(e)))
    assert {e.stage for e in events} >= {"hash", "tokenize", "split", "done"}
    assert events[-1].bytes_done == events[-1].bytes_total > 0
