"""Solvers for lifted programs: conic backends through cvxpy and specialised solvers.

``solve_lifted`` is what :meth:`lift.Lifted.solve` calls: it validates the solver name, picks
one for ``solver="auto"`` by cone type and size, runs it, and hands the primal point to the
lifted program's own map back.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from lift.base import USABLE_STATUSES, Solution, SolverResult
from lift.errors import (
    ResourceLimitError,
    SolverNotAvailableError,
    check_device,
    check_positive,
    check_tol,
)
from lift.solvers.conic import (
    CONIC_BACKENDS,
    check_backend_options,
    check_usable,
    conic_memory_error,
    installed_solvers,
    solve_cvxpy,
    usable_solvers,
)
from lift.solvers.monitor import time_is_up, time_limit_scope

__all__ = [
    "CONIC_BACKENDS",
    "GPU_MIN_WORK",
    "SPECIALISED",
    "SpecialisedSolver",
    "available_solvers",
    "choose_solver",
    "installed_solvers",
    "register_solver",
    "resolve_device",
    "solve_lifted",
    "solver_order",
    "specialised_for",
    "usable_solvers",
]

#: Above this many scalar rows, interior-point methods become slow on semidefinite cones.
PSD_IPM_LIMIT = 2_000
#: Above this many scalar rows, interior-point methods become slow on LP/SOCP programs
#: (Clarabel solves a 611,574-row cone program of 835 blocks in 70 s on 2 cores, where SCS
#: needs minutes to reach 1e-6).
SOCP_IPM_LIMIT = 1_500_000


@dataclasses.dataclass(frozen=True)
class SpecialisedSolver:
    """A solver that works on a lifted program directly (not through cvxpy).

    ``accepts(lifted) -> bool`` says which programs it takes;
    ``run(lifted, tol=..., verbose=..., warm_start=..., **options) -> SolverResult`` solves
    one (unknown options raise ``TypeError``). ``second_order``: a (semismooth) Newton
    method, which ``solver="auto"`` still tries after a first-order solver has stalled.
    ``auto_options(lifted) -> dict``: options ``solver="auto"`` passes (when the caller
    passed none), e.g. to stop early where another solver is predicted to be faster.
    """

    name: str
    accepts: Callable[[Any], bool]
    run: Callable[..., SolverResult]
    second_order: bool = False
    auto_options: Callable[[Any], dict] | None = None


#: name -> solver, in registration order. Problem families register their specialised
#: solvers when their module is imported (which happens before any of their programs exists).
SPECIALISED: dict[str, SpecialisedSolver] = {}


def register_solver(name: str, accepts: Callable[[Any], bool],
                    run: Callable[..., SolverResult], second_order: bool = False,
                    auto_options: Callable[[Any], dict] | None = None) -> None:
    """Add a specialised solver to the registry (a name registered twice is replaced)."""
    if name in CONIC_BACKENDS or name == "auto":
        raise ValueError(f"`name` {name!r} is reserved for a conic backend or 'auto'.")
    SPECIALISED[name] = SpecialisedSolver(name, accepts, run, second_order, auto_options)


def specialised_for(lifted) -> tuple[str, ...]:
    """Names of registered specialised solvers that accept ``lifted``."""
    return tuple(name for name, s in SPECIALISED.items() if s.accepts(lifted))


#: below this many multiply-adds in a solver's typical product, ``device=None`` means the CPU
#: even where torch sees a GPU: a step there is a few dozen kernel launches and
#: synchronisations, which cost more than the arithmetic (BENCHMARKS.md, "On a GPU")
GPU_MIN_WORK = 5_000_000


#: the device that ``solver="auto"`` was given (its ``device=`` option) while it orders the
#: solvers: cost models that ask :func:`resolve_device` for the default get that one (a
#: context variable: each thread sees its own)
_AUTO_DEVICE: contextvars.ContextVar = contextvars.ContextVar("auto_device", default=None)


def resolve_device(device: Any = None, work: float | None = None):
    """``torch.device(device)``, checked against what torch offers (:func:`check_device`).

    ``None`` means CUDA when torch sees a GPU and the solve is large enough to gain from it
    (``work``, the multiply-adds of its typical product, at least :data:`GPU_MIN_WORK`, or
    not given), else the CPU; while ``solver="auto"`` with a ``device=`` option orders the
    solvers, that device."""
    import torch

    if device is None:
        device = _AUTO_DEVICE.get()
    if device is None:
        big = work is None or work >= GPU_MIN_WORK
        return torch.device("cuda" if big and torch.cuda.is_available() else "cpu")
    return check_device(device)


def available_solvers(lifted) -> list[str]:
    """All solver names ``lifted.solve`` accepts right now (besides ``"auto"``)."""
    return list(lifted.solvers()) + usable_solvers()


def choose_solver(lifted) -> str:
    """Pick a solver for ``lifted`` by cone type and size (the first of :func:`solver_order`)."""
    return solver_order(lifted)[0]


def solver_order(lifted) -> list[str]:
    """Solvers to try for ``solver="auto"``, best first.

    Specialised solvers come first, in the order of ``lifted.auto_thresholds()``, when the
    program is larger than their threshold there (a solver without one is never preferred);
    then a
    licensed MOSEK, then Clarabel on programs an interior-point method handles quickly, then
    SCS, then the remaining specialised solvers (those with a threshold first, in its order).
    """
    size = lifted.size_hint()
    specialised = list(lifted.solvers())
    thresholds = lifted.auto_thresholds()
    usable = usable_solvers()
    limit = PSD_IPM_LIMIT if "psd" in lifted.cones() else SOCP_IPM_LIMIT
    order: list[str] = [name for name, limit in thresholds.items()
                        if name in specialised and size > limit]
    if "mosek" in usable:
        order.append("mosek")
    if "clarabel" in usable and size <= limit:
        order.append("clarabel")
    if "scs" in usable:
        order.append("scs")
    # the rest: those with a threshold in its order (the family's preference), then the others
    order += [name for name in thresholds if name in specialised and name not in order]
    order += [name for name in specialised if name not in order]
    if not order:
        raise SolverNotAvailableError(
            "No solver is usable for this program; install the open ones: pip install scs "
            "clarabel."
        )
    return order


def solve_lifted(lifted, solver: str = "auto", tol: float = 1e-6, verbose: bool = False,
                 warm_start: Any = None, **options: Any):
    """Solve ``lifted`` with ``solver`` and return a :class:`lift.Solution`.

    ``time_limit`` (seconds, an option of every solver): the solvers that certify their gap
    as they go stop at their next certificate once it has passed (status ``"max_iters"``,
    ``info["time_limit_reached"]``), the conic backends get it as their own time limit, and
    ``solver="auto"`` tries no further candidate. Recovering the parameters and the
    certificate come after it."""
    if not isinstance(solver, str):
        raise TypeError(f"`solver` must be a string, got {type(solver).__name__}.")
    tol = check_tol(tol)
    time_limit = options.pop("time_limit", None)
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit")
    with time_limit_scope(time_limit):
        return _solve_lifted(lifted, solver, tol, verbose, warm_start, **options)


def _solve_lifted(lifted, solver: str, tol: float, verbose: bool, warm_start: Any,
                  **options: Any):
    if not isinstance(verbose, (bool, np.bool_)):
        raise TypeError(f"`verbose` must be True or False, got {verbose!r}.")
    if isinstance(warm_start, Solution):
        warm_start = warm_start.info.get("warm_start")
    if warm_start is not None:
        warm_start = lifted.check_warm_start(warm_start)
    name = solver.lower()
    if name == "auto":
        return _solve_auto(lifted, tol, verbose, warm_start, **options)
    specialised = lifted.solvers()
    if name not in CONIC_BACKENDS and name not in specialised:
        known = ["auto", *specialised, *CONIC_BACKENDS]
        raise ValueError(f"Unknown `solver` {solver!r} for this program; choose one of {known}.")
    if name in CONIC_BACKENDS:
        reason = conic_memory_error(lifted, name, specialised)
        if reason is not None:
            raise ResourceLimitError(reason)
    return _solve_with(lifted, name, tol, verbose, warm_start, **options)


#: statuses from best to worst, for keeping the best answer ``solver="auto"`` has seen
_STATUS_RANK = {"optimal": 0, "optimal_inaccurate": 1, "max_iters": 2}


def _better(a, b) -> bool:
    """Solution ``a`` is better than ``b``: a better status, or the same with a smaller
    certified relative gap."""
    ra, rb = _STATUS_RANK.get(a.status, 3), _STATUS_RANK.get(b.status, 3)
    if ra != rb:
        return ra < rb
    ga = a.rel_gap if a.rel_gap == a.rel_gap else float("inf")
    gb = b.rel_gap if b.rel_gap == b.rel_gap else float("inf")
    return ga < gb


@dataclasses.dataclass
class _Attempt:
    """A specialised solver's answer short of the tolerance, which ``solver="auto"`` goes on
    from: mapped back to a :class:`~lift.base.Solution` (``lifted.finish``: recovery of the
    parameters, certificate) only if it is the answer returned in the end (on a large
    program the recovery alone took 2.4 s, more than the attempt). Ranked by the solver's
    own certified gap."""

    name: str
    result: SolverResult

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def rel_gap(self) -> float:
        return float(self.result.info["rel_gap"])

    @property
    def info(self) -> dict:
        return {**self.result.info, "warm_start": self.result.warm_start}


def _held(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list]:
    """``fn(*args, **kwargs)`` with its warnings held back: ``(result, warnings)``, so that
    only the warnings of the answer finally returned are shown (:func:`_replay`)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, caught


def _replay(caught: list) -> None:
    """Issue warnings held back by :func:`_held`."""
    import warnings

    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _solve_auto(lifted, tol: float, verbose: bool, warm_start: Any, **options: Any):
    """``solver="auto"``: the candidates of :func:`solver_order` in turn.

    A conic backend's answer is final if it is ``optimal``; after ``solver_error`` the next
    candidate is tried, after any other status short of the tolerance the specialised solvers
    left (the best answer is kept). A specialised solver that stops short of the tolerance
    (its certified gap stalled or its budget ran out) hands its point, as a warm start, to
    the next *specialised* solver in the order (at the time limit, none is tried after it);
    only when none is left is an interior-point backend (MOSEK, Clarabel) tried, among the
    candidates. A solver that reports that its first-order iterations stalled
    (``info["stalled"]``) hands over to the second-order specialised solvers only
    (:attr:`SpecialisedSolver.second_order`), then to the interior-point backends. With
    solver options, the solver that was picked is the only one run (the options are its
    own); ``device`` is not one of those: every specialised candidate gets it. The best
    answer seen is returned (by status, then certified gap): never a worse status than one of
    the solvers tried. The message says what was tried; the warnings of
    the answers that were not returned are dropped.
    """
    # the order's cost models assume the device the solvers will run on
    token = _AUTO_DEVICE.set(options.get("device"))
    try:
        order = solver_order(lifted)
    finally:
        _AUTO_DEVICE.reset(token)
    specialised = set(lifted.solvers())
    # ``device`` is for every specialised solver (the conic backends have none); any other
    # option belongs to the solver picked first, which is then the only one run
    general = {k: options[k] for k in ("device",) if k in options}
    options = {k: v for k, v in options.items() if k not in general}
    queue = list(order)
    tried: list[str] = []
    best, best_caught = None, []
    warm = warm_start
    while queue:
        candidate = queue.pop(0)
        extra = options
        if not options and candidate in specialised and SPECIALISED[candidate].auto_options:
            extra = SPECIALISED[candidate].auto_options(lifted)
        if candidate in specialised:
            extra = {**extra, **general}
            result, caught = _held(run_solver, lifted, candidate, tol, verbose, warm, **extra)
            if result.status == "optimal" or "rel_gap" not in result.info:
                sol, more = _held(_finish_with, lifted, candidate, result, tol, verbose, warm,
                                  **extra)
                caught = caught + more
            else:
                sol = _Attempt(candidate, result)
        else:
            sol, caught = _held(_solve_with, lifted, candidate, tol, verbose, None, **extra)
        if best is None or _better(sol, best):
            best, best_caught = sol, caught
        if sol.status == "optimal" or options:
            break
        if time_is_up():
            tried.append(f"{candidate} stopped at the time limit at a certified relative gap "
                         f"of {sol.rel_gap:.1e}; no further candidate")
            break
        if sol.status == "solver_error":
            tried.append(f"{candidate} failed")
            continue
        if candidate not in specialised:
            # a conic backend's answer short of the tolerance (its certified gap): the
            # specialised solvers left may certify (a small program with exponential cones
            # came back from Clarabel "optimal_inaccurate" at a gap of 1e-3, where a
            # specialised solver certified 1e-10)
            queue = [c for c in queue if c in specialised]
            if not queue:
                break
            tried.append(f"{candidate} ended {sol.status} at a certified relative gap of "
                         f"{sol.rel_gap:.1e}")
            continue
        why = ""
        if sol.info.get("handed_over"):
            why = " (handed over: the next solver was predicted to be faster)"
        elif sol.info.get("stalled"):
            why = " (stalled)"
        tried.append(f"{candidate} stopped at a certified relative gap of {sol.rel_gap:.1e}"
                     + why)
        warm = sol.info.get("warm_start", warm)
        # the other specialised solvers first (warm-started), then interior-point backends;
        # a solver whose first-order iterations stalled ("stalled" in its info) says that
        # more of them will not help: only second-order specialised solvers, then the
        # interior-point backends
        stalled = bool(sol.info.get("stalled"))
        others = [c for c in queue if c in specialised
                  and (not stalled or SPECIALISED[c].second_order)]
        queue = others + [c for c in queue if c in ("mosek", "clarabel")]
    last = best is sol
    if isinstance(best, _Attempt):
        best, more = _held(lifted.finish, best.result, solver=best.name, tol=tol)
        best_caught = best_caught + more
    _replay(best_caught)
    if tried:
        used = f"; returned {best.solver}'s answer" if len(tried) > 1 or not last else ""
        best = dataclasses.replace(
            best, message=best.message + f" (auto: {'; '.join(tried)}{used})")
    return best


def run_solver(lifted, name: str, tol: float, verbose: bool = False, warm_start: Any = None,
               tighten: float = 1.0, **options: Any) -> SolverResult:
    """Run solver ``name`` on ``lifted``: the :class:`~lift.base.SolverResult` before the
    map back (``tighten`` scales the tolerance a conic backend is asked for).

    The solver sees ``lifted.normalized()`` (data rescaled to order one); its primal point
    and warm start are mapped back to ``lifted``'s own scale here. A program feasible and
    bounded by construction that a solver calls infeasible or unbounded is a solver error.
    """
    inner, back, forward = lifted.normalized()
    if warm_start is not None:
        warm_start = forward(warm_start)
    if name in SPECIALISED and name in lifted.solvers():
        result = SPECIALISED[name].run(inner, tol=tol, verbose=verbose, warm_start=warm_start,
                                       **options)
    else:
        result = _run_conic(inner, name, tol * tighten, verbose, **options)
    if result.status in IMPOSSIBLE_STATUSES and lifted.feasible_by_construction:
        result = dataclasses.replace(
            result, primal=None, status="solver_error",
            message=f"{name} reported {result.status!r}, but this program is feasible and "
                    f"bounded by construction (zero is feasible): a numerical failure of "
                    f"{name} ({result.message})")
    if inner is lifted:
        return result
    return dataclasses.replace(
        result, primal=None if result.primal is None else back(result.primal),
        warm_start=None if result.warm_start is None else back(result.warm_start))


#: statuses a solver may not report on a program feasible and bounded by construction
IMPOSSIBLE_STATUSES = ("infeasible", "infeasible_inaccurate", "unbounded",
                       "unbounded_inaccurate")


def _run_conic(lifted, name: str, tol: float, verbose: bool, **options: Any) -> SolverResult:
    check_usable(name)
    check_backend_options(name, options)
    reason = conic_memory_error(lifted, name)
    if reason is not None:  # reached from solver="auto" (an explicit choice raised already)
        return SolverResult(primal=None, status="solver_error", time=0.0, message=reason)
    cvx = lifted.to_cvxpy()
    run = solve_cvxpy(cvx, name, tol=tol, verbose=verbose, **options)
    primal = None
    if run["status"] in USABLE_STATUSES:
        primal = lifted.primal_from_cvxpy(cvx)
    return SolverResult(primal=primal, status=run["status"], time=run["time"],
                        iterations=run["iterations"], message=run["message"])


#: a solver that says "optimal" but whose certified gap falls short of ``tol`` is re-solved
#: once: a conic backend asked for this factor more of its own residual tolerances, a
#: specialised solver for a ``RESOLVE_FACTOR_SPECIALISED`` times smaller gap, warm-started
RESOLVE_FACTOR = 1e-2
RESOLVE_FACTOR_SPECIALISED = 1e-1


def _solve_with(lifted, name: str, tol: float, verbose: bool, warm_start: Any = None,
                **options: Any):
    """One solver, mapped back. A solver that says "optimal" but whose certified relative gap
    exceeds ``tol`` (conic backends meet ``tol`` on their residuals only; a specialised
    solver's own gap estimate can differ from the library's certificate of the recovered
    parameters) is re-solved once, tighter; the better certified solution is kept."""
    result = run_solver(lifted, name, tol, verbose, warm_start, **options)
    return _finish_with(lifted, name, result, tol, verbose, warm_start, **options)


def _finish_with(lifted, name: str, result: SolverResult, tol: float, verbose: bool,
                 warm_start: Any = None, **options: Any):
    """:func:`_solve_with` from the solver's ``result``."""
    if result.status != "optimal":
        return lifted.finish(result, solver=name, tol=tol)
    sol, caught = _held(lifted.finish, result, solver=name, tol=tol)
    if sol.status == "optimal" or not sol.rel_gap > tol or time_is_up():
        _replay(caught)
        return sol
    if name in CONIC_BACKENDS:
        factor = RESOLVE_FACTOR
        tighter = run_solver(lifted, name, tol, verbose, warm_start, tighten=factor,
                             **options)
    else:
        factor = RESOLVE_FACTOR_SPECIALISED
        tighter = run_solver(lifted, name, tol * factor, verbose,
                             result.warm_start if result.warm_start is not None
                             else warm_start, **options)
    sol2, caught2 = _held(lifted.finish, tighter, solver=name, tol=tol)
    better = sol2.status in USABLE_STATUSES and sol2.rel_gap < sol.rel_gap
    best, kept = (sol2, caught2) if better else (sol, caught)
    _replay(kept)
    note = f"re-solved with {factor:g} x tighter tolerances"
    iterations = (None if sol.iterations is None or sol2.iterations is None
                  else sol.iterations + sol2.iterations)
    return dataclasses.replace(best, time=sol.time + sol2.time, iterations=iterations,
                               message=best.message + f" ({note})")
