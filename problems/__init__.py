"""Problem families: each lifts a non-convex learning problem into a convex program.

Importing this package registers every bundled family (see :mod:`lift.families`).
"""

from lift.problems.factorization import MatrixCompletion, MatrixSensing, PSDFactorization
from lift.problems.relu import GatedReLUNet, ReLULift, ReLUNet, TwoLayerReLU
from lift.problems.transfer import LinearSystemID, RationalFit

__all__ = ["GatedReLUNet", "LinearSystemID", "MatrixCompletion", "MatrixSensing",
           "PSDFactorization", "RationalFit", "ReLULift", "ReLUNet", "TwoLayerReLU"]
