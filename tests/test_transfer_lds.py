"""Linear system identification: Hankel lift, Ho-Kalman recovery, dual bound, SGD, CLI."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

from lift.errors import InaccurateSolutionWarning
from lift.problems.transfer import (
    LinearSystemID,
    impulse_response,
    lds_data,
    random_stable_system,
    simulate,
)


def test_noiseless_system_is_recovered():
    u, y, system = lds_data(3, 40, 5, seed=0)
    prob = LinearSystemID(u, y, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)  # optimum 0: no rel. gap
        sol = prob.lift().solve()
    h_true = impulse_response(*system, 40)
    assert sol.size == 3  # the Hankel singular values reveal the order
    s = sol.info["hankel_singular_values"]
    assert s[3] < 1e-10 * s[0] < s[2]
    np.testing.assert_allclose(prob.impulse(sol.params), h_true, atol=1e-6)
    # scipy.signal conversion simulates the same outputs
    ss = prob.to_scipy(sol.params)
    _, yout, _ = scipy.signal.dlsim(ss, u[0])
    np.testing.assert_allclose(yout.ravel(), y[0], atol=1e-6)
    assert np.max(np.abs(np.roots(np.r_[1.0, sol.params.system()[0]]))) < 0.95 + 1e-6


def test_least_squares_bound_is_a_global_bound():
    u, y, system = lds_data(2, 30, 6, noise=0.1, seed=1)
    prob = LinearSystemID(u, y, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        sol = prob.lift().solve(solver="lstsq")
    # the bound is the least-squares optimum over all impulse responses: recompute it
    M = prob.conv_matrix()
    h = np.linalg.lstsq(M, y.ravel(), rcond=None)[0]
    assert sol.global_bound == pytest.approx(0.5 * np.sum((M @ h - y.ravel()) ** 2), rel=1e-9)
    assert sol.value == pytest.approx(prob.objective(sol.params), rel=1e-12)
    assert sol.global_bound <= sol.value
    # the true system (any order) does not beat it either
    assert prob.objective(system) >= sol.global_bound


def test_nuclear_norm_program_dual_bound():
    u, y, _ = lds_data(2, 24, 4, noise=0.05, seed=2)
    prob = LinearSystemID(u, y, 3, reg=0.5)
    lifted = prob.lift()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        sol = lifted.solve(solver="clarabel")
    cvx = lifted.to_cvxpy()
    cvx.solve(solver="CLARABEL")
    # the certified bound is below the program's optimum (weak duality), and close to it
    assert sol.global_bound <= cvx.value + 1e-6 * abs(cvx.value)
    assert sol.global_bound >= cvx.value - 1e-5 * abs(cvx.value)
    # the objective (with the nuclear norm) matches in numpy and torch
    model = prob.model(3, seed=1)
    assert float(prob.torch_objective(model).detach()) == pytest.approx(prob.objective(model),
                                                                       rel=1e-10)
    assert sol.value >= sol.global_bound


def test_admm_agrees_with_clarabel_and_carries_its_multiplier():
    u, y, _ = lds_data(2, 24, 4, noise=0.05, seed=2)
    prob = LinearSystemID(u, y, 3, reg=0.5)
    lifted = prob.lift(dual_solve=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        ref = lifted.solve(solver="clarabel", tol=1e-8)
        sol = lifted.solve(solver="admm", tol=1e-7)
    assert sol.solver == "admm" and sol.status == "optimal"
    assert sol.program_value == pytest.approx(ref.program_value, rel=1e-6)
    # ADMM's multiplier is a near-optimal dual point once checked: the bound closes the gap
    assert sol.global_bound <= sol.program_value
    assert sol.program_value - sol.global_bound <= 1e-5 * sol.program_value


def test_conversions():
    u, y, system = lds_data(2, 20, 3, seed=4)
    prob = LinearSystemID(u, y, 2)
    model = prob.model(2)
    with torch.no_grad():
        model.a.copy_(torch.tensor(system[0]))
        model.c.copy_(torch.tensor(system[1]))
        model.d.fill_(system[2])
    _, yout, _ = scipy.signal.dlsim(prob.to_scipy(model), u[1])
    np.testing.assert_allclose(yout.ravel(), y[1], atol=1e-10)
    control = pytest.importorskip("control")
    sysc = prob.to_control(model)
    assert isinstance(sysc, control.StateSpace) and sysc.dt is True


def test_sgd_never_beats_the_bound_and_overparameterization_helps():
    """Hardt-Ma-Recht at small scale: a stable order-2 system, Gaussian inputs; Adam with
    gradient clipping at fitted orders 1, 2, 4 never goes below the certified bound, and the
    larger orders reach lower errors within the same budget."""
    from lift.solvers.sgd import train

    torch.set_num_threads(1)
    u, y, _ = lds_data(2, 20, 16, noise=0.1, seed=1)
    prob = LinearSystemID(u, y, 4, project=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        bound = prob.lift().solve().global_bound
    reached = {}
    for order in (1, 2, 4):
        values = []
        for seed in (0, 1):
            model = prob.model(order, seed)
            train(prob, model, steps=150, lr=3e-2, optimizer="adam", clip=100.0)
            prob.project_(model)
            value = prob.objective(model)
            assert value >= bound
            values.append(value)
        reached[order] = min(values)
    assert reached[4] < reached[1]


def test_generators_and_validation():
    a, c, d = random_stable_system(4, seed=3, radius=0.9)
    assert np.max(np.abs(np.roots(np.r_[1.0, a]))) <= 0.9 + 1e-9
    with pytest.raises(ValueError, match="stable"):
        random_stable_system(2, radius=1.2)
    u = np.random.default_rng(0).standard_normal(30)
    y = simulate((a, c, d), u)[0]
    with pytest.raises(ValueError, match="can identify"):
        LinearSystemID(u, y, 15)
    with pytest.raises(ValueError, match="same shape"):
        LinearSystemID(u, y[:-1], 2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        LinearSystemID(u, np.r_[y[:-1], np.inf], 2)
    with pytest.raises(ValueError, match="empty"):
        LinearSystemID(np.zeros((0, 5)), np.zeros((0, 5)), 1)
    with pytest.raises(ValueError, match="identically zero"):
        LinearSystemID(np.zeros(30), y, 2)
    with pytest.raises(ValueError, match="order"):
        LinearSystemID(u, y, 0)
    with pytest.raises(TypeError, match="order"):
        LinearSystemID(u, y, 2.5)


def test_families_are_registered():
    from lift.families import families

    fams = families()
    assert {"rational", "lds"} <= set(fams)
    for name, argv in (("rational", ["--function", "runge", "--points", "41"]),
                       ("lds", ["--length", "20", "--sequences", "3"])):
        parser = argparse.ArgumentParser()
        fams[name].add_arguments(parser, "solve")
        prob, test = fams[name].build(parser.parse_args(argv))
        assert prob.name == name and prob.size_name == "order"
        assert prob.check_test(test) is None or prob.check_test(test).shape == (20,)


def test_fresh_sequences_hardt_ma_recht():
    """Hardt-Ma-Recht's SGD: every step draws new N(0, 1) inputs and the true system's
    outputs (Problem.stream). Fitted orders n, 2n, 4n never go below the certified bound of
    the fixed data, the population follows its solo runs, and the larger orders reach a
    smaller impulse-response error within the same budget."""
    from lift.solvers.sgd import TrainConfig, train, train_population

    torch.set_num_threads(1)
    u, y, system = lds_data(2, 20, 16, noise=0.1, seed=1)
    prob = LinearSystemID(u, y, 8, project=True, system=system, noise=0.1, fresh=True)
    # the draws are new at every step and are the system's outputs (noise aside)
    clean = LinearSystemID(u, y, 8, system=system, fresh=True).stream(3)
    (u1, y1), (u2, _) = next(clean), next(clean)
    assert u1.shape == (16, 20) and not torch.equal(u1, u2)
    np.testing.assert_allclose(y1.numpy(), simulate(system, u1.numpy()), atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        bound = prob.lift().solve(solver="lstsq").global_bound
    config = TrainConfig(optimizer="adam", steps=150, lr=3e-2, clip=100.0)
    reached = {}
    for order in (2, 4, 8):
        res = train(prob, prob.model(order, 0), config, seed=0)
        assert prob.objective(res.params) >= bound
        reached[order] = prob.evaluate(res.params)["impulse_error"]
    assert reached[8] < reached[4] < reached[2]
    # (without the pole scaling, whose threshold would amplify rounding differences)
    free = LinearSystemID(u, y, 8, system=system, noise=0.1, fresh=True)
    solo = [train(free, free.model(4, s), config, seed=s).objective for s in (0, 1)]
    pop = [r.objective for r in train_population(free, [4, 4], [0, 1], config)]
    np.testing.assert_allclose(pop, solo, rtol=1e-9)
    with pytest.raises(ValueError, match="batch_size"):
        train(prob, prob.model(2), config, batch_size=4)


def test_acquiescent_projection_is_the_euclidean_projection():
    from lift.problems.transfer.lds import _sector, project_acquiescent

    rng = np.random.default_rng(0)
    S = _sector(4)
    inside = [np.zeros(4)]
    for _ in range(6):
        a = 1.5 * rng.standard_normal(4)
        p = project_acquiescent(a)
        assert np.min(S[:, 0] + S[:, 1:] @ p) >= -1e-8  # in the sector ...
        assert np.max(np.abs(np.roots(np.r_[1.0, p]))) < 1.0  # ... hence stable
        np.testing.assert_allclose(project_acquiescent(p), p, atol=1e-7)  # idempotent
        inside.append(p)
    for a in 1.5 * rng.standard_normal((6, 4)):
        p = project_acquiescent(a)
        # the variational inequality of a projection onto a convex set
        for x in inside:
            assert (a - p) @ (x - p) <= 1e-6 * (1 + np.linalg.norm(a - p))
    u, y, system = lds_data(2, 20, 4, seed=0)
    prob = LinearSystemID(u, y, 4, project="acquiescent")
    model = prob.model(3)
    with torch.no_grad():
        model.a.copy_(torch.tensor([-2.5, 2.0, -0.6]))
    prob.project_(model)
    assert np.max(np.abs(np.roots(np.r_[1.0, model.system()[0]]))) < 1.0


def test_fresh_and_system_validation():
    u, y, system = lds_data(2, 20, 4, seed=0)
    with pytest.raises(ValueError, match="`fresh=True`.*system"):
        LinearSystemID(u, y, 2, fresh=True)
    with pytest.raises(ValueError, match="unstable"):
        LinearSystemID(u, y, 2, system=(np.array([-2.5, 1.5]), np.ones(2), 0.0))
    with pytest.raises(TypeError, match="`system`"):
        LinearSystemID(u, y, 2, system=np.ones(3))
    with pytest.raises(ValueError, match="`project`"):
        LinearSystemID(u, y, 2, project="ball")
    assert LinearSystemID(u, y, 2).stream(0) is None
    # the command line builds Hardt-Ma-Recht's setting
    from lift.families import families

    parser = argparse.ArgumentParser()
    families()["lds"].add_arguments(parser, "compare")
    prob, _ = families()["lds"].build(parser.parse_args(
        ["--length", "20", "--sequences", "3", "--fresh", "--project", "acquiescent"]))
    assert prob.fresh and prob.project == "acquiescent" and prob.stream(0) is not None
