"""``ssnal``, the semismooth Newton augmented Lagrangian for the gated program (issue 11).

Where ``beta`` is small and the optimum dense (more weights than samples, nearly
interpolating), FISTA's certified gap stalls far from 1e-6; ``ssnal`` closes it in a few dozen
Newton steps. Checked: the gap it reports, recomputed by hand from the returned dual point; its
optimum against Clarabel; the three ways of solving its Newton systems against the Newton
matrix built from the explicit design; the logistic loss on nearly separable labels; sparse
and zero optima; warm starts; ``auto``'s hand-over from a stalled or slower first-order solver;
and its options' errors.
"""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest
import torch
from test_cone_fista import _teacher
from test_dense_gated import _active
from test_float32_gated import _certified_by_hand as _by_hand

import lift.problems.relu.solvers as relu_solvers
import lift.problems.relu.ssnal as ssnal
from lift.problems import TwoLayerReLU
from lift.problems.relu.operators import PatternOperator
from lift.solvers import SPECIALISED, solver_order


def _lifted(beta: float, loss: str = "squared", n: int = 300, d: int = 5, P: int = 150):
    """With bias: ``P (d + 1)`` = 900 weights for 300 samples at the defaults."""
    X, y = _teacher(n, d, seed=1, loss=loss)
    return TwoLayerReLU(X, y, beta=beta, loss=loss, bias=True).lift(
        patterns=P, program="gated", seed=0)


@pytest.fixture(scope="module")
def interpolating():
    lifted = _lifted(1e-3)
    sols = {f"ssnal-{system}": lifted.solve(solver="ssnal", system=system)
            for system in ("gram", "woodbury", "covariance", "cg")}
    sols["clarabel"] = lifted.solve(solver="clarabel")
    with pytest.warns(Warning):
        sols["fista"] = lifted.solve(solver="fista", metric=False)
    sols["fista-metric"] = lifted.solve(solver="fista")
    sols["auto-first"] = lifted.solve(solver="auto")  # ssnal first: small relative beta
    with pytest.MonkeyPatch.context() as mp:
        # plain FISTA steps (in its low-rank metric FISTA certifies this program alone)
        mp.setattr(relu_solvers, "METRIC_AFTER", 10**9)
        mp.setattr(type(lifted), "SSNAL_FIRST", 0.0)  # FISTA first, handing over
        sols["auto"] = lifted.solve(solver="auto")
        mp.setattr(ssnal, "cost_model", lambda *a: lambda groups: math.inf)
        sols["auto-stall"] = lifted.solve(solver="auto")  # no hand-over: FISTA stalls
    return lifted, sols


def test_ssnal_certifies_a_nearly_interpolating_program(interpolating):
    lifted, sols = interpolating
    ref = sols["clarabel"]
    assert ref.status == "optimal"
    n, d = lifted.problem.Xa.shape
    assert _active(sols["ssnal-gram"]) * d > n  # a dense optimum: more weights than samples
    for system in ("gram", "woodbury", "covariance", "cg"):
        sol = sols[f"ssnal-{system}"]
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6, (system, sol.message)
        assert _by_hand(lifted, sol) <= 1e-6
        assert abs(sol.value - ref.value) <= 2e-6 * ref.value
        assert sol.info["systems"].get(system, 0) > 0
    # after the first step at each sigma, the n x n factor serves as a preconditioner
    assert sols["ssnal-gram"].info["systems"].get("gram (factor reused)", 0) > 0
    # the regime: plain FISTA's certified gap stalls far above the tolerance here; in the
    # metric that keeps the largest curvatures exactly (relu_solvers.METRIC_AFTER) it does not
    fista = sols["fista"]
    assert fista.status == "max_iters" and fista.rel_gap > 1e-3 and fista.info["stalled"]
    fista = sols["fista-metric"]
    assert fista.status == "optimal" and _by_hand(lifted, fista) <= 1e-6
    assert abs(fista.value - ref.value) <= 2e-6 * ref.value


def test_auto_moves_from_a_stalled_first_order_solver_to_ssnal(interpolating):
    """At this relative ``beta`` (below ``SSNAL_FIRST``) ``auto`` starts with ``ssnal``.
    Started with FISTA instead: stalled, a first-order solver hands over to the second-order
    ``ssnal`` before any interior-point backend; predicted slower than ssnal, it hands over
    earlier."""
    lifted, sols = interpolating
    assert lifted.relative_beta() < type(lifted).SSNAL_FIRST
    first = sols["auto-first"]
    assert first.solver == "ssnal" and first.status == "optimal" and "auto:" not in first.message
    assert _by_hand(lifted, first) <= 1e-6
    for name, why in (("auto-stall", "(stalled)"), ("auto", "(handed over")):
        auto = sols[name]
        assert auto.status == "optimal" and _by_hand(lifted, auto) <= 1e-6
        assert auto.solver == "ssnal" and why in auto.message, auto.message


def test_auto_hands_over_when_ssnal_is_predicted_faster(monkeypatch):
    """With ssnal predicted to take no time, FISTA (in float32 here) hands over at its first
    rate check, saying so, and the answer is ssnal's, certified."""
    monkeypatch.setattr(ssnal, "cost_model", lambda *a: lambda groups: 0.0)
    monkeypatch.setattr(relu_solvers, "MIXED_WORK", 0)
    lifted = _lifted(0.05)
    monkeypatch.setattr(type(lifted), "SSNAL_FIRST", 0.0)  # FISTA first
    sol = lifted.solve(solver="auto")
    assert sol.status == "optimal" and sol.solver == "ssnal" and _by_hand(lifted, sol) <= 1e-6
    assert "handed over" in sol.message, sol.message
    # asked for by name, FISTA does not hand over
    alone = lifted.solve(solver="fista")
    assert alone.status == "optimal" and alone.solver == "fista"


def test_stall_rule_hands_over_on_predicted_seconds():
    """Hand-overs are weighed every ``every`` iterations once a ``span`` has passed; the stall
    rule itself only every ``window`` iterations, once two have passed."""
    rule = relu_solvers._Stall(window=100, budget=10_000, tol=1e-6, handover=0.0, every=5,
                               span=10)
    assert not any(rule(k, 0.5**(k / 5)) for k in range(10))  # less than a span so far
    assert rule(10, 0.25) and rule.handed and relu_solvers.HANDING_OVER in rule.reason
    # predicted faster than the other solver: no hand-over; halving every window: no stall
    fast = relu_solvers._Stall(window=10, budget=10_000, tol=1e-6, handover=1e9, every=5)
    assert not any(fast(k, 0.5**(k / 10)) for k in range(0, 100, 5))
    # a plateau: stalled at the first window that has two before it, not handed over
    flat = relu_solvers._Stall(window=10, budget=100, tol=1e-6, handover=1e9, every=5)
    assert not any(flat(k, 1e-1) for k in range(0, 20, 5))
    assert flat(20, 1e-1) and not flat.handed and "stalled" in flat.reason


def test_predicted_seconds_only_where_newton_systems_are_direct():
    cpu, f64 = torch.device("cpu"), torch.float64

    def fake(n, d, P, loss="squared"):
        prob = types.SimpleNamespace(Xa=np.zeros((n, d)), loss=types.SimpleNamespace(name=loss))
        return types.SimpleNamespace(problem=prob, P=P, program="gated")

    small = ssnal.predicted_seconds(fake(2_000, 11, 500), cpu, f64)
    assert 0 < small < math.inf
    assert ssnal.predicted_seconds(fake(4_000, 11, 500), cpu, f64) > small
    # n x n too large and more active coordinates than samples: conjugate gradients ...
    big = fake(20_000, 11, 2_000)
    assert ssnal.predicted_seconds(big, cpu, f64) == math.inf
    # ... but on a sparse support, the Woodbury system on its coordinates
    assert ssnal.predicted_seconds(big, cpu, f64, groups=50) < math.inf
    assert ssnal.predicted_seconds(fake(2_000, 11, 500, "hinge"), cpu, f64) == math.inf


def _random_system(seed: int, n: int, d: int, P: int):
    """Random data, patterns, prox inputs ``v`` (with their norms) and curvatures ``h``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    D = rng.random((n, P)) < 0.5
    op = PatternOperator(X, D, device="cpu")
    v = torch.as_tensor(rng.standard_normal((P, d)))
    h = torch.as_tensor(rng.uniform(0.5, 2.0, n))
    return rng, X, D, op, v, torch.linalg.vector_norm(v, dim=1), h


def _explicit_newton_matrix(X, D, J, h, sigma):
    """``diag(h) + sigma sum_i D_i X J_i X^T D_i`` from the explicit blocks (numpy)."""
    d = X.shape[1]
    H = np.diag(h.numpy())
    for k, i in enumerate(J.idx.tolist()):
        vh = J.vh[k].numpy()
        Ji = float(J.alpha[k]) * np.eye(d) + float(J.gamma[k]) * np.outer(vh, vh)
        Ai = D[:, i, None] * X
        H += sigma * Ai @ Ji @ Ai.T
    return H


@pytest.mark.parametrize("system", ["gram", "woodbury", "covariance", "cg"])
def test_newton_systems_solve_the_explicit_newton_matrix(system):
    """``H = diag(h) + sigma sum_i D_i X J_i X^T D_i`` built from the explicit blocks, against
    each system's solution (``cg`` to its tolerance; ``covariance`` for the squared loss,
    with ``h = 1``)."""
    rng, X, D, op, v, norms, h = _random_system(3, 60, 4, 12)
    n, d = X.shape
    thr = float(norms.median())
    J = ssnal._Jacobian.at(v, norms, thr)
    sigma = 3.0
    if system == "covariance":
        h = torch.ones(n, dtype=torch.float64)
    g = torch.as_tensor(rng.standard_normal(n))
    H = _explicit_newton_matrix(X, D, J, h, sigma)
    want = np.linalg.solve(H, -g.numpy())
    newton = ssnal._Newton(op, system, cg_iters=500, squared=system == "covariance")
    got = newton.solve(g, h, sigma, J, tol=1e-12).numpy()
    assert np.linalg.norm(got - want) <= 1e-8 * np.linalg.norm(want)
    if system == "covariance":
        # A^T A in float32; its factor preconditions CG on the float64 system. Where CG
        # does not converge (here: no iterations allowed), A^T A is formed in float64
        assert newton.AtA.dtype == torch.float32 and newton.cg_total > 0
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ssnal, "REUSE_ITERS", 0)
            again = ssnal._Newton(op, system, cg_iters=500, squared=True)
            got = again.solve(g, h, sigma, J, tol=1e-12).numpy()
        assert again.AtA.dtype == torch.float64
        assert np.linalg.norm(got - want) <= 1e-8 * np.linalg.norm(want)
    if system == "gram":
        # formed and factored in float32, its factor preconditioning CG on the float64
        # system; where CG does not converge (no iterations allowed), the float64 system,
        # and so for the rest of the solve
        assert newton.used == {"gram": 1, "gram in float32": 1} and newton.cg_total > 0
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ssnal, "REUSE_ITERS", 0)
            again = ssnal._Newton(op, system, cg_iters=500)
            got = again.solve(g, h, sigma, J, tol=1e-12).numpy()
        assert again.used == {"gram": 1} and not again.gram_low
        assert np.linalg.norm(got - want) <= 1e-8 * np.linalg.norm(want)
    # the Jacobian is that of the group prox: a finite difference of the prox along Z
    Z = torch.as_tensor(rng.standard_normal((len(J.idx), d)))
    eps = 1e-7

    def prox(w):
        nw = torch.linalg.vector_norm(w, dim=1)
        return w * (1 - thr / nw)[:, None]

    fd = (prox(v[J.idx] + eps * Z) - prox(v[J.idx] - eps * Z)) / (2 * eps)
    assert torch.allclose(fd, J.apply(Z), atol=1e-6)


def test_logistic_on_nearly_separable_labels():
    lifted = _lifted(1e-3, loss="logistic")
    sol = lifted.solve(solver="ssnal")
    ref = lifted.solve(solver="clarabel")
    assert sol.status == "optimal" and _by_hand(lifted, sol) <= 1e-6, sol.message
    assert abs(sol.value - ref.value) <= 1e-5 * ref.value


def test_sparse_and_zero_optima_and_warm_start():
    lifted = _lifted(30.0)
    sol = lifted.solve(solver="ssnal")
    ref = lifted.solve(solver="active_set")
    assert sol.status == "optimal" and _by_hand(lifted, sol) <= 1e-6
    assert abs(sol.value - ref.value) <= 2e-6 * ref.value
    assert 0 < _active(sol) < 0.5 * lifted.P
    # a warm start from the answer is certified before any Newton step
    again = lifted.solve(solver="ssnal", warm_start=sol)
    assert again.status == "optimal" and again.info["newton_steps"] == 0
    # a warm start certified no better than a gap of WARM_GAP is kept as an upper bound
    # only: the Newton steps start from zero, as without it
    rng = np.random.default_rng(0)
    poor = {"V": 5.0 * rng.standard_normal((lifted.P, lifted.problem.Xa.shape[1]))}
    with pytest.warns(Warning):  # six steps: honestly short (max_iters), and said so
        cold = lifted.solve(solver="ssnal", max_iters=6)
        from_poor = lifted.solve(solver="ssnal", max_iters=6, warm_start=poor)
    assert from_poor.info["newton_steps"] == cold.info["newton_steps"] == 6
    assert from_poor.value == pytest.approx(cold.value, rel=1e-12)
    # beta above every dual constraint norm at zero: the optimum is zero
    zero = _lifted(1e6)
    z = zero.solve(solver="ssnal")
    assert z.status == "optimal" and _active(z) == 0


def test_registry_and_options():
    assert SPECIALISED["ssnal"].second_order and not SPECIALISED["fista"].second_order
    lifted = _lifted(1.0)
    assert SPECIALISED["fista"].auto_options(lifted) == {"handover": True}
    with pytest.raises(TypeError, match="handover"):
        lifted.solve(solver="fista", handover="yes")
    assert "ssnal" in lifted.solvers()
    for bad, kind, name in (({"sigma": 0.0}, ValueError, "sigma"),
                            ({"sigma_growth": 1.0}, ValueError, "sigma_growth"),
                            ({"system": "lu"}, ValueError, "system"),
                            ({"inner_iters": 2.5}, TypeError, "inner_iters"),
                            ({"rho": 1.0}, TypeError, "rho"),
                            ({"growth": 2.0}, TypeError, "growth"),
                            ({"system": "covariance", "loss": "logistic"}, ValueError,
                             "covariance")):
        target = _lifted(1.0, loss=bad.pop("loss")) if "loss" in bad else lifted
        with pytest.raises(kind, match=name):
            target.solve(solver="ssnal", **bad)
    X, y = _teacher(100, 3, seed=1, loss="logistic")
    hinge = TwoLayerReLU(X, y, beta=1.0, loss="hinge").lift(patterns=20, program="gated",
                                                             seed=0)
    assert "ssnal" not in hinge.solvers()
    with pytest.raises(ValueError, match="ssnal"):
        hinge.solve(solver="ssnal")


@pytest.mark.parametrize("system", ["gram", "covariance"])
def test_kept_factor_preconditions_the_next_steps_at_the_same_sigma(system):
    """A second Newton system at the same ``sigma`` (the Jacobian and curvatures moved a
    little) is solved by CG preconditioned with the first one's factor, to the tolerance
    asked for; the ``n x n`` system is factored anew at another ``sigma``, the covariance
    system (squared loss) once the nonzero groups change (where they did, at 34 % active,
    the reused factor took 68 Newton steps instead of 30)."""
    rng, X, D, op, v, norms, h = _random_system(4, 80, 4, 15)
    n, P = D.shape
    d = X.shape[1]
    squared = system == "covariance"
    if squared:
        h = torch.ones_like(h)
    g = torch.as_tensor(rng.standard_normal(n))
    newton = ssnal._Newton(op, system, cg_iters=10, squared=squared)
    newton.solve(g, h, 2.0, ssnal._Jacobian.at(v, norms, 0.5), tol=1e-10)
    low = {} if squared else {"gram in float32": 1}  # see test_low_precision_gram_system
    assert newton.used == {system: 1, **low}
    v2 = v + 0.01 * torch.as_tensor(rng.standard_normal((P, d)))
    J2 = ssnal._Jacobian.at(v2, torch.linalg.vector_norm(v2, dim=1), 0.5)
    if not squared:
        h = h * (1 + 0.01 * torch.as_tensor(rng.standard_normal(n)))
    got = newton.solve(g, h, 2.0, J2, tol=1e-10)
    assert newton.used == {system: 1, f"{system} (factor reused)": 1, **low}
    assert newton.cg_total > 0
    want = ssnal._Newton(op, system, cg_iters=10, squared=squared).solve(g, h, 2.0, J2,
                                                                         tol=1e-10)
    assert torch.linalg.vector_norm(got - want) <= 1e-8 * torch.linalg.vector_norm(want)
    got = newton.solve(g, h, 20.0, J2, tol=1e-10)
    want = ssnal._Newton(op, system, cg_iters=10, squared=squared).solve(g, h, 20.0, J2,
                                                                         tol=1e-10)
    assert torch.linalg.vector_norm(got - want) <= 1e-8 * torch.linalg.vector_norm(want)
    assert newton.used[system] == (1 if squared else 2)
    if squared:
        v2[:2] = 0.0  # two groups leave
        J3 = ssnal._Jacobian.at(v2, torch.linalg.vector_norm(v2, dim=1), 0.5)
        assert J3.idx.numel() == J2.idx.numel() - 2
        newton.solve(g, h, 20.0, J3, tol=1e-10)
        assert newton.used[system] == 2



@pytest.mark.parametrize("system", ["gram", "covariance"])
def test_loose_steps_on_a_kept_float32_factor_run_in_float32(system):
    """With the squared loss, a Newton step at a loose tolerance (``>= LOW_CG_TOL``) on a kept
    float32 factor (``"gram"``, or ``"covariance"`` from its float32 ``A^T A``) runs its
    conjugate gradients in float32, products with ``A_J`` included: the float64 Newton
    matrix's residual of the step is still within the tolerance. A tight one stays in
    float64 (to 1e-10 of the explicit solve)."""
    rng, X, D, op, v, norms, h = _random_system(6, 90, 4, 16)
    n, P = D.shape
    h = torch.ones(n, dtype=torch.float64)
    g = torch.as_tensor(rng.standard_normal(n))
    sigma = 5.0
    newton = ssnal._Newton(op, system, cg_iters=10, squared=True)
    J = ssnal._Jacobian.at(v, norms, 0.5)
    newton.solve(g, h, sigma, J, tol=1e-10)
    assert newton.kept[5] == torch.float32
    v2 = v + 0.01 * torch.as_tensor(rng.standard_normal(v.shape))
    J2 = ssnal._Jacobian.at(v2, torch.linalg.vector_norm(v2, dim=1), 0.5)
    assert torch.equal(J2.idx, J.idx)  # (the covariance factor is kept on the same groups)
    H = _explicit_newton_matrix(X, D, J2, h, sigma)
    for tol in (1e-2, ssnal.LOW_CG_TOL):
        got = newton.solve(g, h, sigma, J2, tol=tol)
        assert got.dtype == torch.float64
        residual = np.linalg.norm(H @ got.numpy() + g.numpy())
        assert residual <= 1.01 * tol * float(g.norm())
    assert newton.used["conjugate gradients in float32"] == 2
    got = newton.solve(g, h, sigma, J2, tol=1e-10).numpy()
    assert newton.used["conjugate gradients in float32"] == 2
    want = np.linalg.solve(H, -g.numpy())
    assert np.linalg.norm(got - want) <= 1e-8 * np.linalg.norm(want)
    assert newton.used[system] == 1
    if system != "gram":
        return
    # a loose step at up to ACROSS_SIGMA times the factor's sigma keeps it; beyond, a new one
    for factor, formed in ((ssnal.ACROSS_SIGMA, 1), (ssnal.ACROSS_SIGMA * 1.5, 2)):
        H = _explicit_newton_matrix(X, D, J2, h, factor * sigma)
        got = newton.solve(g, h, factor * sigma, J2, tol=1e-2)
        assert np.linalg.norm(H @ got.numpy() + g.numpy()) <= 1.01e-2 * float(g.norm())
        assert newton.used["gram"] == formed


def test_low_precision_gram_system_with_curvatures_over_many_orders():
    """The ``"gram"`` system formed and factored in float32 gives the float64 Newton step
    where the logistic conjugate's curvatures ``h`` span 60 orders of magnitude (the scaled
    matrix then has entries far below float32's smallest normal numbers: they are dropped,
    see ``GRAM_FLUSH``), and hands the rest of the solve to float64 once its conjugate
    gradients need more than ``GRAM_LOW_ITERS`` iterations."""
    rng, X, D, op, v, norms, h = _random_system(5, 70, 4, 14)
    n, d = X.shape
    h = torch.as_tensor(10.0 ** rng.uniform(-10.0, 50.0, n))
    J = ssnal._Jacobian.at(v, norms, float(norms.median()))
    g = torch.as_tensor(rng.standard_normal(n))
    sigma = 3.0
    H = _explicit_newton_matrix(X, D, J, h, sigma)
    r = 1.0 / np.sqrt(h.numpy())  # solved in the scaled form, as the system does
    want = r * np.linalg.solve(r[:, None] * H * r[None, :], -r * g.numpy())
    newton = ssnal._Newton(op, "gram", cg_iters=500)
    got = newton.solve(g, h, sigma, J, tol=1e-12).numpy()
    assert newton.used == {"gram": 1, "gram in float32": 1} and newton.gram_low
    scaled = np.linalg.norm((got - want) / r)
    assert scaled <= 1e-8 * np.linalg.norm(want / r)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ssnal, "GRAM_LOW_ITERS", 0)
        again = ssnal._Newton(op, "gram", cg_iters=500)
        got = again.solve(g, h, sigma, J, tol=1e-12).numpy()
        assert again.used == {"gram": 1, "gram in float32": 1} and not again.gram_low
        assert np.linalg.norm((got - want) / r) <= 1e-8 * np.linalg.norm(want / r)
        again.solve(g, h, 2 * sigma, J, tol=1e-12)  # a new sigma: formed in float64
        assert again.used == {"gram": 2, "gram in float32": 1}


def test_auto_maps_back_only_the_answer_it_returns(monkeypatch):
    """Attempts short of the tolerance are not recovered and certified until one of them is
    returned; the one returned is, as any answer (network, library certificate, status)."""
    import lift.solvers as lift_solvers

    lifted = _lifted(0.01)
    monkeypatch.setattr(lift_solvers, "solver_order", lambda lifted: ["fista", "ssnal"])
    finished = []
    finish = type(lifted).finish
    monkeypatch.setattr(type(lifted), "finish",
                        lambda self, result, solver, tol: finished.append(solver)
                        or finish(self, result, solver, tol))
    for name, cap in (("fista", 30), ("ssnal", 3)):
        spec = SPECIALISED[name]
        monkeypatch.setitem(SPECIALISED, name, dataclasses.replace(
            spec, run=lambda lifted, _run=spec.run, _cap=cap, **kw: _run(
                lifted, **{**kw, "max_iters": _cap}), auto_options=None))
    with pytest.warns(Warning):
        sol = lifted.solve(solver="auto")
    assert sol.status == "max_iters" and len(finished) == 1
    assert sol.solver == finished[0] and "auto: fista stopped" in sol.message
    assert sol.params is not None and sol.size > 0
    assert sol.value == pytest.approx(lifted.problem.objective(sol.params), rel=1e-12)
    assert 0 < sol.rel_gap < 1 and sol.lower_bound <= sol.value


def test_auto_starts_with_ssnal_at_small_relative_beta(monkeypatch):
    """The gated program with the squared loss: ``ssnal`` first below ``SSNAL_FIRST`` (scaled
    up where ``P d`` is large against ``n``; where its Newton systems are direct), FISTA and
    the working set first above it; the logistic
    loss always starts first-order (``ssnal`` warm-started from FISTA's point was faster)."""
    small, large = _lifted(1e-3), _lifted(50.0)
    limit = type(small).SSNAL_FIRST
    assert small.relative_beta() < limit < large.relative_beta()
    assert solver_order(small)[:3] == ["ssnal", "active_set", "fista"]
    assert solver_order(large)[:2] == ["active_set", "fista"]
    logistic = _lifted(1e-4, loss="logistic")
    assert logistic.relative_beta() < limit
    assert solver_order(logistic)[:2] == ["active_set", "fista"]
    # beyond SSNAL_FIRST_MAX_N samples FISTA (with its metric) goes first, handing over
    monkeypatch.setattr(type(small), "SSNAL_FIRST_MAX_N", small.problem.n - 1)
    assert solver_order(small)[:2] == ["active_set", "fista"]
    monkeypatch.setattr(type(small), "SSNAL_FIRST_MAX_N", small.problem.n)
    assert solver_order(small)[0] == "ssnal"
    # the threshold scales with P d / (SSNAL_FIRST_WIDTH n): about 450 * 6 / (3 * 300) = 3
    cls = type(small)
    probe = _lifted(1.0, P=450)
    wide = max(1.0, probe.P * 6 / (cls.SSNAL_FIRST_WIDTH * probe.problem.n))
    assert 2.5 < wide <= 3.0  # (duplicate sampled patterns are dropped)
    middle = _lifted(2.0 * limit / probe.relative_beta(), P=450)  # relative beta 2e-3
    assert limit < middle.relative_beta() < wide * limit
    assert solver_order(middle)[0] == "ssnal"
    monkeypatch.setattr(cls, "SSNAL_FIRST_WIDTH", 1e9)  # no scaling: first-order first
    assert solver_order(middle)[:2] == ["active_set", "fista"]
    monkeypatch.setattr(ssnal, "DIRECT_LIMIT", 10)  # no direct system: conjugate gradients
    assert not ssnal.has_direct_system(300, 150, 6, squared=True)
    assert solver_order(small)[:2] == ["active_set", "fista"]


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_default_sigma_growth_follows_the_loss(loss):
    """The penalty grows by ``SIGMA_GROWTH[loss]`` unless ``sigma_growth`` is given (3 with
    the squared loss, where it took fewer Newton steps; 10 with the logistic, where 3 stalled
    at small ``beta``): the default run is the explicit run with that factor, step for step,
    and both certify. The other factor takes another path (with the logistic loss here it
    stalls, and says so)."""
    lifted = _lifted(1e-3 if loss == "squared" else 1e-4, loss=loss, n=200, P=80)
    growth = ssnal.SIGMA_GROWTH[loss]
    default = lifted.solve(solver="ssnal")
    explicit = lifted.solve(solver="ssnal", sigma_growth=growth)
    other = lifted.solve(solver="ssnal", sigma_growth=13.0 - growth)  # 10 <-> 3
    for sol in (default, explicit):
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6
        assert sol.lower_bound <= sol.value
    assert default.iterations == explicit.iterations
    assert default.value == explicit.value
    assert (other.iterations, other.status) != (default.iterations, default.status)
    assert other.lower_bound <= other.value
    assert (other.status == "optimal") == (other.rel_gap <= 1e-6)
