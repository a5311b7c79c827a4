r"""A certified lower bound on every two-layer ReLU network, for inputs beyond 2-D.

For a dual point ``lambda`` (the loss gradient at a solution), every ReLU network of every
width has an objective of at least ``-L^*(t lambda)`` once ``t lambda`` is feasible for the
dual of the *complete* cone program, that is once

.. math::

    M_\pm = \max_{\|u\|_2 \le 1} \pm\lambda^\top (\tilde X u)_+ \;\le\; \beta / t .

On 1-D and 2-D inputs the patterns can be enumerated and ``M`` is exact
(:mod:`lift.problems.relu.certificate`). Beyond, enumeration is hopeless and multi-start ascent
(:func:`~lift.problems.relu.colgen.price`) only bounds ``M`` from *below*. Here ``M`` is bounded
from *above*, with a mixed-integer linear program solved by branch and bound (HiGHS, through
:func:`scipy.optimize.milp`), whose dual bound is valid whenever the solver stops:

* a binary ``z_i`` per sample with ``lambda_i > 0`` chooses its side of the hyperplane:
  ``s_i <= a_i^T u + M_i (1 - z_i)``, ``s_i <= M_i z_i`` with ``M_i = ||a_i||`` (every point of
  the ball satisfies them with ``s_i = (a_i^T u)_+``);
* samples with ``lambda_i < 0`` need no binary: ``r_i >= a_i^T u``, ``r_i >= 0`` is exact at
  the optimum (the objective pushes ``r_i`` down);
* the ball is replaced by a polytope that contains it (the box and tangent planes), refined by
  a cutting plane at the maximizer whenever it lies outside the ball.

Every round's dual bound bounds ``M`` from above; a maximizer inside the ball makes it exact.
The bound is inflated by the solver's feasibility tolerance times ``sum_i |lambda_i| ||a_i||``
(the most a tolerance-sized violation can add), so floating point cannot make it invalid.

Branch and bound is exponential in the worst case: exact within seconds on 3-D inputs with
about a hundred samples, looser within a time limit from about 5-D on; on 10-D data its bound
is useless (see ``BENCHMARKS.md``). The bound is valid whatever the time limit; its tightness
is reported next to the largest value found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np

from lift.errors import check_positive

__all__ = ["PricingBound", "GlobalBound", "pricing_bound", "global_lower_bound"]

#: HiGHS's primal and integrality feasibility tolerances are 1e-7 and 1e-6; this is the
#: violation the margin of the bound allows for
FEAS_TOL = 1e-6
#: the last few pricing results, keyed by data, dual point and time limit: ``lifted.solve``
#: (whose certificate runs branch and bound) and column generation (which prices the same
#: dual point next) would otherwise solve the same mixed-integer programs twice
_RECENT: dict[str, tuple] = {}
_RECENT_SIZE = 4


@dataclasses.dataclass(frozen=True)
class PricingBound:
    """Bounds on ``M = max_{||u|| <= 1} lambda^T (Xa u)_+``.

    Attributes
    ----------
    upper : float
        A valid upper bound on ``M``.
    value : float
        The largest value found at a point of the ball (a lower bound on ``M``).
    u : ndarray
        That point.
    exact : bool
        Whether branch and bound closed (``upper`` and ``value`` agree to the tolerance).
    rounds : int
        Cutting-plane rounds (mixed-integer solves).
    time : float
        Seconds.
    """

    upper: float
    value: float
    u: np.ndarray
    exact: bool
    rounds: int
    time: float


@dataclasses.dataclass(frozen=True)
class GlobalBound:
    """A lower bound on the objective of every ReLU network of every width.

    Attributes
    ----------
    bound : float
        ``-L^*(t lambda)`` at the best feasible scaling ``t``.
    violation_upper : float
        ``max(M_+, M_-) / beta`` bounded from above (``<= 1``: ``lambda`` itself is feasible).
    violation_found : float
        The largest ``M / beta`` found at a point (a lower estimate).
    exact : bool
        Whether both pricing problems were solved to optimality.
    gates : ndarray
        The maximizers found for both signs (candidate patterns for column generation).
    time : float
        Seconds.
    """

    bound: float
    violation_upper: float
    violation_found: float
    exact: bool
    gates: np.ndarray
    time: float


def _evaluate(Xa: np.ndarray, ell: np.ndarray, u: np.ndarray) -> float:
    return float(ell @ np.maximum(Xa @ u, 0.0))


def _milp(Xa: np.ndarray, ell: np.ndarray, cuts: np.ndarray, time_limit: float,
          rtol: float):
    """One mixed-integer solve over the polytope ``{|u_j| <= 1, cuts u <= 1}``."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, diags, hstack, identity, vstack

    d = Xa.shape[1]
    pos, neg = np.flatnonzero(ell > 0), np.flatnonzero(ell < 0)
    p, q = pos.size, neg.size
    big = np.linalg.norm(Xa[pos], axis=1)
    # variables: u (d), s (p), z (p), r (q); minimize the negated objective
    c = np.concatenate([np.zeros(d), -ell[pos], np.zeros(p), -ell[neg]])
    zero = csr_matrix
    A = vstack([
        hstack([zero(-Xa[pos]), identity(p), diags(big), zero((p, q))]),    # s - a u + M z <= M
        hstack([zero((p, d)), identity(p), diags(-big), zero((p, q))]),     # s - M z <= 0
        hstack([zero(-Xa[neg]), zero((q, 2 * p)), identity(q)]),            # r - a u >= 0
        hstack([zero(cuts), zero((cuts.shape[0], 2 * p + q))]),             # cuts u <= 1
    ]).tocsr()
    lo = np.concatenate([np.full(2 * p, -np.inf), np.zeros(q), np.full(cuts.shape[0], -np.inf)])
    hi = np.concatenate([big, np.zeros(p), np.full(q, np.inf), np.ones(cuts.shape[0])])
    integrality = np.concatenate([np.zeros(d + p), np.ones(p), np.zeros(q)])
    box = Bounds(np.concatenate([-np.ones(d), np.full(p, -np.inf), np.zeros(p), np.zeros(q)]),
                 np.concatenate([np.ones(d), np.full(p, np.inf), np.ones(p), np.full(q, np.inf)]))
    res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=box,
               options={"time_limit": max(time_limit, 0.1), "disp": False,
                        "mip_rel_gap": rtol})
    dual = getattr(res, "mip_dual_bound", None)
    upper = -float(dual) if dual is not None and np.isfinite(dual) else np.inf
    u = None if res.x is None else np.asarray(res.x[:d], dtype=np.float64)
    return upper, u, res.status == 0


def pricing_bound(Xa: np.ndarray, ell: np.ndarray, *, time_limit: float = 30.0,
                  rtol: float = 1e-6, max_rounds: int = 50, seed: int = 0) -> PricingBound:
    """Bound ``M = max_{||u|| <= 1} ell^T (Xa u)_+`` from above by branch and bound.

    Parameters
    ----------
    Xa : (n, d) ndarray
        The augmented inputs.
    ell : (n,) ndarray
        Weights of the samples (a dual point, or its negative).
    time_limit : float
        Seconds for all rounds together; the bound stays valid when it runs out.
    rtol : float
        Relative agreement of the upper bound and the value found that counts as exact.
    max_rounds : int
        Most cutting-plane rounds.
    seed : int
        Seed of the initial tangent planes.
    """
    Xa = np.asarray(Xa, dtype=np.float64)
    ell = np.asarray(ell, dtype=np.float64)
    time_limit = check_positive(time_limit, "time_limit")
    t0 = time.perf_counter()
    n, d = Xa.shape
    if not np.any(ell > 0):  # every term is <= 0: the maximum is 0, at u = 0
        return PricingBound(0.0, 0.0, np.zeros(d), True, 0, time.perf_counter() - t0)
    margin = FEAS_TOL * float(np.abs(ell) @ np.linalg.norm(Xa, axis=1)) + 1e-12
    rng = np.random.default_rng(seed)
    tangents = rng.standard_normal((4 * d, d))
    cuts = tangents / np.linalg.norm(tangents, axis=1, keepdims=True)
    raw, best, best_u, rounds = np.inf, 0.0, np.zeros(d), 0

    def closed() -> bool:  # the dual bound meets the value found (before the margin)
        return raw - best <= 2 * rtol * max(abs(best), 1e-12) + 1e-12

    while rounds < max_rounds:
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0:
            break
        bound, u, solved = _milp(Xa, ell, cuts, left, rtol)
        rounds += 1
        raw = min(raw, bound)
        if u is None:
            break
        norm = float(np.linalg.norm(u))
        inside = u / max(norm, 1.0)
        value = _evaluate(Xa, ell, inside)
        if value > best:
            best, best_u = value, inside
        if closed() or not solved or norm <= 1.0 + 1e-9:
            break
        cuts = np.vstack([cuts, u / norm])
    upper = max(raw + margin, best)
    return PricingBound(float(upper), float(best), best_u, bool(closed()), rounds,
                        time.perf_counter() - t0)


def global_lower_bound(prob, params, *, time_limit: float = 60.0,
                       lam: np.ndarray | None = None) -> GlobalBound:
    """A lower bound on every ReLU network of ``prob``, from the dual point at ``params``.

    Parameters
    ----------
    prob : TwoLayerReLU
        The problem.
    params : ReLUNet or GatedReLUNet
        A solution (its loss gradient is the dual point), e.g. ``sol.params``.
    time_limit : float
        Seconds for both pricing problems together.
    lam : ndarray, optional
        A dual point to use instead of the loss gradient at ``params``.

    Returns
    -------
    GlobalBound
        Valid whatever the time limit; ``exact`` says whether the pricing problems closed.
    """
    time_limit = check_positive(time_limit, "time_limit")
    t0 = time.perf_counter()
    if lam is None:
        lam = prob.loss.grad(prob.predict(params, prob.X), prob.y)
    lam = prob.loss.project_dual(np.asarray(lam, dtype=np.float64), prob.y)
    key = hashlib.sha1(np.ascontiguousarray(prob.Xa).tobytes()
                       + np.ascontiguousarray(lam).tobytes()
                       + np.float64(time_limit).tobytes()).hexdigest()
    results = _RECENT.get(key)
    if results is None:
        results = tuple(pricing_bound(prob.Xa, s * lam, time_limit=time_limit / 2)
                        for s in (1.0, -1.0))
        if len(_RECENT) >= _RECENT_SIZE:
            _RECENT.pop(next(iter(_RECENT)))
        _RECENT[key] = results
    upper = max(r.upper for r in results)
    tmax = 1.0 if upper <= prob.beta else prob.beta / upper
    bound, _t = prob.loss.best_scaled_dual(lam, prob.y, tmax)
    return GlobalBound(bound=float(bound), violation_upper=upper / prob.beta,
                       violation_found=max(r.value for r in results) / prob.beta,
                       exact=all(r.exact for r in results),
                       gates=np.vstack([r.u for r in results]),
                       time=time.perf_counter() - t0)
