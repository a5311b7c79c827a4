r"""The comparison harness: the convex optimum against a sweep of non-convex training runs.

For a problem with regularized objective ``F``, :func:`compare` solves the lifted program once
(value ``F^\star_{cvx}``, certified ``global_bound`` ``\underline F`` where the lift allows one)
and trains ``prob.model(size, seed)`` for every size and seed. Each run is reported by its
final objective ``F_k`` and its relative gap to the convex value,

.. math::

    \mathrm{rel\_gap}_k = \frac{F_k - F^\star_{cvx}}{|F^\star_{cvx}|},

and checked against the certificate: ``F_k >= \underline F - tol`` must hold for every network
of every width (``below_bound`` flags a violation, which would be a bug). When the lift is
exact, ``F^\star_{cvx} - \underline F`` is the solver's certified gap and ``rel_gap <= eps``
means the run reached the global optimum to ``eps``. With sampled patterns there is no global
certificate: the reference is the sampled program's value, which a wide network may beat.

Tasks are independent. Training runs are grouped into populations (all seeds of one size, by
default) that train as one batched tensor program (:func:`lift.solvers.sgd.train_population`);
a run's result does not depend on its population. Populations and the convex solve run on
joblib worker processes (``backend="local"``) or a Dask cluster (``backend="dask"``); only the
driver writes the results store (:mod:`lift.store`), so an interrupted sweep resumes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lift.errors import check_array, check_choice, check_int, check_positive
from lift.store import Store, check_store_path, task_key

__all__ = ["compare", "Comparison", "BACKENDS", "CONVEX"]

BACKENDS = ("local", "dask")
#: the ``method`` of the convex solution's row
CONVEX = "convex"
#: default sampled pattern count when exact enumeration is not possible
DEFAULT_PATTERNS = 200
_DTYPES = ("float64", "float32")


# --------------------------------------------------------------------------------------------
# Argument checks (all before any work starts)
# --------------------------------------------------------------------------------------------
def _check_sizes(sizes: Any) -> list[int]:
    if isinstance(sizes, (numbers.Integral, str)) and not isinstance(sizes, bool):
        sizes = [sizes] if not isinstance(sizes, str) else sizes
    if isinstance(sizes, str) or not isinstance(sizes, Iterable):
        raise TypeError(f"`sizes` must be a list of positive integers, got {sizes!r}.")
    out = [check_int(s, "sizes", minimum=1) for s in sizes]
    if not out:
        raise ValueError("`sizes` is empty; pass at least one width, e.g. sizes=[1, 2, 4, 8].")
    return sorted(set(out))


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        count = check_int(seeds, "seeds", minimum=1)
        return list(range(count))
    if isinstance(seeds, str) or not isinstance(seeds, Iterable):
        raise TypeError(f"`seeds` must be a count or a list of integers, got {seeds!r}.")
    out = [check_int(s, "seeds") for s in seeds]
    if not out:
        raise ValueError("`seeds` is empty; pass a count (seeds=5) or a list of integers.")
    return sorted(set(out))


def _check_test(test: Any, prob) -> tuple[np.ndarray, np.ndarray] | None:
    if test is None:
        return None
    if not isinstance(test, (tuple, list)) or len(test) != 2:
        raise TypeError("`test` must be a pair (X_test, y_test) or None.")
    Xt = check_array(test[0], "test[0] (X_test)", ndim=2)
    yt = check_array(test[1], "test[1] (y_test)", ndim=1)
    if Xt.shape[1] != prob.d:
        raise ValueError(f"`test` X_test must have {prob.d} columns, got {Xt.shape[1]}.")
    if Xt.shape[0] != yt.shape[0]:
        raise ValueError(f"`test` has {Xt.shape[0]} rows in X_test but {yt.shape[0]} labels.")
    return Xt, yt


def _check_population(population: Any) -> str | int:
    if population in ("size", "all"):
        return population
    if isinstance(population, numbers.Integral) and not isinstance(population, bool):
        return check_int(population, "population", minimum=1)
    raise ValueError(f"`population` must be 'size', 'all' or a positive integer, got "
                     f"{population!r}.")


def _resolve_patterns(prob, patterns: Any) -> str | int:
    if patterns == "auto":
        return "exact" if prob.Xa.shape[1] <= 3 else DEFAULT_PATTERNS
    if patterns == "exact":
        return patterns
    if isinstance(patterns, numbers.Integral) and not isinstance(patterns, bool):
        return check_int(patterns, "patterns", minimum=1)
    raise ValueError(f"`patterns` must be 'auto', 'exact' or a positive integer, got "
                     f"{patterns!r}.")


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
def _net_arrays(net) -> dict[str, np.ndarray]:
    out = {"weight": net.weight.detach().cpu().double().numpy(),
           "alpha": net.alpha.detach().cpu().double().numpy()}
    if net.bias is not None:
        out["bias"] = net.bias.detach().cpu().double().numpy()
    if hasattr(net, "gates"):
        out["gates"] = net.gates.detach().cpu().double().numpy()
    return out


def _errors(prob, net, test) -> dict[str, float]:
    out = {"train_error": prob.loss.error(prob.predict(net, prob.X), prob.y)}
    out["test_error"] = (prob.loss.error(prob.predict(net, test[0]), test[1])
                         if test is not None else math.nan)
    return out


def _run_unit(unit: dict[str, Any], prob, test, threads: int | None) -> list[dict[str, Any]]:
    """Run one unit of work: the convex solve, or one population of training runs."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        if unit["kind"] == CONVEX:
            return [_run_convex(unit, prob, test)]
        return _run_population(unit, prob, test)
    finally:
        torch.set_num_threads(old)


def _run_convex(unit: dict[str, Any], prob, test) -> dict[str, Any]:
    opts = unit["options"]
    lifted = prob.lift(patterns=opts["patterns"], relaxation=opts["relaxation"],
                       seed=opts["lift_seed"])
    sol = lifted.solve(solver=opts["solver"], tol=opts["tol"])
    row = {"method": CONVEX, "size": sol.size, "seed": None, "objective": sol.value,
           "gap": sol.gap, "global_bound": sol.global_bound, "lower_bound": sol.lower_bound,
           "status": sol.status, "solver": sol.solver, "time": sol.time,
           "iterations": sol.iterations, "exact": bool(sol.exact), "patterns": int(lifted.P),
           "relaxation": lifted.relaxation, "message": sol.message,
           "active_units": sol.size, "steps": sol.iterations}
    params = None
    if sol.params is not None:
        row.update(_errors(prob, sol.params, test))
        params = _net_arrays(sol.params)
    else:
        row.update({"train_error": math.nan, "test_error": math.nan})
    return {"key": unit["key"], "method": CONVEX, "size": None, "seed": None, "row": row,
            "trajectory": None, "params": params}


def _run_population(unit: dict[str, Any], prob, test) -> list[dict[str, Any]]:
    import torch

    from lift.solvers.sgd import TrainConfig, train_population

    config = TrainConfig(**{**unit["config"], "betas": tuple(unit["config"]["betas"])})
    dtype = getattr(torch, unit["dtype"])
    results = train_population(prob, unit["sizes"], unit["seeds"], config, dtype=dtype,
                               device=unit["device"])
    out = []
    for key, res in zip(unit["keys"], results, strict=True):
        net = res.params
        row = {"method": config.optimizer, "size": res.size, "seed": res.seed,
               "objective": prob.objective(net),  # float64, exact, whatever the dtype
               "train_objective": res.objective, "steps": res.steps, "time": res.time,
               "active_units": net.active_units(unit["prune"]), "message": res.message,
               "status": "diverged" if not math.isfinite(res.objective) else "finished",
               "population": len(unit["keys"])}
        row.update(_errors(prob, net, test))
        out.append({"key": key, "method": config.optimizer, "size": res.size,
                    "seed": res.seed, "row": row, "trajectory": res.trajectory,
                    "params": _net_arrays(net)})
    return out


def _make_units(runs: list[dict[str, Any]], population: str | int) -> list[list[dict]]:
    """Group pending runs into populations, the widest (most costly) first."""
    runs = sorted(runs, key=lambda r: (-r["size"], r["seed"]))
    if population == "all":
        groups = [runs] if runs else []
    elif population == "size":
        by: dict[int, list] = {}
        for r in runs:
            by.setdefault(r["size"], []).append(r)
        groups = list(by.values())
    else:
        groups = [runs[i:i + population] for i in range(0, len(runs), population)]
    return groups


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
        (``method == "convex"``). Columns: ``objective`` (final objective, float64),
        ``rel_gap`` ``(objective - F_cvx) / |F_cvx|``, ``bound`` (the certified global bound,
        or NaN), ``below_bound`` (``objective < bound - tol``; never True unless something is
        wrong), ``active_units`` (neurons with ``|alpha_j| ||u_j||`` above ``prune`` times the
        largest), ``steps``, ``time`` (seconds; for a run, its population's wall time divided by
        the population size), ``train_error``, ``test_error``, and for the convex row ``gap``,
        ``global_bound``, ``lower_bound``, ``solver``, ``status``, ``patterns``, ``exact``.
    trajectories : dict
        ``(method, size, seed) -> {"step", "objective", "time"}``.
    optimum : float
        The convex value ``F_cvx`` the gaps are measured against.
    global_bound : float or None
        The certified lower bound on every network's objective, or None (sampled patterns).
    eps : float
        A run "reaches the optimum" when ``rel_gap <= eps``.
    spec : dict
        The sweep's settings (problem, sizes, seeds, optimizer settings, lift options).
    """

    table: Any
    trajectories: dict[tuple[str, int, int], dict[str, list[float]]]
    optimum: float
    global_bound: float | None
    eps: float
    spec: dict[str, Any]
    params: dict[tuple[str, int, int], dict[str, np.ndarray]] = dataclasses.field(
        default_factory=dict, repr=False)
    store: str | None = None

    def __repr__(self) -> str:
        runs = int((self.table["method"] != CONVEX).sum())
        bound = "none" if self.global_bound is None else f"{self.global_bound:.6g}"
        return (f"Comparison({runs} runs, sizes={self.spec.get('sizes')}, optimum="
                f"{self.optimum:.6g}, global_bound={bound}, eps={self.eps:g})")

    @property
    def certified(self) -> bool:
        """Whether the optimum comes with a global certificate (exact lift)."""
        return self.global_bound is not None

    @property
    def runs(self):
        """The training rows of :attr:`table` (without the convex row)."""
        return self.table[self.table["method"] != CONVEX]

    def summary(self, eps: float | None = None):
        r"""Per (method, size): how many seeds reach the optimum.

        Columns ``seeds``, ``reached`` (runs with ``rel_gap <= eps``), ``fraction``,
        ``median_gap``, ``min_gap``, ``max_gap``, ``median_units``, ``median_test_error``.
        ``.attrs["reach_size"]`` holds :meth:`reach_size` per method.
        """
        import pandas as pd

        eps = self.eps if eps is None else check_positive(eps, "eps")
        runs = self.runs
        rows = []
        for (method, size), grp in runs.groupby(["method", "size"], sort=True):
            gaps = grp["rel_gap"].to_numpy(dtype=float)
            reached = int(np.sum(gaps <= eps))
            rows.append({"method": method, "size": int(size), "seeds": len(grp),
                         "reached": reached, "fraction": reached / len(grp),
                         "median_gap": float(np.median(gaps)), "min_gap": float(gaps.min()),
                         "max_gap": float(gaps.max()),
                         "median_units": float(grp["active_units"].median()),
                         "median_test_error": float(grp["test_error"].median())})
        out = pd.DataFrame(rows)
        out.attrs["eps"] = eps
        out.attrs["reach_size"] = {m: self.reach_size(eps, method=m)
                                   for m in runs["method"].unique()}
        return out

    def reach_size(self, eps: float | None = None, method: str | None = None) -> int | None:
        """Smallest size at which most seeds (more than half) reach the optimum, or None."""
        eps = self.eps if eps is None else eps
        runs = self.runs if method is None else self.runs[self.runs["method"] == method]
        for size, grp in sorted(runs.groupby("size"), key=lambda kv: kv[0]):
            if np.mean(grp["rel_gap"].to_numpy(dtype=float) <= eps) > 0.5:
                return int(size)
        return None

    def network(self, size: int, seed: int, method: str | None = None):
        """The final network of one run (a ``ReLUNet``), rebuilt from its stored weights."""
        import torch

        from lift.problems.relu import ReLUNet

        method = method or self.spec["optimizer"]
        arrays = self.params.get((method, int(size), int(seed)))
        if arrays is None:
            raise KeyError(f"No run ({method!r}, size={size}, seed={seed}) in this comparison.")
        W = arrays["weight"]
        net = ReLUNet(W.shape[1], W.shape[0], bias="bias" in arrays)
        with torch.no_grad():
            net.weight.copy_(torch.from_numpy(W))
            if "bias" in arrays:
                net.bias.copy_(torch.from_numpy(arrays["bias"]))
            net.alpha.copy_(torch.from_numpy(arrays["alpha"]))
        return net

    def plot(self, eps: float | None = None):
        """Figure: relative gap vs size (log scale, seeds as spread) and trajectories."""
        from lift.plots import plot_comparison

        return plot_comparison(self, eps=eps)

    def save(self, folder: str | os.PathLike) -> dict[str, str]:
        """Write ``table.csv``, ``summary.csv`` and ``gap_vs_size.png`` into ``folder``."""
        import matplotlib.pyplot as plt

        os.makedirs(folder, exist_ok=True)
        paths = {name: os.path.join(folder, name)
                 for name in ("table.csv", "summary.csv", "gap_vs_size.png")}
        self.table.to_csv(paths["table.csv"], index=False)
        self.summary().to_csv(paths["summary.csv"], index=False)
        fig = self.plot()
        fig.savefig(paths["gap_vs_size.png"], dpi=120, bbox_inches="tight")
        plt.close(fig)
        return paths

    def format_summary(self, eps: float | None = None) -> str:
        """The summary as readable text (what the CLI prints)."""
        summ = self.summary(eps)
        eps = summ.attrs["eps"]
        conv = self.table[self.table["method"] == CONVEX].iloc[0]
        if self.certified:
            ref = (f"convex optimum {self.optimum:.6g} (certified global lower bound "
                   f"{self.global_bound:.6g}, {int(conv['patterns'])} exact patterns)")
        else:
            ref = (f"convex value {self.optimum:.6g} of a program with "
                   f"{int(conv['patterns'])} sampled patterns: NOT a global certificate "
                   "(wide networks may go below it)")
        lines = [ref, f"solver {conv['solver']}, status {conv['status']}, "
                      f"{int(conv['active_units'])} neurons, {conv['time']:.2f} s"]
        shown = summ[["method", "size", "seeds", "reached", "median_gap", "min_gap", "max_gap",
                      "median_units", "median_test_error"]]
        lines.append(f"runs within rel. gap {eps:g} of it" + (":" if self.certified
                                                               else " (or below it):"))
        lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        for method, size in summ.attrs["reach_size"].items():
            lines.append(f"{method}: most seeds reach the optimum from size "
                         f"{size if size is not None else 'never (in this sweep)'}")
        below = int(self.runs["below_bound"].fillna(False).astype(bool).sum())
        if self.certified:
            lines.append(f"runs below the certified global bound: {below}")
        else:
            under = int((self.runs["rel_gap"] < 0).sum())
            lines.append(f"runs below the sampled program's value: {under} of {len(self.runs)} "
                         "(possible: it is not a global bound; sample more patterns or use "
                         "inputs of dimension <= 2 for a certificate)")
        return "\n".join(lines)

    @classmethod
    def from_store(cls, store: str | os.PathLike | Store, sweep: str | None = None
                   ) -> Comparison:
        """Rebuild a sweep's comparison from a results store (the latest sweep by default)."""
        st = store if isinstance(store, Store) else Store(store, create=False)
        info = st.sweep(sweep)
        recs = st.records(info["keys"])
        missing = len(info["keys"]) - len(recs)
        if missing:
            import warnings

            warnings.warn(f"The sweep {info['sweep'][:12]} is unfinished: {missing} of "
                          f"{len(info['keys'])} tasks have no row. Rerun the same compare "
                          "call to resume it.")
        return _assemble(recs, info["spec"], store=str(st.path))


def _assemble(records: list[dict[str, Any]], spec: dict[str, Any],
              store: str | None = None) -> Comparison:
    import pandas as pd

    conv = [r for r in records if r["method"] == CONVEX]
    if not conv:
        raise ValueError("The convex solution is missing from the results; rerun the sweep.")
    crow = conv[0]["row"]
    optimum = float(crow["objective"])
    bound = crow.get("global_bound")
    bound = None if bound is None or not math.isfinite(float(bound)) else float(bound)
    tol = spec.get("bound_tol", 1e-6)
    rows, trajs, params = [], {}, {}
    for r in records:
        row = dict(r["row"])
        row["rel_gap"] = (float(row["objective"]) - optimum) / max(abs(optimum), 1e-300)
        row["bound"] = bound if bound is not None else math.nan
        row["below_bound"] = (bool(row["objective"] < bound - tol * max(1.0, abs(bound)))
                              if bound is not None and r["method"] != CONVEX else
                              (False if bound is not None else None))
        rows.append(row)
        if r["method"] != CONVEX:
            k = (r["method"], int(r["size"]), int(r["seed"]))
            trajs[k] = r["trajectory"]
            if r["params"] is not None:
                params[k] = r["params"]
    cols = ["method", "size", "seed", "objective", "rel_gap", "bound", "below_bound",
            "active_units", "steps", "time", "train_error", "test_error", "status", "gap",
            "global_bound", "lower_bound", "solver", "patterns", "exact", "relaxation",
            "train_objective", "population", "iterations", "message"]
    table = pd.DataFrame(rows)
    table = table[[c for c in cols if c in table.columns]
                  + [c for c in table.columns if c not in cols]]
    order = (table["method"] != CONVEX).astype(int)
    table = (table.assign(_o=order).sort_values(["_o", "method", "size", "seed"])
             .drop(columns="_o").reset_index(drop=True))
    table["seed"] = table["seed"].astype("Int64")
    table["size"] = table["size"].astype("Int64")
    return Comparison(table=table, trajectories=trajs, optimum=optimum, global_bound=bound,
                      eps=float(spec.get("eps", 1e-2)), spec=spec, params=params, store=store)


# --------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------
def compare(prob, sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
            seeds: int | Sequence[int] = 5, optimizer: str = "adam", steps: int = 3000,
            lr: float = 1e-2, *, solver: str = "auto", store: str | os.PathLike | None = None,
            backend: str = "local", test: tuple[Any, Any] | None = None,
            patterns: str | int = "auto", relaxation: str = "relu", tol: float = 1e-6,
            schedule: str = "cosine", momentum: float = 0.9, batch_size: int | None = None,
            clip: float | None = None, patience: int | None = None, rtol: float = 1e-7,
            record_every: int | None = None, eps: float = 1e-2, prune: float = 1e-3,
            dtype: str = "float64", device: str | None = None, n_jobs: int | None = None,
            population: str | int = "size", address: str | None = None,
            connect_timeout: float = 5.0, progress: bool | None = None) -> Comparison:
    r"""Solve the convex lift of ``prob`` and train ``prob.model(size, seed)`` for every size
    and seed; return both side by side.

    Each run minimizes the problem's own objective ``F`` (see :mod:`lift.solvers.sgd`) from
    ``prob.model(size, seed)``; the convex program gives ``F_cvx`` and, when its lift is exact,
    the certified bound ``\underline F <= F(\theta)`` for every network of every width.

    Parameters
    ----------
    prob : TwoLayerReLU
        The problem.
    sizes : sequence of int
        Widths to train.
    seeds : int or sequence of int
        Initialization seeds (a count ``k`` means ``range(k)``).
    optimizer : {"adam", "sgd", "gd"}
        Trainer (see :class:`lift.solvers.sgd.TrainConfig`).
    steps : int
        Step budget per run.
    lr : float
        Base learning rate (scaled by ``schedule``).
    solver : str
        Solver of the lifted program (``"auto"``, ``"clarabel"``, ``"scs"``, ...).
    store : str or Path, optional
        Results-store folder; re-running the same call resumes (finished tasks are skipped).
    backend : {"local", "dask"}
        ``"local"``: joblib worker processes; ``"dask"``: a Dask cluster (``address`` of a
        running scheduler, or a ``LocalCluster`` of ``n_jobs`` workers).
    test : (X_test, y_test), optional
        Held-out data for the ``test_error`` column.
    patterns : "auto", "exact" or int
        Patterns of the lift; ``"auto"`` is ``"exact"`` for inputs of dimension <= 2 (with
        bias) and 200 sampled gates otherwise.
    relaxation : {"relu", "gated"}
        The lift's relaxation.
    tol : float
        Solver tolerance.
    schedule, momentum, batch_size, clip, patience, rtol, record_every
        Training settings (see :class:`lift.solvers.sgd.TrainConfig`).
    eps : float
        Relative gap under which a run counts as reaching the optimum.
    prune : float
        ``active_units`` counts neurons with ``|alpha_j| ||u_j||`` above ``prune`` times the
        largest.
    dtype : {"float64", "float32"}
        Training precision (objectives in the table are always evaluated in float64).
    device : str or None
        Torch device of the training (``None``: CUDA when available).
    n_jobs : int, optional
        Worker processes (default: the CPU count, at most 8).
    population : "size", "all" or int
        How runs are grouped into batched populations: all seeds of one size, everything, or
        chunks of at most this many networks. Results do not depend on it.
    address : str, optional
        Dask scheduler address (``backend="dask"``).
    connect_timeout : float
        Seconds to wait for the Dask scheduler.
    progress : bool, optional
        Show a tqdm progress bar; ``None``: only when stderr is a terminal.

    Returns
    -------
    Comparison
    """
    # --- validate everything first ---------------------------------------------------------
    from lift.problems.relu import TwoLayerReLU

    if not isinstance(prob, TwoLayerReLU):
        raise TypeError(f"`prob` must be a lift.problems.TwoLayerReLU (the problem class whose "
                        f"networks train as batched populations), got {type(prob).__name__}.")
    sizes = _check_sizes(sizes)
    seeds = _check_seeds(seeds)
    from lift.solvers.sgd import TrainConfig

    config = TrainConfig(optimizer=optimizer, steps=steps, lr=lr, schedule=schedule,
                         momentum=momentum, batch_size=batch_size, clip=clip,
                         patience=patience, rtol=rtol, record_every=record_every)
    if not isinstance(solver, str):
        raise TypeError(f"`solver` must be a string, got {type(solver).__name__}.")
    backend = check_choice(backend, "backend", BACKENDS)
    test = _check_test(test, prob)
    patterns = _resolve_patterns(prob, patterns)
    check_choice(relaxation, "relaxation", ["relu", "gated"])
    tol = check_positive(tol, "tol")
    eps = check_positive(eps, "eps")
    prune = check_positive(prune, "prune")
    check_choice(dtype, "dtype", _DTYPES)
    population = _check_population(population)
    if n_jobs is None:
        n_jobs = max(1, min(os.cpu_count() or 1, 8))
    n_jobs = check_int(n_jobs, "n_jobs", minimum=1)
    connect_timeout = check_positive(connect_timeout, "connect_timeout")
    folder = check_store_path(store) if store is not None else None
    if device is not None:
        import torch

        try:
            torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"`device` {device!r} is not a torch device: {exc}") from None

    # --- the tasks ---------------------------------------------------------------------------
    fp = prob.fingerprint()
    settings = config.as_dict()
    spec = {"problem": repr(prob), "problem_name": getattr(prob, "name", "problem"),
            "fingerprint": fp, "sizes": sizes, "seeds": seeds, "optimizer": optimizer,
            "settings": settings, "dtype": dtype, "prune": prune, "eps": eps,
            "lift": {"patterns": patterns, "relaxation": relaxation, "solver": solver,
                     "tol": tol, "lift_seed": 0},
            "test": None if test is None else task_key(X=test[0].tolist(), y=test[1].tolist())}
    conv_key = task_key(problem=fp, method=CONVEX, **spec["lift"], test=spec["test"])
    runs = [{"size": m, "seed": s,
             "key": task_key(problem=fp, method=optimizer, size=m, seed=s, settings=settings,
                             dtype=dtype, prune=prune, test=spec["test"])}
            for m in sizes for s in seeds]
    keys = [conv_key] + [r["key"] for r in runs]
    sweep_id = task_key(**{k: v for k, v in spec.items() if k != "eps"})

    client = cluster = None
    if backend == "dask":
        client, cluster = _connect_dask(address, n_jobs, connect_timeout)
    st = Store(folder) if folder is not None else None
    try:
        done: set[str] = st.finished(keys) if st is not None else set()
        if st is not None:
            st.add_sweep(sweep_id, spec, keys)
        records: dict[str, dict[str, Any]] = {}
        if st is not None and done:
            records.update((r["key"], r) for r in st.records(sorted(done)))
        units: list[dict[str, Any]] = []
        if conv_key not in done:
            units.append({"kind": CONVEX, "key": conv_key, "options": spec["lift"]})
        pending = [r for r in runs if r["key"] not in done]
        for group in _make_units(pending, population):
            units.append({"kind": "population", "sizes": [r["size"] for r in group],
                          "seeds": [r["seed"] for r in group],
                          "keys": [r["key"] for r in group], "config": settings,
                          "dtype": dtype, "device": device, "prune": prune})
        total = sum(1 if u["kind"] == CONVEX else len(u["keys"]) for u in units)
        show = sys.stderr.isatty() if progress is None else bool(progress)
        from tqdm.auto import tqdm

        with tqdm(total=total, disable=not show or total == 0, desc="lift compare",
                  unit="task") as bar:
            for out in _execute(units, prob, test, backend, n_jobs, client):
                if st is not None:
                    st.write(out)  # only the driver writes, one transaction per unit
                records.update((r["key"], r) for r in out)
                bar.update(len(out))
    finally:
        if st is not None:
            st.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    cmp = _assemble([records[k] for k in keys], spec, store=None if folder is None
                    else str(folder))
    _warn_below(cmp)
    return cmp


def _warn_below(cmp: Comparison) -> None:
    if cmp.global_bound is None:
        return
    below = cmp.runs[cmp.runs["below_bound"].astype(bool)]
    if len(below):
        import warnings

        worst = float(below["objective"].min())
        warnings.warn(f"{len(below)} run(s) ended below the certified global bound "
                      f"{cmp.global_bound:.10g} (lowest {worst:.10g}); this should be "
                      "impossible. Please report it with the store folder.", RuntimeWarning)


def _execute(units: list[dict[str, Any]], prob, test, backend: str, n_jobs: int, client):
    """Yield each unit's records as it finishes."""
    if not units:
        return
    if backend == "dask":
        from dask.distributed import as_completed

        futures = [client.submit(_run_unit, u, prob, test, 1, pure=False) for u in units]
        for fut in as_completed(futures):
            yield fut.result()
        return
    workers = min(n_jobs, len(units))
    if workers == 1:
        for u in units:
            yield _run_unit(u, prob, test, 1)
        return
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=workers, return_as="generator_unordered", backend="loky")
    yield from par(delayed(_run_unit)(u, prob, test, 1) for u in units)
