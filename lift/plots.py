"""Figures of the comparison harness (matplotlib, Agg backend; nothing is shown)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_comparison"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo") and \
            not _interactive():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _interactive() -> bool:
    import sys

    return hasattr(sys, "ps1") or "ipykernel" in sys.modules


def plot_comparison(cmp, eps: float | None = None):
    r"""Two panels: relative gap ``(F_k - F_cvx)/|F_cvx|`` vs size, and objective trajectories.

    Left: each seed's final relative gap at each size (log-log; gaps <= 0, possible within
    the solver's accuracy or against an uncertified value, are drawn on a floor below the
    smallest positive gap), the median per size as a line, and ``eps`` dashed.
    Right: objective vs step of every run, coloured by size, against the convex value (and the
    certified global bound when there is one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    eps = cmp.eps if eps is None else eps
    runs = cmp.runs
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    gaps_all = runs["rel_gap"].to_numpy(dtype=float)
    positive = gaps_all[np.isfinite(gaps_all) & (gaps_all > 0)]
    floor = 0.5 * min(eps / 100, float(positive.min()) if positive.size else eps / 100)
    sizes = sorted(int(s) for s in runs["size"].unique())
    cmap = plt.get_cmap("viridis")
    colour = {s: cmap(i / max(len(sizes) - 1, 1)) for i, s in enumerate(sizes)}
    for method, grp in runs.groupby("method"):
        med = []
        for s in sizes:
            gaps = grp.loc[grp["size"] == s, "rel_gap"].to_numpy(dtype=float)
            if gaps.size == 0:
                continue
            shown = np.maximum(gaps, floor)
            jitter = np.exp(np.linspace(-0.08, 0.08, gaps.size)) if gaps.size > 1 else [1.0]
            ax.scatter(s * np.asarray(jitter), shown, s=14, alpha=0.6, color=colour[s])
            med.append((s, max(float(np.median(gaps)), floor)))
        if med:
            xs, ys = zip(*med, strict=True)
            ax.plot(xs, ys, "-o", color="black", lw=1.2, ms=3, label=f"{method} (median)")
    ax.axhline(eps, ls="--", color="tab:red", lw=1, label=f"eps = {eps:g}")
    if np.any(gaps_all <= 0):
        ax.axhline(floor, ls=":", color="grey", lw=1, label="gap <= 0 (drawn here)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width (neurons)")
    ax.set_ylabel("relative gap to the convex value")
    title = ("certified global optimum" if cmp.certified
             else "sampled convex program (no certificate)")
    ax.set_title(f"final gap vs width ({title})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)

    span = []
    for (_method, size, _seed), tr in sorted(cmp.trajectories.items()):
        if not tr or not tr.get("step"):
            continue
        obj = np.asarray(tr["objective"], dtype=float)
        span.append(obj[np.isfinite(obj)])
        ax2.plot(tr["step"], obj, color=colour.get(size, "grey"), lw=0.8, alpha=0.7)
    ax2.axhline(cmp.optimum, color="tab:red", lw=1.2, label=f"convex value {cmp.optimum:.5g}")
    if cmp.global_bound is not None:
        ax2.axhline(cmp.global_bound, color="black", ls=":", lw=1,
                    label=f"global bound {cmp.global_bound:.5g}")
    for s in sizes:
        ax2.plot([], [], color=colour[s], label=f"width {s}")
    ax2.set_yscale("log")
    allv = np.concatenate(span) if span else np.array([cmp.optimum])
    top = float(np.nanmax(allv)) if allv.size else cmp.optimum
    low = min(cmp.optimum, cmp.global_bound or cmp.optimum,
              float(np.nanmin(allv)) if allv.size else cmp.optimum)
    if math.isfinite(top) and low > 0:
        ax2.set_ylim(low * 0.9, top * 1.1)
    ax2.set_xlabel("step")
    ax2.set_ylabel("objective")
    ax2.set_title("training trajectories", fontsize=9)
    ax2.legend(fontsize=7, ncol=2)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
