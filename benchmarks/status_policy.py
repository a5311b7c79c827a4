r"""How often the conic backends end ``"optimal"`` under the strict status policy.

The library reports ``"optimal"`` only when the relative duality gap it certifies itself is at
most ``tol``. Conic backends meet ``tol`` on their own residuals, so :func:`lift.solve` asks
them for tighter residuals and re-solves once, tighter still, when the certificate falls
short. This script solves a seeded population of small ReLU programs (cone and gated;
squared, logistic and hinge losses; 1-D and 2-D data, exact patterns) and each family's
example with Clarabel and SCS at ``tol`` and counts, per backend:

- ``first``: certified optimal after the first solve (the backend's own "optimal" alone);
- ``final``: certified optimal after the re-solve;
- ``resolved``: how many needed the re-solve; the largest certified gap among the rest.

Usage::

    python benchmarks/status_policy.py --cases 40 --tol 1e-6
"""

from __future__ import annotations

import argparse
import collections
import time
import warnings

import numpy as np


def relu_cases(count: int, seed: int = 0):
    """Seeded small ReLU problems over losses, programs and dimensions."""
    from lift.problems import TwoLayerReLU

    rng = np.random.default_rng(seed)
    for k in range(count):
        d = 1 + k % 2
        n = int(rng.integers(6, 16))
        X = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-1, 1)
        loss = ("squared", "logistic", "hinge")[k % 3]
        y = rng.standard_normal(n)
        if loss != "squared":
            y = np.where(y > 0, 1.0, -1.0)
        beta = 10.0 ** rng.uniform(-3, 0)
        program = ("cone", "gated")[(k // 3) % 2]
        yield f"relu-{loss}-{program}-{k}", TwoLayerReLU(X, y, beta, loss=loss).lift(
            program=program)


def family_cases():
    """Each registered family's example (its default lift)."""
    from lift.families import families

    for name, fam in families().items():
        if fam.example is not None:
            yield name, fam.example().lift()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    from lift.solvers import CONIC_BACKENDS, run_solver, usable_solvers

    backends = [b for b in ("clarabel", "scs") if b in usable_solvers()]
    stats = {b: collections.Counter() for b in backends}
    worst = {b: 0.0 for b in backends}
    t0 = time.perf_counter()
    cases = list(relu_cases(args.cases)) + list(family_cases())
    for name, lifted in cases:
        for b in backends:
            if b not in CONIC_BACKENDS or "bisection" in lifted.solvers():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                first = lifted.finish(run_solver(lifted, b, args.tol), b, args.tol)
                final = lifted.solve(solver=b, tol=args.tol)
            stats[b]["cases"] += 1
            stats[b]["first"] += first.status == "optimal"
            stats[b]["final"] += final.status == "optimal"
            stats[b]["resolved"] += "re-solved" in final.message
            if final.status != "optimal":
                worst[b] = max(worst[b], final.rel_gap)
                print(f"  {name} {b}: {final.status} rel_gap {final.rel_gap:.1e}")
    for b in backends:
        s = stats[b]
        print(f"{b}: {s['first']}/{s['cases']} optimal after the first solve, {s['final']}/"
              f"{s['cases']} after the re-solve ({s['resolved']} re-solved); largest gap of "
              f"the rest {worst[b]:.1e}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
