"""Milliseconds per FISTA iteration on the gated program (float64, 200 iterations after a
warm-up of 5, no early stop, no Newton polish, no float32 phase) by ``n P d`` and device:
where a GPU starts to pay, the figure behind ``lift.solvers.GPU_MIN_WORK``.

Run: ``python benchmarks/relu_devices.py DEVICES`` with DEVICES a comma-separated list of
``cpu1`` (one thread, as the solvers use below ``SMALL_WORK``), ``cpu2`` (two threads) and
``cuda``; one JSON line a size.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import torch
from relu_solvers import grid_data

from lift.problems import TwoLayerReLU
from lift.solvers import run_solver

SIZES = [(200, 50, 5), (500, 100, 10), (1000, 200, 10), (2000, 500, 20), (10000, 500, 10),
         (10000, 2000, 20)]


def main(devices: list[str]) -> None:
    warnings.simplefilter("ignore")  # the budget is short of the tolerance on purpose
    for n, P, d in SIZES:
        X, y = grid_data(n, d, "squared")
        lifted = TwoLayerReLU(X, y, beta=0.01 * n, bias=False).lift(patterns=P,
                                                                    program="gated", seed=0)
        row: dict = {"n": n, "P": P, "d": d, "work": n * P * d}
        for dev in devices:
            device = "cpu" if dev.startswith("cpu") else dev
            kw = dict(device=device, threads=2 if dev == "cpu2" else 1, max_iters=200,
                      stall=0, newton=False, mixed=False, tol=1e-14)
            run_solver(lifted, "fista", **{**kw, "max_iters": 5})  # warm-up
            t0 = time.perf_counter()
            r = run_solver(lifted, "fista", **kw)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            row[dev] = round((time.perf_counter() - t0) / max(r.iterations, 1) * 1e3, 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","))
