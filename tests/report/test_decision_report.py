"""The decision report leads with the decision, loads nothing from outside, keeps every table
and preformatted block inside a width-limited wrapper, names runs readably, never prints a
serialised LightGBM model; the store report names the law behind a user's optimisation."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from mixlab.cli import main
from mixlab.io.laws import save_law
from mixlab.laws import make_law
from mixlab.report import figures
from mixlab.runs import Evaluation, RunRecord, RunStore

DOMAINS = ["web", "code", "math"]
BEST = np.array([0.2, 0.5, 0.3])


def _loss(w: np.ndarray, d: int) -> float:
    """Each domain's loss falls with its own share; the target is their mean."""
    return 2.0 + 1.5 * np.exp(-3 * w[d]) + 0.3 * np.sum((w - BEST) ** 2)


def _record(run_id: str, w: np.ndarray, seed: int = 0, noise: float = 0.0) -> RunRecord:
    evals = [
        Evaluation(
            step=s,
            tokens=s * 1000.0,
            metric=f"val_loss/{d}",
            value=_loss(w, j) * (1 + 2 / (1 + s)) + noise,
        )
        for s in (0, 10, 20, 40)
        for j, d in enumerate(DOMAINS)
    ]
    return RunRecord(
        id=run_id, mixture=dict(zip(DOMAINS, w, strict=True)), evaluations=evals, seed=seed
    )


@pytest.fixture
def project(tmp_path):
    """A finished loop's folder: store (2 rounds + verification), an lgbm law, CV predictions,
    decision.json."""
    rng = np.random.default_rng(0)
    natural = np.array([0.5, 0.3, 0.2])
    rounds = {1: [natural, *rng.dirichlet([2, 2, 2], size=9)], 2: list(rng.dirichlet([5, 9, 6], 4))}
    ids = {1: [], 2: []}
    with RunStore(tmp_path / "runs.db") as store:
        for r, mixes in rounds.items():
            for i, w in enumerate(mixes):
                rid = f"run-{r}{i:02d}a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"  # long, hash-like
                store.put(_record(rid, w))
                ids[r].append(rid)
        ver = []
        for seed in (0, 1):
            for name, w in (("recommended", BEST), ("reference", natural)):
                rid = f"verify-{name}-{seed}"
                store.put(_record(rid, w, seed, noise=0.002 * seed))
                ver.append({"name": name, "seed": seed, "run_id": rid})
        R = store.mixtures(ids[1] + ids[2])
        Y = store.metrics(ids[1] + ids[2])
        obs = store.metrics([v["run_id"] for v in ver]).mean(axis=1)
    for v in ver:
        v["observed"] = float(obs[v["run_id"]])
    target = Y.mean(axis=1)
    law = make_law("lgbm").fit(
        R.to_numpy(), target.to_numpy()[:, None], domain_names=DOMAINS, target_names=["target"]
    )
    (tmp_path / "laws").mkdir()
    save_law(law, tmp_path / "laws" / "lgbm.json")
    pd.DataFrame(
        {
            "law": "auto",
            "run_id": R.index,
            "target": "target",
            "observed": target.to_numpy(),
            "predicted": target.to_numpy() + rng.normal(0, 0.01, len(R)),
        }
    ).to_csv(tmp_path / "cv_predictions.csv", index=False)
    ref_obs = np.mean([v["observed"] for v in ver if v["name"] == "reference"])
    rec_obs = np.mean([v["observed"] for v in ver if v["name"] == "recommended"])
    decision = {
        "format": "mixlab.decision/1",
        "project": "toy",
        "commands": ["mixlab run project.yaml"],
        "store": "runs.db",
        "target": {
            "name": "target",
            "description": "mean validation loss",
            "weights": {f"val_loss/{d}": 1 / 3 for d in DOMAINS},
        },
        "level": 0.9,
        "reference": {
            "name": "natural",
            "mixture": dict(zip(DOMAINS, natural, strict=True)),
            "predicted": 4.1,
            "interval": [4.0, 4.2],
        },
        "recommended": {
            "mixture": dict(zip(DOMAINS, BEST, strict=True)),
            "predicted": 3.9,
            "interval": [3.8, 4.0],
        },
        "predicted_gain": 0.2,
        "gain_interval": [0.1, 0.3],
        "verification": {
            "runs": ver,
            "observed_gain": float(ref_obs - rec_obs),
            "seed_noise": 0.001,
            "inside_interval": True,
        },
        "law": {
            "file": "laws/lgbm.json",
            "chosen": "lgbm",
            "why": "highest out-of-fold Spearman",
            "table": [
                {
                    "candidate": "linear",
                    "cv_mae": 0.05,
                    "cv_median_ae": 0.04,
                    "coverage": 0.8,
                    "chosen": False,
                },
                {
                    "candidate": "lgbm",
                    "cv_mae": 0.03,
                    "cv_median_ae": 0.02,
                    "coverage": 0.9,
                    "chosen": True,
                },
            ],
            "baseline_mae": 0.12,
            "cv_predictions": "cv_predictions.csv",
        },
        "constraints": {"binding": [{"domain": "code", "kind": "cap", "bound": 0.5}]},
        "per_domain": [
            {
                "domain": d,
                "reference": 4.0,
                "recommended": 4.0 + 0.1 * (j - 1),
                "interval": [3.9, 4.3],
            }
            for j, d in enumerate(DOMAINS)
        ],
        "repetitions": [
            {
                "domain": d,
                "share": float(w),
                "tokens_needed": int(w * 1e6),
                "tokens_available": 400_000,
                "epochs": w * 2.5,
                "max_epochs": 4.0,
            }
            for d, w in zip(DOMAINS, BEST, strict=True)
        ],
        "rounds": [
            {"round": 1, "kind": "design", "run_ids": ids[1]},
            {"round": 2, "kind": "acquisition", "run_ids": ids[2]},
        ],
        "exports": {"json": "mixture/recommended.json"},
        "provenance": {
            "data": {d: "ab" * 32 for d in DOMAINS},
            "tokenizer": "cd" * 32,
            "model_sizes": {"25k": 25_000},
            "mixlab_version": "0.1.0",
            "created": "2026-11-29T20:00:00+00:00",
        },
    }
    (tmp_path / "decision.json").write_text(json.dumps(decision))
    return tmp_path


class _Tree(HTMLParser):
    """Records, for every <table> and <pre>, whether a scrolling `div.wide` encloses it."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.unwrapped: list[str] = []
        self.count = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        if tag in ("table", "pre"):
            self.count += 1
            if not any(t == "div" and "wide" in cls.split() for t, cls in self.stack):
                self.unwrapped.append(tag)
        self.stack.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def assert_page_fits_and_is_offline(page: str) -> None:
    tree = _Tree()
    tree.feed(page)
    assert tree.count > 0 and not tree.unwrapped, tree.unwrapped
    assert ".wide { max-width: 100%; overflow-x: auto" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?https?:", page, re.I)
    assert "<script" not in page and "<link" not in page


def _lgbm_text(path) -> str:
    return json.loads(path.read_text())["params"]["models"][0]


def test_decision_report_leads_with_the_decision(project, capsys, monkeypatch):
    legends: list[list[str]] = []
    xmin: list[float] = []
    png = figures._png

    def spy(fig):
        for ax in fig.axes:
            if ax.get_xscale() == "log":  # the loss curves
                if ax.get_legend():
                    legends.append([t.get_text() for t in ax.get_legend().get_texts()])
                xmin.extend(float(np.min(line.get_xdata())) for line in ax.get_lines())
        return png(fig)

    monkeypatch.setattr(figures, "_png", spy)
    out = project / "report.html"
    code = main(["report", "--decision", str(project / "decision.json"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    page = out.read_text()

    first = re.search(r"<section id='([^']+)'><h2>([^<]+)</h2>", page)
    assert first and first.group(1) == "decision" and first.group(2) == "Decision"
    decision = page[first.start() : page.index("</section>", first.start())]
    assert "+0.2000" in decision and "[0.1, 0.3]" in decision  # predicted gain, interval
    assert "seed noise" in decision and "confirmed" in decision
    assert page.index("Which law, and why") < page.index("Evidence")
    for heading in ("Binding constraints", "what gets worse", "Repetitions", "Provenance"):
        assert page.index(heading) < page.index("Evidence"), heading
    assert "predict-the-mean baseline" in page and "Predicted to get worse: <b>math</b>" in page

    assert_page_fits_and_is_offline(page)
    model = _lgbm_text(project / "laws" / "lgbm.json")
    assert model[:200] not in page and "version=v" not in page and "tree_sizes" not in page

    # readable run names on the loss curves, and step 0 (0 tokens) off the log axis
    assert legends and all(
        set(lg) == {"round 1", "round 2", "natural", "recommended"} for lg in legends
    )
    assert min(xmin) > 0
    assert "step 0" in page


def test_decision_report_bad_input_names_the_field(project, capsys):
    doc = json.loads((project / "decision.json").read_text())
    del doc["recommended"]["mixture"]
    (project / "bad.json").write_text(json.dumps(doc))
    code = main(
        ["report", "--decision", str(project / "bad.json"), "--out", str(project / "r.html")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "recommended.mixture" in err and "Traceback" not in err


def test_store_report_takes_explicit_files_and_names_the_law(project, capsys):
    """A user's own optimisation (`mixlab law optimize`) shows its law, never `Law None`,
    and the store report prints no serialised LightGBM model."""
    law = project / "laws" / "lgbm.json"
    (project / "prior.json").write_text(json.dumps({"web": 0.5, "code": 0.3, "math": 0.2}))
    opt = project / "opt.json"
    code = main(
        [
            "law",
            "optimize",
            str(law),
            "--out",
            str(opt),
            "--prior",
            str(project / "prior.json"),
            "--bootstrap",
            "0",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads(opt.read_text())["law"] == "lgbm"
    out = project / "store.html"
    args = ["report", "--store", str(project / "runs.db"), "--out", str(out), "--law", str(law)]
    assert main([*args, "--optimisation", str(opt)]) == 0, capsys.readouterr().err
    page = out.read_text()
    assert "Law <b>None</b>" not in page and "Law <b>lgbm</b>" in page
    assert _lgbm_text(law)[:200] not in page and "version=v" not in page
    assert_page_fits_and_is_offline(page)

    # an optimisation written before `law` was recorded: named from the --law file
    doc = json.loads(opt.read_text())
    del doc["law"]
    opt.write_text(json.dumps(doc))
    assert main([*args, "--optimisation", str(opt)]) == 0, capsys.readouterr().err
    page = out.read_text()
    assert "Law <b>None</b>" not in page and "Law <b>lgbm (lgbm)</b>" in page


def test_auto_law_tables_show_members_without_dumps(project):
    from mixlab.report.law_tables import law_html

    lgbm = json.loads((project / "laws" / "lgbm.json").read_text())
    auto = {
        "kind": "auto",
        "params": {
            "member_names": ["lgbm"],
            "members": [lgbm],
            "selection": [
                {
                    "target": "target",
                    "chosen": "lgbm",
                    "rule": "guardrails, then OOF Spearman",
                    "scheme": "5-fold",
                    "candidates": [
                        {
                            "name": "lgbm",
                            "spearman": 0.9,
                            "mae": 0.03,
                            "problems": [],
                            "chosen": True,
                        },
                        {
                            "name": "mean",
                            "spearman": -0.1,
                            "mae": 0.12,
                            "problems": [],
                            "chosen": False,
                        },
                    ],
                }
            ],
        },
    }
    text = law_html(auto, "auto")
    assert "predict-the-mean baseline" in text and "trees" in text
    assert lgbm["params"]["models"][0][:100] not in text
    linear = make_law("linear").fit(
        np.random.default_rng(1).dirichlet([1, 1, 1], 8),
        np.arange(16.0).reshape(8, 2),
        domain_names=DOMAINS,
        target_names=["a", "b"],
    )
    text = law_html(linear.to_dict(), "linear")
    assert "<th>web</th>" in text and "<td>a</td>" in text  # coefficients by domain and target


def test_report_finds_the_decision_from_the_project(project, capsys):
    """`--project` reads the project's `output` folder (needs `mixlab run`'s project module)."""
    pytest.importorskip("mixlab.studies.project")
    (project / "project.yaml").write_text(
        "name: toy\noutput: .\n"
        "data:\n  domains:\n    web: [web.jsonl]\n    code: [code.jsonl]\n    math: [math.jsonl]\n"
        "target:\n  weights:\n    val_loss/web: 1.0\n"
    )
    out = project / "from-project.html"
    code = main(["report", "--project", str(project / "project.yaml"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "<section id='decision'>" in out.read_text()
