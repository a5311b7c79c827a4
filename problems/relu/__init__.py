r"""Two-layer ReLU networks and their exact convex lift (Pilanci & Ergen, 2020).

The non-convex training problem over networks ``f(x) = sum_j alpha_j (u_j^T x)_+`` of any
width ``m`` is

.. math::

    \min_{u_j, \alpha_j} \; L\Big(\sum_{j=1}^m \alpha_j (\tilde X u_j)_+,\; y\Big)
    + \frac{\beta}{2} \sum_{j=1}^m \big(\|u_j\|_2^2 + \alpha_j^2\big),

where ``\tilde X = [X, 1]`` when ``bias=True`` (each ``u_j`` carries its bias, which is
regularized like the other weights) and ``L`` is the squared loss ``1/2 ||z - y||^2``, the
logistic loss or the hinge loss. Over the activation patterns ``D_i = diag(1[\tilde X g_i >= 0])``
of the data it equals the convex program

.. math::

    \min_{v_i, w_i} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
    + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad \text{s.t.} \quad (2 D_i - I) \tilde X v_i \ge 0,\; (2 D_i - I) \tilde X w_i \ge 0,

when all patterns are listed. Recovery maps ``v_i`` to a neuron ``u = v_i / \sqrt{\|v_i\|}``,
``\alpha = \sqrt{\|v_i\|}`` (and ``w_i`` to one with ``\alpha = -\sqrt{\|w_i\|}``), whose
objective equals the convex one. The gated program (``program="gated"``, a relaxation) drops
the cone constraints and the ``w_i`` (its neurons are
``f(x) = sum_j alpha_j 1[g_j^T x >= 0] u_j^T x`` with fixed gates).

Certificates
------------
Weak duality gives, for every ``lambda`` and multipliers ``mu_i, nu_i >= 0`` with
``||\tilde X^T (D_i lambda - (2D_i - I) mu_i)|| <= beta`` and
``||\tilde X^T (D_i lambda + (2D_i - I) nu_i)|| <= beta`` for all ``i``, the lower bound
``-L^*(lambda)`` on the program. The library takes ``lambda = grad L(z)`` at the recovered
network's predictions (or the solver's dual for the hinge loss), computes for each pattern the
smallest such norm exactly (a nonnegative least-squares problem: the norm of the projection of
``\tilde X^T D_i lambda`` onto the pattern's dual cone), scales ``lambda`` by the largest ``t``
that makes every norm ``<= beta``, and maximizes ``-L^*(t lambda)`` over ``t``. The gated
program's constraints are ``||\tilde X^T D_i lambda|| <= beta``. ``sol.gap`` is
``sol.value`` minus this bound.

Every ReLU network of any width maps to a feasible point of the all-pattern program with no
larger objective (group its neurons by pattern; ``|alpha| ||u|| <= (alpha^2 + ||u||^2)/2``), and
the ReLU program's feasible set contains the gated one's up to sign, so a dual bound over *all*
patterns bounds every network: ``sol.global_bound``. It is set when the patterns are exact,
or when the dual point of a sampled program passes the check against every pattern (possible
for data of small rank); otherwise it is ``None``. Beyond 2-D,
:func:`global_lower_bound` bounds the all-pattern constraint from above by branch and bound
(a mixed-integer program, valid at any time limit, tight on inputs up to about 5-D), and
``lifted.refine(sol, pricing="milp")`` runs column generation with it until the point is
certified.

References
----------
M. Pilanci and T. Ergen. Neural networks are convex regularizers: exact polynomial-time convex
optimization formulations for two-layer networks. ICML 2020.
A. Mishkin, A. Sahiner and M. Pilanci. Fast convex optimization for two-layer ReLU networks:
equivalent model classes and cone decompositions. ICML 2022.
"""

from lift.problems.relu import cli as _cli  # noqa: F401  (registers the family)
from lift.problems.relu import data as _data  # noqa: F401  (registers its datasets)
from lift.problems.relu import solvers as _solvers  # noqa: F401  (registers its solvers)
from lift.problems.relu.arrangements import (
    enumerate_patterns,
    estimate_pattern_count,
    interior_gates,
    patterns_from_gates,
    sample_patterns,
)
from lift.problems.relu.certificate import constraint_norms, dual_bound, pattern_products
from lift.problems.relu.global_bound import GlobalBound, global_lower_bound, pricing_bound
from lift.problems.relu.networks import GatedReLUNet, ReLUNet, recover_network, reduce_neurons
from lift.problems.relu.problem import TwoLayerReLU
from lift.problems.relu.program import PROGRAMS, ReLULift

__all__ = [
    "PROGRAMS",
    "GatedReLUNet",
    "GlobalBound",
    "ReLULift",
    "ReLUNet",
    "TwoLayerReLU",
    "constraint_norms",
    "dual_bound",
    "enumerate_patterns",
    "estimate_pattern_count",
    "global_lower_bound",
    "interior_gates",
    "pattern_products",
    "patterns_from_gates",
    "pricing_bound",
    "recover_network",
    "reduce_neurons",
    "sample_patterns",
]
