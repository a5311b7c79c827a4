"""Badly scaled data (issue 11): column scales from 1e-2 to 1e2, as users pass raw features.

First-order methods feel the scaling (their step follows the largest column, progress along
the smallest crawls); ``auto`` must still end certified, by a specialised solver, at the
optimum Clarabel finds. Checked: the certified gap recomputed by hand from the returned dual
point (and cone multipliers), the value against Clarabel, and the path ``auto`` took.
``benchmarks/relu_scaled.py`` times the same regime at ``n = 442`` to ``2,000``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound

SCALES = np.logspace(-2, 2, 4)


def _planted(n: int, loss: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A width-5 ReLU teacher on 4 standard normal features, then the columns scaled by
    1e-2 .. 1e2 (labels: the sign around the median for the logistic loss)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    W = rng.standard_normal((4, 5)) / 2.0
    y = np.maximum(X @ W, 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    return X * SCALES, y


def _lifted(n: int, P: int, loss: str, program: str, relative: float):
    """The program at relative ``beta`` ``relative`` (``relative_beta`` is linear in beta)."""
    X, y = _planted(n, loss)
    probe = TwoLayerReLU(X, y, beta=1.0, loss=loss).lift(patterns=P, program=program, seed=0)
    beta = relative / probe.relative_beta()
    return TwoLayerReLU(X, y, beta=beta, loss=loss).lift(patterns=P, program=program, seed=0)


def _certified_by_hand(lifted, sol) -> float:
    """The relative gap of ``sol`` against the bound recomputed from its dual point."""
    prob = lifted.problem
    cone = lifted.program == "cone"
    ws = sol.info["warm_start"]
    multipliers = (ws["mu"], ws["nu"]) if cone and ws.get("mu") is not None else None
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sol.info["dual"], lifted.D,
                          cone, multipliers=multipliers)
    return (sol.program_value - bound) / abs(sol.program_value)


def _auto_certified(lifted, within: float):
    """``auto``'s answer: certified by a specialised solver, the gap recomputed by hand."""
    auto = lifted.solve(solver="auto")
    assert auto.status == "optimal" and auto.solver in lifted.solvers(), auto.message
    assert _certified_by_hand(lifted, auto) <= within
    return auto


def _matches_clarabel(lifted, sol, within: float) -> None:
    ref = lifted.solve(solver="clarabel", tol=1e-7)
    assert ref.status == "optimal"
    assert abs(sol.program_value - ref.program_value) <= within * abs(ref.program_value)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_gated_program_on_badly_scaled_columns(loss):
    # above auto's size threshold for Clarabel first: the specialised solvers go first
    lifted = _lifted(600, 150, loss, "gated", 3e-3)
    auto = _auto_certified(lifted, 1e-6)
    _matches_clarabel(lifted, auto, 1e-6)
    # the scaling is felt: FISTA with the plain step is far from the tolerance after 2,000
    # iterations; in its low-rank metric (the default), which keeps the curvatures of the
    # large columns exactly (thousands of times the rest), it certifies within them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fista = lifted.solve(solver="fista", max_iters=2_000, metric=False)
    assert fista.status == "max_iters" and fista.rel_gap > 1e-3
    fista = lifted.solve(solver="fista", max_iters=2_000)
    assert fista.status == "optimal" and _certified_by_hand(lifted, fista) <= 1e-6
    assert fista.info["metric"]["largest"] >= 1e3 * fista.info["metric"]["next"]
    if loss == "logistic":
        # ill-conditioned inputs: the Newton solver goes first, and certifies on its own
        assert lifted.condition() >= type(lifted).ILL_CONDITIONED
        assert auto.solver == "ssnal" and "auto:" not in auto.message


def test_auto_orders_the_gated_logistic_program_by_the_inputs_condition(monkeypatch):
    """Newton first where the inputs are ill-conditioned, the first-order solvers first
    where they are not (the same data before its columns are scaled)."""
    from lift.solvers import solver_order

    scaled = _lifted(600, 150, "logistic", "gated", 3e-3)
    X, y = _planted(600, "logistic")
    plain = TwoLayerReLU(X / SCALES, y, beta=scaled.problem.beta, loss="logistic").lift(
        patterns=150, program="gated", seed=0)
    for lifted in (scaled, plain):  # the condition number, recomputed
        assert np.isclose(lifted.condition(), np.linalg.cond(lifted.problem.Xa), rtol=1e-8)
    assert scaled.condition() > 1e3 > 10 > plain.condition()
    assert solver_order(scaled)[:3] == ["ssnal", "active_set", "fista"]
    assert solver_order(plain)[:2] == ["active_set", "fista"]
    # ... and only up to ILL_CONDITIONED_MAX_N samples
    assert scaled.problem.n > 500
    monkeypatch.setattr(type(scaled), "ILL_CONDITIONED_MAX_N", 500)
    assert solver_order(scaled)[:2] == ["active_set", "fista"]
    # the squared loss keeps its own rule (relative beta), whatever the condition
    squared = _lifted(600, 150, "squared", "gated", 3e-3)
    assert squared.relative_beta() > type(squared).SSNAL_FIRST
    assert solver_order(squared)[:2] == ["active_set", "fista"]


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_cone_program_on_badly_scaled_columns(loss):
    lifted = _lifted(300, 80, loss, "cone", 3e-3)
    auto = _auto_certified(lifted, 2e-6)
    ws = auto.info["warm_start"]
    XV, XW = lifted.problem.Xa @ ws["V"].T, lifted.problem.Xa @ ws["W"].T
    S = np.where(lifted.D, 1.0, -1.0)
    scale = np.abs(lifted.predictions(ws["V"], ws["W"])).max()
    assert max(-(S * XV).min(), -(S * XW).min()) <= 1e-10 * scale  # inside the cones
    if loss == "squared":
        _matches_clarabel(lifted, auto, 2e-6)


def test_working_set_hands_over_to_ssnal_once_its_rent_is_spent(monkeypatch):
    """With ``handover`` (what auto passes), the gated working set's passes may take
    ``HANDOVER_RENT`` times ssnal's predicted time on the whole program; then they stop,
    reported stalled and handed over, and auto certifies with ssnal from their point. The
    prediction is pinned here (0 s: hand over at the first check; inf: never)."""
    from lift.problems.relu import solvers as relu_solvers
    from lift.problems.relu import ssnal
    from lift.solvers import run_solver

    lifted = _lifted(600, 150, "logistic", "gated", 3e-3)
    monkeypatch.setattr(ssnal, "cost_model", lambda *a, **k: (lambda m: 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_solver(lifted, "active_set", tol=1e-6, handover=True)
    assert run.status == "max_iters" and run.info["handed_over"] and run.info["stalled"]
    assert relu_solvers.HANDING_OVER in run.message and "the passes took" in run.message
    assert "full FISTA" not in run.message  # straight to ssnal, no full FISTA in between
    auto = lifted.solve(solver="auto")
    assert auto.status == "optimal" and auto.solver == "ssnal"
    assert _certified_by_hand(lifted, auto) <= 1e-6
    # an unbounded prediction: the working set goes on as without a hand-over
    monkeypatch.setattr(ssnal, "cost_model", lambda *a, **k: (lambda m: float("inf")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_solver(lifted, "active_set", tol=1e-6, handover=True, max_iters=3_000)
    assert not run.info["handed_over"]
