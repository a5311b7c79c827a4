"""Small numerical helpers shared by the solvers: power iteration, row chunks, grams and
Cholesky solves, torch threads.

One place each: :func:`power_iteration` (the Lipschitz estimates of the first-order methods),
:func:`row_chunks` (row blocks of tall products, so that no ``n x P`` array is formed at once),
:func:`add_upper_gram`, :func:`symmetric_from_upper` and :func:`lower_gram` (grams from half
the products),
:func:`cholesky_apply` (the Newton systems' solves), :func:`torch_dtype` and
:class:`torch_threads`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lift.errors import check_choice

__all__ = ["CHUNK_ENTRIES", "GRAM_BLOCK", "add_upper_gram", "cholesky_apply", "cholesky_apply_low",
           "drop_negligible", "lower_gram", "power_iteration", "row_chunks", "symmetric_from_upper",
           "top_eigenspace", "torch_dtype", "torch_threads"]

#: entries of an ``n x width`` block processed at once (~128 MiB in float64)
CHUNK_ENTRIES = 2**24


def row_chunks(n: int, width: int, entries: int = CHUNK_ENTRIES) -> list[slice]:
    """Slices of ``range(n)`` such that ``rows x width`` is at most ``entries`` (one row at
    least per slice)."""
    rows = max(1, entries // max(width, 1))
    return [slice(s, min(s + rows, n)) for s in range(0, n, rows)]


#: the block rows of :func:`add_upper_gram` (wide enough for GEMM speed, narrow enough that the
#: blocks under the diagonal it skips are most of the lower triangle)
GRAM_BLOCK = 512


def add_upper_gram(out: Any, B: Any, block: int = GRAM_BLOCK) -> None:
    """Add the upper triangle (by blocks of ``block`` rows; entries below the diagonal inside
    the diagonal blocks too) of ``B^T B`` to the torch tensor ``out``: about half the
    multiply-adds of the full product. :func:`symmetric_from_upper` completes it."""
    M = B.shape[1]
    for i in range(0, M, block):
        out[i:i + block, i:] += B[:, i:i + block].T @ B[:, i:]


def symmetric_from_upper(upper: Any, block: int = GRAM_BLOCK) -> Any:
    """The symmetric matrix whose upper triangle is that of ``upper`` (torch), written over
    ``upper`` and returned. Block by block: the transposed copy of the whole triangle at once
    reads with a stride of a row per entry (1.4 s at 5,000 x 5,000, against 0.2 s)."""
    import torch

    M = upper.shape[0]
    for i in range(0, M, block):
        j = min(i + block, M)
        diag = upper[i:j, i:j]
        diag.copy_(torch.triu(diag) + torch.triu(diag, 1).T)
        upper[j:, i:j] = upper[i:j, j:].T
    return upper


#: the block rows of :func:`lower_gram`: at ``n = 2,000`` (a rank-464 gram in float32, one
#: thread) blocks of 128 or 256 rows took 45 ms against 86 ms for the full product, 512 rows 48 ms
LOWER_BLOCK = 256


def lower_gram(E: Any, hadamard: Any = None, plus: Any = None, block: int = LOWER_BLOCK
               ) -> Any:
    """The lower triangle of ``(E E^T) o hadamard + plus plus^T`` (torch; ``o`` the entrywise
    product, each term optional) by blocks of ``block`` rows, about half the multiply-adds of
    the full products. Above the diagonal: zero outside the diagonal blocks, the symmetric
    entries inside them. Enough for ``torch.linalg.cholesky``, which reads the lower triangle
    only; not a symmetric matrix for anything else."""
    import torch

    n = E.shape[0]
    out = torch.zeros(n, n, dtype=E.dtype, device=E.device)
    for i in range(0, n, block):
        j = min(i + block, n)
        part = E[i:j] @ E[:j].T
        if hadamard is not None:
            part.mul_(hadamard[i:j, :j])
        if plus is not None:
            part.addmm_(plus[i:j], plus[:j].T)
        out[i:j, :j] = part
    return out


def cholesky_apply(L: Any, b: Any) -> Any:
    """``(L L^T)^{-1} b`` for a lower triangular torch ``L``, by two triangular solves.
    ``torch.cholesky_solve`` was much slower on one column on the CPU here: 73-93 ms against
    8-10 ms with a 5,000 x 5,000 factor, 5.1 against 1.0 ms at 2,000."""
    import torch

    return torch.linalg.solve_triangular(
        L.mT, torch.linalg.solve_triangular(L, b, upper=False), upper=True)


def drop_negligible(K: Any, tol: float) -> bool:
    """Set to zero, in place, the entries of a symmetric torch matrix ``K`` below ``tol``
    times the geometric mean of their two diagonal entries. For a matrix in a low precision
    that is factored to precondition (or refine) a working-precision solve: entries far below
    its rounding change nothing, and near the smallest normal numbers their subnormal
    arithmetic made float32 Cholesky factorizations several times slower. False (nothing
    done) where the diagonal is not finite and positive: overflow, the matrix is of no use.
    ``tol = 0`` only checks the diagonal."""
    diag = K.diagonal()
    if not bool((diag.isfinite() & (diag > 0)).all()):
        return False
    if tol <= 0:
        return True
    root = diag.sqrt()
    K.masked_fill_(K.abs() < tol * (root[:, None] * root[None, :]), 0.0)
    return True


def cholesky_apply_low(L: Any, b: Any, tol: float) -> Any:
    """``(L L^T)^{-1} b`` in ``b``'s precision with a Cholesky factor ``L`` in a lower one
    (or the same: then :func:`cholesky_apply`): ``b`` scaled to at most one and its entries
    below ``tol`` dropped (see :func:`drop_negligible`), solved in ``L``'s precision."""
    import torch

    if L.dtype == b.dtype:
        return cholesky_apply(L, b[:, None])[:, 0]
    top = float(b.abs().max())
    if top == 0.0:
        return torch.zeros_like(b)
    v = (b / top).to(L.dtype)
    v.masked_fill_(v.abs() < tol, 0.0)
    return top * cholesky_apply(L, v[:, None])[:, 0].to(b.dtype)


def power_iteration(apply: Callable[[Any], Any], x0: Any, norm: Callable[[Any], float],
                    iters: int = 20, rtol: float = 0.0) -> float:
    r"""An estimate of the largest eigenvalue of a positive semidefinite operator.

    .. math::

        x_{k+1} = \frac{M x_k}{\|M x_k\|}, \qquad \hat\lambda_k = \|M x_k\|
        \;\uparrow\; \lambda_{\max}(M) \quad (\|x_k\| = 1),

    with ``apply(x) = M x`` (numpy or torch arrays; ``norm`` their Euclidean norm). Stops after
    ``iters`` products, or once two estimates agree to ``rtol``. The estimate is from below:
    callers that need an upper bound add a margin or backtrack.
    """
    x = x0 / max(norm(x0), 1e-300)
    est = 0.0
    for _ in range(iters):
        w = apply(x)
        new = norm(w)
        x = w / max(new, 1e-300)
        if abs(new - est) <= rtol * new:
            return new
        est = new
    return est


def top_eigenspace(apply: Callable[[Any], Any], V0: Any, iters: int = 8) -> tuple[Any, Any]:
    r"""The leading eigenpairs of a positive semidefinite operator by block subspace iteration.

    ``apply(V) = M V`` acts on a block of ``b`` vectors, a torch tensor of shape
    ``(b, ...)`` (one vector a row, any trailing shape). From ``V0`` of that shape:
    ``iters`` products, each followed by an orthonormalization, then a Rayleigh-Ritz step
    (one more product). Returns ``(Q, theta)``: the Ritz vectors (orthonormal rows, shaped like
    ``V0``) and their Ritz values in descending order. The Ritz values are estimates from
    below; the leading ones converge at the rate ``lambda_{b+1} / lambda_j`` per product.
    """
    import torch

    b = V0.shape[0]
    shape = V0.shape
    V = torch.linalg.qr(V0.reshape(b, -1).T)[0]
    for _ in range(iters):
        V = torch.linalg.qr(apply(V.T.reshape(shape)).reshape(b, -1).T)[0]
    MV = apply(V.T.reshape(shape)).reshape(b, -1)
    B = (MV @ V).double()
    theta, S = torch.linalg.eigh(0.5 * (B + B.T))
    theta, S = theta.flip(0), S.flip(1).to(V.dtype)
    return (V @ S).T.reshape(shape), theta.clamp(min=0.0)


def torch_dtype(dtype: Any):
    """``torch.float64`` or ``torch.float32`` from a torch dtype or its name."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    return {"float64": torch.float64, "float32": torch.float32}[
        check_choice(dtype, "dtype", ["float64", "float32"])]


class torch_threads:
    """Run with ``k`` intra-op torch threads, restoring the previous count afterwards.

    Small products are much faster on one thread (no synchronisation, no spinning when other
    processes hold the cores); large ones use every thread torch was configured with.
    ``k=None`` leaves the count alone.
    """

    def __init__(self, k: int | None) -> None:
        self.k = k

    def __enter__(self):
        import torch

        self.prev = torch.get_num_threads()
        if self.k is not None and self.k != self.prev:
            torch.set_num_threads(self.k)
        return self

    def __exit__(self, *exc):
        import torch

        if torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)
        return False
