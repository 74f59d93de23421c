"""Write a decision.json (docs/decision-format.md) for a finished `mixlab demo` folder, so the
decision report can be rendered (and screenshot) from the demo's outputs.

    python bench/report_demo_decision.py /tmp/rq     # -> /tmp/rq/decision.json

The demo verifies one seed, so the seed noise is not known (null).  Per-domain predictions
come from a quick auto law (linear, exp[linear]) on the sweep's per-domain losses.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import mixlab
from mixlab.data.manifest import TOKENIZER_NAME, digest, read_manifest
from mixlab.data.prepared import load_prepared
from mixlab.io.files import read_json, write_json
from mixlab.laws.mixing.conformal import prediction_halfwidth
from mixlab.report.law_tables import selection_rows
from mixlab.runs import RunStore
from mixlab.studies.mixing_fit import fit_law


def main(folder: Path) -> Path:
    rec = read_json(folder / "recommendation.json", expect=dict)
    ver = read_json(folder / "verification.json", expect=list)
    law = read_json(folder / "laws" / "auto.json", expect=dict)
    demo = read_json(folder / "demo.json", expect=dict)
    shards = folder / "corpora" / "shards"
    sel = law["params"]["selection"][0]
    table = [
        {
            "candidate": r["candidate"],
            "cv_mae": r["cv_mae"],
            "cv_median_ae": None,
            "spearman": r["cv_spearman"],
            "coverage": None,
            "problems": [r["problems"]] if r["problems"] else [],
            "chosen": r["chosen"],
        }
        for r in selection_rows(sel["candidates"])
    ]
    verified = {v["run_id"] for v in ver}
    with RunStore(folder / "runs.db", create=False) as store:
        sweep = [i for i in store.ids(tag="demo") if i not in verified]
        R, Y = store.mixtures(sweep), store.metrics(sweep)
        n_params = store.get(sweep[0]).n_params
    domains = list(R.columns)
    per_law, _ = fit_law(
        "auto",
        R,
        Y,
        [f"val_loss/{d}" for d in domains],
        None,
        params={"candidates": ["linear", "exp[linear]"]},
    )
    pts = [
        [rec["reference"].get(d, 0.0) for d in domains],
        [rec["mixture"].get(d, 0.0) for d in domains],
    ]
    P = per_law.predict(pts)
    per_domain = []
    for j, m in enumerate(per_law.target_names_):
        q = prediction_halfwidth(per_law, m, rec["level"])
        per_domain.append(
            {
                "domain": m.split("/", 1)[1],
                "reference": float(P[0, j]),
                "recommended": float(P[1, j]),
                "interval": [float(P[1, j] - q), float(P[1, j] + q)],
            }
        )
    available = load_prepared(shards).token_counts()
    tokens = 200_000 if "quick" in str(folder) or len(sweep) <= 13 else 800_000
    manifest = read_manifest(shards)
    observed = {v["name"]: v["observed"] for v in ver}
    gain = observed["natural"] - observed["recommended"]
    gi = rec.get("gain_interval")
    doc = {
        "format": "mixlab.decision/1",
        "project": "demo --quick",
        "commands": [
            f"mixlab demo --quick --out {folder}",
            f"python bench/report_demo_decision.py {folder}",
        ],
        "store": "runs.db",
        "target": {
            "name": rec["target"],
            "description": "mean of the four domains' validation losses (the current demo's target)",
            "weights": {f"val_loss/{d}": 1 / len(domains) for d in domains},
        },
        "level": rec["level"],
        "reference": {
            "name": "natural",
            "mixture": rec["reference"],
            "predicted": rec["reference_predicted"],
            "interval": None,
        },
        "recommended": {
            "mixture": rec["mixture"],
            "predicted": rec["predicted"],
            "interval": rec["interval"],
        },
        "predicted_gain": rec["gain"],
        "gain_interval": gi,
        "verification": {
            "runs": [
                {
                    "name": "reference" if v["name"] == "natural" else v["name"],
                    "seed": 0,
                    "run_id": v["run_id"],
                    "observed": v["observed"],
                }
                for v in ver
            ],
            "observed_gain": gain,
            "seed_noise": None,
            "inside_interval": None if not gi else bool(gi[0] <= gain <= gi[1]),
        },
        "law": {
            "file": "laws/auto.json",
            "chosen": sel["chosen"],
            "why": sel["rule"],
            "table": table,
            "baseline_mae": demo["cv_mae"]["predict-the-mean"],
            "cv_predictions": "cv_predictions.csv",
        },
        "constraints": {
            "binding": [{"domain": b, "kind": "cap", "bound": None} for b in rec["binding"]]
        },
        "per_domain": per_domain,
        "repetitions": [
            {
                "domain": d,
                "share": w,
                "tokens_needed": int(w * tokens),
                "tokens_available": int(available[d]),
                "epochs": w * tokens / available[d],
                "max_epochs": 6.0,
            }
            for d, w in rec["mixture"].items()
        ],
        "rounds": [{"round": 1, "kind": "design", "run_ids": sweep}],
        "exports": {
            "json": "mixture/recommended.json",
            "megatron": "mixture/recommended.megatron.txt",
            "olmo": "mixture/recommended.olmo.yaml",
            "hf": "mixture/recommended.hf.json",
        },
        "provenance": {
            "data": {name: digest(entry) for name, entry in manifest["domains"].items()},
            "tokenizer": digest((shards / TOKENIZER_NAME).read_text()),
            "model_sizes": {"25k": n_params},
            "mixlab_version": mixlab.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }
    return write_json(doc, folder / "decision.json")


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
