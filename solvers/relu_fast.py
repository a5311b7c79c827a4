r"""Matrix-free first-order solvers in torch for the convex ReLU lifts.

Two solvers, registered for ``lifted.solve``:

``"fista"`` — the gated program (group lasso over the patterns)

.. math::

    \min_{U} \; L\Big(\sum_i D_i \tilde X u_i,\; y\Big) + \beta \sum_i \|u_i\|_2,

by accelerated proximal gradient (FISTA) with a backtracking line search whose step also grows
between iterations, and adaptive (gradient-mapping) restarts of the momentum. Once the active
groups have settled, Newton steps on them (where the objective is smooth) are tried and kept
only if they lower the objective: a certified gap of 1e-6 needs a primal point accurate to
about 1e-12 (the dual point is a gradient, whose error is the square root of the primal one),
which proximal gradient reaches slowly and Newton in a few steps.

``"al"`` — the cone-constrained ReLU program

.. math::

    \min_{V, W} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
    + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad \text{s.t.} \quad (2D_i - I)\tilde X v_i \ge 0,\; (2D_i - I)\tilde X w_i \ge 0,

by the method of multipliers (augmented Lagrangian): each outer step minimizes
``L + beta sum norms + 1/(2 rho) sum ||(mu_i - rho (2D_i - I) Xa v_i)_+||^2`` (and the same
for ``w_i`` with ``nu_i``) with the FISTA above, then sets ``mu_i <- (mu_i - rho (2D_i - I)
Xa v_i)_+``. An augmented Lagrangian was chosen over ADMM because every operation stays a
product with ``Xa``, ``D`` or their transposes (no linear systems of size ``P (d+1)`` to factor,
no ``n x P`` splitting variables beyond the multipliers), the inner problems reuse the gated
solver and warm-start each other, and the inner gradient *is* the dual certificate: its rows are
``Xa^T (D_i lambda - (2D_i - I) mu_i)`` with ``lambda = grad L``, so the stopping test costs
nothing extra.

Both stop on a **certified relative duality gap**: the primal value is the objective of the
ReLU (or gated) network recovered from the current iterate, the dual value is
``-L^*(t lambda)`` with ``lambda`` the loss gradient at the extrapolated point, its multipliers
as above, and ``t <= beta / max_i norm_i`` so that ``t lambda`` is dual feasible.

Everything is matrix-free: ``sum_i D_i Xa u_i = rowsum((D U) * Xa)`` and
``[Xa^T D_i r]_i = D^T (r * Xa)``; the cone terms need ``Xa V^T`` (n x P), computed in row
chunks. Memory is ``O(nP + Pd + nd)``; the ``n x P x d`` blocks are never formed (the Newton
polish forms the blocks of the *active* patterns only, and only up to 2^26 entries).

References
----------
A. Beck and M. Teboulle. A fast iterative shrinkage-thresholding algorithm for linear inverse
problems. SIAM J. Imaging Sciences, 2009.
B. O'Donoghue and E. Candès. Adaptive restart for accelerated gradient schemes. Found.
Comput. Math., 2015.
A. Mishkin, A. Sahiner and M. Pilanci. Fast convex optimization for two-layer ReLU networks:
equivalent model classes and cone decompositions. ICML 2022.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lift.base import SolverResult
from lift.errors import ConvergenceWarning, check_choice, check_int, check_positive
from lift.solvers import register_solver, resolve_device
from lift.solvers.prox import group_norms, prox_group_lasso

__all__ = [
    "PatternOperator",
    "TorchLoss",
    "fista",
    "GatedFISTA",
    "ConeAugmentedLagrangian",
]

#: entries of an ``n x P`` chunk processed at once by the cone terms (~128 MiB in float64)
CHUNK_ENTRIES = 2**24
#: below this many multiply-adds per product (n P d), the solvers run on one thread
SMALL_WORK = 200_000_000


def _dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    return {"float64": torch.float64, "float32": torch.float32}[
        check_choice(dtype, "dtype", ["float64", "float32"])]


# --------------------------------------------------------------------------------------------
# Losses in torch: value, gradient and the best scaled dual value
# --------------------------------------------------------------------------------------------
class TorchLoss:
    r"""A smooth separable loss ``L(z) = sum_k l(z_k; y_k)`` in torch, with its dual value.

    :meth:`dual_value` returns ``max_{0 <= t <= tmax} -L^*(t lambda)``: by weak duality a lower
    bound on the program whenever ``t lambda`` is dual feasible for every ``t <= tmax``.
    """

    def __init__(self, name: str, y: torch.Tensor) -> None:
        self.name = check_choice(name, "loss", ["squared", "logistic"])
        self.y = y

    def value(self, z: torch.Tensor, sl: slice | None = None) -> torch.Tensor:
        y = self.y if sl is None else self.y[sl]
        if self.name == "squared":
            return 0.5 * torch.sum((z - y) ** 2)
        return torch.nn.functional.softplus(-y * z).sum()

    def grad(self, z: torch.Tensor, sl: slice | None = None) -> torch.Tensor:
        y = self.y if sl is None else self.y[sl]
        if self.name == "squared":
            return z - y
        return -y * torch.sigmoid(-y * z)

    def hess(self, z: torch.Tensor) -> torch.Tensor:
        """Second derivatives ``l''(z_k; y_k)``."""
        if self.name == "squared":
            return torch.ones_like(z)
        s = torch.sigmoid(-self.y * z)
        return s * (1 - s)

    def curvature(self) -> float:
        """An upper bound on the second derivative of ``l``."""
        return 1.0 if self.name == "squared" else 0.25

    def dual_value(self, lam: torch.Tensor, tmax: float) -> tuple[float, float]:
        """``(max_{0 <= t <= tmax} -L^*(t lam), argmax)``."""
        y = self.y
        if self.name == "squared":
            # -L^*(t lam) = -t lam.y - t^2 |lam|^2 / 2, a concave parabola in t
            ly = float(lam @ y)
            ll = float(lam @ lam)
            t = 0.0 if ll == 0.0 else min(max(-ly / ll, 0.0), tmax)
            return -t * ly - 0.5 * t * t * ll, t
        s = -lam * y  # in [0, 1] for logistic gradients
        smax = float(s.max()) if s.numel() else 0.0
        if float(s.min()) < 0:
            return 0.0, 0.0
        hi = tmax if smax <= 0 else min(tmax, 1.0 / smax)

        def f(t: float) -> float:
            ts = t * s
            return -float(torch.special.xlogy(ts, ts).sum()
                          + torch.special.xlogy(1 - ts, 1 - ts).sum())

        # concave in t: golden-section search on [0, hi]
        lo_, hi_ = 0.0, hi
        g = (math.sqrt(5) - 1) / 2
        a, b = hi_ - g * (hi_ - lo_), lo_ + g * (hi_ - lo_)
        fa, fb = f(a), f(b)
        for _ in range(60):
            if fa < fb:
                lo_, a, fa = a, b, fb
                b = lo_ + g * (hi_ - lo_)
                fb = f(b)
            else:
                hi_, b, fb = b, a, fa
                a = hi_ - g * (hi_ - lo_)
                fa = f(a)
        best_t, best = max(((t, f(t)) for t in (0.0, a, b, hi)), key=lambda p: p[1])
        return best, best_t


# --------------------------------------------------------------------------------------------
# The operator [D_1 Xa, ..., D_P Xa]
# --------------------------------------------------------------------------------------------
def _row_slices(n: int, P: int) -> list[slice]:
    """Row chunks of an ``n x P`` array with at most ``CHUNK_ENTRIES`` entries each."""
    rows = max(1, CHUNK_ENTRIES // max(P, 1))
    return [slice(s, min(s + rows, n)) for s in range(0, n, rows)]


class PatternOperator:
    r"""Matrix-free products with ``A = [D_1 \tilde X, \dots, D_P \tilde X]`` (n x P(d+1)).

    Stores ``Xa`` (n x d), ``D`` as 0/1 floats and as booleans (n x P); never the blocks.
    """

    def __init__(self, Xa: np.ndarray, D: np.ndarray, device: Any = None,
                 dtype: torch.dtype = torch.float64) -> None:
        self.device = resolve_device(device)
        self.dtype = dtype
        self.Xa = torch.as_tensor(np.ascontiguousarray(Xa), dtype=dtype, device=self.device)
        self.Db = torch.as_tensor(np.ascontiguousarray(D), dtype=torch.bool, device=self.device)
        self.D = self.Db.to(dtype)
        self.n, self.d = self.Xa.shape
        self.P = self.D.shape[1]
        self.chunks = _row_slices(self.n, self.P)

    def restrict(self, idx: torch.Tensor) -> PatternOperator:
        """The operator of the patterns ``idx`` only (shares ``Xa``; copies those columns)."""
        sub = PatternOperator.__new__(PatternOperator)
        sub.device, sub.dtype, sub.Xa = self.device, self.dtype, self.Xa
        sub.Db = self.Db[:, idx]
        sub.D = self.D[:, idx]
        sub.n, sub.d, sub.P = self.n, self.d, int(idx.numel())
        sub.chunks = _row_slices(sub.n, sub.P)
        return sub

    def blocks(self, idx: torch.Tensor, sl: slice, signs: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Rows ``sl`` of ``[s_1 D_{i_1} Xa, ..., s_m D_{i_m} Xa]`` for the patterns ``idx``
        (shape ``(rows, m d)``); ``signs`` (+-1 per block) default to +1. Only ever called on
        the few patterns of a working set."""
        Dc = self.D[sl][:, idx]
        if signs is not None:
            Dc = Dc * signs
        return (Dc[:, :, None] * self.Xa[sl][:, None, :]).reshape(Dc.shape[0], -1)

    def forward(self, U: torch.Tensor) -> torch.Tensor:
        """``sum_i D_i Xa u_i`` for ``U`` of shape (P, d): one (n x P)(P x d) product."""
        return ((self.D @ U) * self.Xa).sum(1)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``[Xa^T D_i r]_i`` as a (P, d) tensor: one (P x n)(n x d) product."""
        return self.D.T @ (r[:, None] * self.Xa)

    def lipschitz(self, iters: int = 20, seed: int = 0) -> float:
        """An estimate of ``||A||_2^2`` by power iteration (used for the first step)."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        U = torch.randn(self.P, self.d, generator=gen, dtype=self.dtype).to(self.device)
        est = 1.0
        for _ in range(iters):
            U = U / torch.linalg.vector_norm(U).clamp_min(1e-300)
            U = self.adjoint(self.forward(U))
            est = float(torch.linalg.vector_norm(U))
        return max(est, 1e-12)


# --------------------------------------------------------------------------------------------
# FISTA with line search and restarts, on an abstract smooth part + group lasso
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Point:
    """An iterate ``U`` with what the oracle computed there (smooth value ``f``, ...)."""

    U: torch.Tensor
    f: float | None = None
    cache: dict = dataclasses.field(default_factory=dict)


def fista(oracle, U0: torch.Tensor, beta: float, step: float, max_iters: int,
          check: Callable[[int, Point, float, Point, torch.Tensor, float], bool],
          growth: float = 1.25, shrink: float = 0.5,
          polish: Callable[[Point, float], Point | None] | None = None,
          polish_every: int = 10) -> tuple[Point, float, int, float]:
    r"""Accelerated proximal gradient for ``min_U f(U) + beta sum_i ||u_i||``.

    .. math::

        \min_U \; f(U) + \beta \sum_i \|u_i\|_2

    ``oracle`` provides ``point(U) -> Point`` (with ``f``), ``gradient(p) -> G`` (setting
    ``p.f``) and ``extrapolate(x_new, x_old, m) -> Point`` at ``x_new + m (x_new - x_old)``.
    Each iteration takes a proximal step from the extrapolated point with a backtracking line
    search on the quadratic upper bound; the step grows by ``growth`` after every accepted
    step. Momentum restarts when the step and the last move point apart (O'Donoghue & Candès).
    ``check(k, x, F(x), y, grad f(y), step)`` is called after each iteration; True stops.
    ``polish(x, F(x))``, called every ``polish_every`` iterations, may return a better point
    (e.g. a Newton step on the active groups); the iteration continues from it, momentum reset.

    Returns ``(x, F(x), iterations, step)``.
    """
    x = oracle.point(U0)
    Fx = x.f + beta * float(group_norms(x.U).sum())
    y, t = x, 1.0
    k = 0
    for k in range(1, max_iters + 1):
        G = oracle.gradient(y)
        fy = y.f
        for _ in range(60):
            Unew = prox_group_lasso(y.U - step * G, beta, step)
            diff = Unew - y.U
            xn = oracle.point(Unew)
            bound = fy + float((G * diff).sum()) + float((diff * diff).sum()) / (2 * step)
            if xn.f <= bound + 1e-13 * max(abs(fy), 1.0):
                break
            step *= shrink
        Fn = xn.f + beta * float(group_norms(Unew).sum())
        if check(k, xn, Fn, y, G, step):
            return xn, Fn, k, step
        if float(((y.U - Unew) * (Unew - x.U)).sum()) > 0:  # gradient-mapping restart
            y, t = xn, 1.0
        else:
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            y = oracle.extrapolate(xn, x, (t - 1) / t_new)
            t = t_new
        x, Fx = xn, Fn
        step *= growth
        if polish is not None and k % polish_every == 0:
            better = polish(x, Fx)
            if better is not None:
                x = y = better
                Fx = better.f + beta * float(group_norms(better.U).sum())
                t = 1.0
    return x, Fx, k, step


class _GatedOracle:
    """Smooth part ``f(U) = L(A U)`` of the gated program; caches ``z = A U``."""

    def __init__(self, op: PatternOperator, loss: TorchLoss) -> None:
        self.op, self.loss = op, loss

    def point(self, U: torch.Tensor) -> Point:
        z = self.op.forward(U)
        return Point(U, float(self.loss.value(z)), {"z": z})

    def extrapolate(self, xn: Point, xo: Point, m: float) -> Point:
        U = xn.U + m * (xn.U - xo.U)
        z = xn.cache["z"] + m * (xn.cache["z"] - xo.cache["z"])  # A is linear
        return Point(U, float(self.loss.value(z)), {"z": z})

    def gradient(self, p: Point) -> torch.Tensor:
        lam = self.loss.grad(p.cache["z"])
        p.cache["lam"] = lam
        return self.op.adjoint(lam)


class _ConeOracle:
    r"""Smooth part of the augmented Lagrangian of the cone program, ``U = [V; W]`` (2P, d).

    .. math::

        f(V, W) = L\Big(\sum_i D_i Xa (v_i - w_i)\Big)
        + \frac{1}{2\rho} \sum_i \|(\mu_i - \rho S_i Xa v_i)_+\|^2
        + \frac{1}{2\rho} \sum_i \|(\nu_i - \rho S_i Xa w_i)_+\|^2,
        \qquad S_i = 2 D_i - I.

    Also tracks ``L(z_net)``, the loss of the ReLU network ``sum_i (Xa v_i)_+ - (Xa w_i)_+``
    recovered from the point (the certified primal value).
    """

    def __init__(self, op: PatternOperator, loss: TorchLoss, rho: float) -> None:
        self.op, self.loss, self.rho = op, loss, rho
        shape = (op.n, op.P)
        self.mu = torch.zeros(shape, dtype=op.dtype, device=op.device)
        self.nu = torch.zeros(shape, dtype=op.dtype, device=op.device)
        self.mult_sq = 0.0  # ||mu||^2 + ||nu||^2, a constant of each inner problem

    def _pass(self, U: torch.Tensor, grad: bool, update: bool = False):
        op, loss, rho = self.op, self.loss, self.rho
        P = op.P
        V, W = U[:P], U[P:]
        pen = 0.0
        fnet = 0.0
        fprog = 0.0
        G = torch.zeros_like(U) if grad else None
        lam = torch.empty(op.n, dtype=op.dtype, device=op.device) if grad else None
        lowest, scale = 0.0, 0.0
        for sl in op.chunks:
            Xc, Db = op.Xa[sl], op.Db[sl]
            XV, XW = Xc @ V.T, Xc @ W.T
            # predictions of the program and of the recovered ReLU network
            z = (op.D[sl] * (XV - XW)).sum(1)
            znet = torch.relu(XV).sum(1) - torch.relu(XW).sum(1)
            fprog += float(loss.value(z, sl))
            fnet += float(loss.value(znet, sl))
            scale = max(scale, float(z.abs().max()))
            # cone constraint values S_i Xa v_i, then the multiplier estimates
            cv = torch.where(Db, XV, -XV)
            cw = torch.where(Db, XW, -XW)
            lowest = min(lowest, float(cv.min()), float(cw.min()))
            mv = torch.relu(cv.mul_(-rho).add_(self.mu[sl]))
            mw = torch.relu(cw.mul_(-rho).add_(self.nu[sl]))
            del XV, XW, cv, cw
            pen += float(torch.linalg.vector_norm(mv) ** 2 + torch.linalg.vector_norm(mw) ** 2)
            if update:
                self.mu[sl] = mv
                self.nu[sl] = mw
            if grad:
                r = loss.grad(z, sl)
                lam[sl] = r
                rc = r[:, None]
                G[:P] += torch.where(Db, rc - mv, mv).T @ Xc
                G[P:] += torch.where(Db, -rc - mw, mw).T @ Xc
        f = fprog + (pen - self.mult_sq) / (2 * rho)
        if update:
            self.mult_sq = self._mult_sq()
        return f, (fnet, fprog), G, lam, -lowest / max(scale, 1e-12)

    def _mult_sq(self) -> float:
        return float(torch.linalg.vector_norm(self.mu) ** 2
                     + torch.linalg.vector_norm(self.nu) ** 2)

    def point(self, U: torch.Tensor) -> Point:
        f, (fnet, fprog), _, _, viol = self._pass(U, grad=False)
        return Point(U, f, {"fnet": fnet, "fprog": fprog, "viol": viol})

    def extrapolate(self, xn: Point, xo: Point, m: float) -> Point:
        return Point(xn.U + m * (xn.U - xo.U))

    def gradient(self, p: Point) -> torch.Tensor:
        f, (fnet, fprog), G, lam, _ = self._pass(p.U, grad=True)
        p.f = f
        p.cache.update(fnet=fnet, fprog=fprog, lam=lam)
        return G

    def update_multipliers(self, U: torch.Tensor) -> float:
        """``mu <- (mu - rho S Xa v)_+`` (same for ``nu``); returns the largest violation
        relative to the largest prediction."""
        return self._pass(U, grad=False, update=True)[4]

    def dual_at(self, U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(lam, mu, nu)`` at ``U``: the loss gradient at the program's predictions and the
        multiplier estimates ``(mu - rho S Xa v)_+``, ``(nu - rho S Xa w)_+`` (new tensors).

        The rows of the gradient at ``U`` are the dual constraint vectors of this triple."""
        op, rho = self.op, self.rho
        V, W = U[:op.P], U[op.P:]
        mu, nu = torch.empty_like(self.mu), torch.empty_like(self.nu)
        lam = torch.empty(op.n, dtype=op.dtype, device=op.device)
        for sl in op.chunks:
            Xc, Db = op.Xa[sl], op.Db[sl]
            XV, XW = Xc @ V.T, Xc @ W.T
            lam[sl] = self.loss.grad((op.D[sl] * (XV - XW)).sum(1), sl)
            mu[sl] = torch.relu(self.mu[sl] - rho * torch.where(Db, XV, -XV))
            nu[sl] = torch.relu(self.nu[sl] - rho * torch.where(Db, XW, -XW))
        return lam, mu, nu


# --------------------------------------------------------------------------------------------
# Newton polish on the active groups
# --------------------------------------------------------------------------------------------
class _NewtonPolish:
    r"""Newton steps on the groups that are nonzero, where the objective is smooth.

    .. math::

        \min_{u_S} \; L\Big(\sum_{i \in S} D_i \tilde X u_i\Big) + \beta \sum_{i \in S}
        \|u_i\|_2, \qquad u_i \ne 0,

    with gradient ``A_S^T lam + beta u_i / ||u_i||`` and Hessian
    ``A_S^T diag(l'') A_S + beta (I - u_i u_i^T / ||u_i||^2) / ||u_i||`` (block diagonal).
    Proximal-gradient methods identify the active groups long before they reach the 1e-12
    primal accuracy that a 1e-6 *certified* gap needs (the dual point is a gradient: its error
    is the square root of the primal one); Newton converges quadratically from there. Used only
    when the active set has settled and ``A_S`` (n x |S| d, the blocks of the active patterns
    only) fits in ``max_entries``; a step is kept only if it lowers the objective, so the method
    stays a descent method and the certificate remains the judge.
    """

    def __init__(self, op: PatternOperator, loss: TorchLoss, beta: float,
                 max_entries: int = 2**26, max_size: int = 2_500, slack: float = 0.01) -> None:
        self.op, self.loss, self.beta, self.slack = op, loss, beta, slack
        self.max_entries, self.max_size = max_entries, max_size
        self.last_support: torch.Tensor | None = None
        self.calls = self.accepted = self.wait = 0

    def __call__(self, x: Point, Fx: float) -> Point | None:
        op, loss, beta = self.op, self.loss, self.beta
        norms = group_norms(x.U)
        # groups that stay nonzero at the optimum have ||A_i^T lam|| = beta there; nonzero
        # groups well below it are on their way to zero and are left out
        dual_norms = group_norms(op.adjoint(loss.grad(x.cache["z"])))
        support = torch.nonzero((norms > 0) & (dual_norms >= (1 - self.slack) * beta)).flatten()
        stable = (self.last_support is not None and support.numel() == self.last_support.numel()
                  and bool(torch.equal(support, self.last_support)))
        self.last_support = support
        k, d = support.numel(), op.d
        kd = k * d
        # worth it when a Newton step costs less than a few hundred proximal-gradient iterations
        # (dense products run far faster per flop than the thin pattern products)
        cost = kd**3 / 3 + op.n * kd**2
        if (not stable or k == 0 or kd > self.max_size or op.n * kd > self.max_entries
                or cost > 1000 * 2 * op.n * op.P * d):
            return None
        if self.wait > 0:  # after each attempt, wait twice as long for the next one
            self.wait -= 1
            return None
        self.calls += 1
        self.wait = 2**self.calls - 1
        A = (op.D[:, support].T[:, :, None] * op.Xa[None]).permute(1, 0, 2).reshape(op.n, k * d)
        U = x.U[support].clone()
        best, bestF = None, Fx
        H_data = A.T @ A if loss.name == "squared" else None  # constant for the squared loss
        prevF = Fx
        for _ in range(6):
            z = A @ U.reshape(-1)
            lam = loss.grad(z)
            nu = group_norms(U)
            if bool((nu <= 0).any()):
                break
            Un = U / nu[:, None]
            g = (A.T @ lam).reshape(k, d) + beta * Un
            H = H_data.clone() if H_data is not None else A.T @ (loss.hess(z)[:, None] * A)
            eye = torch.eye(d, dtype=U.dtype, device=U.device)
            blocks = beta * (eye[None] - Un[:, :, None] * Un[:, None, :]) / nu[:, None, None]
            H = H + torch.block_diag(*blocks)
            H.diagonal().add_(1e-12 * float(H.diagonal().abs().max()))
            try:
                delta = torch.linalg.solve(H, g.reshape(-1)).reshape(k, d)
            except RuntimeError:
                break
            # backtracking on the full objective (the other groups stay at zero)
            a, improved = 1.0, False
            for _ in range(20):
                Ut = U - a * delta
                Ft = float(loss.value(A @ Ut.reshape(-1))) + beta * float(group_norms(Ut).sum())
                if Ft < bestF:
                    U, bestF, improved = Ut, Ft, True
                    break
                a *= 0.5
            if not improved:
                break
            gain, prevF = prevF - bestF, bestF
            best = U
            if gain <= 1e-15 * abs(bestF) or float(torch.linalg.vector_norm(a * delta)) <= \
                    1e-13 * float(torch.linalg.vector_norm(U)):
                break
        if best is None:
            return None
        self.accepted += 1
        Ufull = torch.zeros_like(x.U)
        Ufull[support] = best
        z = op.forward(Ufull)
        return Point(Ufull, float(loss.value(z)), {"z": z})


# --------------------------------------------------------------------------------------------
# The solvers
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Monitor:
    """Certified gap bookkeeping shared by the solvers."""

    loss: TorchLoss
    beta: float
    tol: float
    verbose: bool = False
    every: int = 1
    best_lower: float = -math.inf
    best_lam: torch.Tensor | None = None
    upper: float = math.inf
    rel_gap: float = math.inf
    done: bool = False
    history: list = dataclasses.field(default_factory=list)

    def dual(self, lam: torch.Tensor, G: torch.Tensor | None = None,
             norm_max: float | None = None) -> float:
        """Lower bound from ``lam`` scaled to dual feasibility: ``G`` holds the dual
        constraint vectors as rows (or ``norm_max`` is their largest norm)."""
        if norm_max is None:
            norm_max = float(group_norms(G).max()) if G.numel() else 0.0
        m = norm_max
        tmax = math.inf if m == 0 else self.beta / m
        value, t = self.loss.dual_value(lam, min(tmax, 1e6))
        if value > self.best_lower:
            self.best_lower, self.best_lam = value, t * lam
        return value

    def record(self, k: int, upper: float, t0: float, keep_best: bool = True) -> bool:
        self.upper = min(self.upper, upper) if keep_best else upper
        self.rel_gap = max(self.upper - self.best_lower, 0.0) / max(abs(self.upper), 1e-12)
        self.done = self.rel_gap <= self.tol
        self.history.append((time.perf_counter() - t0, k, self.upper, self.best_lower))
        if self.verbose and (k % 50 == 0 or self.rel_gap <= self.tol):
            print(f"  iter {k:6d}  upper {self.upper:.10e}  lower {self.best_lower:.10e}  "
                  f"rel gap {self.rel_gap:.2e}")
        return self.rel_gap <= self.tol


class _threads:
    """Run with ``k`` intra-op torch threads, restoring the previous count afterwards.

    Small products are much faster on one thread (no synchronisation, no spinning when other
    processes hold the cores); large ones use every thread torch was configured with.
    """

    def __init__(self, k: int | None) -> None:
        self.k = k

    def __enter__(self):
        self.prev = torch.get_num_threads()
        if self.k is not None and self.k != self.prev:
            torch.set_num_threads(self.k)
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)
        return False


def _thread_count(lifted, threads: int | None) -> int | None:
    if threads is not None:
        return check_int(threads, "threads", minimum=1)
    n, d = lifted.problem.Xa.shape
    return 1 if n * lifted.P * d < SMALL_WORK else None


def _setup(lifted, device, dtype):
    prob = lifted.problem
    op = PatternOperator(prob.Xa, lifted.D, device=device, dtype=_dtype(dtype))
    loss = TorchLoss(prob.loss.name, torch.as_tensor(prob.y, dtype=op.dtype, device=op.device))
    return prob, op, loss


def _warm_point(warm_start: dict | None, op: PatternOperator, cone: bool) -> torch.Tensor:
    """The starting point ``V`` (gated) or ``[V; W]`` (cone) from a warm start, else zeros."""
    ws = warm_start or {}
    return torch.cat([_warm(ws.get(k), (op.P, op.d), op, f"warm_start['{k}']")
                      for k in (("V", "W") if cone else ("V",))])


def _warm(U0: Any, shape: tuple[int, int], op: PatternOperator, name: str) -> torch.Tensor:
    if U0 is None:
        return torch.zeros(shape, dtype=op.dtype, device=op.device)
    U = torch.as_tensor(np.asarray(U0, dtype=np.float64), dtype=op.dtype, device=op.device)
    if tuple(U.shape) != shape:
        raise ValueError(f"`{name}` must have shape {shape} (patterns x (d + bias)), "
                         f"got {tuple(U.shape)}.")
    return U.clone()


def _finish_run(status: str, t0: float, iters: int, msg: str, info: dict, primal: dict,
                mon: _Monitor, name: str) -> dict:
    if status != "optimal":
        warnings.warn(
            f"{name} did not converge in {iters} iterations: certified relative duality gap "
            f"{mon.rel_gap:.2e}, tolerance {mon.tol:.1e}. Increase max_iters or the tolerance.",
            ConvergenceWarning, stacklevel=4)
    info.update(rel_gap=mon.rel_gap, upper=mon.upper, lower=mon.best_lower,
                history=mon.history)
    if mon.best_lam is not None:
        primal["dual"] = mon.best_lam.detach().cpu().numpy()
    warm = {"V": primal["V"], "W": primal.get("W")}
    if primal.get("multipliers") is not None:
        warm["mu"], warm["nu"] = primal["multipliers"]
    return SolverResult(primal=primal, status=status, time=time.perf_counter() - t0,
                        iterations=iters, message=msg, info=info, warm_start=warm)


@dataclasses.dataclass
class _TorchSolver:
    """Settings shared by the torch solvers (documented on each) and their ``run``."""

    device: Any = None
    dtype: Any = "float64"
    growth: float = 1.25
    shrink: float = 0.5
    threads: int | None = None

    def run(self, lifted, tol: float = 1e-6, verbose: bool = False,
            warm_start: dict | None = None) -> dict:
        """Solve ``lifted``; returns the registry's result dictionary."""
        with _threads(_thread_count(lifted, self.threads)):
            return self._run(lifted, tol, verbose, warm_start)

    def _run(self, lifted, tol: float, verbose: bool, warm_start: dict | None) -> dict:
        raise NotImplementedError


@dataclasses.dataclass
class GatedFISTA(_TorchSolver):
    r"""FISTA with line search and restarts for the gated ReLU program.

    .. math::

        \min_{U} \; L\Big(\sum_i D_i \tilde X u_i,\; y\Big) + \beta \sum_i \|u_i\|_2

    Attributes
    ----------
    max_iters : int
        Iteration budget.
    newton : bool
        Every 10 iterations, once the active groups have settled, try Newton steps on them
        (kept only if they lower the objective); see :class:`_NewtonPolish`.
    device : str or None
        torch device (default: CUDA when available, else CPU).
    dtype : {"float64", "float32"}
    growth, shrink : float
        Step growth after each accepted step and backtracking factor.
    threads : int or None
        torch intra-op threads during the solve (default: one for small programs, torch's
        setting otherwise); restored afterwards.
    """

    max_iters: int = 10_000
    newton: bool = True

    def _run(self, lifted, tol: float, verbose: bool, warm_start: dict | None) -> dict:
        t0 = time.perf_counter()
        prob, op, loss = _setup(lifted, self.device, self.dtype)
        beta = prob.beta
        U0 = _warm_point(warm_start, op, cone=False)
        step = 1.0 / (loss.curvature() * op.lipschitz())
        mon = _Monitor(loss, beta, tol, verbose)

        def check(k, x, Fx, y, G, step):
            mon.dual(y.cache["lam"], G)
            return mon.record(k, Fx, t0)

        polish = _NewtonPolish(op, loss, beta) if self.newton else None
        x, Fx, k, step = fista(_GatedOracle(op, loss), U0, beta, step, self.max_iters, check,
                               self.growth, self.shrink, polish=polish)
        ok = mon.done
        status = "optimal" if ok else "max_iters"
        msg = (f"certified relative duality gap {mon.rel_gap:.2e} "
               f"{'<=' if ok else '>'} tolerance {tol:.1e} after {k} iterations")
        primal = {"V": x.U.detach().cpu().numpy().astype(np.float64), "W": None}
        info = {"step": step, "device": str(op.device)}
        if polish is not None:
            info.update(newton_calls=polish.calls, newton_accepted=polish.accepted)
        return _finish_run(status, t0, k, msg, info, primal, mon, "fista")


@dataclasses.dataclass
class ConeAugmentedLagrangian(_TorchSolver):
    r"""Method of multipliers with FISTA inner solves for the cone-constrained ReLU program.

    .. math::

        \min_{V, W} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
        + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
        \quad \text{s.t.} \quad (2D_i - I)\tilde X v_i \ge 0,\; (2D_i - I)\tilde X w_i \ge 0

    Attributes
    ----------
    max_iters : int
        Budget of inner (FISTA) iterations over all outer steps.
    rho : float or None
        Initial penalty parameter (default: ``||A||^2 / ||Xa||^2`` times the loss curvature,
        the largest value that leaves the inner step size within a factor of two).
    inner_tol, inner_decay : float
        The k-th inner solve stops when its gradient mapping, relative to ``beta``, is below
        ``inner_tol * inner_decay**k`` (at least ``tol / 10``).
    max_inner : int
        Inner iterations per multiplier update at most.
    decrease, increase : float
        ``rho`` is multiplied by ``increase`` when a multiplier update did not shrink the
        largest constraint violation by the factor ``decrease``.
    device, dtype, growth, shrink, threads
        As for :class:`GatedFISTA`.
    """

    max_iters: int = 20_000
    rho: float | None = None
    inner_tol: float = 0.1
    inner_decay: float = 0.3
    max_inner: int = 2_000
    decrease: float = 0.5
    increase: float = 2.0

    def _run(self, lifted, tol: float, verbose: bool, warm_start: dict | None) -> dict:
        t0 = time.perf_counter()
        prob, op, loss = _setup(lifted, self.device, self.dtype)
        beta = prob.beta
        ws = warm_start or {}
        U = _warm_point(ws, op, cone=True)
        lip_data = loss.curvature() * op.lipschitz()
        lip_x = float(torch.linalg.matrix_norm(op.Xa, ord=2)) ** 2
        # the penalty on one block has curvature rho ||Xa||^2, the data term ||A||^2 (about P
        # times more): rho up to their ratio costs the step size at most a factor of two
        rho0 = float(self.rho) if self.rho is not None else lip_data / lip_x
        oracle = _ConeOracle(op, loss, rho0)
        for key, target in (("mu", oracle.mu), ("nu", oracle.nu)):
            if ws.get(key) is not None:
                target.copy_(torch.as_tensor(np.asarray(ws[key]), dtype=op.dtype))
        oracle.mult_sq = oracle._mult_sq()
        step = 1.0 / (lip_data + rho0 * lip_x)
        mon = _Monitor(loss, beta, tol, verbose)
        exact = bool(getattr(lifted, "exact", False))
        total, outer = 0, 0
        prev_viol = None
        inner = {"eps": self.inner_tol}

        def check(k, x, Fx, y, G, step_):
            nonlocal total
            total += 1
            mon.dual(y.cache["lam"], G)
            reg = Fx - x.f
            if exact:
                # the recovered network is feasible for the all-pattern program: its
                # objective is a certified upper bound whatever the violation
                done = mon.record(total, x.cache["fnet"] + reg, t0)
            else:
                # a sampled program needs a feasible point: the current one, once its
                # constraint violation is below the tolerance
                upper = max(x.cache["fnet"], x.cache["fprog"]) + reg
                mon.record(total, upper, t0, keep_best=False)
                mon.done = done = mon.done and x.cache["viol"] <= tol
            # inner optimality: the gradient mapping, relative to beta, row by row
            res = float(group_norms(y.U - x.U).max()) / (step_ * beta)
            return done or total >= self.max_iters or (k > 1 and res <= inner["eps"])

        while True:
            outer += 1
            x, Fx, k, step = fista(oracle, U, beta, step, self.max_inner, check,
                                   self.growth, self.shrink)
            U = x.U
            if mon.done or total >= self.max_iters:
                break
            viol = oracle.update_multipliers(U)
            if prev_viol is not None and viol > self.decrease * prev_viol:
                oracle.rho *= self.increase
            prev_viol = viol
            inner["eps"] = max(inner["eps"] * self.inner_decay, 0.1 * tol)
            if verbose:
                print(f"outer {outer}: {k} inner iterations, rho {oracle.rho:.3g}, largest "
                      f"violation {viol:.2e}, rel gap {mon.rel_gap:.2e}")
        lam, mu, nu = oracle.dual_at(U)
        ok = mon.done
        status = "optimal" if ok else "max_iters"
        msg = (f"certified relative duality gap {mon.rel_gap:.2e} "
               f"{'<=' if ok else '>'} tolerance {tol:.1e} after {total} inner iterations "
               f"and {outer} multiplier updates")
        primal = {"V": U[:op.P].detach().cpu().numpy().astype(np.float64),
                  "W": U[op.P:].detach().cpu().numpy().astype(np.float64),
                  "multipliers": (mu.cpu().numpy(), nu.cpu().numpy())}
        info = {"step": step, "rho": oracle.rho, "outer": outer, "device": str(op.device)}
        out = _finish_run(status, t0, total, msg, info, primal, mon, "al")
        primal["dual"] = lam.cpu().numpy()  # matches the multipliers (same point)
        return out


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------
def _smooth(lifted) -> bool:
    return getattr(lifted.problem, "loss", None) is not None and \
        lifted.problem.loss.name in ("squared", "logistic")


def _accepts_gated(lifted) -> bool:
    return getattr(lifted, "program", None) == "gated" and _smooth(lifted)


def _accepts_cone(lifted) -> bool:
    return getattr(lifted, "program", None) == "cone" and _smooth(lifted)


def _options(cls, options: dict) -> tuple[Any, dict]:
    warm = options.pop("warm_start", None)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown} for this solver; accepted: "
                        f"{sorted(fields | {'warm_start'})}.")
    if "max_iters" in options:
        options["max_iters"] = check_int(options["max_iters"], "max_iters", minimum=1)
    if options.get("rho") is not None:
        options["rho"] = check_positive(options["rho"], "rho")
    return cls(**options), warm


def run_gated(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
              ) -> SolverResult:
    """Registry entry: :class:`GatedFISTA` on a gated :class:`~lift.problems.ReLULift`."""
    solver, warm = _options(GatedFISTA, dict(options))
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


def run_cone(lifted, tol: float = 1e-6, verbose: bool = False, **options: Any
             ) -> SolverResult:
    """Registry entry: :class:`ConeAugmentedLagrangian` on a ReLU (cone) lift."""
    solver, warm = _options(ConeAugmentedLagrangian, dict(options))
    return solver.run(lifted, tol=tol, verbose=verbose, warm_start=warm)


register_solver("fista", _accepts_gated, run_gated)
register_solver("al", _accepts_cone, run_cone)
