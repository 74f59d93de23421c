"""The real consumers read mixlab's exports: megatron-core, OLMo-core and HF `datasets`.

Each test builds the consumer's own dataset from `mixlab data export` of a small prepared
corpus and checks that the token counts equal mixlab's manifest exactly, that documents come
back token for token (no header or offsets read as tokens), and that the realised token
shares match the mixture within 1% absolute. A consumer that is not installed is skipped
with a message naming it (`make setup` installs all three; see pyproject's `consumers`).
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from mixlab.data.prepare import prepare
from mixlab.data.prepared import load_prepared
from mixlab.data.token_files import read_megatron
from mixlab.export.mixtures import format_mixture, load_export_data, write_mixture_export
from mixlab.export.tokens import export_tokens

# Domains with very different document lengths, so token and document shares differ.
DOMAINS = {"short": (24000, 8, 30), "medium": (9000, 40, 100), "long": (3000, 100, 260)}
MIXTURE = {"short": 0.3, "medium": 0.5, "long": 0.2}
BUDGET = 1_000_000


def consumer(module: str, package: str):
    """Import a consumer or skip, naming the package to install."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except Exception as error:  # a broken optional install is a skip too, with its reason
        pytest.skip(
            f"{package} is not installed ({type(error).__name__}: {error}); "
            f"pip install '.[consumers]' (see the Makefile's setup)"
        )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("consumers")
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    domains = {}
    for name, (n, lo, hi) in DOMAINS.items():
        lines = []
        for _ in range(n):
            k = int(rng.integers(lo, hi)) // 6 + 1
            lines.append(json.dumps({"text": " ".join(rng.choice(words, size=k))}))
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


def shares_of(counts: dict[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {d: c / total for d, c in counts.items()}


def assert_shares(realised: dict[str, float], wanted: dict[str, float] = MIXTURE) -> None:
    for d, w in wanted.items():
        assert abs(realised.get(d, 0.0) - w) < 0.01, (d, realised, wanted)


def test_megatron_reads_indexed_datasets_and_blends_by_tokens(prepared, tmp_path):
    ds_mod = consumer("megatron.core.datasets.indexed_dataset", "megatron-core")
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import get_blend_from_list

    data = load_prepared(prepared)
    export = export_tokens(prepared, "megatron", tmp_path / "meg", max_file_tokens=150_000)
    manifest = export.manifest
    assert len(manifest["domains"]["short"]["train"]["files"]) > 1  # several prefixes
    for name, entry in manifest["domains"].items():
        shard = data.train[name]
        total_docs = 0
        for f in entry["train"]["files"]:
            prefix = str(export.directory / f["path"])
            indexed = ds_mod.IndexedDataset(prefix)
            assert int(indexed.sequence_lengths.sum()) == f["tokens"]
            assert len(indexed) == f["documents"]
            first = np.asarray(indexed[0])
            assert np.array_equal(first, shard.document(total_docs))  # token for token
            assert np.array_equal(
                np.asarray(indexed[len(indexed) - 1]), shard.document(total_docs + len(indexed) - 1)
            )
            total_docs += len(indexed)
            tokens, lengths = read_megatron(prefix)  # mixlab's own reader agrees
            assert tokens.size == f["tokens"] and lengths.size == f["documents"]
        assert entry["train"]["tokens"] == shard.n_tokens and total_docs == shard.n_docs

    data_path = format_mixture(MIXTURE, "megatron", data=load_export_data(export.directory))
    parts = data_path.split()
    prefix_weights = {p: float(w) for w, p in zip(parts[::2], parts[1::2], strict=True)}
    short = [f for f in manifest["domains"]["short"]["train"]["files"]]
    want = [MIXTURE["short"] * f["tokens"] / sum(g["tokens"] for g in short) for f in short]
    got = [prefix_weights[str(export.directory.resolve() / f["path"])] for f in short]
    assert got == pytest.approx(want)

    class Tok:  # the special ids GPTDataset asks a tokenizer for
        vocab_size = data.tokenizer.vocab_size
        eod = data.tokenizer.eod_id
        pad = data.tokenizer.vocab_size - 1
        bos = None
        unique_identifiers = {"class": "mixlab-bytes", "vocab_size": vocab_size}

    seq = 64
    config = GPTDatasetConfig(
        random_seed=0,
        sequence_length=seq,
        blend_per_split=[get_blend_from_list(parts), None, None],
        tokenizer=Tok(),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        path_to_cache=None,  # no cache: the cache path needs torch.distributed
    )
    n_samples = 4000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _, _ = BlendedMegatronDatasetBuilder(
            GPTDataset, [n_samples, None, None], lambda: True, config
        ).build()
    domain_of = {
        str(export.directory.resolve() / f["path"]): name
        for name, entry in manifest["domains"].items()
        for f in entry["train"]["files"]
    }
    counts: dict[str, float] = {}
    for i, n in enumerate(np.bincount(train.dataset_index, minlength=len(train.datasets))):
        name = domain_of[train.datasets[i].dataset_path]
        counts[name] = counts.get(name, 0) + n * seq  # every sample is `seq` tokens
    assert_shares(shares_of(counts))
    sample = np.asarray(train[0]["tokens"])
    assert sample.max() < data.tokenizer.vocab_size


def test_olmo_core_source_mixture_runs_as_written(prepared, tmp_path):
    consumer("olmo_core.data.source_mixture", "ai2-olmo-core")
    from olmo_core.data import NumpyFSLDatasetConfig, TokenizerConfig
    from olmo_core.data.source_mixture import SourceMixtureDatasetConfig

    data = load_prepared(prepared)
    export = export_tokens(prepared, "olmo", tmp_path / "olmo", max_file_tokens=300_000)
    out = tmp_path / "mix.yaml"
    written = write_mixture_export(
        out,
        MIXTURE,
        "olmo",
        data=export.directory,
        requested_tokens=BUDGET,
        global_batch_size=64 * 16,
        max_epochs={"long": 2.0},
        seed=3,
    )
    sidecar = json.loads(written[1].read_text())
    assert sidecar["tokenizer"]["sha256"] == export.manifest["tokenizer"]["sha256"]

    config = SourceMixtureDatasetConfig.from_yaml(out)  # as written, no edits
    config.render_tables = False
    config.quiet = True
    dtype = np.uint16
    assert export.manifest["dtype"] == "uint16"
    for source in config.source_list.sources:
        counted = config._count_tokens_for_paths(source.paths, source.source_name, dtype)
        assert counted == data.train[source.source_name].n_tokens  # no header, no offsets
    mixture = config.build(npdtype=dtype, sequence_length=64)
    tokens = {o.name: sum(p.tokens for p in o.path_tokens) for o in mixture.sources}
    assert_shares(shares_of(tokens))
    assert abs(sum(tokens.values()) - BUDGET) / BUDGET < 0.01

    # The training dataset OLMo-core builds from it reads real documents.
    dataset = NumpyFSLDatasetConfig.from_src_mix(
        config,
        tokenizer=TokenizerConfig(
            vocab_size=data.tokenizer.vocab_size,
            eos_token_id=data.tokenizer.eod_id,
            pad_token_id=data.tokenizer.vocab_size - 1,
        ),
        sequence_length=64,
        work_dir=str(tmp_path / "work"),
    ).build()
    dataset.prepare()
    first = np.asarray(dataset[0]["input_ids"])
    assert first.size == 64 and first.max() < data.tokenizer.vocab_size
    raw = np.concatenate(
        [np.fromfile(p, dtype=dtype) for s in config.source_list.sources for p in s.paths]
    )
    windows = np.lib.stride_tricks.sliding_window_view(raw, 8)
    assert (windows == first[:8]).all(axis=1).any()  # a window of real tokens


def test_hf_datasets_interleave_realises_token_shares(prepared, tmp_path):
    datasets = consumer("datasets", "datasets")
    from mixlab.export.mixtures import load_hf_mixture

    data = load_prepared(prepared)
    export = export_tokens(prepared, "hf", tmp_path / "hf")
    for name, entry in export.manifest["domains"].items():
        files = [str(export.directory / f["path"]) for f in entry["train"]["files"]]
        ds = datasets.load_dataset("parquet", data_files=files, split="train")
        assert len(ds) == data.train[name].n_docs
        assert sum(ds["num_tokens"]) == entry["train"]["tokens"] == data.train[name].n_tokens
        assert list(ds[0]["input_ids"]) == data.train[name].document(0).tolist()

    out = tmp_path / "mix.hf.json"
    write_mixture_export(
        out,
        MIXTURE,
        "hf",
        data=export.directory,
        requested_tokens=BUDGET,
        max_epochs={"long": 2.0},
        seed=0,
    )
    spec = json.loads(out.read_text())
    assert spec["seed"] == 0 and spec["stopping_strategy"] == "first_exhausted"
    assert spec["export"]["tokenizer"]["sha256"] == export.manifest["tokenizer"]["sha256"]
    mixed = load_hf_mixture(out)
    counts: dict[str, float] = {}
    docs: dict[str, int] = {}
    for name, n in zip(mixed["domain"], mixed["num_tokens"], strict=True):
        counts[name] = counts.get(name, 0) + n
        docs[name] = docs.get(name, 0) + 1
    assert_shares(shares_of(counts))
    assert abs(sum(counts.values()) - BUDGET) / BUDGET < 0.01  # the budget, not all_exhausted
    for name, n in docs.items():  # the epoch cap holds
        assert n <= spec["max_epochs"][name] * data.train[name].n_docs
