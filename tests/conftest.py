"""Shared fixtures: every RNG seeded per test; small exact-pattern problems."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that still uses the legacy global RNG
    torch.manual_seed(0)
    yield


@pytest.fixture
def data_1d():
    """Small 1-D regression (exact patterns: 2n - 1 of them with bias)."""
    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-2, 2, 24))[:, None]
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(24)
    return X, y


@pytest.fixture
def data_2d():
    """Small 2-D regression (exact patterns: about n^2 with bias)."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (14, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + 0.05 * rng.standard_normal(14)
    return X, y


@pytest.fixture
def data_2d_pm1():
    """Small 2-D classification with labels in {-1, +1}."""
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (14, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    return X, y
