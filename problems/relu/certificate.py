r"""Dual certificates of the ReLU lifts: per-pattern dual-constraint norms and the best
feasible scaling of a dual point (see the docstring of :mod:`lift.problems.relu`)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from lift.losses import Loss
from lift.solvers.linalg import row_chunks as _row_chunks

__all__ = ["pattern_products", "constraint_norms", "cone_nnls", "dual_bound", "CHUNK_ENTRIES",
           "NNLS_LIMIT", "row_chunks"]

# --------------------------------------------------------------------------------------------
#: entries of an ``n x P`` block the certificates process at once (~64 MiB in float64)
CHUNK_ENTRIES = 2**23
#: the exact per-pattern NNLS check runs where ``n * d * (patterns to check)`` is at most this
NNLS_LIMIT = 20_000_000


def row_chunks(n: int, P: int) -> list[slice]:
    """Row slices of an ``n x P`` block with at most :data:`CHUNK_ENTRIES` entries each."""
    return _row_chunks(n, P, CHUNK_ENTRIES)


def cone_nnls(B: np.ndarray, c: np.ndarray, maxiter: int | None = None
              ) -> tuple[np.ndarray, float]:
    r"""The smallest dual-constraint norm of one pattern over its cone multipliers.

    .. math::

        \min_{\mu \ge 0} \; \|c - B \mu\|_2, \qquad
        B = \tilde X^T \operatorname{diag}(2 D_i - 1)

    (a nonnegative least-squares problem: the distance from ``c`` to the cone spanned by the
    columns ``s_k x_k``). Returns ``(mu, residual)``; the residual is attained at ``mu``.
    """
    return nnls(B, c, maxiter=maxiter)


def pattern_products(Xa: np.ndarray, D: np.ndarray, lam: np.ndarray,
                     mult: np.ndarray | None = None, sign: float = 1.0) -> np.ndarray:
    r"""The (P, d) matrix with rows ``Xa^T (sign D_i lam - (2 D_i - I) mult_i)``.

    Without ``mult`` the rows are ``sign Xa^T D_i lam``. Computed in row chunks: memory
    ``O(chunk P)``, never the ``n x P x d`` blocks.
    """
    n, P = D.shape
    out = np.zeros((P, Xa.shape[1]))
    for sl in row_chunks(n, P):
        Dc = D[sl]
        lc = sign * lam[sl, None]
        if mult is None:
            M = np.where(Dc, lc, 0.0)
        else:
            mc = mult[sl]
            M = np.where(Dc, lc - mc, mc)
        out += M.T @ Xa[sl]
    return out


def constraint_norms(Xa: np.ndarray, lam: np.ndarray, D: np.ndarray, cone: bool,
                     beta: float | None = None,
                     multipliers: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    r"""Per-pattern dual constraint norms of ``lam``.

    Gated: ``||Xa^T D_i lam||``. Cone (ReLU): for each pattern the two values
    ``min_{mu >= 0} ||Xa^T (D_i lam -+ (2 D_i - I) mu)||``, bounded from above by the smallest
    of: the plain norm (``mu = 0``); the norm at the given ``multipliers`` ``(mu, nu)``,
    arrays (n, P) clipped at zero here (a solver's estimates are checked, not trusted); and,
    where affordable (``n d`` times the patterns still above ``beta`` at most ``NNLS_LIMIT``),
    the exact nonnegative least-squares value. With ``beta`` given, the least-squares problems
    are skipped for patterns already ``<= beta``. Every returned value is the norm at some
    ``mu >= 0``, so ``t = beta / max`` makes ``t lam`` dual feasible.
    """
    C = pattern_products(Xa, D, lam)  # (P, d)
    plain = np.linalg.norm(C, axis=1)
    if not cone:
        return plain
    out = np.concatenate([plain, plain])
    P = D.shape[1]
    if multipliers is not None:
        mu, nu = (np.maximum(np.asarray(m, dtype=np.float64), 0.0) for m in multipliers)
        # v_i: ||Xa^T (D_i lam - S_i mu_i)||;  w_i: ||Xa^T (D_i lam + S_i nu_i)||
        out[:P] = np.minimum(out[:P], np.linalg.norm(pattern_products(Xa, D, lam, mu), axis=1))
        out[P:] = np.minimum(out[P:], np.linalg.norm(
            pattern_products(Xa, D, lam, nu, sign=-1.0), axis=1))
    bound = -np.inf if beta is None else beta
    todo_v = np.flatnonzero(out[:P] > bound)
    todo_w = np.flatnonzero(out[P:] > bound)
    n, d = Xa.shape
    if n * d * (todo_v.size + todo_w.size) <= NNLS_LIMIT:
        for todo, sgn, off in ((todo_v, 1.0, 0), (todo_w, -1.0, P)):
            for i in todo:
                A = (np.where(D[:, i], 1.0, -1.0)[:, None] * Xa).T  # columns s_k x_k
                out[off + i] = min(out[off + i], cone_nnls(sgn * A, C[i])[1])
    return out


def dual_bound(Xa: np.ndarray, y: np.ndarray, loss: Loss, beta: float, lam: np.ndarray,
               D: np.ndarray, cone: bool,
               multipliers: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    r"""Best lower bound ``max_t -L^*(t lam)`` over dual-feasible scalings of ``lam``.

    Returns ``(bound, t)``; ``t <= beta / max_i norm_i`` makes ``t lam`` feasible (with the
    multipliers scaled by ``t`` too: the norms are homogeneous). ``multipliers`` are candidate
    cone multipliers ``(mu, nu)`` for :func:`constraint_norms`. The maximization over ``t`` is
    :meth:`lift.losses.Loss.best_scaled_dual`, the same routine the solvers' monitors use.
    """
    lam = loss.project_dual(lam, y)
    m = float(constraint_norms(Xa, lam, D, cone, beta=beta,
                               multipliers=multipliers).max(initial=0.0))
    tmax = 1.0 if m <= beta else beta / m
    return loss.best_scaled_dual(lam, y, tmax)
