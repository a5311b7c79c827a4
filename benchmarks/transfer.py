"""Rational fitting side by side: the certified minimax bisection against peer libraries.

On the same data points and degrees, for each method: the max error and RMS error of its fit
on the data, and its wall time.

- ``lift bisection``: :class:`lift.problems.transfer.RationalFit` (``norm="inf"``), the global
  optimum of the discrete minimax problem within the bisection tolerance, with the certified
  ``global_bound`` (real data: the LP's Farkas certificate; frequency responses: the S-lemma
  certificate, a bound that the SOCP's fit need not reach);
- ``cvxpy DQCP``: cvxpy's own quasiconvex bisection (``qcp=True``) on the same model
  (``max_k |p_k - g_k q_k| / d_k``, ``d = q`` a positive variable, Chebyshev basis), Clarabel;
  the objective of its returned point is reported (``inf`` when that point's ``q`` vanishes on
  a data point), beside the level it claims;
- ``scipy AAA`` (``scipy.interpolate.AAA``, SciPy >= 1.15), ``baryrat AAA`` and ``baryrat
  BRASIL`` (best approximation on the continuous interval; real data from a known function),
  run in the peers' own virtual environment (``--peer-python``, default
  ``/work/peers-transfer-venv/bin/python``) by this same script in ``--peer`` mode (on a
  frequency response they get the data on both halves of the unit circle, conjugated, so that
  their complex-coefficient fits are those of real systems, as ours are);
- ``scikit-rf vector fitting`` on the frequency responses (``skrf.VectorFitting`` on a
  one-port ``Network`` built from the samples, at the bilinear-warped frequencies, so that its
  continuous-time type ``(n, n)`` is the same model class; the best split of the poles into
  real ones and complex pairs);
- system identification: the Hankel nuclear-norm lift with Ho–Kalman, least squares with
  Ho–Kalman, and python-control's ERA (``eigensys_realization``), by impulse-response error.

Timed rows come after a warm-up solve of each method; the first solve in a fresh interpreter
(imports included) is measured apart (``cold_start``). A last table gives the certified
bracket at degrees 8-14 (``run_degrees``).

Run ``python benchmarks/transfer.py`` (small sizes; about a minute). The goals: no peer's max
error is below ``global_bound`` (it is the global optimum), and the bisection is at least 5x
faster than cvxpy's DQCP path.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

PEER_PYTHON = "/work/peers-transfer-venv/bin/python"
#: (name, data, m, n): data is a classic function name or "cheby1" (a filter response)
CASES = [("exp", 2, 2), ("exp", 4, 4), ("abs", 4, 4), ("runge", 4, 4), ("tanh", 6, 6),
         ("cheby1", 4, 4)]


def _errors(values: np.ndarray, fit: np.ndarray) -> tuple[float, float]:
    err = np.abs(fit - values)
    return float(np.max(err)), float(np.sqrt(np.mean(err ** 2)))


def peer_era(path: str) -> None:
    """``--peer-era`` mode (peers' venv): python-control's ERA on the impulse response in
    ``path`` at order ``r``; prints JSON ``[impulse response of the model, seconds]``."""
    import control

    data = np.load(path)
    h, r = data["h"], int(data["r"])
    t0 = time.perf_counter()
    sys_, _ = control.eigensys_realization(h, r, dt=True)
    elapsed = time.perf_counter() - t0
    A, B, C, D = (np.asarray(x) for x in (sys_.A, sys_.B, sys_.C, sys_.D))
    out, x = [float(D[0, 0])], B
    for _ in range(1, h.size):
        out.append(float((C @ x)[0, 0]))
        x = A @ x
    print(json.dumps([out, elapsed]))


def peer_main(path: str) -> None:
    """``--peer`` mode (peers' venv): fit the data in ``path`` (npz) and print JSON rows."""
    data = np.load(path)
    z, g, n = data["z"], data["g"], int(data["n"])
    name = str(data["name"])
    rows = []
    zfit, gfit = z, g
    if np.iscomplexobj(z):
        # a real system's response is conjugate-symmetric: the peers (complex coefficients)
        # see both halves of the circle, so that their fits are those of real systems too
        zfit, gfit = np.concatenate([z, np.conj(z[::-1])]), np.concatenate([g, np.conj(g[::-1])])
        keep = np.concatenate([[True], np.abs(np.diff(zfit)) > 1e-14])
        zfit, gfit = zfit[keep], gfit[keep]
    warnings.simplefilter("ignore")
    try:
        from scipy.interpolate import AAA

        t0 = time.perf_counter()
        r = AAA(zfit, gfit, max_terms=n + 1)
        elapsed = time.perf_counter() - t0
        rows.append(("scipy AAA", *_errors(g, r(z)), elapsed))
    except ImportError:
        pass
    try:
        import baryrat

        t0 = time.perf_counter()
        r = baryrat.aaa(zfit, gfit, mmax=n + 1)
        elapsed = time.perf_counter() - t0
        rows.append(("baryrat AAA", *_errors(g, r(z)), elapsed))
        if not np.iscomplexobj(z):
            funcs = {"exp": np.exp, "abs": np.abs,
                     "runge": lambda x: 1.0 / (1.0 + 25.0 * x ** 2),
                     "tanh": lambda x: np.tanh(5.0 * x)}
            t0 = time.perf_counter()
            r = baryrat.brasil(funcs[name], (float(z.min()), float(z.max())), n)
            elapsed = time.perf_counter() - t0
            rows.append(("baryrat BRASIL", *_errors(g, r(z)), elapsed))
    except ImportError:
        pass
    if np.iscomplexobj(z):
        try:
            rows.append(("scikit-rf vector fitting", *_vector_fit(z, g, n)))
        except ImportError:
            pass
    print(json.dumps(rows))


def _vector_fit(z: np.ndarray, g: np.ndarray, n: int) -> tuple[float, float, float]:
    """scikit-rf's ``VectorFitting`` on a discrete-time response at type ``(n, n)``: the
    bilinear map ``s = i tan(w / 2)`` takes a continuous-time rational of type ``(n, n)``
    (``n`` poles and a constant term) to a discrete-time one of the same type, so the fit
    runs on the warped frequencies ``tan(w / 2) / (2 pi)`` of a one-port ``Network`` (the
    point ``w = pi``, ``s = inf``, takes the model's constant term). Every split of ``n``
    into real poles and complex pairs is tried; the best max error is reported, with the
    time of all the fits."""
    import skrf
    from skrf.vectorFitting import VectorFitting

    w = np.angle(z)
    keep = np.abs(w) < np.pi - 1e-12
    f = np.tan(np.abs(w[keep]) / 2) / (2 * np.pi)
    net = skrf.Network(frequency=skrf.Frequency.from_f(f, unit="hz"),
                       s=g[keep].reshape(-1, 1, 1))
    best, elapsed = None, 0.0
    for pairs in range(n // 2 + 1):
        vf = VectorFitting(net)
        t0 = time.perf_counter()
        vf.vector_fit(n_poles_real=n - 2 * pairs, n_poles_cmplx=pairs, fit_constant=True,
                      fit_proportional=False)
        elapsed += time.perf_counter() - t0
        fit = np.full(g.shape, complex(vf.constant_coeff[0]))
        fit[keep] = vf.get_model_response(0, 0, f)
        err = _errors(g, fit)
        if best is None or err[0] < best[0]:
            best = err
    return (*best, elapsed)


def dqcp(prob) -> tuple[float, float, float]:
    """cvxpy's DQCP bisection on the same model: (objective of its point, claimed level,
    seconds)."""
    import cvxpy as cp

    a = cp.Variable(prob.num_degree + 1)
    b = cp.Variable(prob.den_degree + 1)
    d = cp.Variable(prob.n_samples, pos=True)
    r = prob.phi_num @ a - (prob.values[:, None] * prob.phi_den) @ b
    cvx = cp.Problem(cp.Minimize(cp.max(cp.abs(r) / d)),
                     [d == prob.phi_den @ b, cp.sum(d) == prob.n_samples])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cvx.solve(solver="CLARABEL", qcp=True, low=0.0,
                      high=float(np.max(np.abs(prob.values))))
        except cp.error.SolverError:
            return float("nan"), float("nan"), time.perf_counter() - t0
    elapsed = time.perf_counter() - t0
    if a.value is None:
        return float("nan"), float("nan"), elapsed
    return prob.objective((a.value, b.value)), float(cvx.value), elapsed


def cold_start(points: int = 201) -> dict:
    """Seconds of the first solve in a fresh interpreter (imports of the solve path
    included, ``import lift`` excluded), for us and for cvxpy's DQCP, on exp at (2, 2)."""
    code = ("import time, warnings, sys; sys.path.insert(0, {bench!r}); "
            "warnings.simplefilter('ignore'); "
            "from lift.problems.transfer import RationalFit, classic; "
            "import transfer; prob = RationalFit(*classic('exp', {points}), 2, 2); "
            "t0 = time.perf_counter(); {call}; print(time.perf_counter() - t0)")
    out = {}
    bench = str(pathlib.Path(__file__).parent)
    for label, call in (("lift bisection", "prob.lift().solve(tol=1e-6)"),
                        ("cvxpy DQCP", "transfer.dqcp(prob)")):
        res = subprocess.run([sys.executable, "-c", code.format(bench=bench, points=points,
                                                                 call=call)],
                             capture_output=True, text=True, check=False)
        out[label] = float(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 \
            else float("nan")
    return out


def warm_up() -> None:
    """One small solve of each method, so that the timed rows do not pay the imports and
    first-call set-up (measured apart by :func:`cold_start`)."""
    from lift.problems.transfer import RationalFit, classic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob = RationalFit(*classic("runge", 21), 1, 1)
        prob.lift().solve(tol=1e-3)
        dqcp(prob)


def run(cases=CASES, points: int = 201, peer_python: str = PEER_PYTHON,
        with_dqcp: bool = True) -> list[dict]:
    """All rows: one per (case, method), after :func:`warm_up`."""
    from lift.errors import InaccurateSolutionWarning
    from lift.problems.transfer import RationalFit, classic, filter_response

    warm_up()
    out = []
    for name, m, n in cases:
        if name == "cheby1":
            z, g, _ = filter_response("cheby1", 6, points=points)
        else:
            z, g = classic(name, points)
        case = f"{name} ({m},{n})"
        prob = RationalFit(z, g, m, n)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InaccurateSolutionWarning)
            sol = prob.lift().solve(tol=1e-6)
        elapsed = time.perf_counter() - t0
        ev = prob.evaluate(sol.params)
        out.append({"case": case, "method": "lift bisection", "max_error": ev["max_error"],
                    "rms_error": ev["rms_error"], "time": elapsed,
                    "global_bound": sol.global_bound, "status": sol.status,
                    "steps": sol.iterations})
        if with_dqcp and not np.iscomplexobj(z):
            value, level, secs = dqcp(prob)
            out.append({"case": case, "method": "cvxpy DQCP", "max_error": value,
                        "rms_error": float("nan"), "time": secs, "claimed_level": level})
        if peer_python and pathlib.Path(peer_python).exists():
            with tempfile.TemporaryDirectory() as tmp:
                path = pathlib.Path(tmp) / "data.npz"
                np.savez(path, z=z, g=g, n=max(m, n), name=name)
                res = subprocess.run([peer_python, __file__, "--peer", str(path)],
                                     capture_output=True, text=True, check=False)
            if res.returncode == 0 and res.stdout.strip():
                for method, mx, rms, secs in json.loads(res.stdout.strip().splitlines()[-1]):
                    out.append({"case": case, "method": method, "max_error": mx,
                                "rms_error": rms, "time": secs})
            else:
                print(f"peer run failed for {case}: {res.stderr[-500:]}", file=sys.stderr)
    return out


def run_lds(order: int = 4, length: int = 60, sequences: int = 4, noise: float = 0.05,
            reg: float = 0.5, seed: int = 0, peer_python: str = PEER_PYTHON) -> list[dict]:
    """Identification of a random stable system: impulse-response error of the realization
    (max over the T samples) and time, for the Hankel nuclear-norm lift + Ho–Kalman (order
    read off the singular values), least squares + Ho–Kalman at the true order, and
    python-control's ERA on the least-squares impulse response at the true order."""
    from lift.errors import InaccurateSolutionWarning
    from lift.problems.transfer import LinearSystemID, impulse_response, lds_data

    u, y, system = lds_data(order, length, sequences, noise=noise, seed=seed)
    h_true = impulse_response(*system, length)
    rows = []
    case = f"lds n={order} T={length} N={sequences} noise={noise}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InaccurateSolutionWarning)
        for label, prob, lift in (
                (f"lift nuclear norm (reg {reg}) + Ho-Kalman",
                 LinearSystemID(u, y, 2 * order, reg=reg), {"rank_tol": 1e-3}),
                ("lift least squares + Ho-Kalman", LinearSystemID(u, y, order),
                 {"order": order})):
            t0 = time.perf_counter()
            sol = prob.lift(**lift).solve()
            elapsed = time.perf_counter() - t0
            err = float(np.max(np.abs(prob.impulse(sol.params) - h_true)))
            rows.append({"case": case, "method": label, "max_error": err,
                         "rms_error": float("nan"), "time": elapsed,
                         "global_bound": sol.global_bound, "order": sol.size})
    h_ls = np.linalg.lstsq(LinearSystemID(u, y, order).conv_matrix(), y.ravel(),
                           rcond=None)[0]
    if peer_python and pathlib.Path(peer_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "h.npz"
            np.savez(path, h=h_ls, r=order)
            res = subprocess.run([peer_python, __file__, "--peer-era", str(path)],
                                 capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip():
            h_era, secs = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append({"case": case, "method": "python-control ERA (on least squares)",
                         "max_error": float(np.max(np.abs(np.asarray(h_era) - h_true))),
                         "rms_error": float("nan"), "time": secs, "order": order})
        else:
            print(f"ERA peer failed: {res.stderr[-500:]}", file=sys.stderr)
    return rows


#: high-degree rows (name, degree, points): how far the certified bracket closes
DEGREES = [("tanh", 8, 201), ("exp", 8, 201), ("abs", 8, 201), ("abs", 10, 201),
           ("abs", 12, 401), ("sqrt", 10, 401), ("tanh", 14, 401)]


def run_degrees(cases=DEGREES) -> list[dict]:
    """The bracket ``[global_bound, value]`` at degrees 8-14 (tolerance 1e-6): its relative
    width, the status, the oracle calls and the time."""
    from lift.problems.transfer import RationalFit, classic

    rows = []
    for name, k, points in cases:
        prob = RationalFit(*classic(name, points), k, k)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = prob.lift().solve(tol=1e-6)
        elapsed = time.perf_counter() - t0
        lo, hi = sol.info["bracket"]
        rows.append({"case": f"{name} ({k},{k}), {points} points", "lo": lo, "hi": hi,
                     "width": (hi - lo) / hi if hi > 0 else 0.0, "status": sol.status,
                     "steps": sol.iterations, "time": elapsed})
    return rows


def degrees_table(rows: list[dict]) -> str:
    """A markdown table of :func:`run_degrees`."""
    lines = ["| case | certified bound | value | relative width | status | calls | time (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['lo']:.6g} | {r['hi']:.6g} | {r['width']:.2g} | "
                     f"{r['status']} | {r['steps']} | {r['time']:.2f} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """A markdown table of the rows."""
    lines = ["| case | method | max error | RMS error | time (s) | certified bound |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        bound = r.get("global_bound")
        extra = f"{bound:.7g}" if bound is not None else ""
        if "claimed_level" in r:
            extra = f"claims {r['claimed_level']:.7g}"
        lines.append(f"| {r['case']} | {r['method']} | {r['max_error']:.4g} | "
                     f"{r['rms_error']:.3g} | {r['time']:.3f} | {extra} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--peer-era", help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=201)
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--no-dqcp", action="store_true")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.peer:
        peer_main(args.peer)
        return
    if args.peer_era:
        peer_era(args.peer_era)
        return
    cold = cold_start(args.points)
    rows = run(points=args.points, peer_python=args.peer_python, with_dqcp=not args.no_dqcp)
    rows += run_lds(peer_python=args.peer_python)
    print(table(rows))
    print("\ncold start (first solve in a fresh interpreter, exp (2, 2)): " +
          ", ".join(f"{k} {v:.3f} s" for k, v in cold.items()))
    degrees = run_degrees()
    print()
    print(degrees_table(degrees))
    rows += degrees
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
