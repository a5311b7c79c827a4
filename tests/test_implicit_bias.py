"""The implicit-bias example: small-init GD on unregularized factors approaches the
minimum-nuclear-norm interpolant (which no interpolant's nuclear norm can beat)."""

from __future__ import annotations

import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
