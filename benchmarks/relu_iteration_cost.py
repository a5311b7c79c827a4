"""Cost of one FISTA iteration of the gated ReLU program against the floor of its products.

An iteration needs at least ``A U`` and ``A^T r`` with ``A = [D_1 X, ..., D_P X]``: two
``(n x P)(P x d)``-sized products. The floor is two bare torch GEMMs of those shapes on random
matrices; the iteration is ``GatedFISTA`` (no Newton polish, one dtype throughout, a tolerance
it cannot reach, so it runs exactly ``--iters`` iterations: backtracking, extrapolation,
prox, certificate and Python included). Both are timed in the same process, interleaved
(``--repeats`` rounds, the fastest of each kept), on one torch thread.

Run: ``python benchmarks/relu_iteration_cost.py [--sizes 2000x20x500,10000x20x500]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch


def floor_ms(n: int, d: int, P: int, dtype: torch.dtype, reps: int = 30) -> float:
    """Two bare GEMMs, ``(n x P)(P x d)`` and ``(P x n)(n x d)``, in milliseconds."""
    A = torch.randn(n, P, dtype=dtype)
    B = torch.randn(P, d, dtype=dtype)
    C = torch.randn(n, d, dtype=dtype)
    A @ B, A.T @ C
    t0 = time.perf_counter()
    for _ in range(reps):
        A @ B, A.T @ C
    return (time.perf_counter() - t0) / reps * 1e3


def iteration_ms(lifted, dtype: str, iters: int) -> tuple[float, float]:
    """Milliseconds per FISTA iteration, and forward products per iteration."""
    from lift.problems.relu import operators
    from lift.solvers import run_solver

    calls = {"forward": 0}
    forward = operators.PatternOperator.forward

    def counted(self, U):
        calls["forward"] += 1
        return forward(self, U)

    operators.PatternOperator.forward = counted
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            run = run_solver(lifted, "fista", tol=1e-300, device="cpu", dtype=dtype,
                             max_iters=iters, newton=False, mixed=False, stall=0)
            elapsed = time.perf_counter() - t0
    finally:
        operators.PatternOperator.forward = forward
    return elapsed / run.iterations * 1e3, calls["forward"] / run.iterations


def main(argv: list[str] | None = None) -> None:
    from lift.problems import TwoLayerReLU

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000x20x500,10000x20x500", help="n x d x P, ...")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| n | d | P | dtype | floor: 2 GEMMs (ms) | FISTA iteration (ms) | ratio | "
          "forward products per iteration |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        n, d, P = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, d))
        y = np.maximum(X @ rng.standard_normal((d, 5)), 0.0) @ rng.standard_normal(5)
        lifted = TwoLayerReLU(X, y, beta=5.0, bias=False).lift(patterns=P, program="gated",
                                                                seed=0)
        for name, dt in (("float64", torch.float64), ("float32", torch.float32)):
            fl, it, fw = np.inf, np.inf, 0.0
            for _ in range(args.repeats):
                fl = min(fl, floor_ms(n, d, P, dt))
                ms, fw = iteration_ms(lifted, name, args.iters)
                it = min(it, ms)
            print(f"| {n:,} | {d} | {P} | {name} | {fl:.2f} | {it:.2f} | {it / fl:.2f} | "
                  f"{fw:.2f} |", flush=True)


if __name__ == "__main__":
    main()
