"""Mine saker: the cases a user has a relation to, most urgent first.

Listing a case shows the child's pseudonym, so every case listed is an audited read
("case.listed", one row per case, with the user's strongest relation as its basis).

Everything a row needs is batch-loaded for all listed cases at once (participants, measures,
handovers, reports, consents): a fixed number of queries however many cases a coordinator has.
The urgency rules themselves (``classify``) are pure functions over the loaded rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from typing import Any
from typing import cast

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import CursorResult

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.clock import local_date
from bti.domain.family_voice import FamilyMessage
from bti.domain.rules import BASIS_ORDER
from bti.domain.rules import access_basis
from bti.domain.rules import case_coverage
from bti.domain.rules import expired_unrenewed
from bti.domain.rules import lapsed
from bti.domain.rules import led_unit
from bti.domain.rules import level_decision_due
from bti.domain.rules import relations
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.engine import WorkflowDefinition
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from bti.services.notify.outbox import Notice
from bti.services.notify.outbox import dedupe_key
from bti.services.notify.outbox import emit_many

#: An evaluation date this close (in days) is "due".
EVALUATION_DUE_DAYS = 7

#: Urgency kinds, most urgent first (the order rows and reasons are sorted by).
#: Suspected violence or abuse with no report to barnevernet or the police recorded yet: pinned
#: at the top for the reporter and the unit's leader until one is (``violence_pinned``).
VIOLENCE_UNREPORTED = "violence_unreported"
HANDOVER_WAITING = "handover_waiting"  # a handover waits for MY acceptance
#: The family wrote a comment or question to a case I hold, not marked answered yet.
FAMILY_MESSAGE = "family_message"
EVALUATION_OVERDUE = "evaluation_overdue"
LEVEL_DEADLINE_PASSED = "level_deadline_passed"  # e.g. no decision within 14 days at nivå 0
FEEDBACK_OVERDUE = "feedback_overdue"  # barnevernet's feedback is late
CONSENT_EXPIRED = "consent_expired"  # expired and not renewed: who it admitted lost access
CONSENT_EXPIRING = "consent_expiring"
EVALUATION_DUE = "evaluation_due"
FEEDBACK_AWAITED = "feedback_awaited"
INACTIVE = "inactive"
URGENCY_ORDER = (VIOLENCE_UNREPORTED, HANDOVER_WAITING, FAMILY_MESSAGE, EVALUATION_OVERDUE,
                 LEVEL_DEADLINE_PASSED, FEEDBACK_OVERDUE, CONSENT_EXPIRED, CONSENT_EXPIRING,
                 EVALUATION_DUE, FEEDBACK_AWAITED, INACTIVE)
_RANK = {k: i for i, k in enumerate(URGENCY_ORDER)}

#: Notification kind and dedupe key for an expiring consent (one warning per consent).
CONSENT_NOTIFICATION = Event.CONSENT_EXPIRING.value


def consent_dedupe_key(consent_id: int, user_id: int) -> str:
    return dedupe_key(Event.CONSENT_EXPIRING, consent_id, user_id)


def legacy_consent_key(consent_id: int) -> str:
    """The key a consent warning had before the outbox (one per consent, no user)."""
    return f"consent_expiring:{consent_id}"


@dataclass(frozen=True)
class Urgency:
    """Why a case needs attention: what, by when, and the row it is about."""

    kind: str
    on: date  # the due date (or, for an inactive case, the last activity)
    overdue: bool
    object_id: int | None = None

    @property
    def sort_key(self) -> tuple[int, date]:
        return (_RANK[self.kind], self.on)


@dataclass(frozen=True)
class InboxItem:
    case: Case
    relations: tuple[str, ...]  # every relation, strongest first
    basis: str  # the strongest: the audit basis
    level: str
    level_label: Mapping[str, str]
    state_label: Mapping[str, str]
    urgencies: tuple[Urgency, ...] = ()

    @property
    def relation(self) -> str:
        return self.basis

    @property
    def urgent(self) -> bool:
        return bool(self.urgencies)

    @property
    def sort_key(self) -> tuple:
        if self.urgencies:
            return (0, *self.urgencies[0].sort_key, self.case.id)
        return (1, len(URGENCY_ORDER), -self.case.last_activity_at.timestamp(), self.case.id)


@dataclass
class Inbox:
    items: list[InboxItem]
    notifications: list[Notification] = field(default_factory=list)

    @property
    def urgent(self) -> list[InboxItem]:
        return [i for i in self.items if i.urgent]

    @property
    def other(self) -> list[InboxItem]:
        return [i for i in self.items if not i.urgent]

    def counts(self) -> dict[str, int]:
        """How many cases have each kind of urgency, in ``URGENCY_ORDER``."""
        out = dict.fromkeys(URGENCY_ORDER, 0)
        for item in self.items:
            for kind in {u.kind for u in item.urgencies}:
                out[kind] += 1
        return {k: v for k, v in out.items() if v}

    def case_ids(self) -> frozenset[int]:
        return frozenset(i.case.id for i in self.items)


# --- the rules (pure) ---------------------------------------------------------------------------


def classify(
    case: Case,
    definition: WorkflowDefinition,
    today: date,
    *,
    actor_id: int,
    measures: Iterable[Measure] = (),
    handovers: Iterable[Handover] = (),
    reports: Iterable[BarnevernReport] = (),
    consents: Iterable[Consent] = (),
    expired: Iterable[Consent] = (),
    messages: Iterable[FamilyMessage] = (),
) -> tuple[Urgency, ...]:
    """Every reason ``case`` is urgent today, most urgent first. Rows not about the case or
    not in the state a rule asks for are ignored, so callers may pass a superset.
    ``expired`` are the case's expired consents nothing has renewed
    (``bti.domain.rules.expired_unrenewed``)."""
    out: list[Urgency] = []
    deadlines = definition.deadlines
    if case.stafettholder_id == actor_id:  # the family's contact answers the family
        out += [Urgency(FAMILY_MESSAGE, local_date(m.sent_at), False, m.id) for m in messages
                if m.case_id == case.id and m.answered_at is None]
    for h in handovers:
        # to the actor, or to the coordinating unit they answer for (the caller passes those
        # only where the actor is one of its recipients)
        if h.case_id == case.id and h.status == "proposed" and h.to_user_id in (actor_id, None):
            out.append(Urgency(HANDOVER_WAITING, local_date(h.proposed_at), False, h.id))
    for m in measures:
        if m.case_id != case.id or m.status != "active":
            continue
        if m.evaluate_by < today:
            out.append(Urgency(EVALUATION_OVERDUE, m.evaluate_by, True, m.id))
        elif m.evaluate_by <= today + timedelta(days=EVALUATION_DUE_DAYS):
            out.append(Urgency(EVALUATION_DUE, m.evaluate_by, False, m.id))
    state = definition.state(case.state)
    due = level_due(case, definition)
    if due is not None and due < today:
        out.append(Urgency(LEVEL_DEADLINE_PASSED, due, True))
    for r in reports:
        if (r.case_id != case.id or r.kind != "report" or r.feedback_received_on is not None
                or r.feedback_expected_by is None):
            continue
        late = r.feedback_expected_by < today
        out.append(Urgency(FEEDBACK_OVERDUE if late else FEEDBACK_AWAITED,
                           r.feedback_expected_by, late, r.id))
    warning_days = deadlines.consent_expiry_warning_days
    for c in consents:
        if (c.case_id == case.id and c.expires_on is not None
                and consent_expiring(c, today, warning_days)):
            out.append(Urgency(CONSENT_EXPIRING, c.expires_on, False, c.id))
    if not state.final:
        out += [Urgency(CONSENT_EXPIRED, c.expires_on, True, c.id) for c in expired
                if c.case_id == case.id and c.expires_on is not None]
    if not state.final:
        last = local_date(case.last_activity_at)
        if (today - last).days >= deadlines.inactivity_days:
            out.append(Urgency(INACTIVE, last, True))
    return tuple(sorted(out, key=lambda u: u.sort_key))


def level_due(case: Case, definition: WorkflowDefinition) -> date | None:
    """When the decision at the case's current level is due, if the workflow sets a limit
    there (nivå 0's 14 days) and the case is not closed. Nivå 0 runs from when the concern
    arose (the case opened); a later level from when the case entered it."""
    state = definition.state(case.state)
    if state.final:
        return None
    days = definition.deadlines.level_decision_days.get(state.level)
    if days is None:
        return None
    since = case.opened_at if state.level == definition.state(definition.initial).level \
        else case.level_entered_at
    return level_decision_due(since, days)


def consent_expiring(consent: Consent, today: date, warning_days: int) -> bool:
    """A current consent that expires within ``warning_days`` (today included)."""
    return (consent.status == "given" and consent.withdrawn_at is None
            and consent.expires_on is not None
            and today <= consent.expires_on <= today + timedelta(days=warning_days))


#: The relations a violence flag without a report is pinned for.
PINNED_FOR = frozenset({"reporter", "unit_leader"})


def violence_pinned(case: Case, relations: Iterable[str], reported: bool) -> bool:
    """A case flagged for violence or abuse stays at the top of the reporter's and the unit
    leader's lists until a report to barnevernet or the police (avvergeplikt) is recorded."""
    return (case.violence_flag and case.closed_at is None and not reported
            and not PINNED_FOR.isdisjoint(relations))


def reported_cases(ctx: Ctx, case_ids: Iterable[int]) -> frozenset[int]:
    """The cases among ``case_ids`` with any report to barnevernet or the police recorded
    (no query for none)."""
    ids = list(case_ids)
    if not ids:
        return frozenset()
    return frozenset(ctx.session.scalars(select(BarnevernReport.case_id).where(
        BarnevernReport.case_id.in_(ids)).distinct()))


def ordered_relations(rels: Iterable[str]) -> tuple[str, ...]:
    order = {b: i for i, b in enumerate(BASIS_ORDER)}
    return tuple(sorted(rels, key=lambda r: (order.get(r, len(order)), r)))


# --- loading ------------------------------------------------------------------------------------


def _related_cases(ctx: Ctx, include_closed: bool):
    actor = ctx.actor
    mine = select(Participant.case_id).where(Participant.user_id == actor.id,
                                             Participant.ended_at.is_(None))
    conditions = [Case.id.in_(mine), Case.stafettholder_id == actor.id]
    if (unit_id := led_unit(actor)) is not None:
        conditions.append(Case.unit_id == unit_id)
    # a municipality an inter-municipal service serves: its cases only through a participant
    # row of the actor (``relations`` admits no other relation there)
    served = sorted(actor.served_municipality_ids)
    stmt = select(Case).where(or_(Case.municipality_id == actor.municipality_id,
                                  and_(Case.municipality_id.in_(served), Case.id.in_(mine)))
                              if served else Case.municipality_id == actor.municipality_id,
                              or_(*conditions))
    if not include_closed:
        stmt = stmt.where(Case.closed_at.is_(None))
    return list(ctx.session.scalars(stmt))


def _by_case(rows) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        out[r.case_id].append(r)
    return out


def my_inbox(ctx: Ctx, *, include_closed: bool = False) -> Inbox:
    """The actor's cases, most urgent first, and their unread notifications. Writes one
    ``case.listed`` audit row per case, and warns stafettholders of expiring consents."""
    actor = ctx.actor
    if not actor.active:
        return Inbox([])
    today = ctx.today()
    cases = _related_cases(ctx, include_closed)
    ids = [c.id for c in cases]
    definitions = {c.workflow_definition_id: ctx.workflows.for_record(
        ctx.session, c.workflow_definition_id).definition for c in cases}
    s = ctx.session
    participants = _by_case(s.scalars(select(Participant).where(
        Participant.case_id.in_(ids), Participant.user_id == actor.id,
        Participant.ended_at.is_(None)))) if ids else {}
    measures = _by_case(s.scalars(select(Measure).where(
        Measure.case_id.in_(ids), Measure.status == "active",
        Measure.evaluate_by <= today + timedelta(days=EVALUATION_DUE_DAYS)))) if ids else {}
    answering = [cid for cid, rows in participants.items()
                 if any(p.relation == Relation.HANDOVER_RECIPIENT.value for p in rows)]
    handovers = _by_case(s.scalars(select(Handover).where(
        Handover.case_id.in_(ids), Handover.status == "proposed",
        or_(Handover.to_user_id == actor.id,
            and_(Handover.to_user_id.is_(None), Handover.case_id.in_(answering)))))) \
        if ids else {}
    reports = _by_case(s.scalars(select(BarnevernReport).where(
        BarnevernReport.case_id.in_(ids), BarnevernReport.kind == "report",
        BarnevernReport.feedback_received_on.is_(None)))) if ids else {}
    # every given consent of the listed cases: the ones about to expire, the ones that expired,
    # and what covers the case today (access through a consent ends when it expires)
    consents = _by_case(s.scalars(select(Consent).where(
        Consent.case_id.in_(ids), Consent.status == "given",
        Consent.withdrawn_at.is_(None)))) if ids else {}
    reported = reported_cases(ctx, [c.id for c in cases if c.violence_flag])
    held = [c.id for c in cases if c.stafettholder_id == actor.id]
    messages = _by_case(s.scalars(select(FamilyMessage).where(
        FamilyMessage.case_id.in_(held), FamilyMessage.answered_at.is_(None)))) if held else {}

    items: list[InboxItem] = []
    warn: list[tuple[Case, Consent]] = []
    for case in cases:
        definition = definitions[case.workflow_definition_id]
        given = consents.get(case.id, [])
        covered = case_coverage(case, given, today, definition.settings.youth_consent_age)
        mine = participants.get(case.id, [])
        gone = lapsed(mine, case, covered)
        rels = relations(actor, case, [p for p in mine if all(p is not g for g in gone)])
        basis = access_basis(rels)
        if basis is None:
            continue
        state = definition.state(case.state)
        urgencies = classify(
            case, definition, today, actor_id=actor.id, measures=measures.get(case.id, ()),
            handovers=handovers.get(case.id, ()), reports=reports.get(case.id, ()),
            consents=given, expired=expired_unrenewed(case, given, today, covered),
            messages=messages.get(case.id, ()))
        if violence_pinned(case, rels, case.id in reported):
            urgencies = (Urgency(VIOLENCE_UNREPORTED, local_date(case.opened_at), True),
                         *urgencies)
        if case.stafettholder_id is not None:
            warn += [(case, c) for c in consents.get(case.id, ())
                     if consent_expiring(c, today,
                                         definition.deadlines.consent_expiry_warning_days)]
        items.append(InboxItem(case, ordered_relations(rels), basis, state.level,
                               definition.level(state.level).label, state.label, urgencies))
    items.sort(key=lambda i: i.sort_key)
    for item in items:
        audit.record(ctx, AuditAction.CASE_LISTED, case=item.case, object_type="case",
                     object_id=item.case.id, basis=item.basis)
    warn_expiring_consents(ctx, warn)
    return Inbox(items, unread_notifications(ctx))


def my_cases(ctx: Ctx, *, include_closed: bool = False) -> list[InboxItem]:
    """The actor's cases, most urgent first (audited, like ``my_inbox``)."""
    return my_inbox(ctx, include_closed=include_closed).items


# --- notifications ------------------------------------------------------------------------------


def warn_expiring_consents(ctx: Ctx, pairs: Iterable[tuple[Case, Consent]]) -> int:
    """One notification per expiring consent to the case's stafettholder, through the outbox
    (``CONSENT_EXPIRING``, so also by e-mail as they chose); a consent already warned about is
    skipped (unique ``dedupe_key``, safe against a concurrent request; a warning written before
    the outbox, under its old key, counts too). Whoever's listing finds it, the holder is
    warned, themself included. Returns how many were new."""
    held = [(case, case.stafettholder_id, consent) for case, consent in pairs
            if case.stafettholder_id is not None]
    if not held:
        return 0
    keys = {consent_dedupe_key(consent.id, holder): consent.id for _, holder, consent in held}
    keys.update({legacy_consent_key(consent.id): consent.id for _, _, consent in held})
    warned = {keys[k] for k in ctx.session.scalars(select(Notification.dedupe_key).where(
        Notification.dedupe_key.in_(sorted(keys))))}
    notices = [Notice([holder], consent.id, case.id,
                      {"consent_id": consent.id, "expires_on": consent.expires_on})
               for case, holder, consent in held if consent.id not in warned]
    if not notices:
        return 0
    job = Ctx.system(ctx.session, workflows=ctx.workflows, now=ctx.now)
    return len(emit_many(job, Event.CONSENT_EXPIRING, notices))


def unread_notifications(ctx: Ctx) -> list[Notification]:
    return list(ctx.session.scalars(
        select(Notification).where(Notification.user_id == ctx.actor.id,
                                   Notification.read_at.is_(None))
        .order_by(Notification.created_at.desc(), Notification.id.desc())))


def mark_read(ctx: Ctx, notification_id: int | None = None) -> int:
    """Mark one of the actor's notifications read (``NotFound`` if it is not theirs), or all
    of them when ``notification_id`` is None. Returns how many changed."""
    stmt = (update(Notification)
            .where(Notification.user_id == ctx.actor.id, Notification.read_at.is_(None))
            .values(read_at=ctx.now()).execution_options(synchronize_session=False))
    if notification_id is not None:
        own = ctx.session.scalar(select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == ctx.actor.id))
        if own is None:
            raise NotFound(f"notification {notification_id}")
        stmt = stmt.where(Notification.id == notification_id)
    return cast(CursorResult[Any], ctx.session.execute(stmt)).rowcount


def warn_all_expiring_consents(ctx: Ctx) -> int:
    """The scheduled job (``bti notify consents``, part of ``bti notify scan``): warn the
    stafettholder of every open case whose consent expires within its workflow's warning
    period, whether or not anyone opens a list. Idempotent: one notification per consent.
    Returns how many were new."""
    today = ctx.today()
    horizon = 60  # days; each workflow's own warning period is applied below
    rows = ctx.session.execute(
        select(Case, Consent).join(Consent, Consent.case_id == Case.id).where(
            Case.closed_at.is_(None), Case.stafettholder_id.is_not(None),
            Consent.status == "given", Consent.withdrawn_at.is_(None),
            Consent.expires_on >= today,
            Consent.expires_on <= today + timedelta(days=horizon))).all()
    pairs = []
    for case, consent in rows:
        definition = ctx.workflows.for_record(ctx.session, case.workflow_definition_id).definition
        if consent_expiring(consent, today, definition.deadlines.consent_expiry_warning_days):
            pairs.append((case, consent))
    return warn_expiring_consents(ctx, pairs)
