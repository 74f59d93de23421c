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
    assert doc == {"mixture": {"web": 0.5, "code": 0.3, "books": 0.2}, "predicted": 2.5}


def test_megatron_data_path_alternates_weight_and_prefix():
    text = format_mixture(MIX, "megatron", paths={"web": "/d/web_text", "code": ["/d/c1", "/d/c2"]})
    tokens = text.split()
    pairs = list(zip(tokens[::2], tokens[1::2], strict=True))
    assert pairs == [("0.5", "/d/web_text"), ("0.15", "/d/c1"), ("0.15", "/d/c2"), ("0.2", "books")]
    assert sum(float(w) for w, _ in pairs) == pytest.approx(1.0)


def test_olmo_source_mixture():
    doc = yaml.safe_load(
        format_mixture(MIX, "olmo", max_epochs={"books": 4}, requested_tokens=10**9)
    )
    sources = doc["source_list"]["sources"]
    assert [s["source_name"] for s in sources] == ["web", "code", "books"]
    assert sum(s["target_ratio"] for s in sources) == pytest.approx(1.0)
    assert sources[2]["max_repetition_ratio"] == 4.0 and sources[0]["paths"] == ["web"]
    assert doc["requested_tokens"] == 10**9


def test_hf_probabilities_in_dataset_order():
    doc = json.loads(format_mixture(MIX, "hf"))
    assert doc["datasets"] == ["web", "code", "books"]
    assert doc["probabilities"] == [0.5, 0.3, 0.2]


def test_bad_requests():
    with pytest.raises(InputError, match="--format must be one of"):
        format_mixture(MIX, "csv")
    with pytest.raises(InputError, match="weights sum to 0.5, not 1"):
        format_mixture({"a": 0.5}, "json")
    with pytest.raises(InputError, match="not in the mixture: ghost"):
        format_mixture(MIX, "megatron", paths={"ghost": "/x"})
