"""Every reader returns the documents in order; bad inputs raise InputError naming the path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from mixlab.data.config import SourceConfig
from mixlab.data.sources import expand_source, expand_sources, read_documents
from mixlab.errors import InputError


def read_all(path: Path, **kwargs: object) -> list[str]:
    """The training documents of a source (its validation and test files left out)."""
    files = expand_source(SourceConfig(path=path, **kwargs))
    return [d for f in files if f.split in (None, "train") for d in read_documents(f)]


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_jsonl_plain_and_compressed(tmp_path: Path, tools, name: str) -> None:
    texts = tools.docs("x", 7)
    assert read_all(tools.write_jsonl(tmp_path / name, texts)) == texts


def test_jsonl_custom_field_and_skips_empty(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"body": "one"}\n\n{"body": ""}\n{"body": null}\n{"body": "two"}\n')
    assert read_all(path, text_field="body") == ["one", "two"]


def test_txt_folder_is_sorted_and_recursive(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("second")
    (tmp_path / "d" / "a.txt").write_text("first")
    (tmp_path / "d" / "sub" / "c.txt").write_text("third")
    (tmp_path / "d" / ".hidden.txt").write_text("ignored")
    (tmp_path / "d" / "notes.md").write_text("ignored")
    assert read_all(tmp_path / "d") == ["first", "second", "third"]


def test_parquet(tmp_path: Path, tools) -> None:
    texts = tools.docs("p", 9)
    assert (
        read_all(
            tools.write_parquet(tmp_path / "a.parquet", texts, "content"), text_field="content"
        )
        == texts
    )


def test_hf_save_to_disk(tmp_path: Path, tools) -> None:
    texts = tools.docs("hf", 5)
    assert read_all(tools.write_hf_dataset(tmp_path / "ds", texts)) == texts


def test_hf_dataset_dict_split(tmp_path: Path, tools) -> None:
    root = tmp_path / "dd"
    tools.write_hf_dataset(root / "train", ["t1", "t2"])
    tools.write_hf_dataset(root / "test", ["e1"])
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert read_all(root) == ["t1", "t2"]
    assert read_all(root, split="test") == ["e1"]
    with pytest.raises(InputError, match="splits"):
        read_all(root, split="validation")


def test_mixed_folder_and_dedup(tmp_path: Path, tools) -> None:
    tools.write_jsonl(tmp_path / "a.jsonl", ["j"])
    (tmp_path / "b.txt").write_text("t")
    tools.write_parquet(tmp_path / "c.parquet", ["p"])
    sources = [SourceConfig(path=tmp_path), SourceConfig(path=tmp_path / "a.jsonl")]
    files = expand_sources(sources)
    assert [f.format for f in files] == ["jsonl", "txt", "parquet"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p, t: p / "missing.jsonl", "does not exist"),
        (lambda p, t: t.write_jsonl(p / "a.jsonl", ["x"], field="body"), "no field 'text'"),
        (
            lambda p, t: (p / "a.jsonl").write_text('{"text": 1}\n') and p / "a.jsonl",
            "not a string",
        ),
        (lambda p, t: (p / "a.jsonl").write_text("{oops\n") and p / "a.jsonl", "not valid JSON"),
        (
            lambda p, t: (p / "a.jsonl.gz").write_bytes(b"not gzip") and p / "a.jsonl.gz",
            "cannot read",
        ),
        (
            lambda p, t: (p / "a.jsonl.zst").write_bytes(b"not zstd") and p / "a.jsonl.zst",
            "cannot read",
        ),
        (lambda p, t: (p / "a.parquet").write_bytes(b"junk") and p / "a.parquet", "cannot read"),
        (lambda p, t: t.write_parquet(p / "a.parquet", ["x"], "body"), "no column 'text'"),
        (lambda p, t: (p / "a.txt").write_bytes(b"\xff\xfe\xfa") and p / "a.txt", "not UTF-8"),
        (lambda p, t: (p / "a.csv").write_text("x") and p / "a.csv", "cannot tell the format"),
        (lambda p, t: (p / "empty").mkdir() or p / "empty", "no input files"),
    ],
)
def test_bad_inputs_name_path_and_reason(tmp_path: Path, tools, make, reason: str) -> None:
    path = make(tmp_path, tools)
    with pytest.raises(InputError) as error:
        read_all(path)
    assert str(path) in str(error.value)
    assert reason in str(error.value)


def test_hf_wrong_column_type(tmp_path: Path, tools) -> None:
    folder = tmp_path / "ds"
    tools.write_hf_dataset(folder, ["a"])
    table = pa.table({"text": [1, 2]})
    with (
        pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as w,
    ):
        w.write_table(table)
    with pytest.raises(InputError, match="not string"):
        read_all(folder)
