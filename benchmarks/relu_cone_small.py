"""Small and ill-conditioned cone programs (issue 11): one method each, a JSON line per row.

Rows: ``2d`` (14 points in 2-D, every pattern, ``beta = 0.01``: ill-conditioned), ``diabetes``
(the first 354 samples, 10-D, standardized, 200 sampled patterns, ``beta = 1``) and
``breast_cancer`` (the first 455 samples, 30-D, logistic, 200 sampled patterns, ``beta =
0.5``); and at very small ``beta``, where ``ssnal`` and projected FISTA stall (issue 11):
``small_beta`` (the grid's data, ``n = 500, d = 10``, 200 patterns, ``beta = 0.02``: every
group active), ``small_beta_logistic`` (the same data, logistic, ``beta = 0.002``) and
``grid80`` (the grid's 80 % squared cone row: ``n = 2,000, d = 20``, 500 patterns, ``beta =
0.102``), ``grid_logistic_d10`` and ``grid_logistic_d20`` (the grid's logistic cone rows with
40 % and 71 % of the groups active); ``diabetes@BETA`` and ``wine@BETA`` (178 x 13, 150
patterns) at any ``beta``. Small programs, where ``auto`` chooses between Clarabel and ours:
``iris@BETA`` (150 x 4, 100 patterns), ``rand@BETA`` (60 x 3 Gaussian, 300 sampled patterns),
``bclog@BETA`` (breast cancer, 120 x 8, logistic, 100 patterns) and ``irislog@BETA``
(virginica against the rest, logistic, 60 patterns). Methods: any ``solver=`` of ``lifted.solve``
(``ssnal``, ``barrier``, ``fista``, ``clarabel``, ``auto``, ...).

Each method solves a small program once before the timed solves (first calls are not timed).
Run: ``python benchmarks/relu_cone_small.py ROW METHOD[,METHOD...]``, e.g.
``python benchmarks/relu_cone_small.py 2d ssnal,clarabel,fista``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

#: the rows at very small beta: (n, d, patterns, beta, loss) on the grid's data
SMALL_BETA = {"small_beta": (500, 10, 200, 0.02, "squared"),
              "small_beta_logistic": (500, 10, 200, 0.002, "logistic"),
              "grid80": (2_000, 20, 500, 0.102, "squared"),
              "grid_logistic_d10": (2_000, 10, 500, 0.000331, "logistic"),
              "grid_logistic_d20": (2_000, 20, 500, 0.000548, "logistic")}


def build(row: str):
    """The cone program of ``row``; ``diabetes@BETA`` and ``wine@BETA`` set ``beta``."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

    from lift.problems import TwoLayerReLU

    if row in SMALL_BETA:
        import os

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from relu_solvers import grid_data

        n, d, P, beta, loss = SMALL_BETA[row]
        X, y = grid_data(n, d, loss)
        return TwoLayerReLU(X, y, beta=beta, loss=loss).lift(patterns=P, program="cone",
                                                             seed=0)
    if row == "2d":
        rng = np.random.default_rng(1)
        X = rng.uniform(-1, 1, (14, 2))
        y = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + 0.05 * rng.standard_normal(14)
        return TwoLayerReLU(X, y, beta=0.01).lift(program="cone")
    name, _, given = row.partition("@")
    patterns = 200
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
        prob = TwoLayerReLU(X[:354], y[:354], beta=float(given or 1.0))
    elif name == "wine":  # all 178 samples, 13-D, the class index as a standardized target
        X, y = load_wine(return_X_y=True)
        X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
        prob, patterns = TwoLayerReLU(X, y, beta=float(given or 0.05)), 150
    elif name in ("iris", "irislog"):
        X, y = load_iris(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        if name == "iris":
            prob = TwoLayerReLU(X, (y - y.mean()) / y.std(), beta=float(given))
            patterns = 100
        else:
            prob = TwoLayerReLU(X, np.where(y == 1, 1.0, -1.0), beta=float(given),
                                loss="logistic")
            patterns = 60
    elif name == "rand":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((60, 3))
        y = np.sin(X @ np.array([1.0, -2.0, 0.5])) + 0.1 * rng.standard_normal(60)
        prob, patterns = TwoLayerReLU(X, y, beta=float(given)), 300
    elif name == "bclog":
        X, y = load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        prob = TwoLayerReLU(X[:120, :8], 2.0 * y[:120] - 1, beta=float(given), loss="logistic")
        patterns = 100
    elif row == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        prob = TwoLayerReLU(X[:455], 2.0 * y[:455] - 1, beta=0.5, loss="logistic")
    else:
        raise SystemExit(f"unknown row {row!r}: 2d, diabetes[@BETA], wine[@BETA], "
                         f"iris@BETA, irislog@BETA, rand@BETA, bclog@BETA, breast_cancer "
                         f"or one of {sorted(SMALL_BETA)}")
    return prob.lift(patterns=patterns, program="cone", seed=0)


def main(argv: list[str]) -> None:
    row, methods = argv[0], argv[1].split(",")
    lifted = build(row)
    warnings.simplefilter("ignore")
    small = build("2d")
    for method in methods:  # first calls (cvxpy's canonicalization, torch) are not timed
        small.solve(solver=method, tol=1e-6)
    for method in methods:
        t0 = time.perf_counter()
        sol = lifted.solve(solver=method, tol=1e-6)
        print(json.dumps({"row": row, "method": method, "time": time.perf_counter() - t0,
                          "status": sol.status, "value": sol.value, "rel_gap": sol.rel_gap,
                          "solver": sol.solver, "relative_beta": lifted.relative_beta(),
                          "size": lifted.size_hint(),
                          "message": sol.message[:200]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
