r"""A working-set scheme for sparse-group programs, with certified stopping.

.. math::

    \min_x \; f(x) + \beta \sum_g \|x_g\|_2

over many groups of which few are nonzero at the optimum: solve the program restricted to a
working set ``S`` of groups accurately, then price *every* group with one full pass (its
dual-constraint norm ``||c_g||`` at the loss gradient: exactly the certificate), let the
violated ones (``||c_g|| > beta``) in, the most violated first, and repeat. The full pass gives
the certified gap, so the scheme stops on the same test as the first-order methods.

The program is the caller's (:class:`WorkingSetProgram`: the pass, the restricted solve and
what to do when nothing is left to add); this module is the outer loop and the choice of the
next set.

References
----------
M. Massias, A. Gramfort and J. Salmon. Celer: a fast solver for the lasso with dual
extrapolation. ICML 2018 (working sets of twice the support, pricing by dual violation).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from lift.solvers.monitor import GapMonitor

__all__ = ["Priced", "WorkingSetProgram", "WorkingSet", "next_working_set"]


@dataclasses.dataclass
class Priced:
    """One full pass: the dual candidate ``lam``, the largest dual-constraint norm over all
    groups (the certificate's), the scores that choose the next set (norms known to be
    exact where above ``beta``, zero elsewhere), the nonzero groups and the primal value."""

    lam: Any
    norm_max: float
    scores: np.ndarray
    support: np.ndarray
    upper: float


class WorkingSetProgram(Protocol):
    """What :class:`WorkingSet` needs from a program. Each method returning ``str`` returns
    an empty string to go on, or the reason to stop."""

    def price(self) -> Priced:
        """One pass over all groups at the current point."""

    def exhausted(self) -> str:
        """A reason when the budget of the restricted solves is spent."""

    def nothing_to_add(self) -> str:
        """No group violates its constraint but the gap is open: tighten the restricted
        solve (then the same set is solved again) or give the reason to stop."""

    def admit(self, work: list[int]) -> str:
        """A reason when the set ``work`` cannot be solved (e.g. too large)."""

    def solve(self, work: list[int], same: bool) -> str:
        """Solve the program restricted to ``work`` (``same``: the previous set) from the
        current point and move there; a reason when it failed."""


def next_working_set(support: np.ndarray, scores: np.ndarray, beta: float,
                     start: int) -> list[int] | None:
    """The nonzero groups, then the ``max(start, |support|)`` groups outside them that violate
    their dual constraint (``scores > beta``) the most; None when none does. Zero groups that
    satisfy it leave the set."""
    inside = np.zeros(scores.size, dtype=bool)
    inside[support] = True
    viol = np.flatnonzero(~inside & (scores > beta))
    if viol.size == 0:
        return None
    viol = viol[np.argsort(-scores[viol], kind="stable")][:max(start, support.size)]
    return [int(g) for g in support] + [int(g) for g in viol]


@dataclasses.dataclass
class WorkingSet:
    """The outer loop: price, stop on the certified gap, choose the next set, solve it.

    Attributes
    ----------
    max_outer : int
        Full passes at most.
    start : int
        Smallest number of groups added at once.
    """

    max_outer: int = 100
    start: int = 10

    def run(self, program: WorkingSetProgram, monitor: GapMonitor
            ) -> tuple[int, list[int], str]:
        """Returns ``(passes, last working set, reason)``; ``reason`` is empty when the gap
        closed or the passes ran out."""
        work: list[int] = []
        outer, reason = 0, ""
        for outer in range(1, self.max_outer + 1):
            priced = program.price()
            monitor.dual(priced.lam, norm_max=priced.norm_max)
            if monitor.record(outer, priced.upper):
                break
            reason = program.exhausted()
            if reason:
                break
            nxt = next_working_set(priced.support, priced.scores, monitor.beta, self.start)
            if nxt is None:
                reason = program.nothing_to_add()
                # from a warm start whose nonzero groups already hold every violated one, the
                # first set is those groups
                work = work or [int(g) for g in priced.support]
                if not work and not reason:
                    reason = "nothing is nonzero and nothing violates its constraint"
            else:
                reason = program.admit(nxt)
                work = nxt if not reason else work
            if reason:
                break
            reason = program.solve(work, same=nxt is None)
            if reason:
                break
        return outer, work, reason
