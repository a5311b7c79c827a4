r"""Group lasso: a solver on a Gram matrix, and a better dual point for the certificate.

.. math::

    \min_u \; \tfrac12 u^T G u - b^T u + \beta \sum_j \|u_j\|_2
    \qquad (\text{groups } u_j \text{ of } d \text{ entries}),

the restricted program of a working-set method for a least-squares group lasso
(``G = A_S^T A_S``, ``b = A_S^T y``): a step costs ``O((|S| d)^2)``, nothing in ``n``. Built
from :class:`~lift.solvers.proxgrad.ProximalGradient` (constant step ``1 / lambda_max(G)``
from :func:`~lift.solvers.linalg.power_iteration`, restarts) and
:class:`~lift.solvers.newton.SupportNewton`, which takes over once the nonzero groups settle.

:class:`ActiveDualStep` serves every first-order group-lasso solver whose certificate scales
a loss gradient into the dual constraints ``||A_g^T lam|| <= beta``: that scaling costs a
relative gap of the order of the *square root* of the primal error (the largest violation is
first order in the error of ``lam``), so a certified 1e-6 needs a primal point accurate to
about 1e-12. One Newton step on the constraints of the active groups,
``||A_g^T lam|| = beta``, makes the violation second order, and the certified gap then tracks
the primal error itself (:func:`active_dual_step`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import numpy as np
import torch

from lift.solvers.linalg import cholesky_apply, power_iteration
from lift.solvers.newton import SupportNewton
from lift.solvers.prox import group_norms, prox_group_lasso
from lift.solvers.proxgrad import Point, ProximalGradient

__all__ = ["group_lasso_gram", "group_lasso_residual", "least_squares_gap", "active_dual_step",
           "ActiveDualStep", "DualOperator", "LowRankGroupMetric"]

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


def least_squares_gap(G: torch.Tensor, b: torch.Tensor, yy: float, U: torch.Tensor,
                      beta: float) -> float:
    r"""Relative duality gap of ``1/2 ||A u - y||^2 + beta sum_j ||u_j||`` from its Gram form.

    With ``G = A^T A``, ``b = A^T y``, ``yy = ||y||^2`` and the residual ``r = A u - y``
    (``||r||^2 = u'Gu - 2 b'u + yy``, ``A_j^T r = (Gu - b)_j``), the dual point ``-t r`` is
    feasible for ``t <= beta / max_j ||(Gu - b)_j||`` and the best such ``t`` gives

    .. math::

        D = \max_{0 \le t \le t_{\max}} \; t\,(yy - b^T u) - \tfrac{t^2}{2} \|r\|^2,
        \qquad \text{gap} = \frac{P(u) - D}{\max(|P(u)|, 10^{-300})}.

    A certificate of the restricted program only (it knows nothing of the groups outside ``A``).
    """
    u = U.reshape(-1)
    g = G @ u - b
    bu = float(b @ u)
    rr = max(float(u @ (g - b)) + yy, 0.0)  # u'Gu - 2 b'u + yy
    primal = 0.5 * rr + beta * float(group_norms(U).sum())
    gmax = float(group_norms(g.reshape(U.shape)).max()) if u.numel() else 0.0
    tmax = beta / gmax if gmax > 0 else math.inf
    t = min(max((yy - bu) / rr, 0.0), tmax) if rr > 0 else (0.0 if yy <= bu else tmax)
    t = 0.0 if not math.isfinite(t) else t
    dual = t * (yy - bu) - 0.5 * t * t * rr
    return max(primal - dual, 0.0) / max(abs(primal), 1e-300)


class _Quadratic:
    """``f(u) = 1/2 u'Gu - b'u`` as a smooth oracle; caches ``Gu`` (one product per point,
    extrapolated linearly), so values for the line search come free."""

    def __init__(self, G: torch.Tensor, b: torch.Tensor) -> None:
        self.G, self.b = G, b

    def _at(self, U: torch.Tensor, Gu: torch.Tensor) -> Point:
        u = U.reshape(-1)
        return Point(U, float(0.5 * (u @ Gu) - self.b @ u), {"Gu": Gu})

    def point(self, U: torch.Tensor) -> Point:
        return self._at(U, self.G @ U.reshape(-1))

    def gradient(self, p: Point) -> torch.Tensor:
        return (p.cache["Gu"] - self.b).reshape(p.x.shape)

    def extrapolate(self, new: Point, old: Point, m: float) -> Point:
        Gn, Go = new.cache["Gu"], old.cache["Gu"]
        return self._at(new.x + m * (new.x - old.x), Gn + m * (Gn - Go))


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
                     tol: float = 1e-11, max_iters: int = 50_000, yy: float | None = None
                     ) -> tuple[np.ndarray, int, float]:
    r"""Minimize ``1/2 u'Gu - b'u + beta sum_j ||u_j||`` (groups of ``d`` entries).

    .. math::

        \min_u \; \tfrac12 u^T G u - b^T u + \beta \sum_j \|u_j\|_2

    FISTA with gradient-mapping restarts, step growth and backtracking down to
    ``1 / (1.05 lambda_max(G))`` (larger steps than that safe one pay off on ill-conditioned
    blocks); every 10
    iterations the optimality residual (:func:`group_lasso_residual`) is checked and, once it
    is below 1e-2 and the nonzero groups are the same as at the previous check, Newton steps
    are taken on them. Stops when the residual (relative to ``beta``) is at most ``tol``, or,
    given ``yy = ||y||^2`` (so that ``G, b`` are ``A^T A, A^T y``), when the relative duality
    gap of the least-squares program (:func:`least_squares_gap`) is: on ill-conditioned
    blocks (nearly collinear columns) the residual can take a hundred times more iterations
    than the gap. Returns ``(u, iterations, residual)``.
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
    quad = _Quadratic(Gt, bt)

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
                better = quad.point(Un)
        state["support"] = support
        state["x"] = (better or x).x
        state["res"] = group_lasso_residual(Gt, bt, state["x"], beta)
        if yy is not None:
            state["gap"] = least_squares_gap(Gt, bt, yy, state["x"], beta)
        return better

    def done() -> bool:
        return state["res"] <= tol or state.get("gap", math.inf) <= tol

    def check(k, x, F, y, grad, step_) -> bool:
        return done()

    method = ProximalGradient(max_iters=max_iters, polish_every=10, min_step=step)
    out = method.run(quad, U0, lambda x, s: prox_group_lasso(x, beta, s),
                     lambda x: 0.0, step, check, polish)
    if done():  # stopped on the residual or the gap: the point where it was computed
        return state["x"].reshape(-1).numpy().copy(), out.iterations, state["res"]
    return out.point.x.reshape(-1).numpy().copy(), out.iterations, state["res"]


# --------------------------------------------------------------------------------------------
# A better dual point: one Newton step on the active dual constraints
# --------------------------------------------------------------------------------------------
def active_dual_step(lam: torch.Tensor, norms: torch.Tensor, B: torch.Tensor, beta: float,
                     weights: torch.Tensor | None = None, ridge: float = 1e-12
                     ) -> torch.Tensor | None:
    r"""One Newton step from the dual candidate ``lam`` onto ``||A_g^T lam|| = beta``, g in S.

    With ``c_g = A_g^T lam``, ``norms`` the ``||c_g||`` and ``B`` (n x |S|) the columns
    ``A_g c_g / ||c_g||`` (the gradients of the constraint functions), the step is the
    (weighted) least-norm solution of the linearized constraints,

    .. math::

        \lambda' = \lambda - W B \, (B^T W B)^{-1} \big(\|c_S\| - \beta\big),

    ``W = diag(weights)`` (the loss' second derivatives: the metric of its conjugate; identity
    for the squared loss). Near the optimum the gradient of the dual objective lies in the span
    of ``B`` (it is ``A u* = sum_g ||u*_g|| A_g c*_g / beta``), so the dual value lost by the
    rescaling that restores feasibility becomes second order in the error of ``lam``.
    ``ridge`` times the largest diagonal entry is added to ``B^T W B``. Returns None when the
    system cannot be solved. The result is only a *candidate*: its bound is whatever the
    caller's certificate computes for it.
    """
    step = _active_dual_system(B, weights, ridge)
    return None if step is None else step(lam, norms, beta)


def _active_dual_system(B: torch.Tensor, weights: torch.Tensor | None = None,
                        ridge: float = 1e-12):
    """The step of :func:`active_dual_step` with ``B^T W B`` factored once: a function
    ``(lam, norms, beta) -> lam'`` (None where the result is not finite), or None when the
    system cannot be factored."""
    WB = B if weights is None else weights[:, None] * B
    M = B.T @ WB
    if M.numel() == 0:
        return None
    M.diagonal().add_(ridge * float(M.diagonal().max()) + 1e-300)
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        return None

    def step(lam: torch.Tensor, norms: torch.Tensor, beta: float) -> torch.Tensor | None:
        c = cholesky_apply(L, (norms - beta)[:, None])[:, 0]
        out = lam - WB @ c
        return out if bool(torch.isfinite(out).all()) else None

    return step


class DualOperator(Protocol):
    """What :class:`ActiveDualStep` needs of a group operator ``A = [A_1, ..., A_P]``."""

    n: int
    P: int
    d: int

    def adjoint(self, lam: torch.Tensor) -> torch.Tensor:
        """``[A_g^T lam]_g`` as a (P, d) tensor."""

    def directions(self, idx: torch.Tensor, N: torch.Tensor) -> torch.Tensor:
        """The columns ``A_g N_g`` (n x |idx|) for the groups ``idx`` (``N`` is (|idx|, d))."""


@dataclasses.dataclass
class ActiveDualStep:
    r"""A better dual candidate for a first-order group-lasso solver's certificate.

    Called at every iteration with the solver's dual candidate ``lam`` (a loss gradient), its
    constraint vectors ``C = A^T lam`` (which the iteration computed anyway) and the point
    ``U`` whose nonzero groups are taken as the active ones; every ``every`` iterations or
    more, returns :func:`active_dual_step` on the nonzero groups and those that violate their
    constraint, with the largest constraint norm at the new candidate (one more adjoint
    product), for the caller's monitor (which keeps the best bound; a step taken on the wrong
    groups merely gives a worse one). ``newton`` steps are taken in a row: the later ones are
    chord steps, on the first step's groups and factored ``B^T W B``, from the constraints'
    residual at the last candidate (the constraints are nonlinear; one more adjoint product
    each). The period grows so that the steps (``n |S|^2`` for ``B^T B``) cost at most
    ``share`` of the iterations (``cost_iteration`` multiply-adds each); a step whose ``B``
    would have more than ``max_entries`` entries is skipped.

    Attributes
    ----------
    every : int
        Smallest period (0: never).
    newton : int
        Steps in a row at each call. On a group lasso of 10,000 rows and 500 groups of 20
        (61 % of them nonzero) a second (chord) step took FISTA from 630 to 420 iterations to a
        certified 1e-6; a third changed nothing (BENCHMARKS.md).
    share : float
        Largest share of the work spent on the steps.
    max_entries : int
        Largest ``n |S|`` (entries of ``B``).

    A caller about to judge its progress by the certified gap (a stall rule) may ask for a
    step at once with ``due(k, within=w)``: due also when none was taken in the last ``w``
    iterations, whatever the period. Where the steps are expensive (thousands of nonzero
    groups) the period grows long, and between steps the certificate's lower bound hardly
    moves: a stall rule would read that as no progress.
    """

    every: int = 10
    newton: int = 2
    share: float = 0.15
    max_entries: int = 2**25
    calls: int = 0
    next_at: int = 0
    last: int | None = None  # iteration of the last step taken

    def due(self, k: int, within: int = 0) -> bool:
        """Whether a step is taken at iteration ``k`` (so that callers can skip preparing
        its inputs, e.g. the weights, when it is not); with ``within`` > 0, also when no
        step was taken in the last ``within`` iterations."""
        if self.every <= 0:
            return False
        if within > 0 and (self.last is None or k - self.last >= within):
            return True
        return k >= self.next_at and k % self.every == 0

    def __call__(self, k: int, op: DualOperator, lam: torch.Tensor, C: torch.Tensor,
                 U: torch.Tensor, beta: float, cost_iteration: float,
                 weights: torch.Tensor | None = None, within: int = 0
                 ) -> tuple[torch.Tensor, float] | None:
        if not self.due(k, within):
            return None
        norms = group_norms(C)
        idx = torch.nonzero((group_norms(U) > 0) | (norms > beta)).flatten()
        m = idx.numel()
        if m == 0 or op.n * m > self.max_entries:
            return None
        cost = op.n * m * (m + 2 * op.d) + self.newton * op.n * op.P * op.d
        period = max(self.every, math.ceil(cost / (self.share * max(cost_iteration, 1.0))))
        self.next_at = k + period
        self.last = k
        self.calls += 1
        N = C[idx] / torch.clamp(norms[idx], min=1e-300)[:, None]
        step = _active_dual_system(op.directions(idx, N), weights)
        if step is None:
            return None
        best = None
        for _ in range(max(self.newton, 1)):
            new = step(lam, norms[idx], beta)
            if new is None:
                break
            lam, C = new, op.adjoint(new)
            norms = group_norms(C)
            best = (new, float(norms.max()))
        return best


class LowRankGroupMetric:
    r"""A proximal-gradient metric that keeps the shape of the smooth part's largest
    curvatures, for the group lasso ``h(U) = beta sum_i ||u_i||``
    (:class:`~lift.solvers.proxgrad.Metric`).

    .. math::

        M_s = \tfrac1s \big(I + Q \operatorname{diag}(\max(\theta / \theta_r, 1) - 1)
        Q^T\big),

    with ``Q`` (orthonormal rows) spanning the few directions in which the smooth part curves
    most, ``theta`` its curvatures there and ``theta_r`` the largest of the rest (Ritz pairs of
    its Hessian bound, e.g. from :func:`~lift.solvers.linalg.top_eigenspace`). With the plain
    metric ``I / s`` the step is held at ``1 / lambda_max``; where a few eigenvalues stand far
    above the rest (a design of many overlapping groups: its "common" directions; badly
    scaled columns), ``M_s`` at ``s = 1 / theta_r`` is about as large as the Hessian bound in
    every direction. The line search still sets ``s``: where the local curvature is far
    below the global bound (a logistic loss at large margins) it grows ``s`` in every
    direction, the kept ones included, as it does the plain step. The proximal step in
    ``M_s`` has no closed form; it is the group prox at a point shifted along ``Q``, the shift
    ``lambda`` (``k`` numbers) the root of ``C Q^T (prox_{s h}(z - s Q lambda) - z) =
    lambda``, ``C = diag(max(theta / theta_r, 1) - 1) / s`` (the dual of the ``Q`` part of the
    norm), found by semismooth Newton steps on ``k x k`` systems (cost ``O(k^2 P d)``, nothing
    in the number of samples).

    ``ready`` is False until :meth:`set` gives it ``Q``; the solver then uses the plain step.
    """

    #: Newton steps on the shift at most, and their relative tolerance
    MAX_NEWTON = 30
    TOL = 1e-12
    #: a step with the kept Newton matrix (from an earlier point or call: a chord step) that
    #: does not cut the residual by this factor has the matrix rebuilt at the current point
    CHORD_RATE = 0.25

    def __init__(self, beta: float) -> None:
        self.beta = float(beta)
        self.Q: torch.Tensor | None = None  # (k, P, d)
        self.theta: torch.Tensor | None = None
        self.rest = 1.0
        self.shift: torch.Tensor | None = None  # the last lambda (the next call's start)
        self._qjq: torch.Tensor | None = None  # Q^T J Q at the last point it was built
        self.newton_steps = 0
        self.jacobians = 0

    @property
    def ready(self) -> bool:
        return self.Q is not None

    def set(self, Q: torch.Tensor, theta: torch.Tensor, rest: float) -> None:
        """Keep the Ritz vectors ``Q`` (``(k, *shape)``, orthonormal), their values ``theta``
        and ``rest`` (> 0), the largest curvature outside them."""
        if not rest > 0:
            raise ValueError(f"`rest` must be a positive curvature, got {rest!r}.")
        self.Q, self.theta, self.shift = Q, theta.to(torch.float64).cpu(), None
        self._Qf = Q.reshape(Q.shape[0], -1)
        self._qjq = None
        self.rest = float(rest)

    def to(self, dtype: torch.dtype) -> LowRankGroupMetric:
        """The same metric with ``Q`` in ``dtype``."""
        out = LowRankGroupMetric(self.beta)
        if self.Q is not None:
            out.set(self.Q.to(dtype), self.theta, self.rest)
        return out

    def _theta(self, s: float) -> torch.Tensor:
        """``M_s``'s curvatures along ``Q``."""
        return (self.theta / self.rest).clamp(min=1.0) / s

    def _coef(self, V: torch.Tensor) -> torch.Tensor:
        return (self._Qf @ V.reshape(-1)).to(torch.float64).cpu()

    def _span(self, c: torch.Tensor) -> torch.Tensor:
        Q = self.Q
        return (c.to(Q.dtype).to(Q.device) @ self._Qf).reshape(Q.shape[1:])

    def direction(self, G: torch.Tensor, s: float) -> torch.Tensor:
        c = self._coef(G)
        return s * G + self._span(c * (1.0 / self._theta(s) - s))

    def quad(self, v: torch.Tensor, s: float) -> float:
        c = self._coef(v)
        return (float((v * v).sum()) - float(c @ c)) / s + float((self._theta(s) * c * c).sum())

    def _newton_matrix(self, V: torch.Tensor, c: float) -> torch.Tensor:
        """``Q^T J Q`` (``k x k``, float64), ``J`` the group prox's Jacobian at ``V`` with
        threshold ``c``: on a group with ``r = ||v|| > c``, ``a I + (1 - a) u u^T`` (``u = v /
        r``, ``a = 1 - c / r``); zero elsewhere (in the iterates' precision, no gather: ``a =
        0`` and ``u = 0`` off the support). Cost ``O(k^2 P d)``: the prox's largest."""
        k = self.Q.shape[0]
        r = group_norms(V).clamp(min=c)
        on = (r > c).to(V.dtype)
        a = 1.0 - c / r
        u = V * (on / r)[:, None]
        p = (self.Q * u).sum(-1)  # (k, P)
        QJQ = (self.Q * a[:, None]).reshape(k, -1) @ self._Qf.T + (p * on * (1.0 - a)) @ p.T
        self.jacobians += 1
        return QJQ.to(torch.float64).cpu()

    def prox(self, Z: torch.Tensor, s: float) -> torch.Tensor:
        C = self._theta(s) - 1.0 / s
        k = C.numel()
        lam = self.shift if self.shift is not None else torch.zeros(k, dtype=torch.float64)
        c = s * self.beta
        # the root's accuracy: rounding in Z's precision, which C amplifies (float32
        # iterates: C Q^T (U - Z) is known to about eps C ||Z||); Newton steps that no longer
        # halve the residual have reached that floor
        tol = max(self.TOL, 100.0 * torch.finfo(Z.dtype).eps)
        floor = 10.0 * torch.finfo(Z.dtype).eps * float(C.max()) * float(Z.norm())
        best = None
        last = None
        eye = torch.eye(k, dtype=torch.float64)
        for _ in range(self.MAX_NEWTON):
            V = Z - s * self._span(lam)
            U = prox_group_lasso(V, self.beta, s)
            step = C * self._coef(U - Z)
            F = step - lam
            err = float(F.norm())
            if best is not None and err > 0.5 * best[0] and err <= 1e3 * floor:
                break
            if best is None or err < best[0]:
                best = (err, U, lam)
            if err <= max(tol * max(float(lam.norm()), float(step.norm())), floor):
                break
            # F'(lam) = -s C Q^T J Q - I. The matrix Q^T J Q is kept from the last point it
            # was built at (this call's or an earlier one's: between the iterations of the
            # solver the support and the group norms move little) while its steps cut the
            # residual by CHORD_RATE; else it is rebuilt here (a semismooth Newton step)
            if self._qjq is None or (last is not None and err > self.CHORD_RATE * last):
                self._qjq = self._newton_matrix(V, c)
            last = err
            Jac = -s * C[:, None] * self._qjq - eye
            lam = lam - torch.linalg.solve(Jac, F)
            self.newton_steps += 1
        self.shift = best[2]
        return best[1]
