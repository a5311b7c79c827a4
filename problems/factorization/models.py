r"""Factor models: ``X = U V^T`` (:class:`Factors`) and ``X = U U^T`` (:class:`SymmetricFactors`).

Both are ``torch.nn.Module`` s whose ``forward(rows, cols)`` returns the entries
``X_{ij} = <U_i, V_j>`` (integer index tensors in, floats out), ``matrix()`` the full matrix
(small problems only) and ``penalty()`` the Frobenius penalty of the variational nuclear norm

.. math::

    \|X\|_* = \min_{U V^T = X} \tfrac12 (\|U\|_F^2 + \|V\|_F^2),
    \qquad \operatorname{tr}(X) = \min_{U U^T = X} \|U\|_F^2 \quad (X \succeq 0).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["Factors", "SymmetricFactors", "numerical_rank", "RANK_RTOL"]

#: singular values of ``U V^T`` above this fraction of the largest count towards the rank
RANK_RTOL = 1e-3


class Factors(torch.nn.Module):
    """Factors ``U`` (m, r) and ``V`` (n, r) of ``X = U V^T``; ``width`` is the rank ``r``."""

    symmetric = False

    def __init__(self, U: torch.Tensor, V: torch.Tensor) -> None:
        super().__init__()
        self.U = torch.nn.Parameter(U)
        self.V = torch.nn.Parameter(V)

    @property
    def width(self) -> int:
        return int(self.U.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.U.shape[0]), int(self.V.shape[0])

    def forward(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Entries ``(U V^T)[rows, cols]``."""
        return (self.U[rows] * self.V[cols]).sum(-1)

    def matrix(self) -> torch.Tensor:
        """``U V^T`` (dense)."""
        return self.U @ self.V.T

    def penalty(self) -> torch.Tensor:
        """``||U||_F^2 + ||V||_F^2``."""
        return self.U.square().sum() + self.V.square().sum()

    def factors_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(U, V)`` as float64 numpy arrays."""
        return (self.U.detach().cpu().double().numpy(), self.V.detach().cpu().double().numpy())


class SymmetricFactors(torch.nn.Module):
    """One factor ``U`` (n, r) of ``X = U U^T``; ``width`` is the rank ``r``."""

    symmetric = True

    def __init__(self, U: torch.Tensor) -> None:
        super().__init__()
        self.U = torch.nn.Parameter(U)

    @property
    def V(self) -> torch.Tensor:
        return self.U

    @property
    def width(self) -> int:
        return int(self.U.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.U.shape[0]), int(self.U.shape[0])

    def forward(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return (self.U[rows] * self.U[cols]).sum(-1)

    def matrix(self) -> torch.Tensor:
        return self.U @ self.U.T

    def penalty(self) -> torch.Tensor:
        """``2 ||U||_F^2`` (so that ``lam/2 * penalty = lam tr(U U^T)``)."""
        return 2.0 * self.U.square().sum()

    def factors_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        U = self.U.detach().cpu().double().numpy()
        return U, U


def singular_values(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Singular values of ``U V^T`` from thin QR factors (never forms ``U V^T``)."""
    if U.shape[1] == 0:
        return np.zeros(0)
    _, Ru = np.linalg.qr(U)
    _, Rv = np.linalg.qr(V)
    return np.linalg.svd(Ru @ Rv.T, compute_uv=False)


def numerical_rank(U: np.ndarray, V: np.ndarray, rtol: float = RANK_RTOL) -> int:
    """Singular values of ``U V^T`` above ``rtol`` times the largest (0 for ``X = 0``)."""
    s = singular_values(U, V)
    if s.size == 0 or s[0] <= 0:
        return 0
    return int(np.count_nonzero(s > rtol * s[0]))
