"""The harness, the trainers, the store and the command line are generic: a tiny family that
is not ReLU (its own data kind, its own size name) runs through all of them."""

from __future__ import annotations

import json
import math

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import toy_family
from toy_family import VectorProduct

import lift
from lift.cli import main
from lift.datasets import list_datasets, load, register_dataset

# worker processes (joblib's loky, Dask) cannot import the tests folder: ship the module
cloudpickle.register_pickle_by_value(toy_family)


@pytest.fixture
def prob():
    return VectorProduct(load("toy-vector"), 0.7)


@pytest.mark.parametrize("backend,n_jobs", [("local", 1), ("local", 2), ("dask", 2)])
def test_compare_on_a_family_that_is_not_relu(prob, tmp_path, backend, n_jobs):
    store = tmp_path / "store"
    cmp = lift.compare(prob, sizes=[1, 3], seeds=2, train={"optimizer": "gd", "steps": 400,
                                                          "lr": 0.05},
                       solver="clarabel", n_jobs=n_jobs, backend=backend, store=store)
    again = lift.Comparison.from_store(store)  # stored, and reported from the store alone
    pd.testing.assert_frame_equal(again.table.drop(columns="time"),
                                  cmp.table.drop(columns="time"))
    assert cmp.certified and cmp.size_name == "rank"
    assert cmp.global_bound - 1e-12 <= cmp.optimum <= cmp.global_bound + 1e-6 * abs(cmp.optimum)
    runs = cmp.runs
    assert len(runs) == 4 and not runs["below_bound"].astype(bool).any()
    assert (runs["objective"] >= cmp.global_bound - 1e-9).all()
    for _, row in runs.iterrows():
        model = cmp.model(row["size"], row["seed"], prob)
        assert math.isclose(row["objective"], prob.objective(model), rel_tol=1e-12)
        assert row["fit_norm"] == pytest.approx(prob.evaluate(model)["fit_norm"], rel=1e-12)
        assert row["effective_size"] == prob.effective_size(model) <= row["size"]
    # gradient descent on this benign problem reaches the convex optimum at every rank
    assert (runs["rel_gap"] < 1e-5).all()
    conv = cmp.table[cmp.table["method"] == "convex"].iloc[0]
    assert pd.isna(conv["size"]) and conv["effective_size"] == 1
    assert (cmp.table["lam"] == 0.7).all()
    assert cmp.plot().axes[0].get_xlabel() == "rank"
    assert "effective rank 1" in cmp.format_summary()


def test_cli_on_a_family_that_is_not_relu(tmp_path, capsys):
    assert main(["solve", "vecprod", "--solver", "clarabel", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["exact"] is True and out["size"] == 1
    assert out["global_bound"] <= out["value"] + 1e-12 and "fit_norm" in out
    folder = tmp_path / "scalar"
    assert main(["compare", "vecprod", "--optimizer", "gd", "--n-jobs", "1",
                 "--solver", "clarabel", "--out", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "certified global lower bound" in text and "effective rank" in text
    table = pd.read_csv(folder / "table.csv")
    runs = table[table["method"] != "convex"]
    # the family's defaults for the generic options: sizes 1,3, seeds 0,1, 400 steps
    assert sorted(set(runs["size"])) == [1, 3] and sorted(set(runs["seed"])) == [0, 1]
    assert (runs["steps"] == 400).all()
    assert (runs["objective"] >= runs["bound"] - 1e-9).all()


def test_datasets_of_other_kinds():
    assert "toy-vector" in list_datasets() and "toy-vector" in list_datasets(kind="vector")
    assert "toy-vector" not in list_datasets(kind="xy") and "diabetes" in list_datasets("xy")
    data = load("toy-vector", seed=3, n=5)
    assert isinstance(data, np.ndarray) and data.shape == (5,)
    with pytest.raises(ValueError, match="data"):
        load("no-such-set")
    with pytest.raises(TypeError, match="loader"):
        register_dataset("bad", 3)
