r"""``"ssnal"``: a semismooth Newton augmented Lagrangian for the gated and cone ReLU programs.

The gated program is a group lasso, ``min_U F(U) = L(A U) + beta sum_i ||u_i||`` with
``A U = sum_i D_i Xa u_i``. First-order methods crawl where ``beta`` is small and the optimum
dense (nearly interpolating: more weights than samples, every group active), because the
objective is flat along the near-null space of ``A``. The method of multipliers applied to
the dual, as in SSNAL (Li, Sun and Toh 2018; Zhang, Zhang, Sun and Toh 2020 for the group
lasso), is not: its multiplier *is* the primal ``U``, and each of its subproblems is a smooth,
strongly convex problem in the ``n`` dual variables ``xi``,

.. math::

    \psi_\sigma(\xi) = L^*(\xi) + \frac{1}{2\sigma}
    \big\|\operatorname{prox}_{\sigma\beta\|\cdot\|}(U - \sigma A^T \xi)\big\|^2,
    \qquad
    \nabla\psi_\sigma(\xi) = \nabla L^*(\xi) - A\,U^+,

with ``U+`` the group soft-thresholding in the formula. Newton steps on ``psi`` use the
generalized Jacobian of the group prox (on each surviving group ``i``,
``alpha_i I + gamma_i v_i v_i^T / ||v_i||^2`` with ``gamma_i = sigma beta / ||v_i||`` and
``alpha_i = 1 - gamma_i``), so the Newton matrix is

.. math::

    H = \nabla^2 L^*(\xi) + \sigma \sum_{i\ \text{active}} D_i Xa\, J_i\, Xa^T D_i,

an ``n x n`` matrix that is formed without the ``n x P d`` design:
``sum_i alpha_i D_i Xa Xa^T D_i = (Xa Xa^T) o (D diag(alpha) D^T)`` (a Hadamard product) plus
the rank-``|active|`` term of the ``gamma_i`` (only its lower triangle, which is all the
Cholesky factorization reads). It is then factored (``system="gram"``, up to a few thousand
samples; in float32, the factor preconditioning conjugate gradients on the float64 system,
kept for the next steps, which with the squared loss run in float32 where their tolerance is
loose), or the Woodbury identity works on the ``m = d |active|`` active
coordinates when they are fewer (``"woodbury"``; for the squared loss cut from ``A^T A``,
formed once: ``"covariance"``), or preconditioned conjugate gradients use only products with
``A`` (``"cg"``). The multiplier update is ``U <- U+`` and ``sigma`` grows by
``SIGMA_GROWTH`` (3 with the squared loss, 10 with the logistic) per outer iteration: the
subproblems stay a handful of Newton steps each, and the
outer iterations converge superlinearly as ``sigma`` grows.

Every Newton step offers its point to the library's certificate (the same
:class:`~lift.solvers.monitor.GapMonitor` as FISTA): ``U+`` is a primal candidate (its
predictions ``A U+`` come with the gradient), and both ``xi`` (its constraint norms are
``||(U - v)_i|| / sigma``, free) and the loss gradient at ``A U+`` are dual candidates. The
solver stops on a certified relative gap, never on its own residuals.

Losses: squared (``L^*(xi) = xi^T y + ||xi||^2 / 2``) and logistic (``L^*`` the binary
entropy of ``s = -y xi``, kept inside ``(0, 1)`` by a fraction-to-the-boundary rule).

**The cone program** (``U = [V; W]``, ``2 P`` signed groups, each constrained to its cone
``C_g = {u : (2 D_g - I) Xa u >= 0}``) has the same dual subproblems, because its penalty
``beta ||u|| + indicator(u in C_g)`` is positively homogeneous too: only the prox changes, to
the projection on ``C_g`` followed by the group shrinkage
(:class:`~lift.problems.relu.cone_fista.ConeProjection`, whose multipliers also give the
dual constraints of ``xi`` and the certificate's cone multipliers). An element of its
generalized Jacobian is ``alpha Pi_g + gamma ph ph^T``, with ``Pi_g`` the projection on the
null space of the constraint rows with positive multipliers. Its rank ``k_g`` is small: at a
dense optimum most groups have ``d - 1`` rows active, so ``k_g`` is about one. The Newton
matrix is formed from the ``n x sum_g k_g`` blocks ``D_g Xa F_g`` (``J_g = F_g F_g^T``),
directly or by Woodbury on those columns (:data:`CONE_SYSTEMS`): on a dense
``n = 2,000, P = 500, d = 20`` row that is about 230 columns, not 4,000.

References
----------
X. Li, D. Sun and K.-C. Toh. A highly efficient semismooth Newton augmented Lagrangian method
for solving Lasso problems. SIAM J. Optim. 28(1), 2018.
Y. Zhang, N. Zhang, D. Sun and K.-C. Toh. An efficient Hessian based algorithm for solving
large-scale sparse group Lasso problems. Math. Program. 179, 2020.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import torch

from lift.base import SolverResult
from lift.errors import check_int, check_positive
from lift.problems.relu.operators import PatternOperator
from lift.problems.relu.solvers import _numpy, _result, _Setup, _TorchSolver
from lift.solvers.group_lasso import ActiveDualStep
from lift.solvers.linalg import cholesky_apply, cholesky_apply_low, drop_negligible, lower_gram
from lift.solvers.monitor import gap_message
from lift.solvers.prox import group_norms

__all__ = ["CONE_SYSTEMS", "LOSSES", "SSNAL", "SYSTEMS", "cost_model", "first_sigma",
           "gemm_rate", "has_direct_system", "predicted_seconds"]

#: the losses whose conjugates ssnal knows
LOSSES = ("squared", "logistic")
#: how the Newton systems are solved (``"auto"`` picks by cost, see :func:`_pick_system`)
SYSTEMS = ("auto", "gram", "woodbury", "covariance", "cg")
#: the systems offered on the cone program (its Jacobian blocks are formed explicitly)
CONE_SYSTEMS = ("auto", "gram", "woodbury")
#: the largest ``n x n`` (``"gram"``) or ``m x m`` (``"woodbury"``) system formed and factored
DIRECT_LIMIT = 6_000
#: a direct system is used only while forming and factoring it costs at most this many
#: multiply-adds; beyond, conjugate gradients
DIRECT_WORK = 4e10
#: the squared loss' ``"covariance"`` system forms ``A^T A`` (all ``P d`` coordinates, at most
#: :data:`DIRECT_LIMIT`) once, where that costs at most this many multiply-adds at the
#: float64 rate (:func:`_covariance_work`; about 20 s on one thread: n = 80,000 at P d =
#: 5,000)
COVARIANCE_WORK = 5e11
#: Newton steps after the first at one ``sigma`` solve their ``n x n`` system by conjugate
#: gradients preconditioned with the factor of that first step, for at most this many
#: iterations; then (or at a new ``sigma``, but see :data:`ACROSS_SIGMA`) the matrix is
#: formed and factored anew. The
#: covariance system keeps its factor across ``sigma`` while the nonzero groups stay the
#: same (n = 10,000, 100 % active: 1 factorization instead of 8, 22.6 s to 10.8 s)
REUSE_ITERS = 20
#: the precision ``A^T A`` of the covariance system is formed in, by working precision
COVARIANCE_DTYPE = {torch.float64: torch.float32}
#: ... and the relative residual of the conjugate gradients its factor preconditions
COVARIANCE_TOL = 1e-10
#: the ``"gram"`` system's ``n x n`` matrix is formed and factored in this precision (by
#: working precision; half the time of float64 on a CPU), and its factor preconditions
#: conjugate gradients on the working-precision system to :data:`COVARIANCE_TOL`. Where that
#: factorization fails, or those gradients need more than :data:`GRAM_LOW_ITERS` iterations
#: (the systems grow worse conditioned with ``sigma``, and the factor preconditions the next
#: steps at that ``sigma`` as poorly), the rest of the solve forms it in the working precision
GRAM_DTYPE = {torch.float64: torch.float32}
GRAM_LOW_ITERS = 8
#: with the squared loss, conjugate gradients preconditioned by a kept ``"gram"`` factor (in
#: :data:`GRAM_DTYPE`) run in that precision too, products with ``A_J`` included, where the
#: Newton step's tolerance is at least this (the inexact steps' ``min(0.1, sqrt ||g||)``, above
#: float32's rounding by far); below it, in the working precision
LOW_CG_TOL = 1e-4
#: ... and such steps keep that factor when ``sigma`` grows by at most this factor since it
#: was formed (one growth step of the squared loss, :data:`SIGMA_GROWTH`): at ``n = 2,000,
#: P = 500`` 8-22 % faster (4 factorizations of 6, of 10, one or two more Newton steps); 5 %
#: slower at ``P = 2,000`` (33 to 37 Newton steps). A factor kept over two growth steps
#: (9x) was 2-9 % faster still at ``P = 500`` and 13 % slower at ``P = 2,000`` (BENCHMARKS.md)
ACROSS_SIGMA = 3.0
#: entries of the low-precision matrix below this (against its diagonal, far below float32's
#: rounding of it) are set to zero, and so are those of the vectors it solves for (scaled to
#: at most one; :func:`~lift.solvers.linalg.drop_negligible`): with the logistic loss the
#: scaling by the conjugate's curvature leaves many entries near float32's smallest normal
#: numbers, and subnormal arithmetic made the factorization four times slower (0.18 s against
#: 0.05 s at n = 2,000)
GRAM_FLUSH = 1e-12
#: the largest ``sigma``: beyond it the Newton systems only grow worse conditioned
SIGMA_MAX = 1e12
#: the factor on ``sigma`` after each outer iteration, by loss. Squared loss: 3 against 10
#: was faster on 16 of the 17 grid rows measured that certify (gated and cone, n = 2,000
#: and 10,000; e.g. 3.34 -> 2.33 s with 34 -> 24 Newton steps, 51.8 -> 28.3 s), 12 % slower
#: on one (cone, n = 10,000, d = 20). Logistic loss: 3 stalled at certified gaps of 0.2-0.5
#: on the five small-beta rows (gated and cone, n = 2,000) that 10 certifies (BENCHMARKS.md)
SIGMA_GROWTH = {"squared": 3.0, "logistic": 10.0}
#: the accuracy of the subproblems relative to the multiplier's change (see :func:`_ssnal`)
INNER = 0.2
#: stalled: the certified gap has not halved in this many outer iterations (judged from twice
#: as many on: the first, at small sigma, move a warm start little) ...
STALL_OUTER = 4
#: ... or in this many Newton steps (judged from twice as many on; 22-46 steps certify every
#: row measured, while on the cone program at very small beta the steps shrink to a few
#: percent and the gap creeps: 300 steps, 306 s, at n = 2,000, beta = 0.1)
STALL_STEPS = 40


def first_sigma(n: int, cone: bool, squared: bool = True) -> float:
    """The first penalty parameter: 1, and with the squared loss ``min(1, 1000 / n)`` on the
    cone program and, from ``n = GATED_SMALL_SIGMA`` on, on the gated program; with the
    logistic loss ``min(1, (2000 / n)^2)`` on the cone program.

    Cone program: a large ``sigma`` makes the projections' active rows change within small
    fractions of a Newton step, and starting lower paid on every row measured: 19.0 s to
    9.9 s at ``n = 10,000`` (46 to 23 Newton steps), 72 s to 40 s at ``n = 50,000``, 4.1 s to
    2.8 s and 2.0 s to 1.7 s at ``n = 2,000``. It did not pay on the logistic cone rows
    (5.2 s to 7.2 s at ``n = 2,000``, 36 % active).

    Gated program (one thread, the covariance system in float32 with kept factors): 216 s
    (54 Newton steps) to 82.5 s (19) at ``n = 50,000``, 80 % active; 19.4 s to 12.3 s and
    9.0 s to 8.7 s at ``n = 10,000``, 34 % and 100 % active (``2000 / n`` was between). At
    ``n = 2,000`` half of 1 was 1.0-1.3x slower on five rows, so 1 stays there.

    Logistic cone program: ``min(1, (2000 / n)^2)``. At ``n = 10,000`` (the grid's 10 % row,
    relative ``beta`` 0.11) ``sigma = 1`` and ``0.5`` never left a certified gap of 1: the
    first prox point was 7,000 times worse than zero, each inner loop ended at once and each
    multiplier update went further out. 0.2, 0.1, 0.04 and 0.01 certified it in 5.7, 6.9,
    5.0 and 5.0 s. At ``n = 50,000`` (the same relative ``beta``) ``2000 / n = 0.04`` failed
    the same way (a certified 0.995 after 24 s, the point 120 times worse than the optimum),
    where 0.01, 0.002 and 0.0016 certified in 24-26 s (projected FISTA: 29 s). The measured
    rows up to ``n = 2,000`` keep 1."""
    if squared and (cone or n >= GATED_SMALL_SIGMA):
        return min(1.0, 1000.0 / n)
    if cone:
        return min(1.0, (LOGISTIC_CONE_SIGMA_N / n) ** 2)
    return 1.0


#: see :func:`first_sigma`
GATED_SMALL_SIGMA = 5_000
#: see :func:`first_sigma`
LOGISTIC_CONE_SIGMA_N = 2_000


#: a warm start whose certified relative gap is above this starts nothing: ``ssnal`` starts
#: from zero (on the rows measured, points handed over at a gap of 0.997-0.999 cost 5-10
#: more Newton steps than zero, 11-35 % more time; at gaps of 1e-4 to 0.5 they save up to
#: half the steps)
WARM_GAP = 0.9
#: Newton steps ``ssnal`` typically takes to a certified 1e-6 (22-40 on the grid rows
#: measured, squared and logistic, dense and sparse optima), for :func:`predicted_seconds`
TYPICAL_STEPS = 30
#: of which factor their ``n x n`` matrix, with the squared loss (3-8 measured, 5 on most
#: rows: the first at each ``sigma`` and the few where the kept factor no longer
#: preconditions well; the others take about TYPICAL_CG conjugate-gradient iterations,
#: 7.6-10.6 measured). With the logistic loss nearly every step factors: its curvatures move
#: too much between steps
TYPICAL_FACTORS = 5
TYPICAL_CG = 10
#: measured multiply-adds per second of a large matrix product, per (device, dtype, threads)
_RATES: dict[tuple, float] = {}


def gemm_rate(device: torch.device, dtype: torch.dtype, size: int = 512) -> float:
    """Multiply-adds per second of a ``size``-cubed matrix product on ``device`` in ``dtype``
    with the current torch threads: the fastest of three, measured once per process (21 ms
    on one CPU thread here; three 1024-cubed products, 13 % faster per multiply-add, took
    0.13 s, which showed on solves of half a second)."""
    key = (str(device), dtype, torch.get_num_threads())
    if key not in _RATES:
        a = torch.ones(size, size, dtype=dtype, device=device)
        best = math.inf
        for _ in range(3):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ a
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        _RATES[key] = float(size) ** 3 / max(best, 1e-9)
    return _RATES[key]


def cost_model(lifted, device: torch.device, dtype: torch.dtype) -> Callable[[int], float]:
    """Seconds ``ssnal`` is predicted to need on the gated program ``lifted`` (what a
    hand-over from the gated first-order solvers weighs), as a function
    of the number of nonzero groups (a first-order solver's current support):
    :data:`TYPICAL_STEPS` Newton steps, each forming and factoring the cheapest direct system
    on that many groups (:func:`_pick_system`'s costs; with the squared loss and the ``n x n``
    system, :data:`TYPICAL_FACTORS` of them, the others :data:`TYPICAL_CG` preconditioned
    conjugate-gradient iterations), at 1.5 times the time of a large
    matrix product at the rate measured now (the Hadamard products, the factorization and
    the line search run below that rate; 0.16 s a step measured against 0.14 s predicted at
    n = 2,000, P = 500, d = 50). Infinite where the systems would not be direct (conjugate
    gradients) or the loss is not one it solves: then nothing hands over to it."""
    prob = lifted.problem
    if getattr(prob.loss, "name", None) not in LOSSES:
        return lambda groups: math.inf
    n, d = prob.Xa.shape
    rate = gemm_rate(device, dtype)
    once = _covariance_work(n, lifted.P * d, prob.loss.name == "squared")

    squared = prob.loss.name == "squared"

    def seconds(groups: int) -> float:
        costs = _system_costs(n, groups * d, groups, once)
        if not costs:
            return math.inf
        best = min(costs, key=costs.get)
        work = TYPICAL_STEPS * costs[best] + (once if best == "covariance" else 0.0)
        if best == "gram" and squared:  # factors kept (see REUSE_ITERS)
            cg = 2.0 * n * groups * d + 2.0 * n * n  # products with A_J both ways, two solves
            work = (TYPICAL_FACTORS * costs[best]
                    + (TYPICAL_STEPS - TYPICAL_FACTORS) * TYPICAL_CG * cg)
        return 1.5 * work / rate

    return seconds


def has_direct_system(n: int, P: int, d: int, squared: bool) -> bool:
    """Whether ``ssnal``'s Newton steps on ``n`` samples with all ``P`` groups of ``d``
    coordinates nonzero have a direct system (else conjugate gradients)."""
    M = P * d
    return bool(_system_costs(n, M, P, _covariance_work(n, M, squared)))


def predicted_seconds(lifted, device: torch.device, dtype: torch.dtype,
                      groups: int | None = None) -> float:
    """:func:`cost_model` on ``groups`` nonzero groups (default: all ``P``)."""
    return cost_model(lifted, device, dtype)(lifted.P if groups is None else groups)


# --------------------------------------------------------------------------------------------
# The conjugates of the losses, in torch
# --------------------------------------------------------------------------------------------
class _Conjugate:
    """``L^*``, its gradient and diagonal Hessian at ``xi``, and steps kept inside its
    domain, for the squared and logistic losses."""

    def __init__(self, name: str, y: torch.Tensor) -> None:
        if name not in LOSSES:
            raise ValueError(f"`loss` {name!r} is not supported by ssnal; it solves the "
                             "squared and logistic losses (use solver='fista' otherwise).")
        self.squared = name == "squared"
        self.y = y

    def value(self, xi: torch.Tensor) -> float:
        if self.squared:
            return float(xi @ self.y + 0.5 * (xi @ xi))
        s = -self.y * xi
        return float((torch.special.xlogy(s, s) + torch.special.xlogy(1 - s, 1 - s)).sum())

    def grad(self, xi: torch.Tensor) -> torch.Tensor:
        if self.squared:
            return xi + self.y
        s = -self.y * xi
        return -self.y * (torch.log(s) - torch.log1p(-s))

    def hess(self, xi: torch.Tensor) -> torch.Tensor:
        if self.squared:
            return torch.ones_like(xi)
        s = -self.y * xi
        return 1.0 / (s * (1 - s))

    def move(self, xi: torch.Tensor, direction: torch.Tensor, t: float) -> torch.Tensor:
        """``xi + t direction``, kept inside the domain coordinate by coordinate (logistic: no
        ``s = -y xi`` moves more than 99.5 % of its way to 0 or 1 in one step). A step
        limited for all coordinates by the one nearest its boundary would crawl: on nearly
        separable data some ``s`` head for 1e-30 while the rest need full steps."""
        out = xi + t * direction
        if self.squared:
            return out
        s, s_new = -self.y * xi, -self.y * out
        return -self.y * torch.minimum(torch.maximum(s_new, 0.005 * s), 1 - 0.005 * (1 - s))

    def interior(self, lam: torch.Tensor) -> torch.Tensor:
        """A starting ``xi`` inside the domain: the loss gradient ``lam`` itself, with ``s``
        kept off 0 and 1 only where it rounded onto them (a warm start's ``s`` reach 1e-30 on
        nearly separable data, and clipping them higher would move ``xi`` far from the
        warm start's dual point)."""
        if self.squared:
            return lam
        tiny = torch.finfo(lam.dtype).tiny
        s = (-self.y * lam).clamp(tiny, 1 - torch.finfo(lam.dtype).eps)
        return -self.y * s


# --------------------------------------------------------------------------------------------
# Newton systems
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Jacobian:
    """The generalized Jacobian of the group prox at ``v`` on its surviving groups ``idx``:
    ``J_i = alpha_i I + gamma_i vh_i vh_i^T`` (``vh_i`` unit)."""

    idx: torch.Tensor
    alpha: torch.Tensor
    gamma: torch.Tensor
    vh: torch.Tensor

    @classmethod
    def at(cls, v: torch.Tensor, norms: torch.Tensor, thr: float) -> _Jacobian:
        idx = torch.nonzero(norms > thr).flatten()
        nv = norms[idx]
        gamma = thr / nv
        return cls(idx, 1.0 - gamma, gamma, v[idx] / nv[:, None])

    @property
    def pattern(self) -> torch.Tensor:
        """The patterns (columns of ``D``) of the groups ``idx``."""
        return self.idx

    @property
    def width(self) -> int:
        """The active coordinates, ``d`` per surviving group."""
        return int(self.vh.numel())

    def apply(self, Z: torch.Tensor) -> torch.Tensor:
        return _shrink_jacobian(self.alpha[:, None], self.gamma, self.vh, Z)

    def restricted(self, op: PatternOperator) -> PatternOperator:
        """``op`` restricted to the groups ``idx``, copied once per Jacobian (the covariance
        system's step and its conjugate gradients both need it: 0.2 s a copy at n =
        50,000)."""
        kept = getattr(self, "_restricted", None)
        if kept is None or kept[0] is not op:
            kept = self._restricted = (op, op.restrict(self.idx))
        return kept[1]

    def product(self, op: PatternOperator) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x -> sum_i D_i Xa J_i Xa^T D_i x`` by products with the restricted operator."""
        sub = self.restricted(op)
        return lambda x: sub.forward(self.apply(sub.adjoint(x)))

    def _low_copy(self, op: PatternOperator, dtype: torch.dtype) -> tuple:
        """``op`` restricted to the groups ``idx`` and this Jacobian, copied into ``dtype``
        once per Jacobian."""
        kept = getattr(self, "_low", None)
        if kept is None or kept[0] is not op or kept[1].dtype != dtype:
            sub = self.restricted(op)
            low = sub.astype(dtype)
            low.order = sub.order  # the same shapes: not timed again
            kept = self._low = (op, low, self.alpha.to(dtype)[:, None], self.gamma.to(dtype),
                                self.vh.to(dtype))
        return kept

    def restricted_low(self, op: PatternOperator, dtype: torch.dtype) -> PatternOperator:
        """:meth:`restricted` in ``dtype``."""
        return self._low_copy(op, dtype)[1]

    def product_low(self, op: PatternOperator, dtype: torch.dtype
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """:meth:`product` in ``dtype``."""
        _, low, alpha, gamma, vh = self._low_copy(op, dtype)

        def product(x: torch.Tensor) -> torch.Tensor:
            return low.forward(_shrink_jacobian(alpha, gamma, vh, low.adjoint(x)))

        return product

    def gram_matrix(self, op: PatternOperator, XX: torch.Tensor, c: torch.Tensor
                    ) -> torch.Tensor:
        """The lower triangle (:func:`~lift.solvers.linalg.lower_gram`) of ``C (sum_i D_i Xa
        J_i Xa^T D_i) C`` (``n x n``, in ``XX``'s precision, ``C = diag(c)``) from ``XX = Xa
        Xa^T``, without the blocks: ``(XX) o (E E^T)`` with ``E = C D diag(alpha)^{1/2}``,
        plus the rank-``|idx|`` term of the ``gamma_i``."""
        Dj = op.D[:, self.idx]
        c = c.to(op.dtype)[:, None]
        B = (Dj * (op.Xa @ self.vh.T) * (c * self.gamma.sqrt())).to(XX.dtype)
        E = (Dj * (c * self.alpha.sqrt())).to(XX.dtype)
        return lower_gram(E, XX, B)

    def root_matrices(self) -> torch.Tensor:
        """The ``J_i^{1/2}`` as a (groups, d, d) tensor (symmetric): ``J_i`` has eigenvalue 1
        along ``vh_i`` and ``alpha_i`` across it, so ``J_i^{1/2} = sqrt(alpha_i) I +
        (1 - sqrt(alpha_i)) vh_i vh_i^T``."""
        ra = self.alpha.sqrt()
        eye = torch.eye(self.vh.shape[1], dtype=self.vh.dtype, device=self.vh.device)
        return (ra[:, None, None] * eye
                + (1.0 - ra)[:, None, None] * self.vh[:, :, None] * self.vh[:, None, :])

    def root_blocks(self, X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        """``[D_i X J_i^{1/2}]_i`` for the groups ``idx`` (``D`` their 0/1 columns), as an
        ``n x (groups d)`` matrix."""
        blocks = torch.einsum("na,iab->nib", X, self.root_matrices())
        return (D[:, :, None] * blocks).reshape(X.shape[0], -1)


def _shrink_jacobian(alpha: torch.Tensor, gamma: torch.Tensor, vh: torch.Tensor,
                     Z: torch.Tensor) -> torch.Tensor:
    """``J_i z_i = alpha_i z_i + gamma_i (vh_i^T z_i) vh_i`` for the rows of ``Z`` (``alpha``
    as a column)."""
    return alpha * Z + (gamma * (vh * Z).sum(1))[:, None] * vh


class _ConeJacobian:
    r"""The generalized Jacobian of the cone program's prox (projection on the polyhedral cone
    ``C_g`` of a signed group, then the group shrinkage) on its surviving groups ``idx``
    (``2 P`` signed groups: ``v`` then ``w``).

    With ``p`` the projection, ``Q_g`` an orthonormal basis of the span of its constraint rows
    with positive multipliers (``Pi_g = I - Q_g Q_g^T`` projects on their null space, an
    element of the projection's generalized Jacobian) and ``p`` in that null space,
    ``J_g = (alpha I + gamma ph ph^T) Pi_g = alpha Pi_g + gamma ph ph^T``: symmetric, of the
    rank of ``Pi_g``, which is small (at a dense optimum most groups have ``d - 1`` rows
    active and ``J_g`` is nearly ``ph ph^T``). Held as factors ``F_g`` (``d x k_g``, ``k_g``
    that rank) with ``J_g = F_g F_g^T``, so that the Newton matrix's blocks ``D_g Xa F_g``
    have ``sum_g k_g`` columns, not ``d`` per group. It offers what the ``"gram"`` and
    ``"woodbury"`` systems use (the cone program has no other)."""

    def __init__(self, idx: torch.Tensor, P: int, factors: torch.Tensor,
                 keep: torch.Tensor) -> None:
        self.idx, self.P, self.factors, self.keep = idx, P, factors, keep

    @property
    def pattern(self) -> torch.Tensor:
        return self.idx % self.P

    @property
    def width(self) -> int:
        """``sum_g k_g``: the columns of the Newton matrix's blocks."""
        return int(self.keep.sum())

    def apply(self, Z: torch.Tensor) -> torch.Tensor:
        F = self.factors
        return torch.einsum("iak,ibk,ib->ia", F, F, Z)

    def root_blocks(self, X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        """``[D_g X F_g]_g``, ``n x sum_g k_g`` (the signs of the groups cancel in every
        product ``G G^T``)."""
        blocks = torch.einsum("na,iak->nik", X, self.factors) * D[:, :, None]
        return blocks[:, self.keep]

    def product(self, op: PatternOperator) -> Callable[[torch.Tensor], torch.Tensor]:
        G = self.root_blocks(op.Xa, op.D[:, self.pattern])
        return lambda x: G @ (G.T @ x)

    def gram_matrix(self, op: PatternOperator, dtype: torch.dtype, c: torch.Tensor
                    ) -> torch.Tensor:
        """The lower triangle of ``C G G^T C`` (``G`` the :meth:`root_blocks`, ``C =
        diag(c)``) in ``dtype``."""
        G = self.root_blocks(op.Xa, op.D[:, self.pattern]) * c.to(op.dtype)[:, None]
        return lower_gram(G.to(dtype))

    @classmethod
    def at(cls, u: torch.Tensor, sigma_beta: float, proj) -> _ConeJacobian:
        """At the prox point ``u`` of :class:`~lift.problems.relu.cone_fista.ConeProjection`
        ``proj``'s last call (threshold ``sigma_beta``), from the rows and multipliers it
        kept."""
        op = proj.op
        norms = group_norms(u)
        idx = torch.nonzero(norms > 0).flatten()
        nu = norms[idx]
        ph = u[idx] / nu[:, None]
        alpha = nu / (nu + sigma_beta)  # 1 - sigma beta / ||p||
        moved = torch.zeros(u.shape[0], dtype=torch.bool, device=u.device)
        moved[proj.moved] = True
        cnt = torch.where(moved[idx], proj.Rn[idx], 0)
        d, B = op.d, idx.numel()
        M = torch.zeros(B, d, d, dtype=u.dtype, device=u.device)
        m = int(cnt.max()) if B else 0
        if m:
            mask = (torch.arange(m, device=u.device) < cnt[:, None]).to(u.dtype)
            rows = op.Xa[proj.R[idx, :m]] * mask[:, :, None]
            M = rows.transpose(1, 2) @ rows
        for j, g in enumerate(idx.tolist() if proj.extra else ()):
            if bool(moved[g]) and g in proj.extra:  # more than d rows (degenerate)
                rows = op.Xa[torch.as_tensor(proj.extra[g][0], device=u.device)]
                M[j] = rows.T @ rows
        # the null space N of the rows (ascending eigenvalues: its columns come first);
        # with q = N^T ph (a unit vector: ph lies in it), J = N (alpha I + gamma q q^T) N^T
        # and F = N (sqrt(alpha) I + (1 - sqrt(alpha)) q q^T)
        w, V = torch.linalg.eigh(M)
        null = w <= 1e-10 * w.amax(1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)
        k = int(null.sum(1).max()) if B else 0
        keep = null[:, :k]
        N = V[:, :, :k] * keep[:, None, :].to(u.dtype)
        q = torch.einsum("iak,ia->ik", N, ph)
        ra = alpha.sqrt()
        factors = (ra[:, None, None] * N
                   + (1.0 - ra)[:, None, None] * (N @ q[:, :, None]) * q[:, None, :])
        return cls(idx, op.P, factors, keep)


def _pick_system(n: int, m: int, groups: int, covariance: float | None = None,
                 cone: bool = False) -> str:
    """The cheapest Newton system for ``n`` samples, ``m`` active coordinates on ``groups``
    active groups (:func:`_system_costs`); conjugate gradients where none is direct."""
    costs = _system_costs(n, m, groups, covariance, cone)
    if covariance:  # A^T A still to form: its cost spread over a typical run's steps
        costs = {k: c + (covariance / TYPICAL_STEPS if k == "covariance" else 0.0)
                 for k, c in costs.items()}
    return min(costs, key=costs.get) if costs else "cg"


def _system_costs(n: int, m: int, groups: int, covariance: float | None = None,
                  cone: bool = False) -> dict[str, float]:
    """Multiply-adds a Newton step spends forming and factoring each direct system allowed:
    the ``n x n`` matrix ``2 n^2 groups + n^3 / 3`` (the cone program's, formed from its
    ``n x m`` blocks, ``n^2 m + n^3 / 3``), the Woodbury ``m x m`` one ``n m^2 + m^3 / 3``
    (both up to :data:`DIRECT_WORK`), and, where ``covariance`` is not None (squared loss,
    gated, see :func:`_covariance_work`), the Woodbury matrix cut from a stored ``A^T A``,
    ``m^3 / 3`` once that is formed. These count the full products at the float64 rate, as
    when :func:`cost_model` was fitted; the ``n x n`` matrix has since been formed as its
    lower triangle only (half the formation) and its loose steps run in float32: ``ssnal``
    there now takes 0.6-0.9 of the time it took when the model was fitted (BENCHMARKS.md,
    twenty-fourth session); not refitted."""
    costs = {}
    if n <= DIRECT_LIMIT:
        costs["gram"] = float(n) * n * (m if cone else 2.0 * groups) + n**3 / 3
    if m <= min(n, DIRECT_LIMIT):
        costs["woodbury"] = float(n) * m * m + m**3 / 3
    costs = {k: c for k, c in costs.items() if c <= DIRECT_WORK}
    if covariance is not None and m <= DIRECT_LIMIT:
        costs["covariance"] = m**3 / 3
    return costs


def _covariance_work(n: int, M: int, squared: bool) -> float | None:
    """Multiply-adds (at the float64 rate) of forming ``A^T A`` on all ``M = P d``
    coordinates: its upper triangle, ``n M^2 / 2``, in float32 at about twice that rate
    (:data:`COVARIANCE_DTYPE`), so ``n M^2 / 4``. None where the ``"covariance"`` system is
    not offered: a loss other than the squared one (its Newton matrix weighs the samples),
    more than :data:`DIRECT_LIMIT` coordinates, or more than :data:`COVARIANCE_WORK`."""
    work = float(n) * M * M / 4.0
    if not squared or M > DIRECT_LIMIT or work > COVARIANCE_WORK:
        return None
    return work


class _Newton:
    """Solves ``H d = -g`` with ``H = diag(h) + sigma A J A^T`` by the chosen system."""

    def __init__(self, op: PatternOperator, system: str, cg_iters: int,
                 squared: bool = False, cone: bool = False) -> None:
        self.op, self.system, self.cg_iters, self.cone = op, system, cg_iters, cone
        self.XX: dict = {}  # Xa Xa^T by precision, formed once ("gram")
        self.gram_low = True  # "gram" still formed in GRAM_DTYPE (see there)
        self.AtA: torch.Tensor | None = None  # A^T A, formed once ("covariance")
        self.covariance = None if cone else _covariance_work(op.n, op.P * op.d, squared)
        if cone and system not in CONE_SYSTEMS:
            raise ValueError(f"On the cone program `system` must be one of {CONE_SYSTEMS}, "
                             f"got {system!r}.")
        if system == "covariance" and self.covariance is None:
            raise ValueError("`system='covariance'` needs the squared loss and at most "
                             f"{DIRECT_LIMIT} coordinates P (d + bias); choose 'auto'.")
        self.used: dict[str, int] = {}
        self.cg_total = 0
        #: the operator restricted to the last Jacobian's groups, ``(groups, operator)``: a
        #: copy of ``n x groups`` columns (5 ms at n = 2,000 on 465 groups), kept while the
        #: next Jacobians have the same groups
        self.restricted: tuple | None = None
        #: the last direct system (``"gram"``, or ``"covariance"`` on the squared loss):
        #: ``(system, sigma, apply, groups, low, dtype)``, with ``apply(r)`` the inverse of its
        #: Newton matrix applied to ``r``, from the factorization, ``groups`` the nonzero
        #: groups it was formed on (covariance), and ``low`` the same as ``apply`` all in the
        #: factor's lower precision ``dtype`` (None where it has none; see LOW_CG_TOL)
        self.kept: tuple | None = None

    def solve(self, g: torch.Tensor, h: torch.Tensor, sigma: float, J: _Jacobian | _ConeJacobian,
              tol: float) -> torch.Tensor:
        op = self.op
        m = int(J.idx.numel())
        system = self.system
        if system == "auto":
            left = None if self.covariance is None else (0.0 if self.AtA is not None
                                                         else self.covariance)
            system = _pick_system(op.n, J.width, m, left, self.cone)
            if self.cone and system == "cg":
                system = _cone_fallback(op.n, J.width)
        if m == 0:
            return -g / h
        last = self.restricted
        if isinstance(J, _Jacobian) and last is not None and torch.equal(last[0], J.idx):
            J._restricted = (op, last[1])  # the same groups: no new copy
        d = self._system(system, g, h, sigma, J, tol)
        kept = getattr(J, "_restricted", None)
        if kept is not None:
            self.restricted = (J.idx, kept[1])
        return d

    def _system(self, system, g, h, sigma, J, tol):
        if self.kept is not None and self.kept[0] == system and (  # see REUSE_ITERS
                (system == "gram" and (self.kept[1] == sigma or (
                    self.kept[4] is not None and tol >= LOW_CG_TOL
                    and sigma <= ACROSS_SIGMA * self.kept[1] * (1 + 1e-12))))
                or (system == "covariance" and torch.equal(self.kept[3], J.idx))):
            d = self._reuse(g, h, sigma, J, tol)
            if d is not None:
                key = f"{system} (factor reused)"
                self.used[key] = self.used.get(key, 0) + 1
                return d
        self.used[system] = self.used.get(system, 0) + 1
        if system == "gram":
            return self._gram(g, h, sigma, J)
        if system == "woodbury":
            return self._woodbury(g, h, sigma, J)
        if system == "covariance":
            return self._covariance(g, h, sigma, J)
        return self._cg(g, h, sigma, J, tol)

    def _covariance(self, g, h, sigma, J):
        # squared loss (h = 1): H^{-1} = I - G (I / sigma + G^T G)^{-1} G^T, G = A_J J^{1/2},
        # with G^T G = J^{1/2} (A^T A)_JJ J^{1/2} cut from the stored A^T A. That A^T A is
        # formed in float32 (half the time of the n (P d)^2 / 2 multiply-adds): its factor
        # preconditions conjugate gradients on the float64 system, and where they do not
        # converge, A^T A is formed again in float64
        dtype = self.op.dtype
        if self.AtA is None:
            self.AtA = self.op.gram(dtype=COVARIANCE_DTYPE.get(dtype, dtype))
        step = self._covariance_step(g, h, sigma, J)
        if step is None:
            self.AtA = self.op.gram(dtype=dtype)
            step = self._covariance_step(g, h, sigma, J)
        return step

    def _covariance_step(self, g, h, sigma, J):
        """The covariance system's step, preconditioned conjugate gradients from its
        factorization where ``A^T A`` is in a lower precision; None if they fail."""
        op, d = self.op, self.op.d
        mg = int(J.idx.numel())
        if mg == op.P:  # every group (J.idx is sorted): no copy
            K = self.AtA
        else:
            cols = (J.idx[:, None] * d + torch.arange(d, device=op.device)).reshape(-1)
            K = self.AtA[cols][:, cols]
        R = J.root_matrices()

        def inner(dtype: torch.dtype) -> torch.Tensor:
            """``I / sigma + J^{1/2} K J^{1/2}`` in ``dtype``, block row by block row and then
            block column by block column (one batched product each; the four-index einsum
            took 0.4 s at P d = 5,000)."""
            Rd = R.to(dtype)
            M = torch.bmm(Rd, K.to(dtype).reshape(mg, d, mg * d))  # R_i (A^T A)_{i, :}
            M = torch.bmm(M.reshape(mg * d, mg, d).transpose(0, 1), Rd).transpose(0, 1)
            M = M.reshape(mg * d, mg * d)  # (... ) R_j
            M.diagonal().add_(1.0 / sigma)
            return M

        exact = self.AtA.dtype == op.dtype
        if exact:
            L = _cholesky(inner(op.dtype))
        else:
            # A^T A in float32: the matrix formed and factored in float32 too (it only
            # preconditions; at n = 10,000, P d = 5,000 the factorization took 0.5 s against
            # 1.0 s in float64). Rounding may leave it indefinite where I / sigma is small:
            # then in float64, and failing that None (A^T A is formed again in float64)
            L, info = torch.linalg.cholesky_ex(inner(self.AtA.dtype))
            if int(info) != 0 or not bool(torch.isfinite(L.diagonal()).all()):
                L, info = torch.linalg.cholesky_ex(inner(op.dtype))
                if int(info) != 0:
                    return None
        def inverse(sub: PatternOperator, R: torch.Tensor) -> Callable:
            """``r -> (I + sigma A_J J A_J^T)^{-1} r`` with ``A_J`` and ``J^{1/2}`` given in
            ``r``'s precision (the factor's, or the working one)."""
            def apply(r: torch.Tensor) -> torch.Tensor:
                b = torch.einsum("iab,ib->ia", R, sub.adjoint(r)).reshape(-1)
                w = cholesky_apply_low(L, b, GRAM_FLUSH).reshape(mg, d)
                return r - sub.forward(torch.einsum("iab,ib->ia", R, w))

            return apply

        low = None
        if L.dtype != op.dtype:  # the same in L's precision (see LOW_CG_TOL)
            low = inverse(J.restricted_low(op, L.dtype), R.to(L.dtype))
        apply = inverse(J.restricted(op), R)
        self.kept = ("covariance", sigma, apply, J.idx, low, L.dtype)
        if exact:
            return -apply(g)
        # as accurate as the direct solve (with the Newton tolerance, 0.1 at first, the
        # inexact steps took 60 Newton steps instead of 30 at 34 % active)
        return self._reuse(g, h, sigma, J, COVARIANCE_TOL)

    def _gram(self, g, h, sigma, J):
        low = GRAM_DTYPE.get(self.op.dtype) if self.gram_low else None
        if low is not None:
            before = self.cg_total
            step = self._gram_step(g, h, sigma, J, low)
            # a factor that needs many iterations preconditions the next steps poorly too
            # (the systems only grow worse conditioned): the rest in the working precision
            self.gram_low = step is not None and self.cg_total - before <= GRAM_LOW_ITERS
            if step is not None:
                key = "gram in " + str(low).removeprefix("torch.")
                self.used[key] = self.used.get(key, 0) + 1
                return step
        return self._gram_step(g, h, sigma, J, self.op.dtype)

    def _gram_step(self, g, h, sigma, J, dtype):
        """The ``"gram"`` system's step with its matrix formed and factored in ``dtype``: the
        direct solve in the working precision, else conjugate gradients preconditioned by the
        factor (see :data:`GRAM_DTYPE`); None where the factorization or they fail."""
        op = self.op
        exact = dtype == op.dtype
        # scaled by diag(h)^{-1/2}: I + sigma S M S (the logistic conjugate's curvature spans
        # dozens of orders of magnitude on nearly separable data; unscaled, the factorization
        # would lose the small ones); the scaling enters the factors of M, and only M's lower
        # triangle is formed (the factorization reads no more)
        r = h.rsqrt()
        c = math.sqrt(sigma) * r
        if self.cone:
            H = J.gram_matrix(op, dtype, c)
        else:
            if dtype not in self.XX:
                self.XX[dtype] = (op.Xa @ op.Xa.T).to(dtype)
            H = J.gram_matrix(op, self.XX[dtype], c)
        H.diagonal().add_(1.0)
        if exact:
            L = _cholesky(H)
        else:
            # entries far below the diagonal's rounding are dropped (see GRAM_FLUSH); overflow
            # or rounding may still leave it indefinite: the working precision then
            # (curvatures all equal, as with the squared loss: no entry is scaled toward
            # the subnormals, and the pass over the matrix is skipped)
            uniform = float(h.min()) == float(h.max())
            if not drop_negligible(H, 0.0 if uniform else GRAM_FLUSH):
                return None
            L, info = torch.linalg.cholesky_ex(H)
            if int(info) != 0 or not bool(torch.isfinite(L.diagonal()).all()):
                return None
        del H

        def inverse(r: torch.Tensor) -> Callable:
            """The solve with the factor in ``r``'s precision (the factor's: a plain Cholesky
            solve, as where it is exact)."""
            return lambda x: r * cholesky_apply_low(L, r * x, GRAM_FLUSH)

        apply = inverse(r)
        low = (inverse(r.to(dtype)) if not exact and uniform and isinstance(J, _Jacobian)
               else None)
        self.kept = ("gram", sigma, apply, None, low, dtype)
        return -apply(g) if exact else self._reuse(g, h, sigma, J, COVARIANCE_TOL)

    def _reuse(self, g, h, sigma, J, tol):
        """Conjugate gradients on ``H d = -g`` preconditioned by the kept factor (see
        :data:`REUSE_ITERS`: the Jacobian and curvatures have moved little since), in the
        factor's lower precision where it has one and ``tol`` is loose (:data:`LOW_CG_TOL`);
        None when they do not reach ``tol ||g||`` within :data:`REUSE_ITERS` iterations."""
        low, dtype = self.kept[4], self.kept[5]
        if low is not None and tol >= LOW_CG_TOL:  # see LOW_CG_TOL
            product = J.product_low(self.op, dtype)
            hl = h.to(dtype)
            x = _pcg(lambda x: hl * x + sigma * product(x), low, g.to(dtype), tol,
                     REUSE_ITERS, self)
            if x is None:
                return None
            key = "conjugate gradients in " + str(dtype).removeprefix("torch.")
            self.used[key] = self.used.get(key, 0) + 1
            return x.to(g.dtype)
        product = J.product(self.op)
        return _pcg(lambda x: h * x + sigma * product(x), self.kept[2], g, tol, REUSE_ITERS,
                    self)

    def _woodbury(self, g, h, sigma, J):
        # H^{-1} = Dh^{-1} - Dh^{-1} G (I / sigma + G^T Dh^{-1} G)^{-1} G^T Dh^{-1},
        # G = [D_i Xa J_i^{1/2}]_i  (n x m d)
        op = self.op
        G = J.root_blocks(op.Xa, op.D[:, J.pattern])
        Gh = G / h[:, None]
        K = lower_gram((G * h.rsqrt()[:, None]).T)  # G^T Dh^{-1} G: its lower triangle
        K.diagonal().add_(1.0 / sigma)
        r = g / h
        return -(r - Gh @ _spd_solve(K, (G.T @ r)[:, None])[:, 0])

    def _cg(self, g, h, sigma, J, tol):
        Xa, Dj = self.op.Xa, self.op.D[:, J.idx]
        # the Jacobi preconditioner: diag(H)_k = h_k + sigma sum_i D_ki x_k^T J_i x_k
        xn = (Xa * Xa).sum(1)
        proj = Xa @ J.vh.T  # x_k^T vh_i
        diag = h + sigma * (Dj @ J.alpha * xn + (Dj * proj * proj) @ J.gamma)
        product = J.product(self.op)
        x = _pcg(lambda x: h * x + sigma * product(x), lambda r: r / diag, g, tol,
                 self.cg_iters, self, last=True)
        return x


class NoDirectSystem(RuntimeError):
    """The cone program's Newton system is too large to form (its ``ssnal`` has no
    conjugate-gradient system)."""


def _cone_fallback(n: int, m: int) -> str:
    """The cone program's direct system beyond :data:`DIRECT_WORK`: the cheaper of the two
    while it is within :data:`DIRECT_LIMIT` and ten times :data:`DIRECT_WORK`, else
    :class:`NoDirectSystem`."""
    costs = {"gram": float(n) * n * m + n**3 / 3, "woodbury": float(n) * m * m + m**3 / 3}
    system = "gram" if n <= m else "woodbury"
    if min(n, m) > DIRECT_LIMIT or costs[system] > 10 * DIRECT_WORK:
        raise NoDirectSystem(f"a Newton system of the cone program would be {min(n, m)} x "
                             f"{min(n, m)} (n = {n} samples, {m} active coordinates), too "
                             f"large to form and factor at every step")
    return system


def _pcg(H: Callable, precondition: Callable, g: torch.Tensor, tol: float, iters: int,
         newton: _Newton, last: bool = False) -> torch.Tensor | None:
    """Preconditioned conjugate gradients on ``H x = -g`` from zero, to a residual of
    ``tol ||g||`` within ``iters`` iterations (counted in ``newton.cg_total``): the solution,
    or None when they run out (``last``: the last iterate then)."""
    x = torch.zeros_like(g)
    r = -g
    z = precondition(r)
    p = z.clone()
    rz = float(r @ z)
    goal = tol * float(g.norm())
    for _ in range(iters):
        newton.cg_total += 1
        Hp = H(p)
        a = rz / float(p @ Hp)
        x += a * p
        r -= a * Hp
        if float(r.norm()) <= goal:
            return x
        z = precondition(r)
        rz, rz_old = float(r @ z), rz
        p = z + (rz / rz_old) * p
    return x if last else None


def _cholesky(H: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor of a symmetric positive definite ``H`` (a tiny ridge is added
    when rounding has made it numerically indefinite)."""
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) != 0:
        ridge = 1e-12 * float(H.diagonal().abs().max())
        H = H.clone()
        H.diagonal().add_(ridge)
        L = torch.linalg.cholesky(H)
    return L


def _spd_solve(H: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``H^{-1} b`` for a symmetric positive definite ``H``."""
    return cholesky_apply(_cholesky(H), b)


# --------------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------------
class _Gated:
    """What ``ssnal`` needs of the gated program: ``A``, the group prox, its Jacobian and
    the dual candidates offered to the certificate."""

    cone = False

    def __init__(self, s: _Setup) -> None:
        self.s, self.op, self.beta = s, s.op, s.beta

    def forward(self, U: torch.Tensor) -> torch.Tensor:
        return self.op.forward(U)

    def adjoint(self, xi: torch.Tensor) -> torch.Tensor:
        return self.op.adjoint(xi)

    def prox(self, v: torch.Tensor, sigma: float) -> torch.Tensor:
        nv = group_norms(v)
        return v * (1.0 - sigma * self.beta / nv.clamp_min(1e-300)).clamp_min(0.0)[:, None]

    def dual_norm(self, At: torch.Tensor, sigma: float) -> float:
        """The largest dual-constraint norm of ``xi`` (``At = A^T xi``)."""
        return float(group_norms(At).max()) if At.numel() else 0.0

    def offer(self, xi: torch.Tensor, norm: float, Au: torch.Tensor) -> None:
        """``xi`` and the loss gradient at the predictions ``Au`` as dual candidates."""
        mon = self.s.monitor
        mon.dual(xi, norm)
        lam = self.s.loss.torch_grad(Au, self.s.y)
        mon.dual(lam, self.dual_norm(self.op.adjoint(lam), 0.0))

    def jacobian(self, v: torch.Tensor, u: torch.Tensor, sigma: float) -> _Jacobian:
        return _Jacobian.at(v, group_norms(v), sigma * self.beta)

    def certify_start(self, U: torch.Tensor) -> float:
        """Offer a warm start as it is (its value), with the loss gradient moved onto the
        constraints of its nonzero groups (as FISTA's certificate does)."""
        s, op = self.s, self.op
        z = op.forward(U)
        lam = s.loss.torch_grad(z, s.y)
        C = op.adjoint(lam)
        s.monitor.dual(lam, float(group_norms(C).max()))
        stepped = s.newton_dual(ActiveDualStep(1), 0, op, lam, C, U, z, math.inf)
        if stepped is not None:
            s.monitor.dual(*stepped)
        return float(s.loss.torch(z, s.y)) + self.beta * float(group_norms(U).sum())

    def primal(self, U: torch.Tensor) -> dict:
        return {"V": _numpy(U), "W": None}


class _Cone(_Gated):
    """What ``ssnal`` needs of the cone program, on ``U = [V; W]`` (``2 P`` signed groups):
    the prox is the projection on each group's cone, then the shrinkage
    (:class:`~lift.problems.relu.cone_fista.ConeProjection`, whose multipliers make the dual
    constraints of ``xi`` and the certificate's cone multipliers)."""

    cone = True

    def __init__(self, s: _Setup) -> None:
        from lift.problems.relu.cone_fista import BestMultipliers, ConeProjection

        super().__init__(s)
        self.proj = ConeProjection(s.op, s.beta)
        self.kept = BestMultipliers(s.monitor, self.proj)

    def forward(self, U: torch.Tensor) -> torch.Tensor:
        return self.op.signed_forward(U)

    def adjoint(self, xi: torch.Tensor) -> torch.Tensor:
        return self.op.signed_adjoint(xi)

    def prox(self, v: torch.Tensor, sigma: float) -> torch.Tensor:
        return self.proj(v, sigma)

    def dual_norm(self, At: torch.Tensor, sigma: float) -> float:
        # the rows A_g^T xi - K_g^T mu_g with the last projection's multipliers mu = lambda /
        # sigma (its correction p - v = K^T lambda)
        C = At.clone()
        if self.proj.moved.numel():
            C[self.proj.moved] -= self.proj.shift / sigma
        return float(group_norms(C).max()) if C.numel() else 0.0

    def offer(self, xi: torch.Tensor, norm: float, Au: torch.Tensor) -> None:
        # the loss gradient at Au would need a projection of its own for its multipliers
        self.kept.offer(xi, norm)

    def jacobian(self, v: torch.Tensor, u: torch.Tensor, sigma: float) -> _ConeJacobian:
        return _ConeJacobian.at(u, sigma * self.beta, self.proj)

    def certify_start(self, U: torch.Tensor) -> float:
        return math.inf  # a warm start need not be feasible: it is only the first multiplier

    def primal(self, U: torch.Tensor) -> dict:
        Uh = _numpy(U)
        return {"V": Uh[:self.op.P], "W": Uh[self.op.P:], "multipliers": self.kept.dense()}


@dataclasses.dataclass
class SSNAL(_TorchSolver):
    r"""Semismooth Newton augmented Lagrangian for the gated and the cone-constrained ReLU
    programs (squared or logistic loss); see :mod:`lift.problems.relu.ssnal`.

    Strong where first-order methods stall: small ``beta``, dense and nearly interpolating
    optima, nearly parallel patterns. Each Newton step costs a factorization of an ``n x n``
    (or ``m x m``) matrix, so on large ``n`` with a sparse optimum FISTA or the working set
    is cheaper; ``solver="auto"`` turns to it when those stall or are predicted slower.

    Attributes
    ----------
    max_iters : int
        Budget of Newton steps (over all outer iterations).
    sigma : float, optional
        First penalty parameter (the data are normalized to order one); default
        :func:`first_sigma`: 1, and ``min(1, 1000 / n)`` with the squared loss on the cone
        program and, from 5,000 samples on, on the gated program.
    sigma_growth : float, optional
        Factor on ``sigma`` after each outer iteration (> 1); default
        :data:`SIGMA_GROWTH` by loss (3 squared, 10 logistic).
    inner_iters : int
        Newton steps per outer iteration at most.
    system : {"auto", "gram", "woodbury", "covariance", "cg"}
        How Newton systems are solved: the ``n x n`` matrix formed and factored, the Woodbury
        form on the ``m`` active coordinates, the same cut from ``A^T A`` formed once
        (squared loss, at most :data:`DIRECT_LIMIT` coordinates ``P d``: what makes programs
        with many samples and few coordinates direct), or Jacobi-preconditioned conjugate
        gradients (products with ``A`` only); ``"auto"`` picks the cheapest each step. The
        cone program has the first two (:data:`CONE_SYSTEMS`).
    cg_iters : int
        Conjugate-gradient iterations per Newton step at most.
    device, dtype, threads
        As for :class:`~lift.problems.relu.solvers.GatedFISTA` (float64 recommended: Newton
        systems at large ``sigma`` are badly conditioned).
    """

    max_iters: int = 300
    sigma: float | None = None
    sigma_growth: float | None = None
    inner_iters: int = 50
    system: str = "auto"
    cg_iters: int = 500

    def __post_init__(self) -> None:
        self._no_step_settings("ssnal has none (its penalty grows by `sigma_growth`)")
        if self.sigma is not None:
            self.sigma = check_positive(self.sigma, "sigma")
        if self.sigma_growth is not None:
            self.sigma_growth = check_positive(self.sigma_growth, "sigma_growth")
            if self.sigma_growth <= 1.0:
                raise ValueError(f"`sigma_growth` must be > 1 (the penalty must grow), got "
                                 f"{self.sigma_growth!r}; leave it unset for the default "
                                 "(3 with the squared loss, 10 with the logistic).")
        self.inner_iters = check_int(self.inner_iters, "inner_iters", minimum=1)
        self.cg_iters = check_int(self.cg_iters, "cg_iters", minimum=1)
        if self.system not in SYSTEMS:
            raise ValueError(f"`system` must be one of {SYSTEMS}, got {self.system!r}.")

    def _threads_work(self, lifted) -> float:
        n, d = lifted.problem.Xa.shape
        # forming the Newton matrices (the cone program's from its n x 2 P d blocks)
        return float(n) * n * lifted.P * (2 * d if lifted.program == "cone" else 1)

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        prog = _Cone(s) if lifted.program == "cone" else _Gated(s)
        newton = _Newton(s.op, self.system, self.cg_iters, squared=s.loss.name == "squared",
                         cone=prog.cone)
        U, steps, outer, stopped = _ssnal(s, prog, newton,
                                          s.warm_point(warm_start, cone=prog.cone), self)
        msg = gap_message(s.monitor, f"{steps} Newton steps in {outer} outer iterations"
                          + (f" ({stopped})" if stopped else ""))
        info: dict = {"newton_steps": steps, "outer_iterations": outer,
                      "systems": dict(newton.used), "cg_iterations": newton.cg_total,
                      "stalled": stopped.startswith("stalled")}
        if prog.cone:
            info["nnls_calls"] = prog.proj.nnls_calls
        return _result(s, "ssnal", steps, msg, prog.primal(U), info)


def _creeping(gaps: list[float], span: int) -> bool:
    """The certified gap (one entry per step or per outer iteration) has not halved over the
    last ``span`` entries, judged once there are twice as many."""
    return len(gaps) >= 2 * span and not gaps[-1] <= 0.5 * gaps[-1 - span]


def _ssnal(s: _Setup, prog: _Gated, newton: _Newton, U: torch.Tensor, opts: SSNAL
           ) -> tuple[torch.Tensor, int, int, str]:
    """The outer (multiplier) and inner (Newton) loops from the primal ``U``. Returns ``(the
    primal point of the best objective, Newton steps, outer iterations, why it stopped short
    or "")``."""
    beta, y = s.beta, s.y
    conj = _Conjugate(s.loss.name, y)
    best_U, best_F = U, math.inf
    if bool(U.any()):
        best_F = prog.certify_start(U)
        if s.monitor.record(0, best_F):
            return U, 0, 0, ""
        if math.isfinite(best_F) and s.monitor.rel_gap > WARM_GAP:
            U = torch.zeros_like(U)  # kept as the best point so far, not as the start
            # (the cone program's warm starts are not certified: they are kept)
    xi = conj.interior(s.loss.torch_grad(prog.forward(U), y))
    sigma = opts.sigma if opts.sigma is not None else first_sigma(
        s.op.n, prog.cone, s.loss.name == "squared")
    growth = (opts.sigma_growth if opts.sigma_growth is not None
              else SIGMA_GROWTH[s.loss.name])
    floor = 1e-13 * max(1.0, float(y.norm()))
    steps = outer = 0
    gaps: list[float] = []  # the certified gap after each outer iteration
    step_gaps: list[float] = []  # and after each Newton step

    def evaluate(xi: torch.Tensor, sigma: float, U: torch.Tensor):
        """``psi``, the prox point, ``v`` and ``xi``'s largest dual-constraint norm."""
        At = prog.adjoint(xi)
        v = U - sigma * At
        u = prog.prox(v, sigma)
        psi = conj.value(xi) + 0.5 / sigma * float((u * u).sum())
        return psi, u, v, prog.dual_norm(At, sigma)

    psi, u, v, at_max = evaluate(xi, sigma, U)
    while steps < opts.max_iters:
        outer += 1
        before = steps
        for _ in range(opts.inner_iters):
            Au = prog.forward(u)
            g = conj.grad(xi) - Au
            # the certificate: the primal u, the dual xi (and the loss gradient at A u)
            F = float(s.loss.torch(Au, y)) + beta * float(group_norms(u).sum())
            if F < best_F:
                best_U, best_F = u, F
            prog.offer(xi, at_max, Au)
            if s.monitor.record(steps, F):
                return best_U, steps, outer, ""
            gn = float(g.norm())
            if gn <= floor or steps >= opts.max_iters:
                break
            # Newton direction and an Armijo line search on psi
            J = prog.jacobian(v, u, sigma)
            h = conj.hess(xi)
            try:
                d = newton.solve(g, h, sigma, J, tol=min(0.1, math.sqrt(gn)))
            except NoDirectSystem as err:
                return best_U, steps, outer, f"stopped: {err}; use solver='fista'"
            slope = float(g @ d)
            # the subproblem is solved well enough when its Newton decrement, about twice
            # psi - min psi, is below INNER^2 ||u - U||^2 / sigma (criterion (B) of Li, Sun
            # and Toh), or at rounding level; then (or without descent) the next multiplier
            decrement = -slope
            if not decrement > max(INNER**2 * float((u - U).pow(2).sum()) / sigma,
                                   1e-15 * max(1.0, abs(psi))):
                break
            t = 1.0
            for _ in range(30):
                if s.monitor.past_deadline():  # a trial is a prox: projections on the cones
                    return best_U, steps, outer, ""
                xi_new = conj.move(xi, d, t)
                trial = evaluate(xi_new, sigma, U)
                if trial[0] <= psi + 1e-4 * min(float(g @ (xi_new - xi)), t * slope):
                    break
                t *= 0.5
            else:
                break  # no decrease left at this sigma
            steps += 1
            xi = xi_new
            psi, u, v, at_max = trial
            step_gaps.append(s.monitor.rel_gap)
            if _creeping(step_gaps, STALL_STEPS):
                return (best_U, steps, outer,
                        f"stalled: the certified gap went from "
                        f"{step_gaps[-1 - STALL_STEPS]:.1e} to {step_gaps[-1]:.1e} in the last "
                        f"{STALL_STEPS} Newton steps")
        if steps == before and sigma >= SIGMA_MAX:
            return (best_U, steps, outer,
                    f"stalled: no Newton step decreased the subproblem at the largest sigma "
                    f"{sigma:.0e}")
        gaps.append(s.monitor.rel_gap)
        if _creeping(gaps, STALL_OUTER):
            return (best_U, steps, outer,
                    f"stalled: the certified gap went from {gaps[-1 - STALL_OUTER]:.1e} to "
                    f"{gaps[-1]:.1e} in the last {STALL_OUTER} outer iterations")
        # the multiplier update, then a larger penalty
        U = u
        sigma = min(sigma * growth, SIGMA_MAX)
        psi, u, v, at_max = evaluate(xi, sigma, U)
    return best_U, steps, outer, f"the budget of {opts.max_iters} Newton steps ran out"
