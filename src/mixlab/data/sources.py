"""Readers that turn a domain's source paths into a stream of documents (strings).

Supported: folders or files of `.txt` (one document per file), JSON lines (`.jsonl`,
`.ndjson`, and Dolma's `.json.gz`, each optionally `.gz` / `.zst`: one document per line,
text field configurable), `.parquet` (FineWeb and Hub layouts; text column configurable),
and Hugging Face datasets written by `save_to_disk` (arrow stream files, read with pyarrow
directly). Empty or null texts are skipped. Problems raise `InputError` naming the path.

Splits are kept apart, never merged: a file's split comes from the Hub's naming rules
(`data/train-*.parquet`, `test/...`, `validation-00000-of-00001.parquet`), and a saved
DatasetDict's splits from its dataset_dict.json. Every `InputFile` carries its split.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mixlab.data.config import SourceConfig
from mixlab.errors import InputError

SUFFIX_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".jsonl.zst": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".ndjson.zst": "jsonl",
    ".json.gz": "jsonl",  # Dolma: one JSON document per line, gzipped
    ".json.zst": "jsonl",
    ".parquet": "parquet",
}
# The Hub's split keywords (huggingface datasets' data_files patterns).
SPLIT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_SPLIT_NAME = re.compile(
    r"^(?P<kw>" + "|".join(k for ks in SPLIT_KEYWORDS.values() for k in ks) + r")(?:[-._ 0-9]|$)"
)
_SPLIT_INFIX = re.compile(
    r"[-._ ](?P<kw>"
    + "|".join(k for ks in SPLIT_KEYWORDS.values() for k in ks)
    + r")(?:[-._ 0-9]|$)"
)
HF_MARKERS = ("state.json", "dataset_dict.json")


@dataclass(frozen=True)
class InputFile:
    """One file to read, with the reader to use and where its text lives."""

    path: Path
    format: str  # txt | jsonl | parquet | hf_arrow
    text_field: str = "text"
    split: str | None = None  # train | validation | test, when the layout says so
    dtype: str = "uint16"  # of pre-tokenised olmo / nanogpt files


def _suffix_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(SUFFIX_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIX_FORMATS[suffix]
    return None


def _is_hf_dataset(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in HF_MARKERS)


def _hf_arrow_files(folder: Path, split: str | None) -> list[Path]:
    """The arrow files of a `save_to_disk` folder (a Dataset, or one split of a DatasetDict)."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = list(json.loads(dict_file.read_text(encoding="utf-8"))["splits"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{dict_file}: not a readable dataset_dict.json ({error})") from None
        chosen = split or ("train" if "train" in splits else None)
        if chosen is None or chosen not in splits:
            raise InputError(
                f"{folder}: saved DatasetDict has splits {splits}; choose one with 'split' "
                f"(asked for {split!r})"
            )
        return _hf_arrow_files(folder / chosen, None)
    state_file = folder / "state.json"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            names = [entry["filename"] for entry in state["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"{state_file}: not a readable save_to_disk state.json ({error})"
            ) from None
        files = [folder / name for name in names]
    else:
        files = sorted(folder.glob("*.arrow"))
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: listed by the saved dataset but missing")
    if not files:
        raise InputError(f"{folder}: saved Hugging Face dataset holds no .arrow files")
    return files


def split_of(relative: Path) -> str | None:
    """The split the Hub's naming rules give a file (by its folders, then its name), if any."""
    for part in relative.parts:
        low = part.lower()
        m = _SPLIT_NAME.match(low) or _SPLIT_INFIX.search(low)
        if m:
            kw = m["kw"]
            return next(split for split, kws in SPLIT_KEYWORDS.items() if kw in kws)
    return None


def _hf_split_names(folder: Path) -> list[str] | None:
    dict_file = folder / "dataset_dict.json"
    if not dict_file.is_file():
        return None
    try:
        return list(json.loads(dict_file.read_text(encoding="utf-8"))["splits"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{dict_file}: not a readable dataset_dict.json ({error})") from None


def expand_source(source: SourceConfig) -> list[InputFile]:
    """The files a source names, in a stable order; folders are searched recursively.

    Without `split`, a layout with splits gives train files (split "train"), the dataset's own
    validation files ("validation") and test files ("test", which prepare never trains on).
    With `split`, only that split's files are read, as training data.
    """
    path = source.path
    if source.format in TOKEN_SUFFIX:
        return _token_files(source)
    if not path.exists():
        raise InputError(f"{path}: does not exist")
    if path.is_dir() and (
        source.format == "hf_disk" or (source.format == "auto" and _is_hf_dataset(path))
    ):
        splits = _hf_split_names(path)
        if splits is None or source.split is not None:
            return [
                InputFile(p, "hf_arrow", source.text_field)
                for p in _hf_arrow_files(path, source.split)
            ]
        out = [
            InputFile(p, "hf_arrow", source.text_field, "train")
            for p in _hf_arrow_files(path, None)
        ]
        for name in splits:
            kind = split_of(Path(name))
            if kind in ("validation", "test"):
                out += [
                    InputFile(p, "hf_arrow", source.text_field, kind)
                    for p in _hf_arrow_files(path / name, None)
                ]
        return out
    if source.format == "hf_disk":
        raise InputError(f"{path}: format 'hf_disk' needs a folder written by save_to_disk")
    if path.is_file():
        fmt = source.format if source.format != "auto" else _suffix_format(path)
        if fmt is None:
            raise InputError(
                f"{path}: cannot tell the format from the extension; set 'format' "
                f"(one of txt, jsonl, parquet, hf_disk)"
            )
        return [InputFile(path, fmt, source.text_field)]
    files: list[InputFile] = []
    for child in sorted(path.rglob("*")):
        relative = child.relative_to(path)
        if not child.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        fmt = _suffix_format(child)
        if fmt is not None and (source.format in ("auto", fmt)):
            files.append(InputFile(child, fmt, source.text_field, split_of(relative)))
    if not files:
        wanted = ", ".join(SUFFIX_FORMATS) if source.format == "auto" else source.format
        raise InputError(f"{path}: folder contains no input files ({wanted})")
    if source.split is not None:
        chosen = [f for f in files if f.split == source.split]
        if not chosen:
            found = sorted({f.split or "none" for f in files})
            raise InputError(
                f"{path}: no files of split {source.split!r} (splits found: {', '.join(found)})"
            )
        return [InputFile(f.path, f.format, f.text_field) for f in chosen]
    if any(f.split for f in files):
        # A layout with splits: files without one are training data, like the Hub's default.
        files = [
            f if f.split else InputFile(f.path, f.format, f.text_field, "train") for f in files
        ]
    return files


TOKEN_SUFFIX = {"megatron": ".idx", "olmo": ".npy", "nanogpt": ".bin"}


def _token_files(source: SourceConfig) -> list[InputFile]:
    """Pre-tokenised files: Megatron prefixes (by their .idx), OLMo .npy, nanoGPT .bin."""
    path, fmt = source.path, source.format
    suffix = TOKEN_SUFFIX[fmt]
    if fmt == "megatron" and not path.is_dir():
        prefix = Path(str(path).removesuffix(".bin").removesuffix(".idx"))
        if not prefix.with_name(prefix.name + ".idx").is_file():
            raise InputError(f"{path}: no Megatron dataset here (PREFIX.bin and PREFIX.idx)")
        return [InputFile(prefix.with_name(prefix.name + ".bin"), fmt, split=None)]
    if not path.exists():
        raise InputError(f"{path}: does not exist")
    if path.is_file():
        return [InputFile(path, fmt, dtype=source.dtype)]
    found = sorted(p for p in path.rglob(f"*{suffix}") if p.is_file())
    if not found:
        raise InputError(f"{path}: folder contains no {fmt} token files (*{suffix})")
    files = []
    for f in found:
        if fmt == "megatron":
            f = f.with_suffix(".bin")
        files.append(InputFile(f, fmt, split=split_of(f.relative_to(path)), dtype=source.dtype))
    if source.split is not None:
        files = [InputFile(f.path, fmt, dtype=f.dtype) for f in files if f.split == source.split]
        if not files:
            raise InputError(f"{path}: no {fmt} files of split {source.split!r}")
    elif any(f.split for f in files):
        files = [
            f if f.split else InputFile(f.path, fmt, split="train", dtype=f.dtype) for f in files
        ]
    return files


def expand_sources(sources: Iterable[SourceConfig]) -> list[InputFile]:
    """All files of a domain, without duplicates, in source order."""
    seen: set[Path] = set()
    out: list[InputFile] = []
    for source in sources:
        for f in expand_source(source):
            key = f.path.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def _open_text_lines(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        import zstandard

        raw = open(path, "rb")  # noqa: SIM115 - closed by the reader wrapper
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")


def _read_txt(f: InputFile) -> Iterator[str]:
    try:
        text = f.path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{f.path}: not UTF-8 text (byte {error.start})") from None
    if text:
        yield text


def _read_jsonl(f: InputFile) -> Iterator[str]:
    with _open_text_lines(f.path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise InputError(f"{f.path}: line {number}: not valid JSON ({error})") from None
            if not isinstance(record, dict):
                raise InputError(f"{f.path}: line {number}: expected a JSON object")
            if f.text_field not in record:
                fields = ", ".join(sorted(record)) or "none"
                raise InputError(
                    f"{f.path}: line {number}: no field {f.text_field!r} (fields: {fields})"
                )
            text = record[f.text_field]
            if text is None or text == "":
                continue
            if not isinstance(text, str):
                raise InputError(
                    f"{f.path}: line {number}: field {f.text_field!r} is "
                    f"{type(text).__name__}, not a string"
                )
            yield text


def _text_batches(f: InputFile, schema: Any, batches: Iterable[Any]) -> Iterator[str]:
    import pyarrow as pa

    if f.text_field not in schema.names:
        raise InputError(
            f"{f.path}: no column {f.text_field!r} (columns: {', '.join(schema.names) or 'none'})"
        )
    kind = schema.field(f.text_field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(f"{f.path}: column {f.text_field!r} has type {kind}, not string")
    for batch in batches:
        column = batch.column(batch.schema.get_field_index(f.text_field))
        for text in column.to_pylist():
            if text:
                yield text


def _read_parquet(f: InputFile) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(f.path)
    schema = parquet.schema_arrow
    columns = [f.text_field] if f.text_field in schema.names else None
    yield from _text_batches(f, schema, parquet.iter_batches(batch_size=1024, columns=columns))


def _read_hf_arrow(f: InputFile) -> Iterator[str]:
    import pyarrow as pa

    with open(f.path, "rb") as handle:
        try:
            reader = pa.ipc.open_stream(handle)
        except pa.ArrowInvalid:
            handle.seek(0)
            file_reader = pa.ipc.open_file(handle)
            batches = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
            yield from _text_batches(f, file_reader.schema, batches)
            return
        yield from _text_batches(f, reader.schema, reader)


READERS = {
    "txt": _read_txt,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "hf_arrow": _read_hf_arrow,
}


def read_documents(f: InputFile) -> Iterator[str]:
    """The non-empty documents of one file, in file order."""
    import pyarrow as pa
    import zstandard

    try:
        yield from READERS[f.format](f)
    except InputError:
        raise
    except (OSError, EOFError, pa.ArrowException, zstandard.ZstdError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise InputError(f"{f.path}: cannot read {f.format} file: {reason}") from None


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(block):
                digest.update(chunk)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    return digest.hexdigest()
