"""Shards round-trip exact token ids, in uint16 or uint32, and refuse damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mixlab.data.shards import HEADER_SIZE, Shard, ShardWriter
from mixlab.errors import InputError


def write_docs(path: Path, documents: list[np.ndarray], dtype: str, eod: int) -> None:
    with ShardWriter(path, np.dtype(dtype), vocab_size=eod + 1, eod_id=eod) as writer:
        for i in range(0, len(documents), 3):
            batch = documents[i : i + 3]
            writer.write(np.concatenate(batch), np.array([d.size for d in batch]))
        writer.commit()


@pytest.mark.parametrize(("dtype", "high"), [("uint16", 65_535), ("uint32", 4_000_000)])
def test_round_trip(tmp_path: Path, dtype: str, high: int) -> None:
    rng = np.random.default_rng(0)
    documents = [
        np.append(rng.integers(0, high, rng.integers(0, 50)), high).astype(np.int64)
        for _ in range(17)
    ]
    path = tmp_path / "s.bin"
    write_docs(path, documents, dtype, eod=high)
    shard = Shard(path)
    assert shard.tokens.dtype == np.dtype(dtype)
    assert shard.n_docs == 17 and shard.eod_id == high
    assert shard.n_tokens == sum(d.size for d in documents)
    for i, doc in enumerate(documents):
        np.testing.assert_array_equal(shard.document(i), doc)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_empty_shard(tmp_path: Path) -> None:
    write_docs(tmp_path / "e.bin", [], "uint16", eod=0)
    shard = Shard(tmp_path / "e.bin")
    assert shard.n_tokens == 0 and shard.n_docs == 0 and shard.tokens.size == 0


def test_abort_leaves_nothing_at_final_name(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    with pytest.raises(RuntimeError):
        with ShardWriter(path, np.dtype("uint16"), vocab_size=10, eod_id=9) as writer:
            writer.write(np.array([1, 2, 9]), np.array([3]))
            raise RuntimeError("killed")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_damaged_shards_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    write_docs(path, [np.array([1, 2, 3])], "uint16", eod=3)
    raw = path.read_bytes()
    (tmp_path / "truncated.bin").write_bytes(raw[:-4])
    (tmp_path / "magic.bin").write_bytes(b"X" + raw[1:])
    (tmp_path / "short.bin").write_bytes(raw[: HEADER_SIZE // 2])
    for name, reason in [
        ("truncated.bin", "header says"),
        ("magic.bin", "bad magic"),
        ("short.bin", "too short"),
    ]:
        with pytest.raises(InputError, match=reason) as error:
            Shard(tmp_path / name)
        assert name in str(error.value)
