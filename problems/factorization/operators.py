r"""Linear measurement operators ``A: R^{m x n} -> R^p`` of the factorization family.

Every operator offers the same three maps, all matrix-free in the sense that a low-rank
argument ``X = U diag(s) V^T`` is never formed as an ``m x n`` dense matrix when the operator
is a sampling one:

- ``forward_lowrank(U, s, V)``: ``A(U diag(s) V^T)`` (torch, any device);
- ``adjoint(y)``: ``A^*(y)`` as an object ``W`` with ``W @ Q`` and ``W.T @ P`` (torch), a
  sparse matrix for sampling operators, a dense one otherwise;
- ``adjoint_scipy(y)``: ``A^*(y)`` as a scipy sparse or numpy dense matrix (float64), used by
  the certificate;

and ``lipschitz``, an upper bound on ``||A||_2^2`` (the step size of proximal gradient).
Sampling and dense operators also give ``subspace_normal(U, V)``, the matrix of
``S -> U^T A^*(A(U S V^T)) V`` (the normal equations of a fit on fixed row and column
spaces, which the fast solver's polishing step solves).

- :class:`SamplingOperator`: ``A(X) = (X_{i_k j_k})_k`` over distinct observed entries
  (``||A||_2 = 1``).
- :class:`DenseOperator`: ``A(X) = \mathcal{A} \operatorname{vec}(X)`` with a dense
  ``p x mn`` matrix on the row-major vectorization (a list of sensing matrices ``A_k`` is the
  matrix whose rows are ``vec(A_k)``: ``A(X)_k = <A_k, X>``).
- :class:`CallableOperator`: user functions ``forward(X) -> (p,)`` and ``adjoint(y) -> (m, n)``
  on numpy arrays, checked to be adjoint on random vectors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["SamplingOperator", "DenseOperator", "CallableOperator", "ADJOINT_RTOL"]

#: relative tolerance of the adjoint check ``<A x, y> = <x, A^* y>`` on random vectors
ADJOINT_RTOL = 1e-8
#: observed fraction from which a sampling operator's ``forward_lowrank`` forms the (small)
#: product and gathers from it, instead of gathering ``p x k`` rows of both factors (2-3x
#: faster at 500^2, 20 % observed; the product is at most ``block`` entries)
DENSE_FORWARD_DENSITY = 0.1


class _DenseMat:
    """A dense torch matrix with ``@`` and ``.T`` (the adjoint of a dense operator)."""

    def __init__(self, W: torch.Tensor) -> None:
        self.W = W

    def __matmul__(self, Q: torch.Tensor) -> torch.Tensor:
        return self.W @ Q

    @property
    def T(self) -> _DenseMat:
        return _DenseMat(self.W.T)


class _SparseMat:
    """``W = sum_k y_k e_{i_k} e_{j_k}^T`` in CSR form, with its transpose in CSR form too."""

    def __init__(self, op: SamplingOperator, y: torch.Tensor, transpose: bool = False,
                 built: dict | None = None) -> None:
        self.op, self.y, self.transpose = op, y, transpose
        self.built = {} if built is None else built  # shared with the transpose

    def __matmul__(self, Q: torch.Tensor) -> torch.Tensor:
        key = (self.transpose, Q.dtype, str(Q.device))
        if key not in self.built:
            crow, col, perm, shape = self.op._compressed(Q.device, self.transpose)
            vals = self.y.to(Q.device)[perm].to(Q.dtype)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self.built[key] = torch.sparse_csr_tensor(crow, col, vals, size=shape,
                                                          check_invariants=False)
        return self.built[key] @ Q

    @property
    def T(self) -> _SparseMat:
        return _SparseMat(self.op, self.y, not self.transpose, self.built)


class SamplingOperator:
    """``A(X) = X[rows, cols]``: the observed entries of a matrix (distinct positions).

    Parameters
    ----------
    rows, cols : (p,) int arrays
        Positions of the observed entries, each position at most once.
    shape : (int, int)
        ``(m, n)``.
    """

    kind = "sampling"

    def __init__(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.shape = (int(shape[0]), int(shape[1]))
        self.p = int(self.rows.size)
        self.lipschitz = 1.0
        self._cache: dict[Any, Any] = {}

    # --- index structures, built once per device ------------------------------------------
    def _compressed(self, device: torch.device, transpose: bool):
        """Compressed-row index of the mask (of its transpose with ``transpose``): row
        pointers, column indices, and the permutation of the observed entries into that
        order, cached per device."""
        key = ("csct" if transpose else "csr", str(device))
        if key not in self._cache:
            major, minor = (self.cols, self.rows) if transpose else (self.rows, self.cols)
            shape = self.shape[::-1] if transpose else self.shape
            perm = np.lexsort((minor, major))
            crow = np.zeros(shape[0] + 1, dtype=np.int64)
            np.cumsum(np.bincount(major, minlength=shape[0]), out=crow[1:])
            self._cache[key] = (torch.from_numpy(crow).to(device),
                                torch.from_numpy(minor[perm].copy()).to(device),
                                torch.from_numpy(perm).to(device), shape)
        return self._cache[key]

    def _idx(self, device: torch.device):
        key = ("idx", str(device))
        if key not in self._cache:
            self._cache[key] = (torch.from_numpy(self.rows).to(device),
                                torch.from_numpy(self.cols).to(device))
        return self._cache[key]

    # --- the maps -------------------------------------------------------------------------
    def forward_lowrank(self, U: torch.Tensor, s: torch.Tensor, V: torch.Tensor,
                        block: int = 1 << 22) -> torch.Tensor:
        """``(U diag(s) V^T)[rows, cols]``, in chunks of observed entries (temporaries of at
        most ``block`` numbers); when at least :data:`DENSE_FORWARD_DENSITY` of a matrix of at
        most ``block`` entries is observed, one product ``(U diag(s)) V^T`` and a gather."""
        r, c = self._idx(U.device)
        Us = U * s
        m, n = self.shape
        if m * n <= block and self.p >= DENSE_FORWARD_DENSITY * m * n:
            key = ("flat", str(U.device))
            if key not in self._cache:
                self._cache[key] = r * n + c
            return (Us @ V.T).reshape(-1)[self._cache[key]]
        chunk = max(1, block // max(U.shape[1], 1))
        if U.device.type == "cpu":  # numpy's take is 4-5x faster than index_select here
            Un, Vn = Us.detach().numpy(), V.detach().numpy()
            out_np = np.empty(self.p, dtype=Un.dtype)
            for a in range(0, self.p, chunk):
                out_np[a:a + chunk] = np.einsum(
                    "ij,ij->i", Un.take(self.rows[a:a + chunk], axis=0),
                    Vn.take(self.cols[a:a + chunk], axis=0))
            return torch.from_numpy(out_np)
        out = torch.empty(self.p, dtype=U.dtype, device=U.device)
        for a in range(0, self.p, chunk):
            out[a:a + chunk] = torch.einsum("ij,ij->i", Us.index_select(0, r[a:a + chunk]),
                                            V.index_select(0, c[a:a + chunk]))
        return out

    def forward_dense(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)[self.rows, self.cols]

    def subspace_normal(self, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        r"""The ``(r^2, r^2)`` matrix ``N`` of ``S -> U^T A^*(A(U S V^T)) V`` on row-major
        ``vec(S)``: ``N[(a,b),(c,d)] = sum_i U_ia U_ic G_i[b,d]`` with
        ``G_i = sum_{j observed in row i} V_j V_j^T`` (one sparse product with ``r^2``
        columns; nothing ``m x n``)."""
        r = U.shape[1]
        VV = (V[:, :, None] * V[:, None, :]).reshape(V.shape[0], r * r)
        G = self.adjoint(torch.ones(self.p, dtype=U.dtype, device=U.device)) @ VV
        UU = (U[:, :, None] * U[:, None, :]).reshape(U.shape[0], r * r)
        return (UU.T @ G).reshape(r, r, r, r).permute(0, 2, 1, 3).reshape(r * r, r * r)

    def adjoint(self, y: torch.Tensor) -> _SparseMat:
        return _SparseMat(self, y)

    def adjoint_scipy(self, y: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.asarray(y, dtype=np.float64), (self.rows, self.cols)),
                             shape=self.shape)


class DenseOperator:
    r"""``A(X) = \mathcal{A} \operatorname{vec}(X)`` with a dense ``(p, m n)`` matrix
    (row-major ``vec``)."""

    kind = "dense"

    def __init__(self, A: np.ndarray, shape: tuple[int, int]) -> None:
        self.A = np.asarray(A, dtype=np.float64)
        self.shape = (int(shape[0]), int(shape[1]))
        self.p = int(self.A.shape[0])
        # ||A||_2^2 from an exact SVD of the (small) sensing matrix, inflated by rounding
        smax = float(np.linalg.norm(self.A, 2)) if self.A.size else 0.0
        self.lipschitz = max(smax**2 * (1 + 1e-10), 1e-300)
        self._cache: dict[Any, torch.Tensor] = {}

    def _A(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (str(device), dtype)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(self.A, dtype=dtype, device=device)
        return self._cache[key]

    def forward_lowrank(self, U: torch.Tensor, s: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        X = (U * s) @ V.T
        return self._A(U.device, U.dtype) @ X.reshape(-1)

    def forward_dense(self, X: np.ndarray) -> np.ndarray:
        return self.A @ np.asarray(X, dtype=np.float64).reshape(-1)

    def subspace_normal(self, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        """The ``(r^2, r^2)`` matrix of ``S -> U^T A^*(A(U S V^T)) V`` on row-major
        ``vec(S)``: ``Phi^T Phi`` with ``Phi = A (U kron V)`` (``vec(u v^T) = u kron v``)."""
        r = U.shape[1]
        Phi = self._A(U.device, U.dtype) @ torch.einsum("ia,jb->ijab", U, V).reshape(-1, r * r)
        return Phi.T @ Phi

    def adjoint(self, y: torch.Tensor) -> _DenseMat:
        return _DenseMat((self._A(y.device, y.dtype).T @ y).reshape(self.shape))

    def adjoint_scipy(self, y: np.ndarray) -> np.ndarray:
        return (self.A.T @ np.asarray(y, dtype=np.float64)).reshape(self.shape)


class CallableOperator:
    """User maps ``forward(X) -> (p,)`` and ``adjoint(y) -> (m, n)`` on float64 numpy arrays.

    ``lipschitz`` is ``norm**2`` when ``norm`` (an upper bound on ``||A||_2``) is given, else
    a power-iteration estimate inflated by 10 % (the step size only; certificates do not use
    it).
    """

    kind = "callable"

    def __init__(self, forward: Callable, adjoint: Callable, shape: tuple[int, int], p: int,
                 norm: float | None = None, seed: int = 0) -> None:
        self.fwd, self.adj = forward, adjoint
        self.shape = (int(shape[0]), int(shape[1]))
        self.p = int(p)
        if norm is None:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal(self.shape)
            est = 0.0
            for _ in range(30):
                x /= np.linalg.norm(x)
                x = self.adjoint_scipy(self.forward_dense(x))
                est = float(np.linalg.norm(x))
            self.lipschitz = max(1.1 * est, 1e-300)
        else:
            self.lipschitz = float(norm) ** 2

    def forward_dense(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.fwd(np.asarray(X, dtype=np.float64)),
                          dtype=np.float64).reshape(-1)

    def adjoint_scipy(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(self.adj(np.asarray(y, dtype=np.float64)),
                          dtype=np.float64).reshape(self.shape)

    def forward_lowrank(self, U: torch.Tensor, s: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        X = ((U * s) @ V.T).detach().cpu().numpy().astype(np.float64)
        return torch.as_tensor(self.forward_dense(X), dtype=U.dtype, device=U.device)

    def adjoint(self, y: torch.Tensor) -> _DenseMat:
        W = self.adjoint_scipy(y.detach().cpu().numpy().astype(np.float64))
        return _DenseMat(torch.as_tensor(W, dtype=y.dtype, device=y.device))


def check_adjoint(op: CallableOperator, name: str, trials: int = 3, seed: int = 0) -> None:
    """Raise ``ValueError`` unless ``<A x, y> = <x, A^* y>`` on random ``x``, ``y``."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        x = rng.standard_normal(op.shape)
        y = rng.standard_normal(op.p)
        try:
            Ax = op.forward_dense(x)
            Aty = op.adjoint_scipy(y)
        except ValueError as exc:
            raise ValueError(f"`{name}`: the operator's forward must map an {op.shape} array "
                             f"to {op.p} values and its adjoint {op.p} values to an "
                             f"{op.shape} array ({exc}).") from None
        if Ax.shape != (op.p,) or not np.all(np.isfinite(Ax)) or not np.all(np.isfinite(Aty)):
            raise ValueError(f"`{name}`: forward must return {op.p} finite values, got shape "
                             f"{Ax.shape}.")
        lhs, rhs = float(Ax @ y), float(np.sum(x * Aty))
        scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(Aty)
        if abs(lhs - rhs) > ADJOINT_RTOL * max(scale, 1e-300):
            raise ValueError(f"`{name}`: the adjoint does not match the forward map: "
                             f"<A x, y> = {lhs:.6g} but <x, A^* y> = {rhs:.6g} on random x, y. "
                             "Pass adjoint(y) = the transpose of forward.")
