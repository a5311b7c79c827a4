"""Hyperplane-arrangement enumeration against Cover's count and dense random sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lift.errors import PatternCountError
from lift.problems.relu.arrangements import (
    enumerate_patterns,
    estimate_pattern_count,
    interior_gates,
    patterns_from_gates,
    sample_patterns,
    unique_patterns,
)


def _as_set(D):
    return set(map(bytes, np.packbits(D, axis=0).T))


def _augment(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


@pytest.mark.parametrize(("n", "d"), [(15, 1), (12, 2), (9, 3), (40, 2)])
def test_general_position_count_matches_cover(n, d):
    X = _augment(np.random.default_rng(n + d).standard_normal((n, d)))
    D = enumerate_patterns(X)
    # Cover's count includes the all-zero pattern, which the enumeration drops
    assert D.shape[1] == estimate_pattern_count(n, d + 1) - 1
    assert len(_as_set(D)) == D.shape[1]  # no duplicates
    assert D.any(axis=0).all()  # no zero pattern


@pytest.mark.parametrize("X", [
    _augment(np.array([(a, b) for a in np.linspace(-1, 1, 4) for b in np.linspace(-1, 1, 4)])),
    _augment(np.repeat(np.linspace(-1, 1, 6), 2)[:, None]),  # repeated 1-D points
    np.random.default_rng(3).standard_normal((10, 3)),  # no bias column
])
def test_degenerate_data_matches_dense_sampling(X):
    """Collinear and repeated points: enumeration equals what dense sampling reaches."""
    D = enumerate_patterns(X)
    G = np.random.default_rng(0).standard_normal((300_000, X.shape[1]))
    sampled, _ = unique_patterns(X @ G.T > 0)
    assert _as_set(sampled) == _as_set(D)


def test_sampled_patterns_are_real_patterns():
    X = _augment(np.random.default_rng(4).standard_normal((20, 2)))
    D, gates = sample_patterns(X, 500, seed=1)
    assert _as_set(D) <= _as_set(enumerate_patterns(X))
    assert np.array_equal(patterns_from_gates(X, gates), D)
    assert D.shape[1] <= 500 and len(_as_set(D)) == D.shape[1]


def test_interior_gates_reproduce_patterns():
    X = _augment(np.random.default_rng(5).standard_normal((10, 2)))
    D = enumerate_patterns(X)[:, :25]
    G = interior_gates(X, D)
    assert np.array_equal(X @ G.T > 0, D)


def test_too_many_patterns_raises_with_estimate_and_advice():
    X = _augment(np.random.default_rng(0).standard_normal((200, 8)))
    with pytest.raises(PatternCountError, match=r"up to [\d,]+ patterns.*patterns=1000"):
        enumerate_patterns(X)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=2, max_size=12))
def test_integer_grid_data_property(points):
    """On degenerate integer data: every listed pattern is a real open cell (an LP finds an
    interior point), none is missing from what sampling finds, and Cover's count bounds them."""
    X = _augment(np.array(points, dtype=float))
    D = enumerate_patterns(X)
    G = interior_gates(X, D)  # raises if some pattern has no open cell
    assert np.array_equal(X @ G.T > 0, D)
    sampled, _ = unique_patterns(X @ np.random.default_rng(0).standard_normal((20_000, 3)).T > 0)
    assert _as_set(sampled) <= _as_set(D)
    assert D.shape[1] <= estimate_pattern_count(len(points), 3) - 1
