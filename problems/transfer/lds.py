r"""Single-input single-output linear system identification and its Hankel nuclear-norm lift.

The problem
-----------
``N`` input/output sequences ``u^{(i)}, y^{(i)}`` of length ``T`` are explained by a
state-space model started at rest, ``x_0 = 0``,

.. math::

    x_{t+1} = A x_t + B u_t, \qquad \hat y_t = C x_t + D u_t,

whose output is the convolution ``\hat y_t = \sum_{j=0}^{t} h_j u_{t-j}`` with the impulse
response ``h_0 = D``, ``h_j = C A^{j-1} B``. In the controllable canonical form of order ``n``
(Hardt, Ma & Recht) the parameters are the denominator ``a`` and numerator ``c`` of
``G(z) = D + (c_1 z^{n-1} + ... + c_n) / (z^n + a_1 z^{n-1} + ... + a_n)``. The non-convex
objective is

.. math::

    F(a, c, D) = \tfrac12 \sum_{i, t} \big(y^{(i)}_t - \hat y^{(i)}_t\big)^2
    + \lambda \, \| \mathcal H(h) \|_*,

with ``\mathcal H(h)`` the ``r x c`` Hankel matrix of ``h_1, ..., h_{T-1}`` (``r + c = T``) and
``\lambda = reg >= 0`` (``0``: the plain prediction error).

The lift
--------
Every model of every order gives an impulse response, so the convex program over all ``h``,

.. math::

    \min_{h \in \mathbb R^T} \tfrac12 \|y - M h\|^2 + \lambda \|\mathcal H(h)\|_*

(``M`` the convolution with the inputs), bounds ``F`` from below at every order (an SDP through
cvxpy; ``reg = 0`` is a least-squares problem). Its dual gives the certified bound: for every
``Z`` with ``\|Z\|_2 \le \lambda``, with ``w = \mathcal H^*(Z)``, ``b = M^\top y``,
``G = M^\top M``,

.. math::

    \min_h \ldots \;\ge\; \tfrac12 \|y\|^2 - \tfrac12 (b - w)^\top G^{-1} (b - w),

evaluated by the library for ``Z`` built from the primal point (the minimum-norm preimage of the
optimality residual, scaled into the spectral-norm ball, and ``\lambda U_k V_k^T`` from the SVD
of ``\mathcal H(h)``), whichever is larger. Recovery is the Ho–Kalman realization of ``h`` at
the order read off the Hankel singular values (at most the problem's ``order``): the lift is
exact when the program's optimum has Hankel rank at most ``order``.

References
----------
M. Hardt, T. Ma and B. Recht. Gradient descent learns linear dynamical systems. JMLR 19, 2018.
M. Fazel, T. K. Pong, D. Sun and P. Tseng. Hankel matrix rank minimization with applications
to system identification and realization. SIAM J. Matrix Anal. Appl. 34, 2013.
B. L. Ho and R. E. Kalman. Effective construction of linear state-variable models from
input/output functions. Regelungstechnik 14, 1966.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

from lift.base import Certificate, Lifted, Problem
from lift.errors import check_int, check_positive, check_real_dtype
from lift.problems.transfer.bases import sector_rows

__all__ = ["LinearSystemID", "LDSLift", "LDSModel", "random_stable_system", "simulate",
           "lds_data", "ho_kalman", "hankel", "project_acquiescent", "ACQUIESCENT_GRID"]


# --------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------
def random_stable_system(order: int, seed: int = 0, *, radius: float = 0.95
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """A random stable system ``(a, c, d)`` in controllable canonical form: poles drawn
    uniformly in the disc of ``radius`` (complex ones in conjugate pairs), numerator and ``d``
    standard normal."""
    n = check_int(order, "order", minimum=1)
    radius = check_positive(radius, "radius")
    if radius >= 1:
        raise ValueError(f"`radius` must be < 1 for a stable system, got {radius}.")
    rng = np.random.default_rng(seed)
    poles: list[complex] = []
    while len(poles) < n:
        r = radius * math.sqrt(rng.uniform())
        if n - len(poles) >= 2 and rng.uniform() < 0.5:
            z = r * np.exp(1j * rng.uniform(0, np.pi))
            poles += [z, np.conj(z)]
        else:
            poles.append(r * rng.choice([-1.0, 1.0]))
    a = np.real(np.poly(poles))[1:]
    return a, rng.standard_normal(n), float(rng.standard_normal())


def impulse_response(a: np.ndarray, c: np.ndarray, d: float, length: int) -> np.ndarray:
    """``h_0 = d``, ``h_k = c_k - sum_i a_i h_{k-i}`` (``c_k = 0`` beyond ``n``)."""
    n = len(a)
    h = np.zeros(length)
    h[0] = d
    g = np.zeros(length)  # strictly proper part
    for k in range(1, length):
        acc = c[k - 1] if k <= n else 0.0
        for i in range(1, min(k - 1, n) + 1):
            acc -= a[i - 1] * g[k - i]
        g[k] = acc
    h[1:] = g[1:]
    return h


def simulate(system: tuple[np.ndarray, np.ndarray, float], u: np.ndarray) -> np.ndarray:
    """Outputs of ``system = (a, c, d)`` started at rest for inputs ``u`` (``(T,)`` or
    ``(N, T)``)."""
    a, c, d = system
    u = np.atleast_2d(np.asarray(u, dtype=np.float64))
    h = impulse_response(np.asarray(a, float), np.asarray(c, float), float(d), u.shape[1])
    y = np.stack([np.convolve(ui, h)[: u.shape[1]] for ui in u])
    return y


def lds_data(order: int, length: int, sequences: int, *, noise: float = 0.0, seed: int = 0,
             radius: float = 0.95):
    """Hardt–Ma–Recht data: a random stable system of ``order`` (poles inside ``radius``),
    N(0, 1) inputs of ``length``, outputs with N(0, noise^2) noise. Returns
    ``(u, y, system)``."""
    system = random_stable_system(order, seed, radius=radius)
    rng = np.random.default_rng(seed + 1)
    u = rng.standard_normal((check_int(sequences, "sequences", minimum=1),
                             check_int(length, "length", minimum=2)))
    y = simulate(system, u) + check_positive(noise, "noise", strict=False) * \
        rng.standard_normal(u.shape)
    return u, y, system


def hankel(h: np.ndarray, rows: int) -> np.ndarray:
    """``H[i, j] = h[1 + i + j]`` for ``i < rows``, ``j < len(h) - rows``."""
    cols = len(h) - rows
    idx = 1 + np.arange(rows)[:, None] + np.arange(cols)[None, :]
    return h[idx]


def ho_kalman(h: np.ndarray, order: int, rows: int):
    """Ho–Kalman realization ``(A, B, C, D)`` of order ``order`` from the Hankel matrix of
    ``h``: ``H = U S V^T``, ``O = U_n S_n^{1/2}``, ``R = S_n^{1/2} V_n^T``, ``C = O_0``,
    ``B = R_{:,0}``, ``A = O_{:-1}^+ O_{1:}``, ``D = h_0``."""
    H = hankel(h, rows)
    U, s, Vt = np.linalg.svd(H)
    n = order
    root = np.sqrt(s[:n])
    O = U[:, :n] * root
    R = root[:, None] * Vt[:n]
    A = np.linalg.lstsq(O[:-1], O[1:], rcond=None)[0]
    return A, R[:, :1], O[:1], np.array([[h[0]]])


def canonical(A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray):
    """``(a, c, d)`` of the controllable canonical form of ``(A, B, C, D)``."""
    import scipy.signal

    num, den = scipy.signal.ss2tf(A, B, C, D)
    num, den = np.asarray(num, float).ravel(), np.asarray(den, float).ravel()
    d = num[0] / den[0]
    rest = (num - d * den) / den[0]
    return den[1:] / den[0], rest[1:], float(d)


# --------------------------------------------------------------------------------------------
# The torch model
# --------------------------------------------------------------------------------------------
class LDSModel(torch.nn.Module):
    r"""A SISO system of order ``n`` in controllable canonical form: parameters ``a`` (n),
    ``c`` (n), ``d`` (1). ``impulse(T)`` is its impulse response; ``forward(u)`` its output
    (zero initial state) for inputs ``u`` of shape ``(N, T)``."""

    def __init__(self, a: Any, c: Any, d: float, *, dtype: Any = None,
                 device: Any = None) -> None:
        super().__init__()
        kw = {"dtype": dtype or torch.float64, "device": device}
        self.a = torch.nn.Parameter(torch.as_tensor(np.asarray(a, float), **kw).clone())
        self.c = torch.nn.Parameter(torch.as_tensor(np.asarray(c, float), **kw).clone())
        self.d = torch.nn.Parameter(torch.as_tensor(np.asarray([d], float), **kw).clone())

    @property
    def order(self) -> int:
        return int(self.a.shape[-1])

    def impulse(self, length: int) -> torch.Tensor:
        r"""``h_0 = d`` and ``h_{1..T-1}`` solving ``a(z) g = c(z)``: the banded lower-triangular
        system ``g_k + sum_i a_i g_{k-i} = c_k`` (one triangular solve, differentiable)."""
        n, m = self.order, length - 1
        kw = {"dtype": self.a.dtype, "device": self.a.device}
        eye = torch.eye(m, **kw)
        L = eye
        for i in range(1, min(n, m - 1) + 1):
            L = L + self.a[i - 1] * torch.roll(eye, i, 0).tril(-i)
        rhs = torch.zeros(m, **kw)
        k = min(n, m)
        rhs = torch.cat([self.c[:k], rhs[k:]])
        g = torch.linalg.solve_triangular(L, rhs[:, None], upper=False)[:, 0]
        return torch.cat([self.d, g])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        T = u.shape[-1]
        h = self.impulse(T)
        # y_t = sum_j h_j u_{t-j}: a causal convolution
        x = torch.nn.functional.pad(u[:, None, :], (T - 1, 0))
        return torch.nn.functional.conv1d(x, h.flip(0)[None, None, :])[:, 0, :]

    def system(self) -> tuple[np.ndarray, np.ndarray, float]:
        return (self.a.detach().cpu().double().numpy().copy(),
                self.c.detach().cpu().double().numpy().copy(), float(self.d.detach()[0]))


# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------
class LinearSystemID(Problem):
    r"""Identify a SISO linear system of order ``order`` from input/output sequences.

    Parameters
    ----------
    u, y : array of shape (T,) or (N, T)
        Input and output sequences (one per row), the system started at rest.
    order : int >= 1
        The model order ``n``: the largest order the lift realizes, and what the data must be
        able to identify (``n <= (T - 1) // 2``: a Hankel matrix of ``T - 1`` Markov
        parameters has rank at most that).
    reg : float >= 0
        ``lambda``, the Hankel nuclear-norm weight (see the module docstring).
    project : bool or {"radius", "acquiescent"}
        Keep SGD's iterates stable (:meth:`project_`): ``True`` or ``"radius"`` scales the
        poles into radius ``0.99``; ``"acquiescent"`` is the Euclidean projection of ``a``
        onto Hardt–Ma–Recht's acquiescent region ``Re q >= |Im q|`` on the unit circle
        (``q(z) = 1 + sum_i a_i z^{-i}``, sampled on :data:`ACQUIESCENT_GRID` frequencies), a
        convex set of stable denominators.
    system : (a, c, d), optional
        The stable system that generated the data, when known (e.g. from :func:`lds_data`):
        :meth:`evaluate` then reports the impulse-response error against it, and
        ``fresh=True`` can draw new data from it.
    noise : float >= 0
        Standard deviation of the output noise of the fresh sequences.
    fresh : bool
        Hardt–Ma–Recht's SGD: every training step draws ``N`` new N(0, 1) input sequences of
        length ``T`` and their (noisy) outputs from ``system`` (:meth:`stream`); the
        objective, the lift and its bound stay those of the data ``(u, y)``.
    """

    name = "lds"
    size_name = "order"

    def __init__(self, u: Any, y: Any, order: int, *, reg: float = 0.0,
                 project: bool | str = False, system: Any = None, noise: float = 0.0,
                 fresh: bool = False) -> None:
        U = _sequences(u, "u")
        Y = _sequences(y, "y")
        if U.shape != Y.shape:
            raise ValueError(f"`u` and `y` must have the same shape, got {U.shape} and "
                             f"{Y.shape}.")
        T = U.shape[1]
        if T < 3:
            raise ValueError(f"sequences must have at least 3 samples, got {T}.")
        if not np.any(U[:, 0] != 0) and not np.any(U != 0):
            raise ValueError("`u` is identically zero: no input excites the system, nothing "
                             "can be identified.")
        n = check_int(order, "order", minimum=1)
        if n > (T - 1) // 2:
            raise ValueError(f"`order` {n} is above what sequences of length {T} can identify: "
                             f"the Hankel matrix of T - 1 = {T - 1} Markov parameters has rank "
                             f"at most {(T - 1) // 2}. Use longer sequences or a lower order.")
        self.u, self.y, self.order = U, Y, n
        self.reg = check_positive(reg, "reg", strict=False)
        if project not in (False, True, "radius", "acquiescent"):
            raise ValueError(f"`project` must be False, True, 'radius' or 'acquiescent', got "
                             f"{project!r}.")
        self.project = "radius" if project is True else project
        self.system = None if system is None else _check_system(system)
        self.noise = check_positive(noise, "noise", strict=False)
        if not isinstance(fresh, bool):
            raise TypeError(f"`fresh` must be a bool, got {type(fresh).__name__}.")
        if fresh and self.system is None:
            raise ValueError("`fresh=True` draws new sequences from the true system: pass it "
                             "as `system=(a, c, d)` (lds_data returns it).")
        self.fresh = fresh
        self.rows = T // 2
        M = self.conv_matrix()
        G = M.T @ M
        if np.linalg.cond(G) > 1e12:
            raise ValueError("the inputs do not determine the impulse response (the "
                             "convolution matrix is singular): u_0 = 0 in every sequence? "
                             "Use inputs with a nonzero first sample, e.g. N(0, 1).")

    # --- data ---------------------------------------------------------------------------------
    @property
    def length(self) -> int:
        return int(self.u.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.u.shape[0])

    def conv_matrix(self) -> np.ndarray:
        """``M`` (N T x T): ``(M h)_{i,t} = sum_j h_j u^{(i)}_{t-j}``."""
        T = self.length
        idx = np.arange(T)[:, None] - np.arange(T)[None, :]
        rows = []
        for ui in self.u:
            Ti = np.where(idx >= 0, ui[np.clip(idx, 0, None)], 0.0)
            rows.append(Ti)
        return np.concatenate(rows)

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple:
        """``(u, y)`` as ``(N, T)`` tensors."""
        kw = {"dtype": dtype or torch.float64, "device": device}
        return torch.as_tensor(self.u, **kw), torch.as_tensor(self.y, **kw)

    def stream(self, seed: int = 0, *, dtype: Any = None, device: Any = None):
        """With ``fresh=True``: endless draws ``(u, y)`` of ``N`` new N(0, 1) input sequences
        of length ``T`` and the outputs of ``system`` with N(0, noise^2) noise, seeded by
        ``seed`` (``None`` otherwise: train on the data)."""
        if not self.fresh:
            return None
        return _draws(impulse_response(*self.system, self.length), self.u.shape, self.noise,
                      check_int(seed, "seed"), dtype or torch.float64, device)

    # --- non-convex side ----------------------------------------------------------------------
    def model(self, size: int, seed: int = 0, *, dtype: Any = None,
              device: Any = None) -> LDSModel:
        """Order ``size``: ``a = 0`` (all poles at the origin, acquiescent), ``c`` and ``d``
        small N(0, 0.1^2) draws."""
        n = check_int(size, "size", minimum=1)
        if n > (self.length - 1) // 2:
            raise ValueError(f"`size` (order) {n} is above what sequences of length "
                             f"{self.length} identify ({(self.length - 1) // 2}).")
        rng = np.random.default_rng(check_int(seed, "seed"))
        return LDSModel(np.zeros(n), 0.1 * rng.standard_normal(n),
                        0.1 * float(rng.standard_normal()), dtype=dtype, device=device)

    def torch_objective(self, model: LDSModel, data: tuple | None = None, *,
                        weight: float = 1.0):
        r"""``weight * 1/2 sum (y - y_hat)^2 + reg * ||H(h)||_*`` on ``data``."""
        if data is None:
            p0 = next(model.parameters())
            data = self.data(dtype=p0.dtype, device=p0.device)
        u, y = data
        fit = 0.5 * (y - model(u)).square().sum()
        out = weight * fit
        if self.reg > 0:
            h = model.impulse(self.length)
            H = h[1:].unfold(0, self.length - self.rows, 1)
            out = out + self.reg * torch.linalg.svdvals(H).sum()
        return out

    def objective(self, params: Any) -> float:
        """``F`` in float64 for an :class:`LDSModel`, ``(a, c, d)`` or an impulse response
        array of length ``T``."""
        h = self.impulse(params)
        resid = self.y - np.stack([np.convolve(ui, h)[: self.length] for ui in self.u])
        val = 0.5 * float(np.sum(resid ** 2))
        if self.reg > 0:
            val += self.reg * float(np.linalg.svd(hankel(h, self.rows), compute_uv=False).sum())
        return val

    def impulse(self, params: Any) -> np.ndarray:
        """Impulse response of ``params`` over the sequences' length."""
        if isinstance(params, LDSModel):
            params = params.system()
        if isinstance(params, tuple) and len(params) == 3:
            a, c, d = params
            return impulse_response(np.asarray(a, float), np.asarray(c, float), float(d),
                                    self.length)
        try:
            h = np.asarray(params, dtype=np.float64)
        except (TypeError, ValueError):
            h = None
        if h is None or h.shape != (self.length,):
            raise TypeError("`params` must be an LDSModel, (a, c, d) or an impulse response "
                            f"of length {self.length}; got {type(params).__name__}.")
        return h

    def project_(self, model: LDSModel) -> None:
        """``project="radius"`` (or ``True``): when a pole leaves radius 0.99, scale all poles
        by ``0.99 / max |pole|`` (``a_i <- a_i s^i``), a stabilizing map;
        ``"acquiescent"``: the Euclidean projection of ``a`` onto the acquiescent region
        (a small QP, solved only when ``a`` is outside)."""
        if not self.project:
            return None
        with torch.no_grad():
            a = model.a.detach().cpu().double().numpy()
            if self.project == "acquiescent":
                if a.size:
                    out = project_acquiescent(a)
                    if out is not a:
                        model.a.copy_(torch.as_tensor(out, dtype=model.a.dtype,
                                                      device=model.a.device))
                return None
            radius = float(np.max(np.abs(np.roots(np.concatenate([[1.0], a]))))) if a.size \
                else 0.0
            if radius > 0.99:
                s = 0.99 / radius
                model.a.mul_(torch.as_tensor(s ** np.arange(1, a.size + 1), dtype=model.a.dtype,
                                             device=model.a.device))
        return None

    def effective_size(self, params: Any) -> int:
        """Numerical rank of the Hankel matrix of the impulse response (relative ``1e-8``)."""
        s = np.linalg.svd(hankel(self.impulse(params), self.rows), compute_uv=False)
        return int(np.sum(s > 1e-8 * max(s[0], 1e-300)))

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """``rms_error`` of the outputs on the data; ``impulse_error``, the max error of the
        impulse response against ``test`` (a true impulse response) or, without one, against
        ``system`` when known."""
        h = self.impulse(params)
        resid = self.y - np.stack([np.convolve(ui, h)[: self.length] for ui in self.u])
        out = {"rms_error": float(np.sqrt(np.mean(resid ** 2)))}
        if test is None and self.system is not None:
            test = impulse_response(*self.system, self.length)
        if test is not None:
            out["impulse_error"] = float(np.max(np.abs(h - test)))
        return out

    def check_test(self, test: Any) -> Any:
        """``None`` or the true impulse response (length ``T``)."""
        if test is None:
            return None
        h = np.asarray(test, dtype=np.float64)
        if h.shape != (self.length,):
            raise ValueError(f"`test` must be an impulse response of length {self.length}.")
        return h

    def describe(self) -> dict[str, Any]:
        return {"sequences": self.n_samples, "length": self.length, "order": self.order,
                "reg": self.reg}

    def _fingerprint_items(self) -> dict[str, Any]:
        out = {"u": self.u, "y": self.y, "order": self.order, "reg": self.reg,
               "project": {"radius": True}.get(self.project, self.project)}
        if self.system is not None:  # (kept out otherwise: earlier stores keep their keys)
            out.update(system=np.concatenate([self.system[0], self.system[1],
                                              [self.system[2]]]),
                       noise=self.noise, fresh=self.fresh)
        return out

    # --- conversions --------------------------------------------------------------------------
    def to_scipy(self, params: Any):
        """A discrete-time ``scipy.signal.StateSpace`` (controllable canonical form)."""
        import scipy.signal

        A, B, C, D = state_space(params.system() if isinstance(params, LDSModel) else params)
        return scipy.signal.StateSpace(A, B, C, D, dt=True)

    def to_control(self, params: Any):
        """A ``control.ss`` object (needs python-control: ``pip install control``)."""
        try:
            import control
        except ImportError:
            raise ImportError("to_control needs python-control: pip install control") from None
        A, B, C, D = state_space(params.system() if isinstance(params, LDSModel) else params)
        return control.ss(A, B, C, D, True)

    def lift(self, **options: Any) -> Lifted:
        return LDSLift(self, **options)


def state_space(system: tuple[np.ndarray, np.ndarray, float]):
    """``(A, B, C, D)`` of the controllable canonical form ``(a, c, d)``."""
    a, c, d = system
    n = len(a)
    A = np.zeros((n, n))
    A[0] = -np.asarray(a, float)
    A[1:, :-1] = np.eye(n - 1)
    B = np.zeros((n, 1))
    B[0, 0] = 1.0
    return A, B, np.asarray(c, float)[None, :], np.array([[float(d)]])


#: frequencies in [0, pi] on which :func:`project_acquiescent` imposes the sector
ACQUIESCENT_GRID = 128


@functools.cache
def _sector(n: int) -> np.ndarray:
    """The acquiescence rows of order ``n`` on :data:`ACQUIESCENT_GRID` frequencies."""
    return sector_rows(n, np.linspace(0.0, np.pi, ACQUIESCENT_GRID))


def project_acquiescent(a: np.ndarray) -> np.ndarray:
    r"""The Euclidean projection of the denominator ``a`` onto the acquiescent region

    .. math::

        \min_x \|x - a\|^2 \quad\text{s.t.}\quad
        \operatorname{Re} q_x(e^{i w}) \ge |\operatorname{Im} q_x(e^{i w})|,
        \qquad q_x(z) = 1 + \textstyle\sum_i x_i z^{-i},

    for ``w`` on :data:`ACQUIESCENT_GRID` frequencies of ``[0, pi]`` (Hardt, Ma & Recht's
    sector with ``tau = 0``; its members are stable), a QP solved by Clarabel. Returns ``a``
    itself when it is already inside."""
    import clarabel
    import scipy.sparse

    a = np.asarray(a, dtype=np.float64)
    S = _sector(int(a.size))
    if np.all(S[:, 0] + S[:, 1:] @ a >= 0):
        return a
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solver = clarabel.DefaultSolver(scipy.sparse.identity(a.size, format="csc"), -a,
                                    scipy.sparse.csc_matrix(-S[:, 1:]), S[:, 0].copy(),
                                    [clarabel.NonnegativeConeT(S.shape[0])], settings)
    sol = solver.solve()
    x = np.asarray(sol.x, dtype=np.float64)
    if str(sol.status) not in ("Solved", "AlmostSolved") or not np.all(np.isfinite(x)):
        raise RuntimeError(f"the acquiescent projection failed: Clarabel {sol.status}")
    return x


def _draws(h: np.ndarray, shape: tuple[int, int], noise: float, seed: int, dtype: Any,
           device: Any):
    """Endless ``(u, y)``: N(0, 1) inputs of ``shape`` and ``y = h * u + noise``."""
    gen = torch.Generator().manual_seed(int(seed))
    kernel = torch.as_tensor(h[::-1].copy(), dtype=dtype)[None, None, :]
    T = shape[1]
    while True:
        u = torch.randn(shape, generator=gen, dtype=dtype)
        y = torch.nn.functional.conv1d(torch.nn.functional.pad(u[:, None, :], (T - 1, 0)),
                                       kernel)[:, 0, :]
        if noise > 0:
            y = y + noise * torch.randn(shape, generator=gen, dtype=dtype)
        yield u.to(device), y.to(device)


def _check_system(system: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """``(a, c, d)`` of a stable system in controllable canonical form."""
    if not isinstance(system, tuple | list) or len(system) != 3:
        raise TypeError("`system` must be a tuple (a, c, d) (denominator, numerator, "
                        "feedthrough), e.g. the third output of lds_data.")
    a = np.atleast_1d(np.asarray(system[0], dtype=np.float64))
    c = np.atleast_1d(np.asarray(system[1], dtype=np.float64))
    d = float(np.asarray(system[2], dtype=np.float64))
    if a.ndim != 1 or a.shape != c.shape:
        raise ValueError(f"`system`: a and c must be 1-D of the same length, got shapes "
                         f"{a.shape} and {c.shape}.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(c)) and math.isfinite(d)):
        raise ValueError("`system` contains NaN or infinite values.")
    radius = float(np.max(np.abs(np.roots(np.r_[1.0, a])))) if a.size else 0.0
    if radius >= 1:
        raise ValueError(f"`system` is unstable (a pole of radius {radius:.4g} >= 1): its "
                         "outputs grow without bound. Pass a stable system.")
    return a, c, d


def _sequences(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"`{name}` must be an array, got None.")
    check_real_dtype(value, name)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array.") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be (T,) or (N, T), got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty: pass non-empty sequences.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values (an unstable simulation?)."
                         " Remove them first.")
    return arr


# --------------------------------------------------------------------------------------------
# The lift
# --------------------------------------------------------------------------------------------
class LDSLift(Lifted):
    r"""Hankel nuclear-norm regularized least squares over impulse responses (module
    docstring): ``to_cvxpy()`` is the program itself (an SDP for ``reg > 0``).

    Parameters
    ----------
    problem : LinearSystemID
    order : int or "auto"
        Realization order: ``"auto"`` reads it off the Hankel singular values (the number above
        ``rank_tol`` times the largest), capped at the problem's order.
    rank_tol : float
        Relative threshold for ``order="auto"``.
    dual_solve : bool
        For ``reg > 0``, also solve the dual SDP with Clarabel for a better dual point (checked
        like the others; sequences up to length 100); ``False`` keeps only the dual points
        built from the primal.
    polish_iters : int
        Alternating projections that improve the best dual point (each one SVD of the Hankel
        matrix's size).
    """

    #: unconstrained: every impulse response is feasible (a solver calling it infeasible
    #: or unbounded has failed)
    feasible_by_construction = True

    def __init__(self, problem: LinearSystemID, *, order: int | str = "auto",
                 rank_tol: float = 1e-6, dual_solve: bool = True,
                 polish_iters: int = 100) -> None:
        if not isinstance(problem, LinearSystemID):
            raise TypeError("`problem` must be a LinearSystemID.")
        self.problem = problem
        if order != "auto":
            order = check_int(order, "order", minimum=1)
            if order > problem.order:
                raise ValueError(f"`order` {order} is above the problem's order "
                                 f"{problem.order}.")
        self.order = order
        self.rank_tol = check_positive(rank_tol, "rank_tol")
        self.dual_solve = bool(dual_solve)
        self.polish_iters = check_int(polish_iters, "polish_iters", minimum=0)
        M = problem.conv_matrix()
        self._M, self._y = M, problem.y.ravel()
        self._G, self._b = M.T @ M, M.T @ self._y
        # exact only when the optimum's Hankel rank is <= order (reported by certify)
        self.exact = False

    def cones(self) -> frozenset[str]:
        return frozenset({"zero", "soc", "psd"} if self.problem.reg > 0 else {"zero", "soc"})

    def size_hint(self) -> int:
        T = self.problem.length
        return T + (T * T if self.problem.reg > 0 else 0)

    def describe(self) -> dict[str, Any]:
        return {"exact": bool(self.exact), "program": "Hankel nuclear-norm least squares",
                "length": self.problem.length, "reg": self.problem.reg}

    def auto_thresholds(self) -> dict[str, float]:
        """Least squares when ``reg = 0``; ADMM beyond ``size_hint`` 2e3 (responses longer
        than about 45). Measured (order-8 fit of 4 sequences, reg 0.5, same answer from every
        solver): T = 30, SCS 0.16 s, Clarabel 0.19 s, ADMM 0.76 s; T = 60, ADMM 7.1 s,
        Clarabel 15.6 s, SCS 22.1 s; T = 120, ADMM 58 s, Clarabel 122 s."""
        return {"lstsq": 0.0} if self.problem.reg == 0 else {"admm": 2e3}

    def to_cvxpy(self):
        import cvxpy as cp

        P = self.problem
        T = P.length
        h = cp.Variable(T, name="h")
        # the least-squares term through G and b (N T rows would make the program N times larger)
        L = np.linalg.cholesky(self._G + 1e-14 * np.eye(T) * np.trace(self._G) / T).T
        rhs = np.linalg.solve(L.T, self._b)
        const = 0.5 * float(self._y @ self._y - rhs @ rhs)
        obj = 0.5 * cp.sum_squares(L @ h - rhs) + const
        if P.reg > 0:
            idx = 1 + np.arange(P.rows)[:, None] + np.arange(T - P.rows)[None, :]
            H = cp.reshape(h[idx.ravel(order="F")], (P.rows, T - P.rows), order="F")
            obj = obj + P.reg * cp.normNuc(H)
        return cp.Problem(cp.Minimize(obj))

    def primal_from_cvxpy(self, cvx_problem) -> Any:
        h = cvx_problem.variables()[0].value
        return None if h is None else np.asarray(h, float)

    def program_value(self, primal: Any) -> float:
        return self.problem.objective(_impulse(primal))

    def hankel_singular_values(self, h: np.ndarray) -> np.ndarray:
        """Singular values of ``H(h)`` (they reveal the order)."""
        return np.linalg.svd(hankel(np.asarray(h, float), self.problem.rows), compute_uv=False)

    def realization_order(self, h: np.ndarray) -> int:
        if self.order != "auto":
            return int(self.order)
        s = self.hankel_singular_values(h)
        k = int(np.sum(s > self.rank_tol * max(s[0], 1e-300)))
        return max(1, min(k, self.problem.order))

    def recover(self, primal: Any) -> LDSModel:
        h = _impulse(primal)
        n = self.realization_order(h)
        A, B, C, D = ho_kalman(h, n, self.problem.rows)
        a, c, d = canonical(A, B, C, D)
        return LDSModel(a, c, d)

    def _dual_point(self, idx: np.ndarray, Ginv: np.ndarray) -> np.ndarray | None:
        r"""``argmax_{||Z||_2 <= reg} -1/2 (b - H^*Z)^T G^{-1} (b - H^*Z)`` by Clarabel."""
        import cvxpy as cp

        P = self.problem
        T = P.length
        Z = cp.Variable(idx.shape)
        E = np.zeros((T, idx.size))
        E[idx.ravel(), np.arange(idx.size)] = 1.0
        w = E @ cp.vec(Z, order="C")
        R = np.linalg.cholesky(Ginv).T  # Ginv = R^T R
        prob = cp.Problem(cp.Minimize(cp.sum_squares(R @ (self._b - w))),
                          [cp.sigma_max(Z) <= P.reg])
        try:
            prob.solve(solver="CLARABEL")
        except Exception:  # a failed candidate is no bound: the others remain
            return None
        return None if Z.value is None else np.asarray(Z.value, float)

    def certify(self, params: Any, primal: Any) -> Certificate:
        """Dual bound of the program (a valid bound for every order): see the module
        docstring."""
        P = self.problem
        h = _impulse(primal)
        yy = float(self._y @ self._y)
        Ginv = np.linalg.inv(self._G)

        def bound(w: np.ndarray) -> float:
            r = self._b - w
            return 0.5 * yy - 0.5 * float(r @ Ginv @ r)

        if P.reg == 0:
            lb = bound(np.zeros_like(h))
            info: dict[str, Any] = {"dual": "least squares"}
        else:
            T, rows = P.length, P.rows
            resid = self._b - self._G @ h  # = H^*(Z) at the optimum
            idx = 1 + np.arange(rows)[:, None] + np.arange(T - rows)[None, :]
            counts = np.bincount(idx.ravel(), minlength=T).astype(float)
            cands = []
            if isinstance(primal, dict) and primal.get("Z") is not None:
                cands.append(np.asarray(primal["Z"], float))  # the solver's multiplier
            x = np.where(counts > 0, resid / np.maximum(counts, 1), 0.0)
            Z1 = x[idx]
            cands.append(Z1)
            U, s, Vt = np.linalg.svd(hankel(h, rows), full_matrices=False)
            rank = int(np.sum(s > 1e-6 * max(s[0], 1e-300)))
            ranks = sorted({k for k in (rank - 1, rank, rank + 1) if 1 <= k <= s.size})
            S = None
            # the subgradient form Z = reg (U_k V_k^T + W), W on the complements with
            # H^*(Z) = resid (minimum-norm W), for the ranks near the numerical rank; the
            # dense map behind W grows like T^3, so only for short responses
            for k in ranks:
                UV = U[:, :k] @ Vt[:k]
                cands.append(P.reg * UV)
                Uc, Vc = U[:, k:], Vt[k:].T
                if T > 80 or not (Uc.shape[1] and Vc.shape[1]):
                    continue
                if S is None:
                    S = np.zeros((T, rows, T - rows))
                    S[idx, np.arange(rows)[:, None], np.arange(T - rows)[None, :]] = 1.0
                K = np.einsum("tpq,pi,qj->tij", S, Uc, Vc, optimize=True).reshape(T, -1)
                base = np.bincount(idx.ravel(), weights=UV.ravel(), minlength=T)
                X = np.linalg.lstsq(K, resid / P.reg - base, rcond=None)[0]
                cands.append(P.reg * (UV + Uc @ X.reshape(Uc.shape[1], Vc.shape[1]) @ Vc.T))
            best, best_Z = -math.inf, None
            for Z in cands:
                Z = _into_ball(Z, P.reg)
                val = bound(np.bincount(idx.ravel(), weights=Z.ravel(), minlength=T))
                if val > best:
                    best, best_Z = val, Z
            # the dual program itself (an SDP of the primal's size), solved by cvxpy; its
            # point is only a candidate: projected into the ball and evaluated here
            if self.dual_solve and T <= 100:
                Zd = self._dual_point(idx, Ginv)
                if Zd is not None:
                    Zd = _into_ball(Zd, P.reg)
                    val = bound(np.bincount(idx.ravel(), weights=Zd.ravel(), minlength=T))
                    if val > best:
                        best, best_Z = val, Zd
            # alternating projections between {H^*(Z) = resid} and the ball ||Z||_2 <= reg
            # from the best point; every iterate after the ball step is a valid dual point
            Z = best_Z
            for _ in range(self.polish_iters):
                delta = resid - np.bincount(idx.ravel(), weights=Z.ravel(), minlength=T)
                Z = _into_ball(Z + (delta / np.maximum(counts, 1))[idx], P.reg)
                best = max(best, bound(np.bincount(idx.ravel(), weights=Z.ravel(),
                                                   minlength=T)))
            lb = best
            info = {"dual": "Hankel spectral-norm ball"}
        s = self.hankel_singular_values(h)
        info["hankel_singular_values"] = s
        info["realization_order"] = self.realization_order(h)
        return Certificate(lower_bound=lb, global_bound=lb, info=info)


def _impulse(primal: Any) -> np.ndarray:
    """The impulse response of a primal point: an array, or ``{"h": ..., "Z": ...}`` (ADMM's,
    with its multiplier)."""
    if isinstance(primal, dict):
        return np.asarray(primal["h"], float)
    return np.asarray(primal, float)


def _into_ball(Z: np.ndarray, radius: float) -> np.ndarray:
    """The projection of ``Z`` onto ``{||Z||_2 <= radius}`` (singular values clipped), shrunk
    by a rounding margin."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    return (U * np.minimum(s, radius * (1 - 1e-12))) @ Vt


def _admm_accepts(lifted: Any) -> bool:
    return isinstance(lifted, LDSLift) and lifted.problem.reg > 0


def _admm_run(lifted: LDSLift, tol: float = 1e-6, verbose: bool = False,
              warm_start: Any = None, *, rho: float | None = None, max_iters: int = 5000):
    r"""ADMM for ``min_h 1/2 ||y - M h||^2 + reg ||X||_*`` s.t. ``X = H(h)`` (Fazel, Pong, Sun
    & Tseng's splitting): the ``h``-step is one solve with the fixed matrix
    ``G + rho H^* H`` (``H^* H`` is diagonal: the anti-diagonal lengths), the ``X``-step a
    singular-value soft threshold (the nuclear norm's prox), then the scaled dual step. Stops
    when the primal and dual residuals are below ``tol`` relative to the iterates; the
    certificate is the library's dual bound (:meth:`LDSLift.certify`), not ADMM's residuals.
    """
    import time

    from lift.base import SolverResult

    t0 = time.perf_counter()
    P = lifted.problem
    T, rows = P.length, P.rows
    idx = 1 + np.arange(rows)[:, None] + np.arange(T - rows)[None, :]
    counts = np.bincount(idx.ravel(), minlength=T).astype(float)

    def adj(Z: np.ndarray) -> np.ndarray:
        return np.bincount(idx.ravel(), weights=Z.ravel(), minlength=T)

    if rho is None:
        rho = float(np.trace(lifted._G)) / T
    import scipy.linalg

    chol = scipy.linalg.cho_factor(lifted._G + rho * np.diag(counts))
    h = np.linalg.solve(lifted._G, lifted._b) if warm_start is None else _impulse(warm_start)
    X = h[idx]
    U = np.zeros_like(X)
    status, it = "max_iters", 0
    for it in range(1, max_iters + 1):
        rhs = lifted._b + rho * adj(X - U)
        h = scipy.linalg.cho_solve(chol, rhs)
        Hh = h[idx]
        W, s, Vt = np.linalg.svd(Hh + U, full_matrices=False)
        X_old = X
        X = (W * np.maximum(s - P.reg / rho, 0.0)) @ Vt
        U = U + Hh - X
        r_primal = np.linalg.norm(Hh - X)
        r_dual = rho * np.linalg.norm(adj(X - X_old))
        if verbose and it % 100 == 0:
            print(f"admm {it}: primal {r_primal:.2e} dual {r_dual:.2e}")
        if (r_primal <= tol * max(np.linalg.norm(Hh), np.linalg.norm(X), 1e-300)
                and r_dual <= tol * max(np.linalg.norm(rho * adj(U)), 1e-300)):
            status = "optimal"
            break
    return SolverResult(primal={"h": h, "Z": rho * U}, status=status,
                        time=time.perf_counter() - t0, iterations=it,
                        message=f"ADMM {'converged' if status == 'optimal' else 'stopped'} "
                                f"after {it} iterations", warm_start=h)


def _lstsq_accepts(lifted: Any) -> bool:
    return isinstance(lifted, LDSLift) and lifted.problem.reg == 0


def _lstsq_run(lifted: LDSLift, tol: float = 1e-6, verbose: bool = False,
               warm_start: Any = None):
    import time

    from lift.base import SolverResult

    t0 = time.perf_counter()
    h = np.linalg.solve(lifted._G, lifted._b)
    return SolverResult(primal=h, status="optimal", time=time.perf_counter() - t0,
                        iterations=1, message="normal equations solved")


def register() -> None:
    from lift.solvers import register_solver

    register_solver("lstsq", _lstsq_accepts, _lstsq_run)
    register_solver("admm", _admm_accepts, _admm_run)


register()
