r"""Two-layer ReLU networks and their exact convex lift (Pilanci & Ergen, 2020).

The non-convex training problem over networks ``f(x) = sum_j alpha_j (u_j^T x)_+`` of any
width ``m`` is

.. math::

    \min_{u_j, \alpha_j} \; L\Big(\sum_{j=1}^m \alpha_j (\tilde X u_j)_+,\; y\Big)
    + \frac{\beta}{2} \sum_{j=1}^m \big(\|u_j\|_2^2 + \alpha_j^2\big),

where ``\tilde X = [X, 1]`` when ``bias=True`` (each ``u_j`` carries its bias, which is
regularized like the other weights) and ``L`` is the squared loss ``1/2 ||z - y||^2``, the
logistic loss or the hinge loss. Over the activation patterns ``D_i = diag(1[\tilde X g_i >= 0])``
of the data it equals the convex program

.. math::

    \min_{v_i, w_i} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
    + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)
    \quad \text{s.t.} \quad (2 D_i - I) \tilde X v_i \ge 0,\; (2 D_i - I) \tilde X w_i \ge 0,

when all patterns are listed. Recovery maps ``v_i`` to a neuron ``u = v_i / \sqrt{\|v_i\|}``,
``\alpha = \sqrt{\|v_i\|}`` (and ``w_i`` to one with ``\alpha = -\sqrt{\|w_i\|}``), whose
objective equals the convex one. The gated relaxation drops the cone constraints and the
``w_i`` (its neurons are ``f(x) = sum_j alpha_j 1[g_j^T x >= 0] u_j^T x`` with fixed gates).

Certificates
------------
Weak duality gives, for every ``lambda`` and multipliers ``mu_i, nu_i >= 0`` with
``||\tilde X^T (D_i lambda - (2D_i - I) mu_i)|| <= beta`` and
``||\tilde X^T (D_i lambda + (2D_i - I) nu_i)|| <= beta`` for all ``i``, the lower bound
``-L^*(lambda)`` on the program. The library takes ``lambda = grad L(z)`` at the recovered
network's predictions (or the solver's dual for the hinge loss), computes for each pattern the
smallest such norm exactly (a nonnegative least-squares problem: the norm of the projection of
``\tilde X^T D_i lambda`` onto the pattern's dual cone), scales ``lambda`` by the largest ``t``
that makes every norm ``<= beta``, and maximizes ``-L^*(t lambda)`` over ``t``. The gated
program's constraints are ``||\tilde X^T D_i lambda|| <= beta``. ``sol.gap`` is
``sol.value`` minus this bound.

Every ReLU network of any width maps to a feasible point of the all-pattern program with no
larger objective (group its neurons by pattern; ``|alpha| ||u|| <= (alpha^2 + ||u||^2)/2``), and
the ReLU program's feasible set contains the gated one's up to sign, so a dual bound over *all*
patterns bounds every network: ``sol.global_bound``. It is set when the patterns are exact,
or when the dual point of a sampled program passes the check against every pattern (possible
for data of small rank); otherwise it is ``None``.

References
----------
M. Pilanci and T. Ergen. Neural networks are convex regularizers: exact polynomial-time convex
optimization formulations for two-layer networks. ICML 2020.
A. Mishkin, A. Sahiner and M. Pilanci. Fast convex optimization for two-layer ReLU networks:
equivalent model classes and cone decompositions. ICML 2022.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar, nnls

from lift.arrangements import (
    enumerate_patterns,
    estimate_pattern_count,
    interior_gates,
    numerical_rank,
    patterns_from_gates,
    sample_patterns,
    unique_patterns,
)
from lift.base import Lifted, Problem, Solution
from lift.errors import (
    InaccurateSolutionWarning,
    PatternCountError,
    check_array,
    check_choice,
    check_int,
    check_positive,
)
from lift.losses import Loss, get_loss

__all__ = [
    "TwoLayerReLU",
    "ReLULift",
    "ReLUNet",
    "GatedReLUNet",
    "recover_network",
    "dual_bound",
    "constraint_norms",
    "pattern_products",
]

RELAXATIONS = ("relu", "gated")
#: the Caratheodory reduction of recovered networks is skipped above n * width entries
REDUCE_LIMIT = 50_000_000
#: global bounds of sampled programs are verified against all patterns up to this many
VERIFY_LIMIT = 20_000


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
class ReLUNet(torch.nn.Module):
    r"""``f(x) = sum_j alpha_j (w_j^T x + b_j)_+``, penalty ``sum_j ||w_j||^2 + b_j^2 + alpha_j^2``.

    Parameters ``weight`` (width, d), ``bias`` (width,) or None, ``alpha`` (width,).
    """

    def __init__(self, in_features: int, width: int, bias: bool = True,
                 dtype: torch.dtype = torch.float64, device: Any = None) -> None:
        super().__init__()
        kw = {"dtype": dtype, "device": device}
        self.weight = torch.nn.Parameter(torch.zeros(width, in_features, **kw))
        self.bias = torch.nn.Parameter(torch.zeros(width, **kw)) if bias else None
        self.alpha = torch.nn.Parameter(torch.zeros(width, **kw))

    @property
    def width(self) -> int:
        return self.alpha.shape[0]

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        pre = X @ self.weight.T
        if self.bias is not None:
            pre = pre + self.bias
        return pre

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(X)) @ self.alpha

    def penalty(self) -> torch.Tensor:
        """``sum_j ||u_j||^2 + alpha_j^2`` (the bias is part of ``u_j``)."""
        p = self.weight.square().sum() + self.alpha.square().sum()
        if self.bias is not None:
            p = p + self.bias.square().sum()
        return p

    def first_layer(self) -> np.ndarray:
        """The (width, d + bias) matrix of neurons ``u_j`` (bias last)."""
        W = self.weight.detach().cpu().double().numpy()
        if self.bias is None:
            return W
        return np.hstack([W, self.bias.detach().cpu().double().numpy()[:, None]])

    def active_units(self, rtol: float = 1e-6) -> int:
        """Neurons whose contribution ``|alpha_j| ||u_j||`` exceeds ``rtol`` times the largest."""
        a = np.abs(self.alpha.detach().cpu().double().numpy())
        mass = a * np.linalg.norm(self.first_layer(), axis=1)
        if mass.size == 0 or mass.max() == 0:
            return 0
        return int(np.sum(mass > rtol * mass.max()))


class GatedReLUNet(ReLUNet):
    r"""Gated ReLU network ``f(x) = sum_j alpha_j 1[g_j^T x + c_j >= 0] (w_j^T x + b_j)``.

    The gates ``(g_j, c_j)`` are fixed buffers (``gates``, shape (width, d + bias)).
    """

    def __init__(self, in_features: int, width: int, gates: np.ndarray | torch.Tensor,
                 bias: bool = True, dtype: torch.dtype = torch.float64, device: Any = None):
        super().__init__(in_features, width, bias=bias, dtype=dtype, device=device)
        self.register_buffer("gates", torch.as_tensor(np.asarray(gates), dtype=dtype,
                                                      device=device))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        d = X.shape[-1]
        g = X @ self.gates[:, :d].T
        if self.gates.shape[1] > d:
            g = g + self.gates[:, d]
        return ((g >= 0).to(X.dtype) * self.hidden(X)) @ self.alpha


def recover_network(V: np.ndarray, W: np.ndarray | None, in_features: int, bias: bool,
                    gates: np.ndarray | None = None, prune: float = 1e-7) -> ReLUNet:
    r"""Map a convex solution to a network: ``u = v / sqrt(||v||)``, ``alpha = sqrt(||v||)``.

    Parameters
    ----------
    V, W : (P, d + bias) arrays
        Rows ``v_i`` and ``w_i`` (``W`` None for the gated program).
    gates : (P, d + bias) array, optional
        Gate of each pattern; given, the result is a :class:`GatedReLUNet`.
    prune : float
        Rows with ``||v_i|| <= prune * max_i ||v_i||`` are dropped (exact zeros always are).
    """
    blocks = [(V, 1.0)] + ([(W, -1.0)] if W is not None else [])
    rows, alphas, keep_gates = [], [], []
    scale = max((np.linalg.norm(B, axis=1).max(initial=0.0) for B, _ in blocks), default=0.0)
    for B, sign in blocks:
        norms = np.linalg.norm(B, axis=1)
        keep = np.flatnonzero(norms > max(prune * scale, 0.0))
        rows.append(B[keep] / np.sqrt(norms[keep])[:, None])
        alphas.append(sign * np.sqrt(norms[keep]))
        if gates is not None:
            keep_gates.append(gates[keep])
    U = np.concatenate(rows) if rows else np.zeros((0, V.shape[1]))
    alpha = np.concatenate(alphas)
    width = U.shape[0]
    if gates is not None:
        net: ReLUNet = GatedReLUNet(in_features, width, np.concatenate(keep_gates), bias=bias)
    else:
        net = ReLUNet(in_features, width, bias=bias)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(U[:, :in_features]))
        if bias:
            net.bias.copy_(torch.from_numpy(U[:, in_features]))
        net.alpha.copy_(torch.from_numpy(alpha))
    return net


def reduce_neurons(prob: TwoLayerReLU, net: ReLUNet) -> ReLUNet:
    """Drop neurons at no cost to the objective (exact Caratheodory reduction).

    Neuron ``j`` contributes ``alpha_j (Xa u_j)_+`` (gated: its gated output) to the
    predictions and ``beta/2 (||u_j||^2 + alpha_j^2)`` to the penalty; both scale by ``s_j``
    when ``u_j`` and ``alpha_j`` are scaled by ``sqrt(s_j)``. See :mod:`lift.recovery`.
    At most ``n + 1`` neurons remain. Skipped (the network is returned as it is) when the
    ``n x width`` activation matrix would exceed ``REDUCE_LIMIT`` entries.
    """
    from lift.recovery import caratheodory_weights

    if net.width <= 1 or prob.n * net.width > REDUCE_LIMIT:
        return net
    U = net.first_layer()
    a = net.alpha.detach().numpy()
    Xa = prob.Xa
    act = (Xa @ net.gates.numpy().T >= 0) if isinstance(net, GatedReLUNet) else None
    pre = Xa @ U.T
    H = ((act * pre) if act is not None else np.maximum(pre, 0)) * a  # (n, m)
    cost = 0.5 * (np.sum(U**2, axis=1) + a**2)  # scales by s_j with (u_j, alpha_j)
    s = caratheodory_weights(H.T, cost)
    keep = np.flatnonzero(s > 0)
    root = np.sqrt(s[keep])
    U2, a2 = U[keep] * root[:, None], a[keep] * root
    if isinstance(net, GatedReLUNet):
        out: ReLUNet = GatedReLUNet(prob.d, keep.size, net.gates.numpy()[keep], bias=prob.bias)
    else:
        out = ReLUNet(prob.d, keep.size, bias=prob.bias)
    with torch.no_grad():
        out.weight.copy_(torch.from_numpy(U2[:, : prob.d]))
        if prob.bias:
            out.bias.copy_(torch.from_numpy(U2[:, prob.d]))
        out.alpha.copy_(torch.from_numpy(a2))
    return out


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------
#: entries of an ``n x P`` block the certificates process at once (~64 MiB in float64)
CHUNK_ENTRIES = 2**23
#: the exact per-pattern NNLS check runs where ``n * d * (patterns to check)`` is at most this
NNLS_LIMIT = 20_000_000


def _row_chunks(n: int, P: int):
    rows = max(1, CHUNK_ENTRIES // max(P, 1))
    return [slice(s, min(s + rows, n)) for s in range(0, n, rows)]


def pattern_products(Xa: np.ndarray, D: np.ndarray, lam: np.ndarray,
                     mult: np.ndarray | None = None, sign: float = 1.0) -> np.ndarray:
    r"""The (P, d) matrix with rows ``Xa^T (sign D_i lam - (2 D_i - I) mult_i)``.

    Without ``mult`` the rows are ``sign Xa^T D_i lam``. Computed in row chunks: memory
    ``O(chunk P)``, never the ``n x P x d`` blocks.
    """
    n, P = D.shape
    out = np.zeros((P, Xa.shape[1]))
    for sl in _row_chunks(n, P):
        Dc = D[sl]
        lc = sign * lam[sl, None]
        if mult is None:
            M = np.where(Dc, lc, 0.0)
        else:
            mc = mult[sl]
            M = np.where(Dc, lc - mc, mc)
        out += M.T @ Xa[sl]
    return out


def constraint_norms(Xa: np.ndarray, lam: np.ndarray, D: np.ndarray, cone: bool,
                     beta: float | None = None,
                     multipliers: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    r"""Per-pattern dual constraint norms of ``lam``.

    Gated: ``||Xa^T D_i lam||``. Cone (ReLU): for each pattern the two values
    ``min_{mu >= 0} ||Xa^T (D_i lam -+ (2 D_i - I) mu)||``, bounded from above by the smallest
    of: the plain norm (``mu = 0``); the norm at the given ``multipliers`` ``(mu, nu)``,
    arrays (n, P) clipped at zero here (a solver's estimates are checked, not trusted); and,
    where affordable (``n d`` times the patterns still above ``beta`` at most ``NNLS_LIMIT``),
    the exact nonnegative least-squares value. With ``beta`` given, the least-squares problems
    are skipped for patterns already ``<= beta``. Every returned value is the norm at some
    ``mu >= 0``, so ``t = beta / max`` makes ``t lam`` dual feasible.
    """
    C = pattern_products(Xa, D, lam)  # (P, d)
    plain = np.linalg.norm(C, axis=1)
    if not cone:
        return plain
    out = np.concatenate([plain, plain])
    P = D.shape[1]
    if multipliers is not None:
        mu, nu = (np.maximum(np.asarray(m, dtype=np.float64), 0.0) for m in multipliers)
        # v_i: ||Xa^T (D_i lam - S_i mu_i)||;  w_i: ||Xa^T (D_i lam + S_i nu_i)||
        out[:P] = np.minimum(out[:P], np.linalg.norm(pattern_products(Xa, D, lam, mu), axis=1))
        out[P:] = np.minimum(out[P:], np.linalg.norm(
            pattern_products(Xa, D, lam, nu, sign=-1.0), axis=1))
    bound = -np.inf if beta is None else beta
    todo_v = np.flatnonzero(out[:P] > bound)
    todo_w = np.flatnonzero(out[P:] > bound)
    n, d = Xa.shape
    if n * d * (todo_v.size + todo_w.size) <= NNLS_LIMIT:
        for todo, sgn, off in ((todo_v, 1.0, 0), (todo_w, -1.0, P)):
            for i in todo:
                A = (np.where(D[:, i], 1.0, -1.0)[:, None] * Xa).T  # columns s_k x_k
                out[off + i] = min(out[off + i], nnls(sgn * A, C[i])[1])
    return out


def dual_bound(Xa: np.ndarray, y: np.ndarray, loss: Loss, beta: float, lam: np.ndarray,
               D: np.ndarray, cone: bool,
               multipliers: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    r"""Best lower bound ``max_t -L^*(t lam)`` over dual-feasible scalings of ``lam``.

    Returns ``(bound, t)``; ``t <= beta / max_i norm_i`` makes ``t lam`` feasible (with the
    multipliers scaled by ``t`` too: the norms are homogeneous). ``multipliers`` are candidate
    cone multipliers ``(mu, nu)`` for :func:`constraint_norms`.
    """
    lam = loss.project_dual(lam, y)
    m = float(constraint_norms(Xa, lam, D, cone, beta=beta,
                               multipliers=multipliers).max(initial=0.0))
    tmax = 1.0 if m <= beta else beta / m

    def neg(t: float) -> float:
        return loss.conjugate(t * lam, y)

    best_t, best = 0.0, -neg(0.0)
    if tmax > 0:
        res = minimize_scalar(neg, bounds=(0.0, tmax), method="bounded",
                              options={"xatol": 1e-12 * max(tmax, 1.0)})
        for t in (float(res.x), tmax):
            val = -neg(t)
            if np.isfinite(val) and val > best:
                best_t, best = t, val
    return best, best_t


# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------
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

    def _fingerprint_items(self) -> dict[str, Any]:
        return {"X": self.X, "y": self.y, "beta": self.beta, "loss": self.loss.name,
                "bias": self.bias}

    # --- the non-convex side ------------------------------------------------------------------
    def model(self, size: int, seed: int = 0, dtype: torch.dtype = torch.float64,
              device: Any = None) -> ReLUNet:
        """A width-``size`` ReLU network, weights ~ N(0, 1/(d+1)) and alpha ~ N(0, 1/size)."""
        size = check_int(size, "size", minimum=1)
        gen = torch.Generator().manual_seed(int(seed))
        net = ReLUNet(self.d, size, bias=self.bias, dtype=dtype, device=device)
        fan_in = self.Xa.shape[1]
        with torch.no_grad():
            net.weight.copy_(torch.randn(size, self.d, generator=gen, dtype=dtype) / fan_in**0.5)
            if self.bias:
                net.bias.copy_(torch.randn(size, generator=gen, dtype=dtype) / fan_in**0.5)
            net.alpha.copy_(torch.randn(size, generator=gen, dtype=dtype) / size**0.5)
        return net

    def tensors(self, dtype: torch.dtype = torch.float64,
                device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` as torch tensors."""
        return (torch.as_tensor(self.X, dtype=dtype, device=device),
                torch.as_tensor(self.y, dtype=dtype, device=device))

    def torch_objective(self, model: torch.nn.Module, X: torch.Tensor | None = None,
                        y: torch.Tensor | None = None, data_weight: float = 1.0) -> torch.Tensor:
        """Differentiable objective ``data_weight * L(model(X), y) + beta/2 * model.penalty()``.

        With a mini-batch ``(X, y)``, ``data_weight = n / batch`` makes it unbiased.
        """
        if X is None or y is None:
            p = next(model.parameters())
            X, y = self.tensors(dtype=p.dtype, device=p.device)
        return data_weight * self.loss.torch(model(X), y) + 0.5 * self.beta * model.penalty()

    def objective(self, params: torch.nn.Module) -> float:
        """The objective at a network (any width), evaluated exactly in float64."""
        if not isinstance(params, torch.nn.Module) or not hasattr(params, "penalty"):
            raise TypeError(
                "`params` must be a network from TwoLayerReLU.model() or a Solution's params "
                f"(a ReLUNet), got {type(params).__name__}."
            )
        net = copy.deepcopy(params).to(device="cpu", dtype=torch.float64)
        with torch.no_grad():
            return float(self.torch_objective(net))

    def predict(self, params: torch.nn.Module, X: Any) -> np.ndarray:
        """Network outputs on new inputs ``X``."""
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.d:
            raise ValueError(f"`X` must have {self.d} columns, got {X.shape[1]}.")
        net = copy.deepcopy(params).to(device="cpu", dtype=torch.float64)
        with torch.no_grad():
            return net(torch.from_numpy(X)).numpy()

    # --- the convex side ----------------------------------------------------------------------
    def lift(self, patterns: str | int | np.ndarray = "exact", relaxation: str = "relu",
             seed: int = 0, max_patterns: int = 100_000, verify: bool | None = None) -> ReLULift:
        """The convex group-lasso program over activation patterns.

        Parameters
        ----------
        patterns : "exact", int or array
            ``"exact"`` enumerates every pattern of the (augmented) data (feasible for data
            of rank <= 3, e.g. 1-D and 2-D inputs with bias); an ``int`` samples that many
            Gaussian gates (deduplicated, zero pattern dropped); an array of shape
            (P, d + bias) gives the gates.
        relaxation : {"relu", "gated"}
            ``"relu"``: cone-constrained group lasso (exact); ``"gated"``: unconstrained
            group lasso of the gated ReLU model.
        seed : int
            Seed for sampled gates.
        max_patterns : int
            Largest count ``"exact"`` may enumerate (else :class:`PatternCountError`).
        verify : bool or None
            Check a sampled program's dual point against all patterns to certify a global
            bound. ``None``: when the data's pattern count is at most 20,000.
        """
        relaxation = check_choice(relaxation, "relaxation", RELAXATIONS)
        seed = check_int(seed, "seed")
        Xa = self.Xa
        gates = None
        if isinstance(patterns, str):
            check_choice(patterns, "patterns", ["exact"])
            D = enumerate_patterns(Xa, max_patterns=check_int(max_patterns, "max_patterns",
                                                              minimum=1))
            exact = True
        elif isinstance(patterns, (int, np.integer)) and not isinstance(patterns, bool):
            D, gates = sample_patterns(Xa, check_int(patterns, "patterns", minimum=1), seed)
            exact = False
        else:
            G = check_array(patterns, "patterns", ndim=2)
            if G.shape[1] != Xa.shape[1]:
                raise ValueError(
                    f"`patterns` as gates must have shape (P, {Xa.shape[1]}) (d + bias "
                    f"columns), got {G.shape}."
                )
            D, idx = unique_patterns(patterns_from_gates(Xa, G))
            gates, exact = G[idx], False
        if D.shape[1] == 0:
            raise ValueError("`patterns` produced only the zero pattern; use more gates.")
        return ReLULift(self, D, gates=gates, relaxation=relaxation, exact=exact,
                        verify=verify)

    def with_beta(self, beta: float) -> TwoLayerReLU:
        """The same data and loss with another weight decay ``beta``."""
        return TwoLayerReLU(self.X, self.y, beta, loss=self.loss.name, bias=self.bias)

    def path(self, betas: Any, patterns: str | int | np.ndarray = "exact",
             relaxation: str = "relu", seed: int = 0, solver: str = "auto", tol: float = 1e-6,
             verbose: bool = False, **options: Any) -> list[Solution]:
        r"""Solve the lifted program along a regularization path, warm-starting each solve.

        For each ``beta`` in ``betas`` (solved from the largest to the smallest, where the
        solutions are sparsest and the next one starts close by) the program

        .. math::

            \min_{v_i, w_i} \; L\Big(\sum_i D_i \tilde X (v_i - w_i),\; y\Big)
            + \beta \sum_i (\|v_i\|_2 + \|w_i\|_2)

        (with the cone constraints, or gated) is solved over one fixed set of patterns, lifted
        once. First-order solvers start from the previous solution (and multipliers); conic
        backends solve each program afresh.

        Parameters
        ----------
        betas : sequence of float > 0
        patterns, relaxation, seed
            As for :meth:`lift`.
        solver, tol, verbose, **options
            As for :meth:`lift.Lifted.solve`.

        Returns
        -------
        list of Solution
            One per ``beta``, in the order given.
        """
        values = np.atleast_1d(np.asarray(betas, dtype=np.float64))
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"`betas` must be a non-empty 1-D sequence, got shape {values.shape}.")
        for b in values:
            check_positive(float(b), "betas[i]")
        from lift.solvers import choose_solver

        base = self.lift(patterns=patterns, relaxation=relaxation, seed=seed)
        order = np.argsort(-values, kind="stable")
        out: list[Solution | None] = [None] * values.size
        warm = None
        for k in order:
            lifted = ReLULift(self.with_beta(float(values[k])), base.D, gates=base.gates,
                              relaxation=base.relaxation, exact=base.exact, verify=base.verify)
            name = solver.lower() if isinstance(solver, str) else solver
            if name == "auto":
                name = choose_solver(lifted)
            if name in lifted.first_order_solvers():
                sol = lifted._solve_first_order(name, tol=tol, verbose=verbose,
                                                warm_start=warm, **options)
                warm = sol.info.get("warm_start")
            else:
                sol = lifted.solve(solver=name, tol=tol, verbose=verbose, **options)
            out[k] = sol
        return out


# --------------------------------------------------------------------------------------------
# The lifted program
# --------------------------------------------------------------------------------------------
class ReLULift(Lifted):
    """The (gated or cone-constrained) group-lasso program of a :class:`TwoLayerReLU`.

    Attributes
    ----------
    D : (n, P) boolean array
        The activation patterns.
    gates : (P, d + bias) array or None
        A gate per pattern (None for enumerated patterns until a gated network needs them).
    relaxation : {"relu", "gated"}
    exact : bool
        All patterns are present.
    """

    #: above these size hints, ``solver="auto"`` prefers a specialised solver (BENCHMARKS.md).
    #: Gated: the working-set solver and FISTA (certified 1e-6) beat Clarabel from about a
    #: thousand variables on. ReLU (cone) program, squared loss: the working-set solver beats
    #: Clarabel from about n = 500 at P = 100 (size 1e5) on; the augmented Lagrangian (any
    #: smooth loss) is slower to a 1e-6 certificate than Clarabel wherever Clarabel runs, so
    #: it takes over only where cvxpy cannot build the cone program.
    GATED_THRESHOLD = 1_000
    RELU_THRESHOLD = 100_000
    AL_THRESHOLD = 2_000_000
    #: ``auto`` prefers the cone working-set solver only up to this many weights per neuron
    ACTIVE_SET_MAX_D = 32

    @property
    def first_order_threshold(self) -> dict[str, int]:
        """Size hint above which ``solver="auto"`` prefers each specialised solver."""
        if self.cone:
            out = {"al": self.AL_THRESHOLD}
            if self.problem.Xa.shape[1] <= self.ACTIVE_SET_MAX_D:
                # its restricted programs are dense in (patterns x d): fine for small d
                out["active_set"] = self.RELU_THRESHOLD
            return out
        return {"active_set": self.GATED_THRESHOLD, "fista": self.GATED_THRESHOLD}

    def __init__(self, problem: TwoLayerReLU, D: np.ndarray, gates: np.ndarray | None,
                 relaxation: str, exact: bool, verify: bool | None = None) -> None:
        self.problem = problem
        self.D = D
        self.gates = gates
        self.relaxation = relaxation
        self.exact = exact
        self.verify = verify

    def __repr__(self) -> str:
        kind = "exact" if self.exact else "sampled"
        return f"ReLULift({self.relaxation}, P={self.P} {kind} patterns, {self.problem!r})"

    @property
    def P(self) -> int:
        return self.D.shape[1]

    @property
    def cone(self) -> bool:
        return self.relaxation == "relu"

    def cones(self) -> frozenset[str]:
        cones = {"soc", "zero"}
        if self.cone:
            cones.add("nonneg")
        if self.problem.loss.name == "logistic":
            cones.add("exp")
        if self.problem.loss.name == "hinge":
            cones.add("nonneg")
        return frozenset(cones)

    def size_hint(self) -> int:
        n, d = self.problem.Xa.shape
        blocks = 2 if self.cone else 1
        return blocks * self.P * (d + 1 + (n if self.cone else 0)) + n

    def first_order_solvers(self) -> tuple[str, ...]:
        from lift.solvers import first_order_for

        return first_order_for(self)

    def _solve_first_order(self, name: str, *, tol: float, verbose: bool = False,
                           **options: Any) -> Solution:
        from lift.solvers import run_first_order

        run = run_first_order(name, self, tol=tol, verbose=verbose, **options)
        return self._finish(run["primal"], status=run["status"], solver=name, time=run["time"],
                            iterations=run["iterations"], tol=tol, message=run["message"],
                            info=run.get("info"))

    def to_cvxpy(self):
        """``cvxpy.Problem`` with variables ``V`` (and ``W``) of shape (d + bias, P).

        The predictions ``sum_i D_i Xa v_i`` are ``sum(D * (Xa @ V), axis=1)``; the cone
        constraints ``(2D - 1) * (Xa @ V) >= 0``; no per-pattern Python loop.
        The first constraint is ``z == predictions`` so its dual is the loss' dual point.
        """
        import cvxpy as cp

        prob = self.problem
        Xa, D = prob.Xa, self.D.astype(np.float64)
        n, d = Xa.shape
        V = cp.Variable((d, self.P), name="V")
        z = cp.Variable(n, name="z")
        XV = Xa @ V
        pred = cp.sum(cp.multiply(D, XV), axis=1)
        reg = cp.sum(cp.norm(V, 2, axis=0))
        constraints = []
        if self.cone:
            W = cp.Variable((d, self.P), name="W")
            XW = Xa @ W
            pred = pred - cp.sum(cp.multiply(D, XW), axis=1)
            reg = reg + cp.sum(cp.norm(W, 2, axis=0))
            S = 2.0 * D - 1.0
            constraints += [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
        constraints.insert(0, z == pred)
        objective = prob.loss.cvxpy(z, prob.y) + prob.beta * reg
        return cp.Problem(cp.Minimize(objective), constraints)

    def _primal_from_cvxpy(self, cvx_problem) -> dict[str, np.ndarray]:
        values = {v.name(): v.value for v in cvx_problem.variables()}
        if values.get("V") is None:
            return None
        V = np.asarray(values["V"]).T
        W = np.asarray(values["W"]).T if self.cone else None
        dual = cvx_problem.constraints[0].dual_value
        out = {"V": V, "W": W}
        if dual is not None:
            out["dual"] = np.asarray(dual, dtype=np.float64).ravel()
        return out

    # --- the map back -------------------------------------------------------------------------
    def program_objective(self, V: np.ndarray, W: np.ndarray | None) -> float:
        """Objective of the convex program at ``(V, W)`` (rows per pattern)."""
        prob = self.problem
        z = self.predictions(V, W)
        reg = np.linalg.norm(V, axis=1).sum()
        if W is not None:
            reg += np.linalg.norm(W, axis=1).sum()
        return prob.loss.value(z, prob.y) + prob.beta * reg

    def predictions(self, V: np.ndarray, W: np.ndarray | None) -> np.ndarray:
        """``sum_i D_i Xa (v_i - w_i)`` on the training data."""
        U = V if W is None else V - W
        Xa, D = self.problem.Xa, self.D
        z = np.empty(Xa.shape[0])
        for sl in _row_chunks(*D.shape):  # rowsum((D U) * Xa), O(chunk P) memory
            z[sl] = np.einsum("ij,ij->i", D[sl].astype(np.float64) @ U, Xa[sl])
        return z

    def _gates_for(self, V: np.ndarray, prune: float) -> np.ndarray:
        """Gates for the gated network: sampled ones, or interior points of active cells."""
        if self.gates is not None:
            return self.gates
        norms = np.linalg.norm(V, axis=1)
        gates = np.zeros_like(V)
        active = np.flatnonzero(norms > max(prune * norms.max(initial=0.0), 0.0))
        if active.size:
            gates[active] = interior_gates(self.problem.Xa, self.D[:, active])
        return gates

    def _finish(self, primal, *, status: str, solver: str, time: float,
                iterations: int | None, tol: float, message: str = "",
                info: dict | None = None, prune: float = 1e-7) -> Solution:
        import time as _time

        info = dict(info or {})
        if primal is None:
            return Solution(value=np.nan, params=None, status=status, gap=np.nan,
                            global_bound=None, size=0, solver=solver, time=time,
                            iterations=iterations, exact=self.exact, message=message, info=info)
        t0 = _time.perf_counter()
        prob = self.problem
        V, W = primal["V"], primal.get("W")
        program_value = self.program_objective(V, W)
        net, value = self._recover_pruned(V, W, prune)
        z = prob.predict(net, prob.X)

        # dual candidates: the gradient at the network's predictions, the solver's own
        candidates = [prob.loss.grad(z, prob.y)]
        if primal.get("dual") is not None:
            candidates += [primal["dual"], -primal["dual"]]
        multipliers = primal.get("multipliers") if self.cone else None
        lower, lam_best = -np.inf, candidates[0]
        for lam in candidates:
            b, t = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam, self.D, self.cone,
                              multipliers=multipliers)
            if b > lower:
                lower, lam_best = b, t * prob.loss.project_dual(lam, prob.y)
        global_bound = None
        if self.exact:
            global_bound = lower
        elif self._should_verify():
            D_all = enumerate_patterns(prob.Xa, max_patterns=VERIFY_LIMIT)
            # the program's own constraints over every pattern: the dual of the exact lift
            g, _ = dual_bound(prob.Xa, prob.y, prob.loss, prob.beta, lam_best, D_all,
                              cone=self.cone)
            global_bound = g
            info["verified_patterns"] = D_all.shape[1]
        gap_raw = value - lower
        gap = max(gap_raw, 0.0)
        rel = gap / max(abs(value), 1e-12)
        if rel > max(10 * tol, 1e-6):
            claimed = status
            if status == "optimal":
                status = "optimal_inaccurate"
            message += f"; certified relative gap {rel:.1e} is above the tolerance {tol:.1e}"
            warnings.warn(
                f"{solver} stopped with status {claimed!r} but the certified relative duality "
                f"gap is {rel:.2e} (tolerance {tol:.1e}); status: {status!r}.",
                InaccurateSolutionWarning, stacklevel=4)
        info.update({"gap_raw": gap_raw, "patterns": self.P, "relaxation": self.relaxation,
                     "certificate_time": _time.perf_counter() - t0})
        return Solution(
            value=value, params=net, status=status, gap=gap, global_bound=global_bound,
            size=net.active_units(), solver=solver, time=time + _time.perf_counter() - t0,
            iterations=iterations, lower_bound=lower, program_value=program_value,
            exact=self.exact, message=message, info=info,
        )

    def _recover_pruned(self, V: np.ndarray, W: np.ndarray | None,
                        prune: float) -> tuple[ReLUNet, float]:
        """Recover the network, pruning tiny neurons only where the objective stays put.

        Interior-point solutions spread mass over many patterns with tiny norms whose sum
        matters; a pruning threshold is accepted only if the pruned network's objective is
        within ``1e-9`` (relative) of the unpruned one.
        """
        prob = self.problem
        gates = self._gates_for(V, 0.0) if not self.cone else None
        full = recover_network(V, W, prob.d, prob.bias, gates=gates, prune=0.0)
        full_value = prob.objective(full)
        best, best_value = full, full_value
        for thr in (prune, prune * 1e-2, prune * 1e-4):
            if thr <= 0:
                break
            net = recover_network(V, W, prob.d, prob.bias, gates=gates, prune=thr)
            value = prob.objective(net)
            if value <= full_value + 1e-9 * max(abs(full_value), 1e-12):
                best, best_value = net, value
                break
        reduced = reduce_neurons(prob, best)
        value = prob.objective(reduced)
        if value <= best_value + 1e-9 * max(abs(best_value), 1e-12):
            return reduced, value
        return best, best_value

    def _should_verify(self) -> bool:
        if self.verify is False:
            return False
        Xa = self.problem.Xa
        r, _ = numerical_rank(Xa)
        feasible = estimate_pattern_count(Xa.shape[0], r) <= VERIFY_LIMIT
        if self.verify and not feasible:
            raise PatternCountError(
                "verify=True needs every activation pattern of the data, but there are up to "
                f"{estimate_pattern_count(Xa.shape[0], r):,} (limit {VERIFY_LIMIT:,}). "
                "Use verify=None to skip the global certificate."
            )
        return feasible
