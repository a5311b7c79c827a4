"""`lift compare` and `lift report`."""

from __future__ import annotations

import pandas as pd
import pytest

from lift.cli import main

ARGS = ["compare", "relu", "--data", "toy1d", "--beta", "0.1", "--sizes", "1,8", "--seeds", "2",
        "--steps", "300", "--n-jobs", "1"]


def test_compare_writes_outputs_and_report_rebuilds_them(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main([*ARGS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "certified global lower bound" in printed
    assert "runs below the certified global bound: 0" in printed
    for name in ("table.csv", "summary.csv", "gap_vs_size.png"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["method"]) == ["convex"] + ["adam"] * 4
    assert (table["objective"] >= table["bound"] - 1e-9).all()
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["size"]) == [1, 8]

    for name in ("table.csv", "summary.csv", "gap_vs_size.png"):
        (out / name).unlink()
    assert main(["report", str(out), "--parquet"]) == 0
    assert "certified global lower bound" in capsys.readouterr().out
    rebuilt = pd.read_csv(out / "table.csv")
    pd.testing.assert_frame_equal(rebuilt, table)
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), summary)
    assert (out / "gap_vs_size.png").stat().st_size > 0
    assert len(pd.read_parquet(out / "table.parquet")) == len(table)

    # the same command again resumes: every task is already in the store
    assert main([*ARGS, "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "table.csv").drop(columns="time"),
                                  table.drop(columns="time"))


def test_compare_keeps_columns(tmp_path, capsys):
    out = tmp_path / "bmi"
    args = ["compare", "relu", "--data", "wine", "--loss", "logistic", "--columns", "1",
            "--sizes", "2", "--seeds", "1", "--steps", "50", "--n-jobs", "1", "--out", str(out)]
    assert main(args) == 0
    assert "d=1" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--sizes", ""], ["--sizes", "0,2"], ["--seeds", "0"]])
def test_compare_unparsable_arguments(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        main([*ARGS, *args, "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert args[0] in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [(["--steps", "-3"], "`steps`"),
                                           (["--columns", "40"], "--columns"),
                                           (["--optimizer", "gd", "--lr", "0"], "`lr`")])
def test_compare_bad_arguments(tmp_path, capsys, args, message):
    assert main([*ARGS, *args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing started, no store created


def test_compare_store_is_a_file(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("")
    assert main([*ARGS, "--out", str(path)]) == 2
    assert "`store` must be a folder" in capsys.readouterr().err


def test_report_of_missing_store(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "No results store" in capsys.readouterr().err
