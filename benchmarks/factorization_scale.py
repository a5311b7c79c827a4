"""One large certified completion: wall and CPU time, peak memory, test error.

Solves ``MatrixCompletion`` on ``low_rank(m, m, 10, fraction, noise=0.1)`` (seed 0, 0.05 % of
the entries held out) with ``solver="soft_impute"`` to a certified relative gap of ``1e-6``,
on one torch thread, and prints one JSON line (the process's CPU time shows how much of a
core it had on a shared machine; peak RSS is ``ru_maxrss``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/factorization_scale.py --m 20000 --fraction 0.01 --lam 7
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=20000)
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--lam", type=float, default=7.0)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from lift.problems import MatrixCompletion
    from lift.problems.factorization import data as fdata

    m = args.m
    d = fdata.low_rank(m, m, 10, fraction=args.fraction, noise=0.1, test_fraction=0.0005,
                       seed=0, dense_truth=False)
    prob = MatrixCompletion(d.train, lam=args.lam, shape=(m, m))
    t0, c0 = time.perf_counter(), time.process_time()
    sol = prob.lift().solve("soft_impute", tol=1e-6)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = prob.evaluate(sol.params, prob.check_test(d.test))
    out = {"m": m, "fraction": args.fraction, "lam": args.lam, "entries": prob.n_samples,
           "wall": wall, "cpu": cpu, "status": sol.status, "rel_gap": sol.rel_gap,
           "iterations": sol.iterations, "rank": sol.size,
           "bound": sol.info.get("spectral_bound"),
           "failure_probability": sol.info.get("failure_probability"),
           "test_rmse": ev.get("test_rmse"),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
