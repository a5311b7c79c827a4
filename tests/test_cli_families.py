"""The harness, the trainers, the store and the command line are generic: a tiny family that
is not ReLU (its own data kind, its own size name) runs through all of them."""

from __future__ import annotations

import json
import math

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
import torch

import lift
from lift.base import Certificate, Lifted, Problem
from lift.cli import main
from lift.datasets import list_datasets, load, register_dataset
from lift.families import Family, register_family


def _pairs(seed: int = 0, n: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    return {"x": x, "y": 0.8 * x + 0.3 * rng.standard_normal(n)}


register_dataset("scalar-pairs", _pairs, kind="pairs", description="y = 0.8 x + noise")


class ScalarFactor(Problem):
    r"""``min 1/2 sum_i ((a^T b) x_i - y_i)^2 + beta/2 (||a||^2 + ||b||^2)`` over
    ``a, b in R^size``; since ``min_{a^T b = w} (||a||^2 + ||b||^2)/2 = |w|`` it lifts exactly
    to the 1-D lasso ``min_w 1/2 ||w x - y||^2 + beta |w|``."""

    name, size_name = "scalar-test", "rank"

    def __init__(self, x, y, beta: float) -> None:
        self.x, self.y, self.beta = np.asarray(x, float), np.asarray(y, float), float(beta)

    @property
    def n_samples(self) -> int:
        return self.x.size

    def model(self, size, seed=0, *, dtype=None, device=None):
        gen = torch.Generator().manual_seed(seed)
        dtype = dtype or torch.float64
        mod = torch.nn.Module()
        mod.a = torch.nn.Parameter(0.5 * torch.randn(size, generator=gen, dtype=dtype))
        mod.b = torch.nn.Parameter(0.5 * torch.randn(size, generator=gen, dtype=dtype))
        return mod.to(device) if device is not None else mod

    def data(self, *, dtype=None, device=None):
        kw = {"dtype": dtype or torch.float64, "device": device}
        return torch.as_tensor(self.x, **kw), torch.as_tensor(self.y, **kw)

    def torch_objective(self, model, data=None, *, weight=1.0):
        x, y = self.data(dtype=model.a.dtype) if data is None else data
        w = (model.a * model.b).sum()
        reg = model.a.square().sum() + model.b.square().sum()
        return weight * 0.5 * (w * x - y).square().sum() + 0.5 * self.beta * reg

    def objective(self, params) -> float:
        params = params.to(torch.float64)
        with torch.no_grad():
            return float(self.torch_objective(params))

    def effective_size(self, params) -> int:
        mass = (params.a * params.b).detach().abs().numpy()
        return int(np.sum(mass > 1e-3 * max(mass.max(), 1e-300)))

    def evaluate(self, params, test=None):
        w = float((params.a * params.b).detach().sum())
        return {"slope": w}

    def describe(self):
        return {"n": self.n_samples, "beta": self.beta}

    def _fingerprint_items(self):
        return {"x": self.x, "y": self.y, "beta": self.beta}

    def lift(self) -> ScalarLasso:
        return ScalarLasso(self)


class ScalarLasso(Lifted):
    exact = True

    def __init__(self, problem: ScalarFactor) -> None:
        self.problem = problem

    def to_cvxpy(self):
        p, w = self.problem, cp.Variable(name="w")
        return cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w * p.x - p.y) + p.beta * cp.abs(w)))

    def cones(self):
        return frozenset({"soc", "nonneg"})

    def size_hint(self) -> int:
        return self.problem.n_samples + 1

    def primal_from_cvxpy(self, cvx_problem):
        value = cvx_problem.variables()[0].value
        return None if value is None else float(value)

    def program_value(self, primal) -> float:
        p = self.problem
        return float(0.5 * np.sum((primal * p.x - p.y) ** 2) + p.beta * abs(primal))

    def recover(self, primal):
        model = self.problem.model(1)
        with torch.no_grad():
            model.a.fill_(math.sqrt(abs(primal)))
            model.b.fill_(math.copysign(math.sqrt(abs(primal)), primal))
        return model

    def certify(self, params, primal) -> Certificate:
        # dual: max_lam lam^T y - |lam|^2/2 s.t. |x^T lam| <= beta; lam = scaled residual
        p = self.problem
        w = float((params.a * params.b).detach().sum())
        lam = p.y - w * p.x
        lam = lam * min(1.0, p.beta / max(abs(float(p.x @ lam)), 1e-300))
        bound = float(lam @ p.y - 0.5 * lam @ lam)
        return Certificate(lower_bound=bound, global_bound=bound)


def _add_arguments(parser, command):
    parser.add_argument("--data", default="scalar-pairs", choices=list_datasets(kind="pairs"))
    parser.add_argument("--beta", type=float, default=0.5)


def _build(args):
    data = load(args.data)
    return ScalarFactor(data["x"], data["y"], beta=args.beta), None


register_family(Family(name="scalar-test", help="scalar factorization (test family)",
                       add_arguments=_add_arguments, build=_build,
                       defaults={"sizes": [1, 3], "steps": 400, "lr": 0.02, "seeds": [0, 1]}))


@pytest.fixture
def prob():
    data = load("scalar-pairs")
    return ScalarFactor(data["x"], data["y"], beta=0.5)


def test_compare_on_a_family_that_is_not_relu(prob):
    cmp = lift.compare(prob, sizes=[1, 3], seeds=2, train={"optimizer": "gd", "steps": 400,
                                                          "lr": 0.02},
                       solver="clarabel", n_jobs=1)
    assert cmp.certified and cmp.size_name == "rank"
    assert cmp.global_bound - 1e-12 <= cmp.optimum <= cmp.global_bound + 1e-6 * abs(cmp.optimum)
    runs = cmp.runs
    assert len(runs) == 4 and not runs["below_bound"].astype(bool).any()
    assert (runs["objective"] >= cmp.global_bound - 1e-9).all()
    for _, row in runs.iterrows():
        model = cmp.model(row["size"], row["seed"], prob)
        assert math.isclose(row["objective"], prob.objective(model), rel_tol=1e-12)
        assert row["slope"] == pytest.approx(prob.evaluate(model)["slope"], rel=1e-12)
        assert row["effective_size"] == prob.effective_size(model) <= row["size"]
    # gradient descent on this benign problem reaches the convex optimum at every rank
    assert (runs["rel_gap"] < 1e-4).all()
    conv = cmp.table[cmp.table["method"] == "convex"].iloc[0]
    assert pd.isna(conv["size"]) and conv["effective_size"] == 1
    assert (cmp.table["beta"] == 0.5).all()
    assert cmp.plot().axes[0].get_xlabel() == "rank"
    assert "effective rank 1" in cmp.format_summary()


def test_cli_on_a_family_that_is_not_relu(tmp_path, capsys):
    assert main(["solve", "scalar-test", "--solver", "clarabel", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["exact"] is True and out["size"] == 1
    assert out["global_bound"] <= out["value"] + 1e-12 and "slope" in out
    folder = tmp_path / "scalar"
    assert main(["compare", "scalar-test", "--optimizer", "gd", "--n-jobs", "1",
                 "--solver", "clarabel", "--out", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "certified global lower bound" in text and "effective rank" in text
    table = pd.read_csv(folder / "table.csv")
    runs = table[table["method"] != "convex"]
    # the family's defaults for the generic options: sizes 1,3, seeds 0,1, 400 steps
    assert sorted(set(runs["size"])) == [1, 3] and sorted(set(runs["seed"])) == [0, 1]
    assert (runs["steps"] == 400).all()
    assert (runs["objective"] >= runs["bound"] - 1e-9).all()


def test_datasets_of_other_kinds():
    assert "scalar-pairs" in list_datasets() and "scalar-pairs" in list_datasets(kind="pairs")
    assert "scalar-pairs" not in list_datasets(kind="xy") and "diabetes" in list_datasets("xy")
    data = load("scalar-pairs", seed=3, n=5)
    assert set(data) == {"x", "y"} and data["x"].shape == (5,)
    with pytest.raises(ValueError, match="data"):
        load("no-such-set")
    with pytest.raises(TypeError, match="loader"):
        register_dataset("bad", 3)
