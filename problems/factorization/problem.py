r"""Matrix completion, matrix sensing and PSD factorization (the non-convex side).

Each problem minimizes over factors of any rank ``r``

.. math::

    \tfrac12 \|A(U V^T) - b\|_2^2 + \tfrac{\lambda}{2} (\|U\|_F^2 + \|V\|_F^2)
    \qquad\text{or, symmetric,}\qquad
    \tfrac12 \|A(U U^T) - b\|_2^2 + \lambda \|U\|_F^2,

whose infimum over all ranks is the convex program
``min_X 1/2 ||A(X) - b||^2 + lam ||X||_*`` (``+ lam tr(X)``, ``X >= 0``), attained at every
rank at least the rank of its solution. ``A`` samples entries (completion) or takes linear
measurements (sensing).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from lift.base import Problem
from lift.errors import (
    check_array,
    check_int,
    check_memory,
    check_positive,
    check_real_dtype,
    check_seed,
)
from lift.problems.factorization.models import Factors, SymmetricFactors, numerical_rank
from lift.problems.factorization.operators import (
    CallableOperator,
    DenseOperator,
    SamplingOperator,
    check_adjoint,
)

__all__ = ["MatrixCompletion", "MatrixSensing", "PSDFactorization", "observations"]


def _dtype(dtype: Any) -> torch.dtype:
    return torch.float64 if dtype is None else dtype


def _shape(shape: Any, name: str = "shape") -> tuple[int, int]:
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise TypeError(f"`{name}` must be a pair (m, n) of positive integers, got {shape!r}.")
    return (check_int(shape[0], f"{name}[0]", minimum=1),
            check_int(shape[1], f"{name}[1]", minimum=1))


def _check_covered(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
                   name: str = "M") -> None:
    for axis, (idx, size, what) in enumerate(((rows, shape[0], "row"),
                                              (cols, shape[1], "column"))):
        empty = np.flatnonzero(np.bincount(idx, minlength=size) == 0)
        if empty.size:
            show = ", ".join(str(int(i)) for i in empty[:5]) + (", ..." if empty.size > 5
                                                                 else "")
            raise ValueError(f"`{name}`: {empty.size} {what}(s) have no observed entry ({what} "
                             f"{show}); their entries cannot be completed. Drop them or "
                             f"observe at least one entry in each (axis {axis}).")


def observations(M: Any, mask: Any = None, shape: Any = None, name: str = "M"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Observed entries ``(rows, cols, values, shape)`` of completion data.

    ``M`` is a dense ``(m, n)`` array with a boolean ``mask`` of the same shape (``None``:
    the finite entries of ``M`` are the observed ones), a ``scipy.sparse`` matrix (its stored
    entries are the observed ones, explicit zeros included) or a triple
    ``(rows, cols, values)`` with ``shape`` (``None``: one past the largest indices).
    """
    if sp.issparse(M):
        if mask is not None:
            raise TypeError("`mask` must be None for a scipy.sparse `M` (its stored entries "
                            "are the observed ones).")
        C = sp.coo_matrix(M)
        rows, cols, vals = C.row.astype(np.int64), C.col.astype(np.int64), C.data
        if shape is not None and _shape(shape) != C.shape:
            raise ValueError(f"`shape` {tuple(shape)} does not match `{name}`'s {C.shape}.")
        shape = C.shape
        vals = check_array(vals, f"{name} (stored entries)", ndim=1)
    elif isinstance(M, tuple) and len(M) == 3:
        if mask is not None:
            raise TypeError("`mask` must be None for (rows, cols, values) triplets.")
        rows, cols = (np.asarray(M[0]), np.asarray(M[1]))
        for arr, what in ((rows, "rows"), (cols, "cols")):
            if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
                raise TypeError(f"`{name}` triplets: {what} must be a 1-D integer array, got "
                                f"dtype {arr.dtype} and shape {arr.shape}.")
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
        vals = check_array(M[2], f"{name} values", ndim=1, min_rows=0)
        if not (rows.size == cols.size == vals.size):
            raise ValueError(f"`{name}` triplets have mismatched lengths: {rows.size} rows, "
                             f"{cols.size} cols, {vals.size} values.")
        if rows.size == 0:
            raise ValueError(f"`{name}` has no observed entries. Pass at least one.")
        if rows.min() < 0 or cols.min() < 0:
            raise ValueError(f"`{name}` triplets: indices must be >= 0.")
        if shape is None:
            shape = (int(rows.max()) + 1, int(cols.max()) + 1)
        shape = _shape(shape)
        if rows.max() >= shape[0] or cols.max() >= shape[1]:
            raise ValueError(f"`{name}` triplets: indices exceed `shape` {shape} (largest row "
                             f"{rows.max()}, column {cols.max()}).")
    else:
        if hasattr(M, "detach"):
            M = M.detach().cpu().numpy()
        check_real_dtype(M, name)
        try:
            Md = np.asarray(M, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must be a 2-D array, a scipy.sparse matrix or a triple "
                            f"(rows, cols, values); got {type(M).__name__}.") from None
        if Md.ndim != 2:
            raise ValueError(f"`{name}` must be a 2-D array, got {Md.ndim}-D.")
        if mask is None:
            obs = ~np.isnan(Md)
        else:
            obs = np.asarray(mask)
            if obs.dtype != np.bool_:
                if not np.all(np.isin(obs, (0, 1))):
                    raise TypeError("`mask` must be boolean (True where observed).")
                obs = obs.astype(bool)
            if obs.shape != Md.shape:
                raise ValueError(f"`mask` has shape {obs.shape} but `{name}` has shape "
                                 f"{Md.shape}; they must match.")
        if shape is not None and _shape(shape) != Md.shape:
            raise ValueError(f"`shape` {tuple(shape)} does not match `{name}`'s {Md.shape}.")
        shape = Md.shape
        rows, cols = np.nonzero(obs)
        rows, cols = rows.astype(np.int64), cols.astype(np.int64)
        if rows.size == 0:
            raise ValueError(f"`{name}` has no observed entries (the mask is all False). "
                             "Observe at least one entry.")
        vals = Md[rows, cols]
        if not np.all(np.isfinite(vals)):
            bad = int(np.count_nonzero(~np.isfinite(vals)))
            raise ValueError(f"`{name}` has {bad} NaN or infinite observed value(s); mark them "
                             "missing in `mask` or impute them.")
    lin = rows * int(shape[1]) + cols
    if np.unique(lin).size != lin.size:
        raise ValueError(f"`{name}` lists some entries more than once; pass each observed "
                         "position once (average duplicates first).")
    return rows, cols, np.asarray(vals, dtype=np.float64), (int(shape[0]), int(shape[1]))


class _Factorization(Problem):
    """Shared machinery: an operator ``A``, measurements ``b``, weight ``lam``."""

    size_name = "rank"
    symmetric = False

    op: Any
    b: np.ndarray
    lam: float
    shape: tuple[int, int]

    # --- facts ------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.b.size)

    def describe(self) -> dict[str, Any]:
        m, n = self.shape
        return {"m": m, "n": n, "measurements": self.n_samples, "lam": self.lam,
                "operator": self.op.kind}

    def with_lam(self, lam: float):
        """The same data with regularization weight ``lam``."""
        new = copy.copy(self)
        new.lam = check_positive(lam, "lam", strict=False)
        return new

    # --- the non-convex side ----------------------------------------------------------------
    def model(self, size: int, seed: int = 0, *, dtype: Any = None, device: Any = None,
              scale: float | None = None):
        """Factors of rank ``size`` with i.i.d. ``N(0, scale^2)`` entries.

        ``scale`` defaults to ``sqrt(rms(b) / sqrt(size))``, which gives ``U V^T`` entries of
        about the data's magnitude.
        """
        size = check_int(size, "size", minimum=1)
        seed = check_seed(seed)
        check_memory(8 * 4 * size * sum(self.shape), f"`size`={size:,} (rank)",
                     "Pass a smaller size.")
        if scale is None:
            rms = math.sqrt(float(np.mean(self.b**2))) if self.b.size else 1.0
            scale = math.sqrt(max(rms, 1e-12) / math.sqrt(size))
        scale = check_positive(scale, "scale", strict=False)
        dtype = _dtype(dtype)
        gen = torch.Generator().manual_seed(seed)
        m, n = self.shape
        U = scale * torch.randn(m, size, generator=gen, dtype=dtype)
        if self.symmetric:
            model = SymmetricFactors(U)
        else:
            model = Factors(U, scale * torch.randn(n, size, generator=gen, dtype=dtype))
        return model.to(device) if device is not None else model

    def _as_factors(self, params: Any) -> tuple[np.ndarray, np.ndarray]:
        want = SymmetricFactors if self.symmetric else Factors
        if not isinstance(params, want):
            raise TypeError(f"`params` must be {want.__name__} (from {type(self).__name__}"
                            f".model() or a Solution's params), got {type(params).__name__}.")
        if params.shape != self.shape:
            raise ValueError(f"`params` has shape {params.shape}; this problem's matrix is "
                             f"{self.shape}.")
        return params.factors_numpy()

    def forward_factors(self, U: np.ndarray, V: np.ndarray) -> np.ndarray:
        """``A(U V^T)`` in float64 (for sampling operators the operator's own
        ``forward_lowrank``, which forms ``U V^T`` only when it is small and densely
        observed)."""
        if isinstance(self.op, SamplingOperator):
            Ut = torch.from_numpy(np.ascontiguousarray(U, dtype=np.float64))
            Vt = torch.from_numpy(np.ascontiguousarray(V, dtype=np.float64))
            ones = torch.ones(Ut.shape[1], dtype=torch.float64)
            return self.op.forward_lowrank(Ut, ones, Vt).numpy()
        return self.op.forward_dense(U @ V.T)

    def objective(self, params: Any) -> float:
        """``1/2 ||A(U V^T) - b||^2 + lam/2 (||U||_F^2 + ||V||_F^2)`` in float64."""
        U, V = self._as_factors(params)
        r = self.forward_factors(U, V) - self.b
        pen = 2 * np.sum(U**2) if self.symmetric else np.sum(U**2) + np.sum(V**2)
        return float(0.5 * r @ r + 0.5 * self.lam * pen)

    def effective_size(self, params: Any) -> int:
        """Numerical rank of ``U V^T`` (singular values above 1e-3 of the largest)."""
        U, V = self._as_factors(params)
        return numerical_rank(U, V)

    def _fingerprint_items(self) -> dict[str, Any]:
        return {"b": self.b, "lam": self.lam, "shape": self.shape,
                "symmetric": self.symmetric}

    # --- the convex side --------------------------------------------------------------------
    def lift(self, **options: Any):
        """The nuclear-norm program (trace norm with ``X >= 0`` when symmetric).

        Options are those of :class:`~lift.problems.factorization.program.NuclearLift`
        (``exact_limit``, ``lanczos_steps``, ``seed`` of the certificate).
        """
        from lift.problems.factorization.program import NuclearLift

        if self.lam <= 0:
            raise ValueError("`lam` must be > 0 to lift (with lam = 0 every interpolant is "
                             "optimal); use minimum_nuclear_norm() for the interpolation limit.")
        return NuclearLift(self, **options)

    def minimum_nuclear_norm(self, solver: str = "CLARABEL") -> np.ndarray:
        """The minimum-nuclear-norm interpolant ``argmin ||X||_* s.t. A(X) = b`` (cvxpy).

        (Trace norm and ``X >= 0`` when symmetric.) For small problems: the lam -> 0 limit
        of the lifted program, to which small-initialization gradient descent is biased.
        """
        import cvxpy as cp

        from lift.problems.factorization.program import cvxpy_forward

        m, n = self.shape
        X = cp.Variable((m, n), PSD=True) if self.symmetric else cp.Variable((m, n))
        reg = cp.trace(X) if self.symmetric else cp.normNuc(X)
        prob = cp.Problem(cp.Minimize(reg), [cvxpy_forward(self, X) == self.b])
        prob.solve(solver=solver)
        if prob.status not in ("optimal", "optimal_inaccurate") or X.value is None:
            raise RuntimeError(f"minimum_nuclear_norm: {solver} ended with status "
                               f"{prob.status!r}.")
        return np.asarray(X.value)


class MatrixCompletion(_Factorization):
    r"""Regularized low-rank matrix completion.

    .. math::

        \min_{r, U, V} \tfrac12 \sum_{(i,j) \in \Omega} \big((U V^T)_{ij} - M_{ij}\big)^2
        + \tfrac{\lambda}{2} (\|U\|_F^2 + \|V\|_F^2)
        \;=\; \min_X \tfrac12 \|P_\Omega(X - M)\|_F^2 + \lambda \|X\|_*.

    Parameters
    ----------
    M : (m, n) array, scipy.sparse matrix or (rows, cols, values)
        The data; see :func:`observations`.
    mask : (m, n) bool array, optional
        Observed entries of a dense ``M`` (``None``: its non-NaN entries).
    lam : float >= 0
        Regularization weight (``lam > 0`` to lift).
    shape : (int, int), optional
        Matrix shape for triplets.
    """

    name = "completion"

    def __init__(self, M: Any, mask: Any = None, lam: float = 1.0, *,
                 shape: Any = None) -> None:
        rows, cols, vals, shape = observations(M, mask, shape)
        _check_covered(rows, cols, shape)
        self.lam = check_positive(lam, "lam", strict=False)
        self.shape = shape
        self.op = SamplingOperator(rows, cols, shape)
        self.b = vals

    def __repr__(self) -> str:
        m, n = self.shape
        return f"MatrixCompletion({m} x {n}, {self.n_samples} observed, lam={self.lam:g})"

    @property
    def rows(self) -> np.ndarray:
        return self.op.rows

    @property
    def cols(self) -> np.ndarray:
        return self.op.cols

    def describe(self) -> dict[str, Any]:
        m, n = self.shape
        return {"m": m, "n": n, "observed": self.n_samples,
                "fraction": self.n_samples / (m * n), "lam": self.lam}

    def _fingerprint_items(self) -> dict[str, Any]:
        return {"rows": self.op.rows, "cols": self.op.cols, "values": self.b, "lam": self.lam,
                "shape": self.shape}

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, ...]:
        """``(rows, cols, values)``: int64 index tensors and the observed values."""
        return (torch.as_tensor(self.op.rows, device=device),
                torch.as_tensor(self.op.cols, device=device),
                torch.as_tensor(self.b, dtype=_dtype(dtype), device=device))

    def torch_objective(self, model: torch.nn.Module, data: tuple | None = None, *,
                        weight: float = 1.0) -> torch.Tensor:
        """``weight/2 * sum_batch (<U_i, V_j> - M_ij)^2 + lam/2 * model.penalty()``."""
        if data is None:
            p = next(model.parameters())
            data = self.data(dtype=p.dtype, device=p.device)
        rows, cols, vals = data
        res = model(rows, cols) - vals
        return 0.5 * weight * res.square().sum() + 0.5 * self.lam * model.penalty()

    def check_test(self, test: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Held-out entries ``(rows, cols, values)`` (or a dense matrix with a mask pair
        ``(M, mask)``), or ``None``."""
        if test is None:
            return None
        if isinstance(test, tuple) and len(test) == 2:
            rows, cols, vals, shape = observations(test[0], test[1], name="test")
        elif isinstance(test, tuple) and len(test) == 3:
            rows, cols, vals, shape = observations(test, None, self.shape, name="test")
        else:
            raise TypeError("`test` must be held-out triplets (rows, cols, values), a pair "
                            "(M, mask), or None.")
        if shape != self.shape:
            raise ValueError(f"`test` has shape {shape}; the problem's matrix is {self.shape}.")
        return rows, cols, vals

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """``train_rmse`` on the observed entries and ``test_rmse`` on ``test`` (NaN without)."""
        U, V = self._as_factors(params)
        train = self.forward_factors(U, V) - self.b
        out = {"train_rmse": float(np.sqrt(np.mean(train**2))), "test_rmse": math.nan}
        if test is not None:
            rows, cols, vals = test
            pred = np.einsum("ij,ij->i", U[rows], V[cols])
            out["test_rmse"] = float(np.sqrt(np.mean((pred - vals) ** 2)))
        return out


def _sensing_operator(A: Any, shape: tuple[int, int], adjoint: Callable | None,
                      norm: float | None, name: str = "A"):
    m, n = shape
    if callable(A):
        if adjoint is None or not callable(adjoint):
            raise TypeError(f"`{name}` is a callable: pass its adjoint as `adjoint=` (a "
                            "callable mapping measurements to an (m, n) array).")
        return None, A
    if adjoint is not None:
        raise TypeError("`adjoint` is only for a callable `A`.")
    if isinstance(A, (list, tuple)):
        mats = [check_array(Ak, f"{name}[{k}]", ndim=2) for k, Ak in enumerate(A)]
        if not mats:
            raise ValueError(f"`{name}` is an empty list; pass at least one sensing matrix.")
        for k, Ak in enumerate(mats):
            if Ak.shape != shape:
                raise ValueError(f"`{name}[{k}]` has shape {Ak.shape}; every sensing matrix "
                                 f"must have `shape` {shape}.")
        return np.stack([Ak.reshape(-1) for Ak in mats]), None
    Ad = check_array(A, name, ndim=(2, 3))
    if Ad.ndim == 3:
        if Ad.shape[1:] != shape:
            raise ValueError(f"`{name}` as a stack of sensing matrices has shape {Ad.shape}; "
                             f"expected (p, {m}, {n}).")
        return Ad.reshape(Ad.shape[0], -1), None
    if Ad.shape[1] != m * n:
        raise ValueError(f"`{name}` has {Ad.shape[1]} columns; a dense operator on vec(X) of "
                         f"an {m} x {n} matrix needs {m * n} (row-major vec).")
    return Ad, None


class MatrixSensing(_Factorization):
    r"""Low-rank matrix sensing from linear measurements ``b = A(X) + noise``.

    .. math::

        \min_{r, U, V} \tfrac12 \|A(U V^T) - b\|_2^2
        + \tfrac{\lambda}{2} (\|U\|_F^2 + \|V\|_F^2)
        \;=\; \min_X \tfrac12 \|A(X) - b\|_2^2 + \lambda \|X\|_*.

    Parameters
    ----------
    A : (p, m n) array, (p, m, n) array, list of (m, n) arrays, or callable
        A dense matrix on the row-major ``vec(X)``; sensing matrices ``A_k`` with
        ``A(X)_k = <A_k, X>``; or a function ``X -> (p,)`` with ``adjoint``.
    b : (p,) array
    shape : (int, int)
    lam : float >= 0
    adjoint : callable, optional
        ``y -> (m, n)`` array, for a callable ``A`` (checked on random vectors).
    norm : float, optional
        An upper bound on ``||A||_2`` for a callable ``A`` (step size; estimated otherwise).
    """

    name = "sensing"

    def __init__(self, A: Any, b: Any, shape: Any, lam: float = 1.0, *,
                 adjoint: Callable | None = None, norm: float | None = None) -> None:
        shape = _shape(shape)
        self.shape = shape
        self.b = check_array(b, "b", ndim=1)
        self.lam = check_positive(lam, "lam", strict=False)
        Ad, fwd = _sensing_operator(A, shape, adjoint, norm)
        if Ad is not None:
            if Ad.shape[0] != self.b.size:
                raise ValueError(f"`A` gives {Ad.shape[0]} measurements but `b` has "
                                 f"{self.b.size}.")
            self.op = DenseOperator(Ad, shape)
        else:
            if norm is not None:
                norm = check_positive(norm, "norm")
            self.op = CallableOperator(fwd, adjoint, shape, self.b.size, norm=norm)
            check_adjoint(self.op, "A")

    def __repr__(self) -> str:
        m, n = self.shape
        return f"MatrixSensing({m} x {n}, {self.n_samples} measurements, lam={self.lam:g})"

    def _fingerprint_items(self) -> dict[str, Any]:
        out = super()._fingerprint_items()
        if isinstance(self.op, DenseOperator):
            out["A"] = self.op.A
        else:  # a callable is known by its name only (the measurements b still count)
            fwd = self.op.fwd
            out["A"] = f"{getattr(fwd, '__module__', '')}.{getattr(fwd, '__qualname__', fwd)}"
        return out

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, ...]:
        """``(A, b)``: the dense measurement matrix (rows = measurements) and ``b``; for a
        callable operator ``(arange(p), b)``."""
        dtype = _dtype(dtype)
        if isinstance(self.op, DenseOperator):
            first = torch.as_tensor(self.op.A, dtype=dtype, device=device)
        else:
            first = torch.arange(self.n_samples, device=device)
        return first, torch.as_tensor(self.b, dtype=dtype, device=device)

    def torch_objective(self, model: torch.nn.Module, data: tuple | None = None, *,
                        weight: float = 1.0) -> torch.Tensor:
        """``weight/2 * ||A_batch vec(U V^T) - b_batch||^2 + lam/2 * model.penalty()``.

        A callable operator must accept a torch tensor for this (training) path.
        """
        if data is None:
            p = next(model.parameters())
            data = self.data(dtype=p.dtype, device=p.device)
        first, b = data
        X = model.matrix()
        if isinstance(self.op, DenseOperator):
            pred = first @ X.reshape(-1)
        else:
            pred = torch.as_tensor(self.op.fwd(X)).reshape(-1)[first]
        res = pred - b
        return 0.5 * weight * res.square().sum() + 0.5 * self.lam * model.penalty()

    def check_test(self, test: Any) -> np.ndarray | None:
        """The true matrix ``X`` (for the relative recovery error), or ``None``."""
        if test is None:
            return None
        X = check_array(test, "test", ndim=2)
        if X.shape != self.shape:
            raise ValueError(f"`test` (the true matrix) has shape {X.shape}; expected "
                             f"{self.shape}.")
        return X

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """``train_rmse`` of the measurements and ``recovery_error``
        ``||U V^T - X||_F / ||X||_F`` against the true matrix (NaN without)."""
        U, V = self._as_factors(params)
        res = self.forward_factors(U, V) - self.b
        out = {"train_rmse": float(np.sqrt(np.mean(res**2))), "recovery_error": math.nan}
        if test is not None:
            out["recovery_error"] = float(np.linalg.norm(U @ V.T - test)
                                          / max(np.linalg.norm(test), 1e-300))
        return out


class PSDFactorization(_Factorization):
    r"""Symmetric factorization ``X = U U^T``: completion or sensing of a PSD matrix.

    .. math::

        \min_{r, U} \tfrac12 \|A(U U^T) - b\|_2^2 + \lambda \|U\|_F^2
        \;=\; \min_{X \succeq 0} \tfrac12 \|A(X) - b\|_2^2 + \lambda \operatorname{tr}(X).

    Give either completion data (``M`` with ``mask``, sparse, or triplets, as in
    :class:`MatrixCompletion`; a square matrix) or sensing data (``A``, ``b``, ``n``, as in
    :class:`MatrixSensing` with ``shape = (n, n)``).
    """

    name = "psd"
    symmetric = True

    def __init__(self, M: Any = None, mask: Any = None, lam: float = 1.0, *,
                 A: Any = None, b: Any = None, n: int | None = None,
                 adjoint: Callable | None = None, norm: float | None = None) -> None:
        self.lam = check_positive(lam, "lam", strict=False)
        if (M is None) == (A is None):
            raise TypeError("Pass either completion data `M` (with `mask`) or sensing data "
                            "`A`, `b`, `n`; not both, not neither.")
        if M is not None:
            shape = None if n is None else (n, n)
            rows, cols, vals, shape = observations(M, mask, shape)
            if shape[0] != shape[1]:
                raise ValueError(f"`M` must be square for a PSD factorization, got {shape}.")
            # each row and column of a symmetric matrix is covered through (i, j) or (j, i)
            _check_covered(np.concatenate([rows, cols]), np.concatenate([cols, rows]), shape)
            self.shape = shape
            self.op = SamplingOperator(rows, cols, shape)
            self.b = vals
        else:
            if b is None or n is None:
                raise TypeError("Sensing data needs `A`, `b` and `n`.")
            n = check_int(n, "n", minimum=1)
            self.shape = (n, n)
            self.b = check_array(b, "b", ndim=1)
            Ad, fwd = _sensing_operator(A, self.shape, adjoint, norm)
            if Ad is not None:
                if Ad.shape[0] != self.b.size:
                    raise ValueError(f"`A` gives {Ad.shape[0]} measurements but `b` has "
                                     f"{self.b.size}.")
                self.op = DenseOperator(Ad, self.shape)
            else:
                self.op = CallableOperator(fwd, adjoint, self.shape, self.b.size, norm=norm)
                check_adjoint(self.op, "A")

    def __repr__(self) -> str:
        return (f"PSDFactorization({self.shape[0]} x {self.shape[0]}, {self.op.kind}, "
                f"{self.n_samples} measurements, lam={self.lam:g})")

    def _fingerprint_items(self) -> dict[str, Any]:
        out = super()._fingerprint_items()
        if isinstance(self.op, SamplingOperator):
            out.update(rows=self.op.rows, cols=self.op.cols)
        elif isinstance(self.op, DenseOperator):
            out["A"] = self.op.A
        return out

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, ...]:
        """Completion: ``(rows, cols, values)``; sensing: ``(A, b)``."""
        dtype = _dtype(dtype)
        if isinstance(self.op, SamplingOperator):
            return (torch.as_tensor(self.op.rows, device=device),
                    torch.as_tensor(self.op.cols, device=device),
                    torch.as_tensor(self.b, dtype=dtype, device=device))
        return MatrixSensing.data(self, dtype=dtype, device=device)

    def torch_objective(self, model: torch.nn.Module, data: tuple | None = None, *,
                        weight: float = 1.0) -> torch.Tensor:
        """``weight/2 * ||A_batch(U U^T) - b_batch||^2 + lam ||U||_F^2``."""
        if isinstance(self.op, SamplingOperator):
            return MatrixCompletion.torch_objective(self, model, data, weight=weight)
        return MatrixSensing.torch_objective(self, model, data, weight=weight)

    def check_test(self, test: Any) -> Any:
        """Completion: held-out entries; sensing: the true matrix."""
        if isinstance(self.op, SamplingOperator):
            return MatrixCompletion.check_test(self, test)
        return MatrixSensing.check_test(self, test)

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        if isinstance(self.op, SamplingOperator):
            return MatrixCompletion.evaluate(self, params, test)
        return MatrixSensing.evaluate(self, params, test)

