"""``lift solve`` prints the certificate; bad arguments exit with a clear message."""

from __future__ import annotations

import json

import pytest

from lift.cli import main


def test_solve_json_exact(capsys):
    assert main(["solve", "relu", "--data", "toy1d", "--patterns", "exact", "--beta", "0.01",
                 "--solver", "clarabel", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["exact"] is True
    assert out["global_bound"] <= out["value"]
    assert out["rel_gap"] < 1e-5
    assert out["size"] >= 1 and out["solver"] == "clarabel" and out["time"] > 0


def test_solve_text_sampled(capsys):
    assert main(["solve", "relu", "--data", "iris", "--patterns", "30", "--relaxation",
                 "gated", "--beta", "0.1", "--solver", "scs"]) == 0
    text = capsys.readouterr().out
    for key in ("value", "gap", "global bound", "effective width", "status", "time"):
        assert key in text
    assert "none (not certified)" in text  # sampled patterns in 4-D: no global certificate
    # the header comes from prob.describe() and lifted.describe()
    assert "relu: n=120, d=4" in text and "program=gated" in text and "patterns=" in text


def test_solve_bad_arguments(capsys):
    assert main(["solve", "relu", "--data", "toy1d", "--beta", "-1"]) == 2
    assert "`beta` must be a float" in capsys.readouterr().err
    assert main(["solve", "relu", "--data", "toy1d", "--solver", "nope"]) == 2
    assert "Unknown `solver` 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["solve", "relu", "--patterns", "many"])
    with pytest.raises(SystemExit):
        main(["solve", "relu", "--data", "mnist"])


def test_help_lists_every_family(capsys):
    from lift.families import families

    for cmd in ("solve", "compare"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for name in families():
            assert name in text
