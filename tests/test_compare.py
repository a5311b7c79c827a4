"""The comparison harness: certificates are never beaten, wide networks reach the optimum."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pandas as pd
import pytest

import lift
from lift.compare import CONVEX
from lift.datasets import load
from lift.problems import TwoLayerReLU
from lift.solvers.sgd import TrainConfig

#: settings under which Adam reaches the toy1d optimum in a few thousand steps
SWEEP = {"sizes": [1, 2, 16, 32], "seeds": 4,
         "train": TrainConfig(optimizer="adam", steps=3000, lr=1e-2), "n_jobs": 1,
         "population": "all"}


@pytest.fixture(scope="module")
def toy1d():
    data = load("toy1d")
    return TwoLayerReLU(data.X_train, data.y_train, beta=0.1), data


@pytest.fixture(scope="module")
def sweep(toy1d):
    prob, data = toy1d
    return lift.compare(prob, test=(data.X_test, data.y_test), **SWEEP)


def test_no_run_beats_the_certificate_and_wide_networks_reach_it(toy1d, sweep):
    prob, _ = toy1d
    table = sweep.table
    conv = table[table["method"] == CONVEX]
    assert len(conv) == 1 and bool(conv["exact"].iloc[0])
    bound = sweep.global_bound
    assert bound is not None
    assert bound <= sweep.optimum <= bound + 1e-6 * abs(bound)  # certified duality gap
    runs = sweep.runs
    assert len(runs) == 4 * 4
    # the certificate: no network of any width ends below the global bound
    assert (runs["objective"] >= bound - 1e-9 * abs(bound)).all()
    assert not runs["below_bound"].astype(bool).any()
    summ = sweep.summary().set_index("size")
    # narrow networks stall far above the optimum; wide ones reach it for most seeds
    assert summ.loc[1, "reached"] == 0 and summ.loc[1, "min_gap"] > 0.5
    assert summ.loc[2, "reached"] == 0
    assert summ.loc[16, "fraction"] >= 0.75
    assert summ.loc[32, "fraction"] >= 0.75
    assert sweep.reach_size() in (16, 32)
    assert summ.attrs["reach_size"] == {"adam": sweep.reach_size()}


def test_table_values_are_the_problem_objective(toy1d, sweep):
    prob, data = toy1d
    runs = sweep.runs
    for _, row in runs.sample(4, random_state=0).iterrows():
        net = sweep.model(row["size"], row["seed"], prob)
        assert math.isclose(row["objective"], prob.objective(net), rel_tol=1e-12)
        gap = (row["objective"] - sweep.optimum) / abs(sweep.optimum)
        assert math.isclose(row["rel_gap"], gap, rel_tol=1e-12, abs_tol=1e-15)
        test_error = prob.loss.error(prob.predict(net, data.X_test), data.y_test)
        assert math.isclose(row["test_error"], test_error, rel_tol=1e-12)
        assert math.isclose(row["train_error"], prob.evaluate(net)["train_error"],
                            rel_tol=1e-12)
        assert row["effective_size"] == prob.effective_size(net)
        assert 1 <= row["effective_size"] <= row["size"]
        traj = sweep.trajectories[("adam", row["size"], row["seed"])]
        assert traj["step"][-1] == row["steps"] == SWEEP["train"].steps
        assert math.isclose(traj["objective"][-1], row["objective"], rel_tol=1e-12)
    with pytest.raises(ValueError, match="not the problem of this sweep"):
        sweep.model(row["size"], row["seed"], prob.with_beta(2 * prob.beta))
    conv = sweep.table[sweep.table["method"] == CONVEX].iloc[0]
    assert conv["objective"] == sweep.optimum
    assert conv["gap"] >= 0
    # one meaning per column: the convex row has no requested size, its effective size is
    # the recovered network's, and every row carries the problem's and the program's facts
    assert pd.isna(conv["size"]) and pd.isna(conv["seed"]) and pd.isna(conv["steps"])
    assert conv["effective_size"] >= 1 and conv["program"] == "cone" and conv["patterns"] > 0
    assert (sweep.table["beta"] == prob.beta).all() and (sweep.table["n"] == prob.n).all()


def test_summary_and_plot(sweep, tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    summ = sweep.summary(reach=10.0)  # a loose reach: everything above size 1 reaches it
    assert list(summ["size"]) == [1, 2, 16, 32]
    assert (summ["reached"] <= summ["seeds"]).all()
    fig = sweep.plot()
    assert len(fig.axes) == 2
    assert fig.axes[0].get_yscale() == "log"
    assert fig.axes[0].get_xlabel() == "width"  # the problem's size_name, not "neurons"
    paths = sweep.save(tmp_path)
    assert matplotlib.get_backend() == backend  # the global backend is left alone
    for path in paths.values():
        assert (tmp_path / path.split("/")[-1]).stat().st_size > 0
    back = pd.read_csv(paths["table.csv"])
    np.testing.assert_allclose(back["objective"], sweep.table["objective"])
    text = sweep.format_summary()
    assert "certified global lower bound" in text and "below the certified global bound: 0" \
        in text


def test_sampled_lift_gives_a_convex_value_no_run_beats(tmp_path):
    """10-D inputs: the sampled program alone is beaten by wide networks; the program that also
    contains every trained network (refined by column generation) is not, rigorously."""
    data = load("diabetes")
    prob = TwoLayerReLU(data.X_train[:120], data.y_train[:120], beta=1.0)
    kw = {"sizes": [2, 32], "seeds": 2, "train": {"steps": 400, "lr": 2e-2},
          "lift": {"patterns": 20}, "solver": "clarabel", "n_jobs": 1}
    plain = lift.compare(prob, include_runs=False, **kw)
    assert plain.reference["method"] == "convex" and not plain.certified
    assert (plain.runs["rel_gap"] < 0).any()  # the premise: wide networks beat it
    assert plain.runs["below_convex"].isna().all()
    assert "larger models may go below it" in plain.format_summary()
    cmp = lift.compare(prob, refine_rounds=1, store=tmp_path / "s", **kw)
    ref = cmp.reference
    assert ref["method"] == "convex+runs" and ref["models"] == 4
    assert ref["patterns"] > 20 and ref["added"] >= 0 and ref["max_violation"] > 0
    assert cmp.optimum < plain.optimum
    # every run is above the certified lower bound of the program that contains it
    assert (cmp.runs["objective"] >= ref["lower_bound"] - 1e-9 * abs(ref["lower_bound"])).all()
    assert not cmp.runs["below_convex"].astype(bool).any()
    assert (cmp.runs["rel_gap"] >= -1e-6).all()
    text = cmp.format_summary()
    assert "no run can go below it" in text and "NOT a global certificate" in text
    assert "runs below the certified lower bound of that program: 0 of 4" in text
    # both convex rows are kept, and the store gives the same comparison back
    assert list(cmp.table["method"][:2]) == ["convex", "convex+runs"]
    labels = [t.get_text() for t in cmp.plot().axes[1].get_legend().get_texts()]
    assert any(t.startswith("convex value") for t in labels)
    assert any(t.startswith("program without the runs") for t in labels)
    again = lift.Comparison.from_store(tmp_path / "s")
    assert again.reference["method"] == "convex+runs" and again.optimum == cmp.optimum


def test_exact_lift_has_no_second_convex_row(toy1d):
    prob, _ = toy1d
    cmp = lift.compare(prob, sizes=[2], seeds=1, train={"steps": 50}, n_jobs=1)
    assert list(cmp.table["method"]).count("convex") == 1
    assert "convex+runs" not in set(cmp.table["method"])


def test_population_grouping_does_not_change_results(toy1d):
    prob, _ = toy1d
    kw = {"sizes": [1, 3, 6], "seeds": [0, 2], "train": {"steps": 200}, "n_jobs": 1}
    by_size = lift.compare(prob, population="size", **kw).runs
    together = lift.compare(prob, population="all", **kw).runs
    one_each = lift.compare(prob, population=1, **kw).runs
    for other in (together, one_each):
        np.testing.assert_allclose(other["objective"], by_size["objective"], rtol=1e-10)


def test_local_and_dask_backends_give_the_same_table(toy1d):
    pytest.importorskip("distributed")
    prob, _ = toy1d
    kw = {"sizes": [1, 4], "seeds": 2, "train": {"steps": 200}, "n_jobs": 2}
    local = lift.compare(prob, backend="local", **kw).table
    dask = lift.compare(prob, backend="dask", **kw).table
    assert list(local["size"]) == list(dask["size"])
    assert list(local["seed"].fillna(-1)) == list(dask["seed"].fillna(-1))
    np.testing.assert_allclose(dask["objective"], local["objective"], rtol=1e-10)
    np.testing.assert_allclose(dask["effective_size"], local["effective_size"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sizes": []}, ValueError, "sizes"),
    ({"sizes": [0, 2]}, ValueError, "sizes"),
    ({"seeds": []}, ValueError, "seeds"),
    ({"train": {"steps": -5}}, ValueError, "steps"),
    ({"train": {"optimizer": "lbfgs"}}, ValueError, "optimizer"),
    ({"train": {"lr": -1.0}}, ValueError, "lr"),
    ({"train": {"eta": 0.1}}, TypeError, "train"),
    ({"train": "adam"}, TypeError, "train"),
    ({"lift": ["exact"]}, TypeError, "lift"),
    ({"reach": 0.0}, ValueError, "reach"),
    ({"backend": "ray"}, ValueError, "backend"),
    ({"population": "half"}, ValueError, "population"),
    ({"test": ([[1.0, 2.0]], [1.0])}, ValueError, "test"),
    ({"backend": "dask", "address": "tcp://127.0.0.1:9", "connect_timeout": 1.0},
     ValueError, "address"),
])
def test_bad_arguments_fail_before_any_work(toy1d, monkeypatch, kwargs, error, match):
    prob, _ = toy1d

    def no_work(*args, **kw):  # pragma: no cover - reached only on a bug
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(importlib.import_module("lift.compare"), "_run_unit", no_work)
    monkeypatch.setattr(TwoLayerReLU, "lift", no_work)
    with pytest.raises(error, match=match):
        lift.compare(prob, **{"sizes": [1], "seeds": 1, "train": {"steps": 10}, **kwargs})


def test_store_path_that_is_a_file(toy1d, tmp_path, monkeypatch):
    prob, _ = toy1d
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    monkeypatch.setattr(TwoLayerReLU, "lift", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match="`store` must be a folder"):
        lift.compare(prob, sizes=[1], seeds=1, store=path)
    assert path.read_text() == "x"


def test_bad_problem_type():
    with pytest.raises(TypeError, match="prob"):
        lift.compare("not a problem", sizes=[1])


@pytest.mark.slow
def test_bundled_diabetes_bmi_wide_networks_reach_the_certified_optimum():
    """Diabetes progression against BMI (1-D, exact patterns): the README's first sweep."""
    data = load("diabetes")
    prob = TwoLayerReLU(data.X_train[:, [2]], data.y_train, beta=1.0)
    cmp = lift.compare(prob, sizes=[1, 2, 8, 32, 128], seeds=5,
                       train=TrainConfig(steps=3000, lr=1e-2), solver="clarabel",
                       test=(data.X_test[:, [2]], data.y_test), n_jobs=2)
    assert cmp.certified
    runs = cmp.runs
    assert (runs["objective"] >= cmp.global_bound - 1e-9 * abs(cmp.global_bound)).all()
    summ = cmp.summary().set_index("size")
    assert summ.loc[1, "reached"] == 0 and summ.loc[1, "min_gap"] > 0.1
    for size in (8, 32, 128):
        assert summ.loc[size, "fraction"] >= 0.8
