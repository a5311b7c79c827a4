r"""Matrix factorization and its exact nuclear-norm lift.

Factorized objectives over factors of any rank ``r``,

.. math::

    \tfrac12 \|A(U V^T) - b\|^2 + \tfrac{\lambda}{2} (\|U\|_F^2 + \|V\|_F^2),

equal the convex program ``min_X 1/2 ||A(X) - b||^2 + lam ||X||_*`` once ``r`` reaches the
rank of its solution and are never below it at any rank, because of the variational form
``||X||_* = min_{U V^T = X} (||U||_F^2 + ||V||_F^2) / 2`` (for ``X = U U^T >= 0``: the trace).
So the program's certified lower bound is a ``global_bound`` for every factorization.

- :class:`MatrixCompletion` (``A`` samples entries), :class:`MatrixSensing` (linear
  measurements), :class:`PSDFactorization` (``X = U U^T``, trace norm, ``X >= 0``);
- :class:`NuclearLift`: the program (cvxpy, or ``solver="soft_impute"``: accelerated
  soft-impute on a sparse-plus-low-rank representation with a certified stop);
- certificates: :mod:`lift.problems.factorization.certificate`;
- data: :mod:`lift.problems.factorization.data`.

References
----------
N. Srebro, J. Rennie and T. Jaakkola. Maximum-margin matrix factorization. NIPS 2004.
R. Mazumder, T. Hastie and R. Tibshirani. Spectral regularization algorithms for learning
large incomplete matrices. JMLR 11, 2010.
S. Burer and R. Monteiro. A nonlinear programming algorithm for solving semidefinite programs
via low-rank factorization. Math. Program. 95, 2003.
S. Gunasekar, B. Woodworth, S. Bhojanapalli, B. Neyshabur and N. Srebro. Implicit
regularization in matrix factorization. NIPS 2017.
"""

from lift.problems.factorization import cli as _cli  # noqa: F401  (registers the families)
from lift.problems.factorization.certificate import dual_bound, spectral_bound
from lift.problems.factorization.models import Factors, SymmetricFactors, numerical_rank
from lift.problems.factorization.problem import (
    MatrixCompletion,
    MatrixSensing,
    PSDFactorization,
    observations,
)
from lift.problems.factorization.program import NuclearLift, svd_primal
from lift.solvers import soft_impute as _soft_impute  # noqa: F401  (registers its solver)

__all__ = [
    "Factors",
    "MatrixCompletion",
    "MatrixSensing",
    "NuclearLift",
    "PSDFactorization",
    "SymmetricFactors",
    "dual_bound",
    "numerical_rank",
    "observations",
    "spectral_bound",
    "svd_primal",
]
