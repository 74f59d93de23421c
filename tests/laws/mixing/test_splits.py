"""The cross-validation split schemes: partitions, seeded, every run held out as promised."""

from __future__ import annotations

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws.mixing.crossval import kfold_splits, loo_splits, shuffle_splits


def test_kfold_partitions_the_runs():
    splits = kfold_splits(23, 5, seed=1)
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests) == list(range(23))  # every run held out exactly once
    assert sorted(len(te) for _, te in splits) == [4, 4, 5, 5, 5]
    for tr, te in splits:
        assert not set(tr) & set(te) and len(tr) + len(te) == 23
    again = kfold_splits(23, 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))
    assert not all(
        np.array_equal(a[1], b[1]) for a, b in zip(splits, kfold_splits(23, 5, seed=2), strict=True)
    )
    with pytest.raises(InputError, match="n_splits"):
        kfold_splits(3, 5)


def test_shuffle_splits_hold_out_test_size_runs():
    splits = shuffle_splits(26, 6, n_repeats=10, seed=0)
    assert len(splits) == 10
    for tr, te in splits:
        assert len(te) == 6 and len(tr) == 20 and not set(tr) & set(te)
    assert len({tuple(te) for _, te in splits}) == 10
    with pytest.raises(InputError, match="test_size"):
        shuffle_splits(5, 4)


def test_leave_one_out():
    splits = loo_splits(4)
    assert [te.tolist() for _, te in splits] == [[0], [1], [2], [3]]
    assert splits[2][0].tolist() == [0, 1, 3]
