"""convex-lift: lift non-convex learning problems into convex programs, solve them with
certificates, map the solutions back, and compare with overparameterized SGD."""

from lift.base import STATUSES, Certificate, Lifted, Problem, Solution, SolverResult
from lift.compare import Comparison, compare
from lift.errors import (
    ConvergenceWarning,
    InaccurateSolutionWarning,
    LiftError,
    PatternCountError,
    SolverError,
    SolverNotAvailableError,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    # lazily, so that ``import lift`` does not import torch
    if name == "TrainConfig":
        from lift.solvers.sgd import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'lift' has no attribute {name!r}")


__all__ = [
    "STATUSES",
    "Certificate",
    "Comparison",
    "ConvergenceWarning",
    "InaccurateSolutionWarning",
    "LiftError",
    "Lifted",
    "PatternCountError",
    "Problem",
    "Solution",
    "SolverResult",
    "SolverError",
    "SolverNotAvailableError",
    "TrainConfig",
    "__version__",
    "compare",
]
