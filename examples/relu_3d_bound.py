"""Beyond 2-D inputs: a convex value no trained network beats, and a certified global bound.

On 1-D and 2-D inputs the activation patterns can be enumerated, so the convex lift is exact
and its optimum is a global certificate. On 3-D inputs there are too many patterns, and
sampling a few gives a program whose optimum may lie *above* what a wide trained network
reaches. This example closes the gap in three steps, on data from a small ReLU teacher:

1. Adam trains networks of growing width from several seeds (the comparison harness);
2. the sampled cone program is extended by every trained network's own activation patterns,
   so its optimum lies at or below every one of them, and then by column generation: the
   pricing problem ``max_{|u| <= 1} |lambda^T (X u)_+|`` is solved by branch and bound (a
   mixed-integer program), which adds the most violated pattern and bounds the violation from
   above;
3. that upper bound turns the final dual point into a **lower bound on every ReLU network of
   every width** (:func:`lift.problems.relu.global_lower_bound`).

The figure puts the runs' final objectives against width beside the convex value and the
bound: no run goes below the bound, and wide runs approach the convex value.

Run ``python examples/relu_3d_bound.py`` to print the numbers and write
``relu_3d_bound.png`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import warnings

import numpy as np

import lift
from lift.datasets import load
from lift.plots import new_figure
from lift.problems import TwoLayerReLU
from lift.solvers.sgd import TrainConfig


def run(out: str = "relu_3d_bound.png", n: int = 40, d: int = 3, beta: float = 0.1,
        sizes=(1, 2, 4, 8, 16, 32), seeds: int = 3, steps: int = 3000, patterns: int = 50,
        rounds: int = 8, time_limit: float = 30.0) -> dict:
    """Run the comparison; return the runs' objectives, the convex value, the bound and the
    figure path."""
    data = load("teacher", n=n, d=d, width=3, seed=0)
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=beta)
    cmp = lift.compare(prob, sizes=list(sizes), seeds=seeds,
                       train=TrainConfig(optimizer="adam", steps=steps, lr=1e-2),
                       lift={"patterns": patterns, "program": "cone", "seed": 0},
                       include_runs=False, progress=False, n_jobs=1)
    runs = cmp.runs
    models = [cmp.model(int(r.size), int(r.seed), prob) for r in runs.itertuples()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampled = prob.lift(patterns=patterns, program="cone", seed=0)
        lifted = sampled.including(models)
        sol = lifted.solve()
        lifted, sol, report = lifted.refine(sol, models=models, rounds=rounds, pricing="milp",
                                            time_limit=time_limit)
    objectives = {(int(r.size), int(r.seed)): float(r.objective) for r in runs.itertuples()}
    res = {"objectives": objectives, "sampled": float(cmp.optimum), "convex": float(sol.value),
           "bound": float(report["global_bound"]), "certified": bool(report["certified"]),
           "violation_upper": float(report["violation_upper"]), "patterns": lifted.P,
           "sampled_patterns": patterns, "history": report["history"], "path": out}
    _figure(res, sizes, prob).savefig(out, dpi=110)
    return res


def _figure(res: dict, sizes, prob):
    """Final objectives against width, zoomed on the convex value and the bound (runs above
    the frame, such as stuck narrow ones, are drawn as triangles on its top edge)."""
    fig, ax = new_figure(6.0, 4.0)
    # the frame shows the sampled program's value and at least half of the runs
    top = max(1.15 * res["sampled"] - 0.15 * res["bound"],
              float(np.median(list(res["objectives"].values()))))
    by_size = {s: [v for (w, _), v in res["objectives"].items() if w == s] for s in sizes}
    for s, vals in by_size.items():
        vals = np.asarray(vals)
        inside, above = vals[vals <= top], vals[vals > top]
        ax.scatter([s] * inside.size, inside, s=16, alpha=0.7, color="tab:blue",
                   label="Adam runs" if s == sizes[0] else None)
        ax.scatter([s] * above.size, [top] * above.size, s=22, marker="^", color="tab:blue",
                   alpha=0.7, label="runs above the frame" if above.size and s == sizes[0]
                   else None)
    ax.axhline(res["sampled"], ls=":", color="grey", lw=1,
               label=f"sampled program ({res['sampled_patterns']} random gates): "
                     f"{res['sampled']:.4f}")
    ax.axhline(res["convex"], ls="-", color="black", lw=1.2,
               label=f"convex value, runs' patterns + pricing: {res['convex']:.4f}")
    ax.axhline(res["bound"], ls="--", color="tab:red", lw=1.2,
               label=f"certified bound on every network: {res['bound']:.4f}")
    span = top - res["bound"]
    ax.set_ylim(res["bound"] - 0.05 * span, top + 0.03 * span)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width")
    ax.set_ylabel("training objective")
    ax.set_title(f"two-layer ReLU on {prob.d}-D inputs (n = {prob.n}, beta = {prob.beta:g})",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    res = run()
    gap = (res["convex"] - res["bound"]) / abs(res["convex"])
    best = min(res["objectives"].values())
    print(f"sampled program: {res['sampled']:.6f}")
    print(f"convex value ({res['patterns']} patterns after pricing): {res['convex']:.6f}")
    print(f"global lower bound on every ReLU network: {res['bound']:.6f} "
          f"(relative gap {gap:.2e}; violation bounded by {res['violation_upper']:.4f} x beta)")
    print(f"best trained network: {best:.6f}; runs below the bound: "
          f"{sum(v < res['bound'] for v in res['objectives'].values())}")
    for s in sorted({w for w, _ in res["objectives"]}):
        vals = [v for (w, _), v in res["objectives"].items() if w == s]
        print(f"  width {s:3d}: median {np.median(vals):.6f}, best {min(vals):.6f}")
    print(f"figure: {res['path']}")
