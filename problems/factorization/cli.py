"""The factorization family on the command line: ``lift solve completion|sensing|psd ...``."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from lift.cli import existing_file, float_in, int_at_least
from lift.families import Family, register_family

__all__ = ["COMPLETION", "SENSING", "PSD"]


def _common(p: argparse.ArgumentParser, lam: float) -> None:
    p.add_argument("--lam", type=float, default=lam,
                   help=f"nuclear-norm weight (default: {lam:g})")
    p.add_argument("--rank", type=int_at_least(1), default=3,
                   help="rank of the generated matrix")
    p.add_argument("--noise", type=float_in(0.0), default=0.1,
                   help="noise level of the observations")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the generator")


def add_completion(p: argparse.ArgumentParser, command: str) -> None:
    """Data (generated low-rank, bundled image or a triplet CSV) and ``lam``."""
    p.add_argument("--data", default="lowrank", choices=["lowrank", "coherent", "image"],
                   help="seeded low-rank (incoherent or coherent) matrix or a bundled image")
    p.add_argument("--csv", type=existing_file, default=None,
                   help="a user,item,rating file (overrides --data)")
    p.add_argument("--m", type=int_at_least(1), default=60, help="rows of the generated matrix")
    p.add_argument("--n", type=int_at_least(1), default=50,
                   help="columns of the generated matrix")
    p.add_argument("--fraction", type=float_in(0.0, 1.0, open_low=True), default=0.3,
                   help="observed fraction")
    _common(p, 1.0)


def build_completion(args: argparse.Namespace) -> tuple[Any, Any]:
    from lift.problems.factorization import data as fdata
    from lift.problems.factorization.problem import MatrixCompletion

    if args.csv:
        d, _ = fdata.load_triplets(args.csv, test_fraction=0.1, seed=args.seed)
    elif args.data == "image":
        d = fdata.image(args.fraction, seed=args.seed)
    else:
        d = fdata.low_rank(args.m, args.n, args.rank, fraction=args.fraction, noise=args.noise,
                           coherent=args.data == "coherent", seed=args.seed)
    prob = MatrixCompletion(d.train, lam=args.lam, shape=d.shape)
    test = d.test if d.test[0].size else None
    return prob, test


def add_sensing(p: argparse.ArgumentParser, command: str) -> None:
    """A seeded Gaussian sensing problem."""
    p.add_argument("--m", type=int_at_least(1), default=12, help="rows of the unknown matrix")
    p.add_argument("--n", type=int_at_least(1), default=10, help="columns of the unknown matrix")
    p.add_argument("--measurements", type=int_at_least(1), default=80,
                   help="number of measurements")
    _common(p, 0.5)


def build_sensing(args: argparse.Namespace) -> tuple[Any, Any]:
    from lift.problems.factorization.problem import MatrixSensing

    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.m, args.rank)) @ rng.standard_normal((args.rank, args.n))
    A = rng.standard_normal((args.measurements, args.m * args.n)) / np.sqrt(args.measurements)
    b = A @ X.reshape(-1) + args.noise * rng.standard_normal(args.measurements)
    return MatrixSensing(A, b, (args.m, args.n), lam=args.lam), X


def add_psd(p: argparse.ArgumentParser, command: str) -> None:
    """A seeded PSD completion problem."""
    p.add_argument("--n", type=int_at_least(1), default=30, help="size of the PSD matrix")
    p.add_argument("--fraction", type=float_in(0.0, 1.0, open_low=True), default=0.3,
                   help="observed fraction")
    _common(p, 0.5)


def build_psd(args: argparse.Namespace) -> tuple[Any, Any]:
    from lift.problems.factorization import data as fdata
    from lift.problems.factorization.problem import PSDFactorization

    d = fdata.low_rank_psd(args.n, args.rank, fraction=args.fraction, noise=args.noise,
                           seed=args.seed)
    return PSDFactorization(d.train, lam=args.lam, n=args.n), d.test


_DEFAULTS = {"sizes": [1, 2, 3, 4, 6, 8, 16], "steps": 3000, "lr": 1e-2}
_CHECK = {"sizes": (1, 2, 4), "train_steps": 100}


def _example(kind: str):
    """Small seeded instances, solved in seconds (conformance tests)."""
    from lift.problems.factorization import data as fdata
    from lift.problems.factorization.problem import (
        MatrixCompletion,
        MatrixSensing,
        PSDFactorization,
    )

    if kind == "completion":
        d = fdata.low_rank(12, 10, 2, fraction=0.5, noise=0.05, seed=0)
        return MatrixCompletion(d.train, lam=0.5, shape=d.shape)
    if kind == "psd":
        d = fdata.low_rank_psd(8, 2, fraction=0.6, noise=0.05, seed=0)
        return PSDFactorization(d.train, lam=0.3, n=8)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 5))
    A = rng.standard_normal((24, 30)) / np.sqrt(24)
    return MatrixSensing(A, A @ X.reshape(-1) + 0.05 * rng.standard_normal(24), (6, 5),
                         lam=0.3)

COMPLETION = register_family(Family(
    name="completion", help="matrix completion (nuclear-norm lift of factorized U V^T)",
    add_arguments=add_completion, build=build_completion, defaults=dict(_DEFAULTS),
    example=lambda: _example("completion"), check_options=dict(_CHECK)))
SENSING = register_family(Family(
    name="sensing", help="matrix sensing from linear measurements (nuclear-norm lift)",
    add_arguments=add_sensing, build=build_sensing, defaults=dict(_DEFAULTS),
    example=lambda: _example("sensing"), check_options=dict(_CHECK)))
PSD = register_family(Family(
    name="psd", help="PSD factorization U U^T (trace-norm lift with X >= 0)",
    add_arguments=add_psd, build=build_psd, defaults=dict(_DEFAULTS),
    example=lambda: _example("psd"), check_options=dict(_CHECK)))
