r"""The specialised solvers of the ReLU lifts, built from the generic toolbox of
:mod:`lift.solvers`, and their registration (``"fista"``, ``"al"``, ``"active_set"``,
``"ssnal"``, ``"barrier"``).

``"fista"`` — :class:`GatedFISTA`, the gated program (group lasso over the patterns)

.. math::

    \min_{U} \; L\Big(\sum_i D_i \tilde X u_i,\; y\Big) + \beta \sum_i \|u_i\|_2,

by :class:`~lift.solvers.proxgrad.ProximalGradient` (FISTA, backtracking with step growth,
adaptive restarts) with the group-lasso prox, polished by Newton steps on the active patterns
where they are cheap (:class:`~lift.problems.relu.operators.NewtonPolish`). The certificate
rescales a loss gradient into the dual constraints, which costs a gap of the order of the
square root of the primal error; its dual candidates therefore also include the gradient moved
by one Newton step onto the constraints of the active patterns
(:class:`~lift.solvers.group_lasso.ActiveDualStep`), whose gap is of the order of the primal
error itself: on dense optima, half the iterations to a certified 1e-6. On large programs the
iterations run in float32 (the products are memory-bound, so about three times cheaper) and
every 30th iterate is evaluated in float64 for the certificate, which stays exact.

``"al"`` — :class:`ConeAugmentedLagrangian`, the cone-constrained ReLU program

.. math::

    \min_{V, W} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
    + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad \text{s.t.} \quad (2D_i - I)\tilde X v_i \ge 0,\; (2D_i - I)\tilde X w_i \ge 0,

by :class:`~lift.solvers.augmented_lagrangian.MethodOfMultipliers` with FISTA inner solves
(every operation stays a product with ``Xa``, ``D`` or their transposes; the inner gradient
*is* the dual certificate: its rows are ``Xa^T (D_i lambda - (2D_i - I) mu_i)``).

``"active_set"`` — :class:`GatedWorkingSet` and :class:`ConeWorkingSet` (squared loss), the
:class:`~lift.solvers.working_set.WorkingSet` scheme: restricted programs on a Gram matrix
(:func:`~lift.solvers.group_lasso.group_lasso_gram`) or matrix-free, and for the cone program
cutting planes on the cone constraints (:func:`~lift.problems.relu.operators.cutting_planes`)
with signed patterns priced by nonnegative least squares over the cone multipliers. On large
gated programs the working set starts with float32 FISTA and is formed only if FISTA's nonzero
groups settle on a sparse support; it hands over to full FISTA (same certificate) when its
sets turn dense or its gap stalls; FISTA stops early, saying so, when its certified gap's
rate cannot reach the tolerance within its budget, so that ``solver="auto"`` moves on.

``"ssnal"`` — :class:`~lift.problems.relu.ssnal.SSNAL`, a semismooth Newton augmented
Lagrangian for both programs (squared or logistic loss), for small ``beta`` and dense,
nearly interpolating optima; ``solver="auto"`` tries it first on the cone program. With
``handover=True`` (what ``solver="auto"`` passes) the gated
``fista`` and ``active_set`` stop, stalled, once their certified gap's recent rate predicts
more seconds than ``ssnal`` is predicted to need
(:func:`~lift.problems.relu.ssnal.predicted_seconds`), and ``auto`` moves on to it.

``"barrier"`` — :class:`~lift.problems.relu.barrier.ConeBarrier`, a primal-dual interior-point
method for the cone program (squared or logistic loss): Newton steps that factor an ``n x
n`` or a ``P d x P d`` matrix (the cheaper), whatever ``beta``, for the very small ``beta``
where ``ssnal`` and projected FISTA stall; ``solver="auto"`` tries it after ``ssnal`` where a
step is cheap enough.

All stop on a **certified relative duality gap** (:class:`~lift.solvers.monitor.GapMonitor`):
the primal value is the objective of the ReLU (or gated) network recovered from the current
iterate, the dual value ``-L^*(t lambda)`` with ``lambda`` a loss gradient and ``t`` the
largest scaling that makes it dual feasible.

References
----------
A. Mishkin, A. Sahiner and M. Pilanci. Fast convex optimization for two-layer ReLU networks:
equivalent model classes and cone decompositions. ICML 2022.
M. Massias, A. Gramfort and J. Salmon. Celer: a fast solver for the lasso with dual
extrapolation. ICML 2018.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lift.base import SolverResult
from lift.errors import ConvergenceWarning, check_int
from lift.problems.relu.operators import (
    ConeNewtonPolish,
    ConeOracle,
    GatedOracle,
    GramCache,
    NewtonPolish,
    PatternOperator,
    Pricer,
    cutting_planes,
    feasible_point,
)
from lift.solvers import register_solver, resolve_device
from lift.solvers.augmented_lagrangian import MethodOfMultipliers
from lift.solvers.group_lasso import ActiveDualStep, LowRankGroupMetric, group_lasso_gram
from lift.solvers.linalg import top_eigenspace, torch_dtype, torch_threads
from lift.solvers.monitor import GapMonitor, finish_result, gap_message, parse_options
from lift.solvers.prox import group_norms, prox_group_lasso
from lift.solvers.proxgrad import Point, ProxGradState, ProximalGradient
from lift.solvers.working_set import Priced, WorkingSet

__all__ = ["GatedFISTA", "ConeAugmentedLagrangian", "GatedWorkingSet", "ConeWorkingSet"]

#: below this many multiply-adds per product (n P d), the solvers run on one thread
SMALL_WORK = 200_000_000
#: from this many multiply-adds per product (n P d) on, FISTA iterates in float32 (below it,
#: Python overhead, not the products, sets the cost of an iteration) ...
MIXED_WORK = 5_000_000
#: ... certified in float64 every MIXED_EVERY iterations, until the certified gap has not
#: halved in MIXED_WINDOW iterations
MIXED_EVERY = 30
MIXED_WINDOW = 240
#: ... unless the certified upper bound still fell by this fraction of itself in that window:
#: the gap also stalls where the lower bound lags (at a dense optimum it moves only with the
#: certificate's dual steps), and the float32 iterates gain as much a step as float64 ones
#: until their rounding floor. The grid's dense ``n = 10,000, P = 2,000`` gated rows stopped
#: their float32 iterations at a gap of 1e-2 (squared loss) and 0.4 (logistic); now at 1.2e-4
#: and 9e-5, 255 -> 205 s and 250 -> 182 s (with the dual step's share, BENCHMARKS.md); at
#: 1e-6, near their floor (about 4e-6 of the value), 209 and 203 s. Not where the float64
#: phase's Newton polish takes the nonzero groups: on the ``n = 50,000, d = 10, P = 500``
#: logistic row at ``beta = 0.0137`` (5,000 coordinates, the screened polish) the float32
#: iterations went on past 4,500 at a gap of 0.5, where the polish certifies after 2,160
FLOAT32_FALL = 1e-5
#: a settled sparse support stops the float32 iterations for a working set only while the
#: certified gap is above this many times the tolerance: closer, FISTA finishes first (the
#: grid's ``n = 2,000, d = 20`` 10 % row with a bias: at 120 iterations, a gap of 3.3e-6 and 56
#: of 500 groups, the working set took 0.45 s more, FISTA 30 iterations, 0.07 s)
SPARSE_NEAR = 10.0
#: the words of a stall that hands over to ``ssnal`` (:class:`_Stall`)
HANDING_OVER = "handing over to ssnal"
#: FISTA hands over only where its predicted remaining time is at least this times ssnal's
#: prediction: on the issue's row (61 % active) the two were within 12 % of each other, and
#: run to run the hand-over came and went (1.3 s without it, 2.4 s with it)
HANDOVER_MARGIN = 1.5
#: float64 FISTA weighs a hand-over every HANDOVER_EVERY iterations, from its rate over
#: HANDOVER_SPAN iterations ...
HANDOVER_EVERY = 10
HANDOVER_SPAN = 100
#: the float32 iterations weigh a hand-over at each certificate from the rate over this many
#: iterations (two certificates): over MIXED_WINDOW (240), auto spent 1.2-2x ssnal's time
#: on the dense rows before handing over; over 60, 0.4-1.3x, with no hand-over on the rows
#: where FISTA is faster (BENCHMARKS.md)
HANDOVER_SPAN32 = 60
#: FISTA on the whole gated program (``fista``, and ``active_set`` where it runs no working
#: set) keeps the smooth part's METRIC_KEEP largest curvatures exactly from iteration
#: METRIC_AFTER on (:class:`~lift.solvers.group_lasso.LowRankGroupMetric`): with many gates
#: the products ``D_i Xa u_i`` overlap, the Hessian bound ``A^T A`` has a few eigenvalues far
#: above the rest (about ``d``, from the directions that all groups share), and the plain
#: step is held at ``1 / lambda_max``. Its Ritz pairs come from METRIC_ITERS block products
#: with METRIC_BLOCK vectors (:meth:`PatternOperator.gram_block`)
METRIC_AFTER = 60
METRIC_BLOCK = 32
METRIC_KEEP = 24
METRIC_ITERS = 6
#: the smallest curvature the metric assumes, a fraction of the largest (see fit_metric)
METRIC_RATIO_MIN = 1e-6
#: Below the first ``d`` curvatures the spectrum of ``A^T A`` drops again after about
#: ``d (d + 1) / 2`` more (with Gaussian gates, the products that vary linearly with the
#: gate; on the grid's ``n = 2,000, P = 500`` programs the largest ratio of consecutive
#: eigenvalues after the ``d``-th: 3.3 at ``d = 11``, at index 66, and 10 at index 65
#: without the bias, 1.9 to 3.2 at index 230 for ``d = 20``). Where that many pairs are
#: within METRIC_KEEP_MAX and leave METRIC_SAMPLES samples a pair (the metric's products,
#: ``k P d`` each, well below the operator's ``n P d``), the metric keeps them all: on the
#: grid's ``n = 10,000, d = 10, P = 2,000`` dense squared row with a bias, 77 pairs took
#: the first unkept curvature from 5.4e5 to 1.5e4 and ``auto`` from 68.7 s (1,680
#: iterations) to 44.0 s (730) (BENCHMARKS.md). Partial groups gained nothing (``n =
#: 2,000, d = 20``: 66 or 120 pairs, slower than 24). Where the second group does not fit
#: and ``d`` exceeds METRIC_KEEP, the first group is kept whole (``d`` pairs): at ``d = 51``
#: 24 pairs left half of it, and the grid's dense ``d = 50, P = 500`` gated rows took 1.2-3x
#: the time (``n = 2,000``, bias, ``beta = 0.14``: ``fista`` 38.8 s, 5,250 iterations,
#: against 12.6 s, 1,860; ``n = 10,000``, ``beta = 0.956``: ``auto`` 77.2 against 62.3 s)
METRIC_KEEP_MAX = 256
METRIC_SAMPLES = 25
#: The fit's ``METRIC_ITERS + 1`` block products cost about ``3.5`` FISTA iterations a block
#: vector. For the larger blocks: METRIC_ITERS_LARGE products, on the rows of a random sample
#: ``S`` (``A_S^T A_S n / |S|``) of METRIC_ROWS_PER_PAIR rows a block vector and half the
#: coordinates ``P d`` (METRIC_ROWS_MIN at least): the metric needs the shape of the leading
#: curvatures, not their exact values (the line search scales it). On the grid's ``n =
#: 10,000, d = 20, P = 500`` logistic row (230 pairs) ``auto`` took 19.8 s with 6 products
#: on every row, 14.0 s with 3, 12.6 s with 6 on 2,000 rows, and 15.0 s with 24 pairs; on
#: the ``d = 10, P = 2,000`` row above 2,000 rows (fewer than ``P d``) misjudged the
#: curvatures (the first unkept 2.8e4 instead of 1.4e4) and FISTA needed twice the
#: iterations (79 s), while 3 products on every row took 44.8 s
METRIC_ITERS_LARGE = 3
METRIC_ROWS_PER_PAIR = 10
METRIC_ROWS_MIN = 2_000

#: the gated working set's passes hand over to ``ssnal`` once they have taken this many times
#: ``ssnal``'s predicted time on the whole program (a rent-or-buy rule: the passes' progress
#: is too uneven to extrapolate). On raw breast cancer (logistic, 32 patterns) the
#: restricted solves took 1.2 s to a certified 0.5, where ``ssnal`` needs 0.4 s (BENCHMARKS.md)
HANDOVER_RENT = 2.0
#: ... and while FISTA's certified gap is above HANDOVER_TRUSTED_GAP, its rate-based
#: hand-over waits until the solve has taken HANDOVER_MIN_RENT times ``ssnal``'s predicted
#: time: rates early in a run misjudge it. On the grid's ``n = 2,000, d = 20`` 40 % row with
#: a bias, after 90 float32 iterations (a certified 0.24) the rate predicted 7-8 s more
#: against 3.6 s for ``ssnal``; FISTA certified in 540 iterations, 1.9 s, and ``ssnal`` took
#: 4.5-6.3 s. The dense rows where the hand-over pays had spent 0.4-1.3 times ``ssnal``'s
#: time before it (BENCHMARKS.md). Below that gap the rate is trusted at once: on the
#: ``n = 2,000`` logistic rows the hand-over comes at 5e-5 to 9e-5, where ``ssnal`` finishes
#: in a few Newton steps, and waiting for the rent there doubled ``auto``'s time (the
#: prediction, for a start from zero, is several times what it takes warm)
HANDOVER_MIN_RENT = 0.5
HANDOVER_TRUSTED_GAP = 1e-2


def metric_pairs(n: int, P: int, d: int) -> tuple[int, int]:
    """``(kept Ritz pairs, block size)`` of FISTA's metric on a program of ``n`` samples,
    ``P`` patterns and ``d`` columns (see :data:`METRIC_KEEP_MAX`)."""
    # both groups of large curvatures, else the first group whole (see METRIC_KEEP_MAX)
    for keep in (d + d * (d + 1) // 2, d):
        if METRIC_KEEP < keep <= min(METRIC_KEEP_MAX, n // METRIC_SAMPLES) and (
                4 * keep <= P * d):
            return keep, keep + max(8, keep // 5)
    return METRIC_KEEP, METRIC_BLOCK


# --------------------------------------------------------------------------------------------
# Shared set-up
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Setup:
    """The operator, the loss, its targets (tensor), beta and the monitor of one solve."""

    op: PatternOperator
    loss: Any
    y: torch.Tensor
    beta: float
    monitor: GapMonitor
    #: seconds that ``ssnal`` is predicted to need on this program, given the number of
    #: nonzero groups (None: no hand-over): a first-order method whose own predicted
    #: remaining time exceeds it stops (``handover=True``; see :class:`_Stall`), so that
    #: ``solver="auto"`` moves on to it
    handover: Callable[[int], float] | None = None
    #: whether a first-order phase stopped to hand over to ``ssnal``
    handed_over: bool = False
    #: the solve's start (``time.perf_counter``): see :data:`HANDOVER_MIN_RENT`
    started: float = dataclasses.field(default_factory=time.perf_counter)
    #: FISTA's metric on the whole program (:data:`METRIC_AFTER`), shared by its float32 and
    #: float64 phases; None: the plain step
    metric: LowRankGroupMetric | None = None
    metric_info: dict | None = None

    def use_metric(self, on: bool) -> None:
        """Give FISTA on the whole program a low-rank metric (:data:`METRIC_AFTER`), where
        ``on`` and the program has enough coordinates for it to matter."""
        op = self.op
        if on and op.P * op.d >= 4 * METRIC_BLOCK:
            self.metric = LowRankGroupMetric(self.beta)

    def metric_for(self, op: PatternOperator) -> LowRankGroupMetric | None:
        """The metric for FISTA over ``op`` (None unless ``op`` is the whole program, in this
        operator's precision or another)."""
        if self.metric is None or (op.P, op.n) != (self.op.P, self.op.n):
            return None
        return self.metric.to(op.dtype)

    def fit_metric(self, k: int, op: PatternOperator, metric: LowRankGroupMetric | None
                   ) -> None:
        """At FISTA's iteration ``k`` over ``op``: fit ``metric`` (and the shared one) from
        the Ritz pairs of ``A^T A`` times the loss' curvature, once, at :data:`METRIC_AFTER`."""
        if metric is None or metric.ready or k < METRIC_AFTER:
            return
        gen = torch.Generator(device="cpu").manual_seed(1)
        keep, block = metric_pairs(op.n, op.P, op.d)
        V0 = torch.randn(block, op.P, op.d, generator=gen, dtype=op.dtype).to(op.device)
        sub, iters = op, METRIC_ITERS
        if block > METRIC_BLOCK:
            iters = METRIC_ITERS_LARGE
            rows = max(METRIC_ROWS_MIN, METRIC_ROWS_PER_PAIR * block, op.P * op.d // 2)
            if rows < op.n:
                sub = op.rows(torch.randperm(op.n, generator=gen)[:rows].to(op.device))
        curvature = self.loss.curvature * op.n / sub.n
        Q, theta = top_eigenspace(lambda V: curvature * sub.gram_block(V), V0, iters)
        keep = min(keep, theta.numel() - 1)
        # the first curvature not kept, floored at METRIC_RATIO_MIN of the largest: where A^T
        # A has no more (rank below the kept count, as on tiny programs) the Ritz values
        # past the rank are rounding, and a metric as ill-conditioned as they are leaves its
        # prox's root solve at rounding level (FISTA then stalls at a large gap)
        rest = max(float(theta[keep]), METRIC_RATIO_MIN * max(float(theta[0]), 1e-300))
        metric.set(Q[:keep], theta[:keep], rest)
        if self.metric is not None and not self.metric.ready:
            self.metric.set(metric.Q.to(self.op.dtype), metric.theta, rest)
            # what the metric gains: the step may grow from 1 / theta_1 to about
            # 1 / theta_{k+1} (the first curvature it does not keep)
            self.metric_info = {"kept": keep, "largest": float(theta[0]), "next": rest,
                                "iteration": k}

    def predicted(self, stall: _Stall, groups: int) -> None:
        """Give ``stall`` ``ssnal``'s prediction on ``groups`` nonzero groups, and the clock
        time before which it may not hand over by its rate at a large gap
        (:data:`HANDOVER_MIN_RENT`)."""
        stall.handover = self.handover(groups)
        stall.rent_until = self.started + HANDOVER_MIN_RENT * stall.handover

    def group_lasso(self) -> tuple[Any, Any]:
        """``(prox, penalty)`` of ``beta sum_i ||u_i||``."""
        beta = self.beta
        return (lambda x, s: prox_group_lasso(x, beta, s),
                lambda x: beta * float(group_norms(x).sum()))

    def newton_dual(self, refine: ActiveDualStep, k: int, op: Any, lam: torch.Tensor,
                    C: torch.Tensor, U: torch.Tensor, z: torch.Tensor, cost: float,
                    stall_window: int = 0) -> tuple[torch.Tensor, float] | None:
        """``refine``'s dual step at iteration ``k`` from the loss gradient ``lam`` (dual rows
        ``C``) onto the constraints of the nonzero groups of ``U``, in the metric of the loss'
        second derivatives at the predictions ``z`` (none for the squared loss): None, or the
        new candidate and its largest dual-constraint norm. ``stall_window``: the caller's
        stall rule checks the gap every that many iterations; before each check a step is
        taken at once if none was in the window (``within`` of :meth:`ActiveDualStep.due`)."""
        within = stall_window if stall_window > 0 and k % stall_window == 0 else 0
        if not refine.due(k, within):
            return None
        weights = None if self.loss.name == "squared" else self.loss.torch_hess(z, self.y)
        return refine(k, op, lam, C, U, self.beta, cost, weights, within)

    def warm_point(self, warm_start: dict | None, cone: bool) -> torch.Tensor:
        """``V`` (gated) or ``[V; W]`` (cone) from a warm start, else zeros."""
        ws = warm_start or {}
        return torch.cat([self._warm(ws.get(k), f"warm_start['{k}']")
                          for k in (("V", "W") if cone else ("V",))])

    def _warm(self, U0: Any, name: str) -> torch.Tensor:
        op = self.op
        shape = (op.P, op.d)
        if U0 is None:
            return torch.zeros(shape, dtype=op.dtype, device=op.device)
        U = torch.as_tensor(np.asarray(U0, dtype=np.float64), dtype=op.dtype, device=op.device)
        if tuple(U.shape) != shape:
            raise ValueError(f"`{name}` must have shape {shape} (patterns x (d + bias)), "
                             f"got {tuple(U.shape)}.")
        return U.clone()

    def first_step(self, op: PatternOperator | None = None) -> float:
        return 1.0 / (self.loss.curvature * (op or self.op).lipschitz())


def _numpy(U: torch.Tensor) -> np.ndarray:
    return U.detach().cpu().numpy().astype(np.float64)


def _objective(s: _Setup, primal: dict) -> float:
    """The program's objective at ``primal`` (``V``, and ``W`` on the cone program)."""
    op = s.op
    V = torch.as_tensor(primal["V"], dtype=op.dtype, device=op.device)
    W = primal.get("W")
    norms = float(group_norms(V).sum())
    if W is not None:
        W = torch.as_tensor(W, dtype=op.dtype, device=op.device)
        V, norms = V - W, norms + float(group_norms(W).sum())
    return float(s.loss.torch(op.forward(V), s.y)) + s.beta * norms


def _result(s: _Setup, name: str, iterations: int, message: str, primal: dict,
            info: dict) -> SolverResult:
    """The status epilogue with the ReLU warm start ``{V, W[, mu, nu]}``; ``info`` gains the
    device, whether a first-order phase handed over to ``ssnal`` and FISTA's metric, where it
    fitted one (``"metric"``, see :data:`METRIC_AFTER`). A point whose objective
    is above that of the zero network (a solve stopped early, e.g. by its time limit, after
    a first step that overshot) is replaced by it: zero is feasible for both programs."""
    info.update(device=str(s.op.device), handed_over=s.handed_over)
    if s.metric_info is not None:
        info["metric"] = s.metric_info
    F0 = float(s.loss.torch(torch.zeros_like(s.y), s.y))
    if _objective(s, primal) > F0 * (1 + 1e-12):
        primal = dict(primal, V=np.zeros_like(primal["V"]),
                      W=None if primal.get("W") is None else np.zeros_like(primal["W"]))
        s.monitor.record(iterations, F0)
        info["zero_network"] = True
        message += f"; its last point was worse than the zero network ({F0:.6g}): returned that"
    warm = {"V": primal["V"], "W": primal.get("W")}
    if primal.get("multipliers") is not None:
        warm["mu"], warm["nu"] = primal["multipliers"]
    return finish_result(s.monitor, name, iterations, message, primal, info, warm)


@dataclasses.dataclass
class _TorchSolver:
    """Settings shared by the torch solvers (documented on each) and their ``run``."""

    device: Any = None
    dtype: Any = "float64"
    growth: float = 1.25
    shrink: float = 0.5
    threads: int | None = None

    def run(self, lifted, tol: float = 1e-6, verbose: bool = False,
            warm_start: dict | None = None) -> SolverResult:
        """Solve ``lifted``; returns the registry's :class:`~lift.base.SolverResult`."""
        if self.device is None:  # CUDA only where the products are large enough to gain
            device = resolve_device(None, work=self._threads_work(lifted))
            return dataclasses.replace(self, device=device).run(lifted, tol, verbose,
                                                                 warm_start)
        if self.threads is not None:
            k = check_int(self.threads, "threads", minimum=1)
        else:
            k = 1 if self._threads_work(lifted) < SMALL_WORK else None
        handover = self._handover_seconds(lifted)  # measured with torch's own threads
        with torch_threads(k):
            s = self._setup(lifted, tol, verbose)
            s.handover = handover
            return self._run(lifted, s, warm_start)

    def _no_step_settings(self, instead: str) -> None:
        """Refuse ``growth``/``shrink`` (step settings of the first-order solvers) on a solver
        that has none; ``instead`` says what it has."""
        if (self.growth, self.shrink) != (_TorchSolver.growth, _TorchSolver.shrink):
            raise TypeError("`growth` and `shrink` are step settings of the first-order "
                            f"solvers; {instead}.")

    def _handover_seconds(self, lifted) -> Callable[[int], float] | None:
        """``_Setup.handover`` of a solve: None, unless the solver has ``handover`` set
        (``solver="auto"`` does), then ``ssnal``'s cost model."""
        if not getattr(self, "handover", False):
            return None
        from lift.problems.relu import ssnal

        return ssnal.cost_model(lifted, resolve_device(self.device), torch_dtype(self.dtype))

    def _threads_work(self, lifted) -> float:
        """Multiply-adds of the solver's typical product (one thread below ``SMALL_WORK``)."""
        n, d = lifted.problem.Xa.shape
        return float(n) * lifted.P * d

    def _setup(self, lifted, tol: float, verbose: bool) -> _Setup:
        prob = lifted.problem
        op = PatternOperator(prob.Xa, lifted.D, device=self.device, dtype=torch_dtype(self.dtype))
        y = torch.as_tensor(prob.y, dtype=op.dtype, device=op.device)
        monitor = GapMonitor(prob.loss, np.asarray(prob.y, dtype=np.float64), prob.beta, tol,
                             verbose)
        return _Setup(op, prob.loss, y, prob.beta, monitor)

    def _fista(self, max_iters: int, **kw: Any) -> ProximalGradient:
        slack = 1e-13
        return ProximalGradient(max_iters=max_iters, growth=self.growth, shrink=self.shrink,
                                slack=slack, **kw)

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        raise NotImplementedError


@dataclasses.dataclass
class _Stall:
    """Stops an iteration whose certified gap, at its recent rate, cannot reach the tolerance
    within a few times the iterations it has left.

    Every ``window`` iterations (once two windows have passed) the rate
    ``r = log(gap_{k - j window} / gap_k) / (j window)``, the best over the last ``j = 1, 2,
    3`` windows (progress on ill-conditioned programs comes in plateaus and drops, so one
    window's rate can be a plateau's), predicts ``log(gap_k / tol) / r`` more iterations;
    above ``factor`` times the budget left, or with a last-window rate below ``min_rate``,
    the run is stalled. ``window=0`` never stalls.

    With ``handover`` (seconds), every ``every`` iterations the same prediction over spans of
    ``span`` iterations, at the last span's wall-clock time per iteration, is also weighed
    against it: when the iterations would take longer, the run stops (``handed``), so that a
    solver predicted to need ``handover`` seconds can take over early."""

    window: int
    budget: int
    tol: float
    factor: float = 3.0
    min_rate: float = 0.0
    handover: float = math.inf
    every: int = 0  # 0: window
    span: int = 0  # 0: window
    marks: list = dataclasses.field(default_factory=list)  # (k, gap, seconds)
    reason: str = ""
    handed: bool = False
    #: a clock time (``time.perf_counter``) past which the run hands over at once
    deadline: float = math.inf
    #: ... and one before which it does not hand over by its rate while the certified gap is
    #: above HANDOVER_TRUSTED_GAP
    rent_until: float = 0.0
    #: set by the caller: the iterates still make progress of their own (the stall rule
    #: then waits; the hand-over does not)
    productive: bool = False

    def __call__(self, k: int, gap: float) -> bool:
        if self.deadline < math.inf and time.perf_counter() > self.deadline:
            self.handed = True
            self.reason = f"stalled: {HANDING_OVER}, its time is up (certified gap {gap:.1e})"
            return True
        if self.window <= 0:
            return False
        every = self.every or self.window
        if k % every and k % self.window:
            return False
        self.marks.append((k, gap, time.perf_counter()))
        if not 0 < gap < math.inf:
            return False
        if self.handover < math.inf and self._hand_over(k, gap):
            return True
        if k % self.window or self._back(k, 2 * self.window) is None:
            return False
        rate, last, g0 = self._rate(k, gap, self.window)
        need = math.log(gap / self.tol) / rate if rate > 0 else math.inf
        if (need > self.factor * (self.budget - k) or last < self.min_rate) and not self.productive:
            self.reason = (f"stalled: the certified gap went from {g0:.1e} to {gap:.1e} in the "
                           f"last {self.window} iterations; at its best recent rate "
                           f"{need:.1e} more would be needed, {self.budget - k} are left")
            return True
        return False

    def _back(self, k: int, span: int) -> tuple | None:
        """The latest mark at least ``span`` iterations before ``k``."""
        for mark in reversed(self.marks):
            if mark[0] <= k - span:
                return mark
        return None

    def _rate(self, k: int, gap: float, span: int) -> tuple[float, float, float]:
        """``(the best rate over the last 1-3 spans, the last span's, the gap a span ago)``."""
        k0, g0, _ = self._back(k, span)
        last = math.log(g0 / gap) / (k - k0) if g0 > gap else 0.0
        rate = last
        for j in (2, 3):
            mark = self._back(k, j * span)
            if mark is not None and gap < mark[1] < math.inf:
                rate = max(rate, math.log(mark[1] / gap) / (k - mark[0]))
        return rate, last, g0

    def _hand_over(self, k: int, gap: float) -> bool:
        span = self.span or self.window
        back = self._back(k, span)
        if back is None or (gap > HANDOVER_TRUSTED_GAP and self.marks[-1][2] < self.rent_until):
            return False
        rate, _, _ = self._rate(k, gap, span)
        if rate <= 0:  # no progress at all is the stall rule's to judge
            return False
        seconds = math.log(gap / self.tol) / rate * (self.marks[-1][2] - back[2]) / (k - back[0])
        if seconds <= HANDOVER_MARGIN * self.handover:
            return False
        self.handed = True
        self.reason = (f"stalled: {HANDING_OVER}, as at its best recent rate it would need "
                       f"about {seconds:.1f} s more (certified gap {gap:.1e}), and ssnal is "
                       f"predicted to need {self.handover:.1f} s")
        return True


def _gated_fista(s: _Setup, op: PatternOperator, U0: torch.Tensor, method: ProximalGradient,
                 polish: NewtonPolish | None, stall: int | _Stall = 0, dual_step: int = 10
                 ) -> tuple[Any, str]:
    """FISTA on the gated program over ``op``, stopping on ``s.monitor``'s certified gap (or
    on a stall, see :class:`_Stall`: a window > 0 or the rule itself); the certificate's dual
    candidates are the loss gradients at the extrapolated points and, every ``dual_step``
    iterations or more, their Newton steps onto the constraints of the nonzero groups
    (:class:`~lift.solvers.group_lasso.ActiveDualStep`; 0: none). Returns the method's state
    and the stall's reason (empty if none)."""
    stalled = stall if isinstance(stall, _Stall) else _Stall(
        stall, method.max_iters, s.monitor.tol, every=HANDOVER_EVERY, span=HANDOVER_SPAN)

    best = {"F": math.inf, "x": None}
    refine = ActiveDualStep(dual_step)
    cost = 2.5 * op.n * op.P * op.d  # an iteration: about 1.5 forward and one adjoint product

    def check(k, x, Fx, y, G, step):
        if Fx < best["F"]:  # FISTA is not monotone: keep the point of the best upper bound
            best["F"], best["x"] = Fx, x.x
        lam = y.cache["lam"]
        s.monitor.dual(lam, float(group_norms(G).max()) if G.numel() else 0.0)
        better = s.newton_dual(refine, k, op, lam, G, y.x, y.cache["z"], cost,
                               stall_window=stalled.window)
        if better is not None:
            s.monitor.dual(*better)
        if s.handover is not None and k % HANDOVER_EVERY == 0:
            s.predicted(stalled, int((group_norms(x.x) > 0).sum()))
        stop = s.monitor.record(k, Fx) or stalled(k, s.monitor.rel_gap)
        if not stop:
            s.fit_metric(k, op, metric)
        return stop

    metric = s.metric_for(op)

    prox, penalty = s.group_lasso()
    step = s.first_step(op)
    if method.min_step == 0.0:
        # the power-iteration step is safe up to its estimate's error: backtracking below
        # half of it only chases rounding (float32 near the optimum)
        method = dataclasses.replace(method, min_step=0.5 * step)
    out = method.run(GatedOracle(op, s.loss, s.y), U0, prox, penalty, step, check, polish,
                     metric)
    if best["x"] is not None and out.value is not None and best["F"] < out.value:
        # the monitor's upper bound is the best value seen: return the point that has it
        out = dataclasses.replace(out, point=Point(best["x"]), value=best["F"])
    s.handed_over = s.handed_over or stalled.handed
    return out, stalled.reason


def _gated_float32(s: _Setup, U0: torch.Tensor, method: ProximalGradient, every: int,
                   window: int, dual_step: int, sparse: float = 0.0,
                   polish: NewtonPolish | None = None) -> tuple[torch.Tensor, int, bool, str]:
    """FISTA in float32 on the gated program, certified in float64: every ``every``
    iterations the iterate, in float64, is evaluated (objective, loss gradient, dual
    constraints: one float64 product each way) and offered to ``s.monitor``, with its dual
    step (:class:`~lift.solvers.group_lasso.ActiveDualStep`) once the nonzero groups have
    nearly settled (at most 5 % changed since the previous evaluation), at its share of the
    work and before each stall check. Stops when the certified gap closes, when it has not
    halved in ``window`` iterations while the upper bound has nearly stopped falling (the
    float32 iterates have reached their rounding floor; :data:`FLOAT32_FALL`, unless
    ``polish``, the float64 phase's Newton polish, takes the nonzero groups: then its steps
    are worth more than the float32 iterations) or, with ``sparse`` > 0, when the nonzero
    groups have nearly settled at most ``sparse`` of all (a working set is then cheaper).
    Returns the float64 iterate of the best certified objective, the float32 iterations
    taken, whether it stopped on a sparse support, and the reason of a hand-over to ``ssnal``
    (``s.handover`` on the nonzero groups, see :class:`_Stall`) or "".
    A nonzero ``U0`` (a warm start) is evaluated first, as it is."""
    op = s.op
    op32 = op.astype(torch.float32)
    y32 = s.y.to(torch.float32)
    best = {"F": math.inf, "U": U0, "support": None, "sparse": False, "dense": False}
    refine = ActiveDualStep(dual_step)
    # a float32 iteration: about half the work of a float64 one (see _gated_fista); the dual
    # step's period is counted in iterations, so this is the cost of one, not of the
    # ``every`` iterations between two certificates (which made the step 30 times as
    # frequent as its share allows: 70 % of the float32 phase at 2,000 nonzero groups)
    cost = 1.25 * op.n * op.P * op.d
    halving = _Stall(window, method.max_iters, s.monitor.tol, min_rate=math.log(2) / window,
                     every=every, span=HANDOVER_SPAN32)
    uppers: list[tuple[int, float]] = []  # (iteration, certified upper bound)

    metric = s.metric_for(op32)

    def check(k, x, Fx, y, G, step):
        if k % every:
            # a probe for a sparse support fits the metric only once the nonzero groups
            # have settled at more than a working set takes (on the grid's sparse n =
            # 10,000, P = 2,000 row, 9 % active, FISTA's early iterates are dense: a fit at
            # iteration 60 cost 2.4 s and the solve 10.6 -> 15.8 s)
            if sparse <= 0 or best["dense"]:
                s.fit_metric(k, op32, metric)
            return False
        return evaluate(k, x.x.to(op.dtype))

    def evaluate(k: int, U: torch.Tensor) -> bool:
        """Certify the float64 point ``U``; True to stop."""
        z = op.forward(U)
        norms = group_norms(U)
        F = float(s.loss.torch(z, s.y)) + s.beta * float(norms.sum())
        if F < best["F"]:
            best["F"], best["U"] = F, U
        lam = s.loss.torch_grad(z, s.y)
        C = op.adjoint(lam)
        s.monitor.dual(lam, float(group_norms(C).max()) if C.numel() else 0.0)
        support = norms > 0
        last, m = best["support"], int(support.sum())
        settled = last is not None and int((support ^ last).sum()) <= 0.05 * m + 1
        if settled:
            # the dual step needs the active groups: only once they have (nearly) settled;
            # before a stall check, at once if none was taken in the window
            better = s.newton_dual(refine, k, op, lam, C, U, z, cost, stall_window=window)
            if better is not None:
                s.monitor.dual(*better)
        best["support"] = support
        best["dense"] = best["dense"] or (settled and m > sparse * op.P)
        if s.handover is not None:
            s.predicted(halving, m)
        if s.monitor.record(k, F):
            return True
        # the gap that has not halved is the float32 floor only where the upper bound has
        # stopped falling too: while it still falls by a quarter of the gap, or by
        # FLOAT32_FALL of itself, in a window, the (cheaper) float32 iterations go on (at
        # n = 10,000 with the logistic loss and a tight dual step, they stopped at 720 of the
        # 1,920 they could take)
        uppers.append((k, s.monitor.upper))
        back = [F0 for k0, F0 in uppers if k0 <= k - window]
        fall = back[-1] - s.monitor.upper if back else 0.0
        floor = polish is None or not polish.takes(m * op.d)
        halving.productive = (fall > 0.25 * (s.monitor.upper - s.monitor.best_lower)
                              or (floor and fall > FLOAT32_FALL * abs(s.monitor.upper)))
        best["sparse"] = (settled and m <= sparse * op.P
                          and s.monitor.rel_gap > SPARSE_NEAR * s.monitor.tol)
        return best["sparse"] or halving(k, s.monitor.rel_gap)

    # a warm start is certified as it is (in float32 it would lose its last digits)
    if bool(U0.any()) and evaluate(0, U0):
        return U0, 0, best["sparse"], ""
    prox, penalty = s.group_lasso()
    step = s.first_step(op32)
    # float32 objective values: the line search's test needs a float32 slack, and
    # backtracking below half of the power-iteration step only chases rounding
    method = dataclasses.replace(method, slack=max(method.slack, 1e-6), min_step=0.5 * step,
                                 polish_every=10**9)
    out = method.run(GatedOracle(op32, s.loss, y32), U0.to(torch.float32), prox, penalty,
                     step, check, None, metric)
    s.handed_over = s.handed_over or halving.handed
    return best["U"], out.iterations, best["sparse"], halving.reason if halving.handed else ""


def _mixed_ok(op: PatternOperator) -> bool:
    """Float32 iterations pay off: a float64 operator and products of ``MIXED_WORK`` or more."""
    return op.dtype == torch.float64 and op.n * op.P * op.d >= MIXED_WORK


def _gated_full(s: _Setup, U0: torch.Tensor, method: ProximalGradient, newton: bool,
                stall: int, mixed: bool, dual_step: int) -> tuple[Any, str, int]:
    """FISTA on the whole gated program from ``U0``: first, when ``mixed``, the operator is
    float64 and the program is large (``n P d >= MIXED_WORK``), float32 iterations with a
    float64 certificate (:func:`_gated_float32`); then, unless those closed the gap, float64
    iterations with Newton polish from their best point, stopping on the certified gap of
    ``s.monitor``. Returns the final state, the stall's reason and the number of float32
    iterations."""
    op, k32 = s.op, 0
    polish = (NewtonPolish(op, s.loss, s.y, s.beta, lower=lambda: s.monitor.best_lower)
              if newton else None)
    if mixed and _mixed_ok(op):
        U0, k32, _, handed = _gated_float32(s, U0, method, MIXED_EVERY, MIXED_WINDOW,
                                            dual_step, polish=polish)
        if s.monitor.stopped or handed:
            return ProxGradState(Point(U0), s.monitor.upper, 0, 0.0), handed, k32
        method = dataclasses.replace(method, max_iters=max(1, method.max_iters - k32))
    out, stalled = _gated_fista(s, op, U0, method, polish, stall, dual_step)
    return out, stalled, k32


# --------------------------------------------------------------------------------------------
# "fista"
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class GatedFISTA(_TorchSolver):
    r"""FISTA with line search and restarts for the gated ReLU program.

    .. math::

        \min_{U} \; L\Big(\sum_i D_i \tilde X u_i,\; y\Big) + \beta \sum_i \|u_i\|_2

    Attributes
    ----------
    max_iters : int
        Iteration budget.
    newton : bool
        Every 10 iterations, once the active groups have settled, try Newton steps on them
        (kept only if they lower the objective); see
        :class:`~lift.problems.relu.operators.NewtonPolish`.
    stall : int
        Every ``stall`` iterations, the certified gap's recent rate predicts the iterations
        still needed; when they exceed three times the budget left, the solver stops early
        (status ``max_iters``, the message gives the rate), so that ``solver="auto"`` can move
        on. 0: run to ``max_iters``.
    mixed : bool
        With ``dtype="float64"`` on programs with ``n P d >= MIXED_WORK``, iterate in float32
        (the products are memory-bound: about three times cheaper) and certify in float64:
        every ``MIXED_EVERY`` iterations the iterate is evaluated in float64 (one product each
        way) and offered to the certificate, which is the same as without. When the certified
        gap stops halving (the float32 rounding floor), float64 iterations with Newton polish
        continue from the best point. Default True; False: float64 throughout.
    dual_step : int
        Every ``dual_step`` iterations or more (at most 15 % of the work), the certificate
        also tries the loss gradient moved by one Newton step onto the dual constraints of the
        nonzero groups
        (:class:`~lift.solvers.group_lasso.ActiveDualStep`): the certified gap then tracks the
        primal error instead of its square root. On the issue's dense example it halves the
        iterations to a certified 1e-6 (1,115 to 580). 0: only the loss gradients.
    handover : bool
        Stop (stalled, status ``max_iters``) when the certified gap's recent rate predicts
        more seconds than :mod:`~lift.problems.relu.ssnal` is predicted to need on the whole
        program (:func:`~lift.problems.relu.ssnal.predicted_seconds`), so that
        ``solver="auto"``, which sets it, moves on to ``ssnal`` with this point. Default
        False: a solver asked for by name runs to its tolerance or budget.
    metric : bool
        From iteration ``METRIC_AFTER`` on, step in a metric that keeps the few largest
        curvatures of the smooth part exactly (its Ritz pairs, found once; see
        :data:`METRIC_AFTER`), so that the step is no longer held at ``1 / lambda_max``.
        Default True; False: the plain step.
    device : str or None
        torch device (default: CUDA when torch sees a GPU and ``n P d`` is at least
        :data:`~lift.solvers.GPU_MIN_WORK`, else the CPU).
    dtype : {"float64", "float32"}
    growth, shrink : float
        Step growth after each accepted step and backtracking factor.
    threads : int or None
        torch intra-op threads during the solve (default: one for small programs, torch's
        setting otherwise); restored afterwards.
    """

    max_iters: int = 10_000
    newton: bool = True
    stall: int = 500
    mixed: bool = True
    dual_step: int = 10
    handover: bool = False
    metric: bool = True

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        s.use_metric(self.metric)
        out, stalled, k32 = _gated_full(s, s.warm_point(warm_start, cone=False),
                                        self._fista(self.max_iters), self.newton, self.stall,
                                        self.mixed, self.dual_step)
        iters = out.iterations + k32
        msg = gap_message(s.monitor, f"{iters} iterations" + (
            f" ({k32} in float32)" if k32 else "") + (f" ({stalled})" if stalled else ""))
        info: dict = {"step": out.step, "stalled": bool(stalled), "float32_iterations": k32}
        return _result(s, "fista", iters, msg, {"V": _numpy(out.point.x), "W": None}, info)


# --------------------------------------------------------------------------------------------
# "al"
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ConeAugmentedLagrangian(_TorchSolver):
    r"""Method of multipliers with FISTA inner solves for the cone-constrained ReLU program.

    .. math::

        \min_{V, W} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
        + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad \text{s.t.} \quad (2D_i - I)\tilde X v_i \ge 0,\; (2D_i - I)\tilde X w_i \ge 0

    Each outer step minimizes ``L + beta sum norms + 1/(2 rho) sum ||(mu_i - rho (2D_i - I)
    Xa v_i)_+||^2`` (and the same for ``w_i`` with ``nu_i``), then sets ``mu_i <- (mu_i - rho
    (2D_i - I) Xa v_i)_+``.

    Attributes
    ----------
    max_iters : int
        Budget of inner (FISTA) iterations over all outer steps.
    rho : float or None
        Initial penalty parameter (default: ``||A||^2 / ||Xa||^2`` times the loss curvature,
        the largest value that leaves the inner step size within a factor of two).
    inner_tol, inner_decay : float
        The k-th inner solve stops when its gradient mapping, relative to ``beta``, is below
        ``inner_tol * inner_decay**k`` (at least ``tol / 10``).
    max_inner : int
        Inner iterations per multiplier update at most.
    decrease, increase : float
        ``rho`` is multiplied by ``increase`` when a multiplier update did not shrink the
        largest constraint violation by the factor ``decrease`` (and the inner solve before
        it converged: one cut short by ``max_inner`` explains a slow decrease by itself).
    newton : bool
        Semismooth Newton steps on the nonzero groups of the inner problems
        (:class:`~lift.problems.relu.operators.ConeNewtonPolish`), kept only if they lower
        the inner objective.
    newton_budget : float
        A Newton step may cost at most this many inner iterations (multiply-adds).
    certify_every : int
        The certificate (the dual bound, and for a sampled program the value at a feasible
        point, :func:`~lift.problems.relu.operators.feasible_point`) is computed every this
        many inner iterations and at the end of each inner solve.
    device, dtype, growth, shrink, threads
        As for :class:`GatedFISTA`.
    """

    max_iters: int = 20_000
    rho: float | None = None
    inner_tol: float = 0.1
    inner_decay: float = 0.3
    max_inner: int = 2_000
    decrease: float = 0.5
    increase: float = 2.0
    newton: bool = True
    newton_budget: float = 30_000
    certify_every: int = 10

    def _oracle(self, s: _Setup, ws: dict) -> tuple[ConeOracle, float]:
        """The augmented-Lagrangian oracle (multipliers from the warm start) and the first
        step: the penalty on one block has curvature ``rho ||Xa||^2``, the data term
        ``||A||^2`` (about P times more), so ``rho`` up to their ratio costs the step size at
        most a factor of two."""
        op = s.op
        lip_data = s.loss.curvature * op.lipschitz()
        lip_x = float(torch.linalg.matrix_norm(op.Xa, ord=2)) ** 2
        rho0 = float(self.rho) if self.rho is not None else lip_data / lip_x
        oracle = ConeOracle(op, s.loss, s.y, rho0)
        oracle.load_multipliers(ws.get("mu"), ws.get("nu"))
        return oracle, 1.0 / (lip_data + rho0 * lip_x)

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        op, mon, beta, tol = s.op, s.monitor, s.beta, s.monitor.tol
        ws = warm_start or {}
        oracle, step0 = self._oracle(s, ws)
        exact = bool(getattr(lifted, "exact", False))
        gates = None if exact else _gates(lifted, op)
        st = {"U": s.warm_point(ws, cone=True), "step": step0, "total": 0, "eps": 0.0}

        def check(k, x, Fx, y, G, step_):
            st["total"] += 1
            # inner optimality: the gradient mapping, relative to beta, row by row
            res = float(group_norms(y.x - x.x).max()) / (step_ * beta)
            stop = st["total"] >= self.max_iters or (k > 1 and res <= st["eps"])
            if not (stop or st["total"] % self.certify_every == 0):
                return False
            # the certificate (a search along the dual ray: not at every iteration)
            before = mon.best_lower
            mon.dual(y.cache["lam"], float(group_norms(G).max()) if G.numel() else 0.0)
            if mon.best_lower > before:  # keep the dual point and its multipliers
                st["dual"] = oracle.dual_at(y.x)
            reg = Fx - x.f
            if exact:
                # the recovered network is feasible for the all-pattern program: its
                # objective is a certified upper bound whatever the violation
                done = mon.record(st["total"], x.cache["fnet"] + reg)
            else:
                # a sampled program needs a feasible point: the current one moved along the
                # gates until it satisfies every constraint (the point returned)
                # (projected onto the cones at the end of each inner solve: closer, dearer)
                st["feasible"] = Uf = feasible_point(op, x.x, gates, project=stop)
                upper = float(s.loss.torch(op.forward(Uf[:op.P]) - op.forward(Uf[op.P:]), s.y))
                done = mon.record(st["total"], upper + penalty(Uf), keep_best=False)
            return done or stop

        prox, penalty = s.group_lasso()
        inner = self._fista(self.max_inner)
        polish = ConeNewtonPolish(oracle, beta) if self.newton else None
        if polish is not None:
            polish.budget = self.newton_budget

        def solve_inner(eps: float) -> bool:
            st["eps"] = eps
            if polish is not None:
                polish.reset()
            out = inner.run(oracle, st["U"], prox, penalty, st["step"], check, polish)
            st["U"], st["step"], st["k"] = out.point.x, out.step, out.iterations
            return mon.stopped or st["total"] >= self.max_iters

        def grow(factor: float) -> None:
            # an inner solve cut short by its budget explains a slow decrease by itself: a
            # larger penalty would only make the next one harder
            if st["k"] < self.max_inner:
                oracle.rho *= factor

        def report(outer: int, viol: float) -> None:
            if s.monitor.verbose:
                print(f"outer {outer}: {st['k']} inner iterations, rho {oracle.rho:.3g}, "
                      f"largest violation {viol:.2e}, rel gap {mon.rel_gap:.2e}")

        outer = MethodOfMultipliers(self.inner_tol, self.inner_decay, self.decrease,
                                    self.increase).run(
            solve_inner, lambda: oracle.update_multipliers(st["U"]), grow, 0.1 * tol, report)
        U = st["U"]
        lam, mu, nu = st.get("dual") or oracle.dual_at(U)
        if not exact and "feasible" in st:
            U = st["feasible"]
        msg = gap_message(mon, f"{st['total']} inner iterations and {outer} multiplier "
                               "updates")
        primal = {"V": _numpy(U[:op.P]), "W": _numpy(U[op.P:]),
                  "multipliers": (mu.cpu().numpy(), nu.cpu().numpy()),
                  "dual": lam.cpu().numpy()}  # the best certificate's (same point)
        info = {"step": st["step"], "rho": oracle.rho, "outer": outer}
        if polish is not None:
            info.update(newton_calls=polish.calls, newton_accepted=polish.accepted)
        return _result(s, "al", st["total"], msg, primal, info)


# --------------------------------------------------------------------------------------------
# "active_set", gated program
# --------------------------------------------------------------------------------------------
class _GatedProgram:
    """The gated program for :class:`~lift.solvers.working_set.WorkingSet`: passes with the
    operator, restricted solves on the Gram matrix (squared loss, small sets) or by the
    matrix-free FISTA with Newton polish; it asks for the hand-over to full FISTA
    (``self.handover``) when the sets turn dense, the gap stalls or the budget is spent."""

    def __init__(self, solver: GatedWorkingSet, s: _Setup, U: torch.Tensor) -> None:
        self.solver, self.s, self.U = solver, s, U
        self.gram = GramCache(s.op, s.y) if s.loss.name == "squared" else None
        self.yy = float(s.y @ s.y)
        self.inner_tol, self.inner_total, self.work_done = solver.inner_tol, 0, 0.0
        self.gaps: list[float] = []
        self.handover = False
        self.passes = 0
        # the restricted solves may cost as much as `work_passes` full iterations, at least
        # `max_work` multiply-adds
        self.max_work = max(solver.max_work, solver.work_passes * 2.0 * s.op.n * s.op.P * s.op.d)
        # every pass also offers the certificate the dual step of the full program (else the
        # passes would certify less than the restricted solves they judge)
        self.dual_step = ActiveDualStep(1 if solver.dual_step else 0)
        # with a hand-over (auto), the passes may take HANDOVER_RENT times ssnal's predicted
        # time on the whole program; then ssnal takes over (see exhausted)
        self.started = time.perf_counter()
        self.rent = (HANDOVER_RENT * s.handover(s.op.P) if s.handover is not None
                     else math.inf)
        self.handed = False

    def price(self) -> Priced:
        s, U = self.s, self.U
        z = s.op.forward(U)
        lam = s.loss.torch_grad(z, s.y)
        C = s.op.adjoint(lam)
        norms = group_norms(C)  # every pattern's dual constraint
        self.passes += 1
        better = s.newton_dual(self.dual_step, self.passes, s.op, lam, C, U, z, math.inf)
        if better is not None:
            s.monitor.dual(*better)
        unorms = group_norms(U)
        upper = float(s.loss.torch(z, s.y)) + s.beta * float(unorms.sum())
        support = torch.nonzero(unorms > 0).flatten().cpu().numpy()
        return Priced(lam, float(norms.max()), norms.cpu().numpy(), support, upper)

    def _hand_over(self, why: str) -> str:
        self.handover = True
        return why + "; full FISTA took over"

    def exhausted(self) -> str:
        sv = self.solver
        self.gaps.append(self.s.monitor.rel_gap)
        if self.inner_total >= sv.max_iters or self.work_done >= self.max_work:
            return self._hand_over(
                f"budget of the restricted solves spent: {self.inner_total} iterations, "
                f"{self.work_done:.1e} multiply-adds (max_iters, max_work)")
        w = sv.stall
        if w and len(self.gaps) > w and self.gaps[-1] > 0.5 * self.gaps[-1 - w]:
            return self._hand_over(f"the certified gap did not halve in {w} passes")
        spent = time.perf_counter() - self.started
        if spent <= self.rent:
            return ""
        self.handed = self.s.handed_over = True
        return (f"stalled: {HANDING_OVER}, as the passes took {spent:.1f} s to a certified "
                f"gap of {self.s.monitor.rel_gap:.1e}, and ssnal is predicted to need "
                f"{self.rent / HANDOVER_RENT:.1f} s on the whole program")

    def nothing_to_add(self) -> str:
        # nothing violated: the restricted solves must get more accurate
        self.inner_tol *= 1e-2
        return self._hand_over("restricted solves stalled") if self.inner_tol < 1e-16 else ""

    def admit(self, work: list[int]) -> str:
        P = self.s.op.P
        if len(work) > self.solver.dense * P:
            return self._hand_over(f"the next working set, {len(work)} of {P} patterns, is "
                                   "dense")
        return ""

    def _gram_ok(self, m: int) -> bool:
        """The Gram matrix of the set is allowed (size), its products are cheaper than the
        matrix-free ones (``m d <= 2 n``) and forming it is cheap next to the full passes it
        saves (``n (m d)^2`` multiply-adds at most ``gram_passes`` full passes)."""
        sv, op = self.solver, self.s.op
        md = m * op.d
        return (self.gram is not None and md <= min(sv.gram_limit, 2 * op.n)
                and md * md <= sv.gram_passes * 2 * op.P * op.d)

    def solve(self, work: list[int], same: bool) -> str:
        s, sv, op = self.s, self.solver, self.s.op
        m = len(work)
        gram_ok = self._gram_ok(m)
        per_iter = float(m * op.d) ** 2 if gram_ok else 2.0 * op.n * m * op.d
        budget = int(min(sv.max_iters - self.inner_total, sv.inner_iters,
                         (self.max_work - self.work_done) / per_iter + 1))
        eps = max(self.inner_tol, sv.relative * s.monitor.rel_gap)
        idx = torch.as_tensor(work, dtype=torch.long, device=op.device)
        if gram_ok:
            G, b = self.gram.sub(work)
            u, k, _ = group_lasso_gram(G, b, s.beta, op.d, self.U[idx].cpu().numpy().ravel(),
                                       eps, budget, yy=self.yy)
            Uw = torch.as_tensor(u.reshape(m, op.d), dtype=op.dtype, device=op.device)
        else:
            self.gram = None  # past the Gram limit: matrix-free from now on
            sub = op.restrict(idx)
            inner = _Setup(sub, s.loss, s.y, s.beta,
                           GapMonitor(s.loss, s.monitor.y, s.beta, eps))
            stall = _Stall(0, budget, eps, deadline=self.started + self.rent)
            out, _ = _gated_fista(inner, sub, self.U[idx].clone(), ProximalGradient(budget),
                                  NewtonPolish(sub, s.loss, s.y, s.beta), stall,
                                  dual_step=sv.dual_step)
            Uw, k = out.point.x, out.iterations
        self.inner_total += k
        self.work_done += k * per_iter
        self.U = torch.zeros_like(self.U)
        self.U[idx] = Uw
        if s.monitor.verbose:
            print(f"working set {m}, {k} inner iterations, rel gap {s.monitor.rel_gap:.2e}")
        return ""  # a restricted solve stopped at the deadline: the next pass hands over


@dataclasses.dataclass
class GatedWorkingSet(_TorchSolver):
    r"""Working-set solver for the gated ReLU program (group lasso over the patterns).

    .. math::

        \min_{U} \; L\Big(\sum_i D_i \tilde X u_i,\; y\Big) + \beta \sum_i \|u_i\|_2

    Each outer iteration makes one matrix-free pass over all patterns (predictions, loss
    gradient ``lam``, and ``||Xa^T D_i lam||`` for every ``i``: the certificate). The next
    working set is the nonzero groups plus the patterns whose dual constraint
    ``||Xa^T D_i lam|| <= beta`` is violated, the most violated first, as many as there are
    nonzero groups (at least ``start``); the program restricted to it is solved to a relative
    duality gap (on the Gram matrix) or residual of ``max(inner_tol, relative * gap)``, with
    ``inner_tol`` divided by 100 whenever no pattern is left to add but the gap is still open.

    Working sets pay off when the optimum is sparse. When the next set would hold more than
    ``dense`` of all patterns, when the certified gap has not halved in ``stall`` passes, or
    when the budget of the restricted solves is spent, full-program FISTA (as
    :class:`GatedFISTA`, ``fista_iters`` iterations at most) continues from the current
    point with the same certificate; the message says so.

    Attributes
    ----------
    max_iters : int
        Budget of inner iterations over all restricted solves.
    inner_iters : int
        Iterations of one restricted solve at most (an unfinished one is continued after the
        next pass, from where it stopped).
    max_work, work_passes : float
        Budget of multiply-adds over all restricted solves: the larger of ``max_work`` (about
        10 s on one core) and the work of ``work_passes`` full iterations (two products with
        all patterns each). At n = 10,000, d = 20, P = 2,000 and 10 % active, a budget of
        ``max_work`` alone ran out before the restricted solves converged (21.7 s to a
        certified 1e-6, by a hand-over to full FISTA, against 13.7 s with ten times more).
    max_outer : int
        Outer iterations (full passes) at most.
    start : int
        Smallest number of patterns added at once.
    inner_tol, relative : float
        Tolerance of the restricted solves (see above).
    gram_limit : int
        Largest ``|S| d`` solved on the Gram matrix (squared loss); beyond it, and for the
        logistic loss, the restricted program is solved matrix-free.
    gram_passes : float
        The Gram matrix is also used only while forming it costs at most this many full
        passes (``(|S| d)^2 <= gram_passes * 2 P d``).
    dense : float
        Fraction of the patterns above which a working set hands over to full FISTA.
    stall : int
        Passes in which the certified gap must halve (0: never hand over on a stall).
    fista_iters, fista_stall : int
        Iterations of the full FISTA after a hand-over, and its ``stall`` window (as for
        :class:`GatedFISTA`).
    newton, mixed, dual_step
        Newton polish and the dual step of the certificate in the full FISTA and the
        matrix-free restricted solves, float32 iterations in the full FISTA (see
        :class:`GatedFISTA`); with
        ``dual_step`` > 0 every full pass also offers the certificate its dual step (at
        n = 10,000, d = 10, P = 500 the working set then certifies 1e-6 after 9 passes instead
        of handing over to FISTA after 11).
    probe : float
        With ``mixed`` on programs where float32 iterations pay off (``n P d >=
        MIXED_WORK``), the solver starts with full FISTA in float32 (certified in float64,
        as for :class:`GatedFISTA`) and watches its nonzero groups: once they have nearly
        settled (at most 5 % changed between two certificates) at no more than ``probe`` of
        all patterns, the working set takes over from that point; when they settle above it,
        or the gap closes first, FISTA goes on (in float64 with Newton polish, when the
        float32 iterates stall) and no working set is formed. Working sets only pay off on
        sparse optima, and FISTA's iterate finds out which kind this is after a few hundred
        cheap iterations. 0: the working set from the start.
    handover, metric, device, dtype, growth, shrink, threads
        As for :class:`GatedFISTA` (``metric`` on FISTA over all patterns only).
    """

    max_iters: int = 200_000
    inner_iters: int = 5_000
    max_work: float = 2e10
    work_passes: float = 200.0
    max_outer: int = 100
    start: int = 10
    inner_tol: float = 1e-9
    relative: float = 0.1
    gram_limit: int = 4_000
    gram_passes: float = 300.0
    dense: float = 0.5
    stall: int = 5
    fista_iters: int = 10_000
    fista_stall: int = 500
    mixed: bool = True
    newton: bool = True
    dual_step: int = 10
    probe: float = 0.15
    handover: bool = False
    metric: bool = True

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        s.use_metric(self.metric)
        U, lead, info = s.warm_point(warm_start, cone=False), "", {}
        if self.probe > 0 and self.mixed and _mixed_ok(s.op):
            U, k32, sparse, handed = _gated_float32(
                s, U, self._fista(self.fista_iters), MIXED_EVERY, MIXED_WINDOW, self.dual_step,
                sparse=self.probe,
                polish=NewtonPolish(s.op, s.loss, s.y, s.beta) if self.newton else None)
            info["float32_iterations"] = k32
            if not sparse:  # closed, or dense: FISTA goes on, in float64
                return self._dense(s, U, k32, info, handed)
            m = int((group_norms(U) > 0).sum())
            lead = (f"{k32} iterations of FISTA in float32, until the nonzero groups settled "
                    f"at {m} of {s.op.P} patterns; then ")
        program = _GatedProgram(self, s, U)
        outer, work, why = WorkingSet(self.max_outer, self.start).run(program, s.monitor)
        info.update(outer=outer, inner_iterations=program.inner_total, working_set=len(work))
        U, after = program.U, ""
        if program.handed:
            info["stalled"] = True
        elif not s.monitor.stopped and (program.handover or outer >= self.max_outer):
            out, stalled, k32 = _gated_full(s, U, self._fista(self.fista_iters), self.newton,
                                            self.fista_stall, self.mixed, self.dual_step)
            U, info["fista_iterations"] = out.point.x, out.iterations + k32
            info["stalled"] = bool(stalled)
            after = f", then {out.iterations + k32} iterations of full FISTA" + (
                f" ({stalled})" if stalled else "")
        msg = gap_message(s.monitor, f"{lead}{outer} passes over the patterns, working set "
                                     f"{len(work)} of {s.op.P}" + (f" ({why})" if why else "")
                          + after)
        return _result(s, "active_set", outer, msg, {"V": _numpy(U), "W": None}, info)

    def _dense(self, s: _Setup, U: torch.Tensor, k32: int, info: dict, handed: str
               ) -> SolverResult:
        """After a float32 probe that did not find a sparse support: float64 FISTA from its
        point, unless the probe closed the gap or handed over (``handed``, its reason)."""
        iters, m = k32, int((group_norms(U) > 0).sum())
        what = (f"{k32} iterations of FISTA in float32 closed the gap ({m} of {s.op.P} "
                "patterns nonzero, no working set)")
        if handed and not s.monitor.done:
            info["stalled"] = True
            what = f"{k32} iterations of FISTA in float32 ({handed}; no working set)"
        elif s.monitor.expired:
            what = f"{k32} iterations of FISTA in float32 ({m} of {s.op.P} patterns nonzero)"
        elif not s.monitor.done:
            method = self._fista(max(1, self.fista_iters - k32))
            out, stalled, _ = _gated_full(s, U, method, self.newton, self.fista_stall, False,
                                          self.dual_step)
            U, iters = out.point.x, k32 + out.iterations
            info.update(fista_iterations=out.iterations, stalled=bool(stalled))
            what = (f"{k32} iterations of FISTA in float32, then {out.iterations} in float64"
                    + (f" ({stalled})" if stalled else "") + "; the nonzero groups settled "
                    f"at {m} of {s.op.P} patterns, too many for a working set (no working set)")
        msg = gap_message(s.monitor, what)
        return _result(s, "active_set", iters, msg, {"V": _numpy(U), "W": None}, info)


# --------------------------------------------------------------------------------------------
# "active_set", cone program (squared loss)
# --------------------------------------------------------------------------------------------
class _ConeProgram:
    """The cone program for :class:`~lift.solvers.working_set.WorkingSet`: groups are signed
    patterns (``g < P``: ``v_g``; ``g >= P``: ``w_{g-P}``), priced by least squares over the
    cone multipliers, restricted programs solved by cutting planes."""

    def __init__(self, solver: ConeWorkingSet, s: _Setup, lifted, U: torch.Tensor) -> None:
        self.solver, self.s, self.U = solver, s, U
        prob, d = lifted.problem, s.op.d
        self.lifted = lifted
        self.Xa = np.asarray(prob.Xa, dtype=np.float64)
        self.D = np.asarray(lifted.D, dtype=bool)
        self.per_round = solver.rows_per_round or 2 * d
        self.pricer = Pricer(self.Xa, self.D, near=solver.first_rows or 4 * d)
        self.gram = GramCache(s.op, s.y)
        self.cuts: dict[int, np.ndarray] = {}
        self.work: list[int] = []
        self.rounds_total, self.last_eps, self.status_ipm = 0, np.inf, ""
        self.stalled, self.failed, self.al_total, self.al_work = False, "", 0, 0.0
        self.mult: tuple[np.ndarray, np.ndarray] | None = None  # (mu, nu) of the AL solves
        self.gates: np.ndarray | None = None

    def price(self) -> Priced:
        s, op, U, sv = self.s, self.s.op, self.U, self.solver
        V, W = U[:op.P], U[op.P:]
        XV, XW = op.Xa @ V.T, op.Xa @ W.T  # n x P: the program's and the network's outputs
        z = (op.D * (XV - XW)).sum(1)
        lam = s.loss.torch_grad(z, s.y)
        C = op.adjoint(lam).cpu().numpy().astype(np.float64)
        support = torch.nonzero(group_norms(U) > 0).flatten().cpu().numpy()
        in_support = np.zeros(2 * op.P, dtype=bool)
        in_support[support] = True
        norms, checked = self.pricer.norms(C, s.beta, enough=max(sv.start, support.size),
                                           skip=in_support, rough=self.last_eps > sv.ipm_tol)
        fnet = float(s.loss.torch(torch.relu(XV).sum(1) - torch.relu(XW).sum(1), s.y))
        upper = max(float(s.loss.torch(z, s.y)), fnet) + s.beta * float(group_norms(U).sum())
        # choose among the groups whose violation is confirmed by least squares
        return Priced(lam, float(norms.max(initial=0.0)), np.where(checked, norms, 0.0),
                      support, upper)

    def exhausted(self) -> str:
        return ""

    def nothing_to_add(self) -> str:
        if self.last_eps <= self.solver.ipm_tol or not self.work:
            self.stalled = True  # the restricted programs are as accurate as Clarabel gets
            return f"no pattern left to add; Clarabel: {self.status_ipm}"
        return ""  # solve the same set accurately

    def admit(self, work: list[int]) -> str:
        self.work = work
        return ""

    def solve(self, work: list[int], same: bool) -> str:
        s, sv, op, pricer = self.s, self.solver, self.s.op, self.pricer
        eps = sv.ipm_tol if same else max(sv.ipm_tol, sv.relative * s.monitor.rel_gap)
        if len(work) * op.d > sv.max_size:  # no tighter than a tenth of the tolerance
            return self._solve_first_order(work, max(eps, 0.1 * s.monitor.tol))
        for g in work:
            if g not in self.cuts:  # first time in: its least-squares rows and the nearest
                rows = pricer.mult.get(g, (np.zeros(0, dtype=np.int64), None))[0]
                near = pricer.near_rows.get(g, np.zeros(0, dtype=np.int64))
                self.cuts[g] = np.union1d(rows, near).astype(np.int64)
        # on an unchanged set the rows are already complete: no loose search rounds
        u, rounds, self.status_ipm = cutting_planes(
            self.gram, work, self.cuts, pricer, self.Xa, self.D, s.beta, self.per_round, eps,
            sv.loose_tol, sv.feas_tol, sv.max_rounds, search=not same)
        self.last_eps = eps
        self.rounds_total += rounds
        if not np.all(np.isfinite(u)):
            # keep the last finite point; its certificate stands
            self.failed = self.status_ipm
            return ("stopped: Clarabel returned no usable point on a restricted program, "
                    f"status {self.status_ipm}")
        self.U = torch.zeros_like(self.U)
        self.U[torch.as_tensor(work, dtype=torch.long, device=op.device)] = torch.as_tensor(
            u.reshape(len(work), op.d), dtype=op.dtype, device=op.device)
        if s.monitor.verbose:
            print(f"{len(work)} signed patterns, {rounds} cutting-plane rounds, "
                  f"{sum(c.size for c in self.cuts.values())} rows, rel gap "
                  f"{s.monitor.rel_gap:.2e}")
        return ""


    def _solve_first_order(self, work: list[int], eps: float) -> str:
        """The program restricted to the patterns of ``work`` (both signs) by the augmented
        Lagrangian, warm-started from the current point and the last multipliers: a set too
        large for dense interior-point solves (``|S| d > max_size``)."""
        s, sv, op = self.s, self.solver, self.s.op
        P = op.P
        idx = np.unique(np.asarray(work) % P)
        it = torch.as_tensor(idx, dtype=torch.long, device=op.device)
        if self.mult is None:  # first time: the multipliers least squares and Clarabel found
            self.mult = self.pricer.dense(op.n, P)
        mu, nu = self.mult
        warm = {"V": _numpy(self.U[it]), "W": _numpy(self.U[P + it]),
                "mu": mu[:, idx], "nu": nu[:, idx]}
        sub = _Setup(op.restrict(it), s.loss, s.y, s.beta,
                     GapMonitor(s.loss, s.monitor.y, s.beta, eps))
        per_iter = 8.0 * op.n * idx.size * op.d  # multiply-adds of one inner iteration
        budget = int(min(sv.al_iters, (sv.al_work - self.al_work) / per_iter))
        if budget < 1:
            return (f"stopped: the budget of the first-order restricted solves is spent "
                    f"({self.al_work:.1e} multiply-adds); see al_work")
        al = ConeAugmentedLagrangian(max_iters=budget, device=op.device, dtype=op.dtype)
        if self.gates is None:
            self.gates = _gates(self.lifted, op).cpu().numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the full pass is the judge
            out = al._run(_Restricted(self.gates[idx]), sub, warm)
        self.al_total += out.iterations
        self.al_work += out.iterations * per_iter
        if out.status != "optimal":
            # its point may violate the cone constraints: keep the last one (feasible)
            return ("stopped: the augmented Lagrangian did not solve the program restricted "
                    f"to {len(work)} signed patterns ({out.message}); raise al_iters or al_work")
        mu[:, idx], nu[:, idx] = out.primal["multipliers"]
        for off, M in ((0, mu), (P, nu)):  # the pricer's cheap bounds use them
            for i in idx:
                rows = np.flatnonzero(M[:, i] > 0)
                self.pricer.mult[off + int(i)] = (rows, M[rows, i])
        self.U = torch.zeros_like(self.U)
        for off, key in ((0, "V"), (P, "W")):
            self.U[off + it] = torch.as_tensor(out.primal[key], dtype=op.dtype, device=op.device)
        self.last_eps = eps
        if s.monitor.verbose:
            print(f"{len(work)} signed patterns ({idx.size} patterns), augmented Lagrangian: "
                  f"{out.iterations} inner iterations, rel gap {s.monitor.rel_gap:.2e}")
        return ""


@dataclasses.dataclass
class _Restricted:
    """A restricted program for the augmented Lagrangian: sampled patterns (not exact) with
    their gates."""

    gates: np.ndarray
    exact: bool = False


def _gates(lifted, op: PatternOperator) -> torch.Tensor:
    """The gates of a sampled program's patterns (interior points of their cells when the
    program has none), as a tensor."""
    gates = getattr(lifted, "gates", None)
    if gates is None:
        from lift.problems.relu.arrangements import interior_gates

        gates = interior_gates(op.Xa.cpu().numpy().astype(np.float64), op.Db.cpu().numpy())
    return torch.as_tensor(np.asarray(gates, dtype=np.float64), dtype=op.dtype,
                           device=op.device)


@dataclasses.dataclass
class ConeWorkingSet(_TorchSolver):
    r"""Working sets of patterns and of cone constraints for the ReLU program (squared loss).

    .. math::

        \min_{V, W} \; \tfrac12 \Big\|\sum_i D_i \tilde X (v_i - w_i) - y\Big\|^2
        + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad \text{s.t.} \quad (2D_i - I)\tilde X v_i \ge 0,\; (2D_i - I)\tilde X w_i \ge 0

    Outer iterations: one pass over all patterns (loss gradient ``lam``, ``Xa^T D_i lam``,
    cone-multiplier pricing, the certificate); the next set is the nonzero signed patterns
    plus those that violate their dual constraint, the most violated first (confirmed by
    least squares), as many as there are nonzero ones (at least ``start``); a pattern enters
    with the constraint rows its least-squares multipliers use and the ``first_rows`` rows
    nearest to active along its steepest feasible direction, and zero patterns that
    satisfy their constraint leave. Inner iterations (cutting planes): Clarabel solves the
    restricted program with the rows in the set; every row of the set's patterns is checked
    and those violated by more than ``feas_tol`` (relative to the largest ``|x_k' u|``) join,
    the deepest ``rows_per_round`` per pattern, until none is violated. The rounds that only
    look for rows run at ``loose_tol``; the last at ``max(ipm_tol, relative * gap)``, and
    at ``ipm_tol`` when no pattern is left to add.

    Attributes
    ----------
    max_outer : int
        Passes over all patterns at most.
    max_rounds : int
        Cutting-plane rounds per outer iteration at most.
    start : int
        Smallest number of signed patterns added at once.
    rows_per_round : int or None
        Constraint rows added per pattern and round (default ``2 (d + 1)``).
    first_rows : int or None
        Rows a pattern enters with besides those its least-squares multipliers use: the ones
        nearest to active along its steepest feasible direction (default ``4 (d + 1)``).
    feas_tol : float
        Relative violation below which a cone constraint counts as satisfied.
    max_size : int
        Largest ``|S| d`` of a restricted program solved by Clarabel (its Gram matrix is
        dense and Clarabel factors it at every step); a larger one is solved by the augmented
        Lagrangian (:class:`ConeAugmentedLagrangian`) on the patterns of the set, warm-started
        from the current point and the last multipliers.
    al_iters : int
        Inner-iteration budget of each such augmented-Lagrangian solve.
    al_work : float
        Budget of multiply-adds over all of them (about a minute on one core): a dense
        optimum too large for Clarabel and too slow for the augmented Lagrangian stops,
        honestly short, instead of running for hours.
    ipm_tol : float
        Clarabel's gap and feasibility tolerances on the restricted programs (at least
        ``relative`` times the current certified gap).
    loose_tol : float
        Clarabel's tolerance in the rounds that only look for violated rows.
    relative : float
        See ``ipm_tol``.
    device, dtype, threads
        As for :class:`GatedFISTA` (the full passes run in torch).
    """

    max_outer: int = 50
    max_rounds: int = 100
    start: int = 10
    rows_per_round: int | None = None
    first_rows: int | None = None
    feas_tol: float = 1e-10
    max_size: int = 6_000
    al_iters: int = 20_000
    al_work: float = 1e11
    ipm_tol: float = 1e-8
    loose_tol: float = 1e-5
    relative: float = 1e-3

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        program = _ConeProgram(self, s, lifted, s.warm_point(warm_start, cone=True))
        outer, _, why = WorkingSet(self.max_outer, self.start).run(program, s.monitor)
        if program.stalled and s.monitor.done:
            why = ""
        work, P = program.work, s.op.P
        al = (f", {program.al_total} augmented-Lagrangian iterations" if program.al_total
              else "")
        msg = gap_message(s.monitor, f"{outer} passes over the patterns and "
                                     f"{program.rounds_total} cutting-plane rounds{al}, "
                                     f"working set {len(work)} of {2 * P} signed patterns"
                                     + (f" ({why})" if why else ""))
        Uh = _numpy(program.U)
        primal = {"V": Uh[:P], "W": Uh[P:], "multipliers": program.pricer.dense(s.op.n, P)}
        info = {"outer": outer, "rounds": program.rounds_total, "working_set": len(work),
                "rows": int(sum(c.size for c in program.cuts.values())),
                "nnls_calls": program.pricer.nnls_calls, "al_iterations": program.al_total}
        return _result(s, "active_set", outer, msg, primal, info)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------
def _smooth(lifted) -> bool:
    loss = getattr(lifted.problem, "loss", None)
    return loss is not None and loss.curvature is not None


def _accepts_gated(lifted) -> bool:
    return getattr(lifted, "program", None) == "gated" and _smooth(lifted)


def _accepts_cone(lifted) -> bool:
    return getattr(lifted, "program", None) == "cone" and _smooth(lifted)


def _accepts_active_set(lifted) -> bool:
    return _accepts_gated(lifted) or (_accepts_cone(lifted)
                                      and lifted.problem.loss.name == "squared")


def _accepts_fista(lifted) -> bool:
    return _accepts_gated(lifted) or _accepts_cone(lifted)


def run_gated(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
              ) -> SolverResult:
    """Registry entry ``"fista"``: :class:`GatedFISTA` on a gated ReLU lift, projected FISTA
    (:class:`~lift.problems.relu.cone_fista.ConeFISTA`) on the cone program."""
    if lifted.program == "cone":
        from lift.problems.relu.cone_fista import ConeFISTA

        solver, warm = parse_options(ConeFISTA, options)
        return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)
    solver, warm = parse_options(GatedFISTA, options)
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


def run_cone(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
             ) -> SolverResult:
    """Registry entry ``"al"``: :class:`ConeAugmentedLagrangian` on a ReLU (cone) lift."""
    solver, warm = parse_options(ConeAugmentedLagrangian, options)
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


def run_active_set(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
                   ) -> SolverResult:
    """Registry entry ``"active_set"``: :class:`GatedWorkingSet` or :class:`ConeWorkingSet`."""
    cls = GatedWorkingSet if lifted.program == "gated" else ConeWorkingSet
    solver, warm = parse_options(cls, options)
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


def _auto_handover(lifted) -> dict:
    """Options ``solver="auto"`` adds: on the gated program, hand over to ``ssnal`` (on the
    cone program ``auto`` tries ``ssnal`` first)."""
    return {"handover": True} if lifted.program == "gated" else {}


def _barrier_auto(lifted) -> dict:
    """Options ``solver="auto"`` adds to the barrier method: its work limit a step."""
    from lift.problems.relu.barrier import AUTO_MAX_WORK

    return {"max_work": AUTO_MAX_WORK}


def _newton_entry(module: str, name: str, base: Callable[[Any], bool]
                  ) -> tuple[Callable[..., SolverResult], Callable[[Any], bool]]:
    """The registry's ``run`` and ``accepts`` of the Newton-type solver class ``name`` of
    :mod:`lift.problems.relu` ``.module`` (imported on first use): the programs ``base``
    accepts, with a loss among the module's ``LOSSES``."""
    import importlib

    def load():
        return importlib.import_module(f"lift.problems.relu.{module}")

    def run(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
            ) -> SolverResult:
        solver, warm = parse_options(getattr(load(), name), options)
        return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)

    def accepts(lifted) -> bool:
        return base(lifted) and lifted.problem.loss.name in load().LOSSES

    run.__doc__ = (f"Registry entry: :class:`~lift.problems.relu.{module}.{name}` (squared or "
                   f"logistic loss).")
    return run, accepts


register_solver("fista", _accepts_fista, run_gated, auto_options=_auto_handover)
register_solver("al", _accepts_cone, run_cone)
register_solver("active_set", _accepts_active_set, run_active_set,
                auto_options=_auto_handover)
# "ssnal": gated and cone programs; "barrier": the cone program
run_ssnal, _accepts_ssnal = _newton_entry("ssnal", "SSNAL", _accepts_fista)
run_barrier, _accepts_barrier = _newton_entry("barrier", "ConeBarrier", _accepts_cone)
register_solver("ssnal", _accepts_ssnal, run_ssnal, second_order=True)
register_solver("barrier", _accepts_barrier, run_barrier, second_order=True,
                auto_options=_barrier_auto)
