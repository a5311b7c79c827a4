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


# --- compare / report ------------------------------------------------------------------------
def _int_list(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}")
    return values


def _seeds(text: str) -> list[int]:
    """``5`` means seeds 0..4; ``0,3,7`` lists them."""
    if "," not in text:
        try:
            count = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--seeds must be a count or a list, got {text!r}"
                                             ) from None
        if count < 1:
            raise argparse.ArgumentTypeError(f"--seeds must be >= 1, got {count}")
        return list(range(count))
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be a count or a list, got {text!r}"
                                         ) from None


def _compare_patterns(text: str):
    return "auto" if text == "auto" else _parse_patterns(text)


def _population(text: str):
    if text in ("size", "all"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--population must be 'size', 'all' or an integer, got {text!r}") from None


def _compare_args(p: argparse.ArgumentParser) -> None:
    add_problem_arguments(p)
    p.set_defaults(beta=1.0)  # a weight decay at which sampled-pattern optima are informative
    for action in p._actions:
        if action.dest == "beta":
            action.help = "weight decay (default: 1.0)"
    p.add_argument("--columns", type=lambda t: [i - 1 for i in _int_list(t)], default=None,
                   help="keep only these input columns (1-based, e.g. 3 for diabetes' BMI); "
                        "with at most 2 columns the lift is exact and certified")
    p.add_argument("--sizes", type=_int_list, default=[1, 2, 4, 8, 16, 32, 64, 128],
                   help="comma-separated widths (default: 1,2,4,...,128)")
    p.add_argument("--seeds", type=_seeds, default=list(range(5)),
                   help="number of seeds, or a comma-separated list (default: 5)")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "gd"])
    p.add_argument("--steps", type=int, default=3000, help="steps per run (default: 3000)")
    p.add_argument("--lr", type=float, default=1e-2, help="learning rate (default: 1e-2)")
    p.add_argument("--schedule", default="cosine",
                   choices=["constant", "cosine", "linear", "invsqrt"])
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: full)")
    p.add_argument("--clip", type=float, default=None, help="gradient-norm clipping")
    p.add_argument("--patience", type=int, default=None, help="early stop after this many "
                   "recorded objectives without progress")
    p.add_argument("--patterns", type=_compare_patterns, default="auto",
                   help="'auto' (exact for <= 2 inputs, else 200 sampled), 'exact' or a count")
    p.add_argument("--relaxation", default="relu", choices=["relu", "gated"])
    p.add_argument("--solver", default="auto", help="solver of the lifted program")
    p.add_argument("--tol", type=float, default=1e-6, help="solver tolerance")
    p.add_argument("--eps", type=float, default=1e-2,
                   help="relative gap that counts as reaching the optimum (default: 0.01)")
    p.add_argument("--backend", default="local", choices=["local", "dask"])
    p.add_argument("--address", default=None, help="Dask scheduler address (backend dask)")
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes")
    p.add_argument("--population", type=_population, default="size",
                   help="group runs into batched populations: 'size', 'all' or a count")
    p.add_argument("--out", default=None,
                   help="results folder: store, table.csv, summary.csv, gap_vs_size.png "
                        "(default: runs/<data>)")
    p.add_argument("--progress", action="store_true", default=None,
                   help="show a progress bar (default: when attached to a terminal)")


def _print_outputs(cmp, paths: dict[str, str], header: str) -> None:
    print(header)
    print(cmp.format_summary())
    print("wrote " + ", ".join(paths.values()))


def run_compare(args: argparse.Namespace) -> int:
    import os

    from lift.compare import compare

    prob, data = build_problem(args)
    X_test = data.X_test
    if args.columns is not None:
        from lift.problems import TwoLayerReLU

        if max(args.columns) >= prob.d:
            raise ValueError(f"--columns: {args.data} has {prob.d} input columns, got "
                             f"{max(args.columns) + 1}.")
        prob = TwoLayerReLU(prob.X[:, args.columns], prob.y, beta=prob.beta,
                            loss=prob.loss.name, bias=prob.bias)
        X_test = X_test[:, args.columns]
    test = (X_test, data.y_test) if X_test.shape[0] else None
    out = args.out or os.path.join("runs", args.data)
    cmp = compare(prob, sizes=args.sizes, seeds=args.seeds, optimizer=args.optimizer,
                  steps=args.steps, lr=args.lr, solver=args.solver, store=out,
                  backend=args.backend, test=test, patterns=args.patterns,
                  relaxation=args.relaxation, tol=args.tol, schedule=args.schedule,
                  batch_size=args.batch_size, clip=args.clip, patience=args.patience,
                  eps=args.eps, n_jobs=args.n_jobs, population=args.population,
                  address=args.address, progress=args.progress)
    paths = cmp.save(out)
    _print_outputs(cmp, paths, f"{args.problem} on {args.data}: n={prob.n}, d={prob.d}, "
                               f"beta={prob.beta:g}, loss={prob.loss.name}, "
                               f"{args.optimizer} x {args.steps} steps, lr={args.lr:g}")
    return 0


run_compare.add_arguments = _compare_args
command("compare", "train networks of many widths and seeds against the convex optimum"
        )(run_compare)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="results folder written by `lift compare --out`")
    p.add_argument("--sweep", default=None, help="sweep id (prefix) when the store holds "
                   "several (default: the latest)")
    p.add_argument("--eps", type=float, default=None, help="override the sweep's eps")
    p.add_argument("--parquet", action="store_true", help="also write table.parquet")


def run_report(args: argparse.Namespace) -> int:
    import os

    from lift.compare import Comparison

    try:
        cmp = Comparison.from_store(args.folder, sweep=args.sweep)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    if args.eps is not None:
        from lift.errors import check_positive

        cmp.eps = check_positive(args.eps, "eps")
    paths = cmp.save(args.folder)
    if args.parquet:
        paths["table.parquet"] = os.path.join(args.folder, "table.parquet")
        cmp.table.to_parquet(paths["table.parquet"], index=False)
    _print_outputs(cmp, paths, f"report of {args.folder}: {cmp.spec.get('problem')}")
    return 0


run_report.add_arguments = _report_args
command("report", "rebuild table, summary and plot of a sweep from its results store"
        )(run_report)


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
