"""The registry of problem families: what the command line and the harness know of each.

A family registers, from its own module, a :class:`Family`: its command-line name, how to add
its arguments (data set, regularization, lift options) to a parser, and how to build the
problem (and its held-out data) from the parsed arguments. The command line's core lists the
registered families and knows nothing else about them.

>>> from lift.families import families
>>> sorted(families())  # doctest: +SKIP
['completion', 'lds', ...]
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["Family", "register_family", "families", "get_family"]


@dataclasses.dataclass(frozen=True)
class Family:
    """A problem family as the command line sees it.

    Attributes
    ----------
    name : str
        The command-line name (``lift solve NAME``, ``lift compare NAME``).
    help : str
        One line for ``lift solve --help``.
    add_arguments : callable
        ``add_arguments(parser, command)`` adds the family's own arguments (data,
        regularization, lift options) to the parser of sub-command ``command`` ("solve" or
        "compare").
    build : callable
        ``build(args) -> (problem, test)``: the problem and its held-out data (whatever
        ``problem.check_test`` accepts, or ``None``).
    lift_options : callable
        ``lift_options(args) -> dict``: keyword arguments of ``problem.lift``.
    defaults : dict
        Defaults of the generic ``compare`` arguments for this family (e.g. ``sizes``,
        ``steps``, ``lr``), applied where the user gave none.
    example : callable, optional
        ``example() -> problem``: a small instance, solved in seconds, that the conformance
        suite (:func:`lift.testing.check_problem`) runs for every registered family.
    check_options : dict
        Keyword arguments of :func:`lift.testing.check_problem` for ``example``.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser, str], None]
    build: Callable[[argparse.Namespace], tuple[Any, Any]]
    lift_options: Callable[[argparse.Namespace], dict[str, Any]] = lambda args: {}
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    example: Callable[[], Any] | None = None
    check_options: dict[str, Any] = dataclasses.field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to the registry (a name registered twice is replaced)."""
    if not isinstance(family, Family):
        raise TypeError(f"`family` must be a lift.families.Family, got "
                        f"{type(family).__name__}.")
    _FAMILIES[family.name] = family
    return family


def families() -> dict[str, Family]:
    """Every registered family, by name (importing :mod:`lift.problems` registers the
    library's own)."""
    import lift.problems  # noqa: F401  (registers the bundled families)

    return dict(_FAMILIES)


def get_family(name: str) -> Family:
    """The family registered as ``name``."""
    known = families()
    if name not in known:
        raise ValueError(f"Unknown problem family {name!r}; choose one of {sorted(known)}.")
    return known[name]
