"""The factorization family: nuclear-norm lifts of completion, sensing and PSD factorization.

Certificates are recomputed here by hand (dense SVD of A^*(r), the scaled dual value), the
fast solver is compared with cvxpy, recovered factors reproduce the program value, and trained
factors of every rank stay above the certified global bound.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lift.base import Certificate
from lift.families import get_family
from lift.problems import MatrixCompletion, MatrixSensing, PSDFactorization
from lift.problems.factorization import Factors, SymmetricFactors, spectral_bound
from lift.problems.factorization import data as fdata
from lift.solvers.sgd import TrainConfig, train


@pytest.fixture
def completion():
    d = fdata.low_rank(30, 24, 3, fraction=0.5, noise=0.1, seed=0)
    return MatrixCompletion(d.train, lam=1.0, shape=d.shape), d


def _hand_bound(prob, params, symmetric=False):
    """The dual bound recomputed from scratch: dense A^*(r), exact spectral quantity."""
    U, V = params.factors_numpy()
    X = U @ V.T
    if hasattr(prob.op, "rows"):
        r = prob.b - X[prob.op.rows, prob.op.cols]
        W = np.zeros(prob.shape)
        W[prob.op.rows, prob.op.cols] = r
    else:
        A = prob.op.A
        r = prob.b - A @ X.reshape(-1)
        W = (A.T @ r).reshape(prob.shape)
    s = (np.linalg.eigvalsh(0.5 * (W + W.T))[-1] if symmetric
         else np.linalg.svd(W, compute_uv=False)[0])
    t = min(max(r @ prob.b / (r @ r), 0.0), prob.lam / s if s > 0 else math.inf)
    return t * (r @ prob.b) - 0.5 * t * t * (r @ r)


# --------------------------------------------------------------------------------------------
# Completion: fast solver vs cvxpy, recovery, certificate
# --------------------------------------------------------------------------------------------
def test_soft_impute_agrees_with_cvxpy_and_certificate_is_recomputed(completion):
    prob, _ = completion
    lifted = prob.lift()
    fast = lifted.solve("soft_impute", tol=1e-8)
    ref = lifted.solve("scs", tol=1e-9)
    assert fast.status == "optimal" and fast.rel_gap <= 1e-8
    assert fast.exact and fast.global_bound == fast.lower_bound
    # the two solvers agree, and each lies above the other's certified bound
    assert fast.value == pytest.approx(ref.value, rel=1e-6)
    assert ref.value >= fast.lower_bound - 1e-9 * abs(fast.value)
    # recovered factors reproduce the value and the program value
    assert prob.objective(fast.params) == pytest.approx(fast.value, rel=1e-12)
    assert fast.program_value == pytest.approx(fast.value, rel=1e-9)
    # the bound recomputed by hand from a dense SVD matches the library's
    assert _hand_bound(prob, fast.params) == pytest.approx(fast.lower_bound, rel=1e-9)
    # the recovered factors are balanced: U^T U = V^T V
    U, V = fast.params.factors_numpy()
    np.testing.assert_allclose(U.T @ U, V.T @ V, atol=1e-9)
    assert fast.size == np.linalg.matrix_rank(U @ V.T, tol=1e-3 * np.linalg.norm(U @ V.T, 2))


def test_clarabel_recovery_truncates_tiny_singular_values(completion):
    prob, _ = completion
    sol = prob.lift().solve("clarabel", tol=1e-9)
    assert sol.status in ("optimal", "optimal_inaccurate")
    assert sol.rel_gap < 1e-5
    assert sol.params.width < min(prob.shape)  # interior-point noise was pruned
    assert prob.objective(sol.params) == pytest.approx(sol.value, rel=1e-12)
    assert sol.value <= sol.program_value * (1 + 1e-9)


def test_input_forms_give_the_same_problem(completion):
    prob, d = completion
    rows, cols, vals = d.train
    M = np.full(d.shape, np.nan)
    M[rows, cols] = vals
    mask = ~np.isnan(M)
    dense = MatrixCompletion(np.nan_to_num(M), mask, lam=1.0)
    nanmask = MatrixCompletion(M, lam=1.0)
    sparse = MatrixCompletion(sp.csr_matrix((vals, (rows, cols)), shape=d.shape), lam=1.0)
    for other in (dense, nanmask, sparse):
        assert other.n_samples == prob.n_samples
        p = prob.model(3, seed=1)
        assert other.objective(p) == pytest.approx(prob.objective(p), rel=1e-13)
    assert dense.fingerprint() == prob.fingerprint() == sparse.fingerprint()
    assert prob.with_lam(2.0).fingerprint() != prob.fingerprint()


def test_block_spectral_bound_is_an_upper_bound_and_tight_at_the_optimum():
    d = fdata.low_rank(120, 100, 3, fraction=0.3, noise=0.1, seed=0)
    prob = MatrixCompletion(d.train, lam=3.0, shape=d.shape)
    lifted = prob.lift()
    sol = lifted.solve("soft_impute", tol=1e-9)
    U, V = sol.params.factors_numpy()
    r = prob.b - prob.forward_factors(U, V)
    W = prob.op.adjoint_scipy(r)
    exact = np.linalg.svd(W.toarray(), compute_uv=False)[0]
    bound, info = spectral_bound(W, U=U, V=V, exact_limit=0)
    assert info["spectral_bound"].startswith("block")
    assert exact <= bound <= exact * (1 + 1e-6)
    assert exact == pytest.approx(prob.lam, rel=1e-6)  # the dual point is at the boundary
    # far from the optimum, and with near-degenerate spectra, it is still an upper bound
    rng = np.random.default_rng(0)
    for W0 in (prob.op.adjoint_scipy(prob.b), prob.op.adjoint_scipy(
            rng.standard_normal(prob.n_samples))):
        for UV in ((None, None), (rng.standard_normal((120, 2)), rng.standard_normal((100, 2)))):
            b0, _ = spectral_bound(W0, U=UV[0], V=UV[1], exact_limit=0)
            assert b0 >= np.linalg.svd(W0.toarray(), compute_uv=False)[0]
    Ws = W0.toarray()[:100]
    bs, _ = spectral_bound(Ws, symmetric=True, exact_limit=0)
    assert bs >= np.linalg.eigvalsh(0.5 * (Ws + Ws.T))[-1]
    # and a certificate with the block bound is still valid and nearly as tight
    blk = prob.lift(exact_limit=0).certify(sol.params)
    assert isinstance(blk, Certificate)
    assert blk.lower_bound <= sol.lower_bound + 1e-12 * abs(sol.value)
    assert (sol.value - blk.lower_bound) / sol.value < 1e-6


def _phi(op, U, V):
    """The matrix of S -> A(U S V^T) on row-major vec(S), column by column."""
    r = U.shape[1]
    cols = []
    for k in range(r * r):
        S = np.zeros(r * r)
        S[k] = 1.0
        cols.append(op.forward_dense(U @ S.reshape(r, r) @ V.T))
    return np.stack(cols, axis=1)


def test_subspace_normal_matrix_matches_the_operator(completion):
    prob, _ = completion
    A, b, X = _sensing()
    sensing = MatrixSensing(A, b, X.shape, lam=0.3)
    rng = np.random.default_rng(0)
    for op in (prob.op, sensing.op):
        m, n = op.shape
        U = np.linalg.qr(rng.standard_normal((m, 3)))[0]
        V = np.linalg.qr(rng.standard_normal((n, 3)))[0]
        Phi = _phi(op, U, V)
        N = op.subspace_normal(torch.from_numpy(U), torch.from_numpy(V)).numpy()
        np.testing.assert_allclose(N, Phi.T @ Phi, rtol=1e-12, atol=1e-12)


def test_polish_on_the_optimum_spaces_is_the_optimum_with_an_exact_dual_block(completion):
    from lift.solvers.soft_impute import polish

    prob, _ = completion
    lifted = prob.lift()
    ref = lifted.solve("scs", tol=1e-9)
    fast = lifted.solve("soft_impute", tol=1e-9, polish=False)
    Uf, Vf = fast.params.factors_numpy()
    # paired singular bases (U S V^T with S near a positive diagonal: tr(S) = ||S||_*)
    Q, _, Pt = np.linalg.svd(Uf @ Vf.T)
    Q, P = Q[:, :fast.size], Pt[:fast.size].T
    b = torch.from_numpy(prob.b)
    pol = polish(prob.op, b, prob.lam, torch.from_numpy(Q), torch.from_numpy(P))
    assert pol is not None
    Up, sp_, Vp = (t.numpy() for t in pol)
    value = lifted.program_value({"U": Up, "s": sp_, "V": Vp})
    assert value == pytest.approx(ref.value, rel=1e-7)
    assert value <= fast.value * (1 + 1e-10)
    # the residual's block on the spaces is exactly lam times the identity in the new
    # singular bases: U'^T A^*(r) V' = lam I
    r = prob.b - prob.forward_factors(Up * sp_, Vp)
    W = prob.op.adjoint_scipy(r)
    np.testing.assert_allclose(Up.T @ (W @ Vp), prob.lam * np.eye(sp_.size), atol=1e-8)
    # the PSD program: symmetric S, eigenvalues kept positive
    d = fdata.low_rank_psd(14, 2, fraction=0.4, noise=0.05, seed=1)
    psd = PSDFactorization(d.train, lam=0.5, n=14)
    sol = psd.lift().solve("soft_impute", tol=1e-9, polish=False)
    G = sol.params.factors_numpy()[0]
    Qs = torch.from_numpy(np.linalg.qr(G)[0])
    Us, ss, Vs = polish(psd.op, torch.from_numpy(psd.b), psd.lam, Qs, Qs, symmetric=True)
    assert torch.equal(Us, Vs) and bool((ss > 0).all())
    val = psd.lift().program_value({"U": Us.numpy(), "s": ss.numpy(), "V": Vs.numpy()})
    assert val == pytest.approx(sol.value, rel=1e-8)
    # operators without the normal matrix, or too wide a rank, are not polished
    assert polish(object(), b, prob.lam, torch.from_numpy(Q), torch.from_numpy(P)) is None
    assert polish(prob.op, b, prob.lam, torch.from_numpy(Q), torch.from_numpy(P),
                  max_rank=1) is None


def test_polish_and_rank_cap_keep_the_answer_and_shorten_the_solve():
    d = fdata.low_rank(150, 120, 4, fraction=0.3, noise=0.1, seed=2)
    prob = MatrixCompletion(d.train, lam=2.0, shape=d.shape)
    plain = prob.lift().solve("soft_impute", tol=1e-7, polish=False, rank_growth=None)
    fast = prob.lift().solve("soft_impute", tol=1e-7)
    for sol in (plain, fast):
        assert sol.status == "optimal" and sol.rel_gap <= 1e-7
        assert _hand_bound(prob, sol.params) == pytest.approx(sol.lower_bound, rel=1e-9)
    assert fast.value == pytest.approx(plain.value, rel=2e-7)
    assert fast.iterations < plain.iterations
    with pytest.raises(ValueError, match="`rank_growth` must be a factor > 1"):
        prob.lift().solve("soft_impute", rank_growth=1.0)


def test_gap_estimate_is_optimistic(completion):
    """The cheap estimate that schedules certificates never exceeds the certified gap (its
    spectral norm is a Ritz value, from below)."""
    from lift.solvers.soft_impute import _gap_estimate

    prob, _ = completion
    lifted = prob.lift()
    sol = lifted.solve("soft_impute", tol=1e-8)
    U0, V0 = sol.params.factors_numpy()
    rng = np.random.default_rng(1)
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-4, 1e-2, 0.3):
        X = U0 @ V0.T + scale * rng.standard_normal(prob.shape)
        Ux, sx, Vxt = np.linalg.svd(X, full_matrices=False)
        primal = {"U": Ux, "s": sx, "V": Vxt.T}
        value, lower, _ = lifted.certified_gap(primal)
        U, s, V = (torch.from_numpy(np.ascontiguousarray(primal[k])) for k in "UsV")
        z = prob.op.forward_lowrank(U, s, V)
        F = lifted.program_value(primal)
        est = _gap_estimate(prob.op, torch.from_numpy(prob.b), prob.lam, (U, s, V, z), F,
                            False, gen)
        assert est <= (value - lower) / value * (1 + 1e-9) + 1e-12


def test_lanczos_doubling_stops_when_more_steps_cannot_help():
    d = fdata.low_rank(300, 260, 5, fraction=0.2, noise=0.1, seed=0)
    prob = MatrixCompletion(d.train, lam=3.0, shape=d.shape)
    sol = prob.lift().solve("soft_impute", tol=1e-8)
    U, V = sol.params.factors_numpy()
    W = prob.op.adjoint_scipy(prob.b - prob.forward_factors(U, V))
    exact = np.linalg.svd(W.toarray(), compute_uv=False)[0]
    bound, info = spectral_bound(W, U=U, V=V, exact_limit=0, target=prob.lam)
    # near the optimum the excess over lam comes from the off-diagonal blocks: the first
    # Lanczos run is kept, and the bound still holds and is tight
    assert info["lanczos_steps"] == 80
    assert exact <= bound <= exact * (1 + 1e-6)


def test_lower_bound_never_exceeds_any_objective(completion):
    prob, _ = completion
    lifted = prob.lift()
    rng = np.random.default_rng(0)
    sol = lifted.solve("soft_impute", tol=1e-8)
    for k in range(4):
        p = prob.model(1 + 2 * k, seed=k)
        cert = lifted.certify(p)
        assert cert.lower_bound <= sol.value * (1 + 1e-9)
        assert cert.lower_bound <= prob.objective(p)
        # random factors far from the optimum: the bound holds but is loose
        U = rng.standard_normal((prob.shape[0], 2))
        q = Factors(torch.from_numpy(U), torch.from_numpy(rng.standard_normal(
            (prob.shape[1], 2))))
        assert lifted.certify(q).lower_bound <= sol.value * (1 + 1e-9)


def test_path_warm_starts_and_orders(completion):
    prob, _ = completion
    lams = [0.5, 4.0, 1.0]
    sols = prob.path(lams, solver="soft_impute", tol=1e-7)
    for lam, sol in zip(lams, sols, strict=True):
        assert sol.status == "optimal"
        direct = prob.with_lam(lam).lift().solve("soft_impute", tol=1e-7)
        assert sol.value == pytest.approx(direct.value, rel=2e-7)
    # the optimal value increases with lam, the rank decreases
    order = np.argsort(lams)
    vals = [sols[k].value for k in order]
    ranks = [sols[k].size for k in order]
    assert vals == sorted(vals) and ranks == sorted(ranks, reverse=True)


def test_auto_prefers_soft_impute_above_its_threshold():
    d = fdata.low_rank(150, 120, 3, fraction=0.2, noise=0.1, seed=0)
    prob = MatrixCompletion(d.train, lam=3.0, shape=d.shape)
    lifted = prob.lift()
    assert lifted.size_hint() > lifted.auto_thresholds()["soft_impute"]
    sol = lifted.solve("auto", tol=1e-7)
    assert sol.solver == "soft_impute" and sol.ok


def test_unknown_solver_option_is_a_type_error(completion):
    prob, _ = completion
    with pytest.raises(TypeError, match="unknown option"):
        prob.lift().solve("soft_impute", bogus=1)


# --------------------------------------------------------------------------------------------
# The non-convex side: data, torch objective, SGD against the certified bound
# --------------------------------------------------------------------------------------------
def test_data_indices_stay_integer_and_torch_objective_matches(completion):
    prob, _ = completion
    rows, cols, vals = prob.data(dtype=torch.float32)
    assert rows.dtype == torch.int64 and cols.dtype == torch.int64
    assert vals.dtype == torch.float32
    model = prob.model(4, seed=0)
    assert model.width == 4
    with torch.no_grad():
        full = float(prob.torch_objective(model))
        idx = torch.arange(0, prob.n_samples, 3)
        batch = prob.batch(prob.data(), idx)
        est = float(prob.torch_objective(model, batch, weight=prob.n_samples / idx.numel()))
    assert full == pytest.approx(prob.objective(model), rel=1e-12)
    assert est != full and np.isfinite(est)
    # gradient of the torch objective equals the hand-written one
    U, V = model.factors_numpy()
    R = np.zeros(prob.shape)
    R[prob.rows, prob.cols] = prob.forward_factors(U, V) - prob.b
    prob.torch_objective(model).backward()
    np.testing.assert_allclose(model.U.grad.numpy(), R @ V + prob.lam * U, rtol=1e-10)
    np.testing.assert_allclose(model.V.grad.numpy(), R.T @ U + prob.lam * V, rtol=1e-10)


def test_trained_factors_never_beat_the_global_bound(completion):
    prob, _ = completion
    sol = prob.lift().solve("soft_impute", tol=1e-9)
    bound = sol.global_bound
    finals = {}
    for rank in (1, 2, 3, 4, 8):
        res = train(prob, prob.model(rank, seed=rank),
                    TrainConfig(optimizer="adam", steps=1500, lr=3e-2), seed=rank)
        assert min(res.trajectory["objective"]) >= bound - 1e-9 * abs(bound)
        assert prob.objective(res.params) >= bound - 1e-9 * abs(bound)
        finals[rank] = res.objective
    # narrow ranks stall above the optimum, wide enough ones reach it
    assert sol.size == 4
    assert finals[1] > 1.5 * sol.value and finals[2] > 1.1 * sol.value
    assert finals[4] == pytest.approx(sol.value, rel=1e-4)
    assert finals[8] == pytest.approx(sol.value, rel=1e-4)
    res = train(prob, prob.model(8, seed=0),
                TrainConfig(optimizer="sgd", steps=1500, lr=5e-3, batch_size=64), seed=0)
    assert res.objective >= bound and res.objective == pytest.approx(sol.value, rel=1e-3)


def test_compare_table_shows_where_ranks_reach_the_optimum(completion):
    """The harness on completion: narrow ranks stall above the certified optimum, wide enough
    ones reach it, no run goes below the global bound (both backends give the same table)."""
    import lift

    prob, d = completion
    kw = {"sizes": [1, 2, 4, 8], "seeds": 2, "solver": "soft_impute", "test": d.test,
          "train": {"optimizer": "adam", "steps": 1500, "lr": 3e-2}, "n_jobs": 1}
    cmp = lift.compare(prob, **kw)
    assert cmp.certified and cmp.size_name == "rank"
    runs = cmp.runs
    assert not runs["below_bound"].astype(bool).any()
    assert (runs["objective"] >= cmp.global_bound - 1e-9 * abs(cmp.global_bound)).all()
    reached = runs.groupby("size")["rel_gap"].max()
    assert reached[1] > 0.1 and reached[2] > 0.01
    assert reached[4] < 1e-3 and reached[8] < 1e-3
    assert cmp.reach_size() == 4
    assert {"train_rmse", "test_rmse"} <= set(cmp.table.columns)


def test_evaluate_and_effective_size(completion):
    prob, d = completion
    test = prob.check_test(d.test)
    sol = prob.lift().solve("soft_impute", tol=1e-7)
    ev = prob.evaluate(sol.params, test)
    assert set(ev) == {"train_rmse", "test_rmse"}
    truth = d.truth[test[0], test[1]]
    assert ev["test_rmse"] < 0.5 * np.sqrt(np.mean(truth**2))  # better than predicting 0
    assert math.isnan(prob.evaluate(sol.params)["test_rmse"])
    assert prob.effective_size(sol.params) == sol.size
    U = np.outer(np.arange(1.0, 31.0), [1.0, 1e-6])
    f = Factors(torch.from_numpy(U), torch.from_numpy(np.ones((24, 2))))
    assert prob.effective_size(f) == 1


# --------------------------------------------------------------------------------------------
# Sensing and PSD factorization
# --------------------------------------------------------------------------------------------
def _sensing(seed=0, m=8, n=6, p=40, rank=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    A = rng.standard_normal((p, m * n)) / np.sqrt(p)
    b = A @ X.reshape(-1) + 0.05 * rng.standard_normal(p)
    return A, b, X


def test_sensing_operator_forms_agree_and_solvers_agree():
    A, b, X = _sensing()
    m, n = X.shape
    dense = MatrixSensing(A, b, (m, n), lam=0.3)
    mats = MatrixSensing([a.reshape(m, n) for a in A], b, (m, n), lam=0.3)
    call = MatrixSensing(lambda Z: A @ Z.reshape(-1), b, (m, n), lam=0.3,
                         adjoint=lambda y: (A.T @ y).reshape(m, n))
    fast = dense.lift().solve("soft_impute", tol=1e-8)
    ref = dense.lift().solve("clarabel", tol=1e-9)
    assert fast.ok and fast.value == pytest.approx(ref.value, rel=1e-6)
    assert _hand_bound(dense, fast.params) == pytest.approx(fast.lower_bound, rel=1e-9)
    for other in (mats, call):
        assert other.objective(fast.params) == pytest.approx(fast.value, rel=1e-12)
    sol_call = call.lift().solve("soft_impute", tol=1e-8)
    assert sol_call.value == pytest.approx(fast.value, rel=1e-7)
    ev = dense.evaluate(fast.params, dense.check_test(X))
    assert ev["recovery_error"] < 0.3
    res = train(dense, dense.model(6, seed=0), TrainConfig(optimizer="adam", steps=1500,
                                                           lr=2e-2))
    assert res.objective >= fast.global_bound - 1e-9
    assert res.objective == pytest.approx(fast.value, rel=1e-2)


def test_psd_completion_and_sensing():
    d = fdata.low_rank_psd(14, 2, fraction=0.4, noise=0.05, seed=1)
    prob = PSDFactorization(d.train, lam=0.5, n=14)
    lifted = prob.lift()
    assert "psd" in lifted.cones()
    fast = lifted.solve("soft_impute", tol=1e-8)
    ref = lifted.solve("clarabel", tol=1e-9)
    assert fast.ok and fast.value == pytest.approx(ref.value, rel=1e-6)
    assert isinstance(fast.params, SymmetricFactors)
    assert _hand_bound(prob, fast.params, symmetric=True) == pytest.approx(
        fast.lower_bound, rel=1e-9)
    res = train(prob, prob.model(5, seed=0), TrainConfig(optimizer="adam", steps=1500, lr=2e-2))
    assert res.objective >= fast.global_bound - 1e-9
    assert res.objective == pytest.approx(fast.value, rel=1e-2)
    # sensing of a PSD matrix
    rng = np.random.default_rng(2)
    G = rng.standard_normal((6, 2))
    A = rng.standard_normal((25, 36)) / 5.0
    b = A @ (G @ G.T).reshape(-1)
    ps = PSDFactorization(A=A, b=b, n=6, lam=0.1)
    f2 = ps.lift().solve("soft_impute", tol=1e-8)
    r2 = ps.lift().solve("clarabel", tol=1e-9)
    assert f2.ok and f2.value == pytest.approx(r2.value, rel=1e-6)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def test_validation_errors():
    M = np.ones((4, 3))
    with pytest.raises(ValueError, match="`mask` has shape"):
        MatrixCompletion(M, np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="no observed entries"):
        MatrixCompletion(M, np.zeros((4, 3), bool))
    mask = np.ones((4, 3), bool)
    mask[2] = False
    with pytest.raises(ValueError, match=r"row\(s\) have no observed entry \(row 2\)"):
        MatrixCompletion(M, mask)
    mask = np.ones((4, 3), bool)
    mask[:, 1] = False
    with pytest.raises(ValueError, match=r"column\(s\) have no observed entry \(column 1\)"):
        MatrixCompletion(M, mask)
    bad = M.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        MatrixCompletion(bad, np.ones((4, 3), bool))
    with pytest.raises(ValueError, match="range"):
        MatrixCompletion(M, np.ones((4, 3), bool), lam=-1.0)
    with pytest.raises(ValueError, match="lam` must be > 0 to lift"):
        MatrixCompletion(M, np.ones((4, 3), bool), lam=0.0).lift()
    prob = MatrixCompletion(M, np.ones((4, 3), bool))
    with pytest.raises(ValueError, match="size"):
        prob.model(0)
    with pytest.raises(TypeError, match="integer array"):
        MatrixCompletion((np.array([0.0, 1.0]), np.array([0, 1]), np.ones(2)))
    with pytest.raises(ValueError, match="more than once"):
        MatrixCompletion((np.array([0, 0, 1]), np.array([0, 0, 1]), np.ones(3)))
    with pytest.raises(ValueError, match="exceed"):
        MatrixCompletion((np.array([0, 5]), np.array([0, 1]), np.ones(2)), shape=(2, 2))
    with pytest.raises(TypeError, match="params"):
        prob.objective(np.ones((4, 3)))
    with pytest.raises(ValueError, match="shape"):
        prob.objective(Factors(torch.ones(5, 2, dtype=torch.float64),
                               torch.ones(3, 2, dtype=torch.float64)))
    A, b, X = _sensing()
    with pytest.raises(ValueError, match="adjoint does not match"):
        MatrixSensing(lambda Z: A @ Z.reshape(-1), b, X.shape,
                      adjoint=lambda y: 2 * (A.T @ y).reshape(X.shape))
    with pytest.raises(TypeError, match="adjoint="):
        MatrixSensing(lambda Z: A @ Z.reshape(-1), b, X.shape)
    with pytest.raises(ValueError, match="columns"):
        MatrixSensing(A[:, :-1], b, X.shape)
    with pytest.raises(ValueError, match="measurements but `b`"):
        MatrixSensing(A, b[:-1], X.shape)
    with pytest.raises(ValueError, match="square"):
        PSDFactorization(np.ones((3, 4)), np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="either"):
        PSDFactorization()
    with pytest.raises(TypeError, match="SymmetricFactors"):
        PSDFactorization(np.eye(3), np.ones((3, 3), bool)).objective(prob.model(1))


# --------------------------------------------------------------------------------------------
# Data and the command line
# --------------------------------------------------------------------------------------------
def test_generators_and_loader(tmp_path):
    d = fdata.low_rank(50, 40, 2, fraction=0.2, seed=3)
    rows, cols, vals = d.train
    assert np.unique(rows).size == 50 and np.unique(cols).size == 40
    np.testing.assert_allclose(vals, d.truth[rows, cols])
    assert np.intersect1d(rows * 40 + cols, d.test[0] * 40 + d.test[1]).size == 0
    again = fdata.low_rank(50, 40, 2, fraction=0.2, seed=3)
    np.testing.assert_array_equal(again.train[2], vals)
    coh = fdata.low_rank(50, 40, 2, fraction=0.2, seed=3, coherent=True)
    lev = np.linalg.norm(np.linalg.qr(coh.factors[0])[0], axis=1) ** 2
    lev0 = np.linalg.norm(np.linalg.qr(d.factors[0])[0], axis=1) ** 2
    assert lev.max() > 2 * lev0.max()  # coherent: leverage concentrated on a few rows
    img = fdata.image(0.3, size=32, seed=0)
    assert img.shape == (32, 32) and 0 <= img.train[2].min() and img.train[2].max() <= 1
    assert img.train[0].size + img.test[0].size == 32 * 32
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\nalice,m1,4\nbob,m1,3\nalice,m2,5\ncarol,m3,2\n")
    data, ids = fdata.load_triplets(path)
    assert ids["users"] == ["alice", "bob", "carol"] and data.shape == (3, 3)
    np.testing.assert_array_equal(data.train[2], [4, 3, 5, 2])
    path.write_text("1::10::4::978300760\n2::10::3::978300761\n")
    data, ids = fdata.load_triplets(path)
    assert data.shape == (2, 1) and ids["items"] == ["10"]
    path.write_text("a,b,4\na,b,5\n")
    with pytest.raises(ValueError, match="more than once"):
        fdata.load_triplets(path)


def test_families_are_registered_for_the_cli():
    import argparse

    for name in ("completion", "sensing", "psd"):
        fam = get_family(name)
        parser = argparse.ArgumentParser()
        fam.add_arguments(parser, "solve")
        prob, test = fam.build(parser.parse_args([]))
        assert prob.name == name and prob.size_name == "rank"
        prob.check_test(test)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sol = prob.lift(**fam.lift_options(parser.parse_args([]))).solve(
                "soft_impute", tol=1e-6)
        assert sol.ok and sol.global_bound is not None


@pytest.mark.slow
def test_large_sparse_completion_is_certified():
    """2,000 x 2,000 with 5 % observed: certified 1e-6 through the block spectral bound,
    never an m x n array (the data and factors are all that is stored)."""
    d = fdata.low_rank(2000, 2000, 10, fraction=0.05, noise=0.1, test_fraction=0.001, seed=0,
                       dense_truth=False)
    prob = MatrixCompletion(d.train, lam=5.0, shape=d.shape)
    sol = prob.lift().solve("soft_impute", tol=1e-6)
    assert sol.ok and sol.rel_gap <= 1e-6
    assert sol.info["spectral_bound"].startswith("block")
    assert sol.size == 10
    ev = prob.evaluate(sol.params, prob.check_test(d.test))
    assert ev["test_rmse"] < 0.5


@pytest.mark.parametrize("kind", ["sparse", "dense", "lowrank", "cluster", "symmetric"])
def test_dense_spectral_bound_is_proven_and_tight(kind):
    """The Cholesky-verified bound of small matrices is never below the exact value and
    within 1e-6 of it, also on rank-deficient matrices (where the Lanczos estimate used to
    break down) and on a cluster of top singular values."""
    import scipy.sparse as sps

    from lift.problems.factorization.certificate import _lanczos_max, spectral_bound

    rng = np.random.default_rng(3)
    m, n = 240, 160
    if kind == "sparse":
        W = sps.random(m, n, density=0.2, random_state=1, format="csr")
    elif kind == "dense":
        W = rng.standard_normal((m, n))
    elif kind == "lowrank":
        W = rng.standard_normal((m, 3)) @ rng.standard_normal((3, n))
    elif kind == "cluster":
        Q1, _ = np.linalg.qr(rng.standard_normal((m, n)))
        Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
        s = rng.uniform(0, 4.9, n)
        s[:5] = 5.0 * (1 - 1e-10 * np.arange(5))
        W = (Q1 * s) @ Q2.T
    else:
        W = rng.standard_normal((n, n))
        W = W + W.T
    sym = kind == "symmetric"
    Wd = W.toarray() if sps.issparse(W) else W
    exact = np.linalg.eigvalsh(Wd)[-1] if sym else np.linalg.svd(Wd, compute_uv=False)[0]
    bound, info = spectral_bound(W, symmetric=sym)
    assert bound >= exact
    assert bound <= exact + 1e-6 * abs(exact)
    assert info["spectral_bound"] == "exact"
    if kind == "lowrank":
        A = Wd.T @ Wd
        ritz, steps = _lanczos_max(lambda q: A @ q, n, 60, np.random.default_rng(0))
        assert steps <= 4 and abs(ritz - exact**2) <= 1e-9 * exact**2
