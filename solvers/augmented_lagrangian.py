r"""The method of multipliers (augmented Lagrangian), as an outer loop.

.. math::

    \min_x \; F(x) \quad \text{s.t.} \quad c(x) \ge 0

is solved through the inner problems

.. math::

    x_{k+1} \approx \operatorname*{argmin}_x \; F(x)
    + \frac{1}{2\rho} \big\|(\mu_k - \rho\, c(x))_+\big\|^2 ,
    \qquad \mu_{k+1} = (\mu_k - \rho\, c(x_{k+1}))_+ ,

the inner tolerance tightening geometrically and ``rho`` growing when an update did not shrink
the constraint violation enough. The inner solver, the multiplier update and the penalty are
the caller's (callbacks); this module is the loop and its rules only.

References
----------
M. R. Hestenes. Multiplier and gradient methods. J. Optim. Theory Appl., 1969.
D. P. Bertsekas. Constrained Optimization and Lagrange Multiplier Methods. 1982.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

__all__ = ["MethodOfMultipliers"]


@dataclasses.dataclass
class MethodOfMultipliers:
    r"""Outer loop of the method of multipliers.

    Attributes
    ----------
    inner_tol, inner_decay : float
        The k-th inner solve gets tolerance ``inner_tol * inner_decay**k``, at least the
        ``floor`` given to :meth:`run`.
    decrease, increase : float
        The penalty is multiplied by ``increase`` when a multiplier update did not shrink the
        largest constraint violation by the factor ``decrease``.
    """

    inner_tol: float = 0.1
    inner_decay: float = 0.3
    decrease: float = 0.5
    increase: float = 2.0

    def run(self, solve_inner: Callable[[float], bool], update: Callable[[], float],
            grow_penalty: Callable[[float], None], floor: float = 0.0,
            report: Callable[[int, float], None] | None = None) -> int:
        """Alternate inner solves and multiplier updates.

        ``solve_inner(eps)`` solves the current inner problem to tolerance ``eps`` and
        returns True to stop (converged, or out of budget); ``update()`` updates the
        multipliers and returns the largest constraint violation; ``grow_penalty(factor)``
        multiplies the penalty parameter. ``report(outer, violation)`` is called after each
        update. Returns the number of inner solves.
        """
        eps, prev, outer = self.inner_tol, None, 0
        while True:
            outer += 1
            if solve_inner(eps):
                return outer
            viol = update()
            if prev is not None and viol > self.decrease * prev:
                grow_penalty(self.increase)
            prev = viol
            eps = max(eps * self.inner_decay, floor)
            if report is not None:
                report(outer, viol)
