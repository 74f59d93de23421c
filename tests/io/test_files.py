"""mixlab.io.files: precise read errors, the one atomic writer, typed YAML configs."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from mixlab.errors import InputError
from mixlab.io.files import (
    atomic_path,
    load_typed_yaml,
    read_json,
    read_yaml,
    write_json,
    write_text,
    write_yaml,
)


def test_read_errors_name_the_file_and_the_place(tmp_path):
    with pytest.raises(InputError, match=r"missing.json: no such file \(expected plan\)"):
        read_json(tmp_path / "missing.json", "plan")
    with pytest.raises(InputError, match="is a folder"):
        read_json(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,\n  "b": }')
    with pytest.raises(InputError, match=r"bad.json, line 2: not valid JSON \(.* at column 8\)"):
        read_json(bad)
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(InputError, match="bad.yaml: not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")


def test_writes_are_atomic_and_round_trip(tmp_path):
    path = tmp_path / "law.json"
    data = {"x": 0.1 + 0.2, "nan": float("nan"), "list": [1, 2]}
    write_json(data, path)
    back = read_json(path)
    assert back["x"] == data["x"] and back["list"] == [1, 2] and back["nan"] != back["nan"]
    write_yaml({"b": 1, "a": 2}, tmp_path / "c.yaml")
    assert (tmp_path / "c.yaml").read_text() == "b: 1\na: 2\n"  # keys keep their order
    # a failed write leaves the old file whole and no temporary behind
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert read_json(path)["list"] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "law.json"]
    with pytest.raises(InputError, match="does not exist"):
        write_text(tmp_path / "no" / "such" / "x.txt", "x")


class _Config(BaseModel):
    name: str
    size: int = 1


def test_typed_yaml_names_the_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"name": "a", "size": "big"}))
    with pytest.raises(InputError) as err:
        load_typed_yaml(path, _Config, "config")
    assert str(path) in str(err.value) and "  size:" in str(err.value)
    path.write_text("name: a\nsize: 3\n")
    config, folder = load_typed_yaml(path, _Config, "config")
    assert config == _Config(name="a", size=3) and folder == tmp_path.resolve()
