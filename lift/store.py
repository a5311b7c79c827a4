"""The results store of the comparison harness: one SQLite database in a folder.

Each finished task (one convex solve, or one training run at a given method, size and seed) is
one row keyed by a hash of everything that determines its result: the problem's fingerprint
(data and hyperparameters), the method, the size, the seed and the optimizer or solver
settings. Only the driver process writes, one transaction per batch of finished tasks, with
``INSERT OR IGNORE`` on the key: a sweep killed at any moment (SIGKILL included) keeps every
row it committed, never a partial row (SQLite transactions are atomic), and a resumed sweep
skips finished keys, so no row is duplicated.

A sweep (one call of :func:`lift.compare`) is recorded in the ``sweeps`` table with its
specification and the keys of its tasks, so that :meth:`Store.sweep` (and ``lift report``) can
rebuild its table from the store alone.

A damaged store (a truncated or overwritten ``lift.sqlite``, a record that is not valid JSON)
raises :class:`StoreError` naming the file to move away, never a raw ``sqlite3`` or JSON
error. One sweep at a time writes a store: :func:`store_lock` holds an advisory ``fcntl``
lock on ``lift.lock`` beside the database, and a second sweep is refused with the holder's
pid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import sqlite3
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift.errors import LiftError

__all__ = ["Store", "StoreError", "task_key", "DB_NAME", "LOCK_NAME", "check_store_path",
           "store_lock", "store_files"]

#: file name of the database inside the store folder
DB_NAME = "lift.sqlite"
#: file name of the advisory lock beside the database
LOCK_NAME = "lift.lock"


class StoreError(LiftError, ValueError):
    """A results store cannot be used: damaged, held by another sweep, or not writable."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key        TEXT PRIMARY KEY,
    method     TEXT NOT NULL,
    size       INTEGER,
    seed       INTEGER,
    record     TEXT NOT NULL,
    trajectory TEXT,
    params     BLOB,
    created    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep   TEXT PRIMARY KEY,
    spec    TEXT NOT NULL,
    keys    TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else repr(value)  # "nan", "inf" kept apart
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def task_key(**parts: Any) -> str:
    """A stable hash of a task's defining parts (JSON with sorted keys, sha256, 24 hex)."""
    text = json.dumps(_jsonable(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _pack(arrays: dict[str, np.ndarray] | None) -> bytes | None:
    if arrays is None:
        return None
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _unpack(blob: bytes | None) -> dict[str, np.ndarray] | None:
    if blob is None:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def store_files(folder: str | os.PathLike) -> list[str]:
    """The names of the files in ``folder`` that belong to a results store (the database,
    its journal files, the lock)."""
    names = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", LOCK_NAME)
    return [n for n in names if os.path.exists(os.path.join(folder, n))]


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"`store` {str(folder)!r} cannot be created: "
                         f"{exc.strerror or exc}. Choose a folder you can write to.") from None


#: lock files this process holds: real path -> [file descriptor, depth]
_HELD: dict[str, list[int]] = {}


@contextlib.contextmanager
def store_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the advisory lock of the store in ``folder`` (created if missing).

    Re-entrant within one process; another process holding it raises :class:`StoreError`
    with the holder's pid and command (the lock dies with its holder, SIGKILL included).
    Without ``fcntl`` (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    folder = check_store_path(folder)
    _make_folder(folder)
    path = os.path.realpath(folder / LOCK_NAME)
    if path in _HELD:
        _HELD[path][1] += 1
        try:
            yield
        finally:
            _HELD[path][1] -= 1
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"`store` {str(folder)!r}: cannot create its lock file {path!r}: "
                         f"{exc.strerror or exc}. Choose a folder you can write to.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace")
        os.close(fd)
        try:
            info = json.loads(holder)
            who = (f"pid {info['pid']}, started {info['started']}, command "
                   f"{info['command']!r}")
        except (ValueError, KeyError, TypeError):
            who = "another process"
        raise StoreError(f"The results store {str(folder)!r} is in use by another sweep "
                         f"({who}). Wait for it to finish, or write to another folder "
                         "(`store` / --out).") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
    _HELD[path] = [fd, 1]
    try:
        yield
    finally:
        _HELD[path][1] -= 1
        if _HELD[path][1] == 0:
            del _HELD[path]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _guarded(method):
    """Turn a damaged database met in ``method`` into a :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._conn is None:
            raise ValueError(f"The store {str(self.path)!r} is closed; open it again with "
                             "lift.store.Store(path).")
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    return wrapper


def check_store_path(path: str | os.PathLike) -> Path:
    """Validate a store folder path (created later); a path that is a file is an error."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`store` must be a folder path (str or Path) or None, got "
                        f"{type(path).__name__}.")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"`store` must be a folder, but {str(folder)!r} is a file. Pass a "
                         "folder path (it is created if missing).")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"`store` {str(folder)!r} cannot be created: {str(parent)!r} "
                                 "is a file.")
            break
    return folder


class Store:
    """A results store: a folder holding ``lift.sqlite``.

    Parameters
    ----------
    path : str or Path
        The folder (created if missing). A path that is a file raises ``ValueError``.
    create : bool
        Create the folder and database if missing; with ``False`` a missing store raises
        ``FileNotFoundError``.
    """

    def __init__(self, path: str | os.PathLike, create: bool = True) -> None:
        self.path = check_store_path(path)
        self.db = self.path / DB_NAME
        existed = self.db.exists()
        if not existed:
            if not create:
                raise FileNotFoundError(f"No results store at {str(self.path)!r} (no "
                                        f"{DB_NAME} inside). Run `lift compare ... --out "
                                        f"{self.path}` first.")
            _make_folder(self.path)
        self._conn = None
        try:
            self._conn = sqlite3.connect(self.db, isolation_level=None, timeout=30.0)
            if existed:  # a damaged file fails here or in the check, not halfway through
                check = self._conn.execute("PRAGMA quick_check").fetchall()
                if [tuple(r) for r in check] != [("ok",)]:
                    raise sqlite3.DatabaseError("; ".join(str(r[0]) for r in check[:3]))
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            err = self._damaged(exc)
            self.close()
            raise err from None

    def _damaged(self, exc: Exception, record: str | None = None,
                 table: str = "runs") -> StoreError:
        """The error for a database that cannot be read (``record``: the key of the bad row
        of ``table``)."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = f"{str(self.db)!r}"
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return StoreError(f"The results store {where} is locked by another process "
                              f"({text}). Wait for it to finish, or use another folder.")
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
            return StoreError(f"The results store {where} cannot be opened ({text}). Check "
                              "the folder's permissions, or use another folder.")
        move = (f"Move the folder away (e.g. `mv {self.path} {self.path}.damaged`) and rerun "
                "the sweep")
        if record is not None:
            column = "key" if table == "runs" else "sweep"
            return StoreError(f"The results store {where} is damaged: the {table} row "
                              f"{record} cannot be decoded ({text}). {move}, or delete that "
                              f"row to recompute only its task: sqlite3 {self.db} \"DELETE "
                              f"FROM {table} WHERE {column}='{record}'\".")
        return StoreError(f"The results store {where} is damaged ({text}). {move}; the "
                          "tasks it held are recomputed.")

    def __repr__(self) -> str:
        rows = "closed" if self._conn is None else f"rows={len(self)}"
        return f"Store({str(self.path)!r}, {rows})"

    @_guarded
    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self):
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- tasks ----------------------------------------------------------------------------
    @_guarded
    def finished(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that have a row."""
        keys = list(keys)
        done: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key FROM runs WHERE key IN ({','.join('?' * len(chunk))})"
            done.update(r[0] for r in self._conn.execute(q, chunk))
        return done

    @_guarded
    def write(self, records: Sequence[dict[str, Any]]) -> int:
        """Insert finished tasks in one transaction; existing keys are left alone.

        Each record has ``key``, ``method``, ``size``, ``seed``, ``row`` (a dict of scalars),
        and optionally ``trajectory`` (dict of lists) and ``params`` (dict of arrays).
        Returns the number of rows inserted.
        """
        now = time.time()
        values = [(r["key"], r["method"], r.get("size"), r.get("seed"),
                   json.dumps(_jsonable(r["row"])),
                   None if r.get("trajectory") is None else json.dumps(
                       _jsonable(r["trajectory"])),
                   _pack(r.get("params")), now) for r in records]
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
            return conn.total_changes - before

    @_guarded
    def records(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows as records (the inverse of :meth:`write`), in the order of ``keys``."""
        cols = "key, method, size, seed, record, trajectory, params"
        if keys is None:
            rows = self._conn.execute(f"SELECT {cols} FROM runs ORDER BY created, key").fetchall()
        else:
            keys = list(keys)
            found: dict[str, tuple] = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                q = f"SELECT {cols} FROM runs WHERE key IN ({','.join('?' * len(chunk))})"
                found.update((r[0], r) for r in self._conn.execute(q, chunk))
            rows = [found[k] for k in keys if k in found]
        out = []
        for k, m, s, sd, rec, tr, pa in rows:
            try:
                out.append({"key": k, "method": m, "size": s, "seed": sd,
                            "row": _unjson(json.loads(rec)),
                            "trajectory": None if tr is None else _unjson(json.loads(tr)),
                            "params": _unpack(pa)})
            except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise self._damaged(exc, record=k) from None
        return out

    # --- sweeps ---------------------------------------------------------------------------
    @_guarded
    def add_sweep(self, sweep: str, spec: dict[str, Any], keys: Sequence[str]) -> None:
        """Record a sweep's specification and task keys (replacing an older identical one)."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?)",
                         (sweep, json.dumps(_jsonable(spec)), json.dumps(list(keys)),
                          time.time()))

    @_guarded
    def sweeps(self) -> list[dict[str, Any]]:
        """All sweeps, oldest first: ``{"sweep", "spec", "keys", "created"}``."""
        rows = self._conn.execute(
            "SELECT sweep, spec, keys, created FROM sweeps ORDER BY created").fetchall()
        out = []
        for s, sp, k, c in rows:
            try:
                out.append({"sweep": s, "spec": _unjson(json.loads(sp)), "keys": json.loads(k),
                            "created": c})
            except (ValueError, TypeError) as exc:
                raise self._damaged(exc, record=s, table="sweeps") from None
        return out

    def sweep(self, sweep: str | None = None) -> dict[str, Any]:
        """One sweep by id (a unique prefix works), or the latest one."""
        all_sweeps = self.sweeps()
        if not all_sweeps:
            raise ValueError(f"The store {str(self.path)!r} holds no sweep yet.")
        if sweep is None:
            return all_sweeps[-1]
        hits = [s for s in all_sweeps if s["sweep"].startswith(sweep)]
        if len(hits) != 1:
            ids = [s["sweep"][:12] for s in all_sweeps]
            raise ValueError(f"`sweep` {sweep!r} matches {len(hits)} sweeps; the store holds "
                             f"{ids}.")
        return hits[0]

    # --- export ---------------------------------------------------------------------------
    def frame(self, keys: Iterable[str] | None = None):
        """All rows (or those of ``keys``) as a pandas DataFrame of the stored scalars."""
        import pandas as pd

        recs = self.records(keys)
        return pd.DataFrame([{"key": r["key"], **r["row"]} for r in recs])

    def to_csv(self, path: str | os.PathLike, keys: Iterable[str] | None = None) -> Path:
        """Write :meth:`frame` as CSV."""
        self.frame(keys).to_csv(path, index=False)
        return Path(path)

    def to_parquet(self, path: str | os.PathLike, keys: Iterable[str] | None = None) -> Path:
        """Write :meth:`frame` as Parquet (needs pyarrow)."""
        self.frame(keys).to_parquet(path, index=False)
        return Path(path)
