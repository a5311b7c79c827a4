"""The ``lift`` command line, generic over the registered problem families.

``lift solve NAME [family options] [--solver S --tol T --json]`` lifts and solves one problem
and prints its certificate; ``lift compare NAME [family options] [--sizes ... --out DIR]``
trains models of many sizes and seeds against the convex optimum; ``lift report DIR``
rebuilds a sweep's table, summary and figure from its results store. ``NAME`` is any family
registered with :func:`lift.families.register_family`: the family adds its own options
(``Family.add_arguments``), builds its problem and held-out data (``Family.build``) and its
lift options (``Family.lift_options``); everything else here is the core's.

Every user mistake (an option the library rejects, a damaged or busy results store, an output
folder that cannot be written or holds something else) ends the command with one line,
``lift: error: ...``, on stderr and exit status 2, naming the option; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["main", "build_parser", "COMMANDS", "COMPARE_DEFAULTS", "Parser", "int_list",
           "int_at_least", "float_in", "existing_file"]

#: library argument names whose command-line option has another name
_ALIASES = {"store": "out", "folder": "out", "connect_timeout": "address"}


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"lift: error: {' '.join(message.split())} (`{self.prog} --help` lists "
                     "the options)\n")

#: name -> (add_arguments(parser), run(args) -> exit code, help)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int], str]] = {}

#: defaults of the generic ``compare`` options (a family's ``defaults`` override them)
COMPARE_DEFAULTS: dict[str, Any] = {
    "sizes": [1, 2, 4, 8, 16, 32, 64], "seeds": list(range(5)), "optimizer": "adam",
    "steps": 3000, "lr": 1e-2, "schedule": "cosine", "batch_size": None, "clip": None,
    "patience": None, "solver": "auto", "tol": 1e-6, "reach": 1e-2, "backend": "local",
    "address": None, "n_jobs": None, "population": "size", "out": None, "progress": None}


def command(name: str, help: str):
    """Register a subcommand: decorate ``run(args)``; its ``add_arguments`` is ``run.args``."""

    def wrap(run):
        COMMANDS[name] = (run.add_arguments, run, help)
        return run

    return wrap


def _fmt(value: Any) -> str:
    if value is None:
        return "none (not certified)"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.8g}"
    return str(value)


def _facts(facts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in facts.items())


def _family_parsers(p: argparse.ArgumentParser, command_name: str,
                    generic: Callable[[argparse.ArgumentParser], None]) -> None:
    """One sub-parser per registered family: its own options, then the generic ones."""
    from lift.families import families

    known = families()
    sub = p.add_subparsers(dest="family", required=True, metavar="NAME", parser_class=Parser,
                           title="problem families", help=", ".join(sorted(known)))
    for name, fam in sorted(known.items()):
        fp = sub.add_parser(name, help=fam.help, description=fam.help)
        fam.add_arguments(fp, command_name)
        generic(fp)
        if command_name == "compare":
            fp.set_defaults(**{k: v for k, v in fam.defaults.items() if k in COMPARE_DEFAULTS})


# --- solve -----------------------------------------------------------------------------------
def _solve_generic(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver")
    g.add_argument("--solver", default="auto", help="auto, clarabel, scs, mosek, or a "
                   "specialised solver of the program (default: auto)")
    g.add_argument("--tol", type=float, default=1e-6, help="target accuracy (default: 1e-6)")
    g.add_argument("--time-limit", type=float, default=None,
                   help="seconds: the solver stops at its next certificate past them and "
                        "reports the certified gap reached (status max_iters)")
    g.add_argument("--json", action="store_true", help="machine-readable output")


def _solve_args(p: argparse.ArgumentParser) -> None:
    _family_parsers(p, "solve", _solve_generic)


def run_solve(args: argparse.Namespace) -> int:
    from lift.families import get_family

    fam = get_family(args.family)
    prob, test = fam.build(args)
    lifted = prob.lift(**fam.lift_options(args))
    limit = {} if args.time_limit is None else {"time_limit": args.time_limit}
    sol = lifted.solve(solver=args.solver, tol=args.tol, **limit)
    out: dict[str, Any] = {"problem": args.family, **sol.summary()}
    extra = dict(prob.describe())
    extra.update(lifted.describe())
    if sol.params is not None:
        extra.update(prob.evaluate(sol.params, test))
    for key, val in extra.items():
        out[key if key not in out or out[key] == val else f"program_{key}"] = val
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                          for k, v in out.items()}, indent=2))
        return 0 if sol.status in ("optimal", "optimal_inaccurate") else 1
    print(f"{args.family}: {_facts(prob.describe())}; program: {_facts(lifted.describe())}")
    rows = [("value", sol.value), ("gap", sol.gap), ("relative gap", sol.rel_gap),
            ("lower bound", sol.lower_bound), ("global bound", sol.global_bound),
            (f"effective {prob.size_name}", sol.size), ("status", sol.status),
            ("solver", sol.solver), ("time (s)", round(sol.time, 3)),
            ("iterations", sol.iterations)]
    if sol.params is not None:
        rows += [(k.replace("_", " "), v) for k, v in prob.evaluate(sol.params, test).items()]
    for key, val in rows:
        print(f"  {key:<16} {_fmt(val)}")
    if sol.message:
        print(f"  {'stopped':<16} {sol.message}")
    return 0 if sol.status in ("optimal", "optimal_inaccurate") else 1


run_solve.add_arguments = _solve_args
command("solve", "solve a lifted program and print its certificate")(run_solve)


# --- compare / report ------------------------------------------------------------------------
def int_list(text: str) -> list[int]:
    """Parse ``"1,2,4"`` into positive integers (an ``argparse`` type; families use it too)."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}")
    return values


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An ``argparse`` type: an integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def float_in(low: float = 0.0, high: float = math.inf, *, open_low: bool = False
             ) -> Callable[[str], float]:
    """An ``argparse`` type: a finite float in ``[low, high]`` (``(low, high]`` with
    ``open_low``)."""
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if open_low else value >= low)
                and value <= high):
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}")
        return value

    return parse


def existing_file(text: str) -> str:
    """An ``argparse`` type: the path of a readable file."""
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"no readable file {text!r}")
    return text


def _seeds(text: str) -> list[int]:
    """``5`` means seeds 0..4; ``0,3,7`` lists them."""
    from lift.compare import check_seed_count

    try:
        if "," in text:
            return [int(t) for t in text.split(",") if t.strip()]
        count = check_seed_count(int(text), "--seeds")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc) if "`--seeds`" in str(exc) else
                                         f"--seeds must be a count or a list, got {text!r}"
                                         ) from None
    return list(range(count))


def _population(text: str):
    if text in ("size", "all"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--population must be 'size', 'all' or an integer, got {text!r}") from None


def _compare_generic(p: argparse.ArgumentParser) -> None:
    d = COMPARE_DEFAULTS
    g = p.add_argument_group("sweep")
    g.add_argument("--sizes", type=int_list, default=d["sizes"],
                   help="comma-separated sizes (default: %(default)s)")
    g.add_argument("--seeds", type=_seeds, default=d["seeds"],
                   help="number of seeds, or a comma-separated list (default: %(default)s)")
    g.add_argument("--optimizer", default=d["optimizer"], choices=["adam", "sgd", "gd"])
    g.add_argument("--steps", type=int, default=d["steps"], help="steps per run "
                   "(default: %(default)s)")
    g.add_argument("--lr", type=float, default=d["lr"], help="learning rate "
                   "(default: %(default)s)")
    g.add_argument("--schedule", default=d["schedule"],
                   choices=["constant", "cosine", "linear", "invsqrt"])
    g.add_argument("--batch-size", type=int, default=None, help="mini-batch size "
                   "(default: full)")
    g.add_argument("--clip", type=float, default=None, help="gradient-norm clipping")
    g.add_argument("--patience", type=int, default=None, help="early stop after this many "
                   "recorded objectives without progress")
    g.add_argument("--solver", default=d["solver"], help="solver of the lifted program")
    g.add_argument("--tol", type=float, default=d["tol"], help="solver tolerance")
    g.add_argument("--reach", type=float, default=d["reach"],
                   help="relative gap that counts as reaching the optimum (default: 0.01)")
    g.add_argument("--eps", dest="reach", type=float, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name of --reach
    g.add_argument("--backend", default=d["backend"], choices=["local", "dask"])
    g.add_argument("--address", default=None, help="Dask scheduler address (backend dask)")
    g.add_argument("--n-jobs", type=int, default=None, help="worker processes")
    g.add_argument("--population", type=_population, default=d["population"],
                   help="group runs into batched populations: 'size', 'all' or a count")
    g.add_argument("--out", default=None, help="results folder: store, table.csv, "
                   "summary.csv, gap_vs_size.png (default: runs/NAME); a folder that is not "
                   "empty must hold a store of the same sweep (it resumes) unless --force")
    g.add_argument("--force", action="store_true", help="write into an --out folder that "
                   "holds other files or another sweep (its table.csv, summary.csv and figure "
                   "are replaced)")
    g.add_argument("--progress", action="store_true", default=None,
                   help="show a progress bar (default: when attached to a terminal)")
    g.add_argument("--no-include-runs", dest="include_runs", action="store_false",
                   help="do not solve the program that also contains every trained model "
                        "(inexact lifts only)")
    g.add_argument("--refine-rounds", type=int, default=0,
                   help="rounds of refinement (e.g. column generation) of that program "
                        "(default: 0, only the search for violated constraints)")


def _compare_args(p: argparse.ArgumentParser) -> None:
    _family_parsers(p, "compare", _compare_generic)


def _print_outputs(cmp, paths: dict[str, str], header: str) -> None:
    print(header)
    print(cmp.format_summary())
    print("wrote " + ", ".join(paths.values()))


def run_compare(args: argparse.Namespace) -> int:
    from lift.compare import compare
    from lift.families import get_family
    from lift.solvers.sgd import TrainConfig
    from lift.store import store_lock

    fam = get_family(args.family)
    train = TrainConfig(optimizer=args.optimizer, steps=args.steps, lr=args.lr,
                        schedule=args.schedule, batch_size=args.batch_size, clip=args.clip,
                        patience=args.patience)
    prob, test = fam.build(args)
    out = args.out or os.path.join("runs", args.family)
    cmp = compare(prob, sizes=args.sizes, seeds=args.seeds, train=train,
                  lift=fam.lift_options(args), solver=args.solver, tol=args.tol, store=out,
                  backend=args.backend, test=test, reach=args.reach, n_jobs=args.n_jobs,
                  population=args.population, address=args.address, progress=args.progress,
                  include_runs=args.include_runs, refine_rounds=args.refine_rounds,
                  force=args.force)
    with store_lock(out):  # compare checked the folder: its outputs are this sweep's
        paths = cmp.save(out, overwrite=True)
    _print_outputs(cmp, paths, f"{args.family}: {_facts(prob.describe())}; {args.optimizer} "
                               f"x {args.steps} steps, lr={args.lr:g}")
    return 0


run_compare.add_arguments = _compare_args
command("compare", "train models of many sizes and seeds against the convex optimum"
        )(run_compare)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="results folder written by `lift compare --out`")
    p.add_argument("--sweep", default=None, help="sweep id (prefix) when the store holds "
                   "several (default: the latest)")
    p.add_argument("--reach", type=float, default=None, help="override the sweep's reach")
    p.add_argument("--eps", dest="reach", type=float, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name of --reach
    p.add_argument("--parquet", action="store_true", help="also write table.parquet")


def run_report(args: argparse.Namespace) -> int:
    from lift.compare import Comparison
    from lift.errors import check_positive

    try:
        cmp = Comparison.from_store(args.folder, sweep=args.sweep)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    if args.reach is not None:
        cmp.reach = check_positive(args.reach, "reach")
    paths = cmp.save(args.folder, overwrite=True)  # rebuilding them is what report is for
    if args.parquet:
        paths["table.parquet"] = os.path.join(args.folder, "table.parquet")
        cmp.table.to_parquet(paths["table.parquet"], index=False)
    _print_outputs(cmp, paths, f"report of {args.folder}: {cmp.spec.get('problem')}")
    return 0


run_report.add_arguments = _report_args
command("report", "rebuild table, summary and plot of a sweep from its results store"
        )(run_report)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lift", description="Lift non-convex learning problems into convex programs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (add_arguments, _run, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """``dest -> --option`` of the (sub)parser that parsed ``args``."""
    found: dict[str, str] = {}
    while parser is not None:
        nxt = None
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                nxt = action.choices.get(getattr(args, action.dest, None))
            elif action.option_strings and action.help != argparse.SUPPRESS:
                found[action.dest] = max(action.option_strings, key=len)
        parser = nxt
    return found


def _one_line(exc: BaseException, options: dict[str, str]) -> str:
    """The error as one line, naming the command-line options of the arguments it names."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    named = []
    for name in re.findall(r"`([A-Za-z_]\w*)`", text):
        opt = options.get(_ALIASES.get(name, name))
        if opt and opt not in text and opt not in named:
            named.append(opt)
    return text + (f" [option {', '.join(named)}]" if named else "")


def _warn_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"lift: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``lift`` command; returns its exit status (2 for any user mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from lift.errors import LiftError

    _add, run, _help = COMMANDS[args.command]
    show = warnings.showwarning
    warnings.showwarning = _warn_line  # one line per warning, no source excerpt
    try:
        return run(args)
    except (ValueError, TypeError, LiftError, OSError, MemoryError) as exc:
        if isinstance(exc, MemoryError):
            exc = MemoryError("out of memory; use a smaller problem, fewer sizes or seeds")
        print(f"lift: error: {_one_line(exc, _options(parser, args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lift: interrupted (finished tasks are in the store; rerun the same command to "
              "resume)", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
