"""One cone-program row of issue 11 and one method; prints a JSON line (time, value, status).

Rows: the teacher data of ``relu_solvers.py`` (seed 0) without bias, ``P`` sampled gates,
``beta`` absolute. Methods: our ``al`` / ``active_set`` (certified relative gap ``tol``),
``pyscnn`` (its AL on the same gates and scaling, ``lam = beta / n``), ``clarabel`` / ``scs``
(cvxpy). ``viol`` is the largest cone violation relative to the largest prediction.

Run: ``python benchmarks/relu_cone_rows.py N BETA P D METHOD [TOL [LOSS [DEVICE]]]``, e.g.
``python benchmarks/relu_cone_rows.py 2000 5 500 20 al`` (wrap it in ``timeout``). METHOD may
be ``auto`` (``lifted.solve``; the solver it ended with is printed); LOSS ``squared`` (the
default) or ``logistic`` (the grid's labels); DEVICE the torch device of our solvers (``cpu``,
the default, or ``cuda``; ``auto`` takes the library's default, CUDA when torch sees a GPU).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
from relu_solvers import _match_gates, _violation, grid_data


def build(n: int, beta: float, P: int, d: int, loss: str = "squared"):
    from lift.problems import TwoLayerReLU

    X, y = grid_data(n, d, loss)
    return TwoLayerReLU(X, y, beta=beta, bias=False, loss=loss).lift(patterns=P, program="cone",
                                                                     seed=0)


def pyscnn(lifted, tol: float) -> tuple[np.ndarray, np.ndarray]:
    from scnn.metrics import Metrics
    from scnn.models import ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL

    prob = lifted.problem
    model = ConvexReLU(lifted.gates.T)
    m, _ = optimize_model(model, AL(model, tol=tol, constraint_tol=tol),
                          Metrics(metric_freq=10**9), prob.Xa, prob.y,
                          regularizer=NeuronGL1(prob.beta / prob.n), return_convex=True,
                          unitize_data=False, dtype="float64")
    order = _match_gates(np.asarray(m.G).T, lifted.gates)
    V, W = np.zeros_like(lifted.gates), np.zeros_like(lifted.gates)
    V[order] = np.asarray(m.parameters[0])[0]
    W[order] = np.asarray(m.parameters[1])[0]
    return V, W


def main(argv: list[str]) -> None:
    n, beta, P, d, method = int(argv[0]), float(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    tol = float(argv[5]) if len(argv) > 5 else 1e-6
    loss = argv[6] if len(argv) > 6 else "squared"
    device = argv[7] if len(argv) > 7 else "cpu"
    lifted = build(n, beta, P, d, loss)
    out: dict = {"n": n, "beta": beta, "P": P, "d": d, "loss": loss, "method": method,
                 "tol": tol, "device": device}
    warnings.simplefilter("ignore")
    gpu = device.startswith("cuda") or (method == "auto" and _cuda())
    if gpu:  # the context is made before the clock starts
        import torch

        torch.zeros(1, device="cuda")
    t0 = time.perf_counter()
    if method == "pyscnn":
        V, W = pyscnn(lifted, tol)
        out["time"] = time.perf_counter() - t0
    elif method == "auto":
        sol = lifted.solve(solver="auto", tol=tol)
        out["time"] = time.perf_counter() - t0
        out.update(status=sol.status, gap=sol.rel_gap, solver=sol.solver, msg=sol.message,
                   device=sol.info.get("device", "library default"))
        V, W = sol.info["warm_start"]["V"], sol.info["warm_start"]["W"]
    else:
        from lift.solvers import run_solver

        kw = {} if method in ("clarabel", "scs") else {"device": device}
        r = run_solver(lifted, method, tol=tol, **kw)
        out["time"] = time.perf_counter() - t0
        out.update(status=r.status, gap=r.info.get("rel_gap"), iters=r.iterations,
                   msg=r.message)
        V, W = r.primal["V"], r.primal["W"]
    out["value"] = lifted.program_value({"V": V, "W": W})
    out["viol"] = _violation(lifted, V, W)
    out["active"] = int((np.linalg.norm(V, axis=1) > 0).sum()
                        + (np.linalg.norm(W, axis=1) > 0).sum())
    if gpu:
        import torch

        out["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(out), flush=True)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main(sys.argv[1:])
