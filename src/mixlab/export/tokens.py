"""Write prepared token shards in the on-disk formats production trainers read.

- `megatron`: Megatron-Core indexed datasets, `PREFIX.bin` (raw tokens) and `PREFIX.idx`
  (header `MMIDIDX\\0\\0`, version 1, dtype code, sequence and document counts, int32
  sequence lengths, int64 byte pointers, int64 document indices), one sequence per document.
  Token dtype uint16 below 65,500 ids (Megatron's own rule), else int32.
- `olmo`: OLMo-core numpy token files, raw little-endian token ids with no header
  (`part-NNNNN.npy`), documents ending with the end-of-document id; uint16 up to 65,536 ids,
  else uint32 (OLMo-core's `get_dtype` rule).
- `nanogpt`: nanoGPT's `train.bin` / `val.bin`, raw uint16 tokens, and `meta.pkl` with the
  vocabulary size; uint32 (with a warning) when ids do not fit.
- `hf`: Parquet files with one document per row (`input_ids`, `num_tokens`, `domain`), for
  `datasets.load_dataset("parquet", ...)`.

Each export writes `export.json` (paths, tokens, documents, dtype per file, the tokenizer
and its hash) and a copy of the tokenizer.json the tokens were made with. Mixture exports
(`mixlab.export.mixtures`) read that manifest to point at the files.
"""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixlab.data.manifest import TOKENIZER_NAME, write_atomic
from mixlab.data.prepared import PreparedData, load_prepared
from mixlab.data.shards import Shard
from mixlab.data.sources import sha256_file
from mixlab.data.token_files import _write_bytes, write_megatron
from mixlab.errors import InputError

FORMATS = ("megatron", "olmo", "nanogpt", "hf")
EXPORT_MANIFEST = "export.json"
EXPORT_FORMAT = "mixlab-token-export"
SPLITS = ("train", "validation")


def consumer_dtype(fmt: str, vocab_size: int) -> np.dtype:
    """The token dtype each consumer expects for a vocabulary of `vocab_size` ids."""
    if fmt == "megatron":  # megatron.core.datasets.indexed_dataset.DType.optimal_dtype
        return np.dtype("<u2" if vocab_size < 65500 else "<i4")
    if fmt in ("olmo", "hf"):  # olmo_core NumpyDatasetConfig.get_dtype
        return np.dtype("<u2" if vocab_size - 1 <= 0xFFFF else "<u4")
    if fmt == "nanogpt":
        return np.dtype("<u2" if vocab_size - 1 <= 0xFFFF else "<u4")
    raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")


@dataclass
class TokenExport:
    """What an export wrote: its folder, manifest and any warnings."""

    directory: Path
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), **self.manifest, "warnings": self.warnings}


def _document_chunks(shard: Shard, max_tokens: int | None) -> list[tuple[int, int]]:
    """Document ranges [d0, d1) that each hold at most `max_tokens` tokens (at least one doc)."""
    n = shard.n_docs
    if n == 0:
        return []
    if not max_tokens:
        return [(0, n)]
    offsets = np.asarray(shard.offsets, dtype=np.int64)
    chunks, start = [], 0
    while start < n:
        stop = int(np.searchsorted(offsets, offsets[start] + max_tokens, side="right")) - 1
        stop = min(n, max(start + 1, stop))
        chunks.append((start, stop))
        start = stop
    return chunks


def _file_name(fmt: str, split: str, part: int, n_parts: int) -> str:
    if fmt == "nanogpt":
        base = "train" if split == "train" else "val"
        return f"{base}.bin" if n_parts == 1 else f"{base}-{part:05d}.bin"
    if fmt == "megatron":
        return f"{split}_{part:05d}_text_document"
    if fmt == "olmo":
        return f"{split}-part-{part:05d}.npy"
    return f"{split}-{part:05d}-of-{n_parts:05d}.parquet"


def _write_parquet(
    path: Path, tokens: np.ndarray, lengths: np.ndarray, dtype: np.dtype, domain: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = pa.array(np.asarray(tokens, dtype=dtype))
    column = pa.LargeListArray.from_arrays(pa.array(offsets), values).cast(pa.list_(values.type))
    table = pa.table(
        {
            "input_ids": column,
            "num_tokens": pa.array(lengths, type=pa.int64()),
            "domain": pa.array([domain] * len(lengths), type=pa.string()),
        }
    )
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def export_tokens(
    shards: str | Path,
    fmt: str,
    out: str | Path | None = None,
    *,
    max_file_tokens: int | None = None,
    domains: list[str] | None = None,
) -> TokenExport:
    """Write every domain's train and validation tokens of a prepared folder in format `fmt`.

    `max_file_tokens` splits a domain into several files (whole documents each); `out`
    defaults to SHARDS/export-FMT. Token counts are those of the shards, exactly.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if max_file_tokens is not None and max_file_tokens < 1:
        raise InputError(f"--max-file-tokens must be positive, not {max_file_tokens}")
    data = load_prepared(shards)
    out = Path(out) if out is not None else data.directory / f"export-{fmt}"
    chosen = list(data.train) if not domains else domains
    unknown = [d for d in chosen if d not in data.train]
    if unknown:
        raise InputError(
            f"--domain {unknown[0]!r} is not in {data.directory} ({', '.join(data.train)})"
        )
    tok = data.tokenizer
    dtype = consumer_dtype(fmt, tok.vocab_size)
    warnings = []
    if fmt == "nanogpt" and dtype.itemsize != 2:
        warnings.append(
            f"vocabulary of {tok.vocab_size} ids does not fit nanoGPT's uint16: wrote uint32; "
            "change np.uint16 to np.uint32 in nanoGPT's get_batch"
        )
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data.directory / TOKENIZER_NAME, out / TOKENIZER_NAME)
    manifest = _manifest_header(data, fmt, dtype, out)
    for name in chosen:
        manifest["domains"][name] = _export_domain(data, name, fmt, dtype, out, max_file_tokens)
    write_atomic(out / EXPORT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return TokenExport(out, manifest, warnings)


def _manifest_header(data: PreparedData, fmt: str, dtype: np.dtype, out: Path) -> dict[str, Any]:
    """The export manifest before its domains: consumer, dtype, source and tokenizer."""
    tok = data.tokenizer
    tok_entry = data.manifest.get("tokenizer") or {}
    return {
        "format": EXPORT_FORMAT,
        "version": 1,
        "consumer": fmt,
        "dtype": dtype.name,
        "source": str(data.directory.resolve()),
        "tokenizer": {
            "file": TOKENIZER_NAME,
            "sha256": sha256_file(out / TOKENIZER_NAME),
            "kind": tok_entry.get("kind"),
            "vocab_size": tok.vocab_size,
            "eod_token": tok.eod_token,
            "eod_id": tok.eod_id,
        },
        "domains": {},
    }


def _export_domain(
    data: PreparedData,
    name: str,
    fmt: str,
    dtype: np.dtype,
    out: Path,
    max_file_tokens: int | None,
) -> dict[str, Any]:
    """Write one domain's train and validation files; its manifest record."""
    entry = data.manifest["domains"][name]
    domain_dir = out / name
    domain_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {}
    if entry.get("text_bytes") is not None:
        record["text_bytes"] = entry["text_bytes"]
    for split, shard in (("train", data.train[name]), ("validation", data.validation[name])):
        record[split] = _export_split(shard, name, split, fmt, dtype, domain_dir, max_file_tokens)
    if fmt == "nanogpt":
        with open(domain_dir / "meta.pkl", "wb") as handle:
            pickle.dump({"vocab_size": data.tokenizer.vocab_size, "dtype": dtype.name}, handle)
    return record


def _export_split(
    shard: Shard,
    name: str,
    split: str,
    fmt: str,
    dtype: np.dtype,
    domain_dir: Path,
    max_file_tokens: int | None,
) -> dict[str, Any]:
    """Write one split of a domain in whole-document files; their manifest record."""
    chunks = _document_chunks(shard, max_file_tokens)
    files = []
    for part, (d0, d1) in enumerate(chunks):
        offsets = np.asarray(shard.offsets[d0 : d1 + 1], dtype=np.int64)
        tokens = np.asarray(shard.tokens[offsets[0] : offsets[-1]])
        lengths = np.diff(offsets)
        fname = _file_name(fmt, split, part, len(chunks))
        path = domain_dir / fname
        if fmt == "megatron":
            write_megatron(path, tokens, lengths, dtype)
        elif fmt == "hf":
            _write_parquet(path, tokens, lengths, dtype, name)
        else:
            _write_bytes(path, np.ascontiguousarray(tokens, dtype=dtype).tobytes())
        files.append(
            {
                "path": f"{name}/{fname}",
                "tokens": int(lengths.sum()),
                "documents": int(lengths.size),
            }
        )
    n_tokens = sum(f["tokens"] for f in files)
    n_docs = sum(f["documents"] for f in files)
    if n_tokens != shard.n_tokens or n_docs != shard.n_docs:  # pragma: no cover
        raise AssertionError(f"{name}/{split}: exported counts differ from the shard")
    return {
        "files": files,
        "tokens": n_tokens,
        "documents": n_docs,
        "mean_document_tokens": n_tokens / n_docs if n_docs else 0.0,
    }


def read_export(directory: str | Path) -> dict[str, Any]:
    """The manifest of a token export; a missing or foreign one is an `InputError`."""
    path = Path(directory) / EXPORT_MANIFEST
    if not path.is_file():
        raise InputError(
            f"{directory}: no {EXPORT_MANIFEST}; write one with `mixlab data export SHARDS --format ...`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path}: unreadable ({error})") from None
    if manifest.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path}: not a mixlab token export")
    return manifest
