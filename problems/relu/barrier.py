r"""``"barrier"``: a primal-dual interior-point method for the cone-constrained ReLU program.

The cone program (``U = [V; W]``, ``2 P`` signed groups ``u_g``, each in its polyhedral cone
``C_g = {u : K_g u >= 0}``, ``K_g = (2 D_g - I) Xa``) is solved through the barrier problems

.. math::

    \min_{U} \; \phi_t = t \Big(L(A U) + \beta \sum_g \|u_g\|\Big)
    - \sum_{g, j} \log s_{gj}, \qquad s_g = K_g u_g > 0,

from a strictly feasible start (each pattern's gate, which lies inside its cone). Inside the
cones every ``u_g`` is nonzero, so the group norms are smooth there and need no epigraph
variable (a second-order cone barrier ``-log(tau_g^2 - ||u_g||^2)`` was tried first: its
iterates stalled on the boundary of the norm cones). The steps are primal-dual, Mehrotra's
predictor-corrector: the cone multipliers ``mu`` are iterates of their own, the Newton
matrix (scaled by ``t = 1 / eta``, ``eta = mu^T s / N`` the complementarity per row) weighs
the cone rows by ``t mu / s``; a predictor step on the objective alone measures how far the
complementarity can fall, which sets the target ``sigma eta`` (``sigma = (eta_aff /
eta)^3``, but not below :data:`BALANCE` times the stationarity residual's share of the
gap, ``sum_g ||u_g|| ||r_g||`` per row: else ``t`` outruns the residual, which then stalls),
and the corrector aims at it with the predictor's second-order term. Up to two of Gondzio's
centrality correctors follow, where the step to the boundary is short: each pulls the
complementarity products that would be far from the target at a longer step back into a box
around it. All the solves share one factorization. With the logistic loss the residual after
a full step is mostly the loss' own nonlinearity (its gradient at the new predictions against
its linearization), not the norms'; the floor on ``sigma`` was a tenth of the residual's
share until the correctors came, and they need it lower: together 36 steps instead of 49 on
the logistic row below at ``n = 2,000``, 20 instead of 27 on a squared row with a bias.
Primal and multipliers take one step length (the stationarity residual ``grad F - K^T mu``
depends on both: separate lengths, as in linear programming, left it at 1e-1 of ``beta``),
and the primal step must not increase ``phi`` at the target's ``t`` (else a damped Newton
step on it replaces it; never needed on the programs measured). Against a pure barrier
method with tenfold growth of ``t`` (tried first) the steps fell from 27-108 to 14-46 on the
programs measured. The matrix is

.. math::

    t A^T \nabla^2 L A + \operatorname{blockdiag}_g(B_g), \qquad
    B_g = K_g^T \operatorname{diag}(t \mu_g / s_g) K_g
    + \frac{t \beta}{\|u_g\|}\Big(I - \frac{u_g u_g^T}{\|u_g\|^2}\Big),

solved in one of two forms, whichever costs fewer multiply-adds (:func:`step_costs`), then
up to ten rounds of iterative refinement with products by the matrix itself (at large ``t``
it is badly conditioned). The two signs of a pattern share ``D_i Xa``, so the loss term is
``Q G Q^T`` with ``Q = [I; -I]`` and ``G = A_v^T W A_v`` (``A_v = [D_i Xa]_i``, ``W = t
\nabla^2 L``); let ``E_i = B_{v_i}^{-1} + B_{w_i}^{-1}``.

- ``"woodbury"``: the Woodbury identity gives one ``n x n`` system ``I + W^{1/2} C C^T
  W^{1/2}`` with ``E_i = M_i M_i^T`` and ``C = [D_i Xa M_i]_i`` (directions of ``E_i`` whose
  term is negligible are left out): about ``n^2 P d`` multiply-adds a step.
- ``"covariance"`` (the cheaper where ``P d`` is below about ``n``): eliminating ``x_w``
  leaves, for ``delta = x_v - x_w``, ``(G + E^{-1}) delta = B_w S^{-1} r_v - B_v S^{-1}
  r_w`` with ``S = B_v + B_w`` and ``E^{-1} = B_v S^{-1} B_w``, a ``P d x P d`` system; then
  ``x_w = S^{-1} (r_v + r_w - B_v delta)``.
  No inverse of an ill-conditioned ``B_g`` is formed: with ``E^{-1}`` from ``B_v^{-1} +
  B_w^{-1}`` the solves lost all accuracy at large ``t`` (the refinement's residual rose from
  1e-11 to 0.8 on the ``n = 10,000`` row below), and the push-through form ``I + M^T G M``
  (``E = M M^T``) lost it from the first steps. With the squared loss ``G = t A_v^T A_v``
  is formed once and a step costs ``(P d)^3 / 3``; with the logistic loss ``G`` is formed
  each step (``n (P d)^2 / 2`` more as the gram of the stacked blocks; about a quarter of
  that by pattern, :meth:`~lift.problems.relu.operators.PatternOperator.gram`). At ``n =
  10,000, P = 500, d = 10`` that is 12x (squared) and 3x (logistic) fewer than the ``n x n``
  form with the stacked blocks' gram, and ``n`` is no longer bounded by the ``n x n``
  matrix's memory.

**Samples left out of the factorization.** With the logistic loss at small ``beta`` the
program is often separable: the predictions grow without bound along the central path and
the loss' second derivatives vanish on many samples (the smallest fell below 1e-100 on the
``n = 2,000`` row below). The factorization (either form) then takes only the samples whose
terms are not negligible together (:meth:`_Barrier.samples`, :data:`SAMPLES_NEGLIGIBLE`);
the iterative refinement, with products by the exact matrix, makes up for the rest. On that
row the steps were the same, 36, and the solve went from 21.2 s to 16.1 s (40-60 % of the
samples in the ``n x n`` system over the last 20 steps).

**Constraint reduction.** A cone ``C_g`` has ``n`` rows in ``d`` dimensions, and nearly all
of them are redundant: a cell of an arrangement of ``n`` hyperplanes in ``d`` dimensions has
a few times ``d`` facets. Their log terms still bend the central path, and their share of
the complementarity sets how far ``eta`` must fall. So the barrier (and the multipliers)
take only the :data:`ROWS_PER_DIMENSION` ``* d`` rows of smallest slack of each cone at the
start, and every row that comes among the nearest ones after a step (it starts central,
``mu s = eta``). The step to the boundary is still taken over every row, so each iterate is
strictly inside the whole cone, and the certificate (whose multipliers are zero on the rows
left out) is unchanged. On the logistic row ``n = 10,000, d = 10, P = 500, beta = 0.00113``
(``2 x 10^7`` cone rows, 51,000 kept) the steps that had crawled at 2-7 % of the way to the
boundary (a certified 0.47 after 118 steps) took 50-99 % of it, and it certified 8.7e-7 in
53 steps; at ``n = 2,000`` (``beta = 0.000331``) 48 steps instead of 84 and 16 of the
polish. With the rows reduced the last steps are long, so the point goes to ``ssnal`` only
when the gap creeps (:data:`POLISH_SLOW`), not at :data:`POLISH_GAP`.

The multipliers and everything computed from them live on the kept rows only, group by
group (:class:`_Rows`: ``2 P x m`` arrays, ``m`` the most rows a group keeps, with the
kept rows of ``K`` gathered once per change); the blocks ``K_g^T diag(t mu_g / s_g) K_g``
and the products ``K^T v`` are batched ``d``-sized products. A step touches the ``n x 2 P``
arrays only for the slacks, the nearest rows of each cone, and the step to the boundary of
each direction (one ``(n x d)(d x 2 P)`` product, scaled by ``1 / s`` in place, and its
minimum). With the multipliers, their steps and the products as ``n x 2 P`` arrays too (the
first layout) a step made about 75 passes over such arrays: on the squared row ``n = 10,000,
beta = 0.00274`` its first 8 steps took 35.3 s, against 15.2 s with the kept rows' layout.

``beta`` does not enter the cost: this is the solver for what the first-order and semismooth
Newton methods cannot do,
the cone program at very small ``beta``, where the projections on the ``C_g`` change faces
at every step (``ssnal`` and projected FISTA stall there; Clarabel takes a minute at ``n =
500``).

The certificate is explicit, as for every solver of the library. Dual candidates: the loss
gradient ``lambda = grad L(A U)`` with the multipliers ``mu`` (on the central path
``A_g^T lambda - K_g^T mu_g = -beta u_g / ||u_g||``: exactly feasible), and the dual point of
each Newton step (the gradient at the linearized predictions, the multipliers' full step),
whose rows are feasible to first order whatever the centering. Group by group, where it gives
a smaller norm, multipliers fitted by least squares on the ``d`` rows of smallest slack
replace them. The monitor scales ``lambda`` into the dual constraints; the solver stops on
the certified relative gap.

References
----------
S. Mehrotra. On the implementation of a primal-dual interior point method. SIAM J. Optim.
2(4), 1992.
J. Gondzio. Multiple centrality corrections in a primal-dual method for linear programming.
Comput. Optim. Appl. 6, 1996.
S. Boyd and L. Vandenberghe. Convex Optimization, chapter 11 (barrier and primal-dual
interior-point methods). Cambridge University Press, 2004.
M. Pilanci and T. Ergen. Neural networks are convex regularizers: exact polynomial-time
convex optimization formulations for two-layer networks. ICML 2020.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from lift.base import SolverResult
from lift.errors import MEMORY_FRACTION, available_memory, check_choice, check_int, check_positive
from lift.problems.relu.cone_fista import offer_dual
from lift.problems.relu.solvers import _numpy, _result, _Setup, _TorchSolver
from lift.solvers.linalg import (
    add_upper_gram,
    cholesky_apply_low,
    drop_negligible,
    row_chunks,
    symmetric_from_upper,
)
from lift.solvers.monitor import gap_message

__all__ = ["AUTO_MAX_WORK", "BARRIER_WORK", "ConeBarrier", "LOSSES", "MAX_COORDINATES",
           "MAX_SAMPLES", "ROWS_PER_DIMENSION", "SYSTEMS", "device_speedup", "offered",
           "peak_bytes", "step_costs", "step_work"]

#: the losses with the second derivatives the Newton steps need
LOSSES = ("squared", "logistic")
#: ``solver="auto"`` offers the barrier method where a Newton step costs at most this many
#: multiply-adds (:func:`step_work`): 15-80 steps certify the programs measured (75 s at
#: ``n = 2,000, P = 500, d = 20``, a step of 2.1e10)
BARRIER_WORK = 5e10
#: the most multiply-adds a step may cost where ``auto`` runs the barrier method after the
#: other specialised solvers stopped short, or first on large logistic cone programs at very
#: small ``beta`` (was 2e11, about 5 s a step on two cores; raised once the ``n = 10,000, d =
#: 20, P = 500`` logistic cone row, a step of 8.3e11 as its gram was counted then (5.8e11
#: now), certified in 37 steps, 740 s, where ``ssnal`` stalls and projected FISTA times out)
AUTO_MAX_WORK = 1e12
#: the largest ``n x n`` system of the ``"woodbury"`` form (memory: ``8 n^2`` bytes, plus the
#: ``n x P d`` blocks)
MAX_SAMPLES = 12_000
#: the largest ``P d x P d`` system of the ``"covariance"`` form (``8 (P d)^2`` bytes, three
#: times)
MAX_COORDINATES = 12_000
#: bytes of the steps' arrays per row of a cone (:func:`peak_bytes`)
BYTES_PER_CONE_ROW = 160
#: the forms of the Newton system (see the module's docstring)
SYSTEMS = ("auto", "woodbury", "covariance")
#: Newton steps over which the squared loss' ``A_v^T A_v`` (formed once) is counted in a
#: step's cost
TYPICAL_STEPS = 50
#: directions of ``E_i`` whose term in the ``n x n`` system has norm below this are left out
#: (the iterative refinement makes up for them)
NEGLIGIBLE = 1e-8
#: with the logistic loss, the samples whose terms in the Newton matrix are together below
#: this (relative, :meth:`_Barrier.samples`) are left out of its factorization (the iterative
#: refinement, with the exact matrix, makes up for them): near the optimum of a separable
#: program most predictions are large and their second derivatives vanish
SAMPLES_NEGLIGIBLE = 1e-8
#: ... unless more than this share of the samples would stay (nothing gained)
SAMPLES_WORTH = 0.8
#: ... and the weights are computed only where at least ``1 - SAMPLES_WORTH`` of the samples
#: have ``w_k`` at most this times the largest (a cheap sign that the program is separable
#: there; the weights cost 0.1 s a step at ``n = 10,000``, where no sample left on the rows
#: measured)
SAMPLES_SMALL = 1e-6
#: rounds of iterative refinement of a Newton step at most
REFINE = 10
#: the Newton matrix of either form (``n x n`` or ``P d x P d``) is formed and factored in this
#: precision (by working precision; half the time of float64 on a CPU, where forming it was
#: most of a step on the dense cone rows), its factor refined in the working precision; where
#: a step's refinement leaves a relative residual above LOW_RESIDUAL (or the factorization
#: fails) the step is solved again in the working precision, and so is the rest of the solve
#: (the systems grow worse conditioned as the barrier weight grows)
LOW_DTYPE = {torch.float64: torch.float32}
LOW_RESIDUAL = 1e-9
#: entries of the low-precision matrix below this times the geometric mean of their diagonal
#: entries are dropped (:func:`~lift.solvers.linalg.drop_negligible`)
LOW_FLUSH = 1e-12
#: halvings of the predictor-corrector's primal step before a damped centering step instead
SAFEGUARD = 8
#: stalled: the total complementarity is this far below the gap the tolerance allows (the
#: certificate is then limited by rounding)
ROUNDING = 1e-4
#: the target complementarity is at least this times the stationarity residual's share of the
#: gap (per row; 0.1 until the correctors came: 49 steps on the logistic row of the module's
#: docstring against 41 at 0.01, 46 at 0.003 and 59 with no floor)
BALANCE = 0.01
#: Gondzio's centrality correctors a step at most, how much longer a step each aims at, the
#: share of that it must gain to be kept, and the box of the complementarity products around
#: the target
CORRECTORS = 2
CORRECTOR_REACH = 0.2
CORRECTOR_GAIN = 0.1
CORRECTOR_BOX = (0.1, 10.0)
#: the certified relative gap from which the solution is polished by ``ssnal``
POLISH_GAP = 1e-5
#: ... or from which it is polished once the gap has not halved in POLISH_SPAN steps (on the
#: grid's 80 % cone row with bias the steps crawled from 1.6e-5 to 1.0e-5 in 97 steps, 48 s;
#: ``ssnal`` from 1e-4 took 10 steps on ``small_beta``, from 1e-3 43, from 1e-2 it stalled)
POLISH_SLOW = 1e-4
POLISH_SPAN = 10
#: ... but not while the last step cut the gap to this fraction or less (at n = 10,000 the
#: steps went 2.8e-5, 3.2e-6; the polish then took 8 steps of 5 s)
POLISH_FAST = 0.25
#: stalled: the certified gap (upper minus lower) fell by less than STALL_DROP in STALL_SPAN
#: steps (on 1-D patterns at n = 100, the Newton steps' residual stayed at 4.5e-5 from
#: t = 6e12 on, and the gap at 1.4e-6 for 270 steps)
STALL_SPAN = 20
STALL_DROP = 0.05
#: fraction of the step to the boundary of the feasible set taken at most
TO_BOUNDARY = 0.99
#: rows of each cone in the barrier, per input dimension (``ConeBarrier.cone_rows``)
ROWS_PER_DIMENSION = 4


def step_costs(n: int, P: int, d: int, squared: bool = True) -> dict[str, float]:
    """Multiply-adds of one Newton step in each form of the system that fits its size limit:
    ``"woodbury"`` forms the ``n x n`` matrix ``C C^T`` (about ``n^2 P d`` with its
    factorization); ``"covariance"`` factors a ``P d x P d`` matrix (``(P d)^3 / 3``) and, with
    the logistic loss, forms ``A_v^T W A_v`` each step. That gram
    (:meth:`~lift.problems.relu.operators.PatternOperator.gram`) takes about ``n (P d)^2 /
    8`` multiply-adds in thin products, 1.0-2.4x faster than the ``n (P d)^2 / 2`` of one
    large product measured (``benchmarks/relu_gram.py``): counted as ``n (P d)^2 / 4`` at
    the large product's rate. With the squared loss it is formed once, counted as ``n (P
    d)^2 / 2`` over :data:`TYPICAL_STEPS` steps (the limits of the squared rows were
    measured with that count)."""
    M = P * d
    costs = {}
    if n <= MAX_SAMPLES:
        costs["woodbury"] = float(n) * n * M
    if M <= MAX_COORDINATES:
        gram = float(n) * M * M / (2 * TYPICAL_STEPS if squared else 4)
        costs["covariance"] = M**3 / 3 + gram
    return costs


def peak_bytes(n: int, P: int, d: int, form: str) -> float:
    """Memory of the steps, about: :data:`BYTES_PER_CONE_ROW` per row of each cone (the
    slacks, multipliers, their steps and temporaries, ``n x 2 P`` each) and three copies of
    the system's matrix (``n x n`` or ``P d x P d``; with the first, the ``n x P d`` columns)."""
    side = n if form == "woodbury" else P * d
    return BYTES_PER_CONE_ROW * n * 2 * P + 24.0 * side * side + (
        8.0 * n * P * d if form == "woodbury" else 0.0)


def step_work(n: int, P: int, d: int, squared: bool = True) -> float:
    """Multiply-adds of one Newton step in the cheaper form (``inf`` where neither fits)."""
    return min(step_costs(n, P, d, squared).values(), default=math.inf)


def offered(n: int, P: int, d: int, squared: bool = True, speedup: float = 1.0) -> bool:
    """Whether ``solver="auto"`` tries the barrier method on a cone program of this size: a
    Newton step of at most :data:`BARRIER_WORK` multiply-adds, times ``speedup`` on a device
    that many times faster than the CPU it was set for (:func:`device_speedup`)."""
    return step_work(n, P, d, squared) <= BARRIER_WORK * speedup


def device_speedup(device: torch.device) -> float:
    """How many times faster than the CPU ``device`` does float64 matrix products: 1 on the
    CPU (nothing measured), else the ratio of :func:`~lift.problems.relu.ssnal.gemm_rate`
    (a 2048-cubed product on the device, which a 512-cubed one leaves launch-bound there).
    :data:`BARRIER_WORK` and :data:`AUTO_MAX_WORK` were set on two CPU cores; on an H200 a
    step of the ``n = 50,000`` cone row (6e11 multiply-adds) took 53 ms against about 10 s
    here (BENCHMARKS.md, "On a GPU")."""
    if device.type == "cpu":
        return 1.0
    from lift.problems.relu.ssnal import gemm_rate

    return gemm_rate(device, torch.float64, size=2048) / gemm_rate(torch.device("cpu"),
                                                                     torch.float64)


def _interior_directions(lifted, live: np.ndarray, X: torch.Tensor, S: torch.Tensor
                         ) -> torch.Tensor | str:
    """A unit vector strictly inside each pattern's cone (``P x d``), given the nonzero
    samples ``live`` (their rows ``X``, signs ``S``): the lift's gates, or the largest-margin
    gate of a linear program where a gate lies on a sample's hyperplane. A message instead
    where a pattern's cone has no interior."""
    from lift.problems.relu.arrangements import interior_gates

    Xa, D = lifted.problem.Xa[live], lifted.D[live]
    bad = np.arange(D.shape[1])
    H = torch.zeros(D.shape[1], X.shape[1], dtype=X.dtype, device=X.device)
    if lifted.gates is not None:
        H = torch.as_tensor(np.asarray(lifted.gates, dtype=np.float64), dtype=X.dtype,
                            device=X.device)
        H = H / H.norm(dim=1, keepdim=True).clamp_min(torch.finfo(X.dtype).tiny)
        margin = (S * (X @ H.T) / X.norm(dim=1, keepdim=True)).amin(0)
        bad = torch.nonzero(margin <= 1e-9).flatten().cpu().numpy()
    if bad.size:
        try:
            fixed = interior_gates(Xa, D[:, bad])
        except ValueError as err:
            return f"a pattern's cone has no interior ({err}); use solver='clarabel'"
        Hb = torch.as_tensor(fixed, dtype=X.dtype, device=X.device)
        H[torch.as_tensor(bad, device=X.device)] = Hb / Hb.norm(dim=1, keepdim=True)
    return H


class _Multipliers:
    """Keeps the cone multipliers of the monitor's best dual point (on the rows in the barrier,
    :class:`_Rows`; made dense, ``n x 2 P``, once at the end)."""

    def __init__(self, mon, live: np.ndarray, n: int) -> None:
        self.mon, self.live, self.n = mon, live, n
        # (scale, multipliers, the rows they belong to: _Rows.where at the time)
        self.best: tuple[float, torch.Tensor, torch.Tensor | None] | None = None
        self.lam = None  # the monitor's dual point these multipliers belong to

    def offer(self, lam: torch.Tensor, norm_max: float, mu: torch.Tensor,
              where: torch.Tensor | None) -> None:
        scale = offer_dual(self.mon, lam, norm_max)
        if scale is not None:  # kept as they are (never changed in place), made dense once
            self.best, self.lam = (scale, mu, where), self.mon.best_lam

    def dense(self, P: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.best is None:
            return None
        scale, mu, where = self.best
        full = np.zeros((self.n, 2 * P))
        full[self.live] = scale * _numpy(_Rows.scatter(mu, where, int(self.live.sum())))
        return full[:, :P], full[:, P:]


class _Rows:
    """The cone rows in the barrier, group by group (:data:`ROWS_PER_DIMENSION`, "Constraint
    reduction" in the module's docstring). Row ``where[g, k]`` of the samples is the ``k``-th
    row that signed group ``g`` keeps (``-1``: none, padding), so the multipliers and every
    quantity on the kept rows are ``2 P x m`` arrays, ``m`` the most rows a group keeps,
    instead of ``n x 2 P`` ones; the kept rows of ``K`` are gathered once per change, and the
    products with them are batched ``d``-sized ones. Padding has zero rows of ``K`` and zero
    multipliers. With every row kept (``cone_rows=0``) nothing is gathered: the arrays are the
    dense ones, transposed."""

    def __init__(self, Xc: torch.Tensor, S2: torch.Tensor, sl: torch.Tensor, keep: int) -> None:
        self.Xc, self.S2 = Xc, S2
        n, G = sl.shape
        self.keep, self.dense = keep, keep >= n
        self.where: torch.Tensor | None = None
        self._XX: torch.Tensor | None = None  # x x^T of each sample, flat (dense blocks)
        if self.dense:
            self.on = torch.ones(G, n, dtype=sl.dtype, device=sl.device)
            self.count = float(G * n)
            return
        J = torch.topk(sl, keep, dim=0, largest=False).indices
        self.member = torch.zeros(n, G, dtype=torch.bool, device=sl.device)
        self.member.scatter_(0, J, True)
        self._set(J.T.contiguous(), torch.ones(G, keep, dtype=sl.dtype, device=sl.device))

    def _set(self, where: torch.Tensor, on: torch.Tensor) -> None:
        self.where, self.on = where, on  # new tensors at every change: kept by _Multipliers
        self._at = where.clamp_min(0)
        # 2P x m x d: the kept rows of each K_g, zero padding
        self.K = self.rows_of_K(self._at) * on[:, :, None]
        self.count = float(on.sum())

    def rows_of_K(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx[g]`` (sample indices, ``2 P x k``) of each ``K_g``: ``2 P x k x d``."""
        return torch.gather(self.S2.T, 1, idx)[:, :, None] * self.Xc[idx]

    def take(self, A: torch.Tensor) -> torch.Tensor:
        """The kept entries (``2 P x m``) of the ``n x 2 P`` array ``A``."""
        return A.T if self.dense else torch.gather(A.T, 1, self._at)

    def slacks(self, du: torch.Tensor) -> torch.Tensor:
        """``K_g du_g`` on the kept rows."""
        if self.dense:
            return (self.S2 * (self.Xc @ du.T)).T
        return torch.bmm(self.K, du[:, :, None])[:, :, 0]

    def adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``K^T v``: rows ``K_g^T v_g`` (``v`` on the kept rows)."""
        if self.dense:
            return (self.S2 * v.T).T @ self.Xc
        return torch.bmm(v[:, None, :], self.K)[:, 0, :]

    def blocks(self, w: torch.Tensor) -> torch.Tensor:
        """``K_g^T diag(w_g) K_g`` for each group (``w`` on the kept rows)."""
        if self.dense:
            if self._XX is None:
                self._XX = _outer_rows(self.Xc)
            d = self.Xc.shape[1]
            return (w @ self._XX).reshape(w.shape[0], d, d)
        return torch.bmm(self.K.transpose(1, 2), self.K * w[:, :, None])

    def locate(self, J: torch.Tensor) -> torch.Tensor:
        """Where the kept rows ``J`` (``k x 2 P`` sample indices, each kept by its column's
        group) are in the ``2 P x m`` arrays (``2 P x k``)."""
        if self.dense:
            return J.T
        return (self.where[:, :, None] == J.T[:, None, :]).to(torch.int8).argmax(1)

    def add(self, J: torch.Tensor, sl: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """Keeps also the rows ``J`` (``keep x 2 P`` sample indices: each cone's rows of
        smallest slack ``sl``); the rows added start central (``mu s = eta``). Returns the
        multipliers on the new layout."""
        if self.dense:
            return mu
        new = ~torch.gather(self.member, 0, J)
        if not bool(new.any()):
            return mu
        eta = float((mu * self.take(sl)).sum()) / self.count
        k, g = torch.nonzero(new, as_tuple=True)
        rows = J[k, g]
        pos = self.on.sum(1).long()[g] + (new.cumsum(0) - 1)[k, g]  # after each group's rows
        G, m = self.on.shape
        m2 = max(m, int(pos.max()) + 1)
        where = torch.full((G, m2), -1, dtype=self.where.dtype, device=mu.device)
        on = torch.zeros(G, m2, dtype=mu.dtype, device=mu.device)
        mu2 = torch.zeros_like(on)
        where[:, :m], on[:, :m], mu2[:, :m] = self.where, self.on, mu
        where[g, pos], on[g, pos], mu2[g, pos] = rows, 1.0, eta / sl[rows, g]
        self.member[rows, g] = True
        self._set(where, on)
        return mu2

    @staticmethod
    def scatter(mu: torch.Tensor, where: torch.Tensor | None, n: int) -> torch.Tensor:
        """The multipliers ``mu`` (kept rows ``where``; None: every row) as an ``n x 2 P``
        array, zero on the rows not kept."""
        if where is None:
            return mu.T
        full = torch.zeros(n, mu.shape[0], dtype=mu.dtype, device=mu.device)
        return full.scatter_add_(0, where.clamp_min(0).T, mu.T)


@dataclasses.dataclass
class ConeBarrier(_TorchSolver):
    r"""Primal-dual interior-point method for the cone-constrained ReLU program (squared or
    logistic loss); see :mod:`lift.problems.relu.barrier`.

    Robust where the other cone solvers stall (very small ``beta``, dense optima on the
    edges of the cones); each Newton step factors an ``n x n`` or a ``P d x P d`` matrix
    (:func:`step_costs`), so with moderate ``beta`` ``ssnal`` is cheaper.

    Attributes
    ----------
    max_iters : int
        Budget of Newton steps (predictor-corrector pairs: one factorization each); the
        polish has a budget as large.
    polish : bool
        From a certified gap of :data:`POLISH_GAP` on, hand the point to ``ssnal``'s
        semismooth Newton steps (they converge fast from there; the interior-point dual
        estimates stall near 1e-6 on the largest programs measured).
    system : {"auto", "woodbury", "covariance"}
        The form of the Newton system (module docstring): ``"auto"`` takes the one with fewer
        multiply-adds a step.
    cone_rows : int, optional
        Rows of each cone that enter the barrier: the ones of smallest slack, with every row
        that comes among the nearest as the steps move on (default
        :data:`ROWS_PER_DIMENSION` times ``d``; 0 keeps every row). See the module's
        docstring, "Constraint reduction".
    max_work : float, optional
        Stop at once, saying so, where a Newton step (:func:`step_work`) would cost more
        multiply-adds (``solver="auto"`` passes :data:`AUTO_MAX_WORK`: it may reach this
        solver on larger programs than it prefers it for, after the others stopped short).
    device, dtype, threads
        As for :class:`~lift.problems.relu.solvers.GatedFISTA` (float64: the Newton
        matrices span many orders of magnitude).

    A warm start is not used: the iterates start inside the cones, from the gates.
    """

    max_iters: int = 300
    polish: bool = True
    system: str = "auto"
    max_work: float | None = None
    cone_rows: int | None = None

    def __post_init__(self) -> None:
        self._no_step_settings("the interior-point method has none")
        self.system = check_choice(self.system, "system", SYSTEMS)
        if self.max_work is not None:
            self.max_work = check_positive(self.max_work, "max_work")
        if self.cone_rows is not None:
            self.cone_rows = check_int(self.cone_rows, "cone_rows")

    def rows_kept(self, d: int) -> int | float:
        """Rows of each cone in the barrier (``inf``: all)."""
        if self.cone_rows is None:
            return ROWS_PER_DIMENSION * d
        return self.cone_rows or math.inf

    def _threads_work(self, lifted) -> float:
        n, d = lifted.problem.Xa.shape
        return step_work(n, lifted.P, d, lifted.problem.loss.name == "squared")

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        if lifted.program != "cone":
            raise ValueError("solver='barrier' solves the cone program (program='cone'); "
                             "for the gated program use 'ssnal' or 'fista'.")
        op = s.op
        costs = step_costs(op.n, op.P, op.d, s.loss.name == "squared")
        if self.system != "auto":
            costs = {k: v for k, v in costs.items() if k == self.system}
        form = min(costs, key=costs.get) if costs else None
        state = _Barrier(s, lifted, form)
        stopped = ""
        if form is None:  # reported like a stall, so that auto goes on
            stopped = (f"stopped: its Newton system is n x n (n = {op.n}, limit {MAX_SAMPLES}) "
                       f"or P d x P d (P d = {op.P * op.d}, limit {MAX_COORDINATES})"
                       + ("" if self.system == "auto" else f" with system='{self.system}'")
                       + ", above the size limits; use solver='ssnal' or 'fista'")
        elif self.max_work is not None and (work := costs[form]) > self.max_work:
            stopped = (f"stopped: a Newton step would cost {work:.1e} multiply-adds, above "
                       f"max_work = {self.max_work:.1e}")
        elif (need := peak_bytes(op.n, op.P, op.d, form)) > MEMORY_FRACTION * (
                available_memory(op.device) or math.inf):
            stopped = (f"stopped: its steps would need about {need / 2**30:.3g} GiB of memory "
                       f"(the n x 2P slacks and multipliers and the {form} system), more than "
                       f"is available on {op.device}; use solver='ssnal' or 'fista', or fewer "
                       "patterns")
        if stopped:
            U, steps = torch.zeros(2 * op.P, op.d, dtype=op.dtype, device=op.device), 0
        else:
            U, steps, stopped = state.solve(self, POLISH_GAP if self.polish else 0.0)
        P = op.P
        polish, done = {}, f"{steps} Newton steps" + (f" ({stopped})" if stopped else "")
        theirs = None  # the polish's multipliers
        if self.polish and not s.monitor.stopped and not stopped.startswith("stopped"):
            V, F, theirs, polish = _polish(s, U, self.max_iters)
            done += f", then ssnal from its point: {polish['newton_steps']} Newton steps" + (
                f" ({polish['stopped']})" if polish["stopped"] else "")
            if not s.monitor.stopped and not stopped:
                # the polish stopped short (on nearly collinear 1-D patterns it stalled at
                # 1.1e-6): the interior-point steps go on from where they were
                before = steps
                U, steps, stopped = state.solve(self)
                done += f", then {steps - before} more interior-point steps" + (
                    f" ({stopped})" if stopped else "")
            if F < state.best_F:
                U = V
        if theirs is not None and state.kept.lam is not s.monitor.best_lam:
            multipliers = theirs.dense()  # ssnal found the best dual point
        else:
            multipliers = state.kept.dense(P)
        msg = gap_message(s.monitor, done)
        Uh = _numpy(U)
        primal = {"V": Uh[:P], "W": Uh[P:], "multipliers": multipliers}
        info = {"newton_steps": steps, "system": form, "stalled": stopped.startswith("stalled"),
                "fallbacks": state.fallbacks, "corrections": state.corrections,
                "columns": state.columns, "fewest_samples": state.fewest_samples,
                "stationarity": state.stationarity, "polish": polish,
                "cone_rows": state.rows_in_barrier(), "low_precision_steps": state.low_steps}
        return _result(s, "barrier", steps, msg, primal, info)


class _Barrier:
    """The barrier problem's data, its Newton steps and the certificate of each iterate."""

    def __init__(self, s: _Setup, lifted, form: str | None = "woodbury") -> None:
        op = s.op
        self.s, self.lifted, self.form = s, lifted, form
        self.G0: torch.Tensor | None = None  # A_v^T A_v of the squared loss ("covariance")
        X, D = op.Xa, op.D
        live = X.norm(dim=1) > 0  # a zero sample gives the row 0 >= 0: no constraint
        self.live = live.cpu().numpy()
        self.Xc = X[live]
        S = (2.0 * D - 1.0)[live]
        self.S2 = torch.cat([S, S], 1)  # n_live x 2P: the signs of the cone rows
        self.kept = _Multipliers(s.monitor, self.live, op.n)
        self.spectral = float(torch.linalg.matrix_norm(X, 2)) ** 2  # ||D_i Xa v|| <= this
        self.fallbacks = self.columns = self.corrections = 0
        self.low = LOW_DTYPE.get(op.dtype)  # the Newton matrices' precision, None: working
        self.low_steps = 0  # steps solved with a low-precision factor
        self.fewest_samples = s.op.n  # the fewest samples in a factorization (samples)
        self.residual = self.stationarity = 0.0
        self.point: tuple[torch.Tensor, torch.Tensor] | None = None  # (U, mu) to go on from
        self.rows: _Rows | None = None  # the cone rows in the barrier (set with the start)
        # n_live x 2 P work arrays of the steps to the boundary, made once
        self._inv: torch.Tensor | None = None
        self._work: torch.Tensor | None = None
        self.eye = torch.eye(op.d, dtype=op.dtype, device=op.device)

    # ---------------------------------------------------------------- products and values
    def forward(self, U: torch.Tensor) -> torch.Tensor:
        return self.s.op.signed_forward(U)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        return self.s.op.signed_adjoint(r)

    def slacks(self, U: torch.Tensor) -> torch.Tensor:
        """The slacks of every row of every cone, ``n_live x 2 P``."""
        return (self.Xc @ U.T).mul_(self.S2)

    def phi(self, U: torch.Tensor, t: float, slk: torch.Tensor | None = None) -> float:
        """``phi_t`` (``inf`` outside the interiors of the kept rows' half-spaces; the other
        rows are inside by the step to the boundary); ``slk``: the kept rows' slacks of
        ``U``."""
        rows = self.rows
        slk = rows.slacks(U) if slk is None else slk
        slk = torch.where(rows.on > 0, slk, 1.0)  # (padding)
        if not bool((slk > 0).all()):
            return math.inf
        s = self.s
        F = float(s.loss.torch(self.forward(U), s.y)) + s.beta * float(U.norm(dim=1).sum())
        return t * F - float(torch.log(slk).sum())

    # ---------------------------------------------------------------- the certificate
    def certify(self, U: torch.Tensor, z: torch.Tensor, J: torch.Tensor,
                mu: torch.Tensor) -> bool:
        """Offer ``U`` and the dual point ``(grad L(z), mu)`` to the monitor (``J``: each
        cone's rows of smallest slack, :meth:`offer`)."""
        s = self.s
        self.offer(s.loss.torch_grad(z, s.y), mu, J)
        F = float(s.loss.torch(z, s.y)) + s.beta * float(U.norm(dim=1).sum())
        if F < self.best_F:
            self.best_F, self.best_U = F, U
        return s.monitor.record(self.steps, F)

    def offer_step(self, z, J, du, mu) -> None:
        """The dual point of the step ``du`` (multipliers ``mu`` after it): the loss gradient
        at the linearized predictions ``z + A du``. Its dual rows are feasible to first order
        whatever the centering, where the current point's rows are off by the residual of the
        stationarity condition."""
        s = self.s
        lam = s.loss.torch_grad(z, s.y) + s.loss.torch_hess(z, s.y) * self.forward(du)
        self.offer(lam, mu.clamp_min(0.0), J)

    def offer(self, lam: torch.Tensor, mu: torch.Tensor, J: torch.Tensor) -> None:
        """``lam`` with the cone multipliers ``mu`` (on the kept rows), or, group by group
        where it gives a smaller norm of the dual row, multipliers fitted by least squares on
        the rows ``J`` (``k x 2 P``: each cone's ``k`` rows of smallest slack, all kept)."""
        rows = self.rows
        base = self.adjoint(lam)  # rows A_g^T lam, 2P x d
        norms = (base - rows.adjoint(mu)).norm(dim=1)
        if J.shape[0]:
            B = rows.rows_of_K(J.T).transpose(1, 2)  # 2P x d x k
            fit = _lstsq(B, base[:, :, None]).clamp_min(0.0)
            rn = (base - (B @ fit)[:, :, 0]).norm(dim=1)
            better = rn < norms
            if bool(better.any()):
                norms = torch.where(better, rn, norms)
                ls = torch.zeros_like(mu).scatter_(1, rows.locate(J), fit[:, :, 0])
                mu = torch.where(better[:, None], ls, mu)
        self.kept.offer(lam, float(norms.max()), mu, rows.where)

    # ---------------------------------------------------------------- Newton steps
    def objective_gradient(self, U: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``grad F``: ``A^T grad L(z) + beta u_g / ||u_g||``."""
        s = self.s
        return self.adjoint(s.loss.torch_grad(z, s.y)) + s.beta * U / U.norm(dim=1)[:, None]

    def newton_system(self, U, z, t, blocks):
        """A solver of ``(t grad^2 F + K^T diag(w) K) x = r`` (None where it cannot be
        factored), with iterative refinement; ``blocks``: the second term's ``2 P`` blocks
        ``K_g^T diag(w_g) K_g`` (:meth:`_Rows.blocks`)."""
        s = self.s
        un = U.norm(dim=1)
        uh = U / un[:, None]
        B = blocks + (t * s.beta / un)[:, None, None] * (
            self.eye - uh[:, :, None] * uh[:, None, :])
        h = s.loss.torch_hess(z, s.y).clamp_min(0.0)
        w2 = t * h
        # the blocks' inverses (the "woodbury" form; the samples' weights, made where needed)
        Binv = None if self.form == "covariance" else _spd_inverse(B)
        idx = self.samples(B, Binv, w2)
        def build(dtype):
            if self.form == "covariance":
                return self._covariance_inverse(B, h, t, idx, dtype)
            return None if Binv is None else self._woodbury_inverse(Binv, w2, idx, dtype)

        low = self.low
        inverse = None if low is None else build(low)
        if inverse is None:
            low = self.low = None
            inverse = build(None)
        if inverse is None:
            return None
        held = {"inverse": inverse, "low": low}

        def hessian(v: torch.Tensor) -> torch.Tensor:
            return _bmv(B, v) + self.adjoint(w2 * self.forward(v))

        def refine(r: torch.Tensor, rounds: int) -> torch.Tensor:
            # iterative refinement: at large t the systems are badly conditioned, and the dual
            # point of a step (offer_step) is only as accurate as the step; until the
            # residual is at rounding level or no longer halves, at most `rounds` rounds
            inverse = held["inverse"]
            x = inverse(r)
            rn = max(float(r.norm()), 1e-300)
            last = math.inf
            for _ in range(rounds):
                res = r - hessian(x)
                self.residual = float(res.norm()) / rn
                if self.residual <= 1e-13 or self.residual > 0.5 * last:
                    break
                last = self.residual
                x = x + inverse(res)
            return x

        def solve(r: torch.Tensor, rounds: int = REFINE) -> torch.Tensor:
            x = refine(r, rounds)  # (an unrefined predictor is as accurate as the factor)
            if held["low"] is not None and rounds > 0 and self.residual > LOW_RESIDUAL:
                again = build(None)
                self.low = held["low"] = None  # this system and the rest of the solve
                if again is not None:
                    held["inverse"] = again
                    x = refine(r, rounds)
            return x

        if low is not None:
            self.low_steps += 1
        return solve

    def samples(self, B: torch.Tensor, Binv: torch.Tensor | None, w2: torch.Tensor
                ) -> torch.Tensor | None:
        """The samples whose terms enter the factorization of the Newton matrix (None: all).
        Sample ``k`` adds ``w_k a_k a_k^T`` (``a_k`` its row of ``A_v``, ``w = t grad^2 L``);
        relative to the rest, through the Woodbury form, its weight is ``w_k a_k^T E a_k``
        (``E_i = B_v^{-1} + B_w^{-1}``, from ``Binv``, the inverses of the blocks ``B``,
        made here where None). The samples of smallest weight, together at most
        :data:`SAMPLES_NEGLIGIBLE`, are left out: with the logistic loss (the squared loss'
        weights are constant), where the rest is at most :data:`SAMPLES_WORTH` of them. On the
        ``n = 2,000`` logistic row of the module's docstring, from the 16th of 36 steps on,
        40-60 % of the samples stay."""
        n = self.s.op.n
        if self.s.loss.name == "squared" or not w2.numel() or int(
                (w2 <= SAMPLES_SMALL * float(w2.max())).sum()) < (1.0 - SAMPLES_WORTH) * n:
            return None
        Binv = _spd_inverse(B) if Binv is None else Binv
        if Binv is None:
            return None
        weight = self.sample_weights(Binv, w2)
        order = torch.argsort(weight)
        dropped = int((torch.cumsum(weight[order], 0) <= SAMPLES_NEGLIGIBLE).sum())
        if n - dropped > SAMPLES_WORTH * n:
            return None
        self.fewest_samples = min(self.fewest_samples, n - dropped)
        return torch.sort(order[dropped:]).values

    def sample_weights(self, Binv: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        """``w_k a_k^T E a_k`` for each sample (:meth:`samples`), by row chunks: ``a_k^T E a_k
        = sum_i D_ki x_k^T E_i x_k``, ``n P d^2`` multiply-adds."""
        op = self.s.op
        P, d = op.P, op.d
        E = (Binv[:P] + Binv[P:]).reshape(P, d * d)
        weight = torch.empty_like(w2)
        for rows in row_chunks(op.n, d * d + P):
            weight[rows] = ((_outer_rows(op.Xa[rows]) @ E.T) * op.D[rows]).sum(1)
        return (weight * w2).clamp_min(0.0)

    def _covariance_inverse(self, B, h, t, idx=None, dtype=None):
        """The ``"covariance"`` form: ``(G + E^{-1}) delta = B_w S^{-1} r_v - B_v S^{-1} r_w``,
        ``x_w = S^{-1} (r_v + r_w - B_v delta)``, ``x_v = x_w + delta`` with ``S = B_v + B_w``
        and ``E^{-1} = B_v S^{-1} B_w``: no inverse of an ill-conditioned ``B_g`` is formed
        (None where a matrix cannot be factored); ``dtype``: the precision of the ``P d x P
        d`` system (see :data:`LOW_DTYPE`; default the working one)."""
        op = self.s.op
        P, d = op.P, op.d
        Bv, Bw = B[:P], B[P:]
        Ls = _cholesky(Bv + Bw)
        if Ls is None:
            return None
        Einv = Bv @ torch.cholesky_solve(Bw, Ls)
        Einv = 0.5 * (Einv + Einv.transpose(1, 2))
        dtype = dtype or h.dtype
        if self.s.loss.name == "squared":  # h is constant: A_v^T diag(h) A_v once
            if self.G0 is None:
                self.G0 = op.gram(h)
            K = t * self.G0.to(dtype)
        elif idx is None:
            K = op.gram(h, dtype=dtype).mul_(t)
        else:  # the samples whose terms are not negligible (samples)
            K = op.rows(idx).gram(h[idx], dtype=dtype).mul_(t)
        every = torch.arange(P, device=K.device)
        K.view(P, d, P, d)[every, :, every, :] += Einv.to(dtype)  # the diagonal blocks
        self.columns = P * d
        L = _newton_factor(K, low=dtype != h.dtype)
        del K
        if L is None:
            return None

        def sinv(x: torch.Tensor) -> torch.Tensor:
            return torch.cholesky_solve(x[:, :, None], Ls)[:, :, 0]

        def inverse(r: torch.Tensor) -> torch.Tensor:
            rv, rw = r[:P], r[P:]
            rhs = _bmv(Bw, sinv(rv)) - _bmv(Bv, sinv(rw))
            delta = cholesky_apply_low(L, rhs.reshape(-1), LOW_FLUSH).reshape(P, d)
            xw = sinv(rv + rw - _bmv(Bv, delta))
            return torch.cat([xw + delta, xw])

        return inverse

    def _woodbury_inverse(self, Binv, w2, idx=None, dtype=None):
        """The ``"woodbury"`` form, from the blocks' inverses ``Binv``: one ``n x n`` system
        (None where it cannot be factored); ``idx``: only those samples' rows and columns
        (:meth:`samples`); ``dtype``: the system's precision (see :data:`LOW_DTYPE`; default
        the working one)."""
        op = self.s.op
        P = op.P
        # E_i = B_v^-1 + B_w^-1 = M_i M_i^T, without the directions whose term in the n x n
        # system has norm below NEGLIGIBLE (the refinement makes up for them)
        lam, V = torch.linalg.eigh(Binv[:P] + Binv[P:])
        keep = lam * float(w2.max()) * self.spectral > NEGLIGIBLE
        M = V * lam.clamp_min(0.0).sqrt()[:, None, :]
        self.columns = int(keep.sum())
        rows = slice(None) if idx is None else idx
        w = w2[rows].sqrt()
        dtype = dtype or w2.dtype
        # the n x P d blocks formed in the system's precision, the weights in the rows of Xa
        # (each pass over them is a pass over P d n entries)
        C = torch.einsum("na,iab->nib", (w[:, None] * op.Xa[rows]).to(dtype), M.to(dtype))
        C.mul_(op.D[rows].to(dtype)[:, :, None])
        C = C.reshape(C.shape[0], -1) if bool(keep.all()) else C[:, keep]
        K = torch.zeros(C.shape[0], C.shape[0], dtype=dtype, device=C.device)
        add_upper_gram(K, C.T)  # C C^T from its upper triangle: half the multiply-adds
        del C
        K = symmetric_from_upper(K)
        K.diagonal().add_(1.0)
        L = _newton_factor(K, low=dtype != w2.dtype)
        del K
        if L is None:
            return None

        def inverse(r: torch.Tensor) -> torch.Tensor:
            Br = _bmv(Binv, r)
            sol = torch.zeros_like(w2)
            sol[rows] = w * cholesky_apply_low(L, w * self.forward(Br)[rows], LOW_FLUSH)
            return Br - _bmv(Binv, self.adjoint(sol))

        return inverse

    @staticmethod
    def to_boundary(x: torch.Tensor, dx: torch.Tensor) -> float:
        """The largest step in ``[0, 1]`` with ``x + a dx >= 0`` (``x > 0``; where ``x = 0``,
        padding, no bound): ``-1 / min(dx / x)`` where that is negative."""
        if not dx.numel():
            return 1.0
        return _step_from(float(torch.where(x > 0, dx / x, 0.0).min()))

    def boundary(self, du: torch.Tensor, inv: torch.Tensor) -> float:
        """:meth:`to_boundary` of the slacks for the step ``du``, over every row of every cone:
        ``min(K du / s)`` as one ``(n x d)(d x 2 P)`` product into a work array, times ``inv
        = S2 / s`` in place, and its minimum."""
        if not inv.numel():
            return 1.0
        if self._work is None or self._work.shape != inv.shape:
            self._work = torch.empty_like(inv)
        ratio = torch.mm(self.Xc, du.T, out=self._work).mul_(inv)
        return _step_from(float(ratio.min()))

    def inverse_slacks(self, sl: torch.Tensor) -> torch.Tensor:
        """``S2 / sl`` (for :meth:`boundary`), in a work array made once."""
        if self._inv is None or self._inv.shape != sl.shape:
            self._inv = torch.empty_like(sl)
        return torch.div(self.S2, sl, out=self._inv)

    def rows_in_barrier(self) -> int:
        """How many cone rows the barrier took (at the end; 0 before the first step)."""
        return 0 if self.rows is None else int(self.rows.count)

    @property
    def reduced(self) -> bool:
        """Whether the barrier takes fewer than all the rows of a cone."""
        return self.rows is not None and not self.rows.dense

    def _correct(self, solve, inv, slk, mu, du, dsk, dmu, aim, t):
        """Gondzio's centrality correctors: while the step to the boundary is short, aim the
        complementarity products at ``aim`` (within :data:`CORRECTOR_BOX`) at a step
        :data:`CORRECTOR_REACH` longer, and keep the corrected direction if its step grows
        by at least :data:`CORRECTOR_GAIN` of that. Each corrector is one more solve with the
        step's factorization; the products and the multipliers are on the rows in the barrier
        (``slk``, ``mu``, ``dsk``, ``dmu``), the step to the boundary over every row (``inv``:
        :meth:`inverse_slacks`). Returns the direction, its kept slacks and multipliers, and
        its step to the boundary."""
        ap = min(self.boundary(du, inv), self.to_boundary(mu, dmu))
        if ap >= 1.0 or not CORRECTORS:
            return du, dsk, dmu, ap
        low, high = CORRECTOR_BOX
        rows = self.rows
        for _ in range(CORRECTORS):
            reach = min(1.0, ap + CORRECTOR_REACH)
            prod = (slk + reach * dsk) * (mu + reach * dmu)
            # raise the products far below the aim, lower the ones far above it (by at most
            # high * aim)
            fix = (prod.clamp(low * aim, high * aim) - prod).clamp_min(-high * aim) * rows.on
            dc = solve(rows.adjoint(t * fix / slk))
            duc, dskc = du + dc, dsk + rows.slacks(dc)
            dmuc = dmu + (fix - mu * (dskc - dsk)) / slk
            longer = min(self.boundary(duc, inv), self.to_boundary(mu, dmuc))
            if longer < ap + CORRECTOR_GAIN * (reach - ap):
                break
            du, dsk, dmu, ap = duc, dskc, dmuc, longer
            self.corrections += 1
            if ap >= 1.0:
                break
        return du, dsk, dmu, ap

    def solve(self, opts: ConeBarrier, polish_gap: float = 0.0
              ) -> tuple[torch.Tensor, int, str]:
        """Newton steps from the start inside the cones, or, called again, from where the
        last call stopped (after a polish that stopped short)."""
        s, op = self.s, self.s.op
        P = op.P
        if self.point is None:
            self.steps, self.best_F, self.best_U = 0, math.inf, None
            H = _interior_directions(self.lifted, self.live, self.Xc, self.S2[:, :P])
            if isinstance(H, str):
                return (torch.zeros(2 * P, op.d, dtype=op.dtype, device=op.device), 0,
                        f"stopped: {H}")
            scale = max(float(s.loss.torch(torch.zeros_like(s.y), s.y)), 1e-12)  # L(0)
            U = scale / (4.0 * P * s.beta) * torch.cat([H, H])
            sl = self.slacks(U)
            self.rows = _Rows(self.Xc, self.S2, sl, min(opts.rows_kept(op.d), sl.shape[0]))
            # central for the first barrier parameter N / L(0)
            mu = scale / self.rows.count / self.rows.take(sl) * self.rows.on
            self.point = U, mu
        U, mu = self.point
        rows = self.rows
        k = min(op.d, rows.keep)  # rows of each cone for the certificate's least squares
        gaps: list[float] = []  # the certified relative gap after each step of this call
        spans: list[float] = []  # ... and the certified gap, upper minus lower
        while True:
            z = self.forward(U)
            sl = self.slacks(U)
            near = torch.topk(sl, k if rows.dense else rows.keep, dim=0, largest=False).indices
            # each cone's rows that came among the nearest join the barrier (a no-op at the
            # start and on a call after a polish)
            mu = rows.add(near, sl, mu)
            self.point = U, mu
            slk, J = rows.take(sl), near[:k]
            if self.certify(U, z, J, mu):
                return self.best_U, self.steps, ""
            gaps.append(s.monitor.rel_gap)
            spans.append(s.monitor.upper - s.monitor.best_lower)
            falling = len(gaps) > 1 and gaps[-1] <= POLISH_FAST * gaps[-2]
            # with the rows reduced the last steps are long: no early hand-over (at n = 10,000,
            # squared, 4.9e-6 after 28 steps, 3.0e-8 after 30; ssnal from 4.9e-6 took 22)
            early = gaps[-1] <= polish_gap and not falling and not self.reduced
            if polish_gap > 0.0 and (early or (
                    gaps[-1] <= POLISH_SLOW and len(gaps) > POLISH_SPAN
                    and gaps[-1] > 0.5 * gaps[-1 - POLISH_SPAN])):
                return self.best_U, self.steps, ""
            if self.steps >= opts.max_iters:
                return (self.best_U, self.steps,
                        f"the budget of {opts.max_iters} Newton steps ran out")
            if len(spans) > STALL_SPAN and spans[-1] > (1.0 - STALL_DROP) * spans[-1 - STALL_SPAN]:
                return (self.best_U, self.steps,
                        f"stalled: the certified gap fell by less than {STALL_DROP:.0%} in the "
                        f"last {STALL_SPAN} steps")
            N, on = rows.count, rows.on  # the barrier's parameter: the rows kept
            eta = float((mu * slk).sum()) / N
            if N * eta < ROUNDING * s.monitor.tol * abs(s.monitor.upper):
                return (self.best_U, self.steps,
                        f"stalled: the certified gap {s.monitor.rel_gap:.1e} no longer falls "
                        f"as the complementarity goes to zero ({N * eta:.1e})")
            t = 1.0 / eta
            solve = self.newton_system(U, z, t, rows.blocks(t * mu / slk))
            if solve is None:
                return (self.best_U, self.steps,
                        f"stalled: the Newton system could not be factored at t = {t:.1e}")
            inv = self.inverse_slacks(sl)
            del sl  # (the n x 2 P arrays of a step: the slacks, inv and boundary's work array)
            gF = t * self.objective_gradient(U, z)
            rd = gF / t - rows.adjoint(mu)  # the stationarity residual
            self.stationarity = float(rd.norm(dim=1).max()) / s.beta
            # predictor: the Newton step on the objective alone (no barrier)
            # (it only sets sigma and the corrector's second-order term: not refined, which
            # saves the refinement's rounds, and left the step counts measured unchanged)
            du = solve(-gF, 0)
            dsk = rows.slacks(du)
            dmu = -mu - mu * dsk / slk
            ap, ad = self.boundary(du, inv), self.to_boundary(mu, dmu)
            after = float(((slk + ap * dsk) * (mu + ad * dmu)).sum()) / N
            sigma = min(1.0, (after / eta) ** 3)
            # the complementarity falls no faster than the stationarity residual's share of
            # the gap, sum_g ||u_g|| ||r_g||: else t outruns it and the residual stalls
            floor = BALANCE * float((U.norm(dim=1) * rd.norm(dim=1)).sum()) / N
            sigma = min(1.0, max(sigma, floor / eta, 1e-12))  # (> 0: the target's t is finite)
            # corrector: aim at sigma eta, with the predictor's second-order term
            cross = dsk * dmu
            du = solve(-gF + rows.adjoint(t * (sigma * eta * on - cross) / slk))
            dsk = rows.slacks(du)
            dmu = (sigma * eta * on - mu * slk - cross - mu * dsk) / slk
            du, dsk, dmu, ap = self._correct(solve, inv, slk, mu, du, dsk, dmu, sigma * eta, t)
            self.offer_step(z, J, du, mu + dmu)
            ap *= TO_BOUNDARY
            # safeguard: the barrier problem at the target decreases, else a damped centering
            # step on it (its Newton matrix is replaced by this one: still a descent direction)
            target = 1.0 / (sigma * eta)
            f0 = self.phi(U, target, slk)
            slack = 1e-14 * abs(f0)  # rounding
            for _ in range(SAFEGUARD):
                if self.phi(U + ap * du, target, slk + ap * dsk) <= f0 + slack:
                    ad = ap
                    break
                ap *= 0.5
            else:
                self.fallbacks += 1
                g = target * self.objective_gradient(U, z) - rows.adjoint(on / slk)
                du = solve(-(t / target) * g)
                slope = float((g * du).sum())
                ap = TO_BOUNDARY * self.boundary(du, inv)
                for _ in range(60):
                    if self.phi(U + ap * du, target) <= f0 + 1e-4 * ap * slope + slack:
                        break
                    ap *= 0.5
                else:
                    return (self.best_U, self.steps,
                            f"stalled: no step decreased the barrier problem at t = "
                            f"{target:.1e}")
                dmu = (sigma * eta * on - mu * slk - mu * rows.slacks(du)) / slk
                ad = TO_BOUNDARY * self.to_boundary(mu, dmu)
            U = U + ap * du
            mu = mu + ad * dmu
            self.steps += 1


def _polish(s: _Setup, U: torch.Tensor, budget: int):
    """``ssnal`` from the interior point ``U`` on the same monitor. Returns its point, that
    point's objective, ``ssnal``'s keeper of multipliers and what ``ssnal`` did."""
    from lift.problems.relu.ssnal import SSNAL, _Cone, _Newton, _ssnal

    prog = _Cone(s)
    newton = _Newton(s.op, "auto", 500, squared=s.loss.name == "squared", cone=True)
    V, steps, _, stopped = _ssnal(s, prog, newton, U, SSNAL(max_iters=budget))
    F = float(s.loss.torch(s.op.signed_forward(V), s.y)) + s.beta * float(V.norm(dim=1).sum())
    return V, F, prog.kept, {"newton_steps": steps, "stopped": stopped}


def _lstsq(B: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Least-squares solutions of the batched systems ``B x = b``, rank-deficient ones too:
    LAPACK's ``gelsy`` on the CPU; on CUDA (whose only driver, ``gels``, needs full rank)
    through the pseudo-inverse."""
    if B.device.type == "cpu":
        return torch.linalg.lstsq(B, b).solution
    return torch.linalg.pinv(B) @ b


def _step_from(low: float) -> float:
    """The step in ``[0, 1]`` to the boundary from ``low = min(dx / x)``; none (0) where that
    is not a number."""
    if math.isnan(low):
        return 0.0
    return 1.0 if low >= -1.0 else -1.0 / low


def _outer_rows(X: torch.Tensor) -> torch.Tensor:
    """Each row's ``x x^T``, flattened: ``rows x d^2``."""
    return (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)


def _bmv(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each group's ``d x d`` block times its row: ``(A_g x_g)_g``."""
    return torch.einsum("gab,gb->ga", A, x)


def _cholesky(H: torch.Tensor) -> torch.Tensor | None:
    """The Cholesky factor of (a batch of) symmetric positive definite ``H``, with a shift of
    ``1e-13`` of the largest diagonal entry where rounding makes it indefinite; None if that
    fails too."""
    L, info = torch.linalg.cholesky_ex(H)
    if int(info.max()) == 0:
        return L
    shift = 1e-13 * H.diagonal(dim1=-2, dim2=-1).amax(-1)
    eye = torch.eye(H.shape[-1], dtype=H.dtype, device=H.device)
    L, info = torch.linalg.cholesky_ex(H + shift[..., None, None] * eye)
    return L if int(info.max()) == 0 else None


def _newton_factor(K: torch.Tensor, low: bool) -> torch.Tensor | None:
    """The Cholesky factor of a Newton matrix (:func:`_cholesky`); one in a low precision
    (:data:`LOW_DTYPE`) first loses its negligible entries, and is refused (None) where it
    overflowed."""
    if low and not drop_negligible(K, LOW_FLUSH):
        return None
    return _cholesky(K)


def _spd_inverse(B: torch.Tensor) -> torch.Tensor | None:
    L = _cholesky(B)
    return None if L is None else torch.cholesky_inverse(L)
