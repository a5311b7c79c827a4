"""The transfer family's examples run and show what they claim."""

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
