"""A classic filter's frequency response fitted at a lower order, with its certificate.

A 6th-order Chebyshev type-I low-pass design (``scipy.signal.cheby1``) is sampled on the
unit circle and fitted by rational functions of lower type: the minimax fit by bisection
(second-order-cone feasibility programs, half-planes rotated by the Sanathanan–Koerner phase),
beside the Sanathanan–Koerner least-squares fit. The figure shows the data, the fits and their
error curves. On the real line the same bisection certifies its optimum: e^x on [-3, 3] at
type (2, 2) (Boyd & Vandenberghe's exercise), with the bracket [global_bound, value].

Run ``python examples/transfer_filter.py`` to write ``transfer_filter.png``.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lift.problems.transfer import RationalFit, classic, filter_response  # noqa: E402


def run(out: str | pathlib.Path = "transfer_filter.png", kind: str = "cheby1",
        order: int = 6, fit_degree: int = 4, points: int = 200) -> dict:
    """Fit, plot and return the numbers.

    Returns
    -------
    dict
        ``minimax`` and ``sk`` (max errors of the two fits on the data), ``bracket``
        (``(global_bound, value)`` of e^x at type (2, 2)), ``pole_radius`` (largest pole
        modulus of the minimax fit) and ``path``.
    """
    z, h, _ = filter_response(kind, order, points=points)
    prob = RationalFit(z, h, fit_degree, fit_degree)
    sol = prob.lift().solve(tol=1e-6)
    sk_prob = RationalFit(z, h, fit_degree, fit_degree, norm="2")
    sk = sk_prob.lift().solve()
    w = np.angle(z)

    def response(params):
        a, b = params.coefficients()
        return (prob.phi_num @ a) / (prob.phi_den @ b)

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(w, np.abs(h), "k.", ms=3, label=f"{kind} order {order} (data)")
    ax.plot(w, np.abs(response(sol.params)), c="C3", lw=2,
            label=f"minimax type ({fit_degree},{fit_degree})")
    ax.plot(w, np.abs(response(sk.params)), c="C0", lw=1.5, ls="--",
            label="Sanathanan-Koerner")
    ax.set_xlabel("frequency w (rad/sample)")
    ax.set_ylabel("|H(e^{iw})|")
    ax.legend()
    bx.semilogy(w, np.abs(response(sol.params) - h), c="C3", label="minimax error")
    bx.semilogy(w, np.abs(response(sk.params) - h), c="C0", ls="--", label="SK error")
    bx.axhline(sol.value, c="C3", lw=0.8, ls=":")
    bx.set_xlabel("frequency w (rad/sample)")
    bx.set_ylabel("|fit - data|")
    bx.legend()
    fig.tight_layout()
    path = pathlib.Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    x, g = classic("exp")
    exp_sol = RationalFit(x, g, 2, 2).lift().solve(tol=1e-6)
    return {"minimax": sol.value, "sk": sk_prob.evaluate(sk.params)["max_error"],
            "bracket": (exp_sol.global_bound, exp_sol.value),
            "pole_radius": float(np.max(np.abs(prob.poles(sol.params)))), "path": path}


if __name__ == "__main__":
    print(run())
