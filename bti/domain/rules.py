"""Pure rules over entities: consent coverage, case roles, access basis, time in a level. No
queries here; services load the rows and pass them in. Who may do what is
``bti.domain.policy``."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TypeVar

from bti.domain.cases import FEEDBACK_CONCLUDING
from bti.domain.cases import FEEDBACK_INVESTIGATION_CLOSED
from bti.domain.cases import FEEDBACK_INVESTIGATION_OPENED
from bti.domain.cases import FEEDBACK_NO_INVESTIGATION
from bti.domain.cases import FEEDBACK_NONE_RECEIVED
from bti.domain.cases import FEEDBACK_STAGES
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Participant
from bti.domain.clock import days_between
from bti.domain.clock import local_date
from bti.domain.org import Actor
from bti.domain.policy import may_self_authorise
from bti.domain.policy import may_take_part_in_municipality
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role


@dataclass(frozen=True)
class ConsentTerms:
    """What deciding access needs of a consent, read without building ORM objects (the access
    check runs on every request): the same attributes as a ``Consent``'s, for the rules here."""

    id: int
    status: str
    given_by: str
    given_on: date | None
    expires_on: date | None
    withdrawn_at: datetime | None
    unit_ids: frozenset[int]


#: A consent as the rules read it: the entity, or its terms.
ConsentLike = Consent | ConsentTerms
_C = TypeVar("_C", bound=ConsentLike)


def youth_consent_required(birth_year: int, today: date, youth_consent_age: int) -> bool:
    """Only the birth year is stored, so we ask the youth from the year they turn the age: it
    may be a few months early, never late. For an expected child the birth year is the due
    year (``Case.child_due_month``): age 0 or less, so never."""
    return today.year - birth_year >= youth_consent_age


def child_age(birth_year: int, today: date) -> int:
    """The age the child turns this year, from the birth year alone (0 for an expected child):
    what the catalogue's age ranges are matched against. It may be a year high until the
    birthday; a range is a guide, not a rule."""
    return max(today.year - birth_year, 0)


#: How far ahead a due month may be: a pregnancy is followed up from its start (about nine
#: months ahead) with a month's slack; a due month already past means the child is born.
DUE_MONTHS_AHEAD = 10


def due_month_problem(year: int, month: int, today: date) -> str | None:
    """Why (year, month) cannot be an expected child's due month today: ``invalid`` (no such
    month), ``in_past`` (before this month) or ``too_far`` (more than ``DUE_MONTHS_AHEAD``
    months ahead); None when it can."""
    if not 1 <= month <= 12:
        return "invalid"
    ahead = (year - today.year) * 12 + (month - today.month)
    if ahead < 0:
        return "in_past"
    if ahead > DUE_MONTHS_AHEAD:
        return "too_far"
    return None


def feedback_problem(report: BarnevernReport, recorded: Mapping[str, date], stage: str,
                     received_on: date, today: date) -> dict[str, str]:
    """Why barnevernet's feedback ``stage`` dated ``received_on`` cannot be recorded on
    ``report``, whose stages so far are ``recorded`` (stage → date): field → error code;
    empty when it can. Each stage at most once; nothing after a concluding stage; no
    "henlagt" after an investigation was opened (its end is ``investigation_closed``); the
    reporter notes ``none_received`` only once the deadline has passed with no answer."""
    if stage not in FEEDBACK_STAGES:
        return {"feedback_kind": "not_allowed"}
    if report.concluded_on is not None or FEEDBACK_CONCLUDING & recorded.keys():
        return {"feedback_kind": "feedback_concluded"}
    if stage in recorded:
        return {"feedback_kind": "already_recorded"}
    if stage == FEEDBACK_NO_INVESTIGATION and FEEDBACK_INVESTIGATION_OPENED in recorded:
        return {"feedback_kind": "investigation_opened"}
    if received_on > today:
        return {"received_on": "in_future"}
    if received_on < report.sent_on:
        return {"received_on": "before_report"}
    if stage == FEEDBACK_NONE_RECEIVED:
        if report.feedback_received_on is not None:
            return {"feedback_kind": "already_answered"}
        if report.feedback_expected_by is None or received_on <= report.feedback_expected_by:
            return {"received_on": "before_deadline"}
    opened = recorded.get(FEEDBACK_INVESTIGATION_OPENED)
    if stage == FEEDBACK_INVESTIGATION_CLOSED and opened is not None and received_on < opened:
        return {"received_on": "before_investigation"}
    return {}


def consent_is_current(consent: ConsentLike, today: date) -> bool:
    return (
        consent.status == "given"
        and consent.withdrawn_at is None
        and (consent.given_on is None or consent.given_on <= today)
        and (consent.expires_on is None or consent.expires_on >= today)
    )


def covered_units(consents: Iterable[ConsentLike], today: date,
                  youth_required: bool) -> frozenset[int]:
    """Units every required party has consented to share with, through current consents."""
    guardians: set[int] = set()
    youth: set[int] = set()
    for c in consents:
        if not consent_is_current(c, today):
            continue
        if c.given_by in ("guardians", "guardians_and_youth"):
            guardians |= c.unit_ids
        if c.given_by in ("youth", "guardians_and_youth"):
            youth |= c.unit_ids
    return frozenset(guardians & youth if youth_required else guardians)


def case_coverage(case: Case, consents: Iterable[ConsentLike], today: date,
                  youth_consent_age: int) -> frozenset[int]:
    """The units the case's current consents cover today (the youth's own consent counted
    from the age the workflow sets)."""
    youth = youth_consent_required(case.child_birth_year, today, youth_consent_age)
    return covered_units(consents, today, youth)


#: Relations a consent admits: a participant from another service, and the proposed next
#: stafettholder from another service while the handover waits. Each lasts only as long as a
#: current consent covers that service: withdrawal and expiry end it.
CONSENT_RELATIONS = frozenset({Relation.PARTICIPANT.value, Relation.HANDOVER_RECIPIENT.value})


def rests_on_consent(participant: Participant, case: Case) -> bool:
    """Whether this relation to the case exists only through a consent (another service's)."""
    return (participant.relation in CONSENT_RELATIONS and participant.unit_id is not None
            and participant.unit_id != case.unit_id)


def lapsed(participants: Iterable[Participant], case: Case,
           covered: frozenset[int]) -> list[Participant]:
    """Active relations a consent admitted that no current consent covers any more (it expired,
    or the youth's own consent is now needed): they give no access from that moment on."""
    return [p for p in participants
            if p.ended_at is None and rests_on_consent(p, case) and p.unit_id not in covered]


def consent_ended_on(consent: ConsentLike) -> date | None:
    """The first day a given consent no longer holds through expiry (it holds through
    ``expires_on``), or None if it does not expire."""
    return consent.expires_on + timedelta(days=1) if consent.expires_on is not None else None


def expired_unrenewed(case: Case, consents: Iterable[_C], today: date,
                      covered: frozenset[int]) -> list[_C]:
    """Given consents that ran out by expiry (not withdrawn) while the services they opened to
    (besides the case's own unit) are not all covered again by a current consent: the
    stafettholder is told, and who they admitted has lost access."""
    return [c for c in consents
            if c.status == "given" and c.withdrawn_at is None and c.expires_on is not None
            and c.expires_on < today and not (c.unit_ids - {case.unit_id}) <= covered]


def expiry_of(unit_id: int | None, consents: Iterable[ConsentLike], today: date) -> date | None:
    """The day a unit's coverage ended through expiry: the latest end among the given,
    unwithdrawn consents covering it that have expired by ``today`` (None if none did, and for
    no unit: a participant from outside the services)."""
    ends = [end for c in consents
            if c.status == "given" and c.withdrawn_at is None and unit_id in c.unit_ids
            and (end := consent_ended_on(c)) is not None and end <= today]
    return max(ends, default=None)


#: Selvautorisering: the relation (and access basis) an unexpired emergency access gives.
EMERGENCY = Relation.EMERGENCY.value
#: How long an emergency access lasts, and the shortest reason accepted (AUTHZ-06).
EMERGENCY_DURATION = timedelta(hours=24)
EMERGENCY_REASON_MIN = 20
EMERGENCY_REASON_MAX = 2000


def emergency_is_current(grant: EmergencyAccess, user: Actor, case: Case, now: datetime) -> bool:
    return (grant.user_id == user.id and grant.case_id == case.id
            and grant.granted_at <= now < grant.expires_at)


def led_unit(user: Actor) -> int | None:
    """The unit whose cases a leader sees as ``unit_leader``: their own (None: no leader, or a
    leader without a unit). ``bti.services.cases.inbox`` lists them with it."""
    return user.unit_id if Role.LEADER.value in user.roles else None


def relations(user: Actor, case: Case, participants: Iterable[Participant],
              emergency: Iterable[EmergencyAccess] = (), now: datetime | None = None
              ) -> frozenset[str]:
    """The actor's relations to the case, from active participant rows and their unit, and
    from an unexpired emergency access (``emergency`` with ``now``)."""
    out: set[str] = set()
    if getattr(case, "practice", False):
        # a practice case is its opener's sandbox: no leader, participant, handover recipient
        # or emergency access ever reaches it, only the one who opened it
        if (case.opened_by_id != user.id or case.municipality_id != user.municipality_id
                or case.practice_discarded_at is not None):
            return frozenset()
        out.add(Relation.REPORTER.value)
        if case.stafettholder_id == user.id:
            out.add(Relation.STAFETTHOLDER.value)
        return frozenset(out)
    if case.municipality_id != user.municipality_id:
        if not may_take_part_in_municipality(user, case.municipality_id):
            return frozenset()
        # staff of an inter-municipal service in a municipality it serves: only as a
        # participant of their own service, admitted by a consent covering it
        return frozenset(p.relation for p in participants
                         if p.user_id == user.id and p.ended_at is None
                         and p.relation == Relation.PARTICIPANT.value
                         and p.unit_id is not None and p.unit_id == user.unit_id)
    if now is not None and may_self_authorise(user) and any(
            emergency_is_current(g, user, case, now) for g in emergency):
        out.add(EMERGENCY)
    for p in participants:
        if p.user_id == user.id and p.ended_at is None:
            out.add(p.relation)
    if case.stafettholder_id == user.id:
        out.add(Relation.STAFETTHOLDER.value)
    if (unit_id := led_unit(user)) is not None and unit_id == case.unit_id:
        out.add(Relation.UNIT_LEADER.value)
    return frozenset(out)


#: The access basis recorded in the audit trail, strongest first.
BASIS_ORDER = (
    Relation.STAFETTHOLDER.value,
    Relation.REPORTER.value,
    Relation.PARTICIPANT.value,
    Relation.UNIT_LEADER.value,
    Relation.HANDOVER_RECIPIENT.value,
    EMERGENCY,  # the weakest: only when there is no other relation
)


def access_basis(case_relations: frozenset[str]) -> str | None:
    """Need-to-know: a user sees a case only through a relation to it."""
    for basis in BASIS_ORDER:
        if basis in case_relations:
            return basis
    return None


# --- time in a level ------------------------------------------------------------------------------


def days_in_level(entered_at: datetime, until: datetime) -> int:
    """"Days in level": Oslo calendar days (``bti.domain.clock.days_between``) from the moment
    the case entered its level until ``until`` (now, or the moment it left the level). The
    leader's unit overview, the dashboards' time at each level and the timeline's level bands
    all count with this; a database query that must agree uses ``clock.days_ago_cutoff``."""
    return days_between(entered_at, until)


def level_decision_due(entered_at: datetime, limit_days: int) -> date:
    """The day the decision at a level is due when the workflow gives it ``limit_days`` from
    ``entered_at``; overdue from the day after, when ``days_in_level`` exceeds the limit."""
    return local_date(entered_at) + timedelta(days=limit_days)


# --- the unit a case was in (moves) ---------------------------------------------------------------


class UnitTimeline:
    """Which unit each moved case was in at an event (``bti.domain.cases.CaseUnitPeriod``):
    ``unit_at(case_id, at, default, seq)``, the default (the case's current unit) for a case
    that never moved. An event of the stafettlogg is placed by its ``seq`` (the move's own
    entry and everything after it count in the receiving unit), one without (a measure's
    creation time) by its time: from ``from_at`` on, the receiving unit. Built from (case id,
    unit id, from_at, from_seq) rows the caller read."""

    def __init__(self, periods: Iterable[tuple[int, int, datetime, int]]) -> None:
        by_case: dict[int, list[tuple[int, datetime, int]]] = {}
        for case_id, unit_id, from_at, from_seq in periods:
            by_case.setdefault(case_id, []).append((from_seq, from_at, unit_id))
        self._rows: dict[int, list[tuple[int, datetime, int]]] = {
            case_id: sorted(rows) for case_id, rows in by_case.items()}

    def unit_at(self, case_id: int, at: datetime, default: int, seq: int | None = None) -> int:
        rows = self._rows.get(case_id)
        if not rows:
            return default
        if seq is not None:
            i = bisect_right([r[0] for r in rows], seq) - 1
        else:
            i = bisect_right([r[1] for r in rows], at) - 1
        return rows[max(i, 0)][2]
