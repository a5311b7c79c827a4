r"""Data for the factorization family: seeded low-rank generators, an image with hidden entries,
and a loader for ``user,item,rating`` triplet files.

Every generator returns a :class:`CompletionData`: the observed triplets (training), held-out
triplets (test) and, where known, the true matrix.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Any

import numpy as np

from lift.errors import check_int, check_positive

__all__ = ["CompletionData", "low_rank", "low_rank_psd", "image", "load_triplets"]


@dataclasses.dataclass(frozen=True)
class CompletionData:
    """Observed and held-out entries of an ``m x n`` matrix.

    Attributes
    ----------
    train : (rows, cols, values)
        Observed entries (int64, int64, float64).
    test : (rows, cols, values)
        Held-out entries (possibly empty).
    shape : (int, int)
    truth : (m, n) array or None
        The noiseless matrix when the generator knows it (dense; small problems only).
    factors : (U, V) or None
        Its factors (``truth = U V^T``), kept for large problems instead of ``truth``.
    """

    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    shape: tuple[int, int]
    truth: np.ndarray | None = None
    factors: tuple[np.ndarray, np.ndarray] | None = None

    def problem(self, lam: float):
        """A :class:`MatrixCompletion` on the observed entries."""
        from lift.problems.factorization.problem import MatrixCompletion

        return MatrixCompletion(self.train, lam=lam, shape=self.shape)


def _sample_positions(m: int, n: int, count: int, rng: np.random.Generator,
                      cover: bool = True) -> np.ndarray:
    """``count`` distinct linear positions of an ``m x n`` matrix, uniformly, with (when
    ``cover``) at least one per row and per column."""
    total = m * n
    count = min(count, total)
    if count * 4 >= total:
        lin = rng.choice(total, size=count, replace=False)
    else:  # sparse: oversample with replacement and deduplicate (never draws m*n numbers)
        lin = np.unique(rng.integers(0, total, size=int(count * 1.1) + 16))
        while lin.size < count:
            lin = np.union1d(lin, rng.integers(0, total, size=count - lin.size + 16))
        lin = rng.permutation(lin)[:count]
    if cover:
        extra = np.concatenate([np.arange(m) * n + rng.integers(0, n, m),
                                rng.integers(0, m, n) * n + np.arange(n)])
        lin = np.unique(np.concatenate([lin, extra]))
    return np.sort(lin)


def low_rank(m: int, n: int, rank: int, *, fraction: float = 0.2, noise: float = 0.0,
             coherent: bool = False, test_fraction: float = 0.1, seed: int = 0,
             dense_truth: bool | None = None) -> CompletionData:
    r"""A seeded rank-``rank`` matrix ``M = U V^T / sqrt(rank)`` with observed entries.

    ``U``, ``V`` have i.i.d. standard normal entries (incoherent) or, with ``coherent``,
    rows scaled by ``(i + 1)^{-1}`` so that the mass concentrates on a few rows and columns
    (coherent: harder to complete). Observed entries are ``M_ij + noise * N(0, 1)`` at a
    uniformly drawn ``fraction`` of positions (at least one per row and column); held-out
    entries are a further ``test_fraction`` of positions (noiseless).
    """
    m, n = check_int(m, "m", minimum=1), check_int(n, "n", minimum=1)
    rank = check_int(rank, "rank", minimum=1)
    fraction = check_positive(fraction, "fraction")
    if fraction > 1:
        raise ValueError(f"`fraction` must be in (0, 1]. Got {fraction!r} instead.")
    noise = check_positive(noise, "noise", strict=False)
    test_fraction = check_positive(test_fraction, "test_fraction", strict=False)
    rng = np.random.default_rng(check_int(seed, "seed"))
    U = rng.standard_normal((m, rank))
    V = rng.standard_normal((n, rank))
    if coherent:
        U /= (np.arange(m) + 1.0)[:, None] ** 0.5 / np.sqrt(m / np.log(m + 1.0))
        V /= (np.arange(n) + 1.0)[:, None] ** 0.5 / np.sqrt(n / np.log(n + 1.0))
    U /= rank**0.25
    V /= rank**0.25
    total = int(round((fraction + test_fraction) * m * n))
    lin = _sample_positions(m, n, max(total, 1), rng, cover=False)
    lin = rng.permutation(lin)
    n_train = int(round(fraction * m * n))
    tr = np.unique(np.concatenate([lin[:n_train], _sample_positions(m, n, 0, rng)]))
    te = np.setdiff1d(lin[n_train:], tr)

    def triplets(pos, sigma):
        r, c = pos // n, pos % n
        vals = np.einsum("ij,ij->i", U[r], V[c])
        if sigma:
            vals = vals + sigma * rng.standard_normal(vals.size)
        return r.astype(np.int64), c.astype(np.int64), vals

    if dense_truth is None:
        dense_truth = m * n <= 4_000_000
    return CompletionData(train=triplets(tr, noise), test=triplets(te, 0.0), shape=(m, n),
                          truth=U @ V.T if dense_truth else None, factors=(U, V))


def low_rank_psd(n: int, rank: int, *, fraction: float = 0.3, noise: float = 0.0,
                 seed: int = 0) -> CompletionData:
    """A seeded PSD matrix ``G G^T / sqrt(rank)`` with observed entries (upper triangle and
    diagonal; symmetric positions are not repeated)."""
    n, rank = check_int(n, "n", minimum=1), check_int(rank, "rank", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed"))
    G = rng.standard_normal((n, rank)) / rank**0.25
    iu, ju = np.triu_indices(n)
    pick = rng.random(iu.size) < fraction
    pick[iu == ju] = True
    r, c = iu[pick].astype(np.int64), ju[pick].astype(np.int64)
    vals = np.einsum("ij,ij->i", G[r], G[c]) + noise * rng.standard_normal(r.size)
    rest = ~pick
    rt, ct = iu[rest].astype(np.int64), ju[rest].astype(np.int64)
    return CompletionData(train=(r, c, vals), test=(rt, ct, np.einsum("ij,ij->i", G[rt], G[ct])),
                          shape=(n, n), truth=G @ G.T, factors=(G, G))


def image(fraction: float = 0.3, *, size: int = 64, which: int = 0,
          seed: int = 0) -> CompletionData:
    """A grayscale image from scikit-learn's bundled ``load_sample_images`` (0: china,
    1: flower), resized to ``size x size`` by block averaging, scaled to [0, 1], with a
    random ``fraction`` of pixels observed and the rest held out."""
    from sklearn.datasets import load_sample_images

    size = check_int(size, "size", minimum=2)
    fraction = check_positive(fraction, "fraction")
    imgs = load_sample_images().images
    which = check_int(which, "which")
    if which >= len(imgs):
        raise ValueError(f"`which` must be < {len(imgs)}, got {which}.")
    gray = imgs[which].astype(np.float64).mean(axis=2) / 255.0
    h, w = gray.shape
    side = min(h, w) // size * size
    gray = gray[:side, :side].reshape(size, side // size, size, side // size).mean(axis=(1, 3))
    rng = np.random.default_rng(check_int(seed, "seed"))
    obs = rng.random((size, size)) < fraction
    obs[np.arange(size), rng.integers(0, size, size)] = True
    obs[rng.integers(0, size, size), np.arange(size)] = True
    r, c = np.nonzero(obs)
    rt, ct = np.nonzero(~obs)
    return CompletionData(train=(r.astype(np.int64), c.astype(np.int64), gray[r, c]),
                          test=(rt.astype(np.int64), ct.astype(np.int64), gray[rt, ct]),
                          shape=(size, size), truth=gray)


def load_triplets(path: str | os.PathLike, *, delimiter: str | None = None,
                  header: bool | None = None, test_fraction: float = 0.0,
                  seed: int = 0) -> tuple[CompletionData, dict[str, Any]]:
    """Read a MovieLens-style ``user,item,rating`` file (extra columns are ignored).

    Users and items are mapped to consecutive indices in order of first appearance.
    ``delimiter`` defaults to the file's (``,``, tab, ``::`` or whitespace, sniffed);
    ``header`` to whether the first line's rating field is non-numeric. A ``test_fraction``
    of the ratings is held out at random.

    Returns
    -------
    data : CompletionData
    ids : dict
        ``"users"`` and ``"items"``: the original identifiers, by index.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"`path` {path!r} does not exist.")
    with open(path, newline="") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"`path` {path!r} is empty.")
    if delimiter is None:
        first = lines[0]
        delimiter = next((d for d in ("::", "\t", ",", ";") if d in first), None)
    if delimiter == "::":
        rows_txt = [ln.split("::") for ln in lines]
    elif delimiter is None:
        rows_txt = [ln.split() for ln in lines]
    else:
        rows_txt = list(csv.reader(lines, delimiter=delimiter))

    def numeric(x: str) -> bool:
        try:
            float(x)
            return True
        except ValueError:
            return False

    if header is None:
        header = len(rows_txt[0]) >= 3 and not numeric(rows_txt[0][2].strip())
    body = rows_txt[1:] if header else rows_txt
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    r, c, v = [], [], []
    for k, row in enumerate(body):
        if len(row) < 3:
            raise ValueError(f"`path` line {k + 1 + int(header)} has {len(row)} field(s); "
                             "expected user, item, rating.")
        u, i, val = row[0].strip(), row[1].strip(), row[2].strip()
        if not numeric(val) or not np.isfinite(float(val)):
            raise ValueError(f"`path` line {k + 1 + int(header)}: rating {val!r} is not a "
                             "finite number.")
        r.append(users.setdefault(u, len(users)))
        c.append(items.setdefault(i, len(items)))
        v.append(float(val))
    rows, cols, vals = np.array(r, np.int64), np.array(c, np.int64), np.array(v)
    lin = rows * len(items) + cols
    _, first = np.unique(lin, return_index=True)
    if first.size != lin.size:
        raise ValueError(f"`path` rates some (user, item) pairs more than once "
                         f"({lin.size - first.size} duplicates); keep one rating per pair.")
    test_fraction = check_positive(test_fraction, "test_fraction", strict=False)
    rng = np.random.default_rng(check_int(seed, "seed"))
    held = rng.random(rows.size) < test_fraction
    data = CompletionData(train=(rows[~held], cols[~held], vals[~held]),
                          test=(rows[held], cols[held], vals[held]),
                          shape=(len(users), len(items)))
    return data, {"users": list(users), "items": list(items)}
