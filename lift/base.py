r"""The written contract of convex-lift: :class:`Problem`, :class:`Lifted`, :class:`Solution`.

Everything generic in the library (the solver dispatch, the comparison harness, the trainers,
the results store, the command line, the plots) talks to a problem family only through the
members declared here. A family implements them in its own module(s) and nothing outside those
modules knows its vocabulary.

A **problem** holds data and regularization and knows

- its non-convex objective in numpy (:meth:`Problem.objective`, float64, exact) and in torch
  (:meth:`Problem.torch_objective`, differentiable, mini-batch aware);
- its non-convex parameterization at a size (width / rank / order): :meth:`Problem.model`;
- its data as tensors (:meth:`Problem.data`, :meth:`Problem.batch`; integer index data stays
  integer), an optional projection after each training step (:meth:`Problem.project_`), an
  optional source of fresh training data for each step (:meth:`Problem.stream`);
- how to describe a solution (:meth:`Problem.effective_size`, :meth:`Problem.evaluate`,
  :meth:`Problem.describe`, :attr:`Problem.size_name`) and itself (:meth:`Problem.fingerprint`);
- how to lift itself into a convex (or quasiconvex) program: :meth:`Problem.lift`.

A **lifted program** is a forward map with its inverse, in the manner of a cvxpy reduction:
it can be handed to cvxpy (:meth:`Lifted.to_cvxpy`) or to a specialised solver, and maps a
primal point back (:meth:`Lifted.recover`) and certifies it (:meth:`Lifted.certify`).
:meth:`Lifted.solve` and :meth:`Lifted.path` are written once, here:

.. code-block:: text

    solver -> SolverResult -> recover -> certify -> status policy -> Solution

The **status policy** (:func:`certified_status`) is the library's, not a solver's: a solve is
reported ``"optimal"`` only when the duality gap the library recomputed from its own dual point
is within tolerance.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "STATUSES",
    "Certificate",
    "Lifted",
    "Problem",
    "Solution",
    "SolverResult",
    "certified_status",
]

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

#: statuses whose primal point is worth mapping back
USABLE_STATUSES = ("optimal", "optimal_inaccurate", "max_iters")


# --------------------------------------------------------------------------------------------
# Results passed between the layers
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SolverResult:
    """What every solver (conic backend or specialised) hands back to :meth:`Lifted.solve`.

    Attributes
    ----------
    primal : object or None
        The primal point in the lifted program's own format (what :meth:`Lifted.recover`
        and :meth:`Lifted.certify` read); ``None`` when the solver produced none.
    status : str
        One of :data:`STATUSES`, the solver's own view (the library may downgrade it).
    time : float
        Wall-clock seconds of the solve.
    iterations : int or None
        Solver iterations, where reported.
    message : str
        A readable sentence on why the solver stopped.
    info : dict
        Solver diagnostics (history, counters).
    warm_start : object or None
        State a later solve of a nearby program may start from (see :meth:`Lifted.path`).
    """

    primal: Any
    status: str
    time: float
    iterations: int | None = None
    message: str = ""
    info: dict = dataclasses.field(default_factory=dict)
    warm_start: Any = None


@dataclasses.dataclass(frozen=True)
class Certificate:
    """Lower bounds certified for a primal point, by the library (not by the solver).

    Attributes
    ----------
    lower_bound : float
        A certified lower bound on the optimum of the program that was solved (a dual value).
    global_bound : float or None
        A certified lower bound on the non-convex problem's objective over every size, or
        ``None`` where the lift cannot certify one.
    info : dict
        How the bounds were obtained (checked constraints, scalings, ...).
    """

    lower_bound: float
    global_bound: float | None = None
    info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Solution:
    """The result of solving a lifted program, mapped back to the non-convex parameters.

    Attributes
    ----------
    value : float
        Objective of the recovered non-convex parameters; equals ``problem.objective(params)``.
    params : object
        Recovered non-convex parameters (a ``torch.nn.Module``).
    status : str
        One of :data:`STATUSES`; ``"optimal"`` only when the certified relative gap is within
        tolerance (:func:`certified_status`).
    gap : float
        Duality gap ``value - lower_bound`` (``>= 0``), computed by the library from a dual
        point it checked itself; ``nan`` if none could be built.
    global_bound : float or None
        Certified lower bound on the non-convex problem's global optimum (any size), or
        ``None`` where it cannot be certified.
    size : int
        Effective size of the recovered solution (active units / numerical rank / order).
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
        Whether the program's optimum equals the non-convex problem's global optimum (an exact
        lift; a relaxation is not exact even when its bound is a valid ``global_bound``).
    message : str
        A readable sentence on why the solver stopped.
    info : dict
        Extra diagnostics (solver and certificate), including ``"warm_start"`` when the solver
        returned one.
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


def certified_status(status: str, rel_gap: float, tol: float) -> tuple[str, str]:
    """The library's one status policy: ``(status, reason)``.

    A solver's ``"optimal"`` stands only when the certified relative gap is at most ``tol``;
    otherwise it becomes ``"optimal_inaccurate"`` (conic backends meet ``tol`` on their own
    residuals, so :func:`lift.solvers.solve_lifted` asks them for more and re-solves once
    tighter when the certificate falls short). Other statuses are kept as they are.
    ``reason`` is non-empty whenever the gap is above ``tol``, whatever the status.
    """
    if math.isfinite(rel_gap) and rel_gap <= tol:
        return status, ""
    reason = f"certified relative gap {rel_gap:.1e} is above the tolerance {tol:.1e}"
    return ("optimal_inaccurate" if status == "optimal" else status), reason


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------
class Problem(abc.ABC):
    r"""A non-convex learning problem that can be lifted into a convex program.

    Subclasses validate their data in ``__init__`` and implement the abstract members. The
    harness, the trainers, the store and the command line use nothing else.
    """

    #: short name used by the command line, the harness and the results store
    name: str = "problem"
    #: what ``size`` means for this family ("width", "rank", "order", ...)
    size_name: str = "size"

    # --- the non-convex side ------------------------------------------------------------------
    @abc.abstractmethod
    def objective(self, params: Any) -> float:
        """The non-convex regularized objective at ``params``, in float64, exactly."""

    @abc.abstractmethod
    def model(self, size: int, seed: int = 0, *, dtype: Any = None, device: Any = None):
        """The non-convex parameterization at size ``size`` (a ``torch.nn.Module``).

        ``dtype`` is a torch floating dtype (``None``: float64); ``device`` a torch device
        (``None``: the CPU). The initialization is a function of ``seed`` alone.
        """

    @property
    @abc.abstractmethod
    def n_samples(self) -> int:
        """Number of samples (rows of :meth:`data`) that mini-batches are drawn from."""

    @abc.abstractmethod
    def data(self, *, dtype: Any = None, device: Any = None) -> tuple:
        """The training data as a tuple of tensors whose first axis indexes the samples.

        Floating data takes ``dtype`` (``None``: float64); integer data (indices) stays
        integer.
        """

    def batch(self, data: tuple, idx: Any) -> tuple:
        """The mini-batch ``idx`` (a 1-D index tensor) of ``data``; rows of every tensor."""
        return tuple(t[idx] for t in data)

    @abc.abstractmethod
    def torch_objective(self, model: Any, data: tuple | None = None, *,
                        weight: float = 1.0):
        r"""The objective in torch: ``weight * (data term on data) + regularizer(model)``.

        ``data`` is :meth:`data` or a :meth:`batch` of it (``None``: all of it, in the model's
        dtype and device); ``weight = n_samples / batch size`` makes a mini-batch estimate
        unbiased. With all the data and ``weight = 1`` it is the function :meth:`objective`
        evaluates. Must be composed of batched tensor operations (it is vmapped over the
        members of a training population).
        """

    def project_(self, model: Any) -> None:
        """Project ``model``'s parameters onto the feasible set in place (after each training
        step). Unconstrained problems keep this no-op."""
        return None

    def stream(self, seed: int = 0, *, dtype: Any = None, device: Any = None
               ) -> Iterator[tuple] | None:
        """Fresh training data, for problems that can sample their data distribution.

        An endless iterator of tuples shaped like :meth:`data` (``n_samples`` new samples per
        draw, seeded by ``seed``); the trainers then take one step on each draw (with
        ``weight = 1``) instead of on :meth:`data`, and still record the objective on
        :meth:`data`. ``None`` (the default): train on :meth:`data`.
        """
        return None

    @abc.abstractmethod
    def effective_size(self, params: Any) -> int:
        """The size actually used by ``params`` (active units, numerical rank, order)."""

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """Columns for tables beyond the objective (training and test errors, ...).

        ``test`` is whatever :meth:`check_test` accepted (``None``: no held-out data). The
        keys must not depend on ``params``.
        """
        return {}

    def check_test(self, test: Any) -> Any:
        """Validate held-out data for :meth:`evaluate`; families that take none refuse it."""
        if test is not None:
            raise TypeError(f"`test`: {type(self).__name__} takes no held-out data; pass "
                            "test=None.")
        return None

    def describe(self) -> dict[str, Any]:
        """Scalar facts about the problem for tables and headers (sizes, regularization)."""
        return {}

    # --- the convex side ----------------------------------------------------------------------
    @abc.abstractmethod
    def lift(self, **options: Any) -> Lifted:
        """The convex (or quasiconvex) program."""

    def path(self, values: Any, *, solver: str = "auto", tol: float = 1e-6,
             verbose: bool = False, lift: dict[str, Any] | None = None,
             **options: Any) -> list[Solution]:
        """Solutions along a regularization path: ``self.lift(**lift).path(values, ...)``."""
        from lift.errors import check_tol

        check_path_values(values, "values")
        check_tol(tol)
        return self.lift(**(lift or {})).path(values, solver=solver, tol=tol, verbose=verbose,
                                              **options)

    # --- identity -----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A stable hash of the data and hyperparameters (used as a results-store key)."""
        h = hashlib.sha256(type(self).__name__.encode())
        for key, val in sorted(self._fingerprint_items().items()):
            h.update(key.encode())
            if isinstance(val, np.ndarray):
                h.update(str(val.shape).encode())
                h.update(str(val.dtype.kind).encode())
                h.update(np.ascontiguousarray(val).tobytes())
            else:
                h.update(repr(val).encode())
        return h.hexdigest()[:16]

    def _fingerprint_items(self) -> dict[str, Any]:
        """The arrays and settings that define the problem (for :meth:`fingerprint`)."""
        return {}


# --------------------------------------------------------------------------------------------
# Lifted programs
# --------------------------------------------------------------------------------------------
class Lifted(abc.ABC):
    """A convex (or quasiconvex) program obtained by lifting a :class:`Problem`.

    Subclasses implement the program (:meth:`to_cvxpy`, :meth:`cones`, :meth:`size_hint`,
    :meth:`describe`), the reading of a cvxpy solution (:meth:`primal_from_cvxpy`), the
    program's objective (:meth:`program_value`) and the map back (:meth:`recover`,
    :meth:`certify`). :meth:`solve` and :meth:`path` are generic.
    """

    problem: Problem
    #: whether the optimum of this program equals the non-convex global optimum
    exact: bool = False
    #: the program has a feasible point (e.g. zero) and a finite optimum by construction: a
    #: solver reporting it infeasible or unbounded has failed (:func:`lift.solvers.run_solver`
    #: turns that into ``"solver_error"``)
    feasible_by_construction: bool = False

    @abc.abstractmethod
    def to_cvxpy(self):
        """The program as a ``cvxpy.Problem`` (a new one at each call)."""

    @abc.abstractmethod
    def cones(self) -> frozenset[str]:
        """Cone types of the program: subsets of {"zero", "nonneg", "soc", "psd", "exp"}."""

    @abc.abstractmethod
    def size_hint(self) -> int:
        """A rough count of scalar variables plus constraint rows (to choose a solver)."""

    def describe(self) -> dict[str, Any]:
        """Scalar facts about the program for tables (kind, counts)."""
        return {"exact": bool(self.exact)}

    def cvxpy_nonzeros(self) -> int:
        """An estimate of the non-zeros of the constraint matrix :meth:`to_cvxpy` compiles to
        (what the memory of a conic solve grows with); the default is :meth:`size_hint`."""
        return int(self.size_hint())

    @abc.abstractmethod
    def primal_from_cvxpy(self, cvx_problem) -> Any:
        """The primal point (in the format :meth:`recover` reads) of a solved
        ``cvxpy.Problem`` built by :meth:`to_cvxpy`; ``None`` if it holds no values."""

    @abc.abstractmethod
    def program_value(self, primal: Any) -> float:
        """Objective of the lifted program at ``primal``."""

    @abc.abstractmethod
    def recover(self, primal: Any) -> Any:
        """The non-convex parameters (a ``torch.nn.Module``) of a primal point."""

    @abc.abstractmethod
    def certify(self, params: Any, primal: Any) -> Certificate:
        """Certified lower bounds for the recovered ``params`` (and the solver's ``primal``,
        whose dual estimates may be tried but must be checked)."""

    def normalized(self) -> tuple[Lifted, Callable[[Any], Any], Callable[[Any], Any]]:
        """The program on rescaled data that solvers see: ``(inner, back, forward)``.

        ``inner`` is an equivalent program whose data are of order one; ``back`` maps its
        primal points (and warm starts) to this program's, exactly; ``forward`` maps this
        program's warm starts to ``inner``'s. :meth:`recover` and :meth:`certify` always run on
        this program's own data, so the certificate does not depend on the scaling. The
        default is no rescaling: ``(self, identity, identity)``.
        """
        return self, _identity, _identity

    # --- solver choice ------------------------------------------------------------------------
    def solvers(self) -> tuple[str, ...]:
        """Names of the specialised (non-cvxpy) solvers that accept this program."""
        from lift.solvers import specialised_for

        return specialised_for(self)

    def auto_thresholds(self) -> dict[str, float]:
        """Size hints above which ``solver="auto"`` prefers each specialised solver over the
        conic backends (a solver missing here is only a fallback); from measurements."""
        return {}

    def including(self, models: Any) -> Lifted:
        """A program whose optimum is at or below the objective of each of ``models``.

        Exact lifts already are (they return ``self``); an inexact one (e.g. a sampled
        restriction) adds what it needs to contain each model's parameters as a feasible point
        with no larger objective. The harness uses it so that the convex value it reports is
        one no trained model beats.
        """
        return self

    def refine(self, solution: Solution, *, models: Any = (), rounds: int = 5,
               solver: str = "auto", tol: float = 1e-6,
               **options: Any) -> tuple[Lifted, Solution, dict]:
        """Improve an inexact lift towards the global optimum from ``solution`` (e.g. column
        generation), in at most ``rounds`` rounds, using ``models`` (e.g. trained ones) as
        hints; returns the refined program, its solution and a report (``max_violation``:
        the largest factor by which the dual point was found to violate the complete
        program, ``added``: what was added). Exact lifts return ``(self, solution, {})``."""
        return self, solution, {}

    def check_warm_start(self, warm_start: Any) -> Any:
        """``warm_start`` as the solvers of this program read it, or a clear error.

        Called by :meth:`solve` for every solver (conic backends ignore a warm start, but a
        wrong one is still an error). The default accepts anything; families whose solvers
        take a warm start check its type and shape here.
        """
        return warm_start

    def reweight(self, value: float) -> Lifted:
        """The same program with regularization weight ``value`` (for :meth:`path`)."""
        raise NotImplementedError(f"{type(self).__name__} has no regularization path.")

    # --- generic solve ------------------------------------------------------------------------
    def solve(self, solver: str = "auto", tol: float = 1e-6, verbose: bool = False, *,
              warm_start: Any = None, **options: Any) -> Solution:
        """Solve the program and map the solution back to the non-convex parameters.

        Parameters
        ----------
        solver : str
            ``"auto"``, a conic backend (``"clarabel"``, ``"scs"``, ``"mosek"``) or the name of
            a specialised solver listed by :meth:`solvers`.
        tol : float
            Target accuracy: the certified relative duality gap of specialised solvers, the
            backend's own tolerances for conic solvers. The status is ``"optimal"`` only when
            the recomputed gap is within it (:func:`certified_status`).
        verbose : bool
            Print solver output.
        warm_start : object, optional
            A previous solution's ``info["warm_start"]``, or the :class:`Solution` itself
            (specialised solvers that accept one; conic backends ignore it). Checked by
            :meth:`check_warm_start`.
        **options
            Passed to the solver (unknown ones raise ``TypeError``). ``time_limit``
            (seconds) is every solver's: the solvers that certify as they go stop at their
            next certificate past it, with status ``"max_iters"`` and the certified gap
            reached (``info["time_limit_reached"]``); the conic backends get it as their own
            limit (cvxpy's compilation is not counted); ``solver="auto"`` tries no further
            candidate after it.
        """
        from lift.solvers import solve_lifted

        return solve_lifted(self, solver=solver, tol=tol, verbose=verbose,
                            warm_start=warm_start, **options)

    def path(self, values: Any, solver: str = "auto", tol: float = 1e-6,
             verbose: bool = False, **options: Any) -> list[Solution]:
        """Solve the program for each regularization weight in ``values``, warm-starting.

        The weights are solved from the largest to the smallest (where solutions are
        sparsest and the next one starts close by); each solve starts from the previous
        solution's warm start when the solver takes one. Returns one :class:`Solution` per
        value, in the order given.
        """
        from lift.errors import check_tol

        vals = check_path_values(values, "values")
        check_tol(tol)
        out: list[Solution | None] = [None] * vals.size
        warm = None
        for k in np.argsort(-vals, kind="stable"):
            sol = self.reweight(float(vals[k])).solve(solver=solver, tol=tol, verbose=verbose,
                                                      warm_start=warm, **options)
            warm = sol.info.get("warm_start", warm)
            out[k] = sol
        return out  # type: ignore[return-value]

    def finish(self, result: SolverResult, solver: str, tol: float) -> Solution:
        """Map a solver's result back: recover, certify, apply the status policy."""
        info = dict(result.info)
        if result.warm_start is not None:
            info["warm_start"] = result.warm_start
        if result.primal is None or result.status not in USABLE_STATUSES:
            return Solution(value=math.nan, params=None, status=result.status, gap=math.nan,
                            global_bound=None, size=0, solver=solver, time=result.time,
                            iterations=result.iterations, exact=self.exact,
                            message=result.message, info=info)
        t0 = time.perf_counter()
        params = self.recover(result.primal)
        value = float(self.problem.objective(params))
        cert = self.certify(params, result.primal)
        gap_raw = value - cert.lower_bound
        gap = max(gap_raw, 0.0) if math.isfinite(gap_raw) else math.nan
        rel = gap / max(abs(value), 1e-12)
        status, reason = certified_status(result.status, rel, tol)
        message = result.message
        if reason:
            from lift.errors import InaccurateSolutionWarning

            message += f"; {reason}"
            warnings.warn(f"{solver} stopped with status {result.status!r} but the certified "
                          f"relative duality gap is {rel:.2e} (tolerance {tol:.1e}); status: "
                          f"{status!r}.", InaccurateSolutionWarning, stacklevel=4)
        info.update(cert.info)
        info.update(gap_raw=gap_raw, certificate_time=time.perf_counter() - t0)
        return Solution(value=value, params=params, status=status, gap=gap,
                        global_bound=cert.global_bound,
                        size=int(self.problem.effective_size(params)), solver=solver,
                        time=result.time + time.perf_counter() - t0,
                        iterations=result.iterations, lower_bound=cert.lower_bound,
                        program_value=float(self.program_value(result.primal)),
                        exact=self.exact, message=message, info=info)


def _identity(value: Any) -> Any:
    return value


def check_path_values(values: Any, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D float array of positive weights (named ``name``)."""
    from lift.errors import check_positive, check_real_dtype

    check_real_dtype(values, name)
    try:
        vals = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a sequence of positive floats, got "
                        f"{values!r}.") from None
    if vals.ndim != 1 or vals.size == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D sequence, got shape {vals.shape}.")
    for v in vals:
        check_positive(float(v), f"{name}[i]")
    return vals
