r"""Group lasso on a Gram matrix: proximal gradient, then Newton on the support.

.. math::

    \min_u \; \tfrac12 u^T G u - b^T u + \beta \sum_j \|u_j\|_2
    \qquad (\text{groups } u_j \text{ of } d \text{ entries}),

the restricted program of a working-set method for a least-squares group lasso
(``G = A_S^T A_S``, ``b = A_S^T y``): a step costs ``O((|S| d)^2)``, nothing in ``n``. Built
from :class:`~lift.solvers.proxgrad.ProximalGradient` (constant step ``1 / lambda_max(G)``
from :func:`~lift.solvers.linalg.power_iteration`, restarts) and
:class:`~lift.solvers.newton.SupportNewton`, which takes over once the nonzero groups settle.
"""

from __future__ import annotations

import numpy as np
import torch

from lift.solvers.linalg import power_iteration
from lift.solvers.newton import SupportNewton
from lift.solvers.prox import group_norms, prox_group_lasso
from lift.solvers.proxgrad import Point, ProximalGradient

__all__ = ["group_lasso_gram", "group_lasso_residual"]

#: Newton on the support of the Gram program: up to 30 full steps, to rounding level
GRAM_NEWTON = SupportNewton(max_steps=30, halvings=30, ridge=1e-13, grad_tol=1e-14,
                            gain_tol=None, full_steps_only=True)


def group_lasso_residual(G: torch.Tensor, b: torch.Tensor, U: torch.Tensor,
                         beta: float) -> float:
    r"""Largest optimality residual of ``1/2 u'Gu - b'u + beta sum_j ||u_j||``, over ``beta``.

    For a zero group ``(||g_j|| - beta)_+``, for a nonzero one ``||g_j + beta u_j / ||u_j||||``,
    with ``g = G u - b`` (``U`` holds the groups as rows).
    """
    g = (G @ U.reshape(-1) - b).reshape(U.shape)
    nrm = group_norms(U)
    nz = nrm > 0
    res = torch.clamp(group_norms(g) - beta, min=0.0)
    res[nz] = group_norms(g[nz] + beta * U[nz] / nrm[nz, None])
    return float(res.max()) / beta if res.numel() else 0.0


class _Quadratic:
    """``f(u) = 1/2 u'Gu - b'u`` as a smooth oracle (values only where Newton needs them)."""

    def __init__(self, G: torch.Tensor, b: torch.Tensor) -> None:
        self.G, self.b = G, b

    def point(self, U: torch.Tensor) -> Point:
        return Point(U)

    def gradient(self, p: Point) -> torch.Tensor:
        return (self.G @ p.x.reshape(-1) - self.b).reshape(p.x.shape)

    def extrapolate(self, new: Point, old: Point, m: float) -> Point:
        return Point(new.x + m * (new.x - old.x))


class _QuadraticOnSupport:
    """The quadratic restricted to the groups ``idx`` of ``d`` entries (for
    :class:`SupportNewton`)."""

    def __init__(self, G: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, d: int) -> None:
        ix = (idx[:, None] * d + torch.arange(d)).reshape(-1)
        self.G, self.b = G[ix][:, ix], b[ix]

    def value(self, X: torch.Tensor) -> float:
        x = X.reshape(-1)
        return float(0.5 * x @ (self.G @ x) - self.b @ x)

    def derivatives(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.G @ X.reshape(-1) - self.b).reshape(X.shape), self.G


def group_lasso_gram(G: np.ndarray, b: np.ndarray, beta: float, d: int, u0: np.ndarray,
                     tol: float = 1e-11, max_iters: int = 50_000
                     ) -> tuple[np.ndarray, int, float]:
    r"""Minimize ``1/2 u'Gu - b'u + beta sum_j ||u_j||`` (groups of ``d`` entries).

    .. math::

        \min_u \; \tfrac12 u^T G u - b^T u + \beta \sum_j \|u_j\|_2

    FISTA with gradient-mapping restarts and step ``1 / (1.05 lambda_max(G))``; every 10
    iterations the optimality residual (:func:`group_lasso_residual`) is checked and, once it
    is below 1e-2 and the nonzero groups are the same as at the previous check, Newton steps
    are taken on them. Stops when the residual (relative to ``beta``) is at most ``tol``.
    Returns ``(u, iterations, residual)``.
    """
    u = np.asarray(u0, dtype=np.float64).reshape(-1)
    if u.size == 0:
        return u.copy(), 0, 0.0
    Gt = torch.as_tensor(np.asarray(G, dtype=np.float64))
    bt = torch.as_tensor(np.asarray(b, dtype=np.float64))
    U0 = torch.tensor(u).reshape(-1, d)
    v0 = torch.as_tensor(np.random.default_rng(0).standard_normal(u.size))
    lmax = power_iteration(lambda v: Gt @ v, v0, lambda v: float(torch.linalg.vector_norm(v)),
                           iters=50, rtol=1e-6)
    step = 1.0 / (1.05 * max(lmax, 1e-300))
    # the residual is checked every 10 iterations (in ``polish``): ``state`` holds the point
    # where it was last computed, which is what is returned when it is below ``tol``
    state = {"x": U0, "res": group_lasso_residual(Gt, bt, U0, beta), "support": None}

    def polish(x: Point, _F) -> Point | None:
        support = group_norms(x.x) > 0
        better = None
        if (state["res"] <= 1e-2 and state["support"] is not None
                and bool(torch.equal(support, state["support"]))):
            idx = torch.nonzero(support).flatten()
            X, _, taken = GRAM_NEWTON.run(_QuadraticOnSupport(Gt, bt, idx, d), x.x[idx], beta)
            if taken:
                Un = x.x.clone()
                Un[idx] = X
                better = Point(Un)
        state["support"] = support
        state["x"] = (better or x).x
        state["res"] = group_lasso_residual(Gt, bt, state["x"], beta)
        return better

    def check(k, x, F, y, grad, step_) -> bool:
        return state["res"] <= tol

    method = ProximalGradient(max_iters=max_iters, line_search=False, polish_every=10)
    out = method.run(_Quadratic(Gt, bt), U0, lambda x, s: prox_group_lasso(x, beta, s),
                     lambda x: 0.0, step, check, polish)
    if state["res"] <= tol:  # stopped on the residual: the point where it was computed
        return state["x"].reshape(-1).numpy().copy(), out.iterations, state["res"]
    return out.point.x.reshape(-1).numpy().copy(), out.iterations, state["res"]
