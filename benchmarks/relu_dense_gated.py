"""Dense gated optima (issue 11): our solvers with and without the certificate's dual step,
side by side with pyscnn's R-FISTA.

Rows: the issue's failing example (``n = 2,000, d = 20, P = 500, beta = 5``, no bias, about
300 of 500 groups active) and the ``n = 10,000, d = 10, P = 500, beta = 22.3`` row of the
grid (about 36 % active). Each of ``fista``, ``active_set`` and ``auto`` runs through
``lifted.solve`` to a certified relative gap of 1e-6, once with ``dual_step=0`` (the loss
gradients alone: before) and once as by default (after); pyscnn's R-FISTA runs with its
tolerance tightened (1e-6, 1e-8, ...) until its objective is within 1e-6 of the best value
reached, and the time of that run counts (as in ``relu_solvers.py --grid``). Every run is a
fresh process on one thread; ``--rounds`` repeats our runs, interleaved, and keeps the fastest
of each (the machine is shared: compare columns of one run of this script, not across runs).

Run: ``python benchmarks/relu_dense_gated.py [--rounds 2] [--rows issue,10k]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relu_solvers import ACC, ISSUE_ROW, pyscnn_runs, run_child  # noqa: E402

ROWS = {"issue": dict(ISSUE_ROW),
        "10k": {**ISSUE_ROW, "n": 10_000, "d": 10, "beta": 22.3}}
METHODS = [(name, variant) for name in ("fista", "active_set", "auto")
           for variant in ("before", "after")]


def method_key(name: str, variant: str) -> str:
    return f"solve:{name}" + (":dual_step=0" if variant == "before" else "")


def bench(row: dict, rounds: int, timeout: float) -> dict:
    """Fastest of ``rounds`` interleaved runs of each of our methods, then pyscnn."""
    ours: dict = {}
    for _ in range(rounds):
        for name, variant in METHODS:
            r = run_child(row, method_key(name, variant), ACC, timeout, repeats=1)
            old = ours.get((name, variant))
            if r is not None and "time" in r and (old is None or r["time"] < old["time"]):
                ours[(name, variant)] = r
    best = min((r["value"] for r in ours.values() if r.get("status") == "optimal"),
               default=np.inf)
    runs, best = pyscnn_runs(row, best, timeout, gated=True, repeats=1)
    hit = [r for r in runs if "value" in r and (r["value"] - best) / abs(best) <= ACC]
    return {"ours": ours, "pyscnn": hit[0] if hit else None, "pyscnn_runs": runs,
            "best": best}


def table(row: dict, res: dict) -> str:
    py = res["pyscnn"]
    lines = [f"n = {row['n']:,}, d = {row['d']}, P = {row['P']}, beta = {row['beta']}: "
             + (f"pyscnn {py['time']:.2f} s (tol {py['tol']:g})" if py else
                "pyscnn did not reach 1e-6"),
             "", "| solver | dual step | time (s) | iterations | certified gap | status | "
             "active | time / pyscnn |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for (name, variant), r in res["ours"].items():
        ratio = f"{r['time'] / py['time']:.2f}" if py else "-"
        lines.append(f"| {name} | {'off' if variant == 'before' else 'on'} | {r['time']:.2f} | "
                     f"{r['iterations']} | {r['rel_gap']:.1e} | {r['status']} | "
                     f"{r['active']:.2f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rows", default="issue,10k")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    for key in args.rows.split(","):
        row = ROWS[key]
        print(table(row, bench(row, args.rounds, args.timeout)), "\n", flush=True)


if __name__ == "__main__":
    main()
