"""Dense gated optima (issue 11): our solvers before and after, side by side with pyscnn.

Rows: the issue's failing example (``n = 2,000, d = 20, P = 500, beta = 5``, no bias, about
300 of 500 groups active) and the ``n = 10,000, d = 10, P = 500, beta = 22.3`` row of the
grid (about 36 % active). Each of ``fista``, ``active_set`` and ``auto`` runs through
``lifted.solve`` to a certified relative gap of 1e-6, "before" and "after": after is this
checkout; before is the library at an earlier commit when ``--baseline DIR`` is given (a copy
laid out as an installed package, see below), else this checkout with ``dual_step=0`` (the
certificate from the loss gradients alone). pyscnn's R-FISTA runs with its tolerance tightened
(1e-6, 1e-8, ...) until its objective is within 1e-6 of the best value reached, and the time
of that run counts (as in ``relu_solvers.py --grid``). Every run is a fresh process on one
thread; ``--rounds`` repeats every method, pyscnn at the tolerance found included,
interleaved, and keeps the fastest run of each (the machine is shared: compare the columns of
one run of this script, not across runs).

Run: ``python benchmarks/relu_dense_gated.py [--rounds 2] [--rows issue,10k,10k-d20,10k-d50]
[--methods auto,fista:before] [--baseline DIR]``. A baseline directory from commit ``C``::

    git archive C | tar -x -C /tmp/src && mkdir DIR && cp -r /tmp/src/lift DIR/lift &&
    cp -r /tmp/src/problems DIR/lift/problems && cp -r /tmp/src/solvers DIR/lift/solvers
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relu_solvers import ACC, ENV, ISSUE_ROW, pyscnn_runs, run_child  # noqa: E402

ROWS = {"issue": dict(ISSUE_ROW),
        "10k": {**ISSUE_ROW, "n": 10_000, "d": 10, "beta": 22.3},
        # the grid's n = 10,000 rows at 40 % (calibrated): 61 % and 91 % active
        "10k-d20": {**ISSUE_ROW, "n": 10_000, "d": 20, "beta": 36.8},
        "10k-d50": {**ISSUE_ROW, "n": 10_000, "d": 50, "beta": 39.2}}
METHODS = [(name, variant) for name in ("fista", "active_set", "auto")
           for variant in ("before", "after")]


def run(row: dict, name: str, variant: str, timeout: float, baseline: str | None
        ) -> dict | None:
    """One solve of ours in a fresh process (``relu_solvers.py --child``); None on timeout."""
    method = f"solve:{name}"
    env = dict(ENV)
    if variant == "before":
        if baseline:
            env["PYTHONPATH"] = os.path.abspath(baseline)
        else:
            method += ":dual_step=0"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "relu_solvers.py")
    cmd = [sys.executable, script, "--child", json.dumps(row), method, repr(ACC)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(row: dict, rounds: int, timeout: float, baseline: str | None,
          methods: list[tuple[str, str]] = METHODS) -> dict:
    """``rounds`` interleaved rounds of each of our methods and of pyscnn (its tolerance
    found by the ladder in the first round); the fastest run of each is kept."""
    ours: dict = {}
    py, tol, runs = None, None, []
    for k in range(rounds):
        for name, variant in methods:
            r = run(row, name, variant, timeout, baseline)
            old = ours.get((name, variant))
            if r is not None and "time" in r and (old is None or r["time"] < old["time"]):
                ours[(name, variant)] = r
        best = min((r["value"] for r in ours.values() if r.get("status") == "optimal"),
                   default=np.inf)
        if k == 0:
            runs, best = pyscnn_runs(row, best, timeout, gated=True, repeats=1)
            hit = [r for r in runs if "value" in r and (r["value"] - best) / abs(best) <= ACC]
            py, tol = (hit[0], hit[0]["tol"]) if hit else (None, None)
        elif tol is not None:
            r = run_child(row, "pyscnn", tol, timeout, repeats=1)
            if r is not None and "time" in r and r["time"] < py["time"]:
                py = {"tol": tol, **r}
    return {"ours": ours, "pyscnn": py, "pyscnn_runs": runs}


def table(row: dict, res: dict) -> str:
    py = res["pyscnn"]
    lines = [f"n = {row['n']:,}, d = {row['d']}, P = {row['P']}, beta = {row['beta']}: "
             + (f"pyscnn {py['time']:.2f} s (tol {py['tol']:g})" if py else
                "pyscnn did not reach 1e-6"),
             "", "| solver | version | time (s) | iterations | certified gap | status | "
             "active | time / pyscnn |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for (name, variant), r in res["ours"].items():
        ratio = f"{r['time'] / py['time']:.2f}" if py else "-"
        lines.append(f"| {name} | {variant} | {r['time']:.2f} | "
                     f"{r['iterations']} | {r['rel_gap']:.1e} | {r['status']} | "
                     f"{r['active']:.2f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rows", default="issue,10k")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--baseline", default=None,
                        help="the library at an earlier commit, for the 'before' runs")
    parser.add_argument("--methods", default=None,
                        help="NAME (this checkout) or NAME:before, comma-separated (default: "
                             "fista, active_set and auto, before and after)")
    args = parser.parse_args()
    methods = METHODS if args.methods is None else [
        (m.split(":")[0], m.split(":")[1] if ":" in m else "after")
        for m in args.methods.split(",")]
    for key in args.rows.split(","):
        row = ROWS[key]
        print(table(row, bench(row, args.rounds, args.timeout, args.baseline, methods)), "\n",
              flush=True)


if __name__ == "__main__":
    main()
