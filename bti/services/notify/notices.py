"""A user's own notifications (the list in the app, its unread count, opening one) and their
delivery settings (e-mail address and, per event, now / daily digest / app only).

A notice names no child: its kind, its date and the case number; opening it goes to the case
page, which checks access and audits the read itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Handover
from bti.domain.cases import Notification
from bti.domain.notifications import DELIVERY_MODES
from bti.domain.notifications import NotificationPreference
from bti.domain.org import User
from bti.domain.vocabulary import AuditAction
from bti.engine.inputs import END
from bti.engine.inputs import WHITESPACE
from bti.engine.inputs import char_class
from bti.services.access import audit
from bti.services.cases import inbox
from bti.services.cases import lifecycle
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify.events import EVENTS
from bti.services.notify.events import Event

#: How many notifications the list shows (newest first).
LIST_LIMIT = 200

#: A plain check of an e-mail address: one @, a dot in the domain, no whitespace or control
#: characters (the mail server has the last word). Written so that Python and the API's
#: document (JSON Schema, ECMA-262) read it alike (``bti.engine.inputs``: the characters
#: listed, not ``\s``, and ``END``, not ``$``).
_PART = char_class(WHITESPACE + "@" + "".join(map(chr, range(32))) + "\x7f", negate=True) + "+"
EMAIL_PATTERN = rf"^{_PART}@{_PART}\.{_PART}{END}"
EMAIL = re.compile(EMAIL_PATTERN)


def details_of(n: Notification) -> dict[str, Any]:
    try:
        value = json.loads(n.details or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def decline_reasons(ctx: Ctx, rows: Iterable[Notification]) -> dict[int, str]:
    """For the actor's "handover declined" notices among ``rows``: notice id → the reason the
    recipient gave, read now from the handover row (the notice holds its id only, never the
    free text), shown only where the actor proposed that handover and still has access to its
    case (checked now: after a move or an ended relation the reason stays in the case). Each
    case whose reason is shown is audited (``NOTIFICATION_REASON_READ``). The e-mail never
    carries it (``bti.services.notify.delivery`` builds its mail from the title and a link)."""
    wanted: dict[int, tuple[int, int | None]] = {}
    for n in rows:
        if n.kind != Event.HANDOVER_DECLINED.value or n.user_id != ctx.actor.id:
            continue
        hid = details_of(n).get("handover_id")
        if isinstance(hid, int) and not isinstance(hid, bool):
            wanted[n.id] = (hid, n.case_id)
    if not wanted:
        return {}
    handovers = {h.id: h for h in ctx.session.scalars(select(Handover).where(
        Handover.id.in_(sorted({hid for hid, _ in wanted.values()}))))}
    access: dict[int, lifecycle.CaseAccess | None] = {}
    shown: dict[int, str] = {}
    for nid, (hid, case_id) in sorted(wanted.items()):
        h = handovers.get(hid)
        if (h is None or h.status != "declined" or not h.decline_reason
                or h.case_id != case_id
                or (h.proposed_by_id or h.from_user_id) != ctx.actor.id):
            continue
        if h.case_id not in access:
            access[h.case_id] = lifecycle.access_or_none(ctx, h.case_id)
            seen = access[h.case_id]
            if seen is not None:
                audit.record(ctx, AuditAction.NOTIFICATION_REASON_READ, case=seen.case,
                             object_type="handover", object_id=h.id, basis=seen.basis)
        if access[h.case_id] is not None:
            shown[nid] = h.decline_reason
    return shown


def list_notifications(ctx: Ctx, *, limit: int = LIST_LIMIT) -> list[Notification]:
    """The actor's notifications, newest first."""
    return list(ctx.session.scalars(
        select(Notification).where(Notification.user_id == ctx.actor.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Page:
    items: list[Notification]
    #: Give as ``before`` for the next (older) page; None on the last page.
    next_cursor: int | None
    unread: int  # all the actor's unread notifications


def list_page(ctx: Ctx, *, unread_only: bool = False, before: int | None = None,
              limit: int = 50) -> Page:
    """One page of the actor's notifications, newest first (by id: ``before`` is the last id
    of the previous page), only the unread ones if asked; an audited listing (the notices
    name case numbers), recorded with the case ids it showed."""
    stmt = select(Notification).where(Notification.user_id == ctx.actor.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    rows = list(ctx.session.scalars(stmt.order_by(Notification.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    audit.record(ctx, AuditAction.NOTIFICATION_LISTED, object_type="notification",
                 count=len(rows), case_ids=sorted({n.case_id for n in rows
                                                   if n.case_id is not None}))
    return Page(rows, rows[-1].id if more and rows else None, unread_count(ctx))


def read_one(ctx: Ctx, notification_id: int) -> Notification:
    """Mark one of the actor's notifications read (``NotFound`` if it is not theirs; again
    is no change), audited; returns it as it is now."""
    n = open_notification(ctx, notification_id)
    ctx.session.refresh(n, ["read_at"])
    audit.record(ctx, AuditAction.NOTIFICATION_READ, case_id=n.case_id,
                 object_type="notification", object_id=n.id)
    return n


def unread_count(ctx: Ctx) -> int:
    """How many of the actor's notifications are unread: one COUNT query."""
    return ctx.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == ctx.actor.id, Notification.read_at.is_(None))) or 0


def get_notification(ctx: Ctx, notification_id: int) -> Notification:
    """One of the actor's notifications, unchanged (``NotFound`` if it is not theirs)."""
    n = ctx.session.get(Notification, notification_id)
    if n is None or n.user_id != ctx.actor.id:
        raise NotFound(f"notification {notification_id}", object_type="notification",
                       object_id=notification_id)
    return n


def open_notification(ctx: Ctx, notification_id: int) -> Notification:
    """One of the actor's notifications, marked read (``NotFound`` if it is not theirs)."""
    n = ctx.session.get(Notification, notification_id)
    if n is None or n.user_id != ctx.actor.id:
        raise NotFound(f"notification {notification_id}", object_type="notification",
                       object_id=notification_id)
    if n.read_at is None:
        inbox.mark_read(ctx, n.id)
    return n


def mark_all_read(ctx: Ctx) -> int:
    return inbox.mark_read(ctx)


@dataclass(frozen=True)
class Settings:
    email: str | None
    modes: dict[Event, str]  # every event: the user's choice, else its default


def get_settings(ctx: Ctx, user_id: int | None = None) -> Settings:
    uid = ctx.actor.id if user_id is None else user_id
    user = ctx.session.get_one(User, uid)
    chosen = dict(ctx.session.execute(
        select(NotificationPreference.event, NotificationPreference.mode)
        .where(NotificationPreference.user_id == uid)).all())
    return Settings(user.email, {e: chosen.get(e.value, spec.default_mode)
                                 for e, spec in EVENTS.items()})


def check_email(value: str | None) -> str | None:
    """The address stripped (None for empty); ``InvalidInput`` if it is not an address."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 254:
        raise InvalidInput({"email": ["too_long"]})
    if not EMAIL.match(text):
        raise InvalidInput({"email": ["invalid_email"]})
    return text


def update_settings(ctx: Ctx, *, email: str | None | EllipsisType = ...,
                    modes: Mapping[str, str] | None = None) -> Settings:
    """Change only what is given: the address (``None`` removes it; not given keeps it) and
    the modes of the events named (the others keep theirs), in the caller's transaction,
    audited (which events changed, never the address); every problem named at once."""
    current = get_settings(ctx)
    address = current.email if email is ... else email
    merged = {e.value: m for e, m in current.modes.items()}
    merged.update(modes or {})
    saved = save_settings(ctx, email=address if isinstance(address, str) else None,
                          modes=merged)
    audit.record(ctx, AuditAction.NOTIFICATION_SETTINGS_CHANGED, object_type="user",
                 object_id=ctx.actor.id, events=sorted((modes or {}).keys()),
                 email_changed=saved.email != current.email)
    return saved


def save_settings(ctx: Ctx, *, email: str | None, modes: Mapping[str, str]) -> Settings:
    """Save the actor's address and a mode per event (a missing event keeps its default), in
    the caller's transaction; every problem named at once, nothing written on one."""
    errors: dict[str, list[str]] = {}
    try:
        address = check_email(email)
    except InvalidInput as err:
        errors.update(err.fields)
        address = None
    known = {e.value for e in Event}
    for name, mode in modes.items():
        if name not in known:
            errors.setdefault(name, []).append("unknown")
        elif mode not in DELIVERY_MODES:
            errors.setdefault(name, []).append("not_a_choice")
    if errors:
        raise InvalidInput(errors)
    uid = ctx.actor.id
    ctx.session.get_one(User, uid).email = address
    ctx.session.execute(delete(NotificationPreference).where(
        NotificationPreference.user_id == uid))
    ctx.session.add_all(NotificationPreference(user_id=uid, event=name, mode=mode)
                        for name, mode in sorted(modes.items())
                        if mode != EVENTS[Event(name)].default_mode)
    ctx.session.flush()
    return get_settings(ctx)
