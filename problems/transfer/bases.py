r"""Polynomial bases for rational fitting, chosen so that degrees 10-20 stay well-conditioned.

- Real points on an interval ``[a, b]``: Chebyshev polynomials ``T_j(s)`` of the affine map
  ``s = (2x - a - b) / (b - a)`` onto ``[-1, 1]`` (the Vandermonde matrix of ``T_j`` on
  Chebyshev-like points has condition number growing like ``sqrt(degree)``), or scaled monomials
  ``s^j`` (``basis="monomial"``, ill-conditioned beyond degree ~10; for comparisons).
- Points on the unit circle (discrete-time frequency responses ``z = e^{i\omega}``): powers of
  the delay ``z^{-j}``, orthonormal over equispaced frequencies; coefficients are then those of
  ``scipy.signal`` ``(b, a)`` in powers of ``z^{-1}``.
- Points on the imaginary axis (continuous-time responses ``s = i\omega``): powers of
  ``s / \omega_{max}`` (the frequency scaling); coefficient ``c_j`` of the scaled basis is
  ``c_j / \omega_{max}^j`` in powers of ``s``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KINDS", "BASES", "detect_kind", "basis_matrix", "to_polynomial", "sector_rows"]

#: where the data lives
KINDS = ("interval", "circle", "axis")
#: bases per kind (the first is the default)
BASES = {"interval": ("chebyshev", "monomial"), "circle": ("delay",), "axis": ("scaled",)}


def detect_kind(points: np.ndarray) -> str:
    """``"interval"`` for real points, ``"circle"`` for ``|z| = 1``, ``"axis"`` for
    ``Re z = 0``; ``ValueError`` otherwise."""
    if not np.iscomplexobj(points):
        return "interval"
    scale = max(float(np.max(np.abs(points))), 1e-300)
    if np.all(np.abs(np.abs(points) - 1.0) <= 1e-9):
        return "circle"
    if np.all(np.abs(points.real) <= 1e-12 * scale):
        return "axis"
    raise ValueError("`points` are complex but neither on the unit circle (|z| = 1, "
                     "discrete time) nor on the imaginary axis (Re z = 0, continuous time); "
                     "pass real points for an interval, z = exp(1j * w) or s = 1j * w.")


def basis_matrix(points: np.ndarray, degree: int, kind: str, basis: str,
                 domain: tuple[float, float]) -> np.ndarray:
    r"""``Phi[k, j] = phi_j(points[k])`` for ``j = 0..degree`` (real or complex).

    ``domain`` is ``(a, b)`` for the interval (Chebyshev map) and ``(0, omega_max)`` for the
    imaginary axis (frequency scaling); unused on the circle.
    """
    if kind == "interval":
        a, b = domain
        s = (2.0 * np.real(points) - a - b) / (b - a)
        if basis == "chebyshev":
            return np.polynomial.chebyshev.chebvander(s, degree)
        return np.vander(s, degree + 1, increasing=True)
    if kind == "circle":
        return np.power.outer(points, -np.arange(degree + 1))
    scale = domain[1]
    return np.power.outer(points / scale, np.arange(degree + 1))


def to_polynomial(coef: np.ndarray, kind: str, basis: str,
                  domain: tuple[float, float]) -> np.ndarray:
    """Coefficients in the natural variable, lowest degree first: powers of ``x`` (interval),
    of ``z^{-1}`` (circle, i.e. ``scipy.signal`` ``b``/``a`` order), of ``s`` (axis)."""
    coef = np.asarray(coef, dtype=np.float64)
    if kind == "circle":
        return coef.copy()
    if kind == "axis":
        return coef / domain[1] ** np.arange(coef.size)
    a, b = domain
    power = (np.polynomial.chebyshev.cheb2poly(coef) if basis == "chebyshev" else coef)
    # s = alpha x + beta
    alpha, beta = 2.0 / (b - a), -(a + b) / (b - a)
    return np.polynomial.polynomial.polyval(
        np.polynomial.Polynomial([beta, alpha]), power).coef if power.size > 1 else power


def sector_rows(degree: int, freqs: np.ndarray, tau: float = 0.0) -> np.ndarray:
    r"""Rows ``S`` with ``S b >= 0`` iff ``Re q >= (1 + tau) |Im q|`` at ``z = e^{i w}`` for
    every ``w`` in ``freqs``, where ``q(z) = sum_{j=0}^{degree} b_j z^{-j}`` (Hardt, Ma &
    Recht's acquiescence sector). A ``q`` with ``Re q > 0`` on the whole circle has winding
    number 0 around the origin, so ``z^degree q(z)`` has all its roots inside the unit disc."""
    Z = basis_matrix(np.exp(1j * np.asarray(freqs, float)), degree, "circle", "delay",
                     (0.0, np.pi))
    c = 1.0 + tau
    return np.concatenate([Z.real - c * Z.imag, Z.real + c * Z.imag])
