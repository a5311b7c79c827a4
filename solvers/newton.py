r"""Newton steps on the support of a group-lasso-type objective.

.. math::

    \min_{x_S} \; \phi(x_S) = f(x_S) + \beta \sum_{g \in S} \|x_g\|_2, \qquad x_g \ne 0,

over the groups ``S`` that are nonzero (the others stay at zero). There the objective is
smooth, with gradient ``grad f + beta x_g / ||x_g||`` and Hessian
``H_f + blockdiag(beta (I - x_g x_g^T / ||x_g||^2) / ||x_g||)``. Proximal-gradient methods
identify the support long before they reach the 1e-12 primal accuracy that a 1e-6 *certified*
gap needs (the dual point is a gradient: its error is the square root of the primal one);
Newton converges quadratically from there. A step is kept only if it lowers ``phi``
(backtracking by halving), so the method stays a descent method and a certificate remains the
judge of optimality.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import torch

from lift.solvers.linalg import cholesky_apply
from lift.solvers.prox import group_norms

__all__ = ["SmoothOnSupport", "SupportNewton"]


class SmoothOnSupport(Protocol):
    """The smooth part ``f`` of ``phi`` on the support, in the variables ``X`` (k, d)."""

    def value(self, X: torch.Tensor) -> float:
        """``f(X)``."""

    def derivatives(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(grad f(X), Hessian of f at X)``, shapes (k, d) and (k d, k d)."""


@dataclasses.dataclass
class SupportNewton:
    r"""Damped Newton on ``f(X) + beta sum_g ||x_g||`` with every row ``x_g`` nonzero.

    Attributes
    ----------
    max_steps : int
        Newton steps at most.
    halvings : int
        Backtracking halvings of a step at most; a step that lowers ``phi`` by none of them
        ends the method.
    ridge : float
        ``ridge * max |H_jj|`` is added to the Hessian's diagonal (a positive definite system).
    grad_tol : float
        Stop when ``||grad phi|| <= grad_tol * beta``.
    step_tol : float
        Stop when the step taken is below ``step_tol ||X||`` (rounding level).
    gain_tol : float or None
        Stop when a step lowered ``phi`` by at most ``gain_tol |phi|``.
    full_steps_only : bool
        Stop after a damped (halved) step: past the region of quadratic convergence, leave
        the rest to the first-order method.
    """

    max_steps: int = 6
    halvings: int = 20
    ridge: float = 1e-12
    grad_tol: float = 0.0
    step_tol: float = 1e-13
    gain_tol: float | None = 1e-15
    full_steps_only: bool = False

    def run(self, smooth: SmoothOnSupport, X: torch.Tensor, beta: float,
            bound: float | None = None) -> tuple[torch.Tensor, float, int]:
        """Newton from ``X`` (k, d), all rows nonzero. A step is kept when it lowers ``phi``
        below the best value so far, initially ``bound`` (default ``phi(X)``). Returns
        ``(X, phi(X), steps taken)``: ``X`` itself when no step was kept."""
        k, d = X.shape
        best = bound if bound is not None else smooth.value(X) + beta * float(group_norms(X).sum())
        eye = torch.eye(d, dtype=X.dtype, device=X.device)
        taken = 0
        for _ in range(self.max_steps):
            nrm = group_norms(X)
            if bool((nrm <= 0).any()):
                break
            Xh = X / nrm[:, None]
            g, H = smooth.derivatives(X)
            g = (g + beta * Xh).reshape(-1)
            if float(torch.linalg.vector_norm(g)) <= self.grad_tol * beta:
                break
            blocks = beta * (eye[None] - Xh[:, :, None] * Xh[:, None, :]) / nrm[:, None, None]
            # the norms' blocks added on the diagonal blocks in place (a copy of H, as the
            # smooth part may keep its own; no dense block-diagonal matrix beside it)
            H = H.clone()
            at = torch.arange(k, device=H.device)
            H.view(k, d, k, d)[at, :, at, :] += blocks
            H.diagonal().add_(self.ridge * float(H.diagonal().abs().max()))
            L, info = torch.linalg.cholesky_ex(H)  # half the work of a general solve
            try:
                delta = (cholesky_apply(L, g[:, None])[:, 0] if int(info) == 0
                         else torch.linalg.solve(H, g)).reshape(k, d)
            except RuntimeError:  # singular to working precision
                break
            a, moved = 1.0, False
            for _ in range(self.halvings):
                Xt = X - a * delta
                Ft = smooth.value(Xt) + beta * float(group_norms(Xt).sum())
                if Ft < best:
                    gain, X, best, moved = best - Ft, Xt, Ft, True
                    break
                a *= 0.5
            if not moved:
                break
            taken += 1
            if ((self.full_steps_only and a < 1.0)
                    or float(torch.linalg.vector_norm(a * delta))
                    <= self.step_tol * float(torch.linalg.vector_norm(X))
                    or (self.gain_tol is not None and gain <= self.gain_tol * abs(best))):
                break
        return X, best, taken
