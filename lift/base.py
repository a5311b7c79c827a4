"""The three contracts of convex-lift: :class:`Problem`, :class:`Lifted` and :class:`Solution`.

A problem holds data and regularization and knows its non-convex objective, its non-convex
parameterization (a torch module at a given size) and how to lift itself into a convex
program. A lifted program can be handed to cvxpy or solved by a specialised solver; whatever
solves it, the result is one frozen :class:`Solution`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["Problem", "Lifted", "Solution", "STATUSES"]

#: The status strings every solver maps its own codes to.
STATUSES = (
    "optimal",
    "optimal_inaccurate",
    "max_iters",
    "infeasible",
    "infeasible_inaccurate",
    "unbounded",
    "unbounded_inaccurate",
    "solver_error",
)


@dataclasses.dataclass(frozen=True)
class Solution:
    """The result of solving a lifted program, mapped back to the non-convex parameters.

    Attributes
    ----------
    value : float
        Objective of the recovered non-convex parameters; equals ``problem.objective(params)``.
    params : object
        Recovered non-convex parameters (a ``torch.nn.Module`` for networks, factors, ...).
    status : str
        One of :data:`STATUSES`.
    gap : float
        Duality gap ``value - lower_bound`` of the program that was solved, computed by the
        library from a dual point it checked itself (``>= 0``); ``nan`` if none could be built.
    global_bound : float or None
        Certified lower bound on the non-convex problem's global optimum (any size), or
        ``None`` where it cannot be certified.
    size : int
        Active neurons / rank / order of the recovered solution.
    solver : str
        Name of the solver that produced the point.
    time : float
        Wall-clock seconds of the solve (lift construction excluded, certificate included).
    iterations : int or None
        Solver iterations, where the solver reports them.
    lower_bound : float
        Certified lower bound on the optimum of the program that was solved (a dual value).
    program_value : float
        Objective of the convex program at the solver's primal point.
    exact : bool
        Whether the lift is exact (its optimum equals the non-convex problem's global optimum).
    message : str
        A readable sentence on why the solver stopped.
    info : dict
        Extra diagnostics (solver-specific).
    """

    value: float
    params: Any
    status: str
    gap: float
    global_bound: float | None
    size: int
    solver: str
    time: float
    iterations: int | None = None
    lower_bound: float = math.nan
    program_value: float = math.nan
    exact: bool = False
    message: str = ""
    info: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def rel_gap(self) -> float:
        """Relative duality gap ``gap / max(|value|, 1e-12)``."""
        return self.gap / max(abs(self.value), 1e-12)

    @property
    def ok(self) -> bool:
        """True when the status is ``"optimal"``."""
        return self.status == "optimal"

    def summary(self) -> dict[str, Any]:
        """A flat dictionary of the scalar fields, for tables and JSON."""
        return {
            "value": self.value,
            "gap": self.gap,
            "rel_gap": self.rel_gap,
            "global_bound": self.global_bound,
            "lower_bound": self.lower_bound,
            "size": self.size,
            "status": self.status,
            "solver": self.solver,
            "time": self.time,
            "iterations": self.iterations,
            "exact": self.exact,
            "message": self.message,
        }


class Problem(abc.ABC):
    """A non-convex learning problem that can be lifted into a convex program.

    Subclasses validate their data in ``__init__`` and implement :meth:`objective`,
    :meth:`model` and :meth:`lift`.
    """

    #: short name used by the CLI, the harness and the results store
    name: str = "problem"

    @abc.abstractmethod
    def objective(self, params: Any) -> float:
        """The non-convex regularized objective at ``params``."""

    @abc.abstractmethod
    def model(self, size: int, seed: int = 0):
        """The non-convex parameterization at width/rank/order ``size`` (a ``torch.nn.Module``)."""

    @abc.abstractmethod
    def lift(self, **options: Any) -> Lifted:
        """The convex (or quasiconvex) program."""

    def fingerprint(self) -> str:
        """A stable hash of the data and hyperparameters (used as a results-store key)."""
        import hashlib

        h = hashlib.sha256(type(self).__name__.encode())
        for key, val in sorted(self._fingerprint_items().items()):
            h.update(key.encode())
            if isinstance(val, np.ndarray):
                h.update(str(val.shape).encode())
                h.update(np.ascontiguousarray(val, dtype=np.float64).tobytes())
            else:
                h.update(repr(val).encode())
        return h.hexdigest()[:16]

    def _fingerprint_items(self) -> dict[str, Any]:
        return {}


class Lifted(abc.ABC):
    """A convex program obtained by lifting a :class:`Problem`.

    Subclasses implement :meth:`to_cvxpy`, :meth:`cones`, :meth:`size_hint` and the map back
    from a primal point to a :class:`Solution`.
    """

    problem: Problem
    #: whether the optimum of this program equals the non-convex global optimum
    exact: bool = False

    @abc.abstractmethod
    def to_cvxpy(self):
        """The program as a ``cvxpy.Problem`` (a new one at each call)."""

    @abc.abstractmethod
    def cones(self) -> frozenset[str]:
        """Cone types of the program: subsets of {"zero", "nonneg", "soc", "psd", "exp"}."""

    @abc.abstractmethod
    def size_hint(self) -> int:
        """A rough count of scalar variables plus constraint rows, to choose a solver."""

    def first_order_solvers(self) -> tuple[str, ...]:
        """Names of specialised (non-cvxpy) solvers that accept this program."""
        return ()

    def solve(self, solver: str = "auto", tol: float = 1e-6, verbose: bool = False,
              **options: Any) -> Solution:
        """Solve the program and map the solution back to the non-convex parameters.

        Parameters
        ----------
        solver : str
            ``"auto"``, a conic backend (``"clarabel"``, ``"scs"``, ``"mosek"``) or the name of
            a specialised solver listed by :meth:`first_order_solvers`.
        tol : float
            Target accuracy (relative duality gap for first-order solvers, the backend's own
            tolerances for conic solvers).
        verbose : bool
            Print solver output.
        **options
            Passed to the solver.
        """
        from lift.solvers import solve_lifted

        return solve_lifted(self, solver=solver, tol=tol, verbose=verbose, **options)

    # --- the map back, implemented by subclasses -------------------------------------------
    @abc.abstractmethod
    def _primal_from_cvxpy(self, cvx_problem) -> Any:
        """Read the primal point from a solved ``cvxpy.Problem`` built by :meth:`to_cvxpy`."""

    @abc.abstractmethod
    def _finish(self, primal: Any, *, status: str, solver: str, time: float,
                iterations: int | None, tol: float, message: str = "",
                info: dict | None = None) -> Solution:
        """Recover parameters and certificates from a primal point; build the Solution."""
