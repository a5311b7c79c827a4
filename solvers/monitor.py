r"""The certified-gap monitor, solver options and the one status epilogue of the solvers.

Every iterative solver here stops on a **certified relative duality gap**. For a program

.. math::

    \min_x \; F(x) = L(A x) + \beta \sum_g \|x_g\|_2

(possibly with constraints whose multipliers enter the dual constraints), a loss gradient
``lambda`` and its dual-constraint vectors ``c_g`` give the lower bound

.. math::

    \max_{0 \le t \le \beta / \max_g \|c_g\|} \; -L^*(t \lambda) \;\le\; F^\star,

computed by :meth:`lift.losses.Loss.best_scaled_dual` (the same routine as the library's
certificates). :class:`GapMonitor` keeps the best bound, the best upper bound and the history;
:func:`finish_result` builds the :class:`~lift.base.SolverResult`, warning with the numbers when
the gap is still above the tolerance.

A solve may carry a time limit (``lifted.solve(..., time_limit=60)``): :func:`time_limit_scope`
sets a deadline that every :class:`GapMonitor` created within it reads, and
:meth:`GapMonitor.record` then reports the solver stopped (:attr:`GapMonitor.stopped`) once the
deadline has passed, so that the solver ends at its next certificate with the certified gap
reached so far (status ``"max_iters"``). :func:`time_left` gives the conic backends their own
time limit.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from lift.base import SolverResult
from lift.errors import ConvergenceWarning, check_int, check_positive
from lift.losses import Loss

__all__ = ["GapMonitor", "finish_result", "gap_message", "parse_options", "time_is_up",
           "time_left", "time_limit_scope"]

#: the deadline (``time.perf_counter()`` value) of the solve under way, or None
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("lift_deadline",
                                                                        default=None)


@contextlib.contextmanager
def time_limit_scope(time_limit: float | None) -> Iterator[None]:
    """Within the block, solvers stop ``time_limit`` seconds from now (None: no limit of its
    own; the deadline of an enclosing scope, if earlier, stays)."""
    if time_limit is None:
        yield
        return
    deadline = time.perf_counter() + time_limit
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds left before the deadline of the solve under way (negative once past it), or
    None without a time limit."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.perf_counter()


def time_is_up() -> bool:
    """Whether the solve under way has a time limit and it has passed."""
    left = time_left()
    return left is not None and left <= 0


@dataclasses.dataclass
class GapMonitor:
    """Certified gap bookkeeping: best lower bound (and its dual point), upper bound, history.

    Attributes
    ----------
    loss : Loss
        The loss ``L``; ``y`` its targets (numpy).
    beta : float
        Weight of the group norms: the dual constraints are ``||c_g|| <= beta``.
    tol : float
        Relative gap at which :meth:`record` reports done.
    t0 : float
        ``time.perf_counter()`` at the start (the history's clock).
    deadline : float or None
        ``time.perf_counter()`` value past which :meth:`record` reports the solver stopped
        (default: that of the enclosing :func:`time_limit_scope`, if any).
    expired : bool
        The deadline passed before the gap closed (set by :meth:`record`).
    """

    loss: Loss
    y: np.ndarray
    beta: float
    tol: float
    verbose: bool = False
    t0: float = dataclasses.field(default_factory=time.perf_counter)
    best_lower: float = -math.inf
    best_lam: np.ndarray | None = None
    upper: float = math.inf
    rel_gap: float = math.inf
    done: bool = False
    history: list = dataclasses.field(default_factory=list)
    deadline: float | None = dataclasses.field(default_factory=_DEADLINE.get)
    expired: bool = False

    @property
    def stopped(self) -> bool:
        """The solver should stop: the gap is closed or the deadline has passed."""
        return self.done or self.expired

    def past_deadline(self) -> bool:
        """Whether the deadline has passed with the gap open (sets :attr:`expired`): for
        solvers to check inside a long step, between two certificates."""
        self.expired = self.expired or self._late(time.perf_counter())
        return self.expired

    def _late(self, now: float) -> bool:
        """The gap is open and ``now`` is past the deadline."""
        return not self.done and self.deadline is not None and now >= self.deadline

    def dual(self, lam: Any, norm_max: float) -> float:
        """Lower bound from the dual candidate ``lam`` (numpy or torch) whose dual-constraint
        vectors have largest norm ``norm_max``: ``lam`` scaled by ``t <= beta / norm_max``."""
        lam = _numpy(lam)
        tmax = math.inf if norm_max == 0 else self.beta / norm_max
        value, t = self.loss.best_scaled_dual(lam, self.y, min(tmax, 1e6))
        if value > self.best_lower:
            self.best_lower, self.best_lam = value, t * lam
        return value

    def record(self, k: int, upper: float, keep_best: bool = True) -> bool:
        """Record the upper bound ``upper`` at iteration ``k``; True when the solver should
        stop (:attr:`stopped`: the gap is closed, or the deadline has passed)."""
        self.upper = min(self.upper, upper) if keep_best else upper
        self.rel_gap = max(self.upper - self.best_lower, 0.0) / max(abs(self.upper), 1e-12)
        self.done = self.rel_gap <= self.tol
        now = time.perf_counter()
        self.expired = self._late(now)
        self.history.append((now - self.t0, k, self.upper, self.best_lower))
        if self.verbose and (k % 50 == 0 or self.stopped):
            print(f"  iter {k:6d}  upper {self.upper:.10e}  lower {self.best_lower:.10e}  "
                  f"rel gap {self.rel_gap:.2e}" + ("  (time limit)" if self.expired else ""))
        return self.stopped


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy()


def gap_message(monitor: GapMonitor, after: str) -> str:
    """``"certified relative duality gap 1.2e-07 <= tolerance 1.0e-06 after ..."``."""
    ok = monitor.done
    return (f"certified relative duality gap {monitor.rel_gap:.2e} "
            f"{'<=' if ok else '>'} tolerance {monitor.tol:.1e} after {after}"
            + ("; stopped at the time limit" if monitor.expired and not ok else ""))


def finish_result(monitor: GapMonitor, name: str, iterations: int, message: str,
                  primal: dict, info: dict, warm_start: dict | None = None) -> SolverResult:
    """The status epilogue: ``"optimal"`` when the monitor's gap is within its tolerance,
    else ``"max_iters"`` with a :class:`~lift.errors.ConvergenceWarning` giving the gap and
    the tolerance (or, where the deadline stopped it, the time limit). ``info`` gains
    ``rel_gap``, ``upper``, ``lower``, ``history`` and ``time_limit_reached``;
    ``primal`` gains the best dual point as ``"dual"`` (unless it has one)."""
    status = "optimal" if monitor.done else "max_iters"
    if status != "optimal" and monitor.expired:
        warnings.warn(
            f"{name} stopped at the time limit after {iterations} iterations: certified "
            f"relative duality gap {monitor.rel_gap:.2e}, tolerance {monitor.tol:.1e}. Raise "
            "time_limit or the tolerance.", ConvergenceWarning, stacklevel=5)
    elif status != "optimal":
        warnings.warn(
            f"{name} did not converge in {iterations} iterations: certified relative duality "
            f"gap {monitor.rel_gap:.2e}, tolerance {monitor.tol:.1e}. Increase max_iters or "
            "the tolerance.", ConvergenceWarning, stacklevel=5)
    info.update(rel_gap=monitor.rel_gap, upper=monitor.upper, lower=monitor.best_lower,
                history=monitor.history, time_limit_reached=monitor.expired and not monitor.done)
    if monitor.best_lam is not None and "dual" not in primal:
        primal["dual"] = monitor.best_lam
    return SolverResult(primal=primal, status=status, time=time.perf_counter() - monitor.t0,
                        iterations=iterations, message=message, info=info,
                        warm_start=warm_start)


def parse_options(cls: type, options: dict) -> tuple[Any, Any]:
    """``(cls(**options), warm_start)`` for a dataclass solver; an option that is not one of
    its fields raises ``TypeError`` naming the accepted ones."""
    options = dict(options)
    warm = options.pop("warm_start", None)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"Unknown option(s) {', '.join(f'`{k}`' for k in unknown)} for this "
                        f"solver; accepted: "
                        f"{sorted(fields | {'warm_start'})}.")
    if "max_iters" in options:
        options["max_iters"] = check_int(options["max_iters"], "max_iters", minimum=1)
    if "dual_step" in options:
        options["dual_step"] = check_int(options["dual_step"], "dual_step")
    if options.get("rho") is not None:
        options["rho"] = check_positive(options["rho"], "rho")
    for flag in ("mixed", "newton", "handover"):
        if flag in options and not isinstance(options[flag], (bool, np.bool_)):
            raise TypeError(f"`{flag}` must be True or False, got "
                            f"{type(options[flag]).__name__} {options[flag]!r}.")
    if "probe" in options:
        probe = check_positive(options["probe"], "probe", strict=False)
        if probe > 1:
            raise ValueError(f"`probe` is a fraction of the groups, in [0, 1]; got {probe!r}. "
                             "Pass e.g. probe=0.15, or probe=0 for no probe.")
        options["probe"] = probe
    return cls(**options), warm
