"""The lifted ReLU program: cone-constrained or gated group lasso over activation patterns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lift.base import Certificate, Lifted
from lift.errors import PatternCountError
from lift.problems.relu.arrangements import (
    enumerate_patterns,
    estimate_pattern_count,
    interior_gates,
    numerical_rank,
    unique_patterns,
)
from lift.problems.relu.certificate import dual_bound, pattern_products, row_chunks
from lift.problems.relu.networks import ReLUNet, recover_network, reduce_neurons
from lift.solvers.monitor import time_is_up

__all__ = ["ReLULift", "PROGRAMS", "VERIFY_LIMIT"]

PROGRAMS = ("cone", "gated")
#: global bounds of sampled programs are verified against all patterns up to this many
VERIFY_LIMIT = 20_000


def _power_of_two(largest: float) -> float:
    """The power of two nearest ``1 / largest`` (1 for zero or non-finite input)."""
    if not (np.isfinite(largest) and largest > 0):
        return 1.0
    return float(2.0 ** -np.round(np.log2(largest)))


def _rescale_primal(primal: dict[str, Any], weights: float, duals: float) -> dict[str, Any]:
    """``primal`` (or a warm start) of a ReLU program with ``V``, ``W`` scaled by ``weights``
    and the dual point and cone multipliers (``dual``, ``multipliers``, ``mu``, ``nu``) by
    ``duals``."""
    out = dict(primal)
    for key, val in primal.items():
        if val is None:
            continue
        if key in ("V", "W"):
            out[key] = np.asarray(val, dtype=np.float64) * weights
        elif key in ("dual", "mu", "nu"):
            out[key] = np.asarray(val, dtype=np.float64) * duals
        elif key == "multipliers":
            out[key] = tuple(np.asarray(m, dtype=np.float64) * duals for m in val)
    return out


class ReLULift(Lifted):
    """The (cone-constrained or gated) group-lasso program of a :class:`TwoLayerReLU`.

    Attributes
    ----------
    D : (n, P) boolean array
        The activation patterns.
    gates : (P, d + bias) array or None
        A gate per pattern (None for enumerated patterns until a gated network needs them).
    program : {"cone", "gated"}
        The cone-constrained program (exact over all patterns) or the gated relaxation.
    complete : bool
        Every activation pattern of the data is present.
    exact : bool
        ``program == "cone"`` and ``complete``: the optimum is the global optimum of ReLU
        training. A complete gated program is a relaxation (not exact), but its bound is
        still a ``global_bound``.
    """

    feasible_by_construction = True
    #: above these size hints, ``solver="auto"`` prefers a specialised solver (BENCHMARKS.md).
    #: Gated: the working-set solver and FISTA (certified 1e-6) beat Clarabel from about a
    #: thousand variables on. Cone program, squared loss: the working-set solver beats
    #: Clarabel from about n = 500 at P = 100 (size 1e5) on; the augmented Lagrangian (any
    #: smooth loss) is slower to a 1e-6 certificate than Clarabel wherever Clarabel runs, so
    #: it takes over only where cvxpy cannot build the cone program.
    GATED_THRESHOLD = 1_000
    CONE_THRESHOLD = 100_000
    AL_THRESHOLD = 2_000_000
    #: ``auto`` prefers the cone working-set solver only up to this many weights per neuron
    ACTIVE_SET_MAX_D = 32
    #: ... and only from this many samples on: below it Clarabel is as fast on sparse optima
    #: (diabetes, n = 354, P = 200: 4.1 s against 3.2 s) and much faster on dense ones
    #: (n = 354, P = 285, 144 active neurons: 11.8 s against 70.7 s)
    ACTIVE_SET_MIN_N = 400
    #: ... or whatever n when the augmented inputs have at most this many columns
    ACTIVE_SET_LOW_D = 2
    #: ``auto`` tries the interior-point method ``barrier`` before ``ssnal`` on the cone
    #: program with the squared loss where :meth:`relative_beta` is below this: ``ssnal``
    #: stalled at 3.1e-5, 7.6e-5 and 8.7e-5 and certified at 3.5e-4 and above on the rows
    #: measured (BENCHMARKS.md); its stall was most of auto's time there (3.8x). With the
    #: logistic loss too, on more than ``ssnal.LOGISTIC_CONE_SIGMA_N`` samples (one row
    #: measured: n = 10,000 at 6.6e-7, see :meth:`auto_thresholds`)
    BARRIER_FIRST = 2e-4
    #: ... and from this many input columns on (``Xa``'s, with the bias), with the logistic
    #: loss, whatever ``n``: ``ssnal``'s Newton systems grow with ``d`` and its steps at such
    #: ``beta`` creep. At ``n = 2,000, P = 500`` and relative ``beta`` 5e-7: ``d = 50``,
    #: ``ssnal`` first ran 10 minutes uncertified, ``barrier`` first certified in 162 s; ``d
    #: = 20``, ``ssnal`` 34.5 s against ``barrier`` 26.6 s (two threads), 50.4 s against 48.0
    #: s (``auto`` before and after, one thread); ``d = 10``, ``ssnal`` 9.0 s against 15.3 s
    #: (BENCHMARKS.md)
    BARRIER_FIRST_D = 20
    #: ... and below this relative ``beta``, with the squared loss, wherever its step is
    #: within ``barrier.AUTO_MAX_WORK`` (beyond ``barrier.BARRIER_WORK`` too): at ``n =
    #: 10,000``, ``d = 10`` with a bias (a step of 5.8e10) and relative ``beta`` 1.5e-6,
    #: ``ssnal`` first stalled (``auto`` 515 s) where ``barrier`` certifies in 51 s; at ``n =
    #: 50,000`` and 7.2e-5 (a step of 5.4e10) ``ssnal`` certified 12x faster than ``barrier``
    BARRIER_FIRST_ANY_WORK = 1e-5
    #: ... and so below ``BARRIER_FIRST`` too on at most this many samples with
    #: ``BARRIER_FIRST_D`` input columns or more: at ``n = 2,000, d = 50`` (a step of 1e11)
    #: and 9.7e-5, ``auto`` timed out at 600 s with ``ssnal`` first, where ``barrier``
    #: certifies in 174 s; at ``n = 2,000, d = 10, P = 2,000`` (a step of 8e10) and 1.1e-4
    #: ``ssnal`` certified in 18 s and ``barrier`` in 289 s
    BARRIER_FIRST_ANY_WORK_N = 2_000
    #: ``auto`` tries ``ssnal`` and ``barrier`` before Clarabel on cone programs above this
    #: size, by loss (on inputs of more than ``ACTIVE_SET_LOW_D`` columns; on 1-D inputs
    #: from CONE_THRESHOLD). Squared loss: Clarabel took 0.03-0.06 s below 7,000 and
    #: 0.41-0.60 s at 30,000-38,000, where ours took 0.16-0.31 s; wine (58,000) 2.4-2.9 s
    #: against 0.4-1.0 s. Logistic loss: Clarabel's exponential cones failed on 5 of the 10
    #: small programs measured (sizes 18,000-26,000: a gap of 1e-3 reported
    #: "optimal_inaccurate", and four "solver_error", after which SCS took 6-16 s), where
    #: ours certified in 0.1-0.5 s (BENCHMARKS.md)
    NEWTON_THRESHOLD = {"squared": 20_000, "logistic": 0}
    #: on the gated program with the squared loss, ``auto`` starts with ``ssnal`` (where its
    #: systems are direct) below this :meth:`relative_beta`: on the grid's rows from 9e-5 to
    #: 1e-6 (58-100 % active) ``ssnal`` alone was 1.1-18x faster than FISTA and the working
    #: set, and ``auto`` spent 0.6-2.5 s in them before handing over; from 4.5e-3 up (10-61 %
    #: active) FISTA was faster (BENCHMARKS.md). Not the logistic loss: there ``ssnal``
    #: warm-started from FISTA's point beat both alone
    SSNAL_FIRST = 1e-3
    #: ... a threshold scaled by ``max(1, P d / (SSNAL_FIRST_WIDTH n))`` (``d`` with the bias
    #: column): FISTA's iterations cost ``n P d`` and grow in number with ``P d``, ``ssnal``'s
    #: ``n x n`` system does not. At ``n = 2,000`` (twenty-fourth session, BENCHMARKS.md),
    #: ``ssnal`` against the working set: ``d = 50, P = 2,000`` 6.0 s against 12.7 s at
    #: relative ``beta`` 0.01, 6.0 s against 4.2 s at 0.03 (above its scaled threshold,
    #: 0.025); ``d = 20, P = 2,000`` 4.1 s against 8.2 s at 0.003, 3.5 s against 2.8 s at
    #: 0.01; ``d = 50, P = 500`` 1.9 s against
    #: 4.9 s at 0.003, 2.3 s against 3.0 s at 0.01; ``d = 10, P = 2,000`` 4.0 s against 5.6 s
    #: at 0.003, 3.4 s against 2.0 s at 0.01; ``d = 10, P = 500`` 2.6-3.5 s against 0.6-1.0 s
    #: at 0.003-0.005, where the plain threshold stays (``P d / n`` about 2.5); ``d = 20, P =
    #: 500`` 1.76 s against 1.15 s at 0.002 (a width of 2 put ``ssnal`` first there). Sampled
    #: programs only: complete arrangements (low-dimensional inputs) are wide too, but were
    #: not measured against ``ssnal``
    SSNAL_FIRST_WIDTH = 3.0
    #: ... up to this many samples. With FISTA's metric (twentieth session on) FISTA first
    #: won beyond: ``n = 50,000, d = 10, P = 500``, bias, dense (``beta = 6.55``): ``fista``
    #: 45 s against ``ssnal`` 90-97 s (23 Newton steps, each on the ``5,500 x 5,500``
    #: covariance system); at ``n = 10,000, d = 10`` (no bias, ``beta = 0.00274``) ``ssnal``
    #: still won, 6.1-7.5 s (9 Newton steps) against 9.5 s. FISTA first still hands over to
    #: ``ssnal`` where its own predicted remaining time exceeds ``ssnal``'s (BENCHMARKS.md)
    SSNAL_FIRST_MAX_N = 20_000
    #: ... and, with the logistic loss, where the augmented inputs' condition number is at
    #: least this: first-order iterations grow with it, Newton steps do not. On breast cancer
    #: (n = 455-569, 200 gates) ``ssnal`` alone certified in 0.21-0.63 s, standardized
    #: (condition 320) and raw (1.5e6), against 0.68-1.6 s (standardized) and 5.4 s (raw) for
    #: FISTA and the working set, and ``auto`` took 1.4-2.2x ``ssnal`` trying them first; the
    #: grid's Gaussian inputs (condition 1.1-1.2), where FISTA first wins, stay below it
    ILL_CONDITIONED = 100.0
    #: ... up to this many samples: beyond, ``ssnal``'s first ``sigma`` (1) on the gated
    #: logistic program stalled at a gap of 1 (``n = 10,000``, 81 s), and a smaller one is
    #: not measured to pay there
    ILL_CONDITIONED_MAX_N = 2_000

    def __init__(self, problem, D: np.ndarray, gates: np.ndarray | None, program: str,
                 complete: bool, verify: bool | None = None, bound_time: float = 0.0) -> None:
        self.problem = problem
        self.D = D
        self.gates = gates
        self.program = program
        self.complete = complete
        self.exact = complete and program == "cone"
        self.verify = verify
        self.bound_time = bound_time

    def __repr__(self) -> str:
        kind = "all" if self.complete else "sampled"
        return f"ReLULift({self.program}, P={self.P} {kind} patterns, {self.problem!r})"

    @property
    def P(self) -> int:
        return self.D.shape[1]

    @property
    def cone(self) -> bool:
        return self.program == "cone"

    @property
    def relaxation(self) -> str:
        """Deprecated name of :attr:`program` (``"relu"`` for the cone program)."""
        return "relu" if self.cone else "gated"

    def describe(self) -> dict[str, Any]:
        return {"exact": bool(self.exact), "program": self.program, "patterns": int(self.P),
                "complete": bool(self.complete)}

    def cones(self) -> frozenset[str]:
        cones = {"soc", "zero"}
        if self.cone:
            cones.add("nonneg")
        if self.problem.loss.name == "logistic":
            cones.add("exp")
        if self.problem.loss.name == "hinge":
            cones.add("nonneg")
        return frozenset(cones)

    def size_hint(self) -> int:
        n, d = self.problem.Xa.shape
        blocks = 2 if self.cone else 1
        return blocks * self.P * (d + 1 + (n if self.cone else 0)) + n

    def cvxpy_nonzeros(self) -> int:
        """``Xa @ V`` (and ``Xa @ W``) enter the cone constraints (n P rows of d + bias
        non-zeros each) and the predictions (one term per active pattern entry)."""
        n, d = self.problem.Xa.shape
        active = int(np.count_nonzero(self.D))
        if self.cone:
            return 2 * (n * self.P * d + active * d) + n
        return active * d + n

    def relative_beta(self) -> float:
        """``beta / max_i ||Xa^T D_i grad L(0)||``: how far ``beta`` is below the smallest
        ``beta`` at which zero solves the gated program (for the cone program an upper bound
        on that ``beta``). Small values mean dense, nearly interpolating optima."""
        prob = self.problem
        lam = prob.loss.grad(np.zeros_like(prob.y, dtype=np.float64), prob.y)
        top = float(np.linalg.norm(pattern_products(prob.Xa, self.D, lam), axis=1).max())
        return prob.beta / top if top > 0 else math.inf

    def auto_thresholds(self) -> dict[str, float]:
        if self.cone:
            out = {}
            n, d = self.problem.Xa.shape
            squared = self.problem.loss.name == "squared"
            low_d = d <= self.ACTIVE_SET_LOW_D
            if squared and low_d:
                # its restricted programs are dense in (patterns x d): fine for small d; on
                # 1-D inputs it certifies diabetes-BMI (291 patterns) in 0.3 s against 21 s
                # for Clarabel (BENCHMARKS.md), and auto falls back when it stops short
                out["active_set"] = self.CONE_THRESHOLD
            from lift.problems.relu.ssnal import LOGISTIC_CONE_SIGMA_N, LOSSES

            late_barrier = False
            if self.problem.loss.name in LOSSES:
                from lift.problems.relu import barrier

                newton = (self.CONE_THRESHOLD if low_d
                          else self.NEWTON_THRESHOLD.get(self.problem.loss.name,
                                                         self.CONE_THRESHOLD))
                # the interior-point method certifies where ssnal and projected FISTA stall
                # (very small beta; 25x faster than Clarabel at n = 500); with the squared
                # loss below BARRIER_FIRST it goes first
                # the work limits scale with the device barrier will default to (chosen, as
                # in its run, by the work of its step)
                from lift.solvers import resolve_device

                work = barrier.step_work(n, self.P, d, squared)
                speedup = barrier.device_speedup(resolve_device(None, work=work))
                offered = barrier.offered(n, self.P, d, squared, speedup)
                # with the logistic loss, from n = LOGISTIC_CONE_SIGMA_N on, within
                # AUTO_MAX_WORK: there ssnal (first sigma below 1) stalled after 80 steps at a
                # certified 0.94 (4 to 13 minutes) at n = 10,000, where barrier certifies in 53
                # steps; at n = 2,000 ssnal certifies the same relative beta in 11-45 s
                # (and from BARRIER_FIRST_D input columns on, whatever n)
                within = work <= barrier.AUTO_MAX_WORK * speedup
                large_logistic = (not squared and within
                                  and (n > LOGISTIC_CONE_SIGMA_N or d >= self.BARRIER_FIRST_D))
                rel = self.relative_beta()
                tiny = squared and (rel < self.BARRIER_FIRST_ANY_WORK or (
                    n <= self.BARRIER_FIRST_ANY_WORK_N and d >= self.BARRIER_FIRST_D))
                if ((offered and squared) or large_logistic or (tiny and within)) and (
                        rel < self.BARRIER_FIRST):
                    out["barrier"] = newton
                # the semismooth Newton ALM: 2-15x faster than projected FISTA and Clarabel
                # on the dense, sparse and ill-conditioned rows measured (BENCHMARKS.md)
                out["ssnal"] = newton
                # with the logistic loss, also where a step costs up to AUTO_MAX_WORK (the
                # covariance form's A^T W A each step): next at a relative beta below
                # BARRIER_FIRST, where projected FISTA timed out on every logistic row of the
                # grid; above it after projected FISTA, which certified the grid's 10 % rows
                # in 7 s at n = 10,000 and 29 s at n = 50,000, where such steps took minutes
                # (n = 50,000: ssnal stalled in 24 s, then barrier took 508 s)
                late_barrier = not squared and within
                if offered or (late_barrier and rel < self.BARRIER_FIRST):
                    out.setdefault("barrier", newton)
            if n >= self.ACTIVE_SET_MIN_N and not low_d:
                # projected FISTA: 1.2-9x faster than the working set and 25x faster than
                # Clarabel on the dense and sparse rows measured from n = 1,000 on (squared
                # and logistic); below n = 400 Clarabel wins on real data (diabetes, 10-D:
                # 22 s against 68 s), and on nearly collinear 1-D/2-D patterns it stalls
                out["fista"] = self.CONE_THRESHOLD
            if late_barrier:
                out.setdefault("barrier", newton)
            if squared and d <= self.ACTIVE_SET_MAX_D and n >= self.ACTIVE_SET_MIN_N:
                out.setdefault("active_set", self.CONE_THRESHOLD)
            out["al"] = self.AL_THRESHOLD
            return out
        out = {"active_set": self.GATED_THRESHOLD, "fista": self.GATED_THRESHOLD}
        from lift.problems.relu.ssnal import LOSSES, has_direct_system

        loss = self.problem.loss.name
        if loss not in LOSSES or self.size_hint() <= self.GATED_THRESHOLD:
            return out
        n, d = self.problem.Xa.shape
        if not has_direct_system(n, self.P, d, squared=loss == "squared"):
            return out
        wide = (1.0 if self.complete  # measured on sampled gates, 10-50 columns
                else max(1.0, self.P * d / (self.SSNAL_FIRST_WIDTH * n)))
        first = (n <= self.SSNAL_FIRST_MAX_N and self.relative_beta() < self.SSNAL_FIRST * wide
                 if loss == "squared"
                 else n <= self.ILL_CONDITIONED_MAX_N
                 and self.condition() >= self.ILL_CONDITIONED)
        return {"ssnal": self.GATED_THRESHOLD, **out} if first else out

    def condition(self) -> float:
        """The condition number of the augmented inputs ``Xa`` (largest over smallest
        singular value; ``inf`` when their columns are dependent)."""
        import torch  # numpy's SVD took 0.13 s on raw breast cancer (569 x 31), torch's 0.5 ms

        s = torch.linalg.svdvals(torch.as_tensor(self.problem.Xa, dtype=torch.float64))
        return float(s[0] / s[-1]) if s[-1] > 0 else math.inf

    def with_patterns(self, D: np.ndarray, gates: np.ndarray) -> ReLULift:
        """This program with the patterns ``D`` (gates ``gates``) appended, duplicates of
        present patterns dropped. Appended last, so a warm start extends by zero rows."""
        from lift.problems.relu.colgen import drop_known

        D = np.asarray(D, dtype=bool)
        D, idx = drop_known(self.D, D, np.arange(D.shape[1]))
        if D.shape[1] == 0:
            return self
        own = self.gates if self.gates is not None else interior_gates(self.problem.Xa, self.D)
        return ReLULift(self.problem, np.hstack([self.D, D]),
                        gates=np.vstack([own, np.asarray(gates)[idx]]), program=self.program,
                        complete=self.complete, verify=self.verify,
                        bound_time=self.bound_time)

    def including(self, models) -> ReLULift:
        """This program plus the activation patterns of every neuron of ``models`` (trained
        networks of this problem): its optimum is at or below each network's objective (see
        :mod:`lift.problems.relu.colgen`). A complete program is returned as it is."""
        from lift.problems.relu.arrangements import patterns_from_gates
        from lift.problems.relu.colgen import network_gates

        if self.complete:
            return self
        G = network_gates(self.problem, list(models))
        if G.shape[0] == 0:
            return self
        D, idx = unique_patterns(patterns_from_gates(self.problem.Xa, G))
        return self.with_patterns(D, G[idx])

    def refine(self, solution, *, models=(), rounds: int = 5, solver: str = "auto",
               tol: float = 1e-6, **options):
        """Column generation (:func:`lift.problems.relu.colgen.column_generation`): add the
        patterns the pricing search finds violated and re-solve; ``models`` (trained
        networks) seed the search. Complete programs are returned as they are. ``options``:
        ``starts``, ``seed``, ``max_add``, ``pricing`` (``"milp"``: certified pricing by
        branch and bound, for inputs up to about 5-D), ``time_limit`` and solver options."""
        from lift.problems.relu.colgen import column_generation

        if self.complete or solution.params is None:
            return self, solution, {}
        return column_generation(self, solution, rounds=rounds, include=models, solver=solver,
                                 tol=tol, **options)

    #: data whose largest entries lie within 2**+-NORMALIZE_BAND of one are left as they are
    NORMALIZE_BAND = 3

    def normalized(self):
        r"""The same program on ``c Xa`` (bias column included) and ``s y``: see
        :meth:`lift.Lifted.normalized`.

        ``c`` and ``s`` are powers of two that bring the largest entries of ``Xa`` and (squared
        loss) ``y`` near one; the classification losses keep ``s = 1``. Scaling ``Xa`` leaves
        every pattern ``1[Xa u >= 0]`` as it is, and with ``beta' = s c beta`` the point
        ``(V', W') = (s / c) (V, W)`` has predictions ``s z`` and objective ``s^2`` times the
        original's (relative gaps unchanged). So ``back`` multiplies ``V``, ``W`` by ``c / s``
        and the dual point and cone multipliers by ``1 / s``; ``forward`` is its inverse.
        Nothing changes when both factors are within ``2**NORMALIZE_BAND`` of one.
        """
        prob = self.problem
        c = _power_of_two(np.max(np.abs(prob.Xa)))
        s = _power_of_two(np.max(np.abs(prob.y))) if prob.loss.name == "squared" else 1.0
        beta = s * c * prob.beta
        band = 2.0 ** self.NORMALIZE_BAND
        if (max(c, 1 / c, s, 1 / s) <= band or not (0 < beta < np.inf)
                or not np.isfinite(c * s)):
            return super().normalized()
        inner = type(prob)(c * prob.Xa, s * prob.y, beta, loss=prob.loss.name, bias=False)
        lifted = ReLULift(inner, self.D, gates=self.gates, program=self.program,
                          complete=self.complete, verify=False)
        return (lifted, lambda p: _rescale_primal(p, c / s, 1 / s),
                lambda p: _rescale_primal(p, s / c, s))

    def check_warm_start(self, warm_start: Any) -> dict[str, Any]:
        """A warm start ``{"V", "W"[, "mu", "nu"]}`` (a previous solution's
        ``info["warm_start"]``): rows of ``V``, ``W`` per pattern, shape (P, d + bias); the
        multipliers ``mu``, ``nu`` of the cone constraints, shape (n, P)."""
        from lift.errors import check_array

        if not isinstance(warm_start, dict):
            raise TypeError("`warm_start` must be a previous solution's info['warm_start'] (a "
                            f"dict with 'V' and 'W'), got {type(warm_start).__name__}.")
        unknown = sorted(set(warm_start) - {"V", "W", "mu", "nu"})
        if unknown:
            raise ValueError(f"`warm_start` has unknown key(s) {unknown}; it takes 'V', 'W', "
                             "'mu' and 'nu'.")
        n, d = self.problem.Xa.shape
        shapes = {"V": (self.P, d), "W": (self.P, d), "mu": (n, self.P), "nu": (n, self.P)}
        out = {}
        for key, val in warm_start.items():
            if val is None:
                out[key] = None
                continue
            arr = check_array(val, f"warm_start['{key}']", ndim=2)
            if arr.shape != shapes[key]:
                raise ValueError(f"`warm_start['{key}']` must have shape {shapes[key]} for "
                                 f"this program, got {arr.shape}; pass the warm start of a "
                                 "program with the same patterns.")
            out[key] = arr
        return out

    def reweight(self, value: float) -> ReLULift:
        """The same patterns with weight decay ``value``."""
        return ReLULift(self.problem.with_beta(value), self.D, gates=self.gates,
                        program=self.program, complete=self.complete, verify=self.verify,
                        bound_time=self.bound_time)

    def to_cvxpy(self):
        """``cvxpy.Problem`` with variables ``V`` (and ``W``) of shape (d + bias, P).

        The predictions ``sum_i D_i Xa v_i`` are ``sum(D * (Xa @ V), axis=1)``; the cone
        constraints ``(2D - 1) * (Xa @ V) >= 0``; no per-pattern Python loop.
        The first constraint is ``z == predictions`` so its dual is the loss' dual point.
        """
        import cvxpy as cp

        prob = self.problem
        Xa, D = prob.Xa, self.D.astype(np.float64)
        n, d = Xa.shape
        V = cp.Variable((d, self.P), name="V")
        z = cp.Variable(n, name="z")
        XV = Xa @ V
        pred = cp.sum(cp.multiply(D, XV), axis=1)
        reg = cp.sum(cp.norm(V, 2, axis=0))
        constraints = []
        if self.cone:
            W = cp.Variable((d, self.P), name="W")
            XW = Xa @ W
            pred = pred - cp.sum(cp.multiply(D, XW), axis=1)
            reg = reg + cp.sum(cp.norm(W, 2, axis=0))
            S = 2.0 * D - 1.0
            constraints += [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
        constraints.insert(0, z == pred)
        objective = prob.loss.cvxpy(z, prob.y) + prob.beta * reg
        return cp.Problem(cp.Minimize(objective), constraints)

    def primal_from_cvxpy(self, cvx_problem) -> dict[str, np.ndarray] | None:
        values = {v.name(): v.value for v in cvx_problem.variables()}
        if values.get("V") is None:
            return None
        V = np.asarray(values["V"]).T
        W = np.asarray(values["W"]).T if self.cone else None
        dual = cvx_problem.constraints[0].dual_value
        out = {"V": V, "W": W}
        if dual is not None:
            out["dual"] = np.asarray(dual, dtype=np.float64).ravel()
        return out

    # --- the map back -------------------------------------------------------------------------
    def program_value(self, primal: dict[str, np.ndarray]) -> float:
        """Objective of the convex program at ``primal`` (rows of ``V``, ``W`` per pattern)."""
        prob = self.problem
        V, W = primal["V"], primal.get("W")
        z = self.predictions(V, W)
        reg = np.linalg.norm(V, axis=1).sum()
        if W is not None:
            reg += np.linalg.norm(W, axis=1).sum()
        return prob.loss.value(z, prob.y) + prob.beta * reg

    def predictions(self, V: np.ndarray, W: np.ndarray | None) -> np.ndarray:
        """``sum_i D_i Xa (v_i - w_i)`` on the training data."""
        U = V if W is None else V - W
        Xa, D = self.problem.Xa, self.D
        z = np.empty(Xa.shape[0])
        for sl in row_chunks(*D.shape):  # rowsum((D U) * Xa), O(chunk P) memory
            z[sl] = np.einsum("ij,ij->i", D[sl].astype(np.float64) @ U, Xa[sl])
        return z

    def _gates_for(self, V: np.ndarray) -> np.ndarray:
        """Gates for the gated network: sampled ones, or interior points of active cells."""
        if self.gates is not None:
            return self.gates
        norms = np.linalg.norm(V, axis=1)
        gates = np.zeros_like(V)
        active = np.flatnonzero(norms > 0)
        if active.size:
            gates[active] = interior_gates(self.problem.Xa, self.D[:, active])
        return gates

    def recover(self, primal: dict[str, np.ndarray], prune: float = 1e-7) -> ReLUNet:
        """The network of a convex solution, pruning tiny neurons only where the objective
        stays put.

        Each row ``v_i`` becomes a neuron ``u = v_i / sqrt(||v_i||)``, ``alpha = sqrt(||v_i||)``
        (``w_i``: ``alpha = -sqrt(||w_i||)``). Interior-point solutions spread mass over many
        patterns with tiny norms whose sum matters; a pruning threshold is accepted only if the
        pruned network's objective is within ``1e-9`` (relative) of the unpruned one. Then an
        exact Caratheodory reduction leaves at most ``n + 1`` neurons.
        """
        prob = self.problem
        V, W = primal["V"], primal.get("W")
        gates = self._gates_for(V) if not self.cone else None
        full = recover_network(V, W, prob.d, prob.bias, gates=gates, prune=0.0)
        full_value = prob.objective(full)
        best, best_value = full, full_value
        for thr in (prune, prune * 1e-2, prune * 1e-4):
            if thr <= 0:
                break
            net = recover_network(V, W, prob.d, prob.bias, gates=gates, prune=thr)
            value = prob.objective(net)
            if value <= full_value + 1e-9 * max(abs(full_value), 1e-12):
                best, best_value = net, value
                break
        if time_is_up():  # past the solve's time limit: no reduction
            return best
        reduced = reduce_neurons(prob, best)
        value = prob.objective(reduced)
        if value <= best_value + 1e-9 * max(abs(best_value), 1e-12):
            return reduced
        return best

    def certify(self, params: ReLUNet, primal: dict[str, np.ndarray]) -> Certificate:
        """Dual bounds from the loss gradient at the network's predictions (and the solver's
        own dual point and cone multipliers, checked); see :mod:`lift.problems.relu`."""
        prob = self.problem
        z = prob.predict(params, prob.X)
        candidates = [prob.loss.grad(z, prob.y)]
        if primal.get("dual") is not None:
            candidates += [primal["dual"], -primal["dual"]]
        multipliers = primal.get("multipliers") if self.cone else None
        lower, lam_best = -np.inf, candidates[0]
        for lam in candidates:
            b, t = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, self.D, self.cone,
                              multipliers=multipliers)
            if b > lower:
                lower, lam_best = b, t * prob.loss.project_dual(lam, prob.y)
        # the dual point of the bound (feasible as it is), so that it can be checked again
        info: dict[str, Any] = {"patterns": self.P, "program": self.program, "dual": lam_best}
        global_bound = None
        if self.complete:
            global_bound = lower
        elif self._should_verify():
            D_all = enumerate_patterns(prob.Xa, max_patterns=VERIFY_LIMIT)
            # the program's own constraints over every pattern: the dual of the complete lift
            global_bound, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam_best, D_all,
                                         cone=self.cone)
            info["verified_patterns"] = D_all.shape[1]
        elif self.bound_time > 0 and self.cone:
            from lift.problems.relu.global_bound import global_lower_bound

            # every pattern's constraint bounded by branch and bound: valid at any time limit
            gb = global_lower_bound(prob, params, time_limit=self.bound_time)
            global_bound = gb.bound
            info.update(bound_violation=gb.violation_upper, bound_closed=gb.exact,
                        bound_seconds=gb.time)
        return Certificate(lower_bound=lower, global_bound=global_bound, info=info)

    def _should_verify(self) -> bool:
        if self.verify is False:
            return False
        Xa = self.problem.Xa
        r, _ = numerical_rank(Xa)
        count = estimate_pattern_count(Xa.shape[0], r)
        feasible = count <= VERIFY_LIMIT
        if self.verify and not feasible:
            raise PatternCountError(
                "verify=True needs every activation pattern of the data, but there are up to "
                f"{count:,} (limit {VERIFY_LIMIT:,}). Use verify=None to skip the global "
                "certificate."
            )
        return feasible
