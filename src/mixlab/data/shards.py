"""The token shard format: one memory-mapped file per domain and split.

Layout (little-endian):  64-byte header | tokens (uint16 or uint32) | padding to 8 bytes |
document offsets (uint64, n_docs + 1; document i is tokens[offsets[i]:offsets[i+1]] and ends
with the end-of-document token). A shard is written under a temporary name and renamed only
once complete, so a file at the final name always has a valid header and all its data.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixlab.errors import InputError

MAGIC = b"MIXLABTK"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIQQQQ")  # magic, version, itemsize, tokens, docs, vocab, eod
DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}
TMP_MARK = ".tmp-"


@dataclass(frozen=True)
class ShardHeader:
    """What the header of a shard says."""

    itemsize: int
    n_tokens: int
    n_docs: int
    vocab_size: int
    eod_id: int

    @property
    def dtype(self) -> np.dtype:
        return DTYPES[self.itemsize]

    @property
    def offsets_start(self) -> int:
        end = HEADER_SIZE + self.n_tokens * self.itemsize
        return (end + 7) // 8 * 8

    @property
    def file_size(self) -> int:
        return self.offsets_start + 8 * (self.n_docs + 1)


def read_header(path: Path) -> ShardHeader:
    """Parse and check a shard's header; a wrong magic, version or size is an `InputError`."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(HEADER_SIZE)
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"{path}: cannot read shard: {error.strerror or error}") from None
    if len(raw) < HEADER_SIZE:
        raise InputError(f"{path}: not a mixlab shard (file too short)")
    magic, version, itemsize, n_tokens, n_docs, vocab, eod = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise InputError(f"{path}: not a mixlab shard (bad magic)")
    if version != VERSION:
        raise InputError(f"{path}: shard format version {version}, expected {VERSION}")
    if itemsize not in DTYPES:
        raise InputError(f"{path}: shard token size {itemsize} bytes is not 2 or 4")
    header = ShardHeader(itemsize, n_tokens, n_docs, vocab, eod)
    if size != header.file_size:
        raise InputError(f"{path}: shard is {size} bytes, its header says {header.file_size}")
    return header


class ShardWriter:
    """Streams documents into a shard under a temporary name; `commit` renames it into place."""

    def __init__(self, path: Path, dtype: np.dtype, vocab_size: int, eod_id: int) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        if self.dtype.itemsize not in DTYPES:
            raise ValueError(f"shard dtype must be uint16 or uint32, not {dtype}")
        self.vocab_size = vocab_size
        self.eod_id = eod_id
        self.tmp_path = self.path.with_name(f"{self.path.name}{TMP_MARK}{os.getpid()}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in commit/abort
        self._file.write(b"\0" * HEADER_SIZE)
        self._lengths: list[np.ndarray] = []
        self.n_tokens = 0
        self.n_docs = 0
        self._done = False

    def write(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents: their tokens concatenated and each one's length."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != tokens.size:
            raise ValueError("document lengths do not add up to the number of tokens")
        self._file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self._lengths.append(lengths)
        self.n_tokens += tokens.size
        self.n_docs += lengths.size

    def commit(self) -> ShardHeader:
        """Write the index and header, flush to disk, and rename to the final name."""
        header = ShardHeader(
            self.dtype.itemsize, self.n_tokens, self.n_docs, self.vocab_size, self.eod_id
        )
        offsets = np.zeros(self.n_docs + 1, dtype="<u8")
        if self._lengths:
            np.cumsum(np.concatenate(self._lengths), out=offsets[1:])
        pad = header.offsets_start - (HEADER_SIZE + self.n_tokens * header.itemsize)
        self._file.write(b"\0" * pad)
        self._file.write(offsets.tobytes())
        self._file.seek(0)
        self._file.write(
            _HEADER.pack(
                MAGIC,
                VERSION,
                header.itemsize,
                self.n_tokens,
                self.n_docs,
                self.vocab_size,
                self.eod_id,
            )
        )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp_path, self.path)
        self._done = True
        return header

    def abort(self) -> None:
        """Drop the partial file."""
        if not self._done:
            self._file.close()
            self.tmp_path.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class Shard:
    """A read-only, memory-mapped shard: `tokens`, `offsets` and per-document access."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.header = read_header(self.path)
        h = self.header
        if h.n_tokens:
            self.tokens = np.memmap(
                self.path, dtype=h.dtype, mode="r", offset=HEADER_SIZE, shape=(h.n_tokens,)
            )
        else:
            self.tokens = np.empty(0, dtype=h.dtype)
        self.offsets = np.memmap(
            self.path, dtype="<u8", mode="r", offset=h.offsets_start, shape=(h.n_docs + 1,)
        )

    @property
    def n_tokens(self) -> int:
        return self.header.n_tokens

    @property
    def n_docs(self) -> int:
        return self.header.n_docs

    @property
    def eod_id(self) -> int:
        return self.header.eod_id

    def document(self, i: int) -> np.ndarray:
        """Tokens of document i, including its trailing end-of-document token."""
        return np.asarray(self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])])

    def __len__(self) -> int:
        return self.n_docs
