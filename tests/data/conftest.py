"""Fixtures for the data-layer tests: tiny corpora in every supported format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard


def write_jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    lines = "".join(json.dumps({field: t, "id": i}) + "\n" for i, t in enumerate(texts))
    data = lines.encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def write_parquet(path: Path, texts: list[str], column: str = "text") -> Path:
    pq.write_table(pa.table({column: texts, "n": list(range(len(texts)))}), path)
    return path


def write_hf_dataset(folder: Path, texts: list[str], column: str = "text") -> Path:
    """The layout `datasets.Dataset.save_to_disk` writes: arrow stream + state/info JSON."""
    folder.mkdir(parents=True)
    table = pa.table({column: texts})
    name = "data-00000-of-00001.arrow"
    with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=2):
            w.write_batch(batch)
    (folder / "state.json").write_text(
        json.dumps(
            {
                "_data_files": [{"filename": name}],
                "_fingerprint": "abc",
                "_format_columns": None,
                "_format_kwargs": {},
                "_format_type": None,
                "_output_all_columns": False,
                "_split": None,
            }
        )
    )
    (folder / "dataset_info.json").write_text(
        json.dumps({"features": {column: {"dtype": "string", "_type": "Value"}}})
    )
    return folder


def docs(prefix: str, n: int) -> list[str]:
    return [f"{prefix} document {i}: " + "lorem ipsum " * (i % 5 + 1) for i in range(n)]


class CorpusTools:
    """The writers above, handed to tests as the `tools` fixture (no test-module imports)."""

    write_jsonl = staticmethod(write_jsonl)
    write_parquet = staticmethod(write_parquet)
    write_hf_dataset = staticmethod(write_hf_dataset)
    docs = staticmethod(docs)


@pytest.fixture
def tools() -> type[CorpusTools]:
    return CorpusTools


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Two small domains and a prepare config (byte tokenizer) in tmp_path."""
    web = tmp_path / "web"
    web.mkdir()
    for i, text in enumerate(docs("web", 12)):
        (web / f"{i:02d}.txt").write_text(text)
    write_jsonl(tmp_path / "code.jsonl", docs("code", 20))
    config = {
        "output": "shards",
        "seed": 3,
        "tokenizer": {"kind": "bytes"},
        "validation": {"documents": 2},
        "domains": {"web": "web", "code": [{"path": "code.jsonl"}]},
    }
    (tmp_path / "prepare.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "prepare.yaml"
