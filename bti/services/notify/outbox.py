"""The outbox: ``emit`` writes the in-app notice and, as each recipient chose, its e-mail
delivery row, in the caller's transaction (the event and its notifications commit or roll
back together). Sending happens afterwards (``bti notify send``).

The guarantees, on both paths: one transaction with the event (the caller's connection), one
notice per dedupe key and user also under concurrent requests (``ON CONFLICT DO NOTHING`` on
the unique key, and e-mail rows only for the notices this call wrote), inactive users and the
actor left out, an e-mail row only for a user with an address who did not choose "app"."""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import null
from sqlalchemy import select

from bti.db.upsert import insert_ignoring_conflicts
from bti.domain.cases import Notification
from bti.domain.cases import practice_case_ids
from bti.domain.log import canonical_json
from bti.domain.notifications import NotificationDelivery
from bti.domain.notifications import NotificationPreference
from bti.domain.org import User
from bti.services.context import Ctx
from bti.services.notify.events import EVENTS
from bti.services.notify.events import Event


def dedupe_key(event: Event, key: str | int, user_id: int) -> str:
    return f"{event.value}:{key}:{user_id}"


def modes_for(ctx: Ctx, event: Event, user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's delivery mode for ``event``: their preference, else the event's default."""
    ids = sorted(set(user_ids))
    chosen = dict(ctx.session.execute(
        select(NotificationPreference.user_id, NotificationPreference.mode).where(
            NotificationPreference.user_id.in_(ids),
            NotificationPreference.event == event.value)).all()) if ids else {}
    default = EVENTS[event].default_mode
    return {i: chosen.get(i, default) for i in ids}


@dataclass(frozen=True)
class Notice:
    """One occurrence of an event for ``emit_many``: whom, its dedupe key, its case, its ids."""

    user_ids: Iterable[int]
    key: str | int
    case_id: int | None = None
    details: Mapping[str, Any] | None = None


#: The statements of ``emit_many`` for several occurrences (a scan), built once: building a
#: statement costs more than running it (bench/bench_outbox.py). Recipients and their choice
#: for the event come in one query. One occurrence (a transition's ``emit``) takes
#: ``_one_notice``'s two statements instead.
_RECIPIENTS = (
    select(User.id, User.email, NotificationPreference.mode)
    .outerjoin(NotificationPreference, and_(NotificationPreference.user_id == User.id,
                                            NotificationPreference.event == bindparam("event")))
    .where(User.id.in_(bindparam("ids", expanding=True)), User.active.is_(True))
)
_DELIVERIES = NotificationDelivery.__table__.insert()
_NOTIFICATIONS: dict[str, Any] = {}


def _insert_notifications(conn: Connection) -> Any:
    stmt = _NOTIFICATIONS.get(conn.dialect.name)
    if stmt is None:
        stmt = _NOTIFICATIONS[conn.dialect.name] = insert_ignoring_conflicts(
            conn, Notification, index_elements=["dedupe_key"]).returning(
            Notification.id, Notification.user_id, Notification.dedupe_key)
    return stmt


def emit(ctx: Ctx, event: Event, user_ids: Iterable[int], *, key: str | int,
         case_id: int | None = None, details: Mapping[str, Any] | None = None) -> list[int]:
    """Notify ``user_ids`` (inactive users and the actor themself are left out) of ``event``,
    once per ``key`` and user: a second emit with the same key adds nothing, also under a
    concurrent request. ``details`` holds ids and dates only, never names or free text.
    Returns the ids of the users newly notified."""
    return sorted(u for u, _ in emit_many(ctx, event, [Notice(user_ids, key, case_id, details)]))


def _in_ids(conn: Connection, column: Any, name: str) -> Any:
    """``column IN`` the ids given as parameter ``name`` (``_ids``), as one bound value: an
    expanding ``IN`` re-renders the statement on every call (bench/bench_outbox.py: a fifth
    of an ``emit``); this is rendered once. PostgreSQL: ``= ANY(:ids)`` (an array);
    SQLite: ``IN (SELECT value FROM json_each(:ids))`` (a JSON array). Both look the rows up
    by primary key (EXPLAIN on SQLite 3.40 and PostgreSQL: ``SEARCH … USING INTEGER PRIMARY
    KEY``, ``Index Cond: (id = ANY …)``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    each = func.json_each(bindparam(name, type_=String())).table_valued("value")
    return column.in_(select(each.c.value))


def _ids(conn: Connection, ids: Iterable[int]) -> Any:
    """The value of an ``_in_ids`` parameter in the connection's dialect."""
    values = sorted(ids)
    return values if conn.dialect.name == "postgresql" else json.dumps(values)


def _one_notice(conn: Connection) -> tuple[Any, Any]:
    """The two statements of one notice (``emit`` from a transition: the hot path), built once
    per dialect. The first writes the notices straight from the recipients' rows (active users
    among ``ids``; the dedupe key is ``prefix`` + the user's id) and returns the new ones; the
    second writes their e-mail rows from those notices, each user's choice for the event (else
    ``default``) and their address, in SQL: no row is built in Python, no recipient query."""
    got = _ONE.get(conn.dialect.name)
    if got is not None:
        return got
    n, u, p = Notification.__table__, User.__table__, NotificationPreference.__table__
    now = bindparam("now", type_=n.c.created_at.type)
    recipients = select(
        u.c.id, bindparam("case_id", type_=n.c.case_id.type),
        bindparam("kind", type_=n.c.kind.type),
        bindparam("prefix", type_=String()) + cast(u.c.id, String()),
        bindparam("details", type_=n.c.details.type), now, null(),
    ).where(_in_ids(conn, u.c.id, "ids"), u.c.active.is_(True))
    notices = insert_ignoring_conflicts(conn, n, index_elements=["dedupe_key"]).from_select(
        ["user_id", "case_id", "kind", "dedupe_key", "details", "created_at", "read_at"],
        recipients).returning(n.c.id, n.c.user_id, n.c.dedupe_key)
    mode = func.coalesce(p.c.mode, bindparam("default", type_=p.c.mode.type))
    mailed = (
        select(n.c.id, n.c.user_id, literal("email"), mode, literal("pending"), literal(0),
               now, now)
        .select_from(n.join(u, u.c.id == n.c.user_id).outerjoin(
            p, and_(p.c.user_id == n.c.user_id, p.c.event == bindparam("event"))))
        .where(_in_ids(conn, n.c.id, "new"), mode != "app",
               u.c.email.is_not(None), u.c.email != "")
    )
    deliveries = NotificationDelivery.__table__.insert().from_select(
        ["notification_id", "user_id", "channel", "mode", "status", "attempts",
         "next_attempt_at", "created_at"], mailed)
    got = _ONE[conn.dialect.name] = (notices, deliveries)
    return got


_ONE: dict[str, tuple[Any, Any]] = {}


#: ``Session.info`` key: this session wrote a notice (a count of unread notices read before it
#: is out of date).
WROTE_NOTICES = "bti.notify.wrote_notices"


def wrote_notices(session: Any) -> bool:
    """Whether ``session`` wrote a notice (``emit``, ``emit_many``) since it was opened."""
    return bool(session.info.get(WROTE_NOTICES))


def emit_many(ctx: Ctx, event: Event, notices: Iterable[Notice]) -> list[tuple[int, str]]:
    """``emit`` for many occurrences of one event at once, in a fixed number of statements
    however many there are (a scheduled scan, a listing). Returns (user id, dedupe key) of each
    notice newly written."""
    actor_id = getattr(ctx.actor, "id", None)  # a job's context has no actor
    notices = list(notices)
    sandbox = practice_case_ids(ctx.session, {n.case_id for n in notices
                                              if n.case_id is not None})
    wanted = [(n, {i for i in n.user_ids if i is not None and i != actor_id})
              for n in notices if n.case_id not in sandbox]
    ids: set[int] = set().union(*(u for _, u in wanted)) if wanted else set()
    if not ids:
        return []
    ctx.session.flush()  # what the caller changed in this session counts (as autoflush would)
    conn = ctx.session.connection()
    if len(wanted) == 1:  # one occurrence (a transition's): two statements, rows built in SQL
        notice = wanted[0][0]
        write_notices, write_deliveries = _one_notice(conn)
        now = ctx.now()
        created = conn.execute(write_notices, {
            "ids": _ids(conn, ids), "case_id": notice.case_id, "kind": event.value,
            "prefix": dedupe_key(event, notice.key, 0)[:-1],
            "details": canonical_json(dict(notice.details or {})), "now": now}).all()
        if created:
            ctx.session.info[WROTE_NOTICES] = True
            conn.execute(write_deliveries, {"new": _ids(conn, (c[0] for c in created)),
                                            "now": now,
                                            "event": event.value,
                                            "default": EVENTS[event].default_mode})
        return sorted((u, k) for _, u, k in created)
    found = conn.execute(_RECIPIENTS, {"ids": sorted(ids), "event": event.value}).all()
    if not found:
        return []
    default = EVENTS[event].default_mode
    users = {i: (email, mode or default) for i, email, mode in found}
    now = ctx.now()
    rows: dict[str, dict[str, Any]] = {}
    for notice, recipients in wanted:
        body = canonical_json(dict(notice.details or {}))
        for i in sorted(recipients & users.keys()):
            k = dedupe_key(event, notice.key, i)
            rows.setdefault(k, dict(user_id=i, case_id=notice.case_id, kind=event.value,
                                    dedupe_key=k, details=body, created_at=now, read_at=None))
    if not rows:
        return []
    created = conn.execute(_insert_notifications(conn), list(rows.values())).all()
    if not created:
        return []
    ctx.session.info[WROTE_NOTICES] = True
    deliveries = [dict(notification_id=n, user_id=u, channel="email", mode=users[u][1],
                       status="pending", attempts=0, next_attempt_at=now, created_at=now)
                  for n, u, _ in created if users[u][1] != "app" and users[u][0]]
    if deliveries:
        conn.execute(_DELIVERIES, deliveries)
    return sorted((u, k) for _, u, k in created)
