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
    "__version__",
    "compare",
]
