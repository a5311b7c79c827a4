r"""Bisection for quasiconvex programs, with verified certificates at both ends of the bracket.

A quasiconvex program

.. math::

    t^\star = \min_x f(x), \qquad f \text{ quasiconvex},

has convex sublevel sets ``{x : f(x) <= t}``, so ``t^\star`` is found by bisection on ``t``
with a convex feasibility oracle (Boyd & Vandenberghe, *Convex Optimization*, §4.2.5). The
driver keeps the bracket

.. math::

    \ell \;<\; t^\star \;\le\; u,

where ``u`` is the objective of the best feasible point found so far (evaluated by the caller,
not read off the oracle's ``t``) and ``\ell`` is the largest ``t`` whose infeasibility the
oracle **proved** with a certificate it checked itself. An oracle that reports infeasibility
without a verified certificate (``proved=False``) cannot move ``\ell``: the driver stops there
and says so, instead of trusting a status string.

:func:`bisect` is the algorithm; it knows nothing of the program. Lifted programs that expose

- ``bisection_bracket() -> (lo, hi)`` (``lo`` a known lower bound, e.g. 0),
- ``feasibility(t, inner=..., tol=...) -> Answer``,
- ``bisection_primal(result) -> primal`` (what ``recover`` and ``certify`` read),

are solved by the specialised solver ``"bisection"`` registered here
(``lifted.solve(solver="bisection", inner="highs")``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from lift.base import SolverResult
from lift.errors import check_int, check_positive
from lift.solvers.monitor import time_is_up

__all__ = ["Answer", "BisectionResult", "bisect", "accepts", "run"]


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a feasibility oracle says about the level ``t``.

    Attributes
    ----------
    feasible : bool
        ``True`` when the oracle finds ``t`` feasible; ``value``, the objective of ``point`` as
        the caller evaluates it, is an upper bound on ``t^\\star``. It may exceed ``t`` by the
        inner solver's inaccuracy, or be ``inf`` (``t`` feasible only in the closure of the
        program, e.g. a denominator that vanishes on the data): then only ``hi`` takes it and
        the search goes on below ``t``.
    point : object or None
        A feasible point (when ``feasible``); when not ``feasible``, optionally a point the
        oracle found on the way (e.g. by an exchange step), whose objective ``value`` still
        bounds ``t^\\star`` from above.
    value : float
        The objective at ``point`` (``inf`` when there is none).
    certificate : object or None
        The infeasibility certificate (when not ``feasible``).
    proved : bool
        Whether the certificate was verified by the oracle in floating point (when not
        ``feasible``); an unproved infeasibility never moves the lower end of the bracket.
    message : str
        Why (e.g. the inner solver's status).
    """

    feasible: bool
    point: Any = None
    value: float = math.inf
    certificate: Any = None
    proved: bool = False
    message: str = ""


@dataclasses.dataclass(frozen=True)
class BisectionResult:
    """The bracket ``lo < t* <= hi`` and how it was obtained.

    Attributes
    ----------
    lo, hi : float
        ``lo``: the largest level proved infeasible (or the initial lower bound);
        ``hi``: the objective of ``point``.
    point : object or None
        The best feasible point (objective ``hi``).
    certificate : object or None
        The verified certificate of infeasibility at ``lo`` (``None`` if ``lo`` is the
        initial bound).
    steps : list of dict
        One record per oracle call: ``t``, ``feasible``, ``proved``, ``value``, ``lo``,
        ``hi``, ``time``.
    converged : bool
        Whether ``hi - lo <= tol * max(hi, 0) + atol``.
    message : str
        A readable sentence on why the bisection stopped.
    time_limit_reached : bool
        The solve's time limit (:func:`~lift.solvers.monitor.time_limit_scope`) stopped it.
    """

    lo: float
    hi: float
    point: Any
    certificate: Any
    steps: list[dict]
    converged: bool
    message: str
    time_limit_reached: bool = False


def bisect(oracle: Callable[[float], Answer], lo: float, hi: float, *, tol: float = 1e-6,
           atol: float = 0.0, max_steps: int = 100, point: Any = None,
           certificate: Any = None, verbose: bool = False) -> BisectionResult:
    r"""Bisection on the level ``t`` of a quasiconvex program.

    Keeps ``lo < t^\star <= hi`` and halves the bracket with one oracle call per step,
    at ``t = (lo + hi) / 2``. A feasible answer sets ``hi`` to the point's own objective (which
    may be well below ``t``); a proved infeasible answer sets ``lo = t``; an unproved
    infeasible answer stops the bisection. When an infeasible answer brings a better point
    (e.g. an exchange step, often the optimum itself), the next call probes just below its
    objective, ``t = hi (1 - tol / 2)`` (then, unproved, ``t = hi - (tol hi + atol) / 2``): a
    proof there closes the bracket at once; an unproved probe only falls back to the
    midpoints.

    Parameters
    ----------
    oracle : callable
        ``oracle(t) -> Answer``.
    lo, hi : float
        Initial bracket, ``lo <= hi``: ``lo`` a known lower bound on ``t^\star``, ``hi`` the
        objective of ``point`` (``inf`` when none is known; then ``oracle(lo + 1)``,
        ``oracle(lo + 2)``, ``oracle(lo + 4)``, ... are tried until one is feasible).
    tol, atol : float
        Stop when ``hi - lo <= tol * max(hi, 0) + atol``.
    max_steps : int
        Oracle calls at most.
    point, certificate : object, optional
        The point achieving ``hi`` and the certificate of ``lo``, if already known.
    verbose : bool
        Print one line per step.

    Returns
    -------
    BisectionResult
    """
    check_positive(tol, "tol", strict=False)
    check_positive(atol, "atol", strict=False)
    check_int(max_steps, "max_steps", minimum=1)
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"`lo` and `hi` must satisfy lo <= hi, got lo={lo!r}, hi={hi!r}.")
    steps: list[dict] = []
    start = time.perf_counter()
    message = ""
    grow = 1.0
    probe = 0  # how many more calls test just below hi
    top = hi  # upper end of the search: hi, or a level the oracle found only nearly feasible

    def done() -> bool:
        return math.isfinite(hi) and hi - lo <= tol * max(hi, 0.0) + atol

    timed_out = False
    while not done():
        if len(steps) >= max_steps:
            message = f"step budget of {max_steps} oracle calls reached"
            break
        if time_is_up():
            timed_out = True
            message = (f"time limit reached after {len(steps)} oracle calls; the bracket is "
                       f"[{lo:.6g}, {hi:.6g}]")
            break
        if math.isfinite(top) and top - lo <= tol * max(top, 0.0) + atol:
            message = (f"the search closed at [{lo:.6g}, {top:.6g}], levels the inner solver "
                       f"only finds nearly feasible; the bracket is [{lo:.6g}, {hi:.6g}]")
            break
        t = lo + grow if not math.isfinite(top) else 0.5 * (lo + top)
        # the probe's half-width: relative first (a proof there meets ``tol``), then with the
        # absolute tolerance too (a level closer to hi than the certificate can resolve)
        half = 0.5 * (tol * max(hi, 0.0) + (atol if probe == 1 else 0.0))
        probing = bool(probe) and math.isfinite(hi) and half > 0 and hi - half > t
        if probing:
            t = hi - half
        probe = probe - 1 if probing else 0
        ans = oracle(t)
        if ans.point is not None and math.isfinite(ans.value) and ans.value < hi:
            hi, point = float(ans.value), ans.point
            # the relative probe first unless atol dominates (then only the wider one)
            probe = 0 if ans.feasible else (2 if 0 < atol < tol * hi else 1)
        if ans.feasible:
            # a point above t (the inner solver's accuracy), or none with a finite objective
            # (t feasible only in the closure of the program): search below t all the same
            top = min(hi, t) if ans.value > t else hi
        elif ans.proved:
            lo, certificate = t, ans.certificate
            grow *= 2.0
        top = min(top, hi)
        steps.append({"t": t, "feasible": bool(ans.feasible), "proved": bool(ans.proved),
                      "value": float(ans.value), "lo": lo, "hi": hi, "probe": probing,
                      "time": time.perf_counter() - start, "message": ans.message})
        if verbose:
            print(f"bisection {len(steps):3d}: t={t:.9g} "
                  f"{'feasible' if ans.feasible else 'infeasible'}"
                  f"{'' if ans.feasible or ans.proved else ' (not proved)'}  "
                  f"[{lo:.9g}, {hi:.9g}]")
        if not ans.feasible and not ans.proved and probing:
            continue  # a level this close to hi may be beyond what the certificate can prove
        if not ans.feasible and not ans.proved:
            message = (f"the oracle found t={t:.6g} infeasible but could not verify a "
                       f"certificate ({ans.message}); the bracket stops at [{lo:.6g}, "
                       f"{hi:.6g}]")
            break
        if hi <= lo:  # a point at the lower end: nothing left to bracket
            break
    converged = done()
    if converged:
        message = (f"bracket [{lo:.9g}, {hi:.9g}] within tolerance after {len(steps)} "
                   "oracle calls")
    return BisectionResult(lo=lo, hi=hi, point=point, certificate=certificate, steps=steps,
                           converged=converged, message=message,
                           time_limit_reached=timed_out and not converged)


# --------------------------------------------------------------------------------------------
# The specialised solver "bisection"
# --------------------------------------------------------------------------------------------
def accepts(lifted: Any) -> bool:
    """Programs exposing ``feasibility``, ``bisection_bracket`` and ``bisection_primal``."""
    return all(callable(getattr(lifted, name, None))
               for name in ("feasibility", "bisection_bracket", "bisection_primal"))


def run(lifted: Any, tol: float = 1e-6, verbose: bool = False, warm_start: Any = None, *,
        inner: str = "auto", max_steps: int = 100, atol: float | None = None) -> SolverResult:
    """Solve a quasiconvex lifted program by :func:`bisect`.

    Parameters
    ----------
    lifted : Lifted
        A program :func:`accepts` takes.
    tol : float
        Relative width of the final bracket.
    warm_start : tuple, optional
        ``(lo, hi)`` of an earlier solve of the same program: a bracket to start from (``lo``
        is only used when it comes with its certificate, i.e. a previous ``SolverResult``'s
        ``warm_start``).
    inner : str
        The convex solver of each feasibility program (``"auto"``, ``"highs"``,
        ``"clarabel"``, ``"scs"``; the program says which it accepts).
    max_steps : int
        Oracle calls at most.
    atol : float, optional
        Absolute width of the final bracket (default: the program's own,
        ``lifted.bisection_atol()`` when it has one, else 0).
    """
    t0 = time.perf_counter()
    lo, hi, point, cert = lifted.bisection_bracket()
    if warm_start is not None:
        wlo, whi, wpoint, wcert = warm_start
        if wcert is not None and wlo > lo:
            lo, cert = wlo, wcert
        if wpoint is not None and whi < hi:
            hi, point = whi, wpoint
    if atol is None:
        atol = float(lifted.bisection_atol()) if hasattr(lifted, "bisection_atol") else 0.0

    def oracle(t: float) -> Answer:
        return lifted.feasibility(t, inner=inner, tol=tol)

    res = bisect(oracle, lo, hi, tol=tol, atol=atol, max_steps=max_steps, point=point,
                 certificate=cert, verbose=verbose)
    elapsed = time.perf_counter() - t0
    if res.point is None:
        return SolverResult(primal=None, status="solver_error", time=elapsed,
                            iterations=len(res.steps), message=res.message,
                            info={"bisection_steps": res.steps})
    # the library's status policy accepts a relative bracket of tol; a bisection stopped by
    # the inner solver's accuracy within that bracket has done its job
    within = res.hi - res.lo <= tol * max(res.hi, 0.0) + atol
    if res.converged or within:
        status = "optimal"
    elif len(res.steps) >= max_steps or res.time_limit_reached:
        status = "max_iters"
    else:  # stopped by the inner solver's accuracy: finished, but short of the tolerance
        status = "optimal_inaccurate"
    primal = lifted.bisection_primal(res)
    info = {"bisection_steps": res.steps, "bracket": (res.lo, res.hi), "inner": inner,
            "time_limit_reached": res.time_limit_reached}
    return SolverResult(primal=primal, status=status, time=elapsed, iterations=len(res.steps),
                        message=res.message, info=info,
                        warm_start=(res.lo, res.hi, res.point, res.certificate))


def register() -> None:
    """Register ``"bisection"`` with :mod:`lift.solvers` (idempotent)."""
    from lift.solvers import register_solver

    register_solver("bisection", accepts, run)


register()
