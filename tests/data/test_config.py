"""Config validation: every problem is an InputError that names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mixlab.data.config import load_prepare_config
from mixlab.errors import InputError

BASE = {"output": "out", "domains": {"web": "web"}}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_prepare_config(write(tmp_path, {**BASE, "validation": 0.1}))
    assert config.output == tmp_path / "out"
    assert config.domains["web"][0].path == tmp_path / "web"
    assert config.validation.fraction == 0.1 and config.tokenizer.kind == "bpe"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tokenizer": {"vocab_size": 10}}, "tokenizer.vocab_size"),
        ({"tokenizer": {"kind": "file"}}, "tokenizer"),
        ({"tokenizer": {"kind": "bytes", "path": "t.json"}}, "tokenizer"),
        ({"tokenizer": {"kind": "sentencepiece"}}, "tokenizer.kind"),
        ({"validation": {"documents": 5, "fraction": 0.1}}, "validation"),
        ({"validation": 1.5}, "validation.fraction"),
        ({"domains": {}}, "domains"),
        ({"domains": {"bad name!": "x"}}, "domains"),
        ({"domains": {"web": [{"path": "x", "colour": "red"}]}}, "domains.web.0.colour"),
        ({"domians": {}}, "domians"),
        ({"workers": 0}, "workers"),
        ({"seed": -1}, "seed"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, change: dict, field: str) -> None:
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(InputError) as error:
        load_prepare_config(path)
    message = str(error.value)
    assert str(path) in message and f"  {field}" in message


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.yaml: no such file"):
        load_prepare_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("output: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_prepare_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_prepare_config(tmp_path / "list.yaml")
