"""Trainers: a population is the same computation as its runs alone, on the same objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lift.base import Problem
from lift.problems import TwoLayerReLU
from lift.solvers.sgd import TrainConfig, lr_factor, train, train_population

CONFIGS = {
    "gd": TrainConfig(optimizer="gd", steps=150, lr=5e-3, schedule="constant"),
    "sgd-minibatch-clip": TrainConfig(optimizer="sgd", steps=150, lr=2e-3, momentum=0.9,
                                      batch_size=7, clip=0.5, record_every=7,
                                      schedule="linear"),
    "adam-early-stop": TrainConfig(optimizer="adam", steps=400, lr=1e-2, patience=3, rtol=1e-2,
                                   record_every=10, schedule="cosine"),
}


@pytest.fixture
def prob_1d(data_1d):
    X, y = data_1d
    return TwoLayerReLU(X, y, beta=0.1)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_population_matches_runs_alone(prob_1d, name):
    """Every network of a mixed-width population (stacked per width, the objective vmapped)
    follows its solo trajectory."""
    config = CONFIGS[name]
    sizes, seeds = [1, 3, 8, 8, 5], [0, 1, 2, 3, 4]
    pop = train_population(prob_1d, sizes, seeds, config, dtype=torch.float64, device="cpu")
    for res in pop:
        net = prob_1d.model(res.size, seed=res.seed)
        alone = train(prob_1d, net, config, seed=res.seed)
        assert res.steps == alone.steps
        assert res.trajectory["step"] == alone.trajectory["step"]
        np.testing.assert_allclose(res.trajectory["objective"], alone.trajectory["objective"],
                                   rtol=1e-11, atol=1e-12)
        for a, b in [(res.params.weight, net.weight), (res.params.bias, net.bias),
                     (res.params.alpha, net.alpha)]:
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9,
                                       atol=1e-12)
    if name == "adam-early-stop":
        assert any(r.steps < config.steps for r in pop), "the early stop never triggered"
        assert all("plateaued" in r.message for r in pop if r.steps < config.steps)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_population_objective_is_the_problem_objective(data_2d_pm1, loss):
    """The per-network objective (padding included) is prob.objective of the extracted net."""
    X, y = data_2d_pm1
    prob = TwoLayerReLU(X, y, beta=0.05, loss=loss)
    config = TrainConfig(optimizer="adam", steps=60, lr=2e-2, record_every=1)
    pop = train_population(prob, [2, 9, 4], [5, 6, 7], config)
    for res in pop:
        assert res.params.width == res.size
        assert math.isclose(res.objective, prob.objective(res.params), rel_tol=1e-12,
                            abs_tol=1e-14)
        # the first record is the objective of the initial network prob.model(size, seed)
        init = prob.objective(prob.model(res.size, seed=res.seed))
        assert math.isclose(res.trajectory["objective"][0], init, rel_tol=1e-12)
        assert res.trajectory["objective"][-1] < res.trajectory["objective"][0]


def test_gd_decreases_objective_monotonically_with_small_step(prob_1d):
    res = train_population(prob_1d, [4], [0], optimizer="gd", steps=200, lr=1e-3,
                           schedule="constant", record_every=1)[0]
    obj = np.asarray(res.trajectory["objective"])
    assert np.all(np.diff(obj) <= 1e-12)
    assert len(res.trajectory["time"]) == len(obj)
    assert np.all(np.diff(res.trajectory["time"]) >= 0)


def test_float32_population_runs_and_reports_float64_objective(prob_1d):
    res = train_population(prob_1d, [4, 2], [0, 1], optimizer="adam", steps=100, lr=1e-2,
                           dtype=torch.float32)
    for r in res:
        assert r.params.weight.dtype == torch.float32
        assert math.isclose(r.objective, prob_1d.objective(r.params), rel_tol=1e-5)


def test_lr_schedules():
    assert lr_factor("constant", 50, 100) == 1.0
    assert lr_factor("cosine", 0, 100) == 1.0
    assert math.isclose(lr_factor("cosine", 50, 100), 0.5)
    assert math.isclose(lr_factor("linear", 25, 100), 0.75)
    assert lr_factor("invsqrt", 3, 100) == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"steps": -1}, "steps"),
    ({"lr": 0.0}, "lr"),
    ({"momentum": 1.0}, "momentum"),
    ({"batch_size": 0}, "batch_size"),
    ({"schedule": "warmup"}, "schedule"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_population_argument_checks(prob_1d):
    with pytest.raises(ValueError, match="same length"):
        train_population(prob_1d, [1, 2], [0])
    with pytest.raises(ValueError, match="size"):
        train_population(prob_1d, [0], [0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_population_on_cuda_matches_cpu(prob_1d):  # pragma: no cover - no GPU in CI
    config = TrainConfig(optimizer="adam", steps=50, lr=1e-2, batch_size=5)
    cpu = train_population(prob_1d, [3, 6], [0, 1], config, device="cpu")
    gpu = train_population(prob_1d, [3, 6], [0, 1], config, device="cuda")
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a.trajectory["objective"], b.trajectory["objective"],
                                   rtol=1e-9)


def test_chunked_population_equals_one_population(prob_1d):
    """Training in chunks of members is the same computation (results in input order)."""
    config = TrainConfig(optimizer="adam", steps=80, lr=1e-2, record_every=4)
    sizes, seeds = [8, 1, 4, 2, 8, 8], [0, 1, 2, 3, 4, 5]
    whole = train_population(prob_1d, sizes, seeds, config)
    chunked = train_population(prob_1d, sizes, seeds, config, max_members=1)
    for a, b in zip(whole, chunked, strict=True):
        assert (a.size, a.seed) == (b.size, b.seed)
        np.testing.assert_allclose(a.trajectory["objective"], b.trajectory["objective"],
                                   rtol=1e-12)


# --------------------------------------------------------------------------------------------
# A tiny family with integer index data and a projection: the trainers are generic
# --------------------------------------------------------------------------------------------
class _Completion(Problem):
    r"""Matrix completion from index triplets ``(i, j, M_ij)``:
    ``1/2 sum (u_i^T v_j - M_ij)^2 + beta/2 (||U||_F^2 + ||V||_F^2)``, factors of rank
    ``size``; with ``nonneg`` the factors are projected onto ``U, V >= 0`` after each step."""

    name, size_name = "completion-test", "rank"

    def __init__(self, rows, cols, vals, shape, beta=0.1, nonneg=False):
        self.rows, self.cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        self.vals, self.shape, self.beta = np.asarray(vals, float), shape, beta
        self.nonneg = nonneg
        self.seen_dtypes = set()

    @property
    def n_samples(self):
        return self.rows.size

    def model(self, size, seed=0, *, dtype=None, device=None):
        gen = torch.Generator().manual_seed(seed)
        dtype = dtype or torch.float64
        mod = torch.nn.Module()
        mod.U = torch.nn.Parameter(torch.rand(self.shape[0], size, generator=gen, dtype=dtype))
        mod.V = torch.nn.Parameter(torch.rand(self.shape[1], size, generator=gen, dtype=dtype))
        return mod.to(device) if device is not None else mod

    def data(self, *, dtype=None, device=None):
        return (torch.as_tensor(self.rows, device=device),
                torch.as_tensor(self.cols, device=device),
                torch.as_tensor(self.vals, dtype=dtype or torch.float64, device=device))

    def torch_objective(self, model, data=None, *, weight=1.0):
        rows, cols, vals = self.data(dtype=model.U.dtype) if data is None else data
        self.seen_dtypes.update({rows.dtype, cols.dtype})
        pred = (model.U[rows] * model.V[cols]).sum(-1)
        reg = model.U.square().sum() + model.V.square().sum()
        return weight * 0.5 * (pred - vals).square().sum() + 0.5 * self.beta * reg

    def objective(self, params):
        with torch.no_grad():
            return float(self.torch_objective(params))

    def project_(self, model):
        if self.nonneg:
            model.U.clamp_(min=0.0)
            model.V.clamp_(min=0.0)

    def effective_size(self, params):
        return int(np.linalg.matrix_rank(params.U.detach().numpy() @ params.V.detach().numpy().T,
                                         tol=1e-6))

    def lift(self, **options):  # pragma: no cover - not needed by the trainers
        raise NotImplementedError


def _completion(nonneg):
    rng = np.random.default_rng(3)
    U, V = rng.random((7, 2)), rng.random((6, 2))
    mask = rng.random((7, 6)) < 0.6
    rows, cols = np.nonzero(mask)
    vals = (U @ V.T)[rows, cols] - (0.3 if nonneg else 0.0)
    return _Completion(rows, cols, vals, (7, 6), nonneg=nonneg)


@pytest.mark.parametrize("nonneg", [False, True], ids=["free", "projected"])
def test_generic_population_with_integer_data_and_projection(nonneg):
    """Integer index data stays integer; a projected population follows its solo runs."""
    prob = _completion(nonneg)
    config = TrainConfig(optimizer="sgd", steps=120, lr=2e-2, momentum=0.5, batch_size=5,
                         clip=2.0, record_every=6, schedule="linear")
    sizes, seeds = [1, 3, 3, 2], [0, 1, 2, 3]
    pop = train_population(prob, sizes, seeds, config)
    assert prob.seen_dtypes == {torch.int64}
    for res in pop:
        alone = train(prob, prob.model(res.size, res.seed), config, seed=res.seed,
                      size=res.size)
        np.testing.assert_allclose(res.trajectory["objective"], alone.trajectory["objective"],
                                   rtol=1e-10, atol=1e-12)
        for name in ("U", "V"):
            np.testing.assert_allclose(getattr(res.params, name).detach().numpy(),
                                       getattr(alone.params, name).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
        assert math.isclose(res.objective, prob.objective(res.params), rel_tol=1e-12)
        if nonneg:
            assert min(float(getattr(res.params, k).detach().min()) for k in "UV") >= 0.0
    if nonneg:  # the projection was active: the unconstrained optimum has negative entries
        free = train_population(_completion(False), sizes, seeds, config)
        assert any(min(float(getattr(r.params, k).detach().min()) for k in "UV") < 0
                   for r in free)
