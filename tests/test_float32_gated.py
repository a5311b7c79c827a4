"""Float32 iterations with a float64 certificate on the gated program (issue 11).

On large programs (``n P d >= MIXED_WORK``) ``fista`` iterates in float32 and evaluates its
iterate in float64 every few iterations for the certificate, and ``active_set`` starts the
same way, forming a working set only once FISTA's nonzero groups settle on a sparse support.
Here ``MIXED_WORK`` is lowered so that small programs take those paths. Checked: the gap each
reports, recomputed by hand from the returned dual point in float64; the optimum against
Clarabel; the same answer as float64 throughout; which path the probe took; and the working
set's first pass from a warm start in which every group is nonzero.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cone_fista import _teacher  # the same planted network, width 4
from test_dense_gated import _active

import lift.problems.relu.solvers as relu_solvers
from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound


def _lifted(beta: float):
    X, y = _teacher(500, 6, seed=1)
    return TwoLayerReLU(X, y, beta=beta).lift(patterns=200, program="gated", seed=0)


def _certified_by_hand(lifted, sol) -> float:
    prob = lifted.problem
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sol.info["dual"], lifted.D,
                          cone=False)
    return (sol.value - bound) / sol.value


@pytest.fixture(scope="module")
def solves():
    """A dense and a sparse optimum, each solved by every path once (shared by the tests)."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(relu_solvers, "MIXED_WORK", 0)
        for kind, beta in (("dense", 0.5), ("sparse", 40.0)):
            lifted = _lifted(beta)
            out[kind] = (lifted, {
                "fista32": lifted.solve(solver="fista", tol=1e-6),
                "fista64": lifted.solve(solver="fista", tol=1e-6, mixed=False),
                # the probe's paths without FISTA's low-rank metric (with it, the float32
                # iterations close the sparse row's gap before its support is judged settled)
                "active_set": lifted.solve(solver="active_set", tol=1e-6, metric=False),
                "active_set_metric": lifted.solve(solver="active_set", tol=1e-6),
                "clarabel": lifted.solve(solver="clarabel", tol=1e-6),
            })
    return out


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_float32_iterations_certify_in_float64(solves, kind):
    lifted, sols = solves[kind]
    ref = sols["clarabel"]
    assert ref.status == "optimal"
    for name in ("fista32", "active_set", "active_set_metric"):
        sol = sols[name]
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6, (name, sol.message)
        assert sol.info["float32_iterations"] > 0, name
        # the bound recomputed in float64 from the returned dual point
        assert _certified_by_hand(lifted, sol) <= 1e-6
        assert abs(sol.value - ref.value) / ref.value <= 2e-6
    # the same optimum as float64 iterations throughout (which take none in float32)
    f64 = sols["fista64"]
    assert f64.status == "optimal" and f64.info["float32_iterations"] == 0
    assert abs(sols["fista32"].value - f64.value) / f64.value <= 2e-6


def test_probe_keeps_fista_on_dense_and_forms_a_working_set_on_sparse(solves):
    lifted, sols = solves["dense"]
    dense = sols["active_set"]
    assert _active(dense) > 0.15 * lifted.P
    assert "no working set" in dense.message and "working_set" not in dense.info
    lifted, sols = solves["sparse"]
    sparse = sols["active_set"]
    assert _active(sparse) <= 0.15 * lifted.P
    assert "settled at" in sparse.message and sparse.info["outer"] >= 1
    # the working set started from FISTA's support: its set holds the optimum's groups
    assert sparse.info["working_set"] >= _active(sparse)


def test_probe_near_the_tolerance_lets_fista_finish(solves, monkeypatch):
    """A settled sparse support forms a working set only while the certified gap is above
    SPARSE_NEAR times the tolerance: with a bound that every gap meets, FISTA finishes on
    its own, to the same certified optimum."""
    lifted, sols = solves["sparse"]
    monkeypatch.setattr(relu_solvers, "MIXED_WORK", 0)  # as for the shared solves
    monkeypatch.setattr(relu_solvers, "SPARSE_NEAR", 1e12)
    sol = lifted.solve(solver="active_set", tol=1e-6, device="cpu")
    assert sol.status == "optimal" and "no working set" in sol.message, sol.message
    assert "working_set" not in sol.info and sol.info["float32_iterations"] > 0
    assert _certified_by_hand(lifted, sol) <= 1e-6
    ref = sols["active_set"]
    assert abs(sol.value - ref.value) <= 2e-6 * ref.value


def test_working_set_from_a_warm_start_with_every_group_nonzero():
    """No group outside the support violates its constraint (every group is inside): the
    first working set is the support itself, not an empty one."""
    lifted = _lifted(20.0)
    rng = np.random.default_rng(0)
    V = 1e-3 * rng.standard_normal((lifted.P, lifted.problem.Xa.shape[1]))
    sol = lifted.solve(solver="active_set", tol=1e-6, warm_start={"V": V, "W": None}, probe=0)
    assert sol.status == "optimal" and sol.rel_gap <= 1e-6, sol.message
    assert _certified_by_hand(lifted, sol) <= 1e-6


@pytest.mark.parametrize(("options", "exc", "match"), [
    ({"mixed": 1e-4}, TypeError, r"`mixed` must be True or False"),
    ({"newton": "yes"}, TypeError, r"`newton` must be True or False"),
    ({"probe": 1.5}, ValueError, r"`probe` is a fraction of the groups, in \[0, 1\]"),
    ({"probe": -0.1}, ValueError, r"`probe` must be a float in the range \[0, inf\)"),
])
def test_float32_options_are_checked(options, exc, match):
    lifted = _lifted(40.0)
    with pytest.raises(exc, match=match):
        lifted.solve(solver="active_set", **options)


def test_a_certified_warm_start_is_returned_without_float32_iterations(solves, monkeypatch):
    """A warm start is certified in float64 as it is, before any float32 iteration (which
    would round it): from the working set's solution both solvers stop at once."""
    monkeypatch.setattr(relu_solvers, "MIXED_WORK", 0)
    lifted, sols = solves["sparse"]
    start = sols["active_set"]
    assert start.rel_gap <= 1e-9
    for name in ("fista", "active_set"):
        sol = lifted.solve(solver=name, tol=1e-6, warm_start=start.info["warm_start"])
        assert sol.status == "optimal" and sol.info["float32_iterations"] == 0, sol.message
        assert abs(sol.value - start.value) <= 1e-12 * start.value


def test_stall_rule_looks_past_a_plateau():
    """The stall rule predicts from the best rate over the last one to three windows: a
    plateau after fast progress is not a stall, a slow crawl throughout is, and the float32
    phase's halving test still judges the last window alone."""
    def run(gaps, **kw):
        rule = relu_solvers._Stall(window=100, budget=10_000, tol=1e-6, **kw)
        return [rule((i + 1) * 100, g) for i, g in enumerate(gaps)][-1], rule.reason

    plateau = [1e-1, 1e-2, 1e-3, 9.9e-4]  # two decades, then a window of almost none
    assert run(plateau) == (False, "")
    stalled, why = run([0.30, 0.29, 0.28, 0.275])  # to 1e-6 at this rate: over 40,000 more
    assert stalled and "stalled" in why and "best recent rate" in why
    halving, _ = run(plateau, min_rate=np.log(2) / 100)
    assert halving  # 1e-3 -> 9.9e-4 did not halve in the last window


def test_float32_stall_waits_while_the_upper_bound_still_falls():
    """The float32 phase stops when the certified gap has not halved in a window, unless the
    caller marks the iterates productive (their upper bound still falls by a quarter of the
    gap a window): then only the stall rule waits, the hand-over does not."""
    import math

    def run(productive: bool) -> int | None:
        stall = relu_solvers._Stall(10, 10_000, 1e-6, min_rate=math.log(2) / 10)
        stall.productive = productive
        for k in range(10, 200, 10):
            if stall(k, 1e-3):  # a gap that never moves
                return k
        return None

    assert run(False) == 30 and run(True) is None
    handing = relu_solvers._Stall(10, 10_000, 1e-6, deadline=0.0)  # a deadline long past
    handing.productive = True
    assert handing(10, 1e-3) and handing.handed and relu_solvers.HANDING_OVER in handing.reason


def test_rate_hand_over_waits_for_its_rent_at_a_large_gap():
    """The rate-based hand-over to ssnal: while the certified gap is above
    HANDOVER_TRUSTED_GAP it waits until the solve has taken HANDOVER_MIN_RENT times ssnal's
    predicted time (early rates misjudge FISTA); below it, or once the rent is paid, a rate
    that predicts more than HANDOVER_MARGIN times ssnal's time hands over."""
    import time

    def first_hand_over(gaps, rent_until):
        stall = relu_solvers._Stall(100, 100_000, 1e-6, every=10, span=20)
        stall.handover, stall.rent_until = 1e-12, rent_until  # ssnal: about no time
        for i, g in enumerate(gaps):
            if stall((i + 1) * 10, g):
                assert stall.handed and relu_solvers.HANDING_OVER in stall.reason
                return (i + 1) * 10
        return None

    slow_high = [0.5 * 0.99**i for i in range(10)]  # 0.5 and a slow crawl: far from 1e-6
    slow_low = [1e-3 * 0.99**i for i in range(10)]  # the same crawl below the trusted gap
    assert relu_solvers.HANDOVER_TRUSTED_GAP < 0.4 and relu_solvers.HANDOVER_TRUSTED_GAP > 2e-3
    future = time.perf_counter() + 3600.0
    assert first_hand_over(slow_high, rent_until=future) is None  # the rent is not paid
    assert first_hand_over(slow_high, rent_until=0.0) == 30  # paid: at the first rate
    assert first_hand_over(slow_low, rent_until=future) == 30  # trusted at once
