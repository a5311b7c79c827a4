"""``time_limit``: solvers stop at their next certificate once it has passed, with an honest
status and a certificate that still holds; ``solver="auto"`` tries nothing after it; the conic
backends get it as their own limit; bad values are refused."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from lift.errors import ConvergenceWarning
from lift.problems import TwoLayerReLU
from lift.solvers.conic import _time_options, solve_cvxpy
from lift.solvers.monitor import GapMonitor, time_left, time_limit_scope

CPU = {"device": "cpu"}


def _program(program: str):
    """A program that none of the solvers closes to 1e-12 within a second on this machine
    (600 samples, 200 sampled patterns, small beta)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8))
    y = np.maximum(X @ rng.standard_normal(8), 0) + 0.1 * rng.standard_normal(600)
    return TwoLayerReLU(X, y, beta=0.01, bias=True).lift(patterns=200, program=program, seed=0)


@pytest.mark.parametrize("program, solver", [
    ("gated", "fista"), ("gated", "active_set"), ("cone", "fista"), ("cone", "barrier"),
    ("cone", "ssnal"), ("cone", "active_set")])
def test_solver_stops_at_the_time_limit_with_a_valid_certificate(program, solver):
    lifted = _program(program)
    t0 = time.perf_counter()
    with pytest.warns(ConvergenceWarning, match="time limit"):
        sol = lifted.solve(solver=solver, tol=1e-12, time_limit=0.5, **CPU)
    elapsed = time.perf_counter() - t0
    assert sol.status == "max_iters"
    assert sol.info["time_limit_reached"] is True
    assert "time limit" in sol.message
    # it stopped at a certificate soon after the limit (not at its own budget, minutes later)
    assert elapsed < 30.0
    # what it returns is still certified: a lower bound below the objective of its point
    assert np.isfinite(sol.value) and sol.lower_bound <= sol.value * (1 + 1e-12)
    assert sol.rel_gap > 1e-12
    # and never worse than the zero network, which both programs allow (a solver stopped
    # after a first step that overshot returns zero instead)
    y = lifted.problem.y
    assert sol.value <= lifted.problem.loss.value(np.zeros_like(y), y) * (1 + 1e-12)


@pytest.mark.parametrize("solver", ["ssnal", "barrier"])
def test_a_stop_after_an_overshooting_first_step_returns_the_zero_network(solver):
    """At 50 ms these second-order solvers have taken at most a first step, whose point lies
    far above the zero network's objective: the zero network comes back, certified."""
    lifted = _program("cone")
    y = lifted.problem.y
    F0 = lifted.problem.loss.value(np.zeros_like(y), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = lifted.solve(solver=solver, tol=1e-12, time_limit=0.05, **CPU)
    assert sol.status == "max_iters"
    assert sol.value <= F0 * (1 + 1e-12)
    if sol.info.get("zero_network"):
        assert sol.value == pytest.approx(F0, rel=1e-12) and "zero network" in sol.message
        assert sol.size == 0
    assert sol.lower_bound <= sol.value


def test_no_limit_and_a_generous_limit_change_nothing():
    lifted = _program("gated")
    a = lifted.solve(solver="fista", tol=1e-4, **CPU)
    b = lifted.solve(solver="fista", tol=1e-4, time_limit=600, **CPU)
    assert a.status == b.status == "optimal"
    # (the product order is chosen by timing: the iterates may differ in their last digits)
    assert a.value == pytest.approx(b.value, rel=2e-4) and b.rel_gap <= 1e-4
    assert b.info["time_limit_reached"] is False and "time limit" not in b.message


def test_auto_tries_no_candidate_after_the_time_limit():
    lifted = _program("cone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = lifted.solve(solver="auto", tol=1e-12, time_limit=0.5, **CPU)
    assert sol.status == "max_iters"
    assert "no further candidate" in sol.message
    assert sol.lower_bound <= sol.value * (1 + 1e-12)


@pytest.mark.parametrize("bad, err", [(0, ValueError), (-1.0, ValueError),
                                      (float("nan"), ValueError), ("10", TypeError),
                                      (True, TypeError)])
def test_bad_time_limit_is_refused(bad, err):
    lifted = _program("gated")
    with pytest.raises(err, match="time_limit"):
        lifted.solve(solver="fista", time_limit=bad, **CPU)


def test_monitor_reads_the_enclosing_deadline():
    assert time_left() is None
    with time_limit_scope(100.0):
        left = time_left()
        assert 99.0 < left <= 100.0
        with time_limit_scope(1000.0):  # an inner, later deadline does not extend the outer
            assert time_left() <= left
        mon = GapMonitor(None, np.zeros(1), 1.0, 1e-6)
        assert mon.deadline is not None
    assert time_left() is None
    assert GapMonitor(None, np.zeros(1), 1.0, 1e-6).deadline is None
    # past the deadline with the gap open: record says stop, and not "done"
    mon = GapMonitor(None, np.zeros(1), 1.0, 1e-6, deadline=time.perf_counter() - 1.0)
    mon.best_lower = 1.0
    assert mon.record(0, 2.0) is True
    assert mon.expired and not mon.done and mon.stopped
    # a closed gap is "done", not expired, whatever the clock
    assert mon.record(1, 1.0) is True and mon.done and not mon.expired
    # inside a long step, between certificates
    late = GapMonitor(None, np.zeros(1), 1.0, 1e-6, deadline=time.perf_counter() - 1.0)
    assert late.past_deadline() and late.expired and late.stopped
    early = GapMonitor(None, np.zeros(1), 1.0, 1e-6, deadline=time.perf_counter() + 100.0)
    assert not early.past_deadline() and not early.expired
    assert not GapMonitor(None, np.zeros(1), 1.0, 1e-6).past_deadline()


def test_conic_backends_get_their_own_time_limit():
    assert _time_options("clarabel", 3.0, {"max_iter": 5}) == {"max_iter": 5, "time_limit": 3.0}
    assert _time_options("scs", 3.0, {}) == {"time_limit_secs": 3.0}
    # a limit the caller set is kept
    assert _time_options("clarabel", 3.0, {"time_limit": 1.0}) == {"time_limit": 1.0}
    # MOSEK: added to the caller's own parameters, without overriding one they set
    mine = {"mosek_params": {"MSK_IPAR_NUM_THREADS": 1}}
    assert _time_options("mosek", 3.0, mine)["mosek_params"] == {
        "MSK_IPAR_NUM_THREADS": 1, "MSK_DPAR_OPTIMIZER_MAX_TIME": 3.0}
    assert mine == {"mosek_params": {"MSK_IPAR_NUM_THREADS": 1}}  # not modified
    theirs = {"mosek_params": {"MSK_DPAR_OPTIMIZER_MAX_TIME": 9.0}}
    assert _time_options("mosek", 3.0, theirs) == theirs
    # a backend asked to start after the deadline does not start
    import cvxpy as cp

    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1)))
    with time_limit_scope(1e-9):
        time.sleep(0.01)
        out = solve_cvxpy(prob, "clarabel")
    assert out["status"] == "max_iters" and "not started" in out["message"]
    assert prob.status is None


def test_cli_solve_takes_a_time_limit(capsys):
    from lift.cli import main

    assert main(["solve", "relu", "--data", "toy1d", "--time-limit", "120", "--json"]) == 0
    assert '"status": "optimal"' in capsys.readouterr().out


def test_bisection_stops_at_the_time_limit():
    import math

    from lift.solvers.bisection import Answer, bisect

    def slow(t: float) -> Answer:  # t* = pi, each call 20 ms
        time.sleep(0.02)
        if t >= math.pi:
            return Answer(feasible=True, point=t, value=t)
        return Answer(feasible=False, certificate=("proof", t), proved=True)

    free = bisect(slow, 0.0, 10.0, tol=1e-12, max_steps=200)
    assert free.converged and not free.time_limit_reached
    with time_limit_scope(0.1):
        res = bisect(slow, 0.0, 10.0, tol=1e-12, max_steps=200)
    assert res.time_limit_reached and not res.converged
    assert "time limit" in res.message and len(res.steps) < len(free.steps)
    assert res.lo <= math.pi <= res.hi  # the bracket it returns still holds


def test_soft_impute_stops_at_the_time_limit():
    from lift.problems import MatrixCompletion
    from lift.problems.factorization import data as fdata

    d = fdata.low_rank(200, 150, 5, fraction=0.3, noise=0.1, seed=0)
    lifted = MatrixCompletion(d.train, lam=0.5, shape=d.shape).lift()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = lifted.solve(solver="soft_impute", tol=1e-12, time_limit=0.05)
    assert sol.status == "max_iters" and "time limit" in sol.message
    assert sol.lower_bound <= sol.value * (1 + 1e-12)
