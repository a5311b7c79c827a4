"""The transfer family on the command line: ``lift solve rational ...``, ``lift solve lds ...``
(and ``lift compare`` with ``sizes`` = orders)."""

from __future__ import annotations

import argparse
from typing import Any

from lift.cli import float_in, int_at_least
from lift.families import Family, register_family

__all__ = ["RATIONAL", "LDS"]


def _rational_arguments(p: argparse.ArgumentParser, command: str) -> None:
    from lift.problems.transfer.data import FILTERS, FUNCTIONS

    p.add_argument("--function", default="exp", choices=[*FUNCTIONS, *FILTERS],
                   help="a classic function on its interval, or a scipy.signal low-pass "
                        "filter's frequency response (default: exp on [-3, 3])")
    p.add_argument("--points", type=int_at_least(1), default=201, help="data points (default: 201)")
    p.add_argument("--num-degree", type=int, default=2, help="numerator degree (default: 2)")
    p.add_argument("--den-degree", type=int, default=2, help="denominator degree (default: 2)")
    p.add_argument("--norm", default="inf", choices=["inf", "2"],
                   help="max error (certified bisection) or least squares (default: inf)")
    p.add_argument("--filter-order", type=int_at_least(1), default=6,
                   help="order of the filter design (default: 6)")
    p.add_argument("--stable", action="store_true",
                   help="filters only: constrain the fit to a stable (acquiescent) denominator")


def _rational_build(args: argparse.Namespace) -> tuple[Any, Any]:
    from lift.problems.transfer.data import FUNCTIONS, classic, filter_response
    from lift.problems.transfer.rational import RationalFit

    if args.function in FUNCTIONS:
        x, g = classic(args.function, args.points)
    else:
        x, g, _ = filter_response(args.function, args.filter_order, points=args.points)
    prob = RationalFit(x, g, args.num_degree, args.den_degree, norm=args.norm,
                       stable=bool(args.stable))
    return prob, None


def _lds_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--order", type=int, default=3, help="model order (default: 3)")
    p.add_argument("--true-order", type=int_at_least(1), default=3,
                   help="order of the random stable system (default: 3)")
    p.add_argument("--length", type=int_at_least(1), default=40,
                   help="sequence length T (default: 40)")
    p.add_argument("--sequences", type=int_at_least(1), default=8, help="sequences N (default: 8)")
    p.add_argument("--noise", type=float_in(0.0), default=0.05, help="output noise (default: 0.05)")
    p.add_argument("--reg", type=float, default=0.0,
                   help="Hankel nuclear-norm weight (default: 0, least squares)")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="seed of the system and data")
    p.add_argument("--fresh", action="store_true",
                   help="Hardt-Ma-Recht SGD: new N(0,1) input sequences and their outputs "
                        "from the true system at every training step")
    p.add_argument("--project", default="none", choices=["none", "radius", "acquiescent"],
                   help="after each training step: scale the poles into radius 0.99, or "
                        "project onto the acquiescent region (default: none)")


def _lds_build(args: argparse.Namespace) -> tuple[Any, Any]:
    from lift.problems.transfer.lds import LinearSystemID, impulse_response, lds_data

    u, y, system = lds_data(args.true_order, args.length, args.sequences, noise=args.noise,
                            seed=args.seed)
    project, fresh = getattr(args, "project", "none"), bool(getattr(args, "fresh", False))
    # the system only when SGD samples from it (the problem's fingerprint, hence a store's
    # keys, stay those of earlier sweeps otherwise)
    prob = LinearSystemID(u, y, args.order, reg=args.reg, system=system if fresh else None,
                          noise=args.noise, fresh=fresh,
                          project=False if project == "none" else project)
    return prob, impulse_response(*system, args.length)


def _rational_example():
    """exp on 41 points of [-3, 3] at type (2, 2) (conformance tests)."""
    from lift.problems.transfer.data import classic
    from lift.problems.transfer.rational import RationalFit

    return RationalFit(*classic("exp", 41), 2, 2)


def _lds_example():
    """A random stable system of order 2, four noisy sequences of length 20."""
    from lift.problems.transfer.lds import LinearSystemID, lds_data

    u, y, _ = lds_data(2, 20, 4, noise=0.05, seed=0)
    return LinearSystemID(u, y, 2, reg=0.3)


RATIONAL = register_family(Family(
    name="rational", help="rational functions p/q (certified minimax fit by bisection)",
    add_arguments=_rational_arguments, build=_rational_build,
    defaults={"sizes": [1, 2], "steps": 2000, "lr": 1e-2},
    example=lambda: _rational_example(),
    check_options={"sizes": (1, 2), "separable": False, "train_steps": 50}))

LDS = register_family(Family(
    name="lds", help="SISO linear systems (Hankel nuclear-norm lift, Ho-Kalman realization)",
    add_arguments=_lds_arguments, build=_lds_build,
    defaults={"sizes": [1, 2, 3, 6, 12], "steps": 2000, "lr": 1e-2},
    example=lambda: _lds_example(),
    check_options={"sizes": (1, 2, 4), "train_steps": 50}))
