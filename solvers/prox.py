r"""Proximal operators, as pure functions of one signature ``prox_*(x, l2reg, scaling)``.

Each returns

.. math::

    \operatorname{prox}(x) = \operatorname*{argmin}_u \; \tfrac12 \|u - x\|_2^2
    + \text{scaling} \cdot \text{penalty}(u; \text{l2reg}),

computed in closed form on torch tensors (any device, any floating dtype).
"""

from __future__ import annotations

import torch

__all__ = ["prox_group_lasso", "group_norms"]


def group_norms(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each row (group) of ``x``: shape ``x.shape[:-1]``."""
    return torch.linalg.vector_norm(x, dim=-1)


def prox_group_lasso(x: torch.Tensor, l2reg: float, scaling: float = 1.0) -> torch.Tensor:
    r"""Proximal operator of the group lasso with one group per row.

    .. math::

        \operatorname*{argmin}_U \; \tfrac12 \|U - X\|_F^2
        + \text{scaling} \cdot \text{l2reg} \sum_i \|u_i\|_2
        \;=\; \Big(1 - \frac{\text{scaling} \cdot \text{l2reg}}{\|x_i\|_2}\Big)_+ x_i
        \quad \text{row by row.}

    Parameters
    ----------
    x : (..., k) tensor
        Rows (last dimension) are the groups.
    l2reg : float >= 0
        Weight of the sum of group norms.
    scaling : float >= 0
        Step size multiplying ``l2reg`` (as in a proximal-gradient step).
    """
    threshold = float(l2reg) * float(scaling)
    norms = group_norms(x)
    shrink = torch.clamp(1.0 - threshold / torch.clamp(norms, min=torch.finfo(x.dtype).tiny),
                         min=0.0)
    return x * shrink.unsqueeze(-1)
