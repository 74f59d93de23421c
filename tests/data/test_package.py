"""The data layer stays importable without torch (the trainer brings torch, not this layer)."""

from __future__ import annotations

import subprocess
import sys


def test_data_layer_does_not_import_torch() -> None:
    code = "import sys, mixlab.data, mixlab.data.demo_corpora; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
