r"""A minimal second problem family, written only for the tests (through the contract alone).

Factor a target vector ``c`` (n samples) as ``x_i = <u, w_i>`` with ``u`` in R^k and rows
``w_i`` of ``W`` in R^{n x k}:

.. math::

    \min_{u, W} \tfrac12 \sum_i (\langle u, w_i\rangle - c_i)^2
    + \tfrac{\lambda}{2} (\|u\|^2 + \|W\|_F^2)
    \quad\Longleftrightarrow\quad
    \min_x \tfrac12 \|x - c\|^2 + \lambda \|x\|_2,

the vector version of ``min_{a,b} (ab - c)^2 + lam (a^2 + b^2) / 2``: the lift is exact for
every ``k`` (``||W u|| <= ||W||_F ||u|| <= (||u||^2 + ||W||_F^2) / 2``, with equality for a
balanced rank-one pair). For any ``g`` with ``||g|| <= lam``, ``<g, c> - ||g||^2 / 2`` is a
lower bound on both.
"""

from __future__ import annotations

import numpy as np
import torch

from lift.base import Certificate, Lifted, Problem
from lift.datasets import check_rows, list_datasets, load, register_dataset
from lift.errors import check_array, check_int, check_memory, check_positive, check_seed
from lift.families import Family, register_family


class Factors(torch.nn.Module):
    def __init__(self, n: int, k: int, gen: torch.Generator, dtype) -> None:
        super().__init__()
        self.u = torch.nn.Parameter(torch.randn(k, generator=gen, dtype=torch.float64).to(dtype))
        self.W = torch.nn.Parameter(torch.randn(n, k, generator=gen, dtype=torch.float64)
                                    .to(dtype) / n**0.5)


class VectorProduct(Problem):
    name, size_name = "vecprod", "rank"

    def __init__(self, c, lam: float) -> None:
        self.c = check_array(c, "c", ndim=1)
        self.lam = check_positive(lam, "lam")

    @property
    def n_samples(self) -> int:
        return self.c.size

    def _fingerprint_items(self):
        return {"c": self.c, "lam": self.lam}

    def describe(self):
        return {"n": self.c.size, "lam": self.lam}

    def evaluate(self, params, test=None):
        return {"fit_norm": float(torch.linalg.vector_norm(params.W @ params.u).detach())}

    def model(self, size, seed=0, *, dtype=None, device=None):
        size, seed = check_int(size, "size", minimum=1), check_seed(seed)
        check_memory(8 * 2 * size * self.c.size, f"`size`={size:,}", "Pass a smaller size.")
        gen = torch.Generator().manual_seed(seed)
        return Factors(self.c.size, size, gen, dtype or torch.float64).to(device)

    def data(self, *, dtype=None, device=None):
        return (torch.arange(self.c.size, device=device),  # integer index data stays integer
                torch.as_tensor(self.c, dtype=dtype or torch.float64, device=device))

    def torch_objective(self, model, data=None, *, weight=1.0):
        if data is None:
            data = self.data(dtype=model.u.dtype, device=model.u.device)
        idx, c = data
        fit = 0.5 * ((model.W[idx] @ model.u - c) ** 2).sum()
        return weight * fit + 0.5 * self.lam * (model.u.square().sum() + model.W.square().sum())

    def objective(self, params) -> float:
        if not isinstance(params, Factors):
            raise TypeError(f"`params` must be a model of VectorProduct, got "
                            f"{type(params).__name__}.")
        with torch.no_grad():
            return float(self.torch_objective(params.to(torch.float64)))

    def effective_size(self, params) -> int:
        x = (params.W @ params.u).detach().double().numpy()
        return int(np.linalg.norm(x) > 1e-9 * max(1.0, np.linalg.norm(self.c)))

    def lift(self) -> VectorLift:
        return VectorLift(self)


class VectorLift(Lifted):
    exact = True

    def __init__(self, problem: VectorProduct) -> None:
        self.problem = problem

    def to_cvxpy(self):
        import cvxpy as cp

        x = cp.Variable(self.problem.c.size, name="x")
        obj = 0.5 * cp.sum_squares(x - self.problem.c) + self.problem.lam * cp.norm(x, 2)
        return cp.Problem(cp.Minimize(obj))

    def cones(self):
        return frozenset({"soc"})

    def size_hint(self):
        return self.problem.c.size

    def primal_from_cvxpy(self, cvx):
        x = cvx.variables()[0].value
        return None if x is None else np.asarray(x, dtype=np.float64)

    def program_value(self, x):
        return 0.5 * float(np.sum((x - self.problem.c) ** 2)) + self.problem.lam * float(
            np.linalg.norm(x))

    def recover(self, x):
        r = np.linalg.norm(x)
        model = self.problem.model(1)
        with torch.no_grad():
            model.u.fill_(np.sqrt(r))
            model.W.copy_(torch.from_numpy(x[:, None] / np.sqrt(r) if r > 0 else 0 * x[:, None]))
        return model

    def certify(self, params, x):
        c, lam = self.problem.c, self.problem.lam
        g = c - (params.W @ params.u).detach().double().numpy()  # minus the loss gradient
        g *= min(1.0, lam / max(np.linalg.norm(g), 1e-300))
        bound = float(g @ c - 0.5 * g @ g)
        return Certificate(lower_bound=bound, global_bound=bound)


# --- the command line: a data set of its own kind and the family's arguments ---------------
register_dataset("toy-vector",
                 lambda seed=0, n=12: np.random.default_rng(seed).standard_normal(
                     check_rows(n, 1)),
                 kind="vector", description="a Gaussian vector")


def _add_arguments(parser, command):
    parser.add_argument("--data", default="toy-vector", choices=list_datasets(kind="vector"))
    parser.add_argument("--lam", type=float, default=0.7)


register_family(Family(
    name="vecprod", help="vector factorization (test family)", add_arguments=_add_arguments,
    build=lambda args: (VectorProduct(load(args.data), args.lam), None),
    defaults={"sizes": [1, 3], "steps": 400, "lr": 0.05, "seeds": [0, 1]},
    example=lambda: VectorProduct(load("toy-vector"), 0.7),
    check_options={"sizes": (1, 2, 5), "bad_arguments": [
        ("lam=-1", lambda: VectorProduct(np.ones(3), -1.0)),
        ("c=[nan]", lambda: VectorProduct([np.nan], 1.0))]}))
