"""Demo corpora from this machine plus the synthetic sets, written ready for `prepare`.

code: the Python standard library's own .py files (no test/, idlelib/, site-packages).
prose: their docstrings and comments, and the pydoc topics (pydoc_data/topics.py).
biographies and arithmetic: the synthetic generators, with their probe sets.
Each domain is capped in bytes so the demo stays small; everything is seeded.
"""

from __future__ import annotations

import ast
import io
import json
import sysconfig
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixlab.data.arithmetic import (
    Format,
    arithmetic_documents,
    arithmetic_probes,
    make_problem_split,
    problem_space,
)
from mixlab.data.biographies import (
    biography_documents,
    biography_probes,
    fact_tuples,
    make_people,
    render_biography,
)
from mixlab.data.config import write_prepare_config
from mixlab.data.probes import write_probes

SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_python_files(root: Path | None = None) -> list[Path]:
    """The standard library's .py files, sorted, without tests, IDLE and installed packages."""
    root = root or stdlib_root()
    return sorted(
        p for p in root.rglob("*.py") if not SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])
    )


def _read_source(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def file_prose(source: str) -> str:
    """A file's docstrings and comment blocks, in order of appearance."""
    pieces: list[tuple[int, str]] = []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                pieces.append((getattr(node, "lineno", 0), doc))
    block: list[str] = []
    start = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                text = tok.string.lstrip("#").strip()
                if text and not text.startswith("!"):
                    if not block:
                        start = tok.start[0]
                    block.append(text)
            elif (
                tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
                and block
            ):
                pieces.append((start, " ".join(block)))
                block = []
    except (tokenize.TokenError, SyntaxError):
        pass
    if block:
        pieces.append((start, " ".join(block)))
    return "\n\n".join(text for _, text in sorted(pieces, key=lambda p: p[0]))


def pydoc_topics(root: Path | None = None) -> list[str]:
    """The help texts of pydoc_data/topics.py, read as data (not imported)."""
    path = (root or stdlib_root()) / "pydoc_data" / "topics.py"
    source = _read_source(path)
    if source is None:
        return []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "topics" for t in node.targets
        ):
            topics = ast.literal_eval(node.value)
            return [str(topics[k]).strip() for k in sorted(topics) if str(topics[k]).strip()]
    return []


@dataclass
class DemoCorpora:
    """Where the demo corpora, their prepare config and the probe sets were written."""

    directory: Path
    config: Path
    domains: dict[str, Path] = field(default_factory=dict)
    probes: dict[str, Path] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)


def _write_capped(path: Path, records: Iterable[dict[str, str]], max_bytes: int) -> tuple[int, int]:
    """Write JSONL records until the next would pass `max_bytes`; returns (bytes, records)."""
    total = n = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            line = json.dumps(record, ensure_ascii=False) + "\n"
            size = len(line.encode("utf-8"))
            if total + size > max_bytes:
                if n:
                    break
                continue  # skip a single oversize record rather than write nothing
            handle.write(line)
            total += size
            n += 1
    return total, n


def _shuffled(items: Sequence[Path], seed: int) -> list[Path]:
    order = np.random.default_rng([seed, 7]).permutation(len(items)).tolist()
    return [items[i] for i in order]


CODE_CHUNK_BYTES = 4000


def _code_records(files: Sequence[Path], root: Path) -> Iterator[dict[str, str]]:
    for path in files:
        text = _read_source(path)
        if text and text.strip():
            for chunk in split_code(text):
                yield {"text": chunk, "path": path.relative_to(root).as_posix()}


def split_code(text: str, max_bytes: int = CODE_CHUNK_BYTES) -> list[str]:
    """Cut a source file into documents of about `max_bytes` at top-level statements.

    Whole stdlib files are few and large; chunks give the demo's validation split many
    documents to draw from, while each chunk stays a run of whole functions or classes.
    """
    chunks, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        top_level = line[:1] not in ("", " ", "\t", "\n", "#", ")", "]", "}")
        if size >= max_bytes and top_level:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line.encode("utf-8"))
    if current and "".join(current).strip():
        chunks.append("".join(current))
    return chunks


def _prose_records(files: Sequence[Path], root: Path, seed: int) -> Iterator[dict[str, str]]:
    topics = [{"text": t, "path": "pydoc_data/topics.py"} for t in pydoc_topics(root)]
    rng = np.random.default_rng([seed, 8])
    for path in files:
        source = _read_source(path)
        prose = file_prose(source) if source else ""
        if prose:
            yield {"text": prose, "path": path.relative_to(root).as_posix()}
        # interleave the topics so a small cap still takes some of both
        if topics and rng.random() < 0.5:
            yield topics.pop(0)
    yield from topics


def _people_in_cap(max_bytes: int, exposures: int, compact_tuples: bool, seed: int) -> int:
    """How many people's biographies (`exposures` renderings each) fit in `max_bytes`."""
    probe_people = make_people(20, seed)
    per_person = np.mean([len(render_biography(p, 0, seed).encode()) + 12 for p in probe_people])
    per_person *= exposures + (1 if compact_tuples else 0)
    return max(10, int(max_bytes / per_person * 0.97))


def write_demo_corpora(
    directory: str | Path,
    max_bytes_per_domain: int = 1_000_000,
    seed: int = 0,
    exposures: int = 5,
    n_people: int | None = None,
    compact_tuples: bool = False,
    arithmetic_format: Format = "cot",
    digits: int = 2,
    operations: Sequence[str] = ("+", "-", "*"),
    n_test_problems: int = 500,
    vocab_size: int = 4096,
    stdlib: Path | None = None,
) -> DemoCorpora:
    """Write code, prose, biographies and arithmetic as JSONL plus `prepare.yaml` and probes.

    `n_people` defaults to as many as fit the byte cap at `exposures` renderings each.
    """
    out = Path(directory)
    (out / "probes").mkdir(parents=True, exist_ok=True)
    root = stdlib or stdlib_root()
    files = _shuffled(stdlib_python_files(root), seed)
    result = DemoCorpora(directory=out, config=out / "prepare.yaml")

    def record(name: str, written: tuple[int, int]) -> None:
        result.domains[name] = out / f"{name}.jsonl"
        result.bytes[name], result.documents[name] = written

    record(
        "code", _write_capped(out / "code.jsonl", _code_records(files, root), max_bytes_per_domain)
    )
    record(
        "prose",
        _write_capped(out / "prose.jsonl", _prose_records(files, root, seed), max_bytes_per_domain),
    )

    if n_people is None:
        n_people = _people_in_cap(max_bytes_per_domain, exposures, compact_tuples, seed)
    people = make_people(n_people, seed)
    bios: Iterable[str] = biography_documents(people, exposures, seed)
    if compact_tuples:
        bios = (*bios, *fact_tuples(people))
    record(
        "biographies",
        _write_capped(out / "biographies.jsonl", ({"text": t} for t in bios), max_bytes_per_domain),
    )
    result.probes["biographies"] = out / "probes" / "biographies.jsonl"
    write_probes(result.probes["biographies"], biography_probes(people, tuples=compact_tuples))

    line_bytes = 28 if arithmetic_format == "cot" else (14 if arithmetic_format == "plain" else 120)
    n_train = min(
        max_bytes_per_domain // line_bytes, problem_space(digits, operations) // 2 - n_test_problems
    )
    train, test = make_problem_split(n_train, n_test_problems, digits, operations, seed)
    record(
        "arithmetic",
        _write_capped(
            out / "arithmetic.jsonl",
            ({"text": t} for t in arithmetic_documents(train, arithmetic_format, seed=seed)),
            max_bytes_per_domain,
        ),
    )
    for split, problems in (("train", train), ("test", test)):
        path = out / "probes" / f"arithmetic_{split}.jsonl"
        write_probes(path, arithmetic_probes(problems, arithmetic_format))
        result.probes[f"arithmetic_{split}"] = path

    write_prepare_config(
        result.config,
        output="shards",
        seed=seed,
        tokenizer={"kind": "bpe", "vocab_size": vocab_size, "sample_bytes": 4_000_000},
        validation_fraction=0.05,
        domains={name: [{"path": path.name}] for name, path in result.domains.items()},
    )
    return result
