"""The two-layer ReLU training problem (the non-convex side) and its lift."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import torch

from lift.base import Problem, check_path_values
from lift.errors import (
    check_array,
    check_choice,
    check_device,
    check_int,
    check_memory,
    check_positive,
    check_seed,
    check_tol,
)
from lift.losses import get_loss
from lift.problems.relu.arrangements import (
    enumerate_patterns,
    estimate_pattern_count,
    numerical_rank,
    patterns_from_gates,
    sample_patterns,
    unique_patterns,
)
from lift.problems.relu.networks import ACTIVE_RTOL, ReLUNet
from lift.problems.relu.program import PROGRAMS, ReLULift

__all__ = ["TwoLayerReLU", "DEFAULT_PATTERNS"]

#: sampled gates of ``patterns="auto"`` when the data is too high-dimensional to enumerate
DEFAULT_PATTERNS = 200
#: the old spellings of ``program``: ``relaxation="relu"`` was the exact cone program
_RELAXATION_ALIASES = {"relu": "cone", "gated": "gated", "cone": "cone"}


def _torch_dtype(dtype: Any) -> torch.dtype:
    return torch.float64 if dtype is None else dtype


class TwoLayerReLU(Problem):
    r"""Regularized training of a two-layer ReLU network.

    .. math::

        \min_{m, u_j, \alpha_j} \; L\Big(\sum_{j=1}^m \alpha_j (\tilde X u_j)_+,\; y\Big)
        + \frac{\beta}{2} \sum_{j=1}^m \big(\|u_j\|_2^2 + \alpha_j^2\big)

    with ``\tilde X = [X, 1]`` if ``bias`` and ``L`` the squared loss ``1/2 ||z - y||^2`` (no
    ``1/n``), the logistic loss ``sum log(1 + exp(-y z))`` or the hinge loss
    ``sum max(0, 1 - y z)``, labels in {-1, +1} for the last two.

    Parameters
    ----------
    X : (n, d) array
    y : (n,) array
    beta : float > 0
        Weight decay.
    loss : {"squared", "logistic", "hinge"}
    bias : bool
        Each neuron has a bias (regularized with its weights).
    """

    name = "relu"
    size_name = "width"

    def __init__(self, X: Any, y: Any, beta: float, loss: str = "squared",
                 bias: bool = True) -> None:
        X = check_array(X, "X", ndim=2)
        y = check_array(y, "y", ndim=(1, 2))
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise ValueError(f"`y` must be 1-D (one output), got shape {y.shape}.")
            y = y[:, 0]
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"`X` and `y` have mismatched lengths: X has {X.shape[0]} rows, y has "
                f"{y.shape[0]} entries."
            )
        self.beta = check_positive(beta, "beta")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"`bias` must be True or False, got {bias!r}.")
        self.loss = get_loss(loss)
        self.y = self.loss.check_targets(y)
        self.X = X
        self.bias = bool(bias)
        self.Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if self.bias else X

    def __repr__(self) -> str:
        return (f"TwoLayerReLU(n={self.n}, d={self.d}, beta={self.beta:g}, "
                f"loss={self.loss.name!r}, bias={self.bias})")

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def describe(self) -> dict[str, Any]:
        return {"n": self.n, "d": self.d, "beta": self.beta, "loss": self.loss.name,
                "bias": self.bias}

    def _fingerprint_items(self) -> dict[str, Any]:
        return {"X": self.X, "y": self.y, "beta": self.beta, "loss": self.loss.name,
                "bias": self.bias}

    def with_beta(self, beta: float) -> TwoLayerReLU:
        """The same data and loss with another weight decay ``beta``."""
        return TwoLayerReLU(self.X, self.y, beta, loss=self.loss.name, bias=self.bias)

    # --- the non-convex side ------------------------------------------------------------------
    def model(self, size: int, seed: int = 0, *, dtype: Any = None,
              device: Any = None) -> ReLUNet:
        """A width-``size`` ReLU network, weights ~ N(0, 1/(d+1)) and alpha ~ N(0, 1/size)."""
        size = check_int(size, "size", minimum=1)
        seed = check_seed(seed)
        check_memory(8 * 4 * size * (self.d + 2), f"`size`={size:,} neurons",
                     "Pass a smaller size.")
        dtype = _torch_dtype(dtype)
        if device is not None:
            device = check_device(device)
        gen = torch.Generator().manual_seed(seed)
        net = ReLUNet(self.d, size, bias=self.bias, dtype=dtype)
        fan_in = self.Xa.shape[1]
        with torch.no_grad():
            net.weight.copy_(torch.randn(size, self.d, generator=gen, dtype=dtype) / fan_in**0.5)
            if self.bias:
                net.bias.copy_(torch.randn(size, generator=gen, dtype=dtype) / fan_in**0.5)
            net.alpha.copy_(torch.randn(size, generator=gen, dtype=dtype) / size**0.5)
        return net.to(device) if device is not None else net

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple[torch.Tensor, ...]:
        """``(X, y)`` as tensors."""
        dtype = _torch_dtype(dtype)
        return (torch.as_tensor(self.X, dtype=dtype, device=device),
                torch.as_tensor(self.y, dtype=dtype, device=device))

    def torch_objective(self, model: torch.nn.Module, data: tuple | None = None, *,
                        weight: float = 1.0) -> torch.Tensor:
        """Differentiable ``weight * L(model(X), y) + beta/2 * model.penalty()``."""
        if data is None:
            p = next(model.parameters())
            data = self.data(dtype=p.dtype, device=p.device)
        X, y = data
        return weight * self.loss.torch(model(X), y) + 0.5 * self.beta * model.penalty()

    def objective(self, params: torch.nn.Module) -> float:
        """The objective at a network (any width), evaluated exactly in float64."""
        net = self._as_network(params)
        with torch.no_grad():
            return float(self.torch_objective(net))

    def _as_network(self, params: Any) -> ReLUNet:
        if not isinstance(params, torch.nn.Module) or not hasattr(params, "penalty"):
            raise TypeError(
                "`params` must be a network from TwoLayerReLU.model() or a Solution's params "
                f"(a ReLUNet), got {type(params).__name__}."
            )
        if params.weight.shape[1] != self.d:
            raise ValueError(f"`params` has {params.weight.shape[1]} inputs; this problem has "
                             f"{self.d}.")
        return copy.deepcopy(params).to(device="cpu", dtype=torch.float64)

    def predict(self, params: torch.nn.Module, X: Any) -> np.ndarray:
        """Network outputs on new inputs ``X``."""
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.d:
            raise ValueError(f"`X` must have {self.d} columns, got {X.shape[1]}.")
        net = self._as_network(params)
        with torch.no_grad():
            return net(torch.from_numpy(X)).numpy()

    def effective_size(self, params: torch.nn.Module, rtol: float = ACTIVE_RTOL) -> int:
        """Neurons whose contribution ``|alpha_j| ||u_j||`` exceeds ``rtol`` times the
        largest."""
        return self._as_network(params).active_units(rtol)

    def check_test(self, test: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Held-out data: a pair ``(X_test, y_test)`` or None."""
        if test is None:
            return None
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError("`test` must be a pair (X_test, y_test) or None.")
        Xt = check_array(test[0], "test[0] (X_test)", ndim=2, min_rows=0)
        yt = check_array(test[1], "test[1] (y_test)", ndim=1, min_rows=0)
        if Xt.shape[1] != self.d:
            raise ValueError(f"`test` X_test must have {self.d} columns, got {Xt.shape[1]}.")
        if Xt.shape[0] != yt.shape[0]:
            raise ValueError(f"`test` has {Xt.shape[0]} rows in X_test but {yt.shape[0]} "
                             "labels.")
        return Xt, yt

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """``train_error`` and ``test_error`` (mean squared error, or misclassification rate
        for the classification losses); ``test_error`` is NaN without held-out data."""
        out = {"train_error": self.loss.error(self.predict(params, self.X), self.y)}
        out["test_error"] = (self.loss.error(self.predict(params, test[0]), test[1])
                             if test is not None and len(test[1]) else math.nan)
        return out

    # --- the convex side ----------------------------------------------------------------------
    def lift(self, patterns: str | int | np.ndarray = "exact", program: str = "cone",
             seed: int = 0, max_patterns: int = 100_000, verify: bool | None = None,
             include: Any = (), relaxation: str | None = None,
             bound_time: float = 0.0) -> ReLULift:
        """The convex group-lasso program over activation patterns.

        Parameters
        ----------
        patterns : "exact", "auto", int or array
            ``"exact"`` enumerates every pattern of the (augmented) data (feasible for data
            of rank <= 3, e.g. 1-D and 2-D inputs with bias); an ``int`` samples that many
            Gaussian gates (deduplicated, zero pattern dropped); an array of shape
            (P, d + bias) gives the gates; ``"auto"`` is ``"exact"`` for inputs of dimension
            at most 2 and 200 sampled gates otherwise.
        program : {"cone", "gated"}
            ``"cone"``: the cone-constrained group lasso, an exact lift of ReLU training
            when every pattern is present; ``"gated"``: the unconstrained group lasso of the
            gated ReLU model, a relaxation (its bound holds for ReLU networks too).
        seed : int
            Seed for sampled gates.
        max_patterns : int
            Largest count ``"exact"`` may enumerate (else :class:`PatternCountError`), and
            largest count of sampled gates. Pattern arrays that would not fit in the
            available memory are refused too (:class:`lift.errors.ResourceLimitError`).
        verify : bool or None
            Check a sampled program's dual point against all patterns to certify a global
            bound. ``None``: when the data's pattern count is at most 20,000.
        include : sequence of networks
            Networks of this problem (e.g. trained ones) whose neurons' activation patterns
            are added to sampled patterns: the program's optimum is then at or below each
            network's objective (see :meth:`ReLULift.including`).
        relaxation : {"relu", "gated"}, optional
            Deprecated spelling of ``program`` (``"relu"`` is ``"cone"``).
        bound_time : float
            Seconds of branch and bound per solve that bound every pattern's constraint when
            they cannot be listed (:func:`lift.problems.relu.global_lower_bound`; cone program
            only): ``sol.global_bound`` is then a valid bound on every network whatever the
            time, tight on inputs up to about 3-D and loose on 10-D data. 0 (default): none.
        """
        if relaxation is not None:
            warnings.warn("`relaxation` is deprecated; use program='cone' (was 'relu') or "
                          "program='gated'.", FutureWarning, stacklevel=2)
            program = _RELAXATION_ALIASES.get(relaxation, relaxation)
        program = check_choice(program, "program", PROGRAMS)
        seed = check_seed(seed)
        bound_time = check_positive(bound_time, "bound_time", strict=False)
        if bound_time > 0 and program != "cone":
            raise ValueError("`bound_time` bounds ReLU networks through the cone program's "
                             "dual; use program='cone', or bound_time=0.")
        if isinstance(verify, (np.bool_,)):
            verify = bool(verify)
        if verify is not None and not isinstance(verify, bool):
            raise TypeError(f"`verify` must be True, False or None, got {verify!r}.")
        Xa = self.Xa
        if isinstance(patterns, str) and patterns == "auto":
            patterns = "exact" if Xa.shape[1] <= 3 else DEFAULT_PATTERNS
        gates = None
        max_patterns = check_int(max_patterns, "max_patterns", minimum=1)
        if isinstance(patterns, str):
            check_choice(patterns, "patterns", ["exact", "auto"])
            self._check_pattern_memory("exact", max_patterns)
            D = enumerate_patterns(Xa, max_patterns=max_patterns)
            complete = True
        elif isinstance(patterns, (int, np.integer)) and not isinstance(patterns, bool):
            count = check_int(patterns, "patterns", minimum=1)
            self._check_pattern_memory(count, max_patterns)
            D, gates = sample_patterns(Xa, count, seed)
            complete = False
        else:
            G = check_array(patterns, "patterns", ndim=2)
            if G.shape[1] != Xa.shape[1]:
                raise ValueError(
                    f"`patterns` as gates must have shape (P, {Xa.shape[1]}) (d + bias "
                    f"columns), got {G.shape}."
                )
            D, idx = unique_patterns(patterns_from_gates(Xa, G))
            gates, complete = G[idx], False
        if D.shape[1] == 0:
            raise ValueError("`patterns` produced only the zero pattern; use more gates.")
        lifted = ReLULift(self, D, gates=gates, program=program, complete=complete,
                          verify=verify, bound_time=bound_time)
        if include is None:
            return lifted
        if isinstance(include, (str, bytes, torch.nn.Module)) or not hasattr(include,
                                                                              "__iter__"):
            raise TypeError("`include` must be a sequence of networks of this problem (e.g. "
                            f"[net]), got {type(include).__name__}.")
        return lifted.including(include)

    #: peak bytes per (row x pattern) entry: exact enumeration (measured 7-19 B at n = 300-600,
    #: 2-D) and sampling (gate products in float64 plus the boolean patterns: 9.3 B)
    EXACT_BYTES_PER_ENTRY = 20
    SAMPLED_BYTES_PER_ENTRY = 10

    def _check_pattern_memory(self, patterns: str | int, max_patterns: int) -> None:
        """Refuse, before allocating, pattern counts above ``max_patterns`` and pattern
        arrays larger than the available memory (:func:`lift.errors.check_memory`)."""
        n = self.n
        rank, _ = numerical_rank(self.Xa)
        most = estimate_pattern_count(n, rank)
        if patterns == "exact":
            if most > max_patterns:
                return  # enumerate_patterns refuses it with its own message
            check_memory(self.EXACT_BYTES_PER_ENTRY * n * most,
                         f"`patterns`='exact' ({most:,} patterns of {n} rows)",
                         "Sample patterns instead (e.g. patterns=1000) or use fewer rows.")
            return
        if patterns > max_patterns:
            raise ValueError(
                f"`patterns`={patterns:,} is above `max_patterns`={max_patterns:,}; the data "
                f"(rank {rank}, {n} rows) has at most {most:,} distinct patterns. Sample "
                "fewer, or raise max_patterns.")
        check_memory(self.SAMPLED_BYTES_PER_ENTRY * n * patterns,
                     f"`patterns`={patterns:,} sampled gates on {n} rows",
                     "Sample fewer patterns.")

    def path(self, betas: Any, patterns: str | int | np.ndarray = "exact",
             program: str = "cone", seed: int = 0, solver: str = "auto", tol: float = 1e-6,
             verbose: bool = False, **options: Any) -> list:
        """Solutions along a weight-decay path over one set of patterns (lifted once).

        See :meth:`lift.Lifted.path`: from the largest ``beta`` to the smallest, each solve
        warm-started from the previous one where the solver takes a warm start.
        """
        check_path_values(betas, "betas")
        check_tol(tol)
        lifted = self.lift(patterns=patterns, program=program, seed=seed)
        return lifted.path(betas, solver=solver, tol=tol, verbose=verbose, **options)
