"""Projected FISTA on the cone-constrained ReLU program (``solver="fista"``, ``program="cone"``).

Checked: the proximal step against an independent computation (exact projection by NNLS over
every constraint row, then the shrinkage) and against its argmin definition by cvxpy; the
optimum against Clarabel on an exact 2-D program and on sampled programs with dense optima,
for the squared and the logistic loss; the certificate recomputed by the library (and the
multipliers the solver returns) and the cone constraints of the returned point.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound
from lift.problems.relu.cone_fista import ConeProjection
from lift.problems.relu.operators import PatternOperator

pytestmark = pytest.mark.filterwarnings("ignore::lift.errors.InaccurateSolutionWarning")
CPU = {"device": "cpu"}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _teacher(n: int, d: int, seed: int = 0, loss: str = "squared"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 4)) / np.sqrt(d)
    z = np.maximum(X @ W, 0) @ rng.standard_normal(4)
    if loss == "logistic":
        return X, np.where(z + 0.3 * rng.standard_normal(n) > np.median(z), 1.0, -1.0)
    return X, z + 0.1 * rng.standard_normal(n)


def _cone_violation(lifted, V, W) -> float:
    """Largest violation of ``(2 D_i - I) Xa u_i >= 0``, relative to the largest ``|Xa u|``."""
    Xa, S = lifted.problem.Xa, np.where(lifted.D, 1.0, -1.0)
    scale = max(np.abs(Xa @ V.T).max(), np.abs(Xa @ W.T).max(), 1e-300)
    return max(0.0, -min((S * (Xa @ V.T)).min(), (S * (Xa @ W.T)).min())) / scale


def _small_program(seed: int, n: int, d: int, patterns: int, beta: float, gate_seed: int):
    """A small sampled cone program: its operator, ``Xa``, the row signs ``2 D - 1``, and a
    random generator for the test's inputs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    lifted = TwoLayerReLU(X, rng.standard_normal(n), beta=beta, bias=False).lift(
        patterns=patterns, program="cone", seed=gate_seed)
    op = PatternOperator(lifted.problem.Xa, lifted.D, device="cpu")
    return op, lifted.problem.Xa, np.where(lifted.D, 1.0, -1.0), rng


@pytest.mark.parametrize("s,rounds", [(0.5, None), (3.0, None), (0.5, 1)])
def test_prox_step_is_projection_then_shrinkage(s, rounds):
    """The batched step (cached rows, Lawson-Hanson rounds, NNLS fallback, groups shown to
    end at zero from their kept rows) equals the exact projection on every row followed by
    the shrinkage, step after step; the multipliers it records reproduce the projection, or
    for a step ending at zero, a point of the polar cone within ``s beta`` of ``z``. With one
    round most groups end in the NNLS fallback, started from where the round left them."""
    op, Xa, S, rng = _small_program(5, 80, 4, 12, 0.3, 0)
    proj = ConeProjection(op, beta=0.3, rounds=rounds)
    Z = rng.standard_normal((2 * op.P, op.d))
    for it in range(6):
        out = proj(torch.as_tensor(Z), s).numpy()
        mu, nu = proj.dense_multipliers()
        for g in range(2 * op.P):
            K = S[:, g % op.P, None] * Xa
            lam, _ = nnls(K.T, -Z[g])                   # the polar-cone residual
            p = Z[g] + K.T @ lam
            nrm = np.linalg.norm(p)
            want = p * max(0.0, 1 - s * 0.3 / nrm) if nrm > 0 else p
            assert np.allclose(out[g], want, atol=1e-10), (it, g)
            if np.linalg.norm(Z[g]) > s * 0.3:
                m = (mu if g < op.P else nu)[:, g % op.P]
                assert (m >= 0).all()
                if np.linalg.norm(want) > 0:
                    assert np.allclose(Z[g] + s * K.T @ m, p, atol=1e-9), (it, g)
                else:
                    assert np.linalg.norm(Z[g] + s * K.T @ m) <= s * 0.3 * (1 + 1e-12)
        # the next input is near this one, as in an iteration (the cached rows get reused)
        Z = Z + 0.05 * rng.standard_normal(Z.shape)
    assert proj.equality_calls > 0
    if rounds == 1:
        assert proj.nnls_calls > 2 * op.P
    if s > 1:  # large steps: most groups end at zero, many shown so from their kept rows
        assert proj.zero_screened > 0


def test_float32_check_is_exact_where_it_decides_feasibility():
    """The rounds' check of every row runs in float32 first: a point it calls violated has a
    row that float64 finds violated beyond the tolerance, and a point within the float32
    rounding of its cone (projections, points on a face, nearly feasible points) gets the
    float64 minimum and row, bit for bit."""
    op, Xa, S, rng = _small_program(3, 400, 6, 30, 0.3, 2)
    proj = ConeProjection(op, beta=0.3)
    G = 2 * op.P
    Z = rng.standard_normal((G, op.d)) * np.logspace(-3, 3, G)[:, None]  # badly scaled too
    feasible = np.array([Z[g] + (S[:, g % op.P, None] * Xa).T @ nnls(
        (S[:, g % op.P, None] * Xa).T, -Z[g])[0] for g in range(G)])
    # on the faces of the cones, a rounding error away from them, and well outside
    tiny = 1e-9 * np.linalg.norm(feasible, axis=1, keepdims=True)
    points = np.vstack([feasible, feasible - tiny * rng.standard_normal(Z.shape), Z])
    pat = torch.as_tensor(np.tile(np.arange(G) % op.P, 3))
    P64 = torch.as_tensor(points)
    exact = proj._products(P64, pat)
    scale = exact.abs().amax(1)
    tol = 1e-12 * scale
    least, worst = proj._least(P64, pat, tol)
    e_least, e_worst = exact.min(1)
    clean = e_least >= -tol
    unclear = least >= -tol
    # every point that float64 finds clean, and any float32 cannot call violated for sure,
    # gets the float64 values themselves
    assert bool(unclear[clean].all())
    assert torch.equal(least[unclear], e_least[unclear])
    assert torch.equal(worst[unclear], e_worst[unclear])
    # a point called violated has its returned row violated in float64
    picked = exact.gather(1, worst[:, None])[:, 0]
    assert bool((picked[~unclear] < -tol[~unclear]).all())
    # both outcomes occur: (most of) the projections are clean, the raw points mostly not
    assert int(clean[:G].sum()) > G // 4 and int((~unclear[2 * G:]).sum()) > G // 2


def test_equality_solves_by_cholesky_with_lu_for_failed_factorizations():
    """The rounds' equality projections: full and padded row sets match least squares; a row
    set with a repeated row (singular normal equations: the Cholesky factorization fails) goes
    to LU, which reports it singular."""
    rng = np.random.default_rng(4)
    d, m = 6, 4
    K = torch.as_tensor(rng.standard_normal((3, m, d)))
    K[1, 3] = K[1, 0]            # a repeated row
    K[2, 3] = 0.0                # padding: the last row of the third group is not a row
    maskf = torch.ones(3, m, dtype=torch.float64)
    maskf[2, 3] = 0.0
    Z = torch.as_tensor(rng.standard_normal((3, d)))
    sol, sing = ConeProjection._solve(K, maskf, Z)
    assert sing.tolist() == [False, True, False]
    for b, rows in ((0, m), (2, m - 1)):
        want = np.linalg.lstsq(K[b, :rows].numpy().T, -Z[b].numpy(), rcond=None)[0]
        assert np.allclose(sol[b, :rows].numpy(), want, atol=1e-12)
        assert float(sol[b, rows:].abs().sum()) == 0.0


def test_prox_step_is_the_argmin():
    op, Xa, S, rng = _small_program(7, 40, 3, 5, 1.0, 1)
    Z = 3 * rng.standard_normal((2 * op.P, op.d))
    out = ConeProjection(op, beta=1.0)(torch.as_tensor(Z), 0.7).numpy()
    for g in range(2 * op.P):
        u = cp.Variable(op.d)
        K = S[:, g % op.P, None] * Xa
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(u - Z[g]) + 0.7 * cp.norm(u, 2)),
                   [K @ u >= 0]).solve(solver="CLARABEL")
        assert np.allclose(out[g], u.value, atol=1e-6), g


@pytest.mark.parametrize("case", ["exact_2d", "sampled_dense", "sampled_bias"])
def test_agrees_with_clarabel_and_certifies(case, data_2d):
    if case == "exact_2d":
        # every pattern of 14 points (183); beta = 0.01 is too ill-conditioned for a
        # first-order method (Clarabel's case), 0.05 still uses many patterns
        prob = TwoLayerReLU(*data_2d, beta=0.05)
        lifted = prob.lift(program="cone")
    else:
        X, y = _teacher(150, 6)
        prob = TwoLayerReLU(X, y, beta=0.3, bias=case == "sampled_bias")
        lifted = prob.lift(patterns=40, program="cone", seed=0)
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="fista", tol=1e-6, **CPU)
    assert sol.status == "optimal" and sol.gap <= 1e-6 * sol.value
    assert _rel(sol.program_value, ref.program_value) <= 1e-6
    assert sol.lower_bound <= ref.program_value * (1 + 1e-9)
    V, W = sol.info["warm_start"]["V"], sol.info["warm_start"]["W"]
    assert _cone_violation(lifted, V, W) <= 1e-10
    assert abs(sol.value - sol.program_value) <= 1e-9 * sol.value
    if case == "sampled_dense":
        # a dense optimum: many signed patterns in use
        assert sol.size >= 20
    # the solver's multipliers alone (with its dual point) certify the gap, checked here
    mu, nu = sol.info["warm_start"]["mu"], sol.info["warm_start"]["nu"]
    lam = sol.info["warm_start"].get("dual")
    prob = lifted.problem
    if lam is None:
        lam = prob.loss.grad(prob.predict(sol.params, prob.X), prob.y)
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, lifted.D, True,
                          multipliers=(mu, nu))
    assert bound <= ref.program_value * (1 + 1e-9)


def test_logistic_cone_program():
    X, y = _teacher(120, 4, seed=2, loss="logistic")
    lifted = TwoLayerReLU(X, y, beta=0.5, loss="logistic").lift(patterns=30, program="cone",
                                                                seed=0)
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="fista", tol=1e-6, **CPU)
    assert sol.status == "optimal" and sol.gap <= 1e-6 * sol.value
    assert _rel(sol.program_value, ref.program_value) <= 1e-6
    V, W = sol.info["warm_start"]["V"], sol.info["warm_start"]["W"]
    assert _cone_violation(lifted, V, W) <= 1e-10


def test_warm_start_and_honest_budget():
    X, y = _teacher(150, 6)
    lifted = TwoLayerReLU(X, y, beta=0.3, bias=False).lift(patterns=40, program="cone", seed=0)
    short = lifted.solve(solver="fista", tol=1e-9, max_iters=20, **CPU)
    assert short.status != "optimal" and short.gap > 1e-9 * short.value
    warm = lifted.solve(solver="fista", tol=1e-6, warm_start=short.info["warm_start"], **CPU)
    cold = lifted.solve(solver="fista", tol=1e-6, **CPU)
    assert warm.status == cold.status == "optimal"
    assert _rel(warm.program_value, cold.program_value) <= 2e-6


def test_dual_step_with_fixed_cone_multipliers_certifies_sooner():
    """The dual step of the cone program (loss gradient moved onto the constraints of the
    nonzero signed groups, the projection's cone multipliers held fixed): fewer iterations to
    a certified 1e-6 than the loss gradients alone, and the certificate the library
    recomputes from the returned dual point and multipliers closes the gap of the returned
    point, below Clarabel's optimum."""
    X, y = _teacher(200, 6, seed=3)
    lifted = TwoLayerReLU(X, y, beta=1.0, bias=False).lift(patterns=60, program="cone", seed=1)
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sols = {k: lifted.solve(solver="fista", tol=1e-6, dual_step=k, **CPU) for k in (0, 10)}
    for sol in sols.values():
        assert sol.status == "optimal" and sol.gap <= 1e-6 * sol.value
        assert sol.lower_bound <= ref.program_value * (1 + 1e-9)
        assert _rel(sol.program_value, ref.program_value) <= 1e-6
    assert sols[10].size >= 20  # a dense optimum
    assert sols[10].iterations <= 0.8 * sols[0].iterations
    prob, ws = lifted.problem, sols[10].info["warm_start"]
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sols[10].info["dual"],
                          lifted.D, True, multipliers=(ws["mu"], ws["nu"]))
    assert (sols[10].value - bound) / sols[10].value <= 1e-6
