r"""Rational transfer functions and linear systems.

- :class:`RationalFit`: fit ``p/q`` to real data on an interval or to a frequency response
  (unit circle / imaginary axis); ``norm="inf"`` lifts to a quasiconvex program solved
  globally by bisection with verified infeasibility certificates
  (:class:`RationalLift`), ``norm="2"`` runs the Sanathanan–Koerner baseline (:class:`SKLift`).
- :class:`LinearSystemID`: single-input single-output state-space identification from
  input/output sequences; Hankel nuclear-norm lift with a Ho–Kalman realization.

References
----------
S. Boyd and L. Vandenberghe. Convex Optimization, §6.5.5, 2004.
M. Hardt, T. Ma and B. Recht. Gradient descent learns linear dynamical systems. JMLR 2018.
M. Fazel, T. K. Pong, D. Sun and P. Tseng. Hankel matrix rank minimization with applications
to system identification and realization. SIMAX 34, 2013.
"""

from lift.problems.transfer import cli as _cli  # noqa: F401  (registers the families)
from lift.problems.transfer.data import classic, filter_response
from lift.problems.transfer.lds import (
    LDSLift,
    LDSModel,
    LinearSystemID,
    ho_kalman,
    impulse_response,
    lds_data,
    random_stable_system,
    simulate,
)
from lift.problems.transfer.rational import (
    FarkasCertificate,
    RationalFit,
    RationalLift,
    RationalModel,
    SKLift,
)

__all__ = [
    "FarkasCertificate",
    "LDSLift",
    "LDSModel",
    "LinearSystemID",
    "RationalFit",
    "RationalLift",
    "RationalModel",
    "SKLift",
    "classic",
    "filter_response",
    "ho_kalman",
    "impulse_response",
    "lds_data",
    "random_stable_system",
    "simulate",
]
