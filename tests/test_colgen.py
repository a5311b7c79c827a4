"""Sampled ReLU lifts made to bound trained networks (their patterns included) and moved
towards the global optimum by column generation."""

from __future__ import annotations

import numpy as np
import pytest

from lift.problems import TwoLayerReLU
from lift.problems.relu import constraint_norms, patterns_from_gates
from lift.problems.relu.colgen import price
from lift.solvers.sgd import TrainConfig, train


def _data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0) - np.maximum(X @ rng.standard_normal(d), 0)
    return X, y + 0.05 * rng.standard_normal(n)


@pytest.mark.parametrize("program", ["cone", "gated"])
def test_program_with_trained_patterns_is_below_every_trained_network(program):
    X, y = _data()
    prob = TwoLayerReLU(X, y, beta=0.1)
    nets = []
    for seed in range(3):
        net = prob.model(32, seed)
        train(prob, net, TrainConfig(steps=400, lr=2e-2), seed=seed)
        nets.append(net)
    values = [prob.objective(n) for n in nets]
    sampled = prob.lift(patterns=6, program=program, seed=1)
    base = sampled.solve(solver="clarabel", tol=1e-8)
    assert min(values) < base.value  # the premise: wide networks beat the sampled program
    lifted = prob.lift(patterns=6, program=program, seed=1, include=nets)
    assert lifted.P > sampled.P and not lifted.exact
    assert np.array_equal(lifted.D[:, :sampled.P], sampled.D)  # old patterns first
    sol = lifted.solve(solver="clarabel", tol=1e-8)
    assert sol.ok
    # rigorous: the certified lower bound of the program is below every network's objective
    assert sol.lower_bound <= min(values)
    assert sol.value <= min(values) * (1 + 1e-6)


def test_pricing_values_are_attained_by_their_patterns():
    """The pricing objective at a candidate u, s lambda^T (Xa u)_+, is at most the exact dual
    constraint of u's pattern (u lies in its cell): with lambda the loss gradient, the sign
    s = +1 prices the negative neurons (w_i), s = -1 the positive ones (v_i)."""
    X, y = _data()
    prob = TwoLayerReLU(X, y, beta=0.1)
    lam = np.random.default_rng(3).standard_normal(prob.n)
    vals, G = price(prob.Xa, lam, cone=True, starts=16, iters=5, seed=0)
    half = vals.size // 2
    D = patterns_from_gates(prob.Xa, G)
    norms = constraint_norms(prob.Xa, lam, D, cone=True)  # exact NNLS per pattern
    P = D.shape[1]
    v_side, w_side = norms[:P], norms[P:]
    assert np.all(vals[:half] <= w_side[:half] + 1e-9)
    assert np.all(vals[half:] <= v_side[half:] + 1e-9)
    assert vals.max() > 0


def test_column_generation_descends_towards_the_exact_optimum():
    """2-D inputs: every pattern can be listed, so the exact optimum is known."""
    X, y = _data(n=30, d=2, seed=4)
    prob = TwoLayerReLU(X, y, beta=0.05)
    exact = prob.lift(patterns="exact").solve(solver="clarabel", tol=1e-8)
    lifted = prob.lift(patterns=4, seed=0, verify=False)
    sol = lifted.solve(solver="clarabel", tol=1e-8)
    assert sol.value > exact.value * (1 + 1e-3)
    refined, rsol, report = lifted.refine(sol, rounds=6, solver="clarabel", tol=1e-8)
    values = [h["value"] for h in report["history"]]
    assert all(b <= a * (1 + 1e-7) for a, b in zip(values, values[1:], strict=False))
    assert rsol.value >= exact.global_bound - 1e-9
    assert rsol.value < sol.value
    assert report["added"] == refined.P - lifted.P > 0
    # closer to the exact optimum than the sampled program was
    assert (rsol.value - exact.value) < 0.5 * (sol.value - exact.value)
    # an exact program is not refined
    same, ssol, rep = prob.lift(patterns="exact").refine(exact)
    assert ssol is exact and rep == {}


def test_include_refuses_foreign_networks():
    X, y = _data()
    prob = TwoLayerReLU(X, y, beta=0.1)
    with pytest.raises(ValueError, match="`include`"):
        prob.lift(patterns=5, include=[TwoLayerReLU(X[:, :2], y, beta=0.1).model(3)])
    with pytest.raises(TypeError, match="`include`"):
        prob.lift(patterns=5, include=[object()])
