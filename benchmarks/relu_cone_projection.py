"""The cone projection (``ConeProjection``) on the points where ``ssnal`` calls it: record,
then replay call by call.

``record`` runs ``ssnal`` on a grid cone row (``relu_solvers.py``'s data, squared loss) with a
time limit and saves every point it projects (``Z`` and the step ``s``). ``replay`` projects
the saved points in order with a fresh ``ConeProjection`` (so each call is warm-started from
the previous one, as in the solve) and prints, per call, the time, the batched Lawson-Hanson
group-rounds, the NNLS solves of the fallback and the groups projected; ``--cold`` gives every
call a fresh projection instead (each starts without kept rows). ``--module`` replays with
another copy of ``cone_fista.py`` (a variant under test), ``--check`` compares the outputs with
a saved replay's.

Run (one thread):

    OMP_NUM_THREADS=1 python benchmarks/relu_cone_projection.py record calls.pt \\
        --n 10000 --d 50 --P 500 --beta 2.17 --bias --time-limit 100
    OMP_NUM_THREADS=1 python benchmarks/relu_cone_projection.py replay calls.pt --calls 3
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import warnings

import torch
from relu_solvers import grid_data


def _lifted(n: int, d: int, P: int, beta: float, bias: bool):
    from lift.problems import TwoLayerReLU

    X, y = grid_data(n, d, "squared")
    return TwoLayerReLU(X, y, beta=beta, bias=bias, loss="squared").lift(
        patterns=P, program="cone", seed=0)


def record(args) -> None:
    from lift.problems.relu import cone_fista

    lifted = _lifted(args.n, args.d, args.P, args.beta, args.bias)
    calls = []
    project = cone_fista.ConeProjection.__call__

    def recorded(self, Z, s):
        calls.append((Z.detach().clone(), s))
        return project(self, Z, s)

    cone_fista.ConeProjection.__call__ = recorded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lifted.solve("ssnal", tol=1e-6, time_limit=args.time_limit, device="cpu")
    cone_fista.ConeProjection.__call__ = project
    torch.save({"calls": calls, "n": args.n, "d": args.d, "P": args.P, "beta": args.beta,
                "bias": args.bias}, args.file)
    print(f"{len(calls)} calls saved to {args.file}; ssnal: {res.status}, certified gap "
          f"{res.info['rel_gap']:.2e}, {res.info['newton_steps']} Newton steps")


def replay(args) -> None:
    from lift.problems.relu.operators import PatternOperator

    if args.module:
        spec = importlib.util.spec_from_file_location("cone_variant", args.module)
        module = importlib.util.module_from_spec(spec)
        sys.modules["cone_variant"] = module
        spec.loader.exec_module(module)
    else:
        from lift.problems.relu import cone_fista as module
    rec = torch.load(args.file)
    lifted = _lifted(rec["n"], rec["d"], rec["P"], rec["beta"], rec["bias"])
    op = PatternOperator(lifted.problem.Xa, lifted.D, device="cpu", dtype=torch.float64)
    calls = rec["calls"][:args.calls] if args.calls else rec["calls"]
    proj, outs, total = None, [], 0.0
    for k, (Z, s) in enumerate(calls, 1):
        if proj is None or args.cold:
            proj = module.ConeProjection(op, rec["beta"], rounds=args.rounds)
        rounds, solves = proj.equality_calls, proj.nnls_calls
        t = time.perf_counter()
        outs.append(proj(Z, s))
        dt = time.perf_counter() - t
        total += dt
        print(f"call {k}: {dt:.2f} s, group-rounds {proj.equality_calls - rounds}, NNLS "
              f"{proj.nnls_calls - solves}, groups projected {proj.moved.numel()}", flush=True)
    print(f"total {total:.1f} s over {len(calls)} calls")
    if args.save:
        torch.save(outs, args.save)
    if args.check:
        ref = torch.load(args.check)
        diff = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))
                   for a, b in zip(outs, ref, strict=True))
        print(f"largest relative difference from {args.check}: {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record", help="run ssnal and save the points it projects")
    r.add_argument("file")
    r.add_argument("--n", type=int, default=10_000)
    r.add_argument("--d", type=int, default=50)
    r.add_argument("--P", type=int, default=500)
    r.add_argument("--beta", type=float, default=2.17)
    r.add_argument("--bias", action="store_true")
    r.add_argument("--time-limit", type=float, default=100.0)
    p = sub.add_parser("replay", help="project the saved points in order")
    p.add_argument("file")
    p.add_argument("--calls", type=int, default=0, help="the first CALLS only (0: all)")
    p.add_argument("--cold", action="store_true", help="a fresh projection for every call")
    p.add_argument("--rounds", type=int, default=None, help="batched rounds per call")
    p.add_argument("--module", default=None, help="a cone_fista.py variant to replay with")
    p.add_argument("--save", default=None, help="save the outputs here")
    p.add_argument("--check", default=None, help="compare with outputs saved by --save")
    args = parser.parse_args()
    torch.set_num_threads(1)
    record(args) if args.command == "record" else replay(args)


if __name__ == "__main__":
    main()
