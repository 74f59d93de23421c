"""Token files written by other pipelines, and the Megatron indexed-dataset format itself.

Megatron-Core indexed dataset (`megatron/core/datasets/indexed_dataset.py`): `PREFIX.bin`
holds the tokens; `PREFIX.idx` is `MMIDIDX\\0\\0`, version (<Q, 1), dtype code (<B), sequence
count (<Q), document count (<Q, documents + 1), int32 sequence lengths, int64 byte pointers,
int64 document indices (sequence index where each document starts; last = sequence count).
OLMo-core and nanoGPT token files are raw little-endian ids without any header, documents
separated by the end-of-document id. `read_token_documents` turns any of the three into
(tokens, document lengths) blocks for `prepare`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mixlab.errors import InputError

TOKEN_FORMATS = ("megatron", "olmo", "nanogpt")
MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "uint16": 8}
BLOCK_TOKENS = 1 << 22


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_megatron(prefix: Path, tokens: np.ndarray, lengths: np.ndarray, dtype: np.dtype) -> None:
    """One Megatron indexed dataset (`prefix.bin` + `prefix.idx`), a sequence per document."""
    code = MEGATRON_DTYPE_CODES[dtype.name]
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() > np.iinfo(np.int32).max:
        raise InputError(f"{prefix}: a document longer than 2^31 tokens cannot be indexed")
    pointers = np.zeros(lengths.size, dtype="<i8")
    np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
    _write_bytes(prefix.with_suffix(".bin"), np.ascontiguousarray(tokens, dtype=dtype).tobytes())
    index = b"".join(
        [
            MEGATRON_MAGIC,
            struct.pack("<Q", 1),
            struct.pack("<B", code),
            struct.pack("<Q", lengths.size),
            struct.pack("<Q", lengths.size + 1),
            lengths.astype("<i4").tobytes(),
            pointers.tobytes(),
            np.arange(lengths.size + 1, dtype="<i8").tobytes(),
        ]
    )
    _write_bytes(prefix.with_suffix(".idx"), index)


def read_megatron(prefix: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and document lengths of a Megatron indexed dataset (the inverse of the writer).

    Documents are the index's document boundaries; a document of several sequences has
    their tokens concatenated.
    """
    prefix = Path(str(prefix).removesuffix(".bin").removesuffix(".idx"))
    idx, bin_ = prefix.with_suffix(".idx"), prefix.with_suffix(".bin")
    for p in (idx, bin_):
        if not p.is_file():
            raise InputError(f"{p}: missing (a Megatron dataset needs both .bin and .idx)")
    raw = idx.read_bytes()
    if raw[:9] != MEGATRON_MAGIC or len(raw) < 34:
        raise InputError(f"{idx}: not a Megatron indexed dataset (bad header)")
    (version,) = struct.unpack_from("<Q", raw, 9)
    (code,) = struct.unpack_from("<B", raw, 17)
    n_seq, n_doc = struct.unpack_from("<QQ", raw, 18)
    names = {v: k for k, v in MEGATRON_DTYPE_CODES.items()}
    if version != 1 or code not in names:
        raise InputError(f"{idx}: unsupported Megatron index (version {version}, dtype {code})")
    dtype = np.dtype(names[code]).newbyteorder("<")
    pos = 34
    seq_lengths = np.frombuffer(raw, dtype="<i4", count=n_seq, offset=pos).astype(np.int64)
    pos += 4 * n_seq
    pointers = np.frombuffer(raw, dtype="<i8", count=n_seq, offset=pos)
    pos += 8 * n_seq
    doc_index = np.frombuffer(raw, dtype="<i8", count=n_doc, offset=pos)
    tokens = np.fromfile(bin_, dtype=dtype)
    expected = np.concatenate([[0], np.cumsum(seq_lengths[:-1] * dtype.itemsize)]) if n_seq else []
    if n_seq and (not np.array_equal(pointers, expected) or seq_lengths.sum() != tokens.size):
        # Sequences not stored back to back: gather them in order.
        tokens = np.concatenate(
            [
                tokens[p // dtype.itemsize : p // dtype.itemsize + n]
                for p, n in zip(pointers, seq_lengths, strict=True)
            ]
        )
    seq_ends = np.concatenate([[0], np.cumsum(seq_lengths)])
    doc_lengths = np.diff(seq_ends[doc_index]) if n_doc else np.zeros(0, dtype=np.int64)
    return tokens, doc_lengths.astype(np.int64)


def read_token_documents(
    path: Path, fmt: str, eod_id: int, vocab_size: int, dtype: str = "uint16"
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks of (tokens, document lengths) from a token file; every document ends with EOD.

    Megatron documents come from the index; raw OLMo / nanoGPT arrays are cut after each
    end-of-document id (a final document without one gets it appended).
    """
    if fmt == "megatron":
        tokens, lengths = read_megatron(path)
    else:
        try:
            tokens = np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r")
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: cannot read {fmt} token file as {dtype}: {error}") from None
        ends = np.flatnonzero(np.asarray(tokens) == eod_id) + 1
        if not ends.size or ends[-1] != tokens.size:
            ends = np.append(ends, tokens.size)
        lengths = np.diff(np.concatenate([[0], ends])).astype(np.int64)
    if tokens.size and int(np.asarray(tokens).max()) >= vocab_size:
        raise InputError(
            f"{path}: token id {int(np.asarray(tokens).max())} is outside the tokenizer's "
            f"{vocab_size} ids; tokenizer.path must name the tokenizer that made these files"
        )
    ends = np.cumsum(lengths)
    start_doc = 0
    while start_doc < lengths.size:
        first = 0 if start_doc == 0 else int(ends[start_doc - 1])
        stop_doc = int(np.searchsorted(ends, first + BLOCK_TOKENS, side="right"))
        stop_doc = max(start_doc + 1, min(lengths.size, stop_doc))
        block = np.asarray(tokens[first : int(ends[stop_doc - 1])]).astype(np.int64)
        block_lengths = lengths[start_doc:stop_doc].copy()
        # Documents that do not end with EOD get one.
        doc_ends = np.cumsum(block_lengths) - 1
        missing = block[doc_ends] != eod_id
        if missing.any():
            block = np.insert(block, doc_ends[missing] + 1, eod_id)
            block_lengths[missing] += 1
        yield block, block_lengths
        start_doc = stop_doc
