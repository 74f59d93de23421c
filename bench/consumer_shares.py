"""Realised token shares when the real consumers read mixlab's exports.

A prepared corpus of three domains with very different document lengths (about 8, 70 and
180 byte-tokens per document) is exported for megatron-core, OLMo-core and HF `datasets`;
each consumer builds its dataset from the export and the mixture file mixlab wrote for it,
and the script prints the token share each domain gets against the share asked for, the
tokens each consumer counts against mixlab's manifest, the realised budget and the most
epochs any domain is repeated. For HF it also prints what the old export (token shares used
as document probabilities, `all_exhausted`) realises on the same data.

Run: .venv/bin/python bench/consumer_shares.py
"""

from __future__ import annotations

import json
import platform
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

DOMAINS = {"short": (24000, 8, 30), "medium": (9000, 40, 100), "long": (3000, 100, 260)}
MIXTURE = {"short": 0.3, "medium": 0.5, "long": 0.2}
BUDGET = 1_000_000


def corpus(root: Path) -> Path:
    from mixlab.data import prepare

    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    domains = {}
    for name, (n, lo, hi) in DOMAINS.items():
        lines = [
            json.dumps(
                {"text": " ".join(rng.choice(words, size=int(rng.integers(lo, hi)) // 6 + 1))}
            )
            for _ in range(n)
        ]
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        domains[name] = str(root / f"{name}.jsonl")
    config = {
        "output": str(root / "shards"),
        "tokenizer": {"kind": "bytes"},
        "validation": {"documents": 50},
        "workers": 1,
        "domains": domains,
    }
    (root / "prepare.yaml").write_text(yaml.safe_dump(config))
    prepare(root / "prepare.yaml", workers=1)
    return root / "shards"


def show(consumer: str, tokens: dict[str, float], counted: str, extra: str = "") -> None:
    total = sum(tokens.values())
    worst = max(abs(tokens[d] / total - w) for d, w in MIXTURE.items())
    shares = "  ".join(f"{d} {tokens[d] / total:.4f}/{w:.3f}" for d, w in MIXTURE.items())
    print(
        f"{consumer:<22} {shares}  max |diff| {worst:.4f}  tokens {total:,.0f}  {counted} {extra}"
    )


def megatron(shards: Path, root: Path) -> None:
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from megatron.core.datasets.utils import get_blend_from_list

    from mixlab.data import load_prepared
    from mixlab.export.mixtures import format_mixture, load_export_data
    from mixlab.export.tokens import export_tokens

    data = load_prepared(shards)
    export = export_tokens(shards, "megatron", root / "meg", max_file_tokens=150_000)
    exact = True
    for d, e in export.manifest["domains"].items():
        counted = 0
        for f in e["train"]["files"]:
            indexed = IndexedDataset(str(export.directory / f["path"]))  # keep its mmap open
            counted += int(indexed.sequence_lengths.sum())
            del indexed
        exact &= counted == data.train[d].n_tokens
    parts = format_mixture(MIXTURE, "megatron", data=load_export_data(export.directory)).split()

    class Tok:
        vocab_size, eod, pad, bos = data.tokenizer.vocab_size, data.tokenizer.eod_id, 0, None
        unique_identifiers = {"class": "bytes"}

    seq = 64
    config = GPTDatasetConfig(
        random_seed=0,
        sequence_length=seq,
        tokenizer=Tok(),
        blend_per_split=[get_blend_from_list(parts), None, None],
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
    )
    n = BUDGET // seq
    train, _, _ = BlendedMegatronDatasetBuilder(
        GPTDataset, [n, None, None], lambda: True, config
    ).build()
    domain_of = {
        str(export.directory.resolve() / f["path"]): d
        for d, e in export.manifest["domains"].items()
        for f in e["train"]["files"]
    }
    tokens = dict.fromkeys(MIXTURE, 0.0)
    for i, c in enumerate(np.bincount(train.dataset_index, minlength=len(train.datasets))):
        tokens[domain_of[train.datasets[i].dataset_path]] += c * seq
    show("megatron-core 0.16", tokens, f"counts=manifest: {exact}", f"({len(parts) // 2} prefixes)")


def olmo(shards: Path, root: Path) -> None:
    from olmo_core.data.source_mixture import SourceMixtureDatasetConfig

    from mixlab.data import load_prepared
    from mixlab.export.mixtures import write_mixture_export
    from mixlab.export.tokens import export_tokens

    data = load_prepared(shards)
    export = export_tokens(shards, "olmo", root / "olmo", max_file_tokens=300_000)
    write_mixture_export(
        root / "mix.yaml",
        MIXTURE,
        "olmo",
        data=export.directory,
        requested_tokens=BUDGET,
        global_batch_size=64 * 16,
        max_epochs={"long": 2.0},
    )
    config = SourceMixtureDatasetConfig.from_yaml(root / "mix.yaml")
    config.render_tables, config.quiet = False, True
    exact = all(
        config._count_tokens_for_paths(s.paths, s.source_name, np.uint16)
        == data.train[s.source_name].n_tokens
        for s in config.source_list.sources
    )
    mixture = config.build(npdtype=np.uint16, sequence_length=64)
    tokens = {o.name: float(sum(p.tokens for p in o.path_tokens)) for o in mixture.sources}
    show("ai2-olmo-core 3.0", tokens, f"counts=manifest: {exact}")


def hf(shards: Path, root: Path) -> None:
    import datasets

    from mixlab.data import load_prepared
    from mixlab.export.mixtures import load_hf_mixture, write_mixture_export
    from mixlab.export.tokens import export_tokens

    data = load_prepared(shards)
    export = export_tokens(shards, "hf", root / "hf")
    write_mixture_export(
        root / "mix.json",
        MIXTURE,
        "hf",
        data=export.directory,
        requested_tokens=BUDGET,
        max_epochs={"long": 2.0},
    )
    spec = json.loads((root / "mix.json").read_text())
    parts = {
        d: datasets.load_dataset("parquet", data_files=spec["data_files"][d], split="train")
        for d in spec["domains"]
    }
    exact = all(sum(parts[d]["num_tokens"]) == data.train[d].n_tokens for d in parts)

    def tally(mixed) -> tuple[dict[str, float], float]:
        tokens, docs = dict.fromkeys(MIXTURE, 0.0), dict.fromkeys(MIXTURE, 0)
        for d, n in zip(mixed["domain"], mixed["num_tokens"], strict=True):
            tokens[d] += n
            docs[d] += 1
        return tokens, max(docs[d] / data.train[d].n_docs for d in docs)

    tokens, epochs = tally(load_hf_mixture(spec))
    show("datasets 5.2 (mixlab)", tokens, f"counts=manifest: {exact}", f"max epochs {epochs:.2f}")
    old = datasets.interleave_datasets(
        [parts[d] for d in spec["domains"]],
        probabilities=[MIXTURE[d] for d in spec["domains"]],
        seed=0,
        stopping_strategy="all_exhausted",
    )
    tokens, epochs = tally(old)
    show(
        "datasets 5.2 (old)",
        tokens,
        "token shares as doc probabilities, all_exhausted",
        f"max epochs {epochs:.2f}",
    )


def main() -> None:
    warnings.simplefilter("ignore")
    print(
        f"# {datetime.now(timezone.utc):%Y-%m-%d} {platform.machine()} "
        f"{platform.python_version()}; asked: {MIXTURE}, budget {BUDGET:,} tokens"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shards = corpus(root)
        for run in (megatron, olmo, hf):
            try:
                run(shards, root)
            except ImportError as error:
                print(f"{run.__name__}: not installed ({error})")


if __name__ == "__main__":
    main()
