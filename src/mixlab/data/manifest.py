"""The manifest of a prepared-shards folder: what was built from what, with content hashes.

Written atomically (temporary name, then rename) after every finished domain, so it only
ever lists shards that are complete.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_text
from mixlab.names import check_name

MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
FORMAT = "mixlab-shards"
FORMAT_VERSION = 1


def digest(obj: Any) -> str:
    """SHA-256 of an object's canonical JSON: a stable fingerprint of settings."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def empty_manifest() -> dict[str, Any]:
    return {"format": FORMAT, "version": FORMAT_VERSION, "tokenizer": None, "domains": {}}


def read_manifest(directory: Path, missing_ok: bool = False) -> dict[str, Any]:
    """The folder's manifest; unreadable or foreign manifests are an `InputError`."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        if missing_ok:
            return empty_manifest()
        raise InputError(f"{path}: no manifest; run `mixlab data prepare` on a config first")
    manifest = read_json(path, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path}: not a mixlab shard manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: manifest version {manifest.get('version')}, expected {FORMAT_VERSION}"
        )
    _check_entries(path, manifest)
    domains = manifest.get("domains")
    if not isinstance(domains, dict):
        raise InputError(f"{path}: field 'domains' must be a mapping of domain name to entry")
    for name in domains:  # names become folders under domains/ that prepare may delete
        check_name(name, f"{path}: domains")
    return manifest


_SPLIT_FIELDS = {"file": str, "tokens": int, "documents": int, "sha256": str}


def _check_entries(path: Path, manifest: dict[str, Any]) -> None:
    """Every field later code reads is there with its type; else an InputError naming it."""
    domains = manifest.get("domains")
    if not isinstance(domains, dict):
        raise InputError(f"{path}: field 'domains' must be an object of domain entries")
    tokenizer = manifest.get("tokenizer")
    if tokenizer is not None and not isinstance(tokenizer, dict):
        raise InputError(f"{path}: field 'tokenizer' must be an object")
    for name, entry in domains.items():
        where = f"{path}: domains.{name}"
        if not isinstance(entry, dict):
            raise InputError(f"{where} must be an object")
        inputs = entry.get("inputs")
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("bytes"), int) for i in inputs
        ):
            raise InputError(f"{where}.inputs is missing or not a list of input files")
        splits = entry.get("splits")
        if not isinstance(splits, dict):
            raise InputError(f"{where}.splits is missing (or not an object); rerun prepare")
        for split in ("train", "validation"):
            info = splits.get(split)
            if not isinstance(info, dict):
                raise InputError(f"{where}.splits.{split} is missing; rerun prepare")
            for key, kind in _SPLIT_FIELDS.items():
                if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool):
                    raise InputError(
                        f"{where}.splits.{split}.{key} is missing or not a {kind.__name__}"
                    )


def write_atomic(path: Path, text: str) -> None:
    """Write a text file so that readers see either the old or the new content."""
    write_text(path, text)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically; an unchanged manifest is left untouched."""
    path = Path(directory) / MANIFEST_NAME
    text = json.dumps(manifest, indent=2, sort_keys=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text)
