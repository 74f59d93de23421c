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
