"""`mixlab init DIR`: a commented project.yaml and the stage configs it expands to.

Every field of the project config is documented in the file itself; the prepare, sweep and
train configs written beside it are what `mixlab run` runs, for a user who wants to run the
stages by hand (`mixlab data prepare`, `mixlab sweep run`, `mixlab train`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from mixlab.errors import InputError
from mixlab.io.files import write_text
from mixlab.names import name_problem

TEMPLATE = """\
# mixlab project: `mixlab run {path}` runs the whole loop (resumable: run it again after
# any interruption; finished runs are never trained twice).  Relative paths are read from
# this file's folder.

name: {name}                 # names the runs (a tag) and the report
output: out                  # folder for shards, run store, laws, exports, decision, report

data:                        # the `mixlab data prepare` config, less its output folder
  domains:                   # domain -> its sources: files, folders or globs of txt, jsonl,
                             # parquet, saved HF datasets or Megatron/OLMo/nanoGPT tokens
{domains}
  tokenizer:                 # bpe (trained on a sample), bytes, or file (a tokenizer.json)
    kind: bpe                # bpe | bytes | file
    vocab_size: 4096         # bpe: vocabulary size
  validation: 0.05           # held-out documents per domain: a fraction, or a count
  seed: 0                    # seed of the validation split and the tokenizer sample
  shards: shards             # shards folder, under `output`

proxy:                       # the small runs the mixing law is fitted on
  models: [25k]              # model preset, one for now (25k 100k 400k 1M 5M 20M 45M 124M)
  tokens: 800000             # training tokens of every proxy run
  seeds: [0]                 # seeds of the proxy runs of the rounds
  seq_len: 128               # tokens per training sequence
  batch_size: 16             # sequences per step
  lr: 0.01                   # peak learning rate (cosine schedule)
  eval_every: 25             # steps between evaluations
  eval_sequences: 32         # validation sequences per domain in an evaluation
  max_probes: 32             # probe items per probe set
  workers: 2                 # proxy runs trained at once

target:                      # what the loop minimises: a weighted average of run metrics
  name: heldout              # a name for the target (report, laws)
  description: held-out evaluation mix          # one line: what is optimised and why
  weights:                   # metric -> weight (normalised to sum 1), lower is better:
                             # val_loss/<domain>, val_bpb/<domain>, probe/<name>, train_loss
{weights}
  # metric: val_loss/<domain>  # instead of weights: one metric
  probes: {{}}                 # probe set name -> JSONL of {{prompt, answer}}, evaluated on every run

constraints:                 # limits on the recommended mixture
  floor: 0.25                # every domain keeps >= floor x its natural share
  cap: 4.0                   # no domain above cap x its natural share
  max_epochs: 4.0            # no domain repeated more than this at the proxy budget (token
                             # availability comes from the prepared shards)
  lower: {{}}                  # absolute floors, domain -> share
  upper: {{}}                  # absolute caps, domain -> share

rounds:                      # rounds of proxy runs
  count: 2                   # rounds in all: 1 design round, then acquisition rounds
  first: 12                  # round 1: Dirichlet mixtures around the natural shares (+ natural)
  per_round: 4               # runs of each later round, placed by expected improvement
  concentration: [0.3, 5.0]  # round 1: range of the Dirichlet concentration (wide..tight)

verify:                      # recommended and reference mixtures trained at the proxy budget
  seeds: [0, 1]              # >= 2 seeds each: the seed noise of the observed gain
  reference: natural         # natural, or a mixture {{domain: share}}

production:                  # the run the mixture is for (recorded in the decision)
  model: 124M                # model preset or name
  tokens: 10000000000        # training tokens of the production run

level: 0.9                   # level of every interval
seed: 0                      # seed of the designs, fits and acquisition

{strategies}
"""

STRATEGY_HELP = {
    "doremi": "DoReMi: a proxy (first verify seed) with group DRO on\n"
    "the excess loss over the natural run; its averaged\n"
    "weights, a static mixture, are what is compared",
    "aioli": "Aioli-style online mixing from the natural shares,\none run per verify seed",
    "two_phase": "a swarm of 2-phase proxies, the auto law on phase\n"
    "features, the best 2-phase schedule under the\n"
    "constraints (epoch caps count both phases)",
}
FIELD_HELP = {
    "n": "2-phase proxies in the swarm",
    "fractions": "the phases' shares of the tokens (null: equal)",
}


def strategies_text() -> str:
    """The commented `strategies:` block, its defaults and help read off the option models
    (the trainer's and the sweep's own fields)."""
    from mixlab.studies.project import StrategiesSection

    intro = (
        "optional (absent: none): mixtures that change during\n"
        "training, each trained after the verification with its\n"
        "seeds and compared with the recommendation, paired by\n"
        "seed (decision.json `strategies`); uncomment to ask.\n"
        "`strategies: [doremi, aioli, two_phase]`: the defaults"
    ).split("\n")
    lines = ["# strategies:".ljust(29) + f"# {intro[0]}"]
    lines += ["#".ljust(29) + f"# {h}" for h in intro[1:]]
    for name, field in StrategiesSection.model_fields.items():
        help_lines = STRATEGY_HELP[name].split("\n")
        lines.append(f"#   {name}:".ljust(29) + f"# {help_lines[0]}")
        lines += ["#".ljust(29) + f"# {h}" for h in help_lines[1:]]
        options = field.annotation.__args__[0]  # Options | None
        for opt, info in options.model_fields.items():
            default = yaml.safe_dump(info.default, default_flow_style=True).strip()
            default = default.removesuffix("...").strip()
            text = FIELD_HELP.get(opt, (info.description or "").removeprefix("aioli: "))
            lines.append(f"#     {opt}: {default}".ljust(29) + f"# {text}")
    return "\n".join(lines)


def parse_domains(items: Sequence[str]) -> dict[str, str]:
    """`--domain NAME=PATH` flags into {name: path}."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--domain {item!r}: expected NAME=PATH")
        problem = name_problem(name)
        if problem is not None:
            raise InputError(f"--domain {item!r}: domain name {problem}")
        if name in out:
            raise InputError(f"--domain {name!r} given twice")
        out[name] = path
    return out


def project_text(name: str, domains: Mapping[str, str], path: str = "project.yaml") -> str:
    """The commented project.yaml for `domains` (placeholders when none are given)."""
    if not domains:
        domains = {"web": "data/web/*.jsonl", "code": "data/code"}
    lines = [
        f"    {d}: [{json.dumps(str(p))}]".ljust(29) + "# a list of sources"
        for d, p in domains.items()
    ]
    w = 1 / len(domains)
    weights = [
        f"    val_loss/{d}: {w:.4g}".ljust(29) + "# a domain's validation loss" for d in domains
    ]
    return TEMPLATE.format(
        path=path,
        name=name,
        domains="\n".join(lines),
        weights="\n".join(weights),
        strategies=strategies_text(),
    )


def init_project(
    directory: Path, domains: Mapping[str, str], name: str | None = None, force: bool = False
) -> list[Path]:
    """Write DIR/project.yaml and DIR/configs/{prepare,sweep,train}.yaml; returns the paths."""
    from mixlab.studies.project import load_project

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: not a folder")
    path = directory / "project.yaml"
    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    name = name or directory.resolve().name or "project"
    problem = name_problem(name)
    if problem is not None:
        raise InputError(f"--name {name!r}: {problem}")
    directory.mkdir(parents=True, exist_ok=True)
    write_text(path, project_text(name, domains, str(path)))
    project = load_project(path)
    configs = directory / "configs"
    configs.mkdir(exist_ok=True)
    sweep = project.sweep_config()
    domains_ = list(project.config.data.domains)
    train = {
        **project.train_base(),
        "mixture": {d: round(1 / len(domains_), 6) for d in domains_},
        "model": {"preset": project.config.proxy.models[0]},
        "tokens": project.config.proxy.tokens,
        "seed": 0,
        "tags": [project.config.name],
    }
    docs = {
        "prepare.yaml": (
            "`mixlab data prepare configs/prepare.yaml`: the token shards",
            project.prepare_config(),
        ),
        "sweep.yaml": (
            "`mixlab sweep plan configs/sweep.yaml` then `mixlab sweep run`: round 1",
            sweep,
        ),
        "train.yaml": (
            "`mixlab train configs/train.yaml`: one proxy run (set the mixture you want)",
            train,
        ),
    }
    written = [path]
    for file, (what, doc) in docs.items():
        header = f"# {what}\n# written by `mixlab init` from {path.name}; absolute paths.\n"
        written.append(write_text(configs / file, header + yaml.safe_dump(doc, sort_keys=False)))
    return written
