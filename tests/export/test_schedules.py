"""Phase schedules exported per phase, each phase file read back by the real consumer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import yaml

from mixlab.errors import InputError
from mixlab.export.mixtures import load_export_data
from mixlab.export.schedules import (
    load_hf_schedule,
    parse_phases,
    remaining_epochs,
    write_schedule_export,
)
from mixlab.export.tokens import export_tokens
from tests.export.test_consumers import BUDGET, assert_shares, consumer, prepared, shares_of  # noqa: F401

SCHEDULE = {
    "kind": "curriculum",
    "stages": [
        {"fraction": 0.6, "weights": {"short": 0.6, "medium": 0.3, "long": 0.1}},
        {"fraction": 0.4, "weights": {"short": 0.1, "medium": 0.4, "long": 0.5}},
    ],
}


def test_parse_phases_and_epoch_caps_count_every_phase():
    assert parse_phases({"a": 0.5, "b": 0.5}) == [(1.0, {"a": 0.5, "b": 0.5})]
    phases = parse_phases(SCHEDULE)
    assert [f for f, _ in phases] == [0.6, 0.4]
    with pytest.raises(InputError, match="sum to"):
        parse_phases({"stages": [{"fraction": 0.5, "weights": {"a": 1.0}}]})
    # long: 0.06 then 0.2 of 1000 tokens, 150 available: 0.4 + 1.33 epochs; each phase alone
    # is under a cap of 1.5, both together are not
    available = {"short": 1e6, "medium": 1e6, "long": 150.0}
    with pytest.raises(InputError, match="phase 2: domain 'long'.*count every phase"):
        remaining_epochs(phases, 1000, available, {"long": 1.5})
    left = remaining_epochs(phases, 1000, available, {"long": 2.0})
    assert left[0]["long"] == 2.0 and left[1]["long"] == pytest.approx(2.0 - 60 / 150)


def test_json_manifest_has_token_boundaries(tmp_path):
    out = tmp_path / "s.json"
    written = write_schedule_export(out, SCHEDULE, "json", requested_tokens=1000)
    assert written == [out]
    doc = json.loads(out.read_text())
    rows = doc["schedule"]
    assert [(r["start_tokens"], r["end_tokens"]) for r in rows] == [(0, 600), (600, 1000)]
    assert rows[1]["mixture"]["long"] == 0.5
    assert doc["export"]["mixture_tokens"]["long"] == pytest.approx(0.06 + 0.2)


def phase_shares(phases):
    return [{d: w for d, w in m.items()} for _, m in parse_phases(phases)]


@pytest.mark.slow
def test_megatron_reads_each_phase_blend(prepared, tmp_path):  # noqa: F811
    consumer("megatron.core.datasets.indexed_dataset", "megatron-core")
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import get_blend_from_list

    from mixlab.data.prepared import load_prepared

    data = load_prepared(prepared)
    export = export_tokens(prepared, "megatron", tmp_path / "meg")
    out = tmp_path / "sched.json"
    written = write_schedule_export(
        out, SCHEDULE, "megatron", data=export.directory, requested_tokens=BUDGET,
        global_batch_size=64 * 16, max_epochs={"long": 3.0},
    )  # fmt: skip
    manifest = json.loads(out.read_text())
    assert [r["file"] for r in manifest["schedule"]] == [p.name for p in written[1:]]
    assert manifest["schedule"][0]["iterations"] == round(0.6 * BUDGET / 1024)

    class Tok:
        vocab_size = data.tokenizer.vocab_size
        eod = data.tokenizer.eod_id
        pad = data.tokenizer.vocab_size - 1
        bos = None
        unique_identifiers = {"class": "mixlab-bytes", "vocab_size": vocab_size}

    domain_of = {
        str(export.directory.resolve() / f["path"]): name
        for name, entry in export.manifest["domains"].items()
        for f in entry["train"]["files"]
    }
    for path, want in zip(written[1:], phase_shares(SCHEDULE), strict=True):
        parts = path.read_text().split()
        config = GPTDatasetConfig(
            random_seed=0,
            sequence_length=64,
            blend_per_split=[get_blend_from_list(parts), None, None],
            tokenizer=Tok(),
            reset_position_ids=False,
            reset_attention_mask=False,
            eod_mask_loss=False,
            path_to_cache=None,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train, _, _ = BlendedMegatronDatasetBuilder(
                GPTDataset, [1000, None, None], lambda: True, config
            ).build()
        counts: dict[str, float] = {}
        for i, n in enumerate(np.bincount(train.dataset_index, minlength=len(train.datasets))):
            name = domain_of[train.datasets[i].dataset_path]
            counts[name] = counts.get(name, 0) + n
        assert_shares(shares_of(counts), want)


@pytest.mark.slow
def test_olmo_core_builds_each_phase_with_its_budget(prepared, tmp_path):  # noqa: F811
    consumer("olmo_core.data.source_mixture", "ai2-olmo-core")
    from olmo_core.data.source_mixture import SourceMixtureDatasetConfig

    export = export_tokens(prepared, "olmo", tmp_path / "olmo")
    out = tmp_path / "sched.json"
    written = write_schedule_export(
        out, SCHEDULE, "olmo", data=export.directory, requested_tokens=BUDGET,
        global_batch_size=64 * 16, max_epochs={"long": 3.0},
    )  # fmt: skip
    for k, (path, want) in enumerate(zip(written[1:], phase_shares(SCHEDULE), strict=True)):
        assert yaml.safe_load(path.read_text())["seed"] == k  # a fresh order per phase
        config = SourceMixtureDatasetConfig.from_yaml(path)
        config.render_tables = False
        config.quiet = True
        mixture = config.build(npdtype=np.uint16, sequence_length=64)
        tokens = {o.name: sum(p.tokens for p in o.path_tokens) for o in mixture.sources}
        assert_shares(shares_of(tokens), want)
        phase_budget = SCHEDULE["stages"][k]["fraction"] * BUDGET
        assert abs(sum(tokens.values()) - phase_budget) / phase_budget < 0.01


@pytest.mark.slow
def test_hf_schedule_concatenates_the_phases_in_order(prepared, tmp_path):  # noqa: F811
    consumer("datasets", "datasets")
    export = export_tokens(prepared, "hf", tmp_path / "hf")
    out = tmp_path / "sched.json"
    written = write_schedule_export(
        out, SCHEDULE, "hf", data=load_export_data(export.directory), requested_tokens=BUDGET,
        max_epochs={"long": 3.0},
    )  # fmt: skip
    whole = load_hf_schedule(out)
    first = json.loads(written[1].read_text())["documents"]  # phase 1's rows come first
    for rows, want in zip(
        (range(0, first), range(first, len(whole))), phase_shares(SCHEDULE), strict=True
    ):
        part = whole.select(rows)
        counts: dict[str, float] = {}
        for name, n in zip(part["domain"], part["num_tokens"], strict=True):
            counts[name] = counts.get(name, 0) + n
        assert_shares(shares_of(counts), want)
    total = sum(whole["num_tokens"])
    assert abs(total - BUDGET) / BUDGET < 0.01
