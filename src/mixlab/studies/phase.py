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
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

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
from mixlab.data.config import SourceConfig, TokenizerConfig, write_prepare_config
from mixlab.data.demo_corpora import write_demo_corpora
from mixlab.data.probes import Probe, write_probes
from mixlab.errors import InputError
from mixlab.io.files import load_typed_yaml, read_json
from mixlab.studies.common import check_train_overrides, write_text_jsonl
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


class PopularityConfig(BaseModel):
    """Power-law exposure: group g (0 = most popular) is rendered ∝ 1 / (g + 1)^alpha."""

    model_config = ConfigDict(extra="forbid")

    groups: int = Field(4, ge=2)
    alpha: float = Field(1.0, ge=0)


class WebConfig(BaseModel):
    """The web domain(s): the stdlib demo corpora (code and prose) or the user's own sources."""

    model_config = ConfigDict(extra="forbid")

    demo_bytes: int = Field(2_000_000, ge=10_000, description="bytes per demo domain")
    sources: dict[str, list[SourceConfig]] | None = Field(
        None, description="domain name -> sources, as in a prepare config"
    )


class LearningRateRule(BaseModel):
    """Per-size learning rate and warm-up: lr = base * (base_width / width)^power.

    muP's rule for Adam (Yang et al. 2022): the hidden matrices' best rate falls as 1/width,
    so `power` 1 by default, calibrated at one width (`base`, `base_width`).  The CPU study's
    calibration: width 64 (100k) learned most at lr 0.01, while width 96 (400k) learned 26%
    of facts at 0.003 against 13% at 0.01 (docs/benchmarks.md).  The rate is clipped to
    [min_lr, max_lr]; `per_model` (a model's label -> lr) overrides the rule.
    """

    model_config = ConfigDict(extra="forbid")

    base: float = Field(0.01, gt=0)
    base_width: int = Field(64, gt=0)
    power: float = Field(1.0, ge=0)
    min_lr: float = Field(1e-4, gt=0)
    max_lr: float = Field(0.03, gt=0)
    warmup: float = Field(0.05, ge=0, lt=1, description="warm-up, a fraction of the steps")
    per_model: dict[str, float] = Field(default_factory=dict)

    def lr(self, model: str | ModelSpec) -> float:
        """The learning rate of one model of the study."""
        label = model_label(model)
        if label in self.per_model:
            return float(self.per_model[label])
        rate = self.base * (self.base_width / model_width(model)) ** self.power
        return float(min(max(rate, self.min_lr), self.max_lr))


def _shape(model: str | ModelSpec) -> tuple[int, int, int]:
    """(n_layer, n_head, n_embd) of a preset name or a spec."""
    from mixlab.train.presets import PRESETS

    if isinstance(model, str):
        return PRESETS[model]
    preset = PRESETS[model.preset] if model.preset else (0, 0, 0)
    given = (model.n_layer, model.n_head, model.n_embd)
    return tuple(g or p for g, p in zip(given, preset, strict=True))  # type: ignore[return-value]


def model_width(model: str | ModelSpec) -> int:
    """n_embd of a preset name or a spec."""
    return int(_shape(model)[2])


def model_label(model: str | ModelSpec) -> str:
    """A preset's name, or LxHxD (layers x heads x width) for a custom shape."""
    if isinstance(model, str):
        return model
    if model.preset and not (model.n_layer or model.n_head or model.n_embd):
        return model.preset
    return "x".join(str(v) for v in _shape(model))


class PhaseConfig(BaseModel):
    """One phase study: the knowledge set, the web data and the axes ratio x model x tokens x seed."""

    model_config = ConfigDict(extra="forbid")

    people: int = Field(1000, ge=10)
    rendering: Literal["biography", "compact"] = Field(
        "biography", description="five template sentences, or the name once + labelled fields"
    )
    subsample: float = Field(1.0, gt=0, le=1, description="remedy: keep this fraction of people")
    tuples: float = Field(0.0, ge=0, lt=1, description="remedy: share of compact fact tuples")
    popularity: PopularityConfig | None = None
    web: WebConfig = Field(default_factory=WebConfig)
    tokenizer: TokenizerConfig = Field(
        default_factory=lambda: TokenizerConfig(vocab_size=2048, sample_bytes=4_000_000)
    )
    ratios: list[float] = Field(min_length=1)
    models: list[str | ModelSpec] = Field(min_length=1)
    tokens: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    web_only: list[str | ModelSpec] = Field(
        default_factory=list, description="sizes trained on web only (phase predict)"
    )
    web_only_tokens: int | None = Field(None, gt=0)
    probe_people: int | None = Field(None, gt=0, description="probe at most this many people")
    train: dict[str, Any] = Field(default_factory=dict, description="shared TrainConfig fields")
    lr: LearningRateRule | None = Field(
        None, description="per-size learning rate and warm-up (else train.optimizer.lr)"
    )
    tags: list[str] = Field(default_factory=lambda: ["phase"])
    seed: int = 0

    @model_validator(mode="after")
    def _ratios_fit(self) -> PhaseConfig:
        for i, r in enumerate(self.ratios):
            if not 0 < r < 1 or r + self.tuples >= 1:
                raise ValueError(
                    f"ratios[{i}] = {r}: each ratio must be in (0, 1) and leave room for web "
                    f"data after the tuples share {self.tuples}"
                )
        if any(t <= 0 for t in self.tokens):
            raise ValueError("tokens: every budget must be positive")
        check_train_overrides(self.train)
        if self.lr is not None:
            labels = {model_label(m) for m in [*self.models, *self.web_only]}
            unknown = sorted(set(self.lr.per_model) - labels)
            if unknown:
                raise ValueError(
                    f"lr.per_model: {', '.join(unknown)} is not a model of the study "
                    f"({', '.join(sorted(labels))})"
                )
        return self

    def learning_rates(self) -> dict[str, dict[str, float]]:
        """Each model's label -> its lr, warm-up and width (what study.json records)."""
        if self.lr is None:
            return {}
        return {
            model_label(m): {
                "lr": self.lr.lr(m),
                "warmup": self.lr.warmup,
                "width": model_width(m),
            }
            for m in [*self.models, *self.web_only]
        }


def load_phase_config(path: str | Path) -> tuple[PhaseConfig, Path]:
    return load_typed_yaml(path, PhaseConfig, "phase config")


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
    people = make_people(cfg.people, cfg.seed)
    if cfg.subsample < 1:
        people = subsample_people(people, cfg.subsample, cfg.seed)
    if cfg.popularity:
        group, weight = popularity_exposures(
            len(people), cfg.popularity.groups, 1_000_000, cfg.popularity.alpha, cfg.seed
        )
        weights = weight.astype(float) / weight.max()
    else:
        group, weights = np.zeros(len(people), dtype=np.int64), np.ones(len(people))
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

    fewest = 100
    if cfg.web.sources:
        for name, sources in cfg.web.sources.items():
            if name in (KNOWLEDGE, TUPLES):
                raise InputError(f"web.sources: domain name {name!r} is reserved for the facts")
            domains[name] = [
                {**s.model_dump(mode="json"), "path": str((base_dir / s.path).resolve())}
                for s in sources
            ]
        web = list(cfg.web.sources)
    else:
        demo = write_demo_corpora(
            corpora / "web", max_bytes_per_domain=cfg.web.demo_bytes, seed=cfg.seed, n_people=10
        )
        web = ["code", "prose"]
        fewest = min(demo.documents[name] for name in web)
        for name in web:
            domains[name] = [{"path": str(demo.domains[name].relative_to(corpora))}]

    write_prepare_config(
        corpora / "prepare.yaml",
        output="../shards",
        seed=cfg.seed,
        tokenizer=cfg.tokenizer.model_dump(mode="json", exclude_none=True),
        # enough held-out documents of the smallest domain to fill a validation batch
        validation_fraction=min(0.2, max(0.02, 4 / max(1, fewest))),
        domains=domains,
    )

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

    bits = fact_bits()
    groups = []
    for g in np.unique(group).tolist():
        members = group == g
        groups.append(
            {
                "group": g,
                "people": int(members.sum()),
                "renderings_per_person": float(renderings[members].mean()),
            }
        )
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
