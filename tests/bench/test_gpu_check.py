"""bench/gpu_check.py's CPU dry run: every figure of the GPU check is measured, none fails."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


def test_gpu_check_dry_run_measures_every_figure(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    results = module.main(
        ["--dry-run", "--work", str(tmp_path), "--json", str(tmp_path / "r.json")]
    )
    assert results["failed"] == []
    assert results["a"]["tokens_per_s"] > 0
    assert set(results["b"]) == {"1", "2", "3"} and all(v > 0 for v in results["b"].values())
    assert {"25k", "demo", "demo_population"} <= set(results["c"])
    assert all(math.isfinite(v) for v in results["c"].values())
    assert (tmp_path / "r.json").exists()


def test_gpu_check_times_the_models_of_the_current_gpu_phase_config(monkeypatch):
    """(c) reads examples/phase/gpu.yaml: the models it names, the run shape and study tokens."""
    from mixlab.studies.phase import load_phase_config, model_label

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)
    spec.loader.exec_module(module)
    check = module.gpu_check()
    cfg, _ = load_phase_config(module.PHASE_CONFIG)
    assert list(check.phase) == [model_label(m) for m in cfg.models]
    run = check.phase_run
    assert (run["seq_len"], run["batch_size"]) == (cfg.train["seq_len"], cfg.train["batch_size"])
    assert run["vocab"] == cfg.tokenizer.vocab_size and run["tokens"] == max(cfg.tokens)
    per_model = len(cfg.ratios) * len(cfg.seeds) * max(cfg.tokens)
    assert all(t >= per_model for t in run["study_tokens"].values())
