"""The ReLU family on the command line: ``lift solve relu ...``, ``lift compare relu ...``."""

from __future__ import annotations

import argparse
from typing import Any

from lift.cli import float_in, int_at_least, int_list
from lift.families import Family, register_family

__all__ = ["FAMILY"]


def _patterns(text: str, allow_auto: bool):
    if text == "exact" or (allow_auto and text == "auto"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--patterns must be {'auto, ' if allow_auto else ''}'exact' or a positive "
            f"integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--patterns must be >= 1, got {value}")
    return value


def _columns(text: str) -> list[int]:
    """``--columns`` (1-based, comma-separated) as 0-based indices."""
    return [v - 1 for v in int_list(text)]


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """Data, weight decay, loss and lift options of the ReLU family."""
    from lift.datasets import list_datasets

    compare = command == "compare"
    p.add_argument("--data", default="diabetes", choices=list_datasets(kind="xy"),
                   help="bundled dataset or generator (default: diabetes)")
    beta = 1.0 if compare else 1e-3  # compare: a weight decay where sampled optima inform
    p.add_argument("--beta", type=float, default=beta, help=f"weight decay (default: {beta:g})")
    p.add_argument("--loss", default=None, choices=["squared", "logistic", "hinge"],
                   help="loss (default: squared for regression, logistic for classification)")
    p.add_argument("--no-bias", action="store_true", help="neurons without bias")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="seed for the split and sampled gates")
    p.add_argument("--columns", type=_columns, default=None,
                   help="keep only these input columns (1-based, e.g. 3 for diabetes' BMI); "
                        "with at most 2 columns the lift is exact and certified")
    p.add_argument("--patterns", type=lambda t: _patterns(t, allow_auto=True),
                   default="auto" if compare else 200,
                   help="'auto' (every pattern for <= 2 inputs, else 200 sampled), 'exact' "
                        f"or a number of sampled gates (default: {'auto' if compare else 200})")
    p.add_argument("--program", default=None, choices=["cone", "gated"],
                   help="cone-constrained (exact) or gated group lasso (default: cone)")
    p.add_argument("--relaxation", default=None, choices=["relu", "gated"],
                   help=argparse.SUPPRESS)  # the old spelling of --program
    bound = 10.0 if compare else 0.0
    p.add_argument("--bound-time", type=float_in(0.0, 3600.0), default=bound,
                   help="seconds of branch and bound that bound every network's objective "
                        "when the patterns are sampled (cone program; valid at any time, "
                        f"tight up to about 3-D inputs; default: {bound:g})")


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The problem and held-out data named on the command line."""
    from lift.datasets import load
    from lift.problems.relu.problem import TwoLayerReLU

    data = load(args.data, seed=args.seed)
    X, X_test = data.X_train, data.X_test
    if args.columns is not None:
        if max(args.columns) >= X.shape[1]:
            raise ValueError(f"--columns: {args.data} has {X.shape[1]} input columns, got "
                             f"{max(args.columns) + 1}.")
        X, X_test = X[:, args.columns], X_test[:, args.columns]
    prob = TwoLayerReLU(X, data.y_train, beta=args.beta, loss=args.loss or data.loss,
                        bias=not args.no_bias)
    test = (X_test, data.y_test) if X_test.shape[0] else None
    return prob, test


def lift_options(args: argparse.Namespace) -> dict[str, Any]:
    program = args.program or {"relu": "cone", "gated": "gated", None: "cone"}[args.relaxation]
    out = {"patterns": args.patterns, "program": program, "seed": args.seed}
    if program == "cone" and args.bound_time > 0:
        out["bound_time"] = args.bound_time
    return out


def example():
    """A 1-D regression small enough to list every activation pattern (conformance tests)."""
    import numpy as np

    from lift.problems.relu.problem import TwoLayerReLU

    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-2, 2, 16))[:, None]
    return TwoLayerReLU(X, np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(16), beta=0.05)


FAMILY = register_family(Family(
    name="relu", help="two-layer ReLU networks (Pilanci-Ergen group-lasso lift)",
    add_arguments=add_arguments, build=build, lift_options=lift_options,
    defaults={"sizes": [1, 2, 4, 8, 16, 32, 64, 128], "steps": 3000, "lr": 1e-2},
    example=example,
    check_options={"lift_options": {"patterns": "exact"}, "sizes": (1, 3, 16),
                   "bad_arguments": [
                       ("lift(program='relu')", lambda: example().lift(program="relu")),
                       ("lift(patterns=0)", lambda: example().lift(patterns=0))]}))
