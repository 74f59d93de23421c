"""Chinchilla refit on Epoch AI's extraction of Hoffmann et al.'s points (skipped without it)."""

import numpy as np
import pandas as pd
import pytest

from mixlab.laws.scaling.forms import ChinchillaLaw

EPOCH = {"E": 1.817, "alpha": 0.3478, "beta": 0.3658}
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def test_epoch_refit_within_one_percent(reference_data):
    frame = pd.read_csv(reference_data / "epoch_chinchilla_svg_extracted_data.csv")
    N = frame["Model Size"].to_numpy(float)
    X = np.column_stack([N, frame["Training FLOP"].to_numpy(float) / (6 * N)])
    y = frame["loss"].to_numpy(float)
    law = ChinchillaLaw(drop_highest=5).fit(X, y)
    assert law.n_points_ == len(y) - 5
    for name, value in EPOCH.items():
        assert law.params_[name] == pytest.approx(value, rel=0.01)
    kept = law.rows_
    assert law.cost(X[kept], y[kept], HOFFMANN) > 2 * law.cost_
