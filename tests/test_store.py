"""The results store: atomic rows, resume after SIGKILL, exports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import lift
from lift.compare import Comparison
from lift.datasets import load
from lift.problems import TwoLayerReLU
from lift.store import DB_NAME, Store, task_key


def _record(key, size, seed, value):
    return {"key": key, "method": "adam", "size": size, "seed": seed,
            "row": {"method": "adam", "size": size, "seed": seed, "objective": value,
                    "global_bound": None, "gap": float("nan")},
            "trajectory": {"step": [0, 10], "objective": [2.0 * value, value], "time": [0, 1]},
            "params": {"weight": np.arange(6.0).reshape(3, 2), "alpha": np.ones(3)}}


def test_roundtrip_no_duplicates_and_exports(tmp_path):
    st = Store(tmp_path / "runs")
    keys = [task_key(size=s, seed=0) for s in (1, 2, 3)]
    assert st.write([_record(k, s, 0, 1.5 * s) for k, s in zip(keys, (1, 2, 3), strict=True)]) == 3
    # writing the same keys again inserts nothing and keeps the first values
    assert st.write([_record(keys[0], 1, 0, 99.0)]) == 0
    assert len(st) == 3
    assert st.finished(keys + ["other"]) == set(keys)
    recs = st.records(keys[::-1])
    assert [r["key"] for r in recs] == keys[::-1]
    assert recs[-1]["row"]["objective"] == 1.5
    assert recs[-1]["row"]["global_bound"] is None and np.isnan(recs[-1]["row"]["gap"])
    np.testing.assert_array_equal(recs[0]["params"]["weight"], np.arange(6.0).reshape(3, 2))
    assert recs[0]["trajectory"]["objective"] == [9.0, 4.5]
    csv = pd.read_csv(st.to_csv(tmp_path / "t.csv"))
    parquet = pd.read_parquet(st.to_parquet(tmp_path / "t.parquet"))
    for frame in (csv, parquet):
        assert sorted(frame["objective"]) == [1.5, 3.0, 4.5]
    st.close()
    with pytest.raises(ValueError, match="must be a folder"):
        Store(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="No results store"):
        Store(tmp_path / "missing", create=False)


def test_task_key_is_stable_and_sensitive():
    a = task_key(problem="abc", size=4, seed=1, settings={"lr": 0.01, "steps": 10})
    assert a == task_key(settings={"steps": 10, "lr": 0.01}, seed=1, size=4, problem="abc")
    assert a != task_key(problem="abc", size=4, seed=2, settings={"lr": 0.01, "steps": 10})
    assert a != task_key(problem="abc", size=4, seed=1, settings={"lr": 0.02, "steps": 10})


SWEEP = {"sizes": [1, 2, 4, 8], "seeds": [0, 1, 2], "train": {"steps": 800, "lr": 1e-2},
         "population": 1, "n_jobs": 1}

SCRIPT = textwrap.dedent("""
    import sys
    import lift
    from lift.datasets import load
    from lift.problems import TwoLayerReLU
    data = load("toy1d")
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=0.1)
    lift.compare(prob, store=sys.argv[1], **{sweep})
""")


def _rows(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sweep_killed_with_sigkill_resumes_to_the_same_table(tmp_path):
    folder = tmp_path / "runs"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.format(sweep=repr(SWEEP)))
    # the convex solve, the runs, and the check of the program that contains the runs
    total = 2 + len(SWEEP["sizes"]) * len(SWEEP["seeds"])
    proc = subprocess.Popen([sys.executable, str(script), str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = folder / DB_NAME
    deadline = time.monotonic() + 120
    try:
        while _rows(db) < 4:
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before it could be killed: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the sweep wrote no rows in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    # what survived: whole rows only, no duplicates, fewer than the full sweep
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT key, record, trajectory, created FROM runs").fetchall()
    assert 4 <= len(rows) < total
    assert len({r[0] for r in rows}) == len(rows)
    for _key, record, trajectory, _created in rows:
        row = json.loads(record)
        assert "method" in row and ("objective" in row or row.get("same_program"))
        if row["method"] != "convex":
            assert json.loads(trajectory)["step"][-1] == SWEEP["train"]["steps"]
    before = {r[0]: r[3] for r in rows}

    # resume in this process: finished tasks are skipped, the rest is computed
    data = load("toy1d")
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=0.1)
    resumed = lift.compare(prob, store=folder, **SWEEP)
    with Store(folder) as st:
        assert len(st) == total
        kept = {r["key"] for r in st.records()} & set(before)
        assert kept == set(before)
        with sqlite3.connect(db) as conn:
            created = dict(conn.execute("SELECT key, created FROM runs").fetchall())
        assert all(created[k] == before[k] for k in before)  # not rewritten

    fresh = lift.compare(prob, store=None, **SWEEP)
    from_store = Comparison.from_store(folder)
    for table in (resumed.table, from_store.table):
        pd.testing.assert_frame_equal(table.drop(columns=["time"]),
                                      fresh.table.drop(columns=["time"]),
                                      check_exact=False, rtol=1e-10, atol=1e-12)
