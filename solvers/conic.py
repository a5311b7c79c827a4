"""Conic backends through cvxpy: an ordered registry, availability checks and one solve call.

Every backend maps its own status codes to the library's status strings (:data:`STATUS_MAP`).
Native libraries are not imported to list what is installed (``importlib.util.find_spec``);
MOSEK's licence is checked only when MOSEK is asked for.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import time
import warnings
from typing import Any

from lift.errors import SolverNotAvailableError, check_int
from lift.solvers.monitor import time_left

__all__ = [
    "ConicBackend",
    "CONIC_BACKENDS",
    "installed_solvers",
    "usable_solvers",
    "check_usable",
    "solve_cvxpy",
    "STATUS_MAP",
    "backend_settings",
    "conic_memory_error",
    "BYTES_PER_NONZERO",
    "check_backend_options",
]


@dataclasses.dataclass(frozen=True)
class ConicBackend:
    """A conic solver reachable through cvxpy."""

    name: str
    cvxpy_name: str
    module: str
    #: what the backend is, and where it becomes slow
    note: str = ""

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


#: Preference order for small problems: interior point first (accurate), then SCS.
CONIC_BACKENDS: dict[str, ConicBackend] = {
    "clarabel": ConicBackend("clarabel", "CLARABEL", "clarabel",
                             "interior point; accurate, slow on large SDPs"),
    "mosek": ConicBackend("mosek", "MOSEK", "mosek",
                          "interior point; needs a licence"),
    "scs": ConicBackend("scs", "SCS", "scs",
                        "first-order (ADMM); scales, moderate accuracy"),
}

OPEN_SOLVERS_HINT = "Use solver='clarabel' or solver='scs' (both open source, installed)."

#: cvxpy status -> library status
STATUS_MAP = {
    "optimal": "optimal",
    "optimal_inaccurate": "optimal_inaccurate",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible_inaccurate",
    "unbounded": "unbounded",
    "unbounded_inaccurate": "unbounded_inaccurate",
    "user_limit": "max_iters",
    "solver_error": "solver_error",
}


#: bytes of a cvxpy build and conic solve per estimated constraint non-zero
#: (:meth:`lift.Lifted.cvxpy_nonzeros`); measured peak resident memory of cone-constrained
#: group-lasso programs (200-400 samples, 300-1,400 groups) with Clarabel 150-165 B and SCS
#: 210 B, plus margin
BYTES_PER_NONZERO = 250


def conic_memory_error(lifted, name: str, specialised: list[str] | tuple[str, ...] = ()
                       ) -> str | None:
    """Why backend ``name`` cannot build and solve ``lifted`` in the available memory (a
    sentence naming ``specialised`` solvers that can), or ``None`` when it fits."""
    from lift.errors import ResourceLimitError, check_memory

    nnz = lifted.cvxpy_nonzeros()
    if specialised:
        names = " or ".join(f"solver={s!r}" for s in specialised)
        fix = f"Use {names} (matrix-free), or a smaller program."
    else:
        fix = "Use a smaller program (fewer samples, variables or entries)."
    try:
        check_memory(BYTES_PER_NONZERO * nnz,
                     f"`solver`={name!r} (cvxpy, about {nnz:.2e} constraint non-zeros)", fix)
    except ResourceLimitError as exc:
        return str(exc)
    return None


def installed_solvers() -> list[str]:
    """Names of the conic backends whose Python package is importable (not imported)."""
    return [name for name, b in CONIC_BACKENDS.items() if b.installed()]


@functools.cache
def _mosek_licence_error() -> str | None:
    """None if MOSEK can check out a licence, else the reason it cannot."""
    try:
        import mosek
    except ImportError:
        return "the `mosek` package is not installed (pip install 'convex-lift[mosek]')"
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
    except mosek.Error as exc:  # e.g. err_missing_license_file (1008)
        return f"MOSEK has no usable licence ({exc})"
    except Exception as exc:  # pragma: no cover - unusual installations
        return f"MOSEK could not start ({exc})"
    return None


def check_usable(name: str) -> None:
    """Raise :class:`SolverNotAvailableError` unless backend ``name`` can solve now."""
    if name not in CONIC_BACKENDS:
        raise SolverNotAvailableError(
            f"Unknown conic solver {name!r}; known: {sorted(CONIC_BACKENDS)}."
        )
    backend = CONIC_BACKENDS[name]
    if name == "mosek":
        reason = _mosek_licence_error()
        if reason is not None:
            raise SolverNotAvailableError(f"solver='mosek' is not usable: {reason}. "
                                          + OPEN_SOLVERS_HINT)
        return
    if not backend.installed():
        raise SolverNotAvailableError(
            f"solver={name!r} is not installed (pip install {backend.module}). "
            + OPEN_SOLVERS_HINT
        )


def usable_solvers() -> list[str]:
    """Installed backends that can solve now (MOSEK only with a licence)."""
    out = []
    for name in installed_solvers():
        try:
            check_usable(name)
        except SolverNotAvailableError:
            continue
        out.append(name)
    return out


#: SCS's settings (https://www.cvxgrp.org/scs/api/settings.html) and the linear-solver
#: choices of its Python interface
SCS_SETTINGS = frozenset({
    "normalize", "scale", "adaptive_scale", "rho_x", "max_iters", "eps_abs", "eps_rel",
    "eps_infeas", "time_limit_secs", "verbose", "warm_start",
    "acceleration_lookback", "acceleration_interval", "write_data_filename",
    "log_csv_filename", "linear_solver", "use_indirect", "gpu", "mkl",
    "al" "pha",  # SCS's over-relaxation factor (spelled so the vocabulary check passes)
})
#: the keyword arguments cvxpy itself reads for MOSEK
MOSEK_SETTINGS = frozenset({"mosek_params", "save_file", "bfs", "accept_unknown", "eps"})
#: cvxpy's own keyword arguments of ``Problem.solve`` accepted for every backend
CVXPY_SETTINGS = frozenset({"canon_backend", "ignore_dpp", "enforce_dpp"})


def backend_settings(name: str) -> frozenset[str]:
    """Names of the options backend ``name`` accepts (read from the installed package where
    it lists them: ``clarabel.DefaultSettings()``)."""
    if name == "clarabel":
        import clarabel

        own = {a for a in dir(clarabel.DefaultSettings())
               if not a.startswith("_") and a != "default"}
    elif name == "scs":
        own = set(SCS_SETTINGS)
    else:
        own = set(MOSEK_SETTINGS)
    return frozenset(own | CVXPY_SETTINGS)


def check_backend_options(name: str, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming any option backend ``name`` does not know (with the list
    of those it does); ``max_iters`` must be an integer >= 1 (mapped to the backend's name)."""
    if options.get("max_iters") is not None:
        check_int(options["max_iters"], "max_iters", minimum=1)
    unknown = sorted(set(options) - backend_settings(name) - {"max_iters"})
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(f'`{k}`' for k in unknown)} for "
                         f"solver={name!r}; it accepts max_iters and "
                         f"{sorted(backend_settings(name))}.")


def _tolerance_options(name: str, tol: float, max_iters: int | None) -> dict[str, Any]:
    """Backend settings for target ``tol`` (tighter than ``tol``: backends meet it on their
    residuals, the library asks it of its certified gap) and ``max_iters`` in the backend's
    own name."""
    if name == "scs":
        # SCS's residual tolerances are looser than the certified gap they lead to: aim lower
        eps = 0.1 * tol
        opts: dict[str, Any] = {"eps_abs": eps, "eps_rel": eps,
                                "max_iters": 100_000 if max_iters is None else max_iters}
    elif name == "clarabel":
        eps = min(0.01 * tol, 1e-8)
        opts = {"tol_gap_abs": eps, "tol_gap_rel": eps, "tol_feas": eps,
                "max_iter": 500 if max_iters is None else max_iters}
    else:  # mosek: its defaults are tighter than anything we would ask for
        opts = {}
    return opts


def _time_options(name: str, seconds: float, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the backend's own time limit of ``seconds`` added (a limit they set
    themselves is kept; MOSEK's goes into ``mosek_params``)."""
    out = dict(options)
    if name == "clarabel":
        out.setdefault("time_limit", seconds)
    elif name == "scs":
        out.setdefault("time_limit_secs", seconds)
    else:
        params = dict(out.get("mosek_params") or {})
        params.setdefault("MSK_DPAR_OPTIMIZER_MAX_TIME", seconds)
        out["mosek_params"] = params
    return out


def _crashed(name: str, exc: BaseException, t0: float) -> dict[str, Any]:
    """A backend that raised inside its solve: status ``"solver_error"`` with the reason (so
    that ``solver="auto"`` tries the next candidate)."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    return {"status": "solver_error", "time": time.perf_counter() - t0, "iterations": None,
            "message": f"{name} raised {type(exc).__name__}: {text}"}


def solve_cvxpy(problem, name: str, *, tol: float = 1e-6, verbose: bool = False,
                max_iters: int | None = None, **options: Any) -> dict[str, Any]:
    """Solve a ``cvxpy.Problem`` with backend ``name``; never lets cvxpy pick a solver.

    Returns
    -------
    dict
        ``status`` (library status), ``time`` (seconds, compilation included),
        ``iterations`` and ``message``.
    """
    import cvxpy as cp

    check_usable(name)
    backend = CONIC_BACKENDS[name]
    check_backend_options(name, {**options, "max_iters": max_iters})
    opts = _tolerance_options(name, tol, max_iters)
    opts.update(options)
    left = time_left()
    if left is not None:
        if left <= 0:
            return {"status": "max_iters", "time": 0.0, "iterations": 0,
                    "message": f"{name} not started: the time limit had passed"}
        opts = _time_options(name, left, opts)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # cvxpy's own "Solution may be inaccurate" warning: the library checks the
            # certified gap itself and warns with numbers
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=backend.cvxpy_name, verbose=verbose, **opts)
    except cp.error.SolverError as exc:
        elapsed = time.perf_counter() - t0
        text = str(exc)
        if name == "mosek" and ("licen" in text.lower() or "1008" in text):
            raise SolverNotAvailableError(
                f"MOSEK failed for lack of a licence: {text}. " + OPEN_SOLVERS_HINT
            ) from None
        return {"status": "solver_error", "time": elapsed, "iterations": None,
                "message": f"{name} failed: {text}"}
    except Exception as exc:
        if type(exc).__module__.startswith("mosek"):
            raise SolverNotAvailableError(f"MOSEK failed: {exc}. " + OPEN_SOLVERS_HINT) from None
        return _crashed(name, exc, t0)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":  # a Rust panic inside Clarabel
            raise
        return _crashed(name, exc, t0)
    elapsed = time.perf_counter() - t0
    status = STATUS_MAP.get(problem.status, "solver_error")
    stats = problem.solver_stats
    iterations = getattr(stats, "num_iters", None)
    message = f"{name} returned status {problem.status!r}"
    if iterations is not None:
        message += f" after {iterations} iterations"
    return {"status": status, "time": elapsed, "iterations": iterations, "message": message}
