r"""Working-set solvers for the convex ReLU lifts: full passes in torch, small exact inner solves.

Most of the ``P`` patterns of a lifted ReLU program carry no neuron at the optimum, and a
certified gap of 1e-6 needs a primal point accurate to about 1e-12 (the dual point is a
gradient). Both facts favour a *working set*: solve the program restricted to a few patterns
very accurately, then check all patterns with one matrix-free pass, add the ones that violate
their dual constraint, and repeat. The full pass is exactly the certificate, so the method
stops on the same certified relative duality gap as the first-order solvers.

``"active_set"`` — the gated program, :class:`GatedWorkingSet`

    restricted programs over working sets ``S`` (the nonzero groups, plus as many of the most
    violated ones, at least ``start``), solved

    * for the squared loss, on the Gram matrix of the working set (``|S| d x |S| d``, built
      once per new pattern in row chunks, so a step costs nothing in ``n``): FISTA with restarts
      until the nonzero groups settle, then Newton on them to machine precision;
    * otherwise (logistic loss, or a Gram matrix over ``gram_limit``), by the matrix-free FISTA
      and Newton polish of :mod:`lift.solvers.relu_fast` on the restricted operator.

``"active_set"`` — the cone-constrained ReLU program, :class:`ConeWorkingSet` (squared loss)

    a working set of *signed* patterns (``v_i`` and ``w_i`` are separate groups) and, inside it,
    a working set of cone constraints (rows ``k`` of ``(2 D_i - I) Xa v_i >= 0``), grown by
    cutting planes: the restricted program, a quadratic program with one second-order cone per
    group, ``|S| d + |S|`` variables and a few thousand rows (of the ``n |S|``), goes straight
    to Clarabel's interior-point method (no cvxpy compilation); rows it violates are added
    until none is.
    Pricing a pattern outside the set needs the smallest dual-constraint norm over the cone
    multipliers, ``min_{mu >= 0} ||Xa^T (D_i lam - S_i mu)||``: a nonnegative least-squares
    problem per pattern, skipped when the plain norm (``mu = 0``) or the multipliers of the
    previous pass already bound it by ``beta``. Those multipliers, and Clarabel's for the
    patterns in the set, are returned, so the library's certificate can check them.

Why not only first-order methods: on the cone program our augmented Lagrangian and pyscnn's
both stall between 1e-4 and 1e-6 (BENCHMARKS.md), and the gated FISTA spends most of its
iterations on the last digits that Newton gets in a few steps. The full passes here are the
matrix-free products of :class:`~lift.solvers.relu_fast.PatternOperator` (memory
``O(nP + Pd + nd)``); the only dense blocks are those of the working set.

References
----------
M. Massias, A. Gramfort and J. Salmon. Celer: a fast solver for the lasso with dual
extrapolation. ICML 2018 (working sets of twice the support, pricing by dual violation).
J. E. Kelley. The cutting-plane method for solving convex programs. J. SIAM, 1960.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import nnls

from lift.solvers import register_solver
from lift.solvers.prox import group_norms
from lift.solvers.relu_fast import (
    CHUNK_ENTRIES,
    PatternOperator,
    TorchLoss,
    _finish_run,
    _GatedOracle,
    _Monitor,
    _NewtonPolish,
    _options,
    _setup,
    _smooth,
    _TorchSolver,
    _warm_point,
    fista,
)

__all__ = ["GatedWorkingSet", "ConeWorkingSet", "group_lasso_gram"]


# --------------------------------------------------------------------------------------------
# Group lasso on a Gram matrix: FISTA, then Newton on the support
# --------------------------------------------------------------------------------------------
def _kkt(G: np.ndarray, b: np.ndarray, u: np.ndarray, beta: float, d: int) -> float:
    """Largest optimality residual of ``1/2 u'Gu - b'u + beta sum ||u_j||``, over ``beta``."""
    g = (G @ u - b).reshape(-1, d)
    U = u.reshape(-1, d)
    nrm = np.linalg.norm(U, axis=1)
    nz = nrm > 0
    res = np.maximum(np.linalg.norm(g, axis=1) - beta, 0.0)
    res[nz] = np.linalg.norm(g[nz] + beta * U[nz] / nrm[nz, None], axis=1)
    return float(res.max(initial=0.0)) / beta


def _objective(G: np.ndarray, b: np.ndarray, u: np.ndarray, beta: float, d: int) -> float:
    return float(0.5 * u @ (G @ u) - b @ u + beta * np.linalg.norm(u.reshape(-1, d), axis=1).sum())


def _prox(x: np.ndarray, thr: float, d: int) -> np.ndarray:
    X = x.reshape(-1, d)
    nrm = np.linalg.norm(X, axis=1)
    scale = np.maximum(1.0 - thr / np.maximum(nrm, 1e-300), 0.0)
    return (X * scale[:, None]).reshape(-1)


def _newton(G: np.ndarray, b: np.ndarray, u: np.ndarray, beta: float, d: int,
            max_steps: int = 30) -> np.ndarray:
    """Newton steps on the nonzero groups of ``u`` (the others stay zero), with backtracking;
    returns the best point found (``u`` itself if no step lowered the objective)."""
    U = u.reshape(-1, d)
    support = np.flatnonzero(np.linalg.norm(U, axis=1) > 0)
    if support.size == 0:
        return u
    idx = (support[:, None] * d + np.arange(d)).ravel()
    Gs, bs = G[np.ix_(idx, idx)], b[idx]
    x = u[idx].copy()
    k = support.size

    def phi(x):
        return float(0.5 * x @ (Gs @ x) - bs @ x
                     + beta * np.linalg.norm(x.reshape(k, d), axis=1).sum())

    fx = phi(x)
    eye = np.eye(d)
    for _ in range(max_steps):
        X = x.reshape(k, d)
        nrm = np.linalg.norm(X, axis=1)
        if np.any(nrm <= 0):
            break
        Xh = X / nrm[:, None]
        g = Gs @ x - bs + beta * Xh.ravel()
        if np.linalg.norm(g) <= 1e-14 * beta:
            break
        H = Gs.copy()
        for j in range(k):
            sl = slice(j * d, (j + 1) * d)
            H[sl, sl] += beta * (eye - np.outer(Xh[j], Xh[j])) / nrm[j]
        H[np.diag_indices_from(H)] += 1e-13 * float(np.abs(np.diag(H)).max())
        try:
            delta = cho_solve(cho_factor(H, check_finite=False), g, check_finite=False)
        except np.linalg.LinAlgError:
            break
        a, moved = 1.0, False
        for _ in range(30):
            xt = x - a * delta
            ft = phi(xt)
            if ft < fx or (a == 1.0 and ft <= fx):
                x, fx, moved = xt, ft, True
                break
            a *= 0.5
        # stop without progress, or when the step is at the level of rounding
        if not moved or a < 1.0 or np.linalg.norm(delta) <= 1e-13 * np.linalg.norm(x):
            break
    out = u.copy()
    out[idx] = x
    return out


def group_lasso_gram(G: np.ndarray, b: np.ndarray, beta: float, d: int, u0: np.ndarray,
                     tol: float = 1e-11, max_iters: int = 50_000) -> tuple[np.ndarray, int, float]:
    r"""Minimize ``1/2 u'Gu - b'u + beta sum_j ||u_j||`` (groups of ``d`` entries).

    FISTA with gradient-mapping restarts and step ``1 / lambda_max(G)``; every 10 iterations
    the optimality residual is checked and, once the nonzero groups are the same as at the
    previous check, Newton steps are taken on them. Stops when the residual (relative to
    ``beta``) is at most ``tol``. Returns ``(u, iterations, residual)``.
    """
    u = np.asarray(u0, dtype=np.float64).reshape(-1).copy()
    if u.size == 0:
        return u, 0, 0.0
    # lambda_max by power iteration, with a margin (an estimate from below)
    v = np.random.default_rng(0).standard_normal(u.size)
    lmax = 0.0
    for _ in range(50):
        w = G @ v
        lmax_new = float(np.linalg.norm(w))
        v = w / max(lmax_new, 1e-300)
        if abs(lmax_new - lmax) <= 1e-6 * lmax_new:
            lmax = lmax_new
            break
        lmax = lmax_new
    step = 1.0 / (1.05 * max(lmax, 1e-300))
    y, t, x = u.copy(), 1.0, u.copy()
    last_support = None
    res = _kkt(G, b, x, beta, d)
    k = 0
    for k in range(1, max_iters + 1):
        if res <= tol:
            break
        xn = _prox(y - step * (G @ y - b), beta * step, d)
        if float((y - xn) @ (xn - x)) > 0:  # restart
            t_new, y = 1.0, xn.copy()
        else:
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            y = xn + ((t - 1) / t_new) * (xn - x)
        x, t = xn, t_new
        if k % 10 == 0:
            support = np.linalg.norm(x.reshape(-1, d), axis=1) > 0
            if (res <= 1e-2 and last_support is not None
                    and np.array_equal(support, last_support)):
                xn = _newton(G, b, x, beta, d)
                if _objective(G, b, xn, beta, d) <= _objective(G, b, x, beta, d):
                    x, y, t = xn, xn.copy(), 1.0
            last_support = support
            res = _kkt(G, b, x, beta, d)
    return x, k, res


class _Gram:
    """Gram matrix ``A_S^T A_S`` and ``A_S^T y`` over the (signed) patterns ever seen.

    Keys are pattern indices (gated) or signed patterns ``g`` in ``[0, 2P)`` (``g < P``: the
    block ``+D_g Xa``; ``g >= P``: ``-D_{g-P} Xa``). :meth:`sub` returns the blocks of any subset;
    new keys are added in row chunks (``O(n |seen| |new| d^2)``)."""

    def __init__(self, op: PatternOperator, y: torch.Tensor) -> None:
        self.op, self.y = op, y
        self.keys: list[int] = []
        self.pos: dict[int, int] = {}
        self.G = np.zeros((0, 0))
        self.b = np.zeros(0)

    def _split(self, keys: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        op = self.op
        k = torch.as_tensor(keys, dtype=torch.long, device=op.device)
        return k % op.P, torch.where(k < op.P, 1.0, -1.0).to(op.dtype)

    def sub(self, keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(G, b)`` of the patterns ``keys``, in that order (computing the missing ones)."""
        self._add([g for g in dict.fromkeys(keys) if g not in self.pos])
        d = self.op.d
        ix = (np.array([self.pos[g] for g in keys])[:, None] * d + np.arange(d)).ravel()
        return self.G[np.ix_(ix, ix)], self.b[ix]

    def _add(self, new: list[int]) -> None:
        op = self.op
        m_old, m_new, d = len(self.keys), len(new), op.d
        if m_new == 0:
            return
        idx_n, sg_n = self._split(new)
        idx_o, sg_o = self._split(self.keys)
        Gon = torch.zeros((m_old * d, m_new * d), dtype=op.dtype, device=op.device)
        Gnn = torch.zeros((m_new * d, m_new * d), dtype=op.dtype, device=op.device)
        bn = torch.zeros(m_new * d, dtype=op.dtype, device=op.device)
        rows = max(1, CHUNK_ENTRIES // ((m_old + m_new) * d))
        for s in range(0, op.n, rows):
            sl = slice(s, min(s + rows, op.n))
            An = op.blocks(idx_n, sl, sg_n)
            Gnn += An.T @ An
            bn += An.T @ self.y[sl]
            if m_old:
                Gon += op.blocks(idx_o, sl, sg_o).T @ An
        Gon, Gnn, bn = (t.cpu().numpy().astype(np.float64) for t in (Gon, Gnn, bn))
        self.G = np.block([[self.G, Gon], [Gon.T, Gnn]])
        self.b = np.concatenate([self.b, bn])
        for g in new:
            self.pos[g] = len(self.keys)
            self.keys.append(g)


def _next_working_set(support: np.ndarray, norms: np.ndarray, beta: float,
                      start: int) -> list[int] | None:
    """The nonzero groups, then the ``max(start, |support|)`` groups outside them that violate
    their dual constraint (``norms > beta``) the most; None when none does. Zero groups that
    satisfy it leave the set (their Gram blocks are kept for when they return)."""
    inside = np.zeros(norms.size, dtype=bool)
    inside[support] = True
    viol = np.flatnonzero(~inside & (norms > beta))
    if viol.size == 0:
        return None
    viol = viol[np.argsort(-norms[viol], kind="stable")][:max(start, support.size)]
    return [int(g) for g in support] + [int(g) for g in viol]


# --------------------------------------------------------------------------------------------
# Gated program
# --------------------------------------------------------------------------------------------
def _restricted_fista(op: PatternOperator, loss: TorchLoss, beta: float, U0: torch.Tensor,
                      tol: float, max_iters: int) -> tuple[torch.Tensor, int]:
    """The matrix-free FISTA (with Newton polish) on a restricted operator, to a certified
    relative gap ``tol`` of the restricted program."""
    mon = _Monitor(loss, beta, tol)
    t0 = time.perf_counter()

    def check(k, x, Fx, y, G, step):
        mon.dual(y.cache["lam"], G)
        return mon.record(k, Fx, t0)

    step = 1.0 / (loss.curvature() * op.lipschitz())
    x, _, k, _ = fista(_GatedOracle(op, loss), U0, beta, step, max_iters, check,
                       polish=_NewtonPolish(op, loss, beta))
    return x.U, k


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
    residual of ``max(inner_tol, relative * gap)``, with ``inner_tol`` divided by 100 whenever
    no pattern is left to add but the gap is still open.

    Attributes
    ----------
    max_iters : int
        Budget of inner iterations over all restricted solves.
    max_work : float
        Budget of multiply-adds over all restricted solves (about 10 s on one core): on an
        ill-conditioned program the solver stops, honestly short, in seconds rather than
        minutes, and ``solver="auto"`` moves on to an interior-point method.
    max_outer : int
        Outer iterations (full passes) at most.
    start : int
        Smallest number of patterns added at once.
    inner_tol, relative : float
        Tolerance of the restricted solves (see above).
    gram_limit : int
        Largest ``|S| d`` solved on the Gram matrix (squared loss); beyond it, and for the
        logistic loss, the restricted program is solved matrix-free.
    device, dtype, growth, shrink, threads
        As for :class:`~lift.solvers.relu_fast.GatedFISTA`.
    """

    max_iters: int = 200_000
    max_work: float = 2e10
    max_outer: int = 100
    start: int = 10
    inner_tol: float = 1e-9
    relative: float = 0.1
    gram_limit: int = 4_000

    def _run(self, lifted, tol: float, verbose: bool, warm_start: dict | None) -> dict:
        t0 = time.perf_counter()
        prob, op, loss = _setup(lifted, self.device, self.dtype)
        beta = prob.beta
        U = _warm_point(warm_start, op, cone=False)
        mon = _Monitor(loss, beta, tol, verbose)
        work: list[int] = []
        gram = _Gram(op, loss.y) if loss.name == "squared" else None
        inner_tol, inner_total, outer = self.inner_tol, 0, 0
        work_done = 0.0  # multiply-adds spent in the restricted solves
        stalled = spent = False
        for outer in range(1, self.max_outer + 1):
            z = op.forward(U)
            lam = loss.grad(z)
            norms = group_norms(op.adjoint(lam))  # every pattern's dual constraint
            unorms = group_norms(U)
            F = float(loss.value(z)) + beta * float(unorms.sum())
            mon.dual(lam, norm_max=float(norms.max()))
            if mon.record(outer, F, t0):
                break
            if inner_total >= self.max_iters or work_done >= self.max_work:
                spent = True
                break
            support = torch.nonzero(unorms > 0).flatten().cpu().numpy()
            nxt = _next_working_set(support, norms.cpu().numpy(), beta, self.start)
            if nxt is None:  # nothing violated: the restricted solves must get more accurate
                inner_tol *= 1e-2
                if inner_tol < 1e-16:
                    stalled = True
                    break
            else:
                work = nxt
            m = len(work)
            gram_ok = gram is not None and m * op.d <= self.gram_limit
            per_iter = float(m * op.d) ** 2 if gram_ok else 2.0 * op.n * m * op.d
            budget = int(min(self.max_iters - inner_total,
                             (self.max_work - work_done) / per_iter + 1))
            eps = max(inner_tol, self.relative * mon.rel_gap)
            idx = torch.as_tensor(work, dtype=torch.long, device=op.device)
            if gram_ok:
                G, b = gram.sub(work)
                u, k, _ = group_lasso_gram(G, b, beta, op.d, U[idx].cpu().numpy().ravel(),
                                           eps, budget)
                Uw = torch.as_tensor(u.reshape(m, op.d), dtype=op.dtype, device=op.device)
            else:
                gram = None  # past the Gram limit: matrix-free from now on
                Uw, k = _restricted_fista(op.restrict(idx), loss, beta, U[idx].clone(), eps,
                                          budget)
            inner_total += k
            work_done += k * per_iter
            U = torch.zeros_like(U)
            U[idx] = Uw
            if verbose:
                print(f"outer {outer}: working set {m}, {k} inner iterations, "
                      f"rel gap {mon.rel_gap:.2e}")
        ok = mon.done
        status = "optimal" if ok else "max_iters"
        why = " (restricted solves stalled)" if stalled else ""
        if spent:
            why = (f" (budget of the restricted solves spent: {inner_total} iterations, "
                   f"{work_done:.1e} multiply-adds; see max_iters, max_work)")
        msg = (f"certified relative duality gap {mon.rel_gap:.2e} "
               f"{'<=' if ok else '>'} tolerance {tol:.1e} after {outer} passes over the "
               f"patterns, working set {len(work)} of {op.P}{why}")
        primal = {"V": U.detach().cpu().numpy().astype(np.float64), "W": None}
        info = {"outer": outer, "inner_iterations": inner_total,
                "working_set": len(work), "device": str(op.device)}
        return _finish_run(status, t0, outer, msg, info, primal, mon, "active_set")


# --------------------------------------------------------------------------------------------
# Cone-constrained ReLU program (squared loss)
# --------------------------------------------------------------------------------------------
class _Pricer:
    r"""Upper bounds on ``min_{mu >= 0} ||sigma c_i - Xa^T (s_i * mu)||`` for signed patterns.

    ``c_i = Xa^T D_i lam``, ``s_i = 2 D_i - 1``, ``sigma = +1`` for ``v_i`` and ``-1`` for
    ``w_i``. The bound is the smallest of: the plain norm (``mu = 0``), the norm at the last
    multipliers kept for that group (sparse: Clarabel's, or a previous least-squares solution),
    and, when those are above ``beta``, the exact nonnegative least-squares value, whose
    solution is then kept. Every value is attained by some ``mu >= 0``, so scaling ``lam`` by
    ``beta / max`` is dual feasible.
    """

    def __init__(self, Xa: np.ndarray, D: np.ndarray, near: int = 0) -> None:
        self.Xa, self.D, self.near = Xa, D, near
        self.row_norms = np.maximum(np.linalg.norm(Xa, axis=1), 1e-300)
        self.mult: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # group -> (rows, values)
        self.near_rows: dict[int, np.ndarray] = {}
        self.nnls_calls = 0

    def _signs(self, i: int) -> np.ndarray:
        return np.where(self.D[:, i], 1.0, -1.0)

    def norm_with(self, g: int, c: np.ndarray) -> float:
        rows, vals = self.mult.get(g, (None, None))
        if rows is None or rows.size == 0:
            return float(np.linalg.norm(c))
        i = g % self.D.shape[1]
        s = np.where(self.D[rows, i], 1.0, -1.0)
        return float(np.linalg.norm(c - self.Xa[rows].T @ (s * vals)))

    def exact(self, g: int, c: np.ndarray) -> float:
        i = g % self.D.shape[1]
        s = self._signs(i)
        B = (s[:, None] * self.Xa).T
        mu, res = nnls(B, c, maxiter=50 * B.shape[0] + 100)
        self.nnls_calls += 1
        rows = np.flatnonzero(mu > 0)
        self.mult[g] = (rows, mu[rows])
        if self.near:
            # the rows closest to active along the group's steepest feasible direction
            # (B mu - c): where it will hit its cone's boundary first; kept as candidate cuts
            margin = (s * (self.Xa @ (B @ mu - c))) / self.row_norms
            margin[rows] = np.inf
            self.near_rows[g] = np.argsort(margin)[:self.near]
        return float(res)

    def norms(self, C: np.ndarray, beta: float, enough: int | None = None,
              skip: np.ndarray | None = None,
              rough: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Bounds for all ``2P`` signed groups given ``C = [Xa^T D_i lam]_i``, and which of
        them are exact where above ``beta``.

        Least squares run only where the cheap bounds exceed ``beta``, the largest cheap bound
        first; with ``enough``, they stop once that many groups outside ``skip`` are confirmed
        above ``beta`` (the rest keep their cheap bounds: still valid, maybe loose). With
        ``rough``, the groups in ``skip`` keep their cheap bounds too (when the point is known
        to be inaccurate, tightening them cannot close the gap)."""
        P = C.shape[0]
        out = np.empty(2 * P)
        signed = np.concatenate([C, -C])
        for g in range(2 * P):
            val = float(np.linalg.norm(signed[g]))
            if val > beta:
                val = min(val, self.norm_with(g, signed[g]))
            out[g] = val
        checked = out <= beta
        confirmed = 0
        for g in np.argsort(-out, kind="stable"):
            if out[g] <= beta or (enough is not None and confirmed >= enough):
                break
            if rough and skip is not None and skip[g]:
                continue
            out[g] = min(out[g], self.exact(int(g), signed[g]))
            checked[g] = True
            confirmed += out[g] > beta and (skip is None or not skip[g])
        return out, checked

    def dense(self, n: int, P: int) -> tuple[np.ndarray, np.ndarray]:
        """The kept multipliers as ``(mu, nu)`` arrays of shape (n, P)."""
        mu, nu = np.zeros((n, P)), np.zeros((n, P))
        for g, (rows, vals) in self.mult.items():
            (mu if g < P else nu)[rows, g % P] = vals
        return mu, nu


def _quadratic(G: np.ndarray, m: int):
    """Clarabel's ``P`` for variables ``[u; t]``: the upper triangle of ``G``, zeros for ``t``."""
    import scipy.sparse as sp

    return sp.block_diag([sp.triu(sp.csc_matrix(G)), sp.csc_matrix((m, m))], format="csc")


def _clarabel_qp(Pm, b: np.ndarray, beta: float, d: int, cuts: list[np.ndarray], tol: float):
    r"""``min 1/2 u'Gu - b'u + beta sum_j t_j`` s.t. ``cuts[j] u_j >= 0``, ``||u_j|| <= t_j``,
    by Clarabel directly (``Pm`` from :func:`_quadratic`). Returns ``(u, multipliers per
    group, status)``."""
    import clarabel
    import scipy.sparse as sp

    m = b.size // d
    nv = m * d + m
    q = np.concatenate([-b, np.full(m, beta)])
    counts = [Cj.shape[0] for Cj in cuts]
    rows_lin = sum(counts)
    # cut rows: -C_j on the columns of u_j; then -[t_j; u_j] for the second-order cones
    ri, ci, vals = [], [], []
    r0 = 0
    for j, Cj in enumerate(cuts):
        k = Cj.shape[0]
        ri.append(np.repeat(np.arange(r0, r0 + k), d))
        ci.append(np.tile(np.arange(j * d, (j + 1) * d), k))
        vals.append(-Cj.ravel())
        r0 += k
    soc_rows = rows_lin + np.arange(m)[:, None] * (d + 1) + np.arange(d + 1)  # (m, d + 1)
    ri += [soc_rows[:, 0], soc_rows[:, 1:].ravel()]
    ci += [m * d + np.arange(m), np.arange(m * d)]
    vals += [-np.ones(m), -np.ones(m * d)]
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                      shape=(rows_lin + m * (d + 1), nv))
    cones = ([clarabel.NonnegativeConeT(rows_lin)] if rows_lin else []) + \
        [clarabel.SecondOrderConeT(d + 1)] * m
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.max_threads = 1
    settings.direct_solve_method = "faer"
    sol = clarabel.DefaultSolver(Pm, q, A, np.zeros(A.shape[0]), cones, settings).solve()
    x, z = np.asarray(sol.x), np.asarray(sol.z)
    mults, start = [], 0
    for c in counts:
        mults.append(np.maximum(z[start:start + c], 0.0))
        start += c
    return x[:m * d], mults, str(sol.status)


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
        Largest ``|S| d`` of a restricted program (its Gram matrix is dense and Clarabel
        factors it at every step); a solve that would need more stops with status
        ``max_iters`` and says so.
    ipm_tol : float
        Clarabel's gap and feasibility tolerances on the restricted programs (at least
        ``relative`` times the current certified gap).
    loose_tol : float
        Clarabel's tolerance in the rounds that only look for violated rows.
    relative : float
        See ``ipm_tol``.
    device, dtype, threads
        As for :class:`~lift.solvers.relu_fast.GatedFISTA` (the full passes run in torch).
    """

    max_outer: int = 50
    max_rounds: int = 100
    start: int = 10
    rows_per_round: int | None = None
    first_rows: int | None = None
    feas_tol: float = 1e-10
    max_size: int = 6_000
    ipm_tol: float = 1e-8
    loose_tol: float = 1e-5
    relative: float = 1e-3

    def _run(self, lifted, tol: float, verbose: bool, warm_start: dict | None) -> dict:
        t0 = time.perf_counter()
        prob, op, loss = _setup(lifted, self.device, self.dtype)
        beta, P, d = prob.beta, op.P, op.d
        Xa, D = np.asarray(prob.Xa, dtype=np.float64), np.asarray(lifted.D, dtype=bool)
        U = _warm_point(warm_start, op, cone=True)
        mon = _Monitor(loss, beta, tol, verbose)
        per_round = self.rows_per_round or 2 * d
        pricer = _Pricer(Xa, D, near=self.first_rows or 4 * d)
        work: list[int] = []
        cuts: dict[int, np.ndarray] = {}
        gram = _Gram(op, loss.y)
        outer = rounds_total = 0
        stalled, too_big, failed = False, 0, ""
        status_ipm, last_eps = "", np.inf
        for outer in range(1, self.max_outer + 1):
            V, W = U[:P], U[P:]
            XV, XW = op.Xa @ V.T, op.Xa @ W.T  # n x P: the program's and the network's outputs
            z = (op.D * (XV - XW)).sum(1)
            lam = loss.grad(z)
            C = op.adjoint(lam).cpu().numpy().astype(np.float64)
            support = torch.nonzero(group_norms(U) > 0).flatten().cpu().numpy()
            in_support = np.zeros(2 * P, dtype=bool)
            in_support[support] = True
            norms, checked = pricer.norms(C, beta, enough=max(self.start, support.size),
                                          skip=in_support, rough=last_eps > self.ipm_tol)
            fnet = float(loss.value(torch.relu(XV).sum(1) - torch.relu(XW).sum(1)))
            upper = max(float(loss.value(z)), fnet) + beta * float(group_norms(U).sum())
            mon.dual(lam, norm_max=float(norms.max(initial=0.0)))
            if mon.record(outer, upper, t0):
                break
            # choose among the groups whose violation is confirmed by least squares
            nxt = _next_working_set(support, np.where(checked, norms, 0.0), beta, self.start)
            eps = max(self.ipm_tol, self.relative * mon.rel_gap)
            if nxt is None:
                if last_eps <= self.ipm_tol or not work:
                    stalled = True  # the restricted programs are as accurate as Clarabel gets
                    break
                eps = self.ipm_tol  # nothing to add: solve the same set accurately
                same_set = True
            else:
                same_set = False
                if len(nxt) * d > self.max_size:
                    too_big = len(nxt)
                    break
                work = nxt
            for g in work:
                if g not in cuts:  # first time in: its least-squares rows and the nearest
                    rows = pricer.mult.get(g, (np.zeros(0, dtype=np.int64), None))[0]
                    near = pricer.near_rows.get(g, np.zeros(0, dtype=np.int64))
                    cuts[g] = np.union1d(rows, near).astype(np.int64)
            # on an unchanged set the rows are already complete: no loose search rounds
            u, rounds, status_ipm = self._cutting_planes(gram, work, cuts, pricer, Xa, D, beta,
                                                         per_round, eps, search=not same_set)
            last_eps = eps
            rounds_total += rounds
            if not np.all(np.isfinite(u)):
                failed = status_ipm  # keep the last finite point; its certificate stands
                break
            U = torch.zeros_like(U)
            U[torch.as_tensor(work, dtype=torch.long, device=op.device)] = torch.as_tensor(
                u.reshape(len(work), d), dtype=op.dtype, device=op.device)
            if verbose:
                print(f"outer {outer}: {len(work)} signed patterns, {rounds} cutting-plane "
                      f"rounds, {sum(c.size for c in cuts.values())} rows, rel gap "
                      f"{mon.rel_gap:.2e}")
        ok = mon.done
        status = "optimal" if ok else "max_iters"
        why = (f" (no pattern left to add; Clarabel: {status_ipm})" if stalled and not ok
               else "")
        if failed:
            why = (f" (stopped: Clarabel returned no usable point on a restricted program, "
                   f"status {failed})")
        if too_big:
            why = (f" (stopped: the next working set, {too_big} patterns of {d} weights, is "
                   f"beyond max_size={self.max_size} for the dense restricted solves; use "
                   f"solver='al', or raise max_size)")
        msg = (f"certified relative duality gap {mon.rel_gap:.2e} "
               f"{'<=' if ok else '>'} tolerance {tol:.1e} after {outer} passes over the "
               f"patterns and {rounds_total} cutting-plane rounds, working set {len(work)} of "
               f"{2 * P} signed patterns{why}")
        Uh = U.detach().cpu().numpy().astype(np.float64)
        primal = {"V": Uh[:P], "W": Uh[P:], "multipliers": pricer.dense(op.n, P)}
        info = {"outer": outer, "rounds": rounds_total, "working_set": len(work),
                "rows": int(sum(c.size for c in cuts.values())),
                "nnls_calls": pricer.nnls_calls, "device": str(op.device)}
        out = _finish_run(status, t0, outer, msg, info, primal, mon, "active_set")
        return out

    def _cutting_planes(self, gram: _Gram, work: list[int], cuts: dict, pricer: _Pricer,
                        Xa: np.ndarray, D: np.ndarray, beta: float, per_round: int,
                        tol: float, search: bool = True):
        """Clarabel on the working set with the rows in ``cuts``, adding violated rows until
        none is; with ``search``, the rounds that only look for rows run at a loose
        tolerance, the last one at ``tol``. Returns ``(u, rounds, Clarabel's status)``."""
        P, d = D.shape[1], Xa.shape[1]
        m = len(work)
        S = np.where(D[:, [g % P for g in work]], 1.0, -1.0)  # (n, m): s_k per pattern
        G, b = gram.sub(work)
        Pm = _quadratic(G, m)
        loose = max(tol, self.loose_tol)
        status, u, rounds = "", np.zeros(m * d), 0
        accurate = loose <= tol or not search
        while rounds < self.max_rounds:
            rounds += 1
            rows = [cuts[g] for g in work]
            mats = [S[r, j][:, None] * Xa[r] for j, r in enumerate(rows)]
            u, mults, status = _clarabel_qp(Pm, b, beta, d, mats, tol if accurate else loose)
            if not np.all(np.isfinite(u)):
                break
            for g, r, mu in zip(work, rows, mults, strict=True):
                pricer.mult[g] = (r, mu)
            vals = S * (Xa @ u.reshape(m, d).T)  # constraint values, (n, m)
            viol = -vals / np.maximum(np.abs(vals).max(axis=0), 1e-300)
            added = 0
            for j, g in enumerate(work):
                bad = np.setdiff1d(np.flatnonzero(viol[:, j] > self.feas_tol), cuts[g])
                bad = bad[np.argsort(-viol[bad, j])][:per_round]  # the deepest cuts
                cuts[g] = np.concatenate([cuts[g], bad])
                added += bad.size
            if added == 0:
                if accurate:
                    break
                accurate = True  # the rows are found: one accurate solve (may find more)
        return u, rounds, status


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------
def _accepts(lifted) -> bool:
    program = getattr(lifted, "program", None)
    if program == "gated":
        return _smooth(lifted)
    return program == "cone" and _smooth(lifted) and lifted.problem.loss.name == "squared"


def run_active_set(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any) -> dict:
    """Registry entry: :class:`GatedWorkingSet` or :class:`ConeWorkingSet` by relaxation."""
    cls = GatedWorkingSet if lifted.program == "gated" else ConeWorkingSet
    solver, warm = _options(cls, dict(options))
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


register_solver("active_set", _accepts, run_active_set)
