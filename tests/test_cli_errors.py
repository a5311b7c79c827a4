"""Every user mistake on the command line ends with one line on stderr naming the option,
exit status 2, and no traceback (issue 13, item 6): a table of bad inputs for every
subcommand and family, damaged and foreign stores, unwritable and occupied ``--out``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from lift.cli import main
from lift.store import DB_NAME

SOLVE = [
    ("relu --data toy1d --tol -1", "--tol"), ("relu --data toy1d --tol abc", "--tol"),
    ("relu --data toy1d --tol nan", "--tol"), ("relu --data toy1d --beta -1", "--beta"),
    ("relu --data toy1d --time-limit 0", "--time-limit"),
    ("relu --data toy1d --time-limit x", "--time-limit"),
    ("relu --data toy1d --beta inf", "--beta"), ("relu --data toy1d --patterns 0", "--patterns"),
    ("relu --data mnist", "--data"), ("relu --data toy1d --columns 0", "--columns"),
    ("relu --data toy1d --columns 40", "--columns"), ("relu --data toy1d --seed -1", "--seed"),
    ("relu --data toy1d --solver nope", "--solver"), ("relu --data toy1d --loss x", "--loss"),
    ("completion --m 0", "--m"), ("completion --n -1", "--n"),
    ("completion --fraction 2", "--fraction"), ("completion --fraction 0", "--fraction"),
    ("completion --rank 0", "--rank"), ("completion --noise -1", "--noise"),
    ("completion --lam -1", "--lam"), ("completion --csv /no/such.csv", "--csv"),
    ("completion --seed -1", "--seed"), ("sensing --measurements 0", "--measurements"),
    ("sensing --m 0", "--m"), ("sensing --noise -1", "--noise"), ("sensing --lam 0", "--lam"),
    ("psd --n 0", "--n"), ("psd --fraction 1.5", "--fraction"), ("psd --rank 0", "--rank"),
    ("rational --points 0", "--points"), ("rational --points 2", "--num-degree"),
    ("rational --num-degree -1", "--num-degree"), ("rational --den-degree -1", "--den-degree"),
    ("rational --function butter --filter-order 0", "--filter-order"),
    ("lds --order 0", "--order"), ("lds --true-order 0", "--true-order"),
    ("lds --length 0", "--length"), ("lds --sequences 0", "--sequences"),
    ("lds --noise -1", "--noise"), ("lds --reg -1", "--reg"), ("lds --seed -1", "--seed"),
    ("nosuchfamily", "NAME"),
]
COMPARE = [
    ("--sizes 0", "--sizes"), ("--sizes x", "--sizes"), ("--seeds 0", "--seeds"),
    ("--seeds 100000000", "--seeds"), ("--seeds 1,-2", "--seeds"), ("--seeds 1,x", "--seeds"),
    ("--sizes 1,100000000000000000000", "--sizes"), ("--steps -3", "--steps"),
    ("--lr 0", "--lr"), ("--lr nan", "--lr"), ("--batch-size 0", "--batch-size"),
    ("--clip 0", "--clip"), ("--patience 0", "--patience"), ("--population 0", "--population"),
    ("--population half", "--population"), ("--reach 0", "--reach"),
    ("--refine-rounds -1", "--refine-rounds"), ("--n-jobs 0", "--n-jobs"),
    ("--n-jobs 100000", "--n-jobs"), ("--tol 0", "--tol"), ("--optimizer lbfgs", "--optimizer"),
    ("--schedule x", "--schedule"), ("--address tcp://127.0.0.1:9", "--address"),
    ("--solver nope", "--solver"), ("--backend ray", "--backend"),
]
FAMILIES = [("completion", "--m 0", "--m"), ("sensing", "--measurements 0", "--measurements"),
            ("psd", "--n 0", "--n"), ("rational", "--points 0", "--points"),
            ("lds", "--order 0", "--order"), ("lds", "--sizes 1,50", "--sizes")]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def _one_line_error(code: int, err: str, option: str) -> None:
    assert code == 2, err
    assert err.startswith("lift: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert option in err and "Traceback" not in err, err


@pytest.mark.parametrize("args, option", SOLVE, ids=[a for a, _ in SOLVE])
def test_solve_bad_input(args, option, capsys):
    _one_line_error(*_run(["solve", *args.split()], capsys), option)


@pytest.mark.parametrize("args, option", COMPARE, ids=[a for a, _ in COMPARE])
def test_compare_bad_input(args, option, capsys, tmp_path):
    out = tmp_path / "out"
    argv = ["compare", "relu", "--data", "toy1d", "--sizes", "1", "--seeds", "1", "--steps",
            "5", "--n-jobs", "1", "--out", str(out), *args.split()]
    _one_line_error(*_run(argv, capsys), option)
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("family, args, option", FAMILIES, ids=[f"{f} {a}" for f, a, _ in FAMILIES])
def test_compare_bad_input_of_every_family(family, args, option, capsys, tmp_path):
    base = ["compare", family, "--sizes", "1", "--seeds", "1", "--steps", "5", "--n-jobs", "1",
            "--out", str(tmp_path / "out")]
    _one_line_error(*_run([*base, *args.split()], capsys), option)
    _one_line_error(*_run([*base, "--lr", "-1"], capsys), "--lr")


ARGS = ["compare", "relu", "--data", "toy1d", "--beta", "0.1", "--sizes", "1", "--seeds", "1",
        "--steps", "20", "--n-jobs", "1", "--no-include-runs"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "toy"
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def test_report_bad_input(swept, tmp_path, capsys):
    _one_line_error(*_run(["report", str(tmp_path / "none")], capsys), str(tmp_path / "none"))
    (tmp_path / "file").write_text("")
    _one_line_error(*_run(["report", str(tmp_path / "file")], capsys), "must be a folder")
    _one_line_error(*_run(["report", str(swept), "--reach", "0"], capsys), "--reach")
    _one_line_error(*_run(["report", str(swept), "--reach", "x"], capsys), "--reach")
    _one_line_error(*_run(["report", str(swept), "--sweep", "zz"], capsys), "--sweep")
    _one_line_error(*_run(["report"], capsys), "folder")
    _one_line_error(*_run(["nosuchcommand"], capsys), "nosuchcommand")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "json"])
def test_damaged_store_is_one_line_naming_the_file(swept, tmp_path, capsys, damage):
    import shutil

    out = shutil.copytree(swept, tmp_path / "copy")
    db = out / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if damage == "json":
            conn.execute("UPDATE runs SET record = 'nan{' WHERE method = 'adam'")
    if damage == "garbage":
        db.write_bytes(b"\x00garbage" * 500)
    elif damage == "truncated":
        with open(db, "r+b") as f:
            f.truncate(db.stat().st_size // 2)
    for argv in (["report", str(out)], [*ARGS, "--out", str(out)]):
        code, err = _run(argv, capsys)
        _one_line_error(code, err, str(db))
        assert "damaged" in err and "mv " in err


def test_report_of_a_store_killed_after_the_convex_row(swept, tmp_path, capsys):
    import shutil

    out = shutil.copytree(swept, tmp_path / "copy")
    with sqlite3.connect(out / DB_NAME) as conn:
        conn.execute("DELETE FROM runs WHERE method != 'convex'")
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    assert "lift: warning: The sweep" in captured.err and "1 of 2 tasks have no row" in \
        captured.err and captured.err.count("\n") == 1
    assert "no training run has finished" in captured.out
    with sqlite3.connect(out / DB_NAME) as conn:
        conn.execute("DELETE FROM runs")
    _one_line_error(*_run(["report", str(out)], capsys), "no convex solution yet")


def test_out_that_cannot_be_written(capsys):
    _one_line_error(*_run([*ARGS, "--out", "/proc/lift-x"], capsys), "--out")


def test_out_that_holds_something_else_needs_force(swept, tmp_path, capsys):
    import shutil

    out = shutil.copytree(swept, tmp_path / "copy")
    table = (out / "table.csv").read_text()
    other = [{"20": "30"}.get(a, a) for a in ARGS] + ["--out", str(out)]  # --steps 30
    _one_line_error(*_run(other, capsys), "--force")
    assert (out / "table.csv").read_text() == table  # not replaced
    assert main([*ARGS, "--out", str(out)]) == 0  # the same sweep resumes
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    _one_line_error(*_run([*ARGS, "--out", str(folder)], capsys), "--force")
    assert main([*other[:-1], str(folder), "--force"]) == 0
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "table.csv").exists()


def test_console_script_prints_no_traceback(tmp_path):
    # -P: the installed lift, not the repository root's lift/ (which has no problems/ inside
    # it) where the tests run from there against a non-editable install
    proc = subprocess.run([sys.executable, "-P", "-m", "lift.cli", *ARGS, "--seeds", "100000000",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "100,000,000 seeds" in proc.stderr
