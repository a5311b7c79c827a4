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


def _rays(rng, count):
    """Rays ``(lam, y, tmax)`` of the logistic dual: interior optima, optima cut by ``tmax``,
    zeros, a coordinate outside the domain (only ``t = 0`` is left), and one ``s_k`` far
    above the others (the optimum at the domain's end)."""
    for k in range(count):
        n = int(rng.integers(1, 400))
        y = rng.choice([-1.0, 1.0], n)
        s = rng.random(n) ** rng.uniform(0.2, 5.0)
        if k % 5 == 0:
            s[rng.random(n) < 0.3] = 0.0
        if k % 7 == 0:
            s = np.zeros(n)
        if k % 11 == 0:
            s[0] = -0.1
        if k % 13 == 0:
            s = 1e-9 * rng.random(n)
            s[0] = 1.0
        tmax = [1e6, float(rng.uniform(0.0, 3.0)), 0.0][k % 3]
        yield -s * y * rng.uniform(0.01, 10.0), y, tmax


def test_logistic_ray_search_matches_golden_section():
    """The logistic loss' own ray search (Brent on the derivative) finds the same maximum of
    the concave ``-L^*(t lam)`` as the base class' golden-section search, within the ray,
    and its value is the conjugate at the ``t`` it returns (so the bound is valid)."""
    from lift.losses import Loss

    loss = get_loss("logistic")
    rng = np.random.default_rng(3)
    for lam, y, tmax in _rays(rng, 400):
        value, t = loss.best_scaled_dual(lam, y, tmax)
        golden, _ = Loss.best_scaled_dual(loss, lam, y, tmax)
        assert 0.0 <= t <= tmax
        assert value == -loss.conjugate(t * lam, y)
        assert value >= golden - 1e-12 * max(1.0, abs(golden))
        # and no point on a fine grid of the ray does better
        grid = np.linspace(0.0, min(tmax, loss.dual_domain(lam, y)), 201)
        vals = [-loss.conjugate(g * lam, y) for g in grid]
        assert value >= max(v for v in vals if np.isfinite(v)) - 1e-12 * max(1.0, abs(value))
