#!/usr/bin/env python
"""Benchmark: what the notification outbox adds to a transition, and what sending costs.

Run from the repository root:

    .venv/bin/python bench/bench_outbox.py [--seconds N] [--recipients N]

It prints figures; it asserts nothing. On a SQLite file with the app's pragmas (as
bench/bench_transitions.py), in the same run and interleaved (A, B, A, B … in rounds, so drift
of the machine hits both alike):

1. A: one transaction per ``add_note`` transition (session, actor load, ``cases.fire``, commit),
   and the same for state changes (the repeatable nivå 0 loop of bench_transitions.py);
2. A′: exactly A again: the floor, what two runs of the same code differ by on this machine now
   (a ratio within the floor's distance of it is noise);
3. B: the same transactions, each plus ``outbox.emit`` of one event to ``--recipients`` users (each
   with an e-mail address): the in-app ``notification`` rows and their ``notification_delivery``
   rows written in the transition's transaction;
4. B₀: the same with ``emit_before``, the emit this replaced (the same two statements with
   their ids as expanding ``IN`` lists; kept here verbatim), so before and after are measured
   in one run;
5. the ratios against A (CPU, the goal: "≤ 10 % more") and the floor A′/A;
6. the sender: ``deliver_due`` mailing the outbox through aiosmtpd on 127.0.0.1 (rows/s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_transitions import N0_LOOP  # noqa: E402
from bench_transitions import NOTE  # noqa: E402
from bench_transitions import WORKFLOW_ID  # noqa: E402
from bench_transitions import WORKFLOWS  # noqa: E402
from bench_transitions import World  # noqa: E402
from bench_transitions import machine_facts  # noqa: E402
from sqlalchemy import String  # noqa: E402
from sqlalchemy import and_  # noqa: E402
from sqlalchemy import bindparam  # noqa: E402
from sqlalchemy import cast  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlalchemy import literal  # noqa: E402
from sqlalchemy import null  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bti.db.engine import create_schema  # noqa: E402
from bti.db.engine import make_engine  # noqa: E402
from bti.db.engine import make_session_factory  # noqa: E402
from bti.db.upsert import insert_ignoring_conflicts  # noqa: E402
from bti.domain.cases import Case  # noqa: E402
from bti.domain.cases import Notification  # noqa: E402
from bti.domain.notifications import NotificationDelivery  # noqa: E402
from bti.domain.notifications import NotificationPreference  # noqa: E402
from bti.domain.org import Municipality  # noqa: E402
from bti.domain.org import Unit  # noqa: E402
from bti.domain.org import User  # noqa: E402
from bti.domain.org import UserRole  # noqa: E402
from bti.services.accounts.users import load_actor  # noqa: E402
from bti.services.cases import lifecycle as cases  # noqa: E402
from bti.services.context import Ctx  # noqa: E402
from bti.services.notify.events import Event  # noqa: E402
from bti.services.notify.outbox import EVENTS  # noqa: E402
from bti.services.notify.outbox import canonical_json  # noqa: E402
from bti.services.notify.outbox import dedupe_key  # noqa: E402
from bti.services.notify.outbox import emit  # noqa: E402
from bti.services.workflows.registry import WorkflowRegistry  # noqa: E402

GOAL = 0.10


_BEFORE: dict[str, tuple[Any, Any]] = {}


def _one_notice_before(conn) -> tuple[Any, Any]:
    """The two statements of one notice before this bench's last change, verbatim: the ids as
    expanding ``IN`` lists (re-rendered on every call)."""
    got = _BEFORE.get(conn.dialect.name)
    if got is not None:
        return got
    n, u, p = Notification.__table__, User.__table__, NotificationPreference.__table__
    now = bindparam("now", type_=n.c.created_at.type)
    recipients = select(
        u.c.id, bindparam("case_id", type_=n.c.case_id.type),
        bindparam("kind", type_=n.c.kind.type),
        bindparam("prefix", type_=String()) + cast(u.c.id, String()),
        bindparam("details", type_=n.c.details.type), now, null(),
    ).where(u.c.id.in_(bindparam("ids", expanding=True)), u.c.active.is_(True))
    notices = insert_ignoring_conflicts(conn, n, index_elements=["dedupe_key"]).from_select(
        ["user_id", "case_id", "kind", "dedupe_key", "details", "created_at", "read_at"],
        recipients).returning(n.c.id, n.c.user_id, n.c.dedupe_key)
    mode = func.coalesce(p.c.mode, bindparam("default", type_=p.c.mode.type))
    mailed = (
        select(n.c.id, n.c.user_id, literal("email"), mode, literal("pending"), literal(0),
               now, now)
        .select_from(n.join(u, u.c.id == n.c.user_id).outerjoin(
            p, and_(p.c.user_id == n.c.user_id, p.c.event == bindparam("event"))))
        .where(n.c.id.in_(bindparam("new", expanding=True)), mode != "app",
               u.c.email.is_not(None), u.c.email != "")
    )
    deliveries = NotificationDelivery.__table__.insert().from_select(
        ["notification_id", "user_id", "channel", "mode", "status", "attempts",
         "next_attempt_at", "created_at"], mailed)
    got = _BEFORE[conn.dialect.name] = (notices, deliveries)
    return got


def emit_before(ctx: Ctx, event: Event, user_ids, *, key, case_id=None, details=None):
    """The emit of one notice before this bench's last change (kept to measure before and
    after in the same run): the same two statements, its ids as expanding ``IN`` lists. (The
    indexes the same change dropped cannot be measured in one run: they are the schema's.)"""
    actor_id = getattr(ctx.actor, "id", None)
    ids = {i for i in user_ids if i is not None and i != actor_id}
    if not ids:
        return []
    ctx.session.flush()
    conn = ctx.session.connection()
    write_notices, write_deliveries = _one_notice_before(conn)
    now = ctx.now()
    created = conn.execute(write_notices, {
        "ids": sorted(ids), "case_id": case_id, "kind": event.value,
        "prefix": dedupe_key(event, key, 0)[:-1],
        "details": canonical_json(dict(details or {})), "now": now}).all()
    if created:
        conn.execute(write_deliveries, {"new": [c[0] for c in created], "now": now,
                                        "event": event.value,
                                        "default": EVENTS[event].default_mode})
    return sorted(u for _, u, _k in created)


def add_recipients(world: World, n: int) -> list[int]:
    """``n`` users with a (made-up) e-mail address in the bench's school."""
    now = datetime.now(UTC)
    with world.sf.begin() as s:
        m = s.scalar(select(Municipality))
        unit = s.get(Unit, world.unit_id)
        users = [User(municipality_id=m.id, unit_id=unit.id, username=f"bench-mottakar{i}",
                      display_name=f"Bench mottakar {i}", password_hash="!", active=True,
                      email=f"mottakar{i}@bench.invalid", created_at=now,
                      role_rows=[UserRole(role="employee")]) for i in range(n)]
        s.add_all(users)
        s.flush()
        return [u.id for u in users]


class Runs:
    def __init__(self, world: World, case_ids: list[int], recipients: list[int]) -> None:
        self.world = world
        self.case_ids = case_ids
        self.recipients = recipients
        self.i = 0

    def plain(self) -> None:
        w = self.world
        self.i += 1
        with w.sf.begin() as session:
            actor = load_actor(session, w.teacher_id)
            cases.fire(Ctx(session, actor, w.registry), self.case_ids[self.i % len(self.case_ids)],
                       "add_note", NOTE)

    def with_outbox(self, emitter=emit) -> None:
        w = self.world
        self.i += 1
        case_id = self.case_ids[self.i % len(self.case_ids)]
        with w.sf.begin() as session:
            actor = load_actor(session, w.teacher_id)
            ctx = Ctx(session, actor, w.registry)
            # the result holds the case, as the transition's own notices (``notify.after_fire``,
            # inside ``fire``) have it held: the session's identity map is weak
            result = cases.fire(ctx, case_id, "add_note", NOTE)
            emitter(ctx, Event.PARTICIPANT_ADDED, self.recipients, key=f"bench-{self.i}",
                    case_id=result.case.id)

    def with_outbox_before(self) -> None:
        self.with_outbox(emit_before)

    def loop(self, case_ids: list[int], *, emitter=None) -> int:
        """One nivå 0 loop (continue → start → assess → decide) on every case, one transaction
        per state change, each with an ``emitter`` call if given. Returns the transactions
        done."""
        w = self.world
        n = 0
        for trigger, payload in N0_LOOP:
            for case_id in case_ids:
                self.i += 1
                with w.sf.begin() as session:
                    actor = load_actor(session, w.coord_id)
                    ctx = Ctx(session, actor, w.registry)
                    result = cases.fire(ctx, case_id, trigger, payload)  # holds the case
                    if emitter is not None:
                        emitter(ctx, Event.PARTICIPANT_ADDED, self.recipients,
                                key=f"bench-{self.i}", case_id=result.case.id)
                n += 1
        return n


def timed_loop(runs: Runs, case_ids: list[int], emitter) -> tuple[float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    n = runs.loop(case_ids, emitter=emitter)
    return (time.perf_counter() - t0) / n * 1e6, (time.process_time() - c0) / n * 1e6


def report(labels: list[str], wall: list[list[float]], cpu: list[list[float]]) -> dict:
    """One line per variant (A, A′, B₀, B), then each one's cost against A: wall and CPU
    medians, the floor (A′ against A) and the goal on CPU."""
    med_wall = [statistics.median(x) for x in wall]
    med_cpu = [statistics.median(x) for x in cpu]
    for label, w, mw, mc in zip(labels, wall, med_wall, med_cpu, strict=True):
        print(f"  {label}: {mw:,.0f} µs wall, {mc:,.0f} µs CPU (median of {len(w)} rounds; "
              f"wall spread {min(w):,.0f}–{max(w):,.0f})")
    out = {}
    for i, label in enumerate(labels[1:], 1):
        wr, cr = med_wall[i] / med_wall[0] - 1, med_cpu[i] / med_cpu[0] - 1
        out[label.split()[0]] = cr
        verdict = "the floor" if i == 1 else (
            f"goal ≤ {GOAL * 100:.0f} % CPU: {'met' if cr <= GOAL else 'NOT met'}")
        print(f"  {label.split()[0]} vs A: {wr * 100:+.1f} % wall, {cr * 100:+.1f} % CPU "
              f"({med_cpu[i] - med_cpu[0]:+,.0f} µs CPU)  ({verdict})")
    return out


def timed(fn, n: int) -> tuple[float, float]:
    """Wall and CPU µs per call over ``n`` calls."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6, (time.process_time() - c0) / n * 1e6


def bench_sender(sf, n_rows: int) -> str:
    """``deliver_due`` through aiosmtpd on loopback: rows mailed per second."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:  # a production install without the dev dependencies
        return "skipped (aiosmtpd is not installed: pip install -r requirements/dev.lock)"
    import socket

    from bti.config import MailSettings
    from bti.services.notify.delivery import deliver_due

    class Count:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            Count.n += 1
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = MailSettings(host="127.0.0.1", port=port, security="none",
                                mail_from="BTI <bti@bench.invalid>",
                                base_url="https://bti.bench.invalid")
        with sf() as s:
            pending = s.scalar(select(func.count()).select_from(NotificationDelivery)
                               .where(NotificationDelivery.status == "pending"))
        t0 = time.perf_counter()
        sent = 0
        while sent < min(n_rows, pending):
            got = deliver_due(sf, settings, datetime.now(UTC), worker_id="bench", batch=50)
            if not got.sent:
                break
            sent += got.sent
        elapsed = time.perf_counter() - t0
    finally:
        controller.stop()
    return (f"{sent:,} mails in {elapsed:.2f} s: {sent / elapsed:,.0f}/s "
            f"({elapsed / sent * 1e3:,.2f} ms each; server received {Count.n:,})"
            if sent else "nothing sent")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="total measuring time, shared by the two variants (default 20)")
    ap.add_argument("--recipients", type=int, default=2,
                    help="users notified per transition in variant B (default 2)")
    ap.add_argument("--cases", type=int, default=100, help="cases for add_note (default 100)")
    ap.add_argument("--loop-cases", type=int, default=25,
                    help="cases cycled through the nivå 0 loop (default 25)")
    ap.add_argument("--round", type=int, default=200, help="transactions per round (default 200)")
    ap.add_argument("--send", type=int, default=2000,
                    help="mails the sender run sends at the end (0: skip; default 2000)")
    args = ap.parse_args(argv[1:])
    os.environ.setdefault("BTI_LOG_KEYS", "bench:" + "k" * 40)
    tmpdir = Path(tempfile.mkdtemp(prefix="bti-bench-outbox-"))
    print("== bench_outbox ==")
    for line in machine_facts(argv, tmpdir):
        print("  " + line)
    try:
        wf_dir = tmpdir / "workflows"
        wf_dir.mkdir()
        shutil.copy(WORKFLOWS / f"{WORKFLOW_ID}.toml", wf_dir)
        engine = make_engine(f"sqlite:///{tmpdir / 'bench.sqlite3'}")
        create_schema(engine)
        sf = make_session_factory(engine)
        world = World(sf, WorkflowRegistry(wf_dir))
        recipients = add_recipients(world, args.recipients)
        case_ids, _ = world.open_cases(args.cases)
        runs = Runs(world, case_ids, recipients)
        for _ in range(300):  # warm-up of every path
            runs.plain()
            runs.with_outbox()
            runs.with_outbox_before()
        with sf.begin() as session:  # emit alone, in one open transaction (rolled back)
            ctx = Ctx(session, load_actor(session, world.teacher_id), world.registry)
            held = session.get(Case, case_ids[0])  # as in a transition: the case is loaded
            for i in range(200):
                emit(ctx, Event.PARTICIPANT_ADDED, recipients, key=f"alone-w{i}",
                     case_id=case_ids[0])
            alone = {}
            for name, fn in (("emit_before", emit_before), ("emit", emit)) * 2:
                c0 = time.process_time()
                for i in range(2000):
                    fn(ctx, Event.PARTICIPANT_ADDED, recipients, key=f"alone-{name}-{c0}-{i}",
                       case_id=case_ids[0])
                alone[name] = (time.process_time() - c0) / 2000 * 1e6  # the second pass's
            session.rollback()
            del held
        print(f"\n[0] emit alone (to {args.recipients} users, no commit): "
              f"before {alone['emit_before']:,.0f} µs CPU, now {alone['emit']:,.0f} µs CPU each")
        r = args.recipients
        labels = ["A  add_note transaction            ", "A′ the same again (the floor)     ",
                  f"B₀ add_note + emit_before to {r} users", f"B  add_note + emit to {r} users    "]
        variants = [runs.plain, runs.plain, runs.with_outbox_before, runs.with_outbox]
        half = time.perf_counter() + args.seconds / 2
        wall: list[list[float]] = [[] for _ in variants]
        cpu: list[list[float]] = [[] for _ in variants]
        while time.perf_counter() < half or len(wall[0]) < 4:
            for fn, ws, cs in zip(variants, wall, cpu, strict=True):
                x, y = timed(fn, args.round)
                ws.append(x)
                cs.append(y)
        print(f"\n[1] add_note, {args.round} transactions per variant and round, interleaved")
        report(labels, wall, cpu)

        loop_cases, _ = world.open_cases(args.loop_cases)
        for cid in loop_cases:
            world.to_n0_decision(cid)
        emitters = [None, None, emit_before, emit]
        for e in emitters[1:]:
            runs.loop(loop_cases, emitter=e)  # warm-up
        deadline = time.perf_counter() + args.seconds / 2
        wall = [[] for _ in emitters]
        cpu = [[] for _ in emitters]
        while time.perf_counter() < deadline or len(wall[0]) < 4:
            for e, ws, cs in zip(emitters, wall, cpu, strict=True):
                x, y = timed_loop(runs, loop_cases, e)
                ws.append(x)
                cs.append(y)
        print(f"\n[2] state changes (the nivå 0 loop on {len(loop_cases)} cases), a whole loop "
              f"per variant and round, interleaved")
        report(["A  state change                   ", "A′ the same again (the floor)     ",
                f"B₀ state change + emit_before to {r} users",
                f"B  state change + emit to {r} users"], wall, cpu)
        with sf() as s:
            rows = s.scalar(select(func.count()).select_from(NotificationDelivery))
        print(f"\n  {rows:,} delivery rows written")
        if args.send:
            print(f"\n  sender: {bench_sender(sf, args.send)}")
        engine.dispose()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
