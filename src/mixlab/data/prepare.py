"""`prepare`: turn a config's domains into token shards, redoing only what changed.

Per domain the inputs are hashed; a domain whose input hashes, tokenizer and split settings
match the manifest is left alone. Otherwise its documents are tokenised in worker processes
into a temporary shard, split by document into train and validation, and the manifest
updated once both shards are in place.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mixlab.data.config import (
    PrepareConfig,
    SourceConfig,
    ValidationSplitConfig,
    load_prepare_config,
)
from mixlab.data.domain_shards import _tokenize_domain
from mixlab.data.manifest import (
    TOKENIZER_NAME,
    digest,
    read_manifest,
    write_atomic,
    write_manifest,
)
from mixlab.data.parallel import ParallelEncoder, default_workers
from mixlab.data.prepare_results import (
    DomainSummary,
    PrepareProgress,
    PrepareSummary,
    ProgressCallback,
    report_progress,
    validation_warning,
)
from mixlab.data.shards import TMP_MARK, read_header
from mixlab.data.sources import InputFile, expand_sources, sha256_file
from mixlab.data.token_files import TOKEN_FORMATS
from mixlab.data.tokenizer import TextTokenizer, byte_tokenizer, train_bpe
from mixlab.data.tokenizer_sample import draw_training_sample
from mixlab.errors import InputError

SPLITS = ("train", "validation")


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder so two prepares never interleave."""
    import fcntl

    handle = open(directory / ".lock", "w")  # noqa: SIM115 - closed below
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{directory}: another prepare is writing to this folder") from None
        yield
    finally:
        handle.close()


def _remove_stale_temporaries(directory: Path) -> None:
    for path in directory.rglob(f"*{TMP_MARK}*"):
        if path.is_file():
            path.unlink(missing_ok=True)


def _tokenizer_settings(config: PrepareConfig) -> dict[str, Any]:
    t = config.tokenizer
    settings: dict[str, Any] = {"kind": t.kind, "eod_token": t.eod_token}
    if t.kind == "bpe":
        settings.update(
            vocab_size=t.vocab_size,
            sample_bytes=t.sample_bytes,
            min_frequency=t.min_frequency,
            seed=config.seed,
        )
    elif t.kind == "file":
        assert t.path is not None
        if not t.path.is_file():
            raise InputError(f"{t.path}: tokenizer file does not exist (tokenizer.path)")
        settings["file_sha256"] = sha256_file(t.path)
    return settings


def _ensure_tokenizer(
    config: PrepareConfig,
    out: Path,
    manifest: dict[str, Any],
    domain_files: dict[str, list[InputFile]],
    progress: ProgressCallback | None,
    force: bool,
) -> tuple[TextTokenizer, dict[str, Any]]:
    """The output folder's tokenizer: kept while its settings are unchanged, else rebuilt."""
    t = config.tokenizer
    settings = _tokenizer_settings(config)
    fingerprint = digest(settings)
    path = out / TOKENIZER_NAME
    entry = manifest.get("tokenizer") or {}
    if (
        not force
        and entry.get("fingerprint") == fingerprint
        and path.is_file()
        and sha256_file(path) == entry.get("sha256")
    ):
        return TextTokenizer.from_file(path, t.eod_token), {**entry, "status": "unchanged"}

    if t.kind == "bytes":
        tokenizer, status = byte_tokenizer(), "built"
    elif t.kind == "file":
        assert t.path is not None
        tokenizer, status = TextTokenizer.from_file(t.path, t.eod_token), "loaded"
    else:
        sample = draw_training_sample(
            domain_files,
            t.sample_bytes,
            config.seed,
            on_domain=lambda name: report_progress(progress, PrepareProgress("sample", name)),
        )
        if not sample:
            raise InputError("tokenizer: the domains hold no text to train the BPE on")
        report_progress(progress, PrepareProgress("tokenizer", None))
        tokenizer = train_bpe(sample, t.vocab_size, t.min_frequency, (t.eod_token, "<|pad|>"))
        status = "trained"
    write_atomic(path, tokenizer.to_str())
    entry = {
        "kind": t.kind,
        "settings": settings,
        "fingerprint": fingerprint,
        "file": TOKENIZER_NAME,
        "sha256": sha256_file(path),
        "vocab_size": tokenizer.vocab_size,
        "eod_token": tokenizer.eod_token,
        "eod_id": tokenizer.eod_id,
        "dtype": tokenizer.dtype.name,
    }
    manifest["tokenizer"] = entry
    return tokenizer, {**entry, "status": status}


def _domain_fingerprint(
    config: PrepareConfig,
    sources: Sequence[SourceConfig],
    inputs: list[dict[str, Any]],
    tokenizer_sha: str,
) -> str:
    return digest(
        {
            "sources": [s.model_dump(mode="json") for s in sources],
            "inputs": inputs,
            "tokenizer": tokenizer_sha,
            "validation": config.validation.model_dump(mode="json"),
            "seed": config.seed,
        }
    )


def _is_complete(out: Path, entry: dict[str, Any]) -> bool:
    """Whether the shards a manifest entry lists exist with the counts it records."""
    for split in SPLITS:
        info = (entry.get("splits") or {}).get(split)
        if not info:
            return False
        try:
            header = read_header(out / info["file"])
        except InputError:
            return False
        if header.n_tokens != info["tokens"] or header.n_docs != info["documents"]:
            return False
    return True


def _summary_of(name: str, status: str, entry: dict[str, Any], seconds: float) -> DomainSummary:
    train, val = entry["splits"]["train"], entry["splits"]["validation"]
    return DomainSummary(
        name=name,
        status=status,
        documents=train["documents"] + val["documents"],
        train_documents=train["documents"],
        validation_documents=val["documents"],
        train_tokens=train["tokens"],
        validation_tokens=val["tokens"],
        input_bytes=sum(i["bytes"] for i in entry["inputs"]),
        seconds=seconds,
        validation_source=entry.get("validation_source", "drawn"),
        skipped_test_files=len(entry.get("skipped_inputs", [])),
    )


def prepare(
    config: PrepareConfig | str | Path,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    force: bool = False,
    val_split: float | int | None = None,
) -> PrepareSummary:
    """Build (or bring up to date) the token shards a prepare config describes.

    `workers` overrides the config (default: the cores available). `force` rebuilds the
    tokenizer and every domain. `val_split` (a fraction, or a number of documents) overrides
    the config's validation size for domains without a validation split of their own. Bad
    input raises `InputError` naming the path or field.
    """
    started = time.perf_counter()
    if not isinstance(config, PrepareConfig):
        config = load_prepare_config(config)
    if val_split is not None:
        config = _with_val_split(config, val_split)
    domain_files, skipped = _domain_files(config)
    out = config.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{out}: cannot create output folder: {error.strerror or error}") from None
    n_workers = workers or config.workers or default_workers()

    with _exclusive(out):
        _remove_stale_temporaries(out)
        manifest = read_manifest(out, missing_ok=True)
        tokenizer, tokenizer_info = _ensure_tokenizer(
            config, out, manifest, domain_files, progress, force
        )
        write_manifest(out, manifest)
        summary = PrepareSummary(output=out, tokenizer=tokenizer_info)
        domains: dict[str, Any] = manifest["domains"]

        with ParallelEncoder(tokenizer, n_workers) as encoder:
            for name, files in domain_files.items():
                done = _prepare_domain(
                    name,
                    files,
                    skipped[name],
                    config,
                    manifest,
                    (tokenizer, tokenizer_info, encoder),
                    progress,
                    force,
                )
                summary.domains.append(done)

        for name in [n for n in domains if n not in config.domains]:
            del domains[name]
            write_manifest(out, manifest)
            shutil.rmtree(out / "domains" / name, ignore_errors=True)
            summary.removed.append(name)
    summary.warnings = [
        w for d in summary.domains if (w := validation_warning(d.name, d.validation_tokens))
    ]
    summary.seconds = time.perf_counter() - started
    return summary


def _with_val_split(config: PrepareConfig, val_split: float | int) -> PrepareConfig:
    """The config with `--val-split` as its validation size."""
    try:
        validation = ValidationSplitConfig.model_validate(val_split)
    except ValueError as error:
        raise InputError(f"--val-split {val_split!r}: {error}") from None
    return config.model_copy(update={"validation": validation})


def _domain_files(
    config: PrepareConfig,
) -> tuple[dict[str, list[InputFile]], dict[str, list[InputFile]]]:
    """Each domain's input files, and its test-split files (which never reach the shards)."""
    domain_files, skipped = {}, {}
    for name, sources in config.domains.items():
        found = expand_sources(sources)
        # Test documents never reach the shards: not for training, not for validation.
        domain_files[name] = [f for f in found if f.split != "test"]
        skipped[name] = [f for f in found if f.split == "test"]
        if not domain_files[name]:
            raise InputError(f"domain {name!r}: only test-split files found in its sources")
        if config.tokenizer.kind != "file" and any(
            f.format in TOKEN_FORMATS for f in domain_files[name]
        ):
            raise InputError(
                f"domain {name!r} holds pre-tokenised files: name the tokenizer that made them "
                "(tokenizer.kind: file, tokenizer.path: its tokenizer.json)"
            )
    return domain_files, skipped


def _prepare_domain(
    name: str,
    files: list[InputFile],
    skipped: list[InputFile],
    config: PrepareConfig,
    manifest: dict[str, Any],
    tokens: tuple[TextTokenizer, dict[str, Any], ParallelEncoder],
    progress: ProgressCallback | None,
    force: bool,
) -> DomainSummary:
    """Hash one domain's inputs; re-tokenise it unless its manifest entry is up to date."""
    tokenizer, tokenizer_info, encoder = tokens
    out, domains = config.output, manifest["domains"]
    t0 = time.perf_counter()
    sizes = [f.path.stat().st_size for f in files]
    total = sum(sizes)
    report_progress(progress, PrepareProgress("hash", name, 0, total))
    inputs = [
        {
            "path": str(f.path),
            "format": f.format,
            "split": f.split,
            "bytes": size,
            "sha256": sha256_file(f.path),
        }
        for f, size in zip(files, sizes, strict=True)
    ]
    fingerprint = _domain_fingerprint(
        config, config.domains[name], inputs, tokenizer_info["sha256"]
    )
    old = domains.get(name)
    if not force and old is not None and old.get("fingerprint") == fingerprint:
        if _is_complete(out, old):
            report_progress(progress, PrepareProgress("unchanged", name, total, total))
            return _summary_of(name, "unchanged", old, 0.0)
    # Forget the old shards before touching them: the manifest lists only finished work.
    if domains.pop(name, None) is not None:
        write_manifest(out, manifest)
    domain_dir = out / "domains" / name
    splits = _tokenize_domain(name, files, sizes, tokenizer, encoder, config, domain_dir, progress)
    entry = {
        "fingerprint": fingerprint,
        "sources": [s.model_dump(mode="json") for s in config.domains[name]],
        "inputs": inputs,
        "skipped_inputs": [str(f.path) for f in skipped],
        "tokenizer_sha256": tokenizer_info["sha256"],
        "text_bytes": splits.pop("text_bytes"),
        "validation_source": splits.pop("validation_source"),
        "splits": splits,
    }
    domains[name] = entry
    write_manifest(out, manifest)
    done = _summary_of(name, "prepared", entry, time.perf_counter() - t0)
    tokens_written = done.train_tokens + done.validation_tokens
    report_progress(
        progress,
        PrepareProgress("done", name, total, total, done.documents, tokens_written),
    )
    return done


def info(directory: str | Path, verify: bool = False) -> dict[str, Any]:
    """What a prepared folder holds: tokenizer, and per domain documents, tokens and status.

    `status` is complete, missing or corrupt; `verify` also re-hashes every shard.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    rows = []
    for name, entry in sorted(manifest["domains"].items()):
        status = "complete" if _is_complete(directory, entry) else "missing"
        if status == "complete" and verify:
            for split in SPLITS:
                s = entry["splits"][split]
                if sha256_file(directory / s["file"]) != s["sha256"]:
                    status = "corrupt"
        row = asdict(_summary_of(name, status, entry, 0.0))
        row.pop("seconds")
        row["input_files"] = len(entry["inputs"])
        rows.append(row)
    tok = manifest.get("tokenizer") or {}
    return {
        "directory": str(directory),
        "tokenizer": {k: tok.get(k) for k in ("kind", "vocab_size", "eod_id", "dtype", "sha256")},
        "domains": rows,
        "totals": {
            key: sum(r[key] for r in rows)
            for key in ("documents", "train_tokens", "validation_tokens", "input_bytes")
        },
    }
