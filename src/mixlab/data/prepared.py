"""Open a prepared-shards folder for training: its tokenizer and per-domain shards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mixlab.data.manifest import TOKENIZER_NAME, read_manifest
from mixlab.data.shards import Shard
from mixlab.data.sources import sha256_file
from mixlab.data.tokenizer import TextTokenizer
from mixlab.errors import InputError


@dataclass
class PreparedData:
    """Shards of every domain (memory-mapped) and the tokenizer they were made with."""

    directory: Path
    manifest: dict[str, Any]
    tokenizer: TextTokenizer
    train: dict[str, Shard]
    validation: dict[str, Shard]

    @property
    def domains(self) -> list[str]:
        return list(self.train)

    def train_tokens(self) -> dict[str, np.ndarray]:
        return {name: shard.tokens for name, shard in self.train.items()}

    def validation_tokens(self) -> dict[str, np.ndarray]:
        return {name: shard.tokens for name, shard in self.validation.items()}

    def token_counts(self) -> dict[str, int]:
        """Train tokens per domain."""
        return {name: int(shard.tokens.size) for name, shard in self.train.items()}

    def token_shares(self, domains: list[str] | None = None) -> dict[str, float]:
        """Each domain's share of the train tokens of `domains` (default: every domain):
        the 'natural' mixture."""
        counts = self.token_counts()
        counts = {d: counts[d] for d in (self.domains if domains is None else domains)}
        total = sum(counts.values())
        return {d: n / total for d, n in counts.items()}


def load_prepared(directory: str | Path, verify: bool = False) -> PreparedData:
    """Open a folder written by `prepare`; `verify` re-hashes tokenizer and shards."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    tok_entry = manifest.get("tokenizer") or {}
    tok_path = directory / TOKENIZER_NAME
    if verify and sha256_file(tok_path) != tok_entry.get("sha256"):
        raise InputError(f"{tok_path}: does not match the manifest's hash")
    tokenizer = TextTokenizer.from_file(tok_path, tok_entry.get("eod_token", "<|endoftext|>"))
    train: dict[str, Shard] = {}
    validation: dict[str, Shard] = {}
    for name, entry in manifest["domains"].items():
        for split, target in (("train", train), ("validation", validation)):
            info = entry["splits"][split]
            path = directory / info["file"]
            if not path.is_file():
                raise InputError(f"{path}: shard of domain {name!r} is missing; rerun prepare")
            shard = Shard(path)
            if shard.n_tokens != info["tokens"] or shard.n_docs != info["documents"]:
                raise InputError(f"{path}: shard does not match the manifest; rerun prepare")
            if verify and sha256_file(path) != info["sha256"]:
                raise InputError(f"{path}: shard content does not match the manifest's hash")
            target[name] = shard
    if not train:
        raise InputError(f"{directory}: the manifest lists no domains")
    return PreparedData(directory, manifest, tokenizer, train, validation)
