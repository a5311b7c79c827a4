"""Helpers for mapping convex solutions back: exact Caratheodory reduction of neuron sets.

An optimal solution of a group-lasso lift is a nonnegative combination of atoms: neuron
``j`` contributes ``h_j`` to the predictions and ``c_j`` to the regularizer, and scaling its
convex variable by ``s_j >= 0`` scales both. Interior-point solvers return points in the
relative interior of the optimal face, spread over many atoms. Any direction ``x`` with
``sum_j x_j h_j = 0`` and ``sum_j x_j c_j = 0`` leaves predictions and regularizer (hence the
objective) unchanged, so stepping along it until a weight hits zero removes an atom at no
cost. Repeating until the vectors ``(h_j, c_j)`` are independent leaves at most ``n + 1``
atoms (Caratheodory's theorem), with the same objective.
"""

from __future__ import annotations

import numpy as np

__all__ = ["caratheodory_weights"]


def caratheodory_weights(H: np.ndarray, c: np.ndarray, max_iter: int | None = None,
                         rtol: float = 1e-10) -> np.ndarray:
    r"""Weights ``s >= 0`` with ``H^T s = H^T 1``, ``c^T s = c^T 1`` and few nonzeros.

    Parameters
    ----------
    H : (m, n) array
        Atom contributions (rows).
    c : (m,) array
        Atom costs.
    max_iter : int, optional
        At most this many atoms are removed (default: all that can be).
    rtol : float
        Relative tolerance for the rank test and for zero weights.

    Returns
    -------
    (m,) array
        The weights; atoms with weight 0 can be dropped.
    """
    m = H.shape[0]
    s = np.ones(m)
    M = np.hstack([H, c[:, None]]).T  # (n + 1, m)
    scale = np.linalg.norm(M, axis=0)
    scale[scale == 0] = 1.0
    Mn = M / scale  # column scaling does not change which combinations vanish
    rows = M.shape[0]
    active = np.flatnonzero(s > 0)
    for _ in range(max_iter if max_iter is not None else m):
        if active.size <= 1:
            break
        # rows + 1 columns always have a null direction: work on a window of that size
        cols = active[: rows + 1]
        A = Mn[:, cols]
        if cols.size > rows:  # pad to square so the SVD lists the null direction
            A = np.vstack([A, np.zeros((cols.size - rows, cols.size))])
        if A.shape[0] > A.shape[1]:  # same singular values and right factor, half the time
            A = np.linalg.qr(A, mode="r")  # (2,001 x 400: 0.12 s against 0.24 s, one thread)
        # thin SVD: never the (rows x rows) left factor, which is huge for large n
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        rank = int(np.sum(sv > rtol * max(sv[0], 1e-300)))
        if rank >= cols.size:
            break
        x = vt[-1] / scale[cols]  # null direction in the unscaled weights
        if x.max() <= 0:
            x = -x
        pos = x > 0
        step = np.min(s[cols][pos] / x[pos])
        s[cols] = np.maximum(s[cols] - step * x, 0.0)
        s[cols[s[cols] <= rtol]] = 0.0
        active = np.flatnonzero(s > 0)
    return s
