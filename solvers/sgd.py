r"""Trainers for the non-convex parameterization of any problem: SGD (with momentum), Adam and
full-batch GD.

They minimize the problem's own objective (:meth:`lift.Problem.torch_objective`),

.. math::

    F(\theta) = w \, \ell(\theta; B) + R(\theta), \qquad w = n / |B|,

where ``\ell(\theta; B)`` is the data term on the mini-batch ``B`` (the whole data for
full-batch GD), ``w`` makes it unbiased and ``R`` is the model's regularizer, so that with all
the data it is the function :meth:`lift.Problem.objective` evaluates. After each step the
problem may project the parameters onto its feasible set (:meth:`lift.Problem.project_`). A
problem that samples its data distribution (:meth:`lift.Problem.stream` not ``None``) gives
each step a fresh draw of ``n`` samples instead (``w = 1``; Hardt, Ma & Recht's setting).

Two entry points, both generic (they use only the members of :class:`lift.Problem`):

- :func:`train` trains one ``torch.nn.Module`` with ``torch.optim``;
- :func:`train_population` trains many models (sizes x seeds) as batched tensor programs: the
  members of one size are stacked with ``torch.func.stack_module_state`` and
  ``prob.torch_objective`` is evaluated for all of them at once with
  ``torch.func.vmap(functional_call)``. The update rules are written out elementwise, with
  per-member mini-batches, clipping, early stop and projection, so that a member follows the
  same trajectory as the same model trained alone by :func:`train` (same seed, same
  mini-batches, same learning-rate schedule), to floating-point tolerance.

Both record the full-data objective every ``record_every`` steps with the wall time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from lift.errors import check_choice, check_int, check_positive
from lift.solvers import resolve_device

__all__ = ["TrainConfig", "TrainResult", "train", "train_population", "OPTIMIZERS",
           "SCHEDULES", "lr_factor"]

OPTIMIZERS = ("gd", "sgd", "adam")
#: on the CPU the generic population evaluates its members in chunks whose parameter count
#: times the sample count is at most this (so that their intermediates stay in cache)
CHUNK_ELEMENTS = 2**21
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
        Rescale the gradient of each model (all its parameters together) to Euclidean norm at
        most ``clip``.
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
    size : int or None
        The requested size (width / rank / order) of the model, where known.
    seed : int
        Initialization seed (it also orders the mini-batches).
    params : torch.nn.Module
        The final model (``prob.model(size, seed)`` with the trained parameters).
    objective : float
        Full-data objective of the final model, in the training dtype.
    steps : int
        Steps taken (fewer than the budget after an early stop).
    trajectory : dict
        ``"step"``, ``"objective"`` and ``"time"`` (wall seconds since the start) lists.
    time : float
        Wall seconds of the run; in a population, of the whole population divided by its size.
    message : str
        Why training stopped.
    """

    size: int | None
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
def _projects(prob) -> bool:
    """Whether ``prob`` overrides the no-op :meth:`lift.Problem.project_`."""
    from lift.base import Problem

    return getattr(type(prob), "project_", Problem.project_) is not Problem.project_


def _stream(prob, seed: int, config: TrainConfig, dtype: torch.dtype, device: Any):
    """The problem's fresh-data iterator for run ``seed`` (``None``: train on its data)."""
    stream = getattr(prob, "stream", None)
    stream = stream(seed, dtype=dtype, device=device) if callable(stream) else None
    if stream is not None and config.batch(prob.n_samples):
        raise ValueError("`batch_size` must be None for this problem: it draws fresh data "
                         "for every step (its `stream`), which is already the stochastic "
                         "gradient.")
    return stream


def train(prob, model: torch.nn.Module, config: TrainConfig | None = None, *, seed: int = 0,
          size: int | None = None, **settings: Any) -> TrainResult:
    r"""Train ``model`` in place on ``prob.torch_objective`` with ``torch.optim``.

    Minimizes ``F(\theta) = (n/|B|) \ell(\theta; B) + R(\theta)`` (see the module docstring)
    with the optimizer, schedule, mini-batches, clipping and early stop of ``config``, and
    calls ``prob.project_(model)`` after each step.

    Parameters
    ----------
    prob : lift.Problem
        The problem (``data``, ``batch``, ``n_samples``, ``torch_objective``, ``project_``).
    model : torch.nn.Module
        Model to train (its dtype and device are used), e.g. ``prob.model(size, seed)``.
    config : TrainConfig, optional
        Settings; keyword ``settings`` build one when omitted.
    seed : int
        Seed of the mini-batch order (use the initialization seed).
    size : int, optional
        The model's requested size, reported in the result.

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
    stream = _stream(prob, seed, config, p0.dtype, p0.device)
    plateau = _Plateau(config.patience, config.rtol)
    traj: dict[str, list[float]] = {"step": [], "objective": [], "time": []}
    project = _projects(prob)
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
        if stream is not None:
            obj = prob.torch_objective(model, next(stream))
        elif batches is None:
            obj = prob.torch_objective(model, data)
        else:
            idx = batches.next().to(p0.device)
            obj = prob.torch_objective(model, prob.batch(data, idx), weight=n / batch)
        if t % config.every == 0:
            full = batches is None and stream is None
            plateaued = record(t, float(obj.detach()) if full else None)
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
        if project:
            with torch.no_grad():
                prob.project_(model)
    else:
        t = config.steps
    steps_taken = t if (stopped or not finite) else config.steps
    if not traj["step"] or traj["step"][-1] != steps_taken:
        record(steps_taken)
    final = traj["objective"][-1]
    finite = finite and math.isfinite(final)
    return TrainResult(size, int(seed), model, final, steps_taken, traj,
                       time.perf_counter() - start,
                       _stop_message(steps_taken, config.steps, stopped, finite))


def _config(config: TrainConfig | dict | None, settings: dict[str, Any]) -> TrainConfig:
    if config is None:
        return TrainConfig(**settings)
    if isinstance(config, dict):
        return TrainConfig(**{**config, **settings})
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig (or a dict of its fields), got "
                        f"{type(config).__name__}.")
    return dataclasses.replace(config, **settings) if settings else config


# --------------------------------------------------------------------------------------------
# A population: members of one size stacked, the objective vmapped
# --------------------------------------------------------------------------------------------
class _Objective(torch.nn.Module):
    """``prob.torch_objective(model, data, weight=w)`` as a module, so that
    ``torch.func.functional_call`` swaps the model's parameters for the whole call (the
    model's forward pass and its regularizer alike)."""

    def __init__(self, prob, model: torch.nn.Module) -> None:
        super().__init__()
        self.prob = prob
        self.model = model

    def forward(self, data: tuple, weight: float) -> torch.Tensor:
        return self.prob.torch_objective(self.model, data, weight=weight)


class _Stack:
    r"""Models ``prob.model(size, seeds[k])`` stacked along a leading member axis.

    ``params[name]`` (B, ...) holds member ``k``'s parameter ``name`` at index ``k``
    (trainable ones are leaves with ``requires_grad``), ``buffers`` likewise. ``objective``
    evaluates ``F_k`` for every member with ``vmap(functional_call)`` (on the CPU, chunks of
    members at a time: :data:`CHUNK_ELEMENTS`); ``members[k]`` is a
    model whose parameters are views of row ``k`` (so that ``prob.project_`` on it projects
    the stack in place).
    """

    def __init__(self, prob, size: int, seeds: list[int], dtype: torch.dtype,
                 device: torch.device, views: bool) -> None:
        from torch.func import stack_module_state

        models = [prob.model(size, s, dtype=dtype, device=device) for s in seeds]
        self.prob, self.size, self.seeds, self.dtype = prob, size, seeds, dtype
        self.params, self.buffers = stack_module_state(models)
        self.train_names = [k for k, p in models[0].named_parameters() if p.requires_grad]
        for name, p in self.params.items():
            p.requires_grad_(name in self.train_names)
        self.tensors = [self.params[k] for k in self.train_names]
        self.chunk = len(seeds)
        if device.type == "cpu":  # keep a chunk's work (parameters x samples) cache-sized
            work = sum(p.numel() for p in models[0].parameters()) * max(prob.n_samples, 1)
            most = max(1, min(len(seeds), CHUNK_ELEMENTS // work))
            count = -(-len(seeds) // most)  # as few chunks as fit, of balanced sizes
            self.chunk = -(-len(seeds) // count)
        self.module = _Objective(prob, models[0])
        self.members = models if views else []
        for k, model in enumerate(self.members):
            for name, p in model.named_parameters():
                p.data = self.params[name].detach()[k]

    def _call(self, params: dict, buffers: dict, data: tuple, weight: float) -> torch.Tensor:
        from torch.func import functional_call

        state = {f"model.{k}": v for k, v in params.items()}
        state.update((f"model.{k}", v) for k, v in buffers.items())
        return functional_call(self.module, state, (data, weight))

    def objective(self, data: tuple, idx: torch.Tensor | None = None,
                  weight: float = 1.0, *, per_member: bool = False) -> torch.Tensor:
        """``(B,)`` objectives on all of ``data`` (``idx`` None), on member ``k``'s
        mini-batch ``prob.batch(data, idx[k])``, or (``per_member``) on member ``k``'s own
        data ``tuple(d[k] for d in data)``, ``chunk`` members at a time."""
        from torch.func import vmap

        prob, B = self.prob, len(self.seeds)

        def full(p, b):
            return self._call(p, b, data, weight)

        def member(p, b, i):
            return self._call(p, b, prob.batch(data, i), weight)

        def own(p, b, d):
            return self._call(p, b, d, weight)

        parts = []
        for k0 in range(0, B, self.chunk):
            sl = slice(k0, k0 + self.chunk)
            p = {k: v[sl] for k, v in self.params.items()}
            b = {k: v[sl] for k, v in self.buffers.items()}
            if per_member:
                parts.append(vmap(own)(p, b, tuple(d[sl] for d in data)))
            else:
                parts.append(vmap(full)(p, b) if idx is None else vmap(member)(p, b, idx[sl]))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def project_(self, live: list[bool]) -> None:
        """``prob.project_`` on every live member (in place, through the member views)."""
        for k, model in enumerate(self.members):
            if live[k]:
                self.prob.project_(model)

    def model(self, k: int) -> torch.nn.Module:
        """Member ``k`` as a new ``prob.model(size, seed)`` on the CPU with its final state."""
        model = self.prob.model(self.size, self.seeds[k], dtype=self.dtype)
        both = {**self.params, **self.buffers}
        state = {name: both[name][k].detach().cpu() for name in model.state_dict()}
        model.load_state_dict(state)
        return model


class _Optimizer:
    """The updates of ``torch.optim.SGD`` / ``torch.optim.Adam`` written elementwise over
    stacked tensors, with per-member clipping and a per-member mask of live members."""

    def __init__(self, config: TrainConfig, tensors: list[torch.Tensor]) -> None:
        self.config = config
        self.tensors = tensors
        self.state = {key: [torch.zeros_like(p) for p in tensors] for key in ("v", "m", "s")}

    @staticmethod
    def _per_member(vec: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return vec.view(-1, *([1] * (p.dim() - 1)))

    def _rule(self, i: int, g: torch.Tensor, t: int, lr: float):
        c = self.config
        if c.optimizer == "adam":
            b1, b2 = c.betas
            m = b1 * self.state["m"][i] + (1 - b1) * g
            s = b2 * self.state["s"][i] + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
            return (lr / bc1) * m / (s.sqrt() / math.sqrt(bc2) + c.eps), {"m": m, "s": s}
        if c.optimizer == "sgd" and c.momentum > 0:
            v = g if t == 0 else c.momentum * self.state["v"][i] + g
            return lr * v, {"v": v}
        return lr * g, {}

    @torch.no_grad()
    def step(self, t: int, live: torch.Tensor, all_live: bool) -> None:
        c = self.config
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.tensors]
        if c.clip is not None:
            B = live.shape[0]
            norm = torch.sqrt(sum(g.reshape(B, -1).square().sum(-1) for g in grads))
            coef = torch.clamp(c.clip / (norm + 1e-6), max=1.0)
            grads = [g * self._per_member(coef, g) for g in grads]
        lr = c.lr * lr_factor(c.schedule, t, c.steps)
        for i, (p, g) in enumerate(zip(self.tensors, grads, strict=True)):
            update, new = self._rule(i, g, t, lr)
            if all_live:
                for key, val in new.items():
                    self.state[key][i] = val
                p.sub_(update)
            else:  # stopped members keep their parameters and optimizer state
                keep = self._per_member(live, p)
                for key, val in new.items():
                    self.state[key][i] = torch.where(keep, val, self.state[key][i])
                p.sub_(torch.where(keep, update, torch.zeros_like(update)))


def _train_stack(prob, size: int, seeds: list[int], config: TrainConfig, dtype: torch.dtype,
                 device: torch.device) -> list[TrainResult]:
    """Train the members ``prob.model(size, seeds[k])`` of one size together."""
    project = _projects(prob)
    stack = _Stack(prob, size, seeds, dtype, device, views=project)
    data = prob.data(dtype=dtype, device=device)
    n, B = prob.n_samples, len(seeds)
    batch = config.batch(n)
    batches = [_Batches(n, batch, s) for s in seeds] if batch else None
    streams = [_stream(prob, s, config, dtype, device) for s in seeds]
    streams = streams if streams[0] is not None else None
    plateaus = [_Plateau(config.patience, config.rtol) for _ in range(B)]
    live = [True] * B
    steps_taken, stopped, nonfinite = [config.steps] * B, [False] * B, [False] * B
    trajs = [{"step": [], "objective": [], "time": []} for _ in range(B)]
    tensors = list(stack.tensors)
    opt = _Optimizer(config, tensors)
    live_t = torch.ones(B, dtype=torch.bool, device=device)
    start = time.perf_counter()
    for t in range(config.steps):
        if streams is not None:  # member k's own fresh draw, stacked: (B, ...) per tensor
            draws = [next(st) for st in streams]
            obj = stack.objective(tuple(torch.stack(d) for d in zip(*draws, strict=True)),
                                  per_member=True)
        elif batches is None:
            obj = stack.objective(data)
        else:
            idx = torch.stack([bt.next() for bt in batches]).to(device)  # (B, batch)
            obj = stack.objective(data, idx, weight=n / batch)
        if t % config.every == 0:
            if batches is None and streams is None:
                values = obj.detach()
            else:
                with torch.no_grad():
                    values = stack.objective(data)
            vals, now = values.cpu().tolist(), time.perf_counter() - start
            for k in [k for k in range(B) if live[k]]:
                for key, v in (("step", t), ("objective", vals[k]), ("time", now)):
                    trajs[k][key].append(v)
                nonfinite[k] = not math.isfinite(vals[k])
                if nonfinite[k] or plateaus[k].update(vals[k]):
                    stopped[k], live[k], steps_taken[k] = not nonfinite[k], False, t
            live_t = torch.tensor(live, device=device)
            if not any(live):
                break
        for p in tensors:
            p.grad = None
        obj.sum().backward()
        opt.step(t, live_t, all(live))
        if project:
            with torch.no_grad():
                stack.project_(live)
    with torch.no_grad():
        final_vals = stack.objective(data).cpu().tolist()
    elapsed = time.perf_counter() - start
    results = []
    for k in range(B):
        tr = trajs[k]
        if not tr["step"] or tr["step"][-1] != steps_taken[k]:
            for key, v in (("step", steps_taken[k]), ("objective", final_vals[k]),
                           ("time", elapsed)):
                tr[key].append(v)
        final = tr["objective"][-1]
        msg = _stop_message(steps_taken[k], config.steps, stopped[k],
                            not nonfinite[k] and math.isfinite(final))
        results.append(TrainResult(size, seeds[k], stack.model(k), final, steps_taken[k], tr,
                                   elapsed / B, msg))
    return results


def train_population(prob, sizes: Sequence[int], seeds: Sequence[int],
                     config: TrainConfig | dict | None = None, *,
                     dtype: torch.dtype = torch.float64, device: Any = None,
                     max_members: int | None = None, **settings: Any) -> list[TrainResult]:
    r"""Train the models ``prob.model(sizes[k], seeds[k])`` together as batched programs.

    Member ``k`` minimizes its own objective ``F_k`` (see the module docstring); the members
    of one size are stacked and the population minimizes ``\sum_k F_k``, whose gradient in
    member ``k``'s parameters is ``\nabla F_k``, with per-member mini-batches, per-member
    gradient clipping, per-member early stop (a stopped member is frozen) and
    ``prob.project_`` on each member after each step. The update of each member is the one
    :func:`train` applies with ``torch.optim``; the results do not depend on how the members
    are grouped.

    Parameters
    ----------
    prob : lift.Problem
        The problem; its ``torch_objective`` must be made of batched tensor operations (it is
        vmapped over the members).
    sizes, seeds : sequences of int, same length
        Size and initialization seed of each member (the seed also orders its mini-batches).
    config : TrainConfig or dict, optional
        Settings; keyword ``settings`` build one when omitted.
    dtype : torch.dtype
        Training precision of floating parameters and data (integer data stays integer).
    device : str or torch.device, optional
        ``None`` picks CUDA when available, else the CPU.
    max_members : int or None
        Train at most this many members of one size at a time (``None``: all of them).

    Returns
    -------
    list of TrainResult
        One per member, in input order; ``params`` are ``prob.model(size, seed)`` modules on
        the CPU holding the trained parameters.
    """
    config = _config(config, settings)
    sizes = [check_int(s, "size", minimum=1) for s in sizes]
    seeds = [check_int(s, "seed") for s in seeds]
    if len(sizes) != len(seeds):
        raise ValueError(f"`sizes` and `seeds` must have the same length, got {len(sizes)} and "
                         f"{len(seeds)}.")
    if not sizes:
        raise ValueError("`sizes` is empty; pass at least one model.")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"`dtype` must be a floating torch.dtype such as torch.float64, got "
                        f"{dtype!r}.")
    if max_members is not None:
        check_int(max_members, "max_members", minimum=1)
    device = resolve_device(device)
    groups: dict[int, list[int]] = {}
    for k, m in enumerate(sizes):
        groups.setdefault(m, []).append(k)
    out: list[TrainResult | None] = [None] * len(sizes)
    for m, members in groups.items():
        step = max_members or len(members)
        for i in range(0, len(members), step):
            chunk = members[i:i + step]
            part = _train_stack(prob, m, [seeds[k] for k in chunk], config, dtype, device)
            for k, res in zip(chunk, part, strict=True):
                out[k] = res
    return out  # type: ignore[return-value]
