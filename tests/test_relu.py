"""The exact convex lift of two-layer ReLU networks: recovery, certificates, agreement."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch

from lift.errors import InaccurateSolutionWarning
from lift.problems import GatedReLUNet, ReLUNet, TwoLayerReLU
from lift.problems.relu import recover_network
from lift.problems.relu.arrangements import enumerate_patterns, interior_gates

SOLVERS = ["clarabel", "scs"]


def _numpy_objective(prob, net):
    """The objective written out by hand in numpy, independent of the library's torch code."""
    U = net.first_layer()
    a = net.alpha.detach().numpy()
    Xa = prob.Xa
    if isinstance(net, GatedReLUNet):
        G = net.gates.numpy()
        H = (Xa @ G.T >= 0) * (Xa @ U.T)
    else:
        H = np.maximum(Xa @ U.T, 0)
    z = H @ a
    if prob.loss.name == "squared":
        loss = 0.5 * np.sum((z - prob.y) ** 2)
    elif prob.loss.name == "logistic":
        loss = np.sum(np.log1p(np.exp(-prob.y * z)))
    else:
        loss = np.sum(np.maximum(0, 1 - prob.y * z))
    return loss + 0.5 * prob.beta * (np.sum(U**2) + np.sum(a**2))


def test_objective_matches_hand_computation(data_1d, data_2d_pm1):
    for (X, y), loss in [(data_1d, "squared"), (data_2d_pm1, "logistic"), (data_2d_pm1, "hinge")]:
        prob = TwoLayerReLU(X, y, beta=0.03, loss=loss)
        for width in (1, 7):
            net = prob.model(width, seed=width)
            assert prob.objective(net) == pytest.approx(_numpy_objective(prob, net), rel=1e-12)


def test_recovery_reproduces_program_objective_exactly(data_2d):
    """Any feasible (V, W) maps to a network whose objective equals the convex objective."""
    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.1)
    lifted = prob.lift()
    rng = np.random.default_rng(0)
    pick = rng.choice(lifted.P, 12, replace=False)
    G = interior_gates(prob.Xa, lifted.D[:, pick])  # feasible directions of those cones
    V = np.zeros((lifted.P, 3))
    W = np.zeros((lifted.P, 3))
    V[pick[:6]] = G[:6] * rng.uniform(0.1, 2, (6, 1))
    W[pick[6:]] = G[6:] * rng.uniform(0.1, 2, (6, 1))
    net = recover_network(V, W, prob.d, prob.bias)
    assert net.width == 12
    assert prob.objective(net) == pytest.approx(lifted.program_value({"V": V, "W": W}), rel=1e-12)

    gated = prob.lift(program="gated")
    Vg = np.zeros((gated.P, 3))
    Vg[pick] = rng.standard_normal((12, 3))  # any direction: no cone constraints
    gnet = recover_network(Vg, None, prob.d, prob.bias, gates=interior_gates(prob.Xa, gated.D))
    assert isinstance(gnet, GatedReLUNet)
    assert prob.objective(gnet) == pytest.approx(gated.program_value({"V": Vg}), rel=1e-12)


@pytest.mark.parametrize("relaxation", ["cone", "gated"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fixture", ["data_1d", "data_2d"])
def test_exact_lift_certified(fixture, solver, relaxation, request):
    X, y = request.getfixturevalue(fixture)
    prob = TwoLayerReLU(X, y, beta=0.02)
    lifted = prob.lift(patterns="exact", program=relaxation)
    # every pattern: the cone program is exact, the gated one a relaxation with a valid bound
    assert lifted.complete and lifted.exact == (relaxation == "cone")
    sol = lifted.solve(solver=solver, tol=1e-7)
    assert sol.status == "optimal", sol.message
    assert sol.solver == solver
    # the recovered network reproduces the value and the convex program's objective
    assert prob.objective(sol.params) == pytest.approx(sol.value, rel=1e-12)
    assert sol.value == pytest.approx(sol.program_value, rel=1e-6)
    # certified: a lower bound below the value, a small relative gap
    assert sol.global_bound is not None
    assert sol.global_bound == sol.lower_bound
    assert sol.global_bound <= sol.value
    assert sol.gap == pytest.approx(sol.value - sol.lower_bound, abs=1e-15)
    assert sol.rel_gap < 1e-5
    assert sol.size == sol.params.active_units() >= 1


@pytest.mark.parametrize("fixture", ["data_1d", "data_2d"])
def test_scs_and_clarabel_agree(fixture, request):
    X, y = request.getfixturevalue(fixture)
    prob = TwoLayerReLU(X, y, beta=0.02)
    lifted = prob.lift()
    a, b = (lifted.solve(solver=s, tol=1e-7) for s in SOLVERS)
    assert a.value == pytest.approx(b.value, rel=1e-5)
    # each solver's certified bound holds for the other's network
    assert a.global_bound <= b.value and b.global_bound <= a.value


def test_global_bound_equals_independent_dual_optimum(data_1d):
    """Solve the dual program separately with cvxpy; strong duality pins the bound."""
    X, y = data_1d
    prob = TwoLayerReLU(X, y, beta=0.05)
    sol = prob.lift().solve(solver="clarabel")
    D = enumerate_patterns(prob.Xa).astype(float)
    S = 2 * D - 1
    n, P = D.shape
    lam = cp.Variable(n)
    mu, nu = cp.Variable((n, P), nonneg=True), cp.Variable((n, P), nonneg=True)
    Dl = cp.multiply(D, cp.reshape(lam, (n, 1), order="F") @ np.ones((1, P)))
    cons = [cp.norm(prob.Xa.T @ (Dl - cp.multiply(S, mu)), 2, axis=0) <= prob.beta,
            cp.norm(prob.Xa.T @ (Dl + cp.multiply(S, nu)), 2, axis=0) <= prob.beta]
    dual = cp.Problem(cp.Maximize(-(lam @ prob.y) - 0.5 * cp.sum_squares(lam)), cons)
    dual.solve(solver="CLARABEL")
    assert dual.status == "optimal"
    assert sol.global_bound <= dual.value + 1e-7
    assert sol.global_bound == pytest.approx(dual.value, rel=1e-6)
    assert sol.value == pytest.approx(dual.value, rel=1e-6)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("relaxation", ["cone", "gated"])
def test_classification_losses(data_2d_pm1, loss, relaxation):
    X, y = data_2d_pm1
    prob = TwoLayerReLU(X, y, beta=0.05, loss=loss)
    sol = prob.lift(program=relaxation).solve(solver="auto", tol=1e-7)
    assert sol.status in ("optimal", "optimal_inaccurate")
    assert prob.objective(sol.params) == pytest.approx(sol.value, rel=1e-12)
    assert sol.value == pytest.approx(sol.program_value, rel=1e-5)
    assert sol.global_bound is not None and sol.global_bound <= sol.value
    assert sol.rel_gap < 1e-4


def test_random_networks_never_beat_global_bound(data_2d):
    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.02)
    sol = prob.lift().solve(solver="clarabel")
    for width in (1, 3, 10, 50):
        for seed in range(5):
            assert prob.objective(prob.model(width, seed)) >= sol.global_bound


def test_gradient_descent_never_beats_global_bound(data_1d):
    """Wide networks trained by full-batch GD approach, but never pass, the certified bound."""
    X, y = data_1d
    prob = TwoLayerReLU(X, y, beta=0.02)
    sol = prob.lift().solve(solver="clarabel")
    finals = []
    for width, seed in [(64, 0), (64, 1), (256, 2)]:
        net = prob.model(width, seed=seed)
        opt = torch.optim.SGD(net.parameters(), lr=2e-3, momentum=0.9)
        for _ in range(4000):
            opt.zero_grad()
            prob.torch_objective(net).backward()
            opt.step()
        finals.append(prob.objective(net))
    tol = 1e-6 * abs(sol.global_bound)
    assert min(finals) >= sol.global_bound - tol
    # and the optimum is not vacuous: at least one wide run gets within 5% of it
    assert min(finals) <= 1.05 * sol.value


def test_gated_exact_bound_is_below_relu_optimum(data_1d):
    """The gated program relaxes the ReLU one, so its certified bound is below the ReLU value."""
    X, y = data_1d
    prob = TwoLayerReLU(X, y, beta=0.02)
    relu = prob.lift().solve(solver="clarabel")
    gated = prob.lift(program="gated").solve(solver="clarabel")
    assert gated.global_bound <= relu.value
    assert gated.value <= relu.value * (1 + 1e-6)


def test_sampled_lift_is_not_exact_and_verified_when_possible(data_1d):
    X, y = data_1d
    prob = TwoLayerReLU(X, y, beta=0.02)
    exact = prob.lift().solve(solver="clarabel")
    sampled = prob.lift(patterns=8, seed=3).solve(solver="clarabel")
    assert not sampled.exact
    # the sampled program's optimum is no better than the exact one
    assert sampled.value >= exact.global_bound
    # 1-D data: the dual point is checked against every pattern, so a bound is certified
    assert sampled.global_bound is not None
    assert sampled.global_bound <= exact.value + 1e-9
    unverified = prob.lift(patterns=8, seed=3, verify=False).solve(solver="clarabel")
    assert unverified.global_bound is None


def test_sampled_high_dimensional_has_no_global_bound():
    from lift.datasets import load

    data = load("iris")
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=0.1, loss="logistic")
    sol = prob.lift(patterns=20, program="gated").solve(solver="clarabel")
    assert sol.global_bound is None
    assert sol.lower_bound <= sol.value
    assert sol.rel_gap < 1e-5


def test_given_gates_and_no_bias(data_2d):
    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.05, bias=False)
    gates = np.random.default_rng(0).standard_normal((30, 2))
    lifted = prob.lift(patterns=gates, program="gated")
    assert lifted.P <= 30
    sol = lifted.solve(solver="clarabel")
    assert sol.params.bias is None
    assert prob.objective(sol.params) == pytest.approx(sol.program_value, rel=1e-6)


def test_inaccurate_solve_is_reported(data_2d):
    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.02)
    with pytest.warns(InaccurateSolutionWarning):
        sol = prob.lift().solve(solver="scs", tol=1e-6, max_iters=50)
    assert sol.status in ("optimal_inaccurate", "max_iters")
    assert sol.gap > 0


def test_model_is_a_relu_net_of_the_right_width(data_1d):
    X, y = data_1d
    prob = TwoLayerReLU(X, y, beta=0.1)
    net = prob.model(5, seed=1)
    assert isinstance(net, ReLUNet) and net.width == 5
    same = prob.model(5, seed=1)
    assert torch.equal(net.weight, same.weight)
    assert not torch.equal(net.weight, prob.model(5, seed=2).weight)


def test_caratheodory_reduction_keeps_objective_and_bounds_width(data_2d):
    """Interior-point solutions spread over many neurons; the reduction keeps <= n + 1."""
    from lift.problems.relu import reduce_neurons

    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.02)
    wide = prob.model(60, seed=0)
    reduced = reduce_neurons(prob, wide)
    assert reduced.width <= prob.n + 1
    assert prob.objective(reduced) <= prob.objective(wide) * (1 + 1e-9)
    # after recovery too
    sol = prob.lift().solve(solver="clarabel")
    assert sol.params.width <= prob.n + 1
    assert prob.objective(sol.params) == pytest.approx(sol.program_value, rel=1e-6)


def test_caratheodory_reduction_skipped_where_it_would_cost_too_much(data_2d, monkeypatch):
    """Each neuron beyond n + 1 costs an SVD of an (n + 1)-square window: above REDUCE_WORK
    multiply-adds the network comes back as it is (same objective, wider)."""
    import lift.problems.relu.networks as nets

    X, y = data_2d
    prob = TwoLayerReLU(X, y, beta=0.02)
    wide = prob.model(60, seed=0)
    assert nets.reduce_neurons(prob, wide).width <= prob.n + 1
    monkeypatch.setattr(nets, "REDUCE_WORK", (60 - prob.n - 1) * (prob.n + 1) ** 3 - 1.0)
    assert nets.reduce_neurons(prob, wide) is wide


def test_caratheodory_weights_preserve_sums_and_handle_large_n():
    from lift.recovery import caratheodory_weights

    rng = np.random.default_rng(0)
    H, c = rng.standard_normal((40, 10)), np.abs(rng.standard_normal(40))
    s = caratheodory_weights(H, c)
    assert (s >= 0).all() and (s > 0).sum() <= 11  # Caratheodory: at most dim + 1 atoms
    assert np.allclose(H.T @ s, H.sum(0), atol=1e-10) and c @ s == pytest.approx(c.sum())
    # many samples, few atoms with one dependency: thin factorizations only (no n x n matrix)
    H = rng.standard_normal((30, 100_000))
    H = np.vstack([H, H[:3].sum(0)])
    c = np.r_[np.ones(30), 3.0]
    s = caratheodory_weights(H, c)
    assert (s > 0).sum() <= 30
    assert np.allclose(H.T @ s, H.sum(0), atol=1e-9) and c @ s == pytest.approx(c.sum())


def test_auto_certifies_small_random_programs():
    """``auto`` on 16 small programs drawn at random (1-5 inputs, 20-250 samples, ``beta``
    from 1e-4 to 1e-1 of n, squared and logistic loss, both programs): ``"optimal"`` every
    time, an honest solution (:func:`lift.testing.check_solution`), its network's objective
    by hand equal to the value, and the value within 2e-6 of a second solver's certified one
    (``ssnal`` where ``auto`` picked Clarabel, else Clarabel, or ``barrier`` for the logistic
    cone program, on whose exponential cones Clarabel fails)."""
    from lift.testing import check_solution

    rng = np.random.default_rng(123)
    for trial in range(16):
        n, d = int(rng.integers(20, 250)), int(rng.integers(1, 6))
        loss, program = ("squared", "logistic")[trial % 2], ("cone", "gated")[trial // 2 % 2]
        X = rng.standard_normal((n, d))
        y = np.sin(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
        if loss == "logistic":
            y = np.sign(y - np.median(y) + 1e-12)
        prob = TwoLayerReLU(X, y, beta=float(10 ** rng.uniform(-4, -1)) * n, loss=loss)
        kw = {} if d <= 2 and n <= 60 else {"patterns": int(rng.integers(30, 300)), "seed": 0}
        lifted = prob.lift(program=program, **kw)
        sol = lifted.solve(solver="auto")
        case = (trial, n, d, loss, program, sol.solver, sol.message)
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6, case
        check_solution(lifted, sol, 1e-6)
        assert _numpy_objective(prob, sol.params) == pytest.approx(sol.value, rel=1e-9)
        other = "ssnal" if sol.solver == "clarabel" else (
            "barrier" if (loss, program) == ("logistic", "cone") else "clarabel")
        ref = lifted.solve(solver=other)
        assert ref.status == "optimal", (case, other, ref.message)
        assert sol.program_value == pytest.approx(ref.program_value, rel=2e-6), (case, other)
