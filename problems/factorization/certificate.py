r"""Certified lower bounds for nuclear-norm (and trace-norm) programs.

For ``F(X) = 1/2 ||A(X) - b||^2 + lam ||X||_*`` weak duality gives, for every ``y`` with
``||A^*(y)||_2 <= lam``,

.. math::

    F(X) \ge \tfrac12 \|A X - b\|^2 + \langle A^* y, X\rangle
         \ge \min_z \tfrac12 \|z - b\|^2 + \langle y, z\rangle
         = \langle y, b\rangle - \tfrac12 \|y\|^2 =: D(y),

since ``lam ||X||_* >= <W, X>`` whenever ``||W||_2 <= lam``. For the PSD program
``F(X) = 1/2 ||A(X) - b||^2 + lam tr(X)``, ``X >= 0``, the condition is
``lambda_max(sym A^*(y)) <= lam`` (``tr(X) lam >= <W, X>`` for ``X >= 0`` iff ``W <= lam I``).

The library takes the residual ``r = b - A(X)`` at the recovered point, bounds the spectral
quantity ``s(r)`` (``||A^* r||_2`` or ``lambda_max``) *from above* by :func:`spectral_bound`,
and maximizes ``D(t r)`` over ``0 <= t <= lam / s(r)``: ``t = <r, b> / ||r||^2`` clipped.

Spectral bounds
---------------
- **Exact** (matrices with at most :data:`EXACT_LIMIT` entries): a Cholesky test. With the
  Gram matrix ``A = W^T W`` (``k x k``, ``k = min(m, n)``; for the PSD program the symmetric
  part), a Lanczos estimate ``e`` of its top eigenvalue and a candidate ``tau`` just above
  it, a floating-point Cholesky factorization of ``tau^2 I - A - c I`` that succeeds proves
  ``||W||_2 <= tau`` when ``c`` covers the rounding of forming ``A`` and the factorization
  (Rump's criterion for positive definiteness, BIT 2006): about a fifth of the time of a
  dense SVD. Where no candidate passes, LAPACK's dense SVD (or symmetric eigenvalues),
  backward stable, inflated by ``10 max(m, n) eps ||W||_F`` for its rounding error.
- **Block** (larger matrices, sparse or dense): with orthonormal bases ``Q_U`` (``m x k``)
  and ``Q_V`` (``n x k``) spanning the recovered factors plus a few approximate top singular
  vectors of ``W``, write ``W`` in the blocks ``W_11 = Q_U^T W Q_V``, ``W_12``, ``W_21``,
  ``W_22`` of ``[Q_U, Q_U^perp]`` and ``[Q_V, Q_V^perp]``. Then (deterministically)

  .. math::

      \|W\|_2 \le \left\| \begin{pmatrix} \|W_{11}\| & \|W_{12}\| \\
      \|W_{21}\| & \|W_{22}\| \end{pmatrix} \right\|_2

  (for the PSD program: ``lambda_max(W) <= lambda_max([[lambda_max(W_11), ||W_12||],
  [||W_12||, ||W_22||]])``). The first three blocks are small and computed exactly. At the
  optimum ``W_12, W_21`` vanish and ``||W_22|| < lam``, so the bound is tight to second
  order and only a *loose* bound on ``||W_22||`` is needed: the smaller of ``||W_22||_F``
  (deterministic) and the Lanczos bound of Kuczyński & Woźniakowski (1992): ``q`` Lanczos
  steps on ``W_22^T W_22`` from a random start give a Ritz value ``theta`` with
  ``P[lambda_1 > theta / (1 - eps)] <= 1.648 sqrt(n) exp(-sqrt(eps) (2 q - 1))``; ``eps`` is
  chosen so that this probability is :data:`FAILURE_PROBABILITY`. When the Lanczos bound is
  the one used, the certificate holds with probability at least
  ``1 - info["failure_probability"]`` over the random starts (a union bound over the two
  subspaces tried and over the attempts: while the bound exceeds ``lam`` and more steps
  could lower it, the Lanczos steps are doubled, up to 1,280); otherwise it is
  deterministic. Two choices of
  ``Q_U, Q_V`` are tried (the factors' spans alone, and with ``extra`` Ritz vectors of
  ``W`` added) and the smaller bound is kept.

References
----------
J. Kuczyński and H. Woźniakowski. Estimating the largest eigenvalue by the power and Lanczos
algorithms with a random start. SIAM J. Matrix Anal. Appl. 13(4), 1992.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["EXACT_LIMIT", "FAILURE_PROBABILITY", "spectral_bound", "dual_bound", "orth"]

#: matrices with at most this many entries get an exact dense SVD / eigendecomposition
EXACT_LIMIT = 250_000
#: failure probability of the randomized (Lanczos) bound on the complement block
FAILURE_PROBABILITY = 1e-12
#: the Lanczos steps stop doubling once no number of steps could remove more than this
#: fraction of the bound's excess over the target (the bound with the Ritz value itself for
#: ``||W22||`` is the least any number of steps could give)
FLOOR_FRACTION = 0.2
_EPS = np.finfo(np.float64).eps


def orth(M: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis of the column span of ``M`` (columns below ``rtol`` dropped)."""
    if M.shape[1] == 0:
        return M
    Q, R = np.linalg.qr(M)
    d = np.abs(np.diag(R))
    keep = d > rtol * max(d.max(initial=0.0), 1e-300)
    Q = Q[:, keep]
    # a second pass restores orthogonality to working precision
    Q2, _ = np.linalg.qr(Q)
    return Q2


def _matmat(W, Q: np.ndarray) -> np.ndarray:
    return np.asarray(W @ Q)


def _rmatmat(W, P: np.ndarray) -> np.ndarray:
    return np.asarray(W.T @ P)


def _frob2(W) -> float:
    if sp.issparse(W):
        return float(np.dot(W.data, W.data))
    return float(np.sum(np.square(W)))


def _lanczos_max(apply, n: int, steps: int, rng: np.random.Generator) -> tuple[float, int]:
    """Largest Ritz value of ``steps`` Lanczos steps (full reorthogonalization) on a PSD map."""
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    Q = np.zeros((n, steps))
    alpha, beta = [], []
    b_prev = 0.0
    k = 0
    size = 0.0  # the largest |alpha|, beta seen: a lower estimate of ||A||
    for k in range(steps):
        Q[:, k] = q
        w = apply(q)
        a = float(q @ w)
        w = w - a * q - (b_prev * Q[:, k - 1] if k > 0 else 0.0)
        for _ in range(2):  # full reorthogonalization, twice (a small w loses orthogonality)
            w -= Q[:, :k + 1] @ (Q[:, :k + 1].T @ w)
        alpha.append(a)
        b = float(np.linalg.norm(w))
        size = max(size, abs(a), b_prev)
        # an invariant subspace (relative to ||A||, not to this step's alpha: on a
        # rank-deficient map the last alpha is itself tiny): the Ritz values are exact
        if b <= 1e-12 * max(size, 1e-300):
            k += 1
            break
        beta.append(b)
        q, b_prev = w / b, b
    else:
        k = steps
    T = np.diag(alpha[:k]) + np.diag(beta[:k - 1], 1) + np.diag(beta[:k - 1], -1)
    return float(np.linalg.eigvalsh(T)[-1]) if k else 0.0, k


def _cholesky_bound(Wd: np.ndarray, symmetric: bool, frob: float, seed: int
                    ) -> float | None:
    """A proven upper bound ``tau`` on ``||Wd||_2`` (or on ``lambda_max`` of the symmetric
    part) from a successful Cholesky factorization of ``tau^2 I - W^T W`` (``tau I - W_sym``)
    with a rounding margin; ``None`` if no candidate near the Lanczos estimate passes."""
    m, n = Wd.shape
    if symmetric:
        A = 0.5 * (Wd + Wd.T)
        k = n
        # forming A: at most eps |A| entrywise, so at most eps ||A||_F <= eps frob in norm
        form = _EPS * frob
    else:
        A = Wd.T @ Wd if n <= m else Wd @ Wd.T
        k = min(m, n)
        # |fl(W^T W) - W^T W| <= gamma_m |W|^T |W| entrywise: at most gamma_m ||W||_F^2
        form = 2.0 * max(m, n) * _EPS * frob * frob
    if k == 0:
        return None
    rng = np.random.default_rng(seed)
    if symmetric:
        # the top eigenvalue of A from the shifted PSD map A + ||A||_F I
        shift = frob
        est = _lanczos_max(lambda q: A @ q + shift * q, k, min(k, 60), rng)[0] - shift
    else:
        est = _lanczos_max(lambda q: A @ q, k, min(k, 60), rng)[0]
    scale = max(abs(est), frob * frob if not symmetric else frob, 1e-300)
    for rel in (1e-12, 1e-9, 1e-6, 1e-3):
        top = est + rel * scale                     # candidate for lambda_max(A)
        B = -A
        B[np.diag_indices(k)] += top
        # Rump: Cholesky of B - c I succeeding proves B positive definite when c covers
        # gamma_{k+1} tr(B); plus the error of forming A and of the diagonal update
        diag = np.diagonal(B)
        c = (2.0 * (k + 2) * _EPS * float(np.abs(diag).sum()) + 2.0 * form
             + 4.0 * _EPS * (abs(top) + float(np.abs(np.diagonal(A)).max())))
        B[np.diag_indices(k)] -= c
        try:
            sla.cholesky(B, lower=True, check_finite=False, overwrite_a=True)
        except np.linalg.LinAlgError:
            continue
        if symmetric:
            return float(top)
        return math.sqrt(max(top, 0.0))
    return None


def spectral_bound(W, symmetric: bool = False, U: np.ndarray | None = None,
                   V: np.ndarray | None = None, *, exact_limit: int = EXACT_LIMIT,
                   extra: int = 8, lanczos_steps: int = 80, seed: int = 0,
                   target: float | None = None, max_lanczos_steps: int = 1280
                   ) -> tuple[float, dict[str, Any]]:
    """An upper bound on ``||W||_2`` (``symmetric=False``) or on ``lambda_max((W + W^T)/2)``.

    Parameters
    ----------
    W : (m, n) numpy array or scipy sparse matrix
    symmetric : bool
        Bound the largest eigenvalue of the symmetric part instead of the spectral norm.
    U, V : arrays, optional
        Columns spanning the expected top singular subspaces (the recovered factors); used by
        the block bound.
    exact_limit : int
        Matrices with at most this many entries get the exact dense bound.
    extra : int
        Approximate top singular vectors of ``W`` added to ``U``, ``V`` (block bound).
    lanczos_steps : int
        Lanczos steps on the complement block.
    target : float, optional
        The value the caller hopes to certify (``lam``): while the block bound exceeds it,
        the Lanczos steps are doubled (fresh random starts, counted in the failure
        probability) up to ``max_lanczos_steps``, unless more steps could not remove
        :data:`FLOOR_FRACTION` of the excess over ``target`` (the bound with the Ritz value
        itself for ``||W22||`` is the least they could give: the excess then comes from the
        off-diagonal blocks, as near the optimum). Needed when ``W``'s spectrum is dense just
        below ``lam`` (solutions whose rank includes noise directions).
    max_lanczos_steps : int
        Limit of that doubling.
    seed : int
        Seed of the random starts.

    Returns
    -------
    bound : float
    info : dict
        ``"spectral_bound"``: ``"exact"``, ``"block+frobenius"`` (deterministic) or
        ``"block+lanczos"`` (holds with probability ``1 - FAILURE_PROBABILITY``), and the
        estimate.
    """
    m, n = W.shape
    if symmetric and m != n:
        raise ValueError(f"`W` must be square for a symmetric bound, got shape {W.shape}.")
    frob = math.sqrt(_frob2(W))
    if frob == 0.0:
        return 0.0, {"spectral_bound": "exact", "spectral_estimate": 0.0}
    if m * n <= exact_limit:
        Wd = W.toarray() if sp.issparse(W) else np.asarray(W)
        proved = _cholesky_bound(Wd, symmetric, frob, seed)
        if proved is not None:
            return proved, {"spectral_bound": "exact", "spectral_estimate": proved,
                            "spectral_method": "cholesky"}
        if symmetric:
            val = float(np.linalg.eigvalsh(0.5 * (Wd + Wd.T))[-1])
        else:
            val = float(sla.svdvals(Wd, check_finite=False)[0])
        return val + 10 * max(m, n) * _EPS * frob, {"spectral_bound": "exact",
                                                     "spectral_estimate": val}
    steps, tries = lanczos_steps, 0
    while True:
        bound, info = _block_bound(W, symmetric, U, V, extra, steps, seed + tries, frob)
        tries += 1
        if "failure_probability" in info:
            info["failure_probability"] *= tries  # union bound over the attempts
        floor = info.pop("floor")
        if (target is None or bound <= target or steps >= min(max_lanczos_steps, n)
                or bound - floor <= FLOOR_FRACTION * (bound - target)):
            info["lanczos_steps"] = min(steps, n)
            return bound, info
        steps *= 2


def _block_bound(W, symmetric: bool, U, V, extra: int, steps: int, seed: int,
                 frob: float) -> tuple[float, dict[str, Any]]:
    """The smaller of two block bounds: on the factors' own subspaces, and on those plus
    ``extra`` approximate top singular vectors of ``W`` (10 block power iterations). Both
    are valid; the first is tight when the residual's bulk is well below ``lam``, the second
    when a few of its singular values come close to ``lam``."""
    rng = np.random.default_rng(seed)
    m, n = W.shape
    if symmetric:
        Wt = W.T

        def mv(Q):
            return 0.5 * (_matmat(W, Q) + _matmat(Wt, Q))

        rmv = mv
    else:

        def mv(Q):
            return _matmat(W, Q)

        def rmv(P):
            return _rmatmat(W, P)

    U = np.zeros((m, 0)) if U is None else np.asarray(U, dtype=np.float64)
    V = np.zeros((n, 0)) if V is None else np.asarray(V, dtype=np.float64)
    if symmetric:
        V = U = np.hstack([U, V])
    fro_W = _frob2(W) if not symmetric else 0.5 * (_frob2(W) + float(
        (W.multiply(W.T)).sum() if sp.issparse(W) else np.sum(W * W.T)))
    candidates = []
    if U.shape[1]:
        Qu = orth(U)
        candidates.append((Qu, Qu if symmetric else orth(V)))
    if extra > 0:
        Qv = orth(np.hstack([V, rng.standard_normal((n, extra))]))
        for _ in range(10):
            Qu = orth(mv(Qv))
            Qv = orth(rmv(Qu))
        # Rayleigh-Ritz: pair left and right Ritz vectors
        B = mv(Qv)
        Ub, _, Vbt = np.linalg.svd(B, full_matrices=False)
        Ru, Rv = Ub, Qv @ Vbt.T
        Qu = orth(np.hstack([U, Ru]))
        candidates.append((Qu, Qu if symmetric else orth(np.hstack([V, Rv]))))
    best, best_info, floor = math.inf, {}, math.inf
    for Qu, Qv in candidates:
        bound, info = _block_bound_on(mv, rmv, Qu, Qv, symmetric, fro_W, n, steps, rng)
        floor = min(floor, info.pop("floor"))
        if bound < best:
            best, best_info = bound, info
    best_info["floor"] = floor
    best += 100 * max(m, n) * _EPS * frob  # rounding in the small dense computations
    if best_info.get("spectral_bound") == "block+lanczos":
        # a union bound over the candidates' random starts
        best_info["failure_probability"] = len(candidates) * FAILURE_PROBABILITY
    return best, best_info


def _block_bound_on(mv, rmv, Qu, Qv, symmetric, fro_W, n, steps, rng):
    WQv = mv(Qv)                      # (m, kv)
    QuW = rmv(Qu).T                   # (ku, n) = Qu^T W
    W11 = Qu.T @ WQv
    W12 = QuW - (QuW @ Qv) @ Qv.T     # Qu^T W (I - Qv Qv^T)
    W21 = WQv - Qu @ (Qu.T @ WQv)     # (I - Qu Qu^T) W Qv
    n12 = float(sla.svdvals(W12, check_finite=False)[0]) if W12.size else 0.0
    n21 = float(sla.svdvals(W21, check_finite=False)[0]) if W21.size else 0.0
    if symmetric:
        a = float(np.linalg.eigvalsh(0.5 * (W11 + W11.T))[-1])
    else:
        a = float(sla.svdvals(W11, check_finite=False)[0]) if W11.size else 0.0
    # ||W22||_F^2 = ||W||_F^2 - ||W11||^2 - ||W12||^2 - ||W21||^2 (a Pythagorean identity)
    f22 = fro_W - np.sum(W11**2) - np.sum(W12**2) - np.sum(W21**2)
    f22 = math.sqrt(max(f22, 0.0) + 1e-12 * fro_W)

    def apply22(x):  # W22^T W22 x, W22 = (I - Qu Qu^T) W (I - Qv Qv^T)
        x = x - Qv @ (Qv.T @ x)
        y = mv(x[:, None])[:, 0]
        y = y - Qu @ (Qu.T @ y)
        z = rmv(y[:, None])[:, 0]
        return z - Qv @ (Qv.T @ z)

    steps = int(min(steps, n))
    theta, used = _lanczos_max(apply22, n, steps, rng)
    d, method = f22, "block+frobenius"
    if used >= 2:
        sqrt_eps = math.log(1.648 * math.sqrt(n) / FAILURE_PROBABILITY) / (2 * used - 1)
        eps = sqrt_eps**2
        if eps < 1:
            lan = math.sqrt(max(theta, 0.0) / (1 - eps)) * (1 + 1e-10)
            if lan < d:
                d, method = lan, "block+lanczos"
    def block(d22: float) -> float:
        if symmetric:
            return float(np.linalg.eigvalsh(np.array([[a, n12], [n12, d22]]))[-1])
        return float(sla.svdvals(np.array([[a, n12], [n21, d22]]))[0])

    # the Ritz value is below ||W22||: no number of Lanczos steps gets under `floor`
    return block(d), {"spectral_bound": method, "spectral_estimate": a, "complement_bound": d,
                      "offdiagonal": max(n12, n21),
                      "floor": block(math.sqrt(max(theta, 0.0)))}


def dual_bound(op, b: np.ndarray, lam: float, residual: np.ndarray, symmetric: bool = False,
               U: np.ndarray | None = None, V: np.ndarray | None = None,
               **options: Any) -> tuple[float, dict[str, Any]]:
    """The lower bound ``max_{0 <= t <= lam / s(r)} D(t r)`` (see the module docstring).

    Parameters
    ----------
    op : operator with ``adjoint_scipy``
    b : (p,) array
        Measurements.
    lam : float
        Regularization weight.
    residual : (p,) array
        ``r = b - A(X)`` at the primal point.
    symmetric : bool
        PSD program (``lambda_max`` of the symmetric part instead of the spectral norm).
    U, V : arrays, optional
        The primal point's factors (their column spans help the block bound).

    Returns
    -------
    lower : float
    info : dict
    """
    r = np.asarray(residual, dtype=np.float64)
    rr = float(r @ r)
    rb = float(r @ b)
    if rr == 0.0:
        return 0.0, {"dual_scale": 0.0, "spectral_bound": "none"}
    W = op.adjoint_scipy(r)
    options.setdefault("target", lam)
    s, info = spectral_bound(W, symmetric=symmetric, U=U, V=V, **options)
    t_max = math.inf if s <= 0 else lam / s
    t = min(max(rb / rr, 0.0), t_max)
    lower = t * rb - 0.5 * t * t * rr
    info.update(dual_scale=t, dual_norm_bound=s)
    return float(lower), info
