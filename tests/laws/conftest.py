"""Shared fixtures for the laws tests: small synthetic mixing data with known laws."""

import os

# Tiny matrices: BLAS threads only add contention on a shared machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DOMAINS = ["web", "code", "books", "math"]


def exp_truth(R: np.ndarray) -> np.ndarray:
    """Two targets from known explicit laws (t centred, as ExpLaw stores them)."""
    t = np.array([[-2.0, 1.0, 0.5, 0.5], [0.8, -2.4, 0.6, 1.0]])
    c = np.array([2.0, 1.5])
    k = np.array([0.8, 1.2])
    return c + k * np.exp(R @ t.T)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def mixtures(rng: np.random.Generator) -> np.ndarray:
    return rng.dirichlet(np.ones(len(DOMAINS)), 120)
