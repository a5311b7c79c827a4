r"""A fast path for training two-layer ReLU networks (``TwoLayerReLU.population``).

The generic trainer (:func:`lift.solvers.sgd.train_population`) vmaps ``torch_objective`` over
the members; for ReLU networks the stacked weights ``W`` (B, m, d), ``b`` (B, m), ``alpha``
(B, m) are evaluated directly, member chunks at a time so that each chunk's hidden
activations ``(chunk, m, n)`` stay in cache:

.. math::

    F_k = w\, L\Big(\sum_j \alpha_{kj} (W_{kj}^T x + b_{kj})_+,\; y\Big)
    + \frac{\beta}{2} \sum_j \big(\|W_{kj}\|^2 + b_{kj}^2 + \alpha_{kj}^2\big),

the same function as ``prob.torch_objective`` on member ``k`` (measured 2-3x faster than the
generic path on the CPU; see ``benchmarks/population.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["ReLUPopulation", "MAX_ELEMENTS"]

#: hidden activations per chunk of members (about 2 MB in float64: cache-sized on the CPU)
MAX_ELEMENTS = 2**18


class ReLUPopulation:
    """Networks ``prob.model(size, seeds[k])`` stacked along a member axis.

    Attributes
    ----------
    tensors : list of torch.Tensor
        ``[W, alpha]`` (and ``b`` with bias), leaves with ``requires_grad``.
    """

    def __init__(self, prob, size: int, seeds: Sequence[int], dtype: torch.dtype,
                 device: torch.device, max_elements: int | None = MAX_ELEMENTS) -> None:
        self.prob, self.size, self.seeds = prob, size, list(seeds)
        nets = [prob.model(size, s, dtype=dtype, device=device) for s in self.seeds]
        self.W = torch.stack([net.weight.detach() for net in nets]).requires_grad_(True)
        self.a = torch.stack([net.alpha.detach() for net in nets]).requires_grad_(True)
        self.b = (torch.stack([net.bias.detach() for net in nets]).requires_grad_(True)
                  if prob.bias else None)
        self.tensors = [self.W, self.a] + ([self.b] if self.b is not None else [])
        B = len(self.seeds)
        if max_elements is None or device.type != "cpu":
            self.chunk = B
        else:
            self.chunk = max(1, min(B, max_elements // max(size * prob.n_samples, 1)))

    def _chunk(self, sl: slice, X: torch.Tensor, y: torch.Tensor,
               weight: float) -> torch.Tensor:
        W, a = self.W[sl], self.a[sl]
        pre = W @ X.transpose(-1, -2)  # (c, m, n): shared X (n, d) or per-member (c, n, d)
        if self.b is not None:
            pre = pre + self.b[sl][..., None]
        out = (a[:, None, :] @ torch.relu(pre)).squeeze(1)
        pen = W.square().sum((1, 2)) + a.square().sum(-1)
        if self.b is not None:
            pen = pen + self.b[sl].square().sum(-1)
        return weight * self.prob.loss.torch(out, y) + 0.5 * self.prob.beta * pen

    def objective(self, data: tuple, idx: torch.Tensor | None = None,
                  weight: float = 1.0) -> torch.Tensor:
        """``(B,)`` objectives on all of ``data`` or on member ``k``'s rows ``idx[k]``."""
        X, y = data
        if idx is not None:
            X, y = X[idx], y[idx]  # (B, batch, d), (B, batch)
        parts = []
        for k0 in range(0, len(self.seeds), self.chunk):
            sl = slice(k0, k0 + self.chunk)
            parts.append(self._chunk(sl, X if idx is None else X[sl],
                                     y if idx is None else y[sl], weight))
        return torch.cat(parts)

    def model(self, k: int) -> Any:
        """Member ``k`` as ``prob.model(size, seeds[k])`` on the CPU, trained weights."""
        net = self.prob.model(self.size, self.seeds[k], dtype=self.W.dtype)
        with torch.no_grad():
            net.weight.copy_(self.W[k].detach().cpu())
            net.alpha.copy_(self.a[k].detach().cpu())
            if self.b is not None:
                net.bias.copy_(self.b[k].detach().cpu())
        return net
