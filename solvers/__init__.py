"""Solvers for lifted programs: conic backends through cvxpy and specialised solvers.

``solve_lifted`` is what :meth:`lift.Lifted.solve` calls: it validates the solver name, picks
one for ``solver="auto"`` by cone type and size, runs it, and hands the primal point to the
lifted program's own map back.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from lift.errors import SolverNotAvailableError, check_positive
from lift.solvers.conic import (
    CONIC_BACKENDS,
    check_usable,
    installed_solvers,
    solve_cvxpy,
    usable_solvers,
)

__all__ = [
    "CONIC_BACKENDS",
    "available_solvers",
    "choose_solver",
    "first_order_for",
    "register_first_order",
    "run_first_order",
    "solver_order",
    "installed_solvers",
    "resolve_device",
    "solve_lifted",
    "usable_solvers",
]

#: Above this many scalar rows, interior-point methods become slow on semidefinite cones.
PSD_IPM_LIMIT = 2_000
#: Above this many scalar rows, interior-point methods become slow on LP/SOCP programs.
SOCP_IPM_LIMIT = 400_000


@dataclasses.dataclass(frozen=True)
class FirstOrderSolver:
    """A specialised solver: ``accepts(lifted) -> bool`` and
    ``run(lifted, tol=..., verbose=..., **options) -> dict`` with keys ``primal``, ``status``,
    ``time``, ``iterations``, ``message`` and optionally ``info``."""

    name: str
    accepts: Callable[[Any], bool]
    run: Callable[..., dict]


#: name -> solver, in preference order; filled by the modules in ``_FIRST_ORDER_MODULES``
FIRST_ORDER: dict[str, FirstOrderSolver] = {}
#: modules that register first-order solvers when imported (imported lazily)
_FIRST_ORDER_MODULES: tuple[str, ...] = ("lift.solvers.relu_fast", "lift.solvers.relu_active")
_loaded = False


def register_first_order(name: str, accepts: Callable[[Any], bool],
                         run: Callable[..., dict], first: bool = False) -> None:
    """Add a specialised solver to the registry (later names rank lower for "auto", unless
    ``first``)."""
    entry = FirstOrderSolver(name, accepts, run)
    if first:
        rest = {k: v for k, v in FIRST_ORDER.items() if k != name}
        FIRST_ORDER.clear()
        FIRST_ORDER.update({name: entry, **rest})
    else:
        FIRST_ORDER[name] = entry


def _load_first_order() -> None:
    global _loaded
    if not _loaded:
        for mod in _FIRST_ORDER_MODULES:
            importlib.import_module(mod)
        _loaded = True


def first_order_for(lifted) -> tuple[str, ...]:
    """Names of registered first-order solvers that accept ``lifted``."""
    _load_first_order()
    return tuple(name for name, s in FIRST_ORDER.items() if s.accepts(lifted))


def run_first_order(name: str, lifted, **options: Any) -> dict:
    """Run first-order solver ``name`` on ``lifted``."""
    _load_first_order()
    return FIRST_ORDER[name].run(lifted, **options)


def resolve_device(device: Any = None):
    """``torch.device(device)``; ``None`` means CUDA when torch sees a GPU, else the CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def available_solvers(lifted) -> list[str]:
    """All solver names ``lifted.solve`` accepts right now (besides ``"auto"``)."""
    return list(lifted.first_order_solvers()) + usable_solvers()


def choose_solver(lifted) -> str:
    """Pick a solver for ``lifted`` by cone type and size (the first of :func:`solver_order`)."""
    return solver_order(lifted)[0]


def solver_order(lifted) -> list[str]:
    """Solvers to try for ``solver="auto"``, best first.

    Specialised solvers come first when the program is larger than their
    ``first_order_threshold`` (one size for all, or a mapping from solver name to size; a name
    missing from the mapping is never preferred); then a licensed MOSEK, then Clarabel on
    programs an interior-point method handles quickly, then SCS, then the remaining
    specialised solvers.
    """
    size = lifted.size_hint()
    first_order = list(lifted.first_order_solvers())
    threshold = getattr(lifted, "first_order_threshold", None)
    usable = usable_solvers()
    limit = PSD_IPM_LIMIT if "psd" in lifted.cones() else SOCP_IPM_LIMIT
    order: list[str] = []

    def preferred(name: str) -> bool:
        t = threshold.get(name) if isinstance(threshold, dict) else threshold
        return t is not None and size > t

    order += [name for name in first_order if preferred(name)]
    if "mosek" in usable:
        order.append("mosek")
    if "clarabel" in usable and size <= limit:
        order.append("clarabel")
    if "scs" in usable:
        order.append("scs")
    order += [name for name in first_order if name not in order]
    if not order:
        raise SolverNotAvailableError(
            "No solver is usable for this program; install the open ones: pip install scs "
            "clarabel."
        )
    return order


def solve_lifted(lifted, solver: str = "auto", tol: float = 1e-6, verbose: bool = False,
                 **options: Any):
    """Solve ``lifted`` with ``solver`` and return a :class:`lift.Solution`."""
    if not isinstance(solver, str):
        raise TypeError(f"`solver` must be a string, got {type(solver).__name__}.")
    tol = check_positive(tol, "tol")
    name = solver.lower()
    first_order = lifted.first_order_solvers()
    if name == "auto":
        return _solve_auto(lifted, tol, verbose, **options)
    if name not in CONIC_BACKENDS and name not in first_order:
        known = ["auto", *first_order, *CONIC_BACKENDS]
        raise ValueError(f"Unknown solver {solver!r} for this program; choose one of {known}.")
    return _solve_with(lifted, name, tol, verbose, **options)


def _solve_auto(lifted, tol: float, verbose: bool, **options: Any):
    """``solver="auto"``: the candidates of :func:`solver_order` in turn.

    The next candidate is tried when one ends with ``solver_error``; and when a specialised
    solver stops short of the tolerance (``max_iters``, e.g. on an ill-conditioned program)
    and an interior-point backend (MOSEK, Clarabel) is among the candidates, that backend is
    tried next, skipping the other specialised solvers, unless solver options were given
    (they belong to the solver that was picked). The message says what was tried; the
    warnings of an attempt that was replaced are dropped.
    """
    import warnings

    order = solver_order(lifted)
    first_order = set(lifted.first_order_solvers())
    ipm = [c for c in order if c in ("mosek", "clarabel")]
    tried: list[str] = []
    fallback = None  # (solution, its warnings) of a specialised solver that stopped short
    for candidate in order:
        if fallback is not None and candidate in first_order:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sol = _solve_with(lifted, candidate, tol, verbose, **options)
        if sol.status == "solver_error":
            tried.append(f"{candidate} failed")
            continue
        if (candidate in first_order and sol.status == "max_iters" and ipm and not options
                and fallback is None):
            fallback = (sol, caught)
            tried.append(f"{candidate} stopped at a certified relative gap of {sol.rel_gap:.1e}")
            continue
        break
    else:
        if fallback is not None:
            sol, caught = fallback
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if tried:
        sol = dataclasses.replace(sol, message=sol.message + f" (auto: {'; '.join(tried)})")
    return sol


def _solve_with(lifted, name: str, tol: float, verbose: bool, **options: Any):
    if name in lifted.first_order_solvers():
        return lifted._solve_first_order(name, tol=tol, verbose=verbose, **options)
    check_usable(name)
    cvx = lifted.to_cvxpy()
    run = solve_cvxpy(cvx, name, tol=tol, verbose=verbose, **options)
    primal = None
    if run["status"] in ("optimal", "optimal_inaccurate", "max_iters"):
        primal = lifted._primal_from_cvxpy(cvx)
    return lifted._finish(primal, status=run["status"], solver=name, time=run["time"],
                          iterations=run["iterations"], tol=tol, message=run["message"])
