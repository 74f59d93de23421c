"""Mixture exports parse back to the same weights in every format."""

from __future__ import annotations

import json

import pytest
import yaml

from mixlab.errors import InputError
from mixlab.export.mixtures import format_mixture

MIX = {"web": 0.5, "code": 0.3, "books": 0.2, "math": 0.0}


def test_json_keeps_weights_and_extra():
    doc = json.loads(format_mixture(MIX, "json", extra={"predicted": 2.5}))
    assert doc["mixture"] == {"web": 0.5, "code": 0.3, "books": 0.2}
    assert doc["predicted"] == 2.5
    assert (
        doc["export"]["tokenizer"] is None
        and "tokenizer unknown" in doc["export"]["tokenizer_note"]
    )


PATHS = {"web": "/d/web_text", "code": "/d/code_text", "books": "/d/books_text"}


def test_megatron_data_path_alternates_weight_and_prefix():
    text = format_mixture(MIX, "megatron", paths=PATHS)
    tokens = text.split()
    pairs = list(zip(tokens[::2], tokens[1::2], strict=True))
    assert pairs == [("0.5", "/d/web_text"), ("0.3", "/d/code_text"), ("0.2", "/d/books_text")]


def test_megatron_without_paths_names_the_fix():
    with pytest.raises(InputError, match="mixlab data export SHARDS --format megatron"):
        format_mixture(MIX, "megatron")


def test_megatron_splits_by_tokens_of_user_prefixes(tmp_path):
    import numpy as np

    from mixlab.data.token_files import write_megatron

    a, b = tmp_path / "c1", tmp_path / "c2"
    write_megatron(a, np.ones(300, dtype=np.uint16), np.array([100, 200]), np.dtype("<u2"))
    write_megatron(b, np.ones(100, dtype=np.uint16), np.array([100]), np.dtype("<u2"))
    text = format_mixture(MIX, "megatron", paths={**PATHS, "code": [str(a), str(b)]})
    tokens = text.split()
    assert [float(w) for w in tokens[2:6:2]] == pytest.approx([0.225, 0.075])
    with pytest.raises(InputError, match="cannot split its weight"):
        format_mixture(MIX, "megatron", paths={**PATHS, "code": ["/x/1", "/x/2"]})


def test_olmo_source_mixture_has_every_required_field():
    doc = yaml.safe_load(
        format_mixture(
            MIX, "olmo", paths=PATHS, max_epochs={"books": 4}, requested_tokens=10**9, seed=7
        )
    )
    sources = doc["source_list"]["sources"]
    assert [s["source_name"] for s in sources] == ["web", "code", "books"]
    assert sum(s["target_ratio"] for s in sources) == pytest.approx(1.0)
    assert sources[2]["max_repetition_ratio"] == 4.0 and sources[0]["paths"] == ["/d/web_text"]
    assert doc["requested_tokens"] == 10**9 and doc["global_batch_size"] > 0
    assert doc["seed"] == 7
    with pytest.raises(InputError, match="--token-budget"):
        format_mixture(MIX, "olmo", paths=PATHS)


def test_hf_needs_document_lengths():
    with pytest.raises(InputError, match="mean document length"):
        format_mixture(MIX, "hf", paths=PATHS, requested_tokens=1000)


def test_bad_requests():
    with pytest.raises(InputError, match="--format must be one of"):
        format_mixture(MIX, "csv")
    with pytest.raises(InputError, match="weights sum to 0.5, not 1"):
        format_mixture({"a": 0.5}, "json")
    with pytest.raises(InputError, match="not in the mixture: ghost"):
        format_mixture(MIX, "megatron", paths={"ghost": "/x"})
