r"""The comparison harness: the convex optimum against a sweep of non-convex training runs.

For any problem (:class:`lift.Problem`) with objective ``F``, :func:`compare` solves the lifted
program ``prob.lift(**lift)`` once (value ``F^\star_{cvx}``, certified ``global_bound``
``\underline F`` where the lift allows one) and trains ``prob.model(size, seed)`` for every
size and seed. Each run is reported by its final objective ``F_k`` and its relative gap to the
convex value,

.. math::

    \mathrm{rel\_gap}_k = \frac{F_k - F^\star_{cvx}}{|F^\star_{cvx}|},

and checked against the certificate: ``F_k >= \underline F - tol`` must hold for every model of
every size (``below_bound`` flags a violation, which would be a bug). When the lift is exact,
``F^\star_{cvx} - \underline F`` is the solver's certified gap and ``rel_gap <= reach`` means
the run reached the global optimum to ``reach``. Without a global certificate the reference is
the program's value, which a large model may beat.

The harness is generic: it talks to the problem only through the members of
:class:`lift.Problem` (``lift``, ``model``, ``objective``, ``effective_size``, ``evaluate``,
``check_test``, ``describe``, ``size_name``, ``name``, ``fingerprint``, and, through the
trainers, ``data``, ``batch``, ``n_samples``, ``torch_objective``, ``project_``).

Tasks are independent. Training runs are grouped into populations (all seeds of one size, by
default) that train as batched tensor programs (:func:`lift.solvers.sgd.train_population`); a
run's result does not depend on its population. Populations and the convex solve run on joblib
worker processes (``backend="local"``) or a Dask cluster (``backend="dask"``); only the driver
writes the results store (:mod:`lift.store`), so an interrupted sweep resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lift.errors import LiftError, available_memory, check_choice, check_int, check_positive
from lift.store import DB_NAME, Store, check_store_path, store_files, store_lock, task_key

__all__ = ["compare", "Comparison", "OutputExistsError", "WorkerError", "OUTPUTS", "BACKENDS",
           "CONVEX", "CONVEX_RUNS", "COLUMNS", "MAX_RUNS", "MAX_JOBS", "check_seed_count"]

BACKENDS = ("local", "dask")
#: the ``method`` of the convex solution's row
CONVEX = "convex"
#: the ``method`` of the row of the program that also contains every trained model
#: (``Lifted.including``), refined towards the global optimum (``Lifted.refine``)
CONVEX_RUNS = "convex+runs"
#: methods that are convex solutions, not training runs
CONVEX_METHODS = (CONVEX, CONVEX_RUNS)
_DTYPES = ("float64", "float32")
#: the files :meth:`Comparison.save` writes
OUTPUTS = ("table.csv", "summary.csv", "gap_vs_size.png")
#: most training runs (sizes x seeds) of one sweep
MAX_RUNS = 100_000
#: most worker processes
MAX_JOBS = 256
#: largest seed (torch generators take 64-bit seeds)
_MAX_SEED = 2**63 - 1
#: columns of :meth:`Comparison.summary` (then the medians of ``prob.evaluate``'s columns)
_SUMMARY_COLUMNS = ("method", "size", "seeds", "reached", "fraction", "median_gap", "min_gap",
                    "max_gap", "median_effective_size")

#: the harness's own columns, one meaning each (see :class:`Comparison`)
COLUMNS = ("method", "size", "seed", "objective", "rel_gap", "bound", "below_bound",
           "below_convex", "effective_size", "steps", "time", "status", "gap", "global_bound",
           "lower_bound", "solver", "exact", "iterations", "max_violation", "added",
           "train_objective", "population", "message")


class WorkerError(LiftError, RuntimeError):
    """A worker process died while running a unit (most often killed for lack of memory)."""


def _worker_died(exc: BaseException) -> WorkerError:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return WorkerError(f"A worker process died during the sweep ({text}); most often the "
                       "system killed it for lack of memory. Finished tasks are kept in the store: "
                       "rerun with fewer n_jobs (--n-jobs), population=1 (--population 1) or "
                       "smaller sizes.")


class OutputExistsError(FileExistsError, ValueError):
    """:meth:`Comparison.save` would replace files (pass ``overwrite=True``)."""


# --------------------------------------------------------------------------------------------
# Argument checks (all before any work starts)
# --------------------------------------------------------------------------------------------
def _check_sizes(sizes: Any) -> list[int]:
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = [sizes]
    if isinstance(sizes, str) or not isinstance(sizes, Iterable):
        raise TypeError(f"`sizes` must be a list of positive integers, got {sizes!r}.")
    out = [check_int(s, "sizes", minimum=1) for s in sizes]
    if not out:
        raise ValueError("`sizes` is empty; pass at least one size, e.g. sizes=[1, 2, 4, 8].")
    return sorted(set(out))


def check_seed_count(count: int, name: str = "seeds") -> int:
    """A number of seeds, at most :data:`MAX_RUNS` (checked before any list is built)."""
    count = check_int(count, name, minimum=1)
    if count > MAX_RUNS:
        raise ValueError(f"`{name}` asks for {count:,} seeds (runs), more than the {MAX_RUNS:,} "
                         "one sweep takes. Pass fewer seeds, e.g. seeds=5.")
    return count


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        return list(range(check_seed_count(seeds)))
    if isinstance(seeds, str) or not isinstance(seeds, Iterable):
        raise TypeError(f"`seeds` must be a count or a list of integers, got {seeds!r}.")
    if hasattr(seeds, "__len__") and len(seeds) > MAX_RUNS:
        check_seed_count(len(seeds))
    out = []
    for s in seeds:
        out.append(check_int(s, "seeds"))
        if out[-1] > _MAX_SEED:
            raise ValueError(f"`seeds` must be integers in [0, 2**63 - 1]. Got {s!r}.")
        if len(out) > MAX_RUNS:
            check_seed_count(len(out))
    if not out:
        raise ValueError("`seeds` is empty; pass a count (seeds=5) or a list of integers.")
    return sorted(set(out))


def _check_runs(sizes: list[int], seeds: list[int]) -> None:
    runs = len(sizes) * len(seeds)
    if runs > MAX_RUNS:
        raise ValueError(f"`sizes` x `seeds` is {len(sizes)} x {len(seeds)} = {runs:,} runs, "
                         f"more than the {MAX_RUNS:,} one sweep takes. Pass fewer sizes or "
                         "seeds, or split the sweep.")


def _param_counts(prob, sizes: list[int]) -> dict[int, int] | None:
    """The parameter count of ``prob.model(size)`` for each size, without building large
    models: counted at sizes 1, 2, 3, extrapolated as a polynomial of degree <= 2 (checked
    at size 4). None when the counts are not such a polynomial."""

    def count(size: int) -> int:
        return sum(p.numel() for p in prob.model(size, 0).parameters())

    small: dict[int, int] = {}
    for size in (1, 2, 3, 4):
        try:
            small[size] = count(size)
        except (ValueError, TypeError):  # above the family's largest size for its data
            break
    if all(s in small for s in sizes):
        return {s: small[s] for s in sizes}
    if len(small) < 4:
        return None
    c1, d1 = small[1], small[2] - small[1]
    d2 = small[3] - 2 * small[2] + small[1]

    def poly(s: int) -> int:  # Newton's forward differences, exact in integers
        return c1 + (s - 1) * d1 + (s - 1) * (s - 2) // 2 * d2

    if poly(4) != small[4]:
        return None
    return {s: small[s] if s in small else poly(s) for s in sizes}


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def _check_memory(prob, args: dict[str, Any], remote: bool = False) -> None:
    """Refuse a sweep whose training would not fit in memory, before anything runs.

    Estimate: per model of ``p`` parameters on ``n`` samples at size ``s``, ``8 p`` numbers
    (parameters, gradients, optimizer state, copies) and ``6 n s`` (activations and their
    gradients); the populations that train at once (not on a ``remote`` cluster, whose
    memory is its own), plus every final model kept by the driver.
    """
    sizes, seeds = args["sizes"], args["seeds"]
    counts = _param_counts(prob, sizes)
    available = available_memory()
    if counts is None or available is None:
        return
    item = 4 if args["dtype"] == "float32" else 8
    n = int(getattr(prob, "n_samples", 1) or 1)

    def cost(size: int) -> int:
        return item * (8 * counts[size] + 6 * n * size)

    runs = [{"size": m, "seed": s} for m in sizes for s in seeds]
    units = sorted((sum(cost(r["size"]) for r in group)
                    for group in _make_units(runs, args["population"])), reverse=True)
    workers = 0 if remote else min(args["n_jobs"], len(units))
    need = sum(units[:workers]) + 8 * len(seeds) * sum(counts.values())
    if need > available:
        largest = max(sizes)
        raise ValueError(
            f"`sizes`: this sweep needs about {_gib(need)} of memory, more than the "
            f"{_gib(available)} available (the largest model, {prob.size_name} {largest:,}, "
            f"has {counts[largest]:,} parameters; {workers} population(s) train at once). "
            "Pass smaller sizes, fewer seeds, population=1 (--population 1) or fewer "
            "n_jobs.")


def _check_population(population: Any) -> str | int:
    if population in ("size", "all"):
        return population
    if isinstance(population, numbers.Integral) and not isinstance(population, bool):
        return check_int(population, "population", minimum=1)
    raise ValueError(f"`population` must be 'size', 'all' or a positive integer, got "
                     f"{population!r}.")


def _check_train(train: Any):
    from lift.solvers.sgd import TrainConfig

    if train is None:
        return TrainConfig()
    if isinstance(train, TrainConfig):
        return train
    if isinstance(train, dict):
        unknown = sorted(set(train) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise TypeError(f"`train` has unknown settings {unknown}; see "
                            "lift.solvers.sgd.TrainConfig for the accepted ones.")
        return TrainConfig(**train)
    raise TypeError(f"`train` must be a lift.solvers.sgd.TrainConfig or a dict of its fields, "
                    f"got {type(train).__name__}.")


def _check_lift(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise TypeError(f"`lift` must be a dict of keyword arguments of prob.lift, e.g. "
                        f"lift={{'program': 'cone'}}; got {options!r}.")
    return dict(options)


def _check_solver(solver: Any) -> str:
    """A solver name some program accepts (whether this program does shows when it is
    solved)."""
    import lift.problems  # noqa: F401  (registers the families' specialised solvers)
    from lift.solvers import CONIC_BACKENDS, SPECIALISED

    if not isinstance(solver, str):
        raise TypeError(f"`solver` must be a string, got {type(solver).__name__}.")
    known = ["auto", *CONIC_BACKENDS, *SPECIALISED]
    if solver.lower() not in known:
        raise ValueError(f"Unknown `solver` {solver!r}; choose one of {known}.")
    return solver


def _check_jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return max(1, min(os.cpu_count() or 1, 8))
    n_jobs = check_int(n_jobs, "n_jobs", minimum=1)
    if n_jobs > MAX_JOBS:
        raise ValueError(f"`n_jobs` must be at most {MAX_JOBS} worker processes (this machine "
                         f"has {os.cpu_count()} CPUs). Got {n_jobs:,}.")
    return n_jobs


def _check_device(device: Any) -> str | None:
    if device is None:
        return None
    import torch

    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` {device!r} is not a torch device: {exc}") from None


def _digest(value: Any, h: Any) -> None:
    """Feed a stable description of ``value`` (arrays, containers, scalars) into ``h``."""
    if isinstance(value, np.ndarray):
        h.update(f"{value.shape}{value.dtype.str}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _digest(v, h)
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _digest(value[k], h)
    elif hasattr(value, "detach"):
        _digest(value.detach().cpu().numpy(), h)
    else:
        h.update(repr(value).encode())


def _test_key(test: Any) -> str | None:
    if test is None:
        return None
    h = hashlib.sha256()
    _digest(test, h)
    return h.hexdigest()[:24]


def _probe_scheduler(address: str, timeout: float) -> None:
    """Connect to ``address`` and complete Dask's handshake within ``timeout`` seconds, in a
    thread of its own (Dask's client waits for the handshake's answer without a limit, so a
    service that accepts and never answers would hold it for minutes)."""
    import asyncio
    import threading

    from distributed.comm import connect

    async def handshake():
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    failure: list[BaseException] = []

    def run():
        try:
            asyncio.run(handshake())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="lift-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if thread.is_alive() or failure:
        if thread.is_alive() or isinstance(failure[0], TimeoutError):
            why = f"no answer within {timeout:g} s"
        else:
            text = " ".join(str(failure[0]).split())[:200]
            why = f"{type(failure[0]).__name__}: {text}" if text else type(failure[0]).__name__
        raise ValueError(f"`address`: no Dask scheduler at {address!r} ({why}). Start one "
                         "with `dask scheduler` and pass its address (tcp://host:8786), or "
                         "pass address=None for a LocalCluster.")


def _connect_dask(address: str | None, n_jobs: int, timeout: float):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dev dependency
        raise ValueError("backend='dask' needs dask and distributed: pip install "
                         "'convex-lift[dask]'.") from exc
    if address is None:
        import logging

        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    if not isinstance(address, str):
        raise TypeError(f"`address` must be a scheduler address string, got {address!r}.")
    _probe_scheduler(address, timeout)
    try:
        client = Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"`address`: could not reach a Dask scheduler at {address!r} within "
                         f"{timeout:g} s ({type(exc).__name__}). Start one with "
                         "`dask scheduler`, or pass address=None for a LocalCluster.") from None
    return client, None


# --------------------------------------------------------------------------------------------
# Work units (run in workers; return plain records)
# --------------------------------------------------------------------------------------------
def _state_arrays(model) -> dict[str, np.ndarray]:
    """``model.state_dict()`` as numpy arrays (dtypes kept; integer buffers stay integer)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def _merge(row: dict[str, Any], extra: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Add ``extra`` to ``row``; a key the row already has with another value is prefixed
    with ``prefix`` (the same fact under the same name is kept once)."""
    for key, val in extra.items():
        if key in row and row[key] == val:
            continue
        row[f"{prefix}{key}" if key in row else key] = val
    return row


def _run_unit(unit: dict[str, Any], prob, test, threads: int | None) -> list[dict[str, Any]]:
    """Run one unit of work: the convex solve, or one population of training runs."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        if unit["kind"] == CONVEX:
            return [_run_convex(unit, prob, test)]
        if unit["kind"] == CONVEX_RUNS:
            return [_run_convex_runs(unit, prob, test)]
        return _run_population(unit, prob, test)
    finally:
        torch.set_num_threads(old)


def _run_convex(unit: dict[str, Any], prob, test) -> dict[str, Any]:
    opts = unit["options"]
    lifted = prob.lift(**opts["lift"])
    sol = lifted.solve(solver=opts["solver"], tol=opts["tol"])
    return _convex_record(unit["key"], CONVEX, prob, lifted, sol, test)


def _run_convex_runs(unit: dict[str, Any], prob, test) -> dict[str, Any]:
    """The program plus every trained model (``including``), refined (``refine``)."""
    import time

    import torch

    opts = unit["options"]
    t0 = time.perf_counter()
    lifted = prob.lift(**opts["lift"])
    models = []
    for size, seed, arrays in unit["runs"]:
        model = prob.model(size, seed)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        models.append(model)
    bigger = lifted.including(models)
    if bigger is lifted:  # an exact lift contains every model already
        return {"key": unit["key"], "method": CONVEX_RUNS, "size": None, "seed": None,
                "row": {"method": CONVEX_RUNS, "same_program": True}, "trajectory": None,
                "params": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = bigger.solve(solver=opts["solver"], tol=opts["tol"])
        refined, sol, report = bigger.refine(sol, models=models, rounds=unit["rounds"],
                                             solver=opts["solver"], tol=opts["tol"])
    out = _convex_record(unit["key"], CONVEX_RUNS, prob, refined, sol, test)
    out["row"].update(time=time.perf_counter() - t0, models=len(models),
                      max_violation=report.get("max_violation", math.nan),
                      added=report.get("added", 0))
    return out


def _convex_record(key: str, method: str, prob, lifted, sol, test) -> dict[str, Any]:
    row = {"method": method, "size": None, "seed": None, "objective": sol.value,
           "effective_size": sol.size, "gap": sol.gap, "global_bound": sol.global_bound,
           "lower_bound": sol.lower_bound, "status": sol.status, "solver": sol.solver,
           "time": sol.time, "iterations": sol.iterations, "exact": bool(sol.exact),
           "message": sol.message}
    _merge(row, lifted.describe(), "program_")
    params = None
    if sol.params is not None:
        _merge(row, prob.evaluate(sol.params, test), "eval_")
        params = _state_arrays(sol.params)
    return {"key": key, "method": method, "size": None, "seed": None, "row": row,
            "trajectory": None, "params": params}


def _run_population(unit: dict[str, Any], prob, test) -> list[dict[str, Any]]:
    import torch

    from lift.solvers.sgd import TrainConfig, train_population

    config = TrainConfig(**{**unit["config"], "betas": tuple(unit["config"]["betas"])})
    results = train_population(prob, unit["sizes"], unit["seeds"], config,
                               dtype=getattr(torch, unit["dtype"]), device=unit["device"])
    out = []
    for key, res in zip(unit["keys"], results, strict=True):
        model = res.params
        row = {"method": config.optimizer, "size": res.size, "seed": res.seed,
               "objective": prob.objective(model),  # float64, exact, whatever the dtype
               "train_objective": res.objective, "steps": res.steps, "time": res.time,
               "effective_size": int(prob.effective_size(model)), "message": res.message,
               "status": "diverged" if not math.isfinite(res.objective) else "finished",
               "population": len(unit["keys"])}
        _merge(row, prob.evaluate(model, test), "eval_")
        out.append({"key": key, "method": config.optimizer, "size": res.size,
                    "seed": res.seed, "row": row, "trajectory": res.trajectory,
                    "params": _state_arrays(model)})
    return out


def _make_units(runs: list[dict[str, Any]], population: str | int) -> list[list[dict]]:
    """Group pending runs into populations, the largest (most costly) first."""
    runs = sorted(runs, key=lambda r: (-r["size"], r["seed"]))
    if population == "all":
        return [runs] if runs else []
    if population == "size":
        by: dict[int, list] = {}
        for r in runs:
            by.setdefault(r["size"], []).append(r)
        return list(by.values())
    return [runs[i:i + population] for i in range(0, len(runs), population)]


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Comparison:
    r"""The convex optimum and a sweep of training runs, side by side.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (method, size, seed), plus one row for the convex solution
        (``method == "convex"``). Every column has one meaning in every row:

        - ``method``: ``"convex"`` or the optimizer; ``size``: the requested size (width /
          rank / order) of a run, missing (``<NA>``) for the convex row; ``seed``: the
          initialization seed (missing for the convex row);
        - ``objective``: ``prob.objective`` of the final parameters (float64);
          ``rel_gap``: ``(objective - F_cvx) / |F_cvx|``; ``bound``: the certified global
          bound (NaN without one); ``below_bound``: ``objective < bound - tol`` (never True
          unless something is wrong; missing without a bound);
        - ``effective_size``: ``prob.effective_size(params)`` of the final parameters;
        - ``steps``: training steps taken (missing for the convex row, see ``iterations``);
          ``time``: seconds (for a run, its population's wall time divided by its size);
          ``status``: the solver's certified status, or ``"finished"`` / ``"diverged"``;
        - the convex row's ``gap``, ``global_bound``, ``lower_bound``, ``solver``, ``exact``,
          ``iterations`` (from the :class:`lift.Solution`) and the columns of
          ``lifted.describe()``;
        - a run's ``train_objective`` (final objective in the training dtype) and
          ``population`` (members trained together);
        - every row: the columns of ``prob.evaluate(params, test)`` and of ``prob.describe()``
          (a name that collides with one above is prefixed with ``eval_`` / ``problem_`` /
          ``program_``).
    trajectories : dict
        ``(method, size, seed) -> {"step", "objective", "time"}``.
    optimum : float
        The convex value ``F_cvx`` the gaps are measured against.
    global_bound : float or None
        The certified lower bound on every model's objective, or None.
    reach : float
        A run "reaches the optimum" when ``rel_gap <= reach``.
    spec : dict
        The sweep's settings (problem, sizes, seeds, training settings, lift options).
    params : dict
        ``(method, size, seed) -> state_dict`` arrays of each run's final model.
    """

    table: Any
    trajectories: dict[tuple[str, int, int], dict[str, list[float]]]
    optimum: float
    global_bound: float | None
    reach: float
    spec: dict[str, Any]
    params: dict[tuple[str, int, int], dict[str, np.ndarray]] = dataclasses.field(
        default_factory=dict, repr=False)
    store: str | None = None

    def __repr__(self) -> str:
        runs = len(self.runs)
        bound = "none" if self.global_bound is None else f"{self.global_bound:.6g}"
        return (f"Comparison({runs} runs, sizes={self.spec.get('sizes')}, optimum="
                f"{self.optimum:.6g}, global_bound={bound}, reach={self.reach:g})")

    @property
    def size_name(self) -> str:
        """What ``size`` means for the problem ("width", "rank", "order", ...)."""
        return str(self.spec.get("size_name", "size"))

    #: the convex value counts as the certified global optimum when its global bound is
    #: this close (relative)
    CERTIFIED_GAP = 1e-4

    @property
    def bound_gap(self) -> float:
        """``(optimum - global_bound) / |optimum|``, NaN without a global bound."""
        if self.global_bound is None:
            return math.nan
        return (self.optimum - self.global_bound) / max(abs(self.optimum), 1e-300)

    @property
    def certified(self) -> bool:
        """Whether the optimum comes with a global certificate (a global bound within
        :attr:`CERTIFIED_GAP` of it)."""
        return self.global_bound is not None and self.bound_gap <= self.CERTIFIED_GAP

    @property
    def runs(self):
        """The training rows of :attr:`table` (without the convex row)."""
        return self.table[~self.table["method"].isin(CONVEX_METHODS)]

    @property
    def reference(self):
        """The table row of the convex solution the gaps are measured against: the program
        that also contains every trained model when there is one (``"convex+runs"``),
        else the lifted program (``"convex"``)."""
        rows = self.table[self.table["method"] == CONVEX_RUNS]
        if not len(rows):
            rows = self.table[self.table["method"] == CONVEX]
        return rows.iloc[0]

    def summary(self, reach: float | None = None):
        r"""Per (method, size): how many seeds reach the optimum.

        Columns ``seeds``, ``reached`` (runs with ``rel_gap <= reach``), ``fraction``,
        ``median_gap``, ``min_gap``, ``max_gap``, ``median_effective_size`` and the median of
        each column of ``prob.evaluate`` (``median_<name>``). ``.attrs["reach_size"]`` holds
        :meth:`reach_size` per method.
        """
        import pandas as pd

        reach = self.reach if reach is None else check_positive(reach, "reach")
        runs = self.runs
        extra = [c for c in self.spec.get("evaluate", []) if c in runs.columns]
        rows = []
        for (method, size), grp in runs.groupby(["method", "size"], sort=True):
            gaps = grp["rel_gap"].to_numpy(dtype=float)
            reached = int(np.sum(gaps <= reach))
            row = {"method": method, "size": int(size), "seeds": len(grp), "reached": reached,
                   "fraction": reached / len(grp), "median_gap": float(np.median(gaps)),
                   "min_gap": float(gaps.min()), "max_gap": float(gaps.max()),
                   "median_effective_size": float(grp["effective_size"].median())}
            for col in extra:
                row[f"median_{col}"] = float(pd.to_numeric(grp[col]).median())
            rows.append(row)
        out = pd.DataFrame(rows, columns=list(_SUMMARY_COLUMNS) + [f"median_{c}"
                                                                     for c in extra])
        out.attrs["reach"] = reach
        out.attrs["reach_size"] = {m: self.reach_size(reach, method=m)
                                   for m in runs["method"].unique()}
        return out

    def reach_size(self, reach: float | None = None, method: str | None = None) -> int | None:
        """Smallest size at which most seeds (more than half) reach the optimum, or None."""
        reach = self.reach if reach is None else reach
        runs = self.runs if method is None else self.runs[self.runs["method"] == method]
        for size, grp in sorted(runs.groupby("size"), key=lambda kv: kv[0]):
            if np.mean(grp["rel_gap"].to_numpy(dtype=float) <= reach) > 0.5:
                return int(size)
        return None

    def model(self, size: int, seed: int, prob, method: str | None = None):
        """The final model of one run: ``prob.model(size, seed)`` loaded with its stored
        ``state_dict`` (``prob`` is the problem of the sweep)."""
        import torch

        fp = self.spec.get("fingerprint")
        if fp is not None and prob.fingerprint() != fp:
            raise ValueError(f"`prob` is not the problem of this sweep (fingerprint "
                             f"{prob.fingerprint()} != {fp}); pass the problem the sweep ran "
                             "on.")
        method = method or self.spec["optimizer"]
        arrays = self.params.get((method, int(size), int(seed)))
        if arrays is None:
            raise KeyError(f"No run ({method!r}, size={size}, seed={seed}) in this comparison.")
        model = prob.model(int(size), int(seed))
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
        return model

    def plot(self, reach: float | None = None):
        """Figure: relative gap vs size (log scale, seeds as spread) and trajectories."""
        from lift.plots import plot_comparison

        return plot_comparison(self, reach=reach)

    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> dict[str, str]:
        """Write ``table.csv``, ``summary.csv`` and ``gap_vs_size.png`` into ``folder``.

        Existing files of those names are replaced only with ``overwrite=True``; otherwise
        ``FileExistsError`` (a ``ValueError`` too) names them, before anything is written.
        """
        if not isinstance(overwrite, bool):
            raise TypeError(f"`overwrite` must be True or False, got {overwrite!r}.")
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"`folder` must be a folder path, got {type(folder).__name__}.")
        paths = {name: os.path.join(folder, name) for name in OUTPUTS}
        there = [name for name, path in paths.items() if os.path.lexists(path)]
        if there and not overwrite:
            raise OutputExistsError(f"`folder` {str(folder)!r} already holds "
                                    f"{', '.join(there)}; pass overwrite=True to replace "
                                    "them, or save into another folder.")
        try:
            os.makedirs(folder, exist_ok=True)
            self.table.to_csv(paths["table.csv"], index=False)
            self.summary().to_csv(paths["summary.csv"], index=False)
            self.plot().savefig(paths["gap_vs_size.png"], dpi=120, bbox_inches="tight")
        except OSError as exc:
            raise ValueError(f"`folder` {str(folder)!r}: cannot write the outputs "
                             f"({exc.strerror or exc}). Choose a folder you can write "
                             "to.") from None
        return paths

    def _program_text(self, conv) -> str:
        known = set(COLUMNS) | set(self.spec.get("evaluate", [])) | set(
            self.spec.get("describe", {}))
        facts = []
        for k in conv.index:
            v = conv[k]
            if k in known or k.startswith(("eval_", "problem_")) or (
                    isinstance(v, float) and math.isnan(v)):
                continue
            facts.append(f"{k}={int(v) if isinstance(v, float) and v.is_integer() else v}")
        return ", ".join(facts)

    def _reference_text(self, conv) -> list[str]:
        """Which of three situations holds, in words: a certified optimum; a convex value no
        run can beat, uncertified (with the largest dual violation found); or a plain
        program value that larger models may beat."""
        program = self._program_text(conv)
        if self.certified:
            lines = [f"convex optimum {self.optimum:.6g}: no model of any {self.size_name} "
                     f"goes below its certified global lower bound {self.global_bound:.6g} "
                     f"({program})"]
        elif conv["method"] == CONVEX_RUNS:
            viol = float(conv.get("max_violation", math.nan))
            why = ("the search for violated constraints found none; still not a proof"
                   if viol <= 1 + 1e-6 else f"its dual point violates a constraint of the "
                   f"complete program by a factor {viol:.3g} (1 = certified)")
            lines = [f"convex value {self.optimum:.6g} of the program that also contains "
                     f"every trained model: no run can go below it; NOT a global "
                     f"certificate: {why} ({program})"]
        else:
            lines = [f"convex value {self.optimum:.6g} ({program}): NOT a global certificate "
                     f"(larger models may go below it)"]
        if self.global_bound is not None and not self.certified:
            lines.append(f"certified global lower bound {self.global_bound:.6g}: no model of "
                         f"any {self.size_name} goes below it; relative gap {self.bound_gap:.3g}"
                         " to the convex value (the global optimum lies between them)")
        lines.append(f"solver {conv['solver']}, status {conv['status']}, effective "
                     f"{self.size_name} {conv['effective_size']}, convex part "
                     f"{self._convex_time():.2f} s")
        return lines

    def _convex_time(self) -> float:
        rows = self.table[self.table["method"].isin(CONVEX_METHODS)]
        return float(np.nansum(rows["time"].to_numpy(dtype=float)))

    def format_summary(self, reach: float | None = None) -> str:
        """The summary as readable text (what the CLI prints)."""
        summ = self.summary(reach)
        reach = summ.attrs["reach"]
        conv = self.reference
        lines = self._reference_text(conv)
        cols = ["method", "size", "seeds", "reached", "median_gap", "min_gap", "max_gap",
                "median_effective_size"] + [c for c in summ.columns if c.startswith("median_")
                                            and c not in ("median_gap",
                                                          "median_effective_size")]
        lines.append(f"runs within rel. gap {reach:g} of it ({self.size_name} = size)"
                     + (":" if self.certified else " (or below it):"))
        lines.append(summ[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}")
                     if len(summ) else "  (no training run has finished)")
        for method, size in summ.attrs["reach_size"].items():
            lines.append(f"{method}: most seeds reach the optimum from {self.size_name} "
                         f"{size if size is not None else 'never (in this sweep)'}")
        if self.global_bound is not None:
            below = int(self.runs["below_bound"].fillna(False).astype(bool).sum())
            lines.append(f"runs below the certified global bound: {below}")
        if self.certified:
            return "\n".join(lines)
        if self.reference["method"] == CONVEX_RUNS:
            below = int(self.runs["below_convex"].fillna(False).astype(bool).sum())
            lines.append(f"runs below the certified lower bound of that program: {below} of "
                         f"{len(self.runs)}")
        else:
            under = int((self.runs["rel_gap"] < 0).sum())
            lines.append(f"runs below the program's value: {under} of {len(self.runs)} "
                         "(possible: it is not a global bound)")
        return "\n".join(lines)

    @classmethod
    def from_store(cls, store: str | os.PathLike | Store, sweep: str | None = None
                   ) -> Comparison:
        """Rebuild a sweep's comparison from a results store (the latest sweep by default)."""
        st = store if isinstance(store, Store) else Store(store, create=False)
        try:
            info = st.sweep(sweep)
            recs = st.records(info["keys"])
        finally:
            if not isinstance(store, Store):
                st.close()
        missing = len(info["keys"]) - len(recs)
        if not any(r["method"] == CONVEX for r in recs):
            raise ValueError(f"The sweep {info['sweep'][:12]} in {str(st.path)!r} has no convex "
                             f"solution yet ({len(recs)} of {len(info['keys'])} tasks "
                             "finished): it was stopped early. Rerun the same compare call "
                             "(or `lift compare ... --out` the same folder) to resume it.")
        if missing:
            warnings.warn(f"The sweep {info['sweep'][:12]} is unfinished: {missing} of "
                          f"{len(info['keys'])} tasks have no row; reporting the "
                          f"{len(recs)} that finished. Rerun the same compare call to resume "
                          "it.", stacklevel=2)
        return _assemble(recs, info["spec"], store=str(st.path))


def _bound_flags(row: dict[str, Any], bound: float | None, tol: float, convex: bool):
    if bound is None:
        return None
    if convex:
        return False
    return bool(row["objective"] < bound - tol * max(1.0, abs(bound)))


def _assemble(records: list[dict[str, Any]], spec: dict[str, Any],
              store: str | None = None) -> Comparison:
    import pandas as pd

    records = [r for r in records if not r["row"].get("same_program")]
    conv = ([r for r in records if r["method"] == CONVEX_RUNS]
            or [r for r in records if r["method"] == CONVEX])
    if not conv:
        raise ValueError("The convex solution is missing from the results; rerun the sweep.")
    crow = conv[0]["row"]
    optimum = float(crow["objective"])
    # every convex row's global bound is valid for every model: the largest counts
    bounds = [float(r["row"]["global_bound"]) for r in records
              if r["method"] in CONVEX_METHODS and r["row"].get("global_bound") is not None
              and math.isfinite(float(r["row"]["global_bound"]))]
    bound = max(bounds) if bounds else None
    # the program that contains every run bounds every run (rigorously: its lower bound)
    contains = float(crow["lower_bound"]) if conv[0]["method"] == CONVEX_RUNS else None
    tol = spec.get("bound_tol", 1e-6)
    rows, trajs, params = [], {}, {}
    for r in records:
        row = dict(r["row"])
        convex = r["method"] in CONVEX_METHODS
        row["rel_gap"] = (float(row["objective"]) - optimum) / max(abs(optimum), 1e-300)
        row["bound"] = bound if bound is not None else math.nan
        row["below_bound"] = _bound_flags(row, bound, tol, convex)
        row["below_convex"] = _bound_flags(row, contains, tol, convex)
        rows.append(_merge(row, spec.get("describe", {}), "problem_"))
        if not convex:
            k = (r["method"], int(r["size"]), int(r["seed"]))
            trajs[k] = r["trajectory"]
            if r["params"] is not None:
                params[k] = r["params"]
    cols = list(COLUMNS[:10]) + list(spec.get("evaluate", [])) + list(COLUMNS[10:])
    table = pd.DataFrame(rows)
    if "effective_size" not in table.columns and "active_units" in table.columns:
        table = table.rename(columns={"active_units": "effective_size"})  # older stores
    table = table[[c for c in cols if c in table.columns]
                  + [c for c in table.columns if c not in cols]]
    order = table["method"].map({CONVEX: 0, CONVEX_RUNS: 1}).fillna(2)
    table = (table.assign(_o=order).sort_values(["_o", "method", "size", "seed"])
             .drop(columns="_o").reset_index(drop=True))
    for col in ("seed", "size", "steps"):
        if col in table.columns:
            table[col] = table[col].astype("Int64")
    return Comparison(table=table, trajectories=trajs, optimum=optimum, global_bound=bound,
                      reach=float(spec.get("reach", spec.get("eps", 1e-2))), spec=spec,
                      params=params,
                      store=store)


# --------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------
def compare(prob, sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
            seeds: int | Sequence[int] = 5, *, train: Any = None,
            lift: dict[str, Any] | None = None, solver: str = "auto", tol: float = 1e-6,
            store: str | os.PathLike | None = None, backend: str = "local", test: Any = None,
            reach: float = 1e-2, dtype: str = "float64", device: str | None = None,
            n_jobs: int | None = None, population: str | int = "size",
            address: str | None = None, connect_timeout: float = 5.0,
            progress: bool | None = None, include_runs: bool = True,
            refine_rounds: int = 0, force: bool = False) -> Comparison:
    r"""Solve the convex lift of ``prob`` and train ``prob.model(size, seed)`` for every size
    and seed; return both side by side.

    Each run minimizes the problem's own objective ``F`` (see :mod:`lift.solvers.sgd`) from
    ``prob.model(size, seed)``; the lifted program ``prob.lift(**lift)`` gives ``F_cvx`` and,
    where the lift certifies one, the bound ``\underline F <= F(\theta)`` for every model of
    every size.

    Parameters
    ----------
    prob : lift.Problem
        The problem (any family).
    sizes : sequence of int
        Sizes to train (``prob.size_name``: width, rank, order, ...).
    seeds : int or sequence of int
        Initialization seeds (a count ``k`` means ``range(k)``).
    train : TrainConfig or dict, optional
        Training settings (:class:`lift.solvers.sgd.TrainConfig`: optimizer, steps, lr,
        schedule, momentum, betas, eps, batch_size, clip, patience, rtol, record_every).
    lift : dict, optional
        Keyword arguments of ``prob.lift``, passed through untouched.
    solver : str
        Solver of the lifted program (``"auto"``, ``"clarabel"``, ``"scs"``, ...).
    tol : float
        Solver tolerance.
    store : str or Path, optional
        Results-store folder; re-running the same call resumes (finished tasks are skipped).
        A folder that is not empty must hold a store of this same sweep (or ``force``); one
        sweep at a time writes a store (a second is refused, naming the holder's pid).
    backend : {"local", "dask"}
        ``"local"``: joblib worker processes; ``"dask"``: a Dask cluster (``address`` of a
        running scheduler, or a ``LocalCluster`` of ``n_jobs`` workers).
    test : object, optional
        Held-out data, whatever ``prob.check_test`` accepts (columns of ``prob.evaluate``).
    reach : float
        Relative gap under which a run counts as reaching the optimum.
    dtype : {"float64", "float32"}
        Training precision (objectives in the table are always ``prob.objective``, float64).
    device : str or None
        Torch device of the training (``None``: CUDA when available).
    n_jobs : int, optional
        Worker processes (default: the CPU count, at most 8).
    population : "size", "all" or int
        How runs are grouped into units of work: all seeds of one size, everything, or chunks
        of at most this many runs. Results do not depend on it.
    address : str, optional
        Dask scheduler address (``backend="dask"``).
    connect_timeout : float
        Seconds to wait for the Dask scheduler.
    progress : bool, optional
        Show a tqdm progress bar; ``None``: only when stderr is a terminal.
    include_runs : bool
        When the lift is not exact, also solve ``lifted.including(models)`` (the program
        that contains every trained model, hence whose optimum no run beats) after the runs,
        refined by ``lifted.refine`` (e.g. column generation) for ``refine_rounds`` rounds;
        that solution (``method == "convex+runs"``) becomes the reference of the gaps.
    refine_rounds : int
        Rounds of ``lifted.refine`` (0: only its search for violated constraints, whose
        largest violation is reported; each round adds what it finds and solves again).
    force : bool
        Write into a ``store`` folder that is not empty and holds no store of this sweep
        (other files, or other sweeps; rows of tasks they share are reused).

    Returns
    -------
    Comparison
        Its ``table`` columns are described in :class:`Comparison`.
    """
    from lift.base import Problem

    if not isinstance(prob, Problem):
        raise TypeError(f"`prob` must be a lift.Problem (a class of lift.problems), got "
                        f"{type(prob).__name__}.")
    args = {"sizes": _check_sizes(sizes), "seeds": _check_seeds(seeds),
            "config": _check_train(train), "lift": _check_lift(lift),
            "backend": check_choice(backend, "backend", BACKENDS),
            "test": prob.check_test(test), "tol": check_positive(tol, "tol"),
            "reach": check_positive(reach, "reach"),
            "dtype": check_choice(dtype, "dtype", _DTYPES),
            "population": _check_population(population), "device": _check_device(device),
            "n_jobs": _check_jobs(n_jobs),
            "timeout": check_positive(connect_timeout, "connect_timeout"),
            "folder": check_store_path(store) if store is not None else None,
            "refine_rounds": check_int(refine_rounds, "refine_rounds")}
    for name, flag in (("include_runs", include_runs), ("force", force)):
        if not isinstance(flag, bool):
            raise TypeError(f"`{name}` must be True or False, got {flag!r}.")
        args[name] = flag
    args["solver"] = _check_solver(solver)
    if address is not None and args["backend"] != "dask":
        raise ValueError(f"`address` {address!r} is a Dask scheduler address, used only with "
                         "backend='dask' (--backend dask); pass that backend, or no address.")
    _check_runs(args["sizes"], args["seeds"])
    _check_memory(prob, args, remote=address is not None)
    try:  # the largest size fits in memory (checked above): the family may still refuse it
        prob.model(args["sizes"][-1], args["seeds"][0])
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"`sizes`: {exc}") from None
    client = cluster = None
    if args["backend"] == "dask":
        client, cluster = _connect_dask(address, args["n_jobs"], args["timeout"])
    try:
        spec, keys, units, sweep_id = _plan(prob, args)
        records = _run_sweep(prob, args, spec, keys, units, sweep_id, client, progress)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    folder = args["folder"]
    cmp = _assemble([records[k] for k in keys], spec, store=None if folder is None
                    else str(folder))
    _warn_below(cmp)
    return cmp


def _plan(prob, args: dict[str, Any]):
    """The sweep's specification, its task keys, its units of work and its id."""
    fp = prob.fingerprint()
    config, test = args["config"], args["test"]
    settings = config.as_dict()
    probe = prob.model(args["sizes"][0], args["seeds"][0])
    spec = {"problem": repr(prob), "problem_name": prob.name, "size_name": prob.size_name,
            "describe": dict(prob.describe()), "fingerprint": fp, "sizes": args["sizes"],
            "seeds": args["seeds"], "optimizer": config.optimizer, "settings": settings,
            "dtype": args["dtype"], "reach": args["reach"],
            "evaluate": list(prob.evaluate(probe, test)),
            "lift": {"lift": args["lift"], "solver": args["solver"], "tol": args["tol"]},
            "test": _test_key(test)}
    conv_key = task_key(problem=fp, method=CONVEX, **spec["lift"], test=spec["test"])
    runs = [{"size": m, "seed": s,
             "key": task_key(problem=fp, method=config.optimizer, size=m, seed=s,
                             settings=settings, dtype=args["dtype"], test=spec["test"])}
            for m in args["sizes"] for s in args["seeds"]]
    keys = [conv_key] + [r["key"] for r in runs]
    units = [{"kind": CONVEX, "key": conv_key, "options": spec["lift"]}]
    if args["include_runs"]:
        spec["refine_rounds"] = args["refine_rounds"]
        runs_key = task_key(problem=fp, method=CONVEX_RUNS, **spec["lift"], test=spec["test"],
                            runs=[r["key"] for r in runs], rounds=args["refine_rounds"])
        keys.append(runs_key)
        units.append({"kind": CONVEX_RUNS, "key": runs_key, "options": spec["lift"],
                      "rounds": args["refine_rounds"],
                      "runs": [(r["size"], r["seed"], r["key"]) for r in runs]})
    for group in _make_units(runs, args["population"]):
        units.append({"kind": "population", "sizes": [r["size"] for r in group],
                      "seeds": [r["seed"] for r in group], "keys": [r["key"] for r in group],
                      "config": settings, "dtype": args["dtype"], "device": args["device"]})
    sweep_id = task_key(**{k: v for k, v in spec.items() if k != "reach"})
    return spec, keys, units, sweep_id


def _pending(unit: dict[str, Any], done: set[str]) -> dict[str, Any] | None:
    """``unit`` without its finished tasks (None when nothing is left)."""
    if unit["kind"] in CONVEX_METHODS:
        return None if unit["key"] in done else unit
    keep = [i for i, k in enumerate(unit["keys"]) if k not in done]
    if not keep:
        return None
    return {**unit, **{f: [unit[f][i] for i in keep] for f in ("sizes", "seeds", "keys")}}


def _check_folder(folder, sweep_id: str, force: bool) -> None:
    """A store folder must be missing, empty, or a store of this sweep, unless ``force``."""
    if force or not folder.is_dir():
        return
    names = sorted(os.listdir(folder))
    other = [n for n in names if n not in store_files(folder)]
    advice = ("Pass force=True (--force) to write into it anyway, or choose another folder "
              "(`store` / --out).")
    if DB_NAME not in names:
        if other:
            listed = ", ".join(other[:4]) + (", ..." if len(other) > 4 else "")
            raise ValueError(f"`store` {str(folder)!r} is not empty ({listed}) and holds no "
                             f"results store. {advice}")
        return
    with Store(folder, create=False) as st:
        sweeps = st.sweeps()
    if not sweeps or any(s["sweep"] == sweep_id for s in sweeps):
        return
    last = sweeps[-1]["spec"]
    raise ValueError(f"`store` {str(folder)!r} holds another sweep ({len(sweeps)} sweep(s); the "
                     f"latest: sizes {last.get('sizes')}, {len(last.get('seeds', []))} seeds, "
                     f"{last.get('optimizer')}, {last.get('problem')}); its table.csv, "
                     f"summary.csv and figure would be replaced. {advice} `lift report "
                     f"{folder}` rebuilds the stored sweep's tables.")


def _run_sweep(prob, args, spec, keys, units, sweep_id, client, progress) -> dict[str, Any]:
    """Run the unfinished units; only this (driver) process writes the store, holding its
    lock."""
    import contextlib

    folder = args["folder"]
    if folder is not None:  # before the lock, so that a refused folder gets no lock file
        _check_folder(folder, sweep_id, args["force"])
    with store_lock(folder) if folder is not None else contextlib.nullcontext():
        if folder is not None:  # again: another sweep may have written it meanwhile
            _check_folder(folder, sweep_id, args["force"])
        return _run_locked(prob, args, spec, keys, units, sweep_id, client, progress)


def _run_locked(prob, args, spec, keys, units, sweep_id, client, progress) -> dict[str, Any]:
    st = Store(args["folder"]) if args["folder"] is not None else None
    records: dict[str, dict[str, Any]] = {}
    try:
        done: set[str] = st.finished(keys) if st is not None else set()
        if st is not None:
            st.add_sweep(sweep_id, spec, keys)
            if done:
                records.update((r["key"], r) for r in st.records(sorted(done)))
        todo = [u for u in (_pending(u, done) for u in units) if u is not None]
        last = [u for u in todo if u["kind"] == CONVEX_RUNS]  # needs every run's model
        todo = [u for u in todo if u["kind"] != CONVEX_RUNS]
        total = sum(1 if u["kind"] == CONVEX else len(u["keys"]) for u in todo) + len(last)
        show = sys.stderr.isatty() if progress is None else bool(progress)
        from tqdm.auto import tqdm

        with tqdm(total=total, disable=not show or total == 0, desc="lift compare",
                  unit="task") as bar:
            for out in _execute(todo, prob, args["test"], args["backend"], args["n_jobs"],
                                client):
                if st is not None:
                    st.write(out)  # one transaction per finished unit
                records.update((r["key"], r) for r in out)
                bar.update(len(out))
            for unit in last:
                unit = {**unit, "runs": [(m, s, records[k]["params"]) for m, s, k in unit["runs"]
                                         if records[k].get("params") is not None]}
                out = _run_unit(unit, prob, args["test"], None)
                if st is not None:
                    st.write(out)
                records.update((r["key"], r) for r in out)
                bar.update(len(out))
    finally:
        if st is not None:
            st.close()
    return records


def _warn_below(cmp: Comparison) -> None:
    contains = cmp.runs["below_convex"].fillna(False).astype(bool)
    if contains.any():
        warnings.warn(f"{int(contains.sum())} run(s) ended below the certified lower bound of "
                      "the convex program that contains them; this should be impossible. "
                      "Please report it with the store folder.", RuntimeWarning, stacklevel=3)
    if cmp.global_bound is None:
        return
    below = cmp.runs[cmp.runs["below_bound"].fillna(False).astype(bool)]
    if len(below):
        worst = float(below["objective"].min())
        warnings.warn(f"{len(below)} run(s) ended below the certified global bound "
                      f"{cmp.global_bound:.10g} (lowest {worst:.10g}); this should be "
                      "impossible. Please report it with the store folder.", RuntimeWarning,
                      stacklevel=3)


def _execute(units: list[dict[str, Any]], prob, test, backend: str, n_jobs: int, client):
    """Yield each unit's records as it finishes."""
    if not units:
        return
    if backend == "dask":
        from dask.distributed import as_completed
        from distributed import KilledWorker

        futures = [client.submit(_run_unit, u, prob, test, 1, pure=False) for u in units]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except KilledWorker as exc:
            raise _worker_died(exc) from None
        return
    workers = min(n_jobs, len(units))
    if workers == 1:
        for u in units:
            yield _run_unit(u, prob, test, 1)
        return
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from joblib.externals.loky import get_reusable_executor

    threads = str(max(1, (os.cpu_count() or 1) // workers))
    pool = get_reusable_executor(
        max_workers=workers, initializer=_watch_driver, initargs=(os.getpid(),),
        env={v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                  "MKL_NUM_THREADS")})
    futures = [pool.submit(_run_unit, u, prob, test, 1) for u in units]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    except BrokenProcessPool as exc:
        raise _worker_died(exc) from None
    finally:
        for fut in futures:
            fut.cancel()


def _watch_driver(driver: int, every: float = 0.2) -> None:
    """Initializer of a worker process: a daemon thread ends the worker as soon as the
    driver ``driver`` (its parent) is gone, SIGKILL included, so no worker outlives it."""
    import threading
    import time

    child = os.getppid() == driver

    def alive() -> bool:
        if child:  # an orphan is re-parented: its parent pid changes
            return os.getppid() == driver
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def watch() -> None:
        while alive():
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="lift-watch-driver", daemon=True).start()
