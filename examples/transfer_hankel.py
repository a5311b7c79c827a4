"""Hankel singular values reveal a system's order.

Input/output sequences of a random stable system of order 4 give, through the lift (least
squares over impulse responses, or its Hankel nuclear-norm regularized version on noisy data),
an impulse response whose Hankel matrix has 4 significant singular values; the Ho–Kalman
realization at that order reproduces the impulse response.

Run ``python examples/transfer_hankel.py`` to write ``transfer_hankel.png``.
"""

from __future__ import annotations

import pathlib
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lift.errors import InaccurateSolutionWarning  # noqa: E402
from lift.problems.transfer import LinearSystemID, impulse_response, lds_data  # noqa: E402


def run(out: str | pathlib.Path = "transfer_hankel.png", order: int = 4, length: int = 40,
        sequences: int = 6, noise: float = 0.02, reg: float = 0.5, seed: int = 0) -> dict:
    """Identify, plot and return the numbers.

    Returns
    -------
    dict
        ``noiseless`` and ``noisy`` (Hankel singular values), ``orders`` (the realization
        orders read off them), ``impulse_error`` (max error of the noiseless realization's
        impulse response) and ``path``.
    """
    svs, orders = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        u, y, system = lds_data(order, length, sequences, seed=seed)
        prob = LinearSystemID(u, y, 8)
        sol = prob.lift().solve()
        svs["noiseless"], orders["noiseless"] = sol.info["hankel_singular_values"], sol.size
        err = float(np.max(np.abs(prob.impulse(sol.params)
                                  - impulse_response(*system, length))))
        u, y, _ = lds_data(order, length, sequences, noise=noise, seed=seed)
        noisy = LinearSystemID(u, y, 8, reg=reg)
        lifted = noisy.lift(rank_tol=1e-3)
        nsol = lifted.solve(solver="clarabel")
        svs["noisy"], orders["noisy"] = (nsol.info["hankel_singular_values"],
                                         nsol.info["realization_order"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.semilogy(np.arange(1, svs["noiseless"].size + 1), svs["noiseless"], "o-",
                label="noiseless, least squares")
    ax.semilogy(np.arange(1, svs["noisy"].size + 1), svs["noisy"], "s-",
                label=f"noise {noise}, nuclear norm (reg {reg})")
    ax.axvline(order + 0.5, c="k", ls=":", label=f"true order {order}")
    ax.set_xlabel("index")
    ax.set_ylabel("Hankel singular value")
    ax.legend()
    fig.tight_layout()
    path = pathlib.Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"noiseless": svs["noiseless"], "noisy": svs["noisy"], "orders": orders,
            "impulse_error": err, "path": path}


if __name__ == "__main__":
    res = run()
    print(res["orders"], res["impulse_error"])
