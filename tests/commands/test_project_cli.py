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


def test_progress_lines_and_json_events(capsys):
    import json

    from mixlab.commands.console import Output
    from mixlab.commands.progress import EventPrinter

    def progress(done, eta):
        return {
            "event": "progress",
            "stage": "round 1",
            "done": done,
            "skipped": 1,
            "failed": 0,
            "running": 2,
            "total": 5,
            "elapsed_s": 3.0,
            "eta_s": eta,
        }

    plain = EventPrinter(Output(), every_s=3600)
    plain({"event": "stage", "stage": "round 1", "message": "5 runs"})
    for event in (progress(1, None), progress(1, 30.0), progress(2, 75.0), progress(5, 0.0)):
        plain(event)
    err = capsys.readouterr().err.splitlines()
    # a line when the count changes (not on every update), with elapsed time and time left
    assert len(err) == 4 and err[0].startswith("[0:00] round 1: 5 runs")
    assert "2/5 runs done (1 already in the store)" in err[2] and "1:15 left" in err[2]
    assert "5/5" in err[3] and "left" not in err[3]
    events = EventPrinter(Output(json=True))
    events(progress(2, 75.0))
    events({"event": "warning", "message": "w"})
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["progress", "warning"]


def test_run_names_the_bad_field(tmp_path, capsys):
    bad = tmp_path / "project.yaml"
    bad.write_text("name: x\ndata: {domains: {web: [web.jsonl]}}\ntarget: {weights: {}}\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "project.yaml" in err and "target" in err
    bad.write_text(
        "name: x\ndata: {domains: {web: [web.jsonl]}}\n"
        "target: {metric: val_loss/web}\nproxy: {models: [25k, 1M]}\n"
    )
    assert main(["run", str(bad)]) == 2
    assert "proxy.models" in capsys.readouterr().err
