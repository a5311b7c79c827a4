"""The working-set solvers (``solver="active_set"``) against the cvxpy reference.

Checked: the Gram group-lasso inner solver by its optimality conditions and against Clarabel,
the cone-multiplier pricing against nonnegative least squares, the optimum of both programs
against Clarabel on exact 1-D / 2-D patterns and on sampled patterns, the certificate
recomputed by hand (the dual point and the multipliers the solver returns), that the working set
really is a subset, statuses, warm starts, and what ``solver="auto"`` picks.
"""

from __future__ import annotations

import dataclasses
import warnings

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import nnls

from lift.datasets import load
from lift.errors import ConvergenceWarning
from lift.problems import TwoLayerReLU
from lift.problems.relu import constraint_norms, dual_bound
from lift.problems.relu.operators import Pricer
from lift.solvers import SPECIALISED, run_solver, solver_order
from lift.solvers.group_lasso import group_lasso_gram

pytestmark = pytest.mark.filterwarnings("ignore::lift.errors.InaccurateSolutionWarning")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _hand_bound(lifted, sol, multipliers=None) -> float:
    """Lower bound from scratch: the best of lambda = grad L at the program's predictions at
    the returned point and the returned dual point, each rescaled here (exact least squares
    per pattern for the cone program; no solver output but V, W and the dual point)."""
    prob = lifted.problem
    point = sol.info["warm_start"]
    lams = [prob.loss.grad(lifted.predictions(point["V"], point["W"]), prob.y), sol.info["dual"]]
    return max(dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, lifted.D, lifted.cone,
                          multipliers=multipliers)[0] for lam in lams)


def _planted(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ rng.standard_normal(3)
    return X, y + 0.1 * rng.standard_normal(n)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
def test_group_lasso_gram_meets_optimality_and_matches_clarabel():
    rng = np.random.default_rng(0)
    m, d, n = 6, 3, 40
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    G, b, beta = A.T @ A, A.T @ y, 6.0
    u, _, res = group_lasso_gram(G, b, beta, d, np.zeros(m * d), tol=1e-12)
    assert res <= 1e-12
    # optimality by hand: zero groups have ||g_j|| <= beta, others g_j = -beta u_j / ||u_j||
    g = (G @ u - b).reshape(m, d)
    U = u.reshape(m, d)
    norms = np.linalg.norm(U, axis=1)
    assert 0 < np.count_nonzero(norms) < m  # some groups in, some out: a real test
    for gj, uj, nj in zip(g, U, norms, strict=True):
        if nj == 0:
            assert np.linalg.norm(gj) <= beta * (1 + 1e-10)
        else:
            np.testing.assert_allclose(gj, -beta * uj / nj, atol=1e-9 * beta)
    x = cp.Variable(m * d)
    obj = 0.5 * cp.sum_squares(A @ x - y) + beta * sum(
        cp.norm(x[j * d:(j + 1) * d]) for j in range(m))
    ref = cp.Problem(cp.Minimize(obj))
    ref.solve(solver="CLARABEL")
    ours = 0.5 * np.sum((A @ u - y) ** 2) + beta * norms.sum()
    assert ours <= ref.value + 1e-7 * abs(ref.value)
    assert _rel(ours, ref.value) < 1e-7


def test_pricer_bounds_are_attained_and_exact_where_needed():
    rng = np.random.default_rng(1)
    n, d, P = 60, 3, 8
    Xa = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    D = Xa @ rng.standard_normal((d, P)) >= 0
    lam = rng.standard_normal(n)
    C = (D * lam[:, None]).T @ Xa
    pricer = Pricer(Xa, D)
    beta = 0.5 * float(np.linalg.norm(C, axis=1).min())  # every plain norm is above beta
    norms, checked = pricer.norms(C, beta)
    assert checked.all()
    for g in range(2 * P):
        i, sign = g % P, (1.0 if g < P else -1.0)
        B = (np.where(D[:, i], 1.0, -1.0)[:, None] * Xa).T
        exact = nnls(B, sign * C[i])[1]
        assert norms[g] == pytest.approx(exact, rel=1e-9, abs=1e-12)
        # the kept multipliers attain the value (a certificate can use them as they are)
        rows, vals = pricer.mult[g]
        assert np.all(vals >= 0)
        attained = np.linalg.norm(sign * C[i] - B[:, rows] @ vals)
        assert attained == pytest.approx(norms[g], rel=1e-9, abs=1e-12)
    # the library's own per-pattern norms (independent code) agree
    lib = constraint_norms(Xa, lam, D, cone=True)
    np.testing.assert_allclose(norms, lib, rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------------------------
# Gated program
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("relaxation,fixture,beta", [
    ("gated", "data_1d", 0.1), ("gated", "data_2d", 0.01), ("gated", "data_2d", 0.1),
    ("cone", "data_1d", 0.1), ("cone", "data_2d", 0.01)])
def test_matches_clarabel_exact_patterns(request, relaxation, fixture, beta):
    X, y = request.getfixturevalue(fixture)
    lifted = TwoLayerReLU(X, y, beta=beta).lift(program=relaxation)
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver="active_set", device="cpu")
    assert sol.status == "optimal" and sol.solver == "active_set"
    # a real network: its value is what the problem computes, never below the optimum
    assert _rel(sol.value, lifted.problem.objective(sol.params)) < 1e-12
    assert sol.value >= ref.lower_bound - 1e-9
    assert _rel(sol.value, ref.value) < 1e-6
    # the certificate recomputed from the returned point alone (exact least squares per
    # pattern for the cone program): valid, and within the tolerance of the value
    bound = _hand_bound(lifted, sol)
    assert bound <= ref.value + 1e-9 * abs(ref.value)
    assert sol.value - bound <= 2e-6 * abs(sol.value)
    assert sol.global_bound is not None and sol.global_bound <= ref.value + 1e-9


def test_gated_sampled_diabetes_uses_a_working_set():
    ds = load("diabetes")
    prob = TwoLayerReLU(ds.X_train, ds.y_train, beta=50.0)
    lifted = prob.lift(patterns=200, program="gated", seed=0)
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver="active_set", device="cpu")
    assert sol.ok and not sol.exact and sol.global_bound is None
    assert _rel(sol.program_value, ref.program_value) < 1e-6
    assert sol.rel_gap <= 1e-6
    # a working set that is a strict subset, and every pattern outside it checked
    assert sol.info["working_set"] < lifted.P
    assert "passes over the patterns" in sol.message
    assert sol.lower_bound <= ref.program_value + 1e-9 * abs(ref.program_value)


def test_gated_matrix_free_inner_path_matches_gram_path():
    X, y = _planted(300, 4, 3)
    lifted = TwoLayerReLU(X, y, beta=3.0).lift(patterns=60, program="gated", seed=1)
    gram = run_solver(lifted, "active_set", tol=1e-8, device="cpu")
    free = run_solver(lifted, "active_set", tol=1e-8, device="cpu", gram_limit=0)
    a = lifted.program_value(gram.primal)
    b = lifted.program_value(free.primal)
    assert gram.status == free.status == "optimal"
    assert _rel(a, b) < 1e-8


# --------------------------------------------------------------------------------------------
# Cone-constrained ReLU program
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["planted", "diabetes"])
def test_cone_sampled_patterns_and_returned_multipliers(data):
    if data == "planted":
        X, y, beta = *_planted(200, 4, 5), 2.0
    else:
        ds = load("diabetes")
        X, y, beta = ds.X_train[:150], ds.y_train[:150], 20.0
    lifted = TwoLayerReLU(X, y, beta=beta).lift(patterns=40, program="cone", seed=0)
    ref = lifted.solve(solver="clarabel")
    run = run_solver(lifted, "active_set", tol=1e-6, device="cpu")
    assert run.status == "optimal"
    V, W = run.primal["V"], run.primal["W"]
    value = lifted.program_value({"V": V, "W": W})
    assert _rel(value, ref.program_value) < 1e-6
    # feasible for every cone constraint of every pattern (not only the rows in the set)
    Xa, D = lifted.problem.Xa, lifted.D
    S = np.where(D, 1.0, -1.0)
    scale = np.abs(lifted.predictions(V, W)).max()
    assert (S * (Xa @ V.T)).min() >= -1e-9 * scale
    assert (S * (Xa @ W.T)).min() >= -1e-9 * scale
    # the returned multipliers certify, with plain norms only (no least squares here)
    mu, nu = run.primal["multipliers"]
    assert np.all(mu >= 0) and np.all(nu >= 0)
    lam = lifted.problem.loss.grad(lifted.predictions(V, W), lifted.problem.y)
    C = (D * lam[:, None]).T @ Xa
    norm_v = np.linalg.norm(C - (S * mu).T @ Xa, axis=1)
    norm_w = np.linalg.norm(-C - (S * nu).T @ Xa, axis=1)
    m = max(norm_v.max(), norm_w.max())
    prob = lifted.problem
    t = min(1.0, prob.beta / m)
    lower = -prob.loss.conjugate(t * lam, prob.y)
    assert lower <= ref.program_value + 1e-9 * abs(ref.program_value)
    assert value - lower <= 1e-5 * abs(value)
    assert run.info["working_set"] < 2 * lifted.P


def test_cone_rejects_logistic_loss(data_2d_pm1):
    X, y = data_2d_pm1
    lifted = TwoLayerReLU(X, y, beta=0.1, loss="logistic").lift(program="cone")
    assert "active_set" not in lifted.solvers()
    assert "al" in lifted.solvers()
    with pytest.raises(ValueError, match="Unknown `solver`"):
        lifted.solve(solver="active_set")


# --------------------------------------------------------------------------------------------
# Statuses, options, warm starts, auto
# --------------------------------------------------------------------------------------------
def test_unknown_option_is_a_clear_error(data_1d):
    lifted = TwoLayerReLU(*data_1d, beta=0.1).lift(program="cone")
    with pytest.raises(TypeError, match="Unknown option"):
        lifted.solve(solver="active_set", inner_tol=1e-3)  # a gated-only option


def test_warm_start_at_the_solution_stops_at_once():
    X, y = _planted(150, 3, 7)
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=30, program="gated", seed=0)
    cold = lifted.solve(solver="active_set", device="cpu")
    again = lifted.solve(solver="active_set", tol=1e-6,
                                      warm_start=cold.info["warm_start"])
    assert again.ok and again.iterations == 1 < cold.iterations
    assert _rel(again.value, cold.value) < 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        path = lifted.problem.path([1.0, 3.0, 10.0], patterns=30, program="gated",
                                   solver="active_set", device="cpu")
    for beta, s in zip([1.0, 3.0, 10.0], path, strict=True):
        ref = lifted.problem.with_beta(beta).lift(patterns=30, program="gated").solve(
            solver="clarabel")
        assert s.ok and _rel(s.value, ref.value) < 1e-6


def test_auto_prefers_the_working_set_beyond_its_thresholds(data_2d, monkeypatch):
    prob = TwoLayerReLU(*data_2d, beta=0.01)
    gated, relu = prob.lift(program="gated"), prob.lift(program="cone")
    assert solver_order(gated)[0] == "clarabel"  # small: an interior-point method
    assert solver_order(relu)[0] == "clarabel"
    monkeypatch.setattr(type(gated), "GATED_THRESHOLD", 10)
    monkeypatch.setattr(type(relu), "CONE_THRESHOLD", 10)
    assert solver_order(relu)[0] == "clarabel"  # squared loss: ssnal from 20,000 on
    monkeypatch.setattr(type(relu), "NEWTON_THRESHOLD", {"squared": 10})
    # ssnal first, then the interior-point method; too few samples for the cone working
    # set and projected FISTA
    assert solver_order(relu)[:3] == ["ssnal", "barrier", "clarabel"]
    monkeypatch.setattr(type(relu), "ACTIVE_SET_MIN_N", 10)
    assert solver_order(gated)[:2] == ["active_set", "fista"]
    # from n >= ACTIVE_SET_MIN_N on, projected FISTA after ssnal and barrier, the working
    # set next
    assert solver_order(relu)[:5] == ["ssnal", "barrier", "fista", "active_set", "clarabel"]
    monkeypatch.setattr(type(relu), "ACTIVE_SET_LOW_D", 3)  # as on 1-D inputs: no FISTA
    # the working set first; al only beyond its own threshold
    assert solver_order(relu)[:4] == ["active_set", "ssnal", "barrier", "clarabel"]
    monkeypatch.setattr(type(relu), "AL_THRESHOLD", 10)
    assert solver_order(relu)[:4] == ["active_set", "ssnal", "barrier", "al"]
    sol = relu.solve(solver="auto")
    assert sol.solver == "active_set" and sol.ok


def test_runs_on_float32_and_reports_the_device(data_1d):
    lifted = TwoLayerReLU(*data_1d, beta=0.1).lift(program="gated")
    sol = lifted.solve(solver="active_set", device="cpu", dtype="float32", tol=1e-4)
    assert sol.info["device"] == "cpu"
    ref = lifted.solve(solver="clarabel")
    assert _rel(sol.value, ref.value) < 1e-4


@pytest.mark.slow
def test_cone_working_set_beyond_max_size_continues_first_order(data_1d):
    # restricted programs beyond max_size go to the augmented Lagrangian (warm-started;
    # about 35 s on 2 shared cores),
    # which the full passes still certify: same optimum as Clarabel, certified gap <= tol
    lifted = TwoLayerReLU(*data_1d, beta=0.01).lift(program="cone")
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    tol = 1e-3  # the first-order restricted solves are slow to high accuracy
    sol = lifted.solve(solver="active_set", max_size=8, device="cpu", tol=tol)
    assert sol.status == "optimal" and sol.gap <= tol * sol.value
    assert sol.info["al_iterations"] > 0 and "augmented-Lagrangian" in sol.message
    assert abs(sol.program_value - ref.program_value) <= tol * ref.program_value
    assert sol.lower_bound <= ref.program_value * (1 + 1e-9)
    # auto never prefers it for wide data, however large the program
    wide = TwoLayerReLU(np.random.default_rng(0).standard_normal((40, 40)),
                        np.zeros(40), beta=1.0).lift(patterns=30, program="cone", seed=0)
    assert "active_set" not in wide.auto_thresholds()


def test_cone_inner_solver_failure_is_reported_not_hidden(data_1d, monkeypatch):
    import lift.problems.relu.operators as ra

    lifted = TwoLayerReLU(*data_1d, beta=0.1).lift(program="cone")

    def broken(Pm, b, beta, d, cuts, tol):
        return np.full(b.size, np.nan), [np.zeros(c.shape[0]) for c in cuts], "NumericalError"

    monkeypatch.setattr(ra, "_clarabel_qp", broken)
    with pytest.warns(ConvergenceWarning):
        sol = lifted.solve(solver="active_set", device="cpu")
    assert sol.status == "max_iters"
    assert "NumericalError" in sol.message
    assert np.isfinite(sol.value) and np.isfinite(sol.gap)  # the last finite point, certified


def test_auto_falls_back_to_ssnal_then_clarabel_when_the_working_set_stops_short(monkeypatch):
    """Tiny beta, more weights than samples: an ill-conditioned gated program on which the
    working set's first-order iterations stall; auto then hands it to the second-order ssnal
    (not to fista, which would stall too), and to Clarabel when ssnal stops short too, and
    says so."""
    ds = load("diabetes")
    lifted = TwoLayerReLU(ds.X_train, ds.y_train, beta=1e-3).lift(
        patterns=200, program="gated", seed=0)
    # by default ssnal goes first at this small relative beta (SSNAL_FIRST)
    assert lifted.relative_beta() < type(lifted).SSNAL_FIRST
    assert solver_order(lifted)[:3] == ["ssnal", "active_set", "fista"]
    sol = lifted.solve(solver="auto")
    assert sol.solver == "ssnal" and sol.status == "optimal" and "auto:" not in sol.message
    monkeypatch.setattr(type(lifted), "SSNAL_FIRST", 0.0)
    assert solver_order(lifted)[0] == "active_set"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced attempt's warnings are not passed on
        sol = lifted.solve(solver="auto")
    assert sol.solver == "ssnal" and sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert "auto: active_set stopped at a certified relative gap" in sol.message
    assert "fista" not in sol.message
    # ssnal given two Newton steps only: Clarabel after it
    ssnal = SPECIALISED["ssnal"]
    monkeypatch.setitem(SPECIALISED, "ssnal", dataclasses.replace(
        ssnal, run=lambda lifted, **kw: ssnal.run(lifted, max_iters=2, **kw)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = lifted.solve(solver="auto")
    assert sol.solver == "clarabel" and sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert "ssnal stopped at a certified relative gap" in sol.message
    # ``device`` is not a solver option that pins auto to its first pick: the same path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on_cpu = lifted.solve(solver="auto", device="cpu")
    assert on_cpu.solver == "clarabel" and on_cpu.status == "optimal"
    assert "auto: active_set stopped" in on_cpu.message
    assert "ssnal stopped at a certified relative gap" in on_cpu.message
    # the working set on its own: an honest max_iters, not a wrong "optimal"
    with pytest.warns(ConvergenceWarning):
        alone = lifted.solve(solver="active_set", device="cpu")
    assert alone.status == "max_iters" and alone.value >= sol.lower_bound
    assert "full FISTA took over" in alone.message and "stalled" in alone.message
