"""One domain's shards: tokenise its files into a temporary shard, then split it by document
into train and validation shards (the step of `prepare` that writes tokens).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mixlab.data.config import PrepareConfig
from mixlab.data.parallel import ParallelEncoder, chunk_documents
from mixlab.data.prepare_results import PrepareProgress, ProgressCallback, report_progress
from mixlab.data.shards import TMP_MARK, Shard, ShardWriter
from mixlab.data.sources import InputFile, read_documents, sha256_file
from mixlab.data.token_files import TOKEN_FORMATS, read_token_documents
from mixlab.data.tokenizer import TextTokenizer
from mixlab.errors import InputError

COPY_BLOCK_TOKENS = 1 << 24


def _validation_mask(name: str, n_docs: int, config: PrepareConfig, paths: str) -> np.ndarray:
    """Which documents go to validation: a seeded choice, the same every run."""
    if n_docs == 0:
        raise InputError(f"domain {name!r}: no documents in {paths}")
    n_val = config.validation.count(n_docs)
    if n_val >= n_docs:
        raise InputError(
            f"domain {name!r}: validation takes {n_val} of its {n_docs} documents, leaving none "
            "for training (validation.documents / validation.fraction)"
        )
    rng = np.random.default_rng([config.seed, zlib.crc32(name.encode("utf-8"))])
    mask = np.zeros(n_docs, dtype=bool)
    mask[rng.choice(n_docs, size=n_val, replace=False)] = True
    return mask


def _copy_split(src: Shard, is_val: np.ndarray, train: ShardWriter, val: ShardWriter) -> None:
    """Copy runs of consecutive documents to the writer of their split, in blocks."""
    offsets = np.asarray(src.offsets, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(is_val.astype(np.int8))) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [is_val.size]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        writer = val if is_val[start] else train
        d = start
        while d < end:
            limit = offsets[d] + COPY_BLOCK_TOKENS
            stop = int(np.searchsorted(offsets, limit, side="right")) - 1
            stop = max(d + 1, min(end, stop))
            writer.write(
                np.asarray(src.tokens[offsets[d] : offsets[stop]]),
                np.diff(offsets[d : stop + 1]),
            )
            d = stop


def _tokenize_domain(
    name: str,
    files: list[InputFile],
    sizes: list[int],
    tokenizer: TextTokenizer,
    encoder: ParallelEncoder,
    config: PrepareConfig,
    domain_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Write the domain's train and validation shards; returns their manifest entries."""
    domain_dir.mkdir(parents=True, exist_ok=True)
    total = sum(sizes)
    own_validation = any(f.split == "validation" for f in files)
    all_path = domain_dir / f"all{TMP_MARK}{os.getpid()}.bin"
    try:
        read = _write_all_shard(name, files, sizes, tokenizer, encoder, all_path, progress)
        source = Shard(all_path)
        paths = ", ".join(sorted({str(f.path) for f in files}))
        if own_validation:
            is_val = _own_validation_mask(name, source.n_docs, read["train_docs"], paths)
        else:
            is_val = _validation_mask(name, source.n_docs, config, paths)
        report_progress(
            progress, PrepareProgress("split", name, total, total, source.n_docs, source.n_tokens)
        )
        splits = _write_splits(source, is_val, tokenizer, domain_dir)
        del source
    finally:
        all_path.unlink(missing_ok=True)
    splits["text_bytes"] = read["text_bytes"]
    splits["validation_source"] = "dataset" if own_validation else "drawn"
    return splits


def _write_all_shard(
    name: str,
    files: list[InputFile],
    sizes: list[int],
    tokenizer: TextTokenizer,
    encoder: ParallelEncoder,
    all_path: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Tokenise (or copy pre-tokenised) files into one shard; returns what was read."""
    total = sum(sizes)
    read: dict[str, Any] = {"bytes": 0, "text_bytes": 0, "train_docs": 0}
    # The dataset's own validation files come last, so its documents are the shard's tail.
    order = sorted(range(len(files)), key=lambda i: files[i].split == "validation")

    def documents() -> Iterator[str]:
        for i in order:
            f = files[i]
            for text in read_documents(f):
                read["text_bytes"] += len(text.encode("utf-8"))
                if f.split != "validation":
                    read["train_docs"] += 1
                yield text
            read["bytes"] += sizes[i]

    def token_blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        read["text_bytes"] = None  # not known without decoding
        for i in order:
            f = files[i]
            for tokens, lengths in read_token_documents(
                f.path, f.format, tokenizer.eod_id, tokenizer.vocab_size, f.dtype
            ):
                if f.split != "validation":
                    read["train_docs"] += lengths.size
                yield tokens, lengths
            read["bytes"] += sizes[i]

    args = (tokenizer.dtype, tokenizer.vocab_size, tokenizer.eod_id)
    with ShardWriter(all_path, *args) as writer:
        pretokenised = [f.format in TOKEN_FORMATS for f in files]
        if any(pretokenised) and not all(pretokenised):
            raise InputError(
                f"domain {name!r}: mixes text files and pre-tokenised files; give them "
                "separate domains"
            )
        blocks = token_blocks() if any(pretokenised) else encoder.map(chunk_documents(documents()))
        for tokens, lengths in blocks:
            writer.write(tokens, lengths)
            report_progress(
                progress,
                PrepareProgress(
                    "tokenize", name, read["bytes"], total, writer.n_docs, writer.n_tokens
                ),
            )
        writer.commit()
    return read


def _own_validation_mask(name: str, n_docs: int, train_docs: int, paths: str) -> np.ndarray:
    """The dataset's own split: its validation documents are the shard's tail."""
    is_val = np.zeros(n_docs, dtype=bool)
    is_val[train_docs:] = True
    if is_val.all() or not is_val.any():
        raise InputError(f"domain {name!r}: its own train or validation split is empty ({paths})")
    return is_val


def _write_splits(
    source: Shard, is_val: np.ndarray, tokenizer: TextTokenizer, domain_dir: Path
) -> dict[str, Any]:
    """Copy the shard's documents into train.bin and validation.bin; their manifest entries."""
    args = (tokenizer.dtype, tokenizer.vocab_size, tokenizer.eod_id)
    splits: dict[str, Any] = {}
    with (
        ShardWriter(domain_dir / "train.bin", *args) as train,
        ShardWriter(domain_dir / "validation.bin", *args) as val,
    ):
        _copy_split(source, is_val, train, val)
        for split, writer in (("train", train), ("validation", val)):
            header = writer.commit()
            splits[split] = {
                "file": writer.path.relative_to(domain_dir.parent.parent).as_posix(),
                "sha256": sha256_file(writer.path),
                "tokens": header.n_tokens,
                "documents": header.n_docs,
            }
    return splits
