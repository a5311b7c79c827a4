r"""The conformance suite every problem family passes: :func:`check_problem`.

In the spirit of scikit-learn's ``check_estimator``: a family that passes it works with the
harness, the trainers, the results store and the command line, because those use nothing but
the members these checks exercise. Each check states the mathematics it verifies:

- the numpy objective equals the torch objective on the full data (float64), for models of
  several sizes; a mini-batch of all samples with weight 1 gives the same value, and (for
  sum-separable data terms) the weighted mini-batch estimates over a partition average to it;
- models are a function of their seed; integer data stays integer in any dtype;
- ``project_`` is idempotent; ``evaluate`` returns the same float columns for every model;
- every accepted solver returns a :class:`~lift.Solution` whose recovered parameters reproduce
  ``sol.value``, whose certified lower bound lies below it, and whose ``global_bound`` (when
  given) lies below the objective of random and trained models of every size; optimal
  solutions of different solvers agree, and each solver's bound holds for every other's value;
- fingerprints are stable (and survive pickling, as the parallel backends need);
- bad arguments raise ``ValueError``/``TypeError`` naming the argument.

Use it in a family's tests::

    from lift.testing import check_problem

    def test_conformance():
        check_problem(lambda: MyProblem(data, lam=0.1), sizes=(1, 2, 4))
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from lift.base import STATUSES, USABLE_STATUSES, Lifted, Problem, Solution

__all__ = ["check_problem", "check_solution", "constructor_arguments", "names_argument",
           "ConformanceError"]


class ConformanceError(AssertionError):
    """A problem family breaks the contract of :mod:`lift.base`."""


def _fail(check: str, message: str) -> None:
    raise ConformanceError(f"[{check}] {message}")


def _close(a: float, b: float, rtol: float, atol: float = 1e-12) -> bool:
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def _raises_naming(fn: Callable[[], Any], check: str, what: str) -> None:
    """``fn()`` must raise ValueError/TypeError whose message names an argument in backticks
    (or a command-line flag)."""
    try:
        fn()
    except (ValueError, TypeError) as exc:
        if not names_argument(exc):
            _fail(check, f"{what}: the error does not name the argument: {exc!r}")
        return
    except Exception as exc:  # noqa: BLE001 - the point is to report the wrong type
        _fail(check, f"{what}: raised {type(exc).__name__} instead of ValueError/TypeError: "
                     f"{exc}")
    _fail(check, f"{what}: no error was raised")


# --------------------------------------------------------------------------------------------
# The non-convex side
# --------------------------------------------------------------------------------------------
def _check_objectives(prob: Problem, sizes: Sequence[int], seeds: Sequence[int],
                      rtol: float, separable: bool) -> None:
    import torch

    for size in sizes:
        for seed in seeds:
            model = prob.model(size, seed)
            value = prob.objective(model)
            if not (isinstance(value, float) and math.isfinite(value)):
                _fail("objective", f"objective of model({size}, {seed}) is {value!r}, not a "
                                   "finite float")
            with torch.no_grad():
                full = float(prob.torch_objective(model))
                data = prob.data(dtype=torch.float64)
                explicit = float(prob.torch_objective(model, data))
                idx = torch.arange(prob.n_samples)
                batched = float(prob.torch_objective(model, prob.batch(data, idx), weight=1.0))
            for name, other in (("torch_objective(model)", full),
                                ("torch_objective(model, data)", explicit),
                                ("torch_objective of a batch of all samples", batched)):
                if not _close(value, other, rtol):
                    _fail("objective", f"objective {value!r} != {name} {other!r} at size "
                                       f"{size}, seed {seed}")
            again = prob.objective(prob.model(size, seed))
            if again != value:
                _fail("model", f"model({size}, seed={seed}) is not a function of its seed")
            if separable and prob.n_samples >= 2:
                _check_partition(prob, model, data, value, rtol)


def _check_partition(prob: Problem, model, data: tuple, value: float, rtol: float) -> None:
    """Two halves weighted by ``n / |B|`` average to the full objective (unbiased batches)."""
    import torch

    n = prob.n_samples
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    halves = [perm[: n // 2], perm[n // 2:]]
    with torch.no_grad():
        # for a sum-separable data term D and regularizer R:
        # (|B1| (n/|B1|) D(B1) + |B2| (n/|B2|) D(B2)) / n + R  ==  D + R
        est = sum(len(h) * float(prob.torch_objective(model, prob.batch(data, h),
                                                      weight=n / len(h)))
                  for h in halves) / n
    if not _close(value, est, rtol, atol=1e-9):
        _fail("batch", f"size-weighted mini-batch objectives average to {est!r}, the full "
                       f"objective is {value!r}; pass separable=False if the data term is not "
                       "a sum over samples")


def _check_data(prob: Problem) -> None:
    import torch

    n = prob.n_samples
    if not (isinstance(n, int) and n >= 1):
        _fail("data", f"n_samples must be a positive int, got {n!r}")
    d64 = prob.data(dtype=torch.float64)
    d32 = prob.data(dtype=torch.float32)
    if not isinstance(d64, tuple) or not d64:
        _fail("data", "data() must return a non-empty tuple of tensors")
    for k, (a, b) in enumerate(zip(d64, d32, strict=True)):
        if a.shape[0] != n:
            _fail("data", f"data()[{k}] has {a.shape[0]} rows, n_samples is {n}")
        if a.dtype.is_floating_point:
            if b.dtype != torch.float32:
                _fail("data", f"data(dtype=float32)[{k}] is {b.dtype}")
        elif a.dtype != b.dtype:
            _fail("data", f"integer data()[{k}] changed dtype with the float dtype "
                          f"({a.dtype} -> {b.dtype}); index data must stay integer")


def _check_model_side(prob: Problem, sizes: Sequence[int], test: Any) -> None:
    import torch

    keys = None
    for size in sizes:
        model = prob.model(size, 0)
        if not isinstance(model, torch.nn.Module):
            _fail("model", f"model({size}) is a {type(model).__name__}, not a torch.nn.Module")
        m32 = prob.model(size, 0, dtype=torch.float32)
        if next(m32.parameters()).dtype != torch.float32:
            _fail("model", "model(dtype=torch.float32) does not hold float32 parameters")
        eff = prob.effective_size(model)
        if not isinstance(eff, (int, np.integer)) or eff < 0:
            _fail("effective_size", f"effective_size is {eff!r}, not an int >= 0")
        prob.project_(model)
        once = prob.objective(model)
        prob.project_(model)
        if not _close(once, prob.objective(model), 1e-12) or not math.isfinite(once):
            _fail("project_", "project_ is not idempotent or gives a non-finite objective")
        cols = prob.evaluate(model, test)
        if not isinstance(cols, dict) or not all(isinstance(k, str) for k in cols):
            _fail("evaluate", "evaluate must return a dict with str keys")
        for k, v in cols.items():
            if not isinstance(v, (float, int, np.floating, np.integer)):
                _fail("evaluate", f"evaluate()[{k!r}] is {type(v).__name__}, not a number")
        if keys is not None and set(cols) != keys:
            _fail("evaluate", "evaluate's keys depend on the model")
        keys = set(cols)
    desc = prob.describe()
    if not isinstance(desc, dict):
        _fail("describe", "describe must return a dict")
    if not isinstance(prob.size_name, str) or not isinstance(prob.name, str):
        _fail("describe", "size_name and name must be strings")


def _check_identity(make_problem: Callable[[], Problem], prob: Problem) -> None:
    fp = prob.fingerprint()
    if not isinstance(fp, str) or fp != make_problem().fingerprint():
        _fail("fingerprint", "fingerprint is not a str stable across constructions")
    clone = pickle.loads(pickle.dumps(prob))
    if clone.fingerprint() != fp:
        _fail("fingerprint", "a pickled and unpickled problem has another fingerprint")


def _check_bad_arguments(prob: Problem, lifted: Lifted,
                         bad: Iterable[tuple[str, Callable[[], Any]]]) -> None:
    _raises_naming(lambda: prob.model(0), "arguments", "model(0)")
    _raises_naming(lambda: prob.model(1.5), "arguments", "model(1.5)")
    _raises_naming(lambda: prob.model(1, seed=-1), "arguments", "model(1, seed=-1)")
    _raises_naming(lambda: prob.objective(object()), "arguments", "objective(object())")
    _raises_naming(lambda: lifted.solve(solver="no-such-solver"), "arguments",
                   "solve(solver='no-such-solver')")
    _raises_naming(lambda: lifted.solve(tol=-1.0), "arguments", "solve(tol=-1)")
    for what, fn in bad:
        _raises_naming(fn, "arguments", what)


# --------------------------------------------------------------------------------------------
# The convex side
# --------------------------------------------------------------------------------------------
def _solve_all(lifted: Lifted, solvers: Sequence[str], tol: float) -> dict[str, Solution]:
    out = {}
    for name in solvers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = lifted.solve(solver=name, tol=tol)
        check_solution(lifted, sol, tol, name)
        out[name] = sol
    return out


def check_solution(lifted: Lifted, sol: Any, tol: float, name: str = "solve") -> None:
    """Raise :class:`ConformanceError` unless ``sol`` is an honest :class:`~lift.Solution` of
    ``lifted`` at tolerance ``tol``: a library status; ``"optimal"`` only with a certified
    relative gap ``<= tol``; for a usable point, ``value == objective(params)``, a lower bound
    at or below the value and a global bound (required for exact lifts) at or below it."""
    if not isinstance(sol, Solution) or sol.status not in STATUSES:
        _fail("solve", f"{name}: not a Solution with a library status: {sol!r}")
    if sol.status == "optimal" and not sol.rel_gap <= tol:
        _fail("status", f"{name}: 'optimal' with a certified relative gap {sol.rel_gap!r} "
                        f"above tol={tol!r}")
    if sol.status not in USABLE_STATUSES:
        return
    value = lifted.problem.objective(sol.params)
    if not _close(value, sol.value, 1e-9):
        _fail("recover", f"{name}: objective(sol.params) = {value!r} but sol.value = "
                         f"{sol.value!r}")
    if not (sol.gap >= 0 and sol.lower_bound <= sol.value + 1e-9 * abs(sol.value)):
        _fail("certify", f"{name}: lower bound {sol.lower_bound!r} above the value "
                         f"{sol.value!r} (gap {sol.gap!r})")
    if sol.global_bound is not None and sol.global_bound > sol.value + 1e-9 * max(
            1.0, abs(sol.value)):
        _fail("certify", f"{name}: global bound {sol.global_bound!r} above its own "
                         f"value {sol.value!r}")
    if sol.exact and sol.global_bound is None:
        _fail("certify", f"{name}: an exact lift must certify a global bound")


def names_argument(exc: BaseException) -> bool:
    """Whether an error message names an argument in backticks (or a command-line flag)."""
    return bool(re.search(r"`[^`]+`|--[a-z]", str(exc)))


def constructor_arguments(problem: Problem) -> dict[str, Any] | None:
    """Keyword arguments that rebuild ``problem`` from its same-named attributes (for
    mutation tests), or ``None`` when a required argument is not kept under its name."""
    import inspect

    out = {}
    for name, par in inspect.signature(type(problem).__init__).parameters.items():
        if name == "self" or par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
            continue
        if hasattr(problem, name):
            out[name] = getattr(problem, name)
        elif par.default is par.empty:
            return None
    return out


def _check_agreement(sols: dict[str, Solution], rtol: float) -> None:
    ok = {k: s for k, s in sols.items() if s.status == "optimal"}
    for a, sa in ok.items():
        for b, sb in ok.items():
            if a < b and not _close(sa.program_value, sb.program_value, rtol, atol=1e-9):
                _fail("agreement", f"{a} and {b} disagree on the program's optimum: "
                                   f"{sa.program_value!r} vs {sb.program_value!r}")
            if sa.global_bound is not None and sa.global_bound > sb.value + rtol * max(
                    1.0, abs(sb.value)):
                _fail("agreement", f"{a}'s global bound {sa.global_bound!r} is above "
                                   f"{b}'s value {sb.value!r}")


def _check_bound_against_models(prob: Problem, sols: dict[str, Solution],
                                sizes: Sequence[int], train_steps: int) -> None:
    from lift.solvers.sgd import TrainConfig, train

    bounds = [s.global_bound for s in sols.values() if s.global_bound is not None]
    if not bounds:
        return
    bound = max(bounds)
    config = TrainConfig(optimizer="adam", steps=train_steps, lr=1e-2)
    for size in sizes:
        for seed in (0, 1):
            model = prob.model(size, seed)
            values = [prob.objective(model)]
            if train_steps:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    train(prob, model, config, seed=seed)
                values.append(prob.objective(model))
            for v in values:
                if v < bound - 1e-7 * max(1.0, abs(bound)):
                    _fail("global_bound", f"a model of size {size} (seed {seed}) reaches "
                                          f"{v!r}, below the certified global bound {bound!r}")


# --------------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------------
def check_problem(make_problem: Callable[[], Problem], *, sizes: Sequence[int] = (1, 2, 4),
                  seeds: Sequence[int] = (0, 1), solvers: Sequence[str] | None = None,
                  lift_options: dict[str, Any] | None = None, tol: float = 1e-6,
                  agree_rtol: float = 1e-4, train_steps: int = 200, test: Any = None,
                  separable: bool = True,
                  bad_arguments: Iterable[tuple[str, Callable[[], Any]]] = ()
                  ) -> dict[str, Solution]:
    """Run the conformance checks on the problem built by ``make_problem``.

    Parameters
    ----------
    make_problem : callable
        Builds the problem (called more than once: the fingerprint must be stable).
    sizes, seeds : sequences of int
        Model sizes and seeds to exercise.
    solvers : sequence of str, optional
        Solvers to run on ``prob.lift(**lift_options)``; default: the program's specialised
        solvers and the usable open conic backends (Clarabel, SCS).
    lift_options : dict, optional
        Keyword arguments of ``prob.lift``.
    tol : float
        Solver tolerance.
    agree_rtol : float
        Relative agreement required between optimal solutions of different solvers.
    train_steps : int
        Adam steps per trained model checked against the global bound (0: random models only).
    test : object, optional
        Held-out data for ``evaluate`` (checked by ``check_test``).
    separable : bool
        The data term is a sum over samples, so weighted mini-batches are unbiased.
    bad_arguments : iterable of (description, callable)
        Family-specific calls that must raise ``ValueError``/``TypeError`` naming an argument.

    Returns
    -------
    dict
        Solver name -> :class:`~lift.Solution`, for further family-specific checks.

    Raises
    ------
    ConformanceError
        At the first broken check, naming it.
    """
    from lift.solvers import usable_solvers

    prob = make_problem()
    if not isinstance(prob, Problem):
        _fail("type", f"make_problem() returned a {type(prob).__name__}, not a lift.Problem")
    test = prob.check_test(test)
    _check_data(prob)
    _check_objectives(prob, sizes, seeds, rtol=1e-10, separable=separable)
    _check_model_side(prob, sizes, test)
    _check_identity(make_problem, prob)
    lifted = prob.lift(**(lift_options or {}))
    if not isinstance(lifted, Lifted) or lifted.problem is not prob:
        _fail("lift", "lift() must return a Lifted whose .problem is the problem")
    if not isinstance(lifted.describe(), dict) or not lifted.cones() <= {
            "zero", "nonneg", "soc", "psd", "exp"}:
        _fail("lift", "describe() must be a dict and cones() a subset of the known cones")
    if solvers is None:
        solvers = list(lifted.solvers()) + [s for s in ("clarabel", "scs")
                                            if s in usable_solvers()]
    sols = _solve_all(lifted, solvers, tol)
    _check_agreement(sols, agree_rtol)
    _check_bound_against_models(prob, sols, sizes, train_steps)
    _check_bad_arguments(prob, lifted, bad_arguments)
    return sols
