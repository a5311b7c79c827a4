r"""Accelerated soft-impute: proximal gradient for nuclear-norm regularized least squares.

Minimizes, over matrices ``X`` (``X >= 0`` with the trace norm when the program is symmetric),

.. math::

    F(X) = \tfrac12 \|A(X) - b\|_2^2 + \lambda \|X\|_*

with FISTA steps ``X_{k+1} = prox_{t \lambda \|\cdot\|_*}(Z_k + t A^*(b - A Z_k))`` from the
extrapolated point ``Z_k = X_k + \beta_k (X_k - X_{k-1})`` (momentum restarted whenever
``F`` increases), with ``t >= 1/L`` (``L >= ||A||_2^2``) found by backtracking. For a
sampling operator and ``t = 1`` the step is soft-impute's (Mazumder, Hastie & Tibshirani
2010); on low-rank differences the sampling operator's curvature is about the sampled
fraction, so backtracking accepts much longer steps. A continuation in ``lambda`` (from
``||A^* b||_2 / 2`` down) keeps the early iterates at low rank.

Nothing ``m x n`` is formed for a sampling operator: iterates are kept as SVDs
``U diag(s) V^T``; the gradient step ``Y`` is *low rank plus sparse* and is only applied to
thin blocks (``Y Q``, ``Y^T P``); its leading singular triplets come from block subspace
iteration warm-started at the previous right singular block (Rayleigh–Ritz for the symmetric
program), with the block grown until its smallest Ritz value falls below the threshold
``lambda / L``, so the rank adapts on the fly (at most doubling per step). Everything runs
in torch on the CPU or CUDA.

The solver stops on the **certified** relative duality gap, computed by the lifted program's
own ``certified_gap`` (the recovery, objective and certificate that ``Lifted.finish`` applies
afterwards), never on a heuristic. The point it certifies is the iterate *polished* on its
own row and column spaces (:func:`polish`: an ``r^2 x r^2`` linear system), whose residual
is a dual point with a gap second order in the distance to the optimum's spaces, where the
plain residual's is first order; cheap optimistic gap estimates decide when the certificate
is worth computing.

The program must expose, in linear-operator terms: ``operator`` (``forward_lowrank(U, s,
V)``, ``adjoint(y)`` with ``@`` and ``.T``, ``lipschitz``, ``shape``, and optionally
``subspace_normal(U, V)`` for polishing), ``b``, ``lam``, ``symmetric`` and
``certified_gap(primal) -> (value, lower_bound, info)``.

References
----------
R. Mazumder, T. Hastie and R. Tibshirani. Spectral regularization algorithms for learning
large incomplete matrices. JMLR 11, 2010.
A. Beck and M. Teboulle. A fast iterative shrinkage-thresholding algorithm. SIAM J. Imaging
Sci. 2(1), 2009; B. O'Donoghue and E. Candès. Adaptive restart for accelerated gradient
schemes. Found. Comput. Math. 15, 2015.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from lift.base import SolverResult
from lift.errors import check_int, check_positive
from lift.solvers import register_solver, resolve_device
from lift.solvers.monitor import time_is_up

__all__ = ["SoftImpute", "accepts", "polish", "run"]

#: largest rank ``r`` polished (the normal equations have ``r^2`` unknowns), and the most
#: entries of its ``(m + n) x r^2`` work arrays
POLISH_MAX_RANK = 40
POLISH_MAX_ENTRIES = 2**24


def accepts(lifted) -> bool:
    """Programs that expose a linear operator, measurements and a nuclear/trace weight."""
    return all(hasattr(lifted, a) for a in ("operator", "b", "lam", "symmetric",
                                            "certified_gap"))


def _orth(M: torch.Tensor) -> torch.Tensor:
    Q, _ = torch.linalg.qr(M)
    return Q


@dataclasses.dataclass
class SoftImpute:
    """Hyperparameters of accelerated soft-impute.

    Attributes
    ----------
    max_iter : int
        Iteration budget.
    rank : int or None
        Initial block size of the partial SVD (``None``: 10 or the warm start's rank + 5).
    oversample : int
        Extra columns in the subspace block beyond the current rank.
    power_iters : int
        Subspace iterations per step (on top of the warm start).
    check_every : int
        Most iterations between certified gap checks.
    estimate_every : int
        Iterations between cheap gap estimates (also every other iteration once the
        objective stalls): a polishing step, then the dual bound with a few block power
        iterations for the spectral norm, a *lower* estimate of it, so an optimistic gap; a
        certified check runs as soon as the estimate reaches ``tol``.
    max_time : float or None
        Wall-clock budget in seconds.
    device, dtype
        Torch device (``None``: CUDA when torch sees a GPU and ``m n`` times the rank cap is
        at least :data:`~lift.solvers.GPU_MIN_WORK`, else the CPU) and floating dtype.
    seed : int
        Seed of the random columns of the subspace block.
    continuation : float or None
        Without a warm start, solve first for ``lam_c = ||A^* b||_2 / 2`` and divide
        ``lam_c`` by this factor whenever the objective settles (relative change below
        ``1e-3``, or 30 iterations), down to ``lam``: the iterates stay near the final rank
        instead of passing through the high ranks of the early soft-impute steps. Gap checks
        start once ``lam_c = lam``. ``None`` starts at ``lam``.
    max_rank : int or None
        Largest rank of a step (the partial SVD stops growing there and the step is a
        truncated prox, as softImpute's ``rank.max``): it bounds time and memory in the early
        steps at low sampling rates, whose gradient steps have a high-rank bulk; the
        certificate does not rely on it, and a solve that needs a higher rank stops at
        ``max_iters`` saying so. ``None``: no limit.
    backtracking : bool
        Step sizes ``t >= 1/L`` by backtracking (Beck & Teboulle): a step is accepted when
        ``||A(X_+ - Z)||^2 <= ||X_+ - Z||_F^2 / t``, the exact sufficient-decrease test of a
        quadratic ``f``; the next trial is ``2 t`` until the first rejected step, ``1.2 t``
        after. On low-rank differences a sampling
        operator has curvature near the sampling fraction rather than 1, so accepted steps
        are far longer than ``1/L`` at low sampling rates.
    rank_growth : float or None
        A step's rank is at most this factor times the current iterate's (at least the
        initial block size): a truncated prox, as ``max_rank``, that keeps the first steps
        of a continuation stage (whose long gradient steps have a high-rank bulk) from
        jumping to hundreds of singular vectors; the limit doubles at every step the rank
        needs it, and the stop is still the certified gap. ``None``: no limit.
    polish : bool
        At each gap check, replace the iterate by :func:`polish`'s best point on its row and
        column spaces when that lowers the objective (momentum restarted): the certified gap
        then tracks the objective instead of trailing it.
    """

    max_iter: int = 5000
    rank: int | None = None
    oversample: int = 5
    power_iters: int = 1
    check_every: int = 30
    max_time: float | None = None
    device: Any = None
    dtype: torch.dtype = torch.float64
    seed: int = 0
    continuation: float | None = 3.0
    max_rank: int | None = 200
    backtracking: bool = True
    polish: bool = True
    estimate_every: int = 3
    rank_growth: float | None = 2.0

    def __post_init__(self) -> None:
        check_int(self.max_iter, "max_iter", minimum=1)
        if self.rank is not None:
            check_int(self.rank, "rank", minimum=1)
        check_int(self.oversample, "oversample", minimum=1)
        check_int(self.power_iters, "power_iters", minimum=0)
        check_int(self.check_every, "check_every", minimum=1)
        check_int(self.estimate_every, "estimate_every", minimum=1)
        if self.max_time is not None:
            check_positive(self.max_time, "max_time")
        check_int(self.seed, "seed")
        if self.max_rank is not None:
            check_int(self.max_rank, "max_rank", minimum=1)
        if self.rank_growth is not None and check_positive(self.rank_growth,
                                                           "rank_growth") <= 1:
            raise ValueError("`rank_growth` must be a factor > 1 (or None).")
        if self.continuation is not None and check_positive(self.continuation,
                                                            "continuation") <= 1:
            raise ValueError("`continuation` must be a factor > 1 (or None).")

    # --- the partial eigen/singular decomposition of Y = Z + step * W ------------------------
    def _prox(self, Uz, sz, Vz, W, step, thr, Qv, symmetric, gen, cap):
        m, n = Uz.shape[0], Vz.shape[0]
        kmax = min(m, n) if cap is None else min(m, n, cap + self.oversample)

        if symmetric:
            def Y(Q):
                return Uz @ (sz[:, None] * (Uz.T @ Q)) + 0.5 * step * (W @ Q + W.T @ Q)
            Yt = Y
        else:
            def Y(Q):
                return Uz @ (sz[:, None] * (Vz.T @ Q)) + step * (W @ Q)

            def Yt(P):
                return Vz @ (sz[:, None] * (Uz.T @ P)) + step * (W.T @ P)

        while True:
            Q = _orth(Qv)
            for _ in range(self.power_iters):
                if symmetric:
                    Q = _orth(Y(Q))
                else:
                    Q = _orth(Yt(_orth(Y(Q))))
            if symmetric:
                YQ = Y(Q)
                T = Q.T @ YQ
                lam_, E = torch.linalg.eigh(0.5 * (T + T.T))
                order = torch.argsort(lam_, descending=True)
                lam_, E = lam_[order], E[:, order]
                left = right = Q @ E
                vals, small = lam_, lam_.abs().min()
            else:
                P = _orth(Y(Q))
                B = Yt(P).T                              # (kb, n) = P^T Y
                Ub, sb, Vbt = torch.linalg.svd(B, full_matrices=False)
                left, right, vals, small = P @ Ub, Vbt.T, sb, sb.min()
            kb = Q.shape[1]
            if small <= thr or kb >= kmax:
                break
            grow = min(kmax, 2 * kb) - kb  # every Ritz value above the threshold: grow
            Qv = torch.cat([right, torch.randn(n, grow, generator=gen, dtype=Q.dtype,
                                               device="cpu").to(Q.device)], dim=1)
        keep = vals > thr
        if cap is not None:
            keep[cap:] = False
        return left[:, keep], vals[keep] - thr, right[:, keep], right

    def _start(self, op, b, lam: float, warm_start: Any, kw: dict, gen):
        """The starting factors (a warm start's, or zero), the subspace of the first partial
        SVD, its size, and the first continuation weight (half ``||A^*(b)||_2`` when cold)."""
        m, n = op.shape
        if warm_start is not None and not (isinstance(warm_start, dict)
                                           and {"U", "s", "V"} <= set(warm_start)):
            raise TypeError("`warm_start` must be a previous solution's info['warm_start'] "
                            "(a dict with 'U', 's', 'V').")
        if warm_start is not None and (warm_start["U"].shape[0] != m
                                       or warm_start["V"].shape[0] != n):
            raise ValueError("`warm_start` belongs to a matrix of another shape.")
        if warm_start is not None:
            U = torch.as_tensor(warm_start["U"], **kw)
            s = torch.as_tensor(warm_start["s"], **kw)
            V = torch.as_tensor(warm_start["V"], **kw)
        else:
            U, s, V = (torch.zeros(m, 0, **kw), torch.zeros(0, **kw), torch.zeros(n, 0, **kw))
        k0 = self.rank if self.rank is not None else max(10, s.numel() + self.oversample)
        k0 = min(k0, m, n)
        Qv = torch.cat([V, torch.randn(n, max(k0 - V.shape[1], 1), generator=gen,
                                       dtype=self.dtype).to(kw["device"])], dim=1)
        lam_c = lam
        if warm_start is None and self.continuation is not None:
            W0 = op.adjoint(b)
            x = torch.randn(n, 1, generator=gen, dtype=self.dtype).to(kw["device"])
            for _ in range(8):
                x = W0.T @ (W0 @ x)
                x = x / torch.linalg.norm(x)
            lam_c = max(lam, 0.5 * float(torch.linalg.norm(W0 @ x)))
        return U, s, V, Qv, k0, lam_c

    def _prox_step(self, op, b, point, tk: float, step: float, lam_c: float, Qv, symmetric,
                   gen, cap):
        """One proximal step from the extrapolated point ``(Uz, sz, Vz)`` (predictions
        ``zZ``), with backtracking on the step ``tk`` (never below ``1 / L``); returns the new
        factors, their predictions, the right singular subspace, the step and the number of
        halvings."""
        Uz, sz, Vz, zZ = point
        W = op.adjoint(b - zZ)
        halvings = 0
        while True:
            thr = lam_c * tk
            Un, sn, Vn, right = self._prox(Uz, sz, Vz, W, tk, thr, Qv, symmetric, gen, cap)
            zn = op.forward_lowrank(Un, sn, Vn)
            if not self.backtracking or tk <= step:
                break
            # f quadratic: f(X+) <= f(Z) + <grad f(Z), X+ - Z> + |X+ - Z|^2 / (2 t)
            # iff |A(X+ - Z)|^2 <= |X+ - Z|_F^2 / t
            if float(torch.sum((zn - zZ) ** 2)) * tk <= _dist2(Un, sn, Vn, Uz, sz, Vz):
                break
            tk = max(step, 0.5 * tk)
            halvings += 1
        return Un, sn, Vn, zn, right, tk, halvings

    def _cap(self, rank: int, k0: int) -> int | None:
        """The largest rank of the next step: ``max_rank``, and ``rank_growth`` times the
        current rank (at least ``k0``)."""
        cap = self.max_rank
        if self.rank_growth is not None:
            grown = max(k0, math.ceil(self.rank_growth * rank))
            cap = grown if cap is None else min(cap, grown)
        return cap

    def _short_message(self, message: str, rel: float, tol: float, rank: int) -> str:
        """Why a solve stopped short of ``tol``."""
        if not message:
            message = (f"iteration budget {self.max_iter} reached; certified relative gap "
                       f"{rel:.1e} (tol {tol:.1e})")
        if self.max_rank is not None and rank >= self.max_rank:
            message += f"; the rank reached max_rank={self.max_rank}: raise it"
        return message

    def run(self, lifted, tol: float = 1e-6, verbose: bool = False,
            warm_start: Any = None) -> SolverResult:
        """Solve ``lifted`` to a certified relative duality gap ``tol``."""
        start = time.perf_counter()
        tol = check_positive(tol, "tol")
        op, symmetric = lifted.operator, bool(lifted.symmetric)
        m, n = op.shape
        rank = min(m, n) if self.max_rank is None else min(self.max_rank, m, n)
        device = resolve_device(self.device, work=float(m) * n * rank)
        kw = {"dtype": self.dtype, "device": device}
        lam = float(lifted.lam)
        b = torch.as_tensor(lifted.b, **kw)
        step = 1.0 / op.lipschitz
        gen = torch.Generator().manual_seed(self.seed)
        U, s, V, Qv, k0, lam_c = self._start(op, b, lam, warm_start, kw, gen)
        stage_start = 0
        tk, tk_used, backtracks = step, step, 0
        zX = op.forward_lowrank(U, s, V)
        F = 0.5 * float(torch.sum((zX - b) ** 2)) + lam_c * float(s.sum())
        Uo, so, Vo, zo = U, s, V, zX
        t = 1.0
        history: dict[str, list[float]] = {"iteration": [], "value": [], "lower_bound": [],
                                           "rel_gap": [], "rank": [], "time": []}
        status, message, it = "max_iters", "", 0
        last_check, last_estimate, F_check = -1, -1, math.inf
        checked = None  # the last polished point that was certified-checked
        rel = math.inf
        for it in range(1, self.max_iter + 1):
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            Un, sn, Vn, zn, right, tk, tried = self._prox_step(
                op, b, _extrapolate((U, s, V, zX), (Uo, so, Vo, zo), beta), tk, step, lam_c,
                Qv, symmetric, gen, self._cap(s.numel(), k0))
            backtracks += tried
            tk_used = tk
            grow = 2.0 if backtracks == 0 else 1.2  # ramp up fast until the first failure
            tk = min(tk * grow, step * 1e4) if self.backtracking else step
            Qv = _next_subspace(right, min(max(sn.numel() + self.oversample, k0), m, n), gen)
            Fn = 0.5 * float(torch.sum((zn - b) ** 2)) + lam_c * float(sn.sum())
            t = t_new if Fn <= F else 1.0  # adaptive restart on an increase
            Uo, so, Vo, zo = U, s, V, zX
            U, s, V, zX, F_prev, F = Un, sn, Vn, zn, F, Fn
            if lam_c > lam:
                if verbose:
                    print(f"soft_impute {it:5d}  continuation lam {lam_c:.4g}  value {F:.10e}"
                          f"  rank {s.numel()}")
                settled = abs(F_prev - F) <= 1e-3 * max(abs(F), 1e-12)
                if settled or it - stage_start >= 30:
                    lam_c = max(lam, lam_c / self.continuation)
                    stage_start, t = it, 1.0
                    Uo, so, Vo, zo = U, s, V, zX
                    F = 0.5 * float(torch.sum((zX - b) ** 2)) + lam_c * float(s.sum())
                    last_check = last_estimate = it
                if time_is_up():  # the solve's time limit, if any
                    message = (f"time limit reached after {it} iterations, in the "
                               f"continuation at lam {lam_c:.4g}")
                    break
                continue
            stalled = abs(F_prev - F) <= 0.1 * tol * max(abs(F), 1e-12)
            timed_out = (self.max_time is not None and (time.perf_counter() - start
                                                        > self.max_time)
                         or time_is_up())  # the solve's time limit, if any
            since = it - last_check
            due = since >= self.check_every or it == self.max_iter or timed_out
            if due or it - last_estimate >= self.estimate_every or (
                    stalled and it - last_estimate >= 2):
                last_estimate = it
                cand = _polished(op, b, lam, (U, s, V, zX), F, symmetric) if self.polish \
                    else (U, s, V, zX, F)
                if not due and _gap_estimate(op, b, lam, cand[:4], cand[4], symmetric,
                                             gen) > tol:
                    continue  # not there yet even by an optimistic estimate
                last_check = it
                rel = _certified_check(lifted, _primal(*cand[:3]), history, it, start,
                                       verbose)
                if cand[4] < F:
                    checked = cand
                if rel <= tol:
                    U, s, V = cand[:3]
                    status = "optimal"
                    message = (f"certified relative gap {rel:.1e} <= tol {tol:.1e} after {it} "
                               f"iterations (rank {s.numel()})")
                    break
                if stalled and F_check <= F * (1 + 1e-14):
                    # no progress between two checks: the partial SVD is the bottleneck
                    self.power_iters += 1
                F_check = F
            if timed_out:
                message = (f"time limit reached after {it} iterations; certified relative "
                           f"gap {rel:.1e}")
                break
        if status != "optimal":
            message = self._short_message(message, rel, tol, int(s.numel()))
            if checked is not None and checked[4] < F:  # the last polished point was better
                U, s, V = checked[:3]
        primal = _primal(U, s, V)
        return SolverResult(primal=primal, status=status, time=time.perf_counter() - start,
                            iterations=it, message=message,
                            info={"history": history, "rank": int(s.numel()),
                                  "device": str(device), "step": tk_used * op.lipschitz,
                                  "backtracks": backtracks},
                            warm_start=primal)


def _polished(op, b: torch.Tensor, lam: float, point: tuple, F: float,
              symmetric: bool) -> tuple:
    """``(U, s, V, A(X), F)`` of :func:`polish`'s point when it lowers the objective ``F``
    of ``point = (U, s, V, A(X))``, else ``point`` and ``F``."""
    pol = polish(op, b, lam, point[0], point[2], symmetric)
    if pol is not None:
        zp = op.forward_lowrank(*pol)
        Fp = 0.5 * float(torch.sum((zp - b) ** 2)) + lam * float(pol[1].sum())
        if Fp < F:
            return (*pol, zp, Fp)
    return (*point, F)


def _gap_estimate(op, b: torch.Tensor, lam: float, point: tuple, F: float, symmetric: bool,
                  gen, iters: int = 3, extra: int = 4) -> float:
    """An optimistic relative gap at ``point = (U, s, V, A(X))``: the dual bound of the
    residual with ``||A^*(r)||_2`` (``lambda_max``) estimated from below by block power
    iterations from ``V`` plus ``extra`` random directions (never a certificate: a
    certified check follows when this reaches the tolerance)."""
    U, _, V, z = point
    r = b - z
    rr, rb = float(r @ r), float(r @ b)
    if rr == 0.0:
        return 0.0
    W = op.adjoint(r)
    Q = torch.cat([U if symmetric else V, torch.randn(V.shape[0], extra, generator=gen,
                                                      dtype=V.dtype).to(V.device)], dim=1)
    for _ in range(iters):
        Q = _orth(0.5 * (W @ Q + W.T @ Q) if symmetric else W.T @ _orth(W @ Q))
    if symmetric:
        smax = float(torch.linalg.eigvalsh(Q.T @ (0.5 * (W @ Q + W.T @ Q)))[-1])
    else:
        smax = float(torch.linalg.matrix_norm(W @ Q, ord=2))
    tt = min(max(rb / rr, 0.0), lam / smax if smax > 0 else math.inf)
    return (F - (tt * rb - 0.5 * tt * tt * rr)) / max(abs(F), 1e-12)


def polish(op, b: torch.Tensor, lam: float, U: torch.Tensor, V: torch.Tensor,
           symmetric: bool = False, max_rank: int = POLISH_MAX_RANK) -> tuple | None:
    r"""The best point with the row and column spaces of ``U`` and ``V`` (orthonormal).

    .. math::

        \min_{S \in \mathbb{R}^{r \times r}} \tfrac12 \|A(U S V^T) - b\|_2^2
        + \lambda \operatorname{tr}(S)
        \iff U^T A^*(A(U S V^T)) V = U^T A^*(b) V - \lambda I

    (``S`` symmetric for the PSD program, whose equations are symmetrized). ``tr(S)`` is the
    nuclear norm's linearization at ``S = I``: on the optimum's own spaces the solution is
    the optimum, and near them ``U^T A^*(r) V = lam I`` holds exactly for the residual ``r``,
    so the residual's dual gap is second order in the distance between the spaces where the
    proximal-gradient residual's is first order (the certificate trails the objective
    without it). The operator must offer ``subspace_normal(U, V)``.

    Returns
    -------
    (U', s', V') or None
        The SVD of ``U S V^T`` (eigendecomposition, positive part, when symmetric), or
        ``None`` when the operator has no ``subspace_normal``, ``r`` is 0 or above
        ``max_rank`` (or the work arrays would exceed :data:`POLISH_MAX_ENTRIES`), or the
        equations are singular.
    """
    r = U.shape[1]
    if (r == 0 or r > max_rank or not hasattr(op, "subspace_normal")
            or (U.shape[0] + V.shape[0]) * r * r > POLISH_MAX_ENTRIES):
        return None
    N = op.subspace_normal(U, V)
    eye = torch.eye(r, dtype=U.dtype, device=U.device)
    rhs = U.T @ (op.adjoint(b) @ V) - lam * eye
    if symmetric:  # solve on symmetric S: (P N P + I - P) vec S = P rhs, P = (I + K) / 2
        ident = torch.eye(r * r, dtype=U.dtype, device=U.device)
        P = 0.5 * (ident + ident[torch.arange(r * r).reshape(r, r).T.reshape(-1)])
        N = P @ N @ P + ident - P
        rhs = 0.5 * (rhs + rhs.T)
    L, info = torch.linalg.cholesky_ex(N)
    if int(info) != 0:
        return None
    S = torch.cholesky_solve(rhs.reshape(-1, 1), L).reshape(r, r)
    if not bool(torch.isfinite(S).all()):
        return None
    if symmetric:
        w, E = torch.linalg.eigh(0.5 * (S + S.T))
        keep = torch.flip(torch.nonzero(w > 0).flatten(), [0])
        Un = U @ E[:, keep]
        return Un, w[keep], Un
    P_, sig, Qt = torch.linalg.svd(S)
    keep = sig > 0
    return U @ P_[:, keep], sig[keep], V @ Qt.T[:, keep]


def _extrapolate(x: tuple, x_old: tuple, beta: float) -> tuple:
    """The FISTA point ``x + beta (x - x_old)`` as factors ``(U, s, V)`` and predictions,
    without forming a matrix (the factors are concatenated)."""
    (U, s, V, z), (Uo, so, Vo, zo) = x, x_old
    if beta <= 0 or not so.numel():
        return U, s, V, z
    return (torch.cat([U, Uo], 1), torch.cat([(1 + beta) * s, -beta * so]),
            torch.cat([V, Vo], 1), (1 + beta) * z - beta * zo)


def _next_subspace(right: torch.Tensor, k: int, gen) -> torch.Tensor:
    """The first ``k`` right singular vectors (the warm start of the next partial SVD),
    padded with random directions when fewer are known."""
    Q = right[:, :min(k, right.shape[1])]
    if Q.shape[1] < k:
        extra = torch.randn(right.shape[0], k - Q.shape[1], generator=gen, dtype=right.dtype)
        Q = torch.cat([Q, extra.to(right.device)], dim=1)
    return Q


def _certified_check(lifted, primal, history: dict, it: int, start: float,
                     verbose: bool) -> float:
    """The certified relative gap at ``primal`` (the library's own chain), recorded."""
    value, lower, _ = lifted.certified_gap(primal)
    gap = max(value - lower, 0.0) if math.isfinite(lower) else math.inf
    rel = gap / max(abs(value), 1e-12)
    rank = int(primal["s"].shape[0]) if isinstance(primal, dict) and "s" in primal else -1
    for key, val in (("iteration", it), ("value", value), ("lower_bound", lower),
                     ("rel_gap", rel), ("rank", rank), ("time", time.perf_counter() - start)):
        history[key].append(val)
    if verbose:
        print(f"soft_impute {it:5d}  value {value:.10e}  bound {lower:.10e}  "
              f"rel gap {rel:.2e}  rank {rank}")
    return rel


def _dist2(U1, s1, V1, U2, s2, V2) -> float:
    """``||U1 diag(s1) V1^T - U2 diag(s2) V2^T||_F^2`` from Gram matrices (``U1``, ``V1``
    orthonormal)."""
    cross = torch.sum(((U1.T @ U2) * s2) * (V1.T @ V2) * s1[:, None])
    zz = torch.sum(((U2.T @ U2) * s2) * (V2.T @ V2) * s2[:, None])
    return float(torch.sum(s1 * s1) - 2 * cross + zz)


def _primal(U: torch.Tensor, s: torch.Tensor, V: torch.Tensor) -> dict[str, np.ndarray]:
    return {"U": U.detach().cpu().double().numpy(), "s": s.detach().cpu().double().numpy(),
            "V": V.detach().cpu().double().numpy()}


def run(lifted, tol: float = 1e-6, verbose: bool = False, warm_start: Any = None,
        **options: Any) -> SolverResult:
    """Solve with :class:`SoftImpute` (``options`` are its fields)."""
    fields = {f.name for f in dataclasses.fields(SoftImpute)}
    unknown = set(options) - fields
    if unknown:
        raise TypeError(f"soft_impute got unknown option(s) {sorted(unknown)}; it takes "
                        f"{sorted(fields)}.")
    return SoftImpute(**options).run(lifted, tol=tol, verbose=verbose, warm_start=warm_start)


register_solver("soft_impute", accepts, run)
