"""Reliability at the library boundary (issue 13): one status policy, the `tol` range, real
numeric data only, options checked where they enter, scale handling, size guards."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lift.base import certified_status
from lift.problems import TwoLayerReLU

RNG = np.random.default_rng(0)
X1 = np.sort(RNG.uniform(-2, 2, 10))[:, None]
Y1 = np.sin(2 * X1[:, 0]) + 0.1 * RNG.standard_normal(10)


def _prob(**kw):
    return TwoLayerReLU(kw.pop("X", X1), kw.pop("y", Y1), kw.pop("beta", 1e-2), **kw)


# --- item 3: one status policy --------------------------------------------------------------
@pytest.mark.parametrize("factor", [1.5, 5.0, 9.9])
def test_optimal_needs_the_gap_within_tol(factor):
    tol = 1e-6
    status, reason = certified_status("optimal", factor * tol, tol)
    assert status == "optimal_inaccurate" and "above the tolerance" in reason
    assert certified_status("optimal", 0.9 * tol, tol) == ("optimal", "")
    assert certified_status("max_iters", 0.5 * tol, tol)[0] == "max_iters"


@pytest.mark.parametrize("tol", [10, 0.5, 1e-13, 0.0, -1e-6, float("nan"), float("inf")])
def test_tol_outside_its_range_is_refused(tol):
    lifted = _prob().lift()
    with pytest.raises(ValueError, match=r"`tol` must be a relative tolerance in \[1e-12, 0.1\]"):
        lifted.solve(solver="clarabel", tol=tol)
    with pytest.raises(ValueError, match="`tol`"):
        lifted.path([1e-2, 1e-3], tol=tol)
    with pytest.raises(ValueError, match="`tol`"):
        _prob().path([1e-2, 1e-3], tol=tol)


@pytest.mark.parametrize("tol", ["1e-6", None, True])
def test_tol_of_wrong_type_is_refused(tol):
    with pytest.raises(TypeError, match="`tol` must be a real number"):
        _prob().lift().solve(solver="clarabel", tol=tol)


@pytest.mark.parametrize("tol", [1e-12, 1e-1])
def test_tol_at_the_ends_of_its_range_is_accepted(tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = _prob().lift().solve(solver="clarabel", tol=tol)
    assert sol.status in ("optimal", "optimal_inaccurate")
    assert sol.status != "optimal" or sol.rel_gap <= tol


@pytest.mark.parametrize("solver", ["clarabel", "scs"])
@pytest.mark.parametrize("tol", [1e-4, 1e-6, 1e-8])
def test_optimal_means_certified_within_tol(solver, tol):
    """Whatever a backend says, "optimal" comes back only with a certified gap <= tol."""
    for k, loss in enumerate(("squared", "logistic")):
        rng = np.random.default_rng(k)
        X = rng.standard_normal((8, 2))
        y = rng.standard_normal(8)
        if loss == "logistic":
            y = np.where(y > 0, 1.0, -1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = TwoLayerReLU(X, y, 0.1, loss=loss).lift().solve(solver=solver, tol=tol)
        assert sol.status != "optimal" or sol.rel_gap <= tol, (loss, sol.rel_gap)
        assert sol.lower_bound <= sol.value


# --- item 5: real numeric data only -----------------------------------------------------------
NON_REAL = {
    "complex": X1 + 1e-3j,
    "datetime": np.array(["2020-01-01"] * 10, dtype="datetime64[D]")[:, None],
    "timedelta": np.arange(10).astype("timedelta64[s]")[:, None],
    "strings": X1.astype(str),
    "objects": np.array([[v] for v in ["1.0"] + [1.0] * 9], dtype=object),
}


@pytest.mark.parametrize("kind", sorted(NON_REAL))
def test_non_real_data_is_refused_not_truncated(kind):
    bad = NON_REAL[kind]
    with pytest.raises(TypeError, match="`X` must"):
        TwoLayerReLU(bad, Y1, 1e-2)
    with pytest.raises(TypeError, match="`y` must"):
        TwoLayerReLU(X1, bad[:, 0], 1e-2)
    gates = np.hstack([bad[:4], bad[:4]])
    with pytest.raises(TypeError, match="`patterns` must"):
        _prob().lift(patterns=gates)


def test_real_kinds_are_accepted_as_numbers():
    """bool, int and object arrays of real numbers read as the same float data."""
    ref = _prob(X=np.arange(10.0)[:, None] % 3, y=np.arange(10.0))
    for Xv, yv in ((np.arange(10)[:, None] % 3, np.arange(10)),
                   ((np.arange(10)[:, None] % 3).astype(object), list(range(10)))):
        p = _prob(X=Xv, y=yv)
        assert p.X.dtype == np.float64 and np.array_equal(p.X, ref.X)
        assert np.array_equal(p.y, ref.y)
    assert np.array_equal(_prob(X=np.eye(10, 1, dtype=bool)).X, np.eye(10, 1))


def test_non_real_data_is_refused_by_every_family():
    """Complex points and values are the transfer family's own (frequency responses); dates
    and strings are nobody's."""
    from lift.problems import MatrixCompletion, MatrixSensing, RationalFit

    x = np.linspace(-1, 1, 21)
    with pytest.raises(TypeError, match="`points` must"):
        RationalFit(x.astype("datetime64[D]"), np.exp(x), 1, 1)
    with pytest.raises(TypeError, match="`values` must"):
        RationalFit(x, np.exp(x).astype(str), 1, 1)
    for M in (np.ones((4, 4)) + 1j, np.ones((4, 4)).astype("datetime64[D]"),
              np.ones((4, 4)).astype(str)):
        with pytest.raises(TypeError, match="`M` must"):
            MatrixCompletion(M, lam=1.0)
    from lift.problems import LinearSystemID

    u = np.random.default_rng(0).standard_normal((2, 12))
    for bad in (u + 1j, u.astype(str), u.astype("datetime64[s]")):
        with pytest.raises(TypeError, match="`u` must"):
            LinearSystemID(bad, u, 2, reg=0.3)
        with pytest.raises(TypeError, match="`y` must"):
            LinearSystemID(u, bad, 2, reg=0.3)
    A = np.random.default_rng(0).standard_normal((6, 3, 3))
    with pytest.raises(TypeError, match="`b` must"):
        MatrixSensing(A, np.ones(6) + 1j, shape=(3, 3))
    with pytest.raises(TypeError, match="`A` must"):
        MatrixSensing(A + 1j, np.ones(6), shape=(3, 3))


# --- item 6: options checked at the boundary ----------------------------------------------------
@pytest.mark.parametrize("device", ["nope", "cuda:0" if not __import__("torch").cuda.is_available()
                                    else "cuda:99", 3])
def test_device_is_checked_against_torch(device):
    exc = TypeError if not isinstance(device, str) else ValueError
    lifted = _prob().lift(program="gated")
    with pytest.raises(exc, match="`device`"):
        lifted.solve(solver="fista", device=device)
    with pytest.raises(exc, match="`device`"):
        _prob().model(3, device=device)


def test_cpu_device_works():
    sol = _prob().lift(program="gated").solve(solver="fista", device="cpu", tol=1e-4)
    assert sol.status in ("optimal", "max_iters")
    assert _prob().model(3, device="cpu").alpha.device.type == "cpu"


@pytest.mark.parametrize("solver", ["clarabel", "scs", "fista", "active_set"])
def test_warm_start_of_wrong_type_or_shape_is_refused(solver):
    lifted = _prob().lift(program="gated")
    with pytest.raises(TypeError, match="`warm_start` must be"):
        lifted.solve(solver=solver, warm_start="garbage")
    with pytest.raises(ValueError, match=r"`warm_start\['V'\]` must have shape"):
        lifted.solve(solver=solver, warm_start={"V": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="`warm_start` has unknown key"):
        lifted.solve(solver=solver, warm_start={"U": np.zeros((3, 2))})


def test_warm_start_from_a_solution_is_accepted():
    lifted = _prob().lift(program="gated")
    first = lifted.solve(solver="fista", tol=1e-5)
    again = lifted.solve(solver="fista", tol=1e-5, warm_start=first)
    assert again.iterations <= first.iterations
    assert abs(again.value - first.value) <= 1e-4 * abs(first.value)


@pytest.mark.parametrize(("solver", "known"), [("clarabel", "tol_gap_abs"),
                                                 ("scs", "eps_abs")])
def test_unknown_backend_options_are_named(solver, known):
    with pytest.raises(ValueError, match=rf"Unknown option\(s\) `bogus` for "
                                         rf"solver='{solver}'.*{known}"):
        _prob().lift().solve(solver=solver, bogus=1)


@pytest.mark.parametrize("solver", ["clarabel", "scs"])
def test_max_iters_reaches_the_backend(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = _prob().lift().solve(solver=solver, max_iters=2)
    assert sol.iterations is not None and sol.iterations <= 2
    assert sol.status != "optimal"
    with pytest.raises(ValueError, match="`max_iters` must be an integer >= 1"):
        _prob().lift().solve(solver=solver, max_iters=0)


@pytest.mark.parametrize("verbose", ["no", 1.0])
def test_verify_and_verbose_are_flags(verbose):
    with pytest.raises(TypeError, match="`verify` must be True, False or None"):
        _prob().lift(verify=verbose)
    with pytest.raises(TypeError, match="`verbose` must be True or False"):
        _prob().lift().solve(solver="clarabel", verbose=verbose)


# --- item 4: datasets --------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kwargs", "exc", "match"), [
    ("toy1d", {"test_size": 0.99}, ValueError, "`test_size`=0.99 of 40 rows leaves 0 training"),
    ("iris", {"test_size": 0.999999}, ValueError, "`test_size`"),
    ("toy1d", {"n": 3, "test_size": 0.1}, ValueError, "`test_size`"),
    ("toy1d", {"noise": float("nan")}, ValueError, "`noise`"),
    ("toy2d", {"noise": float("inf")}, ValueError, "`noise`"),
    ("toy1d", {"noise": -0.1}, ValueError, "`noise`"),
    ("toy1d", {"noise": "0.1"}, TypeError, "`noise` must be a real number"),
    ("teacher", {"noise": "0.1"}, TypeError, "`noise` must be a real number"),
    ("toy1d", {"n": 0}, ValueError, "`n` must be an integer >= 2"),
    ("diabetes", {"n": 0}, ValueError, "`n` must be an integer >= 2"),
    ("diabetes", {"n": 2.5}, TypeError, "`n` must be an integer"),
    ("xor", {"noise": 0.1}, TypeError, "takes no argument.*`noise`"),
    ("toy1d", {"test_size": "0.2"}, TypeError, "`test_size`"),
])
def test_load_is_validated(name, kwargs, exc, match):
    from lift.datasets import load

    with pytest.raises(exc, match=match):
        load(name, **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), [("toy1d", {"n": 2, "test_size": 0.0}),
                                              ("toy1d", {"n": 3, "test_size": 0.34}),
                                              ("iris", {"test_size": 0.98}),
                                              ("diabetes", {"n": 12, "test_size": 0.5})])
def test_smallest_splits_are_finite_and_non_empty(name, kwargs):
    from lift.datasets import load

    data = load(name, **kwargs)
    assert data.X_train.shape[0] >= 2
    assert kwargs["test_size"] == 0 or data.X_test.shape[0] >= 1
    for arr in (data.X_train, data.y_train, data.X_test, data.y_test):
        assert np.all(np.isfinite(arr))


# --- item 1: scale handling ---------------------------------------------------------------------
FACTORS = [(1e-8, 1e-8), (1e-8, 1e8), (1e8, 1e-8), (1e8, 1e8), (1e-4, 1.0), (1.0, 1e6)]


def _reference(loss="squared", program="cone"):
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (9, 1))
    y = np.sin(3 * X[:, 0]) if loss == "squared" else np.where(X[:, 0] > 0.2, 1.0, -1.0)
    prob = TwoLayerReLU(X, y, 0.05, loss=loss, bias=False)
    return X, y, prob.lift(program=program).solve(solver="clarabel", tol=1e-9)


@pytest.mark.parametrize(("program", "solver"), [("cone", "clarabel"), ("cone", "scs"),
                                                  ("cone", "al"), ("cone", "active_set"),
                                                  ("gated", "fista"),
                                                  ("gated", "active_set")])
def test_squared_loss_solves_are_scale_invariant(program, solver):
    """(c X, s y, s c beta) has s^2 times the objective of (X, y, beta) at the point with
    weights scaled by s / c: every solver finds the scaled optimum, 1e-8 <= c, s <= 1e8."""
    X, y, ref = _reference(program=program)
    for c, s in FACTORS:
        prob = TwoLayerReLU(c * X, s * y, s * c * 0.05, bias=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = prob.lift(program=program).solve(solver=solver, tol=1e-6)
        assert sol.status == "optimal", (c, s, sol.status, sol.message)
        assert sol.rel_gap <= 1e-6
        assert abs(sol.value / s**2 - ref.value) <= 1e-5 * ref.value, (c, s)
        assert abs(sol.global_bound / s**2 - ref.global_bound) <= 1e-5 * ref.value
        assert sol.value == pytest.approx(prob.objective(sol.params), rel=1e-12)


@pytest.mark.parametrize("solver", ["clarabel", "scs", "al"])
def test_logistic_solves_are_scale_invariant(solver):
    X, y, ref = _reference(loss="logistic")
    for c in (1e-8, 1e-3, 1e4, 1e8):
        prob = TwoLayerReLU(c * X, y, c * 0.05, loss="logistic", bias=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = prob.lift().solve(solver=solver, tol=1e-6)
        assert sol.status in ("optimal", "max_iters"), (c, sol.status, sol.message)
        assert sol.lower_bound <= sol.value
        tol = 1e-5 if sol.status == "optimal" else 1e-3
        assert abs(sol.value - ref.value) <= tol * ref.value, (c, sol.value, ref.value)


def test_normalized_program_maps_back_exactly():
    """back(forward(point)) is the point, and the rescaled program's objective at the
    forward image is s^2 times the original's (patterns unchanged)."""
    X, y, _ = _reference()
    prob = TwoLayerReLU(1e6 * X, 1e-5 * y, 0.05 * 10.0, bias=True)
    lifted = prob.lift()
    inner, back, forward = lifted.normalized()
    assert inner is not lifted and np.array_equal(inner.D, lifted.D)
    rng = np.random.default_rng(0)
    point = {"V": rng.standard_normal((lifted.P, 2)), "W": rng.standard_normal((lifted.P, 2)),
             "dual": rng.standard_normal(9)}
    again = back(forward(point))
    for key in point:
        np.testing.assert_allclose(again[key], point[key], rtol=1e-15)
    s = inner.problem.y[0] / prob.y[0]
    assert inner.program_value(forward(point)) == pytest.approx(
        s**2 * lifted.program_value(point), rel=1e-12)
    # data already of order one is solved as it is
    assert TwoLayerReLU(X, y, 0.05).lift().normalized()[0].problem.X is not None
    plain = TwoLayerReLU(X, y, 0.05).lift()
    assert plain.normalized()[0] is plain


def test_issue_example_large_targets():
    """TwoLayerReLU(X, 1e5 y, beta=1e-2): was "infeasible"; zero is always feasible."""
    from lift.datasets import load

    d = load("toy1d")
    prob = TwoLayerReLU(d.X_train, 1e5 * d.y_train, beta=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for solver in ("auto", "clarabel"):
            sol = prob.lift().solve(solver=solver)
            assert sol.status in ("optimal", "optimal_inaccurate"), sol.message
            assert sol.status != "optimal" or sol.rel_gap <= 1e-6
            assert sol.rel_gap < 1e-3
            assert sol.lower_bound <= sol.value
            assert sol.value == pytest.approx(prob.objective(sol.params), rel=1e-12)


def test_infeasible_on_a_feasible_program_is_a_solver_error(monkeypatch):
    import lift.solvers as solvers
    from lift.base import SolverResult

    def fake(lifted, tol=1e-6, verbose=False, warm_start=None):
        return SolverResult(primal=None, status="infeasible", time=0.0, message="fake")

    solvers.register_solver("fake_infeasible", lambda lifted: True, fake)
    try:
        lifted = _prob().lift()
        sol = lifted.solve(solver="fake_infeasible")
        assert sol.status == "solver_error"
        assert "feasible and bounded by construction" in sol.message
        monkeypatch.setattr(solvers, "solver_order",
                            lambda lifted: ["fake_infeasible", "clarabel"])
        sol = lifted.solve(solver="auto")
        assert sol.status == "optimal" and sol.solver == "clarabel"
        assert "fake_infeasible failed" in sol.message
    finally:
        solvers.SPECIALISED.pop("fake_infeasible")


# --- item 2: resource guards ---------------------------------------------------------------------
def _limit_memory(monkeypatch, gib):
    import lift.errors

    monkeypatch.setattr(lift.errors, "available_memory", lambda: int(gib * 2**30))


def test_available_memory_is_read():
    import torch

    from lift.errors import available_memory

    avail = available_memory()
    assert avail is None or 2**20 < avail < 2**50
    if avail is not None:
        assert available_memory(torch.device("cpu")) == pytest.approx(avail, rel=0.5)
    if torch.cuda.is_available():  # the device's own free memory, not the host's
        free, total = torch.cuda.mem_get_info()
        assert 0 < available_memory(torch.device("cuda")) <= total


@pytest.mark.parametrize("solver", ["clarabel", "scs"])
def test_conic_build_too_large_is_refused_before_building(monkeypatch, solver):
    """Explicit backends are guarded too (n = 2000, 2-D, 20,000 patterns aborted the
    interpreter in cvxpy's build); the error names matrix-free solvers that fit."""
    from lift.errors import ResourceLimitError

    _limit_memory(monkeypatch, 16)
    rng = np.random.default_rng(0)
    lifted = TwoLayerReLU(rng.standard_normal((2000, 2)), rng.standard_normal(2000),
                          0.1).lift(patterns=20000)
    monkeypatch.setattr(type(lifted), "to_cvxpy", lambda self: pytest.fail("built"))
    with pytest.raises(ResourceLimitError, match=rf"`solver`='{solver}' .* would need about "
                                                 r".*GiB.*solver='al' or solver='active_set'"):
        lifted.solve(solver=solver)


def test_auto_skips_backends_that_do_not_fit(monkeypatch):
    lifted = _prob().lift(program="gated")
    _limit_memory(monkeypatch, 1e-7)
    sol = lifted.solve(solver="auto", tol=1e-6)
    assert sol.solver in lifted.solvers() and sol.status == "optimal"
    with pytest.raises(ValueError, match="`solver`='clarabel'"):
        lifted.solve(solver="clarabel")


def test_pattern_counts_are_guarded_before_allocation(monkeypatch):
    from lift.errors import ResourceLimitError

    _limit_memory(monkeypatch, 16)
    rng = np.random.default_rng(0)
    prob = TwoLayerReLU(rng.standard_normal((100, 2)), rng.standard_normal(100), 0.1)
    with pytest.raises(ValueError, match=r"`patterns`=10,000,000 is above `max_patterns`"
                                         r"=100,000.*at most 9,902 distinct"):
        prob.lift(patterns=10**7)
    with pytest.raises(ResourceLimitError, match=r"`patterns`=100,000,000 sampled gates"):
        prob.lift(patterns=10**8, max_patterns=10**8)
    big = TwoLayerReLU(rng.standard_normal((3000, 2)), rng.standard_normal(3000), 0.1)
    with pytest.raises(ResourceLimitError, match=r"`patterns`='exact' \(8,997,002 patterns"):
        big.lift(patterns="exact", max_patterns=10**7)


def test_cli_tol_out_of_range_is_one_line(capsys):
    """`lift solve ... --tol 10` ended "optimal" at a value far above its bound; now the
    library refuses the tolerance and the command line prints one line."""
    from lift.cli import main

    rc = main(["solve", "relu", "--data", "toy1d", "--patterns", "exact", "--solver", "scs",
               "--tol", "10"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "`tol` must be a relative tolerance" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["relu", "completion", "sensing", "psd"])
def test_model_seeds_and_sizes_are_guarded(monkeypatch, name):
    from lift.families import get_family

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob = get_family(name).example()
    with pytest.raises(ValueError, match="`seed` must be an integer below 2\\*\\*64"):
        prob.model(1, seed=10**30)
    _limit_memory(monkeypatch, 16)
    with pytest.raises(ValueError, match="`size`=1,000,000,000,000 .* would need about"):
        prob.model(10**12)
