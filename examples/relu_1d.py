"""Hidden convexity in 1-D: the globally optimal ReLU network beside trained fits.

The exact convex lift of a two-layer ReLU network on 1-D data (with bias) has one pattern
per gap between sorted points, so it is solved exactly and certified. Gradient training
(Adam) on networks of several widths then tries to reach the same objective: narrow networks
stall above the certified optimum, wide ones reach it, and none goes below it.

Run ``python examples/relu_1d.py`` to write ``relu_1d.png``.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lift.datasets import toy_1d  # noqa: E402
from lift.problems import TwoLayerReLU  # noqa: E402


def train(prob: TwoLayerReLU, width: int, seed: int, steps: int, lr: float = 1e-2):
    """Full-batch Adam with a cosine learning-rate decay on the problem's own objective.

    (Plain gradient descent needs a step size that shrinks like 1/width here, because the
    curvature of the loss in the output weights grows with the width; Adam adapts to it.)
    """
    net = prob.model(width, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        prob.torch_objective(net).backward()
        opt.step()
        sched.step()
    return net


def run(out: str | pathlib.Path = "relu_1d.png", widths=(1, 2, 4, 32, 256), steps: int = 3000,
        beta: float = 0.02, seed: int = 0) -> dict:
    """Solve the lift, train GD at each width, plot, and return the numbers.

    Returns
    -------
    dict
        ``optimum`` (certified value), ``global_bound``, ``neurons`` (active neurons of the
        optimal network), ``gd`` (width -> final objective of the trained network) and
        ``path`` of the figure.
    """
    data = toy_1d(n=40, seed=seed)
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=beta)
    sol = prob.lift(patterns="exact").solve(solver="clarabel")
    grid = np.linspace(-2.3, 2.3, 400)[:, None]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.scatter(data.X_train[:, 0], data.y_train, s=14, c="k", label="training data", zorder=3)
    ax.plot(grid, prob.predict(sol.params, grid), lw=2.5, c="C3",
            label=f"global optimum ({sol.size} neurons)")
    gd = {}
    for i, width in enumerate(widths):
        net = train(prob, width, seed=seed, steps=steps)
        gd[width] = prob.objective(net)
        ax.plot(grid, prob.predict(net, grid), lw=1, c=f"C{i}", alpha=0.8,
                label=f"Adam, width {width}")
    ax.set(title="Two-layer ReLU fits", xlabel="x", ylabel="y")
    ax.legend(fontsize=7)
    gaps = [max(gd[w] - sol.global_bound, 1e-12) / abs(sol.global_bound) for w in widths]
    bx.loglog(widths, gaps, "o-")
    bx.axhline(sol.rel_gap, ls="--", c="C3", label="certificate's own gap")
    bx.set(title="Trained objective above the certified optimum", xlabel="width",
           ylabel="(objective - bound) / bound")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"optimum": sol.value, "global_bound": sol.global_bound, "neurons": sol.size,
            "gd": gd, "path": str(out)}


if __name__ == "__main__":
    res = run()
    print(f"certified optimum {res['optimum']:.6f} (bound {res['global_bound']:.6f}, "
          f"{res['neurons']} neurons)")
    for width, value in res["gd"].items():
        print(f"  Adam, width {width:4d}: {value:.6f}  (+{value - res['global_bound']:.2e})")
    print(f"figure: {res['path']}")
