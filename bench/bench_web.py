#!/usr/bin/env python
"""Benchmark: the case page and a transition through the web app, on loopback only.

Run from the repository root:

    .venv/bin/python bench/bench_web.py [--requests N] [--seconds N] [--workers N] [--entries N]

It prints figures; it asserts nothing (it is a benchmark, not a test). What it measures:

1. the case page (``GET /saker/<id>``) of a case with ``--entries`` stafettlogg entries (default
   1,000), as the case's reporter, with the newest 50 entries (the page's default) and in-process
   also with every entry shown (``?shown=N``), its HTML size and element count (goal ≤ 1,500
   elements): (a) in-process with Flask's test client, (b) over HTTP through
   gunicorn (``gunicorn -w 2 -b 127.0.0.1:PORT app:app``). Goal: p95 ≤ 40 ms;
2. a transition over HTTP through gunicorn: ``POST /saker/<id>/handling/add_note`` (an internal
   transition) with the CSRF token and the right ``expected_version``, spread over ``--cases``
   cases (default 24), first sequentially (``--requests``, default 500), then from ``--threads``
   client threads (default 8) for ``--seconds`` (default 15). Goal: p95 ≤ 20 ms; every response
   must be 2xx/3xx (the others are counted and printed);
3. the SQL statements one request sends (a ``before_cursor_execute`` listener, in-process), and
   where a case page's time goes (the bench wraps a few service functions; no app code changes);
4. if a goal is missed (or with ``--always-profile``): cProfile of ``--profile`` case pages
   (default 100) in-process, top 25 by cumulative time, restricted to ``bti/`` and the
   SQLAlchemy session / Flask / Jinja entry points;
5. with ``--cpu`` instead of all that: the CPU time per request (``time.process_time``,
   in-process, SQLite in the same process) of the case page (a small case and the big one) and
   of an add_note POST, against two floors measured in the same rounds (``GET /healthz`` and a
   bare ``sqlite3`` transaction); with ``--compare REF`` (a git ref of this repository, or a
   directory) the same for that code and this checkout, each in child processes of its own,
   alternating A B B A, and both side by side.

The app runs in production mode (``BTI_SECRET_KEY`` set, ``BTI_DEV`` unset), so the session
cookie is ``__Host-bti`` with the Secure flag. Over plain http a browser would not send it back;
the bench's client (``http.client``) keeps the cookie itself from the Set-Cookie header and sends
it anyway. The database is a SQLite file migrated with Alembic (``bti.migrate.upgrade``).

gunicorn runs as a child in its own process group; the group is stopped (SIGTERM, then SIGKILL)
and waited for at the end. Everything lives in a temporary directory that is removed at the end
(``--keep`` keeps it). All names, passwords and texts are made up.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import importlib.metadata
import math
import os
import platform
import pstats
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
#: Whose ``bti`` is measured: this checkout, or (``--compare``, in a child process) another one,
#: put first on the path so it wins over the editable install.
CODE = Path(os.environ.get("BTI_BENCH_CODE") or ROOT).resolve()
if str(CODE) not in sys.path or CODE != ROOT:
    sys.path.insert(0, str(CODE))

import sqlalchemy  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session as OrmSession  # noqa: E402

from bti.config import Settings  # noqa: E402
from bti.db.engine import make_engine  # noqa: E402
from bti.db.engine import make_session_factory  # noqa: E402
from bti.domain.cases import Case  # noqa: E402
from bti.domain.log import AuditEvent  # noqa: E402
from bti.domain.log import StafettloggEntry  # noqa: E402
from bti.domain.org import Municipality  # noqa: E402
from bti.domain.org import Unit  # noqa: E402
from bti.domain.org import User  # noqa: E402
from bti.domain.org import UserRole  # noqa: E402
from bti.migrate import upgrade  # noqa: E402
from bti.services.accounts import auth as auth_service  # noqa: E402
from bti.services.accounts.users import create_user  # noqa: E402
from bti.services.cases import casepage  # noqa: E402
from bti.services.cases import lifecycle as cases  # noqa: E402
from bti.services.cases import stafettlogg  # noqa: E402
from bti.services.context import Ctx  # noqa: E402
from bti.services.context import utcnow  # noqa: E402
from bti.services.workflows.registry import WorkflowRegistry  # noqa: E402
from bti.web import create_app  # noqa: E402
from bti.web.ui import cases as cases_ui  # noqa: E402

WORKFLOWS = CODE / "workflows"
WORKFLOW_ID = "bti-standard"
PASSWORD = "eit oppdikta passord berre for benken"  # noqa: S105 - made up, bench users only
DOM_GOAL = 1_500  # elements of the case page (issue 13)
PAGE_GOAL_MS = 40.0
POST_GOAL_MS = 20.0
CONCERN = {"what_seen": "Barnet verkar trøytt og trekkjer seg unna leik i friminutta.",
           "since": "Etter haustferien"}
NOTES = [
    "Lysglimt: god dag på skulen i dag, leika med fleire i friminuttet.",
    "Samtale med kontaktlærar om korleis veka har gått. Barnet var roleg og deltok i timane.",
    "Barnet kom seint i dag og sa det hadde sove dårleg. Vi held fram med å følgje med.",
    "Avtalt at helsesjukepleiar tek ein prat med barnet neste veke. Føresette er orienterte.",
    "Kort notat: barnet åt frukost på skulen og var med på gymmen.",
]
LOGIN_PATH = "/auth/login"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
T_START = time.perf_counter()


# --- small helpers ----------------------------------------------------------------------------


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    return {"n": n, "p50": quantile(s, 0.50) * 1e3, "p95": quantile(s, 0.95) * 1e3,
            "p99": quantile(s, 0.99) * 1e3, "mean": (sum(s) / n * 1e3) if n else float("nan"),
            "min": (s[0] * 1e3) if n else float("nan"), "max": (s[-1] * 1e3) if n else float("nan")}


def fmt_summary(st: dict[str, float]) -> str:
    return (f"p50 {st['p50']:7.2f} ms  p95 {st['p95']:7.2f} ms  p99 {st['p99']:7.2f} ms  "
            f"mean {st['mean']:7.2f} ms  (min {st['min']:.2f}, max {st['max']:.2f}; "
            f"n={st['n']:,})")


def verdict(p95_ms: float, goal_ms: float) -> str:
    return f"goal p95 ≤ {goal_ms:g} ms: {'met' if p95_ms <= goal_ms else 'NOT met'}"


def version_of(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_facts(argv: list[str], tmpdir: Path) -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        f"command: {shlex.join([sys.executable, *argv])}",
        f"date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"machine: nproc={os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), cpu={cpu}, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"sqlite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, "
        f"Flask {version_of('flask')}, Werkzeug {version_of('werkzeug')}, "
        f"Jinja2 {version_of('jinja2')}, gunicorn {version_of('gunicorn')}",
        "load average (1, 5, 15 min) at start: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"temporary directory: {tmpdir}",
    ]


def csrf_from(html: str) -> str | None:
    m = _CSRF.search(html)
    return m.group(1) if m else None


def version_from(html: str, trigger: str = "add_note") -> int | None:
    """The case's version on a case page: its ``data-case-version`` (the cockpit page, whose
    action forms are on pages of their own), else the ``expected_version`` of ``trigger``'s form
    (the page before it, measured by ``--compare``)."""
    m = re.search(r'data-case-version="(\d+)"', html)
    if m:
        return int(m.group(1))
    i = html.find(f'/handling/{trigger}"')
    if i < 0:
        return None
    m = re.search(r'name="expected_version" value="(\d+)"', html[i:])
    return int(m.group(1)) if m else None


def all_entries_path(case_id: int, entries: int) -> str:
    """The case page with every entry shown: ``?shown=N`` on the cockpit page, ``?alle=1`` on
    the page before it (each ignores the other's parameter)."""
    return f"/saker/{case_id}?alle=1&shown={entries}"


class _Nodes(HTMLParser):
    """Counts the elements of a page (every start tag, void elements included): its DOM size."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def handle_starttag(self, tag, attrs) -> None:
        self.count += 1


def dom_nodes(html: str) -> int:
    parser = _Nodes()
    parser.feed(html)
    parser.close()
    return parser.count


def page_facts(html: str) -> dict[str, int]:
    """The size of a case page: bytes, elements and stafettlogg entries shown."""
    return {"bytes": len(html.encode()), "nodes": dom_nodes(html),
            "entries": html.count('class="log-entry')}


def note_text(i: int) -> str:
    return f"{NOTES[i % len(NOTES)]} (notat {i + 1})"


# --- the database -----------------------------------------------------------------------------


class World:
    """A fictional municipality on a migrated SQLite file: a school, a health station, a
    reporter who owns the big case, one teacher per client thread who each own some small
    cases, and some colleagues (they fill the "choose a colleague" lists of the case page)."""

    def __init__(self, url: str, wf_dir: Path, *, owners: int, colleagues: int) -> None:
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sf = make_session_factory(self.engine)
        self.registry = WorkflowRegistry(wf_dir)
        now = utcnow()
        with self.sf.begin() as s:
            m = Municipality(slug="benchkommune", name="Benchkommune", workflow_id=WORKFLOW_ID,
                             mfa_required=False)
            s.add(m)
            s.flush()
            school = Unit(municipality_id=m.id, name="Benchvik skule", kind="school")
            health = Unit(municipality_id=m.id, name="Benchvik helsestasjon",
                          kind="health_station")
            s.add_all([school, health])
            s.flush()
            reporter = create_user(s, municipality_id=m.id, unit_id=school.id,
                                   username="bench.melder", display_name="Melder Mona Moe",
                                   password=PASSWORD, roles=["employee"], now=now)
            teachers = [create_user(s, municipality_id=m.id, unit_id=school.id,
                                    username=f"bench.laerar{i + 1}",
                                    display_name=f"Lærar {i + 1} Benchvik", password=PASSWORD,
                                    roles=["employee"], now=now) for i in range(owners)]
            for i in range(colleagues):  # never sign in: no password (scrypt) needed
                s.add(User(municipality_id=m.id, unit_id=(school if i % 3 else health).id,
                           username=f"bench.kollega{i + 1}",
                           display_name=f"Kollega {i + 1:02d} Benchvik", password_hash="!",
                           active=True, created_at=now,
                           role_rows=[UserRole(role="employee")]))
            s.flush()
            self.registry.sync(s)
            self.municipality_id = m.id
            self.school_id = school.id
            self.reporter = ("bench.melder", reporter.id)
            self.teachers = [(t.username, t.id) for t in teachers]

    def open_case(self, user_id: int, pseudonym: str) -> int:
        with self.sf.begin() as s:
            ctx = Ctx(s, s.get(User, user_id), self.registry)
            return cases.open_case(ctx, unit_id=None, child_pseudonym=pseudonym,
                                   child_birth_year=2015, concern=CONCERN).case.id

    def add_notes(self, user_id: int, case_id: int, n: int, batch: int) -> None:
        done = 0
        while done < n:
            with self.sf.begin() as s:
                ctx = Ctx(s, s.get(User, user_id), self.registry)
                for _ in range(min(batch, n - done)):
                    cases.fire(ctx, case_id, "add_note", {"text": note_text(done)})
                    done += 1

    def counts(self, case_id: int) -> tuple[int, int]:
        with self.sf() as s:
            entries = s.scalar(select(func.count()).select_from(StafettloggEntry)
                               .where(StafettloggEntry.case_id == case_id))
            audit_rows = s.scalar(select(func.count()).select_from(AuditEvent))
        return entries, audit_rows


# --- an HTTP client that keeps the Secure cookie itself -----------------------------------------


class HttpClient:
    """One signed-in user over plain HTTP (``http.client``, a new connection per request, as
    gunicorn's sync workers close it anyway). It keeps the cookies itself: the app's ``__Host-``
    cookie is Secure, which a browser would not send over http."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.jar: dict[str, str] = {}
        self.frozen = False  # after sign-in: keep the signed-in cookie, ignore refreshes
        self.csrf: str | None = None

    def request(self, method: str, path: str, form: dict | None = None
                ) -> tuple[int, bytes, float]:
        headers = {}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            elapsed = time.perf_counter() - t0
            set_cookies = r.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()
        if not self.frozen:
            for sc in set_cookies:
                pair, _, attrs = sc.partition(";")
                name, _, value = pair.strip().partition("=")
                low = attrs.lower()
                if not value or "max-age=0" in low or "1970" in low:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = value
        return r.status, data, elapsed

    def login(self, username: str, case_id: int) -> None:
        status, body, _ = self.request("GET", LOGIN_PATH)
        token = csrf_from(body.decode())
        if status != 200 or not token:
            raise RuntimeError(f"GET {LOGIN_PATH}: {status}, no CSRF token")
        status, body, _ = self.request("POST", LOGIN_PATH, {
            "csrf_token": token, "username": username, "password": PASSWORD, "next": ""})
        if status != 302:
            raise RuntimeError(f"login as {username}: {status} {body[:300]!r}")
        # a page with forms: the session now holds the CSRF secret; keep that cookie from here
        status, body, _ = self.request("GET", f"/saker/{case_id}")
        self.csrf = csrf_from(body.decode())
        if status != 200 or not self.csrf:
            raise RuntimeError(f"GET /saker/{case_id} as {username}: {status}")
        self.frozen = True

    def case_version(self, case_id: int) -> int | None:
        status, body, _ = self.request("GET", f"/saker/{case_id}")
        return version_from(body.decode()) if status == 200 else None

    def add_note(self, case_id: int, version: int, text: str) -> tuple[int, bytes, float]:
        return self.request("POST", f"/saker/{case_id}/handling/add_note", {
            "csrf_token": self.csrf, "expected_version": str(version), "text": text})


def title_of(body: bytes) -> str:
    m = re.search(rb"<title>(.*?)</title>", body, re.S)
    return m.group(1).decode(errors="replace").strip()[:80] if m else body[:80].decode(
        errors="replace")


# --- gunicorn ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn as a child in its own process group (``start_new_session``); stopped by
    signalling that group, never by name."""

    def __init__(self, *, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        exe = Path(sys.executable).parent / "gunicorn"
        base = [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]
        self.argv = [*base, "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "app:app"]
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready after {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM to the group (the master stops its workers and reaps them before it exits);
        SIGKILL to the group if the master is still there after 30 s. The group is signalled
        only while the master is unreaped, so its id cannot belong to anything else."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def gunicorn_env(url: str, wf_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTI_")}
    os.environ.setdefault("BTI_LOG_KEYS", "bench:" + secrets.token_urlsafe(32))  # sealed logs
    env.update(BTI_DATABASE_URL=url, BTI_SECRET_KEY=secrets.token_urlsafe(48),
               BTI_LOG_KEYS=os.environ["BTI_LOG_KEYS"], BTI_WORKFLOWS_DIR=str(wf_dir))
    return env


# --- 1. the case page -------------------------------------------------------------------------


def test_client_login(app, username: str):
    client = app.test_client()
    r = client.get(LOGIN_PATH)
    token = csrf_from(r.get_data(as_text=True))
    r = client.post(LOGIN_PATH, data={"csrf_token": token, "username": username,
                                      "password": PASSWORD, "next": ""})
    if r.status_code != 302:
        raise RuntimeError(f"in-process login as {username}: {r.status_code}")
    return client


def bench_page_inprocess(client, case_id: int, n: int, warmup: int, path: str | None = None):
    path = path or f"/saker/{case_id}"
    statuses: Counter[int] = Counter()
    for _ in range(warmup):
        r = client.get(path)
        statuses[r.status_code] += 1
    body = r.get_data()
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        r.get_data()
        lat.append(time.perf_counter() - t0)
        statuses[r.status_code] += 1
    return lat, statuses, body


def bench_page_http(client: HttpClient, case_id: int, n: int, warmup: int,
                    path: str | None = None):
    path = path or f"/saker/{case_id}"
    statuses: Counter[int] = Counter()
    body = b""
    for _ in range(warmup):
        status, body, _ = client.request("GET", path)
        statuses[status] += 1
    lat = []
    for _ in range(n):
        status, body, secs = client.request("GET", path)
        lat.append(secs)
        statuses[status] += 1
    return lat, statuses, body


# --- 2. the transition over HTTP --------------------------------------------------------------


class NoteRun:
    """add_note POSTs on a set of cases, each case's version tracked (+1 per 303)."""

    def __init__(self, versions: dict[int, int]) -> None:
        self.versions = versions
        self.lat: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.resyncs = 0
        self.sent = 0
        self.elapsed = 0.0
        self.per_thread: list[int] = []

    def one(self, client: HttpClient, case_id: int, timed: bool = True) -> None:
        status, body, secs = client.add_note(case_id, self.versions[case_id],
                                             note_text(self.sent))
        self.sent += 1
        if timed:
            self.lat.append(secs)
            self.statuses[status] += 1
        if status == 303:
            self.versions[case_id] += 1
            return
        self.failures.append(f"case {case_id} v{self.versions[case_id]}: {status} "
                                 f"{title_of(body)!r}")
        v = client.case_version(case_id)  # whatever happened, start again from the truth
        if v is not None:
            self.versions[case_id] = v
            self.resyncs += 1


def bench_post_sequential(clients: dict[int, HttpClient], case_ids: list[int],
                          versions: dict[int, int], n: int, warmup: int) -> NoteRun:
    run = NoteRun(versions)
    k = len(case_ids)
    for i in range(warmup):
        cid = case_ids[i % k]
        run.one(clients[cid], cid, timed=False)
    t0 = time.perf_counter()
    for i in range(n):
        cid = case_ids[i % k]
        run.one(clients[cid], cid)
    run.elapsed = time.perf_counter() - t0
    return run


def bench_post_concurrent(per_thread: list[tuple[HttpClient, list[int]]],
                          versions: dict[int, int], seconds: float):
    runs = [NoteRun(versions) for _ in per_thread]  # disjoint cases: no shared version
    start = threading.Barrier(len(per_thread) + 1)
    deadline = [0.0]
    ends = [0.0] * len(per_thread)
    errors: list[str] = []

    def work(i: int) -> None:
        client, ids = per_thread[i]
        run = runs[i]
        start.wait()
        j = 0
        try:
            while time.perf_counter() < deadline[0]:
                run.one(client, ids[j % len(ids)])
                j += 1
        except Exception as err:  # noqa: BLE001 - reported, the run goes on
            errors.append(f"thread {i}: {err!r}")
        ends[i] = time.perf_counter()

    threads = [threading.Thread(target=work, args=(i,), daemon=True)
               for i in range(len(per_thread))]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = max(ends) - t0
    merged = NoteRun(versions)
    for r in runs:
        merged.lat += r.lat
        merged.statuses += r.statuses
        merged.failures += r.failures
        merged.resyncs += r.resyncs
    merged.failures += errors
    merged.elapsed = elapsed
    merged.per_thread = [len(r.lat) for r in runs]
    return merged


def bench_post_mixed(reporter: HttpClient, big: int, clients: dict[int, HttpClient],
                     case_ids: list[int], versions: dict[int, int], seconds: float):
    """Sequential add_note POSTs while another client loads the big case page in a loop."""
    stop = threading.Event()
    pages: list[float] = []

    def reader() -> None:
        while not stop.is_set():
            pages.append(reporter.request("GET", f"/saker/{big}")[2])

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.2)
    run = NoteRun(versions)
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        cid = case_ids[i % len(case_ids)]
        run.one(clients[cid], cid)
        i += 1
    run.elapsed = time.perf_counter() - t0
    stop.set()
    t.join()
    return run, pages


def print_note_run(label: str, run: NoteRun, threads: int) -> dict[str, float]:
    st = summary(run.lat)
    bad = sum(c for s, c in run.statuses.items() if not 200 <= s < 400)
    print(f"  {label}: {fmt_summary(st)}")
    print(f"    {len(run.lat) / run.elapsed:,.1f} requests/s over {run.elapsed:.1f} s "
          f"({threads} client thread{'s' if threads > 1 else ''}); statuses "
          f"{dict(sorted(run.statuses.items()))}; non-2xx/3xx: {bad}; version re-reads: "
          f"{run.resyncs}")
    if run.per_thread:
        print(f"    requests per thread: {run.per_thread}")
    slow = sum(1 for x in run.lat if x > 0.1)
    if slow:
        print(f"    {slow} request{'s' if slow > 1 else ''} over 100 ms "
              f"(max {max(run.lat) * 1e3:,.0f} ms)")
    for f in run.failures[:10]:
        print(f"    failure: {f}")
    if len(run.failures) > 10:
        print(f"    … and {len(run.failures) - 10} more")
    print(f"    {verdict(st['p95'], POST_GOAL_MS)}")
    st["bad"] = bad
    return st


# --- 3. SQL per request, and where a page's time goes ------------------------------------------


def sql_trace(engine, fn) -> list[str]:
    seen: list[str] = []

    def before(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


def print_trace(label: str, seen: list[str]) -> None:
    print(f"  {label}: {len(seen)} statements (BEGIN IMMEDIATE included; COMMIT is the "
          f"driver's and not counted)")
    counts: Counter[str] = Counter()
    order: list[str] = []
    for st in seen:
        key = st[:110]
        if key not in counts:
            order.append(key)
        counts[key] += 1
    for key in order:
        print(f"    {counts[key]:3d}×  {key}")


class Timed:
    """Wraps ``module.name`` for the duration of a ``with`` block and sums its wall time."""

    def __init__(self, module, name: str) -> None:
        self.module, self.name = module, name
        self.total = 0.0
        self.calls = 0

    def __enter__(self):
        self.orig = getattr(self.module, self.name)
        orig = self.orig

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                self.total += time.perf_counter() - t0
                self.calls += 1

        setattr(self.module, self.name, wrapper)
        return self

    def __exit__(self, *_exc):
        setattr(self.module, self.name, self.orig)


def page_breakdown(client, case_id: int, n: int) -> list[str]:
    """Mean ms per case page in a few wrapped functions (only in this process; the app's code
    is not changed). Nested: ``case_page`` contains the ``_load``s and ``_log_items``."""
    parts = [
        ("auth.resolve (session cookie → user, 4-5 queries)", Timed(auth_service, "resolve")),
        ("casepage.case_page (all reads for the page)", Timed(casepage, "case_page")),
        ("  cases._load (case + participants [+ emergency grants]; once per get_case, "
         "list_actions, log_entries)", Timed(cases, "_load")),
        ("  cases.list_actions (incl. one _load)", Timed(cases, "list_actions")),
        ("  cases.log_entries (incl. one _load; the SELECT of every entry)",
         Timed(cases, "log_entries")),
        ("  casepage._log_items (JSON + labels of every entry)", Timed(casepage, "_log_items")),
        ("render_template('cases/show.html')", Timed(cases_ui, "render_template")),
        ("Session.commit (audit rows written, hash-chained; fsync)", Timed(OrmSession, "commit")),
    ]
    path = f"/saker/{case_id}"
    for _ in range(3):
        client.get(path)
    for _, t in parts:
        t.__enter__()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            client.get(path).get_data()
        total = time.perf_counter() - t0
    finally:
        for _, t in reversed(parts):
            t.__exit__(None, None, None)
    lines = [f"  whole request (test client): {total / n * 1e3:7.2f} ms  (mean of {n})"]
    accounted = 0.0
    for label, t in parts:
        lines.append(f"  {t.total / n * 1e3:7.2f} ms  {t.calls / n:4.1f}×/request  {label}")
        if not label.startswith("  "):
            accounted += t.total
    lines.append(f"  {(total - accounted) / n * 1e3:7.2f} ms  rest (Flask, Flask-Login, CSRF, "
                 "security headers, test client)")
    return lines


def profile_page(client, case_id: int, n: int, top: int) -> str:
    path = f"/saker/{case_id}"
    client.get(path)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(n):
        client.get(path).get_data()
    prof.disable()
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    total = max((v[3] for k, v in st.stats.items() if k[2] == "get" and
                 k[0].endswith(f"werkzeug{os.sep}test.py")), default=wall)

    def name(key) -> str:
        path_, line, fn = key
        if path_ == "~":
            return fn
        parts = Path(path_).parts
        for anchor in ("site-packages", "bti"):
            if anchor in parts:
                i = parts.index(anchor)
                return f"{Path(*parts[i + (1 if anchor == 'site-packages' else 0):])}:{line}({fn})"
        return f"{path_}:{line}({fn})"

    session_entry = {"execute", "scalar", "scalars", "get", "commit", "flush", "close",
                     "_autoflush", "_connection_for_bind"}

    def wanted(key) -> bool:
        path_, _line, fn = key
        p = path_.replace(os.sep, "/")
        if "/bti/" in p and "/bench/" not in p:
            return True
        if p.endswith("sqlalchemy/orm/session.py") and fn in session_entry:
            return True
        if p.endswith("flask/templating.py") and fn == "render_template":
            return True
        if p.endswith("jinja2/environment.py") and fn == "render":
            return True
        return p.endswith("sqlalchemy/engine/result.py") and fn in ("all", "__iter__")

    lines = [f"  profiled {n} case pages in-process: {wall / n * 1e3:,.1f} ms each under "
             f"cProfile (the profiler inflates pure-Python parts, e.g. templates)"]
    lines.append(f"  top {top} by cumulative time, bti/ and SQLAlchemy session / Flask / Jinja "
                 "entry points (% of the whole request):")
    lines.append(f"    {'cum %':>6} {'ms/req':>7} {'self %':>6} {'calls/req':>9}  function")
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][3], reverse=True)
    shown = 0
    for key, (_cc, nc, tt, ct, _callers) in rows:
        if not wanted(key):
            continue
        lines.append(f"    {ct / total * 100:6.1f} {ct / n * 1e3:7.2f} {tt / total * 100:6.1f} "
                     f"{nc / n:9.1f}  {name(key)}")
        shown += 1
        if shown >= top:
            break
    lines.append("  top 12 by own (self) time, any module:")
    for key, (_cc, nc, tt, ct, _callers) in sorted(st.stats.items(), key=lambda kv: kv[1][2],
                                                    reverse=True)[:12]:
        lines.append(f"    {tt / total * 100:6.1f} % self {ct / total * 100:6.1f} % cum "
                     f"{nc / n:9.1f}/req  {name(key)}")
    return "\n".join(lines)


def page_mean(client, case_id: int, n: int) -> float:
    path = f"/saker/{case_id}"
    for _ in range(3):
        client.get(path)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(path).get_data()
        lat.append(time.perf_counter() - t0)
    return summary(lat)["p50"]


def what_if(app, client, big: int, big_entries: int, small: int, small_entries: int,
            n: int) -> list[str]:
    """Bench-only experiments on the in-process app (restored afterwards; no app code is
    changed): how the page scales with entries, and ``kind_labels()`` built once per language
    instead of once per log entry (it builds a dict of 17 gettext calls each time)."""
    base = page_mean(client, big, n)
    small_ms = page_mean(client, small, n)
    per_entry = (base - small_ms) / max(1, big_entries - small_entries)
    lines = [f"  case page with {small_entries} entries: p50 {small_ms:6.1f} ms; with "
             f"{big_entries:,}: p50 {base:6.1f} ms  → about {per_entry * 1e3:,.0f} µs per entry "
             f"shown, {small_ms - small_entries * per_entry:,.1f} ms fixed (n={n} each)"]
    from bti.web import i18n as web_i18n

    env_globals = app.jinja_env.globals
    orig = env_globals["kind_labels"]
    calls = [0]
    memo: dict[str, dict[str, str]] = {}

    def counting():
        calls[0] += 1
        return orig()

    def memoized():
        code = web_i18n.lang()
        if code not in memo:
            memo[code] = orig()
        return memo[code]

    env_globals["kind_labels"] = counting
    try:
        client.get(f"/saker/{big}").get_data()
        per_page = calls[0]
        env_globals["kind_labels"] = memoized
        fast = page_mean(client, big, n)
        fast_small = page_mean(client, small, n)
    finally:
        env_globals["kind_labels"] = orig
    lines.append(f"  kind_labels() is called {per_page:,}× per page of {big_entries:,} entries "
                 f"(17 gettext calls each); memoized per language (bench-only patch of the "
                 f"Jinja global): p50 {fast:6.1f} ms instead of {base:6.1f} ms; "
                 f"{small_entries} entries: {fast_small:6.1f} ms instead of {small_ms:6.1f} ms")
    return lines


# --- 5. CPU per request (--cpu), and two checkouts compared in one run (--compare) -------------


class SqliteFloor:
    """The floor of a transition on the database alone: Python's ``sqlite3`` on a file of its
    own with the app's pragmas, per op ``BEGIN IMMEDIATE``, a versioned ``UPDATE`` of a case row,
    an ``INSERT`` of a hash-chained log row, ``COMMIT`` (as ``bench_transitions.py``)."""

    def __init__(self, path: Path) -> None:
        con = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       "busy_timeout=30000"):
            con.execute(f"PRAGMA {pragma}")
        con.executescript(
            "CREATE TABLE c (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, seq INTEGER NOT "
            "NULL, head TEXT NOT NULL, at TEXT NOT NULL);"
            "CREATE TABLE e (id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES c(id),"
            " seq INTEGER NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL, prev TEXT NOT NULL,"
            " hash TEXT NOT NULL, UNIQUE (case_id, seq));"
            "INSERT INTO c VALUES (1, 1, 0, '" + "0" * 64 + "', '');")
        self.con, self.version, self.seq, self.head = con, 1, 0, "0" * 64

    def op(self) -> None:
        import hashlib
        import json

        at = datetime.now(UTC).isoformat()
        data = json.dumps({"text": NOTES[self.seq % len(NOTES)]}, sort_keys=True)
        digest = hashlib.sha256((self.head + at + data).encode()).hexdigest()
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        if con.execute("UPDATE c SET version = ?, seq = ?, head = ?, at = ? WHERE id = 1 AND "
                       "version = ?", (self.version + 1, self.seq + 1, digest, at,
                                       self.version)).rowcount != 1:
            raise RuntimeError("floor: stale version")
        con.execute("INSERT INTO e (case_id, seq, at, data, prev, hash) VALUES (1, ?, ?, ?, ?, "
                    "?)", (self.seq + 1, at, data, self.head, digest))
        con.execute("COMMIT")
        self.version, self.seq, self.head = self.version + 1, self.seq + 1, digest


def cpu_per_op(fn, n: int) -> float:
    """CPU µs of this process (``time.process_time``: user + system, every thread) per call of
    ``fn``, over ``n`` calls after a collection."""
    import gc

    gc.collect()
    c0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - c0) / n * 1e6


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def cpu_run(args, tmpdir: Path) -> dict:
    """CPU per request, in-process (Flask test client, production settings, a migrated SQLite
    file), for the case page and an add_note POST, against two floors measured in the same
    rounds: ``GET /healthz`` through the same client (the web stack without the database) and
    ``SqliteFloor`` (the database work of a transition without SQLAlchemy or bti). Every round
    measures each kind once, in a rotated order; the figures are the medians of the rounds."""
    wf_dir = tmpdir / "workflows"
    wf_dir.mkdir()
    shutil.copy(WORKFLOWS / f"{WORKFLOW_ID}.toml", wf_dir)
    url = f"sqlite:///{tmpdir / 'bench-cpu.sqlite3'}"
    world = World(url, wf_dir, owners=1, colleagues=args.colleagues)
    reporter_name, reporter_id = world.reporter
    small = world.open_case(reporter_id, "Lita Sak")
    world.add_notes(reporter_id, small, args.cpu_small_entries - 1, batch=100)
    big = world.open_case(reporter_id, "Stor Sak")
    world.add_notes(reporter_id, big, args.entries - 1, batch=100)
    note_cases = [world.open_case(reporter_id, f"Barn {j + 1}") for j in range(args.cases)]
    world.engine.dispose()

    app = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48),
                              workflows_dir=wf_dir))
    engine = app.extensions["bti"].engine
    client = test_client_login(app, reporter_name)
    html = client.get(f"/saker/{note_cases[0]}").get_data(as_text=True)
    token = csrf_from(html)
    versions = {}
    for cid in note_cases:
        versions[cid] = version_from(client.get(f"/saker/{cid}").get_data(as_text=True))
    statuses: Counter[tuple[str, int]] = Counter()
    posted = [0]

    def page(case_id: int, path: str | None = None):
        path = path or f"/saker/{case_id}"

        def get() -> None:
            r = client.get(path)
            r.get_data()
            statuses[("page", r.status_code)] += 1
        return get

    def healthz() -> None:
        r = client.get("/healthz")
        r.get_data()
        statuses[("healthz", r.status_code)] += 1

    def post() -> None:
        cid = note_cases[posted[0] % len(note_cases)]
        r = client.post(f"/saker/{cid}/handling/add_note", data={
            "csrf_token": token, "expected_version": str(versions[cid]),
            "text": note_text(posted[0])})
        r.get_data()
        posted[0] += 1
        statuses[("post", r.status_code)] += 1
        if r.status_code == 303:
            versions[cid] += 1
        else:  # start again from the truth
            versions[cid] = version_from(client.get(f"/saker/{cid}").get_data(as_text=True))

    floor = SqliteFloor(tmpdir / "floor.sqlite3")
    n = args.cpu_requests
    kinds = {
        "floor_healthz": (healthz, n),
        "floor_sqlite": (floor.op, n),
        "page_small": (page(small), n),
        f"page_{args.entries}": (page(big), max(5, n // 10)),
        f"page_{args.entries}_all": (page(big, all_entries_path(big, args.entries)),
                                     max(5, n // 20)),
        "post_note": (post, n),
    }
    html_facts = {
        "page_small": page_facts(client.get(f"/saker/{small}").get_data(as_text=True)),
        f"page_{args.entries}": page_facts(client.get(f"/saker/{big}").get_data(as_text=True)),
        f"page_{args.entries}_all": page_facts(client.get(
            all_entries_path(big, args.entries)).get_data(as_text=True)),
    }
    for fn, k in kinds.values():  # warm-up: caches, compiled statements, templates
        for _ in range(max(10, k // 5)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    names = list(kinds)
    for r in range(args.cpu_rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, k = kinds[name]
            samples[name].append(cpu_per_op(fn, k))
    statements = {
        "page_small": len(sql_trace(engine, page(small))),
        "post_note": len(sql_trace(engine, post)),
    }
    import bti

    out = {"code": str(Path(bti.__file__).resolve().parent.parent), "kinds": {},
           "statements": statements, "html": html_facts, "statuses": {f"{k} {s}": c for (k, s), c in
                                                  sorted(statuses.items())},
           "requests": n, "rounds": args.cpu_rounds}
    for name, values in samples.items():
        out["kinds"][name] = {"median": median(values), "min": min(values),
                              "max": max(values), "n": kinds[name][1]}
    engine.dispose()
    return out


def print_cpu(result: dict, label: str = "") -> None:
    kinds = result["kinds"]
    web_floor = kinds["floor_healthz"]["median"]
    db_floor = kinds["floor_sqlite"]["median"]
    print(f"  code measured: {result['code']}{label}")
    print(f"  {result['rounds']} rounds; each kind once per round, rotated; CPU µs per request "
          "(time.process_time), median of the rounds (min … max)")
    for name, st in kinds.items():
        extra = ""
        if not name.startswith("floor"):
            extra = (f"  = {st['median'] / web_floor:5.1f}× healthz, "
                     f"{st['median'] / db_floor:5.1f}× sqlite3 floor, "
                     f"{st['median'] - web_floor:8,.0f} µs above healthz")
        print(f"    {name:<15} {st['median']:8,.0f} µs  ({st['min']:,.0f} … {st['max']:,.0f}; "
              f"{st['n']} per round){extra}")
    print(f"  SQL statements: case page {result['statements']['page_small']}, add_note POST "
          f"{result['statements']['post_note']}; statuses {result['statuses']}")
    for name, facts in result.get("html", {}).items():
        print(f"  {name:<15} HTML {facts['bytes']:9,} bytes, {facts['nodes']:6,} elements, "
              f"{facts['entries']:5,} log entries shown")


def export_tree(ref: str, dest: Path) -> Path:
    """A checkout to measure: ``ref`` itself if it is a directory, else ``git archive ref``
    of this repository unpacked into ``dest`` (nothing in the repository is changed)."""
    if Path(ref).is_dir():
        return Path(ref).resolve()
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest.resolve()


def compare_run(args, tmpdir: Path) -> int:
    """``--cpu`` on the ``--compare`` checkout (A) and on this one (B), each in a child process
    of its own, alternating A B B A … (``--compare-runs`` pairs), then both side by side."""
    import json

    other = export_tree(args.compare, tmpdir / "compare")
    trees = {"A": other, "B": CODE}
    print(f"  A = {args.compare} ({other}); B = this checkout ({CODE})")
    child_args = ["--entries", str(args.entries), "--cases", str(args.cases),
                  "--colleagues", str(args.colleagues), "--cpu-rounds", str(args.cpu_rounds),
                  "--cpu-requests", str(args.cpu_requests),
                  "--cpu-small-entries", str(args.cpu_small_entries)]
    results: dict[str, list[dict]] = {"A": [], "B": []}
    order = []
    for i in range(args.compare_runs):
        order += ["A", "B"] if i % 2 == 0 else ["B", "A"]
    for which in order:
        out = tmpdir / f"cpu-{which}-{len(results[which])}.json"
        env = {**os.environ, "BTI_BENCH_CODE": str(trees[which])}
        cmd = [sys.executable, str(Path(__file__).resolve()), *child_args, "--cpu",
               "--cpu-json", str(out)]
        print(f"\n[{which}] {shlex.join(cmd)}  (BTI_BENCH_CODE={trees[which]})", flush=True)
        subprocess.run(cmd, env=env, check=True, cwd=ROOT)
        results[which].append(json.loads(out.read_text()))
    print("\n== CPU per request, A vs B (medians over every round of every run) ==")
    print(f"  A = {args.compare} ({results['A'][0]['code']})")
    print(f"  B = this checkout ({results['B'][0]['code']})")
    names = list(results["A"][0]["kinds"])
    print(f"    {'':<15} {'A µs':>8} {'B µs':>8} {'B/A':>7}   {'A/healthz':>9} {'B/healthz':>9}"
          f"   {'A above':>8} {'B above':>8} {'Δ above':>8}")
    med = {w: {name: median([r["kinds"][name]["median"] for r in results[w]]) for name in names}
           for w in "AB"}
    for name in names:
        a, b = med["A"][name], med["B"][name]
        line = f"    {name:<15} {a:8,.0f} {b:8,.0f} {(b / a - 1) * 100:+6.1f}%"
        if not name.startswith("floor"):
            fa, fb = med["A"]["floor_healthz"], med["B"]["floor_healthz"]
            above_a, above_b = a - fa, b - fb
            line += (f"   {a / fa:9.2f} {b / fb:9.2f}   {above_a:8,.0f} {above_b:8,.0f} "
                     f"{(above_b / above_a - 1) * 100:+7.1f}%")
        print(line)
    for w in "AB":
        st = results[w][0]["statements"]
        print(f"  SQL statements {w}: case page {st['page_small']}, add_note POST "
              f"{st['post_note']}")
    for name in results["B"][0].get("html", {}):
        fa = results["A"][0].get("html", {}).get(name)
        fb = results["B"][0]["html"][name]
        a_text = (f"{fa['bytes']:9,} B {fa['nodes']:6,} el {fa['entries']:5,} entries"
                  if fa else "(not measured)")
        print(f"  {name:<15} A {a_text}   B {fb['bytes']:9,} B {fb['nodes']:6,} el "
              f"{fb['entries']:5,} entries")
    print("  (B/A: CPU per request; 'above': minus the healthz floor of the same run; each run's "
          "own figures are printed above it)")
    return 0


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500,
                    help="sequential add_note POSTs over HTTP (default 500)")
    ap.add_argument("--page-requests", type=int, default=200,
                    help="timed case-page GETs, in-process and over HTTP each (default 200)")
    ap.add_argument("--seconds", type=float, default=15.0,
                    help="length of the concurrent add_note run (default 15)")
    ap.add_argument("--mixed-seconds", type=float, default=5.0,
                    help="sequential POSTs while the big case page is loaded in a loop "
                         "(0: skip; default 5)")
    ap.add_argument("--threads", type=int, default=8,
                    help="client threads in the concurrent run (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--entries", type=int, default=1000,
                    help="stafettlogg entries of the big case (default 1000)")
    ap.add_argument("--cases", type=int, default=24,
                    help="small cases the add_note POSTs are spread over (default 24)")
    ap.add_argument("--colleagues", type=int, default=20,
                    help="extra users in the municipality (the colleague lists; default 20)")
    ap.add_argument("--profile", type=int, default=100, metavar="N",
                    help="cProfile N case pages if a goal is missed (0: never; default 100)")
    ap.add_argument("--always-profile", action="store_true",
                    help="profile even when the goals are met")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--cpu", action="store_true",
                    help="only measure CPU per request in-process (case page, add_note POST) "
                         "against floors measured in the same rounds; no gunicorn")
    ap.add_argument("--cpu-rounds", type=int, default=7, help="rounds of --cpu (default 7)")
    ap.add_argument("--cpu-requests", type=int, default=100,
                    help="requests per kind and round in --cpu (the big case page a tenth; "
                         "default 100)")
    ap.add_argument("--cpu-small-entries", type=int, default=50,
                    help="stafettlogg entries of the small case page in --cpu (default 50)")
    ap.add_argument("--cpu-json", type=Path, help=argparse.SUPPRESS)  # --compare's children
    ap.add_argument("--compare", metavar="REF_OR_DIR",
                    help="--cpu on another checkout (a git ref of this repository, exported "
                         "with git archive, or a directory) and on this one, alternating, in "
                         "one run")
    ap.add_argument("--compare-runs", type=int, default=2,
                    help="pairs of child runs with --compare, as A B, B A, … (default 2)")
    args = ap.parse_args(argv[1:])
    args.threads = max(1, args.threads)
    args.cases = max(args.cases, args.threads)

    global T_START
    T_START = time.perf_counter()
    tmpdir = Path(tempfile.mkdtemp(prefix="bti-bench-web-"))
    print("== bench_web ==")
    for line in machine_facts(argv, tmpdir):
        print("  " + line)
    print(f"  settings: --requests {args.requests} --page-requests {args.page_requests} "
          f"--seconds {args.seconds:g} --mixed-seconds {args.mixed_seconds:g} "
          f"--threads {args.threads} --workers {args.workers} "
          f"--entries {args.entries} --cases {args.cases} --colleagues {args.colleagues} "
          f"--profile {args.profile}", flush=True)
    servers: list[Gunicorn] = []
    try:
        if args.compare:
            return compare_run(args, tmpdir)
        if args.cpu:
            print("\n[5] CPU per request, in-process", flush=True)
            result = cpu_run(args, tmpdir)
            print_cpu(result)
            if args.cpu_json:
                import json

                args.cpu_json.write_text(json.dumps(result))
            return 0
        return run(args, tmpdir, servers)
    finally:
        for server in servers:  # stopped already unless the run failed half-way
            if server.proc.poll() is None:
                print(f"  stopping gunicorn (process group {server.proc.pid})")
                server.stop()
        if args.keep:
            print(f"  (kept {tmpdir})")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


def run(args, tmpdir: Path, servers: list[Gunicorn]) -> int:
    wf_dir = tmpdir / "workflows"  # only bti-standard.toml, copied: edits elsewhere can't leak in
    wf_dir.mkdir()
    shutil.copy(WORKFLOWS / f"{WORKFLOW_ID}.toml", wf_dir)
    db_path = tmpdir / "bench-web.sqlite3"
    url = f"sqlite:///{db_path}"

    # --- setup
    print("\n[setup] SQLite file migrated with Alembic; users via create_user; cases via "
          "cases.open_case / cases.fire", flush=True)
    t0 = time.perf_counter()
    world = World(url, wf_dir, owners=args.threads, colleagues=args.colleagues)
    t_world = time.perf_counter() - t0
    reporter_name, reporter_id = world.reporter
    t0 = time.perf_counter()
    big = world.open_case(reporter_id, "Stor Sak")
    world.add_notes(reporter_id, big, max(0, args.entries - 1), batch=100)
    t_big = time.perf_counter() - t0
    t0 = time.perf_counter()
    owner_of: dict[int, tuple[str, int]] = {}
    small: list[int] = []
    for j in range(args.cases):
        owner = world.teachers[j % args.threads]
        cid = world.open_case(owner[1], f"Barn {j + 1}")
        owner_of[cid] = owner
        small.append(cid)
    baseline_entries = 50
    baseline = world.open_case(reporter_id, "Lita Sak")
    world.add_notes(reporter_id, baseline, baseline_entries - 1, batch=100)
    t_small = time.perf_counter() - t0
    n_entries, n_audit = world.counts(big)
    print(f"  migrate + municipality + 2 units + {1 + args.threads} users (scrypt) + "
          f"{args.colleagues} colleagues: {t_world:.1f} s")
    print(f"  big case #{big} (reporter {reporter_name}): {n_entries:,} stafettlogg entries "
          f"(open_case + {args.entries - 1:,} add_note in transactions of 100): {t_big:.1f} s")
    print(f"  {len(small)} small cases for the POSTs, {args.cases // args.threads}+ per teacher "
          f"({args.threads} teachers), and case #{baseline} of the reporter with "
          f"{baseline_entries} entries (for comparison): {t_small:.1f} s;  audit rows so far "
          f"{n_audit:,}")
    world.engine.dispose()

    # --- 1a. in-process
    print(f"\n[1a] case page GET /saker/{big} ({n_entries:,} entries), in-process (Flask test "
          f"client, production settings, same SQLite file), as the reporter", flush=True)
    app = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48),
                              workflows_dir=wf_dir))
    app_engine = app.extensions["bti"].engine
    client = test_client_login(app, reporter_name)
    lat, statuses, body = bench_page_inprocess(client, big, args.page_requests, warmup=10)
    page_in = summary(lat)
    shown = body.count(b'class="log-entry')
    print(f"  {fmt_summary(page_in)}")
    print(f"  statuses {dict(statuses)}; page {len(body) / 1024:,.0f} KiB with {shown:,} log "
          f"entries shown; warm-up 10 requests")
    print(f"  DOM: {dom_nodes(body.decode()):,} elements (goal ≤ {DOM_GOAL:,})")
    print(f"  {verdict(page_in['p95'], PAGE_GOAL_MS)}", flush=True)
    all_path = all_entries_path(big, n_entries)
    lat, statuses, body = bench_page_inprocess(client, big, max(20, args.page_requests // 5),
                                               warmup=3, path=all_path)
    page_all = summary(lat)
    facts = page_facts(body.decode())
    print(f"  with every entry shown ({all_path}): {fmt_summary(page_all)}")
    print(f"  statuses {dict(statuses)}; page {facts['bytes'] / 1024:,.0f} KiB, "
          f"{facts['nodes']:,} elements, {facts['entries']:,} log entries shown")
    app_engine.dispose()

    # --- gunicorn
    env = gunicorn_env(url, wf_dir)
    server = Gunicorn(workers=args.workers, env=env, log_path=tmpdir / "gunicorn.log")
    servers.append(server)
    print(f"\n[gunicorn] {shlex.join(server.argv)}  (cwd {ROOT}, own process group "
          f"{server.proc.pid})")
    print(f"  env: BTI_DATABASE_URL={url} BTI_WORKFLOWS_DIR={wf_dir} BTI_SECRET_KEY=<random, "
          f"{len(env['BTI_SECRET_KEY'])} chars>; BTI_DEV unset → production mode: Secure "
          "'__Host-bti' cookie, kept and sent back by the bench's own http.client cookie jar")
    ready = server.wait_ready()
    print(f"  ready after {ready:.1f} s (GET /healthz 200)", flush=True)

    # --- 1b. over HTTP
    print(f"\n[1b] case page GET /saker/{big} over HTTP through gunicorn ({args.workers} "
          "workers), one client, a new connection per request", flush=True)
    reporter_http = HttpClient(server.port)
    reporter_http.login(reporter_name, big)
    lat, statuses, body = bench_page_http(reporter_http, big, args.page_requests, warmup=10)
    page_http = summary(lat)
    shown = body.count(b'class="log-entry')
    print(f"  {fmt_summary(page_http)}")
    print(f"  statuses {dict(statuses)}; page {len(body) / 1024:,.0f} KiB with {shown:,} log "
          "entries shown; warm-up 10 requests")
    print(f"  {verdict(page_http['p95'], PAGE_GOAL_MS)}", flush=True)

    # --- 2. add_note over HTTP
    print(f"\n[2] POST /saker/<id>/handling/add_note over HTTP through gunicorn, on "
          f"{len(small)} cases ({args.threads} teachers, each the reporter of "
          f"{len(small) // args.threads}+ of them), CSRF token + expected_version tracked "
          "(+1 per 303)", flush=True)
    clients_by_user: dict[int, HttpClient] = {}
    for username, uid in world.teachers:
        c = HttpClient(server.port)
        first = next(cid for cid in small if owner_of[cid][1] == uid)
        c.login(username, first)
        clients_by_user[uid] = c
    versions = {}
    for cid in small:
        v = clients_by_user[owner_of[cid][1]].case_version(cid)
        if v is None:
            raise RuntimeError(f"no add_note form on case {cid}")
        versions[cid] = v
    clients = {cid: clients_by_user[owner_of[cid][1]] for cid in small}
    seq = bench_post_sequential(clients, small, versions, args.requests, warmup=30)
    post_seq = print_note_run(f"sequential, {args.requests} requests (after 30 warm-up)", seq, 1)

    per_thread = [(clients_by_user[uid], [cid for cid in small if owner_of[cid][1] == uid])
                  for _, uid in world.teachers]
    conc = bench_post_concurrent(per_thread, versions, args.seconds)
    post_conc = print_note_run(f"concurrent, {args.threads} threads for {args.seconds:g} s "
                               f"(latency includes queueing for {args.workers} workers)", conc,
                               args.threads)
    rate = len(conc.lat) / conc.elapsed if conc.elapsed else float("nan")
    print(f"    closed loop (Little's law): mean latency ≈ {args.threads} clients / {rate:,.0f} "
          f"req/s = {args.threads / rate * 1e3:,.0f} ms; a mean ≤ {POST_GOAL_MS:g} ms with "
          f"{args.threads} clients needs ≥ {args.threads / (POST_GOAL_MS / 1e3):,.0f} req/s. "
          "Every request (GET too) starts with BEGIN IMMEDIATE, so SQLite runs one request "
          "at a time whatever the number of workers.")
    post_mixed = None
    if args.mixed_seconds > 0:
        mixed, pages = bench_post_mixed(reporter_http, big, clients, small, versions,
                                        args.mixed_seconds)
        post_mixed = print_note_run(
            f"sequential while another client loads the {n_entries:,}-entry case page in a loop "
            f"({len(pages)} pages, p50 {summary(pages)['p50']:.0f} ms)", mixed, 1)

    rc = server.stop()
    print(f"\n[gunicorn] stopped (process group {server.proc.pid} signalled, exit {rc}); log "
          f"{server.log_path.stat().st_size:,} bytes, "
          f"{server.log_path.read_text(errors='replace').count('Traceback')} tracebacks")

    # --- checks
    with make_session_factory(app_engine)() as s:
        db_versions = dict(s.execute(select(Case.id, Case.version)
                                     .where(Case.id.in_(small))).all())
        chain = stafettlogg.verify_case(s, s.get(Case, big))
        chain_small = [p for cid in small[:3] if (p := stafettlogg.verify_case(
            s, s.get(Case, cid))) is not None]
        audit_rows = s.scalar(select(func.count()).select_from(AuditEvent))
        note_rows = s.scalar(select(func.count()).select_from(StafettloggEntry)
                             .where(StafettloggEntry.case_id.in_(small)))
    mismatched = {cid: (versions[cid], db_versions.get(cid)) for cid in small
                  if versions[cid] != db_versions.get(cid)}
    print("\n[checks]")
    print(f"  tracked versions match the database for {len(small) - len(mismatched)} of "
          f"{len(small)} cases{'' if not mismatched else f'; differ: {mismatched}'}")
    print(f"  stafettlogg rows on the small cases {note_rows:,}; audit rows {audit_rows:,}; "
          f"chain of the big case: {chain or 'verifies'}; chains of 3 small cases: "
          f"{chain_small or 'verify'}")
    db_mib = sum(p.stat().st_size for p in tmpdir.glob("bench-web.sqlite3*")) / 2**20
    print(f"  database on disk: {db_mib:,.1f} MiB")

    # --- 3. SQL and where the time goes (in-process, same app, gunicorn stopped)
    print(f"\n[3] SQL per request and where a case page's time goes (in-process, case #{big})",
          flush=True)
    page_sql = sql_trace(app_engine, lambda: client.get(f"/saker/{big}").get_data())
    print_trace(f"GET /saker/{big}", page_sql)
    for line in page_breakdown(client, big, 20):
        print(line)
    print("  what-if (bench-only, in-process):", flush=True)
    for line in what_if(app, client, big, n_entries, baseline, baseline_entries, 20):
        print(line)

    missed = (page_in["p95"] > PAGE_GOAL_MS or page_http["p95"] > PAGE_GOAL_MS
              or post_seq["p95"] > POST_GOAL_MS or post_conc["p95"] > POST_GOAL_MS)
    if args.profile and (missed or args.always_profile):
        print(f"\n[4] profile of the case page ({'a goal is missed' if missed else 'asked for'})",
              flush=True)
        print(profile_page(client, big, args.profile, 25))

    # one add_note POST in-process on the big case, last (it adds an entry)
    html = client.get(f"/saker/{big}").get_data(as_text=True)
    token, version = csrf_from(html), version_from(html)
    post_status = []
    post_sql = sql_trace(app_engine, lambda: post_status.append(client.post(
        f"/saker/{big}/handling/add_note", data={"csrf_token": token,
                                                 "expected_version": str(version),
                                                 "text": note_text(0)}).status_code))
    print()
    print_trace(f"POST /saker/{big}/handling/add_note (status {post_status[0]})", post_sql)
    app_engine.dispose()

    # --- summary
    print("\n== summary ==")
    print(f"  case page, {n_entries:,} entries, in-process:  {fmt_summary(page_in)}  "
          f"[{verdict(page_in['p95'], PAGE_GOAL_MS)}]")
    print(f"  case page, {n_entries:,} entries, HTTP:        {fmt_summary(page_http)}  "
          f"[{verdict(page_http['p95'], PAGE_GOAL_MS)}]")
    print(f"  add_note POST, HTTP, sequential: {fmt_summary(post_seq)}; "
          f"{len(seq.lat) / seq.elapsed:,.1f} req/s; non-2xx/3xx {post_seq['bad']}  "
          f"[{verdict(post_seq['p95'], POST_GOAL_MS)}]")
    print(f"  add_note POST, HTTP, {args.threads} threads: {fmt_summary(post_conc)}; "
          f"{len(conc.lat) / conc.elapsed:,.1f} req/s; non-2xx/3xx {post_conc['bad']}  "
          f"[{verdict(post_conc['p95'], POST_GOAL_MS)}]")
    if post_mixed is not None:
        print(f"  add_note POST, HTTP, sequential, next to big case pages: "
              f"{fmt_summary(post_mixed)}; non-2xx/3xx {post_mixed['bad']}  "
              f"[{verdict(post_mixed['p95'], POST_GOAL_MS)}]")
    print(f"  SQL statements: case page {len(page_sql)}, add_note POST {len(post_sql)}")
    print(f"  wall time of the whole bench: {time.perf_counter() - T_START:,.0f} s; load "
          f"average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"(nproc {os.cpu_count()}: other processes on the machine skew the figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
