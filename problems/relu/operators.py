r"""Operators of the ReLU lifts for the generic solvers of :mod:`lift.solvers`.

The matrix-free operator ``A = [D_1 Xa, ..., D_P Xa]`` (:class:`PatternOperator`), the smooth
oracles of the gated program and of the augmented Lagrangian of the cone program (for
:class:`~lift.solvers.proxgrad.ProximalGradient`), the Newton polish on the active patterns
(:class:`~lift.solvers.newton.SupportNewton` on the active blocks), the Gram cache of the
working sets, the pricing of signed patterns by nonnegative least squares over the cone
multipliers, and the cutting planes of the restricted cone programs (Clarabel on a quadratic
program with one second-order cone per group).

Everything is matrix-free: ``sum_i D_i Xa u_i = rowsum((D U) * Xa)`` and
``[Xa^T D_i r]_i = D^T (r * Xa)``; the cone terms need ``Xa V^T`` (n x P), computed in row
chunks. Memory is ``O(nP + Pd + nd)``; the ``n x P x d`` blocks are never formed (the Newton
polish and the Gram cache form the blocks of a few patterns only).

References
----------
A. Mishkin, A. Sahiner and M. Pilanci. Fast convex optimization for two-layer ReLU networks:
equivalent model classes and cone decompositions. ICML 2022.
J. E. Kelley. The cutting-plane method for solving convex programs. J. SIAM, 1960.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lift.losses import Loss
from lift.problems.relu.certificate import cone_nnls
from lift.solvers import resolve_device
from lift.solvers.linalg import power_iteration, row_chunks
from lift.solvers.newton import SupportNewton
from lift.solvers.prox import group_norms
from lift.solvers.proxgrad import Point

__all__ = ["PatternOperator", "GatedOracle", "ConeOracle", "NewtonPolish", "ConeNewtonPolish",
           "GramCache", "feasible_point",
           "Pricer", "cutting_planes"]

#: from this many multiply-adds per product (n P d) on, :class:`PatternOperator` times the two
#: orders of its products once and keeps the faster
TUNE_WORK = 5_000_000

#: Newton on the active patterns of the first-order solvers: a few steps, kept if they help
POLISH_NEWTON = SupportNewton(max_steps=6, halvings=20, ridge=1e-12)
#: after a polish that lowered the objective by less than this fraction of the certified gap
#: ...
POLISH_GAIN = 0.01
#: ... none for this many times its duration (:meth:`NewtonPolish._pay`)
POLISH_BACKOFF = 4.0
#: the largest support (``|S| d`` coordinates) polished on its dense blocks ``A_S``
BLOCKS_SIZE = 2_500
#: the polish on supports too large for the blocks ``A_S`` (with a loss whose curvature
#: varies, such as the logistic): at most this many coordinates ``|S| d`` (the Hessian is
#: ``|S| d`` squared, 0.8 GB at 10,000 in float64, and a step holds it, its copy and its
#: factor; the grid's ``n = 50,000, d = 20`` logistic row has a dense optimum of 10,000
#: coordinates, factored in 10-15 s a step on two threads) ...
SCREENED_SIZE = 10_000
#: ... with the Hessian summed over the samples whose second derivative is above this fraction
#: of the largest only (at the grid's dense logistic optima most samples are fitted with
#: margins where it is below 1e-8 of its largest: 6,500 of 50,000 rows are left), in float32
SCREENED_WEIGHT = 1e-8


def _seconds(fn: Any, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls of ``fn()`` (after one untimed call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


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
        self.chunks = row_chunks(self.n, self.P)
        self.order: tuple[bool, bool] | None = None  # see :meth:`_orders`

    def restrict(self, idx: torch.Tensor) -> PatternOperator:
        """The operator of the patterns ``idx`` only (shares ``Xa``; copies those columns):
        this operator itself where ``idx`` is every pattern in order (at n = 50,000 the copy
        took 0.2 s, twice a Newton step of ``ssnal`` at a dense optimum)."""
        if idx.numel() == self.P and bool(
                (idx == torch.arange(self.P, device=idx.device)).all()):
            return self
        sub = PatternOperator.__new__(PatternOperator)
        sub.device, sub.dtype, sub.Xa = self.device, self.dtype, self.Xa
        sub.Db = self.Db[:, idx]
        sub.D = self.D[:, idx]
        sub.n, sub.d, sub.P = self.n, self.d, int(idx.numel())
        sub.chunks = row_chunks(sub.n, sub.P)
        sub.order = self.order  # the same shapes but P: the same orders (not timed again)
        return sub

    def rows(self, idx: torch.Tensor) -> PatternOperator:
        """The operator of the samples ``idx`` only (copies those rows of ``Xa`` and ``D``)."""
        sub = PatternOperator.__new__(PatternOperator)
        sub.device, sub.dtype = self.device, self.dtype
        sub.Xa, sub.Db, sub.D = self.Xa[idx], self.Db[idx], self.D[idx]
        sub.n, sub.d, sub.P = int(idx.numel()), self.d, self.P
        sub.chunks = row_chunks(sub.n, sub.P)
        sub.order = None
        return sub

    def astype(self, dtype: torch.dtype) -> PatternOperator:
        """The same operator in ``dtype`` (shares the boolean patterns)."""
        out = PatternOperator.__new__(PatternOperator)
        out.__dict__.update(self.__dict__)
        out.dtype, out.Xa, out.D = dtype, self.Xa.to(dtype), self.D.to(dtype)
        out.order = None
        return out

    def gram(self, weights: torch.Tensor | None = None, dtype: torch.dtype | None = None
             ) -> torch.Tensor:
        """``A^T diag(weights) A`` over every pattern (``A = [D_1 Xa, ..., D_P Xa]``, ``P d x P
        d``; ``weights`` nonnegative, default ones) in ``dtype`` (default the operator's).

        Block ``(i, j)`` is ``Xa^T diag(w D_i D_j) Xa``: symmetric in ``(i, j)``, and itself
        symmetric. So on the CPU only the blocks ``j >= i`` are summed, each as its ``d (d +
        1) / 2`` distinct entries (the products ``x_a x_b``, ``a <= b``, of each sample), and
        only over the samples of pattern ``i`` (a gathered product per pattern): about ``n_1
        P^2 d^2 / 4`` multiply-adds (``n_1`` the samples per pattern, about ``n / 2``), a
        quarter of the ``n (P d)^2 / 2`` of the stacked blocks' gram by its upper triangle
        (:meth:`_stacked_gram`). At ``n = 10,000, P = 500`` (``benchmarks/relu_gram.py``):
        3.0 s against 4.4 s at ``d = 10``, 8.0 s against 17.0 s at ``d = 20`` on one thread;
        1.8 against 2.2 s and 4.3 against 9.0 s on two (the thin products and the gathers
        keep it from 4x). Elsewhere (a GPU: one large product beats ``P`` small ones and their
        synchronizations) the stacked blocks' gram."""
        from lift.solvers.linalg import CHUNK_ENTRIES, row_chunks, symmetric_from_upper

        dtype = dtype or self.dtype
        if self.device.type != "cpu":
            return self._stacked_gram(weights, dtype)
        P, d, dev = self.P, self.d, self.device
        a, b = torch.triu_indices(d, d, device=dev)
        e = a.numel()
        unpack = torch.empty(d, d, dtype=torch.long, device=dev)  # (a, b) -> its product
        unpack[a, b] = unpack[b, a] = torch.arange(e, device=dev)
        unpack = unpack.flatten()
        D8 = self.Db.to(torch.uint8)  # gathered a pattern at a time (a byte an entry)
        G = torch.zeros(P * d, P * d, dtype=dtype, device=dev)
        G4 = G.view(P, d, P, d)
        per_block = max(1, CHUNK_ENTRIES // (P * d * d))  # patterns a block of T
        for i0 in range(0, P, per_block):
            i1 = min(i0 + per_block, P)
            T = torch.zeros(i1 - i0, P, e, dtype=dtype, device=dev)
            for sl in row_chunks(self.n, e + P, CHUNK_ENTRIES):  # samples' products, patterns
                Z = (self.Xa[sl, a] * self.Xa[sl, b]).to(dtype)
                if weights is not None:
                    Z = Z * weights[sl].to(dtype)[:, None]
                Db, Dc = self.Db[sl], D8[sl]
                for i in range(i0, i1):
                    S = torch.nonzero(Db[:, i]).flatten()
                    if S.numel():
                        T[i - i0, i:] += Dc[S, i:].to(dtype).T @ Z[S]
            G4[i0:i1] = T[:, :, unpack].view(i1 - i0, P, d, d).permute(0, 2, 1, 3)
        return symmetric_from_upper(G)

    def _stacked_gram(self, weights: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
        """:meth:`gram` as the gram of the stacked blocks ``[D_i Xa]_i`` (row chunks, upper
        triangle): ``n (P d)^2 / 2`` multiply-adds in a few large products."""
        from lift.solvers.linalg import (
            CHUNK_ENTRIES,
            add_upper_gram,
            row_chunks,
            symmetric_from_upper,
        )

        every = torch.arange(self.P, device=self.device)
        m = self.P * self.d
        G = torch.zeros(m, m, dtype=dtype, device=self.device)
        root = None if weights is None else weights.sqrt()
        for sl in row_chunks(self.n, m, CHUNK_ENTRIES):
            rows = self.blocks(every, sl)
            if root is not None:
                rows = root[sl, None] * rows
            add_upper_gram(G, rows.to(dtype))
        return symmetric_from_upper(G)

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
        if self._orders()[0]:
            return ((U.T @ self.D.T) * self.Xa.T).sum(0)
        return ((self.D @ U) * self.Xa).sum(1)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``[Xa^T D_i r]_i`` as a (P, d) tensor: one (P x n)(n x d) product."""
        if self._orders()[1]:
            return ((r[:, None] * self.Xa).T @ self.D).T.contiguous()
        return self.D.T @ (r[:, None] * self.Xa)

    def gram_block(self, V: torch.Tensor) -> torch.Tensor:
        """``A^T A v`` for each of ``b`` points ``v`` (``V`` of shape (b, P, d)): one pass over
        row blocks of ``D``, two ``(rows x P)(P x b d)`` products each (one product of ``b``
        columns costs about as much memory traffic as a single forward product)."""
        b = V.shape[0]
        Vm = V.permute(1, 0, 2).reshape(self.P, b * self.d)
        out = torch.zeros(self.P, b * self.d, dtype=self.dtype, device=self.device)
        for sl in row_chunks(self.n, b * self.d + self.P):
            Xs = self.Xa[sl][:, None, :]
            r = ((self.D[sl] @ Vm).reshape(-1, b, self.d) * Xs).sum(-1)
            out += self.D[sl].T @ (r[:, :, None] * Xs).reshape(-1, b * self.d)
        return out.reshape(self.P, b, self.d).permute(1, 0, 2)

    def signed_forward(self, U: torch.Tensor) -> torch.Tensor:
        """The cone program's ``A U = sum_i D_i Xa (v_i - w_i)`` for ``U = [V; W]`` (2P, d)."""
        return self.forward(U[:self.P] - U[self.P:])

    def signed_adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """Its adjoint ``[A^T r; -A^T r]``, shape (2P, d)."""
        G = self.adjoint(r)
        return torch.cat([G, -G])

    def _orders(self) -> tuple[bool, bool]:
        """Whether :meth:`forward` and :meth:`adjoint` compute their products transposed,
        ``(d x P)(P x n)`` and ``(d x n)(n x P)``. The same numbers up to rounding, but BLAS
        speeds differ with the shapes (on one CPU thread, the transposed forward was twice as
        fast at n = 2,000, d = 20, P = 500 and 1.5 times slower at n = 10,000, d = 10; the
        transposed adjoint twice as fast at both): from :data:`TUNE_WORK` multiply-adds per
        product on, both orders of each are timed once (the faster of three runs) and the
        faster kept; below, and above ``1000 * TUNE_WORK`` (where the timing itself would cost
        seconds) or off the CPU, the transposed adjoint only."""
        if self.order is None:
            self.order = (False, True)
            if (TUNE_WORK <= self.n * self.P * self.d <= 1000 * TUNE_WORK
                    and self.device.type == "cpu"):
                U = torch.ones(self.P, self.d, dtype=self.dtype, device=self.device)
                r = torch.ones(self.n, dtype=self.dtype, device=self.device)
                self.order = (False, False)
                fwd = _seconds(lambda: self.forward(U))
                adj = _seconds(lambda: self.adjoint(r))
                self.order = (True, True)
                self.order = (_seconds(lambda: self.forward(U)) < fwd,
                              _seconds(lambda: self.adjoint(r)) < adj)
        return self.order

    def directions(self, idx: torch.Tensor, N: torch.Tensor) -> torch.Tensor:
        """The columns ``D_i Xa n_i`` (n x |idx|) for the patterns ``idx``, ``N`` (|idx|, d)
        holding the ``n_i`` as rows: one (n x d)(d x |idx|) product."""
        return (self.Xa @ N.T) * self.D[:, idx]

    def lipschitz(self, iters: int = 20, seed: int = 0) -> float:
        """An estimate of ``||A||_2^2`` by power iteration (used for the first step)."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        U = torch.randn(self.P, self.d, generator=gen, dtype=self.dtype).to(self.device)
        est = power_iteration(lambda V: self.adjoint(self.forward(V)), U,
                              lambda V: float(torch.linalg.vector_norm(V)), iters=iters)
        return max(est, 1e-12)


class GatedOracle:
    """Smooth part ``f(U) = L(A U)`` of the gated program; caches ``z = A U``.

    ``loss`` is a :class:`~lift.losses.Loss` (its torch forms), ``y`` the targets as a tensor.
    """

    def __init__(self, op: PatternOperator, loss: Loss, y: torch.Tensor) -> None:
        self.op, self.loss, self.y = op, loss, y

    def point(self, U: torch.Tensor) -> Point:
        z = self.op.forward(U)
        return Point(U, float(self.loss.torch(z, self.y)), {"z": z})

    def extrapolate(self, xn: Point, xo: Point, m: float) -> Point:
        U = xn.x + m * (xn.x - xo.x)
        z = xn.cache["z"] + m * (xn.cache["z"] - xo.cache["z"])  # A is linear
        return Point(U, float(self.loss.torch(z, self.y)), {"z": z})

    def gradient(self, p: Point) -> torch.Tensor:
        lam = self.loss.torch_grad(p.cache["z"], self.y)
        p.cache["lam"] = lam
        return self.op.adjoint(lam)


class ConeOracle:
    r"""Smooth part of the augmented Lagrangian of the cone program, ``U = [V; W]`` (2P, d).

    .. math::

        f(V, W) = L\Big(\sum_i D_i Xa (v_i - w_i)\Big)
        + \frac{1}{2\rho} \sum_i \|(\mu_i - \rho S_i Xa v_i)_+\|^2
        + \frac{1}{2\rho} \sum_i \|(\nu_i - \rho S_i Xa w_i)_+\|^2,
        \qquad S_i = 2 D_i - I.

    Also tracks ``L(z_net)``, the loss of the ReLU network ``sum_i (Xa v_i)_+ - (Xa w_i)_+``
    recovered from the point (the certified primal value).
    """

    def __init__(self, op: PatternOperator, loss: Loss, y: torch.Tensor, rho: float) -> None:
        self.op, self.loss, self.y, self.rho = op, loss, y, rho
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
            fprog += float(loss.torch(z, self.y[sl]))
            fnet += float(loss.torch(znet, self.y[sl]))
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
                r = loss.torch_grad(z, self.y[sl])
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

    def load_multipliers(self, mu: Any = None, nu: Any = None) -> None:
        """Start from the multipliers ``mu``, ``nu`` (arrays (n, P); None keeps zeros)."""
        for value, target in ((mu, self.mu), (nu, self.nu)):
            if value is not None:
                target.copy_(torch.as_tensor(np.asarray(value), dtype=self.op.dtype))
        self.mult_sq = self._mult_sq()

    def point(self, U: torch.Tensor) -> Point:
        f, (fnet, fprog), _, _, viol = self._pass(U, grad=False)
        return Point(U, f, {"fnet": fnet, "fprog": fprog, "viol": viol})

    def extrapolate(self, xn: Point, xo: Point, m: float) -> Point:
        return Point(xn.x + m * (xn.x - xo.x))

    def gradient(self, p: Point) -> torch.Tensor:
        f, (fnet, fprog), G, lam, _ = self._pass(p.x, grad=True)
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
            lam[sl] = self.loss.torch_grad((op.D[sl] * (XV - XW)).sum(1), self.y[sl])
            mu[sl] = torch.relu(self.mu[sl] - rho * torch.where(Db, XV, -XV))
            nu[sl] = torch.relu(self.nu[sl] - rho * torch.where(Db, XW, -XW))
        return lam, mu, nu


def feasible_point(op: PatternOperator, U: torch.Tensor, gates: torch.Tensor,
                   project: bool = False) -> torch.Tensor:
    r"""A point of the cone program near ``U = [V; W]`` (2P, d).

    With ``project``, each violating group is first replaced by its projection onto its cone
    ``K_i = {u : (2D_i - I) Xa u >= 0}``, ``u + B mu`` with ``mu = argmin_{mu >= 0}
    ||u + B mu||`` (``B = Xa^T (2D_i - I)``, Moreau's decomposition; nonnegative least
    squares, one per violating group). Then ``u_g + t_g g_i``: the gate ``g_i`` of pattern
    ``i`` lies in its cone (``D_i = 1[Xa g_i >= 0]``), ``t_g >= 0`` is the smallest step
    along it that removes every (remaining) violation of ``u_g``, and a group whose violated
    rows the gate cannot fix (``x_k' g_i = 0``) is set to zero. The result satisfies the
    constraints exactly (up to rounding), so the program's value there is a certified
    upper bound for a sampled program.
    """
    if project:
        U = _project_cones(op, U)
    P = op.P
    t = torch.zeros(2 * P, dtype=U.dtype, device=U.device)
    wrong = torch.zeros(P, dtype=torch.bool, device=U.device)  # a gate outside its cone
    for sl in op.chunks:
        Xc, Db = op.Xa[sl], op.Db[sl]
        margin = torch.where(Db, 1.0, -1.0).to(U.dtype) * (Xc @ gates.T)  # (rows, P), >= 0
        wrong |= (margin < 0).any(0)
        for off in (0, P):
            c = Xc @ U[off:off + P].T
            viol = torch.relu(-torch.where(Db, c, -c))
            need = torch.where(margin > 0, viol / torch.clamp(margin, min=1e-300),
                               torch.where(viol > 0, torch.inf, 0.0))
            t[off:off + P] = torch.maximum(t[off:off + P], need.max(0).values)
    t[torch.cat([wrong, wrong]) & (t > 0)] = torch.inf  # moving along it could break rows
    out = U + t[:, None] * torch.cat([gates, gates])
    out[torch.isinf(t)] = 0.0
    return out


def _project_cones(op: PatternOperator, U: torch.Tensor) -> torch.Tensor:
    """Each violating group of ``U = [V; W]`` projected onto its cone (see
    :func:`feasible_point`)."""
    P = op.P
    Xa = op.Xa.cpu().numpy().astype(np.float64)
    D = op.Db.cpu().numpy()
    Un = U.detach().cpu().numpy().astype(np.float64)
    for g in range(2 * P):
        u = Un[g]
        if not u.any():
            continue
        s = np.where(D[:, g % P], 1.0, -1.0)
        if (s * (Xa @ u)).min() >= 0:
            continue
        B = (s[:, None] * Xa).T  # (d, n): columns s_k x_k
        mu, _ = cone_nnls(B, -u, maxiter=50 * B.shape[0] + 100)
        Un[g] = u + B @ mu
    return torch.as_tensor(Un, dtype=U.dtype, device=U.device)


class NewtonPolish:
    r"""Newton steps on the groups that are nonzero, where the objective is smooth.

    .. math::

        \min_{u_S} \; L\Big(\sum_{i \in S} D_i \tilde X u_i\Big) + \beta \sum_{i \in S}
        \|u_i\|_2, \qquad u_i \ne 0,

    by :class:`~lift.solvers.newton.SupportNewton` on the dense blocks ``A_S`` (Hessian of the
    data term ``A_S^T diag(l'') A_S``). A ``polish`` callback of
    :class:`~lift.solvers.proxgrad.ProximalGradient`, used only
    when the active set has settled and ``A_S`` (n x |S| d, the blocks of the active patterns
    only) fits in ``max_entries``; a step is kept only if it lowers the objective, so the method
    stays a descent method and the certificate remains the judge.

    Larger supports (up to :data:`SCREENED_SIZE` coordinates), with a loss whose second
    derivative varies (not the squared loss), are polished matrix-free
    (:class:`_ScreenedBlocks`): values and gradients by the operator, the Hessian in float32
    over the samples whose second derivative is above :data:`SCREENED_WEIGHT` of the largest.
    That is the regime of nearly separable logistic fits with dense optima, where FISTA crawls
    (the curvature is tiny along most of the data) and Newton converges in a few steps: the
    grid's ``n = 50,000, d = 10, P = 500`` logistic row at ``beta = 0.0137`` (all 500 groups
    active) went from no certificate in 679 s to a certified 1e-6 (BENCHMARKS.md).
    """

    #: whether supports beyond ``max_size`` may be polished matrix-free (see above)
    screened = True

    def __init__(self, op: PatternOperator, loss: Loss, y: torch.Tensor, beta: float,
                 max_entries: int = 2**26, max_size: int | None = None, slack: float = 0.01,
                 lower: Callable[[], float] | None = None) -> None:
        self.op, self.loss, self.y, self.beta, self.slack = op, loss, y, beta, slack
        self.max_entries = max_entries
        self.max_size = BLOCKS_SIZE if max_size is None else max_size
        self.last_support: torch.Tensor | None = None
        self.calls = self.accepted = self.wait = 0
        #: a Newton step may cost up to this many first-order iterations (multiply-adds)
        self.budget = 1000
        #: the certificate's lower bound (a callable), and the clock before which no polish
        #: is tried after one that gained too little of the gap (:meth:`_pay`)
        self.lower = lower
        self.resume_at = 0.0

    def __call__(self, x: Point, Fx: float) -> Point | None:
        op, beta = self.op, self.beta
        if time.perf_counter() < self.resume_at:
            return None
        norms = group_norms(x.x)
        # groups that stay nonzero at the optimum have ||A_i^T lam|| = beta there; nonzero
        # groups well below it are on their way to zero and are left out
        dual_norms = group_norms(self._dual(x))
        nonzero = norms > 0
        support = torch.nonzero(nonzero & (dual_norms >= (1 - self.slack) * beta)).flatten()
        d = op.d
        if (not self._fits_blocks(support.numel() * d)
                and self.screened_ok(int(nonzero.sum()) * d)):
            # far from the optimum the dual norms of a dense support scatter around beta, and
            # a support cut by them changed at every call (the grid's n = 50,000 logistic row
            # went uncertified): the screened polish takes every nonzero group, and FISTA's
            # iterations between its calls set to zero those that leave
            support = torch.nonzero(nonzero).flatten()
        stable = (self.last_support is not None and support.numel() == self.last_support.numel()
                  and bool(torch.equal(support, self.last_support)))
        self.last_support = support
        k = support.numel()
        kd = k * d
        blocks = self._fits_blocks(kd)
        screened = not blocks and self.screened_ok(kd)
        rows = op.n
        if screened:
            rows = int(_ScreenedBlocks.kept(self.loss.torch_hess(x.cache["z"], self.y)).numel())
        if (not stable or k == 0 or not (blocks or screened)
                or not self._affordable(kd, rows, screened)):
            return None
        if self.wait > 0:  # after each attempt, wait twice as long for the next one
            self.wait -= 1
            return None
        self.calls += 1
        self.wait = 2**self.calls - 1
        # steps must beat F(x) itself (groups left out of the support are set to zero)
        start = time.perf_counter()
        smooth = (self._smooth(support) if blocks
                  else _ScreenedBlocks(op.restrict(support), self.loss, self.y))
        best, value, taken = POLISH_NEWTON.run(smooth, x.x[support].clone(), beta, bound=Fx)
        self._pay(start, Fx, value if taken else Fx)
        if not taken:
            return None
        self.accepted += 1
        Ufull = torch.zeros_like(x.x)
        Ufull[support] = best
        return self._point(Ufull)

    def _pay(self, start: float, Fx: float, value: float) -> None:
        """A polish must pay for itself: one that lowered the objective by less than
        :data:`POLISH_GAIN` of the certified gap (``Fx - lower()``; its Newton steps ran on a
        support that is not yet the optimum's, or could not follow it) stops the next ones for
        :data:`POLISH_BACKOFF` times its duration, so that while they lose they take at most
        about a fifth of the time. On the grid's ``n = 2,000, d = 10`` logistic row at a
        small ``beta`` (196 of 500 groups, a support that kept changing), five polishes of
        1-2 s each gained 1e-10 to 4e-7 (the gap was 4e-6 to 7e-6), where FISTA gained 2e-7
        to 5e-7 in a few tenths of a second, and took 8 of the solve's 12.5 s. Without
        ``lower`` (no certificate at hand) every polish is let be."""
        if self.lower is None:
            return
        now = time.perf_counter()
        if Fx - value < POLISH_GAIN * (Fx - self.lower()):
            self.resume_at = now + POLISH_BACKOFF * (now - start)

    def takes(self, kd: int) -> bool:
        """Whether a settled support of ``kd`` coordinates could be polished at all (on its
        dense blocks, or matrix-free with screening) within the step's budget; the screened
        Hessian's rows counted as all ``n`` (an upper bound)."""
        blocks = self._fits_blocks(kd)
        return (blocks or self.screened_ok(kd)) and self._affordable(kd, self.op.n, not blocks)

    def _affordable(self, kd: int, rows: int, screened: bool) -> bool:
        """Whether a Newton step on ``kd`` coordinates with ``rows`` samples in its Hessian is
        worth it: at most :attr:`budget` proximal-gradient iterations (dense products run far
        faster per flop than the thin pattern products; the screened Hessian's float32 upper
        triangle costs about a quarter of the float64 product)."""
        cost = kd**3 / 3 + rows * kd**2 * (0.25 if screened else 1.0)
        return cost <= self.budget * 2 * self.op.n * self.op.P * self.op.d

    def _fits_blocks(self, kd: int) -> bool:
        """Whether a support of ``kd`` coordinates is polished on its dense blocks ``A_S``."""
        return kd <= self.max_size and self.op.n * kd <= self.max_entries

    def screened_ok(self, kd: int) -> bool:
        """Whether a support of ``kd`` coordinates beyond the blocks' limits may be polished
        matrix-free."""
        return self.screened and self.loss.name != "squared" and kd <= SCREENED_SIZE

    def _dual(self, x: Point) -> torch.Tensor:
        """The dual-constraint vectors (rows) at ``x``."""
        return self.op.adjoint(self.loss.torch_grad(x.cache["z"], self.y))

    def _smooth(self, support: torch.Tensor) -> _ActiveBlocks:
        """The smooth part on the groups ``support``."""
        return _ActiveBlocks(self.op.blocks(support, slice(None)), self.loss, self.y)

    def _point(self, U: torch.Tensor) -> Point:
        z = self.op.forward(U)
        return Point(U, float(self.loss.torch(z, self.y)), {"z": z})


class ConeNewtonPolish(NewtonPolish):
    r"""Newton steps on the nonzero signed patterns of an augmented-Lagrangian inner problem
    (:class:`ConeOracle`), a ``polish`` callback like :class:`NewtonPolish`.

    On the support the smooth part is piecewise quadratic in the constraint terms; its
    (generalized) Hessian is ``A_S^T diag(l'') A_S + rho blockdiag_g(Xa^T diag(a_g) Xa)``,
    ``a_g`` the indicator of the rows whose multiplier estimate ``(mu_g - rho S_g Xa u_g)_+``
    is positive (a semismooth Newton step). :meth:`reset` starts the wait between attempts
    afresh (call it when the multipliers change: a new inner problem).
    """

    screened = False

    def __init__(self, oracle: ConeOracle, beta: float, **kw: Any) -> None:
        super().__init__(oracle.op, oracle.loss, oracle.y, beta, **kw)
        self.oracle = oracle

    def reset(self) -> None:
        self.last_support, self.wait, self.calls = None, 0, 0
        self.resume_at = 0.0

    def _dual(self, x: Point) -> torch.Tensor:
        return self.oracle.gradient(Point(x.x))

    def _smooth(self, support: torch.Tensor) -> _ConeBlocks:
        op, o = self.op, self.oracle
        idx = support % op.P
        signs = torch.where(support < op.P, 1.0, -1.0).to(op.dtype)
        S = torch.where(op.Db[:, idx], 1.0, -1.0).to(op.dtype)  # (n, k) constraint signs
        mult = torch.where((support < op.P)[None, :], o.mu[:, idx], o.nu[:, idx])
        return _ConeBlocks(op.blocks(idx, slice(None), signs), self.loss, self.y, op.Xa, S,
                           mult, o.rho)

    def _point(self, U: torch.Tensor) -> Point:
        return self.oracle.point(U)


class _ActiveBlocks:
    """``f(U_S) = L(A_S u_S)`` on the blocks ``A_S`` (n x |S| d) of the active patterns."""

    def __init__(self, A: torch.Tensor, loss: Loss, y: torch.Tensor) -> None:
        self.A, self.loss, self.y = A, loss, y
        # constant for the squared loss
        self.H = A.T @ A if loss.name == "squared" else None

    def value(self, X: torch.Tensor) -> float:
        return float(self.loss.torch(self.A @ X.reshape(-1), self.y))

    def derivatives(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.A @ X.reshape(-1)
        g = (self.A.T @ self.loss.torch_grad(z, self.y)).reshape(X.shape)
        if self.H is not None:
            return g, self.H
        return g, self.A.T @ (self.loss.torch_hess(z, self.y)[:, None] * self.A)


class _ScreenedBlocks:
    """``f(U_S) = L(A_S u_S)`` matrix-free on the restricted operator ``sub``; its Hessian
    ``A_S^T diag(l'') A_S`` is summed in float32 over the samples :meth:`kept` only (see
    :data:`SCREENED_WEIGHT`). Newton with that Hessian still descends (the line search
    judges the true objective), and near the optimum the samples left out weigh below 1e-8
    of the largest."""

    def __init__(self, sub: PatternOperator, loss: Loss, y: torch.Tensor) -> None:
        self.sub, self.loss, self.y = sub, loss, y

    @staticmethod
    def kept(h: torch.Tensor) -> torch.Tensor:
        """The samples whose second derivative ``h`` is above :data:`SCREENED_WEIGHT` of the
        largest."""
        return torch.nonzero(h > SCREENED_WEIGHT * h.max()).flatten()

    def value(self, X: torch.Tensor) -> float:
        return float(self.loss.torch(self.sub.forward(X), self.y))

    def derivatives(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.sub.forward(X)
        g = self.sub.adjoint(self.loss.torch_grad(z, self.y))
        h = self.loss.torch_hess(z, self.y)
        rows = self.kept(h)
        H = self.sub.rows(rows).gram(h[rows], dtype=torch.float32)
        return g, H.to(X.dtype)


class _ConeBlocks(_ActiveBlocks):
    """``f(U_S) = L(A_S u_S) + 1/(2 rho) sum_g (||(mu_g - rho S_g Xa u_g)_+||^2 - ||mu_g||^2)``
    on the signed blocks of the support (the groups outside it contribute constants)."""

    def __init__(self, A: torch.Tensor, loss: Loss, y: torch.Tensor, Xa: torch.Tensor,
                 S: torch.Tensor, mult: torch.Tensor, rho: float) -> None:
        super().__init__(A, loss, y)
        self.Xa, self.S, self.mult, self.rho = Xa, S, mult, rho
        self.msq = float((mult * mult).sum())

    def _active(self, X: torch.Tensor) -> torch.Tensor:
        """``(mu_g - rho S_g Xa u_g)_+`` for every group of the support, (n, k)."""
        return torch.relu(self.mult - self.rho * self.S * (self.Xa @ X.T))

    def value(self, X: torch.Tensor) -> float:
        m = self._active(X)
        return super().value(X) + (float((m * m).sum()) - self.msq) / (2 * self.rho)

    def derivatives(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g, H = super().derivatives(X)
        m = self._active(X)
        g = g - (self.S * m).T @ self.Xa
        act = (m > 0).to(X.dtype)  # (n, k): rows in the penalty's quadratic piece
        blocks = self.rho * torch.einsum("nk,ni,nj->kij", act, self.Xa, self.Xa)
        return g, H + torch.block_diag(*blocks)


class GramCache:
    """Gram matrix ``A_S^T A_S`` and ``A_S^T y`` over the (signed) patterns ever seen.

    Keys are pattern indices (gated) or signed patterns ``g`` in ``[0, 2P)`` (``g < P``: the
    block ``+D_g Xa``; ``g >= P``: ``-D_{g-P} Xa``). :meth:`sub` returns the blocks of any subset;
    new keys are added in row chunks (``O(n |seen| |new| d^2)``)."""

    def __init__(self, op: PatternOperator, y: torch.Tensor) -> None:
        self.op, self.y = op, y
        self.keys: list[int] = []
        self.pos: dict[int, int] = {}
        self.G = np.zeros((0, 0))
        self.b = np.zeros(0)

    def _split(self, keys: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        op = self.op
        k = torch.as_tensor(keys, dtype=torch.long, device=op.device)
        return k % op.P, torch.where(k < op.P, 1.0, -1.0).to(op.dtype)

    def sub(self, keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(G, b)`` of the patterns ``keys``, in that order (computing the missing ones)."""
        self._add([g for g in dict.fromkeys(keys) if g not in self.pos])
        d = self.op.d
        ix = (np.array([self.pos[g] for g in keys])[:, None] * d + np.arange(d)).ravel()
        return self.G[np.ix_(ix, ix)], self.b[ix]

    def _add(self, new: list[int]) -> None:
        op = self.op
        m_old, m_new, d = len(self.keys), len(new), op.d
        if m_new == 0:
            return
        idx_n, sg_n = self._split(new)
        idx_o, sg_o = self._split(self.keys)
        Gon = torch.zeros((m_old * d, m_new * d), dtype=op.dtype, device=op.device)
        Gnn = torch.zeros((m_new * d, m_new * d), dtype=op.dtype, device=op.device)
        bn = torch.zeros(m_new * d, dtype=op.dtype, device=op.device)
        for sl in row_chunks(op.n, (m_old + m_new) * d):
            An = op.blocks(idx_n, sl, sg_n)
            Gnn += An.T @ An
            bn += An.T @ self.y[sl]
            if m_old:
                Gon += op.blocks(idx_o, sl, sg_o).T @ An
        Gon, Gnn, bn = (t.cpu().numpy().astype(np.float64) for t in (Gon, Gnn, bn))
        self.G = np.block([[self.G, Gon], [Gon.T, Gnn]])
        self.b = np.concatenate([self.b, bn])
        for g in new:
            self.pos[g] = len(self.keys)
            self.keys.append(g)


class Pricer:
    r"""Upper bounds on ``min_{mu >= 0} ||sigma c_i - Xa^T (s_i * mu)||`` for signed patterns.

    ``c_i = Xa^T D_i lam``, ``s_i = 2 D_i - 1``, ``sigma = +1`` for ``v_i`` and ``-1`` for
    ``w_i``. The bound is the smallest of: the plain norm (``mu = 0``), the norm at the last
    multipliers kept for that group (sparse: Clarabel's, or a previous least-squares solution),
    and, when those are above ``beta``, the exact nonnegative least-squares value, whose
    solution is then kept. Every value is attained by some ``mu >= 0``, so scaling ``lam`` by
    ``beta / max`` is dual feasible.
    """

    def __init__(self, Xa: np.ndarray, D: np.ndarray, near: int = 0) -> None:
        self.Xa, self.D, self.near = Xa, D, near
        self.row_norms = np.maximum(np.linalg.norm(Xa, axis=1), 1e-300)
        self.mult: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # group -> (rows, values)
        self.near_rows: dict[int, np.ndarray] = {}
        self.nnls_calls = 0

    def _signs(self, i: int) -> np.ndarray:
        return np.where(self.D[:, i], 1.0, -1.0)

    def norm_with(self, g: int, c: np.ndarray) -> float:
        rows, vals = self.mult.get(g, (None, None))
        if rows is None or rows.size == 0:
            return float(np.linalg.norm(c))
        i = g % self.D.shape[1]
        s = np.where(self.D[rows, i], 1.0, -1.0)
        return float(np.linalg.norm(c - self.Xa[rows].T @ (s * vals)))

    def exact(self, g: int, c: np.ndarray) -> float:
        i = g % self.D.shape[1]
        s = self._signs(i)
        B = (s[:, None] * self.Xa).T
        mu, res = cone_nnls(B, c, maxiter=50 * B.shape[0] + 100)
        self.nnls_calls += 1
        rows = np.flatnonzero(mu > 0)
        self.mult[g] = (rows, mu[rows])
        if self.near:
            # the rows closest to active along the group's steepest feasible direction
            # (B mu - c): where it will hit its cone's boundary first; kept as candidate cuts
            margin = (s * (self.Xa @ (B @ mu - c))) / self.row_norms
            margin[rows] = np.inf
            self.near_rows[g] = np.argsort(margin)[:self.near]
        return float(res)

    def norms(self, C: np.ndarray, beta: float, enough: int | None = None,
              skip: np.ndarray | None = None,
              rough: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Bounds for all ``2P`` signed groups given ``C = [Xa^T D_i lam]_i``, and which of
        them are exact where above ``beta``.

        Least squares run only where the cheap bounds exceed ``beta``, the largest cheap bound
        first; with ``enough``, they stop once that many groups outside ``skip`` are confirmed
        above ``beta`` (the rest keep their cheap bounds: still valid, maybe loose). With
        ``rough``, the groups in ``skip`` keep their cheap bounds too (when the point is known
        to be inaccurate, tightening them cannot close the gap)."""
        P = C.shape[0]
        out = np.empty(2 * P)
        signed = np.concatenate([C, -C])
        for g in range(2 * P):
            val = float(np.linalg.norm(signed[g]))
            if val > beta:
                val = min(val, self.norm_with(g, signed[g]))
            out[g] = val
        checked = out <= beta
        confirmed = 0
        for g in np.argsort(-out, kind="stable"):
            if out[g] <= beta or (enough is not None and confirmed >= enough):
                break
            if rough and skip is not None and skip[g]:
                continue
            out[g] = min(out[g], self.exact(int(g), signed[g]))
            checked[g] = True
            confirmed += out[g] > beta and (skip is None or not skip[g])
        return out, checked

    def dense(self, n: int, P: int) -> tuple[np.ndarray, np.ndarray]:
        """The kept multipliers as ``(mu, nu)`` arrays of shape (n, P)."""
        mu, nu = np.zeros((n, P)), np.zeros((n, P))
        for g, (rows, vals) in self.mult.items():
            (mu if g < P else nu)[rows, g % P] = vals
        return mu, nu


def _quadratic(G: np.ndarray, m: int):
    """Clarabel's ``P`` for variables ``[u; t]``: the upper triangle of ``G``, zeros for ``t``."""
    import scipy.sparse as sp

    return sp.block_diag([sp.triu(sp.csc_matrix(G)), sp.csc_matrix((m, m))], format="csc")


def _clarabel_qp(Pm, b: np.ndarray, beta: float, d: int, cuts: list[np.ndarray], tol: float):
    r"""``min 1/2 u'Gu - b'u + beta sum_j t_j`` s.t. ``cuts[j] u_j >= 0``, ``||u_j|| <= t_j``,
    by Clarabel directly (``Pm`` from :func:`_quadratic`). Returns ``(u, multipliers per
    group, status)``."""
    import clarabel
    import scipy.sparse as sp

    m = b.size // d
    nv = m * d + m
    q = np.concatenate([-b, np.full(m, beta)])
    counts = [Cj.shape[0] for Cj in cuts]
    rows_lin = sum(counts)
    # cut rows: -C_j on the columns of u_j; then -[t_j; u_j] for the second-order cones
    ri, ci, vals = [], [], []
    r0 = 0
    for j, Cj in enumerate(cuts):
        k = Cj.shape[0]
        ri.append(np.repeat(np.arange(r0, r0 + k), d))
        ci.append(np.tile(np.arange(j * d, (j + 1) * d), k))
        vals.append(-Cj.ravel())
        r0 += k
    soc_rows = rows_lin + np.arange(m)[:, None] * (d + 1) + np.arange(d + 1)  # (m, d + 1)
    ri += [soc_rows[:, 0], soc_rows[:, 1:].ravel()]
    ci += [m * d + np.arange(m), np.arange(m * d)]
    vals += [-np.ones(m), -np.ones(m * d)]
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                      shape=(rows_lin + m * (d + 1), nv))
    cones = ([clarabel.NonnegativeConeT(rows_lin)] if rows_lin else []) + \
        [clarabel.SecondOrderConeT(d + 1)] * m
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.max_threads = 1
    settings.direct_solve_method = "faer"
    sol = clarabel.DefaultSolver(Pm, q, A, np.zeros(A.shape[0]), cones, settings).solve()
    x, z = np.asarray(sol.x), np.asarray(sol.z)
    mults, start = [], 0
    for c in counts:
        mults.append(np.maximum(z[start:start + c], 0.0))
        start += c
    return x[:m * d], mults, str(sol.status)



def cutting_planes(gram: GramCache, work: list[int], cuts: dict, pricer: Pricer,
                   Xa: np.ndarray, D: np.ndarray, beta: float, per_round: int, tol: float,
                   loose_tol: float, feas_tol: float, max_rounds: int, search: bool = True):
    r"""The cone program restricted to the signed patterns ``work``, by cutting planes.

    .. math::

        \min_{u} \; \tfrac12 \Big\|\sum_{g \in S} \pm D_g \tilde X u_g - y\Big\|^2
        + \beta \sum_{g \in S} \|u_g\|_2
        \quad \text{s.t.} \quad (2 D_g - I)_k \tilde x_k^T u_g \ge 0,\; k \in
        \text{cuts}[g],

    solved by Clarabel with the rows in ``cuts`` (updated in place); every row of the set's
    patterns is then checked, and those violated by more than ``feas_tol`` (relative to the
    largest ``|x_k' u|``) join, the deepest ``per_round`` per pattern, until none is violated
    or ``max_rounds`` rounds. With ``search``, the rounds that only look for rows run at
    ``loose_tol``, the last one at ``tol``. Clarabel's multipliers are kept in ``pricer``.
    Returns ``(u, rounds, Clarabel's status)``.
    """
    P, d = D.shape[1], Xa.shape[1]
    m = len(work)
    S = np.where(D[:, [g % P for g in work]], 1.0, -1.0)  # (n, m): s_k per pattern
    G, b = gram.sub(work)
    Pm = _quadratic(G, m)
    loose = max(tol, loose_tol)
    status, u, rounds = "", np.zeros(m * d), 0
    accurate = loose <= tol or not search
    while rounds < max_rounds:
        rounds += 1
        rows = [cuts[g] for g in work]
        mats = [S[r, j][:, None] * Xa[r] for j, r in enumerate(rows)]
        u, mults, status = _clarabel_qp(Pm, b, beta, d, mats, tol if accurate else loose)
        if not np.all(np.isfinite(u)):
            break
        for g, r, mu in zip(work, rows, mults, strict=True):
            pricer.mult[g] = (r, mu)
        vals = S * (Xa @ u.reshape(m, d).T)  # constraint values, (n, m)
        viol = -vals / np.maximum(np.abs(vals).max(axis=0), 1e-300)
        added = 0
        for j, g in enumerate(work):
            bad = np.setdiff1d(np.flatnonzero(viol[:, j] > feas_tol), cuts[g])
            bad = bad[np.argsort(-viol[bad, j])][:per_round]  # the deepest cuts
            cuts[g] = np.concatenate([cuts[g], bad])
            added += bad.size
        if added == 0:
            if accurate:
                break
            accurate = True  # the rows are found: one accurate solve (may find more)
    return u, rounds, status
