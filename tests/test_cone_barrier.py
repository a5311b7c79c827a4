"""``barrier`` on the cone-constrained ReLU program (issue 11): the regime of very small
``beta``, where ``ssnal`` and projected FISTA stall.

Checked: Clarabel's optimum, the cone constraints of the returned point (strictly inside its
cones: an interior-point iterate), the certificate recomputed by ``dual_bound`` from the
returned multipliers; the squared and logistic losses; gates that lie on a sample's
hyperplane and zero samples; the Newton system against the explicit matrix; ``auto``'s order
(``barrier`` first at very small relative ``beta``, else ``ssnal`` then ``barrier``); options
and limits.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cone_fista import _cone_violation, _rel, _teacher

import lift.problems.relu.barrier as barrier
from lift.errors import ConvergenceWarning
from lift.problems import TwoLayerReLU
from lift.problems.relu import dual_bound
from lift.solvers import solver_order

pytestmark = pytest.mark.filterwarnings("ignore::lift.errors.InaccurateSolutionWarning")


def _check(lifted, sol, ref, rel: float = 2e-6):
    """Certified to 1e-6, at Clarabel's optimum, feasible (strictly, where the interior-point
    iterate is returned, not ssnal's polish), and certified again from the returned dual
    point and multipliers."""
    assert sol.status == "optimal" and sol.solver == "barrier", sol.message
    assert sol.gap <= 1e-6 * sol.value
    assert _rel(sol.program_value, ref.program_value) <= rel
    ws = sol.info["warm_start"]
    polished = bool(sol.info["polish"])
    assert _cone_violation(lifted, ws["V"], ws["W"]) <= (1e-12 if polished else 0.0)
    prob = lifted.problem
    bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, sol.info["dual"], lifted.D,
                          True, multipliers=(ws["mu"], ws["nu"]))
    assert bound <= ref.program_value * (1 + 1e-9)
    assert bound >= sol.value * (1 - 2e-6)


def _state(lifted, system: str):
    """The solver's setup and the barrier's state of ``lifted`` in ``system``'s form, on the CPU
    (where the tests' tensors are)."""
    s = barrier.ConeBarrier(device="cpu")._setup(lifted, 1e-6, False)
    return s, barrier._Barrier(s, lifted, system)


def _small_beta():
    """The program on which ``ssnal`` stalls (``tests/test_cone_ssnal.py``)."""
    X, y = _teacher(200, 6, seed=0)
    return TwoLayerReLU(X, y, beta=0.01, bias=False).lift(patterns=80, program="cone", seed=0)


@pytest.mark.parametrize("polish", [True, False])
def test_very_small_beta_is_certified(polish):
    lifted = _small_beta()
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="barrier", polish=polish)
    _check(lifted, sol, ref)
    assert sol.size >= 40  # a dense optimum: most signed groups are used
    # predictor-corrector steps, none of them replaced by a damped centering step
    assert 5 <= sol.info["newton_steps"] <= 60 and sol.info["fallbacks"] == 0
    if polish and sol.info["polish"]:  # from a certified 1e-5, ssnal's steps: a few
        assert sol.info["polish"]["newton_steps"] <= 20
        assert "then ssnal from its point" in sol.message
    elif polish:  # the gap fell fourfold or more in the last step: the steps went on
        assert "then ssnal" not in sol.message and sol.info["newton_steps"] >= 5


def test_logistic_loss():
    X, y = _teacher(150, 5, seed=3, loss="logistic")
    lifted = TwoLayerReLU(X, y, beta=0.005, loss="logistic").lift(patterns=50, program="cone",
                                                                 seed=0)
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="barrier")
    _check(lifted, sol, ref, rel=5e-6)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_covariance_form_where_samples_outnumber_coordinates(loss):
    """With ``n > P d`` the ``P d x P d`` form is the cheaper one and ``auto`` takes it; at a
    very small ``beta`` (large ``t``, where ill-conditioned ``B_g`` ruined an earlier
    elimination) it takes the same steps as the ``n x n`` form and certifies the same
    optimum."""
    X, y = _teacher(400, 3, seed=5, loss=loss)
    beta = 1e-3 if loss == "squared" else 2e-4
    lifted = TwoLayerReLU(X, y, beta=beta, bias=False, loss=loss).lift(
        patterns=30, program="cone", seed=0)
    assert lifted.relative_beta() < 1e-4
    costs = barrier.step_costs(400, 30, 3, squared=loss == "squared")
    assert costs["covariance"] < costs["woodbury"]
    sol = lifted.solve(solver="barrier")
    assert sol.info["system"] == "covariance"
    other = lifted.solve(solver="barrier", system="woodbury")
    assert other.info["system"] == "woodbury"
    # (squared: 17 against 21 steps; the certified gaps agree to 1e-8 for the first 16, then
    # near 1e-6 the n x n form's solves, at t about 1e9, lose accuracy for a few steps)
    assert abs(sol.info["newton_steps"] - other.info["newton_steps"]) <= 5
    # Clarabel's exponential cones stop at optimal_inaccurate (a gap of 6e-4) on the logistic
    # program: there the n x n form's certified answer is the reference
    ref = lifted.solve(solver="clarabel", tol=1e-9) if loss == "squared" else other
    _check(lifted, sol, ref)
    _check(lifted, other, ref)


def test_steps_go_on_after_a_polish_that_stalls():
    """Nearly collinear 1-D patterns: ``ssnal``'s polish from a certified 1e-5 stalls near
    1.7e-6; the interior-point steps go on from where they stopped and certify."""
    rng = np.random.default_rng(1)  # (with the centrality correctors the polish stalls on
    # seeds 1 and 10 of 1-15; before them on seeds 1, 2 and 5, and 2 was the seed here)
    X = rng.uniform(-1, 1, (30, 1))
    y = np.sin(3 * X[:, 0]) + 0.05 * rng.standard_normal(30)
    lifted = TwoLayerReLU(X, y, beta=1e-3).lift(program="cone")
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    # every row in the barrier: the early hand-over at 1e-5 (with the rows reduced, the steps
    # go on alone from there, and certify)
    sol = lifted.solve(solver="barrier", cone_rows=0)
    _check(lifted, sol, ref)
    assert sol.info["polish"]["stopped"].startswith("stalled")
    assert "more interior-point steps" in sol.message
    # the steps after the polish count in the budget
    with pytest.warns(ConvergenceWarning):
        short = lifted.solve(solver="barrier", cone_rows=0,
                             max_iters=sol.info["newton_steps"] - 1)
    assert short.status == "max_iters" and short.rel_gap > 1e-6
    _check(lifted, lifted.solve(solver="barrier"), ref)


def test_gate_on_a_hyperplane_and_a_zero_sample():
    """A gate orthogonal to a sample is on the boundary of its cone: the start moves to the
    cone's largest-margin gate (a linear program). A zero sample constrains nothing (its row
    is ``0 >= 0``) and is left out of the barrier."""
    rng = np.random.default_rng(7)
    X = rng.integers(-3, 4, size=(60, 3)).astype(float)
    X[5] = 0.0
    y = np.maximum(X @ np.array([1.0, -0.5, 0.3]), 0) + 0.1 * rng.standard_normal(60)
    prob = TwoLayerReLU(X, y, beta=0.05, bias=False)
    gates = rng.standard_normal((12, 3))
    gates[0] = np.cross(X[0], X[1])  # on the hyperplanes of samples 0 and 1
    lifted = prob.lift(patterns=gates, program="cone")
    Xl, S = lifted.problem.Xa[[0, 1]], np.where(lifted.D[[0, 1]], 1.0, -1.0)
    assert np.abs(S * (Xl @ lifted.gates.T)).min() <= 1e-12  # the start needs the LP
    ref = lifted.solve(solver="clarabel", tol=1e-9)
    sol = lifted.solve(solver="barrier")
    _check(lifted, sol, ref)


def test_auto_order_at_very_small_beta(monkeypatch):
    """``ssnal`` stalls on this program (``tests/test_cone_ssnal.py``): ``beta`` is 8.7e-5 of
    the smallest ``beta`` with a zero optimum, below ``BARRIER_FIRST``, so ``auto`` starts
    with the interior-point method. Above it ``ssnal`` goes first, and ``auto`` moves from
    its stall to ``barrier``, not to Clarabel."""
    lifted = _small_beta()
    prob = lifted.problem
    lam = prob.loss.grad(np.zeros_like(prob.y), prob.y)  # beta_max by hand
    top = max(np.linalg.norm(prob.Xa.T @ (lifted.D[:, i] * lam)) for i in range(lifted.P))
    assert lifted.relative_beta() == pytest.approx(prob.beta / top, rel=1e-12)
    assert lifted.relative_beta() < type(lifted).BARRIER_FIRST
    monkeypatch.setattr(type(lifted), "CONE_THRESHOLD", 10)
    assert solver_order(lifted)[:3] == ["barrier", "ssnal", "clarabel"]
    first = lifted.solve(solver="auto")
    assert first.solver == "barrier" and first.status == "optimal", first.message
    assert "auto:" not in first.message  # nothing was tried before it
    monkeypatch.setattr(type(lifted), "BARRIER_FIRST", 0.0)
    assert solver_order(lifted)[:3] == ["ssnal", "barrier", "clarabel"]
    auto = lifted.solve(solver="auto")
    assert auto.solver == "barrier" and auto.status == "optimal", auto.message
    assert "ssnal stopped at a certified relative gap" in auto.message
    assert "(stalled)" in auto.message
    assert auto.value == pytest.approx(first.value, rel=2e-6)
    # where a Newton step is beyond BARRIER_WORK, auto does not offer it
    monkeypatch.setattr(barrier, "BARRIER_WORK", 1.0)
    assert solver_order(lifted)[:2] == ["ssnal", "clarabel"]


def test_auto_order_on_large_logistic_cone_programs():
    """With the logistic loss ``barrier`` comes up to AUTO_MAX_WORK a step: right after
    ``ssnal`` at a relative beta below BARRIER_FIRST (projected FISTA timed out on every
    small-beta logistic row), after projected FISTA above it where a step costs more than
    BARRIER_WORK; with the squared loss only within BARRIER_WORK."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10_000, 10))
    work = barrier.step_work(10_000, 500, 10, squared=False)
    assert barrier.BARRIER_WORK < work <= barrier.AUTO_MAX_WORK
    # the d = 20 row too (a step of 5.8e11: certified in 37 steps, 645 s on two cores)
    assert barrier.step_work(10_000, 500, 20, squared=False) <= barrier.AUTO_MAX_WORK
    for loss, y in [("logistic", np.sign(X[:, 0] + 0.1)), ("squared", X[:, 0])]:
        lifted = TwoLayerReLU(X, y, beta=1.0, bias=False, loss=loss).lift(
            patterns=500, program="cone", seed=0)
        order = solver_order(lifted)
        if loss == "logistic":
            assert lifted.relative_beta() >= lifted.BARRIER_FIRST
            assert order[:3] == ["ssnal", "fista", "barrier"]
        else:  # a step of 4.4e10 (P d = 5,000 coordinates): offered (first or second, by
            # the relative beta)
            assert barrier.offered(10_000, 500, 10) and set(order[:2]) == {"ssnal", "barrier"}
    assert not barrier.offered(50_000, 500, 10)  # the squared loss' A^T A costs more there
    # at a relative beta below BARRIER_FIRST, logistic: barrier first beyond
    # LOGISTIC_CONE_SIGMA_N samples (ssnal stalled at n = 10,000), ssnal first up to it on
    # fewer than BARRIER_FIRST_D input columns, barrier first from them on (ssnal ran ten
    # minutes uncertified at n = 2,000, d = 50); ssnal first at a larger relative beta
    from lift.problems.relu.program import ReLULift
    from lift.problems.relu.ssnal import LOGISTIC_CONE_SIGMA_N

    wide = rng.standard_normal((LOGISTIC_CONE_SIGMA_N, ReLULift.BARRIER_FIRST_D))
    for Xn, rel, first in [(X, 1e-5, "barrier"), (X[:LOGISTIC_CONE_SIGMA_N], 1e-5, "ssnal"),
                           (wide, 1e-5, "barrier"), (wide, 1e-3, "ssnal"),
                           (wide[:, 1:], 1e-5, "ssnal")]:
        y = np.sign(Xn[:, 0] + 0.1)
        lifted = TwoLayerReLU(Xn, y, beta=1.0, bias=False, loss="logistic").lift(
            patterns=500, program="cone", seed=0)
        beta = rel / lifted.relative_beta()  # the same program at relative beta rel
        lifted = TwoLayerReLU(Xn, y, beta=beta, bias=False, loss="logistic").lift(
            patterns=500, program="cone", seed=0)
        assert (lifted.relative_beta() < lifted.BARRIER_FIRST) == (rel < 2e-4)
        assert solver_order(lifted)[:2] == [first, "ssnal" if first == "barrier" else "barrier"]


def test_auto_order_at_tiny_beta_beyond_the_barrier_work():
    """With the squared loss, below BARRIER_FIRST_ANY_WORK (and below BARRIER_FIRST on at most
    BARRIER_FIRST_ANY_WORK_N samples of BARRIER_FIRST_D columns or more) ``barrier`` goes
    first wherever its step is within AUTO_MAX_WORK, also beyond BARRIER_WORK (``ssnal``
    stalled at ``n = 10,000`` with a bias at relative beta 1.5e-6, where ``barrier``
    certified in 51 s); above it, on the same program, ``ssnal`` first (it certified ``n =
    50,000`` at 7.2e-5 12x faster than ``barrier``)."""
    from lift.problems.relu.program import ReLULift

    X = np.random.default_rng(0).standard_normal((10_000, 10))
    work = barrier.step_work(10_000, 500, 11)  # with the bias column
    assert barrier.BARRIER_WORK < work <= barrier.AUTO_MAX_WORK
    y = np.maximum(X[:, 0], 0.0) - X[:, 1]
    lifted = TwoLayerReLU(X, y, beta=1.0).lift(patterns=500, program="cone", seed=0)
    top = 1.0 / lifted.relative_beta()
    for rel, first in [(1e-6, "barrier"), (5e-5, "ssnal")]:
        assert (rel < ReLULift.BARRIER_FIRST_ANY_WORK) == (first == "barrier")
        lifted = TwoLayerReLU(X, y, beta=rel * top).lift(patterns=500, program="cone", seed=0)
        assert lifted.relative_beta() == pytest.approx(rel)
        order = solver_order(lifted)
        assert order[0] == first
        assert ("barrier" in order[:2]) == (first == "barrier")
    # below BARRIER_FIRST on at most BARRIER_FIRST_ANY_WORK_N samples from BARRIER_FIRST_D
    # input columns on: n = 2,000, d = 50, P = 500 (a step of 1e11; ssnal first timed out),
    # not d = 10, P = 2,000 (8e10; ssnal 18 s, barrier 289 s)
    n = ReLULift.BARRIER_FIRST_ANY_WORK_N
    Xw = np.random.default_rng(1).standard_normal((n, 50))
    for d, P, rel, first in [(50, 500, 1e-4, "barrier"), (50, 500, 5e-4, "ssnal"),
                             (10, 2_000, 1e-4, "ssnal")]:
        assert barrier.BARRIER_WORK < barrier.step_work(n, P, d) <= barrier.AUTO_MAX_WORK
        yw = np.maximum(Xw[:, 0], 0.0) - Xw[:, 1]
        top = 1.0 / TwoLayerReLU(Xw[:, :d], yw, beta=1.0, bias=False).lift(
            patterns=P, program="cone", seed=0).relative_beta()
        lifted = TwoLayerReLU(Xw[:, :d], yw, beta=rel * top, bias=False).lift(
            patterns=P, program="cone", seed=0)
        assert solver_order(lifted)[0] == first


def test_options_and_limits():
    X, y = _teacher(80, 3, seed=5)
    prob = TwoLayerReLU(X, y, beta=0.5)
    cone = prob.lift(patterns=20, program="cone", seed=0)
    assert "barrier" in cone.solvers()
    with pytest.raises(TypeError, match="t_growth"):
        cone.solve(solver="barrier", t_growth=10.0)
    with pytest.raises(TypeError, match="growth"):
        cone.solve(solver="barrier", growth=2.0)
    gated = prob.lift(patterns=20, program="gated", seed=0)
    assert "barrier" not in gated.solvers()
    hinge = TwoLayerReLU(X, np.sign(y - np.median(y)), beta=0.5, loss="hinge").lift(
        patterns=20, program="cone", seed=0)
    assert "barrier" not in hinge.solvers()
    # a budget too small to certify: reported, not hidden
    with pytest.warns(Warning):
        short = cone.solve(solver="barrier", max_iters=5)
    assert short.status == "max_iters" and "budget of 5 Newton steps" in short.message
    # a step's cost in each form: n^2 P d for the n x n system; (P d)^3 / 3 for the P d x P d
    # one, plus A_v^T W A_v (each step with the logistic loss, counted as n (P d)^2 / 4; once
    # with the squared loss)
    assert barrier.step_costs(1_000, 100, 10, squared=False) == {
        "woodbury": 1e9, "covariance": 1e9 / 3 + 2.5e8}
    assert barrier.step_costs(1_000, 100, 10)["covariance"] == pytest.approx(1e9 / 3 + 1e7)
    assert barrier.step_work(1_000, 200, 10) == 2e9  # the cheaper form
    assert barrier.step_work(10_000, 500, 10) == pytest.approx(5e9**3 / 1e18 / 3 + 2.5e9)
    # auto offers it within the work and the size limits of its systems
    assert barrier.offered(2_000, 500, 20) and not barrier.offered(2_000, 2_000, 20)
    assert barrier.offered(10_000, 500, 10) and not barrier.offered(10_000, 500, 10, False)
    assert not barrier.offered(barrier.MAX_SAMPLES + 1, 2_000, 10)
    assert barrier.step_work(barrier.MAX_SAMPLES + 1, 2_000, 10) == np.inf
    # beyond both size limits it stops at once, saying so (auto, which may reach it after the
    # other specialised solvers, goes on)
    n = barrier.MAX_SAMPLES + 1
    big = TwoLayerReLU(np.random.default_rng(0).standard_normal((n, 1)), np.ones(n), beta=1.0)
    with pytest.warns(Warning):
        stop = barrier.ConeBarrier(system="woodbury").run(
            big.lift(patterns=2, program="cone", seed=0))
    assert stop.status == "max_iters" and "n x n" in stop.message
    assert "system='woodbury'" in stop.message and "use solver='ssnal'" in stop.message
    with pytest.raises(ValueError, match="system"):
        cone.solve(solver="barrier", system="cholesky")
    with pytest.warns(Warning):
        stop = cone.solve(solver="barrier", max_work=10.0)
    assert stop.status == "max_iters" and "max_work" in stop.message
    with pytest.raises(ValueError, match="max_work"):
        cone.solve(solver="barrier", max_work=-1.0)
    from lift.solvers import SPECIALISED

    assert SPECIALISED["barrier"].auto_options(cone) == {"max_work": barrier.AUTO_MAX_WORK}


@pytest.mark.parametrize("system", ["woodbury", "covariance"])
@pytest.mark.parametrize("loss,screened", [("squared", False), ("logistic", False),
                                           ("logistic", True)])
def test_newton_system_solves_the_explicit_matrix(monkeypatch, loss, screened, system):
    """``t grad^2 F + K^T diag(w) K`` formed by autograd (F the program's objective) and from
    the cone rows, against each form's solve with its refinement; ``screened``: with samples
    of small weight left out of the factorization (the refinement, with the exact matrix,
    makes up for them); each form's float32 factor and its fallback to float64."""
    import torch

    if screened:  # a threshold far above the default: 31 of the 40 samples stay
        monkeypatch.setattr(barrier, "SAMPLES_NEGLIGIBLE", 0.1)
        monkeypatch.setattr(barrier, "SAMPLES_WORTH", 1.0)

    X, y = _teacher(40, 3, seed=4, loss=loss)
    lifted = TwoLayerReLU(X, y, beta=0.5, loss=loss).lift(patterns=7, program="cone", seed=0)
    s, st = _state(lifted, system)
    P, d = s.op.P, s.op.d
    H = barrier._interior_directions(lifted, st.live, st.Xc, st.S2[:, :P])
    # (screened: larger predictions, smaller second derivatives of the loss; beyond about 20
    # autograd's second derivatives of the logistic loss lose accuracy)
    U = (3.0 if screened else 0.3) * torch.cat([H, H * 0.5])
    sl = st.slacks(U)
    assert bool((sl > 0).all())
    t = 7.0
    w = torch.rand(sl.shape, dtype=sl.dtype, generator=torch.Generator().manual_seed(0))

    def objective(x):
        V = x.reshape(2 * P, d)
        return t * (s.loss.torch(st.forward(V), s.y) + s.beta * V.norm(dim=1).sum())

    Hm = torch.autograd.functional.hessian(objective, U.flatten())
    rows = []  # K^T diag(w) K, block by block
    for g in range(2 * P):
        Kg = st.S2[:, g, None] * st.Xc
        rows.append(Kg.T @ (w[:, g, None] * Kg))
    Hm = Hm + torch.block_diag(*rows)
    r = torch.randn(2 * P, d, dtype=U.dtype, generator=torch.Generator().manual_seed(1))
    x = st.newton_system(U, st.forward(U), t, torch.stack(rows))(r)
    assert float((Hm @ x.flatten() - r.flatten()).norm()) <= 1e-10 * float(r.norm())
    assert (st.fewest_samples < 40) == screened, st.fewest_samples
    # the matrix formed and factored in float32, the step refined in float64; where the
    # refinement falls short (here: always), the step is solved again in float64, and so are
    # the next systems
    assert st.low_steps == 1 and st.low == torch.float32
    monkeypatch.setattr(barrier, "LOW_RESIDUAL", 0.0)
    x = st.newton_system(U, st.forward(U), t, torch.stack(rows))(r)
    assert st.low is None and st.low_steps == 2
    assert float((Hm @ x.flatten() - r.flatten()).norm()) <= 1e-10 * float(r.norm())
    st.newton_system(U, st.forward(U), t, torch.stack(rows))(r)
    assert st.low_steps == 2


def test_sample_weights_of_the_newton_matrix():
    """``w_k a_k^T E a_k`` (``a_k`` the sample's row of ``A_v = [D_i Xa]_i``, ``E`` block
    diagonal) against the explicit product, and the samples kept: the dropped ones' weights sum
    to at most the threshold, and adding the next one would exceed it."""
    import torch

    X, y = _teacher(40, 3, seed=4, loss="logistic")
    lifted = TwoLayerReLU(X, y, beta=0.5, loss="logistic").lift(patterns=7, program="cone",
                                                                 seed=0)
    s, st = _state(lifted, "covariance")
    P, d, n = s.op.P, s.op.d, s.op.n
    gen = torch.Generator().manual_seed(2)
    R = torch.randn(2 * P, d, d, dtype=torch.float64, generator=gen)
    Binv = R @ R.transpose(1, 2) + 0.1 * torch.eye(d, dtype=torch.float64)
    w2 = torch.rand(n, dtype=torch.float64, generator=gen) ** 20  # spread over decades
    A = torch.cat([s.op.D[:, i, None] * s.op.Xa for i in range(P)], 1)  # n x P d
    E = torch.block_diag(*(Binv[:P] + Binv[P:]))
    explicit = w2 * ((A @ E) * A).sum(1)
    weights = st.sample_weights(Binv, w2)
    assert torch.allclose(weights, explicit, rtol=1e-12, atol=0.0)
    threshold = float(torch.sort(explicit).values[: n // 2].sum()) * 1.0001  # about half
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(barrier, "SAMPLES_NEGLIGIBLE", threshold)
        idx = st.samples(None, Binv, w2)
        assert idx is not None and st.fewest_samples == idx.numel() == n - n // 2
        dropped = torch.ones(n, dtype=torch.bool)
        dropped[idx] = False
        assert float(explicit[dropped].sum()) <= threshold
        assert float(explicit[dropped].sum() + explicit[~dropped].min()) > threshold
        mp.setattr(barrier, "SAMPLES_SMALL", 1e-30)  # no weight w_k that small: not tried
        assert st.samples(None, Binv, w2) is None
        mp.setattr(barrier, "SAMPLES_SMALL", 1.0)
        mp.setattr(barrier, "SAMPLES_WORTH", 0.4)  # half the samples would stay: not worth it
        assert st.samples(None, Binv, w2) is None


def test_step_to_the_boundary():
    """The largest step in [0, 1] that keeps ``x + a dx`` nonnegative, from ``min(dx / x)``;
    none (0) for a direction that is not a number."""
    import torch

    x = torch.tensor([1.0, 2.0, 4.0])
    assert barrier._Barrier.to_boundary(x, torch.tensor([1.0, -1.0, 0.0])) == 1.0
    assert barrier._Barrier.to_boundary(x, torch.tensor([-4.0, -1.0, 0.0])) == 0.25
    assert barrier._Barrier.to_boundary(x, torch.tensor([-1.0, -8.0, -2.0])) == 0.25
    assert barrier._Barrier.to_boundary(x, torch.tensor([0.5, float("nan"), 0.0])) == 0.0
    assert barrier._Barrier.to_boundary(x[:0], x[:0]) == 1.0


def test_memory_guard(monkeypatch):
    """Where the steps' arrays would not fit in the available memory, ``barrier`` stops at once
    and says so (``auto`` then goes on to the next solver)."""
    X, y = _teacher(60, 3, seed=2)
    lifted = TwoLayerReLU(X, y, beta=0.1).lift(patterns=10, program="cone", seed=0)
    need = barrier.peak_bytes(60, 10, 4, "covariance")
    assert need == barrier.BYTES_PER_CONE_ROW * 60 * 20 + 24 * 40**2
    assert barrier.peak_bytes(60, 10, 4, "woodbury") == (
        barrier.BYTES_PER_CONE_ROW * 60 * 20 + 24 * 60**2 + 8 * 60 * 40)
    monkeypatch.setattr(barrier, "available_memory", lambda device=None: 1000)
    with pytest.warns(Warning):
        stop = lifted.solve(solver="barrier")
    assert stop.status == "max_iters" and "GiB of memory" in stop.message
    assert stop.info["newton_steps"] == 0
    monkeypatch.setattr(barrier, "available_memory", lambda device=None: None)  # no guard
    assert lifted.solve(solver="barrier").status == "optimal"


def test_rank_deficient_least_squares_on_every_device():
    """The certificate's per-group fits (``_lstsq``) take rank-deficient blocks: LAPACK's
    ``gelsy`` on the CPU and the pseudo-inverse (the CUDA path) give the same minimum-norm
    solution, and on a GPU, when there is one, the same again."""
    import torch

    g = torch.Generator().manual_seed(3)
    B = torch.randn(6, 4, 4, dtype=torch.float64, generator=g)
    B[2, :, 3] = B[2, :, 0]  # rank 3
    B[4] = 0.0  # rank 0
    b = torch.randn(6, 4, 1, dtype=torch.float64, generator=g)
    x = barrier._lstsq(B, b)
    assert torch.allclose(x, torch.linalg.pinv(B) @ b, atol=1e-10)
    assert float(x[4].abs().max()) == 0.0
    # the normal equations hold for every block, the singular ones included
    assert float((B.mT @ (B @ x - b)).abs().max()) <= 1e-10
    if torch.cuda.is_available():
        xc = barrier._lstsq(B.cuda(), b.cuda()).cpu()
        assert torch.allclose(xc, x, atol=1e-10)


def _large_squared_row():
    """The grid's ``n = 50,000`` squared cone shape at a small relative beta (only ordered
    in these tests, never solved)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50_000, 10))
    y = np.maximum(X @ rng.standard_normal(10), 0.0) + 0.1 * rng.standard_normal(50_000)
    return TwoLayerReLU(X, y, beta=4.0, bias=False).lift(patterns=500, program="cone", seed=0)


def _pretend_gpu(monkeypatch, speed: float = 500.0) -> list:
    """torch sees CUDA, and ``device_speedup`` answers ``speed`` there without measuring;
    returns the list of device types it was asked about."""
    import torch

    asked: list = []

    def speedup(device):
        asked.append(device.type)
        return 1.0 if device.type == "cpu" else speed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(barrier, "device_speedup", speedup)
    return asked


def test_auto_limits_scale_with_the_default_device(monkeypatch):
    """Where the solvers would default to a GPU (pretended: torch sees CUDA, and the device's
    speed is given, so nothing touches CUDA), ``auto`` offers ``barrier`` on steps up to
    ``speedup`` times larger: the ``n = 50,000`` squared row, beyond BARRIER_WORK on the CPU,
    then gets ``barrier`` first at its small relative beta. On the CPU nothing is measured."""
    import torch

    from lift.solvers import solver_order

    assert barrier.device_speedup(torch.device("cpu")) == 1.0
    lifted = _large_squared_row()
    assert lifted.relative_beta() < type(lifted).BARRIER_FIRST
    work = barrier.step_work(50_000, 500, 10)
    assert barrier.BARRIER_WORK < work <= 100 * barrier.BARRIER_WORK
    assert "barrier" not in solver_order(lifted)[:2]
    asked = _pretend_gpu(monkeypatch)
    assert solver_order(lifted)[0] == "barrier" and asked == ["cuda"]
    _pretend_gpu(monkeypatch, speed=1.0)  # a GPU no faster than the CPU
    assert solver_order(lifted)[0] != "barrier"


def test_auto_orders_for_the_device_it_is_given(monkeypatch):
    """``solve(solver="auto", device="cpu")`` on a machine with a GPU (pretended) orders the
    solvers for the CPU it will run on: the ``n = 50,000`` squared row, whose barrier step
    is beyond the CPU's limit, does not get ``barrier`` first, and the speed of the GPU is
    never asked for. Without the option the order is the GPU's."""
    import lift.solvers as solvers_module

    lifted = _large_squared_row()
    asked = _pretend_gpu(monkeypatch)
    orders = []

    def first_only(lifted, candidate, tol, verbose, warm, **options):  # records, solves nothing
        orders.append(candidate)
        raise RuntimeError("stop here")

    monkeypatch.setattr(solvers_module, "run_solver", first_only)
    for options, first, device in [({"device": "cpu"}, "ssnal", "cpu"), ({}, "barrier", "cuda")]:
        asked.clear()
        with pytest.raises(RuntimeError, match="stop here"):
            lifted.solve(solver="auto", **options)
        assert orders[-1] == first and asked == [device]
    # outside auto, the default is back to the (pretended) GPU for a product this large
    assert solvers_module.resolve_device(None, work=1e9).type == "cuda"


def _reduction_program(loss: str, beta: float):
    """``n = 300, d = 4, P = 50`` without bias: 30,000 cone rows, of which the barrier keeps
    about 2,000."""
    X, y = _teacher(300, 4, seed=1, loss=loss)
    return TwoLayerReLU(X, y, beta=beta, loss=loss, bias=False).lift(
        patterns=50, program="cone", seed=0)


@pytest.mark.parametrize("loss,beta", [("logistic", 1e-3), ("squared", 0.01)])
def test_constraint_reduction_keeps_the_cones_and_the_certificate(loss, beta):
    """The barrier on the rows of smallest slack of each cone (``cone_rows``): the iterates
    stay strictly inside the whole cones (the step to the boundary is over every row), the
    multipliers of the certificate check independently, the optimum is the one with every
    row in the barrier, and it takes fewer Newton steps (24 against 31 with the logistic
    loss, 15 against 26 with the squared loss; 34 against 47 and 19 against 32 before the
    centrality correctors; about 2,000 of the 30,000 rows kept)."""
    lifted = _reduction_program(loss, beta)
    full = lifted.solve(solver="barrier", cone_rows=0, polish=False)
    sol = lifted.solve(solver="barrier", polish=False)
    for s in (full, sol):
        _check(lifted, s, full, rel=2e-6)
    n, P, d = 300, lifted.P, 4
    assert full.info["cone_rows"] == n * 2 * P  # every row of every signed group
    assert 2 * P * barrier.ROWS_PER_DIMENSION * d <= sol.info["cone_rows"] < n * 2 * P / 4
    assert sol.info["newton_steps"] <= 0.85 * full.info["newton_steps"]
    ws = sol.info["warm_start"]
    assert _cone_violation(lifted, ws["V"], ws["W"]) == 0.0  # no row of any cone violated
    with pytest.raises(TypeError, match="cone_rows"):
        lifted.solve(solver="barrier", cone_rows=2.5)
    with pytest.raises(ValueError, match="cone_rows"):
        lifted.solve(solver="barrier", cone_rows=-1)


@pytest.mark.parametrize("loss,beta", [("logistic", 1e-3), ("squared", 0.01)])
def test_centrality_correctors_keep_the_newton_equations_and_shorten_the_solve(
        monkeypatch, loss, beta):
    """Gondzio's correctors change only the complementarity target of a step: each corrected
    direction still solves the linearized stationarity equation ``grad^2 F du - K^T dmu = -(grad
    F - K^T mu)`` (recomputed here from the loss' and the norms' second derivatives), its step
    to the boundary is no shorter, and together with the lower floor on ``sigma`` the solve
    takes fewer steps than the plain predictor-corrector with the old floor."""
    import torch

    lifted = _reduction_program(loss, beta)
    residuals = []
    plain_correct, plain_system = barrier._Barrier._correct, barrier._Barrier.newton_system

    def linearized(state, du, mu, dmu):
        """``grad^2 F du - K^T dmu + grad F - K^T mu`` relative to its largest term."""
        s, U, z = state.s, state.at[0], state.at[1]
        un = U.norm(dim=1)[:, None]
        uh = U / un
        hess = state.adjoint(s.loss.torch_hess(z, s.y) * state.forward(du)) \
            + s.beta / un * (du - (du * uh).sum(1, keepdim=True) * uh)
        grad = state.objective_gradient(U, z)
        terms = (hess, state.rows.adjoint(dmu), grad, state.rows.adjoint(mu))
        return float((terms[0] - terms[1] + terms[2] - terms[3]).norm()) / max(
            float(x.norm()) for x in terms)

    def correct(self, solve, inv, slk, mu, du, dsk, dmu, aim, t):
        before = min(self.boundary(du, inv), self.to_boundary(mu, dmu))
        plain = linearized(self, du, mu, dmu)
        out = plain_correct(self, solve, inv, slk, mu, du, dsk, dmu, aim, t)
        assert out[3] >= before
        assert torch.allclose(out[1], self.rows.slacks(out[0]))  # the kept rows' slacks
        residuals.append((plain, linearized(self, out[0], mu, out[2])))
        return out

    def system(self, U, z, t, blocks):
        self.at = U, z
        return plain_system(self, U, z, t, blocks)

    monkeypatch.setattr(barrier._Barrier, "_correct", correct)
    monkeypatch.setattr(barrier._Barrier, "newton_system", system)
    sol = lifted.solve(solver="barrier", polish=False)
    assert sol.info["corrections"] > 0 and len(residuals) == sol.info["newton_steps"]
    for plain, corrected in residuals:
        assert corrected <= max(10 * plain, 1e-9), residuals
    monkeypatch.setattr(barrier._Barrier, "_correct", plain_correct)
    monkeypatch.setattr(barrier, "CORRECTORS", 0)
    monkeypatch.setattr(barrier, "BALANCE", 0.1)
    old = lifted.solve(solver="barrier", polish=False)
    assert old.info["corrections"] == 0
    for s in (sol, old):
        _check(lifted, s, old, rel=2e-6)
    # 24 against 34 steps with the logistic loss, 15 against 19 with the squared loss
    assert sol.info["newton_steps"] <= 0.85 * old.info["newton_steps"], (
        sol.info["newton_steps"], old.info["newton_steps"])


@pytest.mark.parametrize("keep", [3, 0])
def test_kept_rows_products_match_the_dense_cone_rows(keep):
    """The ``2 P x m`` layout of the rows in the barrier (``_Rows``) against the ``n x 2 P``
    arrays it replaces: slacks, ``K^T v``, the blocks ``K_g^T diag(w_g) K_g``, the multipliers
    made dense, rows added (central, the others' multipliers unchanged), and where a row sits;
    ``keep = 0``: every row (nothing gathered)."""
    import torch

    X, y = _teacher(50, 3, seed=3)
    lifted = TwoLayerReLU(X, y, beta=0.2).lift(patterns=6, program="cone", seed=0)
    s, st = _state(lifted, "covariance")
    P, d = s.op.P, s.op.d
    n = st.Xc.shape[0]
    gen = torch.Generator().manual_seed(5)
    H = barrier._interior_directions(lifted, st.live, st.Xc, st.S2[:, :P])
    U = torch.cat([H, 0.5 * H])
    sl = st.slacks(U)
    rows = barrier._Rows(st.Xc, st.S2, sl, keep or n)
    assert rows.dense == (keep == 0)
    if not rows.dense:  # each cone's `keep` rows of smallest slack
        assert rows.count == 2 * P * keep
        np.testing.assert_array_equal(torch.sort(rows.where, 1).values,
                                      torch.sort(torch.topk(sl, keep, 0, largest=False)
                                                 .indices.T, 1).values)
        # the next two rows of each cone join, central at the mean complementarity
        sl2 = sl
        mu = torch.rand(rows.on.shape, dtype=U.dtype, generator=gen) * rows.on
        before = barrier._Rows.scatter(mu, rows.where, n)
        eta = float((mu * rows.take(sl2)).sum()) / rows.count
        J = torch.topk(sl2, keep + 2, 0, largest=False).indices
        mu2 = rows.add(J, sl2, mu)
        after = barrier._Rows.scatter(mu2, rows.where, n)
        new = (before == 0) & (after > 0)
        assert bool((after[before > 0] == before[before > 0]).all())
        assert torch.allclose(after[new] * sl2[new], torch.full_like(after[new], eta))
        assert bool(rows.member.gather(0, J).all()) and rows.count == float(rows.member.sum())
        assert int(new.sum()) == 2 * 2 * P and rows.on.shape[1] == keep + 2
        sl = sl2
    mask = barrier._Rows.scatter(rows.on, rows.where, n)  # 1 on the kept rows, n x 2P
    assert bool((mask == (rows.member if not rows.dense else torch.ones_like(mask))).all())
    du = torch.randn(2 * P, d, dtype=U.dtype, generator=gen)
    v = torch.rand(rows.on.shape, dtype=U.dtype, generator=gen) * rows.on
    w = torch.rand(rows.on.shape, dtype=U.dtype, generator=gen) * rows.on
    V, W = barrier._Rows.scatter(v, rows.where, n), barrier._Rows.scatter(w, rows.where, n)
    dense_slacks = st.slacks(du)
    assert torch.allclose(barrier._Rows.scatter(rows.slacks(du), rows.where, n),
                          dense_slacks * mask)
    assert torch.allclose(rows.take(sl) * rows.on, rows.take(sl * mask))
    assert torch.allclose(rows.adjoint(v), (st.S2 * V).T @ st.Xc)
    for g in range(2 * P):
        Kg = st.S2[:, g, None] * st.Xc
        assert torch.allclose(rows.blocks(w)[g], Kg.T @ (W[:, g, None] * Kg))
    J = torch.topk(sl, min(d, keep or d), 0, largest=False).indices
    at = rows.locate(J)
    assert bool((torch.gather(rows.where, 1, at) == J.T).all()) if not rows.dense else \
        bool((at == J.T).all())


def test_negligible_samples_leave_the_factorization(monkeypatch):
    """On a separable logistic program at small ``beta`` the predictions grow large and the
    loss' second derivatives vanish: the samples of negligible weight leave the Newton
    matrix' factorization (171 of 300 stay, at the last steps), and the steps and the
    certified optimum are those of the solve that factors every sample."""
    X, y = _teacher(300, 4, seed=1, loss="logistic")
    lifted = TwoLayerReLU(X, y, beta=1e-5, loss="logistic", bias=False).lift(
        patterns=50, program="cone", seed=0)
    sol = lifted.solve(solver="barrier", polish=False)
    monkeypatch.setattr(barrier, "SAMPLES_WORTH", 0.0)  # never worth it: every sample
    full = lifted.solve(solver="barrier", polish=False)
    assert full.info["fewest_samples"] == 300 and sol.info["fewest_samples"] < 0.6 * 300
    assert abs(sol.info["newton_steps"] - full.info["newton_steps"]) <= 1
    for s in (sol, full):
        _check(lifted, s, full, rel=2e-6)
