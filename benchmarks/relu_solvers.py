"""Fast ReLU solvers side by side with pyscnn and cvxpy (Clarabel, SCS).

Each row is one lifted program (data, sampled gates, beta, relaxation), solved by

* ``lift``: our working-set solver (``solver="active_set"``), stopping on a certified relative
  duality gap of 1e-6; with ``--first-order``, also our matrix-free first-order solvers
  (``fista`` for the gated program, ``al`` for the ReLU one), same stopping rule;
* ``pyscnn``: its R-FISTA (gated) and AL (ReLU) on the same augmented data ``[X, 1]``, the same
  gates and the same objective: pyscnn minimizes ``||z - y||^2 / (2n) + lam sum ||u_i||``, ours
  ``||z - y||^2 / 2 + beta sum ||u_i||``, so ``lam = beta / n`` and our value is ``n`` times its
  value (checked on every row). Its tolerance is tightened (1e-6, 1e-8, ..., 1e-14) until its
  objective is within 1e-6 of the reference; the time of the first run that gets there counts;
* ``clarabel`` and ``scs`` through cvxpy (compilation included), where the size allows.

Time to relative objective accuracy 1e-6: ``(F - F*) / |F*| <= 1e-6`` with ``F*`` the smallest
objective any method reached at a feasible point (cone violation at most 1e-9), including
ours at a certified gap of 1e-9 (whose certified lower bound is recorded, so the reference's
own accuracy is known). The augmented Lagrangian has a budget of 20,000 inner iterations;
where a method stops short, its accuracy is shown.
For the ReLU program the objective is taken at the returned point; ``viol`` is its largest
cone-constraint violation relative to
the largest prediction. Memory: peak resident set of a fresh process per (row, method),
baseline (imports, data) included. Every measurement runs in its own subprocess, on one
thread for every library; runs under 3 s are repeated three times and the fastest is kept.

Run: ``python benchmarks/relu_solvers.py [--quick] [--only gated|relu] [--sizes 2000,10000]
[--first-order] [--out FILE.jsonl]``; prints a Markdown table (``--table FILE.jsonl`` reprints
one).

``--grid`` runs the regime grid of issue 11 instead (``n`` in 2,000 / 10,000 / 50,000, ``d`` in
10 / 20 / 50, ``P`` in 500 / 2,000, ``beta`` for about 10 / 40 / 80 % active groups, gated and
cone, squared and logistic, with and without bias), or the subset chosen by ``--grid-n``,
``--grid-d``, ``--grid-p``, ``--grid-density``, ``--grid-programs``, ``--grid-losses`` and
``--grid-bias`` (comma lists; ``--grid-solvers auto --grid-peers no`` times ``auto``
alone, a survey of many rows; ``--grid-peers pyscnn`` leaves out the cvxpy backends);
``--grid-issue`` adds the issue's failing example. ``--grid-beta`` gives ``beta`` (a comma list,
one row each) instead of the target densities; otherwise ``beta`` is
found by bisection on loose solves of a 1,000-sample subsample (:func:`calibrate`); the
fraction reached at the optimum is reported. Per row: time to a certified relative gap of
1e-6 of each of our solvers and of ``auto`` (``lifted.solve``, recovery and certificate
included), pyscnn (squared loss only, tolerance tightened until 1e-6 in objective), Clarabel
and SCS (within ``--timeout``), peak memory, and the ratios the issue asks for. Our solvers
get ``time_limit`` = :data:`LIMIT_SHARE` of the timeout, so that a row they do not certify
reports the certified gap they reached ("not reached (max_iters, gap ..., ... s)").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

ACC = 1e-6
#: cvxpy is skipped above these n * P (compilation and solve would take minutes to hours)
CVXPY_LIMIT = {"gated": 2_000_000, "relu": 400_000}
PYSCNN_TOLS = (1e-6, 1e-8, 1e-10, 1e-12, 1e-14)
#: the share of a grid row's timeout given to our solvers as their ``time_limit`` (the rest
#: for the step under way at the limit and the certificate of the point returned)
LIMIT_SHARE = 0.8


def rows(quick: bool, sizes: list[int] | None = None) -> list[dict]:
    """The benchmark grid: synthetic data at several n, and a bundled dataset."""
    bundled = sizes is None
    if sizes is None:
        sizes = [500, 2_000, 10_000] if quick else [500, 2_000, 10_000, 100_000]
    out = []
    for relaxation in ("gated", "relu"):
        if bundled:
            out.append({"data": "diabetes", "n": 354, "d": 10, "P": 100, "lam": 1e-2,
                        "relaxation": relaxation})
        for n in sizes:
            if relaxation == "relu" and n > 10_000:
                continue  # larger cone programs: see relu_memory.py and BENCHMARKS.md
            out.append({"data": "synthetic", "n": n, "d": 10, "P": 100, "lam": 1e-2,
                        "relaxation": relaxation})
    return out


def build(row: dict):
    """The lifted program of a row (deterministic: seeded data and gates)."""
    from lift.datasets import load
    from lift.problems import TwoLayerReLU

    if row["data"] in SCALED_DATA or row["data"] == "grid":
        X, y = (grid_data(row["n"], row["d"], row["loss"]) if row["data"] == "grid"
                else scaled_data(row["data"], row["n"], row["d"], row["loss"]))
        prob = TwoLayerReLU(X, y, beta=row["beta"], loss=row["loss"], bias=row["bias"])
        return prob.lift(patterns=row["P"], program=row["program"], seed=0)
    if row["data"] == "diabetes":
        ds = load("diabetes")
        X, y = ds.X_train, ds.y_train
    else:
        X, y = grid_data(row["n"], row["d"], "squared")
    n = X.shape[0]
    prob = TwoLayerReLU(X, y, beta=row["lam"] * n)
    program = {"relu": "cone"}.get(row["relaxation"], row["relaxation"])
    return prob.lift(patterns=row["P"], program=program, seed=0)


def _violation(lifted, V, W) -> float:
    if W is None:
        return 0.0
    Xa, D = lifted.problem.Xa, lifted.D
    worst = 0.0
    for B in (V, W):
        XB = Xa @ B.T
        worst = max(worst, float(np.max(np.maximum(-np.where(D, XB, -XB), 0.0))))
    z = lifted.predictions(V, W)
    return worst / max(float(np.abs(z).max()), 1e-12)


def measure(row: dict, method: str, tol: float) -> dict:
    """One solve in this process: time, objective (our scaling), violation."""
    lifted = build(row)
    prob = lifted.problem
    n = prob.n
    lower = None
    if method.startswith("solve:"):
        # "solve:NAME" or "solve:NAME:key=value,...": options of the solver (ints or floats)
        _, name, extra = (method + ":").split(":")[:3]
        options = {"device": "cpu"} if name in lifted.solvers() else {}
        for item in filter(None, extra.split(",")):
            key, value = item.split("=")
            options[key] = float(value) if "." in value or "e" in value else int(value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            sol = lifted.solve(solver=name, tol=tol, **options)
            elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        primal = {"V": None, "W": None}
        active = float("nan")
        ws = sol.info.get("warm_start") or {}
        if ws.get("V") is not None:
            V, W = np.asarray(ws["V"]), ws.get("W")
            primal = {"V": V, "W": None if W is None else np.asarray(W)}
            nz = np.linalg.norm(V, axis=1) > 0
            if W is not None:
                nz |= np.linalg.norm(np.asarray(W), axis=1) > 0
            active = float(nz.mean())
        viol = _violation(lifted, primal["V"], primal["W"]) if primal["V"] is not None else 0.0
        return {"time": elapsed, "value": sol.program_value, "lower": sol.lower_bound,
                "status": sol.status, "rel_gap": sol.rel_gap, "solver": sol.solver,
                "message": sol.message[-300:], "iterations": sol.iterations, "viol": viol,
                "active": active, "peak_gib": peak}
    if method in ("lift", "lift-fo"):
        from lift.solvers import run_solver

        name = "active_set" if method == "lift" else (
            "fista" if lifted.program == "gated" else "al")
        options = {} if name == "active_set" else {
            "max_iters": 200_000 if name == "fista" else 20_000}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            run = run_solver(lifted, name, tol=tol, device="cpu", **options)
            elapsed = time.perf_counter() - t0
        V, W = run.primal["V"], run.primal["W"]
        value = lifted.program_value({"V": V, "W": W})
        lower = run.info["lower"]
        iters = run.iterations
    elif method == "pyscnn":
        from scnn.metrics import Metrics
        from scnn.models import ConvexGatedReLU, ConvexReLU
        from scnn.optimize import optimize_model
        from scnn.regularizers import NeuronGL1
        from scnn.solvers import AL, RFISTA

        G = lifted.gates.T  # (d + 1, P): the same gates, on the same augmented data
        gated = lifted.program == "gated"
        model = ConvexGatedReLU(G) if gated else ConvexReLU(G)
        solver = (RFISTA(model, max_iters=200_000, tol=tol) if gated else
                  AL(model, tol=tol, constraint_tol=tol))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            m, _ = optimize_model(model, solver, Metrics(metric_freq=10**9), prob.Xa, prob.y,
                                  regularizer=NeuronGL1(prob.beta / n), return_convex=True,
                                  unitize_data=False, dtype="float64")
            elapsed = time.perf_counter() - t0
        z = np.asarray(m(prob.Xa)).ravel()
        # pyscnn may reorder its patterns: map each weight row back to ours by its gate
        order = _match_gates(np.asarray(m.G).T, lifted.gates)
        V = np.zeros((lifted.P, prob.Xa.shape[1]))
        W = None if gated else np.zeros_like(V)
        V[order] = np.asarray(m.parameters[0])[0]
        if not gated:
            W[order] = np.asarray(m.parameters[1])[0]
        value = lifted.program_value({"V": V, "W": W})
        value_own = prob.loss.value(z, prob.y) + prob.beta * (
            np.linalg.norm(V, axis=1).sum() + (0 if W is None else np.linalg.norm(W, axis=1).sum()))
        if abs(value - value_own) > 1e-8 * abs(value):
            raise RuntimeError(f"pyscnn's own predictions disagree with ours: {value_own} vs "
                               f"{value}; objective scaling or patterns differ")
        iters = None
    else:
        from lift.solvers.conic import solve_cvxpy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            cvx = lifted.to_cvxpy()
            run = solve_cvxpy(cvx, method, tol=tol)
            elapsed = time.perf_counter() - t0
        primal = lifted.primal_from_cvxpy(cvx)
        if primal is None:
            return {"time": elapsed, "value": float("nan"), "status": run["status"]}
        V, W = primal["V"], primal["W"]
        value = lifted.program_value({"V": V, "W": W})
        iters = run["iterations"]  # solve_cvxpy returns a dict
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (ru_maxrss: KiB)
    return {"time": elapsed, "value": value, "lower": lower, "iterations": iters,
            "viol": _violation(lifted, V, W), "peak_gib": peak}


def _match_gates(theirs: np.ndarray, ours: np.ndarray) -> np.ndarray:
    """Index in ``ours`` of each row of ``theirs`` (the same gate vectors, maybe reordered)."""
    idx = {tuple(np.round(g, 12)): i for i, g in enumerate(ours)}
    return np.array([idx[tuple(np.round(g, 12))] for g in theirs])


#: every process runs on one thread (BLAS, OpenMP, torch): the machine is shared, and a second
#: thread on a busy core slows every library down by a different, unrepeatable amount
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}


def run_child(row: dict, method: str, tol: float, timeout: float,
              repeats: int = 3) -> dict | None:
    """One measurement in a fresh process; runs under 3 s are repeated, the fastest kept."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(row), method,
           repr(tol)]
    best = None
    for _ in range(repeats):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
        except subprocess.TimeoutExpired:
            return best
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or res["time"] < best["time"]:
            best = res
        if res["time"] > 3.0:
            break
    return best


def pyscnn_runs(row: dict, best: float, timeout: float, gated: bool, repeats: int = 3
                ) -> tuple[list[dict], float]:
    """pyscnn at tolerances 1e-6, 1e-8, ... until its objective is within 1e-6 of the best
    feasible value (which its feasible runs may lower); ``(runs, best)``."""
    runs = []
    for tol in (PYSCNN_TOLS if gated else PYSCNN_TOLS[:3]):
        r = run_child(row, "pyscnn", tol, timeout, repeats=repeats)
        if r is None or "error" in r:
            runs.append({"tol": tol, **(r or {"error": "timeout"})})
            break
        runs.append({"tol": tol, **r})
        if r["viol"] <= 1e-9:
            best = min(best, r["value"])
        if (r["value"] - best) / abs(best) <= ACC and r["viol"] <= 1e-6:
            break
    return runs, best


def bench_row(row: dict, timeout: float, log, first_order: bool = False) -> dict:
    """Every method on one row."""
    res: dict = {"row": row}
    # reference: ours at a certified gap of 1e-9 (its lower bound is kept), or any method's
    # better feasible value
    ref = run_child(row, "lift", 1e-9, timeout * 2, repeats=1)
    res["reference"] = ref
    best = ref["value"] if ref and "value" in ref and ref["viol"] <= 1e-9 else np.inf
    res["lift"] = run_child(row, "lift", ACC, timeout)
    if first_order:
        res["lift-fo"] = run_child(row, "lift-fo", ACC, timeout)
    res["pyscnn"], best = pyscnn_runs(row, best, timeout, row["relaxation"] == "gated")
    nP = row["n"] * row["P"]
    for backend in ("clarabel", "scs"):
        if nP <= CVXPY_LIMIT[row["relaxation"]]:
            res[backend] = run_child(row, backend, ACC, timeout)
    for key in ("lift", "lift-fo", "clarabel", "scs"):
        r = res.get(key)
        if r and "value" in r and np.isfinite(r["value"]) and r["viol"] <= 1e-9:
            best = min(best, r["value"])
    res["best"] = best
    log(json.dumps(res, default=float))
    return res


def _acc(r: dict | None, best: float) -> float:
    if not r or "value" not in r or not np.isfinite(r["value"]):
        return np.inf
    return (r["value"] - best) / abs(best)


def table(results: list[dict]) -> str:
    head = ("| data | n | P | program | lift active_set (s) | lift fista/al (s) | pyscnn (s) | "
            "ratio | clarabel (s) | scs (s) | vs best cvxpy | ref. certified | "
            "peak RSS lift / pyscnn (GiB) |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for res in results:
        row, best = res["row"], res["best"]

        def cell(r, best=best):
            if r is None:
                return "timeout", np.inf
            if "error" in r:
                return "error", np.inf
            a = _acc(r, best)
            t = r["time"]
            v = r.get("viol", 0.0)
            mark = "" if a <= ACC and v <= 1e-6 else (
                f" (acc {a:.0e}" + (f", viol {v:.0e})" if v > 1e-6 else ")"))
            return f"{t:.2f}{mark}", (t if not mark else np.inf)

        lt, lv = cell(res.get("lift"))
        ft = cell(res["lift-fo"])[0] if "lift-fo" in res else "-"
        ref = res.get("reference") or {}
        cert = (f"{(ref['value'] - ref['lower']) / abs(ref['value']):.0e}"
                if ref.get("lower") is not None else "-")
        ps = res.get("pyscnn") or []
        reached = [r for r in ps if "value" in r and _acc(r, best) <= ACC and r["viol"] <= 1e-6]
        if reached:
            pt, pv = f"{reached[0]['time']:.2f} (tol {reached[0]['tol']:.0e})", reached[0]["time"]
        elif ps:
            last = ps[-1]
            pt = ("not reached" + (f" (acc {_acc(last, best):.0e}, viol {last['viol']:.0e}, "
                                   f"{last['time']:.1f} s at tol {last['tol']:.0e})"
                                   if "value" in last else f" ({last.get('error')})"))
            pv = np.inf
        else:
            pt, pv = "-", np.inf
        ct, cv = cell(res["clarabel"]) if "clarabel" in res else ("skipped", np.inf)
        st, sv = cell(res["scs"]) if "scs" in res else ("skipped", np.inf)
        ratio = f"{lv / pv:.2f}" if np.isfinite(lv) and np.isfinite(pv) else "-"
        cbest = min(cv, sv)
        speed = "-"
        if np.isfinite(lv) and np.isfinite(cbest):
            speed = f"{cbest / lv:.0f}x" if cbest >= 10 * lv else f"{cbest / lv:.1f}x"
        mem_l = res["lift"]["peak_gib"] if res.get("lift") and "peak_gib" in res["lift"] else None
        mem_p = next((r["peak_gib"] for r in reversed(ps) if "peak_gib" in r), None)
        mem = f"{mem_l:.2f} / {mem_p:.2f}" if mem_l and mem_p else (
            f"{mem_l:.2f} / -" if mem_l else "-")
        lines.append(f"| {row['data']} | {row['n']:,} | {row['P']} | {row['relaxation']} | "
                     f"{lt} | {ft} | {pt} | {ratio} | {ct} | {st} | {speed} | {cert} | "
                     f"{mem} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The regime grid of issue 11 (--grid)
# --------------------------------------------------------------------------------------------
GRID = {"n": [2_000, 10_000, 50_000], "d": [10, 20, 50], "P": [500, 2_000],
        "density": [0.1, 0.4, 0.8], "program": ["gated", "cone"],
        "loss": ["squared", "logistic"], "bias": [False, True]}
#: the failing example of issue 11 (beta = 5, about 60 % of the groups active)
ISSUE_ROW = {"data": "grid", "n": 2_000, "d": 20, "P": 500, "program": "gated",
             "loss": "squared", "bias": False, "beta": 5.0, "density": None}


def grid_data(n: int, d: int, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``X ~ N(0, I_d)``; ``y`` from a planted width-5 ReLU network plus noise (squared), or
    its sign around the median (logistic). Seeded."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 5)) / np.sqrt(d)
    y = np.maximum(X @ W, 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    return X, y


#: badly scaled data (``benchmarks/relu_scaled.py``): the grid's data with column scales from
#: 1e-2 to 1e2, and two bundled sets as they come (not standardized)
SCALED_DATA = ("grid-scaled", "diabetes-raw", "breast-cancer-raw")


def scaled_data(name: str, n: int, d: int, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``grid-scaled``: :func:`grid_data` with column ``j`` times ``10^(-2 + 4 j / (d - 1))``;
    ``diabetes-raw``: scikit-learn's diabetes in its original units (ages, blood pressures,
    serum levels: columns from about 1 to 300), squared loss; ``breast-cancer-raw``: breast
    cancer as it comes (columns from about 1e-3 to 4e3), labels +-1, logistic loss. The
    bundled sets ignore ``n``, ``d`` and ``loss``."""
    import sklearn.datasets

    if name == "grid-scaled":
        X, y = grid_data(n, d, loss)
        return X * np.logspace(-2, 2, d), y
    if name == "diabetes-raw":
        return sklearn.datasets.load_diabetes(return_X_y=True, scaled=False)
    X, y = sklearn.datasets.load_breast_cancer(return_X_y=True)
    return X, 2.0 * y - 1.0


def calibrate(row: dict, target: float, steps: int = 8, rows_max: int = 1_000
              ) -> tuple[float, float]:
    """``beta`` for about ``target`` active groups: bisection on ``log beta`` with loose
    gated-program solves (FISTA, certified gap 1e-3) on the first ``rows_max`` samples, scaled
    by ``n / rows_max`` (the loss sums over the samples). Returns ``(beta, the fraction
    reached on the subsample)``."""
    from lift.problems import TwoLayerReLU
    from lift.solvers import run_solver

    X, y = grid_data(row["n"], row["d"], row["loss"])
    m = min(row["n"], rows_max)
    prob = TwoLayerReLU(X[:m], y[:m], beta=1.0, loss=row["loss"], bias=row["bias"])
    lifted = prob.lift(patterns=row["P"], program="gated", seed=0)
    lo, hi = -4.0, float(np.log10(m))  # beta between 1e-4 and m (beyond: nothing active)
    best = (np.inf, 10.0**hi, 0.0)
    for _ in range(steps):
        mid = (lo + hi) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = run_solver(lifted.reweight(10.0**mid), "fista", tol=1e-3, device="cpu",
                             max_iters=2_000)
        frac = float((np.linalg.norm(run.primal["V"], axis=1) > 0).mean())
        if abs(frac - target) < best[0]:
            best = (abs(frac - target), 10.0**mid, frac)
        if frac > target:
            lo = mid
        else:
            hi = mid
    return best[1] * row["n"] / m, best[2]


def grid_rows(args) -> list[dict]:
    """The rows of the grid selected by the ``--grid-*`` options (each a comma list)."""
    import itertools

    def pick(key: str, cast):
        value = getattr(args, "grid_" + key)
        default = GRID[{"p": "P", "programs": "program", "losses": "loss"}.get(key, key)]
        return default if value is None else [cast(v) for v in value.split(",")]

    def boolean(v: str) -> bool:
        return v.strip().lower() in ("1", "true", "yes", "bias")

    # given betas replace the calibration to target densities (one row per beta)
    betas = ([float(v) for v in args.grid_beta.split(",")] if args.grid_beta is not None
             else None)
    out = []
    for n, d, P, dens, program, loss, bias in itertools.product(
            pick("n", int), pick("d", int), pick("p", int),
            betas if betas is not None else pick("density", float),
            pick("programs", str), pick("losses", str), pick("bias", boolean)):
        row = {"data": "grid", "n": n, "d": d, "P": P, "program": program, "loss": loss,
               "bias": bias}
        row.update({"beta": dens} if betas is not None else {"density": dens})
        out.append(row)
    return out


def grid_ours(row: dict) -> list[str]:
    """Our solvers for a grid row (``auto`` last)."""
    smooth = ["ssnal"] if row["loss"] in ("squared", "logistic") else []
    if row["program"] == "gated":
        names = ["active_set", "fista"] + smooth
    else:  # the augmented Lagrangian "al" took over 300 s on every such row (BENCHMARKS.md)
        names = (["active_set"] if row["loss"] == "squared" else []) + ["fista"] + smooth
        names += ["barrier"] if smooth else []
    return names + ["auto"]


def bench_grid_row(row: dict, timeout: float, log, solvers: list[str] | None = None,
                   peers: bool | str = True) -> dict:
    """One grid row: beta (calibrated unless given), every solver of ours and ``auto`` (or
    those of ``solvers`` that apply to the row), pyscnn (squared loss: tolerance tightened
    until 1e-6 in objective), Clarabel and SCS (unless ``peers`` is false; ``"pyscnn"``:
    pyscnn only)."""
    row = dict(row)
    if row.get("beta") is None:
        row["beta"], row["calibrated_fraction"] = calibrate(row, row["density"])
    res: dict = {"row": row}
    best = np.inf
    for name in grid_ours(row):
        if solvers is not None and name not in solvers:
            continue
        # the solve's own time limit ends it before the process is killed, so that a
        # row that does not certify reports the certified gap it reached
        r = run_child(row, f"solve:{name}:time_limit={LIMIT_SHARE * timeout:.1f}", ACC,
                      timeout, repeats=1)
        res[name] = r
        if r and "value" in r and r.get("status") == "optimal" and r["viol"] <= 1e-9:
            best = min(best, r["value"])
    key = {"gated": "gated", "cone": "relu"}[row["program"]]
    if not peers:
        res["best"], res["peers"] = best, False
        log(json.dumps(res, default=float))
        return res
    if row["loss"] == "squared":
        res["pyscnn"], best = pyscnn_runs(row, best, timeout, key == "gated", repeats=1)
    if peers == "pyscnn":
        res["peers"] = "pyscnn"
    elif row["n"] * row["P"] <= CVXPY_LIMIT[key]:
        for backend in ("clarabel", "scs"):
            r = run_child(row, backend, ACC, timeout, repeats=1)
            res[backend] = r
            if r and "value" in r and np.isfinite(r["value"]) and r["viol"] <= 1e-9:
                best = min(best, r["value"])
    res["best"] = best
    log(json.dumps(res, default=float))
    return res


def _ours_cell(r: dict | None) -> tuple[str, float]:
    """``(cell, seconds to a certified 1e-6 or inf)`` of one of our runs."""
    if r is None:
        return "timeout", np.inf
    if "error" in r:
        return "error", np.inf
    if r.get("status") == "optimal":  # the solver's certified gap is within 1e-6
        gap = r.get("rel_gap", 0.0)
        # the library's own certificate of the recovered network, where it reads above 1e-6
        return f"{r['time']:.2f}" + (f" (gap {gap:.1e})" if gap > ACC else ""), r["time"]
    return f"not reached ({r.get('status')}, gap {r.get('rel_gap', np.nan):.0e}, " \
           f"{r['time']:.0f} s)", np.inf


def grid_table(results: list[dict]) -> str:
    head = ("| n | d | P | program | loss | bias | beta | active | active_set (s) | "
            "fista (s) | ssnal (s) | barrier (s) | auto (s) | auto / best ours | pyscnn (s) | "
            "auto / pyscnn | "
            "clarabel (s) | scs (s) | best cvxpy / auto | peak GiB auto / pyscnn |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for res in results:
        row, best = res["row"], res["best"]
        ours = {}
        for name in ("active_set", "fista", "ssnal", "barrier", "auto"):
            ours[name] = _ours_cell(res[name]) if name in res else ("-", np.inf)
        fo = ours["fista"]
        at = ours["auto"][1]
        best_single = min(ours[k][1] for k in ("active_set", "fista", "ssnal", "barrier"))
        ratio_ours = f"{at / best_single:.2f}" if np.isfinite(at) and np.isfinite(
            best_single) else "-"
        ps = res.get("pyscnn")
        pv = np.inf
        if res.get("peers") is False:
            pt = "not run"
        elif ps is None:
            pt = "n/a (squared loss only)"
        else:
            reached = [r for r in ps if "value" in r and _acc(r, best) <= ACC
                       and r["viol"] <= 1e-6]
            if reached:
                pt, pv = f"{reached[0]['time']:.2f} (tol {reached[0]['tol']:.0e})", \
                    reached[0]["time"]
            else:
                last = ps[-1] if ps else {}
                pt = "not reached" + (f" (acc {_acc(last, best):.0e}, {last['time']:.0f} s)"
                                      if "value" in last else f" ({last.get('error')})")
        ratio_p = f"{at / pv:.2f}" if np.isfinite(at) and np.isfinite(pv) else "-"
        cells = {}
        for backend in ("clarabel", "scs"):
            r = res.get(backend, "skipped")
            if r == "skipped":
                cells[backend] = ("not run" if res.get("peers") in (False, "pyscnn")
                                  else "skipped",
                                  np.inf)
            elif r is None:
                cells[backend] = ("timeout", np.inf)
            elif "error" in r or "value" not in r or not np.isfinite(r["value"]):
                cells[backend] = (r.get("status", "error"), np.inf)
            else:
                a = _acc(r, best)
                cells[backend] = ((f"{r['time']:.2f}" if a <= ACC else
                                   f"{r['time']:.2f} (acc {a:.0e})"),
                                  r["time"] if a <= ACC else np.inf)
        cb = min(cells["clarabel"][1], cells["scs"][1])
        speed = f"{cb / at:.0f}x" if np.isfinite(cb) and np.isfinite(at) else "-"
        act = next((res[k]["active"] for k in ("auto", "active_set", "fista", "ssnal", "barrier")
                    if res.get(k) and np.isfinite(res[k].get("active", np.nan))), np.nan)
        target = row.get("density")
        active = f"{act:.2f}" + (f" (target {target:.1f})" if target else "")
        mem_a = (res.get("auto") or {}).get("peak_gib")
        mem_p = next((r["peak_gib"] for r in reversed(ps or []) if "peak_gib" in r), None)
        mem = f"{mem_a:.2f}" if mem_a else "-"
        mem += f" / {mem_p:.2f}" if mem_p else " / -"
        lines.append(
            f"| {row['n']:,} | {row['d']} | {row['P']} | {row['program']} | {row['loss']} | "
            f"{'yes' if row['bias'] else 'no'} | {row['beta']:.3g} | {active} | "
            f"{ours['active_set'][0]} | {fo[0]} | {ours['ssnal'][0]} | {ours['barrier'][0]} | "
            f"{ours['auto'][0]} | "
            f"{ratio_ours} | {pt} | "
            f"{ratio_p} | {cells['clarabel'][0]} | {cells['scs'][0]} | {speed} | {mem} |")
    return "\n".join(lines)



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10,000 only")
    parser.add_argument("--out", default=None, help="write raw results (JSON lines) here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per solve")
    parser.add_argument("--only", default=None, help="gated or relu")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated synthetic sizes only (no bundled data)")
    parser.add_argument("--table", default=None, help="print the table of a results file")
    parser.add_argument("--first-order", action="store_true",
                        help="also time the matrix-free first-order solvers (fista, al)")
    parser.add_argument("--grid", action="store_true",
                        help="the regime grid of issue 11 (subsets: the --grid-* options)")
    parser.add_argument("--grid-issue", action="store_true",
                        help="with --grid: also the issue's failing example (first)")
    for key, help_ in (("n", "samples"), ("d", "input dimensions"), ("p", "gates"),
                       ("density", "target fractions of active groups"),
                       ("programs", "gated,cone"), ("losses", "squared,logistic"),
                       ("bias", "no,yes")):
        parser.add_argument(f"--grid-{key}", default=None,
                            help=f"comma-separated {help_} (default: the whole grid)")
    parser.add_argument("--grid-beta", default=None,
                        help="comma-separated betas: rows at these betas instead of "
                             "calibrated to the target densities")
    parser.add_argument("--grid-solvers", default=None,
                        help="comma-separated solvers of ours (default: every one that "
                             "applies, and auto)")
    parser.add_argument("--grid-peers", default="yes",
                        help="yes (pyscnn, Clarabel, SCS; the default), pyscnn or no")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as fh:
            results = [json.loads(line) for line in fh if line.strip()]
        grid = [r for r in results if r["row"].get("data") == "grid"]
        print(grid_table(grid) if grid else table(results))
        return
    results = []
    sink = open(args.out, "a") if args.out else None

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if sink:
            print(line, file=sink, flush=True)

    if args.grid:
        todo = ([dict(ISSUE_ROW)] if args.grid_issue else []) + grid_rows(args)
        solvers = args.grid_solvers.split(",") if args.grid_solvers else None
        choice = args.grid_peers.strip().lower()
        peers = "pyscnn" if choice == "pyscnn" else choice in ("1", "true", "yes")
        print(grid_table([bench_grid_row(row, args.timeout, log, solvers, peers)
                          for row in todo]))
        return
    sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else None
    for row in rows(args.quick, sizes):
        if args.only and row["relaxation"] != args.only:
            continue
        results.append(bench_row(row, args.timeout, log, args.first_order))
    print(table(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        out = measure(json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
        print(json.dumps(out, default=float))
    else:
        main()
