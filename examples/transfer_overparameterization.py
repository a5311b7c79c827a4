"""Hardt, Ma & Recht at small scale: overparameterized SGD learns a linear system.

A random stable system of order 2 (poles inside radius 0.95) is driven by N(0, 1) inputs;
noisy outputs are recorded. Adam with gradient clipping (and the stabilizing pole scaling
of ``project=True``) fits models of order ``n' = n, 2n, 4n`` in controllable canonical form.
The certified bound is the least-squares optimum over *all* impulse responses (every system of
every order is one); no run goes below it, and the larger orders get closer within the same
step budget.

Run ``python examples/transfer_overparameterization.py`` to write
``transfer_overparameterization.png``.
"""

from __future__ import annotations

import pathlib
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lift.errors import InaccurateSolutionWarning  # noqa: E402
from lift.problems.transfer import LinearSystemID, lds_data  # noqa: E402
from lift.solvers.sgd import TrainConfig, train  # noqa: E402


def run(out: str | pathlib.Path = "transfer_overparameterization.png", order: int = 2,
        orders=(2, 4, 8), seeds: int = 2, steps: int = 300, length: int = 24,
        sequences: int = 16, noise: float = 0.1, seed: int = 1) -> dict:
    """Train, plot and return the numbers.

    Returns
    -------
    dict
        ``bound`` (certified), ``truth`` (objective of the true system), ``reached``
        (order -> list of final objectives over seeds), ``curves`` (order -> trajectory of
        the first seed) and ``path``.
    """
    u, y, system = lds_data(order, length, sequences, noise=noise, seed=seed)
    prob = LinearSystemID(u, y, max(orders[0], 1), project=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)  # a relaxation's gap
        bound = prob.lift().solve().global_bound
    config = TrainConfig(optimizer="adam", steps=steps, lr=3e-2, clip=100.0)
    reached: dict[int, list[float]] = {}
    curves: dict[int, tuple[list, list]] = {}
    for k in orders:
        reached[k] = []
        for s in range(seeds):
            model = prob.model(k, seed=s)
            res = train(prob, model, config, seed=s)
            prob.project_(model)
            reached[k].append(prob.objective(model))
            if s == 0:
                curves[k] = (res.trajectory["step"], res.trajectory["objective"])
    truth = prob.objective(system)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k in orders:
        ax.semilogy(curves[k][0], np.asarray(curves[k][1]) - bound, label=f"order {k}")
    ax.axhline(truth - bound, c="k", ls=":", label="true system")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("objective - certified bound")
    ax.set_title(f"true order {order}: overparameterized fits get closer")
    ax.legend()
    fig.tight_layout()
    path = pathlib.Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"bound": bound, "truth": truth, "reached": reached, "curves": curves,
            "path": path}


if __name__ == "__main__":
    res = run()
    print({k: v for k, v in res.items() if k != "curves"})
