"""The outbox: ``emit`` writes the in-app notice and, as each recipient chose, its e-mail
delivery row, in the caller's transaction (the event and its notifications commit or roll
back together). Sending happens afterwards (``bti notify send``)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from bti.db.upsert import insert_ignoring_conflicts
from bti.domain.cases import Notification
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


def emit(ctx: Ctx, event: Event, user_ids: Iterable[int], *, key: str | int,
         case_id: int | None = None, details: Mapping[str, Any] | None = None) -> list[int]:
    """Notify ``user_ids`` (inactive users and the actor themself are left out) of ``event``,
    once per ``key`` and user: a second emit with the same key adds nothing, also under a
    concurrent request. ``details`` holds ids and dates only, never names or free text.
    Returns the ids of the users newly notified."""
    ids = set(user_ids)
    if ctx.actor.id is not None:
        ids.discard(ctx.actor.id)
    if not ids:
        return []
    users = dict(ctx.session.execute(
        select(User.id, User.email).where(User.id.in_(sorted(ids)), User.active.is_(True)))
        .all())
    if not users:
        return []
    now = ctx.now()
    body = canonical_json(dict(details or {}))
    rows = [dict(user_id=i, case_id=case_id, kind=event.value,
                 dedupe_key=dedupe_key(event, key, i), details=body, created_at=now,
                 read_at=None) for i in sorted(users)]
    conn = ctx.session.connection()
    stmt = insert_ignoring_conflicts(conn, Notification, index_elements=["dedupe_key"]) \
        .returning(Notification.id, Notification.user_id)
    created = conn.execute(stmt, rows).all()
    if not created:
        return []
    modes = modes_for(ctx, event, [u for _, u in created])
    deliveries = [dict(notification_id=n, user_id=u, channel="email", mode=modes[u],
                       status="pending", attempts=0, next_attempt_at=now, created_at=now)
                  for n, u in created if modes[u] != "app" and users.get(u)]
    if deliveries:
        conn.execute(NotificationDelivery.__table__.insert(), deliveries)
    return sorted(u for _, u in created)
