"""A damaged, partial, busy or foreign results store gives a clear error naming the file to
move away (issue 13, items 6 and 10), never a raw sqlite3 / JSON / pandas error."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import lift
from lift.compare import Comparison, OutputExistsError
from lift.datasets import load
from lift.problems import TwoLayerReLU
from lift.store import DB_NAME, Store, StoreError, store_lock

SWEEP = {"sizes": [1, 2], "seeds": 1, "train": {"steps": 20}, "n_jobs": 1,
         "include_runs": False}


@pytest.fixture(scope="module")
def prob():
    data = load("toy1d")
    return TwoLayerReLU(data.X_train, data.y_train, beta=0.1)


@pytest.fixture(scope="module")
def stored(prob, tmp_path_factory):
    """A finished sweep's store folder (copied by each test that damages it)."""
    folder = tmp_path_factory.mktemp("stored") / "runs"
    lift.compare(prob, store=folder, **SWEEP)
    with sqlite3.connect(folder / DB_NAME) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder


def _copy(stored, tmp_path):
    import shutil

    return shutil.copytree(stored, tmp_path / "copy")


def _truncate(db):
    with open(db, "r+b") as f:
        f.truncate(os.path.getsize(db) // 2)


def _garbage(db):
    db.write_bytes(b"this is not an SQLite database " * 100)


@pytest.mark.parametrize("damage", [_truncate, _garbage], ids=["truncated", "garbage"])
def test_damaged_database_names_the_file_to_move_away(stored, tmp_path, damage):
    folder = _copy(stored, tmp_path)
    damage(folder / DB_NAME)
    for open_it in (lambda: Store(folder), lambda: Comparison.from_store(folder)):
        with pytest.raises(StoreError, match="damaged") as exc:
            open_it()
        assert str(folder / DB_NAME) in str(exc.value) and "mv " in str(exc.value)
        assert isinstance(exc.value, ValueError)  # user-facing errors are ValueErrors


def test_record_that_is_not_json_names_its_key_and_the_fix(stored, tmp_path, prob):
    folder = _copy(stored, tmp_path)
    with sqlite3.connect(folder / DB_NAME) as conn:
        key = conn.execute("SELECT key FROM runs WHERE method = 'adam'").fetchone()[0]
        conn.execute("UPDATE runs SET record = '{broken' WHERE key = ?", (key,))
    with pytest.raises(StoreError, match=key) as exc:
        Comparison.from_store(folder)
    assert str(folder / DB_NAME) in str(exc.value) and "DELETE FROM runs" in str(exc.value)
    # the advice works: deleting that row recomputes only its task
    with sqlite3.connect(folder / DB_NAME) as conn:
        conn.execute("DELETE FROM runs WHERE key = ?", (key,))
    cmp = lift.compare(prob, store=folder, **SWEEP)
    assert len(cmp.runs) == 2


def test_params_blob_that_is_not_npz(stored, tmp_path):
    folder = _copy(stored, tmp_path)
    with sqlite3.connect(folder / DB_NAME) as conn:
        conn.execute("UPDATE runs SET params = x'00ff00ff' WHERE method = 'adam'")
    with pytest.raises(StoreError, match="cannot be decoded"):
        Comparison.from_store(folder)


def test_store_killed_after_the_convex_row_reports_what_is_there(stored, tmp_path):
    folder = _copy(stored, tmp_path)
    with sqlite3.connect(folder / DB_NAME) as conn:
        conn.execute("DELETE FROM runs WHERE method != 'convex'")
    with pytest.warns(UserWarning, match="2 of 3 tasks have no row"):
        cmp = Comparison.from_store(folder)
    assert len(cmp.runs) == 0 and cmp.certified
    assert cmp.summary().empty and list(cmp.summary().columns[:3]) == ["method", "size", "seeds"]
    assert "no training run has finished" in cmp.format_summary()
    paths = cmp.save(tmp_path / "out")
    assert len(pd.read_csv(paths["table.csv"])) == 1

    with sqlite3.connect(folder / DB_NAME) as conn:  # killed before the convex row
        conn.execute("DELETE FROM runs")
    with pytest.raises(ValueError, match="no convex solution yet.*resume"):
        Comparison.from_store(folder)


def test_folder_that_is_not_empty_needs_force(prob, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"not empty \(notes.txt\).*force"):
        lift.compare(prob, store=folder, **SWEEP)
    assert os.listdir(folder) == ["notes.txt"]  # nothing written
    cmp = lift.compare(prob, store=folder, force=True, **SWEEP)
    assert (folder / "notes.txt").read_text() == "keep me" and len(cmp.runs) == 2


def test_another_sweep_is_refused_unless_forced_and_then_merged(prob, stored, tmp_path):
    folder = _copy(stored, tmp_path)
    other = {**SWEEP, "sizes": [1, 4]}
    with pytest.raises(ValueError, match=r"holds another sweep.*sizes \[1, 2\].*force"):
        lift.compare(prob, store=folder, **other)
    again = lift.compare(prob, store=folder, **SWEEP)  # the same sweep resumes
    assert len(again.runs) == 2
    merged = lift.compare(prob, store=folder, force=True, **other)
    with Store(folder) as st:
        assert len(st.sweeps()) == 2 and len(st) == 4  # convex + sizes 1, 2, 4 (1 shared)
        first = Comparison.from_store(st, sweep=st.sweeps()[0]["sweep"])
    with pytest.raises(ValueError, match="closed"):
        st.sweeps()
    pd.testing.assert_frame_equal(first.table.drop(columns="time"),
                                  again.table.drop(columns="time"))
    assert list(merged.runs["size"]) == [1, 4]


HOLD = textwrap.dedent("""
    import sys, time
    from lift.store import store_lock
    with store_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_sweep_is_refused_while_one_holds_the_store(prob, tmp_path):
    folder = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"in use by another sweep \\(pid {holder.pid}"):
            lift.compare(prob, store=folder, **SWEEP)
        assert not (folder / DB_NAME).exists()
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder (SIGKILL included)
    cmp = lift.compare(prob, store=folder, **SWEEP)
    assert len(cmp.runs) == 2


def test_lock_is_reentrant_in_one_process(tmp_path):
    with store_lock(tmp_path / "s"), store_lock(tmp_path / "s"):
        pass
    with store_lock(tmp_path / "s"):  # released: can be taken again
        pass


def test_save_does_not_silently_replace_outputs(stored, tmp_path):
    cmp = Comparison.from_store(stored)
    folder = tmp_path / "out"
    cmp.save(folder)
    (folder / "table.csv").write_text("mine")
    before = (folder / "gap_vs_size.png").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="table.csv, summary.csv, gap_vs_size.png"):
        cmp.save(folder)
    assert (folder / "table.csv").read_text() == "mine"
    assert (folder / "gap_vs_size.png").stat().st_mtime_ns == before
    time.sleep(0.01)
    cmp.save(folder, overwrite=True)
    assert pd.read_csv(folder / "table.csv").shape == cmp.table.shape
    with pytest.raises(TypeError, match="overwrite"):
        cmp.save(folder, overwrite="yes")


def test_store_folder_that_cannot_be_created():
    with pytest.raises(StoreError, match="`store` '/proc/lift-x' cannot be created"):
        Store("/proc/lift-x")


def test_records_roundtrip_still_exact(tmp_path):
    with Store(tmp_path / "s") as st:
        st.write([{"key": "k", "method": "adam", "size": 1, "seed": 0,
                   "row": {"objective": 1.0}, "params": {"w": np.arange(3.0)}}])
        np.testing.assert_array_equal(st.records(["k"])[0]["params"]["w"], np.arange(3.0))
