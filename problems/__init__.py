"""Problem classes: each lifts a non-convex learning problem into a convex program."""

from lift.problems.relu import GatedReLUNet, ReLULift, ReLUNet, TwoLayerReLU

__all__ = ["GatedReLUNet", "ReLULift", "ReLUNet", "TwoLayerReLU"]
