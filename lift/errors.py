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
    "ResourceLimitError",
    "available_memory",
    "check_memory",
    "ConvergenceWarning",
    "InaccurateSolutionWarning",
    "check_array",
    "check_real_dtype",
    "check_positive",
    "check_choice",
    "check_int",
    "check_seed",
    "check_tol",
    "check_device",
    "TOL_RANGE",
]

#: the tolerances a solve accepts: tighter than 1e-12 is below float64 resolution of a gap,
#: looser than 1e-1 is not a solve
TOL_RANGE = (1e-12, 1e-1)


class LiftError(Exception):
    """Base class of the library's own errors."""


class SolverError(LiftError, RuntimeError):
    """A solver failed to run (not: failed to converge, which is a status)."""


class SolverNotAvailableError(SolverError, ValueError):
    """A solver is unknown, not installed, or not usable (e.g. MOSEK without a licence)."""


class PatternCountError(LiftError, ValueError):
    """Exact enumeration of activation patterns would be too large."""


class ResourceLimitError(LiftError, ValueError):
    """A computation would need more memory than the machine has available; refused before
    anything is allocated."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance."""


class InaccurateSolutionWarning(UserWarning):
    """A solve finished, but its certified duality gap is above the requested tolerance."""


def available_memory(device: Any = None) -> int | None:
    """Bytes of memory available to a new allocation on ``device`` (a ``torch.device`` or
    ``None``). For a CUDA device, the free memory that CUDA reports for it; otherwise
    ``MemAvailable`` of /proc/meminfo, else psutil's estimate, else ``None`` (unknown: no
    guard)."""
    if device is not None and getattr(device, "type", None) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


#: share of the available memory one computation may plan to use
MEMORY_FRACTION = 0.8


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`ResourceLimitError` when ``nbytes`` (an estimate) is above
    :data:`MEMORY_FRACTION` of :func:`available_memory`; the message says ``what`` needs it
    and how to ``fix`` it (name the argument in backticks there)."""
    avail = available_memory()
    if avail is None or nbytes <= MEMORY_FRACTION * avail:
        return
    raise ResourceLimitError(f"{what} would need about {_gib(nbytes)} of memory, but "
                             f"{_gib(avail)} are available. {fix}")


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


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
    check_real_dtype(value, name)
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


#: numpy dtype kinds read as real numbers: booleans (0/1), integers and floats
REAL_KINDS = frozenset("biuf")


def check_real_dtype(value: Any, name: str) -> None:
    """Raise ``TypeError`` unless ``value`` holds real numbers only: complex numbers, dates,
    durations, strings, bytes and other objects would otherwise be cut or cast silently."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must be a numeric array, got a {type(value).__name__}.")
    dt = getattr(value, "dtype", None)
    dtypes = getattr(value, "dtypes", None)  # a pandas DataFrame: one dtype per column
    if dtypes is not None and not isinstance(dtypes, np.dtype):
        kinds = {getattr(d, "kind", "?"): d for d in dtypes}
        if set(kinds) <= REAL_KINDS:
            return
        dt = np.dtype(object) if set(kinds) <= REAL_KINDS | {"O"} else None
        if dt is None:
            _refuse_kind(next(d for k, d in kinds.items() if k not in REAL_KINDS), name)
    elif dt is None or not isinstance(dt, np.dtype):
        try:
            with np.errstate(all="ignore"):
                dt = np.asarray(value).dtype
        except (TypeError, ValueError):
            return  # ragged or odd input: the conversion that follows reports it
    if dt.kind == "O":
        flat = np.asarray(value, dtype=object).ravel()
        bad = [v for v in flat if not isinstance(v, (numbers.Real, np.bool_)) or
               isinstance(v, (str, bytes))]
        if bad:
            raise TypeError(f"`{name}` must hold real numbers only; it holds "
                            f"{type(bad[0]).__name__} {bad[0]!r}. Convert it with "
                            "np.asarray(..., dtype=float) first.")
        return
    _refuse_kind(dt, name)


def _refuse_kind(dt: Any, name: str) -> None:
    kind = getattr(dt, "kind", None)
    if kind in REAL_KINDS:
        return
    what = {"c": "complex numbers (take .real or abs() yourself)", "M": "dates",
            "m": "durations", "U": "strings", "S": "bytes", "V": "records"}
    raise TypeError(f"`{name}` must be a real numeric array (bool, int or float), got dtype "
                    f"{dt}: {what.get(kind, 'not real numbers')}.")


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


def check_tol(value: Any, name: str = "tol") -> float:
    """Return ``value`` as a float in :data:`TOL_RANGE` (a target relative duality gap)."""
    lo, hi = TOL_RANGE
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number in [{lo:g}, {hi:g}], got "
                        f"{type(value).__name__} {value!r}.")
    value = float(value)
    if not lo <= value <= hi:  # NaN fails too
        raise ValueError(f"`{name}` must be a relative tolerance in [{lo:g}, {hi:g}]; got "
                         f"{value!r}. Pass e.g. {name}=1e-6.")
    return value


def check_device(value: Any, name: str = "device"):
    """``value`` (a string such as ``"cpu"``, ``"cuda:0"``, or a ``torch.device``) as a
    ``torch.device`` that this torch installation can use."""
    import torch

    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"`{name}` must be a string such as 'cpu' or 'cuda', or a "
                        f"torch.device; got {type(value).__name__} {value!r}.")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"`{name}` {value!r} is not a torch device; use 'cpu' or "
                         "'cuda' (or 'cuda:K').") from None
    offered = {"cpu": True, "cuda": torch.cuda.is_available(),
               "mps": bool(getattr(torch.backends, "mps", None)
                           and torch.backends.mps.is_available())}
    if not offered.get(dev.type, False):
        usable = [k for k, ok in offered.items() if ok]
        raise ValueError(f"`{name}` {value!r}: this torch installation offers no "
                         f"{dev.type!r} device; use one of {usable}.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"`{name}` {value!r}: torch sees {torch.cuda.device_count()} CUDA "
                         "device(s); pick an index below that.")
    return dev


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """Return ``value`` as a seed: an integer in ``[0, 2**64)`` (what numpy and torch take)."""
    value = check_int(value, name)
    if value >= 2**64:
        raise ValueError(f"`{name}` must be an integer below 2**64, got {value!r}.")
    return value


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    choices = list(choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {choices}; got {value!r}.")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")
    return value
