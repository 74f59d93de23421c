"""Demo corpora: small, from this machine's standard library, and ready to prepare."""

from __future__ import annotations

import json
from pathlib import Path

from mixlab.data import load_prepared, prepare, read_probes
from mixlab.data.demo_corpora import file_prose, stdlib_python_files, write_demo_corpora


def test_stdlib_files_skip_tests_idle_and_site_packages() -> None:
    files = stdlib_python_files()
    assert len(files) > 100
    for part in ("test", "idlelib", "site-packages"):
        assert not any(part in p.parts for p in files)


def test_file_prose_keeps_docstrings_and_comments() -> None:
    source = '"""Module doc."""\n# a comment\n# continued\nx = 1  # trailing\ndef f():\n    """F doc."""\n'
    assert file_prose(source) == "Module doc.\n\na comment continued\n\ntrailing\n\nF doc."


def test_write_demo_corpora_and_prepare(tmp_path: Path) -> None:
    cap = 40_000
    demo = write_demo_corpora(tmp_path / "demo", max_bytes_per_domain=cap, vocab_size=400)
    assert set(demo.domains) == {"code", "prose", "biographies", "arithmetic"}
    for name, path in demo.domains.items():
        assert 0 < path.stat().st_size <= cap, name
    prose = [json.loads(line) for line in demo.domains["prose"].read_text().splitlines()]
    assert any(r["path"] == "pydoc_data/topics.py" for r in prose)
    bios = demo.domains["biographies"].read_text()
    for probe in read_probes(demo.probes["biographies"])[:50]:
        assert json.dumps(probe.prompt + probe.target)[1:-1] in bios
    assert read_probes(demo.probes["arithmetic_test"])

    summary = prepare(demo.config, workers=1)
    assert [d.name for d in summary.domains] == ["code", "prose", "biographies", "arithmetic"]
    data = load_prepared(demo.directory / "shards")
    assert data.tokenizer.vocab_size <= 400
    assert all(data.train[d].n_tokens > 0 for d in data.domains)
