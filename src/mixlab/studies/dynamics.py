"""Learning-dynamics studies: data choices (formats, curricula, mixtures) x model sizes x seeds.

`plan_dynamics_study` writes a built-in corpus when the config asks for one (the same
arithmetic problems in three formats, or a target skill with a supporting skill), prepares
its shards and plans one run per choice x model x seed, tagged `choice=<name>`. The analysis
side (`dynamics_curves`, `analyze_dynamics`) reads the finished runs back from the store and
measures emergence, learning-speed ratios, cross-size rank agreement and compression.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mixlab.data.arithmetic import (
    FORMATS,
    arithmetic_documents,
    arithmetic_probes,
    make_problem_split,
)
from mixlab.data.config import TokenizerConfig, write_prepare_config
from mixlab.data.probes import write_probes
from mixlab.data.schedule import parse_schedule
from mixlab.errors import InputError
from mixlab.io.files import load_typed_yaml, read_json
from mixlab.studies.common import check_train_overrides, write_text_jsonl
from mixlab.studies.dynamics_analysis import analyze_dynamics  # noqa: F401 - re-exported
from mixlab.sweep.plan import expand_run, model_spec
from mixlab.train.config import ModelSpec, OnlineConfig, TrainConfig

STUDY_FILE = "study.json"
CHOICE_TAG = "choice="


class CorpusConfig(BaseModel):
    """A built-in corpus: `formats` (one problem set in plain / cot / scratchpad) or
    `curriculum` (a target skill, e.g. multiplication, and a supporting one, e.g. addition)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["formats", "curriculum"]
    digits: int = Field(2, ge=1, le=4)
    operations: list[Literal["+", "-", "*"]] = Field(default_factory=lambda: ["+"])
    target_operations: list[Literal["+", "-", "*"]] = Field(default_factory=lambda: ["*"])
    support_operations: list[Literal["+", "-", "*"]] = Field(default_factory=lambda: ["+"])
    format: Literal["plain", "cot", "scratchpad"] = "cot"
    target_format: Literal["plain", "cot", "scratchpad"] | None = None
    support_format: Literal["plain", "cot", "scratchpad"] | None = None
    train_problems: int = Field(4000, ge=10)
    test_problems: int = Field(200, ge=10)
    per_document: int = Field(8, ge=1)
    tokenizer: TokenizerConfig = Field(
        default_factory=lambda: TokenizerConfig(vocab_size=512, sample_bytes=2_000_000)
    )
    seed: int = 0


class ChoiceConfig(BaseModel):
    """One data choice: a mixture (weights or a schedule) and the probes that measure it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    mixture: dict[str, Any]
    probes: dict[str, str] = Field(
        default_factory=dict, description="probe name -> a corpus probe set or a file path"
    )
    online: OnlineConfig | None = Field(
        default=None, description="mix online (doremi, aioli) from `mixture` as the start"
    )


class DynamicsConfig(BaseModel):
    """A comparison of data choices by how fast a skill is acquired."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("dynamics", min_length=1)
    corpus: CorpusConfig | None = None
    data: Path | None = Field(None, description="prepared shards, when there is no corpus")
    choices: list[ChoiceConfig] = Field(min_length=2)
    skill: str = Field("skill", description="probe name whose accuracy is the skill")
    target_domain: str | None = Field(None, description="domain whose loss is tracked")
    threshold: float = Field(0.9, gt=0, lt=1)
    models: list[str | ModelSpec] = Field(min_length=1)
    tokens: int = Field(gt=0)
    seeds: list[int] = Field(default_factory=lambda: [0])
    train: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DynamicsConfig:
        if (self.corpus is None) == (self.data is None):
            raise ValueError("give exactly one of 'corpus' (built-in data) or 'data' (shards)")
        names = [c.name for c in self.choices]
        if len(set(names)) != len(names):
            raise ValueError(f"choices: names must be unique, got {names}")
        for c in self.choices:
            if self.skill not in c.probes:
                raise ValueError(f"choices[{c.name}]: no probe named {self.skill!r} (the skill)")
        check_train_overrides(self.train)
        return self


def load_dynamics_config(path: str | Path) -> tuple[DynamicsConfig, Path]:
    return load_typed_yaml(path, DynamicsConfig, "dynamics config")


def write_corpus(corpus: CorpusConfig, out: Path) -> tuple[Path, dict[str, Path]]:
    """The built-in corpus as JSONL, its prepare.yaml and probe sets; returns (config, probes)."""
    folder = out / "corpus"
    (out / "probes").mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    probes: dict[str, Path] = {}
    domains: dict[str, list[dict[str, str]]] = {}

    def add(domain: str, problems, fmt, test, probe_name: str) -> None:
        write_text_jsonl(
            folder / f"{domain}.jsonl",
            arithmetic_documents(problems, fmt, corpus.per_document, corpus.seed),
        )
        domains[domain] = [{"path": f"{domain}.jsonl"}]
        probes[probe_name] = out / "probes" / f"{probe_name}.jsonl"
        write_probes(probes[probe_name], arithmetic_probes(test, fmt))
        train_name = probe_name.replace("test", "train", 1)
        probes[train_name] = out / "probes" / f"{train_name}.jsonl"
        write_probes(probes[train_name], arithmetic_probes(problems[: len(test)], fmt))

    if corpus.kind == "formats":
        train, test = make_problem_split(
            corpus.train_problems,
            corpus.test_problems,
            corpus.digits,
            corpus.operations,
            corpus.seed,
        )
        for fmt in FORMATS:
            add(f"arith_{fmt}", train, fmt, test, f"test_{fmt}")
    else:  # same operations and seed give the same split: test problems stay unseen by both
        for role, ops, fmt in (
            ("target", corpus.target_operations, corpus.target_format or corpus.format),
            ("support", corpus.support_operations, corpus.support_format or corpus.format),
        ):
            train, test = make_problem_split(
                corpus.train_problems, corpus.test_problems, corpus.digits, ops, corpus.seed
            )
            add(role, train, fmt, test, f"test_{role}")
    path = write_prepare_config(
        folder / "prepare.yaml",
        output="../shards",
        seed=corpus.seed,
        tokenizer=corpus.tokenizer.model_dump(mode="json", exclude_none=True),
        validation_fraction=0.05,
        domains=domains,
    )
    return path, probes


def plan_dynamics_study(
    cfg: DynamicsConfig, base_dir: Path, out: Path, workers: int = 1
) -> tuple[list[TrainConfig], dict[str, Any]]:
    """Write the corpus and shards (if built in), plan.json and study.json into `out`."""
    from mixlab.sweep.plan import save_plan

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    corpus_probes: dict[str, Path] = {}
    if cfg.corpus is not None:
        from mixlab.data.config import load_prepare_config
        from mixlab.data.prepare import prepare

        prepare_cfg, corpus_probes = write_corpus(cfg.corpus, out)
        prepare(load_prepare_config(prepare_cfg), workers=workers)
        data = out / "shards"
    else:
        data = cfg.data if cfg.data.is_absolute() else (base_dir / cfg.data).resolve()
    _check_domains(cfg, data)

    def probe_path(choice: str, name: str, value: str) -> str:
        if value in corpus_probes:
            return str(corpus_probes[value])
        path = Path(value) if Path(value).is_absolute() else base_dir / value
        if not path.is_file():
            known = f" (corpus probe sets: {', '.join(corpus_probes)})" if corpus_probes else ""
            raise InputError(f"choices[{choice}].probes.{name}: no probe file {path}{known}")
        return str(path)

    base = {"seq_len": 128, "batch_size": 16, **cfg.train, "data": str(data)}
    runs, index = [], {}
    for choice, model, seed in itertools.product(cfg.choices, cfg.models, cfg.seeds):
        evaluation = dict(base.get("eval", {}))
        evaluation["probes"] = {
            **evaluation.get("probes", {}),
            **{k: probe_path(choice.name, k, v) for k, v in choice.probes.items()},
        }
        run = expand_run(
            base,
            choice.mixture,
            model,
            cfg.tokens,
            seed,
            [*cfg.tags, cfg.name, f"{CHOICE_TAG}{choice.name}"],
            f"choices[{choice.name}]",
            out,
            eval=evaluation,
            **({"online": choice.online.model_dump()} if choice.online else {}),
        )
        runs.append(run)
        index[run.id] = {"choice": choice.name, "model": model_spec(model), "seed": seed}
    save_plan(runs, out / "plan.json")
    info = {
        "name": cfg.name,
        "config": cfg.model_dump(mode="json"),
        "choices": [c.name for c in cfg.choices],
        "skill": cfg.skill,
        "target_domain": cfg.target_domain,
        "threshold": cfg.threshold,
        "data": str(data),
        "runs": index,
        "plan": str(out / "plan.json"),
    }
    (out / STUDY_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return runs, info


def _check_domains(cfg: DynamicsConfig, data: Path) -> None:
    """Every domain a choice trains on is in the prepared data: found before any run trains."""
    from mixlab.data.manifest import read_manifest

    prepared = set(read_manifest(data)["domains"])
    for c in cfg.choices:
        try:
            wanted = parse_schedule(c.mixture, field=f"choices[{c.name}].mixture").domains()
        except ValueError as e:
            raise InputError(str(e)) from None
        missing = [d for d in wanted if d not in prepared]
        if missing:
            raise InputError(
                f"choices[{c.name}].mixture: domain(s) {', '.join(missing)} are "
                f"not in the prepared data {data} (it has "
                f"{', '.join(sorted(prepared))})"
            )


_STUDY_FIELDS = {
    "name": str,
    "choices": list,
    "skill": str,
    "threshold": (int, float),
    "data": str,
    "runs": dict,
    "config": dict,
}


def load_study(path: str | Path) -> dict[str, Any]:
    """study.json of a planned dynamics study (the folder or the file), its fields checked."""

    path = Path(path)
    if path.is_dir():
        path = path / STUDY_FILE
    study = read_json(path, expect=dict, what="study.json of `mixlab dynamics study`")
    for key, kind in _STUDY_FIELDS.items():
        if not isinstance(study.get(key), kind):
            raise InputError(
                f"{path}: field {key!r} is missing or of the wrong kind "
                "(expected study.json of `mixlab dynamics study`)"
            )
    for run_id, run in study["runs"].items():
        if not isinstance(run, dict) or not {"choice", "seed"} <= set(run):
            raise InputError(f"{path}: runs.{run_id} needs the fields 'choice' and 'seed'")
    choices = study["config"].get("choices")
    if not isinstance(choices, list) or not all(
        isinstance(c, dict) and "name" in c and "mixture" in c for c in choices
    ):
        raise InputError(f"{path}: config.choices must list each choice's name and mixture")
    return study


def dynamics_curves(store, study: dict[str, Any]) -> pd.DataFrame:
    """Long table of the study's finished runs: run_id, choice, model_size, seed, tokens,
    metric, value (every evaluation of every metric)."""
    ids = [i for i in study["runs"] if i in set(store.ids(status="done"))]
    if not ids:
        raise InputError(
            f"no finished run of study {study['name']!r} in the store "
            f"(run `mixlab dynamics study` first)"
        )
    curves = store.curves(ids)
    records = {r.id: r for r in store.get_many(ids)}
    curves["choice"] = curves["run_id"].map(lambda i: study["runs"][i]["choice"])
    curves["seed"] = curves["run_id"].map(lambda i: study["runs"][i]["seed"])
    curves["model_size"] = curves["run_id"].map(lambda i: records[i].n_params_nonembed)
    return curves
