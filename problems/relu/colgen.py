r"""Towards the true optimum of a sampled ReLU lift: trained networks' patterns and pricing.

A sampled program (patterns of random gates) has an optimum above the global one, so a wide
trained network may beat its value. Two remedies, both adding patterns to the program:

**The patterns of given networks** (:func:`network_gates`, ``ReLULift.including``). A ReLU
network ``sum_j alpha_j (Xa u_j)_+`` maps to a feasible point of any cone program containing
the patterns ``D_j = 1[Xa u_j >= 0]`` of its neurons (``v = alpha_j ||u_j|| u_j / ||u_j||``
grouped by pattern and sign), with a program objective no larger than the network's
(``|alpha| ||u|| <= (alpha^2 + ||u||^2) / 2``). So the optimum of a program containing every
trained network's patterns lies at or below every one of those networks' objectives. (A
gated network maps the same way into the gated program with its gates.)

**Column generation** (:func:`price`, :func:`column_generation`). For a dual point ``lambda``
(the loss gradient at the current solution), the constraint of the *complete* cone program is

.. math::

    \max_{\|u\|_2 \le 1} \big|\lambda^\top (\tilde X u)_+\big| \le \beta ,

whose maximizer's pattern is the most violated column (the pricing problem). It is
non-convex; :func:`price` searches it by multi-start ascent (random directions, the current
solution's neurons, trained networks' neurons) with the alternating update
``u <- normalize(Xa^T D(u) lambda)`` (the best direction for a fixed pattern). The patterns of
violated candidates are added and the program is solved again, warm-started, until no
violated pattern is found. A search that finds nothing is **not** a certificate: the largest
value found is reported (``max_violation``: the largest ``constraint / beta`` among the
candidates, at least 1 when the point is known not to be certified).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lift.errors import check_choice
from lift.problems.relu.arrangements import patterns_from_gates, unique_patterns
from lift.problems.relu.certificate import constraint_norms
from lift.problems.relu.global_bound import global_lower_bound
from lift.problems.relu.networks import GatedReLUNet

__all__ = ["network_gates", "price", "column_generation", "pad_warm_start", "drop_known"]


def network_gates(prob, nets) -> np.ndarray:
    """Gates (rows in the augmented-input coordinates ``Xa``) of the neurons of ``nets``.

    A ReLU neuron's gate is its own weight vector (with its bias); a gated network's are its
    fixed gates. Neurons with zero weights are skipped.
    """
    rows = []
    for net in nets:
        if not hasattr(net, "first_layer"):
            raise TypeError(f"`include` must hold networks of this problem (ReLUNet), got "
                            f"{type(net).__name__}.")
        U = (net.gates.detach().cpu().double().numpy() if isinstance(net, GatedReLUNet)
             else net.first_layer())
        if U.shape[1] != prob.Xa.shape[1]:
            raise ValueError(f"`include`: a network with {U.shape[1]} weights per neuron; this "
                             f"problem has {prob.Xa.shape[1]} (inputs + bias).")
        rows.append(U[np.linalg.norm(U, axis=1) > 0])
    return np.concatenate(rows) if rows else np.zeros((0, prob.Xa.shape[1]))


def price(Xa: np.ndarray, lam: np.ndarray, cone: bool, starts: int = 64, iters: int = 30,
          seed: int = 0, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Candidate gates for the pricing problem, with their values.

    Cone program: maximizes ``s lambda^T (Xa u)_+`` over unit ``u`` for both signs ``s``;
    gated program: ``||Xa^T D(u) lambda||``. Starts: ``starts`` random directions and the
    rows of ``extra`` (e.g. current neurons, trained networks' neurons). Each start runs
    ``iters`` alternating updates ``u <- normalize(Xa^T D(u) s lambda)``; every visited point
    is a candidate.

    Returns
    -------
    values : (k,) array
        The objective of the pricing problem at each candidate (a lower estimate of its
        pattern's exact dual-constraint norm).
    gates : (k, d) array
    """
    rng = np.random.default_rng(seed)
    d = Xa.shape[1]
    U0 = rng.standard_normal((starts, d))
    if extra is not None and len(extra):
        U0 = np.vstack([U0, extra])
    U0 /= np.maximum(np.linalg.norm(U0, axis=1, keepdims=True), 1e-300)
    signs = (1.0, -1.0) if cone else (1.0,)
    vals, gates = [], []
    for s in signs:
        U = U0.copy()
        for _ in range(iters):
            act = (Xa @ U.T) > 0  # (n, k)
            if cone:
                val = s * (np.maximum(Xa @ U.T, 0.0).T @ lam)
            else:
                val = np.linalg.norm((act * lam[:, None]).T @ Xa, axis=1)
            vals.append(val)
            gates.append(U.copy())
            step = (act * (s * lam)[:, None]).T @ Xa  # rows Xa^T D(u) s lambda
            norm = np.linalg.norm(step, axis=1, keepdims=True)
            U = np.where(norm > 0, step / np.maximum(norm, 1e-300), U)
    return np.concatenate(vals), np.concatenate(gates)


def pad_warm_start(warm: dict | None, P_new: int) -> dict | None:
    """A warm start of a program extended by new patterns (appended last): zeros for them."""
    if not warm:
        return warm
    out: dict[str, Any] = {}
    for key, val in warm.items():
        if val is None:
            out[key] = None
            continue
        arr = np.asarray(val, dtype=np.float64)
        if key in ("V", "W"):
            out[key] = np.vstack([arr, np.zeros((P_new - arr.shape[0], arr.shape[1]))])
        elif key in ("mu", "nu"):
            out[key] = np.hstack([arr, np.zeros((arr.shape[0], P_new - arr.shape[1]))])
        else:
            out[key] = val
    return out


def _dual_point(lifted, sol) -> np.ndarray:
    prob = lifted.problem
    z = prob.predict(sol.params, prob.X)
    return prob.loss.project_dual(prob.loss.grad(z, prob.y), prob.y)


def column_generation(lifted, sol, *, rounds: int = 5, starts: int = 64, seed: int = 0,
                      include: Any = (), max_add: int | None = None, solver: str = "auto",
                      tol: float = 1e-6, pricing: str = "ascent", time_limit: float | None = None,
                      **options: Any):
    """Add violated patterns to a sampled program and re-solve until none is found.

    Parameters
    ----------
    lifted : ReLULift
        The program ``sol`` solves.
    sol : Solution
        Its solution (the dual point is the loss gradient at ``sol.params``).
    rounds : int
        Most pricing rounds.
    starts : int
        Random starts of each pricing search (the solution's neurons and the neurons of
        ``include`` are started from too).
    include : sequence of networks
        Trained networks whose neurons seed the search.
    max_add : int, optional
        Most patterns added per round (default: ``max(10, patterns in use)``).
    pricing : {"ascent", "milp"}
        ``"ascent"``: multi-start ascent only (a lower estimate of the violation). ``"milp"``
        (cone program): also branch and bound
        (:func:`~lift.problems.relu.global_bound.global_lower_bound`), whose maximizers join
        the candidates and whose upper bound on the violation certifies the point: the report
        then has ``violation_upper`` and ``global_bound`` (a lower bound on every network).
        Practical for inputs up to about 5-D.
    time_limit : float, optional
        Seconds of each round's branch and bound (``pricing="milp"``); default the lift's
        ``bound_time`` if it has one (then the certificate's branch and bound of each
        solution is reused, not repeated), else 60.
    solver, tol, **options
        As for ``lifted.solve``.

    Returns
    -------
    lifted, sol : ReLULift, Solution
        The extended program and its solution.
    report : dict
        ``rounds``, ``added`` (patterns added in all), ``max_violation`` (the largest
        ``constraint / beta`` found for the final dual point among the candidates searched;
        ``<= 1`` means none violated, *not* that the point is certified), ``history``; with
        ``pricing="milp"`` also ``violation_upper``, ``global_bound`` and ``certified``
        (``violation_upper <= 1 + 1e-6``: the value is the global optimum up to the gap).
    """
    check_choice(pricing, "pricing", ("ascent", "milp"))
    if pricing == "milp" and not lifted.cone:
        raise ValueError("`pricing='milp'` bounds the cone program's pricing problem; lift with "
                         "program='cone', or use pricing='ascent'.")
    if time_limit is None:
        time_limit = lifted.bound_time if lifted.bound_time > 0 else 60.0
    prob = lifted.problem
    extra = network_gates(prob, list(include))
    history, added = [], 0
    worst = np.nan
    for r in range(rounds + 1):
        lam = _dual_point(lifted, sol)
        seeds = np.vstack([extra, network_gates(prob, [sol.params])])
        exact = None
        if pricing == "milp":
            exact = global_lower_bound(prob, sol.params, time_limit=time_limit, lam=lam)
            seeds = np.vstack([seeds, exact.gates])
        vals, G = price(prob.Xa, lam, lifted.cone, starts=starts, seed=seed + r, extra=seeds)
        keep = np.argsort(-vals)[: max(4 * (max_add or 64), 64)]
        D_all, idx_all = unique_patterns(patterns_from_gates(prob.Xa, G[keep]))
        # the largest violation among all candidates (patterns already in the program too:
        # an optimal point has them at most ~1), the new ones for adding
        D_new, pos = drop_known(lifted.D, D_all, np.arange(D_all.shape[1]))
        idx = idx_all[pos]
        P_all = D_all.shape[1]
        norms = (constraint_norms(prob.Xa, lam, D_all, lifted.cone, beta=prob.beta)
                 if P_all else np.zeros(0))
        per_all = norms.reshape(2, P_all).max(0) if lifted.cone else norms
        per_pattern = per_all[pos]
        worst = float(per_all.max(initial=0.0)) / prob.beta
        if exact is not None:
            worst = max(worst, exact.violation_found)
        entry = {"round": r, "value": sol.value, "patterns": lifted.P, "max_violation": worst}
        if exact is not None:
            entry.update(violation_upper=exact.violation_upper, global_bound=exact.bound,
                         certified=exact.violation_upper <= 1 + 1e-6)
        history.append(entry)
        violated = np.flatnonzero(per_pattern > prob.beta * (1 + 1e-6))
        if r == rounds or violated.size == 0:
            break
        cap = max_add or max(10, int(sol.size))
        pick = violated[np.argsort(-per_pattern[violated])][:cap]
        gates = G[keep][idx[pick]]
        warm = sol.info.get("warm_start")
        lifted = lifted.with_patterns(D_new[:, pick], gates)
        added += pick.size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = lifted.solve(solver=solver, tol=tol, warm_start=pad_warm_start(warm, lifted.P),
                               **options)
        if sol.params is None:
            break
    report = {"rounds": len(history) - 1, "added": added, "max_violation": worst,
              "history": history}
    report.update({k: history[-1][k] for k in ("violation_upper", "global_bound", "certified")
                   if k in history[-1]})
    return lifted, sol, report


def drop_known(D: np.ndarray, D_new: np.ndarray, idx: np.ndarray):
    """Columns of ``D_new`` that are not already columns of ``D``."""
    if D_new.shape[1] == 0:
        return D_new, idx
    known = {bytes(col) for col in np.packbits(D, axis=0).T}
    fresh = [j for j, col in enumerate(np.packbits(D_new, axis=0).T) if bytes(col) not in known]
    return D_new[:, fresh], idx[fresh]
