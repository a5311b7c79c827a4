r"""Accelerated proximal gradient (FISTA) with adaptive restarts and backtracking.

.. math::

    \min_x \; F(x) = f(x) + h(x),

``f`` smooth (an *oracle* object), ``h`` with a cheap proximal operator (a pure function
``prox(x, step) = argmin_u 1/2 ||u - x||^2 + step h(u)``, see :mod:`lift.solvers.prox`), so any
prox plugs in: a group lasso, a nuclear norm, a box.

References
----------
A. Beck and M. Teboulle. A fast iterative shrinkage-thresholding algorithm for linear inverse
problems. SIAM J. Imaging Sciences, 2009.
B. O'Donoghue and E. Candès. Adaptive restart for accelerated gradient schemes. Found.
Comput. Math., 2015.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Metric", "Point", "SmoothOracle", "ProxGradState", "ProximalGradient"]


@dataclasses.dataclass
class Point:
    """An iterate ``x`` with what the oracle computed there: the smooth value ``f`` (None
    until computed) and anything else in ``cache`` (e.g. predictions, the loss gradient)."""

    x: Any
    f: float | None = None
    cache: dict = dataclasses.field(default_factory=dict)


class SmoothOracle(Protocol):
    """The smooth part ``f`` as the method sees it."""

    def point(self, x: Any) -> Point:
        """``x`` with ``f(x)`` (may be left None when no line search needs it)."""

    def gradient(self, p: Point) -> Any:
        """``grad f`` at ``p`` (may set ``p.f`` and fill ``p.cache``)."""

    def extrapolate(self, new: Point, old: Point, m: float) -> Point:
        """The point ``new.x + m (new.x - old.x)`` (an oracle with linear structure can
        extrapolate its cache too)."""


class Metric(Protocol):
    r"""A variable metric ``M_s`` for the proximal step, given the scalar step ``s``:

    .. math::

        x_{k+1} = \operatorname*{argmin}_u \; h(u) + \tfrac12 \|u - z\|_{M_s}^2, \qquad
        z = y_k - M_s^{-1} \nabla f(y_k),

    with ``M_s = I / s`` the plain step. The line search tests ``f(x_{k+1})`` against the
    quadratic upper bound in ``M_s``, so a metric that fits ``f``'s curvature better than
    ``1 / s`` (e.g. ``f``'s few largest eigenvalues kept exactly) allows a longer ``s``."""

    ready: bool

    def direction(self, G: Any, step: float) -> Any:
        """``M_s^{-1} G``."""

    def prox(self, z: Any, step: float) -> Any:
        """``argmin_u h(u) + 1/2 ||u - z||_{M_s}^2``."""

    def quad(self, v: Any, step: float) -> float:
        """``v^T M_s v``."""


@dataclasses.dataclass
class ProxGradState:
    """Where :meth:`ProximalGradient.run` stopped: the iterate, ``F`` there (None when the
    oracle does not evaluate ``f``), iterations taken and the current step."""

    point: Point
    value: float | None
    iterations: int
    step: float


def _inner(a: Any, b: Any) -> float:
    return float((a * b).sum())


@dataclasses.dataclass
class ProximalGradient:
    r"""FISTA for ``min_x f(x) + h(x)`` with adaptive restarts and backtracking.

    .. math::

        x_{k+1} = \operatorname{prox}_{s_k h}\big(y_k - s_k \nabla f(y_k)\big), \qquad
        y_{k+1} = x_{k+1} + \frac{t_k - 1}{t_{k+1}} (x_{k+1} - x_k).

    With ``line_search``, the step ``s_k`` is halved (``shrink``) until ``f(x_{k+1})`` is below
    the quadratic upper bound at ``y_k``, and multiplied by ``growth`` after every accepted
    step; without it the step stays as given (it must then be at most ``1 / Lip(grad f)``).
    The momentum restarts (``y = x``, ``t = 1``) when the step and the last move point apart,
    ``<y_k - x_{k+1}, x_{k+1} - x_k> > 0`` (O'Donoghue & Candès).

    Attributes
    ----------
    max_iters : int
        Iterations at most.
    line_search : bool
        Backtracking and step growth (needs ``f`` at every trial point).
    growth, shrink : float
        Step growth after each accepted step and backtracking factor.
    polish_every : int
        Period of the ``polish`` callback of :meth:`run`.
    slack : float
        Relative slack of the line search's test (rounding in ``f``: about 1e-13 in float64,
        1e-6 in float32).
    min_step : float
        Backtracking stops here (a step known to be safe, ``1 / Lip(grad f)``, so that
        rounding in ``f`` near the optimum cannot shrink the step to zero); 0: no floor.
    """

    max_iters: int = 10_000
    line_search: bool = True
    growth: float = 1.25
    shrink: float = 0.5
    polish_every: int = 10
    slack: float = 1e-13
    min_step: float = 0.0

    def run(self, oracle: SmoothOracle, x0: Any, prox: Callable[[Any, float], Any],
            penalty: Callable[[Any], float], step: float,
            check: Callable[[int, Point, float | None, Point, Any, float], bool],
            polish: Callable[[Point, float | None], Point | None] | None = None,
            metric: Metric | None = None) -> ProxGradState:
        """Iterate from ``x0`` with initial ``step``.

        ``penalty(x) = h(x)``. ``check(k, x, F(x), y, grad f(y), step)`` is called after each
        iteration (the stopping test: e.g. a certified gap, whose dual point is the gradient
        at ``y``); True stops. ``polish(x, F(x))``, called every ``polish_every`` iterations,
        may return a better point (e.g. Newton steps on a support); the iteration continues
        from it with the momentum reset. ``metric`` (:class:`Metric`), once ``metric.ready``
        (it may become ready during the run, e.g. set up in ``check``), replaces the plain
        step ``s`` by ``M_s`` (and ``prox`` by ``metric.prox``).
        """
        x = oracle.point(x0)
        Fx = self._value(x, penalty)
        y, t = x, 1.0
        k = 0
        for k in range(1, self.max_iters + 1):
            G = oracle.gradient(y)
            xn, step = self._step(oracle, y, G, step, prox,
                                  metric if metric is not None and metric.ready else None)
            Fn = self._value(xn, penalty)
            if check(k, xn, Fn, y, G, step):
                return ProxGradState(xn, Fn, k, step)
            if _inner(y.x - xn.x, xn.x - x.x) > 0:  # gradient-mapping restart
                y, t = xn, 1.0
            else:
                t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
                y = oracle.extrapolate(xn, x, (t - 1) / t_new)
                t = t_new
            x, Fx = xn, Fn
            if self.line_search:
                step *= self.growth
            if polish is not None and k % self.polish_every == 0:
                better = polish(x, Fx)
                if better is not None:
                    x = y = better
                    Fx = self._value(better, penalty)
                    t = 1.0
        return ProxGradState(x, Fx, k, step)

    @staticmethod
    def _value(p: Point, penalty: Callable[[Any], float]) -> float | None:
        return None if p.f is None else p.f + penalty(p.x)

    def _step(self, oracle: SmoothOracle, y: Point, G: Any, step: float,
              prox: Callable[[Any, float], Any], metric: Metric | None = None
              ) -> tuple[Point, float]:
        """One proximal step from ``y``, backtracking on the quadratic upper bound."""
        def trial(s: float) -> Point:
            if metric is None:
                return oracle.point(prox(y.x - s * G, s))
            return oracle.point(metric.prox(y.x - metric.direction(G, s), s))

        if not self.line_search:
            return trial(step), step
        fy = y.f
        for _ in range(60):
            xn = trial(step)
            diff = xn.x - y.x
            quad = (_inner(diff, diff) / step if metric is None
                    else metric.quad(diff, step))
            bound = fy + _inner(G, diff) + 0.5 * quad
            if xn.f <= bound + self.slack * max(abs(fy), 1.0) or step <= self.min_step:
                break
            step = max(step * self.shrink, self.min_step)
        return xn, step
