import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import dirichlet_design, round_mixtures, simplex_grid, validate_mixture_list

PRIOR = {"web": 0.5, "code": 0.25, "books": 0.15, "math": 0.08, "tiny": 0.02}


def test_dirichlet_design_respects_cap_rounding_and_uniqueness():
    W = dirichlet_design(PRIOR, 200, cap=3.0, decimals=2, seed=0)
    prior = np.array(list(PRIOR.values()))
    assert W.shape == (200, 5)
    assert np.all(W <= 3.0 * prior + 1e-12)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(W * 100, np.round(W * 100), atol=1e-9)
    assert len(np.unique(W, axis=0)) == 200
    np.testing.assert_array_equal(W, dirichlet_design(PRIOR, 200, cap=3.0, decimals=2, seed=0))
    assert not np.array_equal(W, dirichlet_design(PRIOR, 200, cap=3.0, decimals=2, seed=1))


def test_dirichlet_design_excludes_and_reports_impossible_requests():
    first = dirichlet_design(PRIOR, 20, seed=0, decimals=1)
    more = dirichlet_design(PRIOR, 20, seed=0, decimals=1, exclude=first)
    assert not {tuple(r) for r in np.round(first, 6)} & {tuple(r) for r in np.round(more, 6)}
    with pytest.raises(InputError, match="only .* of 500"):
        dirichlet_design(PRIOR, 500, decimals=1, cap=2.0, seed=0, max_draws=20000)
    with pytest.raises(InputError, match="cap"):
        dirichlet_design(PRIOR, 5, cap=0.5)
    with pytest.raises(InputError, match="prior"):
        dirichlet_design({"a": -1.0, "b": 2.0}, 5)


def test_concentration_controls_spread():
    sparse = dirichlet_design(PRIOR, 300, concentration=(0.05, 0.05), cap=None, seed=0)
    dense = dirichlet_design(PRIOR, 300, concentration=(200, 200), cap=None, seed=0)
    assert (sparse == 0).mean() > (dense == 0).mean()
    prior = np.array(list(PRIOR.values()))
    assert np.abs(dense.mean(axis=0) - prior).max() < 0.02


def test_round_mixtures_keeps_sums_exact():
    W = round_mixtures(np.array([[1 / 3, 1 / 3, 1 / 3], [0.126, 0.4321, 0.4419]]), 2)
    np.testing.assert_allclose(W, [[0.34, 0.33, 0.33], [0.13, 0.43, 0.44]])


def test_simplex_grid():
    G = simplex_grid(3, 4)
    assert G.shape == (15, 3)
    np.testing.assert_allclose(G.sum(axis=1), 1.0)
    assert len(np.unique(G, axis=0)) == 15
    with pytest.raises(InputError, match="max_points"):
        simplex_grid(20, 50, max_points=1000)


def test_validate_mixture_list():
    W, names = validate_mixture_list([{"a": 0.5, "b": 0.5}, {"a": 1.0}])
    assert names == ["a", "b"] and W[1, 1] == 0.0
    with pytest.raises(InputError, match="row 1 duplicates row 0"):
        validate_mixture_list([[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(InputError, match="unknown domain 'z'"):
        validate_mixture_list([{"a": 1.0}], ["a", "b"]) and validate_mixture_list(
            [{"z": 1.0}], ["a", "b"]
        )
    with pytest.raises(InputError, match="row 0: weights sum to 0.9"):
        validate_mixture_list([[0.5, 0.4]])
