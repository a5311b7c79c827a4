"""Data generators of the transfer family (offline, seeded): classic approximation problems,
``scipy.signal`` filter responses and random stable systems (see also
:func:`lift.problems.transfer.lds.lds_data`)."""

from __future__ import annotations

import numpy as np

from lift.errors import check_choice, check_int, check_positive

__all__ = ["FUNCTIONS", "FILTERS", "classic", "filter_response"]

#: name -> (function, default interval)
FUNCTIONS = {
    "exp": (np.exp, (-3.0, 3.0)),               # Boyd & Vandenberghe A6.2
    "abs": (np.abs, (-1.0, 1.0)),               # Newman's problem
    "runge": (lambda x: 1.0 / (1.0 + 25.0 * x ** 2), (-1.0, 1.0)),
    "tanh": (lambda x: np.tanh(5.0 * x), (-1.0, 1.0)),
    "sqrt": (np.sqrt, (0.0, 1.0)),
}
FILTERS = ("butter", "cheby1", "cheby2", "ellip")


def classic(name: str, points: int = 201,
            interval: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, f(x))`` on ``points`` equispaced points of the interval (default: the classic
    one)."""
    check_choice(name, "name", list(FUNCTIONS))
    n = check_int(points, "points", minimum=2)
    f, default = FUNCTIONS[name]
    a, b = interval if interval is not None else default
    if not a < b:
        raise ValueError(f"`interval` must be (a, b) with a < b, got {interval!r}.")
    x = np.linspace(a, b, n)
    return x, f(x)


def filter_response(kind: str = "butter", order: int = 6, cutoff: float = 0.3,
                    points: int = 200) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Frequency response of a ``scipy.signal`` low-pass design (cutoff as a fraction of the
    Nyquist frequency) on ``points`` frequencies of ``[0, pi]``: ``(z, h, (b, a))`` with
    ``z = exp(1j w)``."""
    import scipy.signal

    check_choice(kind, "kind", FILTERS)
    n = check_int(order, "order", minimum=1)
    wc = check_positive(cutoff, "cutoff")
    if wc >= 1:
        raise ValueError(f"`cutoff` must be in (0, 1) (a fraction of Nyquist), got {cutoff}.")
    design = {"butter": lambda: scipy.signal.butter(n, wc),
              "cheby1": lambda: scipy.signal.cheby1(n, 1.0, wc),
              "cheby2": lambda: scipy.signal.cheby2(n, 40.0, wc),
              "ellip": lambda: scipy.signal.ellip(n, 1.0, 40.0, wc)}[kind]
    b, a = design()
    w = np.linspace(0.0, np.pi, check_int(points, "points", minimum=2))
    _, h = scipy.signal.freqz(b, a, worN=w)
    return np.exp(1j * w), h, (b, a)
