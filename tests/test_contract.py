"""The written contract: every registered family passes the conformance suite, and the generic
modules name no family's vocabulary."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest
from toy_family import VectorProduct

from lift.datasets import load
from lift.families import families
from lift.testing import ConformanceError, check_problem

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(families()))
def test_every_registered_family_passes_check_problem(name):
    family = families()[name]
    assert family.example is not None, f"family {name!r} registers no example instance"
    sols = check_problem(family.example, **family.check_options)
    assert any(s.status == "optimal" for s in sols.values())


def test_toy_family_bound_is_the_closed_form():
    """check_problem ran the toy family above; its certified bound is the closed form."""
    c, lam = load("toy-vector"), 0.7
    sols = check_problem(lambda: VectorProduct(c, lam), sizes=(1,), train_steps=0)
    # x = c (1 - lam / ||c||)_+, value lam ||c|| - lam^2 / 2
    optimum = lam * np.linalg.norm(c) - lam**2 / 2
    for sol in sols.values():
        assert sol.global_bound == pytest.approx(optimum, rel=1e-6)
        assert sol.size == 1


def test_conformance_suite_catches_a_broken_family():
    """A family whose torch objective differs from its numpy one fails, naming the check."""

    class Broken(VectorProduct):
        def objective(self, params):
            return super().objective(params) + 1e-3

    with pytest.raises(ConformanceError, match=r"\[objective\]"):
        check_problem(lambda: Broken(np.ones(4), 0.1), sizes=(1,))


GENERIC = ["lift/base.py", "lift/compare.py", "lift/store.py", "lift/plots.py", "lift/cli.py",
           "lift/families.py", "lift/testing.py", "lift/datasets.py", "lift/losses.py",
           "solvers/__init__.py", "solvers/conic.py", "solvers/sgd.py", "solvers/proxgrad.py",
           "solvers/newton.py", "solvers/group_lasso.py", "solvers/augmented_lagrangian.py",
           "solvers/working_set.py", "solvers/monitor.py", "solvers/linalg.py",
           "solvers/prox.py", "solvers/soft_impute.py", "solvers/bisection.py"]
VOCABULARY = re.compile(r"\b(pattern|patterns|gate|gates|gated|neuron|neurons|relu|ReLU"
                        r"|TwoLayerReLU|Xa)\b|\balpha\b(?!=)")  # matplotlib's alpha= is fine


@pytest.mark.parametrize("path", GENERIC)
def test_generic_modules_name_no_family_vocabulary(path):
    text = (ROOT / path).read_text()
    hits = [f"{i + 1}: {line.strip()}" for i, line in enumerate(text.splitlines())
            if VOCABULARY.search(line)]
    assert not hits, f"{path} names a family's vocabulary:\n" + "\n".join(hits)
    assert not re.search(r"isinstance\((prob|problem|lifted), (?!(Problem|Lifted)\b)", text)
