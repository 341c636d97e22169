#!/usr/bin/env python
"""bti side by side with a floor app (issue 17): every figure as project / floor / ratio.

    .venv/bin/python bench/bench_floor.py                    # about 6–8 minutes on 2 CPUs
    .venv/bin/python bench/bench_floor.py --quick            # about 2 minutes, fewer samples

Loopback only. Two servers run on the same gunicorn settings (``-c deploy/gunicorn.conf.py``,
production mode, the same number of sync workers, no worker recycling):

- **bti** on a migrated SQLite file built as bench_web.py builds it (a fictional municipality,
  users made with ``create_user``, cases via ``cases.open_case``/``cases.fire``);
- **the floor**, ``bench/floor_app.py``: Flask + sqlite3 + Jinja and nothing of bti, on a
  SQLite file with the same shape (a case with ``--entries`` entries, one with 50, small cases).

Measured, each kind in rounds that alternate which server goes first (the machine is shared
and noisy: only ratios measured in the same run are compared):

1. the case page with its newest 50 entries, and with ``--entries`` entries shown
   (bti: ``/saker/<id>`` and ``?shown=N``; floor: a table of 50 / N rows): p50, p95, and the
   servers' CPU per request (user + system time of the gunicorn process group, from /proc);
2. a note POST, sequential (p50, p95, CPU per request), then ``--threads`` client threads for
   ``--seconds`` each (throughput);
3. the load mix: ``--users`` users (each its own small case, signed in on its own session),
   80 % case pages and 20 % note POSTs, a random pause of 0–2×``--think`` s between requests,
   ``--load-seconds`` per server: p95 per kind, CPU per request, errors;
4. ``create_app()`` in a fresh interpreter (import + build; median of 3) next to a hello-world
   Flask app, and gunicorn's time to answer ``/healthz`` (median of 3 starts each).

It prints one table (metric, bti, floor, ratio, the issue's goal for the ratio) and asserts
nothing; every non-2xx/3xx answer is counted and printed. The temporary directory is removed at
the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import floor_app  # noqa: E402
from bench_web import WORKFLOW_ID  # noqa: E402
from bench_web import WORKFLOWS  # noqa: E402
from bench_web import Gunicorn  # noqa: E402
from bench_web import HttpClient  # noqa: E402
from bench_web import World  # noqa: E402
from bench_web import all_entries_path  # noqa: E402
from bench_web import free_port  # noqa: E402
from bench_web import gunicorn_env  # noqa: E402
from bench_web import machine_facts  # noqa: E402
from bench_web import note_text  # noqa: E402
from bench_web import summary  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


# --- servers ----------------------------------------------------------------------------------


class Server(Gunicorn):
    """bench_web's gunicorn child (own process group, stopped by signalling it), started with
    the production configuration file instead of bare flags, and with a CPU meter."""

    def __init__(self, name: str, app: str, cwd: Path, env: dict[str, str], workers: int,
                 log: Path) -> None:  # not super().__init__: that starts its own gunicorn
        self.name = name
        self.port = free_port()
        exe = Path(sys.executable).parent / "gunicorn"
        env = {**env, "BTI_BIND": f"127.0.0.1:{self.port}", "BTI_WORKERS": str(workers),
               "BTI_MAX_REQUESTS": "0", "BTI_ACCESS_LOG": str(log) + ".access",
               "BTI_ERROR_LOG": "-"}
        self.argv = [str(exe), "-c", str(GUNICORN_CONF), app]
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, cwd=cwd, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the group, plus what the master reaped."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) != self.proc.pid:  # field 5, pgrp (after "pid (comm)")
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
            if int(pid) == self.proc.pid:
                total += int(fields[13]) + int(fields[14])  # cutime, cstime
        return total / CLK_TCK


class Side:
    """One server and how to drive it: the page paths, the note POST, the clients."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: Server | None = None
        self.page50 = ""
        self.page_all = ""
        self.note_cases: list[int] = []
        self.clients: dict[int, HttpClient] = {}
        self.versions: dict[int, int] = {}
        self.errors: Counter[str] = Counter()

    def page_path(self, case_id: int) -> str:
        return f"/saker/{case_id}" if self.name == "bti" else f"/case/{case_id}?rows=50"

    def note(self, case_id: int, i: int) -> tuple[int, float]:
        client = self.clients[case_id]
        if self.name == "bti":
            status, _, secs = client.add_note(case_id, self.versions[case_id], note_text(i))
        else:
            status, _, secs = client.request("POST", f"/case/{case_id}/note",
                                             {"text": note_text(i)})
        if status == 303:
            self.versions[case_id] = self.versions.get(case_id, 0) + 1
        else:
            self.errors[f"POST {status}"] += 1
            if self.name == "bti":  # start again from the truth
                v = client.case_version(case_id)
                if v is not None:
                    self.versions[case_id] = v
        return status, secs

    def get(self, client: HttpClient, path: str) -> float:
        status, _, secs = client.request("GET", path)
        if status != 200:
            self.errors[f"GET {status}"] += 1
        return secs


# --- measurements -------------------------------------------------------------------------------


def measure(side: Side, n: int, op) -> tuple[list[float], float]:
    """n calls of op() → (latencies, server CPU seconds per call)."""
    assert side.server is not None
    c0 = side.server.cpu_seconds()
    lat = [op(i) for i in range(n)]
    return lat, (side.server.cpu_seconds() - c0) / max(n, 1)


def rounds(sides: list[Side], rounds_n: int, n: int, make_op) -> dict[str, dict]:
    """rounds_n rounds of n calls per side, alternating which side goes first."""
    lat: dict[str, list[float]] = {s.name: [] for s in sides}
    cpu: dict[str, list[float]] = {s.name: [] for s in sides}
    for r in range(rounds_n):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            op = make_op(side)
            for i in range(max(2, n // 10)):  # warm-up
                op(i)
            la, c = measure(side, n, op)
            lat[side.name] += la
            cpu[side.name].append(c)
    return {name: {**summary(lat[name]), "cpu_ms": statistics.median(cpu[name]) * 1000}
            for name in lat}


def run_threads(side: Side, n: int, seconds: float, body) -> tuple[float, float]:
    """``n`` threads run ``body(i, until)`` together for ``seconds`` → (elapsed seconds, the
    server's CPU seconds meanwhile); all start at one barrier, so the clock starts once."""
    assert side.server is not None
    barrier = threading.Barrier(n + 1)
    until = [0.0]

    def work(i: int) -> None:
        barrier.wait()
        body(i, until[0])

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    c0 = side.server.cpu_seconds()
    until[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    barrier.wait()
    for t in ts:
        t.join()
    return time.perf_counter() - t0, side.server.cpu_seconds() - c0


def concurrent(side: Side, threads: int, seconds: float) -> tuple[float, float]:
    """threads clients POST notes on disjoint cases for seconds → (requests/s, CPU ms/request)."""
    per = [side.note_cases[i::threads] for i in range(threads)]
    counts = [0] * threads

    def body(i: int, until: float) -> None:
        k = 0
        while time.perf_counter() < until:
            side.note(per[i][k % len(per[i])], k)
            k += 1
        counts[i] = k

    elapsed, cpu = run_threads(side, threads, seconds, body)
    total = sum(counts)
    return total / elapsed, cpu / max(total, 1) * 1000


def load_mix(side: Side, users: list[tuple[HttpClient, int]], seconds: float, think: float,
             seed: int) -> dict:
    lat: dict[str, list[float]] = {"page": [], "note": []}
    lock = threading.Lock()

    def body(i: int, until: float) -> None:
        rnd = random.Random(seed + i)
        client, case_id = users[i]
        k = 0
        while time.perf_counter() < until:
            if rnd.random() < 0.8:
                kind, secs = "page", side.get(client, side.page_path(case_id))
            else:
                kind, secs = "note", side.note(case_id, k)[1]
            with lock:
                lat[kind].append(secs)
            k += 1
            time.sleep(rnd.uniform(0, 2 * think))

    elapsed, cpu = run_threads(side, len(users), seconds, body)
    n = len(lat["page"]) + len(lat["note"])
    return {"rps": n / elapsed, "cpu_ms": cpu / max(n, 1) * 1000,
            "page": summary(lat["page"]) if lat["page"] else None,
            "note": summary(lat["note"]) if lat["note"] else None}


def startup(code: str, env: dict[str, str], cwd: Path, runs: int = 3) -> float:
    """Median seconds a fresh interpreter prints for ``code`` (which prints one float)."""
    vals = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout
        vals.append(float(out.strip().splitlines()[-1]))
    return statistics.median(vals)


BTI_CREATE = ("import time; t = time.perf_counter(); from bti.web import create_app; "
              "create_app(); print(time.perf_counter() - t)")
HELLO_CREATE = ("import time; t = time.perf_counter(); from flask import Flask; "
                "app = Flask('hello'); app.add_url_rule('/', 'i', lambda: 'ok'); "
                "print(time.perf_counter() - t)")


# --- the table ------------------------------------------------------------------------------


ROWS: list[tuple[str, float, float, str, float | None]] = []


def row(metric: str, bti: float, floor: float, unit: str, goal: float | None) -> None:
    ROWS.append((metric, bti, floor, unit, goal))


def print_table() -> None:
    print("\n== bti / floor ==")
    print(f"  {'metric':<46} {'bti':>10} {'floor':>10} {'ratio':>7}  goal")
    for metric, b, f, unit, goal in ROWS:
        ratio = b / f if f else float("inf")
        g = "" if goal is None else (f"≤ {goal:g}×  " + ("met" if ratio <= goal else "MISSED"))
        if unit == "rps":  # higher is better: the goal is a minimum
            g = "" if goal is None else (f"≥ {goal:g}×  " + ("met" if ratio >= goal
                                                              else "MISSED"))
        print(f"  {metric:<46} {b:>9.2f}{unit[:1]} {f:>9.2f}{unit[:1]} {ratio:>6.2f}×  {g}")
    print("  (units: m = milliseconds, s = seconds, r = requests per second)")


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (about 2 minutes)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=100, help="per kind, side and round")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--load-seconds", type=float, default=40.0)
    ap.add_argument("--think", type=float, default=0.5)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--startup-only", action="store_true",
                    help="measure 4 (start-up) only, on a small data set")
    args = ap.parse_args(argv[1:])
    if args.startup_only:
        args.entries, args.users, args.threads = 50, 2, 2
    if args.quick:
        args.rounds, args.requests, args.seconds, args.load_seconds = 2, 40, 4.0, 12.0
    tmp = Path(tempfile.mkdtemp(prefix="bti-bench-floor-"))
    print("== bench_floor ==")
    for line in machine_facts(argv, tmp):
        print("  " + line)
    servers: list[Server] = []
    try:
        return run(args, tmp, servers)
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"  (kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path, servers: list[Server]) -> int:
    wf_dir = tmp / "workflows"
    wf_dir.mkdir()
    shutil.copy(WORKFLOWS / f"{WORKFLOW_ID}.toml", wf_dir)
    url = f"sqlite:///{tmp / 'bti.sqlite3'}"
    owners = max(args.users, args.threads)
    print(f"\n[setup] bti: {owners + 1} users, a case with {args.entries} entries, one with "
          f"50, {owners} small cases; the floor: the same shape", flush=True)
    t0 = time.perf_counter()
    world = World(url, wf_dir, owners=owners, colleagues=20)
    reporter_name, reporter_id = world.reporter
    big = world.open_case(reporter_id, "Stor Sak")
    world.add_notes(reporter_id, big, args.entries - 1, batch=100)
    small50 = world.open_case(reporter_id, "Lita Sak")
    world.add_notes(reporter_id, small50, 49, batch=100)
    own = [(name, uid, world.open_case(uid, f"Barn {i + 1}"))
           for i, (name, uid) in enumerate(world.teachers)]
    world.engine.dispose()
    floor_db = tmp / "floor.sqlite3"
    floor_app.make_db(str(floor_db), [args.entries, 50] + [1] * owners)
    print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)

    bti_env = gunicorn_env(url, wf_dir)
    floor_env = {k: v for k, v in os.environ.items() if not k.startswith("BTI_")}
    floor_env["FLOOR_DB"] = str(floor_db)

    # --- 4 first (it restarts servers): readiness, then create_app
    print("\n[4] start-up", flush=True)
    ready: dict[str, list[float]] = {"bti": [], "floor": []}
    for r in range(3):
        for name in (("bti", "floor") if r % 2 == 0 else ("floor", "bti")):
            s = (Server("bti", "app:app", ROOT, bti_env, args.workers, tmp / "bti.log")
                 if name == "bti" else
                 Server("floor", "floor_app:app", BENCH, floor_env, args.workers,
                        tmp / "floor.log"))
            ready[name].append(s.wait_ready())
            s.stop()
    row("gunicorn ready (median of 3)", statistics.median(ready["bti"]),
        statistics.median(ready["floor"]), "s", 3.0)
    create_bti = startup(BTI_CREATE, bti_env, ROOT)
    create_hello = startup(HELLO_CREATE, floor_env, BENCH)
    row("create_app() incl. imports (median of 3)", create_bti, create_hello, "s", None)
    print(f"  create_app(): {create_bti:.2f} s (goal ≤ 0.8 s: "
          f"{'met' if create_bti <= 0.8 else 'MISSED'})", flush=True)

    if args.startup_only:
        print_table()
        print("  load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return 0

    # --- the servers for the rest
    bti = Side("bti")
    floor = Side("floor")
    bti.server = Server("bti", "app:app", ROOT, bti_env, args.workers, tmp / "bti.log")
    floor.server = Server("floor", "floor_app:app", BENCH, floor_env, args.workers,
                          tmp / "floor.log")
    servers += [bti.server, floor.server]
    bti.server.wait_ready()
    floor.server.wait_ready()
    print("  signing in the bti users (each its own session)", flush=True)
    reporter = HttpClient(bti.server.port)
    reporter.login(reporter_name, big)
    for name, _uid, cid in own:
        c = HttpClient(bti.server.port)
        c.login(name, cid)
        bti.clients[cid] = c
        bti.versions[cid] = c.case_version(cid) or 0
        bti.note_cases.append(cid)
    floor_client = HttpClient(floor.server.port)
    for k in range(owners):
        cid = 3 + k
        floor.clients[cid] = HttpClient(floor.server.port)
        floor.note_cases.append(cid)

    sides = [bti, floor]
    paths = {"bti": (f"/saker/{big}", all_entries_path(big, args.entries)),
             "floor": ("/case/1?rows=50", f"/case/1?rows={args.entries}")}

    print("\n[1] case pages", flush=True)
    res = rounds(sides, args.rounds, args.requests, lambda s: (
        lambda i: s.get(reporter if s.name == "bti" else floor_client, paths[s.name][0])))
    row("case page, newest 50: p95", res["bti"]["p95"], res["floor"]["p95"], "ms", 3.0)
    row("case page, newest 50: CPU per request", res["bti"]["cpu_ms"],
        res["floor"]["cpu_ms"], "ms", 3.0)
    res = rounds(sides, args.rounds, max(10, args.requests // 4), lambda s: (
        lambda i: s.get(reporter if s.name == "bti" else floor_client, paths[s.name][1])))
    row(f"case page, {args.entries} shown: p95", res["bti"]["p95"], res["floor"]["p95"],
        "ms", 3.0)
    row(f"case page, {args.entries} shown: CPU per request", res["bti"]["cpu_ms"],
        res["floor"]["cpu_ms"], "ms", None)

    print("[2] note POSTs", flush=True)
    counter = [0]

    def note_op(s: Side):
        def op(i: int) -> float:
            counter[0] += 1
            return s.note(s.note_cases[counter[0] % len(s.note_cases)], counter[0])[1]
        return op

    res = rounds(sides, args.rounds, args.requests, note_op)
    row("note POST, sequential: p95", res["bti"]["p95"], res["floor"]["p95"], "ms", 2.0)
    row("note POST, sequential: CPU per request", res["bti"]["cpu_ms"], res["floor"]["cpu_ms"],
        "ms", None)
    thr: dict[str, list[float]] = {"bti": [], "floor": []}
    for r in range(2):
        for s in (sides if r % 2 == 0 else sides[::-1]):
            thr[s.name].append(concurrent(s, args.threads, args.seconds)[0])
    row(f"note POST, {args.threads} threads: throughput", statistics.median(thr["bti"]),
        statistics.median(thr["floor"]), "rps", 0.5)

    print(f"[3] load mix: {args.users} users, {args.load_seconds:g} s per server", flush=True)
    users_bti = [(bti.clients[cid], cid) for _, _, cid in own[:args.users]]
    users_floor = [(floor.clients[3 + k], 3 + k) for k in range(args.users)]
    lm = {"floor": load_mix(floor, users_floor, args.load_seconds, args.think, 1),
          "bti": load_mix(bti, users_bti, args.load_seconds, args.think, 1)}
    row("load mix: CPU per request", lm["bti"]["cpu_ms"], lm["floor"]["cpu_ms"], "ms", 3.0)
    row("load mix: requests per second", lm["bti"]["rps"], lm["floor"]["rps"], "rps", None)
    for kind in ("page", "note"):
        if lm["bti"][kind] and lm["floor"][kind]:
            row(f"load mix: {kind} p95", lm["bti"][kind]["p95"], lm["floor"][kind]["p95"],
                "ms", None)
            print(f"  bti {kind} p95 {lm['bti'][kind]['p95']:.1f} ms (goal ≤ 250 ms: "
                  f"{'met' if lm['bti'][kind]['p95'] <= 250 else 'MISSED'})")

    print_table()
    errors = bti.errors + floor.errors
    for side in sides:
        print(f"  {side.name}: errors {dict(side.errors) or 0}")
    print(f"  load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
