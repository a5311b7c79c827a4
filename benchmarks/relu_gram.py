"""The weighted gram ``A^T diag(w) A`` of the ReLU lift's pattern operator, two ways.

``A = [D_1 Xa, ..., D_P Xa]`` (``n x P d``). ``PatternOperator.gram`` sums on the CPU only
the blocks ``j >= i``, each as its ``d (d + 1) / 2`` distinct entries and over pattern
``i``'s samples only (about ``n P^2 d^2 / 8`` multiply-adds in ``P`` thin products);
``PatternOperator._stacked_gram`` (its path on a GPU) takes the upper triangle of the stacked
blocks' gram (``n (P d)^2 / 2`` in a few large products). ``barrier`` forms it at every
Newton step with the logistic loss, ``ssnal`` once for its covariance system, and the
screened Newton polish at each of its steps.

Run: ``python benchmarks/relu_gram.py [--sizes 10000x10x500,10000x20x500] [--threads 1,2]
[--repeats 2]``; prints a Markdown table (the fastest of ``--repeats`` runs of each, in
turn) and checks that the two agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lift.problems.relu.operators import PatternOperator


def best_of(fn, args: tuple, repeats: int) -> tuple[float, torch.Tensor]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000x10x500,10000x10x500,10000x20x500",
                        help="comma-separated n x d x P")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="float64", help="float64 or float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    print("| n | d | P | threads | dtype | stacked blocks (s) | by pattern (s) | speed-up | "
          "max rel. difference |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        n, d, P = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, d))
        D = (X @ rng.standard_normal((d, P)) > 0).astype(float)
        op = PatternOperator(X, D, device="cpu")
        w = torch.as_tensor(rng.uniform(0.0, 0.25, n))  # logistic second derivatives
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            old, G0 = best_of(op._stacked_gram, (w, dtype), args.repeats)
            new, G1 = best_of(op.gram, (w, dtype), args.repeats)
            diff = float((G1 - G0).abs().max() / G0.abs().max())
            print(f"| {n:,} | {d} | {P:,} | {threads} | {args.dtype} | {old:.2f} | {new:.2f} | "
                  f"{old / new:.2f}x | {diff:.0e} |", flush=True)
            del G0, G1


if __name__ == "__main__":
    main()
