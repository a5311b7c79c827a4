"""Data sets of the ReLU family, registered with :func:`lift.datasets.register_dataset`."""

from __future__ import annotations

import numpy as np

from lift.datasets import Dataset, check_noise, check_rows, register_dataset, split_xy
from lift.errors import check_int

__all__ = ["teacher"]


def teacher(n: int = 200, d: int = 2, width: int = 3, noise: float = 0.05,
            seed: int = 0, test_size: float = 0.2) -> Dataset:
    """Regression data from a random two-layer ReLU teacher of the given width."""
    n, d, width = check_int(n, "n", minimum=2), check_int(d, "d", minimum=1), check_int(
        width, "width", minimum=1)
    noise = check_noise(noise)
    n = check_rows(n, d + width)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((width, d))
    b = rng.standard_normal(width) * 0.5
    a = rng.choice([-1.0, 1.0], width) * (0.5 + rng.random(width))
    y = np.maximum(X @ U.T + b, 0) @ a + noise * rng.standard_normal(n)
    return split_xy("teacher", "regression", X, y, test_size, seed,
                    f"ReLU teacher of width {width} in {d}-D, noise {noise}", standardize=False)


register_dataset("teacher", teacher, description=teacher.__doc__.split("\n")[0])
