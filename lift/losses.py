"""Convex losses shared by the lifts, the certificates and the trainers.

Each loss ``L(z; y) = sum_i l(z_i; y_i)`` knows its value (numpy, torch and cvxpy forms, so the
trainers, the convex programs and the certificates minimize the same function), its gradient
(the candidate dual point ``lambda = grad L(z)``) and its convex conjugate ``L^*`` (the dual
objective). The torch form is batched over leading dimensions and sums over the last one.

The smooth losses also carry what the torch solvers need: the gradient and the second
derivatives on torch tensors (:meth:`Loss.torch_grad`, :meth:`Loss.torch_hess`) and a bound on
the second derivative (:attr:`Loss.curvature`). Every lower bound of the library goes through
one routine, :meth:`Loss.best_scaled_dual`: ``max_{0 <= t <= tmax} -L^*(t lambda)``.
"""

from __future__ import annotations

import math

import numpy as np

from lift.errors import check_choice

#: golden-section steps of :meth:`Loss.best_scaled_dual` (the bracket shrinks to
#: ``0.618^60 ~ 3e-13`` of its length)
GOLDEN_STEPS = 60

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "HingeLoss", "get_loss", "LOSSES"]


class Loss:
    """Base class: a separable convex loss of predictions ``z`` and targets ``y``."""

    name = "loss"
    #: an upper bound on the second derivative ``l''`` (None: the loss is not smooth)
    curvature: float | None = None

    def check_targets(self, y: np.ndarray) -> np.ndarray:
        return y

    def value(self, z: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def grad(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def conjugate(self, lam: np.ndarray, y: np.ndarray) -> float:
        """``L^*(lam) = sup_z lam^T z - L(z)``; ``inf`` outside its domain."""
        raise NotImplementedError

    def project_dual(self, lam: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Map a dual candidate into the domain of ``L^*`` (identity where it is everywhere)."""
        return np.asarray(lam, dtype=np.float64)

    def torch(self, pred, y):
        raise NotImplementedError

    def torch_grad(self, z, y):
        """``l'(z_k; y_k)`` elementwise on torch tensors (smooth losses only)."""
        raise NotImplementedError(f"the {self.name} loss has no gradient everywhere")

    def torch_hess(self, z, y):
        """``l''(z_k; y_k)`` elementwise on torch tensors (smooth losses only)."""
        raise NotImplementedError(f"the {self.name} loss has no second derivative")

    def dual_domain(self, lam: np.ndarray, y: np.ndarray) -> float:
        """The largest ``t >= 0`` with ``t lam`` in the domain of ``L^*`` (``inf``: all)."""
        return math.inf

    def best_scaled_dual(self, lam: np.ndarray, y: np.ndarray, tmax: float
                         ) -> tuple[float, float]:
        r"""The best lower bound along the ray of ``lam``: ``(value, t)`` with

        .. math::

            t \in \operatorname*{argmax}_{0 \le t \le t_{\max}} \; -L^*(t \lambda).

        By weak duality ``-L^*(t lam)`` bounds the program from below whenever ``t lam`` is
        dual feasible for every ``t <= tmax``; the value is evaluated at the returned ``t``,
        so any maximizer, even an inexact one, gives a valid bound. ``-L^*(t lam)`` is concave
        in ``t``: golden-section search on ``[0, min(tmax, dual_domain)]``
        (:data:`GOLDEN_STEPS` steps), then the best of the bracket and both ends.
        """
        lam = np.asarray(lam, dtype=np.float64)
        hi = min(float(tmax), self.dual_domain(lam, y))
        if not hi > 0:
            return self._best_on_ray(lam, y, ())
        self._check_ray(hi)

        def f(t: float) -> float:
            return -self.conjugate(t * lam, y)

        lo_ = 0.0
        g = (math.sqrt(5) - 1) / 2
        a, b = hi - g * hi, g * hi
        fa, fb = f(a), f(b)
        top = hi
        for _ in range(GOLDEN_STEPS):
            if fa < fb:
                lo_, a, fa = a, b, fb
                b = lo_ + g * (top - lo_)
                fb = f(b)
            else:
                top, b, fb = b, a, fa
                a = top - g * (top - lo_)
                fa = f(a)
        return self._best_on_ray(lam, y, (a, b, hi))

    def _best_on_ray(self, lam: np.ndarray, y: np.ndarray, ts) -> tuple[float, float]:
        """``(value, t)``: the best ``-L^*(t lam)`` over ``t = 0`` and ``ts``, evaluated at the
        ``t`` returned (so the bound is valid whatever found the candidates)."""
        best_t, best = 0.0, -self.conjugate(0.0 * lam, y)
        for t in ts:
            val = -self.conjugate(t * lam, y)
            if np.isfinite(val) and val > best:
                best_t, best = t, val
        return best, best_t

    def _check_ray(self, hi: float) -> None:
        if not math.isfinite(hi):
            raise ValueError(f"`tmax` must be finite for the {self.name} loss when `lam` lies "
                             "in the domain of its conjugate along the whole ray; pass the "
                             "largest dual-feasible scaling, e.g. beta / max_i ||c_i||.")

    def cvxpy(self, z, y: np.ndarray):
        raise NotImplementedError

    def error(self, z: np.ndarray, y: np.ndarray) -> float:
        """A task error for reports: mean squared error or misclassification rate."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SquaredLoss(Loss):
    r"""``L(z) = 1/2 ||z - y||^2``; ``L^*(lam) = lam^T y + 1/2 ||lam||^2``."""

    name = "squared"
    curvature = 1.0

    def value(self, z, y):
        r = np.asarray(z) - y
        return 0.5 * float(r @ r)

    def grad(self, z, y):
        return np.asarray(z, dtype=np.float64) - y

    def conjugate(self, lam, y):
        return float(lam @ y + 0.5 * lam @ lam)

    def torch(self, pred, y):
        return 0.5 * ((pred - y) ** 2).sum(-1)

    def torch_grad(self, z, y):
        return z - y

    def torch_hess(self, z, y):
        import torch

        return torch.ones_like(z)

    def best_scaled_dual(self, lam, y, tmax):
        """Closed form: ``-L^*(t lam) = -t lam'y - t^2 ||lam||^2 / 2``, a concave parabola."""
        lam = np.asarray(lam, dtype=np.float64)
        ly = float(lam @ y)
        ll = float(lam @ lam)
        t = 0.0 if ll == 0.0 else min(max(-ly / ll, 0.0), float(tmax))
        return -t * ly - 0.5 * t * t * ll, t

    def cvxpy(self, z, y):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(z - y)

    def error(self, z, y):
        return float(np.mean((np.asarray(z) - y) ** 2))


def _check_pm1(y: np.ndarray, loss: str) -> np.ndarray:
    labels = np.unique(y)
    if not np.all(np.isin(labels, (-1.0, 1.0))):
        shown = labels[:5].tolist()
        raise ValueError(
            f"`y` must hold labels in {{-1, +1}} for loss={loss!r}; got values {shown}"
            f"{'...' if labels.size > 5 else ''}. Map your classes with "
            "y = 2 * (y == positive) - 1."
        )
    return y


def _project_pm1(lam: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Clip ``s = -lam * y`` into [0, 1], the domain of the logistic and hinge conjugates."""
    return -y * np.clip(-np.asarray(lam, dtype=np.float64) * y, 0.0, 1.0)


def _pm1_domain(lam: np.ndarray, y: np.ndarray) -> float:
    """Largest ``t`` with ``s = -t lam y`` in ``[0, 1]^n`` (0 when some ``s_k < 0``)."""
    s = -np.asarray(lam) * y
    if s.size == 0:
        return math.inf
    if float(s.min()) < 0:
        return 0.0
    smax = float(s.max())
    return math.inf if smax <= 0 else 1.0 / smax


def _xlogx(s: np.ndarray) -> np.ndarray:
    return s * np.log(np.where(s > 0, s, 1.0))  # 0 at 0


class LogisticLoss(Loss):
    r"""``L(z) = sum_i log(1 + exp(-y_i z_i))`` for labels in {-1, +1}.

    With ``s_i = -lam_i y_i``, ``L^*(lam) = sum_i s_i log s_i + (1 - s_i) log(1 - s_i)`` on
    ``s in [0, 1]^n`` and ``+inf`` elsewhere.
    """

    name = "logistic"
    curvature = 0.25

    def check_targets(self, y):
        return _check_pm1(y, self.name)

    def value(self, z, y):
        return float(np.sum(np.logaddexp(0.0, -y * np.asarray(z))))

    def grad(self, z, y):
        m = -y * np.asarray(z, dtype=np.float64)
        return -y * (0.5 * (1.0 + np.tanh(0.5 * m)))  # -y * sigmoid(m), overflow-free

    def conjugate(self, lam, y):
        s = -lam * y
        if np.any(s < -1e-15) or np.any(s > 1 + 1e-15):
            return np.inf
        s = np.clip(s, 0.0, 1.0)
        return float(np.sum(_xlogx(s) + _xlogx(1.0 - s)))

    def project_dual(self, lam, y):
        return _project_pm1(lam, y)

    def dual_domain(self, lam, y):
        return _pm1_domain(lam, y)

    def best_scaled_dual(self, lam, y, tmax):
        r"""The root of the derivative, by Brent's method: with ``s = -lam y`` (the ray
        leaves the domain where some ``s_k < 0``, and at ``t = 1 / max s``),
        ``phi(t) = -L^*(t lam) = -sum_k h(t s_k)``, ``h(x) = x log x + (1 - x) log(1 - x)``,
        has ``phi'(t) = -sum_k s_k log(t s_k / (1 - t s_k))``, which decreases from ``+inf``
        at ``0`` to ``-inf`` at ``1 / max s``. The value is evaluated at the returned ``t``,
        as in the base class' golden-section search, which took 64 evaluations of ``L^*``
        (3.4 ms at ``n = 569``, most of ``ssnal``'s time on small logistic programs) where
        this takes 10-12 derivatives (0.09 ms; 0.5 ms against 11 ms at ``n = 10,000``)."""
        from scipy.optimize import brentq

        lam = np.asarray(lam, dtype=np.float64)
        sv = -lam * y
        hi = min(float(tmax), _pm1_domain(lam, y))
        self._check_ray(hi)
        sv = sv[sv > 0]
        if not hi > 0 or sv.size == 0:  # only t = 0, or phi = 0 along the whole ray
            return self._best_on_ray(lam, y, ())
        logs = np.log(sv)

        def slope(t: float) -> float:
            return -float(sv @ (logs + math.log(t) - np.log1p(-t * sv)))

        # hi <= 1 / max s; just inside that end, phi' is finite
        b = min(hi, (1.0 - 1e-15) / float(sv.max()))
        if slope(b) >= 0:  # still rising at the end of the ray
            t = b
        else:  # phi'(1e-12 b) > 0: every t s_k there is below 1e-12
            t = brentq(slope, 1e-12 * b, b, xtol=1e-300, rtol=4.5e-15)
        return self._best_on_ray(lam, y, (t, hi))

    def torch(self, pred, y):
        import torch

        return torch.nn.functional.softplus(-y * pred).sum(-1)

    def torch_grad(self, z, y):
        import torch

        return -y * torch.sigmoid(-y * z)

    def torch_hess(self, z, y):
        import torch

        s = torch.sigmoid(-y * z)
        return s * (1 - s)

    def cvxpy(self, z, y):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(y, z)))

    def error(self, z, y):
        return float(np.mean(np.sign(np.asarray(z)) != y))


class HingeLoss(Loss):
    r"""``L(z) = sum_i max(0, 1 - y_i z_i)`` for labels in {-1, +1}.

    With ``s_i = -lam_i y_i``, ``L^*(lam) = -sum_i s_i`` on ``s in [0, 1]^n``. The loss is not
    smooth: the dual candidate at a margin point is taken from the solver's dual variable.
    """

    name = "hinge"

    def check_targets(self, y):
        return _check_pm1(y, self.name)

    def value(self, z, y):
        return float(np.sum(np.maximum(0.0, 1.0 - y * np.asarray(z))))

    def grad(self, z, y):
        margin = y * np.asarray(z, dtype=np.float64)
        return -y * (margin < 1.0)

    def conjugate(self, lam, y):
        s = -lam * y
        if np.any(s < -1e-15) or np.any(s > 1 + 1e-15):
            return np.inf
        return float(-np.sum(np.clip(s, 0.0, 1.0)))

    def project_dual(self, lam, y):
        return _project_pm1(lam, y)

    def dual_domain(self, lam, y):
        return _pm1_domain(lam, y)

    def torch(self, pred, y):
        import torch

        return torch.clamp(1.0 - y * pred, min=0.0).sum(-1)

    def cvxpy(self, z, y):
        import cvxpy as cp

        return cp.sum(cp.pos(1 - cp.multiply(y, z)))

    def error(self, z, y):
        return float(np.mean(np.sign(np.asarray(z)) != y))


LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredLoss,
    "logistic": LogisticLoss,
    "hinge": HingeLoss,
}


def get_loss(loss: str | Loss) -> Loss:
    """A loss instance from its name (``"squared"``, ``"logistic"``, ``"hinge"``)."""
    if isinstance(loss, Loss):
        return loss
    return LOSSES[check_choice(loss, "loss", LOSSES)]()
