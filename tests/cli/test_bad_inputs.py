"""Bad input to every command group exits 2, prints no traceback and names the place.

One table of cases (the classes of the audit in issue 21): each row is a command line over
the `world` of conftest.py (prepared shards, a store, a fitted mixing law and scaling law,
and bad files of every kind), built once, plus the words its message must contain (the
file, line, field or flag at fault). `{r}` in a row stands for the world's folder.
"""

from __future__ import annotations

import pytest

S = ["--store", "{r}/s.db"]
CASES = [
    # -- data ----------------------------------------------------------------------------------
    ("data-prepare-missing", ["data", "prepare", "{r}/nope.yaml"], ["nope.yaml"]),
    ("data-prepare-no-source", ["data", "prepare", "{r}/prep_bad.yaml"], ["nowhere"]),
    (
        "data-prepare-markup-yaml",
        ["data", "prepare", "{r}/train_markup.yaml"],
        ["train_markup.yaml", "line"],
    ),
    (
        "data-prepare-workers-0",
        ["data", "prepare", "{r}/prep.yaml", "--workers", "0"],
        ["--workers"],
    ),
    ("data-info-not-prepared", ["data", "info", "{r}/folder"], ["folder", "manifest"]),
    (
        "data-info-manifest-entry",
        ["data", "info", "{r}/bad_manifest"],
        ["manifest.json", "web", "splits"],
    ),
    ("data-info-file", ["data", "info", "{r}/m.csv"], ["m.csv"]),
    (
        "data-demo-max-bytes",
        ["data", "demo-corpora", "{r}/corpora", "--max-bytes", "-5"],
        ["--max-bytes"],
    ),
    # -- train ---------------------------------------------------------------------------------
    ("train-missing", ["train", "{r}/nope.yaml", *S], ["nope.yaml"]),
    (
        "train-device-banana",
        ["train", "{r}/train_banana.yaml", *S],
        ["train_banana.yaml", "device", "banana"],
    ),
    (
        "train-device-cuda99",
        ["train", "{r}/train_cuda99.yaml", *S],
        ["train_cuda99.yaml", "device", "cuda:99"],
    ),
    ("train-unknown-field", ["train", "{r}/train_unknown.yaml", *S], ["colour"]),
    ("train-unknown-domain", ["train", "{r}/train_domain.yaml", *S], ["nowhere"]),
    ("train-no-data", ["train", "{r}/train_nodata.yaml", *S], ["missing-folder"]),
    (
        "train-manifest-entry",
        ["train", "{r}/train_manifest.yaml", *S],
        ["manifest.json", "web", "splits"],
    ),
    ("train-markup-yaml", ["train", "{r}/train_markup.yaml", *S], ["train_markup.yaml", "[/x"]),
    ("train-store-folder", ["train", "{r}/train.yaml", "--store", "{r}/folder"], ["folder"]),
    ("train-binary-config", ["train", "{r}/binary.bin", *S], ["binary.bin", "not a text file"]),
    # -- sweep ---------------------------------------------------------------------------------
    ("sweep-plan-missing", ["sweep", "plan", "{r}/nope.yaml"], ["nope.yaml"]),
    (
        "sweep-plan-negative-prior",
        ["sweep", "plan", "{r}/sweep_prior.yaml", "--out", "{r}/p.json"],
        ["prior", "'web'", "-0.5"],
    ),
    (
        "sweep-plan-device",
        ["sweep", "plan", "{r}/sweep_device.yaml", "--out", "{r}/p.json"],
        ["device", "banana"],
    ),
    (
        "sweep-plan-out-no-parent",
        ["sweep", "plan", "{r}/sweep.yaml", "--out", "{r}/no/such/p.json"],
        ["no/such"],
    ),
    (
        "sweep-plan-out-folder",
        ["sweep", "plan", "{r}/sweep.yaml", "--out", "{r}/folder"],
        ["folder", "is a folder"],
    ),
    ("sweep-run-folder", ["sweep", "run", "{r}/folder", *S], ["folder"]),
    ("sweep-run-truncated", ["sweep", "run", "{r}/truncated.json", *S], ["truncated.json"]),
    ("sweep-run-wrong-kind", ["sweep", "run", "{r}/law.json", *S], ["law.json", "plan"]),
    ("sweep-run-binary", ["sweep", "run", "{r}/binary.bin", *S], ["binary.bin"]),
    ("sweep-run-workers-0", ["sweep", "run", "{r}/p.json", "--workers", "0", *S], ["--workers"]),
    (
        "sweep-run-executor",
        ["sweep", "run", "{r}/p.json", "--executor", "slurm", *S],
        ["--executor", "slurm"],
    ),
    ("sweep-plan-binary", ["sweep", "plan", "{r}/binary.bin"], ["binary.bin", "YAML"]),
    # -- runs ----------------------------------------------------------------------------------
    (
        "runs-import-empty-log",
        ["runs", "import", "--mixinglaws-log", "{r}/empty.log", *S],
        ["empty.log"],
    ),
    (
        "runs-import-filtered-log",
        ["runs", "import", "--mixinglaws-log", "{r}/one.log", "--max-run-id", "1", *S],
        ["one.log", "--max-run-id"],
    ),
    (
        "runs-import-log-negative-tps",
        ["runs", "import", "--mixinglaws-log", "{r}/one.log", "--tokens-per-step", "-5", *S],
        ["--tokens-per-step"],
    ),
    (
        "runs-import-step-1e20",
        ["runs", "import", "--curves", "{r}/huge_step.csv", "--mixtures", "{r}/m1.csv", *S],
        ["huge_step.csv", "line 2", "'step'"],
    ),
    (
        "runs-import-mixtures-folder",
        ["runs", "import", "--mixtures", "{r}/folder", "--metrics", "{r}/y.csv", *S],
        ["folder"],
    ),
    (
        "runs-import-metrics-binary",
        ["runs", "import", "--mixtures", "{r}/m.csv", "--metrics", "{r}/binary.bin", *S],
        ["binary.bin"],
    ),
    ("runs-list-corrupt-page", ["runs", "list", "--store", "{r}/corrupt.db"], ["corrupt.db"]),
    ("runs-list-store-folder", ["runs", "list", "--store", "{r}/folder"], ["folder"]),
    ("runs-list-status", ["runs", "list", "--status", "[/x]", *S], ["--status", "[/x]"]),
    ("runs-show-unknown", ["runs", "show", "nope[/x]", *S], ["nope[/x]"]),
    ("runs-export-no-parent", ["runs", "export", "--out", "{r}/no/such/x.csv", *S], ["no/such"]),
    (
        "runs-export-folder",
        ["runs", "export", "--mixtures", "{r}/folder", "--metrics", "{r}/mm.csv", *S],
        ["folder"],
    ),
    (
        "runs-import-curves-folder",
        ["runs", "import", "--curves", "{r}/folder", "--mixtures", "{r}/m.csv", *S],
        ["folder", "is a folder"],
    ),
    # -- law -----------------------------------------------------------------------------------
    (
        "law-fit-folds-0",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--target",
            "loss",
            "--folds",
            "0",
            "--out",
            "{r}/l.json",
        ],
        ["--folds"],
    ),
    (
        "law-fit-folds-1",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--target",
            "loss",
            "--folds",
            "1",
            "--out",
            "{r}/l.json",
        ],
        ["--folds"],
    ),
    (
        "law-fit-store-and-csv",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--target",
            "loss",
            *S,
            "--out",
            "{r}/l.json",
        ],
        ["--store", "--mixtures"],
    ),
    (
        "law-fit-target-markup",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--target",
            "nope[/x]",
            "--out",
            "{r}/l.json",
        ],
        ["--target", "nope[/x]"],
    ),
    (
        "law-fit-out-no-parent",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--law",
            "linear",
            "--target",
            "loss",
            "--out",
            "{r}/no/such/l.json",
        ],
        ["no/such"],
    ),
    (
        "law-fit-out-folder",
        [
            "law",
            "fit",
            "--mixtures",
            "{r}/m.csv",
            "--metrics",
            "{r}/y.csv",
            "--law",
            "linear",
            "--target",
            "loss",
            "--out",
            "{r}/folder",
        ],
        ["folder"],
    ),
    (
        "law-predict-law-folder",
        ["law", "predict", "{r}/folder", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["folder"],
    ),
    (
        "law-predict-law-binary",
        ["law", "predict", "{r}/binary.bin", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["binary.bin"],
    ),
    (
        "law-predict-law-list",
        ["law", "predict", "{r}/list.json", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["list.json"],
    ),
    (
        "law-predict-law-object",
        ["law", "predict", "{r}/object.json", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["object.json"],
    ),
    (
        "law-predict-law-shape",
        ["law", "predict", "{r}/law_shape.json", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["law_shape.json"],
    ),
    (
        "law-predict-lgbm-truncated",
        [
            "law",
            "predict",
            "{r}/lgbm_truncated.json",
            "--mixtures",
            "{r}/m.csv",
            "--out",
            "{r}/p.csv",
        ],
        ["lgbm_truncated.json", "params.models[0]", "LightGBM"],
    ),
    (
        "law-predict-lgbm-edited",
        ["law", "predict", "{r}/lgbm_edited.json", "--mixtures", "{r}/m.csv", "--out", "{r}/p.csv"],
        ["lgbm_edited.json", "params.models[0]"],
    ),
    (
        "law-predict-out-no-parent",
        ["law", "predict", "{r}/law.json", "--mixtures", "{r}/m.csv", "--out", "{r}/no/such/p.csv"],
        ["no/such"],
    ),
    (
        "law-predict-out-folder",
        ["law", "predict", "{r}/law.json", "--mixtures", "{r}/m.csv", "--out", "{r}/folder"],
        ["folder"],
    ),
    (
        "law-optimize-target",
        ["law", "optimize", "{r}/law.json", "--target", "nope[web]", "--out", "{r}/o.json"],
        ["--target", "nope[web]"],
    ),
    (
        "law-optimize-format",
        ["law", "optimize", "{r}/law.json", "--format", "slurm", "--out", "{r}/o.json"],
        ["--format", "slurm"],
    ),
    (
        "law-optimize-out-no-parent",
        ["law", "optimize", "{r}/law.json", "--out", "{r}/no/such/o.json"],
        ["no/such"],
    ),
    (
        "law-optimize-prior-negative",
        ["law", "optimize", "{r}/law.json", "--prior", "{r}/neg_prior.json", "--out", "{r}/o.json"],
        ["neg_prior.json", "web"],
    ),
    (
        "law-critical-share-domain",
        [
            "law",
            "critical-share",
            "{r}/law.json",
            "--original",
            "nope",
            "--level",
            "3",
            "--bound",
            "0.1",
        ],
        ["nope"],
    ),
    (
        "law-optimize-bootstrap-negative",
        ["law", "optimize", "{r}/law.json", "--bootstrap", "-1", "--out", "{r}/o.json"],
        ["--bootstrap"],
    ),
    (
        "law-optimize-budget-without-tokens",
        ["law", "optimize", "{r}/law.json", "--token-budget", "1e9", "--out", "{r}/o.json"],
        ["--token-budget", "--available-tokens"],
    ),
    (
        "law-optimize-paths-list",
        [
            "law",
            "optimize",
            "{r}/law.json",
            "--paths",
            "{r}/list.json",
            "--format",
            "megatron",
            "--out",
            "{r}/o.txt",
        ],
        ["list.json", "domain -> data path"],
    ),
    # -- scaling -------------------------------------------------------------------------------
    (
        "scaling-fit-runs-folder",
        [
            "scaling",
            "fit",
            "--runs",
            "{r}/folder",
            "--form",
            "size",
            "--n-column",
            "n",
            "--loss-column",
            "loss",
            "--out",
            "{r}/f.json",
        ],
        ["folder", "--runs"],
    ),
    (
        "scaling-fit-runs-binary",
        [
            "scaling",
            "fit",
            "--runs",
            "{r}/binary.bin",
            "--form",
            "size",
            "--n-column",
            "n",
            "--loss-column",
            "loss",
            "--out",
            "{r}/f.json",
        ],
        ["binary.bin"],
    ),
    (
        "scaling-fit-out-folder",
        [
            "scaling",
            "fit",
            "--runs",
            "{r}/scale.csv",
            "--form",
            "size",
            "--n-column",
            "n",
            "--loss-column",
            "loss",
            "--bootstrap",
            "0",
            "--out",
            "{r}/folder",
        ],
        ["folder"],
    ),
    ("scaling-predict-folder", ["scaling", "predict", "{r}/folder", "--n", "1e8"], ["folder"]),
    (
        "scaling-predict-truncated",
        ["scaling", "predict", "{r}/truncated.json", "--n", "1e8"],
        ["truncated.json"],
    ),
    (
        "scaling-predict-wrong-kind",
        ["scaling", "predict", "{r}/law.json", "--n", "1e8"],
        ["law.json"],
    ),
    (
        "scaling-predict-binary",
        ["scaling", "predict", "{r}/binary.bin", "--n", "1e8"],
        ["binary.bin"],
    ),
    (
        "scaling-predict-n-negative",
        ["scaling", "predict", "{r}/scaling.json", "--n", "-1"],
        ["--n"],
    ),
    (
        "scaling-nested-store-missing",
        [
            "scaling",
            "nested",
            "--target-steps",
            "1000",
            "--target-size",
            "1e9",
            "--metric",
            "loss",
            "--out",
            "{r}/n.json",
            "--store",
            "{r}/none.db",
        ],
        ["none.db"],
    ),
    (
        "scaling-nested-target-steps",
        [
            "scaling",
            "nested",
            "--target-steps",
            "-1",
            "--target-size",
            "1e9",
            "--metric",
            "loss",
            "--out",
            "{r}/n.json",
            *S,
        ],
        ["--target-steps"],
    ),
    # -- phase ---------------------------------------------------------------------------------
    ("phase-plan-missing", ["phase", "plan", "{r}/nope.yaml", "--out", "{r}/ps"], ["nope.yaml"]),
    (
        "phase-plan-bad-field",
        ["phase", "plan", "{r}/phase_bad.yaml", "--out", "{r}/ps"],
        ["phase_bad.yaml", "ratios"],
    ),
    ("phase-run-no-plan", ["phase", "run", "{r}/folder", *S], ["folder"]),
    ("phase-run-wrong-kind", ["phase", "run", "{r}/list.json", *S], ["list.json"]),
    (
        "phase-fit-results-folder",
        ["phase", "fit", "--results", "{r}/folder", "--out", "{r}/ph.json"],
        ["folder"],
    ),
    (
        "phase-fit-results-binary",
        ["phase", "fit", "--results", "{r}/binary.bin", "--out", "{r}/ph.json"],
        ["binary.bin"],
    ),
    (
        "phase-fit-results-columns",
        ["phase", "fit", "--results", "{r}/results.csv", "--out", "{r}/ph.json"],
        ["results.csv", "accuracy"],
    ),
    (
        "phase-fit-threshold",
        ["phase", "fit", "--results", "{r}/results.csv", "--threshold", "2"],
        ["--threshold"],
    ),
    (
        "phase-fit-out-no-parent",
        ["phase", "fit", "--results", "{r}/results.csv", "--out", "{r}/no/such/ph.json"],
        ["no/such"],
    ),
    (
        "phase-predict-phase-folder",
        [
            "phase",
            "predict",
            "--web",
            "{r}/web.csv",
            "--people",
            "30",
            "--tokens-per-biography",
            "100",
            "--phase",
            "{r}/folder",
        ],
        ["folder", "--phase"],
    ),
    (
        "phase-predict-phase-truncated",
        [
            "phase",
            "predict",
            "--web",
            "{r}/web.csv",
            "--people",
            "30",
            "--tokens-per-biography",
            "100",
            "--phase",
            "{r}/truncated.json",
        ],
        ["truncated.json"],
    ),
    (
        "phase-predict-phase-wrong-kind",
        [
            "phase",
            "predict",
            "--web",
            "{r}/web.csv",
            "--people",
            "30",
            "--tokens-per-biography",
            "100",
            "--phase",
            "{r}/list.json",
        ],
        ["list.json"],
    ),
    # -- dynamics ------------------------------------------------------------------------------
    (
        "dynamics-study-missing",
        ["dynamics", "study", "{r}/nope.yaml", "--out", "{r}/ds", *S],
        ["nope.yaml"],
    ),
    (
        "dynamics-study-unprepared-domain",
        ["dynamics", "study", "{r}/dynamics.yaml", "--out", "{r}/ds", *S],
        ["nowhere", "choices"],
    ),
    ("dynamics-study-binary", ["dynamics", "study", "{r}/binary.bin", *S], ["binary.bin"]),
    ("dynamics-report-no-study", ["dynamics", "report", "{r}/folder", *S], ["folder"]),
    ("dynamics-report-missing-keys", ["dynamics", "report", "{r}/study", *S], ["study.json"]),
    (
        "dynamics-report-missing-run-keys",
        ["dynamics", "report", "{r}/study_nokeys", *S],
        ["study.json"],
    ),
    ("dynamics-report-wrong-kind", ["dynamics", "report", "{r}/list.json", *S], ["list.json"]),
    (
        "dynamics-report-n-bootstrap",
        ["dynamics", "report", "{r}/study", "--n-bootstrap", "-1", *S],
        ["--n-bootstrap"],
    ),
    # -- report --------------------------------------------------------------------------------
    (
        "report-artifacts-missing",
        ["report", *S, "--out", "{r}/rep.html", "--artifacts", "{r}/no-artifacts"],
        ["no-artifacts", "--artifacts"],
    ),
    (
        "report-artifacts-recommendation-list",
        ["report", *S, "--out", "{r}/rep.html", "--artifacts", "{r}/art_list"],
        ["recommendation.json"],
    ),
    (
        "report-artifacts-law-string",
        ["report", *S, "--out", "{r}/rep.html", "--artifacts", "{r}/art_laws"],
        ["x.json"],
    ),
    (
        "report-artifacts-verification",
        ["report", *S, "--out", "{r}/rep.html", "--artifacts", "{r}/art_ver"],
        ["verification.json"],
    ),
    ("report-out-folder", ["report", *S, "--out", "{r}/folder"], ["folder"]),
    (
        "report-decision-missing",
        ["report", "--decision", "{r}/no-decision.json", "--out", "{r}/rep.html"],
        ["no-decision.json", "--decision"],
    ),
    (
        "report-decision-not-an-object",
        ["report", "--decision", "{r}/list.json", "--out", "{r}/rep.html"],
        ["list.json"],
    ),
    (
        "report-law-missing",
        ["report", *S, "--out", "{r}/rep.html", "--law", "{r}/no-law.json"],
        ["no-law.json", "--law"],
    ),
    (
        "report-store-missing",
        ["report", "--store", "{r}/none.db", "--out", "{r}/rep.html"],
        ["none.db"],
    ),
    (
        "report-corrupt-store",
        ["report", "--store", "{r}/corrupt.db", "--out", "{r}/rep.html"],
        ["corrupt.db"],
    ),
    # -- export and law schedule (issue 19) ----------------------------------------------------
    ("export-no-run", ["export", "ghost", *S, "--out", "{r}/e.json"], ["no run 'ghost'"]),
    (
        "export-format",
        ["export", "ghost", *S, "--format", "slurm", "--out", "{r}/e.json"],
        ["--format", "slurm"],
    ),
    ("export-use", ["export", "ghost", *S, "--use", "best", "--out", "{r}/e.json"], ["--use"]),
    (
        "export-json-without-mixture",
        ["export", "{r}/neg_prior.json", "--out", "{r}/e.json"],
        ["holds no mixture"],
    ),
    (
        "law-schedule-one-phase",
        ["law", "schedule", *S, "--phases", "1", "--out", "{r}/o.json"],
        ["--phases"],
    ),
    (
        "law-schedule-no-runs",
        ["law", "schedule", *S, "--tag", "nope", "--out", "{r}/o.json"],
        ["--tag nope", "at least 4"],
    ),
    (
        "law-schedule-fractions",
        ["law", "schedule", *S, "--fractions", "half,half", "--out", "{r}/o.json"],
        ["--fractions"],
    ),
    # -- demo ----------------------------------------------------------------------------------
    ("demo-workers-0", ["demo", "--workers", "0", "--out", "{r}/demo-out"], ["--workers"]),
    ("demo-out-file", ["demo", "--out", "{r}/demo_file"], ["demo_file"]),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_and_names_the_place(world, cli, argv, words):
    r = str(world)
    code, out, err = cli(*(a.replace("{r}", r) for a in argv))
    assert "Traceback" not in out + err
    assert code == 2, err
    for w in words:
        assert w.replace("{r}", r) in err, (w, err)
    assert "np.float64" not in err


def test_table_covers_every_command_group():
    groups = {c[1][0] for c in CASES}
    assert groups >= {
        "data",
        "train",
        "sweep",
        "runs",
        "law",
        "scaling",
        "phase",
        "dynamics",
        "report",
        "demo",
    }
    assert len(CASES) >= 60
