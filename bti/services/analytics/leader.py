"""The leader's views: the unit's open cases by level, and one case's flow over time.

Leaders see flow, not content (domain.md §3, "auditing leaders"): the overview shows case
references and counts unless the leader asks to see the children's names, and then every case
listed is an audited read. The timeline reads the case through ``bti.services.cases.lifecycle``
(need-to-know and the audit trail apply) and shows levels, measures and events, never free text.

``build_timeline`` is a pure function over stafettlogg entries, so it is tested without a
database; the SVG geometry of the timeline is the web layer's (``bti.web.charts.layout``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import aliased

from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import Case
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Participant
from bti.domain.clock import day_start
from bti.domain.clock import local_date
from bti.domain.log import StafettloggEntry
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import may_use_leader_views
from bti.domain.policy import may_view_case_timeline
from bti.domain.policy import may_view_ip_overview
from bti.domain.rules import days_in_level
from bti.domain.rules import level_decision_due
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.engine import WorkflowDefinition
from bti.services.access import audit
from bti.services.analytics.suppression import sup
from bti.services.cases import lifecycle as case_service
from bti.services.cases.inbox import reported_cases
from bti.services.context import Ctx
from bti.services.errors import NotFound

# --- overview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelCount:
    level: str
    number: int | None
    label: Mapping[str, str]
    count: int


@dataclass(frozen=True)
class OverviewRow:
    case_id: int
    level: str
    level_label: Mapping[str, str]
    state_label: Mapping[str, str]
    level_entered_at: datetime
    #: Local calendar days since the case entered its level (``bti.domain.clock``), as the
    #: dashboards count a stay.
    days_in_level: int
    #: The child's pseudonym, only when the leader asked to see names (an audited read).
    pseudonym: str | None = None
    #: When the case was opened (told apart from another case for the same pseudonym).
    opened_at: datetime | None = None
    #: Flagged for violence or abuse with no report recorded yet: listed first
    #: (``bti.services.cases.inbox.violence_pinned``).
    pinned: bool = False


@dataclass(frozen=True)
class Overview:
    unit_id: int | None
    counts: tuple[LevelCount, ...]
    rows: tuple[OverviewRow, ...]
    names_shown: bool

    @property
    def total(self) -> int:
        return len(self.rows)


def _require_leader(ctx: Ctx) -> None:
    if not may_use_leader_views(ctx.actor):
        raise NotFound("leader view")


def unit_overview(ctx: Ctx, *, show_names: bool = False) -> Overview:
    """The leader's unit's open cases: counts by level, and each case's time in its current
    level, longest first. Writes one ``unit.overview_viewed`` audit row, and with
    ``show_names`` one ``case.listed`` row per case (basis ``unit_leader``)."""
    _require_leader(ctx)
    actor = ctx.actor
    rows: list[OverviewRow] = []
    listed: list[Case] = []
    counts: dict[str, list] = {}
    now = ctx.now()
    if actor.unit_id is not None:
        open_cases = ctx.session.scalars(
            select(Case).where(Case.municipality_id == actor.municipality_id,
                               Case.unit_id == actor.unit_id, Case.closed_at.is_(None))
            .order_by(Case.level_entered_at, Case.id))
        for case in open_cases:
            definition = ctx.workflows.for_record(ctx.session,
                                                  case.workflow_definition_id).definition
            state = definition.state(case.state)
            if state.final:
                continue
            level = definition.level(state.level)
            entry = counts.setdefault(level.id, [level.number, level.label, 0])
            entry[2] += 1
            rows.append(OverviewRow(
                case_id=case.id, level=level.id, level_label=level.label,
                state_label=state.label, level_entered_at=case.level_entered_at,
                days_in_level=days_in_level(case.level_entered_at, now),
                pseudonym=case.child_pseudonym if show_names else None,
                opened_at=case.opened_at, pinned=case.violence_flag))
            listed.append(case)
        reported = reported_cases(ctx, [r.case_id for r in rows if r.pinned])
        rows = [replace(r, pinned=r.pinned and r.case_id not in reported) for r in rows]
        rows.sort(key=lambda r: not r.pinned)  # stable: otherwise longest at the level first
    level_counts = tuple(sorted(
        (LevelCount(lv, n, label, c) for lv, (n, label, c) in counts.items()),
        key=lambda lc: (lc.number if lc.number is not None else 99, lc.level)))
    audit.record(ctx, AuditAction.UNIT_OVERVIEW_VIEWED, object_type="unit", object_id=actor.unit_id,
                 basis=Relation.UNIT_LEADER.value, names_shown=show_names, cases=len(rows))
    if show_names:
        for case in listed:
            audit.record(ctx, AuditAction.CASE_LISTED, case=case, object_type="case",
                         object_id=case.id, basis=Relation.UNIT_LEADER.value)
    return Overview(actor.unit_id, level_counts, tuple(rows), show_names)


# --- individual plans (Vestre Slidre: who keeps the overview) ---------------------------------


@dataclass(frozen=True)
class IpRow:
    """An open IP case of the leader's unit: its coordinator and its ansvarsgruppe."""

    case_id: int
    coordinator_name: str
    coordinator_unit: str | None
    members: int  # active members of the ansvarsgruppe, the coordinator included
    last_meeting: date | None
    #: The child's pseudonym, only when the leader asked to see names (an audited read).
    pseudonym: str | None = None

    @property
    def has_ansvarsgruppe(self) -> bool:
        """An ansvarsgruppe beyond the coordinator alone: another member, or a meeting."""
        return self.members > 1 or self.last_meeting is not None


@dataclass(frozen=True)
class IpUnitCount:
    """One unit's open cases with an IP and with an ansvarsgruppe, suppressed below 5
    (``None``), as the dashboards count what a leader sees beyond their own unit."""

    unit_id: int
    unit_name: str
    with_ip: int | None
    with_ansvarsgruppe: int | None


@dataclass(frozen=True)
class IpOverview:
    unit_id: int | None
    open_cases: int  # of the leader's unit
    rows: tuple[IpRow, ...]  # the unit's open IP cases, case number order
    units: tuple[IpUnitCount, ...]  # every unit of the municipality with an open IP case
    names_shown: bool

    @property
    def with_ip(self) -> int:
        return len(self.rows)

    @property
    def with_coordinator(self) -> int:
        return sum(1 for r in self.rows if r.coordinator_name)

    @property
    def with_ansvarsgruppe(self) -> int:
        return sum(1 for r in self.rows if r.has_ansvarsgruppe)


def ip_overview(ctx: Ctx, *, show_names: bool = False) -> IpOverview:
    """Which children of the leader's unit have an individual plan, a coordinator and an
    ansvarsgruppe (case numbers; the pseudonyms only with ``show_names``, each case listed an
    audited read as in ``unit_overview``), and per unit of the municipality how many open
    cases have an IP and an ansvarsgruppe, counts below 5 suppressed. One
    ``unit.overview_viewed`` audit row (``view`` ``ip``)."""
    if not may_view_ip_overview(ctx.actor):
        raise NotFound("leader view")
    actor = ctx.actor
    members = (select(AnsvarsgruppeMember.case_id, func.count().label("n"))
               .where(AnsvarsgruppeMember.ended_at.is_(None))
               .group_by(AnsvarsgruppeMember.case_id).subquery())
    meetings = (select(AnsvarsgruppeMeeting.case_id,
                       func.max(AnsvarsgruppeMeeting.held_on).label("last"))
                .group_by(AnsvarsgruppeMeeting.case_id).subquery())
    coordinator_unit = aliased(Unit)
    rows_q = ctx.session.execute(
        select(Case, User.display_name, coordinator_unit.name, members.c.n, meetings.c.last)
        .join(IndividualPlan, IndividualPlan.case_id == Case.id)
        .outerjoin(User, User.id == IndividualPlan.coordinator_id)
        .outerjoin(coordinator_unit, coordinator_unit.id == User.unit_id)
        .outerjoin(members, members.c.case_id == Case.id)
        .outerjoin(meetings, meetings.c.case_id == Case.id)
        .where(Case.municipality_id == actor.municipality_id, Case.unit_id == actor.unit_id,
               Case.closed_at.is_(None))
        .order_by(Case.id)).all()
    rows = tuple(IpRow(case.id, name or "", unit_name, n or 0, last,
                       case.child_pseudonym if show_names else None)
                 for case, name, unit_name, n, last in rows_q)
    open_cases = ctx.session.scalar(select(func.count()).select_from(Case).where(
        Case.municipality_id == actor.municipality_id, Case.unit_id == actor.unit_id,
        Case.closed_at.is_(None))) or 0
    per_unit = ctx.session.execute(
        select(Unit.id, Unit.name, func.count(Case.id),
               func.count(Case.id).filter((members.c.n > 1) | meetings.c.last.is_not(None)))
        .join(Case, Case.unit_id == Unit.id)
        .join(IndividualPlan, IndividualPlan.case_id == Case.id)
        .outerjoin(members, members.c.case_id == Case.id)
        .outerjoin(meetings, meetings.c.case_id == Case.id)
        .where(Unit.municipality_id == actor.municipality_id, Case.closed_at.is_(None))
        .group_by(Unit.id, Unit.name).order_by(Unit.name, Unit.id)).all()
    units = tuple(IpUnitCount(uid, name, sup(n), sup(g)) for uid, name, n, g in per_unit)
    audit.record(ctx, AuditAction.UNIT_OVERVIEW_VIEWED, object_type="unit",
                 object_id=actor.unit_id, basis=Relation.UNIT_LEADER.value, view="ip",
                 names_shown=show_names, cases=len(rows))
    if show_names:
        for case, *_ in rows_q:
            audit.record(ctx, AuditAction.CASE_LISTED, case=case, object_type="case",
                         object_id=case.id, basis=Relation.UNIT_LEADER.value)
    return IpOverview(actor.unit_id, open_cases, rows, units, show_names)


# --- timeline (pure) ----------------------------------------------------------------------------

#: Effects shown as events on the timeline, by the kind of mark they get.
MARK_KINDS: Mapping[str, str] = {
    "evaluation": "evaluation",
    "meeting": "meeting",
    "handover_proposed": "handover",
    "handover_accepted": "handover",
    "handover_declined": "handover",
    "handover_withdrawn": "handover",
    "ip_handover_proposed": "handover",
    "ip_handover_accepted": "handover",
    "ansvarsgruppe_meeting": "meeting",
    "report_barnevernet": "report",
    "barnevern_feedback": "report",
    "avverge": "report",
    "consent_given": "consent",
    "consent_withdrawn": "consent",
    "consent_refused": "consent",
}
#: The payload field that holds the event's own date, per effect (else the entry's time).
_EVENT_DATE_FIELD = {
    "evaluation": "evaluated_on", "meeting": "held_on", "ansvarsgruppe_meeting": "held_on",
    "report_barnevernet": "sent_on",
    "barnevern_feedback": "received_on", "avverge": "reported_on", "consent_given": "given_on",
}


@dataclass(frozen=True)
class Band:
    """A stretch of time the case spent at one level."""

    level: str
    number: int | None
    label: Mapping[str, str]
    start: date
    end: date
    ongoing: bool

    @property
    def days(self) -> int:
        return days_in_level(day_start(self.start), day_start(self.end))


@dataclass(frozen=True)
class Bar:
    """A measure from its start to its evaluation (or stop, or planned evaluation date)."""

    measure_id: int
    number: int  # 1, 2, … in the order the measures were added
    level: str
    level_label: Mapping[str, str]
    start: date
    evaluate_by: date
    end: date
    status: str  # active | evaluated | stopped
    #: Local days past the evaluation date of a measure still running (0: not overdue).
    overdue_days: int = 0

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class Mark:
    kind: str  # evaluation | meeting | handover | report | consent
    on: date
    trigger: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class Holder:
    """A stretch of time one colleague held the baton (the stafettholder)."""

    name: str
    start: date
    end: date
    current: bool


@dataclass(frozen=True)
class Deadline:
    """A date something is due: the decision at the current level (when the workflow gives
    one) or the evaluation of a running measure."""

    kind: str  # level_decision | measure_evaluation
    on: date
    overdue: bool
    measure_number: int | None = None


Row = Band | Bar | Mark | Holder | Deadline


@dataclass(frozen=True)
class Timeline:
    case_id: int
    start: date
    end: date
    closed_on: date | None
    bands: tuple[Band, ...]
    bars: tuple[Bar, ...]
    marks: tuple[Mark, ...]
    today: date
    holders: tuple[Holder, ...] = ()
    deadlines: tuple[Deadline, ...] = ()

    @property
    def overdue(self) -> tuple[Bar, ...]:
        """The running measures past their evaluation date."""
        return tuple(b for b in self.bars if b.overdue_days)

    def table_rows(self) -> list[tuple[str, Row]]:
        """Every band, holder, bar, mark and deadline as ("level" | "holder" | "measure" |
        "event" | "deadline", item), by date."""
        rows: list[tuple[date, int, str, Row]] = [
            *((b.start, 0, "level", b) for b in self.bands),
            *((h.start, 1, "holder", h) for h in self.holders),
            *((b.start, 2, "measure", b) for b in self.bars),
            *((m.on, 3, "event", m) for m in self.marks),
            *((d.on, 4, "deadline", d) for d in self.deadlines)]
        return [(kind, item) for _, _, kind, item in sorted(rows, key=lambda r: r[:2])]


def _data(entry: StafettloggEntry) -> dict:
    try:
        value = json.loads(entry.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _day(value, fallback: date) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return fallback
    return fallback


def _effects(definition: WorkflowDefinition) -> tuple[
        tuple[dict[tuple[str, str], str], dict[str, str]], dict[str, Mapping[str, str]]]:
    by_source: dict[tuple[str, str], str] = {}
    by_trigger: dict[str, str] = {}
    labels: dict[str, Mapping[str, str]] = {}
    for t in definition.transitions:
        for s in t.sources:
            by_source.setdefault((t.trigger, s), t.effect)
        by_trigger.setdefault(t.trigger, t.effect)
        labels.setdefault(t.trigger, t.label)
    return (by_source, by_trigger), labels


def build_timeline(case_id: int, entries: Iterable[StafettloggEntry],
                   definition: WorkflowDefinition, today: date,
                   holders: Iterable[Holder] = ()) -> Timeline:
    """Levels as bands, measures as bars and events as marks, from a case's stafettlogg
    (oldest first). A level band starts at the entry that moved the case into the level.
    An open case also gets its deadlines: the decision at the current level (the workflow's
    ``level_decision_days``) and each running measure's evaluation date."""
    (by_source, by_trigger), labels = _effects(definition)
    bands: list[Band] = []
    current: tuple[str, date] | None = None
    closed_on: date | None = None
    measures: dict[int, dict] = {}
    marks: list[Mark] = []
    start: date | None = None
    for e in entries:
        day = local_date(e.at)
        start = start or day
        level = definition.level_of(e.to_state)
        if current is None or level.id != current[0]:
            if current is not None:
                lv = definition.level(current[0])
                bands.append(Band(lv.id, lv.number, lv.label, current[1], day, False))
            current = None if level.final else (level.id, day)
            if level.final:
                closed_on = day
        effect = by_source.get((e.trigger, e.from_state or "")) or by_trigger.get(e.trigger)
        data = _data(e)
        if effect == "measure" and e.object_id is not None:
            from_level = definition.level_of(e.from_state or e.to_state)
            s = _day(data.get("start_date"), day)
            ev = _day(data.get("evaluate_by"), s)
            measures[e.object_id] = dict(level=from_level, start=s, evaluate_by=ev, end=None,
                                         status="active")
        elif effect == "stop_measure":
            measure_id = data.get("measure")
            m = measures.get(measure_id) if measure_id is not None else None
            if m is not None and m["status"] == "active":
                m.update(status="stopped", end=day)
        if effect == "evaluation":
            on = _day(data.get("evaluated_on"), day)
            for mid in data.get("measures") or ():
                m = measures.get(mid)
                if m is not None and m["status"] == "active":
                    m.update(status="evaluated", end=on)
        if effect is not None and effect in MARK_KINDS:
            on = _day(data.get(_EVENT_DATE_FIELD.get(effect, "")), day)
            marks.append(Mark(MARK_KINDS[effect], on, e.trigger, labels.get(e.trigger, {})))
    end = closed_on or today
    if current is not None:
        lv = definition.level(current[0])
        bands.append(Band(lv.id, lv.number, lv.label, current[1], max(end, current[1]), True))
    bars = tuple(
        Bar(mid, n, m["level"].id, m["level"].label, m["start"], m["evaluate_by"],
            max(m["end"] or m["evaluate_by"], m["start"]), m["status"],
            max((today - m["evaluate_by"]).days, 0) if m["status"] == "active" else 0)
        for n, (mid, m) in enumerate(measures.items(), 1))
    deadlines: list[Deadline] = []
    if closed_on is None and current is not None:
        limit = definition.deadlines.level_decision_days.get(current[0])
        if limit is not None:
            due = level_decision_due(day_start(current[1]), limit)
            deadlines.append(Deadline("level_decision", due, today > due))
    if closed_on is None:
        deadlines += [Deadline("measure_evaluation", b.evaluate_by, b.evaluate_by < today,
                               b.number) for b in bars if b.status == "active"]
    start = start or today
    latest = max([end, *(b.end for b in bars), *(mk.on for mk in marks),
                  *(d.on for d in deadlines)])
    return Timeline(case_id, start, latest, closed_on, tuple(bands), bars,
                    tuple(sorted(marks, key=lambda mk: mk.on)), today,
                    tuple(holders), tuple(sorted(deadlines, key=lambda d: d.on)))


# --- timeline (service) -------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseTimeline:
    timeline: Timeline
    case_id: int
    level_label: Mapping[str, str]
    state_label: Mapping[str, str]
    closed: bool


def case_timeline(ctx: Ctx, case_id: int) -> CaseTimeline:
    """One case of the leader's unit as a timeline: an audited read of its stafettlogg through
    ``bti.services.cases.lifecycle`` (need-to-know applies). A case outside the leader's
    unit, like a missing one, is ``NotFound``."""
    _require_leader(ctx)
    actor = ctx.actor
    row = ctx.session.execute(select(Case.unit_id, Case.municipality_id)
                              .where(Case.id == case_id)).first()
    if row is None or not may_view_case_timeline(actor, row.municipality_id, row.unit_id):
        raise NotFound(f"case {case_id}")
    access, entries = case_service.log_entries(ctx, case_id)
    definition = access.workflow.definition
    today = ctx.today()
    held = ctx.session.execute(
        select(User.display_name, Participant.added_at, Participant.ended_at)
        .join(User, User.id == Participant.user_id)
        .where(Participant.case_id == case_id,
               Participant.relation == Relation.STAFETTHOLDER.value)
        .order_by(Participant.added_at, Participant.id)).all()
    until = local_date(access.case.closed_at) if access.case.closed_at else today
    holders = [Holder(name, local_date(added), local_date(ended) if ended else until,
                      ended is None) for name, added, ended in held]
    timeline = build_timeline(case_id, entries, definition, today, holders)
    state = definition.state(access.case.state)
    return CaseTimeline(timeline, case_id,
                        definition.level(state.level).label, state.label, state.final)
