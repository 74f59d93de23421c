"""The knowledge phase-transition study of Gu et al. (2025): facts mixed into web text at ratio r.

`plan_phase_study` writes the synthetic biographies (and, for the remedies, a subsampled set,
compact fact tuples or popularity groups), the web domain, the token shards, the fact probes
and one run per ratio x model x budget x seed (plus web-only runs for the capacity theory),
all into one folder with a `study.json` that `phase predict` reads back. `phase_table` turns
the store's finished runs into the (model_size, ratio, accuracy) table `phase fit` analyses.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixlab.data.biographies import (
    ATTRIBUTES,
    biography_documents,
    biography_probes,
    compact_probes,
    fact_tuples,
    make_people,
    make_world,
    popularity_exposures,
    render_biography,
    render_compact,
    subsample_people,
)
from mixlab.data.config import write_prepare_config
from mixlab.data.demo_corpora import write_demo_corpora
from mixlab.data.probes import Probe, write_probes
from mixlab.errors import InputError
from mixlab.io.files import read_json
from mixlab.studies.common import write_text_jsonl
from mixlab.studies.phase_config import (  # noqa: F401 - load_phase_config re-exported
    PhaseConfig,
    load_phase_config,
    model_label,
)
from mixlab.sweep.plan import expand_run
from mixlab.train.config import ModelSpec, TrainConfig

KNOWLEDGE = "biographies"
TUPLES = "fact_tuples"
PROBE_NAME = "facts"
STUDY_FILE = "study.json"
# Renderings are written assuming 2.5 bytes a token. A BPE trained on the study's own data
# packs these biographies tighter (about 5 bytes a token with 60 people and 2048 entries),
# so at the largest ratios the sampler reads some renderings twice (1.7 epochs at r = 0.45
# in examples/phase/cpu.yaml); the max_epochs default leaves room for that.
BYTES_PER_TOKEN_LOW = 2.5


def fact_bits() -> dict[str, float]:
    """Information in each attribute's value: log2 of how many values it is drawn from."""
    world = make_world()
    return {a: math.log2(len(world.values[a])) for a in ATTRIBUTES}


def _renderings(cfg: PhaseConfig, people, weights: np.ndarray) -> np.ndarray:
    """Renderings per person, enough for the largest ratio x budget at 2.5 bytes a token."""
    render = render_compact if cfg.rendering == "compact" else render_biography
    sample = [render(p, 0, cfg.seed) for p in people[:50]]
    bytes_per = float(np.mean([len(t.encode()) + 1 for t in sample]))
    needed_tokens = 1.1 * max(cfg.ratios) * max(cfg.tokens)
    needed = needed_tokens * BYTES_PER_TOKEN_LOW / bytes_per  # renderings in all
    scale = needed / weights.sum()
    return np.maximum(1, np.ceil(weights * scale)).astype(np.int64)


def write_phase_data(cfg: PhaseConfig, base_dir: Path, out: Path) -> dict[str, Any]:
    """Corpora, prepare config and probes of the study; returns what study.json records."""
    corpora = out / "corpora"
    corpora.mkdir(parents=True, exist_ok=True)
    people, group, weights = _people(cfg)
    renderings = _renderings(cfg, people, weights)
    write_text_jsonl(
        corpora / f"{KNOWLEDGE}.jsonl",
        biography_documents(people, renderings, cfg.seed, compact=cfg.rendering == "compact"),
    )
    domains: dict[str, list[dict[str, Any]]] = {KNOWLEDGE: [{"path": f"{KNOWLEDGE}.jsonl"}]}
    if cfg.tuples > 0:
        repeats = max(1, int(renderings.mean()))
        rng = np.random.default_rng([cfg.seed, 7])
        docs = list(fact_tuples(people)) * repeats
        write_text_jsonl(corpora / f"{TUPLES}.jsonl", (docs[i] for i in rng.permutation(len(docs))))
        domains[TUPLES] = [{"path": f"{TUPLES}.jsonl"}]

    web_domains, fewest = _web_domains(cfg, base_dir, corpora)
    domains.update(web_domains)
    web = list(web_domains)
    write_prepare_config(
        corpora / "prepare.yaml",
        output="../shards",
        seed=cfg.seed,
        tokenizer=cfg.tokenizer.model_dump(mode="json", exclude_none=True),
        # enough held-out documents of the smallest domain to fill a validation batch
        validation_fraction=min(0.2, max(0.02, 4 / max(1, fewest))),
        domains=domains,
    )

    probes = _write_probes(cfg, people, group, out)
    bits = fact_bits()
    groups = [
        {
            "group": g,
            "people": int((group == g).sum()),
            "renderings_per_person": float(renderings[group == g].mean()),
        }
        for g in np.unique(group).tolist()
    ]
    return {
        "people": len(people),
        "people_generated": cfg.people,
        "attributes": list(ATTRIBUTES),
        "bits_per_fact": bits,
        "renderings": int(renderings.sum()),
        "groups": groups,
        "web_domains": web,
        "probes": len(probes),
    }


def _people(cfg: PhaseConfig) -> tuple[list, np.ndarray, np.ndarray]:
    """The study's people, each one's popularity group and relative exposure weight."""
    people = make_people(cfg.people, cfg.seed)
    if cfg.subsample < 1:
        people = subsample_people(people, cfg.subsample, cfg.seed)
    if cfg.popularity:
        group, weight = popularity_exposures(
            len(people), cfg.popularity.groups, 1_000_000, cfg.popularity.alpha, cfg.seed
        )
        return people, group, weight.astype(float) / weight.max()
    return people, np.zeros(len(people), dtype=np.int64), np.ones(len(people))


def _web_domains(
    cfg: PhaseConfig, base_dir: Path, corpora: Path
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """The web domains' sources for prepare.yaml (the config's, or written demo corpora), and
    the fewest documents of any one (to size the validation split)."""
    domains: dict[str, list[dict[str, Any]]] = {}
    if cfg.web.sources:
        for name, sources in cfg.web.sources.items():
            if name in (KNOWLEDGE, TUPLES):
                raise InputError(f"web.sources: domain name {name!r} is reserved for the facts")
            domains[name] = [
                {**s.model_dump(mode="json"), "path": str((base_dir / s.path).resolve())}
                for s in sources
            ]
        return domains, 100
    demo = write_demo_corpora(
        corpora / "web", max_bytes_per_domain=cfg.web.demo_bytes, seed=cfg.seed, n_people=10
    )
    for name in ("code", "prose"):
        domains[name] = [{"path": str(demo.domains[name].relative_to(corpora))}]
    return domains, min(demo.documents[name] for name in domains)


def _write_probes(cfg: PhaseConfig, people: list, group: np.ndarray, out: Path) -> list[Probe]:
    """The fact probes (of the first `probe_people`), each tagged with its popularity group."""
    probed = people[: cfg.probe_people] if cfg.probe_people else people
    group_of = {p.index: int(g) for p, g in zip(people, group, strict=True)}
    probes = compact_probes(probed) if cfg.rendering == "compact" else biography_probes(probed)
    if cfg.popularity:
        probes = [
            Probe(
                p.prompt,
                p.answer,
                p.target,
                p.kind,
                p.answer_marker,
                {**p.meta, "group": group_of[p.meta["person"]]},
            )
            for p in probes
        ]
    (out / "probes").mkdir(exist_ok=True)
    write_probes(out / "probes" / f"{PROBE_NAME}.jsonl", probes)
    return probes


def phase_runs(
    cfg: PhaseConfig, out: Path, web_shares: dict[str, float], origin: str = "phase config"
) -> list[TrainConfig]:
    """One run per ratio x model x budget x seed, then the web-only runs."""
    base = {
        "seq_len": 128,
        "batch_size": 16,
        "max_epochs": 8.0,
        **cfg.train,
        "data": str(out / "shards"),
    }
    evaluation = dict(base.get("eval", {}))
    evaluation["probes"] = {
        **evaluation.get("probes", {}),
        PROBE_NAME: str(out / "probes" / f"{PROBE_NAME}.jsonl"),
    }
    evaluation.setdefault("max_probes", 1_000_000)  # every fact of every person probed
    base["eval"] = evaluation

    def mixture(ratio: float) -> dict[str, float]:
        rest = 1.0 - ratio - (cfg.tuples if ratio > 0 else 0.0)
        mix = {d: rest * w for d, w in web_shares.items()}
        if ratio > 0:
            mix[KNOWLEDGE] = ratio
            if cfg.tuples > 0:
                mix[TUPLES] = cfg.tuples
        return mix

    def per_size(model: str | ModelSpec) -> dict[str, Any]:
        """The optimizer and schedule fields the lr rule sets for one model."""
        if cfg.lr is None:
            return {}
        return {
            "optimizer": {**base.get("optimizer", {}), "lr": cfg.lr.lr(model)},
            "lr_schedule": {**base.get("lr_schedule", {}), "warmup": cfg.lr.warmup},
        }

    def run(ratio: float, model: str | ModelSpec, tokens: int, seed: int, tag: str) -> TrainConfig:
        name = model_label(model)
        return expand_run(
            base,
            mixture(ratio),
            model,
            tokens,
            seed,
            [*cfg.tags, tag],
            f"{origin}: run (ratio {ratio:g}, model {name}, seed {seed})",
            out,
            **per_size(model),
        )

    runs = [
        run(r, m, t, s, "phase-mix")
        for r, m, t, s in itertools.product(cfg.ratios, cfg.models, cfg.tokens, cfg.seeds)
    ]
    web_tokens = cfg.web_only_tokens or max(cfg.tokens)
    runs += [run(0.0, m, web_tokens, s, "phase-web") for m in cfg.web_only for s in cfg.seeds]
    return runs


def plan_phase_study(
    cfg: PhaseConfig, base_dir: Path, out: Path, workers: int = 1, origin: str = "phase config"
) -> tuple[list[TrainConfig], dict[str, Any]]:
    """Write the study's data, shards, probes, plan.json and study.json into `out`.

    `origin` (the config file) is named in the messages about the runs it plans.
    """
    from mixlab.data.config import load_prepare_config
    from mixlab.data.prepare import prepare
    from mixlab.data.prepared import load_prepared
    from mixlab.sweep.plan import save_plan

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    info = write_phase_data(cfg, base_dir, out)
    prepare(load_prepare_config(out / "corpora" / "prepare.yaml"), workers=workers)
    prepared = load_prepared(out / "shards")
    train = prepared.train_tokens()
    web = prepared.token_shares(info["web_domains"])
    runs = phase_runs(cfg, out, web, origin)
    save_plan(runs, out / "plan.json")
    bios = train[KNOWLEDGE]
    bio_documents = int(np.count_nonzero(bios == prepared.tokenizer.eod_id))  # one EOD each
    info.update(
        {
            "config": cfg.model_dump(mode="json"),
            "web_shares": web,
            "knowledge_train_tokens": int(bios.size),
            "tokens_per_rendering": bios.size / max(1, bio_documents),
            "learning_rates": cfg.learning_rates(),
            "plan": str(out / "plan.json"),
            "runs": len(runs),
        }
    )
    (out / STUDY_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return runs, info


def load_study(path: str | Path) -> dict[str, Any]:
    """study.json of a planned study (the folder or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / STUDY_FILE
    return read_json(path, "study.json of `mixlab phase plan`", expect=dict)


def phase_table(
    store, tag: str | None = None, probe: str = PROBE_NAME, size: str = "n_params_nonembed"
) -> pd.DataFrame:
    """Finished mixed runs as rows (run_id, model_size, ratio, tokens, seed, accuracy, ...)."""
    ids = store.ids(tag=tag, status="done")
    metric = f"probe/{probe}"
    rows = []
    for record in store.get_many(ids):
        ratio = record.mixture.get(KNOWLEDGE, 0.0)
        finals = record.final_metrics()
        if ratio <= 0 or metric not in finals:
            continue
        row = {
            "run_id": record.id,
            "model_size": getattr(record, size),
            "ratio": ratio,
            "tokens": record.tokens,
            "seed": record.seed,
            "accuracy": finals[metric],
        }
        row.update(
            {k[len(metric) + 1 :]: v for k, v in finals.items() if k.startswith(metric + "/")}
        )
        rows.append(row)
    if not rows:
        raise InputError(
            f"no finished run with a {KNOWLEDGE!r} share and metric {metric!r}"
            + (f" tagged {tag!r}" if tag else "")
        )
    return pd.DataFrame(rows).sort_values(["model_size", "ratio", "tokens", "seed"])


def web_loss_table(
    store, web_domains: list[str], tag: str | None = None, size: str = "n_params_nonembed"
) -> pd.DataFrame:
    """Web-only runs: model_size and the web validation loss (mean over web domains, by share)."""
    ids = store.ids(tag=tag, status="done")
    rows = []
    for record in store.get_many(ids):
        if record.mixture.get(KNOWLEDGE, 0.0) > 0:
            continue
        last = record.final_metrics()
        losses = {d: last[f"val_loss/{d}"] for d in web_domains if f"val_loss/{d}" in last}
        if len(losses) != len(web_domains):
            continue
        weights = {d: record.mixture.get(d, 0.0) for d in web_domains}
        total = sum(weights.values()) or 1.0
        rows.append(
            {
                "run_id": record.id,
                "model_size": getattr(record, size),
                "tokens": record.tokens,
                "seed": record.seed,
                "web_loss": sum(losses[d] * weights[d] for d in web_domains) / total,
            }
        )
    if not rows:
        raise InputError(
            "no finished web-only run (mixture without biographies) in the store"
            + (f" tagged {tag!r}" if tag else "")
        )
    return pd.DataFrame(rows).sort_values(["model_size", "seed"])


def read_phase_results(path: str | Path) -> pd.DataFrame:
    """R.csv (model_size, ratio, accuracy [, tokens, seed]); bad cells name line and column."""
    from mixlab.studies.scaling_fit import read_csv_text

    path = Path(path)
    frame = read_csv_text(path)
    if frame.empty:
        raise InputError(f"{path}: no rows")
    limits = {
        "model_size": (0, math.inf, False),
        "ratio": (0, 1, False),
        "accuracy": (0, 1, True),
        "tokens": (0, math.inf, False),
        "seed": (-math.inf, math.inf, True),
    }
    out = {}
    for column, (lo, hi, closed) in limits.items():
        if column not in frame.columns:
            if column in ("tokens", "seed"):
                continue
            raise InputError(
                f"{path}: no column {column!r}; columns are {', '.join(frame.columns)}"
            )
        values = []
        for i, raw in enumerate(frame[column]):
            where = f"{path}, line {i + 2}: column {column!r}"
            try:
                v = float(raw.strip())
            except ValueError:
                raise InputError(f"{where}: {raw!r} is not a number") from None
            if not math.isfinite(v) or not (lo <= v <= hi if closed else lo < v <= hi):
                bounds = f"[{lo:g}, {hi:g}]" if closed else f"({lo:g}, {hi:g}]"
                raise InputError(f"{where}: {raw.strip()} is outside {bounds}")
            values.append(v)
        out[column] = values
    return pd.DataFrame(out)
