"""Rational fitting: the certified minimax bisection, recovery, baselines, validation, SGD."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.signal
import torch

from lift.errors import InaccurateSolutionWarning
from lift.problems.transfer import RationalFit, classic
from lift.solvers.bisection import Answer, bisect


@pytest.fixture(scope="module")
def exp_fit():
    """Boyd & Vandenberghe exercise A6.2: e^x on 201 points of [-3, 3], type (2, 2)."""
    x = np.linspace(-3, 3, 201)
    prob = RationalFit(x, np.exp(x), 2, 2)
    return prob, prob.lift().solve(tol=1e-6)


def _phase_one(prob: RationalFit, t: float) -> float:
    """min s s.t. |p - g q| <= t q + s, q >= 0, sum q = N, by scipy's HiGHS (not cvxpy)."""
    A, B, g = prob.phi_num, prob.phi_den, prob.values
    N, ma, nb = A.shape[0], A.shape[1], B.shape[1]
    GB = g[:, None] * B
    one = -np.ones((N, 1))
    rows = np.block([[A, -GB - t * B, one], [-A, GB - t * B, one],
                     [np.zeros((N, ma)), -B, np.zeros((N, 1))]])
    c = np.zeros(ma + nb + 1)
    c[-1] = 1.0
    eq = np.concatenate([np.zeros(ma), B.sum(0), [0.0]])[None]
    res = scipy.optimize.linprog(c, A_ub=rows, b_ub=np.zeros(3 * N), A_eq=eq, b_eq=[N],
                                 bounds=[(None, None)] * (ma + nb + 1), method="highs")
    assert res.status == 0
    return float(res.fun)


def test_exp_minimax_is_certified(exp_fit):
    prob, sol = exp_fit
    assert sol.solver == "bisection"  # auto picks the bisection
    assert sol.status == "optimal"
    # Boyd & Vandenberghe: gamma* is about 0.023
    assert 0.0225 < sol.global_bound <= sol.value < 0.0230
    assert sol.value - sol.global_bound <= 1e-5 * sol.value
    assert sol.value == pytest.approx(prob.objective(sol.params), rel=1e-12)
    assert sol.info["certificate_verified"]
    # independent checks with scipy's LP (not cvxpy): below the bound infeasible, at the
    # recovered value feasible
    assert _phase_one(prob, sol.global_bound * (1 - 1e-4)) > 1e-9
    assert _phase_one(prob, sol.value * (1 + 1e-6)) <= 1e-12


@pytest.mark.parametrize("name, degree", [("exp", 4), ("abs", 4), ("tanh", 6)])
def test_classic_problems_are_certified(name, degree):
    """Higher degrees: the bracket [global_bound, value] closes to 1e-5 (the inner LPs'
    accuracy limits it there: asked for 1e-5, "optimal" means a certified bracket within it);
    BRASIL's best continuous approximations (measured: exp 3.067e-6, abs 0.01782, tanh
    1.708e-6 on the same grid) are not below the bound."""
    from lift.problems.transfer import classic

    x, g = classic(name)
    sol = RationalFit(x, g, degree, degree).lift().solve(tol=1e-5)
    assert sol.status == "optimal" and sol.info["certificate_verified"]
    assert sol.global_bound <= sol.value <= sol.global_bound * (1 + 1e-5)
    brasil = {"exp": 3.067e-6, "abs": 0.01782, "tanh": 1.708e-6}[name]
    assert brasil >= sol.global_bound


def test_certificate_is_checked_not_trusted(exp_fit):
    prob, sol = exp_fit
    lifted = prob.lift()
    cert = sol.info["warm_start"][3]
    bound, detail = lifted.verify(cert)
    assert bound > 0 and detail["residual_a"] < 1e-10
    # the same multipliers claimed for a level above the optimum prove nothing
    forged = dataclasses.replace(cert, t=sol.value * 1.01)
    assert lifted.verify(forged)[0] < 0
    # scrambled multipliers prove nothing either
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(cert, u=rng.permutation(cert.u), v=rng.permutation(cert.v))
    assert lifted.verify(scrambled)[0] < 0
    # certify() re-verifies: a primal carrying the forged certificate gets the trivial bound
    primal = {"num": sol.params.num.detach().numpy(), "den": sol.params.den.detach().numpy(),
              "value": sol.value, "certificate": forged}
    assert lifted.certify(sol.params, primal).global_bound == 0.0


@pytest.mark.parametrize("solver", ["clarabel", "highs"])
def test_conic_backend_is_the_inner_solver(exp_fit, solver):
    prob, ref = exp_fit
    sol = prob.lift().solve(solver=solver, tol=1e-6)
    assert sol.solver == "bisection" and sol.info["inner"] == solver
    assert abs(sol.value - ref.value) <= 2e-5 * ref.value
    assert sol.global_bound <= ref.value and ref.global_bound <= sol.value


def test_noiseless_rational_is_recovered():
    x = np.linspace(-2, 1, 60)
    num, den = np.array([1.0, -0.5, 0.25]), np.array([2.0, 0.3, 0.4])  # den > 0 on [-2, 1]
    g = np.polynomial.polynomial.polyval(x, num) / np.polynomial.polynomial.polyval(x, den)
    prob = RationalFit(x, g, 2, 2)
    with warnings.catch_warnings():
        # the optimum is 0: no relative gap can be certified, the status says so
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        sol = prob.lift().solve(tol=1e-6)
    assert sol.value < 1e-9
    a, b = prob.polynomials(sol.params)
    np.testing.assert_allclose(a / b[0], num / den[0], atol=1e-6)
    np.testing.assert_allclose(b / b[0], den / den[0], atol=1e-6)


def test_lower_degree_models_never_beat_the_bound(exp_fit):
    """Every model the family builds (order <= 2) has E_inf >= the certified bound; SGD
    (Adam on the max error itself) included."""
    from lift.solvers.sgd import train

    prob, sol = exp_fit
    for order in (1, 2):
        for seed in (0, 1):
            model = prob.model(order, seed)
            res = train(prob, model, steps=300, lr=1e-2, optimizer="adam")
            value = prob.objective(model)
            assert value >= sol.global_bound
            assert math.isinf(value) or value == pytest.approx(
                float(prob.torch_objective(model).detach()), rel=1e-9)
    with pytest.raises(ValueError, match="above this problem's order"):
        prob.model(3)
    del res


def test_torch_objective_is_the_objective():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, 30)
    for norm in ("inf", "2"):
        prob = RationalFit(x, np.cos(3 * x), 3, 2, norm=norm)
        model = prob.model(3, seed=2)
        with torch.no_grad():
            model.den.copy_(torch.tensor([1.0, 0.1, -0.05]))
        assert float(prob.torch_objective(model).detach()) == pytest.approx(
            prob.objective(model), rel=1e-12)
    w = np.linspace(0.1, 3, 40)
    prob = RationalFit(np.exp(1j * w), 1 / (1 - 0.5 * np.exp(-1j * w)), 1, 1)
    model = prob.model(1, seed=0)
    with torch.no_grad():
        model.num.copy_(torch.tensor(rng.standard_normal(2)))
    assert float(prob.torch_objective(model).detach()) == pytest.approx(prob.objective(model),
                                                                       rel=1e-12)


def test_filter_fit_on_the_unit_circle_is_stable():
    b, a = scipy.signal.cheby1(6, 1.0, 0.3)
    w = np.linspace(0, np.pi, 150)
    _, h = scipy.signal.freqz(b, a, worN=w)
    prob = RationalFit(np.exp(1j * w), h, 3, 3, stable=True)
    sol = prob.lift().solve(tol=1e-5)
    # the S-lemma bound holds without the stability constraint, hence with it
    assert 0 < sol.global_bound <= sol.value
    assert sol.value <= sol.program_value * (1 + 1e-9)
    assert sol.info["pole_radius"] < 1.0
    assert np.all(np.abs(prob.poles(sol.params)) < 1.0)
    tf = prob.to_scipy(sol.params)
    _, hf = scipy.signal.freqz(tf.num, tf.den, worN=w)
    assert np.max(np.abs(hf - h)) == pytest.approx(sol.value, rel=1e-8)


def test_noiseless_filter_response_is_recovered():
    """A Butterworth design's response at its own degrees: the phase-rotated SOCP recovers
    (b, a); the classical Re q > 0 half-plane excludes this denominator and cannot."""
    from lift.problems.transfer import filter_response

    z, h, (b, a) = filter_response("butter", 4, cutoff=0.3, points=120)
    prob = RationalFit(z, h, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)  # optimum 0
        sol = prob.lift().solve(tol=1e-6)
    num, den = prob.polynomials(sol.params)
    np.testing.assert_allclose(num / den[0], b / a[0], atol=1e-6)
    np.testing.assert_allclose(den / den[0], a / a[0], atol=1e-6)
    classical = prob.lift(phase="none").solve(tol=1e-6)
    assert classical.value > 1e-3 > sol.value
    # at a lower degree the rotated surrogate is still the better fit
    low = RationalFit(z, h, 2, 2)
    assert low.lift().solve().value < low.lift(phase="none").solve().value


def test_complex_data_get_a_checked_s_lemma_bound():
    """Frequency responses: the SOCP's level only bounds E_inf from above, but multipliers
    that make sum_k lam_k (|p_k - g_k q_k|^2 - t^2 |q_k|^2) positive definite prove that no
    fit reaches t. The Chebyshev-I filter at (4, 4) gets a bound within 2 % of its fit; the
    check is the library's: at the fit's own value (a fit exists) no multipliers pass, and
    neither does mass on one point."""
    from lift.problems.transfer import filter_response

    z, h, _ = filter_response("cheby1", 6, points=120)
    prob = RationalFit(z, h, 4, 4)
    lifted = prob.lift()
    sol = lifted.solve(tol=1e-6)
    bound, lam = sol.global_bound, sol.info["quadratic_multipliers"]
    assert 0.98 * sol.value < bound <= sol.value
    assert lifted.quadratic_margin(bound, lam) > 0
    assert lifted.quadratic_margin(sol.value, lam) < 0
    one = np.zeros_like(lam)
    one[0] = 1.0
    assert lifted.quadratic_margin(0.5 * bound, one) < 0
    # no fit of type (4, 4) or lower found otherwise goes below it
    rng = np.random.default_rng(0)
    a, b = sol.params.coefficients()
    for _ in range(200):
        scale = 10.0 ** rng.uniform(-6, -1)
        assert prob.objective((a + scale * rng.standard_normal(a.size),
                               b + scale * rng.standard_normal(b.size))) >= bound
    low = RationalFit(z, h, 2, 2).lift().solve(tol=1e-6)
    assert low.value >= bound
    # nor does SGD (Adam on the max error itself), at any order of the family
    from lift.solvers.sgd import train

    for order in (2, 4):
        model = prob.model(order, seed=order)
        train(prob, model, steps=200, lr=1e-2, optimizer="adam")
        assert prob.objective(model) >= bound
    assert prob.lift(quadratic_steps=0).solve(tol=1e-6).global_bound is None


def test_sanathanan_koerner_baseline():
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, 80)
    g = 1 / (1 + 4 * x ** 2) + 1e-3 * rng.standard_normal(80)
    prob = RationalFit(x, g, 2, 2, norm="2")
    sol = prob.lift().solve()
    assert sol.solver == "sk" and sol.global_bound is None
    assert sol.value == pytest.approx(prob.objective(sol.params), rel=1e-12)
    # better than Levy's linearization (the first iteration), and near a local minimum of E_2
    levy = sol.info["sk_history"][0]
    assert sol.value <= levy
    a, b = sol.params.coefficients()

    def resid(z):
        p = prob.phi_num @ z[:3]
        q = prob.phi_den @ np.concatenate([[1.0], z[3:]])
        return p / q - g

    z0 = np.concatenate([a / b[0], b[1:] / b[0]])
    refined = scipy.optimize.least_squares(resid, z0).cost * 2
    assert sol.value <= refined * 1.05


def test_bisect_driver_on_a_toy_oracle():
    calls = []

    def oracle(t):
        calls.append(t)
        if t >= math.pi:
            return Answer(feasible=True, point=t, value=max(math.pi, t - 0.1))
        return Answer(feasible=False, certificate=("proof", t), proved=True)

    res = bisect(oracle, 0.0, 10.0, tol=1e-9)
    assert res.converged and res.lo < math.pi <= res.hi <= res.lo + 1e-8
    assert res.certificate == ("proof", res.lo)
    assert len(res.steps) == len(calls)
    # a nearly feasible answer (value above t) moves hi to the value and the search below t
    def near(t):
        if t >= 1.0:
            return Answer(feasible=True, point=t, value=1.0 + 1e-3)
        return Answer(feasible=False, certificate=t, proved=True)

    res = bisect(near, 0.0, 4.0, tol=1e-9)
    assert res.hi == 1.0 + 1e-3 and res.lo < 1.0 and 1.0 - res.lo < 1e-6
    assert "nearly feasible" in res.message
    # an unproved infeasibility stops the bracket where it is
    res = bisect(lambda t: Answer(feasible=False, proved=False, message="?"), 0.0, 1.0)
    assert not res.converged and res.lo == 0.0 and "could not verify" in res.message
    with pytest.raises(ValueError, match="lo <= hi"):
        bisect(oracle, 2.0, 1.0)


def test_bisect_probes_below_a_point_found_on_the_way():
    """An infeasible answer that brings the optimum (an exchange step) is followed by a probe
    just below it: the bracket closes in three calls instead of ~30 midpoints; a probe the
    oracle cannot prove falls back to the midpoints instead of stopping."""
    def exchange(t):
        if t >= math.pi:
            return Answer(feasible=True, point=t, value=t)
        return Answer(feasible=False, certificate=t, proved=True, point="x", value=math.pi)

    res = bisect(exchange, 0.0, 10.0, tol=1e-9, point="p")
    assert res.converged and res.lo < math.pi == res.hi and len(res.steps) == 3
    assert res.steps[-1]["probe"] and res.hi - res.lo <= 1e-9 * math.pi

    def blunt(t):  # cannot prove levels within 2e-4 of the optimum
        if t >= math.pi:
            return Answer(feasible=True, point=t, value=t)
        return Answer(feasible=False, certificate=t, proved=math.pi - t > 2e-4,
                      point="x", value=math.pi)

    res = bisect(blunt, 0.0, 10.0, tol=1e-4)
    assert res.converged and res.hi == math.pi and res.hi - res.lo <= 1e-4 * math.pi
    assert [s["probe"] for s in res.steps[1:4]] == [False, True, False]


def test_row_weights_keep_tiny_denominators_resolvable():
    """abs(x) at type (10, 10): the best denominators nearly vanish at x = 0 (Newman). The
    phase-I rows weighted by 1 / q of the best point keep the LP resolvable there: the
    certified bracket is within 1 % (it was [7.9e-5, 1.5e-4] with unit rows), and the
    HiGHS multipliers mapped back to unit rows pass the library's own check."""
    x, g = classic("abs", 201)
    prob = RationalFit(x, g, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        sol = prob.lift().solve(tol=1e-6)
    lo, hi = sol.info["bracket"]
    assert sol.global_bound == lo > 0 and (hi - lo) / hi < 1e-2
    # q varies over 8 orders of magnitude on the data: evaluating p / q in float64 from
    # rescaled coefficients differs by rounding of about 1e-7 absolute where q is tiny (2e-8
    # with scipy 1.18's HiGHS, against 1e-4 relative = 9e-9 asserted before)
    assert prob.objective(sol.params) == pytest.approx(hi, abs=1e-7)
    lifted = prob.lift()
    _, _, _, cert = lifted._solve_lp(0.9 * lo)
    assert lifted.verify(cert)[0] > 0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_degree": -1}, ValueError, "num_degree"),
    ({"den_degree": 1.5}, TypeError, "den_degree"),
    ({"num_degree": 10, "den_degree": 10}, ValueError, "at least 22 points"),
    ({"values": np.r_[np.nan, np.ones(19)]}, ValueError, "NaN"),
    ({"values": np.ones(7)}, ValueError, "same length"),
    ({"norm": "1"}, ValueError, "norm"),
    ({"stable": True}, ValueError, "unit circle"),
    ({"points": np.linspace(0, 1, 20) + 0.5j}, ValueError, "neither on the unit circle"),
    ({"points": np.zeros(20)}, ValueError, "distinct"),
    ({"points": None}, TypeError, "points"),
])
def test_validation(kwargs, error, match):
    args = {"points": np.linspace(0, 1, 20), "values": np.ones(20), "num_degree": 2,
            "den_degree": 2}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        RationalFit(args.pop("points"), args.pop("values"), args.pop("num_degree"),
                    args.pop("den_degree"), **args)


def test_describe_and_fingerprint():
    x = np.linspace(0, 1, 20)
    p1, p2 = RationalFit(x, np.sin(x), 2, 1), RationalFit(x, np.sin(x), 2, 2)
    assert p1.fingerprint() != p2.fingerprint()
    assert p1.describe()["den_degree"] == 1 and p1.size_name == "order"
    lifted = p1.lift()
    assert lifted.auto_thresholds() == {"bisection": 0.0}
    assert "bisection" in lifted.solvers()
    cvx = lifted.to_cvxpy(t=0.5)
    assert cvx.is_dcp() and cvx.param_dict["t"].value == 0.5
