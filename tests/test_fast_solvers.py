"""The matrix-free torch solvers of the ReLU lifts against the cvxpy reference.

Checked: the prox operator against its argmin definition, the hand-written gradients by their
Taylor remainder, the optimum of each fast solver against Clarabel on shared fixtures (exact
1-D and 2-D patterns, sampled patterns on a bundled dataset), the certificate recomputed by
hand, statuses and warnings, warm-started paths, and the choice made by ``solver="auto"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from lift.datasets import load
from lift.errors import ConvergenceWarning
from lift.losses import get_loss
from lift.problems import TwoLayerReLU
from lift.problems.relu import constraint_norms, dual_bound
from lift.problems.relu.operators import ConeOracle, GatedOracle, PatternOperator
from lift.solvers import solver_order
from lift.solvers.prox import prox_group_lasso

pytestmark = pytest.mark.filterwarnings("ignore::lift.errors.InaccurateSolutionWarning")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _hand_bound(lifted, sol) -> float:
    """The lower bound recomputed from scratch: lambda = grad L at the network's outputs."""
    prob = lifted.problem
    z = prob.predict(sol.params, prob.X)
    lam = prob.loss.grad(z, prob.y)
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, lifted.D, lifted.cone)
    return bound


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("l2reg,scaling", [(0.3, 1.0), (1.0, 0.5), (0.0, 1.0), (5.0, 2.0)])
def test_prox_group_lasso_is_the_argmin(l2reg, scaling):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4))
    X[2] *= 0.01  # a row that is thresholded to zero
    out = prox_group_lasso(torch.from_numpy(X), l2reg, scaling).numpy()
    for x, u in zip(X, out, strict=True):
        def obj(v, x=x):
            return 0.5 * np.sum((v - x) ** 2) + scaling * l2reg * np.linalg.norm(v)

        best = minimize(obj, x, method="Nelder-Mead",
                        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20_000})
        assert obj(u) <= best.fun + 1e-9
        # optimality: x - u lies in scaling * l2reg * subdifferential of ||.|| at u
        nu = np.linalg.norm(u)
        if nu > 0:
            np.testing.assert_allclose(x - u, scaling * l2reg * u / nu, atol=1e-12)
        else:
            assert np.linalg.norm(x) <= scaling * l2reg + 1e-12


def _taylor_remainders(f, grad, U, H):
    f0, g = f(U), grad(U)
    ts = [1e-1, 1e-2, 1e-3]
    return [abs(f(U + t * H) - f0 - t * float((g * H).sum())) for t in ts]


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_gated_gradient_taylor(data_2d, data_2d_pm1, loss):
    X, y = data_2d if loss == "squared" else data_2d_pm1
    lifted = TwoLayerReLU(X, y, beta=0.1, loss=loss).lift(program="gated")
    op = PatternOperator(lifted.problem.Xa, lifted.D, device="cpu")
    oracle = GatedOracle(op, get_loss(loss), torch.as_tensor(lifted.problem.y))
    gen = torch.Generator().manual_seed(0)
    U = torch.randn(op.P, op.d, generator=gen, dtype=torch.float64)
    H = torch.randn(op.P, op.d, generator=gen, dtype=torch.float64)
    r = _taylor_remainders(lambda U: oracle.point(U).f,
                           lambda U: oracle.gradient(oracle.point(U)), U, H)
    # second-order remainder: slope 2 on a log-log scale
    assert r[1] < r[0] / 50 and r[2] < r[1] / 50


def test_cone_augmented_lagrangian_gradient_taylor(data_2d):
    X, y = data_2d
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(program="cone")
    op = PatternOperator(lifted.problem.Xa, lifted.D, device="cpu")
    oracle = ConeOracle(op, get_loss("squared"), torch.as_tensor(lifted.problem.y), rho=3.0)
    gen = torch.Generator().manual_seed(1)
    oracle.mu.copy_(torch.rand(oracle.mu.shape, generator=gen, dtype=torch.float64))
    oracle.nu.copy_(torch.rand(oracle.nu.shape, generator=gen, dtype=torch.float64))
    U = torch.randn(2 * op.P, op.d, generator=gen, dtype=torch.float64)
    H = torch.randn(2 * op.P, op.d, generator=gen, dtype=torch.float64)

    def grad(U):
        return oracle.gradient(oracle.point(U))

    r = _taylor_remainders(lambda U: oracle.point(U).f, grad, U, H)
    # the penalty is piecewise quadratic: the remainder is still O(t^2)
    assert r[1] < r[0] / 30 and r[2] < r[1] / 30


@pytest.mark.parametrize("order", [None, (False, False), (True, False), (False, True),
                                   (True, True)])
def test_operator_matches_dense_blocks(data_2d, order):
    """Both orders of each product (the operator times them on large programs) agree with
    the dense blocks."""
    X, y = data_2d
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(program="gated")
    Xa, D = lifted.problem.Xa, lifted.D
    op = PatternOperator(Xa, D, device="cpu")
    op.order = order
    A = np.hstack([D[:, [i]] * Xa for i in range(D.shape[1])])  # dense, only for the test
    rng = np.random.default_rng(0)
    U = rng.standard_normal((D.shape[1], Xa.shape[1]))
    r = rng.standard_normal(Xa.shape[0])
    np.testing.assert_allclose(op.forward(torch.from_numpy(U)).numpy(), A @ U.ravel(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.adjoint(torch.from_numpy(r)).numpy().ravel(), A.T @ r,
                               rtol=1e-12, atol=1e-12)
    sub = op.restrict(torch.tensor([0, 2]))  # a restricted operator keeps the orders
    assert sub.order == op.order
    cols = np.r_[0:Xa.shape[1], 2 * Xa.shape[1]:3 * Xa.shape[1]]
    np.testing.assert_allclose(sub.adjoint(torch.from_numpy(r)).numpy().ravel(),
                               A[:, cols].T @ r, rtol=1e-12, atol=1e-12)
    P = D.shape[1]
    assert op.restrict(torch.arange(P)) is op  # every pattern in order: no copy
    # A^T diag(w) A, from the blocks j >= i over pattern i's samples (in blocks of two
    # patterns, then of one pattern and three chunks of samples), with a pattern that has no
    # sample; and from the stacked blocks (the path off the CPU) in three row chunks
    w = rng.uniform(0.0, 2.0, Xa.shape[0])
    import lift.solvers.linalg as linalg

    D0 = D.copy()
    D0[:, 1] = 0.0
    op0 = PatternOperator(Xa, D0, device="cpu")
    A0 = np.hstack([D0[:, [i]] * Xa for i in range(D0.shape[1])])
    want = A0.T @ (w[:, None] * A0)
    n, P, d = Xa.shape[0], D.shape[1], Xa.shape[1]
    entries = linalg.CHUNK_ENTRIES
    try:
        for linalg.CHUNK_ENTRIES in (2 * P * d * d, (n // 3) * (d * (d + 1) // 2 + P)):
            G = op0.gram(torch.from_numpy(w)).numpy()
            np.testing.assert_allclose(G, want, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(G, G.T)
        assert len(linalg.row_chunks(n, d * (d + 1) // 2 + P, linalg.CHUNK_ENTRIES)) >= 3
        linalg.CHUNK_ENTRIES = (n // 3) * P * d
        assert len(linalg.row_chunks(n, P * d, linalg.CHUNK_ENTRIES)) >= 3
        Gs = op0._stacked_gram(torch.from_numpy(w), torch.float64).numpy()
        np.testing.assert_allclose(Gs, want, rtol=1e-12, atol=1e-12)
    finally:
        linalg.CHUNK_ENTRIES = entries
    np.testing.assert_allclose(op.gram(torch.from_numpy(w)).numpy(), A.T @ (w[:, None] * A),
                               rtol=1e-12, atol=1e-12)
    G32 = op.gram(dtype=torch.float32)
    assert G32.dtype == torch.float32
    np.testing.assert_allclose(G32.numpy(), A.T @ A, rtol=1e-5, atol=1e-4)
    assert op.restrict(torch.arange(P).flip(0)) is not op
    np.testing.assert_allclose(lifted.predictions(U, None), A @ U.ravel(), atol=1e-12)


def test_constraint_norms_with_multipliers_are_checked_not_trusted(data_1d):
    X, y = data_1d
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(program="cone")
    Xa, D = lifted.problem.Xa, lifted.D
    rng = np.random.default_rng(0)
    lam = rng.standard_normal(Xa.shape[0])
    exact = constraint_norms(Xa, lam, D, cone=True)  # NNLS: the true minima
    plain = constraint_norms(Xa, lam, D, cone=False)
    mu = rng.standard_normal(D.shape) * 3  # negative entries must be clipped
    nu = rng.standard_normal(D.shape) * 3
    with_mult = constraint_norms(Xa, lam, D, cone=True, multipliers=(mu, nu))
    P = D.shape[1]
    assert np.all(with_mult >= exact - 1e-10)
    # the values at the clipped multipliers, computed densely by hand
    mup, nup = np.maximum(mu, 0), np.maximum(nu, 0)
    S = 2.0 * D - 1.0
    hand_v = np.linalg.norm(((D * lam[:, None]) - S * mup).T @ Xa, axis=1)
    hand_w = np.linalg.norm(((D * lam[:, None]) + S * nup).T @ Xa, axis=1)
    assert np.all(with_mult[:P] <= np.minimum(hand_v, plain) + 1e-10)
    assert np.all(with_mult[P:] <= np.minimum(hand_w, plain) + 1e-10)


# --------------------------------------------------------------------------------------------
# Optima against the cvxpy reference
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture,beta", [("data_1d", 0.1), ("data_2d", 0.01)])
def test_fista_matches_clarabel_exact_patterns(request, fixture, beta):
    X, y = request.getfixturevalue(fixture)
    lifted = TwoLayerReLU(X, y, beta=beta).lift(program="gated")
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver="fista", device="cpu")
    assert sol.status == "optimal" and sol.solver == "fista"
    assert _rel(sol.value, ref.value) < 2e-6
    assert _rel(sol.value, lifted.problem.objective(sol.params)) < 1e-12
    # certificate: recomputed by hand, no larger than the clarabel value, gap consistent
    bound = _hand_bound(lifted, sol)
    assert bound <= ref.value + 1e-9
    assert sol.lower_bound >= bound - 1e-9
    assert sol.gap <= 1e-5 * abs(sol.value)
    assert sol.global_bound is not None and sol.global_bound <= ref.value + 1e-9


def test_fista_matches_clarabel_sampled_diabetes():
    ds = load("diabetes")
    prob = TwoLayerReLU(ds.X_train[:200], ds.y_train[:200], beta=1.0)
    lifted = prob.lift(patterns=40, program="gated", seed=0)
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver="fista", device="cpu")
    assert sol.ok and not sol.exact
    assert _rel(sol.value, ref.value) < 2e-6
    assert sol.rel_gap <= 1e-5
    assert sol.global_bound is None  # sampled patterns of 10-D data: not verifiable
    assert "certified relative duality gap" in sol.message


@pytest.mark.parametrize("solver,acc", [("fista", 1e-5), ("active_set", 1e-6)])
def test_gated_logistic_matches_clarabel(data_2d_pm1, solver, acc):
    X, y = data_2d_pm1
    lifted = TwoLayerReLU(X, y, beta=0.1, loss="logistic").lift(program="gated")
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver=solver, device="cpu")
    assert sol.ok and sol.solver == solver
    assert _rel(sol.value, ref.value) < acc
    assert sol.lower_bound <= ref.value + 1e-8


@pytest.mark.parametrize("fixture,beta", [("data_1d", 0.1), ("data_2d", 0.01)])
def test_augmented_lagrangian_matches_clarabel_exact_patterns(request, fixture, beta):
    X, y = request.getfixturevalue(fixture)
    lifted = TwoLayerReLU(X, y, beta=beta).lift(program="cone")
    ref = lifted.solve(solver="clarabel")
    tol = 1e-3
    sol = lifted.solve(solver="al", tol=tol, device="cpu", max_iters=20_000)
    assert sol.status in ("optimal", "optimal_inaccurate")
    # the recovered ReLU network is a real network: its value is at least the optimum
    assert sol.value >= ref.value - 1e-8
    assert _rel(sol.value, ref.value) < 10 * tol
    bound = _hand_bound(lifted, sol)
    assert bound <= ref.value + 1e-9
    assert sol.lower_bound <= ref.value + 1e-9
    assert sol.global_bound is not None and sol.global_bound <= ref.value + 1e-9


CPU = {"device": "cpu"}


def test_augmented_lagrangian_tiny_logistic_certified():
    # 12 points, every pattern: the program is degenerate (133 patterns for 12 points); the
    # AL used to stop at 20,000 iterations with a gap of 1e-4 (minutes); now Newton on the
    # support of the inner problems and a sparse certificate close it in seconds
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 2))
    y = np.sign(X[:, 0] * X[:, 1] + 0.1)
    lifted = TwoLayerReLU(X, y, beta=0.1, loss="logistic").lift(program="cone")
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sols = {solver: lifted.solve(solver=solver, tol=1e-6, **({} if solver == "auto" else CPU))
            for solver in ("al", "auto")}
    for sol in sols.values():
        assert sol.status == "optimal" and sol.gap <= 1e-6 * sol.value
        assert _rel(sol.program_value, ref.program_value) <= 1e-6
        assert sol.global_bound <= ref.program_value + 1e-9
        assert sol.value >= ref.value - 1e-8
    assert sols["al"].info["newton_accepted"] > 0
    assert sols["al"].iterations < 5_000


def test_augmented_lagrangian_dense_exact_optimum(data_2d):
    # small beta, 183 patterns of 14 points: AL and the working set certify 1e-6 and agree
    lifted = TwoLayerReLU(*data_2d, beta=0.01).lift(program="cone")
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    # al certifies after 20,000-25,000 iterations here, the count moving with the CPU's
    # kernels (AVX2 or AVX-512 rounding); its default max_iters is 20,000
    options = {"al": {**CPU, "max_iters": 50_000}, "active_set": CPU, "auto": {}}
    for solver in ("al", "active_set", "auto"):
        sol = lifted.solve(solver=solver, tol=1e-6, **options[solver])
        assert sol.status == "optimal" and sol.gap <= 1e-6 * sol.value, solver
        assert _rel(sol.program_value, ref.program_value) <= 1e-6, solver
        assert sol.lower_bound <= ref.program_value * (1 + 1e-9)


def test_feasible_point_satisfies_every_constraint():
    from lift.problems.relu.operators import feasible_point

    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 3))
    lifted = TwoLayerReLU(X, rng.standard_normal(60), beta=1.0).lift(patterns=15,
                                                                     program="cone", seed=0)
    op = PatternOperator(lifted.problem.Xa, lifted.D, device="cpu")
    U = torch.as_tensor(rng.standard_normal((2 * op.P, op.d)))
    Uf = feasible_point(op, U, torch.as_tensor(lifted.gates))
    S = np.where(lifted.D, 1.0, -1.0)
    Xa = lifted.problem.Xa
    for B in (Uf[:op.P].numpy(), Uf[op.P:].numpy()):
        assert (S * (Xa @ B.T)).min() >= -1e-12
    # groups already feasible are left as they are
    Uz = torch.as_tensor(np.vstack([0.5 * lifted.gates, np.zeros_like(lifted.gates)]))
    assert torch.allclose(feasible_point(op, Uz, torch.as_tensor(lifted.gates)), Uz)


def test_augmented_lagrangian_sampled_patterns():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 4))
    y = np.maximum(X @ rng.standard_normal(4), 0) + 0.1 * rng.standard_normal(120)
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=20, program="cone", seed=0)
    ref = lifted.solve(solver="clarabel")
    sol = lifted.solve(solver="al", tol=1e-4, device="cpu", max_iters=20_000)
    assert not sol.exact
    assert _rel(sol.program_value, ref.program_value) < 1e-3
    assert sol.lower_bound <= ref.program_value + 1e-8
    # the multipliers the solver returned certify a bound the library checked itself
    assert sol.lower_bound >= ref.program_value * (1 - 1e-3)


# --------------------------------------------------------------------------------------------
# Statuses, paths, auto
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver,relaxation,budget", [
    ("fista", "gated", {"max_iters": 3}), ("al", "cone", {"max_iters": 3}),
    ("active_set", "gated", {"max_outer": 1, "fista_iters": 3}),
    ("active_set", "cone", {"max_outer": 1})])
def test_budget_exhausted_is_max_iters_with_warning(data_2d, solver, relaxation, budget):
    X, y = data_2d
    lifted = TwoLayerReLU(X, y, beta=0.01).lift(program=relaxation)
    with pytest.warns(ConvergenceWarning, match="relative duality gap"):
        sol = lifted.solve(solver=solver, device="cpu", **budget)
    assert sol.status == "max_iters"
    assert np.isfinite(sol.gap) and sol.gap > 0
    assert "> tolerance" in sol.message


def test_unknown_option_is_a_clear_error(data_1d):
    X, y = data_1d
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(program="gated")
    with pytest.raises(TypeError, match="Unknown option"):
        lifted.solve(solver="fista", stepsize=3)


def test_hinge_is_left_to_the_conic_backends(data_2d_pm1):
    X, y = data_2d_pm1
    lifted = TwoLayerReLU(X, y, beta=0.1, loss="hinge").lift(program="gated")
    assert lifted.solvers() == ()


def test_auto_picks_fast_solvers_beyond_threshold(data_2d, monkeypatch):
    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.01)
    gated, relu = prob.lift(program="gated"), prob.lift(program="cone")
    assert solver_order(gated)[0] != "fista"  # small: an interior-point method
    monkeypatch.setattr(type(gated), "GATED_THRESHOLD", 10)
    monkeypatch.setattr(type(relu), "AL_THRESHOLD", 10)
    assert solver_order(gated)[:2] == ["active_set", "fista"]
    assert "al" in solver_order(relu)[:2]
    # the working set fails on purpose (no budget): auto keeps its honest status, no fallback
    with pytest.warns(ConvergenceWarning):
        sol = gated.solve(solver="auto", max_outer=1, fista_iters=3)
    assert sol.solver == "active_set" and sol.status == "max_iters"


def test_path_warm_starts_and_matches_cold_solves():
    ds = load("diabetes")
    prob = TwoLayerReLU(ds.X_train[:150], ds.y_train[:150], beta=1.0)
    betas = [1.0, 10.0, 3.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        path = prob.path(betas, patterns=30, program="gated", solver="fista", device="cpu")
    assert [s.solver for s in path] == ["fista"] * 3
    lifted = prob.lift(patterns=30, program="gated")
    for b, s in zip(betas, path, strict=True):
        cold = prob.with_beta(b).lift(patterns=30, program="gated").solve(solver="fista")
        assert s.ok and _rel(s.value, cold.value) < 3e-6
    # a warm start at the solution itself stops at once: the start is really used
    at3 = lifted.problem.with_beta(3.0).lift(patterns=30, program="gated")
    again = at3.solve(solver="fista", tol=1e-6, warm_start=path[2].info["warm_start"])
    cold = at3.solve(solver="fista")
    assert again.ok and again.iterations <= 20 < cold.iterations


def test_path_rejects_bad_betas(data_1d):
    prob = TwoLayerReLU(*data_1d, beta=0.1)
    with pytest.raises(ValueError, match="betas"):
        prob.path([0.1, -1.0], program="gated")


# --------------------------------------------------------------------------------------------
# Memory at scale (slow)
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("relaxation", ["gated", "relu"])
def test_memory_n100k_d100_P2000(relaxation):
    """n = 100,000, d = 100, P = 2,000 on CPU: peak RSS of the whole process below 24 GiB."""
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "relu_memory.py")
    out = subprocess.run([sys.executable, script, relaxation, "3"], capture_output=True,
                         text=True, check=True, timeout=3600)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["P"] >= 1_900 and res["n"] == 100_000
    assert res["peak_rss_gib"] < 24
    assert np.isfinite(res["rel_gap"])


def test_pyscnn_cross_check_same_objective_scaling():
    """pyscnn's R-FISTA on the same data and gates, lam = beta / n, reaches our optimum / n."""
    pytest.importorskip("scnn")
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import RFISTA

    ds = load("diabetes")
    prob = TwoLayerReLU(ds.X_train[:200], ds.y_train[:200], beta=2.0)
    lifted = prob.lift(patterns=30, program="gated", seed=0)
    ours = lifted.solve(solver="fista", device="cpu")
    model = ConvexGatedReLU(lifted.gates.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, _ = optimize_model(model, RFISTA(model, max_iters=20_000, tol=1e-12),
                                   Metrics(metric_freq=10**9), prob.Xa, prob.y,
                                   regularizer=NeuronGL1(prob.beta / prob.n), return_convex=True,
                                   unitize_data=False, dtype="float64")
    z = np.asarray(fitted(prob.Xa)).ravel()
    theirs = prob.loss.value(z, prob.y) + prob.beta * np.linalg.norm(
        np.asarray(fitted.parameters[0])[0], axis=1).sum()
    assert ours.lower_bound <= theirs + 1e-9 * abs(theirs)
    assert _rel(theirs, ours.program_value) < 1e-5
