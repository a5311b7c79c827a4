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

    if row["data"] == "diabetes":
        ds = load("diabetes")
        X, y = ds.X_train, ds.y_train
    else:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((row["n"], row["d"]))
        W = rng.standard_normal((row["d"], 5)) / np.sqrt(row["d"])
        y = np.maximum(X @ W, 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(row["n"])
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
    runs = []
    for tol in (PYSCNN_TOLS if row["relaxation"] == "gated" else PYSCNN_TOLS[:3]):
        r = run_child(row, "pyscnn", tol, timeout)
        if r is None or "error" in r:
            runs.append({"tol": tol, **(r or {"error": "timeout"})})
            break
        runs.append({"tol": tol, **r})
        if r["viol"] <= 1e-9:
            best = min(best, r["value"])
        if (r["value"] - best) / abs(best) <= ACC and r["viol"] <= 1e-6:
            break
    res["pyscnn"] = runs
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
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as fh:
            print(table([json.loads(line) for line in fh if line.strip()]))
        return
    results = []
    sink = open(args.out, "a") if args.out else None

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if sink:
            print(line, file=sink, flush=True)

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
