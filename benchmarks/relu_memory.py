"""Peak memory of the fast ReLU solvers at n = 100,000, d = 100, P = 2,000 (CPU).

Run: ``python benchmarks/relu_memory.py [gated|relu] [max_iters] [full] [solver=NAME]``. Prints
one JSON line with the peak resident set size (``ru_maxrss``) of this process, the time per
iteration and the certified relative gap reached. Run each relaxation in its own process so the
peak is its own. The solver is ``fista`` (gated) or ``al`` (ReLU) unless ``solver=`` names
another; ``max_iters`` is passed to ``fista`` and ``al`` only (``active_set`` runs to its
certificate).

By default the solver runs through the registry and the library's certificate is recomputed
(chunked ``dual_bound`` with the solver's multipliers, ``predictions``); ``full`` goes through
``lifted.solve``, which also recovers and reduces the network.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings

from relu_solvers import grid_data


def _solver_and_certificate(lifted, solver: str, max_iters: int) -> dict:
    """The solver, then the library's certificate at its point (no network recovery)."""
    from lift.problems.relu import dual_bound
    from lift.solvers import run_solver

    prob = lifted.problem
    t0 = time.perf_counter()
    budget = {} if solver == "active_set" else {"max_iters": max_iters}
    run = run_solver(lifted, solver, tol=1e-6, device="cpu", **budget)
    t1 = time.perf_counter()
    V, W = run.primal["V"], run.primal["W"]
    value = lifted.program_value({"V": V, "W": W})
    lam = prob.loss.grad(lifted.predictions(V, W), prob.y)
    lower, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, lifted.D, lifted.cone,
                          multipliers=run.primal.get("multipliers"))
    t2 = time.perf_counter()
    return {"iterations": run.iterations, "solve_s": t1 - t0,
            "s_per_iteration": (t1 - t0) / max(run.iterations, 1),
            "certificate_s": t2 - t1, "status": run.status,
            "solver_rel_gap": run.info["rel_gap"],
            "rel_gap": (value - lower) / abs(value)}


def main(relaxation: str = "gated", max_iters: int = 20, n: int = 100_000, d: int = 100,
         P: int = 2_000, full: bool = False, solver: str | None = None) -> dict:
    from lift.errors import ConvergenceWarning
    from lift.problems import TwoLayerReLU

    X, y = grid_data(n, d, "squared")
    prob = TwoLayerReLU(X, y, beta=1e-2 * n)
    t0 = time.perf_counter()
    lifted = prob.lift(patterns=P, program={"relu": "cone"}.get(relaxation, relaxation), seed=0)
    t_lift = time.perf_counter() - t0
    solver = solver or ("fista" if relaxation == "gated" else "al")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if full:
            budget = {} if solver == "active_set" else {"max_iters": max_iters}
            sol = lifted.solve(solver=solver, tol=1e-6, device="cpu", **budget)
            res = {"iterations": sol.iterations, "solve_s": sol.time, "rel_gap": sol.rel_gap,
                   "status": sol.status}
        else:
            res = _solver_and_certificate(lifted, solver, max_iters)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux: KiB)
    out = {"relaxation": relaxation, "solver": solver, "n": n, "d": d, "P": lifted.P,
           "lift_s": t_lift, **res,
           "peak_rss_gib": peak / 2**30}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    named = dict(a.split("=", 1) for a in args[2:] if "=" in a)
    main(args[0] if args else "gated", int(args[1]) if len(args) > 1 else 20,
         full="full" in args[2:], solver=named.get("solver"))
