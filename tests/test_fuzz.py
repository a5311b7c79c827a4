"""The library's own property-based test: malformed and edge inputs at every public entry point.

Hypothesis draws (derandomized, so every run draws the same cases) mutations of valid
baselines: the constructors of every registered family (built from ``lift.testing`` and the
families' examples), ``lift()``, ``solve()``, ``path()`` and ``lift.datasets.load``. Each case
must either work with an honest result (:func:`lift.testing.check_solution`: ``"optimal"`` only
with a certified gap ``<= tol``, ``value == objective(params)``, bounds at or below the value)
or raise ``ValueError``/``TypeError`` whose message names the argument; any other exception,
a silently truncated complex number, or a case over 30 s fails. Solves stay on tiny data,
with every solver (the specialised ones capped at 2,000 iterations).
"""

from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
import toy_family  # noqa: E402,F401  (the test suite's own family: always fuzzed too)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lift.testing import check_solution, constructor_arguments, names_argument  # noqa: E402

#: drawn cases by outcome ("ok", "ValueError", "TypeError") and solver statuses, over the run
OUTCOMES: dict[str, int] = {}
#: longest a single drawn case may take
CASE_SECONDS = 30.0

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

JUNK = [None, "0.1", "abc", b"x", True, False, -1, 0, 0.0, -0.5, math.nan, math.inf, -math.inf,
        1e300, 1e-300, 10**30, 2.5, 1 + 2j, [], [[]], {}, (), object(),
        np.datetime64("2020-01-01"), np.float32(0.5), np.int64(3), np.array(1.0)]

ARRAY_MUTATIONS = ["nan", "inf", "complex", "strings", "objects", "empty", "ravel", "add_axis",
                   "transpose", "drop_row", "huge", "tiny", "scale_up", "scale_down", "dates",
                   "bool", "int", "list", "none", "zeros", "constant", "negative", "tensor"]


def mutate_array(arr: np.ndarray, how: str):
    """One malformed or edge version of ``arr``."""
    import torch

    a = np.array(arr, dtype=np.float64, copy=True)
    flat = a.reshape(-1)
    if how == "nan" and flat.size:
        flat[0] = np.nan
    elif how == "inf" and flat.size:
        flat[-1] = np.inf
    elif how == "complex":
        return a + 1e-3j
    elif how == "strings":
        return a.astype(str)
    elif how == "objects":
        out = a.astype(object)
        if out.size:
            out.reshape(-1)[0] = "1"
        return out
    elif how == "empty":
        return a[:0]
    elif how == "ravel":
        return a.reshape(-1)
    elif how == "add_axis":
        return a[..., None]
    elif how == "transpose":
        return a.T
    elif how == "drop_row":
        return a[1:]
    elif how == "huge":
        return a * 1e300
    elif how == "tiny":
        return a * 1e-300
    elif how == "scale_up":
        return a * 1e8
    elif how == "scale_down":
        return a * 1e-8
    elif how == "dates":
        return a.astype("datetime64[s]")
    elif how == "bool":
        return a > 0
    elif how == "int":
        return np.round(a).astype(np.int64)
    elif how == "list":
        return a.tolist()
    elif how == "none":
        return None
    elif how == "zeros":
        return np.zeros_like(a)
    elif how == "constant":
        return np.ones_like(a)
    elif how == "negative":
        return -a
    elif how == "tensor":
        return torch.as_tensor(a)
    return a


def mutation(value):
    """A strategy of mutants of one argument's valid ``value``."""
    junk = st.sampled_from(JUNK)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return st.one_of(st.sampled_from(ARRAY_MUTATIONS).map(lambda h: mutate_array(value, h)),
                         junk)
    if isinstance(value, bool):
        return st.one_of(st.just(not value), junk)
    if isinstance(value, (int, float)):
        return st.one_of(st.sampled_from([value * 1e8, value * 1e-8, -value, value + 0.5,
                                          2 * value, 0]), junk)
    return junk


def run_case(fn):
    """Run one case: it returns normally or raises ValueError/TypeError naming an argument;
    never another exception type, never a complex number cut to its real part, within
    :data:`CASE_SECONDS`."""
    start = time.perf_counter()
    outcome = "ok"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            fn()
        except (ValueError, TypeError) as exc:
            assert names_argument(exc), f"the error names no argument: {exc!r}"
            outcome = type(exc).__name__
    elapsed = time.perf_counter() - start
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
    assert elapsed < CASE_SECONDS, f"case took {elapsed:.1f} s"


def solve_checked(lifted, solver: str, tol: float, **options):
    """Solve and check the result's honesty (:func:`lift.testing.check_solution`)."""
    sol = lifted.solve(solver=solver, tol=tol, **options)
    check_solution(lifted, sol, float(tol), solver)
    key = f"status {sol.status}"
    OUTCOMES[key] = OUTCOMES.get(key, 0) + 1
    return sol


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------
def relu_data(n: int, d: int, loss: str, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y > 0, 1.0, -1.0)
    return X, y


def family_baselines() -> dict[str, tuple[type, dict]]:
    """``name -> (class, keyword arguments)`` of a small valid instance of every registered
    family: the family's example rebuilt from its attributes, or (factorization, whose
    examples keep their data in another form) from the same generators."""
    from lift.families import families
    from lift.problems.factorization import data as fdata

    out = {}
    for name, fam in families().items():
        if fam.example is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob = fam.example()
        kwargs = constructor_arguments(prob)
        if kwargs is not None:
            try:
                type(prob)(**kwargs)
            except (ValueError, TypeError):
                kwargs = None
        if kwargs is None:
            if name == "completion":
                d = fdata.low_rank(6, 5, 1, fraction=0.6, noise=0.05, seed=0)
                kwargs = {"M": d.train, "lam": 0.5, "shape": d.shape}
            elif name == "psd":
                d = fdata.low_rank_psd(5, 1, fraction=0.7, noise=0.05, seed=0)
                kwargs = {"M": d.train, "lam": 0.3, "n": 5}
            elif name == "sensing":
                rng = np.random.default_rng(0)
                A = rng.standard_normal((12, 12)) / np.sqrt(12)
                kwargs = {"A": A, "b": A @ rng.standard_normal(12), "shape": (4, 3),
                          "lam": 0.3}
            else:  # a family whose constructor cannot be rebuilt: its lift and solve only
                kwargs = {}
        out[name] = (type(prob), kwargs, fam.example)
    return out


BASELINES = family_baselines()


def test_every_family_has_a_baseline():
    from lift.families import families

    assert set(BASELINES) == {n for n, f in families().items() if f.example is not None}
    assert all(kwargs for _cls, kwargs, _ex in BASELINES.values())


# --------------------------------------------------------------------------------------------
# TwoLayerReLU: constructor, lift, solve, path
# --------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=350)
@given(st.data())
def test_fuzz_relu_constructor(data):
    from lift.problems import TwoLayerReLU

    loss = data.draw(st.sampled_from(["squared", "logistic", "hinge"]))
    n = data.draw(st.integers(1, 6))
    X, y = relu_data(n, data.draw(st.integers(1, 2)), loss, 0)
    args = {"X": X, "y": y, "beta": 1e-2, "loss": loss, "bias": True}
    key = data.draw(st.sampled_from(sorted(args)))
    args[key] = data.draw(mutation(args[key]) if key != "loss"
                          else st.one_of(st.sampled_from(["l1", "SQUARED", ""]),
                                         st.sampled_from(JUNK)))

    size = data.draw(st.sampled_from([1, 2] * 8 + [0, -1, 1.5, 10**12, "2", None]))
    seed = data.draw(st.sampled_from([0, 3] * 8 + [-1, 2**64, 10**30, 1.0, "0", None]))

    def case():
        prob = TwoLayerReLU(**args)
        value = prob.objective(prob.model(2))
        assert isinstance(value, float)
        prob.model(size, seed)

    run_case(case)


def lift_options(data) -> dict:
    """Valid lift options, one of them possibly replaced by junk."""
    opts = {"patterns": data.draw(st.sampled_from(["exact", "auto", 5, 40])),
            "program": data.draw(st.sampled_from(["cone", "gated"]))}
    bad = data.draw(st.sampled_from([None] * 12 + ["patterns", "program", "seed",
                                                   "max_patterns", "verify", "include"]))
    if bad == "patterns":
        opts["patterns"] = data.draw(st.one_of(
            st.sampled_from(JUNK), st.sampled_from(["all", "EXACT", 0, -3, 10**12]),
            st.sampled_from(ARRAY_MUTATIONS).map(lambda h: mutate_array(np.ones((3, 3)), h))))
    elif bad is not None:
        opts[bad] = data.draw(st.sampled_from(JUNK + [10**12, -1, 1]))
    return opts


def solve_options(data, program: str) -> tuple[str, object, dict]:
    """A solver, a tolerance and options, one of them possibly junk."""
    fast = ["auto", "clarabel", "scs", "active_set"] + (["fista"] if program == "gated" else ["al"])
    solver = data.draw(st.sampled_from(fast))
    tol = data.draw(st.sampled_from([1e-6, 1e-4, 1e-8, 1e-2]))
    opts: dict = {}
    bad = data.draw(st.sampled_from([None] * 14 + ["solver", "tol", "warm_start", "device",
                                                   "verbose", "max_iters", "unknown"]))
    if bad == "solver":
        solver = data.draw(st.sampled_from(JUNK + ["gurobi", "CLARABEL", "al ", ""]))
    elif bad == "tol":
        tol = data.draw(st.sampled_from(JUNK + [10.0, 0.5, 1e-13, 1e-12, 0.1]))
    elif bad == "warm_start":
        opts["warm_start"] = data.draw(st.one_of(st.sampled_from(JUNK), st.sampled_from(
            [{"V": np.zeros((2, 2))}, {"U": 1}, {"V": None}, {"V": "x"}])))
    elif bad == "device" and solver in ("fista", "active_set", "al"):
        opts["device"] = data.draw(st.sampled_from(JUNK + ["nope", "cuda", "cuda:7", "cpu"]))
    elif bad == "verbose":
        opts["verbose"] = data.draw(st.sampled_from(["no", 2, None]))
    elif bad == "max_iters":
        opts["max_iters"] = data.draw(st.sampled_from([0, -1, 1, 3, 2.5, "10", None]))
    elif bad == "unknown":
        opts[data.draw(st.sampled_from(["bogus", "eps", "rho_x", "max_iter"]))] = 1
    if solver in ("fista", "active_set", "al") and "max_iters" not in opts:
        opts["max_iters"] = 2000  # tiny programs: bounded work whatever the data
    return solver, tol, opts


@settings(FUZZ, max_examples=400)
@given(st.data())
def test_fuzz_relu_lift_and_solve(data):
    """Data of any scale (1e-8 ... 1e8, with matching beta), any lift and solve options."""
    from lift.problems import TwoLayerReLU

    loss = data.draw(st.sampled_from(["squared", "logistic", "hinge"]))
    n, d = data.draw(st.integers(2, 7)), data.draw(st.integers(1, 2))
    X, y = relu_data(n, d, loss, data.draw(st.integers(0, 3)))
    cx = 10.0 ** data.draw(st.integers(-8, 8))
    cy = 10.0 ** data.draw(st.integers(-8, 8)) if loss == "squared" else 1.0
    beta = 10.0 ** data.draw(st.integers(-4, 1)) * cx * cy
    prob = TwoLayerReLU(cx * X, cy * y, beta, loss=loss)
    lopts = lift_options(data)
    solver, tol, sopts = solve_options(data, lopts.get("program", "cone"))

    def case():
        lifted = prob.lift(**lopts)
        verbose = sopts.pop("verbose", False)
        solve_checked(lifted, solver, tol, verbose=verbose, **sopts)

    run_case(case)


@settings(FUZZ, max_examples=60)
@given(st.data())
def test_fuzz_path(data):
    from lift.problems import TwoLayerReLU

    X, y = relu_data(5, 1, "squared", 0)
    prob = TwoLayerReLU(X, y, 1e-2)
    values = data.draw(st.one_of(
        st.lists(st.sampled_from([1e-3, 1e-2, 0.1, 1.0, 1e3]), min_size=1, max_size=3),
        st.sampled_from(JUNK + [[0.1, -1.0], [0.1, math.nan], [[0.1]], np.array([]),
                                "0.1", [0.1, "x"]])))
    tol = data.draw(st.sampled_from([1e-6, 1e-3] + JUNK[:8]))
    solver = data.draw(st.sampled_from(["auto", "clarabel", "nope"]))

    def case():
        sols = prob.path(values, solver=solver, tol=tol)
        lifted = prob.lift()
        assert len(sols) == np.atleast_1d(values).size
        for sol, beta in zip(sols, np.atleast_1d(values), strict=True):
            check_solution(lifted.reweight(float(beta)), sol, float(tol), solver)

    run_case(case)


# --------------------------------------------------------------------------------------------
# Every other registered family: constructor arguments, lift and solve
# --------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=260)
@given(st.data())
def test_fuzz_families(data):
    names = sorted(n for n in BASELINES if n != "relu")
    name = data.draw(st.sampled_from(names))
    cls, kwargs, example = BASELINES[name]
    args = dict(kwargs)
    key = data.draw(st.sampled_from(sorted(args) + [None] * len(args)))
    if key is not None:
        value = args[key]
        if isinstance(value, tuple) and value and isinstance(value[-1], np.ndarray):
            part = data.draw(st.integers(0, len(value) - 1))
            args[key] = value[:part] + (data.draw(mutation(value[part])),) + value[part + 1:]
        else:
            args[key] = data.draw(mutation(value))
    do_solve = data.draw(st.booleans())
    tol = data.draw(st.sampled_from([1e-6, 1e-4, 1e-3]))

    size = data.draw(st.sampled_from([1, 2] * 8 + [0, -1, 1.5, 10**12, "2", None]))
    seed = data.draw(st.sampled_from([0, 3] * 8 + [-1, 2**64, 10**30, 1.0, "0", None]))

    def case():
        prob = cls(**args)
        prob.objective(prob.model(1))
        prob.model(size, seed)
        if do_solve:
            lifted = prob.lift()
            solvers = ["auto"] + [s for s in ("clarabel", "scs")
                                  if s in __import__("lift.solvers").solvers.usable_solvers()]
            solver = solvers[data.draw(st.integers(0, len(solvers) - 1))]
            if "bisection" in lifted.solvers():
                solver = "auto"
            solve_checked(lifted, solver, tol)

    run_case(case)


@settings(FUZZ, max_examples=60)
@given(st.data())
def test_fuzz_family_solve_options(data):
    """Every family's example under junk solve options."""
    name = data.draw(st.sampled_from(sorted(BASELINES)))
    _cls, _kwargs, example = BASELINES[name]
    solver = data.draw(st.sampled_from(["auto", "nope", None, 3]))
    tol = data.draw(st.sampled_from(JUNK[:14] + [10.0, 1e-13]))
    extra = data.draw(st.sampled_from([{}, {"bogus": 1}, {"warm_start": "garbage"},
                                       {"max_iters": 0}]))

    def case():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lifted = example().lift()
        solve_checked(lifted, solver, tol, **extra)

    run_case(case)


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=160)
@given(st.data())
def test_fuzz_datasets(data):
    from lift.datasets import Dataset, list_datasets, load

    names = [n for n in list_datasets() if n != "digits"]  # digits: slow to split, same code
    name = data.draw(st.sampled_from(names + ["nope", None, 3]))
    test_size = data.draw(st.sampled_from([0.2, 0.0, 0.5, 0.99, 0.999999, 1.0, -0.1]
                                          + JUNK[:14]))
    seed = data.draw(st.sampled_from([0, 1, -1, 2.5, "0", None, 10**30]))
    extra = data.draw(st.sampled_from([{}, {"n": 2}, {"n": 3}, {"n": 0}, {"n": 10**9},
                                       {"n": "5"}, {"noise": math.nan}, {"noise": "0.1"},
                                       {"noise": 0.0}, {"noise": 1e300}, {"bogus": 1}]))

    def case():
        ds = load(name, test_size=test_size, seed=seed, **extra)
        if isinstance(ds, Dataset):
            assert ds.X_train.shape[0] >= 2
            assert test_size == 0 or ds.X_test.shape[0] >= 1
            for arr in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
                assert np.all(np.isfinite(arr))

    run_case(case)


def test_fuzz_drew_enough_cases():
    """Runs last: at least 1,000 cases were drawn, and many of them solved (this file run
    alone or in the whole suite; skipped when the fuzz tests were deselected)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("under pytest-xdist each worker counts only the cases it drew")
    total = sum(v for k, v in OUTCOMES.items() if not k.startswith("status"))
    if total == 0:
        pytest.skip("the fuzz tests did not run")
    solved = sum(v for k, v in OUTCOMES.items() if k.startswith("status"))
    print(OUTCOMES)
    assert total >= 1000, OUTCOMES
    assert solved >= 100 and OUTCOMES.get("ok", 0) >= 300, OUTCOMES
