"""Each example's ``run()`` works and shows what it claims."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import torch

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relu_1d_example(tmp_path):
    out = tmp_path / "fig.png"
    res = _load("relu_1d").run(out=out, widths=(1, 64), steps=1500)
    assert out.stat().st_size > 10_000
    bound = res["global_bound"]
    assert bound <= res["optimum"] <= bound * (1 + 1e-5)
    # no trained network beats the certificate; the wide one gets far closer than the narrow
    for value in res["gd"].values():
        assert value >= bound * (1 - 1e-9)
    assert res["gd"][64] - bound < 0.1 * (res["gd"][1] - bound)
    assert res["gd"][64] < 1.2 * bound


def test_overparameterization_xor_example(tmp_path):
    out = tmp_path / "xor.png"
    res = _load("overparameterization_xor").run(out=str(out), sizes=(1, 32), seeds=3,
                                                 steps=1500)
    assert out.stat().st_size > 10_000
    table, summary = res["table"], res["summary"].set_index("size")
    runs = table[table["method"] != "convex"]
    # the certificate holds for every run, narrow networks stall, wide ones reach the optimum
    assert (runs["objective"] >= res["global_bound"] * (1 - 1e-9)).all()
    assert summary.loc[1, "reached"] == 0
    assert summary.loc[32, "reached"] >= 2
    assert res["reach_size"] == 32


def test_implicit_bias_example(tmp_path):
    out = tmp_path / "implicit_bias.png"
    res = _load("implicit_bias").run(out=out, n=12, scales=(1.0, 0.1, 0.01), steps=4000)
    assert out.stat().st_size > 10_000
    # every run interpolates the data
    assert max(res["fit"]) < 1e-4
    # no interpolant has a smaller nuclear norm than the library's minimum (solver tolerance)
    assert min(res["nuclear"]) >= res["nuclear_min"] * (1 - 1e-5)
    # shrinking the initialization moves GD towards the min-nuclear-norm interpolant ...
    assert res["dist_nuc"][0] > res["dist_nuc"][1] > res["dist_nuc"][2]
    assert res["dist_nuc"][-1] < 0.1
    assert res["nuclear"][-1] < res["nuclear_min"] * 1.02
    # ... and away from the min-Frobenius one, whose nuclear norm is larger
    assert res["nuclear_fro"] > 1.1 * res["nuclear_min"]
    assert res["dist_fro"][-1] > 5 * res["dist_nuc"][-1]


def test_transfer_filter_example(tmp_path):
    out = tmp_path / "filter.png"
    res = _load("transfer_filter").run(out=out, order=6, fit_degree=3, points=100)
    assert out.stat().st_size > 10_000
    lo, hi = res["bracket"]
    assert lo <= hi <= lo * (1 + 1e-5) and abs(hi - 0.0227) < 1e-3
    assert res["minimax"] < res["sk"]  # the minimax fit has the smaller max error


def test_transfer_hankel_example(tmp_path):
    out = tmp_path / "hankel.png"
    res = _load("transfer_hankel").run(out=out, length=30)
    assert out.stat().st_size > 10_000
    assert res["orders"] == {"noiseless": 4, "noisy": 4}
    s = res["noiseless"]
    assert s[4] < 1e-9 * s[0] and s[3] > 1e-6 * s[0]
    assert res["impulse_error"] < 1e-6


def test_transfer_overparameterization_example(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "hmr.png"
    res = _load("transfer_overparameterization").run(out=out, orders=(2, 8), seeds=1,
                                                     steps=150, length=20, sequences=12)
    assert out.stat().st_size > 10_000
    for values in res["reached"].values():
        assert min(values) >= res["bound"]
    assert res["truth"] >= res["bound"]
    assert np.min(res["reached"][8]) < np.min(res["reached"][2])
    assert np.min(res["impulse_error"][8]) < np.min(res["impulse_error"][2])
    assert not res["table"]["below_bound"].fillna(False).any()


def test_relu_3d_bound_example(tmp_path):
    out = tmp_path / "relu3d.png"
    res = _load("relu_3d_bound").run(out=str(out), n=24, sizes=(1, 8), seeds=2, steps=1500,
                                     patterns=20, rounds=4, time_limit=10.0)
    assert out.stat().st_size > 10_000
    bound, convex = res["bound"], res["convex"]
    # the bound is below the convex value and below every trained network of every width;
    # the convex value (runs' patterns included) is at or below every run
    assert bound <= convex * (1 + 1e-9)
    for value in res["objectives"].values():
        assert value >= bound - 1e-9 * abs(bound)
        assert value >= convex - 1e-6 * abs(convex)
    # column generation with certified pricing makes the bound useful: within 5 % here
    assert res["convex"] <= res["sampled"] * (1 + 1e-9)
    assert (convex - bound) / abs(convex) < 0.05
    # each round of column generation lowers the convex value
    values = [h["value"] for h in res["history"]]
    assert all(b <= a * (1 + 1e-7) for a, b in zip(values, values[1:], strict=False))
    assert len(values) >= 2
