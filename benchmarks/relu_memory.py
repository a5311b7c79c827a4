"""Peak memory of the fast ReLU solvers at n = 100,000, d = 100, P = 2,000 (CPU).

Run: ``python benchmarks/relu_memory.py [gated|relu] [max_iters]``. Prints one JSON line with
the peak resident set size (``ru_maxrss``) of this process, the time per iteration and the
certified relative gap reached. Run each relaxation in its own process so the peak is its own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings

import numpy as np


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs, targets from a planted width-5 ReLU network plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 5)) / np.sqrt(d)
    y = np.maximum(X @ W, 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    return X, y


def main(relaxation: str = "gated", max_iters: int = 20, n: int = 100_000, d: int = 100,
         P: int = 2_000) -> dict:
    from lift.errors import ConvergenceWarning
    from lift.problems import TwoLayerReLU

    X, y = synthetic(n, d)
    prob = TwoLayerReLU(X, y, beta=1e-2 * n)
    t0 = time.perf_counter()
    lifted = prob.lift(patterns=P, relaxation=relaxation, seed=0)
    t_lift = time.perf_counter() - t0
    solver = "fista" if relaxation == "gated" else "al"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = lifted.solve(solver=solver, tol=1e-6, max_iters=max_iters, device="cpu")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux: KiB)
    out = {"relaxation": relaxation, "n": n, "d": d, "P": lifted.P, "iterations": sol.iterations,
           "solve_s": sol.time, "certificate_s": sol.info.get("certificate_time"),
           "lift_s": t_lift, "rel_gap": sol.rel_gap, "status": sol.status,
           "peak_rss_gib": peak / 2**30}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "gated", int(args[1]) if len(args) > 1 else 20)
