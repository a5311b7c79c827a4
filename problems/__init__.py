"""Problem families: each lifts a non-convex learning problem into a convex program.

Importing this package registers every bundled family (see :mod:`lift.families`).
"""

from lift.problems.relu import GatedReLUNet, ReLULift, ReLUNet, TwoLayerReLU

__all__ = ["GatedReLUNet", "ReLULift", "ReLUNet", "TwoLayerReLU"]
