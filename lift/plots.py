"""Figures of the comparison harness.

Built with matplotlib's object-oriented API on an Agg canvas (``matplotlib.figure.Figure``):
nothing is shown and matplotlib's global backend and state are left alone.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_comparison", "new_figure"]


def new_figure(width: float, height: float, ncols: int = 1):
    """A ``Figure`` with an Agg canvas and ``ncols`` axes side by side (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _gap_panel(ax, cmp, reach: float, colour: dict, sizes: list[int]) -> None:
    runs = cmp.runs
    gaps_all = runs["rel_gap"].to_numpy(dtype=float)
    positive = gaps_all[np.isfinite(gaps_all) & (gaps_all > 0)]
    floor = 0.5 * min(reach / 100, float(positive.min()) if positive.size else reach / 100)
    for method, grp in runs.groupby("method"):
        med = []
        for s in sizes:
            gaps = grp.loc[grp["size"] == s, "rel_gap"].to_numpy(dtype=float)
            if gaps.size == 0:
                continue
            jitter = np.exp(np.linspace(-0.08, 0.08, gaps.size)) if gaps.size > 1 else [1.0]
            ax.scatter(s * np.asarray(jitter), np.maximum(gaps, floor), s=14, alpha=0.6,
                       color=colour[s])
            med.append((s, max(float(np.median(gaps)), floor)))
        if med:
            xs, ys = zip(*med, strict=True)
            ax.plot(xs, ys, "-o", color="black", lw=1.2, ms=3, label=f"{method} (median)")
    ax.axhline(reach, ls="--", color="tab:red", lw=1, label=f"reach = {reach:g}")
    if np.any(gaps_all <= 0):
        ax.axhline(floor, ls=":", color="grey", lw=1, label="gap <= 0 (drawn here)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(cmp.size_name)
    ax.set_ylabel("relative gap to the convex value")
    title = "certified global optimum" if cmp.certified else "convex value (no certificate)"
    ax.set_title(f"final gap vs {cmp.size_name} ({title})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


def _trajectory_panel(ax, cmp, colour: dict, sizes: list[int]) -> None:
    span = []
    for (_method, size, _seed), tr in sorted(cmp.trajectories.items()):
        if not tr or not tr.get("step"):
            continue
        obj = np.asarray(tr["objective"], dtype=float)
        span.append(obj[np.isfinite(obj)])
        ax.plot(tr["step"], obj, color=colour.get(size, "grey"), lw=0.8, alpha=0.7)
    ax.axhline(cmp.optimum, color="tab:red", lw=1.2, label=f"convex value {cmp.optimum:.5g}")
    first = cmp.table[cmp.table["method"] == "convex"]
    if len(first) and float(first["objective"].iloc[0]) != cmp.optimum:
        # the lifted program alone, before the trained models were included in it
        value = float(first["objective"].iloc[0])
        ax.axhline(value, color="tab:red", ls="--", lw=0.8,
                   label=f"program without the runs {value:.5g}")
    if cmp.global_bound is not None:
        ax.axhline(cmp.global_bound, color="black", ls=":", lw=1,
                   label=f"global bound {cmp.global_bound:.5g}")
    for s in sizes:
        ax.plot([], [], color=colour[s], label=f"{cmp.size_name} {s}")
    allv = np.concatenate(span) if span else np.array([cmp.optimum])
    top = float(np.nanmax(allv)) if allv.size else cmp.optimum
    low = min(cmp.optimum, cmp.global_bound if cmp.global_bound is not None else cmp.optimum,
              float(np.nanmin(allv)) if allv.size else cmp.optimum)
    if math.isfinite(top) and low > 0:
        ax.set_yscale("log")
        ax.set_ylim(low * 0.9, top * 1.1)
    ax.set_xlabel("step")
    ax.set_ylabel("objective")
    ax.set_title("training trajectories", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)


def plot_comparison(cmp, reach: float | None = None):
    r"""Two panels: relative gap ``(F_k - F_cvx)/|F_cvx|`` vs size, and objective trajectories.

    Left: each seed's final relative gap at each size (log-log; gaps <= 0, possible within
    the solver's accuracy or against an uncertified value, are drawn on a floor below the
    smallest positive gap), the median per size as a line, and ``reach`` dashed.
    Right: objective vs step of every run, coloured by size, against the convex value, the
    value of the lifted program before the runs were included in it (when they were), and the
    certified global bound (when there is one), each its own line. Sizes are labelled with
    ``prob.size_name``.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas (``fig.savefig`` works; pyplot is not involved).
    """
    from matplotlib import colormaps

    reach = cmp.reach if reach is None else reach
    fig, (ax, ax2) = new_figure(11, 4.2, ncols=2)
    sizes = sorted(int(s) for s in cmp.runs["size"].unique())
    cmap = colormaps["viridis"]
    colour = {s: cmap(i / max(len(sizes) - 1, 1)) for i, s in enumerate(sizes)}
    _gap_panel(ax, cmp, reach, colour, sizes)
    _trajectory_panel(ax2, cmp, colour, sizes)
    fig.tight_layout()
    return fig
