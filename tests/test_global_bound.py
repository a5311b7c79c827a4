"""The branch-and-bound pricing bound and the global lower bound beyond 2-D inputs.

On 1-D and 2-D data every pattern can be enumerated, so the exact pricing value and the
exact optimum are known independently: the mixed-integer bound must match the first and the
global bound must lie below the second.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lift.datasets import load
from lift.problems import TwoLayerReLU
from lift.problems.relu import (
    constraint_norms,
    dual_bound,
    enumerate_patterns,
    global_lower_bound,
    pricing_bound,
)
from lift.problems.relu.colgen import price
from lift.problems.relu.global_bound import FEAS_TOL


def _problem(d: int, n: int, beta: float = 0.05) -> TwoLayerReLU:
    data = load("teacher", d=d, n=n, seed=1)
    return TwoLayerReLU(data.X_train, data.y_train, beta=beta)


def _sampled_solution(prob, patterns: int = 8):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prob.lift(patterns=patterns, seed=0, verify=False).solve(solver="clarabel")


@pytest.mark.parametrize("d", [1, 2])
def test_pricing_bound_matches_enumeration(d):
    prob = _problem(d, 30)
    rng = np.random.default_rng(d)
    D = enumerate_patterns(prob.Xa)
    for _ in range(3):
        lam = rng.standard_normal(prob.n)
        # the cone constraint norms of each pattern (exact least squares) are the maxima of
        # -lam^T (Xa u)_+ (first half) and +lam^T (Xa u)_+ over its cell within the unit ball
        exact = constraint_norms(prob.Xa, lam, D, True).reshape(2, -1).max(1)[::-1]
        for s, ref in zip((1.0, -1.0), exact, strict=True):
            res = pricing_bound(prob.Xa, s * lam, time_limit=20)
            assert res.exact
            assert res.upper >= ref * (1 - 1e-9)
            # exact up to the documented safety margin for the solver's tolerances
            margin = FEAS_TOL * np.abs(lam) @ np.linalg.norm(prob.Xa, axis=1)
            assert res.upper <= ref * (1 + 1e-6) + 2 * margin
            # the maximizer is a point of the ball reaching the value it reports
            assert np.linalg.norm(res.u) <= 1 + 1e-12
            assert np.isclose(res.value, s * lam @ np.maximum(prob.Xa @ res.u, 0), rtol=1e-12)


def test_global_bound_is_below_the_exact_optimum_and_matches_enumeration():
    prob = _problem(2, 40)
    sol = _sampled_solution(prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = prob.lift(patterns="exact").solve(solver="clarabel")
    gb = global_lower_bound(prob, sol.params, time_limit=30)
    assert gb.exact
    assert gb.bound <= exact.value + 1e-9
    lam = prob.loss.grad(prob.predict(sol.params, prob.X), prob.y)
    ref, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, enumerate_patterns(prob.Xa),
                        cone=True)
    assert gb.bound == pytest.approx(ref, rel=1e-4)
    # the sampled point is not optimal: its dual point violates the complete program
    assert gb.violation_upper > 1 and gb.violation_found > 1


def test_time_limited_bound_stays_above_what_ascent_finds():
    prob = _problem(5, 80)
    sol = _sampled_solution(prob, 20)
    lam = prob.loss.project_dual(prob.loss.grad(prob.predict(sol.params, prob.X), prob.y), prob.y)
    vals, _ = price(prob.Xa, lam, cone=True, starts=64, seed=0)
    found = vals[: vals.size // 2].max()
    res = pricing_bound(prob.Xa, lam, time_limit=0.5)
    assert res.upper >= found * (1 - 1e-9)
    assert res.upper >= res.value


def test_milp_pricing_needs_the_cone_program():
    prob = _problem(3, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lifted = prob.lift(patterns=10, seed=0, program="gated")
        sol = lifted.solve(solver="clarabel")
    with pytest.raises(ValueError, match="pricing"):
        lifted.refine(sol, pricing="milp")
    with pytest.raises(ValueError, match="pricing"):
        lifted.refine(sol, pricing="exact")


def test_bound_time_gives_sampled_lifts_a_global_bound():
    prob = _problem(2, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = prob.lift(patterns="exact").solve(solver="clarabel")
        sol = prob.lift(patterns=6, seed=0, verify=False, bound_time=10).solve(
            solver="clarabel")
        plain = prob.lift(patterns=6, seed=0, verify=False).solve(solver="clarabel")
    assert plain.global_bound is None
    assert sol.global_bound is not None and sol.global_bound <= exact.value + 1e-9
    assert sol.global_bound <= sol.value
    # six sampled patterns are not optimal: the bounded violation says so
    assert sol.info["bound_violation"] > 1 and sol.info["bound_closed"]
    with pytest.raises(ValueError, match="bound_time"):
        prob.lift(patterns=6, program="gated", bound_time=5)
    with pytest.raises(ValueError, match="bound_time"):
        prob.lift(patterns=6, bound_time=-1)


def test_compare_reports_a_loose_bound_with_its_gap():
    import lift

    prob = _problem(3, 24, beta=0.1)
    cmp = lift.compare(prob, sizes=[2], seeds=1, train={"optimizer": "adam", "steps": 200},
                       lift={"patterns": 10, "program": "cone", "bound_time": 5},
                       include_runs=False, progress=False, n_jobs=1)
    assert cmp.global_bound is not None and cmp.global_bound <= cmp.optimum
    assert (cmp.runs["objective"] >= cmp.global_bound).all()
    text = cmp.format_summary()
    assert "certified global lower bound" in text
    if cmp.bound_gap > cmp.CERTIFIED_GAP:
        assert not cmp.certified and "relative gap" in text and "NOT a global" in text


def test_milp_refine_reuses_the_certificates_branch_and_bound(monkeypatch):
    """With ``bound_time``, every solve's certificate runs branch and bound on the solution's
    dual point; column generation prices the same point and must not solve it again."""
    import lift.problems.relu.global_bound as gb

    calls = []
    real = gb.pricing_bound

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gb, "pricing_bound", counting)
    monkeypatch.setattr(gb, "_RECENT", {})          # earlier tests priced the same points
    prob = _problem(2, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lifted = prob.lift(patterns=6, seed=0, verify=False, bound_time=10)
        sol = lifted.solve(solver="clarabel")
        assert len(calls) == 2                       # one per sign, by the certificate
        lifted2, sol2, report = lifted.refine(sol, rounds=2, pricing="milp", solver="clarabel")
    solves = 1 + report["rounds"]
    assert len(calls) == 2 * solves                  # not 4 per round
    assert report["global_bound"] <= sol2.value + 1e-9
    assert sol2.global_bound is not None
    assert abs(sol2.global_bound - report["global_bound"]) <= 1e-9 * abs(sol2.value)
