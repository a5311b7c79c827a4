"""Offline datasets: scikit-learn's bundled sets and seeded generators.

Nothing here downloads. The bundled ``(X, y)`` sets (``kind="xy"``) load as a :class:`Dataset`
with a train/test split; features are standardized on the training split, regression targets
too, and classification labels are in {-1, +1}.

Data that are not ``(X, y)`` pairs (observed matrix entries, input/output signals of a
system, ...) have a place too: a problem family registers its own loaders from its module with
:func:`register_dataset` under a ``kind`` of its choosing (e.g. ``"matrix"``, ``"system"``);
:func:`load` returns whatever such a loader returns and :func:`list_datasets` lists the names,
of one kind or of all:

>>> from lift.datasets import register_dataset, list_datasets, load
>>> register_dataset("tiny-entries", lambda seed=0: {"rows": [0, 1], "cols": [1, 0]},
...                  kind="matrix", description="two observed entries")
>>> "tiny-entries" in list_datasets(kind="matrix")
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from lift.errors import check_choice, check_int, check_memory, check_positive

__all__ = ["Dataset", "load", "list_datasets", "register_dataset", "dataset_kind",
           "toy_1d", "toy_2d", "toy_2d_classification", "DATASETS", "XY", "split_xy",
           "check_noise", "check_rows", "MIN_TRAIN", "MIN_TEST"]

#: the kind of the bundled (X, y) sets, loaded as a :class:`Dataset`
XY = "xy"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split of one dataset."""

    name: str
    task: str  # "regression" | "classification"
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str = ""

    @property
    def loss(self) -> str:
        """The natural loss for the task ("squared" or "logistic")."""
        return "squared" if self.task == "regression" else "logistic"

    @property
    def shape(self) -> tuple[int, int]:
        return self.X_train.shape

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, {self.task}, train={self.X_train.shape}, "
                f"test={self.X_test.shape})")


#: a split must leave at least this many training rows, and this many test rows unless
#: ``test_size=0``
MIN_TRAIN, MIN_TEST = 2, 1


def split_xy(name, task, X, y, test_size, seed, description, standardize=True) -> Dataset:
    """A :class:`Dataset` from ``(X, y)``: a seeded train/test split (features standardized on
    the training rows when ``standardize``).

    Raises ``ValueError`` naming ``test_size`` when the split leaves fewer than
    :data:`MIN_TRAIN` training rows or (for ``test_size > 0``) fewer than :data:`MIN_TEST`
    test rows, and when the arrays hold NaN or infinite values.
    """
    test_size = _check_test_size(test_size)
    seed = check_int(seed, "seed")
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    perm = rng.permutation(n)
    n_test = int(round(test_size * n))
    if n - n_test < MIN_TRAIN or (test_size > 0 and n_test < MIN_TEST):
        raise ValueError(
            f"`test_size`={test_size:g} of {n} rows leaves {n - n_test} training and {n_test} "
            f"test rows; a split needs at least {MIN_TRAIN} training rows and (unless "
            f"test_size=0) {MIN_TEST} test row. Pick test_size in about "
            f"[{MIN_TEST / n:.2g}, {1 - MIN_TRAIN / n:.2g}] or more rows (`n`).")
    test, train = perm[:n_test], perm[n_test:]
    Xtr, Xte, ytr, yte = X[train], X[test], y[train].astype(float), y[test].astype(float)
    if standardize:
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd[sd == 0] = 1.0
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        if task == "regression":
            m, s = ytr.mean(), ytr.std() or 1.0
            ytr, yte = (ytr - m) / s, (yte - m) / s
    for arr, what in ((Xtr, "X_train"), (ytr, "y_train"), (Xte, "X_test"), (yte, "y_test")):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"dataset {name!r}: {what} holds NaN or infinite values; check "
                             "the generator's arguments (`noise`, `n`).")
    return Dataset(name, task, Xtr, ytr, Xte, yte, description)


def _check_test_size(test_size: Any) -> float:
    test_size = check_positive(test_size, "test_size", strict=False)
    if test_size >= 1:
        raise ValueError(f"`test_size` must be in [0, 1), got {test_size}.")
    return test_size


def _sklearn(loader: str, task: str, positive: Callable[[np.ndarray], np.ndarray] | None,
             description: str):
    def load_it(test_size: float = 0.2, seed: int = 0, n: int | None = None) -> Dataset:
        import sklearn.datasets

        if n is not None:
            n = check_int(n, "n", minimum=MIN_TRAIN)
        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        X = np.asarray(X, dtype=np.float64)
        if positive is not None:
            y = np.where(positive(y), 1.0, -1.0)
        if n is not None and n < X.shape[0]:
            idx = np.random.default_rng(seed + 1).choice(X.shape[0], n, replace=False)
            X, y = X[np.sort(idx)], y[np.sort(idx)]
        name = loader.replace("load_", "")
        return split_xy(name, task, X, y, test_size, seed, description)

    return load_it


def check_rows(n: Any, d: int) -> int:
    """``n`` as a number of rows ``>= MIN_TRAIN`` whose ``(n, d)`` float data (and the copies a
    split makes) fit in the available memory."""
    n = check_int(n, "n", minimum=MIN_TRAIN)
    check_memory(4 * 8 * n * (d + 2), f"`n`={n:,} rows of {d} feature(s)", "Pass a smaller n.")
    return n


def check_noise(noise: Any) -> float:
    """``noise`` as a finite float ``>= 0`` (a standard deviation)."""
    return check_positive(noise, "noise", strict=False)


def toy_1d(n: int = 40, noise: float = 0.1, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """1-D regression: a noisy sine-like curve on [-2, 2]."""
    n, noise = check_rows(n, 1), check_noise(noise)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    y = np.sin(2 * x) + 0.3 * x + noise * rng.standard_normal(n)
    return split_xy("toy1d", "regression", x[:, None], y, test_size, seed,
                  "noisy sin(2x) + 0.3x on [-2, 2]", standardize=False)


def toy_2d(n: int = 30, noise: float = 0.05, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """2-D regression: a bumpy surface on the square [-1, 1]^2."""
    n, noise = check_rows(n, 2), check_noise(noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + noise * rng.standard_normal(n)
    return split_xy("toy2d", "regression", X, y, test_size, seed,
                  "sin(2 x1) cos(1.5 x2) on [-1, 1]^2", standardize=False)


def toy_2d_classification(n: int = 30, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """2-D classification: XOR of the signs of the coordinates, labels in {-1, +1}."""
    n = check_rows(n, 2)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    return split_xy("xor", "classification", X, y, test_size, seed,
                  "XOR of coordinate signs on [-1, 1]^2", standardize=False)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "diabetes": _sklearn("load_diabetes", "regression", None,
                         "scikit-learn diabetes progression, 442 x 10, standardized"),
    "breast_cancer": _sklearn("load_breast_cancer", "classification", lambda y: y == 1,
                              "scikit-learn breast cancer (benign = +1), 569 x 30"),
    "wine": _sklearn("load_wine", "classification", lambda y: y == 0,
                     "scikit-learn wine, class 0 against the rest, 178 x 13"),
    "iris": _sklearn("load_iris", "classification", lambda y: y == 1,
                     "scikit-learn iris, versicolor against the rest, 150 x 4"),
    "digits": _sklearn("load_digits", "classification", lambda y: y % 2 == 0,
                       "scikit-learn digits, even against odd, 1797 x 64"),
    "toy1d": toy_1d,
    "toy2d": toy_2d,
    "xor": toy_2d_classification,
}


#: name -> (loader, kind, description) of every registered dataset
_REGISTRY: dict[str, tuple[Callable[..., Any], str, str]] = {}


def register_dataset(name: str, loader: Callable[..., Any], *, kind: str = XY,
                     description: str = "") -> None:
    """Register ``loader`` as dataset ``name`` of kind ``kind`` (a name registered twice is
    replaced).

    Parameters
    ----------
    name : str
        The name :func:`load` and the command line accept.
    loader : callable
        ``loader(seed=..., **kwargs)`` returns the data; for ``kind="xy"`` it also takes
        ``test_size`` and must return a :class:`Dataset`, for other kinds any object the
        family's problem reads (e.g. index triplets of observed matrix entries).
    kind : str
        What the loader returns: ``"xy"`` for (X, y) sets, or a family's own kind.
    description : str
        One line for listings.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")
    if not callable(loader):
        raise TypeError(f"`loader` must be callable, got {type(loader).__name__}.")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"`kind` must be a non-empty string such as 'xy', got {kind!r}.")
    _REGISTRY[name] = (loader, kind, str(description))
    if kind == XY:
        DATASETS[name] = loader
    else:
        DATASETS.pop(name, None)


def dataset_kind(name: str) -> str:
    """The kind of registered dataset ``name``."""
    _register_families()
    check_choice(name, "data", _REGISTRY)
    return _REGISTRY[name][1]


def list_datasets(kind: str | None = None) -> list[str]:
    """Names accepted by :func:`load`: all of them, or those of one ``kind`` (``"xy"``
    for the (X, y) sets)."""
    _register_families()
    return [n for n, (_l, k, _d) in _REGISTRY.items() if kind is None or k == kind]


def _register_families() -> None:
    """Problem families register their own datasets when imported."""
    import lift.problems  # noqa: F401


def load(name: str, test_size: float = 0.2, seed: int = 0, **kwargs: Any) -> Any:
    """Load dataset ``name`` (see :func:`list_datasets`).

    An (X, y) set (kind ``"xy"``) comes as a :class:`Dataset` with a seeded train/test split
    of fraction ``test_size``; a dataset of another kind is whatever its loader returns
    (``loader(seed=seed, **kwargs)``).
    """
    _register_families()
    check_choice(name, "data", _REGISTRY)
    loader, kind, _ = _REGISTRY[name]
    seed = check_int(seed, "seed")
    _check_kwargs(loader, name, kwargs)
    if kind != XY:
        return loader(seed=seed, **kwargs)
    return loader(test_size=_check_test_size(test_size), seed=seed, **kwargs)


def _check_kwargs(loader: Callable[..., Any], name: str, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments that ``loader`` does not take, naming them and those it does."""
    import inspect

    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        known = sorted(set(params) - {"seed", "test_size"})
        raise TypeError(f"dataset {name!r} takes no argument(s) "
                        f"{', '.join(f'`{k}`' for k in unknown)}; it takes {known}.")


for _name, _loader in list(DATASETS.items()):
    register_dataset(_name, _loader, kind=XY, description=(_loader.__doc__ or "").split("\n")[0])
