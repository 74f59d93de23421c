"""What training never does (issue 21): run a file placed as a checkpoint, leave a partial
checkpoint on a full disk, replace a finished run, or write outside its folders."""

from __future__ import annotations

import errno
import pickle
import shutil

import pytest
import torch
import yaml

from mixlab.cli import main
from mixlab.data.prepare import prepare
from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.train import checkpoint as checkpoint_mod
from mixlab.train.config import parse_train_config
from mixlab.train.loop import train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    for name, unit in (("web", "the cat sat on the mat. "), ("code", "def f(x): return x\n")):
        (root / name).mkdir()
        for i in range(6):
            (root / name / f"{i}.txt").write_text(unit * (30 + i))
    (root / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {web: [web], code: [code]}\n"
    )
    prepare(root / "prep.yaml", workers=1)
    return root


def settings(data_dir, **overrides):
    base = dict(data=str(data_dir / "prepared"), mixture={"web": 0.5, "code": 0.5},
                model={"preset": "25k"}, tokens=2_560, seq_len=32, batch_size=8,
                eval={"every": 5, "max_sequences": 2}, run_id="r")  # fmt: skip
    base.update(overrides)
    return base


class Payload:
    """A pickle that creates a file when it is loaded: what an attacker would place."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_placed_as_checkpoint_is_never_executed(data_dir, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    marker = tmp_path / "pwned"
    (ckpt / "r").mkdir(parents=True)
    (ckpt / "r" / "checkpoint.pt").write_bytes(pickle.dumps({"fingerprint": Payload(marker)}))
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(settings(data_dir, checkpoint={"dir": str(ckpt)})))
    code = main(["train", str(cfg), "--store", str(tmp_path / "s.db")])
    err = "".join(capsys.readouterr().err.split())  # rich wraps long lines anywhere
    assert not marker.exists()
    assert code == 2 and "checkpoint.pt" in err and "notareadablemixlabcheckpoint" in err


def test_a_garbage_checkpoint_exits_2_naming_the_file(data_dir, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    (ckpt / "r").mkdir(parents=True)
    (ckpt / "r" / "checkpoint.pt").write_bytes(b"\x00garbage" * 100)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(settings(data_dir, checkpoint={"dir": str(ckpt)})))
    code = main(["train", str(cfg), "--store", str(tmp_path / "s.db")])
    err = "".join(capsys.readouterr().err.split())
    assert code == 2 and str(ckpt / "r" / "checkpoint.pt") in err


def test_checkpoints_load_with_weights_only(data_dir, tmp_path):
    cfg = parse_train_config(settings(data_dir, checkpoint={"dir": str(tmp_path / "c")}))
    train(cfg, None)
    state = torch.load(tmp_path / "c" / "r" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 10 and len(state["evaluations"]) > 0


def test_a_full_disk_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    def full_disk(obj, handle):
        handle.write(b"partial bytes")
        raise RuntimeError("[enforce fail] unexpected pos 512") from OSError(
            errno.ENOSPC, "No space left on device"
        )

    monkeypatch.setattr(checkpoint_mod.torch, "save", full_disk)
    path = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(InputError, match="disk full") as err:
        checkpoint_mod.save_checkpoint(path, {"step": 1})
    assert str(path) in str(err.value)
    assert list((tmp_path / "run").iterdir()) == []  # no .tmp left behind


def test_a_done_run_is_never_replaced_by_accident(data_dir, tmp_path):
    with RunStore(tmp_path / "s.db") as store:
        first = train(parse_train_config(settings(data_dir)), store)
        n_evals = len(first.evaluations)
        assert first.status == "done" and n_evals > 0
        # the same run again: nothing to do
        assert train(parse_train_config(settings(data_dir)), store) == store.get("r")
        # its data moved away, asked to replace it: the setup fails, the done run stays
        moved = parse_train_config(settings(data_dir, data=str(tmp_path / "gone")))
        with pytest.raises(InputError):
            train(moved, store, force=True)
        kept = store.get("r")
        assert kept.status == "done" and len(kept.evaluations) == n_evals
        # other settings under the same id: refused, unless forced
        other = parse_train_config(settings(data_dir, mixture={"web": 1.0}))
        with pytest.raises(InputError, match="already done.*--force"):
            train(other, store)
        assert store.get("r").mixture == {"web": 0.5, "code": 0.5}
        assert train(other, store, force=True).mixture == {"web": 1.0}


def test_train_cli_refuses_to_replace_a_done_run_without_force(data_dir, tmp_path, capsys):
    store = str(tmp_path / "s.db")
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(settings(data_dir)))
    assert main(["--quiet", "train", str(cfg), "--store", store]) == 0
    cfg.write_text(yaml.safe_dump(settings(data_dir, mixture={"web": 1.0})))
    assert main(["--quiet", "train", str(cfg), "--store", store]) == 2
    assert "--force" in " ".join(capsys.readouterr().err.split())
    assert main(["--quiet", "train", str(cfg), "--store", store, "--force"]) == 0


@pytest.mark.parametrize("run_id", ["../../../x", "/tmp/abs", "a/b", "..", ".hidden", "a\\b", ""])
def test_run_ids_that_would_escape_the_checkpoint_folder_are_refused(data_dir, run_id):
    with pytest.raises(InputError, match="run_id"):
        parse_train_config(settings(data_dir, run_id=run_id))


def test_a_manifest_naming_a_folder_outside_is_refused(data_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(data_dir / "prepared", out)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    manifest = (out / "manifest.json").read_text()
    manifest = manifest.replace('"web": {', '"../victim": {', 1)
    (out / "manifest.json").write_text(manifest)
    (tmp_path / "prep.yaml").write_text(
        f"output: {out}\ntokenizer: {{kind: bytes}}\nvalidation: {{documents: 2}}\n"
        f"domains: {{code: [{data_dir / 'code'}]}}\n"
    )
    with pytest.raises(InputError, match=r"manifest.json.*'\.\./victim'"):
        prepare(tmp_path / "prep.yaml", workers=1)
    assert (victim / "precious.txt").read_text() == "keep me"
