"""Hyperplane arrangements: the activation patterns ``D = diag(1[X u >= 0])`` of ReLU neurons.

A pattern is a boolean column of length ``n``; a set of patterns is an ``(n, P)`` boolean
array. :func:`enumerate_patterns` lists every pattern of the central arrangement
``{u : x_k^T u = 0}`` (one per open cell), :func:`sample_patterns` draws them from Gaussian gates.

Enumeration works in the row space of ``X`` (rank ``r``): every open cell of a central
arrangement whose normals span ``R^r`` is a pointed cone, so it has an extreme ray, the
intersection of ``r - 1`` independent hyperplanes. For every such ray ``v`` the signs of the
points off its hyperplanes are fixed (``sign(x_k^T v)``), and the signs of the incident points
range over the cells of the smaller arrangement they form, found recursively (with a fast path
for the generic case of exactly ``r - 1`` incident points, whose ``2^(r-1)`` sign choices are
all cells). The cost is ``O(C(n, r-1) n)``, fine for rank <= 3 and n up to a few hundred.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lift.errors import PatternCountError, check_int

__all__ = [
    "estimate_pattern_count",
    "enumerate_patterns",
    "sample_patterns",
    "patterns_from_gates",
    "interior_gates",
    "numerical_rank",
    "unique_patterns",
]


def numerical_rank(X: np.ndarray, rtol: float = 1e-10) -> tuple[int, np.ndarray]:
    """Rank of ``X`` and an orthonormal basis (rows) of its row space."""
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return 0, vt[:0]
    r = int(np.sum(s > rtol * s[0]))
    return r, vt[:r]


def estimate_pattern_count(n: int, rank: int) -> int:
    """Number of cells of ``n`` hyperplanes in general position through the origin of R^rank.

    ``2 * sum_{k<rank} C(n-1, k)`` (Cover 1965); degenerate data have fewer.
    """
    if rank <= 0 or n <= 0:
        return 1
    return 2 * sum(math.comb(n - 1, k) for k in range(rank))


def unique_patterns(D: np.ndarray, drop_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicate the columns of a boolean ``(n, P)`` array, keeping first occurrences.

    Returns the unique columns (in order of first occurrence) and their column indices.
    """
    D = np.asarray(D, dtype=bool)
    if D.shape[1] == 0:
        return D, np.zeros(0, dtype=int)
    packed = np.packbits(D, axis=0).T  # (P, ceil(n/8))
    _, idx = np.unique(packed, axis=0, return_index=True)
    idx = np.sort(idx)
    if drop_zero:
        idx = idx[D[:, idx].any(axis=0)]
    return D[:, idx], idx


def _cells_rank2(Z: np.ndarray) -> np.ndarray:
    """Open-cell patterns for rows ``Z`` in R^2 (rank 2), as a (n, P) boolean array."""
    angles = np.arctan2(Z[:, 1], Z[:, 0])
    crit = np.concatenate([angles + np.pi / 2, angles - np.pi / 2]) % (2 * np.pi)
    crit = np.sort(crit)
    keep = np.concatenate([[True], np.diff(crit) > 1e-12])
    crit = crit[keep]
    if crit.size and (crit[0] + 2 * np.pi - crit[-1]) <= 1e-12:
        crit = crit[:-1]
    nxt = np.concatenate([crit[1:], [crit[0] + 2 * np.pi]])
    mids = 0.5 * (crit + nxt)
    U = np.stack([np.cos(mids), np.sin(mids)])  # (2, P)
    return (Z @ U) > 0


def _cells(Z: np.ndarray, tol: float) -> np.ndarray:
    """Open-cell patterns of the central arrangement with normals the rows of ``Z``."""
    n = Z.shape[0]
    norms = np.linalg.norm(Z, axis=1)
    live = norms > tol * max(norms.max(initial=0.0), 1e-300)
    out_live = _cells_full(Z[live] / norms[live, None], tol) if live.any() else np.zeros(
        (0, 1), dtype=bool)
    out = np.zeros((n, out_live.shape[1]), dtype=bool)
    out[live] = out_live
    return out


def _cells_full(Z: np.ndarray, tol: float) -> np.ndarray:
    r, basis = numerical_rank(Z, rtol=1e-9)
    Z = Z @ basis.T
    if r == 1:
        z = Z[:, 0]
        return np.stack([z > 0, z < 0], axis=1)
    if r == 2:
        return _cells_rank2(Z)
    return _cells_by_rays(Z, r, tol)


def _ray_directions(Z: np.ndarray, r: int, chunk: int = 20_000):
    """Yield batches of unit null vectors of all (r-1)-subsets of rows of Z (rank r-1 ones)."""
    n = Z.shape[0]
    combos = itertools.combinations(range(n), r - 1)
    while True:
        batch = np.array(list(itertools.islice(combos, chunk)), dtype=int)
        if batch.size == 0:
            return
        rows = Z[batch]  # (B, r-1, r)
        if r == 3:
            v = np.cross(rows[:, 0], rows[:, 1])
        else:
            _, s, vt = np.linalg.svd(rows, full_matrices=True)
            v = vt[:, -1, :]
            v = v * (s[:, -1:] > 1e-9)  # degenerate subsets give no ray
        nv = np.linalg.norm(v, axis=1)
        ok = nv > 1e-9
        yield v[ok] / nv[ok, None]


def _cells_by_rays(Z: np.ndarray, r: int, tol: float) -> np.ndarray:
    n = Z.shape[0]
    found: list[np.ndarray] = []
    for V in _ray_directions(Z, r):
        V = np.concatenate([V, -V])
        S = Z @ V.T  # (n, R)
        inc = np.abs(S) <= 1e-9
        base = S > 0
        # deduplicate rays by their ternary sign vector
        key = np.where(inc, 0, np.where(base, 1, 2)).astype(np.int8)
        _, first = np.unique(key.T, axis=0, return_index=True)
        base, inc = base[:, first], inc[:, first]
        counts = inc.sum(axis=0)
        generic = np.flatnonzero(counts == r - 1)
        if generic.size:
            idx = np.argsort(~inc[:, generic], axis=0, kind="stable")[: r - 1].T  # (G, r-1)
            for signs in itertools.product([False, True], repeat=r - 1):
                P = base[:, generic].copy()
                cols = np.arange(generic.size)
                for j, sgn in enumerate(signs):
                    P[idx[:, j], cols] = sgn
                found.append(unique_patterns(P, drop_zero=False)[0])
        for col in np.flatnonzero(counts > r - 1):
            I = np.flatnonzero(inc[:, col])
            local = _cells_full(Z[I], tol)
            P = np.repeat(base[:, col : col + 1], local.shape[1], axis=1)
            P[I] = local
            found.append(P)
        if found and sum(f.shape[1] for f in found) > 200_000:
            found = [unique_patterns(np.concatenate(found, axis=1), drop_zero=False)[0]]
    if not found:
        return np.zeros((n, 0), dtype=bool)
    return unique_patterns(np.concatenate(found, axis=1), drop_zero=False)[0]


def enumerate_patterns(X: np.ndarray, max_patterns: int = 100_000) -> np.ndarray:
    """Every activation pattern ``1[X u > 0]`` over open cells, zero pattern dropped.

    Parameters
    ----------
    X : (n, d) array
        Data, with the bias column already appended if there is one.
    max_patterns : int
        Refuse when the general-position count ``2 sum_{k<r} C(n-1, k)`` exceeds it.

    Returns
    -------
    (n, P) boolean array
        Unique, nonzero patterns. Patterns of lower-dimensional faces are not listed: each is
        the closure of an open cell's cone restricted to a face, so the cells suffice for the
        exact lift.

    Raises
    ------
    PatternCountError
        When the estimated count is above ``max_patterns`` (sample patterns instead).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    r, _ = numerical_rank(X)
    estimate = estimate_pattern_count(n, r)
    if estimate > max_patterns or math.comb(n, max(r - 1, 0)) > 5_000_000:
        raise PatternCountError(
            f"Exact enumeration of activation patterns is too large: data of rank {r} with "
            f"n={n} has up to {estimate:,} patterns (limit max_patterns={max_patterns:,}). "
            "Sample patterns instead, e.g. patterns=1000, or raise max_patterns."
        )
    D = _cells(X, tol=1e-12)
    return unique_patterns(D, drop_zero=True)[0]


def patterns_from_gates(X: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """Patterns ``1[X g >= 0]`` of gate vectors (rows of ``gates``), as an (n, P) array."""
    return (X @ np.asarray(gates, dtype=np.float64).T) >= 0


def sample_patterns(X: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patterns of ``count`` Gaussian gates, deduplicated, the zero pattern dropped.

    Returns
    -------
    D : (n, P) boolean array, P <= count
    gates : (P, d) array, the gate of each kept pattern
    """
    count = check_int(count, "patterns", minimum=1)
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((count, X.shape[1]))
    D, idx = unique_patterns(patterns_from_gates(X, G))
    return D, G[idx]


def interior_gates(X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """A gate vector ``g`` with ``1[X g >= 0] = D_j`` for each column ``D_j``.

    Solves, per pattern, the LP ``max t  s.t.  (2 D_j - 1) * (X g) >= t, |g|_inf <= 1``; a
    pattern of an open cell has ``t > 0``. Raises ``ValueError`` for a pattern of no cell.
    The rows of ``X`` are scaled to unit norm first (the cells do not change), so that the
    LP's tolerances mean the same for data of any scale.
    """
    from scipy.optimize import linprog

    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X / np.where(norms > 0, norms, 1.0)
    n, d = X.shape
    out = np.zeros((D.shape[1], d))
    c = np.zeros(d + 1)
    c[-1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(None, 1.0)]
    for j in range(D.shape[1]):
        s = np.where(D[:, j], 1.0, -1.0)
        A = np.hstack([-(s[:, None] * X), np.ones((n, 1))])
        res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=bounds, method="highs")
        if res.status != 0 or res.x[-1] <= 0:
            raise ValueError(f"pattern {j} is not the pattern of an open cell of X")
        out[j] = res.x[:d]
    return out
