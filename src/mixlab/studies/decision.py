"""decision.json (docs/decision-format.md): what the loop recommends, and the evidence for it.

`verification_summary` turns the verification runs into the observed gain and its seed noise;
`decision_document` assembles the whole document from a finished `Loop`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from mixlab import __version__
from mixlab.laws.core.noise import paired_gain
from mixlab.train.config import TrainConfig

FORMAT = "mixlab.decision/1"


def verification_summary(
    runs: list[tuple[str, int, TrainConfig]], observed: pd.Series, rec: dict[str, Any]
) -> dict[str, Any]:
    """Observed gain (mean reference minus mean recommended), its seed noise, and whether it
    lies in the predicted interval.

    The two mixtures are trained with the same seeds (same initial weights), so the noise of
    the gain is the standard error of the per-seed differences (a paired design); the
    unpaired (Welch) standard error is kept beside it."""
    rows = []
    for name, seed, r in runs:
        rows.append({"name": name, "seed": seed, "run_id": r.id, "observed": float(observed[r.id])})
    by_name: dict[str, dict[int, float]] = {"reference": {}, "recommended": {}}
    for x in rows:
        by_name[x["name"]][x["seed"]] = x["observed"]
    paired = paired_gain(by_name["reference"], by_name["recommended"])
    gain, noise, unpaired = paired["gain"], paired["seed_noise"], paired["seed_noise_unpaired"]
    new = np.array(list(by_name["recommended"].values()))
    ref = np.array(list(by_name["reference"].values()))
    gi = rec.get("gain_interval")
    pi = rec["recommended"].get("interval")
    return {
        "runs": rows,
        "observed_gain": gain,
        "seed_noise": noise,
        "seed_noise_unpaired": unpaired,
        "per_seed_gain": {str(k): v for k, v in paired["per_seed"].items()},
        "inside_interval": None if not gi else bool(gi[0] <= gain <= gi[1]),
        "recommended_observed": float(new.mean()),
        "reference_observed": float(ref.mean()),
        "recommended_inside_interval": None if not pi else bool(pi[0] <= new.mean() <= pi[1]),
        "gain_over_noise": gain / noise if noise > 0 else None,
    }


def _sha256(path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def provenance(loop) -> dict[str, Any]:
    """Data and tokenizer hashes, model sizes, version, time."""
    from mixlab.data.manifest import TOKENIZER_NAME, digest, read_manifest
    from mixlab.data.prepared import load_prepared

    shards = loop.project.shards
    manifest = read_manifest(shards)
    data = {name: digest(entry) for name, entry in manifest["domains"].items()}
    vocab = load_prepared(shards).tokenizer.vocab_size
    sizes = {}
    for preset in loop.c.proxy.models:
        from mixlab.train.config import ModelSpec

        cfg = ModelSpec(preset=preset).build(vocab, loop.c.proxy.seq_len)
        sizes[preset] = int(cfg.n_params())
    return {
        "data": data,
        "tokenizer": _sha256(shards / TOKENIZER_NAME),
        "vocab_size": int(vocab),
        "model_sizes": sizes,
        "proxy_tokens": loop.c.proxy.tokens,
        "production": None if loop.c.production is None else loop.c.production.model_dump(),
        "mixlab_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def decision_document(
    loop, rec: dict[str, Any], verification: dict[str, Any], rounds, exports: dict[str, str]
) -> dict[str, Any]:
    """The decision.json mapping of a finished loop."""
    c = loop.c
    avail = loop.available
    mixture = rec["recommended"]["mixture"]
    repetitions = []
    for d in loop.domains:
        share = float(mixture.get(d, 0.0))
        need = share * c.proxy.tokens
        repetitions.append(
            {
                "domain": d,
                "share": share,
                "natural": float(loop.natural[d]),
                "tokens_needed": int(round(need)),
                "tokens_available": int(avail[d]),
                "epochs": need / avail[d] if avail[d] else None,
                "max_epochs": c.constraints.max_epochs,
            }
        )
    law = dict(rec["law"])
    return {
        "format": FORMAT,
        "project": c.name,
        "commands": list(loop.commands),
        "store": "runs.db",
        "target": {
            "name": c.target.name,
            "description": c.target.description,
            "weights": dict(loop.target),
        },
        "level": c.level,
        "reference": {
            "name": "natural" if c.verify.reference == "natural" else "reference",
            **rec["reference"],
        },
        "recommended": rec["recommended"],
        "predicted_gain": rec["predicted_gain"],
        "gain_interval": rec["gain_interval"],
        "interval_kind": rec.get("interval_kind"),
        "verification": verification,
        "law": {
            "file": "laws/auto.json",
            "chosen": law["chosen"],
            "why": law["why"],
            "table": law["table"],
            "cv_mae": law["cv_mae"],
            "baseline_mae": law["baseline_mae"],
            "cv_predictions": "cv_predictions.csv",
        },
        "constraints": {
            "binding": rec["binding"],
            "floor": c.constraints.floor,
            "cap": c.constraints.cap,
            "max_epochs": c.constraints.max_epochs,
            "extrapolated": rec.get("extrapolated", []),
        },
        "per_domain": rec["per_domain"],
        "repetitions": repetitions,
        "rounds": [
            {"round": i + 1, "kind": kind, "run_ids": [r.id for r in runs]}
            for i, (kind, runs) in enumerate(rounds)
        ],
        "exports": exports,
        "provenance": provenance(loop),
    }
