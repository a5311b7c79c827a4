"""The generic solver toolbox of ``lift.solvers``, each piece against an independent answer.

Checked: proximal gradient with a prox other than the group lasso (the lasso, against
Clarabel), Newton on the support by the optimality conditions, the scaled dual value of every
loss against a dense search, the method-of-multipliers loop on a problem with a closed-form
solution and multipliers, power iteration against an eigensolver, the row chunks, the choice
of the next working set, and the option validation.
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pytest
import torch

from lift.losses import LOSSES, get_loss
from lift.solvers.augmented_lagrangian import MethodOfMultipliers
from lift.solvers.group_lasso import LowRankGroupMetric, group_lasso_gram, group_lasso_residual
from lift.solvers.linalg import (
    add_upper_gram,
    cholesky_apply,
    cholesky_apply_low,
    drop_negligible,
    lower_gram,
    power_iteration,
    row_chunks,
    symmetric_from_upper,
    top_eigenspace,
)
from lift.solvers.monitor import parse_options
from lift.solvers.newton import SupportNewton
from lift.solvers.proxgrad import Point, ProximalGradient
from lift.solvers.working_set import next_working_set


class _LeastSquares:
    """``f(x) = 1/2 ||A x - b||^2`` as a smooth oracle."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor) -> None:
        self.A, self.b = A, b

    def point(self, x):
        r = self.A @ x - self.b
        return Point(x, 0.5 * float(r @ r))

    def gradient(self, p):
        return self.A.T @ (self.A @ p.x - self.b)

    def extrapolate(self, new, old, m):
        return self.point(new.x + m * (new.x - old.x))


def test_proximal_gradient_takes_any_prox_lasso_matches_clarabel():
    rng = np.random.default_rng(0)
    A, b, mu = rng.standard_normal((30, 12)), rng.standard_normal(30), 3.0
    At, bt = torch.from_numpy(A), torch.from_numpy(b)

    def prox_l1(x, step):  # soft thresholding: not a group prox
        return torch.sign(x) * torch.clamp(x.abs() - mu * step, min=0.0)

    out = ProximalGradient(max_iters=5_000).run(
        _LeastSquares(At, bt), torch.zeros(12, dtype=torch.float64), prox_l1,
        lambda x: mu * float(x.abs().sum()), 1.0, lambda k, x, F, y, G, s: False)
    x = cp.Variable(12)
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + mu * cp.norm1(x)))
    ref.solve(solver="CLARABEL")
    assert out.iterations == 5_000 and out.value <= ref.value + 1e-8 * abs(ref.value)
    # optimality: A^T (A x - b) in -mu * subdifferential of ||x||_1, to 1e-5 relative to mu.
    # Near the optimum the line search's relative slack (1e-13 of f) admits steps above 1/L,
    # and the iterates wander at a gradient error of 1e-8 to 1e-6 (1e-7 after 200
    # iterations, 5e-7 after 1,000, 1.4e-8 after 5,000 here; 3e-6 under torch 2.11's BLAS)
    xs = out.point.x.numpy()
    g = A.T @ (A @ xs - b)
    nz = xs != 0
    assert 0 < nz.sum() < 12
    np.testing.assert_allclose(g[nz], -mu * np.sign(xs[nz]), atol=1e-5 * mu)
    assert np.all(np.abs(g[~nz]) <= mu * (1 + 1e-5))


def test_proximal_gradient_stops_when_check_says_so():
    rng = np.random.default_rng(1)
    A = torch.from_numpy(rng.standard_normal((10, 4)))
    b = torch.from_numpy(rng.standard_normal(10))
    calls = []

    def check(k, x, F, y, G, step):
        calls.append(k)
        return k == 7

    out = ProximalGradient(max_iters=100).run(_LeastSquares(A, b), torch.zeros(4, dtype=A.dtype),
                                              lambda x, s: x, lambda x: 0.0, 1.0, check)
    assert out.iterations == 7 and calls == list(range(1, 8))


def _quadratic_group_lasso(seed: int):
    rng = np.random.default_rng(seed)
    m, d, n = 6, 3, 40
    A = rng.standard_normal((n, m * d))
    y = rng.standard_normal(n)
    return A.T @ A, A.T @ y, 6.0, m, d


class _Quad:
    def __init__(self, G, b):
        self.G, self.b = G, b

    def value(self, X):
        x = X.reshape(-1)
        return float(0.5 * x @ (self.G @ x) - self.b @ x)

    def derivatives(self, X):
        return (self.G @ X.reshape(-1) - self.b).reshape(X.shape), self.G


def test_support_newton_reaches_optimality_from_the_right_support():
    G, b, beta, m, d = _quadratic_group_lasso(0)
    u, _, res = group_lasso_gram(G, b, beta, d, np.zeros(m * d), tol=1e-13)
    U = torch.from_numpy(u.reshape(m, d))
    support = torch.nonzero(torch.linalg.vector_norm(U, dim=1) > 0).flatten()
    assert 0 < support.numel() < m
    ix = (support[:, None] * d + torch.arange(d)).reshape(-1)
    Gs, bs = torch.from_numpy(G)[ix][:, ix], torch.from_numpy(b)[ix]
    start = U[support] * 1.2 + 0.01  # a point off the optimum, same support
    newton = SupportNewton(max_steps=30, gain_tol=None)
    phi0 = _Quad(Gs, bs).value(start) + beta * float(torch.linalg.vector_norm(start, dim=1).sum())
    X, phi, taken = newton.run(_Quad(Gs, bs), start, beta)
    assert taken >= 1 and phi < phi0
    # the optimum's objective to rounding (a step is kept only if phi drops, which rounding
    # stops once the gain is below ~1e-16 |phi|: a residual of about sqrt(1e-16))
    opt = _Quad(Gs, bs).value(U[support]) + beta * float(torch.linalg.vector_norm(
        U[support], dim=1).sum())
    assert phi <= opt + 1e-14 * abs(opt)
    full = torch.zeros(m, d, dtype=torch.float64)
    full[support] = X
    assert group_lasso_residual(torch.from_numpy(G), torch.from_numpy(b), full, beta) <= 1e-7


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("tmax", [0.3, 1.0, 50.0])
def test_best_scaled_dual_is_the_best_on_a_dense_grid(name, tmax):
    loss = get_loss(name)
    rng = np.random.default_rng(2)
    n = 25
    if name == "squared":
        y = rng.standard_normal(n)
        lam = rng.standard_normal(n) - 0.5 * y
    else:
        y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
        lam = -y * rng.uniform(0.0, 0.9, n)  # s = -lam y in [0, 1)
    value, t = loss.best_scaled_dual(lam, y, tmax)
    assert 0.0 <= t <= tmax
    assert value == pytest.approx(-loss.conjugate(t * lam, y), abs=1e-12)  # attained at t
    grid = np.linspace(0.0, tmax, 20_001)
    vals = np.array([-loss.conjugate(s * lam, y) for s in grid])
    assert value >= vals[np.isfinite(vals)].max() - 1e-9


def test_best_scaled_dual_needs_a_finite_range():
    y = np.array([1.0, -1.0])
    with pytest.raises(ValueError, match="tmax"):
        get_loss("logistic").best_scaled_dual(np.zeros(2), y, np.inf)
    value, t = get_loss("squared").best_scaled_dual(-y, y, np.inf)  # closed form: t = 1
    assert t == pytest.approx(1.0) and value == pytest.approx(1.0)


def test_method_of_multipliers_projection_onto_the_orthant():
    """``min 1/2 ||x - a||^2 s.t. x >= 0``: ``x = (a)_+``, multiplier ``mu = (-a)_+``."""
    a = np.array([1.5, -2.0, 0.3, -0.1, 0.0])
    st = {"x": np.zeros_like(a), "mu": np.zeros_like(a), "rho": 1.0}

    def solve_inner(eps):
        # argmin 1/2 (x - a)^2 + 1/(2 rho) (mu - rho x)_+^2, coordinate by coordinate
        mu, rho = st["mu"], st["rho"]
        x = np.where(a >= mu / rho, a, (a + mu) / (1 + rho))
        st["x"] = x
        return float(np.maximum(-x, 0).max()) <= 1e-12 and np.allclose(
            np.maximum(mu - rho * x, 0), mu, atol=1e-12)

    def update():
        st["mu"] = np.maximum(st["mu"] - st["rho"] * st["x"], 0.0)
        return float(np.maximum(-st["x"], 0).max())

    def grow(f):
        st["rho"] *= f

    outer = MethodOfMultipliers().run(solve_inner, update, grow)
    assert 1 < outer < 100
    np.testing.assert_allclose(st["x"], np.maximum(a, 0), atol=1e-10)
    np.testing.assert_allclose(st["mu"], np.maximum(-a, 0), atol=1e-10)


def test_power_iteration_and_row_chunks():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((20, 8))
    M = B.T @ B
    est = power_iteration(lambda v: M @ v, rng.standard_normal(8), np.linalg.norm, iters=500,
                          rtol=1e-14)
    assert est == pytest.approx(np.linalg.eigvalsh(M)[-1], rel=1e-8)
    chunks = row_chunks(103, 7, entries=50)
    assert all(c.stop - c.start <= 7 for c in chunks)
    assert np.array_equal(np.concatenate([np.arange(103)[c] for c in chunks]), np.arange(103))


def test_next_working_set_support_then_most_violated():
    scores = np.array([0.5, 3.0, 1.2, 2.0, 0.9, 5.0])
    beta = 1.0
    assert next_working_set(np.array([0]), scores, beta, start=2) == [0, 5, 1]
    assert next_working_set(np.array([], dtype=int), scores, beta, start=10) == [5, 1, 3, 2]
    assert next_working_set(np.array([1, 5]), np.minimum(scores, 1.0), beta, start=2) is None


def test_parse_options_names_the_accepted_ones():
    @dataclasses.dataclass
    class Solver:
        max_iters: int = 10
        step: float = 1.0

    solver, warm = parse_options(Solver, {"max_iters": 3, "warm_start": {"x": 1}})
    assert solver.max_iters == 3 and warm == {"x": 1}
    with pytest.raises(TypeError, match=r"accepted: \['max_iters', 'step', 'warm_start'\]"):
        parse_options(Solver, {"setp": 2.0})
    with pytest.raises(ValueError, match="max_iters"):
        parse_options(Solver, {"max_iters": 0})


@pytest.mark.parametrize("block", [7, 48, 512])
def test_gram_from_its_upper_triangle(block):
    """``B^T B`` summed over row chunks from block rows of its upper triangle (blocks of 7
    of 48 columns, one block, wider than the matrix) equals the full product."""
    rng = np.random.default_rng(0)
    B = torch.as_tensor(rng.standard_normal((90, 48)))
    upper = torch.zeros(48, 48, dtype=B.dtype)
    for rows in (slice(0, 40), slice(40, 90)):
        add_upper_gram(upper, B[rows], block)
    assert torch.allclose(symmetric_from_upper(upper), B.T @ B, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block", [7, 25, 64])
def test_lower_gram_factors_as_the_full_matrix(block):
    """The lower triangle of ``(E E^T) o K + B B^T`` by row blocks (block sizes that do and do
    not divide ``n``) equals that of the full products, and the Cholesky factor of it is the
    full matrix's: the factorization reads nothing above the diagonal."""
    rng = np.random.default_rng(3)
    n = 50
    E = torch.as_tensor(rng.standard_normal((n, 30)))
    X = torch.as_tensor(rng.standard_normal((n, 4)))
    K, B = X @ X.T, torch.as_tensor(rng.standard_normal((n, 12)))
    full = (E @ E.T) * K + B @ B.T
    low = lower_gram(E, K, B, block=block)
    assert torch.allclose(torch.tril(low), torch.tril(full), rtol=0, atol=1e-12)
    assert not bool(torch.triu(low, block).any())  # zero above the diagonal blocks
    shift = n * torch.eye(n, dtype=E.dtype)
    assert torch.allclose(torch.linalg.cholesky(low + shift), torch.linalg.cholesky(full + shift),
                          rtol=0, atol=1e-10)
    assert torch.allclose(lower_gram(E, block=block).tril(), (E @ E.T).tril(), rtol=0,
                          atol=1e-12)


@pytest.mark.parametrize("shape", [(60, 1), (60, 5), (3, 20, 2)])
def test_cholesky_apply_solves_the_factored_system(shape):
    """``(L L^T)^{-1} b`` by two triangular solves, one column, several, and a batch of
    factors, against numpy's dense solve."""
    rng = np.random.default_rng(1)
    *batch, m, k = shape
    A = torch.as_tensor(rng.standard_normal((*batch, m, m)))
    H = A @ A.mT + m * torch.eye(m, dtype=A.dtype)
    b = torch.as_tensor(rng.standard_normal((*batch, m, k)))
    x = cholesky_apply(torch.linalg.cholesky(H), b)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(H.numpy(), b.numpy()), rtol=1e-10,
                               atol=1e-12)


def test_low_precision_factor_helpers():
    """``drop_negligible`` zeroes the entries below ``tol`` times the geometric mean of their
    diagonal entries (and refuses a matrix with an infinite diagonal); ``cholesky_apply_low``
    solves with a float32 factor in float64 at any scale of ``b`` (here 1e-45: float32's
    subnormal range, where an unscaled cast would lose it), to float32 accuracy."""
    rng = np.random.default_rng(2)
    A = torch.as_tensor(rng.standard_normal((30, 30)))
    H = A @ A.T + 30 * torch.eye(30, dtype=A.dtype)
    H[0, 1] = H[1, 0] = 1e-14 * float(torch.sqrt(H[0, 0] * H[1, 1]))
    low = H.to(torch.float32)
    assert drop_negligible(low, 1e-12)
    assert low[0, 1] == 0 and low[1, 0] == 0 and int((low == 0).sum()) == 2
    bad = low.clone()
    bad[3, 3] = float("inf")
    assert not drop_negligible(bad, 1e-12)
    L = torch.linalg.cholesky(low)
    for scale in (1.0, 1e-45):
        b = scale * torch.as_tensor(rng.standard_normal(30))
        x = cholesky_apply_low(L, b, 1e-12)
        assert x.dtype == torch.float64
        want = torch.linalg.solve(H, b)
        assert float((x - want).norm()) <= 1e-5 * float(want.norm())
    assert not bool(cholesky_apply_low(L, torch.zeros(30, dtype=torch.float64), 1e-12).any())
    b = torch.as_tensor(rng.standard_normal(30))  # same precision: the plain solve
    np.testing.assert_allclose(cholesky_apply_low(torch.linalg.cholesky(H), b, 1e-12).numpy(),
                               np.linalg.solve(H.numpy(), b.numpy()), rtol=1e-10)


class _GroupLeastSquares(_LeastSquares):
    """``f(U) = 1/2 ||A vec(U) - b||^2`` for ``U`` of shape (P, d)."""

    def point(self, x):
        r = self.A @ x.reshape(-1) - self.b
        return Point(x, 0.5 * float(r @ r))

    def gradient(self, p):
        return (self.A.T @ (self.A @ p.x.reshape(-1) - self.b)).reshape(p.x.shape)


def _common_mode_design(n: int = 120, P: int = 40, d: int = 3, seed: int = 0):
    """Groups that share a strong common direction: ``A^T A`` has ``d`` eigenvalues far above
    the rest (as the gated ReLU program's overlapping patterns do)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    masks = (rng.random((n, P)) < 0.5).astype(float)
    A = np.concatenate([masks[:, [i]] * X for i in range(P)], axis=1)
    b = rng.standard_normal(n) + X @ rng.standard_normal(d)
    return torch.from_numpy(A), torch.from_numpy(b), P, d


def test_top_eigenspace_finds_the_leading_eigenpairs():
    A, _, P, d = _common_mode_design()
    H = A.T @ A
    ev = torch.linalg.eigvalsh(H).flip(0)
    gen = torch.Generator().manual_seed(0)
    V0 = torch.randn(8, P, d, generator=gen, dtype=torch.float64)
    Q, theta = top_eigenspace(lambda V: (V.reshape(8, -1) @ H).reshape(V.shape), V0, iters=40)
    Qf = Q.reshape(8, -1)
    assert Q.shape == V0.shape
    np.testing.assert_allclose(Qf @ Qf.T, np.eye(8), atol=1e-12)
    assert bool((theta[:-1] >= theta[1:]).all())
    # the d common directions stand far above the rest, and are found to 1e-10
    assert float(ev[d - 1]) > 5 * float(ev[d])
    np.testing.assert_allclose(theta[:d], ev[:d], rtol=1e-10)
    residual = (Qf[:d] @ H - theta[:d, None] * Qf[:d]).norm(dim=1)
    assert float(residual.max()) <= 1e-6 * float(ev[0])
    assert bool((theta <= ev[:8] * (1 + 1e-12)).all())  # Ritz values are from below


def test_low_rank_group_metric_prox_direction_and_quad():
    """The metric's proximal step satisfies the optimality conditions of the group lasso in
    the metric ``M_s`` (formed here explicitly), and its direction and quadratic form are
    ``M_s^{-1} g`` and ``v^T M_s v``."""
    A, _, P, d = _common_mode_design()
    H = A.T @ A
    ev, vecs = torch.linalg.eigh(H)
    ev, vecs = ev.flip(0), vecs.flip(1)
    k, beta = d, 2.0
    metric = LowRankGroupMetric(beta)
    assert not metric.ready
    with pytest.raises(ValueError, match="`rest`"):
        metric.set(vecs[:, :k].T.reshape(k, P, d).contiguous(), ev[:k], 0.0)
    metric.set(vecs[:, :k].T.reshape(k, P, d).contiguous(), ev[:k], float(ev[k]))
    assert metric.ready
    s = 1.0 / float(ev[k])
    Qf = vecs[:, :k]
    M = torch.eye(P * d, dtype=torch.float64) / s + Qf @ torch.diag(ev[:k] - 1.0 / s) @ Qf.T
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(P, d, generator=gen, dtype=torch.float64)
    np.testing.assert_allclose((M @ metric.direction(g, s).reshape(-1)).reshape(P, d), g,
                               atol=1e-12 * float(g.abs().max()))
    assert metric.quad(g, s) == pytest.approx(float(g.reshape(-1) @ M @ g.reshape(-1)),
                                              rel=1e-12)
    for scale in (0.05, 0.3, 3.0):  # few, some and all groups nonzero
        Z = (scale * torch.randn(P, d, generator=gen, dtype=torch.float64)
             + 0.5 * vecs[:, 0].reshape(P, d))
        U = metric.prox(Z, s)
        R = (M @ (U - Z).reshape(-1)).reshape(P, d)  # 0 in beta d||U|| + M (U - Z)
        norms = torch.linalg.vector_norm(U, dim=1)
        on = norms > 0
        assert bool(on.any())
        np.testing.assert_allclose(R[on], -beta * U[on] / norms[on, None], atol=1e-9 * beta)
        if bool((~on).any()):
            assert float(torch.linalg.vector_norm(R[~on], dim=1).max()) <= beta * (1 + 1e-9)
    # points that move little between calls (a solver's iterates): the Newton matrix is kept
    # from call to call (chord steps) and rebuilt only where its steps stop contracting;
    # every prox still meets the optimality conditions
    built, steps = metric.jacobians, metric.newton_steps
    W = Z.clone()
    for _ in range(20):
        W = W + 0.01 * torch.randn(P, d, generator=gen, dtype=torch.float64)
        U = metric.prox(W, s)
        R = (M @ (U - W).reshape(-1)).reshape(P, d)
        norms = torch.linalg.vector_norm(U, dim=1)
        on = norms > 0
        np.testing.assert_allclose(R[on], -beta * U[on] / norms[on, None], atol=1e-9 * beta)
        assert bool((torch.linalg.vector_norm(R[~on], dim=1) <= beta * (1 + 1e-9)).all())
    assert metric.newton_steps - steps >= 20
    assert metric.jacobians - built <= 5
    # a metric that keeps nothing above 1/s is the plain step
    plain = LowRankGroupMetric(beta)
    plain.set(metric.Q, torch.zeros(k, dtype=torch.float64), 1.0)
    from lift.solvers.prox import prox_group_lasso

    np.testing.assert_allclose(plain.prox(Z, s), prox_group_lasso(Z, beta, s), atol=1e-14)


def test_proximal_gradient_in_a_low_rank_metric_reaches_the_same_optimum_sooner():
    """FISTA in the metric that keeps the common directions exactly reaches the optimum of the
    plain run (to 1e-10 in value) in fewer iterations; both end at the group lasso's
    optimality conditions."""
    A, b, P, d = _common_mode_design()
    beta = 1.0
    H = A.T @ A
    ev = torch.linalg.eigvalsh(H).flip(0)
    oracle = _GroupLeastSquares(A, b)
    penalty = lambda U: beta * float(torch.linalg.vector_norm(U, dim=1).sum())  # noqa: E731
    from lift.solvers.prox import prox_group_lasso

    prox = lambda U, s: prox_group_lasso(U, beta, s)  # noqa: E731
    ref = ProximalGradient(max_iters=100_000).run(
        oracle, torch.zeros(P, d, dtype=torch.float64), prox, penalty, 1.0 / float(ev[0]),
        lambda k, x, F, y, G, s: False)
    target = ref.value

    def iterations(metric):
        hit = {}

        def check(k, x, F, y, G, s):
            if F <= target + 1e-10 * abs(target):
                hit["k"] = k
                return True
            return False

        out = ProximalGradient(max_iters=100_000).run(
            oracle, torch.zeros(P, d, dtype=torch.float64), prox, penalty,
            1.0 / float(ev[0]), check, metric=metric)
        return hit.get("k"), out

    metric = LowRankGroupMetric(beta)
    gen = torch.Generator().manual_seed(0)
    Q, theta = top_eigenspace(lambda V: (V.reshape(V.shape[0], -1) @ H).reshape(V.shape),
                              torch.randn(2 * d, P, d, generator=gen, dtype=torch.float64), 20)
    metric.set(Q[:d], theta[:d], float(theta[d]))
    k_plain, _ = iterations(None)
    k_metric, out = iterations(metric)
    assert k_plain is not None and k_metric is not None
    assert k_metric < 0.6 * k_plain
    G = oracle.gradient(out.point)
    residual = group_lasso_residual(H, A.T @ b, out.point.x, beta)
    assert residual <= 1e-3
    assert bool(torch.isfinite(G).all())
