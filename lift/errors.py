"""Errors and warnings raised by convex-lift, and the input checks that raise them.

Every user-facing check lives here so that messages read alike: they name the argument, say
what was expected, what was received, and how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "LiftError",
    "SolverError",
    "SolverNotAvailableError",
    "PatternCountError",
    "ConvergenceWarning",
    "InaccurateSolutionWarning",
    "check_array",
    "check_positive",
    "check_choice",
    "check_int",
]


class LiftError(Exception):
    """Base class of the library's own errors."""


class SolverError(LiftError, RuntimeError):
    """A solver failed to run (not: failed to converge, which is a status)."""


class SolverNotAvailableError(SolverError, ValueError):
    """A solver is unknown, not installed, or not usable (e.g. MOSEK without a licence)."""


class PatternCountError(LiftError, ValueError):
    """Exact enumeration of activation patterns would be too large."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance."""


class InaccurateSolutionWarning(UserWarning):
    """A solve finished, but its certified duality gap is above the requested tolerance."""


def check_array(
    value: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] = 2,
    dtype: type = np.float64,
    min_rows: int = 1,
) -> np.ndarray:
    """Convert ``value`` to a finite float array of the given dimensionality.

    Raises
    ------
    TypeError
        If ``value`` cannot be read as a numeric array.
    ValueError
        If it has the wrong number of dimensions, too few rows, or non-finite entries.
    """
    if value is None:
        raise TypeError(f"`{name}` must be an array, got None.")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`{name}` must be a numeric array; could not convert {type(value).__name__}: {exc}"
        ) from None
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in ndims:
        hint = ""
        if 2 in ndims and arr.ndim == 1:
            hint = (
                " Reshape your data with array.reshape(-1, 1) if it has a single feature,"
                " or array.reshape(1, -1) if it is a single sample."
            )
        want = " or ".join(f"{k}-D" for k in ndims)
        raise ValueError(f"`{name}` must be a {want} array, got a {arr.ndim}-D array.{hint}")
    if arr.shape[0] < min_rows if arr.ndim else False:
        raise ValueError(
            f"`{name}` must have at least {min_rows} row(s), got shape {arr.shape}. "
            "Pass non-empty data."
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}). Pass non-empty data.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or infinite value(s). Remove or impute them first."
        )
    return arr


def check_positive(value: Any, name: str, *, strict: bool = True) -> float:
    """Return ``value`` as a float, checking that it is a finite number > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    ok = value > 0 if strict else value >= 0
    if not (np.isfinite(value) and ok):
        interval = "(0, inf)" if strict else "[0, inf)"
        raise ValueError(
            f"`{name}` must be a float in the range {interval}. Got {value!r} instead."
        )
    return value


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    choices = list(choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {choices}; got {value!r}.")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")
    return value
