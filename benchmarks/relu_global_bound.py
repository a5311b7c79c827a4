r"""A candidate global lower bound for ReLU networks on higher-dimensional inputs, measured.

With sampled patterns, the dual point ``lambda`` (loss gradient at the solution) certifies a
bound on *every* ReLU network once the pricing value

.. math::

    M_\pm = \max_{\|u\|_2 \le 1} \pm\lambda^\top (\tilde X u)_+

is bounded from above: ``t = beta / max(M_+, M_-)`` makes ``t lambda`` dual feasible for the
complete program and ``-L^*(t lambda)`` is a lower bound. This script measures one convex,
cheap and provably valid upper bound on ``M``:

- terms with ``lambda_i < 0`` are bounded by linear minorants, ``(x)_+ >= theta_i x`` for any
  ``theta_i in [0, 1]``; terms with ``lambda_i > 0`` are written ``max_{theta in [0,1]} theta x``;
- so ``M <= max_{theta in [0,1]^p} ||c(theta_-) + B theta||`` (a box-constrained convex
  maximization), and its square is bounded by the dual of Shor's relaxation, which reduces to a
  ``(d+1) x (d+1)`` semidefinite program in ``p`` scalars:
  ``min sum_i 1/w_i + t  s.t.  [[I - sum_i w_i b_i b_i^T, c], [c^T, t]] >= 0``,
  jointly convex in ``(w, theta_-, t)``. Any feasible point gives a valid bound, evaluated
  here in floating point from the solver's ``w`` after checking ``I - K`` positive definite.

It is compared with the largest value a multi-start ascent finds (a lower estimate of ``M``),
and with the bound the library uses, branch and bound on a mixed-integer formulation
(:func:`lift.problems.relu.pricing_bound`, HiGHS, valid at any time limit; ``--time-limit``
seconds per sign).

Result (2026-11-29, 2 cores): the bound is far too loose to be useful: 7-11x the value found on
``toy2d`` and diabetes, 1.4-2.8x on wine and breast cancer (see BENCHMARKS.md). The relaxation
lets the positive terms pick any subset of samples, ignoring that an activation pattern is a
halfspace; a useful bound needs that geometry (Shor on the complementarity ``s_i (s_i - a_i^T
u) = 0``, or branch and bound over cones of ``u``).

Usage::

    python benchmarks/relu_global_bound.py [--time-limit 60]
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def upper_bound(A: np.ndarray, ell: np.ndarray) -> float:
    """A valid upper bound on ``max_{||u|| <= 1} sum_i ell_i (a_i^T u)_+`` (see above)."""
    import cvxpy as cp

    pos, neg = ell > 0, ell < 0
    B = (ell[pos][:, None] * A[pos]).T / 2  # theta = (1 + sigma) / 2, sigma in [-1, 1]
    d, p = B.shape
    w = cp.Variable(p, nonneg=True)
    theta = cp.Variable(int(neg.sum()))
    t = cp.Variable()
    c = (A[neg].T * ell[neg]) @ theta + B.sum(1)
    lmi = cp.bmat([[np.eye(d) - B @ cp.diag(w) @ B.T, cp.reshape(c, (d, 1), order="F")],
                   [cp.reshape(c, (1, d), order="F"), cp.reshape(t, (1, 1), order="F")]])
    cp.Problem(cp.Minimize(cp.sum(cp.inv_pos(w)) + t),
               [lmi >> 0, theta >= 0, theta <= 1]).solve(solver="CLARABEL")
    wv, th = np.maximum(w.value, 1e-300), np.clip(theta.value, 0, 1)
    while True:  # shrink w until I - K is certainly positive definite
        S = np.eye(d) - (B * wv) @ B.T
        if np.linalg.eigvalsh(S).min() > 1e-9:
            break
        wv = 0.999 * wv
    cv = (A[neg].T * ell[neg]) @ th + B.sum(1)
    return float(np.sqrt(np.sum(1 / wv) + cv @ np.linalg.solve(S, cv)))


def best_found(A: np.ndarray, ell: np.ndarray, starts: int = 200) -> float:
    """The largest pricing value a multi-start ascent finds (a lower estimate of M)."""
    from lift.problems.relu.colgen import price

    vals, _ = price(A, ell, cone=True, starts=starts, iters=50, seed=0)
    return float(vals[: vals.size // 2].max())


def main() -> None:
    import argparse

    from lift.datasets import load
    from lift.problems import TwoLayerReLU
    from lift.problems.relu import pricing_bound

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds of branch and bound per sign")
    limit = parser.parse_args().time_limit
    rows = [("toy2d", 0.05, {}), ("teacher", 0.1, {"d": 3, "n": 100}),
            ("teacher", 0.1, {"d": 5, "n": 100}), ("diabetes", 1.0, {}), ("wine", 0.1, {}),
            ("breast_cancer", 0.5, {})]
    print("| data | n | d+1 | beta | value (100 sampled patterns) | M_+ found / Shor / B&B | "
          "M_- found / Shor / B&B | B&B closed | s |")
    print("|---|---:|---:|---:|---:|---|---|---|---:|")
    for name, beta, kwargs in rows:
        data = load(name, **kwargs)
        prob = TwoLayerReLU(data.X_train, data.y_train, beta=beta, loss=data.loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = prob.lift(patterns=100, seed=0).solve()
        lam = prob.loss.project_dual(prob.loss.grad(prob.predict(sol.params, prob.X), prob.y),
                                     prob.y)
        t0 = time.perf_counter()
        cells, closed = [], []
        for s in (1.0, -1.0):
            bb = pricing_bound(prob.Xa, s * lam, time_limit=limit)
            found = max(best_found(prob.Xa, s * lam), bb.value)
            cells.append(f"{found:.3g} / {upper_bound(prob.Xa, s * lam):.3g} / {bb.upper:.3g}")
            closed.append("yes" if bb.exact else f"no ({bb.time:.0f} s)")
        label = name + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"| {label} | {prob.n} | {prob.Xa.shape[1]} | {beta:g} | {sol.value:.5g} | "
              f"{cells[0]} | {cells[1]} | {', '.join(closed)} | "
              f"{time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
