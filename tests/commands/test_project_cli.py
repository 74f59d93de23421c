"""`mixlab init`: a commented project.yaml that loads, and stage configs that validate."""

import re

import yaml

from mixlab.cli import main
from mixlab.data.config import load_prepare_config
from mixlab.studies.project import ProjectConfig, load_project
from mixlab.sweep.plan import load_sweep_config
from mixlab.train.config import load_train_config


def _fields(model, prefix=""):
    for name, info in model.model_fields.items():
        yield name
        sub = info.annotation
        for arg in getattr(sub, "__args__", ()) or (sub,):
            if hasattr(arg, "model_fields"):
                yield from _fields(arg)


def test_init_writes_a_documented_project(tmp_path, capsys):
    d = tmp_path / "proj"
    assert main(["init", str(d), "--domain", "web=data/web/*.jsonl", "--domain", "code=c"]) == 0
    text = (d / "project.yaml").read_text()
    project = load_project(d / "project.yaml")
    assert list(project.config.data.domains) == ["web", "code"]
    assert project.config.target.resolved_weights() == {"val_loss/web": 0.5, "val_loss/code": 0.5}
    # every field of the config appears in the file, on a line with its comment
    for name in set(_fields(ProjectConfig)):
        lines = [ln for ln in text.splitlines() if re.match(rf"\s*#?\s*{name}:", ln)]
        assert lines and all("#" in ln for ln in lines), name
    prep = load_prepare_config(d / "configs" / "prepare.yaml")
    assert prep.output == d.resolve() / "out" / "shards"
    sweep, _ = load_sweep_config(d / "configs" / "sweep.yaml")
    assert sweep.mixtures.n == project.config.rounds.first
    train = load_train_config(d / "configs" / "train.yaml")
    assert train.tokens == project.config.proxy.tokens
    assert yaml.safe_load((d / "configs" / "train.yaml").read_text())["mixture"]
    # a second init does not overwrite the project; a bad --domain names the flag
    assert main(["init", str(d)]) == 2
    assert main(["init", str(tmp_path / "x"), "--domain", "web"]) == 2
    assert "--domain" in capsys.readouterr().err
