"""Follow-up of the access log (AUD-07; Retningslinjer om innsynslogg 2.6.1–2.6.4, Normen
faktaark 15): a review job reads the audit trail, finds patterns worth a second look, and raises
a review item for the nearest leader with a notification. Leaders and the privacy officer read
the items and the rows they came from (those reads are logged too) and close them with a
conclusion; nobody can change the audit rows themselves.

Patterns, per user (``Rules`` holds the thresholds):

- ``many_cases``: opened at least ``many_cases_per_hour`` different cases within one clock hour;
- ``emergency_access``: took emergency access (selvautorisering) to a case; every use;
- ``off_hours``: read or changed case data outside working hours (local time) or at a weekend;
  one item per user and day;
- ``mass_export``: at least ``exports_per_day`` exports (a case or its access log) in a day;
- ``repeated_denials``: refused access to cases at least ``denials_per_hour`` times in an hour.

The job is incremental (``audit_review_mark`` holds how far it read each chain) and idempotent
(one item per user, pattern and window); a window that spans two runs is counted whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import cast

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from bti.domain.cases import INCLUDE_PRACTICE
from bti.domain.cases import Case
from bti.domain.clock import day_start
from bti.domain.clock import local
from bti.domain.clock import local_date
from bti.domain.log import AuditEvent
from bti.domain.log import AuditReviewItem
from bti.domain.log import AuditReviewMark
from bti.domain.log import CasePurge
from bti.domain.log import canonical_json
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.policy import may_review_item
from bti.domain.policy import may_review_user
from bti.domain.policy import review_scope
from bti.domain.rules import EMERGENCY_DURATION
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit

PATTERNS = ("many_cases", "emergency_access", "off_hours", "mass_export", "repeated_denials")
CONCLUSIONS = ("legitimate", "followed_up")
NOTIFICATION_KIND = Event.AUDIT_REVIEW.value
COMMENT_MAX = 2000
#: Rows shown with an item at most (the pattern's rows, oldest first).
ROWS_SHOWN = 500

#: Opening a case's content (not seeing it in a list).
CASE_READS = frozenset({AuditAction.CASE_VIEWED, AuditAction.CASE_LOG_VIEWED,
                        AuditAction.CASE_EXPORT_PAGE_VIEWED, AuditAction.CASE_EXPORTED,
                        AuditAction.CASE_ACCESS_LOG_VIEWED, AuditAction.CASE_EMERGENCY_ACCESS})
EXPORTS = frozenset({AuditAction.CASE_EXPORTED, AuditAction.CASE_ACCESS_LOG_EXPORTED})
#: A family member's reads and writes of a case on the family pages (channel ``family``: the
#: row has no staff actor, the identity is in its details). They count in ``many_cases``,
#: ``mass_export`` and ``repeated_denials`` like staff rows, per identity; not in ``off_hours``
#: (families read their case in the evening), nor ``emergency_access`` (they have none).
FAMILY_READS = frozenset({AuditAction.FAMILY_CASE_VIEWED, AuditAction.FAMILY_CONSENT_FORM_VIEWED,
                          AuditAction.CASE_EXPORTED, AuditAction.CASE_TRANSITION})
#: The subject of a family item in the job's keys: (``FAMILY``, identity id).
FAMILY = "family"
Subject = int | tuple[str, int]


def family_identity(details: str | None) -> int | None:
    """The family identity of an audit row written on the family channel, else None."""
    if not details or '"channel":"family"' not in details:
        return None
    value = json.loads(details).get("identity_id")
    return value if isinstance(value, int) else None


def _by_subject(subject: Subject) -> list:
    if isinstance(subject, tuple):
        n = subject[1]
        return [AuditEvent.actor_id.is_(None), AuditEvent.details.like('%"channel":"family"%'),
                or_(AuditEvent.details.like(f'%"identity_id":{n},%'),
                    AuditEvent.details.like(f'%"identity_id":{n}}}%'))]
    return [AuditEvent.actor_id == subject]


@dataclass(frozen=True)
class Rules:
    many_cases_per_hour: int = 20
    exports_per_day: int = 5
    denials_per_hour: int = 5
    #: Working hours, local time, Monday to Friday: [start, end).
    working_hours: tuple[int, int] = (7, 18)

    def off_hours(self, at: datetime) -> bool:
        wall = local(at)
        start, end = self.working_hours
        return wall.weekday() >= 5 or not start <= wall.hour < end


@dataclass
class ReviewRun:
    rows_read: int = 0
    items: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PATTERNS, 0))
    notifications: int = 0

    @property
    def items_raised(self) -> int:
        return sum(self.items.values())


# --- windows -------------------------------------------------------------------------------------


def _hour(at: datetime) -> tuple[datetime, datetime]:
    start = local(at).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return start, start + timedelta(hours=1)


def _day(at: datetime) -> tuple[datetime, datetime]:
    d = local_date(at)
    return day_start(d), day_start(d + timedelta(days=1))


def _rows_in(session: Session, chain: int, actor_id: Subject, start: datetime, end: datetime,
             actions: Iterable[str] | None = None, *, like: str | None = None,
             case_id: int | None = None):
    stmt = select(AuditEvent).where(AuditEvent.chain == chain, *_by_subject(actor_id),
                                    AuditEvent.at >= start, AuditEvent.at < end)
    if actions is not None:
        stmt = stmt.where(AuditEvent.action.in_(sorted(map(str, actions))))
    if like is not None:
        stmt = stmt.where(AuditEvent.action.like(like))
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    return stmt


def _count(session: Session, item_key: tuple, rules: Rules) -> tuple[int, dict[str, Any]]:
    """The pattern's measure over its whole window, from the database."""
    chain, actor_id, pattern, start, end, extra = item_key
    if pattern == "many_cases":
        reads = FAMILY_READS if isinstance(actor_id, tuple) else CASE_READS
        stmt = _rows_in(session, chain, actor_id, start, end, reads).with_only_columns(
            func.count(AuditEvent.case_id.distinct()))
        n = session.scalar(stmt) or 0
        return n, {"distinct_cases": n}
    if pattern == "mass_export":
        stmt = _rows_in(session, chain, actor_id, start, end, EXPORTS).with_only_columns(
            func.count())
        n = session.scalar(stmt) or 0
        return n, {"exports": n}
    if pattern == "repeated_denials":
        stmt = _rows_in(session, chain, actor_id, start, end, {AuditAction.ACCESS_DENIED}
                        ).with_only_columns(func.count())
        n = session.scalar(stmt) or 0
        return n, {"denials": n}
    if pattern == "off_hours":
        ats = session.scalars(_rows_in(session, chain, actor_id, start, end, like="case.%")
                              .with_only_columns(AuditEvent.at))
        n = sum(1 for at in ats if rules.off_hours(at))
        return n, {"rows_off_hours": n}
    # emergency_access: one per use
    return 1, {"case_id": extra}


def _threshold(pattern: str, rules: Rules) -> int:
    return {"many_cases": rules.many_cases_per_hour, "mass_export": rules.exports_per_day,
            "repeated_denials": rules.denials_per_hour, "off_hours": 1,
            "emergency_access": 1}[pattern]


# --- the job ---------------------------------------------------------------------------------


def _practice_cases(session: Session, municipality_id: int) -> set[int]:
    """The municipality's practice cases, those still held and those already purged (their
    tombstones): their audit rows are a new employee's practice, never a pattern to review."""
    held = session.scalars(select(Case.id).where(
        Case.municipality_id == municipality_id, Case.practice.is_(True))
        .execution_options(**{INCLUDE_PRACTICE: True}))
    purged = session.scalars(select(CasePurge.case_id).where(
        CasePurge.municipality_id == municipality_id,
        CasePurge.rule == "practice"))
    return {*held, *purged}


def run_review(session: Session, now: datetime, *, rules: Rules | None = None,
               municipality_id: int | None = None) -> ReviewRun:
    """Read the audit rows written since the last run (per municipality), raise the review
    items they call for, notify the reviewers, and move the read marks. One transaction's worth
    of writes; the caller commits."""
    rules = rules or Rules()
    run = ReviewRun()
    chains = session.scalars(select(Municipality.id).order_by(Municipality.id)
                             if municipality_id is None
                             else select(Municipality.id).where(Municipality.id == municipality_id))
    for chain in list(chains):
        mark = session.get(AuditReviewMark, chain)
        last = mark.seq if mark is not None else 0
        keys: dict[tuple, None] = {}
        top = last
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action,
                   AuditEvent.case_id, AuditEvent.details)
            .where(AuditEvent.chain == chain, AuditEvent.seq > last)
            .order_by(AuditEvent.seq).execution_options(yield_per=2000))
        family_keys: dict[tuple, None] = {}
        sandbox = _practice_cases(session, chain)
        for seq, at, actor_id, action, case_id, details in rows:
            run.rows_read += 1
            top = seq
            if case_id is not None and case_id in sandbox:
                continue  # a practice case's rows count towards no pattern
            if actor_id is None:
                identity = family_identity(details)
                if identity is None:
                    continue
                subject = (FAMILY, identity)
                if action in FAMILY_READS:
                    family_keys[(chain, subject, "many_cases", *_hour(at), None)] = None
                if action == AuditAction.CASE_EXPORTED:
                    family_keys[(chain, subject, "mass_export", *_day(at), None)] = None
                if action == AuditAction.ACCESS_DENIED:
                    family_keys[(chain, subject, "repeated_denials", *_hour(at), None)] = None
                continue
            if action in CASE_READS:
                keys[(chain, actor_id, "many_cases", *_hour(at), None)] = None
            if action in EXPORTS:
                keys[(chain, actor_id, "mass_export", *_day(at), None)] = None
            if action == AuditAction.ACCESS_DENIED:
                keys[(chain, actor_id, "repeated_denials", *_hour(at), None)] = None
            if action.startswith("case.") and rules.off_hours(at):
                keys[(chain, actor_id, "off_hours", *_day(at), None)] = None
            if action == AuditAction.CASE_EMERGENCY_ACCESS:
                keys[(chain, actor_id, "emergency_access", at, at + EMERGENCY_DURATION,
                      case_id)] = None
        if keys:
            # what exists already and whose unit each subject is in: one query each per chain,
            # not one per window (the first run reads the whole log)
            actors = {k[1] for k in keys}
            existing = {tuple(r) for r in session.execute(
                select(AuditReviewItem.subject_user_id, AuditReviewItem.pattern,
                       AuditReviewItem.window_start)
                .where(AuditReviewItem.municipality_id == chain,
                       AuditReviewItem.subject_user_id.in_(sorted(actors))))}
            units = dict(session.execute(select(User.id, User.unit_id)
                                         .where(User.id.in_(sorted(actors)))).all())
            for key in keys:
                if (key[1], key[2], key[3]) not in existing:  # (subject, pattern, window start)
                    _raise_item(session, key, rules, now, run, units)
        if family_keys:
            identities = sorted({k[1][1] for k in family_keys})
            found = session.execute(
                select(AuditReviewItem.subject_identity_id, AuditReviewItem.pattern,
                       AuditReviewItem.window_start)
                .where(AuditReviewItem.municipality_id == chain,
                       AuditReviewItem.subject_identity_id.in_(identities)))
            existing_family: set[tuple[Any, ...]] = {((FAMILY, i), p, w) for i, p, w in found}
            for key in family_keys:
                if (key[1], key[2], key[3]) not in existing_family:
                    _raise_item(session, key, rules, now, run, {})
        if top != last or mark is None:
            if mark is None:
                session.add(AuditReviewMark(chain=chain, seq=top, run_at=now))
            else:
                mark.seq, mark.run_at = top, now
        audit.record_system(session, AuditAction.AUDIT_REVIEW_RUN, now=now,
                            municipality_id=chain, object_type="audit_log",
                            from_seq=last, to_seq=top, items=run.items)
    session.flush()
    return run


def _raise_item(session: Session, key: tuple, rules: Rules, now: datetime,
                run: ReviewRun, units: dict[int, int | None]) -> None:
    chain, actor_id, pattern, start, end, _extra = key
    count, details = _count(session, key, rules)
    family = isinstance(actor_id, tuple)
    if count < _threshold(pattern, rules) or not (family or actor_id in units):
        return
    # a family member's item has no unit: the privacy officers follow it up
    unit_id = None if family else units[actor_id]
    item = AuditReviewItem(
        municipality_id=chain, unit_id=unit_id,
        subject_user_id=None if family else actor_id,
        subject_identity_id=actor_id[1] if family else None,
        pattern=pattern, window_start=start, window_end=end, count=count,
        details=canonical_json(details), created_at=now, status="open")
    session.add(item)
    session.flush()
    run.items[pattern] += 1
    # through the outbox (key ``audit_review:{item}:{user}``): the in-app notice and its e-mail
    job = Ctx.system(session, now=lambda: now)
    run.notifications += len(emit(job, Event.AUDIT_REVIEW,
                                  reviewer_ids(session, chain, unit_id,
                                               0 if family else actor_id), key=item.id,
                                  details={"item_id": item.id, "pattern": pattern}))


def _active_with_role(session: Session, municipality_id: int, role: str,
                      unit_id: int | None = None) -> list[int]:
    stmt = (select(User.id).join(UserRole, UserRole.user_id == User.id)
            .where(User.municipality_id == municipality_id, User.active.is_(True),
                   UserRole.role == role).order_by(User.id))
    if unit_id is not None:
        stmt = stmt.where(User.unit_id == unit_id)
    return list(session.scalars(stmt))


def reviewer_ids(session: Session, municipality_id: int, unit_id: int | None,
                 subject_id: int) -> list[int]:
    """The nearest leader: the leaders of the subject's unit; without one (or when the subject
    is that unit's only leader), the privacy officers. Never the subject."""
    if unit_id is not None:
        leaders = [u for u in _active_with_role(session, municipality_id, Role.LEADER.value,
                                                unit_id) if may_review_user(u, subject_id)]
        if leaders:
            return leaders
    return [u for u in _active_with_role(session, municipality_id, Role.PRIVACY_OFFICER.value)
            if may_review_user(u, subject_id)]


# --- reading and closing items ---------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    item: AuditReviewItem
    #: None for an item about a family member (``item.subject_identity_id``).
    subject_name: str | None
    unit_name: str | None

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.item.details or "{}")


@dataclass(frozen=True)
class ItemView:
    row: ItemRow
    events: list[AuditEvent]
    more: bool
    reviewer_name: str | None


def _scope(ctx: Ctx) -> str:
    scope = review_scope(ctx.actor)
    if scope is None:
        raise Forbidden("review items are for leaders and the privacy officer")
    return scope


def _visible(ctx: Ctx, scope: str) -> list:
    """``bti.domain.policy.may_review_item`` as query conditions (for the list)."""
    actor = ctx.actor
    where = [AuditReviewItem.municipality_id == actor.municipality_id,
             or_(AuditReviewItem.subject_user_id.is_(None),  # a family member's
                 AuditReviewItem.subject_user_id != actor.id)]  # nobody reviews themselves
    if scope == "unit":
        where.append(AuditReviewItem.unit_id == actor.unit_id)
    return where


def _select_rows():
    return (select(AuditReviewItem, User.display_name, Unit.name)
            .outerjoin(User, User.id == AuditReviewItem.subject_user_id)
            .outerjoin(Unit, Unit.id == AuditReviewItem.unit_id))


def list_items(ctx: Ctx, *, status: str = "open") -> list[ItemRow]:
    """The items the actor follows up, newest first (an audited read)."""
    scope = _scope(ctx)
    if status not in ("open", "closed"):
        raise InvalidInput({"status": ["not_a_choice"]})
    stmt = (_select_rows().where(*_visible(ctx, scope), AuditReviewItem.status == status)
            .order_by(AuditReviewItem.window_start.desc(), AuditReviewItem.id.desc())
            .limit(200))
    rows = [ItemRow(i, name, unit) for i, name, unit in ctx.session.execute(stmt)]
    audit.record(ctx, AuditAction.AUDIT_REVIEWS_LISTED, object_type="audit_review", basis=scope,
                 status=status, items=len(rows))
    return rows


def _item(ctx: Ctx, item_id: int) -> ItemRow:
    found = ctx.session.execute(_select_rows().where(AuditReviewItem.id == item_id)).first()
    if found is None or not may_review_item(ctx.actor, found[0].municipality_id,
                                            found[0].unit_id, found[0].subject_user_id or 0):
        raise NotFound(f"review item {item_id}", object_type="audit_review", object_id=item_id)
    return ItemRow(*found)


def get_item(ctx: Ctx, item_id: int) -> ItemView:
    """One item and the audit rows it was raised from (an audited read)."""
    scope = _scope(ctx)
    row = _item(ctx, item_id)
    item = row.item
    subject: Subject = ((FAMILY, item.subject_identity_id)
                        if item.subject_user_id is None and item.subject_identity_id is not None
                        else item.subject_user_id or 0)
    stmt = _rows_in(ctx.session, item.municipality_id, subject, item.window_start,
                    item.window_end)
    if item.pattern == "many_cases":
        reads = FAMILY_READS if isinstance(subject, tuple) else CASE_READS
        stmt = stmt.where(AuditEvent.action.in_(sorted(reads)))
    elif item.pattern == "mass_export":
        stmt = stmt.where(AuditEvent.action.in_(sorted(EXPORTS)))
    elif item.pattern == "repeated_denials":
        stmt = stmt.where(AuditEvent.action == AuditAction.ACCESS_DENIED.value)
    elif item.pattern == "off_hours":
        stmt = stmt.where(AuditEvent.action.like("case.%"))
    elif item.pattern == "emergency_access" and row.details.get("case_id") is not None:
        stmt = stmt.where(AuditEvent.case_id == row.details["case_id"])
    events = list(ctx.session.scalars(stmt.order_by(AuditEvent.seq).limit(ROWS_SHOWN + 1)))
    if item.pattern == "off_hours":
        events = [e for e in events if Rules().off_hours(e.at)]
    reviewer = (ctx.session.get_one(User, item.reviewed_by_id).display_name
                if item.reviewed_by_id else None)
    audit.record(ctx, AuditAction.AUDIT_REVIEW_VIEWED, object_type="audit_review",
                 object_id=item.id, basis=scope, subject_user_id=item.subject_user_id,
                 rows=len(events))
    return ItemView(row, events[:ROWS_SHOWN], len(events) > ROWS_SHOWN, reviewer)


def close_item(ctx: Ctx, item_id: int, *, conclusion: str, comment: str | None) -> None:
    """Close an open item with a conclusion (and optionally a comment). Audited."""
    scope = _scope(ctx)
    row = _item(ctx, item_id)
    errors: dict[str, list[str]] = {}
    if conclusion not in CONCLUSIONS:
        errors["conclusion"] = ["not_a_choice"]
    comment = (comment or "").strip() or None
    if comment is not None and (len(comment) > COMMENT_MAX or "\x00" in comment):
        errors["comment"] = ["too_long" if len(comment) > COMMENT_MAX else "invalid"]
    if row.item.status != "open":
        errors["conclusion"] = ["not_active"]
    if errors:
        raise InvalidInput(errors)
    item = row.item
    # closed once: of two reviewers closing at the same time, the second finds it closed
    closed = ctx.session.execute(
        update(AuditReviewItem)
        .where(AuditReviewItem.id == item.id, AuditReviewItem.status == "open")
        .values(status="closed", conclusion=conclusion, comment=comment,
                reviewed_by_id=ctx.actor.id, reviewed_at=ctx.now())
        .execution_options(synchronize_session="fetch"))
    if cast(CursorResult[Any], closed).rowcount != 1:
        raise InvalidInput({"conclusion": ["not_active"]})
    # the comment is free text: it stays on the item, never in the audit row
    audit.record(ctx, AuditAction.AUDIT_REVIEW_CLOSED, object_type="audit_review",
                 object_id=item.id, basis=scope, conclusion=conclusion,
                 commented=comment is not None)
    ctx.session.flush()
