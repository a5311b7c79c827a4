"""The gated program where the optimum is dense (issue 11): hundreds of active patterns.

Working sets pay off on sparse optima; on a dense one the gated ``active_set`` hands over to
full FISTA, ``fista`` runs alone, and ``auto`` must end no worse than either. Checked: the
certified gap each reports, recomputed by hand from the returned dual point, and the optimum
against Clarabel through cvxpy; the working set's hand-over, and ``auto``'s fallback order;
the certificate's dual step onto the active constraints (a valid bound, second order in the
primal error, fewer iterations to a certified gap).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lift.losses import SquaredLoss
from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound
from lift.problems.relu import solvers as relu_solvers
from lift.problems.relu.operators import PatternOperator
from lift.solvers import _better, run_solver
from lift.solvers.group_lasso import (
    ActiveDualStep,
    active_dual_step,
    group_lasso_gram,
    least_squares_gap,
)

STATUS_RANK = {"optimal": 0, "optimal_inaccurate": 1, "max_iters": 2}


def _planted(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 5)) / np.sqrt(d)
    y = np.maximum(X @ W, 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def dense():
    """n = 400, d = 5, P = 300 sampled gates, small beta: over a hundred active groups;
    every solver once (the module's tests share them)."""
    X, y = _planted(400, 5)
    lifted = TwoLayerReLU(X, y, beta=0.5).lift(patterns=300, program="gated", seed=0)
    sols = {name: lifted.solve(solver=name, tol=1e-6)
            for name in ("fista", "active_set", "auto", "clarabel")}
    return lifted, sols


def _active(sol) -> int:
    V = sol.info["warm_start"]["V"]
    return int((np.linalg.norm(V, axis=1) > 0).sum())


def test_dense_optimum_is_certified_and_matches_cvxpy(dense):
    lifted, sols = dense
    ref = sols["clarabel"]
    assert ref.status == "optimal"
    prob = lifted.problem
    for name in ("fista", "auto"):
        sol = sols[name]
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6, (name, sol.message)
        # hundreds of weights: more than a third of the patterns active at the optimum
        assert _active(sol) > 100
        # the certificate recomputed by hand from the returned dual point (rescaled here)
        bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sol.info["dual"],
                              lifted.D, cone=False)
        assert (sol.value - bound) / sol.value <= 1e-6
        # and the interior-point reference: within our certified gap, not below our bound
        assert abs(sol.value - ref.value) / ref.value <= 1e-6
        assert ref.value >= bound - 1e-9 * abs(bound)


def test_auto_is_no_worse_than_any_single_solver(dense):
    _, sols = dense
    auto = sols["auto"]
    # a specialised solver, no conic fallback (here ssnal: predicted faster than FISTA's
    # rate, it takes over)
    assert auto.solver in ("active_set", "fista", "ssnal")
    for name in ("fista", "active_set"):
        single = sols[name]
        assert STATUS_RANK[auto.status] <= STATUS_RANK[single.status]
        assert auto.value <= single.value + 1e-6 * abs(single.value)


def test_working_set_hands_over_to_fista_on_a_dense_optimum(dense):
    _, sols = dense
    sol = sols["active_set"]
    assert sol.status == "optimal"
    assert "full FISTA took over" in sol.message and "dense" in sol.message
    assert sol.info["fista_iterations"] > 0


def test_better_orders_by_status_then_gap(dense):
    _, sols = dense
    a = sols["fista"]
    worse = dataclasses.replace(a, status="max_iters")
    assert _better(a, worse) and not _better(worse, a)
    looser = dataclasses.replace(a, gap=a.gap * 10 + 1e-3)
    assert _better(a, looser) and not _better(looser, a)


def test_least_squares_gap_is_a_duality_gap():
    """Zero at the optimum of a least-squares group lasso (solved on its Gram matrix to
    rounding), positive elsewhere, and an upper bound on the suboptimality."""
    rng = np.random.default_rng(1)
    n, m, d, beta = 30, 8, 3, 2.0
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    G, b, yy = A.T @ A, A.T @ y, float(y @ y)
    u, _, _ = group_lasso_gram(G, b, beta, d, np.zeros(m * d), tol=1e-13)
    Gt, bt = torch.from_numpy(G), torch.from_numpy(b)

    def objective(v):
        return 0.5 * np.sum((A @ v - y) ** 2) + beta * np.linalg.norm(v.reshape(m, d), axis=1).sum()

    assert least_squares_gap(Gt, bt, yy, torch.from_numpy(u.reshape(m, d)), beta) <= 1e-10
    for scale in (0.0, 0.5, 1.5):
        v = u * scale + 0.01 * rng.standard_normal(u.size)
        gap = least_squares_gap(Gt, bt, yy, torch.from_numpy(v.reshape(m, d)), beta)
        subopt = (objective(v) - objective(u)) / objective(v)
        assert gap >= subopt - 1e-12 and gap > 0


def test_gram_solve_stops_on_the_gap_where_the_residual_is_slow():
    """Nearly collinear blocks (an ill-conditioned Gram matrix): with ``yy`` the restricted
    solve stops on its duality gap, in far fewer iterations than the residual needs."""
    rng = np.random.default_rng(2)
    n, m, d, beta = 40, 10, 2, 0.05
    base = rng.standard_normal((n, d))
    A = np.hstack([base + 1e-3 * rng.standard_normal((n, d)) for _ in range(m)])
    y = base @ np.ones(d) + 0.1 * rng.standard_normal(n)
    G, b, yy = A.T @ A, A.T @ y, float(y @ y)
    _, k_gap, _ = group_lasso_gram(G, b, beta, d, np.zeros(m * d), tol=1e-6, yy=yy)
    u, k_res, res = group_lasso_gram(G, b, beta, d, np.zeros(m * d), tol=1e-6,
                                     max_iters=20 * k_gap + 100)
    assert k_gap < k_res or res > 1e-6


# --------------------------------------------------------------------------------------------
# The certificate's dual step onto the active constraints
# --------------------------------------------------------------------------------------------
class _Explicit:
    """A group operator with explicit blocks ``A_g`` (n x d), for the toolbox's dual step."""

    def __init__(self, A: np.ndarray, d: int) -> None:
        self.A = torch.from_numpy(A)
        self.n, self.d, self.P = A.shape[0], d, A.shape[1] // d

    def adjoint(self, lam):
        return (self.A.T @ lam).reshape(self.P, self.d)

    def directions(self, idx, N):
        blocks = self.A.reshape(self.n, self.P, self.d)[:, idx]
        return (blocks * N[None]).sum(-1)


def test_active_dual_step_makes_the_lost_dual_value_second_order():
    """At a point ``e`` away from the optimum, the rescaled loss gradient loses a dual value
    of order ``e``; after the step onto the active constraints, of order ``e^2``; never a
    bound above the optimum."""
    rng = np.random.default_rng(3)
    n, m, d, beta = 40, 10, 3, 3.0
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    u, _, _ = group_lasso_gram(A.T @ A, A.T @ y, beta, d, np.zeros(m * d), tol=1e-14)
    U = u.reshape(m, d)
    support = np.linalg.norm(U, axis=1) > 0
    assert 2 <= support.sum() < m
    optimum = 0.5 * np.sum((A @ u - y) ** 2) + beta * np.linalg.norm(U, axis=1).sum()
    op, loss = _Explicit(A, d), SquaredLoss()
    direction = rng.standard_normal(U.shape) * support[:, None]

    def lost(eps: float, step: bool) -> float:
        lam = torch.from_numpy(A @ (u + eps * direction.ravel()) - y)  # loss gradient there
        C = op.adjoint(lam)
        if step:
            norms = torch.linalg.vector_norm(C, dim=1)
            idx = torch.nonzero(torch.from_numpy(support) | (norms > beta)).flatten()
            N = C[idx] / norms[idx, None]
            lam = active_dual_step(lam, norms[idx], op.directions(idx, N), beta)
            C = op.adjoint(lam)
        tmax = beta / float(torch.linalg.vector_norm(C, dim=1).max())
        bound, _ = loss.best_scaled_dual(lam.numpy(), y, tmax)
        assert bound <= optimum + 1e-12 * abs(optimum)  # weak duality
        return (optimum - bound) / optimum

    plain = [lost(eps, False) for eps in (1e-3, 1e-4)]
    stepped = [lost(eps, True) for eps in (1e-3, 1e-4)]
    assert plain[1] > 3e-2 * plain[0]    # first order: about a tenth per tenth of eps
    assert stepped[1] < 2e-2 * stepped[0]  # second order: about a hundredth
    assert stepped[1] < 1e-2 * plain[1]


def test_second_dual_step_solves_the_nonlinear_constraints_further():
    """The constraints ``||A_g^T lam|| = beta`` are nonlinear: a second (chord) step, on the
    first step's factored system, shrinks what the first leaves of their residual, and the
    bound it gives is at least as good (``ActiveDualStep.newton``)."""
    rng = np.random.default_rng(3)
    n, m, d, beta = 40, 10, 3, 3.0
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    u, _, _ = group_lasso_gram(A.T @ A, A.T @ y, beta, d, np.zeros(m * d), tol=1e-14)
    U = torch.from_numpy(u.reshape(m, d))
    support = torch.linalg.vector_norm(U, dim=1) > 0
    optimum = 0.5 * np.sum((A @ u - y) ** 2) + beta * float(U.norm(dim=1).sum())
    op, loss = _Explicit(A, d), SquaredLoss()
    Ue = U + 1e-2 * torch.from_numpy(rng.standard_normal(U.shape)) * support[:, None]
    lam = torch.from_numpy(A) @ Ue.reshape(-1) - torch.from_numpy(y)
    out = {}
    for newton in (1, 2):
        new, norm_max = ActiveDualStep(every=1, newton=newton)(
            0, op, lam, op.adjoint(lam), Ue, beta, 1e12)
        norms = torch.linalg.vector_norm(op.adjoint(new), dim=1)
        assert norm_max == pytest.approx(float(norms.max()), rel=1e-12)
        bound, _ = loss.best_scaled_dual(new.numpy(), y, beta / norm_max)
        assert bound <= optimum + 1e-12 * abs(optimum)  # weak duality
        out[newton] = (float((norms[support] - beta).abs().max()), bound)
    assert out[2][0] < 0.1 * out[1][0]
    assert out[2][1] >= out[1][1] - 1e-12 * abs(optimum)


def test_dual_step_keeps_its_share_and_steps_before_a_stall_check():
    """The steps' period is counted in iterations: a step costing ``c`` multiply-adds, with
    iterations of ``w`` each, is due again ``c / (share w)`` iterations later (not at the next
    multiple of ``every``); a caller about to judge its progress gets a step at once when none
    was taken in the window it names (``due(k, within)``), and that step's bound is valid."""
    rng = np.random.default_rng(3)
    n, m, d, beta = 40, 10, 3, 3.0
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    op = _Explicit(A, d)
    U = torch.from_numpy(rng.standard_normal((m, d)))
    lam = torch.from_numpy(A @ U.reshape(-1).numpy() - y)
    refine = ActiveDualStep(every=10, newton=1, share=0.1)
    cost = n * m * (m + 2 * d) + n * m * d  # one step on the m nonzero groups
    assert refine.due(0) and refine(0, op, lam, op.adjoint(lam), U, beta, 1.0) is not None
    period = int(np.ceil(cost / 0.1))
    assert refine.next_at == period and refine.last == 0
    assert not refine.due(10) and not refine.due(period - 10)
    assert refine.due(period)
    assert not refine.due(30, within=50)   # one was taken 30 iterations ago
    assert refine.due(50, within=50)
    new, norm_max = refine(50, op, lam, op.adjoint(lam), U, beta, 1.0, within=50)
    assert refine.last == 50 and refine.calls == 2
    bound, _ = SquaredLoss().best_scaled_dual(new.numpy(), y, beta / norm_max)
    u, _, _ = group_lasso_gram(A.T @ A, A.T @ y, beta, d, np.zeros(m * d), tol=1e-14)
    optimum = 0.5 * np.sum((A @ u - y) ** 2) + beta * np.linalg.norm(u.reshape(m, d), axis=1).sum()
    assert bound <= optimum + 1e-12 * abs(optimum)  # weak duality
    assert ActiveDualStep(every=0).due(100, within=10) is False  # 0: never


def test_fista_dual_step_certifies_in_fewer_iterations():
    """A dense gated optimum (n = 400, d = 10, P = 300, over a hundred active groups): FISTA
    with the dual step reaches a certified 1e-6 in far fewer iterations than with the loss
    gradients alone (Newton polish off, so that the first-order iterations are compared); the
    returned dual point, rescaled here, is a valid bound that certifies the returned value."""
    X, y = _planted(400, 10)
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=300, program="gated", seed=0)
    prob = lifted.problem
    runs = {k: run_solver(lifted, "fista", tol=1e-6, device="cpu", newton=False,
                          max_iters=20_000, dual_step=k) for k in (0, 10)}
    for run in runs.values():
        assert run.status == "optimal"
    assert (np.linalg.norm(runs[10].primal["V"], axis=1) > 0).sum() > 100
    assert runs[10].iterations <= 0.75 * runs[0].iterations
    values = {k: lifted.program_value(r.primal) for k, r in runs.items()}
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, runs[10].primal["dual"],
                          lifted.D, cone=False)
    assert bound >= runs[10].info["lower"] - 1e-9 * abs(bound)  # the solver's own, recomputed
    assert bound <= min(values.values())                       # below every primal value
    assert (values[10] - bound) / values[10] <= 1e-6


def test_dual_step_option_is_checked(data_1d):
    X, y = data_1d
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(program="gated")
    with pytest.raises(ValueError, match="`dual_step`"):
        lifted.solve(solver="fista", dual_step=-1)


def test_pattern_operator_gram_block_is_the_products_one_by_one():
    X, y = _planted(300, 4)
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=60, program="gated", seed=0)
    op = PatternOperator(lifted.problem.Xa, lifted.D)
    gen = torch.Generator().manual_seed(0)
    V = torch.randn(5, op.P, op.d, generator=gen, dtype=torch.float64)
    one_by_one = torch.stack([op.adjoint(op.forward(v)) for v in V])
    np.testing.assert_allclose(op.gram_block(V), one_by_one, rtol=1e-12,
                               atol=1e-12 * float(one_by_one.abs().max()))


def test_fista_low_rank_metric_certifies_a_dense_optimum_in_fewer_iterations():
    """Many overlapping patterns: ``A^T A`` has a few curvatures far above the rest, and the
    plain step is held at ``1 / lambda_max``. FISTA in the metric that keeps its largest
    curvatures exactly (``metric=True``, the default) reaches the same certified optimum in
    far fewer iterations; the Ritz values it reports are the operator's (a Rayleigh quotient
    recomputed here), and the returned dual point, rescaled here, certifies the value."""
    X, y = _planted(400, 10)
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=300, program="gated", seed=0)
    prob = lifted.problem
    runs = {m: run_solver(lifted, "fista", tol=1e-6, device="cpu", newton=False,
                          max_iters=20_000, metric=m) for m in (False, True)}
    for run in runs.values():
        assert run.status == "optimal"
    assert "metric" not in runs[False].info
    info = runs[True].info["metric"]
    assert info["largest"] >= 3 * info["next"] > 0  # what the metric is for
    assert runs[True].iterations <= 0.6 * runs[False].iterations
    op = PatternOperator(prob.Xa, lifted.D)
    lam_max = op.lipschitz(iters=200)
    assert info["largest"] == pytest.approx(lam_max, rel=1e-6)  # squared loss: curvature 1
    values = {m: lifted.program_value(r.primal) for m, r in runs.items()}
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, runs[True].primal["dual"],
                          lifted.D, cone=False)
    assert bound >= runs[True].info["lower"] - 1e-9 * abs(bound)
    assert bound <= min(values.values())
    assert (values[True] - bound) / values[True] <= 1e-6


def _fista_by_pair_budget(monkeypatch, lifted, name: str) -> dict:
    """``fista`` (no Newton polish) with the metric's pair budget as it is (under ``name``)
    and at 0 (``"24 pairs"``: METRIC_KEEP); both must certify."""
    runs = {}
    for key, most in ((name, relu_solvers.METRIC_KEEP_MAX), ("24 pairs", 0)):
        monkeypatch.setattr(relu_solvers, "METRIC_KEEP_MAX", most)
        runs[key] = run_solver(lifted, "fista", tol=1e-6, device="cpu", newton=False,
                               max_iters=20_000)
        assert runs[key].status == "optimal"
    return runs


@pytest.mark.parametrize("n", [1000, 3000])
def test_metric_keeps_the_second_group_of_curvatures(monkeypatch, n):
    """Gaussian data and gates: below the ``d`` largest curvatures of ``A^T A`` the spectrum
    drops again after about ``d (d + 1) / 2`` more (checked here on the explicit matrix).
    Where the budget allows, FISTA's metric keeps both groups (``metric_pairs``): the first
    curvature it leaves is then the bulk's, far below the one 24 pairs leave, and FISTA
    certifies the same program in fewer iterations. At ``n = 3,000`` the pairs come from
    2,000 sampled rows (``METRIC_ROWS_MIN``)."""
    X, y = _planted(n, 6)
    lifted = TwoLayerReLU(X, y, beta=n / 1000).lift(patterns=100, program="gated", seed=0)
    Xa, D = lifted.problem.Xa, np.asarray(lifted.D, dtype=float)
    n, d = Xa.shape
    P = D.shape[1]
    keep, block = relu_solvers.metric_pairs(n, P, d)
    assert (keep, block) == (d + d * (d + 1) // 2, keep + 8) == (35, 43)
    ev = np.sort(np.linalg.eigvalsh((Xa @ Xa.T) * (D @ D.T)))[::-1]  # those of A^T A
    ratios = ev[d:2 * keep] / ev[d + 1:2 * keep + 1]
    cliff = d + 1 + int(np.argmax(ratios))  # the size of the first two groups
    assert keep - d <= cliff <= keep and ratios.max() > 2.0
    runs = _fista_by_pair_budget(monkeypatch, lifted, "both groups")
    both, few = runs["both groups"].info["metric"], runs["24 pairs"].info["metric"]
    assert (both["kept"], few["kept"]) == (keep, relu_solvers.METRIC_KEEP)
    sampled = n > relu_solvers.METRIC_ROWS_MIN
    assert both["largest"] == pytest.approx(ev[0], rel=0.05 if sampled else 1e-6)
    # the first curvature left is the bulk's, not the second group's (Ritz values from every
    # row are lower bounds)
    assert both["next"] <= ev[keep] * (1.5 if sampled else 1 + 1e-6)
    assert both["next"] <= few["next"] / 5
    assert runs["both groups"].iterations <= 0.8 * runs["24 pairs"].iterations


def test_metric_keeps_the_whole_first_group_beyond_24_inputs(monkeypatch):
    """With more than 24 augmented inputs (``d`` = 31 here) the first group of curvatures
    (one per input column, far above the rest) no longer fits in 24 pairs, and the second
    group (527 pairs) is beyond the budget: the metric keeps the first group whole. Its
    first unkept curvature is then below the cliff (checked on the explicit ``A^T A``), where
    24 pairs left one of the group, and FISTA certifies in fewer iterations."""
    X, y = _planted(1000, 30)
    lifted = TwoLayerReLU(X, y, beta=0.5).lift(patterns=60, program="gated", seed=0)
    Xa, D = lifted.problem.Xa, np.asarray(lifted.D, dtype=float)
    n, d = Xa.shape
    keep, block = relu_solvers.metric_pairs(n, D.shape[1], d)
    assert d == 31 > relu_solvers.METRIC_KEEP and (keep, block) == (31, 39)
    ev = np.sort(np.linalg.eigvalsh((Xa @ Xa.T) * (D @ D.T)))[::-1]  # those of A^T A
    assert ev[d - 1] / ev[d] > 2.0  # the cliff after the first group
    runs = _fista_by_pair_budget(monkeypatch, lifted, "first group")
    for run in runs.values():  # the certificate against the value recomputed here
        value = lifted.program_value(run.primal)
        assert run.info["lower"] <= value <= run.info["lower"] * (1 + 1e-6)
    first, few = runs["first group"].info["metric"], runs["24 pairs"].info["metric"]
    assert (first["kept"], few["kept"]) == (d, relu_solvers.METRIC_KEEP)
    assert first["largest"] == pytest.approx(ev[0], rel=1e-6)
    assert first["next"] <= ev[d] * (1 + 1e-6)  # Ritz values are lower bounds
    assert few["next"] >= ev[d - 1] * (1 - 1e-3)  # one of the first group left out
    assert runs["first group"].iterations <= 0.8 * runs["24 pairs"].iterations
