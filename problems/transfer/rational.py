r"""Rational fitting ``p/q`` to data: the non-convex problem and its quasiconvex lift.

The problem
-----------
Given points ``x_k`` and values ``g_k`` (``k = 1..N``), fit ``r = p/q`` with ``p`` of degree
``m`` and ``q`` of degree ``n`` (coefficients ``a``, ``b`` in a basis ``phi_j``, see
:mod:`lift.problems.transfer.bases`). The non-convex objective is

.. math::

    E_\infty(a, b) = \max_k \Big| \frac{p(x_k)}{q(x_k)} - g_k \Big|
    \quad\text{or}\quad
    E_2(a, b) = \sum_k \Big| \frac{p(x_k)}{q(x_k)} - g_k \Big|^2,

over denominators that keep one sign on the data (real points: ``q(x_k) > 0``, ``E = +inf``
otherwise) or, for complex data, do not vanish on it. Both are invariant under ``(a, b) -> c (a,
b)``, ``c > 0``: that is the normalization of ``q``.

The lift (``norm="inf"``)
-------------------------
On real points the sublevel sets ``{E_inf <= t}`` are the polyhedral cones
``|p(x_k) - g_k q(x_k)| <= t q(x_k)``, so ``t^* = min E_inf`` is found by bisection on ``t``
(Boyd & Vandenberghe §6.5.5 / exercise A6.2). Each level is decided by the phase-I LP

.. math::

    s^\star(t) = \min_{a, b, s} \; s \quad\text{s.t.}\quad
    |p(x_k) - g_k q(x_k)| \le t\, q(x_k) + s,\quad q(x_k) \ge 0,\quad \sum_k q(x_k) = 1,

which is always feasible and bounded. ``s^*(t) <= 0`` gives a point with ``E_inf <= t`` (and
``q > 0`` on the data when ``s < 0``). ``s^*(t) > 0`` is proved by a dual point: multipliers
``u_k >= 0`` (``sum u = 1``), ``v_k`` with ``|v_k| <= u_k``, ``nu >= 0`` and ``sigma`` give,
for every ``(a, b, s)`` with ``s <= 0`` feasible,

.. math::

    s \;\ge\; \sigma - \|a\|\,\|e_a\| - \|b\|\,\|e_b\|,
    \qquad e_a = -\Phi_p^\top v,\quad
    e_b = \Phi_q^\top\big(\operatorname{diag}(g) v - t u - \nu - \sigma \mathbf 1\big),

and ``||b|| <= 1 / sigma_min(Phi_q)``, ``||a|| <= (t + ||g||_inf) / sigma_min(Phi_p)`` on that
set. When the right-hand side is positive, no ``(a, b)`` with ``q >= 0`` on the data reaches
``E_inf <= t``: ``t`` is a certified lower bound on the global optimum (of every fit of type
``(m, n)`` or lower). The library recomputes ``sigma``, the residuals and the bounds from the
solver's multipliers in float64 (:meth:`RationalLift.verify`), whatever status the solver
reported. (The bound is for denominators ``>= 0`` on the data, a closure of the problem's
``> 0``; it is therefore a valid lower bound for the problem.)

Complex data (the circle or the imaginary axis) use second-order cones
``|p(x_k) - g_k q(x_k)| <= t Re q(x_k) + s`` (an SOCP). Since ``|q| >= Re q``, the program's
level ``max_k |p - g q| / Re q`` is an upper bound on ``E_inf``: the bisection finds the global
optimum of that surrogate, and the recovered fit's true error is at most it. The true sublevel
sets are not convex here: ``|p_k - g_k q_k| <= t |q_k|`` is ``x^T (R_k^T R_k - t^2 Q_k^T Q_k)
x <= 0`` in ``x = (a, b)``, an indefinite quadratic form (signature (2, 2) on the real and
imaginary parts), whose cone is not convex, so the SOCP's infeasibility proofs say nothing about
``E_inf``. A lower bound comes instead from the S-lemma's easy direction: multipliers ``lam >=
0`` with ``sum_k lam_k (R_k^T R_k - t^2 Q_k^T Q_k)`` positive definite leave no ``x != 0``
with every form ``<= 0``, so no fit of type ``(m, n)`` or lower reaches ``E_inf <= t``. They
come from a small SDP (:meth:`RationalLift.quadratic_bound`) and the positive definiteness is
checked by the library in float64 with a bound on the rounding
(:meth:`RationalLift.quadratic_margin`); that level is ``global_bound``. ``stable=True`` (unit
circle only) adds Hardt, Ma & Recht's acquiescence condition as a sector constraint on a
frequency grid: ``Re q(e^{iw}) >= (1 + tau) |Im q(e^{iw})|``. A denominator
``q(z) = sum_j b_j z^{-j}`` with ``Re q > 0`` on the whole circle has its poles inside it; the
recovered poles are checked and reported (``info["pole_radius"]``).

``norm="2"`` has no quasiconvex lift; :class:`SKLift` runs the Sanathanan–Koerner iteration
(weighted linear least squares ``min sum |p - g q|^2 / |q_prev|^2``, the frequency-domain form
of Steiglitz–McBride's prefiltering), the classical convex-subproblem baseline, with no global
bound.

References
----------
S. Boyd and L. Vandenberghe. Convex Optimization, §4.2.5 and §6.5.5, 2004.
M. Hardt, T. Ma and B. Recht. Gradient descent learns linear dynamical systems. JMLR 19, 2018.
C. K. Sanathanan and J. Koerner. Transfer function synthesis as a ratio of two complex
polynomials. IEEE TAC 8, 1963.
K. Steiglitz and L. McBride. A technique for the identification of linear systems. IEEE TAC 10,
1965.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from typing import Any

import numpy as np
import torch

from lift.base import Certificate, Lifted, Problem, SolverResult
from lift.errors import check_array, check_choice, check_int, check_positive
from lift.problems.transfer.bases import (
    BASES,
    basis_matrix,
    detect_kind,
    sector_rows,
    to_polynomial,
)

__all__ = ["RationalFit", "RationalLift", "SKLift", "RationalModel", "FarkasCertificate",
           "INNER_SOLVERS"]

#: cvxpy names of the inner solvers of the bisection, in preference order
INNER_SOLVERS = {"highs": "HIGHS", "clarabel": "CLARABEL", "scs": "SCS"}
NORMS = ("inf", "2")


# --------------------------------------------------------------------------------------------
# The non-convex parameterization
# --------------------------------------------------------------------------------------------
class RationalModel(torch.nn.Module):
    r"""``r(x) = sum_i a_i phi_i(x) / sum_j b_j phi_j(x)`` with the problem's basis.

    Parameters ``num`` (``m + 1``) and ``den`` (``n + 1``) are the coefficients; ``forward``
    takes the basis matrices of :meth:`RationalFit.data` and returns ``(p, q)``: real
    ``(N,)`` tensors, or ``(N, 2)`` (real and imaginary parts) for complex data.
    """

    def __init__(self, num: Any, den: Any, *, dtype: Any = None, device: Any = None) -> None:
        super().__init__()
        dtype = dtype or torch.float64
        self.num = torch.nn.Parameter(torch.as_tensor(np.asarray(num, dtype=np.float64),
                                                      dtype=dtype, device=device).clone())
        self.den = torch.nn.Parameter(torch.as_tensor(np.asarray(den, dtype=np.float64),
                                                      dtype=dtype, device=device).clone())

    @property
    def degrees(self) -> tuple[int, int]:
        """``(m, n)``: the numerator and denominator degrees of the parameterization."""
        return self.num.shape[-1] - 1, self.den.shape[-1] - 1

    @property
    def order(self) -> int:
        """``max(m, n)``."""
        return max(self.degrees)

    def forward(self, phi_num: torch.Tensor, phi_den: torch.Tensor):
        m, n = self.degrees
        return phi_num[..., : m + 1] @ self.num, phi_den[..., : n + 1] @ self.den

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` as float64 arrays."""
        return (self.num.detach().cpu().double().numpy().copy(),
                self.den.detach().cpu().double().numpy().copy())


# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------
class RationalFit(Problem):
    r"""Fit a rational function ``p/q`` of type ``(m, n)`` to data (see the module docstring).

    Parameters
    ----------
    points : array of shape (N,)
        Real points (an interval), or complex points on the unit circle ``e^{iw}`` (discrete
        time) or on the imaginary axis ``iw`` (continuous time).
    values : array of shape (N,)
        Values ``g_k`` (real for real points unless complex, complex for frequency responses).
    num_degree, den_degree : int >= 0
        ``m`` and ``n``.
    norm : {"inf", "2"}
        Max error (quasiconvex lift, certified) or sum of squares (Sanathanan–Koerner /
        Steiglitz–McBride baseline, no bound).
    basis : str, optional
        ``"chebyshev"`` (default) or ``"monomial"`` on an interval; ``"delay"`` on the circle;
        ``"scaled"`` on the imaginary axis.
    domain : (float, float), optional
        The interval ``[a, b]`` of the Chebyshev map (default: the data's range).
    stable : bool
        Unit-circle data only: constrain the denominator to the acquiescent sector so that the
        fit is a stable discrete-time system.
    sector : float >= 0
        ``tau`` of the sector ``Re q >= (1 + tau) |Im q|`` for ``stable=True``.

    Notes
    -----
    ``size`` (the harness's order) is ``max(m', n')`` of a model of type
    ``(min(m, k), min(n, k))``; orders above ``max(m, n)`` are refused, so the certified bound
    of the problem's type holds for every model the family builds.
    """

    name = "rational"
    size_name = "order"

    def __init__(self, points: Any, values: Any, num_degree: int, den_degree: int, *,
                 norm: str = "inf", basis: str | None = None,
                 domain: tuple[float, float] | None = None, stable: bool = False,
                 sector: float = 0.0) -> None:
        m = check_int(num_degree, "num_degree", minimum=0)
        n = check_int(den_degree, "den_degree", minimum=0)
        self.norm = check_choice(norm, "norm", NORMS)
        z = _vector(points, "points")
        g = _vector(values, "values")
        if z.size != g.size:
            raise ValueError(f"`points` and `values` must have the same length, got "
                             f"{z.size} and {g.size}.")
        self.kind = detect_kind(z)
        if self.kind == "interval":
            z = z.real.astype(np.float64)
        if np.unique(z).size != z.size:
            raise ValueError("`points` must be distinct; average the values of repeated "
                             "points first.")
        unknowns = m + n + 1
        if z.size < unknowns + 1:
            raise ValueError(f"a type ({m}, {n}) fit has {unknowns} free coefficients; it needs "
                             f"at least {unknowns + 1} points, got {z.size}. Lower "
                             "`num_degree`/`den_degree` or pass more points.")
        self.basis = check_choice(basis if basis is not None else BASES[self.kind][0], "basis",
                                  BASES[self.kind])
        if not isinstance(stable, bool):
            raise TypeError(f"`stable` must be a bool, got {type(stable).__name__}.")
        if stable and self.kind != "circle":
            raise ValueError("`stable=True` needs discrete-time data on the unit circle "
                             "(points = exp(1j * w)); got data on the "
                             f"{'real interval' if self.kind == 'interval' else 'imaginary axis'}.")
        self.stable = stable
        self.sector = check_positive(sector, "sector", strict=False)
        if self.kind == "interval":
            if domain is None:
                domain = (float(z.min()), float(z.max()))
            dom = check_array(domain, "domain", ndim=1)
            if dom.size != 2 or not dom[0] < dom[1]:
                raise ValueError(f"`domain` must be (a, b) with a < b, got {domain!r}.")
            if z.min() < dom[0] - 1e-12 * abs(dom[0]) or z.max() > dom[1] + 1e-12 * abs(dom[1]):
                raise ValueError(f"`points` must lie in `domain` {tuple(dom)}.")
            self.domain = (float(dom[0]), float(dom[1]))
        elif self.kind == "axis":
            self.domain = (0.0, float(np.max(np.abs(z))))
        else:
            self.domain = (0.0, math.pi)
        self.complex = self.kind != "interval" or np.iscomplexobj(g)
        self.points = z
        self.values = g.astype(np.complex128) if self.complex else g.real.astype(np.float64)
        self.num_degree, self.den_degree = m, n
        self.phi_num = basis_matrix(z, m, self.kind, self.basis, self.domain)
        self.phi_den = basis_matrix(z, n, self.kind, self.basis, self.domain)

    # --- the non-convex side ------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.points.size)

    def _degrees(self, size: int) -> tuple[int, int]:
        k = check_int(size, "size", minimum=1)
        top = max(self.num_degree, self.den_degree)
        if k > top:
            raise ValueError(f"`size` (order) {k} is above this problem's order {top} (type "
                             f"({self.num_degree}, {self.den_degree})); build the RationalFit "
                             "with larger num_degree/den_degree to fit higher orders.")
        return min(self.num_degree, k), min(self.den_degree, k)

    def model(self, size: int, seed: int = 0, *, dtype: Any = None,
              device: Any = None) -> RationalModel:
        """A type ``(min(m, size), min(n, size))`` model: ``q = phi_0`` (a constant, positive on
        the data) and small seeded random numerator coefficients."""
        mk, nk = self._degrees(size)
        rng = np.random.default_rng(check_int(seed, "seed"))
        num = 0.1 * rng.standard_normal(mk + 1)
        den = np.zeros(nk + 1)
        den[0] = 1.0
        return RationalModel(num, den, dtype=dtype, device=device)

    def data(self, *, dtype: Any = None, device: Any = None) -> tuple:
        """``(phi_num, phi_den, values)``: ``(N, m+1)``, ``(N, n+1)``, ``(N,)`` real tensors, or
        ``(N, 2, m+1)``, ``(N, 2, n+1)``, ``(N, 2)`` (real and imaginary parts) for complex
        data."""
        dtype = dtype or torch.float64

        def t(a: np.ndarray) -> torch.Tensor:
            if self.complex:
                a = np.stack([np.real(a), np.imag(a)], axis=1)
            return torch.as_tensor(np.ascontiguousarray(np.real(a)), dtype=dtype, device=device)

        return t(self.phi_num), t(self.phi_den), t(self.values)

    def torch_objective(self, model: RationalModel, data: tuple | None = None, *,
                        weight: float = 1.0):
        r"""``weight * E(model)`` on ``data`` (see :meth:`objective`).

        For ``norm="inf"`` this is the max error itself (subdifferentiable; ``weight``
        multiplies the max over the rows given, so train it on full batches); for ``"2"`` the
        sum of squares (a mini-batch sum times ``weight`` is unbiased). ``+inf`` when the
        denominator leaves the admissible half-space on a row.
        """
        if data is None:
            p0 = next(model.parameters())
            data = self.data(dtype=p0.dtype, device=p0.device)
        phi_num, phi_den, g = data
        p, q = model(phi_num, phi_den)
        if self.complex:
            # (p / q) for rows (re, im): p q* / |q|^2
            qq = q.square().sum(-1)
            re = (p[..., 0] * q[..., 0] + p[..., 1] * q[..., 1]) / qq
            im = (p[..., 1] * q[..., 0] - p[..., 0] * q[..., 1]) / qq
            err2 = (re - g[..., 0]).square() + (im - g[..., 1]).square()
            ok = (qq > 0).all()
        else:
            err2 = (p / q - g).square()
            ok = (q > 0).all() | (q < 0).all()
        if self.norm == "inf":
            val = err2.max().sqrt() if not self.complex else err2.max().sqrt()
        else:
            val = err2.sum()
        inf = torch.full_like(val, math.inf)
        return weight * torch.where(ok, val, inf)

    def objective(self, params: Any) -> float:
        """``E_inf`` or ``E_2`` of a model or of coefficients ``(a, b)``, in float64: on real
        data ``inf`` unless the denominator keeps one sign on the points (a denominator
        negative on every point is the same function as its negation); on complex data ``inf``
        where it vanishes on a point."""
        a, b = _coefficients(params)
        p, q = self._pq(a, b)
        if self.complex:
            if not np.all(np.abs(q) > 0):
                return math.inf
        elif not (np.all(q > 0) or np.all(q < 0)):
            return math.inf
        err = np.abs(p / q - self.values)
        return float(err.max() if self.norm == "inf" else np.sum(err ** 2))

    def _pq(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, n = a.size - 1, b.size - 1
        if m > self.num_degree or n > self.den_degree:
            raise ValueError(f"`params` has type ({m}, {n}), above the problem's type "
                             f"({self.num_degree}, {self.den_degree}).")
        return self.phi_num[:, : m + 1] @ a, self.phi_den[:, : n + 1] @ b

    def project_(self, model: RationalModel) -> None:
        """Real data: keep the denominator admissible. When ``min_k q(x_k)`` drops below
        ``1e-3 max_k |q(x_k)|``, the constant coefficient ``b_0`` (``phi_0 = 1``) is raised
        by the difference: a move back into the admissible set (it changes the fit; not a
        Euclidean projection). Complex data have no constraint: no-op."""
        if self.complex:
            return None
        with torch.no_grad():
            b = model.den.detach().cpu().double().numpy()
            q = self.phi_den[:, : b.size] @ b
            if np.all(q < 0):  # the same function as its negation
                return None
            low = float(np.min(q))
            need = 1e-3 * float(np.max(np.abs(q)))
            if low < need:
                model.den[0] += need - low
        return None

    def effective_size(self, params: Any) -> int:
        """``max(deg p, deg q)`` after dropping trailing coefficients below ``1e-9`` of the
        largest."""
        a, b = _coefficients(params)
        scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-300)
        return max(_degree(a, scale), _degree(b, scale))

    def evaluate(self, params: Any, test: Any = None) -> dict[str, float]:
        """``max_error`` and ``rms_error`` on the data (and ``test_max_error`` when ``test =
        (points, values)`` is given)."""
        a, b = _coefficients(params)
        p, q = self._pq(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.abs(p / q - self.values)
        out = {"max_error": float(np.max(err)), "rms_error": float(np.sqrt(np.mean(err ** 2)))}
        if test is not None:
            z, g = test
            pa = basis_matrix(z, a.size - 1, self.kind, self.basis, self.domain) @ a
            qb = basis_matrix(z, b.size - 1, self.kind, self.basis, self.domain) @ b
            out["test_max_error"] = float(np.max(np.abs(pa / qb - g)))
        return out

    def check_test(self, test: Any) -> Any:
        """``None`` or ``(points, values)`` in the problem's domain."""
        if test is None:
            return None
        if not isinstance(test, tuple) or len(test) != 2:
            raise TypeError("`test` must be None or a tuple (points, values).")
        z, g = _vector(test[0], "test[0]"), _vector(test[1], "test[1]")
        if z.size != g.size:
            raise ValueError("`test` points and values must have the same length.")
        if self.kind == "interval":
            z = z.real
        return z, g

    def describe(self) -> dict[str, Any]:
        return {"points": self.n_samples, "num_degree": self.num_degree,
                "den_degree": self.den_degree, "norm": self.norm, "basis": self.basis,
                "kind": self.kind, "stable": self.stable}

    def _fingerprint_items(self) -> dict[str, Any]:
        return {"points": np.asarray(self.points), "values": np.asarray(self.values),
                "m": self.num_degree, "n": self.den_degree, "norm": self.norm,
                "basis": self.basis, "domain": self.domain, "stable": self.stable,
                "sector": self.sector}

    # --- conversions --------------------------------------------------------------------------
    def polynomials(self, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator coefficients in the natural variable, lowest power first
        (``x``; ``z^{-1}`` on the circle, i.e. ``scipy.signal`` order; ``s`` on the axis)."""
        a, b = _coefficients(params)
        return (to_polynomial(a, self.kind, self.basis, self.domain),
                to_polynomial(b, self.kind, self.basis, self.domain))

    def to_scipy(self, params: Any):
        """A ``scipy.signal.TransferFunction`` (``dt=True`` on the circle; continuous on the
        axis)."""
        import scipy.signal

        if self.kind == "interval":
            raise ValueError("to_scipy: interval data is a function approximation, not a "
                             "frequency response.")
        num, den = self.polynomials(params)
        if self.kind == "circle":
            # b(z^{-1}) / a(z^{-1}): pad to one length, powers of z descending
            k = max(num.size, den.size)
            num, den = np.pad(num, (0, k - num.size)), np.pad(den, (0, k - den.size))
            return scipy.signal.TransferFunction(num / den[0], den / den[0], dt=True)
        return scipy.signal.TransferFunction(num[::-1], den[::-1])

    def poles(self, params: Any) -> np.ndarray:
        """Poles of the fit (roots of ``q`` in the natural variable)."""
        _, den = self.polynomials(params)
        den = np.trim_zeros(den, "b")
        if self.kind == "circle":  # q(z) = sum_j b_j z^{-j}: roots of z^n q(z)
            return np.roots(den) if den.size > 1 else np.array([])
        return np.polynomial.polynomial.polyroots(den) if den.size > 1 else np.array([])

    # --- the convex side ----------------------------------------------------------------------
    def lift(self, **options: Any) -> Lifted:
        """:class:`RationalLift` for ``norm="inf"``, :class:`SKLift` for ``norm="2"``."""
        if self.norm == "inf":
            return RationalLift(self, **options)
        return SKLift(self, **options)


_EPS = float(np.finfo(float).eps)


def _accurate_sums(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of the float products ``terms`` (rows summed) by ``math.fsum`` (correctly
    rounded), with a bound on the error against the exact sums of the exact products (each
    term carries at most two roundings of its factors' product: ``2 eps |term|``)."""
    sums = np.array([math.fsum(col) for col in terms.T])
    err = 2.0 * _EPS * np.abs(terms).sum(axis=0) * (1 + 1e-12) + _EPS * np.abs(sums)
    return sums, err


@functools.cache
def _installed() -> frozenset[str]:
    import cvxpy as cp

    return frozenset(cp.installed_solvers())


def _vector(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"`{name}` must be an array, got None.")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array.") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"`{name}` must be a numeric array, got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array, got shape {arr.shape}; flatten it "
                         "with np.ravel.")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty. Pass non-empty data.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values. Remove them first.")
    return arr.astype(np.complex128) if arr.dtype.kind == "c" else arr.astype(np.float64)


def _coefficients(params: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(params, RationalModel):
        return params.coefficients()
    if isinstance(params, tuple) and len(params) == 2:
        a = np.asarray(params[0], dtype=np.float64).ravel()
        b = np.asarray(params[1], dtype=np.float64).ravel()
        return a, b
    raise TypeError(f"`params` must be a RationalModel or a tuple (num, den), got "
                    f"{type(params).__name__}.")


def _degree(c: np.ndarray, scale: float) -> int:
    nz = np.flatnonzero(np.abs(c) > 1e-9 * scale)
    return int(nz[-1]) if nz.size else 0


# --------------------------------------------------------------------------------------------
# The quasiconvex lift and its certificate
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FarkasCertificate:
    r"""Multipliers of the phase-I program at level ``t`` (see the module docstring).

    ``u`` (N,) ``>= 0``; ``v`` (N, c) with ``|v_k| <= u_k`` (``c = 1`` real, ``2`` complex);
    ``nu`` (N,) ``>= 0``; ``rho`` (G,) ``>= 0`` for the sector rows (empty if none).
    ``sigma``, the residuals and the bounds are recomputed by :meth:`RationalLift.verify`.
    """

    t: float
    u: np.ndarray
    v: np.ndarray
    nu: np.ndarray
    rho: np.ndarray


class RationalLift(Lifted):
    r"""The quasiconvex lift of :class:`RationalFit` (``norm="inf"``), solved by bisection.

    ``to_cvxpy(t)`` returns the phase-I feasibility program at level ``t`` (an LP on real
    data, an SOCP on complex data) with ``t`` a cvxpy ``Parameter`` (``problem.param_dict
    ["t"]``): it is the convex program each bisection step solves, not the quasiconvex program
    itself. The solver is ``"bisection"`` (what ``solver="auto"`` picks); a conic backend name
    (``"clarabel"``, ``"scs"``) or ``"highs"`` given to :meth:`solve` is used as the inner
    solver of the bisection.

    Parameters
    ----------
    problem : RationalFit
    inner : str
        Default inner solver: ``"auto"`` (HiGHS for the LPs of real data, called directly
        through ``scipy.optimize.linprog``; Clarabel for the SOCPs of complex data),
        ``"highs"``, ``"clarabel"`` or ``"scs"`` (these two through a parametrized cvxpy
        program reused across the steps).
    grid : int
        Frequencies of the sector constraint grid for ``stable=True`` (besides the data).
    phase : {"sk", "none"}
        Complex data: the half-planes ``Re(e^{-i theta_k} q(x_k)) >= 0`` of the SOCP.
        ``"none"``: ``theta = 0`` (``Re q > 0``, which excludes many true denominators, e.g.
        a Butterworth filter's); ``"sk"``: ``theta_k`` the phase of the Sanathanan–Koerner
        least-squares denominator on the data (kept at 0 where ``stable=True`` would make the
        two constraints inconsistent). Either way ``Re(e^{-i theta} q) <= |q|``, so the
        program's level bounds ``E_inf`` from above.
    quadratic_steps : int >= 0
        Complex data: SDP solves of :meth:`quadratic_bound`, the S-lemma certificate that
        gives ``global_bound`` (``0``: none, ``global_bound`` is ``None``).
    """

    exact = True

    def __init__(self, problem: RationalFit, *, inner: str = "auto", grid: int = 256,
                 phase: str = "sk", quadratic_steps: int = 6) -> None:
        if not isinstance(problem, RationalFit):
            raise TypeError("`problem` must be a RationalFit.")
        self.problem = problem
        self.inner = check_choice(inner, "inner", ["auto", *INNER_SOLVERS])
        self.grid = check_int(grid, "grid", minimum=8)
        self.phase = check_choice(phase, "phase", ["sk", "none"])
        self.quadratic_steps = check_int(quadratic_steps, "quadratic_steps", minimum=0)
        self.exact = not problem.complex
        P = problem
        g = P.values
        A, B = P.phi_num, P.phi_den
        if P.complex:
            # rows (re, im): r_k = A_k a - g_k B_k b,  d_k = Re B_k b
            self._Rp = np.stack([A.real, A.imag], axis=1)              # (N, 2, m+1)
            GB = g[:, None] * B
            self._Rq = np.stack([GB.real, GB.imag], axis=1)            # (N, 2, n+1)
            # d_k = Re(e^{-i theta_k} q_k) <= |q_k|: theta = 0 is the classical Re q > 0;
            # phase="sk" takes theta_k = arg q_sk(x_k) of the Sanathanan-Koerner fit, so that the
            # surrogate is exact at (and near) that denominator
            self.theta = self._phases(phase)
            self._D = np.real(np.exp(-1j * self.theta)[:, None] * B)
        else:
            self._Rp = A[:, None, :]
            self._Rq = (g[:, None] * B)[:, None, :]
            self._D = B.copy()
        self._S = self._sector_rows() if P.stable else np.zeros((0, B.shape[1]))
        # norms for the certificate's bounds, computed once
        Ap = self._Rp.reshape(-1, A.shape[1])
        self._smin_p = float(np.linalg.svd(Ap, compute_uv=False)[-1])
        self._smin_d = float(np.linalg.svd(self._D, compute_uv=False)[-1])
        Bc = np.concatenate([B.real, B.imag]) if P.complex else B
        self._smax_b = float(np.linalg.svd(Bc, compute_uv=False)[0])
        self._gmax = float(np.max(np.abs(g)))
        self._cvx: dict[str, Any] = {}
        self._best: tuple[Any, float] = (None, math.inf)
        #: normalization sum_k d_k = N (mean 1), so that s*(t) is of the size of t* - t
        self._scale = float(problem.n_samples)

    def _phases(self, phase: str) -> np.ndarray:
        P = self.problem
        zero = np.zeros(P.n_samples)
        if phase == "none" or P.stable:
            return zero
        sk = self._sk_fit()
        if sk is None:
            return zero
        q = P.phi_den @ sk[1]
        if not np.all(np.isfinite(q)) or np.any(np.abs(q) == 0):
            return zero
        return np.angle(q)

    # --- program description --------------------------------------------------------------
    def _sector_rows(self) -> np.ndarray:
        """Rows ``Re q - (1 + tau) Im q >= 0`` and ``Re q + (1 + tau) Im q >= 0`` on the data's
        frequencies and ``grid`` equispaced ones in ``[0, pi]``."""
        P = self.problem
        w = np.concatenate([np.angle(P.points), np.linspace(0, np.pi, self.grid)])
        return sector_rows(P.den_degree, w, P.sector)

    def cones(self) -> frozenset[str]:
        return frozenset({"zero", "nonneg", "soc"} if self.problem.complex
                         else {"zero", "nonneg"})

    def size_hint(self) -> int:
        P = self.problem
        return (P.num_degree + P.den_degree + 3) + (3 + P.complex) * P.n_samples + \
            self._S.shape[0]

    def describe(self) -> dict[str, Any]:
        P = self.problem
        return {"exact": bool(self.exact), "program": "quasiconvex bisection",
                "feasibility": "SOCP" if P.complex else "LP", "points": P.n_samples,
                "coefficients": P.num_degree + P.den_degree + 2,
                "sector_rows": int(self._S.shape[0])}

    def auto_thresholds(self) -> dict[str, float]:
        """The bisection is the only way to solve the quasiconvex program: always first."""
        return {"bisection": 0.0}

    # --- the feasibility program ---------------------------------------------------------------
    def _build(self):
        import cvxpy as cp

        P = self.problem
        N = P.n_samples
        a = cp.Variable(P.num_degree + 1, name="num")
        b = cp.Variable(P.den_degree + 1, name="den")
        s = cp.Variable(name="s")
        t = cp.Parameter(nonneg=True, name="t", value=1.0)
        d = self._D @ b
        cons = []
        if P.complex:
            rows = [self._Rp[:, i, :] @ a - self._Rq[:, i, :] @ b for i in range(2)]
            cons.append(cp.SOC(t * d + s, cp.vstack(rows), axis=0))
        else:
            r = self._Rp[:, 0, :] @ a - self._Rq[:, 0, :] @ b
            cons += [r - t * d - s <= 0, -r - t * d - s <= 0]
        cons += [d >= 0, cp.sum(d) == self._scale]
        if self._S.shape[0]:
            cons.append(self._S @ b >= 0)
        prob = cp.Problem(cp.Minimize(s), cons)
        del N
        return prob, a, b, s, t, cons

    def to_cvxpy(self, t: float | None = None):
        """The phase-I feasibility program at level ``t`` (default: the initial upper bound,
        the max error of the least-squares polynomial); a new ``cvxpy.Problem``."""
        prob, *_ , tp, _ = self._build()
        tp.value = float(self.bisection_bracket()[1] if t is None else t)
        return prob

    def primal_from_cvxpy(self, cvx_problem) -> Any:
        var = {v.name(): v for v in cvx_problem.variables()}
        if var["num"].value is None or var["den"].value is None:
            return None
        a, b = np.asarray(var["num"].value, float), np.asarray(var["den"].value, float)
        return {"num": a, "den": b, "value": self.level(a, b), "certificate": None}

    def level(self, a: np.ndarray, b: np.ndarray) -> float:
        r"""The program's objective ``max_k |p_k - g_k q_k| / d_k`` (``d = q`` on real data,
        ``Re q`` on complex data); ``inf`` when some ``d_k <= 0``. On real data with ``q > 0``
        it equals ``E_inf``."""
        d = self._D @ b
        if not np.all(d > 0):
            return math.inf
        r = np.einsum("kcm,m->kc", self._Rp, a) - np.einsum("kcn,n->kc", self._Rq, b)
        return float(np.max(np.linalg.norm(r, axis=1) / d))

    def _inner_name(self, inner: str) -> str:
        name = self.inner if inner == "auto" else inner
        if name == "auto":  # real data: the LP goes to scipy's HiGHS (always there)
            name = "highs" if not self.problem.complex else "clarabel"
        check_choice(name, "inner", list(INNER_SOLVERS))
        if name == "highs" and self.problem.complex:
            raise ValueError("inner='highs' solves LPs only; complex data needs an SOCP: use "
                             "inner='clarabel' or 'scs'.")
        if name == "highs":
            return name
        if INNER_SOLVERS[name] not in _installed():
            raise ValueError(f"inner solver {name!r} is not installed; use 'clarabel'.")
        return name

    def feasibility(self, t: float, *, inner: str = "auto", tol: float = 1e-6):
        """Decide level ``t`` with the phase-I program: a :class:`~lift.solvers.bisection.Answer`.

        Feasible when the solver's point has ``level <= t`` (recomputed here); infeasible and
        ``proved`` when the multipliers pass :meth:`verify`. An infeasibility the multipliers
        do not prove is solved again before it is reported unproved: from a freshly built
        program (a solver's warm start can end at a poorer dual point), or for the direct LP
        with milder row weights, then with none, then by HiGHS's interior-point method.
        """
        answer = self._decide(t, inner, attempt=0)
        for attempt in (1, 2, 3) if self._direct(inner) else (1,):
            if answer.feasible or answer.proved:
                break
            retry = self._decide(t, inner, attempt=attempt)
            if retry.feasible or retry.proved:
                return retry
        return answer

    def _direct(self, inner: str) -> bool:
        """Whether the phase-I program goes straight to HiGHS (real data)."""
        return self._inner_name(inner) == "highs" and not self.problem.complex

    def _decide(self, t: float, inner: str, attempt: int):
        from lift.solvers.bisection import Answer

        name = self._inner_name(inner)
        if self._direct(inner):
            # the LP straight to HiGHS (scipy.optimize.linprog): no cvxpy canonicalization per
            # step; the retries cap the row weights at 1e4, then use none (simplex, then IPM)
            status, point, slack, cert = self._solve_lp(t, cap=(1e8, 1e4, 0.0, 0.0)[attempt],
                                                        ipm=attempt == 3)
        else:
            status, point, slack, cert = self._solve_cvxpy(t, name, fresh=attempt > 0)
        if status == "failed":
            return Answer(feasible=False, proved=False, message=f"{name} failed: {cert}")
        if point is not None:
            lev = self.level(*point)
            # s <= 0 with an infinite level: feasible in the closure (q = 0 on a point)
            if lev <= t * (1 + 1e-9) or (slack is not None and slack <= 0):
                value = lev
                if lev > t * (1 + 1e-9) and cert is not None and not self.problem.complex:
                    # feasible to the solver's tolerance only (e.g. q nearly vanishing on a
                    # point): the exchange step on the active points, evaluated here
                    better = self.exchange(cert)
                    if better is not None and better[1] < value:
                        point, value = better
                self._remember(point, value)
                return Answer(feasible=True, point=point, value=value,
                              message=f"{name}: {status}, s = {float(slack):.3e}")
        if cert is None:
            return Answer(feasible=False, proved=False,
                          message=f"{name}: {status}, no multipliers")
        bound, _ = self.verify(cert)
        exchange = self.exchange(cert) if not self.problem.complex else None
        if bound <= 0 and not self.problem.complex:
            for sign in (1.0, -1.0):
                polished = self.polish(cert, sign)
                if polished is not None:
                    pbound, _ = self.verify(polished)
                    if pbound > bound:
                        cert, bound = polished, pbound
        point, value = exchange if exchange is not None else (None, math.inf)
        if point is not None:
            self._remember(point, value)
        return Answer(feasible=False, certificate=cert, proved=bound > 0, point=point,
                      value=value, message=f"{name}: {status}, verified s* >= {bound:.3e}")

    def _remember(self, point: tuple, value: float) -> None:
        """Keep the best point the oracle has seen (its rows weight the next LPs)."""
        if math.isfinite(value) and value < self._best[1]:
            self._best = (point, value)

    def _row_weights(self, cap: float = 1e8) -> np.ndarray:
        r"""``w_k = mean(d) / d_k`` of the best point seen (capped at ``cap``): the phase-I
        rows ``w_k (|r_k| - t d_k) <= s`` are then of one scale where the denominator is tiny
        on some points (an absolute solver tolerance would swamp ``t d_k`` there). Any
        ``w > 0`` gives the same sign of ``s^*``; :meth:`verify` checks the multipliers
        mapped back to unit weights."""
        if self._best[0] is None:
            self.bisection_bracket()
            self._best = (self.start[1:], self.start[0])
        d = self._D @ self._best[0][1]
        if not np.all(d > 0):
            return np.ones(d.size)
        return np.minimum(float(np.mean(d)) / d, cap)

    def _solve_lp(self, t: float, cap: float = 1e8, ipm: bool = False):
        r"""The real phase-I LP by ``scipy.optimize.linprog`` (HiGHS): ``(status, (a, b), s,
        certificate)``; the certificate's multipliers are those of the unweighted rows.

        ``cap > 0``: rows weighted by :meth:`_row_weights`, and the LP written around the
        best point ``x_0`` seen, ``x = x_0 + t y``, ``s = t s'``, every row divided by ``t``,
        so that a level ``t`` near the optimum is decided to HiGHS's tolerance *relative to*
        ``t`` (written in ``x`` its absolute tolerance ``1e-10`` swamps levels ``t < 1e-8``).
        Either way the same LP, the same signs of ``s^*``, and multipliers that differ by a
        positive factor only. ``ipm``: HiGHS's interior-point method instead of its choice
        (the simplex), which some badly scaled levels need."""
        import scipy.optimize
        import scipy.sparse

        P = self.problem
        N, m1, n1 = P.n_samples, P.num_degree + 1, P.den_degree + 1
        Rp, Rq, D = self._Rp[:, 0, :], self._Rq[:, 0, :], self._D
        w, x0, h = np.ones(N), np.zeros(m1 + n1), 1.0
        if cap > 0:
            w = self._row_weights(cap)
            a0, b0 = self._best[0]
            norm = self._scale / float(np.sum(D @ b0))
            x0, h = np.concatenate([a0, b0]) * norm, float(t)
        wRp, wRq, wtD = w[:, None] * Rp, w[:, None] * Rq, (t * w)[:, None] * D
        one = -np.ones((N, 1))
        G = np.concatenate([wRp, -wRq - wtD], axis=1)
        H = np.concatenate([-wRp, wRq - wtD], axis=1)
        A_ub = np.block([[G, one], [H, one], [np.zeros((N, m1)), -D, np.zeros((N, 1))]])
        r0 = w * (Rp @ x0[:m1] - Rq @ x0[m1:])
        d0 = D @ x0[m1:]
        b_ub = -np.concatenate([r0 - t * w * d0, -r0 - t * w * d0, -d0]) / h
        A_eq = np.concatenate([np.zeros(m1), D.sum(axis=0), [0.0]])[None, :]
        b_eq = [(self._scale - float(np.sum(d0))) / h]
        c = np.zeros(m1 + n1 + 1)
        c[-1] = 1.0
        try:
            res = scipy.optimize.linprog(
                c, A_ub=scipy.sparse.csr_matrix(A_ub), b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                bounds=(None, None), method="highs-ipm" if ipm else "highs",
                options={"primal_feasibility_tolerance": 1e-10,
                         "dual_feasibility_tolerance": 1e-10})
        except (ValueError, RuntimeError) as exc:
            return "failed", None, None, exc
        status = {0: "optimal", 1: "max_iters", 2: "infeasible", 3: "unbounded"}.get(
            res.status, "solver_error")
        if res.x is None:
            return status, None, None, None
        y = np.asarray(res.x, float)
        x = x0 + h * y[:-1]
        point = (x[:m1], x[m1:])
        cert = None
        marg = getattr(res.ineqlin, "marginals", None)
        if marg is not None and np.all(np.isfinite(marg)):
            lam, mu, nu = -marg[:N] * w, -marg[N:2 * N] * w, -marg[2 * N:]
            cert = FarkasCertificate(float(t), lam + mu, (lam - mu)[:, None], nu, np.zeros(0))
        return status, point, h * float(y[-1]), cert

    def _solve_cvxpy(self, t: float, name: str, fresh: bool):
        """The phase-I program through cvxpy (a parametrized program reused across steps;
        Clarabel or SCS, real LPs included): ``(status, (a, b), s, certificate)``."""
        from lift.solvers.conic import STATUS_MAP

        if name not in self._cvx or fresh:
            self._cvx[name] = self._build()
        prob, a, b, s, tp, cons = self._cvx[name]
        tp.value = float(t)
        opts: dict[str, Any] = {}
        if name == "clarabel":
            opts = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
        elif name == "scs":
            opts = {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 100_000}
        try:
            with warnings.catch_warnings():
                # cvxpy's "Solution may be inaccurate": the answer is checked here anyway
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                prob.solve(solver=INNER_SOLVERS[name], **opts)
        except Exception as exc:  # the inner solver failed: not a proof of anything
            return "failed", None, None, exc
        status = STATUS_MAP.get(prob.status, "solver_error")
        point = None
        if a.value is not None and b.value is not None:
            point = (np.asarray(a.value, float), np.asarray(b.value, float))
        slack = None if s.value is None else float(s.value)
        return status, point, slack, self._certificate(t, cons)

    def _certificate(self, t: float, cons: list) -> FarkasCertificate | None:
        P = self.problem
        N = P.n_samples
        try:
            if P.complex:
                u_raw, V = cons[0].dual_value
                u = np.asarray(u_raw, float).ravel()
                v = np.asarray(V, float).reshape(2, N).T
                rest = cons[1:]
            else:
                lam = np.asarray(cons[0].dual_value, float).ravel()
                mu = np.asarray(cons[1].dual_value, float).ravel()
                u, v = lam + mu, (lam - mu)[:, None]
                rest = cons[2:]
            nu = np.asarray(rest[0].dual_value, float).ravel()
            rho = (np.asarray(rest[2].dual_value, float).ravel() if self._S.shape[0]
                   else np.zeros(0))
        except (TypeError, ValueError, IndexError):
            return None
        if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v))):
            return None
        return FarkasCertificate(float(t), u, v, nu, rho)

    def exchange(self, cert: FarkasCertificate) -> tuple[tuple, float] | None:
        r"""A Remez exchange step from an LP certificate (real data): on the certificate's
        support ``K`` (``m + n + 2`` points) with signs ``e_k``, solve the equioscillation
        equations ``p(x_k) - g_k q(x_k) = e_k t q(x_k)`` (a generalized eigenvalue problem in
        ``t``) and return the candidate with the smallest level over *all* points, with that
        level (evaluated here, so it is an upper bound on ``t^*`` whatever the solver's
        accuracy), or ``None``.
        """
        import scipy.linalg

        P = self.problem
        u = np.maximum(np.asarray(cert.u, float), 0.0)
        if not np.any(u > 0):
            return None
        K = np.flatnonzero(u > 1e-7 * u.max())
        if K.size != P.num_degree + P.den_degree + 2:
            return None
        e = np.sign(np.asarray(cert.v, float)[K, 0])
        A, B, g = P.phi_num[K], P.phi_den[K], P.values[K]
        M0 = np.concatenate([A, -g[:, None] * B], axis=1)
        M1 = np.concatenate([np.zeros_like(A), e[:, None] * B], axis=1)
        best = None
        for sign in (1.0, -1.0):
            try:
                vals, vecs = scipy.linalg.eig(M0, sign * M1)
            except (np.linalg.LinAlgError, ValueError):
                continue
            for lam, vec in zip(vals, vecs.T, strict=True):
                if not np.isfinite(lam) or abs(lam.imag) > 1e-9 * max(abs(lam.real), 1e-300) \
                        or lam.real <= 0:
                    continue
                vec = np.real(vec)
                a, b = vec[: P.num_degree + 1], vec[P.num_degree + 1:]
                if np.all(self._D @ b < 0):
                    a, b = -a, -b
                level = self.level(a, b)
                if math.isfinite(level) and (best is None or level < best[1]):
                    best = ((a, b), level)
        return best

    def polish(self, cert: FarkasCertificate, sign: float = 1.0) -> FarkasCertificate | None:
        r"""Refine an LP certificate to the exact vertex of its support (real data).

        An optimal dual of the phase-I LP is a vertex: on the support ``K`` of ``u`` with signs
        ``e_k = sign v_k`` (``v_k = e_k u_k``) it solves the square system
        ``Phi_p[K]^T (e u) = 0``, ``Phi_q[K]^T ((g e - t) u) = sigma Phi_q^T 1``, ``sum u = 1``.
        Solving it in float64 removes the solver's tolerance from the residuals; the result is
        a candidate only, checked by :meth:`verify` like any other. ``sign`` flips the
        solver's sign convention of ``v``.
        """
        u = np.maximum(np.asarray(cert.u, float), 0.0)
        v = np.asarray(cert.v, float)[:, 0]
        if not np.any(u > 0):
            return None
        K = np.flatnonzero(u > 1e-7 * u.max())
        e = sign * np.sign(v[K])
        e[e == 0] = sign
        A, B, g = self.problem.phi_num[K], self.problem.phi_den[K], self.problem.values[K]
        h = self._D.T @ np.ones(self._D.shape[0])
        rows_a = np.concatenate([(A * e[:, None]).T, np.zeros((A.shape[1], 1))], axis=1)
        rows_b = np.concatenate([(B * (g * e - cert.t)[:, None]).T, -h[:, None]], axis=1)
        rows_s = np.concatenate([np.ones((1, K.size)), np.zeros((1, 1))], axis=1)
        M = np.concatenate([rows_a, rows_b, rows_s])
        rhs = np.zeros(M.shape[0])
        rhs[-1] = 1.0
        try:
            x = np.linalg.lstsq(M, rhs, rcond=None)[0]
        except np.linalg.LinAlgError:
            return None
        uK = x[:-1]
        if np.any(uK < 0):
            return None
        u2 = np.zeros_like(u)
        u2[K] = uK
        v2 = np.zeros_like(u)
        v2[K] = e * uK
        return FarkasCertificate(cert.t, u2, v2[:, None], np.zeros_like(u), cert.rho)

    def verify(self, cert: FarkasCertificate) -> tuple[float, dict[str, float]]:
        r"""Recompute the lower bound on ``s^*(t)`` that ``cert`` proves (see the module
        docstring); positive means level ``t`` is infeasible. Cone memberships are enforced
        (negative parts dropped, ``v`` shrunk into ``|v_k| <= u_k``; both sign conventions of
        ``v`` are tried), then ``sum u = 1`` is imposed by scaling, ``sigma`` is the
        least-squares choice and the residuals, summed with ``math.fsum``, are subtracted
        with a bound on their rounding errors.
        """
        t = float(cert.t)
        u = np.maximum(np.asarray(cert.u, float), 0.0)
        nu = np.maximum(np.asarray(cert.nu, float), 0.0)
        rho = np.maximum(np.asarray(cert.rho, float), 0.0)
        v0 = np.asarray(cert.v, float)
        total = float(u.sum())
        if not (total > 0 and math.isfinite(total)):
            return -math.inf, {}
        norms = np.linalg.norm(v0, axis=1)
        shrink = np.where(norms > u, u / np.maximum(norms, 1e-300), 1.0)
        v0 = v0 * shrink[:, None]
        u, nu, rho, v0 = u / total, nu / total, rho / total, v0 / total
        best = (-math.inf, {})
        # ||B b|| per unit of sum(d): 1 on real data (B b = d >= 0)
        bq = 1.0 if not self.problem.complex else self._smax_b / self._smin_d
        b_norm = self._scale / self._smin_d
        a_norm = (t + self._gmax * bq) * self._scale / self._smin_p
        ones = np.ones((self._D.shape[0], 1))
        h, err_h = _accurate_sums(self._D * ones)
        m1, n1 = self._Rp.shape[2], self._Rq.shape[2]
        fixed = [-t * self._D * u[:, None], -self._D * nu[:, None]]
        if rho.size:
            fixed.append(-self._S * rho[:, None])
        for v in (v0, -v0):
            e_a, err_a = _accurate_sums(-(self._Rp * v[:, :, None]).reshape(-1, m1))
            c, err_c = _accurate_sums(np.concatenate(
                [(self._Rq * v[:, :, None]).reshape(-1, n1), *fixed]))
            sigma = float(c @ h / (h @ h))
            e_b = c - sigma * h
            err_b = err_c + abs(sigma) * err_h + _EPS * (np.abs(c) + 2 * np.abs(sigma * h))
            # a feasible point with s <= 0 has ||b|| <= b_norm and ||a|| <= a_norm
            res_a = float(np.linalg.norm(np.abs(e_a) + err_a))
            res_b = float(np.linalg.norm(np.abs(e_b) + err_b))
            slack = (a_norm * res_a + b_norm * res_b) * (1 + 8 * _EPS)
            bound = sigma * self._scale * (1.0 - 4 * _EPS * np.sign(sigma)) - slack
            if bound > best[0]:
                best = (bound, {"sigma": sigma, "residual_a": res_a, "residual_b": res_b,
                                "slack": slack})
        return best

    # --- the bisection protocol ----------------------------------------------------------------
    def bisection_bracket(self) -> tuple[float, float, Any, Any]:
        """``(0, hi, point, None)``: ``point`` the better (in the program's level) of the
        least-squares polynomial ``(p0, 1)`` and the Sanathanan–Koerner fit (which makes the
        bracket start tight on data that are exactly rational)."""
        P = self.problem
        if "start" not in self.__dict__:
            Rp = self._Rp.reshape(-1, P.num_degree + 1)
            g = np.stack([P.values.real, P.values.imag], axis=1).ravel() if P.complex \
                else P.values
            a0 = np.linalg.lstsq(Rp, g, rcond=None)[0]
            b0 = np.zeros(P.den_degree + 1)
            b0[0] = 1.0
            best = (self.level(a0, b0), a0, b0)
            sk = self._sk_fit()
            if sk is not None and np.all(self._D @ sk[1] < 0):  # the same function, negated
                sk = (-sk[0], -sk[1])
            if sk is not None and (not self._S.shape[0] or np.all(self._S @ sk[1] >= 0)):
                level = self.level(*sk)
                if level < best[0]:
                    best = (level, *sk)
            self.start = best
        level, a0, b0 = self.start
        return 0.0, level, (a0, b0), None

    def _sk_fit(self) -> tuple[np.ndarray, np.ndarray] | None:
        if "_sk" not in self.__dict__:
            P = self.problem
            try:
                out = SKLift(RationalFit(P.points, P.values, P.num_degree, P.den_degree,
                                         norm="2", basis=P.basis,
                                         domain=P.domain if P.kind == "interval" else None)
                             ).run()
                self._sk = (out["num"], out["den"])
            except (ValueError, np.linalg.LinAlgError):
                self._sk = None
        return self._sk

    def bisection_atol(self) -> float:
        """Absolute bracket width reachable in double precision: ``1e-12 max|g|``."""
        return 1e-12 * max(self._gmax, 1e-300)

    def bisection_primal(self, result) -> dict[str, Any]:
        a, b = result.point
        return {"num": a, "den": b, "value": result.hi, "lo": result.lo,
                "certificate": result.certificate}

    # --- map back ------------------------------------------------------------------------------
    def program_value(self, primal: Any) -> float:
        return self.level(primal["num"], primal["den"])

    def recover(self, primal: Any) -> RationalModel:
        a, b = np.asarray(primal["num"], float), np.asarray(primal["den"], float)
        scale = float(np.max(np.abs(b)))  # a positive rescaling leaves p/q unchanged
        if self.problem.kind != "interval" and b[0] != 0:
            scale = abs(float(b[0]))
        return RationalModel(a / scale, b / scale)

    def certify(self, params: Any, primal: Any) -> Certificate:
        """Re-verify the infeasibility certificate of the bracket's lower end.

        ``lower_bound`` is its level ``t`` when :meth:`verify` proves it (else ``0``, the
        trivial bound); ``global_bound`` is the same number on real data (a bound for every
        fit of type ``(m, n)`` or lower, i.e. every model of order ``<= max(m, n)``). On
        complex data the SOCP's level only bounds ``E_inf`` from above; ``global_bound`` is
        then the S-lemma level of :meth:`quadratic_bound` (``None`` when nothing is proved or
        ``quadratic_steps=0``).
        """
        cert = primal.get("certificate") if isinstance(primal, dict) else None
        lb, info = 0.0, {"certificate_verified": False}
        if cert is not None:
            bound, detail = self.verify(cert)
            if bound > 0:
                lb = float(cert.t)
                info = {"certificate_verified": True, "certified_s_star": bound, **detail}
        info["bracket"] = (lb, float(primal.get("value", math.nan)))
        P = self.problem
        if P.stable:
            radius = np.abs(P.poles(params))
            info["pole_radius"] = float(radius.max()) if radius.size else 0.0
        if not P.complex:
            return Certificate(lower_bound=lb, global_bound=lb, info=info)
        glob = None
        if self.quadratic_steps and math.isfinite(info["bracket"][1]):
            t, lam = self.quadratic_bound(P.objective(params))
            info["quadratic_bound"] = t
            info["quadratic_multipliers"] = lam
            glob = t if t > 0 else None
        return Certificate(lower_bound=lb, global_bound=glob, info=info)

    # --- complex data: the S-lemma bound ---------------------------------------------------
    def _quadratic_forms(self) -> tuple[np.ndarray, np.ndarray]:
        """``(R, Q)`` of shape ``(N, 2, d)``: real and imaginary parts of the rows of
        ``p_k - g_k q_k`` and of ``q_k`` in ``x = (a, b)``."""
        P = self.problem
        A, B, g = P.phi_num, P.phi_den, P.values
        res = np.concatenate([A, -g[:, None] * B], axis=1)
        den = np.concatenate([np.zeros_like(A), B], axis=1)
        return (np.stack([res.real, res.imag], axis=1).astype(float),
                np.stack([den.real, den.imag], axis=1).astype(float))

    def quadratic_margin(self, t: float, lam: np.ndarray) -> float:
        r"""Verify an S-lemma certificate in float64: a lower bound on
        ``lambda_min(sum_k lam_k (R_k^T R_k - t^2 Q_k^T Q_k))`` (module docstring), the
        computed eigenvalue less a bound on the rounding of the sums and of ``eigvalsh``.
        Positive proves that no fit of type ``(m, n)`` or lower has ``E_inf <= t``."""
        R, Q = self._quadratic_forms()
        lam = np.maximum(np.asarray(lam, float), 0.0)
        if not (lam.sum() > 0 and np.all(np.isfinite(lam))):
            return -math.inf
        lam = lam / lam.sum()
        t2 = float(t) * float(t)
        S = np.einsum("k,kci,kcj->ij", lam, R, R) - t2 * np.einsum("k,kci,kcj->ij", lam, Q, Q)
        S = 0.5 * (S + S.T)
        mags = np.einsum("k,kci,kcj->ij", lam, np.abs(R), np.abs(R)) + \
            t2 * np.einsum("k,kci,kcj->ij", lam, np.abs(Q), np.abs(Q))
        d, N = S.shape[0], lam.size
        err = (2 * N + 8) * _EPS * float(np.linalg.norm(mags))  # sums, products, t^2, lam
        eig = np.linalg.eigvalsh(S)
        return float(eig[0]) - err - 4 * d * _EPS * float(np.max(np.abs(eig)))

    def _sup_level(self, lam: np.ndarray, hi: float) -> float:
        """The largest ``t <= hi`` (to a relative ``1e-9``, bisection) that
        :meth:`quadratic_margin` proves with the multipliers ``lam``; ``0`` if none."""
        if self.quadratic_margin(0.0, lam) <= 0:
            return 0.0
        lo, up = 0.0, hi
        if self.quadratic_margin(up, lam) > 0:
            return up
        while up - lo > 1e-9 * up:
            mid = 0.5 * (lo + up)
            lo, up = (mid, up) if self.quadratic_margin(mid, lam) > 0 else (lo, mid)
        return lo

    def quadratic_bound(self, hi: float) -> tuple[float, np.ndarray | None]:
        r"""A certified lower bound on the global optimum for complex data.

        Every fit with ``E_inf <= t`` has ``|p_k - g_k q_k|^2 - t^2 |q_k|^2 <= 0`` at every
        point: ``x^T (R_k^T R_k - t^2 Q_k^T Q_k) x <= 0`` with ``x = (a, b) != 0``. Multipliers
        ``lam >= 0`` that make ``sum_k lam_k (R_k^T R_k - t^2 Q_k^T Q_k)`` positive definite
        therefore prove that no fit reaches ``t`` (the S-lemma's easy direction). They are found
        by the SDP ``max s : sum_k lam_k (...) >= s I, sum lam = 1, lam >= 0`` (Clarabel),
        whose level ``t`` is raised Dinkelbach-style (``t <- `` the largest level the last
        multipliers prove) for :attr:`quadratic_steps` solves, starting at ``hi``; every
        level is checked by :meth:`quadratic_margin`. Returns ``(t, lam)`` (``(0, None)``
        when nothing is proved).
        """
        import cvxpy as cp

        R, Q = self._quadratic_forms()
        N, d = R.shape[0], R.shape[2]
        RR = np.einsum("kci,kcj->kij", R, R).reshape(N, d * d)
        QQ = np.einsum("kci,kcj->kij", Q, Q).reshape(N, d * d)
        lam = cp.Variable(N, nonneg=True)
        s = cp.Variable()
        tau = cp.Parameter(nonneg=True)
        S = cp.reshape(RR.T @ lam - tau * (QQ.T @ lam), (d, d), order="C")
        prob = cp.Problem(cp.Maximize(s), [0.5 * (S + S.T) - s * np.eye(d) >> 0,
                                           cp.sum(lam) == 1])
        best, best_lam, t = 0.0, None, float(hi)
        for _ in range(self.quadratic_steps):
            tau.value = t * t
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                    prob.solve(solver="CLARABEL")
            except cp.error.SolverError:
                break
            if lam.value is None:
                break
            level = self._sup_level(np.asarray(lam.value, float), hi)
            if level <= best * (1 + 1e-9):
                break
            best, best_lam = level, np.maximum(np.asarray(lam.value, float), 0.0)
            if best >= hi * (1 - 1e-9):
                break
            # the next SDP a little above the proved level (Dinkelbach's update)
            t = min(hi, best * (1 + 1e-6))
        return best, best_lam

    def solve(self, solver: str = "auto", tol: float = 1e-6, verbose: bool = False, *,
              warm_start: Any = None, **options: Any):
        """Bisection (see the class docstring); a conic backend name is its inner solver."""
        if isinstance(solver, str) and solver.lower() in INNER_SOLVERS:
            if "inner" in options:
                raise TypeError("pass the inner solver either as `solver` or as `inner`.")
            options["inner"] = solver.lower()
            solver = "bisection"
        if isinstance(solver, str) and solver.lower() == "mosek":
            raise ValueError("solver='mosek' is not an inner solver of the bisection; use "
                             "'highs', 'clarabel' or 'scs'.")
        return super().solve(solver=solver, tol=tol, verbose=verbose, warm_start=warm_start,
                             **options)


# --------------------------------------------------------------------------------------------
# norm = "2": Sanathanan-Koerner and Steiglitz-McBride
# --------------------------------------------------------------------------------------------
class SKLift(Lifted):
    r"""The classical least-squares rational fit (``norm="2"``): no convex lift, no bound.

    Sanathanan–Koerner iterations solve the weighted linear least squares
    ``min_{a, b: b_0 = 1} sum_k |p(x_k) - g_k q(x_k)|^2 / |q_prev(x_k)|^2`` (the first with
    ``q_prev = 1`` is Levy's linearization; in the frequency domain this reweighting is the
    Steiglitz–McBride prefiltering by ``1/q_prev``), keeping the iterate with the smallest
    ``E_2``. The program "solved" is the weighted least-squares problem of that iterate: its
    optimum is computed exactly (``lower_bound``), and at a fixed point it equals ``E_2``;
    ``global_bound`` is ``None``. ``to_cvxpy()`` returns the first (Levy) problem.
    """

    exact = False

    def __init__(self, problem: RationalFit, *, iterations: int = 30) -> None:
        if not isinstance(problem, RationalFit):
            raise TypeError("`problem` must be a RationalFit.")
        self.problem = problem
        self.iterations = check_int(iterations, "iterations", minimum=1)

    def cones(self) -> frozenset[str]:
        return frozenset({"zero", "soc"})

    def size_hint(self) -> int:
        P = self.problem
        return P.n_samples * (P.num_degree + P.den_degree + 2)

    def describe(self) -> dict[str, Any]:
        return {"exact": False, "program": "Sanathanan-Koerner / Steiglitz-McBride"}

    def auto_thresholds(self) -> dict[str, float]:
        return {"sk": 0.0}

    def _system(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``w_k (p_k - g_k q_k)`` in ``(a, b_1..b_n)`` and the right side ``w g B_0``
        (real and imaginary parts stacked)."""
        P = self.problem
        A, B, g = P.phi_num, P.phi_den, P.values
        M = np.concatenate([A, -(g[:, None] * B[:, 1:])], axis=1) * w[:, None]
        rhs = w * g * B[:, 0]
        if P.complex:
            M = np.concatenate([M.real, M.imag])
            rhs = np.concatenate([rhs.real, rhs.imag])
        return np.real(M), np.real(rhs)

    def to_cvxpy(self):
        import cvxpy as cp

        P = self.problem
        M, rhs = self._system(np.ones(P.n_samples))
        x = cp.Variable(M.shape[1], name="x")
        return cp.Problem(cp.Minimize(cp.sum_squares(M @ x - rhs)))

    def primal_from_cvxpy(self, cvx_problem) -> Any:
        x = cvx_problem.variables()[0].value
        if x is None:
            return None
        P = self.problem
        x = np.asarray(x, float)
        a = x[: P.num_degree + 1]
        b = np.concatenate([[1.0], x[P.num_degree + 1:]])
        M, rhs = self._system(np.ones(P.n_samples))
        return {"num": a, "den": b, "weights": np.ones(P.n_samples),
                "subproblem": float(np.sum((M @ x - rhs) ** 2))}

    def run(self, tol: float = 1e-10, verbose: bool = False) -> dict[str, Any]:
        """Sanathanan–Koerner iterations to a fixed point of the weights (relative change of
        ``E_2`` below ``tol``) or ``iterations`` steps."""
        P = self.problem
        w = np.ones(P.n_samples)
        history, best = [], None
        for it in range(self.iterations):
            M, rhs = self._system(w)
            x = np.linalg.lstsq(M, rhs, rcond=None)[0]
            a = x[: P.num_degree + 1]
            b = np.concatenate([[1.0], x[P.num_degree + 1:]])
            e2 = P.objective((a, b))
            sub = float(np.sum((M @ x - rhs) ** 2))
            history.append(e2)
            if verbose:
                print(f"SK {it}: E2 = {e2:.6e}")
            if best is None or e2 < best["e2"]:
                best = {"num": a, "den": b, "weights": w.copy(), "subproblem": sub, "e2": e2}
            q = P.phi_den @ b
            if np.any(np.abs(q) < 1e-300):
                break
            w_new = 1.0 / np.abs(q)
            if it > 0 and abs(history[-2] - e2) <= tol * max(e2, 1e-300):
                break
            w = w_new
        best["history"] = history
        best["iterations"] = len(history)
        return best

    def program_value(self, primal: Any) -> float:
        return float(primal["subproblem"])

    def recover(self, primal: Any) -> RationalModel:
        return RationalModel(primal["num"], primal["den"])

    def certify(self, params: Any, primal: Any) -> Certificate:
        """``lower_bound``: the exact optimum of the last weighted least-squares problem (a
        least-squares optimum needs no dual); no global bound."""
        return Certificate(lower_bound=float(primal["subproblem"]), global_bound=None,
                           info={"sk_history": primal.get("history", [])})


def _sk_accepts(lifted: Any) -> bool:
    return isinstance(lifted, SKLift)


def _sk_run(lifted: SKLift, tol: float = 1e-6, verbose: bool = False, warm_start: Any = None,
            ) -> SolverResult:
    t0 = time.perf_counter()
    out = lifted.run(tol=min(tol, 1e-8), verbose=verbose)
    fixed = len(out["history"]) < lifted.iterations
    return SolverResult(primal=out, status="optimal" if fixed else "max_iters",
                        time=time.perf_counter() - t0, iterations=out["iterations"],
                        message=("Sanathanan-Koerner weights reached a fixed point" if fixed
                                 else f"{lifted.iterations} Sanathanan-Koerner iterations"))


def register() -> None:
    """Register the ``"bisection"`` and ``"sk"`` solvers."""
    from lift.solvers import bisection as _bisection  # noqa: F401  (registers "bisection")
    from lift.solvers import register_solver

    register_solver("sk", _sk_accepts, _sk_run)


register()
