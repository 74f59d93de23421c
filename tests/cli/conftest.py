"""Helpers shared by the CLI tests: run `mixlab` in-process and read what it printed, and a
world of good and bad inputs built once per session."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mixlab.cli import main


@pytest.fixture
def cli(capsys):
    """`cli(*argv)` -> (exit code, stdout, stderr with rich's line wrapping undone)."""

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())

    return run


TRAIN = """data: prepared
mixture: {web: 0.5, code: 0.5}
model: {preset: 25k}
tokens: 2000
seq_len: 32
batch_size: 8
eval: {every: 10, max_sequences: 2}
"""
SWEEP = """base: {data: prepared, seq_len: 32, batch_size: 8}
mixtures: {kind: list, mixtures: [{web: 0.5, code: 0.5}]}
models: ["25k"]
tokens: [2000]
seeds: [0]
"""
DYNAMICS = """name: d
data: prepared
choices:
  - {name: a, mixture: {web: 1.0}, probes: {skill: probes.jsonl}}
  - {name: b, mixture: {nowhere: 1.0}, probes: {skill: probes.jsonl}}
models: ["25k"]
tokens: 2000
train: {seq_len: 32, batch_size: 8}
"""
PHASE = """people: 30
ratios: [0.2]
models: ["25k"]
tokens: [100]
"""
LOG_LINE = "/ckpt/70M_5-0.5-0.5/1000\t/valid.web.bin\t3.2\n"


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """Everything the cases point at, good and bad, written once."""
    from mixlab.data.prepare import prepare

    r = tmp_path_factory.mktemp("world")
    for name, unit in (("web", "the cat sat on the mat. "), ("code", "def f(x): return x\n")):
        (r / name).mkdir()
        for i in range(8):
            (r / name / f"{i}.txt").write_text(unit * (20 + i))
    (r / "prep.yaml").write_text(
        "output: prepared\ntokenizer: {kind: bytes}\nvalidation: {documents: 2}\n"
        "domains: {web: [web], code: [code]}\n"
    )
    prepare(r / "prep.yaml", workers=1)
    mix = "index,web,code\n" + "".join(f"r{i},{i / 10},{1 - i / 10}\n" for i in range(1, 10))
    met = "index,loss\n" + "".join(f"r{i},{3 - i / 20}\n" for i in range(1, 10))
    (r / "m.csv").write_text(mix)
    (r / "y.csv").write_text(met)
    setup_commands = [
        [
            "runs",
            "import",
            "--mixtures",
            r / "m.csv",
            "--metrics",
            r / "y.csv",
            "--store",
            r / "s.db",
        ],
        [
            "law",
            "fit",
            "--mixtures",
            r / "m.csv",
            "--metrics",
            r / "y.csv",
            "--law",
            "linear",
            "--target",
            "loss",
            "--out",
            r / "law.json",
        ],
    ]
    setup_commands.append(
        [
            "law",
            "fit",
            "--mixtures",
            r / "m.csv",
            "--metrics",
            r / "y.csv",
            "--law",
            "lgbm",
            "--target",
            "loss",
            "--out",
            r / "lgbm.json",
        ]
    )
    (r / "scale.csv").write_text("n,loss\n1e5,4.0\n3e5,3.6\n1e6,3.3\n3e6,3.1\n1e7,3.0\n")
    setup_commands.append(
        [
            "scaling",
            "fit",
            "--runs",
            r / "scale.csv",
            "--form",
            "size",
            "--n-column",
            "n",
            "--loss-column",
            "loss",
            "--bootstrap",
            "0",
            "--out",
            r / "scaling.json",
        ]
    )
    for argv in setup_commands:
        assert main(["--quiet", *map(str, argv)]) == 0, argv
    # bad files
    (r / "folder").mkdir()
    (r / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (r / "truncated.json").write_text('{"version": 1, "runs": [')
    (r / "list.json").write_text("[1, 2, 3]")
    (r / "object.json").write_text('{"hello": "world"}')
    (r / "empty.log").write_text("")
    (r / "one.log").write_text(LOG_LINE)
    (r / "m1.csv").write_text("index,web,code\nr1,0.5,0.5\n")
    (r / "web.csv").write_text("model_size,web_loss\n1e5,4.0\n1e6,3.5\n1e7,3.2\n")
    (r / "huge_step.csv").write_text("run_id,step,tokens,metric,value\nr1,1e20,1,loss,3\n")
    law = json.loads((r / "law.json").read_text())
    (r / "law_shape.json").write_text(json.dumps({**law, "params": [1, 2]}))
    lgbm = json.loads((r / "lgbm.json").read_text())
    model = lgbm["params"]["models"][0]
    cut = model.index("Tree=5")  # LightGBM itself aborts or crashes on both of these
    for name, text in (
        ("lgbm_truncated.json", model[: len(model) // 3]),
        ("lgbm_edited.json", model[: cut + 200] + "X" * 50 + model[cut + 250 :]),
    ):
        doc = {**lgbm, "params": {**lgbm["params"], "models": [text]}}
        (r / name).write_text(json.dumps(doc))
    (r / "neg_prior.json").write_text('{"web": -0.5, "code": 1.5}')
    bad_manifest = r / "bad_manifest"
    (bad_manifest).mkdir()
    manifest = json.loads((r / "prepared" / "manifest.json").read_text())
    del manifest["domains"]["web"]["splits"]
    (bad_manifest / "manifest.json").write_text(json.dumps(manifest))
    (bad_manifest / "tokenizer.json").write_text((r / "prepared" / "tokenizer.json").read_text())
    for name, text in {
        "train.yaml": TRAIN,
        "train_banana.yaml": TRAIN + "device: banana\n",
        "train_cuda99.yaml": TRAIN + "device: 'cuda:99'\n",
        "train_unknown.yaml": TRAIN + "colour: red\n",
        "train_domain.yaml": TRAIN.replace("code: 0.5", "nowhere: 0.5"),
        "train_nodata.yaml": TRAIN.replace("data: prepared", "data: missing-folder"),
        "train_manifest.yaml": TRAIN.replace("data: prepared", "data: bad_manifest"),
        "train_markup.yaml": "data: [/x\n",
        "sweep.yaml": SWEEP,
        "sweep_prior.yaml": SWEEP.replace(
            "mixtures: {kind: list, mixtures: [{web: 0.5, code: 0.5}]}",
            "mixtures: {kind: dirichlet, n: 3, prior: {web: -0.5, code: 1.5}}",
        ),
        "sweep_device.yaml": SWEEP.replace("batch_size: 8}", "batch_size: 8, device: banana}"),
        "dynamics.yaml": DYNAMICS,
        "phase_bad.yaml": PHASE + "ratios: [1.5]\n",
        "prep_bad.yaml": "output: out\ndomains: {web: [nowhere]}\n",
    }.items():
        (r / name).write_text(text)
    (r / "probes.jsonl").write_text('{"prompt": "1+1=", "answer": "2"}\n')
    (r / "study").mkdir()
    (r / "study" / "study.json").write_text('{"name": "d", "runs": {}}')
    (r / "study_nokeys").mkdir()
    (r / "study_nokeys" / "study.json").write_text(
        json.dumps({"name": "d", "runs": {"r1": {"choice": "a"}}})
    )
    (r / "art_list").mkdir()
    (r / "art_list" / "recommendation.json").write_text("[1, 2]")
    (r / "art_laws" / "laws").mkdir(parents=True)
    (r / "art_laws" / "laws" / "x.json").write_text('"just a string"')
    (r / "art_ver").mkdir()
    (r / "art_ver" / "verification.json").write_text('{"a": 1}')
    (r / "results.csv").write_text("model_size,ratio\n1e5,0.1\n")
    (r / "corrupt.db").write_bytes((r / "s.db").read_bytes())
    _corrupt_page(r / "corrupt.db")
    (r / "demo_file").write_text("not a folder")
    return r


def _corrupt_page(path):
    """Overwrite the store's second page onwards with garbage (a torn disk page)."""
    with sqlite3.connect(path) as con:
        page = con.execute("PRAGMA page_size").fetchone()[0]
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    for i in range(page, len(data)):
        data[i] = (i * 7) % 256
    path.write_bytes(bytes(data))
    for extra in ("-wal", "-shm"):
        p = path.with_name(path.name + extra)
        if p.exists():
            p.unlink()
