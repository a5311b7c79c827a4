"""``ssnal`` on the cone-constrained ReLU program (issue 11).

Its prox is the projection on each signed group's polyhedral cone followed by the group
shrinkage, and its generalized Jacobian ``alpha Pi_g + gamma ph ph^T`` is held by factors of
rank ``k_g`` (the null space of the active constraint rows). Checked: that Jacobian against
finite differences of the prox and the Newton systems against the Newton matrix built from
the explicit blocks; the optimum against Clarabel on an ill-conditioned exact 2-D program
(where projected FISTA stalls), a sampled dense one and a logistic one; the certificate
recomputed by the library and by hand from the returned multipliers; the cone constraints
of the returned point; ``auto``'s order (ssnal, then the barrier method, then projected
FISTA); options.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from test_cone_fista import _cone_violation, _rel, _small_program, _teacher

import lift.problems.relu.barrier as barrier
import lift.problems.relu.ssnal as ssnal
from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound
from lift.problems.relu.cone_fista import ConeProjection
from lift.solvers import SPECIALISED, solver_order

pytestmark = pytest.mark.filterwarnings("ignore::lift.errors.InaccurateSolutionWarning")


def _prox(op, beta: float, Z: np.ndarray, s: float) -> np.ndarray:
    return ConeProjection(op, beta)(torch.as_tensor(Z), s).numpy()


def test_cone_jacobian_is_the_derivative_of_the_prox():
    """At a generic point (no constraint row on the boundary by accident) the prox is
    differentiable and its Jacobian is the factored ``J_g``: central differences of the
    exact prox agree, and ``J_g`` is symmetric with eigenvalues in [0, 1]."""
    op, _, _, rng = _small_program(11, 60, 4, 10, 0.2, 0)
    beta, s = 0.2, 0.8
    Z = rng.standard_normal((2 * op.P, op.d))
    proj = ConeProjection(op, beta)
    u = proj(torch.as_tensor(Z), s)
    J = ssnal._ConeJacobian.at(u, s * beta, proj)
    assert J.idx.numel() >= 5 and J.width < J.idx.numel() * op.d  # some rows active
    E = rng.standard_normal((J.idx.numel(), op.d))
    eps = 1e-6
    Zp, Zm = Z.copy(), Z.copy()
    Zp[J.idx.numpy()] += eps * E
    Zm[J.idx.numpy()] -= eps * E
    fd = (_prox(op, beta, Zp, s) - _prox(op, beta, Zm, s))[J.idx.numpy()] / (2 * eps)
    got = J.apply(torch.as_tensor(E)).numpy()
    assert np.abs(fd - got).max() <= 1e-5 * max(1.0, np.abs(fd).max())
    M = torch.einsum("iak,ibk->iab", J.factors, J.factors)
    ev = torch.linalg.eigvalsh(M)
    assert ev.min() >= -1e-12 and ev.max() <= 1 + 1e-12


@pytest.mark.parametrize("system", ["gram", "woodbury"])
def test_cone_newton_systems_solve_the_explicit_newton_matrix(system):
    op, Xa, _, rng = _small_program(12, 50, 4, 8, 0.3, 1)
    Z = rng.standard_normal((2 * op.P, op.d))
    proj = ConeProjection(op, 0.3)
    u = proj(torch.as_tensor(Z), 1.0)
    J = ssnal._ConeJacobian.at(u, 0.3, proj)
    sigma = 2.5
    h = torch.as_tensor(rng.uniform(0.5, 2.0, op.n))
    g = torch.as_tensor(rng.standard_normal(op.n))
    H = np.diag(h.numpy())
    D = op.D.numpy()
    for k, gi in enumerate(J.idx.tolist()):
        F = J.factors[k].numpy()
        A = (1.0 if gi < op.P else -1.0) * D[:, gi % op.P, None] * Xa
        H += sigma * A @ F @ F.T @ A.T
    want = np.linalg.solve(H, -g.numpy())
    got = ssnal._Newton(op, system, cg_iters=10, cone=True).solve(g, h, sigma, J, 1e-12)
    assert np.linalg.norm(got.numpy() - want) <= 1e-9 * np.linalg.norm(want)


def _check(lifted, sol, ref):
    """Certified, Clarabel's optimum, feasible, and certified again by hand from the
    returned multipliers."""
    assert sol.status == "optimal" and sol.solver == "ssnal", sol.message
    assert sol.gap <= 1e-6 * sol.value
    assert _rel(sol.program_value, ref.program_value) <= 2e-6
    ws = sol.info["warm_start"]
    assert _cone_violation(lifted, ws["V"], ws["W"]) <= 1e-10
    prob = lifted.problem
    # the multipliers belong to the solver's dual point (the certificate's, up to scale)
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sol.info["dual"], lifted.D,
                          True, multipliers=(ws["mu"], ws["nu"]))
    assert bound <= ref.program_value * (1 + 1e-9)
    assert bound >= sol.value * (1 - 2e-6)


def test_ill_conditioned_exact_program(data_2d):
    """Every pattern of 14 points at beta = 0.01: projected FISTA stalls far from 1e-6
    (``tests/test_cone_fista.py`` keeps this case for Clarabel); ssnal certifies it."""
    lifted = TwoLayerReLU(*data_2d, beta=0.01).lift(program="cone")
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="ssnal")
    _check(lifted, sol, ref)
    assert sol.size >= 5
    with pytest.warns(Warning):
        fista = lifted.solve(solver="fista", max_iters=3_000)
    assert fista.status == "max_iters" and fista.rel_gap > 1e-6


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_sampled_dense_program(loss):
    X, y = _teacher(200, 6, seed=3, loss=loss)
    lifted = TwoLayerReLU(X, y, beta=0.05 if loss == "squared" else 0.02, loss=loss).lift(
        patterns=60, program="cone", seed=0)
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="ssnal")
    _check(lifted, sol, ref)
    assert sol.size >= 20  # a dense optimum
    # a warm start from the answer (not certified on the cone program, but kept as the
    # first multiplier): a few Newton steps instead of dozens
    again = lifted.solve(solver="ssnal", warm_start=sol)
    assert again.status == "optimal" and again.info["newton_steps"] <= 5
    assert sol.info["newton_steps"] >= 20


def test_auto_tries_ssnal_first_on_the_cone_program_then_the_barrier_and_fista(monkeypatch):
    X, y = _teacher(400, 5, seed=4)
    lifted = TwoLayerReLU(X, y, beta=0.5).lift(patterns=130, program="cone", seed=0)
    assert solver_order(lifted)[:3] == ["ssnal", "barrier", "fista"]
    sol = lifted.solve(solver="auto")
    assert sol.solver == "ssnal" and sol.status == "optimal" and sol.gap <= 1e-6 * sol.value
    # ssnal given two Newton steps only: the barrier method goes on, and where its Newton
    # steps are beyond BARRIER_WORK, projected FISTA from ssnal's point
    run = SPECIALISED["ssnal"]
    monkeypatch.setitem(SPECIALISED, "ssnal", dataclasses.replace(
        run, run=lambda lifted, **kw: run.run(lifted, max_iters=2, **kw)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced attempt's warnings are not passed on
        after = lifted.solve(solver="auto")
    assert after.solver == "barrier" and after.status == "optimal", after.message
    assert _rel(after.program_value, sol.program_value) <= 2e-6
    monkeypatch.setattr(barrier, "BARRIER_WORK", 1.0)
    assert solver_order(lifted)[:2] == ["ssnal", "fista"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after = lifted.solve(solver="auto")
    assert after.solver == "fista" and after.status == "optimal", after.message
    assert "ssnal stopped at a certified relative gap" in after.message
    assert _rel(after.program_value, sol.program_value) <= 2e-6


def test_auto_on_small_cone_programs():
    """Below ``CONE_THRESHOLD``: the logistic loss goes to ``ssnal`` at any size (Clarabel's
    exponential cones failed on small programs), the squared loss from ``NEWTON_THRESHOLD``
    on; smaller squared programs and 1-D inputs stay with Clarabel."""
    X, y = _teacher(60, 3, seed=5, loss="logistic")
    lifted = TwoLayerReLU(X, y, beta=0.01, loss="logistic").lift(patterns=40, program="cone",
                                                                seed=0)
    assert lifted.size_hint() < 10_000
    assert solver_order(lifted)[:2] == ["ssnal", "barrier"]
    sol = lifted.solve(solver="auto")
    assert sol.solver == "ssnal" and sol.status == "optimal"
    _check(lifted, sol, lifted.solve(solver="clarabel", tol=1e-9))
    X, y = _teacher(120, 3, seed=5)
    for P, first in ((20, "clarabel"), (90, "ssnal")):
        lifted = TwoLayerReLU(X, y, beta=0.1).lift(patterns=P, program="cone", seed=0)
        limit = type(lifted).NEWTON_THRESHOLD["squared"]
        assert (lifted.size_hint() > limit) == (first == "ssnal")
        assert solver_order(lifted)[0] == first
    one_d = TwoLayerReLU(X[:, :1], y, beta=0.1).lift(program="cone")
    assert limit < one_d.size_hint() < type(one_d).CONE_THRESHOLD
    assert solver_order(one_d)[0] == "clarabel"


def test_auto_goes_on_from_a_conic_answer_short_of_the_tolerance(data_2d, monkeypatch):
    """Clarabel first (a small squared program) but stopped after 4 iterations: ``auto``
    keeps its answer as the best so far and goes on with the specialised solvers, in the
    program's order (``ssnal`` first), not SCS; it says so."""
    import lift.solvers as solvers

    lifted = TwoLayerReLU(*data_2d, beta=0.01).lift(program="cone")
    assert solver_order(lifted)[:4] == ["clarabel", "scs", "ssnal", "barrier"]
    conic = solvers._run_conic

    def short(lifted, name, tol, verbose, **options):
        return conic(lifted, name, tol, verbose, **(
            {"max_iter": 4} if name == "clarabel" else options))

    monkeypatch.setattr(solvers, "_run_conic", short)
    with pytest.warns(Warning):
        alone = lifted.solve(solver="clarabel")
    assert alone.status == "max_iters" and alone.rel_gap > 1e-2
    sol = lifted.solve(solver="auto")
    assert sol.solver == "ssnal" and sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert "auto: clarabel ended max_iters at a certified relative gap" in sol.message


def test_cone_options_and_limits():
    X, y = _teacher(100, 3, seed=5)
    lifted = TwoLayerReLU(X, y, beta=0.5).lift(patterns=20, program="cone", seed=0)
    assert "ssnal" in lifted.solvers()
    for system in ("cg", "covariance"):
        with pytest.raises(ValueError, match="system"):
            lifted.solve(solver="ssnal", system=system)
    # beyond the direct systems' size the solve stops, saying what to use instead
    with pytest.raises(ssnal.NoDirectSystem):
        ssnal._cone_fallback(ssnal.DIRECT_LIMIT + 1, ssnal.DIRECT_LIMIT + 1)
    # the first penalty: lower on larger programs (the gated one from 5,000 samples on)
    assert ssnal.first_sigma(500, cone=True) == ssnal.first_sigma(4_000, cone=False) == 1.0
    assert ssnal.first_sigma(10_000, cone=True) == pytest.approx(0.1)
    assert ssnal.first_sigma(10_000, cone=False) == pytest.approx(0.1)
    # the logistic cone program: (2000 / n)^2 (at n = 50,000, 2000 / n stalled at a gap of 1)
    assert ssnal.first_sigma(10_000, cone=True, squared=False) == pytest.approx(0.04)
    assert ssnal.first_sigma(50_000, cone=True, squared=False) == pytest.approx(0.0016)
    assert ssnal.first_sigma(2_000, cone=True, squared=False) == 1.0
    assert ssnal.first_sigma(10_000, cone=False, squared=False) == 1.0
    assert ssnal._cone_fallback(100, 5_000) == "gram"
    with pytest.raises(ssnal.NoDirectSystem):  # n m^2 beyond ten times DIRECT_WORK
        ssnal._cone_fallback(50_000, 5_000)
    assert ssnal._cone_fallback(9_000, 300) == "woodbury"
    hinge = TwoLayerReLU(X, np.sign(y - np.median(y)), beta=0.5, loss="hinge").lift(
        patterns=20, program="cone", seed=0)
    assert "ssnal" not in hinge.solvers()
    assert math.isinf(ssnal.predicted_seconds(hinge, torch.device("cpu"), torch.float64))


def test_very_small_beta_stalls_honestly():
    """Not solved by ssnal: on the cone program at very small ``beta`` the Newton steps
    shrink to a few percent (the projections' active rows change within a tiny fraction of a
    step) and the certified gap creeps. ssnal says so after ``2 STALL_STEPS`` Newton steps
    (status ``max_iters``, flagged stalled); ``auto`` then moves on to the barrier method
    (``tests/test_cone_barrier.py``)."""
    X, y = _teacher(200, 6, seed=0)
    lifted = TwoLayerReLU(X, y, beta=0.01, bias=False).lift(patterns=80, program="cone",
                                                             seed=0)
    with pytest.warns(Warning):
        sol = lifted.solve(solver="ssnal")
    assert sol.status == "max_iters" and sol.info["stalled"] and sol.rel_gap > 1e-2
    assert sol.info["newton_steps"] == 2 * ssnal.STALL_STEPS and "stalled" in sol.message
