r"""Projected FISTA for the cone-constrained ReLU program (``solver="fista"``, ``program="cone"``).

.. math::

    \min_{V, W} \; L\Big(\sum_i D_i \tilde X (v_i - w_i)\Big)
    + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad \text{s.t.} \quad v_i, w_i \in C_i = \{u : (2D_i - I) \tilde X u \ge 0\}.

The constraints are handled exactly, in the proximal step, not by penalties: for a closed
convex cone ``C`` the proximal operator of ``beta ||.|| + indicator(C)`` is the projection on
``C`` followed by the group shrinkage,

.. math::

    \operatorname{prox}(z) = \Big(1 - \frac{s \beta}{\|p\|}\Big)_+ p, \qquad p = \Pi_C(z)

(``z - p`` lies in the normal cone of ``C`` at ``p``, which is the normal cone at every positive
multiple of ``p``, and ``p - x`` is ``s beta`` times the unit vector of ``x``). The projection on
the polyhedral cone ``C_i`` is a small problem in ``d`` dimensions: its dual is a nonnegative
least-squares problem over the constraint rows, ``p = z + K^T lambda`` with ``K = S_i Xa``, and
only a few rows are active (at most ``d`` at a basic solution). So each group keeps its active
rows and multipliers from the last step. A group whose kept rows already give a point of the
polar cone within ``s beta`` of ``z`` ends at zero without further work; the others solve the
NNLS by batched Lawson-Hanson rounds warm-started there (equality projections on the current
rows as batched ``m x m`` systems, the check of every row as one product with ``Xa``, in
float32 unless the outcome is within its rounding), and the
few that do not settle go to an exact NNLS with cutting rows (scipy). Once the active rows
settle, an iteration costs about three products with ``Xa`` and ``D``.

The multipliers come for free and make the certificate: ``mu_i = lambda_i / s`` are cone
multipliers, and the rows ``Xa^T(+-D_i lambda_loss - S_i mu_i)`` of the dual constraints are
the gradient minus ``(p - z) / s``, whose norms tend to ``beta`` on the active groups. The
solver stops on the certified relative gap of :class:`~lift.solvers.monitor.GapMonitor` and
returns its multipliers (scaled with its dual point), which :meth:`ReLULift.certify` checks
again independently.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import nnls

from lift.base import SolverResult
from lift.problems.relu.operators import GatedOracle, PatternOperator
from lift.problems.relu.solvers import _numpy, _result, _Setup, _Stall, _TorchSolver
from lift.solvers.group_lasso import ActiveDualStep
from lift.solvers.monitor import gap_message
from lift.solvers.prox import group_norms
from lift.solvers.proxgrad import Point

__all__ = ["BestMultipliers", "ConeFISTA", "ConeProjection", "offer_dual"]

#: entries of the ``n x groups`` blocks the projection forms at once (~64 MiB in float64)
BLOCK_ENTRIES = 2**23


class _DifferenceOracle:
    """``f(V, W) = L(A (V - W))`` for ``U = [V; W]`` (2P, d), from the gated oracle of ``A``."""

    def __init__(self, op: PatternOperator, loss: Any, y: torch.Tensor) -> None:
        self.gated = GatedOracle(op, loss, y)
        self.P = op.P

    def point(self, U: torch.Tensor) -> Point:
        p = self.gated.point(U[:self.P] - U[self.P:])
        return Point(U, p.f, p.cache)

    def extrapolate(self, xn: Point, xo: Point, m: float) -> Point:
        U = xn.x + m * (xn.x - xo.x)
        z = xn.cache["z"] + m * (xn.cache["z"] - xo.cache["z"])
        return Point(U, float(self.gated.loss.torch(z, self.gated.y)), {"z": z})

    def gradient(self, p: Point) -> torch.Tensor:
        G = self.gated.gradient(p)
        return torch.cat([G, -G])


def _compact(idx: torch.Tensor, lam: torch.Tensor, keep: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``keep`` of each group's row set first (order kept): ``(idx, lam, counts)``."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    return torch.gather(idx, 1, order), torch.gather(lam, 1, order), keep.sum(1)


class _ConeRows:
    """The dual-constraint rows of the cone program as a function of the loss gradient
    ``lam`` alone, the cone multipliers held fixed: ``[A^T lam; -A^T lam] - fixed`` (``fixed``
    holds ``S_g mu_g`` through ``Xa``, zero for the groups without multipliers). What
    :class:`~lift.solvers.group_lasso.ActiveDualStep` needs to move ``lam`` onto the
    constraints of the active signed groups."""

    def __init__(self, op: PatternOperator, fixed: torch.Tensor) -> None:
        self.op, self.fixed = op, fixed
        self.n, self.P, self.d = op.n, 2 * op.P, op.d

    def adjoint(self, lam: torch.Tensor) -> torch.Tensor:
        return self.op.signed_adjoint(lam) - self.fixed

    def directions(self, idx: torch.Tensor, N: torch.Tensor) -> torch.Tensor:
        sign = 1.0 - 2.0 * (idx >= self.op.P).to(N.dtype)
        return self.op.directions(idx % self.op.P, N * sign[:, None])


class ConeProjection:
    r"""The proximal step of ``beta sum_g ||u_g|| + indicator(u_g in C_g)`` for ``U`` (2P, d).

    Keeps, per group, the constraint rows active at its last projection and, from the last
    call, the groups it projected with ``p - z`` (what the dual constraints need) and their
    multipliers ``lambda / s`` (rows and values).

    Attributes
    ----------
    feas_tol : float
        A row counts as satisfied when ``k^T p >= -feas_tol * max_k |k^T z|``.
    rounds : int
        Batched Lawson-Hanson rounds per call (default ``3 d + 10``) before the groups left
        go to the exact NNLS.
    nnls_calls, equality_calls, zero_screened : int
        NNLS solves, batched equality projections (per group) and steps shown to end at
        zero from the kept rows alone, so far.
    """

    def __init__(self, op: PatternOperator, beta: float, feas_tol: float = 1e-12,
                 rounds: int | None = None) -> None:
        self.op, self.beta, self.feas_tol = op, beta, feas_tol
        self.rounds = 3 * op.d + 10 if rounds is None else rounds
        self.S = 2.0 * op.D - 1.0  # (n, P): the signs of the constraint rows
        self.St = self.S.T.contiguous()  # (P, n): rows gather faster than columns
        G, dev = 2 * op.P, op.device
        # per group: its active rows (at most d; a basic NNLS solution has no more) ...
        self.R = torch.zeros(G, op.d, dtype=torch.long, device=dev)
        self.Rn = torch.zeros(G, dtype=torch.long, device=dev)
        # ... and the last step's multipliers lambda / s on them (``on``: projected then)
        self.lam = torch.zeros(G, op.d, dtype=op.dtype, device=dev)
        self.on = torch.zeros(G, dtype=torch.bool, device=dev)
        self._low: tuple | None = None  # float32 copies for :meth:`_least`, made when needed
        self.nnls_calls = 0
        self.equality_calls = 0
        self.zero_screened = 0
        self.moved = torch.zeros(0, dtype=torch.long, device=dev)
        self.shift = torch.zeros(0, op.d, dtype=op.dtype, device=dev)
        #: multipliers of groups with more than ``d`` active rows (degenerate), by group
        self.extra: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # -- helpers -------------------------------------------------------------------------------
    def _products(self, Z: torch.Tensor, pat: torch.Tensor) -> torch.Tensor:
        """``K_g z_g`` for the groups ``g`` (patterns ``pat``): a (B, n) block."""
        return (Z @ self.op.Xa.T) * self.St[pat]

    def _least(self, Z: torch.Tensor, pat: torch.Tensor, tol: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The smallest constraint value of each point (rows of ``Z``, patterns ``pat``) and
        its row, exact wherever it may be ``>= -tol`` (the check that ends a projection).

        The values come first from a float32 product (a quarter of the float64 one's time at
        ``n = 10,000, d = 51``); a point whose float32 minimum lies below ``-tol`` by more
        than the product's rounding bound (``2 (d + 2) eps ||z|| max_k ||x_k||``, ``eps``
        float32's, or TF32's where CUDA matrix products may use it) has a row violated for
        certain, which is all the rounds need (the row joins; it may differ from the most
        violated one in the last digits). The others are computed again in float64."""
        if self._low is None:
            Xt = self.op.Xa.T
            eps = torch.finfo(torch.float32).eps
            if Xt.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
                eps = 2.0**-10  # TF32 keeps 10 bits of mantissa
            self._low = (Xt.to(torch.float32).contiguous(), self.St.to(torch.int8),
                         2.0 * (self.op.d + 2) * eps
                         * float(torch.linalg.norm(self.op.Xa, dim=1).max()))
        Xt32, St8, slack = self._low
        V = Z.to(torch.float32) @ Xt32
        V.mul_(St8[pat])
        least, worst = V.min(1)
        least = least.to(Z.dtype)
        unclear = torch.nonzero(least >= -tol - slack * group_norms(Z)).flatten()
        if unclear.numel():
            least[unclear], worst[unclear] = self._products(Z[unclear], pat[unclear]).min(1)
        return least, worst

    def _nnls(self, z: np.ndarray, K: np.ndarray, start: np.ndarray,
              lam0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact projection of ``z`` on ``{u : K u >= 0}`` by NNLS on cutting rows, from the
        rows ``start``: ``(p, rows, lambda)`` with the rows where ``lambda > 0``.

        The first cut adds the ``2 d`` rows most violated at ``z + K_start^T lam0`` (the point
        the batched rounds reached, with ``lam0 >= 0`` on ``start``), else at ``z``: near the
        end of the rounds those are the rows the projection still lacks, where the rows most
        violated at ``z`` are mostly not (the first NNLS then needed 4.4 cuts a group on
        average at ``d = 50``)."""
        kz = K @ z
        tol = self.feas_tol * max(float(np.abs(kz).max()), 1e-300)
        d = K.shape[1]
        at = kz if lam0 is None else K @ (z + K[start].T @ lam0)
        viol = np.flatnonzero(at < -tol)
        R = np.union1d(start, viol[np.argsort(at[viol])][:2 * d])
        p, lam = z, np.zeros(0)
        for _ in range(max(20, K.shape[0] // d + 2)):
            lam, _ = nnls(K[R].T, -z, maxiter=50 * max(R.size, 1))
            self.nnls_calls += 1
            p = z + K[R].T @ lam
            kp = K @ p
            viol = np.flatnonzero(kp < -tol)
            if viol.size == 0:
                break
            R = np.union1d(R, viol[np.argsort(kp[viol])][:2 * d])
        keep = lam > 0
        return p, R[keep], lam[keep]

    # -- the step ------------------------------------------------------------------------------
    def __call__(self, Z: torch.Tensor, s: float) -> torch.Tensor:
        op = self.op
        out = torch.zeros_like(Z)
        self.on.zero_()
        cand = torch.nonzero(group_norms(Z) > s * self.beta).flatten()
        moved, shifts = [], []
        step = max(1, BLOCK_ENTRIES // max(op.n, 1))
        for c0 in range(0, cand.numel(), step):
            g = cand[c0:c0 + step]
            zero, Pz = self._screen(Z[g], g, s)
            if bool(zero.any()):  # their step ends at zero: no constraint values needed
                moved.append(g[zero])
                shifts.append(Pz[zero] - Z[g[zero]])
                g = g[~zero]
            Zg = Z[g]
            KZ = self._products(Zg, g % op.P)
            low = KZ.amin(1)
            scale = torch.maximum(KZ.amax(1), -low).clamp_min(1e-300)
            bad = torch.nonzero(low < -self.feas_tol * scale).flatten()
            Pg = Zg.clone()
            if bad.numel():
                Pg[bad] = self._project(Zg[bad], g[bad], KZ[bad], scale[bad], s)
                moved.append(g[bad])
                shifts.append(Pg[bad] - Zg[bad])
            norms = group_norms(Pg)
            out[g] = Pg * torch.clamp(1.0 - s * self.beta / norms.clamp_min(1e-300),
                                      min=0.0)[:, None]
        self.moved = torch.cat(moved) if moved else self.moved[:0]
        self.shift = torch.cat(shifts) if shifts else self.shift[:0]
        return out

    def _rows(self, idx: torch.Tensor, cnt: torch.Tensor, g: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows ``idx`` (the first ``cnt`` of each) of the groups ``g``: ``K`` (B, m, d),
        zero on padding, and the mask of the rows that are not padding (bool and float)."""
        mask = torch.arange(idx.shape[1], device=idx.device) < cnt[:, None]
        maskf = mask.to(self.op.dtype)
        K = (self.S[idx, (g % self.op.P)[:, None]] * maskf)[:, :, None] * self.op.Xa[idx]
        return K, mask, maskf

    @staticmethod
    def _solve(K: torch.Tensor, maskf: torch.Tensor, Z: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``argmin_lambda ||z + K^T lambda||`` per group (zero on padding) and whether the
        system was singular.

        The normal equations ``K K^T lambda = -K z`` by Cholesky (10-20 % faster than LU on
        these batches of small systems at ``d = 51``); a system whose Cholesky factorization
        fails (rows dependent to rounding) is solved by LU, which decides singularity as
        before."""
        M = K @ K.transpose(1, 2)
        M.diagonal(dim1=1, dim2=2).add_(1.0 - maskf)
        rhs = -(K @ Z[:, :, None])
        L, info = torch.linalg.cholesky_ex(M)
        sol = torch.cholesky_solve(rhs, L)
        bad = torch.nonzero(info).flatten()
        sing = torch.zeros(K.shape[0], dtype=torch.bool, device=K.device)
        if bad.numel():
            sol[bad], lu_info = torch.linalg.solve_ex(M[bad], rhs[bad])
            sing[bad] = lu_info != 0
        return sol[:, :, 0] * maskf, sing

    def _screen(self, Z: torch.Tensor, g: torch.Tensor, s: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Groups whose step provably ends at zero from their kept rows alone (no product
        with all of ``Xa``): with ``lambda >= 0`` (the kept multipliers, or the equality
        projection's clipped at zero) ``p = z + K^T lambda`` within ``s beta`` of zero. Records
        their multipliers; returns the mask and the points ``p``."""
        cnt = self.Rn[g]
        if not g.numel() or int(cnt.max()) == 0:
            return torch.zeros(g.numel(), dtype=torch.bool, device=Z.device), Z
        m = int(cnt.max())
        K, mask, maskf = self._rows(self.R[g, :m], cnt, g)
        sol, sing = self._solve(K, maskf, Z)
        kept = self.lam[g, :m] * s * maskf
        sol = torch.where(sing[:, None], kept, sol.clamp_min(0.0))
        p1 = Z + (K.transpose(1, 2) @ kept[:, :, None])[:, :, 0]
        p2 = Z + (K.transpose(1, 2) @ sol[:, :, None])[:, :, 0]
        n1, n2 = group_norms(p1), group_norms(p2)
        second = n2 < n1
        p = torch.where(second[:, None], p2, p1)
        zero = (cnt > 0) & (torch.minimum(n1, n2) <= s * self.beta * (1 - 1e-12))
        gz = g[zero]
        self.zero_screened += int(gz.numel())
        if gz.numel():
            self.lam[gz] = 0.0
            self.lam[gz, :m] = torch.where(second[zero, None], sol[zero], kept[zero]) / s
            self.on[gz] = True
            for gi in gz.tolist() if self.extra else ():
                self.extra.pop(gi, None)
        return zero, p

    def _project(self, Z: torch.Tensor, g: torch.Tensor, KZ: torch.Tensor, scale: torch.Tensor,
                 s: float) -> torch.Tensor:
        """The projections of the rows of ``Z`` (groups ``g``, constraint values ``KZ``) on
        their cones; records the multipliers ``lambda / s``.

        A batched Lawson-Hanson NNLS on the dual ``min_{lambda >= 0} ||z + K^T lambda||``,
        warm-started from each group's kept rows and multipliers (a feasible dual point; a
        group without them starts from its most violated row). Each round solves the
        equality projections on the current rows of all groups at once; a group whose
        multipliers come out positive checks every row (one product with ``Xa``) and stops
        or adds its most violated row, the others move towards that solution until the
        first multiplier reaches zero and drop that row. The dual objective decreases
        monotonically, so the rounds do not cycle; what is left after ``rounds`` rounds, or
        meets a singular or full row set or a joining row that rounding drops at once, goes
        to the exact NNLS (warm-started from its current rows)."""
        op = self.op
        B, d, dev, dt = g.numel(), op.d, Z.device, Z.dtype
        out = Z.clone()
        ok = torch.zeros(B, dtype=torch.bool, device=dev)
        if self.extra:  # set again below for the groups whose NNLS is still degenerate
            for gi in g.tolist():
                self.extra.pop(gi, None)
        col = torch.arange(d, device=dev)
        # the start: the kept rows whose multipliers are positive (feasible for the dual)
        lam = self.lam[g] * s
        idx, lam, cnt = _compact(self.R[g], lam, (col < self.Rn[g][:, None]) & (lam > 0))
        fresh = cnt == 0
        idx[fresh, 0] = KZ[fresh].argmin(1)
        cnt[fresh] = 1
        act = torch.arange(B, device=dev)
        for _ in range(self.rounds):
            if not act.numel():
                break
            ga, za, ca = g[act], Z[act], cnt[act]
            m = int(ca.max())
            ia, la = idx[act, :m], lam[act, :m]
            K, mask, maskf = self._rows(ia, ca, ga)
            sol, sing = self._solve(K, maskf, za)
            self.equality_calls += int(act.numel())
            pos = ((sol > 0) | ~mask).all(1) & ~sing
            # otherwise step from lam towards sol until the first multiplier reaches zero
            hit = mask & (sol <= 0)
            den = la - sol
            ratio = torch.where(hit, torch.where(den > 0, la / den.clamp_min(1e-300), 0.0),
                                math.inf)
            alpha, first = ratio.min(1)
            # in exact arithmetic the row that just joined (the only one with lambda = 0)
            # gets a positive multiplier; if it is the first to leave, rounding rules
            stuck = ~pos & ~sing & (la.gather(1, first[:, None])[:, 0] <= 0)
            new = torch.where(pos[:, None], sol,
                              la + alpha.clamp(max=1.0)[:, None] * (sol - la))
            new[torch.arange(new.shape[0], device=dev), first] *= pos.to(dt)
            new = torch.where(sing[:, None], la, new.clamp_min(0.0) * maskf)
            p = za + (K.transpose(1, 2) @ new[:, :, None])[:, :, 0]
            # a group whose step ends at zero needs no exact projection: with lambda >= 0
            # the point -K^T lambda of the polar cone is within s beta of z, so the distance
            # from z to the polar cone (the norm of the projection) is too
            done = ~sing & (group_norms(p) <= s * self.beta * (1 - 1e-12))
            check = torch.nonzero(pos & ~done).flatten()
            worst = torch.zeros(0, dtype=torch.long, device=dev)
            if check.numel():
                tol = self.feas_tol * scale[act[check]]
                least, worst = self._least(p[check], ga[check] % op.P, tol)
                clean = least >= -tol
                done[check[clean]] = True
                check, worst = check[~clean], worst[~clean]
            keep = mask & (new > 0)
            ia, la, ca = _compact(ia, new, keep)
            idx[act, :m], lam[act, :m], cnt[act] = ia, la, ca
            # the most violated row joins (a full or repeated row set goes to the NNLS)
            a = act[check]
            room = (cnt[a] < d) & ~((idx[a] == worst[:, None]) & (col < cnt[a][:, None])).any(1)
            idx[a[room], cnt[a[room]]] = worst[room]
            lam[a[room], cnt[a[room]]] = 0.0
            cnt[a[room]] += 1
            # a group left without rows restarts from its most violated row (lambda = 0)
            empty = act[(cnt[act] == 0) & ~done]
            idx[empty, 0] = KZ[empty].argmin(1)
            cnt[empty] = 1
            stop = sing | stuck
            stop[check[~room]] = True
            out[act[done]] = p[done]
            ok[act[done]] = True
            act = act[~(done | stop)]
        acc = torch.nonzero(ok).flatten()
        self.R[g[acc]] = idx[acc]
        self.Rn[g[acc]] = cnt[acc]
        self.lam[g[acc]] = lam[acc] * (col < cnt[acc][:, None]).to(dt) / s
        rest = torch.nonzero(~ok).flatten().tolist()
        if rest:
            Xa = op.Xa.cpu().numpy()
            S = self.S.cpu().numpy()
            Zn = Z.detach().cpu().numpy().astype(np.float64)
            for j in rest:
                gi = int(g[j])
                K = S[:, gi % op.P, None] * Xa
                start = idx[j, :int(cnt[j])].cpu().numpy()
                lam0 = lam[j, :int(cnt[j])].clamp_min(0.0).cpu().numpy().astype(np.float64)
                p, R, lam_j = self._nnls(Zn[j], K, start, lam0)
                out[j] = torch.as_tensor(p, dtype=op.dtype, device=op.device)
                keep = min(R.size, op.d)  # more than d active rows: degenerate, not kept
                self.Rn[gi] = keep if R.size <= op.d else 0
                self.R[gi, :keep] = torch.as_tensor(R[:keep], device=op.device)
                self.lam[gi] = 0.0
                self.lam[gi, :keep] = torch.as_tensor(lam_j[:keep] / s, dtype=op.dtype,
                                                      device=op.device)
                if R.size > op.d:  # keep the multipliers of the certificate exact
                    self.extra[gi] = (R, lam_j / s)
        self.on[g] = True
        return out

    def snapshot(self, scale: float = 1.0) -> tuple:
        """The last step's multipliers times ``scale``, in compact form (for
        :meth:`dense_multipliers`)."""
        on = torch.nonzero(self.on).flatten()
        return (on.cpu().numpy(), self.R[on].cpu().numpy(), self.Rn[on].cpu().numpy(),
                scale * self.lam[on].detach().cpu().numpy().astype(np.float64),
                {g: (R, scale * lam) for g, (R, lam) in self.extra.items()})

    def dense_multipliers(self, snap: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Multipliers (the last step's, or a :meth:`snapshot`) as the (n, P) arrays
        ``(mu, nu)`` of the certificate."""
        groups, R, Rn, lam, extra = snap if snap is not None else self.snapshot()
        n, P = self.op.n, self.op.P
        mu, nu = np.zeros((n, P)), np.zeros((n, P))
        for k, gi in enumerate(groups):
            rows, vals = extra.get(int(gi), (R[k, :Rn[k]], lam[k, :Rn[k]]))
            (mu if gi < P else nu)[rows, gi % P] = vals
        return mu, nu


def offer_dual(mon: Any, lam: torch.Tensor, norm_max: float) -> float | None:
    """Offer the dual candidate ``lam`` (largest dual-constraint norm ``norm_max``) to the
    monitor ``mon``. Where it becomes the best certificate, the factor by which the monitor
    scaled it (the candidate's cone multipliers scale with it); else None."""
    before = mon.best_lam
    mon.dual(lam, norm_max)
    if mon.best_lam is before:
        return None
    lam_np = _numpy(lam)
    return float(mon.best_lam @ lam_np) / max(float(lam_np @ lam_np), 1e-300)


class BestMultipliers:
    """Offers dual candidates of the cone program to the monitor ``mon`` and keeps the cone
    multipliers (``proj``'s last step, scaled with the candidate) of its best certificate."""

    def __init__(self, mon: Any, proj: ConeProjection) -> None:
        self.mon, self.proj = mon, proj
        self.snap: tuple | None = None

    def offer(self, lam: torch.Tensor, norm_max: float) -> None:
        """``lam`` with the largest norm of its dual-constraint rows (built from ``proj``'s
        last multipliers)."""
        t = offer_dual(self.mon, lam, norm_max)
        if t is not None:  # a new best certificate: keep its multipliers
            self.snap = self.proj.snapshot(t)

    def dense(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kept multipliers as the certificate's (n, P) arrays ``(mu, nu)``, or None."""
        return None if self.snap is None else self.proj.dense_multipliers(self.snap)


@dataclasses.dataclass
class ConeFISTA(_TorchSolver):
    r"""Projected FISTA for the cone-constrained ReLU program (see the module docstring).

    Attributes
    ----------
    max_iters : int
        Iteration budget.
    stall : int
        Every ``stall`` iterations the certified gap's recent rate predicts the iterations
        still needed; above three times the budget left the solver stops early (status
        ``max_iters``, the message gives the rate). 0: run to ``max_iters``.
    feas_tol : float
        Relative violation of a cone row that counts as satisfied (see
        :class:`ConeProjection`).
    dual_step : int
        Every ``dual_step`` iterations or more, the certificate also tries the loss gradient
        moved by one Newton step onto the dual constraints of the nonzero signed groups, the
        cone multipliers of the last projection held fixed
        (:class:`~lift.solvers.group_lasso.ActiveDualStep`). 0: only the loss gradients.
    device, dtype, growth, shrink, threads
        As for :class:`~lift.problems.relu.solvers.GatedFISTA`.
    """

    max_iters: int = 20_000
    stall: int = 1_000
    feas_tol: float = 1e-12
    dual_step: int = 10

    def _run(self, lifted, s: _Setup, warm_start: dict | None) -> SolverResult:
        op, mon = s.op, s.monitor
        proj = ConeProjection(op, s.beta, self.feas_tol)
        U0 = s.warm_point(warm_start, cone=True)
        stalled = _Stall(self.stall, self.max_iters, mon.tol)
        best = {"F": math.inf, "x": None}
        kept = BestMultipliers(mon, proj)
        offer = kept.offer
        refine = ActiveDualStep(self.dual_step)
        cost = 3.5 * op.n * op.P * op.d  # an iteration: products with both signs, projection

        def check(k, x, Fx, y, G, step):
            if Fx < best["F"]:
                best["F"], best["x"] = Fx, x.x
            C = G.clone()
            if proj.moved.numel():
                C[proj.moved] -= proj.shift / step
            lam = y.cache["lam"]
            offer(lam, float(group_norms(C).max()) if C.numel() else 0.0)
            if refine.due(k):  # the rows' cone part, G - C, held fixed
                better = s.newton_dual(refine, k, _ConeRows(op, G - C), lam, C, y.x,
                                       y.cache["z"], cost)
                if better is not None:
                    offer(*better)
            return mon.record(k, Fx) or stalled(k, mon.rel_gap)

        _, penalty = s.group_lasso()
        step = 1.0 / (s.loss.curvature * 2.0 * op.lipschitz())
        method = dataclasses.replace(self._fista(self.max_iters), min_step=0.5 * step)
        out = method.run(_DifferenceOracle(op, s.loss, s.y), U0, proj, penalty, step, check)
        U = best["x"] if best["x"] is not None and best["F"] <= (out.value or math.inf) \
            else out.point.x
        Uh = _numpy(U)
        P = op.P
        msg = gap_message(mon, f"{out.iterations} iterations, {proj.nnls_calls} exact "
                               f"projections" + (f" ({stalled.reason})" if stalled.reason
                                                 else ""))
        primal = {"V": Uh[:P], "W": Uh[P:], "multipliers": kept.dense()}
        info = {"step": out.step, "stalled": bool(stalled.reason),
                "nnls_calls": proj.nnls_calls, "equality_projections": proj.equality_calls}
        return _result(s, "fista", out.iterations, msg, primal, info)
