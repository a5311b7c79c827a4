"""Resource guards, Dask connection timeouts and worker processes that die with their driver
(issue 13, items 7, 8 and 9): the harness refuses what cannot run before anything runs."""

from __future__ import annotations

import http.server
import importlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import lift
from lift.datasets import load
from lift.families import families
from lift.problems import TwoLayerReLU

compare_module = importlib.import_module("lift.compare")


@pytest.fixture(scope="module")
def prob():
    data = load("toy1d")
    return TwoLayerReLU(data.X_train, data.y_train, beta=0.1)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any convex solve or training starts."""

    def fail(*args, **kw):  # pragma: no cover - reached only on a bug
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(compare_module, "_run_unit", fail)
    monkeypatch.setattr(TwoLayerReLU, "lift", fail)


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(families()))
def test_parameter_counts_are_extrapolated_exactly(name):
    """The guard's count of a large model's parameters, without building it, is exact."""
    prob = families()[name].example()
    exact = {}
    for size in (1, 2, 3, 4, 5, 7, 9, 17, 40):
        try:
            exact[size] = _count(prob.model(size, 0))
        except ValueError:  # above the family's largest size for this data
            break
    assert len(exact) >= 2
    assert compare_module._param_counts(prob, list(exact)) == exact


def test_huge_sizes_are_refused_with_the_estimate(prob, no_work, tmp_path):
    with pytest.raises(ValueError, match=r"`sizes`: this sweep needs about .* GiB of memory, "
                                         r"more than the .* available") as exc:
        lift.compare(prob, sizes=[1, 10**12], seeds=5, store=tmp_path / "s")
    assert "has 3,000,000,000,000 parameters" in str(exc.value)  # 3 per neuron on 1-D data
    assert not (tmp_path / "s").exists()


def test_width_of_a_million_is_refused_where_memory_is_short(prob, no_work, monkeypatch):
    monkeypatch.setattr(compare_module, "available_memory", lambda: 2 * 2**30)
    with pytest.raises(ValueError, match=r"width 1,000,000, has 3,000,000 parameters") as exc:
        lift.compare(prob, sizes=[1, 10**6], seeds=5, n_jobs=2)
    need = float(str(exc.value).split("about ")[1].split(" GiB")[0])
    # float64: per model 8 numbers per parameter and 6 per (sample, neuron); both sizes'
    # populations of 5 seeds train at once; the driver keeps every final model
    n = prob.n_samples
    per_model = {m: 8 * (8 * 3 * m + 6 * n * m) for m in (1, 10**6)}
    expect = 5 * sum(per_model.values()) + 8 * 5 * 3 * (1 + 10**6)
    assert need == pytest.approx(expect / 2**30, rel=1e-2)
    # with enough memory the same sweep is accepted (the guard is an estimate, not a cap)
    monkeypatch.setattr(compare_module, "available_memory", lambda: 2**50)
    with pytest.raises(AssertionError, match="work started"):
        lift.compare(prob, sizes=[1, 10**6], seeds=5, n_jobs=1)  # n_jobs=1: no_work applies


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": 10**8}, r"100,000,000 seeds"),
    ({"seeds": range(10**9)}, r"1,000,000,000 seeds"),
    ({"seeds": [2**64]}, r"\[0, 2\*\*63 - 1\]"),
    ({"sizes": list(range(1, 1001)), "seeds": 200}, r"1000 x 200 = 200,000 runs"),
    ({"n_jobs": 10**6}, r"`n_jobs` must be at most"),
    ({"address": "tcp://127.0.0.1:8786"}, r"`address`.*backend='dask'"),
    ({"solver": "nope"}, r"Unknown `solver` 'nope'"),
])
def test_sweeps_that_cannot_run_are_refused_up_front(prob, no_work, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lift.compare(prob, **{"sizes": [1], "seeds": 1, **kwargs})


# --- Dask: a service that is not a scheduler -------------------------------------------------
def _silent_listener():
    """A TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return srv, f"tcp://127.0.0.1:{srv.getsockname()[1]}", srv.close


def _http_server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def close():
        srv.shutdown()
        srv.server_close()

    return srv, f"tcp://127.0.0.1:{srv.server_address[1]}", close


@pytest.mark.parametrize("server", [_silent_listener, _http_server], ids=["silent", "http"])
def test_dask_address_that_is_not_a_scheduler_honours_connect_timeout(prob, no_work, server):
    pytest.importorskip("distributed")
    _srv, address, close = server()
    outcome: list[BaseException | None] = []

    def call():
        try:
            lift.compare(prob, sizes=[1], seeds=1, backend="dask", address=address,
                         connect_timeout=2.0)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    try:
        thread = threading.Thread(target=call, daemon=True)
        start = time.monotonic()
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), "compare ignored connect_timeout=2 (no answer in 20 s)"
        assert time.monotonic() - start < 10
        assert isinstance(outcome[0], ValueError), outcome
        assert "`address`" in str(outcome[0]) and address in str(outcome[0])
    finally:
        close()


# --- orphans ---------------------------------------------------------------------------------
DRIVER = textwrap.dedent("""
    import lift
    from lift.datasets import load
    from lift.problems import TwoLayerReLU
    data = load("toy1d")
    prob = TwoLayerReLU(data.X_train, data.y_train, beta=0.1)
    lift.compare(prob, sizes=[1, 2, 4, 8], seeds=2, train={"steps": 10**6}, n_jobs=2,
                 population=1, include_runs=False)
""")
CLI = ["-m", "lift.cli", "compare", "relu", "--data", "toy1d", "--sizes", "1,2,4,8",
       "--seeds", "2", "--steps", "1000000", "--n-jobs", "2", "--population", "1",
       "--no-include-runs"]


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists processes via /proc")
@pytest.mark.parametrize("how", ["library", "cli"])
def test_sigkill_of_the_driver_leaves_no_process_behind(how, tmp_path):
    argv = ["-c", DRIVER] if how == "library" else [*CLI, "--out", str(tmp_path / "out")]
    driver = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tmp_path)
    procs: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:  # two workers and the resource tracker(s), then a moment to start
            procs = _descendants(driver.pid)
            workers = [p for p in procs if "popen_loky" in _cmdline(p)]
            if len(workers) >= 2:
                break
            assert driver.poll() is None, "the driver ended before its workers started"
            assert time.monotonic() < deadline, "no workers after 60 s"
            time.sleep(0.1)
        time.sleep(1.0)
        procs = _descendants(driver.pid)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {p: _cmdline(p) for p in procs if _alive(p)}
        assert not left, f"processes outlived their driver: {left}"
    finally:
        if driver.poll() is None:
            driver.kill()
        for p in procs:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class _DiesInWorkers(TwoLayerReLU):
    """Training kills the worker process it runs in (as the kernel's OOM killer would)."""

    def torch_objective(self, *args, **kwargs):
        if os.getpid() != self.driver:
            os._exit(137)
        return super().torch_objective(*args, **kwargs)


@pytest.mark.slow  # two worker processes start only to die (about 8 s)
def test_a_worker_that_dies_is_one_clear_error(tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    data = load("toy1d")
    prob = _DiesInWorkers(data.X_train, data.y_train, beta=0.1)
    prob.driver = os.getpid()
    with pytest.raises(compare_module.WorkerError, match="worker process died.*--n-jobs"):
        lift.compare(prob, sizes=[1, 2], seeds=1, train={"steps": 5}, n_jobs=2,
                     include_runs=False, store=tmp_path / "s")
