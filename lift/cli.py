"""The ``lift`` command line.

``lift solve relu --data diabetes --beta 1e-3 --patterns 200 --solver scs [--json]``
solves a lifted program and prints value, certified gap, global bound, active units, status
and time. Subcommands register themselves in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable

__all__ = ["main", "build_parser", "COMMANDS"]

#: name -> (add_arguments(parser), run(args) -> exit code, help)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int], str]] = {}

PROBLEMS = ("relu",)


def command(name: str, help: str):
    """Register a subcommand: decorate ``run(args)``; its ``add_arguments`` is ``run.args``."""

    def wrap(run):
        COMMANDS[name] = (run.add_arguments, run, help)
        return run

    return wrap


def _parse_patterns(text: str):
    if text == "exact":
        return "exact"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--patterns must be 'exact' or a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--patterns must be >= 1, got {value}")
    return value


def add_problem_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by the commands that build a problem from a dataset."""
    from lift.datasets import list_datasets

    p.add_argument("problem", choices=PROBLEMS, help="problem class")
    p.add_argument("--data", default="diabetes", choices=list_datasets(),
                   help="bundled dataset or generator (default: diabetes)")
    p.add_argument("--beta", type=float, default=1e-3, help="weight decay (default: 1e-3)")
    p.add_argument("--loss", default=None, choices=["squared", "logistic", "hinge"],
                   help="loss (default: squared for regression, logistic for classification)")
    p.add_argument("--no-bias", action="store_true", help="neurons without bias")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and sampled gates")


def build_problem(args: argparse.Namespace):
    """The problem and dataset named on the command line."""
    from lift.datasets import load
    from lift.problems import TwoLayerReLU

    data = load(args.data, seed=args.seed)
    loss = args.loss or data.loss
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=args.beta, loss=loss,
                        bias=not args.no_bias)
    return prob, data


def _solve_args(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p)
    p.add_argument("--patterns", type=_parse_patterns, default=200,
                   help="'exact' or a number of sampled gates (default: 200)")
    p.add_argument("--relaxation", default="relu", choices=["relu", "gated"])
    p.add_argument("--solver", default="auto", help="auto, clarabel, scs, mosek, or a fast solver")
    p.add_argument("--tol", type=float, default=1e-6, help="target accuracy (default: 1e-6)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _fmt(value) -> str:
    if value is None:
        return "none (not certified)"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.8g}"
    return str(value)


def run_solve(args: argparse.Namespace) -> int:
    prob, data = build_problem(args)
    lifted = prob.lift(patterns=args.patterns, relaxation=args.relaxation, seed=args.seed)
    sol = lifted.solve(solver=args.solver, tol=args.tol)
    out = sol.summary()
    out.update({"problem": args.problem, "data": args.data, "n": prob.n, "d": prob.d,
                "beta": prob.beta, "loss": prob.loss.name, "patterns": lifted.P,
                "relaxation": lifted.relaxation})
    if sol.params is not None and data.X_test.shape[0]:
        out["test_error"] = prob.loss.error(prob.predict(sol.params, data.X_test), data.y_test)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                          for k, v in out.items()}, indent=2))
    else:
        print(f"{args.problem} on {args.data}: n={prob.n}, d={prob.d}, beta={prob.beta:g}, "
              f"loss={prob.loss.name}, {lifted.P} {'exact' if lifted.exact else 'sampled'} "
              f"patterns, {lifted.relaxation} relaxation")
        rows = [("value", sol.value), ("gap", sol.gap), ("relative gap", sol.rel_gap),
                ("lower bound", sol.lower_bound), ("global bound", sol.global_bound),
                ("active neurons", sol.size), ("status", sol.status), ("solver", sol.solver),
                ("time (s)", round(sol.time, 3)), ("iterations", sol.iterations)]
        if "test_error" in out:
            rows.append(("test error", out["test_error"]))
        for key, val in rows:
            print(f"  {key:<15} {_fmt(val)}")
        if sol.message:
            print(f"  {'stopped':<15} {sol.message}")
    return 0 if sol.status in ("optimal", "optimal_inaccurate") else 1


run_solve.add_arguments = _solve_args
command("solve", "solve a lifted program and print its certificate")(run_solve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lift", description="Lift non-convex learning problems into convex programs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, _run, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from lift.errors import LiftError

    _add, run, _help = COMMANDS[args.command]
    try:
        return run(args)
    except (ValueError, TypeError, LiftError) as exc:
        print(f"lift {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
