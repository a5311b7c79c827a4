"""Two-layer ReLU and gated ReLU networks, and the map from a convex solution to a network."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["ReLUNet", "GatedReLUNet", "recover_network", "reduce_neurons", "REDUCE_LIMIT",
           "REDUCE_WORK", "ACTIVE_RTOL"]

#: the Caratheodory reduction of recovered networks is skipped above n * width entries
REDUCE_LIMIT = 50_000_000
#: ... and where it would remove more neurons than this many multiply-adds allow: each neuron
#: beyond ``n + 1`` costs an SVD of an ``(n + 1)``-square window (at ``n = 2,000`` a network of
#: 4,000 neurons would take about 2,000 of them, some 1e13 multiply-adds)
REDUCE_WORK = 1e11
#: a neuron is active when ``|alpha_j| ||u_j||`` exceeds this fraction of the largest
ACTIVE_RTOL = 1e-3

# --------------------------------------------------------------------------------------------
class ReLUNet(torch.nn.Module):
    r"""``f(x) = sum_j alpha_j (w_j^T x + b_j)_+``, penalty ``sum_j ||w_j||^2 + b_j^2 + alpha_j^2``.

    Parameters ``weight`` (width, d), ``bias`` (width,) or None, ``alpha`` (width,).
    """

    def __init__(self, in_features: int, width: int, bias: bool = True,
                 dtype: torch.dtype = torch.float64, device: Any = None) -> None:
        super().__init__()
        kw = {"dtype": dtype, "device": device}
        self.weight = torch.nn.Parameter(torch.zeros(width, in_features, **kw))
        self.bias = torch.nn.Parameter(torch.zeros(width, **kw)) if bias else None
        self.alpha = torch.nn.Parameter(torch.zeros(width, **kw))

    @property
    def width(self) -> int:
        return self.alpha.shape[0]

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        pre = X @ self.weight.T
        if self.bias is not None:
            pre = pre + self.bias
        return pre

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(X)) @ self.alpha

    def penalty(self) -> torch.Tensor:
        """``sum_j ||u_j||^2 + alpha_j^2`` (the bias is part of ``u_j``)."""
        p = self.weight.square().sum() + self.alpha.square().sum()
        if self.bias is not None:
            p = p + self.bias.square().sum()
        return p

    def first_layer(self) -> np.ndarray:
        """The (width, d + bias) matrix of neurons ``u_j`` (bias last)."""
        W = self.weight.detach().cpu().double().numpy()
        if self.bias is None:
            return W
        return np.hstack([W, self.bias.detach().cpu().double().numpy()[:, None]])

    def active_units(self, rtol: float = ACTIVE_RTOL) -> int:
        """Neurons whose contribution ``|alpha_j| ||u_j||`` exceeds ``rtol`` times the largest."""
        a = np.abs(self.alpha.detach().cpu().double().numpy())
        mass = a * np.linalg.norm(self.first_layer(), axis=1)
        if mass.size == 0 or mass.max() == 0:
            return 0
        return int(np.sum(mass > rtol * mass.max()))


class GatedReLUNet(ReLUNet):
    r"""Gated ReLU network ``f(x) = sum_j alpha_j 1[g_j^T x + c_j >= 0] (w_j^T x + b_j)``.

    The gates ``(g_j, c_j)`` are fixed buffers (``gates``, shape (width, d + bias)).
    """

    def __init__(self, in_features: int, width: int, gates: np.ndarray | torch.Tensor,
                 bias: bool = True, dtype: torch.dtype = torch.float64, device: Any = None):
        super().__init__(in_features, width, bias=bias, dtype=dtype, device=device)
        self.register_buffer("gates", torch.as_tensor(np.asarray(gates), dtype=dtype,
                                                      device=device))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        d = X.shape[-1]
        g = X @ self.gates[:, :d].T
        if self.gates.shape[1] > d:
            g = g + self.gates[:, d]
        return ((g >= 0).to(X.dtype) * self.hidden(X)) @ self.alpha


def recover_network(V: np.ndarray, W: np.ndarray | None, in_features: int, bias: bool,
                    gates: np.ndarray | None = None, prune: float = 1e-7) -> ReLUNet:
    r"""Map a convex solution to a network: ``u = v / sqrt(||v||)``, ``alpha = sqrt(||v||)``.

    Parameters
    ----------
    V, W : (P, d + bias) arrays
        Rows ``v_i`` and ``w_i`` (``W`` None for the gated program).
    gates : (P, d + bias) array, optional
        Gate of each pattern; given, the result is a :class:`GatedReLUNet`.
    prune : float
        Rows with ``||v_i|| <= prune * max_i ||v_i||`` are dropped (exact zeros always are).
    """
    blocks = [(V, 1.0)] + ([(W, -1.0)] if W is not None else [])
    rows, alphas, keep_gates = [], [], []
    scale = max((np.linalg.norm(B, axis=1).max(initial=0.0) for B, _ in blocks), default=0.0)
    for B, sign in blocks:
        norms = np.linalg.norm(B, axis=1)
        keep = np.flatnonzero(norms > max(prune * scale, 0.0))
        rows.append(B[keep] / np.sqrt(norms[keep])[:, None])
        alphas.append(sign * np.sqrt(norms[keep]))
        if gates is not None:
            keep_gates.append(gates[keep])
    U = np.concatenate(rows) if rows else np.zeros((0, V.shape[1]))
    alpha = np.concatenate(alphas)
    width = U.shape[0]
    if gates is not None:
        net: ReLUNet = GatedReLUNet(in_features, width, np.concatenate(keep_gates), bias=bias)
    else:
        net = ReLUNet(in_features, width, bias=bias)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(U[:, :in_features]))
        if bias:
            net.bias.copy_(torch.from_numpy(U[:, in_features]))
        net.alpha.copy_(torch.from_numpy(alpha))
    return net


def reduce_neurons(prob, net: ReLUNet) -> ReLUNet:
    """Drop neurons at no cost to the objective (exact Caratheodory reduction).

    Neuron ``j`` contributes ``alpha_j (Xa u_j)_+`` (gated: its gated output) to the
    predictions and ``beta/2 (||u_j||^2 + alpha_j^2)`` to the penalty; both scale by ``s_j``
    when ``u_j`` and ``alpha_j`` are scaled by ``sqrt(s_j)``. See :mod:`lift.recovery`.
    At most ``n + 1`` neurons remain. Skipped (the network is returned as it is) when the
    ``n x width`` activation matrix would exceed ``REDUCE_LIMIT`` entries, or removing the
    neurons beyond ``n + 1`` would cost more than ``REDUCE_WORK`` multiply-adds.
    """
    from lift.recovery import caratheodory_weights

    if net.width <= 1 or prob.n * net.width > REDUCE_LIMIT:
        return net
    if (net.width - prob.n - 1) * float(prob.n + 1) ** 3 > REDUCE_WORK:
        return net
    U = net.first_layer()
    a = net.alpha.detach().cpu().numpy()
    Xa = prob.Xa
    act = (Xa @ net.gates.cpu().numpy().T >= 0) if isinstance(net, GatedReLUNet) else None
    pre = Xa @ U.T
    H = ((act * pre) if act is not None else np.maximum(pre, 0)) * a  # (n, m)
    cost = 0.5 * (np.sum(U**2, axis=1) + a**2)  # scales by s_j with (u_j, alpha_j)
    s = caratheodory_weights(H.T, cost)
    keep = np.flatnonzero(s > 0)
    root = np.sqrt(s[keep])
    U2, a2 = U[keep] * root[:, None], a[keep] * root
    if isinstance(net, GatedReLUNet):
        gates = net.gates.cpu().numpy()[keep]
        out: ReLUNet = GatedReLUNet(prob.d, keep.size, gates, bias=prob.bias)
    else:
        out = ReLUNet(prob.d, keep.size, bias=prob.bias)
    with torch.no_grad():
        out.weight.copy_(torch.from_numpy(U2[:, : prob.d]))
        if prob.bias:
            out.bias.copy_(torch.from_numpy(U2[:, prob.d]))
        out.alpha.copy_(torch.from_numpy(a2))
    return out
