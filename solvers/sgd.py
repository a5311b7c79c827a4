r"""Trainers for the non-convex parameterization: SGD (with momentum), Adam and full-batch GD.

They minimize the problem's own objective,

.. math::

    F(\theta) = w \, L\big(f_\theta(X_B),\, y_B\big) + \frac{\beta}{2}\, \Omega(\theta),

where ``(X_B, y_B)`` is the mini-batch (the whole data for full-batch GD), ``w = n / |B|`` makes
the data term unbiased, ``L`` is ``prob.loss`` and ``\Omega`` is the network's penalty (for
two-layer ReLU networks ``\sum_j \|u_j\|^2 + \alpha_j^2``). A single run calls
``prob.torch_objective``; a population calls ``prob.loss.torch`` (batched over networks) and
the same penalty, so that both are the function ``prob.objective`` evaluates.

Two entry points:

- :func:`train` trains one ``torch.nn.Module`` with ``torch.optim``;
- :func:`train_population` trains many two-layer ReLU networks (seeds x widths) as one batched
  tensor program: their weights are stacked into ``(B, M, d)`` tensors padded to the largest
  width ``M`` with masked zero neurons, and one ``einsum`` evaluates all of them. The update
  rules are written out elementwise so that a network inside a population follows the same
  trajectory as the same network trained alone by :func:`train` (same seed, same mini-batches,
  same learning-rate schedule, same clipping, same early stop), to floating-point tolerance.

Both record the full-data objective every ``record_every`` steps with the wall time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lift.errors import check_choice, check_int, check_positive
from lift.solvers import resolve_device

__all__ = ["TrainConfig", "TrainResult", "train", "train_population", "OPTIMIZERS",
           "SCHEDULES", "lr_factor"]

OPTIMIZERS = ("gd", "sgd", "adam")
SCHEDULES = ("constant", "cosine", "linear", "invsqrt")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    r"""Hyperparameters of a training run.

    Attributes
    ----------
    optimizer : {"gd", "sgd", "adam"}
        ``"gd"``: full-batch gradient descent ``\theta \leftarrow \theta - \eta_t \nabla F``;
        ``"sgd"``: heavy-ball SGD ``v \leftarrow \mu v + g``, ``\theta \leftarrow \theta -
        \eta_t v`` (``torch.optim.SGD``); ``"adam"``: Adam (``torch.optim.Adam``).
    steps : int >= 0
        Step budget.
    lr : float > 0
        Base learning rate ``\eta``.
    schedule : {"constant", "cosine", "linear", "invsqrt"}
        ``\eta_t = \eta\, s(t)`` with ``s = 1``, ``(1 + \cos(\pi t / T)) / 2``, ``1 - t / T`` or
        ``1 / \sqrt{1 + t / \tau}`` (``\tau = T / 100``); ``T`` is ``steps``.
    momentum : float in [0, 1)
        Heavy-ball momentum of ``"sgd"``.
    betas : (float, float)
        Adam's moment decay rates.
    eps : float
        Adam's denominator offset.
    batch_size : int or None
        Mini-batch size; ``None`` (and always for ``"gd"``) uses the whole data.
    clip : float or None
        Rescale the gradient of each network to Euclidean norm at most ``clip``.
    patience : int or None
        Early stop when the recorded full objective has not improved by a relative ``rtol``
        over the last ``patience`` records; ``None`` never stops early.
    rtol : float
        Relative improvement that counts as progress for ``patience``.
    record_every : int or None
        Record the full objective every this many steps; ``None``: about 200 records.
    """

    optimizer: str = "adam"
    steps: int = 2000
    lr: float = 1e-2
    schedule: str = "cosine"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    batch_size: int | None = None
    clip: float | None = None
    patience: int | None = None
    rtol: float = 1e-7
    record_every: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_int(self.steps, "steps", minimum=0)
        check_positive(self.lr, "lr")
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_positive(self.momentum, "momentum", strict=False)
        if self.momentum >= 1:
            raise ValueError(f"`momentum` must be in [0, 1). Got {self.momentum!r} instead.")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"`betas` must be two floats in [0, 1). Got {self.betas!r}.")
        object.__setattr__(self, "betas", (float(self.betas[0]), float(self.betas[1])))
        check_positive(self.eps, "eps")
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", minimum=1)
        if self.clip is not None:
            check_positive(self.clip, "clip")
        if self.patience is not None:
            check_int(self.patience, "patience", minimum=1)
        check_positive(self.rtol, "rtol", strict=False)
        if self.record_every is not None:
            check_int(self.record_every, "record_every", minimum=1)

    @property
    def every(self) -> int:
        """The recording interval in steps."""
        if self.record_every is not None:
            return self.record_every
        return max(1, self.steps // 200)

    def batch(self, n: int) -> int | None:
        """The mini-batch size on ``n`` samples, ``None`` for full batches."""
        if self.optimizer == "gd" or self.batch_size is None or self.batch_size >= n:
            return None
        return self.batch_size

    def as_dict(self) -> dict[str, Any]:
        """Settings as plain values (for store keys and tables)."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


@dataclasses.dataclass
class TrainResult:
    """One training run: its trajectory and final parameters.

    Attributes
    ----------
    size, seed : int
        Width and initialization seed.
    params : torch.nn.Module
        The final network (a ``ReLUNet`` of width ``size``).
    objective : float
        Full-data objective of the final network, in the training dtype.
    steps : int
        Steps taken (fewer than the budget after an early stop).
    trajectory : dict
        ``"step"``, ``"objective"`` and ``"time"`` (wall seconds since the start) lists.
    time : float
        Wall seconds of the run; in a population, of the whole population divided by its size.
    message : str
        Why training stopped.
    """

    size: int
    seed: int
    params: Any
    objective: float
    steps: int
    trajectory: dict[str, list[float]]
    time: float
    message: str = ""


def lr_factor(schedule: str, t: int, steps: int) -> float:
    """The multiplier ``s(t)`` of the learning rate at step ``t`` (see :class:`TrainConfig`)."""
    if schedule == "constant" or steps == 0:
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t / steps))
    if schedule == "linear":
        return 1.0 - t / steps
    tau = max(steps / 100.0, 1.0)
    return 1.0 / math.sqrt(1.0 + t / tau)


class _Batches:
    """Mini-batch indices of one run: a fresh permutation of ``range(n)`` per epoch, drawn from
    a generator seeded by the run's seed (so a run alone and in a population see the same)."""

    def __init__(self, n: int, batch: int, seed: int) -> None:
        self.n, self.batch = n, batch
        self.gen = torch.Generator().manual_seed(10_007 * int(seed) + 1)
        self.perm = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:
            self.perm = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx


class _Plateau:
    """Early stop: no relative improvement ``rtol`` of the best record in ``patience`` records."""

    def __init__(self, patience: int | None, rtol: float) -> None:
        self.patience, self.rtol = patience, rtol
        self.best, self.since = math.inf, 0

    def update(self, value: float) -> bool:
        if self.patience is None:
            return False
        if not math.isfinite(value):
            return True
        if value < self.best - self.rtol * abs(self.best) or not math.isfinite(self.best):
            self.best, self.since = value, 0
        else:
            self.since += 1
        return self.since >= self.patience


def _stop_message(steps: int, budget: int, stopped: bool, finite: bool) -> str:
    if not finite:
        return f"objective became non-finite at step {steps}"
    if stopped:
        return f"objective plateaued; stopped after {steps} of {budget} steps"
    return f"step budget of {budget} reached"


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------
def train(prob, model: torch.nn.Module, config: TrainConfig | None = None, *, seed: int = 0,
          size: int | None = None, **settings: Any) -> TrainResult:
    r"""Train ``model`` in place on ``prob.torch_objective`` with ``torch.optim``.

    Minimizes ``F(\theta) = (n/|B|) L(f_\theta(X_B), y_B) + \beta/2\, \Omega(\theta)`` (see the
    module docstring) with the optimizer, schedule, mini-batches, clipping and early stop of
    ``config``.

    Parameters
    ----------
    prob : Problem
        A problem with ``torch_objective(model, X, y, data_weight)`` and ``tensors``.
    model : torch.nn.Module
        Network to train (its dtype and device are used), e.g. ``prob.model(size, seed)``.
    config : TrainConfig, optional
        Settings; keyword ``settings`` build one when omitted.
    seed : int
        Seed of the mini-batch order (use the initialization seed).
    size : int, optional
        Reported width (default: ``model.width`` when it has one).

    Returns
    -------
    TrainResult
    """
    config = _config(config, settings)
    p0 = next(model.parameters())
    data = prob.data(dtype=p0.dtype, device=p0.device)
    n = prob.n_samples
    batch = config.batch(n)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.lr, betas=config.betas, eps=config.eps,
                               foreach=False)
    else:
        momentum = config.momentum if config.optimizer == "sgd" else 0.0
        opt = torch.optim.SGD(params, lr=config.lr, momentum=momentum, foreach=False)
    batches = _Batches(n, batch, seed) if batch else None
    plateau = _Plateau(config.patience, config.rtol)
    traj: dict[str, list[float]] = {"step": [], "objective": [], "time": []}
    every = config.every
    start = time.perf_counter()
    stopped, finite, t = False, True, 0

    def record(step: int, value: float | None = None) -> bool:
        if value is None:
            with torch.no_grad():
                value = float(prob.torch_objective(model, data))
        traj["step"].append(step)
        traj["objective"].append(value)
        traj["time"].append(time.perf_counter() - start)
        return plateau.update(value)

    for t in range(config.steps):
        if batches is None:
            obj = prob.torch_objective(model, data)
        else:
            idx = batches.next().to(p0.device)
            obj = prob.torch_objective(model, prob.batch(data, idx), weight=n / batch)
        if t % every == 0:
            plateaued = record(t, float(obj.detach()) if batches is None else None)
            if not math.isfinite(traj["objective"][-1]):
                finite = False
                break
            if plateaued:
                stopped = True
                break
        opt.zero_grad(set_to_none=False)
        obj.backward()
        if config.clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.clip, foreach=False)
        for group in opt.param_groups:
            group["lr"] = config.lr * lr_factor(config.schedule, t, config.steps)
        opt.step()
    else:
        t = config.steps
    if stopped or not finite:
        steps_taken = t
    else:
        steps_taken = config.steps
    if not traj["step"] or traj["step"][-1] != steps_taken:
        record(steps_taken)
    final = traj["objective"][-1]
    finite = finite and math.isfinite(final)
    elapsed = time.perf_counter() - start
    width = size if size is not None else int(getattr(model, "width", 0))
    return TrainResult(width, int(seed), model, final, steps_taken, traj, elapsed,
                       _stop_message(steps_taken, config.steps, stopped, finite))


def _config(config: TrainConfig | None, settings: dict[str, Any]) -> TrainConfig:
    if config is None:
        return TrainConfig(**settings)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig, got {type(config).__name__}.")
    return dataclasses.replace(config, **settings) if settings else config


# --------------------------------------------------------------------------------------------
# A population of two-layer ReLU networks
# --------------------------------------------------------------------------------------------
class _Population:
    r"""``B`` two-layer ReLU networks stacked and padded to width ``M``.

    ``W`` (B, M, d), ``b`` (B, M) (absent without bias) and ``a`` (B, M); ``mask`` (B, M) is 1
    on real neurons. Padded neurons are zero and stay zero (their gradient is masked).
    Network ``k`` computes ``f_k(x) = sum_j mask_kj a_kj (W_kj^T x + b_kj)_+``.
    """

    def __init__(self, prob, sizes: Sequence[int], seeds: Sequence[int],
                 dtype: torch.dtype, device: torch.device) -> None:
        B, M, d = len(sizes), max(sizes), prob.d
        self.bias = prob.bias
        kw = {"dtype": dtype, "device": device}
        self.W = torch.zeros(B, M, d, **kw)
        self.b = torch.zeros(B, M, **kw) if self.bias else None
        self.a = torch.zeros(B, M, **kw)
        self.mask = torch.zeros(B, M, **kw)
        for k, (m, s) in enumerate(zip(sizes, seeds, strict=True)):
            net = prob.model(m, seed=s, dtype=dtype)
            self.W[k, :m] = net.weight.detach().to(device)
            if self.bias:
                self.b[k, :m] = net.bias.detach().to(device)
            self.a[k, :m] = net.alpha.detach().to(device)
            self.mask[k, :m] = 1.0
        self.tensors = [self.W, self.a] + ([self.b] if self.bias else [])
        for p in self.tensors:
            p.requires_grad_(True)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Predictions (B, n) for shared inputs X (n, d) or per-network inputs (B, n, d)."""
        # (B, M, d) @ (d, n) is one contiguous GEMM; (B, M, d) @ (B, d, n) a batched one
        pre = self.W @ X.transpose(-1, -2)  # (B, M, n)
        if self.bias:
            pre = pre + self.b[..., None]
        return ((self.a * self.mask)[:, None, :] @ torch.relu(pre)).squeeze(1)

    def penalty(self) -> torch.Tensor:
        """Per-network ``sum_j ||u_j||^2 + alpha_j^2`` (B,), padded neurons excluded."""
        p = (self.W.square().sum(-1) + self.a.square())
        if self.bias:
            p = p + self.b.square()
        return (p * self.mask).sum(-1)

    def network(self, k: int, width: int):
        from lift.problems.relu import ReLUNet

        d = self.W.shape[-1]
        net = ReLUNet(d, width, bias=self.bias, dtype=self.W.dtype)
        with torch.no_grad():
            net.weight.copy_(self.W[k, :width].detach().cpu())
            if self.bias:
                net.bias.copy_(self.b[k, :width].detach().cpu())
            net.alpha.copy_(self.a[k, :width].detach().cpu())
        return net


def population_objective(prob, pop: _Population, X: torch.Tensor, y: torch.Tensor,
                         data_weight: float = 1.0) -> torch.Tensor:
    r"""Per-network objectives ``w L(f_k(X), y) + \beta/2\, \Omega_k`` (B,), the same function as
    ``prob.torch_objective`` on network ``k`` (``y`` is (n,) or per-network (B, n))."""
    return data_weight * prob.loss.torch(pop.forward(X), y) + 0.5 * prob.beta * pop.penalty()


def train_population(prob, sizes: Sequence[int], seeds: Sequence[int],
                     config: TrainConfig | None = None, *, dtype: torch.dtype = torch.float64,
                     device: Any = None, max_elements: int | None = 2**18,
                     **settings: Any) -> list[TrainResult]:
    r"""Train the networks ``prob.model(sizes[k], seeds[k])`` together as one batched program.

    Each network ``k`` minimizes its own objective ``F_k`` (see the module docstring); the
    population minimizes ``\sum_k F_k``, whose gradient in network ``k``'s weights is
    ``\nabla F_k``, with per-network mini-batches, per-network gradient clipping and
    per-network early stop (a stopped network is frozen). The update of each network is the
    one :func:`train` applies with ``torch.optim``.

    Parameters
    ----------
    prob : TwoLayerReLU
        The problem (two-layer ReLU networks).
    sizes, seeds : sequences of int, same length
        Width and initialization seed of each network (the seed also orders its mini-batches).
    config : TrainConfig, optional
        Settings; keyword ``settings`` build one when omitted.
    dtype : torch.dtype
        Training precision.
    device : str or torch.device, optional
        ``None`` picks CUDA when available, else the CPU.
    max_elements : int or None
        On the CPU, networks are trained in consecutive chunks whose hidden activations
        ``(B, M, n)`` hold at most this many elements (at least one network per chunk), so
        that they stay in cache; ``None`` trains all at once. Results do not depend on it.

    Returns
    -------
    list of TrainResult
        One per network, in input order; ``params`` are ``ReLUNet`` modules on the CPU.
    """
    config = _config(config, settings)
    sizes = [check_int(s, "size", minimum=1) for s in sizes]
    seeds = [check_int(s, "seed") for s in seeds]
    if len(sizes) != len(seeds):
        raise ValueError(f"`sizes` and `seeds` must have the same length, got {len(sizes)} and "
                         f"{len(seeds)}.")
    if not sizes:
        raise ValueError("`sizes` is empty; pass at least one network.")
    device = resolve_device(device)
    if max_elements is not None and device.type == "cpu":
        check_int(max_elements, "max_elements", minimum=1)
        order = sorted(range(len(sizes)), key=lambda k: sizes[k])
        chunks, chunk = [], []
        for k in order:
            width = max([sizes[j] for j in chunk] + [sizes[k]])
            if chunk and (len(chunk) + 1) * width * prob.n > max_elements:
                chunks.append(chunk)
                chunk = []
            chunk.append(k)
        chunks.append(chunk)
        if len(chunks) > 1:
            out: list[TrainResult | None] = [None] * len(sizes)
            for chunk in chunks:
                part = _train_population(prob, [sizes[k] for k in chunk],
                                         [seeds[k] for k in chunk], config, dtype, device)
                for k, res in zip(chunk, part, strict=True):
                    out[k] = res
            return out  # type: ignore[return-value]
    return _train_population(prob, sizes, seeds, config, dtype, device)


def _train_population(prob, sizes: list[int], seeds: list[int], config: TrainConfig,
                      dtype: torch.dtype, device: torch.device) -> list[TrainResult]:
    X, y = prob.tensors(dtype=dtype, device=device)
    n, B = X.shape[0], len(sizes)
    batch = config.batch(n)
    pop = _Population(prob, sizes, seeds, dtype, device)
    batches = [_Batches(n, batch, s) for s in seeds] if batch else None
    plateaus = [_Plateau(config.patience, config.rtol) for _ in range(B)]
    active = torch.ones(B, dtype=torch.bool, device=device)
    active_list = [True] * B
    steps_taken = [config.steps] * B
    stopped = [False] * B
    nonfinite = [False] * B
    trajs = [{"step": [], "objective": [], "time": []} for _ in range(B)]
    state: dict[str, list[torch.Tensor]] = {}
    for name in ("v", "m", "s"):
        state[name] = [torch.zeros_like(p) for p in pop.tensors]
    b1, b2 = config.betas
    every = config.every
    start = time.perf_counter()

    def bshape(vec: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return vec.view(-1, *([1] * (p.dim() - 1)))

    def record(step: int, values: torch.Tensor, which: list[int]) -> None:
        now = time.perf_counter() - start
        vals = values.detach().cpu().tolist()
        for k in which:
            trajs[k]["step"].append(step)
            trajs[k]["objective"].append(vals[k])
            trajs[k]["time"].append(now)

    def full_objective() -> torch.Tensor:
        with torch.no_grad():
            return population_objective(prob, pop, X, y)

    t = 0
    for t in range(config.steps):
        if not active_list.count(True):
            break
        if batches is None:
            obj = population_objective(prob, pop, X, y)
        else:
            idx = torch.stack([bt.next() for bt in batches]).to(device)  # (B, batch)
            obj = population_objective(prob, pop, X[idx], y[idx], data_weight=n / batch)
        if t % every == 0:
            values = obj.detach() if batches is None else full_objective()
            now_active = [k for k in range(B) if active_list[k]]
            record(t, values, now_active)
            vals = values.cpu().tolist()
            for k in now_active:
                if not math.isfinite(vals[k]):
                    nonfinite[k] = True
                if nonfinite[k] or plateaus[k].update(vals[k]):
                    stopped[k] = not nonfinite[k]
                    active_list[k] = False
                    steps_taken[k] = t
            active = torch.tensor(active_list, device=device)
            if not active_list.count(True):
                break
        for p in pop.tensors:
            p.grad = None
        obj.sum().backward()
        with torch.no_grad():
            grads = [p.grad * (pop.mask[..., None] if p.dim() == 3 else pop.mask)
                     for p in pop.tensors]
            if config.clip is not None:
                norm = torch.sqrt(sum(g.reshape(B, -1).square().sum(-1) for g in grads))
                coef = torch.clamp(config.clip / (norm + 1e-6), max=1.0)
                grads = [g * bshape(coef, g) for g in grads]
            lr = config.lr * lr_factor(config.schedule, t, config.steps)
            every_live = all(active_list)
            for i, (p, g) in enumerate(zip(pop.tensors, grads, strict=True)):
                if config.optimizer == "adam":
                    m = b1 * state["m"][i] + (1 - b1) * g
                    s = b2 * state["s"][i] + (1 - b2) * g * g
                    step = t + 1
                    bc1, bc2 = 1 - b1**step, 1 - b2**step
                    update = (lr / bc1) * m / (s.sqrt() / math.sqrt(bc2) + config.eps)
                    new_state = {"m": m, "s": s}
                elif config.optimizer == "sgd" and config.momentum > 0:
                    v = g if t == 0 else config.momentum * state["v"][i] + g
                    update = lr * v
                    new_state = {"v": v}
                else:
                    update = lr * g
                    new_state = {}
                if every_live:
                    for key, val in new_state.items():
                        state[key][i] = val
                    p.sub_(update)
                else:  # frozen (stopped) networks keep their weights and optimizer state
                    keep = bshape(active, p)
                    for key, val in new_state.items():
                        state[key][i] = torch.where(keep, val, state[key][i])
                    p.sub_(torch.where(keep, update, torch.zeros_like(update)))
    last = full_objective()
    final_vals = last.cpu().tolist()
    elapsed = time.perf_counter() - start
    results = []
    for k in range(B):
        if active_list[k]:
            steps_taken[k] = config.steps
        if not trajs[k]["step"] or trajs[k]["step"][-1] != steps_taken[k]:
            trajs[k]["step"].append(steps_taken[k])
            trajs[k]["objective"].append(final_vals[k])
            trajs[k]["time"].append(elapsed)
        final = trajs[k]["objective"][-1]
        msg = _stop_message(steps_taken[k], config.steps, stopped[k],
                            not nonfinite[k] and math.isfinite(final))
        results.append(TrainResult(sizes[k], seeds[k], pop.network(k, sizes[k]), final,
                                   steps_taken[k], trajs[k], elapsed / B, msg))
    return results


def population_throughput(results: Sequence[TrainResult]) -> float:
    """Network-steps per second of a population (for benchmarks)."""
    total = sum(r.steps for r in results)
    wall = sum(r.time for r in results)
    return total / wall if wall > 0 else float("nan")


def _as_numpy_traj(result: TrainResult) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in result.trajectory.items()}
