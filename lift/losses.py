"""Convex losses shared by the lifts, the certificates and the trainers.

Each loss ``L(z; y) = sum_i l(z_i; y_i)`` knows its value (numpy, torch and cvxpy forms, so the
trainers, the convex programs and the certificates minimize the same function), its gradient
(the candidate dual point ``lambda = grad L(z)``) and its convex conjugate ``L^*`` (the dual
objective). The torch form is batched over leading dimensions and sums over the last one.
"""

from __future__ import annotations

import numpy as np

from lift.errors import check_choice

__all__ = ["Loss", "SquaredLoss", "LogisticLoss", "HingeLoss", "get_loss", "LOSSES"]


class Loss:
    """Base class: a separable convex loss of predictions ``z`` and targets ``y``."""

    name = "loss"
    #: True when the gradient is unique everywhere (a smooth loss)
    smooth = True

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

    def value(self, z, y):
        r = np.asarray(z) - y
        return 0.5 * float(r @ r)

    def grad(self, z, y):
        return np.asarray(z, dtype=np.float64) - y

    def conjugate(self, lam, y):
        return float(lam @ y + 0.5 * lam @ lam)

    def torch(self, pred, y):
        return 0.5 * ((pred - y) ** 2).sum(-1)

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


def _xlogx(s: np.ndarray) -> np.ndarray:
    out = np.zeros_like(s)
    pos = s > 0
    out[pos] = s[pos] * np.log(s[pos])
    return out


class LogisticLoss(Loss):
    r"""``L(z) = sum_i log(1 + exp(-y_i z_i))`` for labels in {-1, +1}.

    With ``s_i = -lam_i y_i``, ``L^*(lam) = sum_i s_i log s_i + (1 - s_i) log(1 - s_i)`` on
    ``s in [0, 1]^n`` and ``+inf`` elsewhere.
    """

    name = "logistic"

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

    def torch(self, pred, y):
        import torch

        return torch.nn.functional.softplus(-y * pred).sum(-1)

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
    smooth = False

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

    def torch(self, pred, y):
        import torch

        return torch.relu(1.0 - y * pred).sum(-1)

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
