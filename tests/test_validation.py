"""Bad input fails early with a clear error that names the argument."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from lift.errors import PatternCountError, SolverNotAvailableError
from lift.problems import TwoLayerReLU
from lift.solvers import check_usable, installed_solvers

X = np.random.default_rng(0).standard_normal((10, 2))
Y = np.random.default_rng(1).standard_normal(10)
PM1 = np.where(Y > 0, 1.0, -1.0)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"X": np.where(np.eye(10, 2) > 0, np.nan, X)}, ValueError, r"`X` contains 2 NaN"),
    ({"X": np.where(np.eye(10, 2) > 0, np.inf, X)}, ValueError, r"`X` contains .*infinite"),
    ({"y": np.r_[Y[:9], np.nan]}, ValueError, r"`y` contains 1 NaN"),
    ({"y": Y[:7]}, ValueError, r"mismatched lengths: X has 10 rows, y has 7"),
    ({"X": X[:, 0]}, ValueError, r"`X` must be a 2-D array.*reshape\(-1, 1\)"),
    ({"X": np.zeros((0, 2)), "y": np.zeros(0)}, ValueError, r"`X` must have at least 1 row"),
    ({"X": np.zeros((10, 0))}, ValueError, r"`X` is empty"),
    ({"beta": 0.0}, ValueError, r"`beta` must be a float in the range \(0, inf\)"),
    ({"beta": -1}, ValueError, r"`beta`"),
    ({"beta": float("nan")}, ValueError, r"`beta`"),
    ({"beta": "1e-3"}, TypeError, r"`beta` must be a real number"),
    ({"loss": "logistic"}, ValueError, r"`y` must hold labels in \{-1, \+1\}"),
    ({"loss": "hinge", "y": np.r_[PM1[:9], 0.0]}, ValueError, r"labels in \{-1, \+1\}"),
    ({"loss": "l1"}, ValueError, r"`loss` must be one of"),
    ({"bias": "yes"}, TypeError, r"`bias` must be True or False"),
    ({"X": [["a", "b"]] * 10}, TypeError, r"`X` must be a real numeric array .*strings"),
    ({"y": np.ones((10, 2))}, ValueError, r"`y` must be 1-D"),
])
def test_problem_input_errors(kwargs, exc, match):
    args = {"X": X, "y": Y, "beta": 1e-3, **kwargs}
    with pytest.raises(exc, match=match):
        TwoLayerReLU(**args)


def test_input_is_not_modified_and_lists_are_accepted():
    Xc, Yc = X.copy(), Y.copy()
    prob = TwoLayerReLU(X.tolist(), Y.tolist(), beta=1e-3)
    assert np.array_equal(X, Xc) and np.array_equal(Y, Yc)
    assert prob.n == 10 and prob.d == 2


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"program": "convex"}, ValueError, r"`program` must be one of \['cone', 'gated'\]"),
    ({"program": "relu"}, ValueError, r"`program` must be one of \['cone', 'gated'\]"),
    ({"patterns": "all"}, ValueError, r"`patterns` must be one of \['exact', 'auto'\]"),
    ({"verify": "no"}, TypeError, r"`verify` must be True, False or None"),
    ({"patterns": 0}, ValueError, r"`patterns` must be an integer >= 1"),
    ({"patterns": np.ones((4, 2))}, ValueError, r"`patterns` as gates must have shape \(P, 3\)"),
    ({"seed": -1}, ValueError, r"`seed`"),
])
def test_lift_option_errors(kwargs, exc, match):
    prob = TwoLayerReLU(X, Y, beta=1e-3)
    with pytest.raises(exc, match=match):
        prob.lift(**kwargs)


def test_exact_patterns_refused_for_high_rank_data():
    rng = np.random.default_rng(0)
    prob = TwoLayerReLU(rng.standard_normal((300, 10)), rng.standard_normal(300), beta=1e-3)
    with pytest.raises(PatternCountError, match="Sample patterns instead"):
        prob.lift(patterns="exact")


def test_unknown_solver_and_bad_tol():
    lifted = TwoLayerReLU(X[:, :1], Y, beta=1e-2).lift()
    with pytest.raises(ValueError, match=r"Unknown `solver` 'gurobi'.*choose one of"):
        lifted.solve(solver="gurobi")
    with pytest.raises(TypeError, match=r"`solver` must be a string"):
        lifted.solve(solver=3)
    with pytest.raises(ValueError, match=r"`tol` must be a relative tolerance in \[1e-12, 0.1\]"):
        lifted.solve(solver="scs", tol=-1.0)


def test_objective_rejects_non_networks():
    prob = TwoLayerReLU(X, Y, beta=1e-3)
    with pytest.raises(TypeError, match=r"`params` must be a network"):
        prob.objective(np.ones(3))


def test_mosek_unusable_names_open_solvers():
    """Without MOSEK (or its licence) asking for it names SCS and Clarabel instead."""
    if importlib.util.find_spec("mosek") is not None:
        try:
            check_usable("mosek")
        except SolverNotAvailableError as exc:
            assert "clarabel" in str(exc) and "scs" in str(exc)
            return
        pytest.skip("a licensed MOSEK is installed")
    assert "mosek" not in installed_solvers()
    with pytest.raises(SolverNotAvailableError, match=r"solver='clarabel' or solver='scs'"):
        check_usable("mosek")
    lifted = TwoLayerReLU(X[:, :1], Y, beta=1e-2).lift()
    with pytest.raises(SolverNotAvailableError, match=r"mosek"):
        lifted.solve(solver="mosek")
