"""Bad input to every command group exits 2, prints no traceback and names the place.

One table of cases (the classes of the audit in issue 21): each row is a command line over a
small world built once per module (prepared shards, a store, a fitted mixing law and scaling
law, a dynamics study) plus the words its message must contain (the file, line, field or
flag at fault). `{r}` in a row stands for the world's folder.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from mixlab.cli import main

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


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr with rich's line wrapping undone)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


@pytest.fixture(scope="module")
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
    capsys_free = [
        ["runs", "import", "--mixtures", r / "m.csv", "--metrics", r / "y.csv",
         "--store", r / "s.db"],
        ["law", "fit", "--mixtures", r / "m.csv", "--metrics", r / "y.csv", "--law", "linear",
         "--target", "loss", "--out", r / "law.json"],
    ]
    (r / "scale.csv").write_text("n,loss\n1e5,4.0\n3e5,3.6\n1e6,3.3\n3e6,3.1\n1e7,3.0\n")
    capsys_free.append(["scaling", "fit", "--runs", r / "scale.csv", "--form", "size",
                        "--n-column", "n", "--loss-column", "loss", "--bootstrap", "0",
                        "--out", r / "scaling.json"])
    for argv in capsys_free:
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
    (r / "lgbm_bad.json").write_text(json.dumps(
        {**law, "kind": "lgbm", "params": {"models": ["tree\nnot a model"]}}))
    (r / "neg_prior.json").write_text('{"web": -0.5, "code": 1.5}')
    bad_manifest = r / "bad_manifest"
    (bad_manifest).mkdir()
    manifest = json.loads((r / "prepared" / "manifest.json").read_text())
    del manifest["domains"]["web"]["splits"]
    (bad_manifest / "manifest.json").write_text(json.dumps(manifest))
    (bad_manifest / "tokenizer.json").write_text(
        (r / "prepared" / "tokenizer.json").read_text())
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
            "mixtures: {kind: dirichlet, n: 3, prior: {web: -0.5, code: 1.5}}"),
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
        json.dumps({"name": "d", "runs": {"r1": {"choice": "a"}}}))
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


S = ["--store", "{r}/s.db"]
CASES = [
    # -- data ----------------------------------------------------------------------------------
    ("data-prepare-missing", ["data", "prepare", "{r}/nope.yaml"], ["nope.yaml"]),
    ("data-prepare-no-source", ["data", "prepare", "{r}/prep_bad.yaml"], ["nowhere"]),
    ("data-prepare-markup-yaml", ["data", "prepare", "{r}/train_markup.yaml"],
     ["train_markup.yaml", "line"]),
    ("data-prepare-workers-0", ["data", "prepare", "{r}/prep.yaml", "--workers", "0"],
     ["--workers"]),
    ("data-info-not-prepared", ["data", "info", "{r}/folder"], ["folder", "manifest"]),
    ("data-info-manifest-entry", ["data", "info", "{r}/bad_manifest"],
     ["manifest.json", "web", "splits"]),
    ("data-info-file", ["data", "info", "{r}/m.csv"], ["m.csv"]),
    ("data-demo-max-bytes", ["data", "demo-corpora", "{r}/corpora", "--max-bytes", "-5"],
     ["--max-bytes"]),
    # -- train ---------------------------------------------------------------------------------
    ("train-missing", ["train", "{r}/nope.yaml", *S], ["nope.yaml"]),
    ("train-device-banana", ["train", "{r}/train_banana.yaml", *S],
     ["train_banana.yaml", "device", "banana"]),
    ("train-device-cuda99", ["train", "{r}/train_cuda99.yaml", *S],
     ["train_cuda99.yaml", "device", "cuda:99"]),
    ("train-unknown-field", ["train", "{r}/train_unknown.yaml", *S], ["colour"]),
    ("train-unknown-domain", ["train", "{r}/train_domain.yaml", *S], ["nowhere"]),
    ("train-no-data", ["train", "{r}/train_nodata.yaml", *S], ["missing-folder"]),
    ("train-manifest-entry", ["train", "{r}/train_manifest.yaml", *S],
     ["manifest.json", "web", "splits"]),
    ("train-markup-yaml", ["train", "{r}/train_markup.yaml", *S], ["train_markup.yaml", "[/x"]),
    ("train-store-folder", ["train", "{r}/train.yaml", "--store", "{r}/folder"], ["folder"]),
    # -- sweep ---------------------------------------------------------------------------------
    ("sweep-plan-missing", ["sweep", "plan", "{r}/nope.yaml"], ["nope.yaml"]),
    ("sweep-plan-negative-prior", ["sweep", "plan", "{r}/sweep_prior.yaml",
                                   "--out", "{r}/p.json"], ["prior", "'web'", "-0.5"]),
    ("sweep-plan-device", ["sweep", "plan", "{r}/sweep_device.yaml", "--out", "{r}/p.json"],
     ["device", "banana"]),
    ("sweep-plan-out-no-parent", ["sweep", "plan", "{r}/sweep.yaml",
                                  "--out", "{r}/no/such/p.json"], ["no/such"]),
    ("sweep-plan-out-folder", ["sweep", "plan", "{r}/sweep.yaml", "--out", "{r}/folder"],
     ["folder", "is a folder"]),
    ("sweep-run-folder", ["sweep", "run", "{r}/folder", *S], ["folder"]),
    ("sweep-run-truncated", ["sweep", "run", "{r}/truncated.json", *S], ["truncated.json"]),
    ("sweep-run-wrong-kind", ["sweep", "run", "{r}/law.json", *S], ["law.json", "plan"]),
    ("sweep-run-binary", ["sweep", "run", "{r}/binary.bin", *S], ["binary.bin"]),
    ("sweep-run-workers-0", ["sweep", "run", "{r}/p.json", "--workers", "0", *S],
     ["--workers"]),
    ("sweep-run-executor", ["sweep", "run", "{r}/p.json", "--executor", "slurm", *S],
     ["--executor", "slurm"]),
    # -- runs ----------------------------------------------------------------------------------
    ("runs-import-empty-log", ["runs", "import", "--mixinglaws-log", "{r}/empty.log", *S],
     ["empty.log"]),
    ("runs-import-filtered-log", ["runs", "import", "--mixinglaws-log", "{r}/one.log",
                                  "--max-run-id", "1", *S], ["one.log", "--max-run-id"]),
    ("runs-import-log-negative-tps", ["runs", "import", "--mixinglaws-log", "{r}/one.log",
                                      "--tokens-per-step", "-5", *S], ["--tokens-per-step"]),
    ("runs-import-step-1e20", ["runs", "import", "--curves", "{r}/huge_step.csv",
                               "--mixtures", "{r}/m1.csv", *S],
     ["huge_step.csv", "line 2", "'step'"]),
    ("runs-import-mixtures-folder", ["runs", "import", "--mixtures", "{r}/folder",
                                     "--metrics", "{r}/y.csv", *S], ["folder"]),
    ("runs-import-metrics-binary", ["runs", "import", "--mixtures", "{r}/m.csv",
                                    "--metrics", "{r}/binary.bin", *S], ["binary.bin"]),
    ("runs-list-corrupt-page", ["runs", "list", "--store", "{r}/corrupt.db"], ["corrupt.db"]),
    ("runs-list-store-folder", ["runs", "list", "--store", "{r}/folder"], ["folder"]),
    ("runs-list-status", ["runs", "list", "--status", "[/x]", *S], ["--status", "[/x]"]),
    ("runs-show-unknown", ["runs", "show", "nope[/x]", *S], ["nope[/x]"]),
    ("runs-export-no-parent", ["runs", "export", "--out", "{r}/no/such/x.csv", *S],
     ["no/such"]),
    ("runs-export-folder", ["runs", "export", "--mixtures", "{r}/folder",
                            "--metrics", "{r}/mm.csv", *S], ["folder"]),
    # -- law -----------------------------------------------------------------------------------
    ("law-fit-folds-0", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics", "{r}/y.csv",
                         "--target", "loss", "--folds", "0", "--out", "{r}/l.json"], ["--folds"]),
    ("law-fit-folds-1", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics", "{r}/y.csv",
                         "--target", "loss", "--folds", "1", "--out", "{r}/l.json"], ["--folds"]),
    ("law-fit-store-and-csv", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics",
                               "{r}/y.csv", "--target", "loss", *S, "--out", "{r}/l.json"], ["--store", "--mixtures"]),
    ("law-fit-target-markup", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics",
                               "{r}/y.csv", "--target", "nope[/x]", "--out", "{r}/l.json"],
     ["--target", "nope[/x]"]),
    ("law-fit-out-no-parent", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics",
                               "{r}/y.csv", "--law", "linear", "--target", "loss", "--out",
                               "{r}/no/such/l.json"],
     ["no/such"]),
    ("law-fit-out-folder", ["law", "fit", "--mixtures", "{r}/m.csv", "--metrics",
                            "{r}/y.csv", "--law", "linear", "--target", "loss", "--out",
                            "{r}/folder"], ["folder"]),
    ("law-predict-law-folder", ["law", "predict", "{r}/folder", "--mixtures", "{r}/m.csv",
                                "--out", "{r}/p.csv"], ["folder"]),
    ("law-predict-law-binary", ["law", "predict", "{r}/binary.bin", "--mixtures", "{r}/m.csv",
                                "--out", "{r}/p.csv"], ["binary.bin"]),
    ("law-predict-law-list", ["law", "predict", "{r}/list.json", "--mixtures", "{r}/m.csv",
                              "--out", "{r}/p.csv"], ["list.json"]),
    ("law-predict-law-object", ["law", "predict", "{r}/object.json", "--mixtures", "{r}/m.csv",
                                "--out", "{r}/p.csv"], ["object.json"]),
    ("law-predict-law-shape", ["law", "predict", "{r}/law_shape.json", "--mixtures",
                               "{r}/m.csv", "--out", "{r}/p.csv"], ["law_shape.json"]),
    ("law-predict-lgbm-corrupt", ["law", "predict", "{r}/lgbm_bad.json", "--mixtures",
                                  "{r}/m.csv", "--out", "{r}/p.csv"], ["lgbm_bad.json"]),
    ("law-predict-out-no-parent", ["law", "predict", "{r}/law.json", "--mixtures", "{r}/m.csv",
                                   "--out", "{r}/no/such/p.csv"], ["no/such"]),
    ("law-predict-out-folder", ["law", "predict", "{r}/law.json", "--mixtures", "{r}/m.csv",
                                "--out", "{r}/folder"], ["folder"]),
    ("law-optimize-target", ["law", "optimize", "{r}/law.json", "--target", "nope[web]",
                             "--out", "{r}/o.json"], ["--target", "nope[web]"]),
    ("law-optimize-format", ["law", "optimize", "{r}/law.json", "--format", "slurm",
                             "--out", "{r}/o.json"], ["--format", "slurm"]),
    ("law-optimize-out-no-parent", ["law", "optimize", "{r}/law.json",
                                    "--out", "{r}/no/such/o.json"], ["no/such"]),
    ("law-optimize-prior-negative", ["law", "optimize", "{r}/law.json", "--prior",
                                     "{r}/neg_prior.json", "--out", "{r}/o.json"],
     ["neg_prior.json", "web"]),
    ("law-critical-share-domain", ["law", "critical-share", "{r}/law.json", "--original",
                                   "nope", "--level", "3", "--bound", "0.1"], ["nope"]),
    # -- scaling -------------------------------------------------------------------------------
    ("scaling-fit-runs-folder", ["scaling", "fit", "--runs", "{r}/folder", "--form", "size",
                                 "--n-column", "n", "--loss-column", "loss", "--out",
                                 "{r}/f.json"], ["folder", "--runs"]),
    ("scaling-fit-runs-binary", ["scaling", "fit", "--runs", "{r}/binary.bin", "--form",
                                 "size", "--n-column", "n", "--loss-column", "loss",
                                 "--out", "{r}/f.json"], ["binary.bin"]),
    ("scaling-fit-out-folder", ["scaling", "fit", "--runs", "{r}/scale.csv", "--form", "size",
                                "--n-column", "n", "--loss-column", "loss", "--bootstrap", "0",
                                "--out", "{r}/folder"], ["folder"]),
    ("scaling-predict-folder", ["scaling", "predict", "{r}/folder", "--n", "1e8"], ["folder"]),
    ("scaling-predict-truncated", ["scaling", "predict", "{r}/truncated.json", "--n", "1e8"],
     ["truncated.json"]),
    ("scaling-predict-wrong-kind", ["scaling", "predict", "{r}/law.json", "--n", "1e8"],
     ["law.json"]),
    ("scaling-predict-binary", ["scaling", "predict", "{r}/binary.bin", "--n", "1e8"],
     ["binary.bin"]),
    ("scaling-predict-n-negative", ["scaling", "predict", "{r}/scaling.json", "--n", "-1"],
     ["--n"]),
    ("scaling-nested-store-missing", ["scaling", "nested", "--target-steps", "1000",
                                      "--target-size", "1e9", "--metric", "loss", "--out",
                                      "{r}/n.json", "--store", "{r}/none.db"], ["none.db"]),
    # -- phase ---------------------------------------------------------------------------------
    ("phase-plan-missing", ["phase", "plan", "{r}/nope.yaml", "--out", "{r}/ps"],
     ["nope.yaml"]),
    ("phase-plan-bad-field", ["phase", "plan", "{r}/phase_bad.yaml", "--out", "{r}/ps"],
     ["phase_bad.yaml", "ratios"]),
    ("phase-run-no-plan", ["phase", "run", "{r}/folder", *S], ["folder"]),
    ("phase-run-wrong-kind", ["phase", "run", "{r}/list.json", *S], ["list.json"]),
    ("phase-fit-results-folder", ["phase", "fit", "--results", "{r}/folder",
                                  "--out", "{r}/ph.json"], ["folder"]),
    ("phase-fit-results-binary", ["phase", "fit", "--results", "{r}/binary.bin",
                                  "--out", "{r}/ph.json"], ["binary.bin"]),
    ("phase-fit-results-columns", ["phase", "fit", "--results", "{r}/results.csv",
                                   "--out", "{r}/ph.json"], ["results.csv", "accuracy"]),
    ("phase-fit-threshold", ["phase", "fit", "--results", "{r}/results.csv",
                             "--threshold", "2"], ["--threshold"]),
    ("phase-fit-out-no-parent", ["phase", "fit", "--results", "{r}/results.csv",
                                 "--out", "{r}/no/such/ph.json"], ["no/such"]),
    ("phase-predict-phase-folder", ["phase", "predict", "--web", "{r}/web.csv", "--people",
                                    "30", "--tokens-per-biography", "100", "--phase",
                                    "{r}/folder"], ["folder", "--phase"]),
    ("phase-predict-phase-truncated", ["phase", "predict", "--web", "{r}/web.csv",
                                       "--people", "30", "--tokens-per-biography", "100",
                                       "--phase", "{r}/truncated.json"], ["truncated.json"]),
    ("phase-predict-phase-wrong-kind", ["phase", "predict", "--web", "{r}/web.csv",
                                        "--people", "30", "--tokens-per-biography", "100",
                                        "--phase", "{r}/list.json"], ["list.json"]),
    # -- dynamics ------------------------------------------------------------------------------
    ("dynamics-study-missing", ["dynamics", "study", "{r}/nope.yaml", "--out", "{r}/ds", *S],
     ["nope.yaml"]),
    ("dynamics-study-unprepared-domain", ["dynamics", "study", "{r}/dynamics.yaml",
                                          "--out", "{r}/ds", *S], ["nowhere", "choices"]),
    ("dynamics-report-no-study", ["dynamics", "report", "{r}/folder", *S], ["folder"]),
    ("dynamics-report-missing-keys", ["dynamics", "report", "{r}/study", *S],
     ["study.json"]),
    ("dynamics-report-missing-run-keys", ["dynamics", "report", "{r}/study_nokeys", *S],
     ["study.json"]),
    ("dynamics-report-wrong-kind", ["dynamics", "report", "{r}/list.json", *S],
     ["list.json"]),
    # -- report --------------------------------------------------------------------------------
    ("report-artifacts-missing", ["report", *S, "--out", "{r}/rep.html", "--artifacts",
                                  "{r}/no-artifacts"], ["no-artifacts", "--artifacts"]),
    ("report-artifacts-recommendation-list", ["report", *S, "--out", "{r}/rep.html",
                                              "--artifacts", "{r}/art_list"],
     ["recommendation.json"]),
    ("report-artifacts-law-string", ["report", *S, "--out", "{r}/rep.html",
                                     "--artifacts", "{r}/art_laws"], ["x.json"]),
    ("report-artifacts-verification", ["report", *S, "--out", "{r}/rep.html",
                                       "--artifacts", "{r}/art_ver"], ["verification.json"]),
    ("report-out-folder", ["report", *S, "--out", "{r}/folder"], ["folder"]),
    ("report-store-missing", ["report", "--store", "{r}/none.db", "--out", "{r}/rep.html"],
     ["none.db"]),
    ("report-corrupt-store", ["report", "--store", "{r}/corrupt.db", "--out", "{r}/rep.html"],
     ["corrupt.db"]),
    # -- demo ----------------------------------------------------------------------------------
    ("demo-workers-0", ["demo", "--workers", "0", "--out", "{r}/demo-out"], ["--workers"]),
    ("demo-out-file", ["demo", "--out", "{r}/demo_file"], ["demo_file"]),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_and_names_the_place(world, capsys, argv, words):
    r = str(world)
    code, out, err = run_cli(capsys, *(a.replace("{r}", r) for a in argv))
    assert "Traceback" not in out + err
    assert code == 2, err
    for w in words:
        assert w.replace("{r}", r) in err, (w, err)
    assert "np.float64" not in err


def test_table_covers_every_command_group():
    groups = {c[1][0] for c in CASES}
    assert groups >= {"data", "train", "sweep", "runs", "law", "scaling", "phase", "dynamics",
                      "report", "demo"}
    assert len(CASES) >= 60
