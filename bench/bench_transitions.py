#!/usr/bin/env python
"""Benchmark: persisted workflow transitions through the service layer on a SQLite file.

Run from the repository root:

    .venv/bin/python bench/bench_transitions.py [--seconds N] [--transitions N]

It prints figures; it asserts nothing (it is a benchmark, not a test). What it measures:

1. the engine alone: ``Workflow.fire`` on a bare state with a facts dict (no database), and the
   cost of building a ``Workflow`` (its ``transitions.Machine``) from a definition;
2. the floor: Python's ``sqlite3`` on a separate file with the app's pragmas (WAL,
   ``synchronous=FULL``, foreign keys, ``BEGIN IMMEDIATE``), one transaction per op that updates
   a case row and appends a hash-chained log row, then commits;
3. the service layer: one transaction per transition (``with session_factory.begin()``, actor
   loaded in that session, ``cases.fire``, commit) for a steady-state internal transition
   (``add_note``) and for real state changes (the repeatable nivå 0 loop
   ``n0_decision -continue-> n0_plan -start-> n0_active -assess-> n0_evaluation -decide->
   n0_decision``);
4. the service/floor ratios against the goal "within 5x of the floor";
5. resident memory (VmRSS) sampled every 10 % of a long ``add_note`` run.

Everything lives in a temporary directory that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is installed editable; this is for a bare checkout
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
import transitions  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bti.db.engine import create_schema  # noqa: E402
from bti.db.engine import make_engine  # noqa: E402
from bti.db.engine import make_session_factory  # noqa: E402
from bti.domain.cases import Case  # noqa: E402
from bti.domain.log import AuditEvent  # noqa: E402
from bti.domain.log import StafettloggEntry  # noqa: E402
from bti.domain.org import Municipality  # noqa: E402
from bti.domain.org import Unit  # noqa: E402
from bti.domain.org import User  # noqa: E402
from bti.domain.org import UserRole  # noqa: E402
from bti.domain.vocabulary import GUARDS  # noqa: E402
from bti.engine import Workflow  # noqa: E402
from bti.services.accounts.users import load_actor  # noqa: E402
from bti.services.cases import lifecycle as cases  # noqa: E402
from bti.services.cases import stafettlogg  # noqa: E402
from bti.services.context import Ctx  # noqa: E402
from bti.services.workflows.registry import WorkflowRegistry  # noqa: E402

WORKFLOWS = ROOT / "workflows"
WORKFLOW_ID = "bti-standard"
GOAL_RATIO = 5.0
NOTE = {"text": "Lysglimt: god dag på skulen i dag."}
CONCERN = {"what_seen": "Barnet verkar trøytt og trekkjer seg unna leik.",
           "since": "Etter haustferien"}
#: The repeatable nivå 0 loop, from n0_decision back to n0_decision (4 state changes).
N0_LOOP = [("continue", {"reason": "Vi vil sjå meir på dette før vi avgjer."}),
           ("start", None), ("assess", None), ("decide", None)]


# --- small helpers ----------------------------------------------------------------------------


def rss_mib() -> float:
    """Resident set size of this process, from /proc/self/status (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def fmt_rate(n: int, seconds: float) -> str:
    if n == 0 or seconds <= 0:
        return "n/a"
    return f"{n / seconds:,.0f}/s ({seconds / n * 1e6:,.0f} µs each)"


def us(seconds: float, n: int) -> float:
    return seconds / n * 1e6 if n else float("nan")


class Histogram:
    """Fixed-size latency histogram (10 µs buckets up to 100 ms), so the long run keeps no
    per-transition objects."""

    WIDTH = 10e-6
    BUCKETS = 10_000

    def __init__(self) -> None:
        self.counts = [0] * (self.BUCKETS + 1)
        self.n = 0
        self.max = 0.0
        #: CPU seconds of this process over the whole run (``time.process_time``): what the
        #: code costs, less disturbed than wall time by other busy processes on the machine
        self.cpu = 0.0

    def add(self, seconds: float) -> None:
        i = int(seconds / self.WIDTH)
        self.counts[i if i < self.BUCKETS else self.BUCKETS] += 1
        self.n += 1
        if seconds > self.max:
            self.max = seconds

    def quantile(self, q: float) -> float:
        target = q * self.n
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= target and c:
                return (i + 1) * self.WIDTH
        return self.max

    def summary(self) -> str:
        if not self.n:
            return "no samples"
        return (f"p50 {self.quantile(0.5) * 1e6:,.0f} µs, p90 {self.quantile(0.9) * 1e6:,.0f} µs,"
                f" p99 {self.quantile(0.99) * 1e6:,.0f} µs, max {self.max * 1e6:,.0f} µs")


class Counter:
    """Counts calls to a class's ``__init__`` (to show machines are not built per call)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.n = 0
        self._orig = cls.__init__
        counter = self

        def counting_init(obj, *a, **kw):
            counter.n += 1
            counter._orig(obj, *a, **kw)

        cls.__init__ = counting_init

    def restore(self) -> None:
        self.cls.__init__ = self._orig


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
        f"transitions {transitions.__version__}",
        f"database directory: {tmpdir}",
    ]


# --- 1. the engine alone ----------------------------------------------------------------------


def bench_engine(registry: WorkflowRegistry, budget_s: float) -> dict:
    definition = registry.files[WORKFLOW_ID]
    builds = 0
    t0 = time.perf_counter()
    while builds < 5 or (time.perf_counter() - t0 < budget_s / 3 and builds < 200):
        Workflow(definition)
        builds += 1
    build_s = (time.perf_counter() - t0) / builds

    wf = Workflow(definition)
    facts = {g: True for g in GUARDS}
    roles = frozenset({"employee", "reporter"})
    out = {"build_ms": build_s * 1e3, "builds": builds, "states": len(definition.states),
           "transitions": len(definition.transitions)}
    for label, state, trigger, payload in (
        ("add_note", "n0_plan", "add_note", NOTE),
        ("decide", "n0_evaluation", "decide", None),
    ):
        for _ in range(200):  # warm-up
            wf.fire(state, trigger, roles=roles, facts=facts, payload=payload)
        n = 0
        t0 = time.perf_counter()
        deadline = t0 + budget_s / 3
        while True:
            for _ in range(500):
                wf.fire(state, trigger, roles=roles, facts=facts, payload=payload)
            n += 500
            if time.perf_counter() >= deadline:
                break
        out[f"fire_{label}_us"] = us(time.perf_counter() - t0, n)
        out[f"fire_{label}_n"] = n
    return out


# --- 2. the bare sqlite3 floor ----------------------------------------------------------------

FLOOR_SCHEMA = """
CREATE TABLE case_record (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL,
    log_seq INTEGER NOT NULL DEFAULT 0, log_head TEXT NOT NULL, last_activity_at TEXT NOT NULL);
CREATE TABLE stafettlogg_entry (
    id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES case_record(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL, actor_id INTEGER NOT NULL, kind TEXT NOT NULL, "trigger" TEXT NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, UNIQUE (case_id, seq));
"""


def floor_connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA busy_timeout=30000")
    return con


def floor_setup(path: Path, n_cases: int) -> sqlite3.Connection:
    con = floor_connect(path)
    con.executescript(FLOOR_SCHEMA)
    now = datetime.now(UTC).isoformat()
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO case_record (id, state, version, log_head, last_activity_at) "
                    "VALUES (?, 'n0_plan', 1, ?, ?)",
                    [(i, "0" * 64, now) for i in range(1, n_cases + 1)])
    con.execute("COMMIT")
    return con


class Floor:
    """Per op: BEGIN IMMEDIATE; UPDATE the case (state, version, chain head); INSERT a log row
    whose hash is sha256(prev_hash + canonical JSON); COMMIT."""

    def __init__(self, con: sqlite3.Connection, n_cases: int) -> None:
        self.con = con
        self.n_cases = n_cases
        self.heads = {i: (0, "0" * 64, 1) for i in range(1, n_cases + 1)}  # seq, hash, version
        self.i = 0

    def op(self) -> None:
        self.i += 1
        case_id = self.i % self.n_cases + 1
        seq, prev, version = self.heads[case_id]
        at = datetime.now(UTC).isoformat()
        content = {"case_id": case_id, "seq": seq + 1, "at": at, "actor_id": 1,
                   "kind": "note", "trigger": "add_note", "from_state": "n0_plan",
                   "to_state": "n0_plan", "data": json.dumps(NOTE, sort_keys=True)}
        h = hashlib.sha256((prev + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                              ensure_ascii=False)).encode()).hexdigest()
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        cur = con.execute(
            "UPDATE case_record SET state = ?, version = ?, log_seq = ?, log_head = ?, "
            "last_activity_at = ? WHERE id = ? AND version = ?",
            ("n0_plan", version + 1, seq + 1, h, at, case_id, version))
        if cur.rowcount != 1:
            raise RuntimeError("floor: stale version")
        con.execute(
            'INSERT INTO stafettlogg_entry (case_id, seq, at, actor_id, kind, "trigger", '
            "from_state, to_state, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id, seq + 1, at, 1, "note", "add_note", "n0_plan", "n0_plan",
             content["data"], prev, h))
        con.execute("COMMIT")
        self.heads[case_id] = (seq + 1, h, version + 1)


def bench_floor(floor: Floor, budget_s: float) -> tuple[int, float, Histogram]:
    for _ in range(100):  # warm-up
        floor.op()
    hist = Histogram()
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    while True:
        a = time.perf_counter()
        floor.op()
        b = time.perf_counter()
        hist.add(b - a)
        n += 1
        if b >= deadline:
            break
    hist.cpu = time.process_time() - c0
    return n, time.perf_counter() - t0, hist


class SAFloor:
    """The floor's two statements (same SQL, same hashing) through a SQLAlchemy ``Session`` on
    an engine from ``bti.db.engine.make_engine`` (same pragmas, ``BEGIN IMMEDIATE``): what
    SQLAlchemy
    itself adds per transaction before any bti logic runs."""

    def __init__(self, path: Path, n_cases: int) -> None:
        floor_setup(path, n_cases).close()
        self.engine = make_engine(f"sqlite:///{path}")
        self.sf = make_session_factory(self.engine)
        self.n_cases = n_cases
        self.heads = {i: (0, "0" * 64, 1) for i in range(1, n_cases + 1)}
        self.i = 0
        self.update = sqlalchemy.text(
            "UPDATE case_record SET state = :state, version = :version, log_seq = :seq, "
            "log_head = :hash, last_activity_at = :at WHERE id = :id AND version = :old")
        self.insert = sqlalchemy.text(
            'INSERT INTO stafettlogg_entry (case_id, seq, at, actor_id, kind, "trigger", '
            "from_state, to_state, data, prev_hash, hash) VALUES (:id, :seq, :at, 1, 'note', "
            "'add_note', 'n0_plan', 'n0_plan', :data, :prev, :hash)")

    def op(self) -> None:
        self.i += 1
        case_id = self.i % self.n_cases + 1
        seq, prev, version = self.heads[case_id]
        at = datetime.now(UTC).isoformat()
        data = json.dumps(NOTE, sort_keys=True)
        content = {"case_id": case_id, "seq": seq + 1, "at": at, "actor_id": 1,
                   "kind": "note", "trigger": "add_note", "from_state": "n0_plan",
                   "to_state": "n0_plan", "data": data}
        h = hashlib.sha256((prev + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                              ensure_ascii=False)).encode()).hexdigest()
        with self.sf.begin() as session:
            conn = session.connection()
            if conn.execute(self.update, {"state": "n0_plan", "version": version + 1,
                                          "seq": seq + 1, "hash": h, "at": at, "id": case_id,
                                          "old": version}).rowcount != 1:
                raise RuntimeError("SQLAlchemy floor: stale version")
            conn.execute(self.insert, {"id": case_id, "seq": seq + 1, "at": at, "data": data,
                                       "prev": prev, "hash": h})
        self.heads[case_id] = (seq + 1, h, version + 1)


def statement_overhead(path: Path, n: int = 20_000) -> tuple[float, float]:
    """µs per execution of one cached SELECT by primary key: through a SQLAlchemy connection
    (``Connection.execute`` of a Core ``select``, rows fetched) and on the bare sqlite3 cursor."""
    engine = make_engine(f"sqlite:///{path}")
    table = sqlalchemy.table("case_record", sqlalchemy.column("id"), sqlalchemy.column("state"),
                             sqlalchemy.column("version"))
    stmt = select(table.c.id, table.c.state, table.c.version).where(
        table.c.id == sqlalchemy.bindparam("id"))
    sql = str(stmt.compile(dialect=engine.dialect))
    out = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for fn in (lambda: conn.execute(stmt, {"id": 1}).all(),
                   lambda: raw.execute(sql, (1,)).fetchall()):
            for _ in range(500):
                fn()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out.append((time.perf_counter() - t0) / n * 1e6)
    engine.dispose()
    return out[0], out[1]


# --- 3. the service layer ---------------------------------------------------------------------


class World:
    """One municipality, one school and three users, all built with the ORM models."""

    def __init__(self, sf, registry: WorkflowRegistry) -> None:
        self.sf = sf
        self.registry = registry
        now = datetime.now(UTC)
        with sf.begin() as s:
            m = Municipality(slug="bench", name="Benchkommune", workflow_id=WORKFLOW_ID)
            s.add(m)
            s.flush()
            school = Unit(municipality_id=m.id, name="Benchvik skule", kind="school")
            s.add(school)
            s.flush()

            def user(username: str, roles: tuple[str, ...]) -> User:
                u = User(municipality_id=m.id, unit_id=school.id, username=username,
                         display_name=f"Bench {username}", password_hash="!", active=True,
                         created_at=now, role_rows=[UserRole(role=r) for r in roles])
                s.add(u)
                return u

            teacher = user("bench-laerar", ("employee",))
            coord = user("bench-koordinator", ("employee", "coordinator"))
            leader = user("bench-rektor", ("employee", "leader"))
            s.flush()
            registry.sync(s)
            self.unit_id = school.id
            self.teacher_id, self.coord_id, self.leader_id = teacher.id, coord.id, leader.id

    def tx(self, actor_id: int, case_id: int, trigger: str, payload=None) -> None:
        """One request's worth: a fresh session and transaction, the actor loaded in it."""
        with self.sf.begin() as session:
            actor = load_actor(session, actor_id)
            cases.fire(Ctx(session, actor, self.registry), case_id, trigger, payload)

    def tx_preloaded(self, actor: User, case_id: int, trigger: str, payload=None) -> None:
        """Same, with a detached, already loaded actor (no user SELECT per transaction)."""
        with self.sf.begin() as session:
            cases.fire(Ctx(session, actor, self.registry), case_id, trigger, payload)

    def open_cases(self, n: int) -> tuple[list[int], float]:
        ids = []
        t0 = time.perf_counter()
        for i in range(n):
            with self.sf.begin() as session:
                actor = session.get(User, self.teacher_id)
                ctx = Ctx(session, actor, self.registry)
                res = cases.open_case(ctx, unit_id=self.unit_id, child_pseudonym=f"Bench {i + 1}",
                                      child_birth_year=2015 + i % 8, concern=CONCERN)
                ids.append(res.case.id)
        return ids, time.perf_counter() - t0

    def to_n0_decision(self, case_id: int) -> None:
        """start → inform_home → appoint_stafettholder → assess → decide (as in demo._walk)."""
        today = datetime.now(UTC).date().isoformat()
        self.tx(self.teacher_id, case_id, "start")
        self.tx(self.teacher_id, case_id, "inform_home", {"informed_on": today})
        self.tx(self.leader_id, case_id, "appoint_stafettholder", {"stafettholder": self.coord_id})
        self.tx(self.coord_id, case_id, "assess")
        self.tx(self.coord_id, case_id, "decide")

    def state_of(self, case_id: int) -> str:
        with self.sf() as s:
            return s.scalar(select(Case.state).where(Case.id == case_id))


def bench_state_changes(world: World, case_ids: list[int], budget_s: float):
    """Cycle the nivå 0 loop on many cases, round-robin, one transaction per state change."""
    for cid in case_ids:
        world.to_n0_decision(cid)
    # warm-up: one full loop on every case
    for trigger, payload in N0_LOOP:
        for cid in case_ids:
            world.tx(world.coord_id, cid, trigger, payload)
    hist = Histogram()
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    done = False
    while not done:  # always finish whole loops, so every case ends in n0_decision
        for trigger, payload in N0_LOOP:
            for cid in case_ids:
                a = time.perf_counter()
                world.tx(world.coord_id, cid, trigger, payload)
                hist.add(time.perf_counter() - a)
                n += 1
        done = time.perf_counter() >= deadline
    elapsed = time.perf_counter() - t0
    hist.cpu = time.process_time() - c0
    bad = [cid for cid in case_ids if world.state_of(cid) != "n0_decision"]
    if bad:
        raise RuntimeError(f"state loop went wrong on cases {bad[:5]}")
    return n, elapsed, hist


def bench_preloaded(world: World, case_ids: list[int], budget_s: float):
    with world.sf() as s:
        actor = s.get(User, world.teacher_id)
        _ = actor.roles  # role_rows are loaded (selectin); the object is used detached below
        s.expunge(actor)
    for i in range(200):
        world.tx_preloaded(actor, case_ids[i % len(case_ids)], "add_note", NOTE)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    while True:
        world.tx_preloaded(actor, case_ids[n % len(case_ids)], "add_note", NOTE)
        n += 1
        if n % 50 == 0 and time.perf_counter() >= deadline:
            break
    return n, time.perf_counter() - t0


def bench_long_run(world: World, case_ids: list[int], seconds: float, max_n: int,
                   warmup: int = 1000):
    """As many add_note transactions as ``seconds`` (or ``max_n``) allow; RSS every 10 %."""
    actor_id = world.teacher_id
    k = len(case_ids)
    rss_before = rss_mib()
    for i in range(warmup):
        world.tx(actor_id, case_ids[i % k], "add_note", NOTE)
    gc.collect()
    samples = [(0, 0.0, rss_mib())]  # (transitions, seconds, MiB): first sample after warm-up
    hist = Histogram()
    next_tenth = 1
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        a = time.perf_counter()
        world.tx(actor_id, case_ids[n % k], "add_note", NOTE)
        b = time.perf_counter()
        hist.add(b - a)
        n += 1
        progress = max((b - t0) / seconds, n / max_n)
        if progress >= next_tenth / 10:
            samples.append((n, b - t0, rss_mib()))
            print(f"    {next_tenth * 10:3d}%  {n:>10,} transitions  {b - t0:7.1f} s  "
                  f"RSS {samples[-1][2]:7.1f} MiB  ({n / (b - t0):,.0f}/s so far)", flush=True)
            next_tenth = int(progress * 10) + 1
            if progress >= 1.0:
                break
    elapsed = time.perf_counter() - t0
    hist.cpu = time.process_time() - c0  # includes the RSS sampling (ten reads of /proc)
    return {"n": n, "elapsed": elapsed, "hist": hist, "samples": samples,
            "rss_before": rss_before, "warmup": warmup}


def sql_trace(engine, fn) -> list[str]:
    """The statements one call of ``fn`` sends to the database (COMMIT is the driver's)."""
    seen: list[str] = []

    def before(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(" ".join(statement.split())[:90])

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen + ["COMMIT (sqlite3.Connection.commit)"]


def profile_service(world: World, case_ids: list[int], n: int, top: int) -> str:
    """cProfile ``n`` add_note transactions; the hottest functions by cumulative time, as % of
    the whole transaction (session, actor load, fire, commit)."""
    actor_id = world.teacher_id
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for i in range(n):
        world.tx(actor_id, case_ids[i % len(case_ids)], "add_note", NOTE)
    prof.disable()
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    total = sum(v[3] for k, v in st.stats.items() if k[2] == "tx")  # cumtime of World.tx
    lines = [f"  profiled {n} add_note transactions, {wall / n * 1e6:,.0f} µs each under cProfile"
             f" (profiler overhead inflates pure-Python parts)"]

    def name(key) -> str:
        path, line, fn = key
        if path == "~":
            return fn
        p = Path(path)
        parts = p.parts
        for anchor in ("site-packages", "bti"):
            if anchor in parts:
                i = parts.index(anchor)
                p = Path(*parts[i + (1 if anchor == "site-packages" else 0):])
                break
        return f"{p}:{line}({fn})"

    rows = sorted(st.stats.items(), key=lambda kv: kv[1][3], reverse=True)
    lines.append(f"  top {top} by cumulative time (% of World.tx):")
    lines.append(f"    {'cum %':>6} {'self %':>6} {'calls/tx':>8}  function")
    shown = 0
    for key, (_cc, nc, tt, ct, _callers) in rows:
        if key[2] in ("tx", "<module>") or key[0].endswith("bench_transitions.py"):
            continue
        lines.append(f"    {ct / total * 100:6.1f} {tt / total * 100:6.1f} {nc / n:8.1f}  "
                     f"{name(key)}")
        shown += 1
        if shown >= top:
            break
    lines.append("  where a transaction goes (bti functions and the Session entry points, "
                 "cumulative % of World.tx):")
    entry_points = {"get", "commit", "flush", "scalar", "scalars", "close", "begin",
                    "_connection_for_bind", "__exit__"}
    for key, (_cc, nc, _tt, ct, _callers) in rows:
        path, _line, fn = key
        is_bti = f"{os.sep}bti{os.sep}" in path and "bench" not in path
        is_session = path.endswith(f"orm{os.sep}session.py") and fn in entry_points
        if (is_bti or is_session or fn == "<method 'commit' of 'sqlite3.Connection' objects>") \
                and ct / total >= 0.005:
            lines.append(f"    {ct / total * 100:6.1f} % {nc / n:6.1f}/tx  {name(key)}")
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)
    lines.append(f"  top {top} by own (self) time:")
    for key, (_cc, nc, tt, ct, _callers) in rows[:top]:
        lines.append(f"    {tt / total * 100:6.1f} % self {ct / total * 100:6.1f} % cum "
                     f"{nc / n:8.1f}/tx  {name(key)}")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="length of the long add_note run with RSS sampling (default 60; "
                         "the issue's full run is --seconds 600)")
    ap.add_argument("--transitions", type=int, default=1_000_000,
                    help="stop the long run after this many transitions (default 1,000,000)")
    ap.add_argument("--cases", type=int, default=200, help="cases for the add_note run")
    ap.add_argument("--loop-cases", type=int, default=50, help="cases cycled through nivå 0")
    ap.add_argument("--phase-seconds", type=float, default=5.0,
                    help="budget of each short phase (engine, floor, state changes; default 5)")
    ap.add_argument("--profile", type=int, default=2000, metavar="N",
                    help="cProfile N add_note transactions at the end (0: skip; default 2000)")
    ap.add_argument("--top", type=int, default=15, help="rows in the profile tables")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv[1:])
    # the service writes sealed rows, as in production (BTI_LOG_KEYS; a throwaway key here)
    os.environ.setdefault("BTI_LOG_KEYS", "bench:" + "k" * 40)

    tmpdir = Path(tempfile.mkdtemp(prefix="bti-bench-"))
    print("== bench_transitions ==")
    for line in machine_facts(argv, tmpdir):
        print("  " + line)
    print(f"  settings: --seconds {args.seconds:g} --transitions {args.transitions} "
          f"--cases {args.cases} --loop-cases {args.loop_cases} "
          f"--phase-seconds {args.phase_seconds:g}", flush=True)
    try:
        return run(args, tmpdir)
    finally:
        if args.keep:
            print(f"  (kept {tmpdir})")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


def run(args, tmpdir: Path) -> int:
    ps = args.phase_seconds
    rss_start = rss_mib()

    # 1. engine alone. Only bti-standard.toml, copied, so other files being edited in
    # workflows/ cannot change or break the figures.
    wf_dir = tmpdir / "workflows"
    wf_dir.mkdir()
    shutil.copy(WORKFLOWS / f"{WORKFLOW_ID}.toml", wf_dir)
    t0 = time.perf_counter()
    registry = WorkflowRegistry(wf_dir)
    registry_s = time.perf_counter() - t0
    print("\n[1] engine alone (no database)", flush=True)
    eng = bench_engine(registry, ps)
    print(f"  WorkflowRegistry({WORKFLOW_ID}.toml) incl. TOML load + validation + build: "
          f"{registry_s * 1e3:,.1f} ms (once per process)")
    print(f"  building a Workflow (state machine, {eng['states']} states, {eng['transitions']} "
          f"transitions) from a loaded definition: {eng['build_ms']:,.2f} ms "
          f"(mean of {eng['builds']})")
    print(f"  Workflow.fire add_note (internal, payload validated): "
          f"{eng['fire_add_note_us']:,.1f} µs  ({eng['fire_add_note_n']:,} fires)")
    print(f"  Workflow.fire decide (state change, 1 guard): {eng['fire_decide_us']:,.1f} µs  "
          f"({eng['fire_decide_n']:,} fires)")

    # service database
    engine = make_engine(f"sqlite:///{tmpdir / 'bench.sqlite3'}")
    create_schema(engine)
    sf = make_session_factory(engine)
    world = World(sf, registry)
    print(f"\n[setup] service database {tmpdir / 'bench.sqlite3'}", flush=True)
    note_cases, open_s = world.open_cases(args.cases)
    loop_cases, open_s2 = world.open_cases(args.loop_cases)
    n_open = len(note_cases) + len(loop_cases)
    print(f"  opened {n_open} cases with cases.open_case: {fmt_rate(n_open, open_s + open_s2)}")

    machines = Counter(transitions.Machine)
    workflows_built = Counter(Workflow)

    # 2. floor (before)
    print("\n[2] sqlite3 floor (same pragmas, UPDATE case + INSERT chained log row + COMMIT)",
          flush=True)
    floor_con = floor_setup(tmpdir / "floor.sqlite3", args.cases)
    floor = Floor(floor_con, args.cases)
    f1_n, f1_s, f1_h = bench_floor(floor, ps)
    print(f"  before: {fmt_rate(f1_n, f1_s)}  [{f1_h.summary()}]", flush=True)
    sa_floor = SAFloor(tmpdir / "safloor.sqlite3", args.cases)
    sa1_n, sa1_s, sa1_h = bench_floor(sa_floor, ps)
    print(f"  the same through a SQLAlchemy Session (bti.db.engine engine): "
          f"{fmt_rate(sa1_n, sa1_s)}  "
          f"[{sa1_h.summary()}]", flush=True)
    stmt_sa, stmt_raw = statement_overhead(tmpdir / "safloor.sqlite3")
    print(f"  one cached SELECT by primary key: {stmt_sa:,.1f} µs through SQLAlchemy, "
          f"{stmt_raw:,.1f} µs on the bare sqlite3 cursor", flush=True)

    # 3a. state-changing transitions
    print(f"\n[3a] service, state-changing: the nivå 0 loop continue → start → assess → decide "
          f"on {len(loop_cases)} cases", flush=True)
    sc_n, sc_s, sc_h = bench_state_changes(world, loop_cases, ps)
    print(f"  {fmt_rate(sc_n, sc_s)}  ({sc_n:,} transitions)  [{sc_h.summary()}]", flush=True)

    # 3b. add_note with a preloaded actor (what the per-transaction user load costs)
    pre_n, pre_s = bench_preloaded(world, note_cases, ps)
    print(f"\n[3b] service add_note, actor preloaded (detached, no user SELECT per transaction):"
          f" {fmt_rate(pre_n, pre_s)}", flush=True)

    # 3c + 5. long add_note run with RSS
    print(f"\n[3c] service add_note, steady state (reporter on n0_plan cases, actor loaded per "
          f"transaction), {args.seconds:g} s or {args.transitions:,} transitions; RSS every 10 %:",
          flush=True)
    long = bench_long_run(world, note_cases, args.seconds, args.transitions)
    ln, ls = long["n"], long["elapsed"]
    print(f"  {fmt_rate(ln, ls)}  ({ln:,} transitions)  [{long['hist'].summary()}]")

    # 2'. floor (after)
    f2_n, f2_s, f2_h = bench_floor(floor, ps)
    floor_con.close()
    print(f"\n[2'] sqlite3 floor, after: {fmt_rate(f2_n, f2_s)}  [{f2_h.summary()}]")
    sa2_n, sa2_s, _ = bench_floor(sa_floor, ps)
    sa_floor.engine.dispose()
    print(f"  through a SQLAlchemy Session, after: {fmt_rate(sa2_n, sa2_s)}")
    floor_us = (f1_s + f2_s) / (f1_n + f2_n) * 1e6
    sa_floor_us = (sa1_s + sa2_s) / (sa1_n + sa2_n) * 1e6

    machines.restore()
    workflows_built.restore()

    # sanity: everything persisted, chains verify
    with sf() as s:
        n_entries = s.scalar(select(func.count()).select_from(StafettloggEntry))
        n_audit = s.scalar(select(func.count()).select_from(AuditEvent))
        problems = [p for cid in note_cases[:3] + loop_cases[:3]
                    if (p := stafettlogg.verify_case(s, s.get(Case, cid))) is not None]
    db_mib = sum(p.stat().st_size for p in tmpdir.glob("bench.sqlite3*")) / 2**20

    print("\n[4] SQL sent per transaction")
    trace_note = sql_trace(engine, lambda: world.tx(world.teacher_id, note_cases[0], "add_note",
                                                     NOTE))
    trace_sc = sql_trace(engine, lambda: [world.tx(world.coord_id, loop_cases[0], t, p)
                                          for t, p in N0_LOOP][0])
    print(f"  add_note: {len(trace_note)} statements (incl. BEGIN and COMMIT)")
    for st in trace_note:
        print(f"    {st}")
    print(f"  one n0 loop (4 state changes): {len(trace_sc)} statements, "
          f"{len(trace_sc) / 4:.1f} per transition")
    prof_text = ""
    if args.profile:
        print("\n[5] profile of one service-layer add_note transaction", flush=True)
        prof_text = profile_service(world, note_cases, args.profile, args.top)
        print(prof_text)
    engine.dispose()

    add_us = us(ls, ln)
    sc_us = us(sc_s, sc_n)
    r_add = add_us / floor_us
    r_sc = sc_us / floor_us
    samples = long["samples"]
    first, last = samples[0], samples[-1]

    def verdict(r: float) -> str:
        return "met" if r <= GOAL_RATIO else "NOT met"

    print("\n[checks]")
    print(f"  stafettlogg rows {n_entries:,}, audit rows {n_audit:,}; chains of 6 sampled cases: "
          f"{problems if problems else 'verify'}")
    print(f"  transitions.Machine built during the service runs: {machines.n}; "
          f"Workflow objects built: {workflows_built.n} (0 = built once, shared)")
    print(f"  service database on disk after the run: {db_mib:,.1f} MiB")
    print(f"\n  RSS samples (after {long['warmup']:,} warm-up transitions):")
    for n, t, m in samples:
        print(f"    {n:>10,} transitions  {t:7.1f} s  {m:7.1f} MiB")

    print("\n== summary ==")
    print(f"  engine fire (no DB): {eng['fire_add_note_us']:,.1f} µs (add_note), "
          f"{eng['fire_decide_us']:,.1f} µs (decide); building a Workflow: "
          f"{eng['build_ms']:,.2f} ms (done once per workflow version; "
          f"{machines.n} machines built during {ln + sc_n + pre_n:,} service transitions)")
    print(f"  service add_note: {fmt_rate(ln, ls)}  [{long['hist'].summary()}]")
    print(f"  service add_note, actor preloaded: {fmt_rate(pre_n, pre_s)}")
    print(f"  service state-changing (n0 loop): {fmt_rate(sc_n, sc_s)}")
    print(f"  sqlite3 floor: {(f1_n + f2_n) / (f1_s + f2_s):,.0f}/s ({floor_us:,.0f} µs each; "
          f"before {us(f1_s, f1_n):,.0f} µs, after {us(f2_s, f2_n):,.0f} µs)")
    print(f"  SQLAlchemy floor (the floor's 2 statements through a Session): "
          f"{sa_floor_us:,.0f} µs = {sa_floor_us / floor_us:.1f}x the sqlite3 floor; "
          f"one statement {stmt_sa:,.1f} µs through SQLAlchemy vs {stmt_raw:,.1f} µs bare; "
          f"the service sends {len(trace_note) - 2} statements per add_note")
    print(f"  ratio add_note:        service/floor = {r_add:.1f}x  "
          f"(goal ≤ {GOAL_RATIO:g}x: {verdict(r_add)})")
    print(f"  ratio state-changing:  service/floor = {r_sc:.1f}x  "
          f"(goal ≤ {GOAL_RATIO:g}x: {verdict(r_sc)})")
    floor_cpu = (f1_h.cpu + f2_h.cpu) / (f1_n + f2_n) * 1e6
    add_cpu = us(long["hist"].cpu, ln)
    sc_cpu = us(sc_h.cpu, sc_n)
    print(f"  CPU time per transaction (time.process_time): floor {floor_cpu:,.0f} µs, "
          f"add_note {add_cpu:,.0f} µs ({add_cpu / floor_cpu:.1f}x), state-changing "
          f"{sc_cpu:,.0f} µs ({sc_cpu / floor_cpu:.1f}x)")
    print(f"  ratio add_note / SQLAlchemy floor = {add_us / sa_floor_us:.1f}x, "
          f"state-changing / SQLAlchemy floor = {sc_us / sa_floor_us:.1f}x")
    print(f"  RSS: {first[2]:.1f} MiB → {last[2]:.1f} MiB after {last[0]:,} transitions "
          f"(growth {last[2] - first[2]:+.1f} MiB; process start {rss_start:.1f} MiB, before "
          f"warm-up {long['rss_before']:.1f} MiB)")
    if last[0] < 1_000_000:
        print(f"  note: the long run did {last[0]:,} of the issue's 1,000,000 transitions in "
              f"{last[1]:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
