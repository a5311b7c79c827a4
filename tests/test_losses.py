"""Losses: gradients (Taylor remainder), conjugates (Fenchel-Young), and one function in
numpy, torch and cvxpy."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch

from lift.losses import LOSSES, get_loss

RNG = np.random.default_rng(0)
Z = RNG.standard_normal(12) * 2
Y_REG = RNG.standard_normal(12)
Y_PM1 = np.where(RNG.standard_normal(12) > 0, 1.0, -1.0)


def _targets(name):
    return Y_REG if name == "squared" else Y_PM1


@pytest.mark.parametrize("name", list(LOSSES))
def test_value_agrees_across_numpy_torch_cvxpy(name):
    loss, y = get_loss(name), _targets(name)
    ref = loss.value(Z, y)
    assert float(loss.torch(torch.from_numpy(Z), torch.from_numpy(y))) == pytest.approx(ref)
    z = cp.Variable(12)
    z.value = Z
    assert loss.cvxpy(z, y).value == pytest.approx(ref)
    # batched torch form: one value per row
    batch = torch.from_numpy(np.stack([Z, -Z]))
    vals = loss.torch(batch, torch.from_numpy(y))
    assert vals.shape == (2,) and float(vals[1]) == pytest.approx(loss.value(-Z, y))


@pytest.mark.parametrize("name", ["squared", "logistic"])
def test_gradient_taylor_remainder_is_second_order(name):
    loss, y = get_loss(name), _targets(name)
    g = loss.grad(Z, y)
    h = RNG.standard_normal(12)
    errs = []
    for t in (1e-2, 1e-3):
        errs.append(abs(loss.value(Z + t * h, y) - loss.value(Z, y) - t * g @ h))
    assert errs[1] < errs[0] / 50  # O(t^2): a factor 100 per decade


@pytest.mark.parametrize("name", list(LOSSES))
def test_fenchel_young(name):
    """L(z) + L*(lam) >= lam^T z for every dual-feasible lam, with equality at lam = grad L."""
    loss, y = get_loss(name), _targets(name)
    for _ in range(20):
        lam = loss.project_dual(RNG.standard_normal(12), y)
        assert loss.value(Z, y) + loss.conjugate(lam, y) >= lam @ Z - 1e-12
    lam = loss.grad(Z, y)
    assert loss.value(Z, y) + loss.conjugate(lam, y) == pytest.approx(lam @ Z, abs=1e-10)


@pytest.mark.parametrize("name", ["logistic", "hinge"])
def test_conjugate_is_infinite_outside_domain(name):
    loss = get_loss(name)
    lam = -Y_PM1 * 1.5  # s = 1.5 > 1
    assert loss.conjugate(lam, Y_PM1) == np.inf
    assert np.isfinite(loss.conjugate(loss.project_dual(lam, Y_PM1), Y_PM1))
