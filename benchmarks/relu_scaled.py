"""ReLU programs on badly scaled data (issue 11), our solvers side by side with pyscnn and cvxpy.

The regime grid of ``relu_solvers.py --grid`` draws standard normal features. Users often
pass data as it comes, with columns on very different scales; first-order methods feel that
(the Lipschitz constant follows the largest column, progress along the smallest crawls),
Newton-type methods much less. Rows (``relu_solvers.scaled_data``):

* ``grid-scaled``: the grid's planted-network data, ``n = 2,000, d = 10``, column ``j``
  multiplied by ``10^(-2 + 4 j / 9)`` (scales 1e-2 to 1e2), squared loss, 500 sampled gates;
* ``diabetes-raw``: scikit-learn's diabetes in its original units (``n = 442, d = 10``),
  squared loss, 200 sampled gates;
* ``breast-cancer-raw``: breast cancer as it comes (``n = 569, d = 30``, columns from about
  1e-3 to 4e3), logistic loss, 200 sampled gates;

each with a bias, gated and cone programs, at relative ``beta`` (``ReLULift.relative_beta``:
``beta`` over the smallest ``beta`` with a zero optimum of the gated program) of 1e-2 and
1e-3. Per row: time to a certified relative gap of 1e-6 of each of our solvers and of
``auto`` (``lifted.solve``), pyscnn (squared loss; R-FISTA on the gated program, its AL on
the cone program, tolerance tightened until its objective is within 1e-6 of the best
feasible value, as in the grid), Clarabel and SCS where the program is within
``relu_solvers.CVXPY_LIMIT``. A method that stops short is shown with its status and
certified gap (ours) or its objective accuracy (peers). One process per solve, one thread.

Run: ``python benchmarks/relu_scaled.py [--timeout 120] [--rows grid-scaled,diabetes-raw,
breast-cancer-raw] [--rel 1e-2,1e-3] [--programs gated,cone] [--out FILE.jsonl]``; prints a
Markdown table (``--table FILE.jsonl`` reprints one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relu_solvers import ACC, CVXPY_LIMIT, SCALED_DATA, build, pyscnn_runs, run_child  # noqa: E402

SHAPES = {"grid-scaled": (2_000, 10, 500, "squared"), "diabetes-raw": (442, 10, 200, "squared"),
          "breast-cancer-raw": (569, 30, 200, "logistic")}
OURS = {"gated": ("fista", "active_set", "ssnal"), "cone": ("fista", "ssnal", "barrier")}


def make_row(data: str, program: str, rel: float) -> dict:
    """The row with ``beta`` set for relative ``beta`` ``rel`` (``relative_beta`` is linear
    in ``beta``; the gated program's, so that both programs share ``beta``)."""
    n, d, P, loss = SHAPES[data]
    row = {"data": data, "n": n, "d": d, "P": P, "program": "gated", "relaxation": "gated",
           "loss": loss, "bias": True, "beta": 1.0, "density": None}
    row["beta"] = rel / build(row).relative_beta()
    row.update(program=program, relaxation=program, rel_beta=rel)
    return row


def bench(row: dict, timeout: float) -> dict:
    res: dict = {"row": row}
    for name in OURS[row["program"]] + ("auto",):
        res[name] = run_child(row, f"solve:{name}", ACC, timeout)
    best = min((r["value"] for r in res.values()
                if isinstance(r, dict) and "value" in r and r.get("status") == "optimal"),
               default=np.inf)
    if row["loss"] == "squared":
        res["pyscnn"], best = pyscnn_runs(row, best, timeout, row["program"] == "gated")
    if row["n"] * row["P"] <= CVXPY_LIMIT[{"cone": "relu"}.get(row["program"], "gated")]:
        for backend in ("clarabel", "scs"):
            res[backend] = run_child(row, backend, ACC, timeout)
            r = res[backend]
            if r and np.isfinite(r.get("value", np.nan)) and r.get("viol", 1.0) <= 1e-9:
                best = min(best, r["value"])
    res["best"] = best
    return res


def _ours(r: dict | None) -> str:
    if not r:
        return "timeout"
    if "error" in r:
        return f"error: {r['error'][:60]}"
    if r.get("status") == "optimal":
        return f"{r['time']:.2f}"
    return f"not reached ({r.get('status')}, gap {r.get('rel_gap', np.nan):.0e}, {r['time']:.0f} s)"


def _peer(r: dict | None, best: float) -> tuple[str, float]:
    """Cell and time (inf unless within 1e-6 of ``best``)."""
    if not r:
        return "timeout", np.inf
    if "error" in r:
        return f"error: {r['error'][:60]}", np.inf
    if not np.isfinite(r.get("value", np.nan)):
        return f"failed ({r.get('status', 'no answer')}, {r['time']:.0f} s)", np.inf
    acc = (r["value"] - best) / abs(best)
    viol = r.get("viol", np.nan)
    if acc <= ACC and viol <= 1e-6:
        return f"{r['time']:.2f}", r["time"]
    if not viol <= 1e-6:
        return f"infeasible (cone violation {viol:.0e}, {r['time']:.0f} s)", np.inf
    return f"not reached ({acc:.0e}, {r['time']:.0f} s)", np.inf


def table(results: list[dict]) -> str:
    head = ("| data | program | rel. beta | beta | active | fista (s) | active_set (s) | "
            "ssnal (s) | barrier (s) | auto (s) | pyscnn (s) | clarabel (s) | scs (s) | "
            "best peer / auto |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for res in results:
        row, best = res["row"], res["best"]
        auto = res.get("auto")
        auto_t = auto["time"] if auto and auto.get("status") == "optimal" else np.inf
        cells = [row["data"], row["program"], f"{row['rel_beta']:.0e}", f"{row['beta']:.3g}",
                 f"{auto['active']:.2f}" if auto and "active" in auto else "-"]
        for name in ("fista", "active_set", "ssnal", "barrier"):
            cells.append(_ours(res[name]) if name in res else "-")
        cells.append(_ours(auto) + (f" (`{auto['solver']}`)" if auto and "solver" in auto
                                    else ""))
        peers = []
        runs = res.get("pyscnn")
        if runs:
            last = runs[-1]
            cell, t = _peer(last if "error" not in last else None, best)
            peers.append(t)
            cells.append(cell + (f" (tol {last['tol']:.0e})" if "tol" in last else ""))
        else:
            cells.append("n/a (squared loss only)" if row["loss"] != "squared" else "-")
        for backend in ("clarabel", "scs"):
            if backend in res:
                cell, t = _peer(res[backend], best)
                peers.append(t)
                cells.append(cell)
            else:
                cells.append("skipped (size)")
        fastest = min(peers, default=np.inf)
        cells.append(f"**{fastest / auto_t:.0f}x**" if np.isfinite(fastest) and
                     np.isfinite(auto_t) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per solve")
    parser.add_argument("--rows", default=",".join(SCALED_DATA))
    parser.add_argument("--rel", default="1e-2,1e-3")
    parser.add_argument("--programs", default="gated,cone")
    parser.add_argument("--out", default=None, help="append raw results (JSON lines) here")
    parser.add_argument("--table", default=None, help="print the table of a results file")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return
    results = []
    for data in args.rows.split(","):
        for rel in (float(v) for v in args.rel.split(",")):
            for program in args.programs.split(","):
                res = bench(make_row(data, program, rel), args.timeout)
                results.append(res)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(res, default=float) + "\n")
                print(table([res]).splitlines()[-1], flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
