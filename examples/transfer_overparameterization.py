"""Hardt, Ma & Recht at small scale: overparameterized SGD learns a linear system.

A random stable system of order ``n`` (poles inside radius 0.95) is driven by N(0, 1) inputs;
noisy outputs are recorded. As in Hardt, Ma & Recht, SGD (Adam with gradient clipping and the
stabilizing pole scaling of ``project=True``) sees *fresh* sequences at every step, drawn from
the true system (``fresh=True``), and fits models of order ``n' = n, 2n, 4n`` in controllable
canonical form; ``lift.compare`` runs the sweep and puts it beside the convex program. The
certified bound is the least-squares optimum over *all* impulse responses on the recorded data
(every system of every order is one): no run goes below it, and the larger orders reach
smaller impulse-response errors within the same step budget (the right panel: fitted order
against error reached).

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

import lift  # noqa: E402
from lift.errors import InaccurateSolutionWarning  # noqa: E402
from lift.problems.transfer import LinearSystemID, lds_data  # noqa: E402


def run(out: str | pathlib.Path = "transfer_overparameterization.png", order: int = 2,
        orders=(2, 4, 8), seeds: int = 2, steps: int = 300, length: int = 24,
        sequences: int = 16, noise: float = 0.1, seed: int = 1, fresh: bool = True) -> dict:
    """Train, plot and return the numbers.

    Returns
    -------
    dict
        ``bound`` (certified), ``truth`` (objective of the true system), ``reached``
        (order -> list of final objectives over seeds), ``impulse_error`` (order -> list of
        the max impulse-response errors against the true system), ``table`` (the
        comparison's table), ``curves`` (order -> trajectory of the first seed) and ``path``.
    """
    u, y, system = lds_data(order, length, sequences, noise=noise, seed=seed)
    prob = LinearSystemID(u, y, max(orders), project=True, system=system, noise=noise,
                          fresh=fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)  # a relaxation's gap
        cmp = lift.compare(prob, sizes=list(orders), seeds=seeds, solver="lstsq", n_jobs=1,
                           train={"optimizer": "adam", "steps": steps, "lr": 3e-2,
                                  "clip": 100.0})
    runs = cmp.runs
    reached = {k: runs[runs["size"] == k]["objective"].tolist() for k in orders}
    errors = {k: runs[runs["size"] == k]["impulse_error"].tolist() for k in orders}
    curves = {k: (cmp.trajectories[(m, k, s)]["step"], cmp.trajectories[(m, k, s)]["objective"])
              for (m, k, s) in cmp.trajectories if s == 0}
    bound, truth = float(cmp.global_bound), prob.objective(system)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    for k in orders:
        ax.semilogy(curves[k][0], np.asarray(curves[k][1]) - bound, label=f"order {k}")
    ax.axhline(truth - bound, c="k", ls=":", label="true system")
    ax.set_xlabel("Adam step" + (" (fresh sequences each step)" if fresh else ""))
    ax.set_ylabel("objective on the data - certified bound")
    ax.set_title(f"true order {order}")
    ax.legend()
    for k in orders:
        bx.scatter([k] * len(errors[k]), errors[k], c="C0")
    bx.plot(list(orders), [min(errors[k]) for k in orders], c="C0")
    bx.set_xscale("log", base=2)
    bx.set_yscale("log")
    bx.set_xticks(list(orders), [str(k) for k in orders])
    bx.set_xlabel("fitted order n'")
    bx.set_ylabel("max impulse-response error reached")
    bx.set_title("overparameterization helps (Hardt, Ma & Recht)")
    fig.tight_layout()
    path = pathlib.Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"bound": bound, "truth": truth, "reached": reached, "impulse_error": errors,
            "table": cmp.table, "curves": curves, "path": path}


if __name__ == "__main__":
    res = run()
    print(res["table"][["method", "size", "seed", "objective", "rel_gap", "bound",
                        "impulse_error"]].to_string())
