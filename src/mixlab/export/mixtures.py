"""A recommended mixture written in the formats production trainers read, ready to run.

- `json`: {"mixture": {domain: weight}, ...} with whatever the caller adds (predictions).
- `megatron`: the `--data-path` argument of Megatron-LM, `w1 prefix1 w2 prefix2 ...`, with a
  domain's weight split across its prefixes in proportion to their tokens.
- `olmo`: an OLMo-core `SourceMixtureDatasetConfig` (YAML): `source_list.sources[]`,
  `requested_tokens`, `global_batch_size`, `seed`; `max_repetition_ratio` is the epoch cap.
- `hf`: a spec for `datasets.interleave_datasets`: per-document probabilities (token share
  divided by mean document length), data files, a seed, and a stopping rule that meets the
  token budget without repeating any domain past its epoch cap (`load_hf_mixture` runs it).
  Documents are drawn at random, so shares land within sampling noise (about 1/sqrt(documents
  drawn from a domain), relative); where a domain's epoch cap binds, the mix may stop a few
  documents short of the budget rather than pass the cap.

Paths come from a token export (`mixlab data export`, its `export.json`) or from `paths`
(domain -> path(s)). Every export records the tokenizer the shares were measured with
(`mixture_record`); `unit="bytes"` converts token shares to shares of raw UTF-8 bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mixlab.errors import InputError
from mixlab.mixture import check_mixture

FORMATS = ("json", "megatron", "olmo", "hf")
UNITS = ("tokens", "bytes")
DEFAULT_GLOBAL_BATCH_TOKENS = 1 << 20
HF_ROW_MARGIN = 1.05  # rows kept per domain beyond the expected draw (sampling noise)
EPOCH_SLACK = 1e-6  # relative rounding allowed past an epoch cap the optimiser sits on


@dataclass
class DomainData:
    """What a mixture export needs to know of one domain's training data."""

    tokens: int
    documents: int
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, tokens)
    text_bytes: int | None = None

    def mean_size(self, unit: str) -> float:
        size = self.tokens if unit == "tokens" else self._bytes()
        return size / max(self.documents, 1)

    def _bytes(self) -> int:
        if self.text_bytes is None:
            raise InputError(
                "--unit bytes needs the text bytes of every domain; rerun "
                "`mixlab data prepare --force` and `mixlab data export` to record them"
            )
        return self.text_bytes  # of the training split


@dataclass
class ExportData:
    """A prepared or exported data folder seen from a mixture export."""

    directory: Path
    consumer: str | None  # megatron, olmo, nanogpt, hf, or None for prepared shards
    tokenizer: dict[str, Any]
    domains: dict[str, DomainData]


def load_export_data(directory: str | Path) -> ExportData:
    """Read a token export (export.json) or a prepared folder (manifest.json)."""
    from mixlab.data.manifest import MANIFEST_NAME, read_manifest
    from mixlab.export.tokens import EXPORT_MANIFEST, read_export

    directory = Path(directory)
    if (directory / EXPORT_MANIFEST).is_file():
        manifest = read_export(directory)
        root = directory.resolve()
        domains = {}
        for name, entry in manifest["domains"].items():
            train = entry["train"]
            total = train["tokens"] + entry["validation"]["tokens"]
            domains[name] = DomainData(
                tokens=train["tokens"],
                documents=train["documents"],
                files=[(str(root / f["path"]), f["tokens"]) for f in train["files"]],
                text_bytes=_train_bytes(entry.get("text_bytes"), train["tokens"], total),
            )
        return ExportData(directory, manifest["consumer"], manifest["tokenizer"], domains)
    if (directory / MANIFEST_NAME).is_file():
        manifest = read_manifest(directory)
        domains = {}
        for name, entry in manifest["domains"].items():
            train, val = entry["splits"]["train"], entry["splits"]["validation"]
            domains[name] = DomainData(
                tokens=train["tokens"],
                documents=train["documents"],
                text_bytes=_train_bytes(
                    entry.get("text_bytes"), train["tokens"], train["tokens"] + val["tokens"]
                ),
            )
        tok = manifest.get("tokenizer") or {}
        keys = ("kind", "file", "sha256", "vocab_size", "eod_token", "eod_id")
        return ExportData(directory, None, {k: tok.get(k) for k in keys}, domains)
    raise InputError(
        f"{directory}: neither a token export (export.json) nor a prepared folder (manifest.json)"
    )


def _train_bytes(text_bytes: int | None, train_tokens: int, total_tokens: int) -> int | None:
    if text_bytes is None or total_tokens == 0:
        return None
    return round(text_bytes * train_tokens / total_tokens)


def convert_shares(
    shares: Mapping[str, float], data: ExportData, to: str = "bytes"
) -> dict[str, float]:
    """Token shares -> byte shares (or back): weight each domain by its bytes per token."""
    if to not in UNITS:
        raise InputError(f"--unit must be one of {', '.join(UNITS)}, not {to!r}")
    if to == "tokens":
        return dict(shares)
    missing = [d for d in shares if d not in data.domains]
    if missing:
        raise InputError(f"{data.directory}: holds no domain {missing[0]!r}")
    scaled = {
        d: w * data.domains[d].mean_size("bytes") / data.domains[d].mean_size("tokens")
        for d, w in shares.items()
    }
    total = sum(scaled.values())
    return {d: v / total for d, v in scaled.items()}


def mixture_record(
    mixture: Mapping[str, float],
    data: ExportData | None,
    unit: str = "tokens",
    shares: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Provenance written beside every export: shares, their unit, the tokenizer, the data."""
    return {
        "mixture_tokens": dict(mixture),
        "unit": unit,
        "shares": dict(shares if shares is not None else mixture),
        "tokenizer": data.tokenizer if data is not None else None,
        "tokenizer_note": (
            "shares were measured in tokens of this tokenizer"
            if data is not None
            else "tokenizer unknown: pass --data (the prepared or exported folder)"
        ),
        "data": str(data.directory) if data is not None else None,
    }


def format_mixture(
    mixture: Mapping[str, float],
    fmt: str = "json",
    *,
    paths: Mapping[str, str | list[str]] | None = None,
    data: ExportData | None = None,
    unit: str = "tokens",
    max_epochs: Mapping[str, float] | None = None,
    requested_tokens: int | None = None,
    global_batch_size: int | None = None,
    seed: int = 0,
    extra: Mapping[str, Any] | None = None,
    drop_zero: bool = True,
) -> str:
    """Render `mixture` (domain -> token share, summing to 1) in format `fmt`.

    `paths` maps a domain to its data prefix / files (default: the files of `data`, a token
    export); `max_epochs` bounds repetition per domain; `requested_tokens` is the training
    budget (needed by olmo and hf); `extra` is merged into the JSON output.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if unit not in UNITS:
        raise InputError(f"--unit must be one of {', '.join(UNITS)}, not {unit!r}")
    mixture = check_mixture(mixture)
    tokens_share = {d: float(w) for d, w in mixture.items() if not (drop_zero and w == 0)}
    paths = dict(paths or {})
    unknown = sorted(set(paths) - set(mixture))
    if unknown:
        raise InputError(f"--paths names domain(s) not in the mixture: {', '.join(unknown)}")
    if data is not None:
        absent = [d for d in tokens_share if d not in data.domains]
        if absent:
            raise InputError(f"{data.directory}: holds no domain {absent[0]!r} of the mixture")
    if unit == "bytes":
        if data is None:
            raise InputError("--unit bytes needs --data (the prepared or exported folder)")
        shares = convert_shares(tokens_share, data, "bytes")
    else:
        shares = tokens_share
    record = mixture_record(tokens_share, data, unit, shares)
    epochs = {d: float((max_epochs or {}).get(d, 1.0)) for d in shares}

    if fmt == "json":
        return json.dumps({"mixture": shares, **(extra or {}), "export": record}, indent=2) + "\n"
    if fmt == "megatron":
        return _megatron(shares, _files(shares, paths, data, "megatron"), data) + "\n"
    if fmt == "olmo":
        return _olmo(
            shares,
            _files(shares, paths, data, "olmo"),
            data,
            epochs,
            requested_tokens,
            global_batch_size,
            seed,
            unit,
            record,
        )
    return _hf(shares, paths, data, epochs, requested_tokens, seed, unit, record)


def _files(
    shares: Mapping[str, float],
    paths: Mapping[str, str | list[str]],
    data: ExportData | None,
    consumer: str,
) -> dict[str, list[tuple[str, int | None]]]:
    """Per domain, its files with their token counts where known."""
    out: dict[str, list[tuple[str, int | None]]] = {}
    for d in shares:
        if d in paths:
            p = paths[d]
            out[d] = [(str(f), None) for f in ([p] if isinstance(p, str) else p)]
        elif data is not None and data.consumer == consumer:
            out[d] = [(f, n) for f, n in data.domains[d].files]
        elif data is not None and data.consumer is not None:
            raise InputError(
                f"{data.directory} is a {data.consumer} export; a {consumer} mixture needs "
                f"`mixlab data export SHARDS --format {consumer}` (or --paths)"
            )
        else:
            raise InputError(
                f"domain {d!r} has no data path: pass --data with a {consumer} token export "
                f"(`mixlab data export SHARDS --format {consumer}`) or map it with --paths"
            )
    return out


def _megatron(
    shares: Mapping[str, float],
    files: Mapping[str, list[tuple[str, int | None]]],
    data: ExportData | None,
) -> str:
    from mixlab.data.token_files import read_megatron

    parts = []
    for d, w in shares.items():
        prefixes = files[d]
        counts = []
        for prefix, n in prefixes:
            if n is None and len(prefixes) > 1:
                try:
                    n = int(read_megatron(prefix)[1].sum())
                except InputError as error:
                    raise InputError(
                        f"domain {d!r}: cannot split its weight across {len(prefixes)} prefixes "
                        f"by tokens: {error}"
                    ) from None
            counts.append(n or 1)
        total = sum(counts)
        for (prefix, _), n in zip(prefixes, counts, strict=True):
            prefix = str(prefix).removesuffix(".bin").removesuffix(".idx")
            if any(c.isspace() for c in prefix):  # Megatron splits --data-args-path on spaces
                raise InputError(
                    f"domain {d!r}: Megatron cannot read a path with spaces: {prefix!r}"
                )
            parts += [repr(w * n / total), prefix]
    return " ".join(parts)


def _olmo(
    shares: Mapping[str, float],
    files: Mapping[str, list[tuple[str, int | None]]],
    data: ExportData | None,
    epochs: Mapping[str, float],
    requested_tokens: int | None,
    global_batch_size: int | None,
    seed: int,
    unit: str,
    record: Mapping[str, Any],
) -> str:
    if requested_tokens is None or requested_tokens <= 0:
        raise InputError("an OLMo-core source mixture needs the training budget: --token-budget")
    gbs = int(global_batch_size or DEFAULT_GLOBAL_BATCH_TOKENS)
    repetition = {d: max(1.0, epochs[d]) for d in shares}
    if data is not None and unit == "tokens":
        for d, w in shares.items():
            available = sum(n for _, n in files[d] if n is not None) or data.domains[d].tokens
            needed = int(requested_tokens * w)
            if available * epochs[d] < needed:
                if needed > available * epochs[d] * (1 + EPOCH_SLACK) + 1:
                    raise InputError(
                        f"domain {d!r}: {needed} tokens asked but only {available} x "
                        f"{epochs[d]:g} epochs available (raise --max-epochs, lower "
                        "--token-budget, or cap the domain)"
                    )
                # A mixture on its epoch bound, past it by rounding only.
                repetition[d] = max(repetition[d], (needed + 1) / available)
    sources = [
        {
            "source_name": d,
            "target_ratio": w,
            "paths": [f for f, _ in files[d]],
            "max_repetition_ratio": repetition[d],
            "max_source_fraction": 1.0,
        }
        for d, w in shares.items()
    ]
    doc = {
        "source_list": {"sources": sources},
        "requested_tokens": int(requested_tokens),
        "global_batch_size": gbs,
        "seed": int(seed),
        "processes": 1,
    }
    tok = record.get("tokenizer") or {}
    header = (
        "# OLMo-core SourceMixtureDatasetConfig written by mixlab "
        "(SourceMixtureDatasetConfig.from_yaml(path)).\n"
        f"# shares in {unit}; tokenizer: {tok.get('file')} sha256 {tok.get('sha256')} "
        f"vocab {tok.get('vocab_size')} eod {tok.get('eod_id')}\n"
        "# global_batch_size must be a multiple of the sequence length you train with.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False)


HF_SNIPPET = """\
import json, datasets
spec = json.load(open(SPEC))
parts = []
for name in spec["domains"]:
    ds = datasets.load_dataset("parquet", data_files=spec["data_files"][name], split="train")
    ds = ds.shuffle(seed=spec["seed"])
    rows = spec["rows"][name]  # at most max_epochs x the domain's documents
    ds = ds.repeat(-(-rows // len(ds))).select(range(rows))
    parts.append(ds)
mixed = datasets.interleave_datasets(parts, probabilities=spec["probabilities"],
                                     seed=spec["seed"], stopping_strategy=spec["stopping_strategy"])
mixed = mixed.select(range(min(spec["documents"], len(mixed))))  # the token budget
"""


def _hf(
    shares: Mapping[str, float],
    paths: Mapping[str, str | list[str]],
    data: ExportData | None,
    epochs: Mapping[str, float],
    requested_tokens: int | None,
    seed: int,
    unit: str,
    record: Mapping[str, Any],
) -> str:
    if data is None:
        raise InputError(
            "an HF mixture needs each domain's mean document length: pass --data (the prepared "
            "folder or its `mixlab data export --format hf` export)"
        )
    if requested_tokens is None or requested_tokens <= 0:
        raise InputError("an HF mixture needs the training budget: --token-budget")
    files = _files(shares, paths, data, "hf")
    names = list(shares)
    mean = {d: data.domains[d].mean_size(unit) for d in names}
    raw = {d: shares[d] / mean[d] for d in names}
    total = sum(raw.values())
    probabilities = [raw[d] / total for d in names]
    tokens_per_doc = sum(p * mean[d] for p, d in zip(probabilities, names, strict=True))
    budget = float(requested_tokens)
    n_documents = math.ceil(budget / tokens_per_doc)
    rows = {}
    for d, p in zip(names, probabilities, strict=True):
        docs = data.domains[d].documents
        cap = math.floor(epochs[d] * docs)
        want = math.ceil(p * n_documents * HF_ROW_MARGIN) + 10
        needed = p * n_documents
        if needed > cap * (1 + EPOCH_SLACK) + 1:
            raise InputError(
                f"domain {d!r}: the budget draws {needed:.0f} of its {docs} documents, more "
                f"than --max-epochs {epochs[d]:g} allows (raise it or lower --token-budget)"
            )
        rows[d] = min(cap, want)
    doc = {
        "domains": names,
        "data_files": {d: [f for f, _ in files[d]] for d in names},
        "probabilities": probabilities,
        "shares": [shares[d] for d in names],
        "unit": unit,
        "mean_document_size": [mean[d] for d in names],
        "seed": int(seed),
        "stopping_strategy": "first_exhausted",
        "rows": rows,
        "max_epochs": {d: epochs[d] for d in names},
        "requested_tokens": int(requested_tokens),
        "documents": n_documents,
        "loader": "mixlab.export.mixtures.load_hf_mixture(SPEC), or this snippet",
        "snippet": HF_SNIPPET,
        "export": record,
    }
    return json.dumps(doc, indent=2) + "\n"


def load_hf_mixture(spec: str | Path | Mapping[str, Any]):
    """Build the mixed `datasets.Dataset` an HF spec describes (see HF_SNIPPET).

    Each domain is shuffled with the seed, repeated up to its row cap (never past the epoch
    cap), interleaved with the per-document probabilities, and cut at the token budget's
    number of documents.
    """
    import datasets

    if not isinstance(spec, Mapping):
        spec = json.loads(Path(spec).read_text(encoding="utf-8"))
    parts = []
    for name in spec["domains"]:
        ds = datasets.load_dataset("parquet", data_files=spec["data_files"][name], split="train")
        ds = ds.shuffle(seed=spec["seed"])
        rows = int(spec["rows"][name])
        ds = ds.repeat(-(-rows // len(ds))).select(range(rows))
        parts.append(ds)
    mixed = datasets.interleave_datasets(
        parts,
        probabilities=spec["probabilities"],
        seed=spec["seed"],
        stopping_strategy=spec["stopping_strategy"],
    )
    return mixed.select(range(min(int(spec["documents"]), len(mixed))))


def sidecar_path(out: Path) -> Path:
    """Where a megatron or olmo export's provenance record goes."""
    return out.with_name(out.name + ".mixlab.json")


def write_mixture_export(
    out: str | Path,
    mixture: Mapping[str, float],
    fmt: str = "json",
    *,
    data: str | Path | ExportData | None = None,
    **kwargs: Any,
) -> list[Path]:
    """Write `format_mixture(...)` to `out`, and for megatron / olmo the provenance sidecar.

    `data` is a token export or prepared folder (or its `ExportData`). Returns the paths written.
    """
    out = Path(out)
    loaded = load_export_data(data) if isinstance(data, (str, Path)) else data
    text = format_mixture(mixture, fmt, data=loaded, **kwargs)
    out.write_text(text, encoding="utf-8")
    written = [out]
    if fmt in ("megatron", "olmo"):
        unit = kwargs.get("unit", "tokens")
        shares = {d: float(w) for d, w in mixture.items() if w != 0}
        if unit == "bytes" and loaded is not None:
            shares = convert_shares(shares, loaded, "bytes")
        record = mixture_record(
            {d: float(w) for d, w in mixture.items() if w != 0}, loaded, unit, shares
        )
        sidecar = sidecar_path(out)
        sidecar.write_text(json.dumps({"format": fmt, **record}, indent=2) + "\n")
        written.append(sidecar)
    return written
