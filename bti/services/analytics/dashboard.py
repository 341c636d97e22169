"""The leaders' dashboards: how cases flow through the levels in a municipality.

Only leaders and admins see them, for their own municipality, optionally one unit of it, over a
period of whole months. Everything is pseudonymised: counts and durations, no names, no free
text. Every count below ``SMALL`` (5) is suppressed (``None``, shown as "<5"), and so is every
figure that would reveal one: a percentile or share over fewer than 5 cases, a share whose part
or remainder is below 5, and a second cell of a row whose total is shown when only one cell
was suppressed (secondary suppression). Suppression happens here, so pages and exports cannot
show what was suppressed.

Counts that would need the stafettlogg (flows, time in each level, evaluations, catalogue
measures) are read from ``analytics_counter``, kept at write time by
``bti.services.analytics.aggregates``; the rest (open cases now, stuck cases, reports, handovers)
are indexed queries on the source tables. Each dashboard view and each export writes one audit row;
a leader's drill-down into stuck cases lists case numbers of their own unit only, each an audited
read (``case.listed``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from bti.domain.analytics import AnalyticsCounter
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import FEEDBACK_INVESTIGATION_OPENED
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.clock import days_ago_cutoff
from bti.domain.clock import local_date
from bti.domain.log import WorkflowDefinitionRecord
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import may_drill_down
from bti.domain.policy import may_view_analytics
from bti.domain.rules import level_decision_due
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.engine import WorkflowDefinition
from bti.engine.inputs import parse_int
from bti.services.access import audit
from bti.services.analytics import aggregates
from bti.services.analytics.suppression import percentile
from bti.services.analytics.suppression import share
from bti.services.analytics.suppression import sup
from bti.services.analytics.suppression import sup_group
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

#: Effects of an evaluation, in the order shown.
EFFECTS = ("good", "some", "none", "worse")
STUCK_KINDS = ("evaluation_overdue", "inactive_30", "inactive_60", "n0_overdue",
               "handover_pending")
DRILL_LIMIT = 200
#: A month, YYYY-MM, in ASCII digits, of a year ``date`` can step a year back and forth from.
_MONTH = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])")


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    municipality_id: int
    unit_id: int | None
    start: str  # "YYYY-MM", inclusive
    end: str  # "YYYY-MM", inclusive

    @property
    def first_day(self) -> date:
        return date(int(self.start[:4]), int(self.start[5:]), 1)

    @property
    def last_day(self) -> date:
        y, m = int(self.end[:4]), int(self.end[5:])
        return (date(y + m // 12, m % 12 + 1, 1)) - timedelta(days=1)

    def as_details(self) -> dict:
        return {"unit": self.unit_id, "from": self.start, "to": self.end}


def require_viewer(ctx: Ctx) -> None:
    if not may_view_analytics(ctx.actor):
        raise NotFound("analytics")


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def filters(ctx: Ctx, *, unit: str | int | None = None, start: str | None = None,
            end: str | None = None) -> Filters:
    """Checked filters: a unit of the actor's municipality (another municipality's answers like
    a missing one), months as YYYY-MM; by default the last twelve months up to this one."""
    require_viewer(ctx)
    errors: dict[str, list[str]] = {}
    unit_id = None
    if unit not in (None, ""):
        unit_id = unit if isinstance(unit, int) else parse_int(str(unit).strip())
        if unit_id is None:
            raise InvalidInput({"unit": ["not_a_number"]})
        owner = ctx.session.scalar(select(Unit.municipality_id).where(Unit.id == unit_id))
        if owner != ctx.actor.municipality_id:
            raise NotFound("unit", object_type="unit", object_id=unit_id)
    today = ctx.today()
    end = (end or "").strip() or _month(today)
    if not start or not str(start).strip():
        y, m = int(end[:4]) if _MONTH.fullmatch(end) else today.year, \
            int(end[5:]) if _MONTH.fullmatch(end) else today.month
        start = _month(date(y - 1 + (m == 12), m % 12 + 1, 1))
    start = str(start).strip()
    for name, value in (("from", start), ("to", end)):
        if not _MONTH.fullmatch(value):
            errors[name] = ["invalid"]
    if not errors and start > end:
        errors["to"] = ["before_start"]
    if errors:
        raise InvalidInput(errors)
    return Filters(ctx.actor.municipality_id, unit_id, start, end)


# --- panels --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelRow:
    level: str
    label: Mapping[str, str]
    count: int | None


@dataclass(frozen=True)
class OpenByLevel:
    rows: tuple[LevelRow, ...]
    total: int | None


@dataclass(frozen=True)
class Flow:
    source: str
    dest: str
    count: int | None


@dataclass(frozen=True)
class Flows:
    flows: tuple[Flow, ...]
    levels: tuple[str, ...]  # every level that appears, in order


@dataclass(frozen=True)
class LevelTime:
    level: str
    count: int | None  # stays ended in the period
    p50: int | None
    p90: int | None


@dataclass(frozen=True)
class TrendPoint:
    month: str
    level: str
    count: int | None
    p50: int | None


@dataclass(frozen=True)
class TimeInLevel:
    levels: tuple[LevelTime, ...]
    trend: tuple[TrendPoint, ...]
    months: tuple[str, ...]


@dataclass(frozen=True)
class Stuck:
    counts: Mapping[str, int | None]


@dataclass(frozen=True)
class Reports:
    """Reports sent in the period (definitions: ``bti.domain.cases.BarnevernReport``)."""

    sent: int | None
    feedback_received: int | None  # answered: barnevernet's first feedback recorded
    awaiting: int | None  # no concluding feedback yet (henlagt or investigation closed)
    overdue: int | None  # not answered, past the date the first feedback was due
    days_p50: int | None  # days from sending to the first feedback
    days_p90: int | None
    avverge: int | None
    investigated: int | None  # an investigation was opened
    concluded: int | None  # the concluding feedback came


@dataclass(frozen=True)
class ChildVoice:
    evaluations: int | None
    with_voice: int | None
    without_voice: int | None
    share: float | None


@dataclass(frozen=True)
class CatalogueRow:
    catalogue_id: int | None  # None: measures written as free text
    name: str | None
    kind: str | None
    active: bool
    started: int | None
    evaluated: int | None
    effects: Mapping[str, int | None]
    effective_share: float | None  # good or some effect, of the evaluated


@dataclass(frozen=True)
class CatalogueUse:
    rows: tuple[CatalogueRow, ...]


@dataclass(frozen=True)
class Handovers:
    proposed: int | None  # in the period
    accepted: int | None  # in the period
    declined: int | None  # in the period
    pending: int | None  # not answered now
    days_p50: int | None
    days_p90: int | None


def _level_order(definitions: Iterable) -> dict[str, tuple[int, Mapping[str, str]]]:
    out: dict[str, tuple[int, Mapping[str, str]]] = {}
    for d in definitions:
        for lv in d.levels:
            out.setdefault(lv.id, (lv.number if lv.number is not None else 99, lv.label))
    return out


def _definitions(ctx: Ctx, f: Filters) -> dict[int, WorkflowDefinition]:
    """Every stored workflow revision (a short table; cases may run on any of them), the
    municipality's current one first, so its level labels win. Read once per session (a
    request) and municipality: the dashboard's panels share it instead of each reading it
    again (revisions are only ever added, by the start-up sync)."""
    memo = ctx.session.info.setdefault("bti.analytics.definitions", {})
    found = memo.get(f.municipality_id)
    if found is None:
        found = memo[f.municipality_id] = _read_definitions(ctx, f)
    return found


def _read_definitions(ctx: Ctx, f: Filters) -> dict[int, WorkflowDefinition]:
    m = ctx.session.get_one(Municipality, f.municipality_id)
    current = ctx.workflows.current_record_id(ctx.session, m.workflow_id)
    out = {current: ctx.workflows.for_record(ctx.session, current).definition}
    for rid in ctx.session.scalars(select(WorkflowDefinitionRecord.id)
                                   .order_by(WorkflowDefinitionRecord.id)):
        if rid not in out:
            out[rid] = ctx.workflows.for_record(ctx.session, rid).definition
    return out


def level_labels(ctx: Ctx, f: Filters) -> dict[str, tuple[int, Mapping[str, str]]]:
    return _level_order(_definitions(ctx, f).values())


def _case_where(f: Filters) -> list:
    where = [Case.municipality_id == f.municipality_id]
    if f.unit_id is not None:
        where.append(Case.unit_id == f.unit_id)
    return where


def open_by_level(ctx: Ctx, f: Filters) -> OpenByLevel:
    definitions = _definitions(ctx, f)
    rows = ctx.session.execute(
        select(Case.workflow_definition_id, Case.state, func.count())
        .where(*_case_where(f), Case.closed_at.is_(None))
        .group_by(Case.workflow_definition_id, Case.state)).all()
    counts: Counter = Counter()
    for wd, state, n in rows:
        d = definitions.get(wd) or ctx.workflows.for_record(ctx.session, wd).definition
        lv = d.level_of(state)
        if not lv.final:
            counts[lv.id] += n
    order = _level_order(definitions.values())
    levels = sorted((lv for lv in order if not _is_final(definitions, lv)),
                    key=lambda lv: order[lv][0])
    values = sup_group([counts[lv] for lv in levels])
    return OpenByLevel(tuple(LevelRow(lv, order[lv][1], v) for lv, v in zip(levels, values,
                                                                             strict=True)),
                       sup(sum(counts.values())))


def _is_final(definitions: Mapping, level: str) -> bool:
    for d in definitions.values():
        for lv in d.levels:
            if lv.id == level:
                return lv.final
    return False


def _counter_rows(ctx: Ctx, f: Filters, metric: str, *cols):
    c = AnalyticsCounter
    where = [c.municipality_id == f.municipality_id, c.metric == metric,
             c.month >= f.start, c.month <= f.end,
             c.unit_id == (f.unit_id if f.unit_id is not None else aggregates.ALL_UNITS)]
    return ctx.session.execute(select(*cols, func.sum(c.n)).where(*where).group_by(*cols)).all()


def flows(ctx: Ctx, f: Filters) -> Flows:
    order = level_labels(ctx, f)
    counts: Counter = Counter()
    for key, n in _counter_rows(ctx, f, aggregates.FLOW, AnalyticsCounter.key):
        source, dest = key.split(">", 1)
        counts[(source, dest)] += n
    rank = {lv: i for i, lv in enumerate(sorted(order, key=lambda lv: order[lv][0]))}
    items = sorted(counts.items(), key=lambda kv: (rank.get(kv[0][0], 99),
                                                   rank.get(kv[0][1], 99)))
    seen = sorted({lv for (s, d), _ in items for lv in (s, d)}, key=lambda lv: rank.get(lv, 99))
    return Flows(tuple(Flow(s, d, sup(n)) for (s, d), n in items), tuple(seen))


def time_in_level(ctx: Ctx, f: Filters) -> TimeInLevel:
    order = level_labels(ctx, f)
    by_level: dict[str, Counter] = defaultdict(Counter)
    by_month: dict[tuple[str, str], Counter] = defaultdict(Counter)
    c = AnalyticsCounter
    for month, source, days, n in _counter_rows(ctx, f, aggregates.STAY, c.month, c.key, c.days):
        by_level[source][days] += n
        by_month[(month, source)][days] += n
    levels = sorted(by_level, key=lambda lv: order.get(lv, (99,))[0])
    months = tuple(sorted({m for m, _ in by_month}))
    return TimeInLevel(
        tuple(LevelTime(lv, sup(sum(by_level[lv].values())), percentile(by_level[lv], 0.5),
                        percentile(by_level[lv], 0.9)) for lv in levels),
        tuple(TrendPoint(m, lv, sup(sum(by_month[(m, lv)].values())),
                         percentile(by_month[(m, lv)], 0.5))
              for m in months for lv in levels if (m, lv) in by_month),
        months)


def _stuck_queries(ctx: Ctx, f: Filters, kinds: Iterable[str]):
    """kind → a statement selecting the case ids of open cases stuck that way."""
    # days as the inbox counts them (bti.domain.clock): local calendar days, not 24 hours
    today = ctx.today()
    base = [*_case_where(f), Case.closed_at.is_(None)]
    out = {}
    for kind in kinds:
        if kind == "evaluation_overdue":
            # the overdue measures are a range of ix_measure_active_due, read once
            out[kind] = select(Case.id).where(*base, Case.id.in_(select(Measure.case_id).where(
                Measure.status == "active", Measure.evaluate_by < today)))
        elif kind in ("inactive_30", "inactive_60"):
            days = 30 if kind == "inactive_30" else 60
            out[kind] = select(Case.id).where(
                *base, Case.last_activity_at < days_ago_cutoff(today, days))
        elif kind == "n0_overdue":
            parts = []
            for wd, d in _definitions(ctx, f).items():
                limit = d.deadlines.level_decision_days.get("n0")
                states = [s.name for s in d.states if s.level == "n0"]
                if limit is None or not states:
                    continue
                # overdue the day after the deadline, as the inbox says (LEVEL_DEADLINE_PASSED)
                parts.append(and_(Case.workflow_definition_id == wd, Case.state.in_(states),
                                  Case.level_entered_at < days_ago_cutoff(today, limit + 1)))
            if parts:
                out[kind] = select(Case.id).where(*base, or_(*parts))
        elif kind == "handover_pending":
            out[kind] = select(Case.id).where(*base, Case.id.in_(select(Handover.case_id).where(
                Handover.status == "proposed")))
    return out


def stuck(ctx: Ctx, f: Filters) -> Stuck:
    """Open cases stuck now (the period does not apply): an evaluation date passed with the
    measure still running, no stafettlogg entry for 30 or 60 days, nivå 0 past its decision
    deadline, a handover not yet answered."""
    counts = {kind: 0 for kind in STUCK_KINDS}
    for kind, stmt in _stuck_queries(ctx, f, STUCK_KINDS).items():
        counts[kind] = ctx.session.scalars(
            select(func.count()).select_from(stmt.subquery())).one()
    return Stuck({k: sup(v) for k, v in counts.items()})


def reports(ctx: Ctx, f: Filters) -> Reports:
    opened = select(BarnevernFeedback.id).where(
        BarnevernFeedback.report_id == BarnevernReport.id,
        BarnevernFeedback.stage == FEEDBACK_INVESTIGATION_OPENED).exists()
    rows = ctx.session.execute(
        select(BarnevernReport.kind, BarnevernReport.sent_on,
               BarnevernReport.feedback_received_on, BarnevernReport.feedback_expected_by,
               BarnevernReport.concluded_on, opened)
        .join(Case, Case.id == BarnevernReport.case_id)
        .where(*_case_where(f), BarnevernReport.sent_on >= f.first_day,
               BarnevernReport.sent_on <= f.last_day)).all()
    today = ctx.today()
    sent = received = overdue = avverge = investigated = concluded = 0
    days: Counter = Counter()
    for kind, sent_on, received_on, expected, concluded_on, was_opened in rows:
        if kind != "report":
            avverge += 1
            continue
        sent += 1
        investigated += bool(was_opened)
        concluded += concluded_on is not None
        if received_on is not None:
            received += 1
            days[(received_on - sent_on).days] += 1
        elif expected is not None and expected < today:
            overdue += 1
    # each pair adds up to the reports sent: a small part cannot be got by subtraction
    got, _unanswered = sup_group([received, sent - received])
    done, waiting = sup_group([concluded, sent - concluded])
    return Reports(sent=sup(sent), feedback_received=got, awaiting=waiting,
                   overdue=sup(overdue), days_p50=percentile(days, 0.5),
                   days_p90=percentile(days, 0.9), avverge=sup(avverge),
                   investigated=sup(investigated), concluded=done)


def child_voice(ctx: Ctx, f: Filters) -> ChildVoice:
    counts = dict(_counter_rows(ctx, f, aggregates.EVALUATION, AnalyticsCounter.key))
    voice, no_voice = counts.get("voice", 0), counts.get("no_voice", 0)
    total = voice + no_voice
    v, nv = sup_group([voice, no_voice])
    return ChildVoice(sup(total), v, nv, share(voice, total))


def catalogue_use(ctx: Ctx, f: Filters) -> CatalogueUse:
    started = Counter({k: n for k, n in _counter_rows(ctx, f, aggregates.MEASURE_STARTED,
                                                      AnalyticsCounter.key)})
    effects: dict[str, Counter] = defaultdict(Counter)
    for key, n in _counter_rows(ctx, f, aggregates.MEASURE_EVALUATED, AnalyticsCounter.key):
        cat, effect = key.rsplit(":", 1)
        effects[cat][effect] += n
    items = ctx.session.execute(
        select(MeasureCatalogueItem.id, MeasureCatalogueItem.name, MeasureCatalogueItem.kind,
               MeasureCatalogueItem.active)
        .where(MeasureCatalogueItem.municipality_id == f.municipality_id)
        .order_by(MeasureCatalogueItem.name)).all()
    rows = []
    keyed: list[tuple[str, int | None, str | None, str | None, bool]] = [
        (str(i), i, name, kind, active) for i, name, kind, active in items]
    keyed.append((aggregates.NO_CATALOGUE, None, None, None, True))
    for key, cid, name, kind, active in keyed:
        eff = effects.get(key, Counter())
        evaluated = sum(eff.values())
        if cid is None and not started[key] and not evaluated:
            continue
        cells = sup_group([eff.get(e, 0) for e in EFFECTS])
        rows.append(CatalogueRow(cid, name, kind, active, sup(started[key]), sup(evaluated),
                                 dict(zip(EFFECTS, cells, strict=True)),
                                 share(eff.get("good", 0) + eff.get("some", 0), evaluated)))
    return CatalogueUse(tuple(rows))


def handovers(ctx: Ctx, f: Filters) -> Handovers:
    """Handovers proposed, accepted and declined in the period (from the aggregates), days from
    proposal to acceptance, and those not answered now (the period does not apply)."""
    c = AnalyticsCounter
    counts: Counter = Counter()
    days: Counter = Counter()
    for key, d, n in _counter_rows(ctx, f, aggregates.HANDOVER, c.key, c.days):
        counts[key] += n
        if key == "accepted":
            days[d] += n
    pending = ctx.session.scalars(
        select(func.count()).select_from(Handover).join(Case, Case.id == Handover.case_id)
        .where(*_case_where(f), Handover.status == "proposed")).one()
    acc, dec = sup_group([counts["accepted"], counts["declined"]])
    return Handovers(sup(counts["proposed"]), acc, dec, sup(pending), percentile(days, 0.5),
                     percentile(days, 0.9))


PANELS = {
    "open_by_level": open_by_level,
    "flows": flows,
    "time_in_level": time_in_level,
    "stuck": stuck,
    "reports": reports,
    "child_voice": child_voice,
    "catalogue_use": catalogue_use,
    "handovers": handovers,
}


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    levels: Mapping[str, tuple[int, Mapping[str, str]]]
    units: tuple[tuple[int, str], ...]
    open_by_level: OpenByLevel
    flows: Flows
    time_in_level: TimeInLevel
    stuck: Stuck
    reports: Reports
    child_voice: ChildVoice
    catalogue_use: CatalogueUse
    handovers: Handovers
    can_drill: bool


def dashboard(ctx: Ctx, f: Filters, *, action: AuditAction = AuditAction.ANALYTICS_VIEWED,
              **details) -> Dashboard:
    """Every panel for ``f``; one audit row (``action``, with the filters)."""
    require_viewer(ctx)
    units = tuple(ctx.session.execute(select(Unit.id, Unit.name).where(
        Unit.municipality_id == f.municipality_id).order_by(Unit.name)).all())
    result = Dashboard(f, level_labels(ctx, f), units,  # the panels as in PANELS
                       open_by_level=open_by_level(ctx, f), flows=flows(ctx, f),
                       time_in_level=time_in_level(ctx, f), stuck=stuck(ctx, f),
                       reports=reports(ctx, f), child_voice=child_voice(ctx, f),
                       catalogue_use=catalogue_use(ctx, f), handovers=handovers(ctx, f),
                       can_drill=_can_drill(ctx))
    audit.record(ctx, action, object_type="municipality", object_id=f.municipality_id,
                 basis="analytics", **f.as_details(), **details)
    return result


def _can_drill(ctx: Ctx) -> bool:
    return may_drill_down(ctx.actor)


@dataclass(frozen=True)
class StuckCase:
    case_id: int
    #: The day the case became stuck this way: the evaluation date passed, the last activity
    #: plus the 30 or 60 days, nivå 0's decision deadline, the day the handover was proposed.
    due: date
    #: Local calendar days since ``due`` (``bti.domain.clock``), as the inbox counts them.
    days_overdue: int
    #: The stafettholder's name (a colleague's, never the child's), None when there is none.
    holder: str | None


@dataclass(frozen=True)
class StuckList:
    kind: str
    cases: tuple[StuckCase, ...]
    truncated: bool

    @property
    def case_ids(self) -> tuple[int, ...]:
        return tuple(c.case_id for c in self.cases)


def _stuck_since(ctx: Ctx, kind: str, ids: list[int]) -> dict[int, date]:
    """case id → the day each listed case became stuck in ``kind``."""
    if not ids:
        return {}
    if kind == "evaluation_overdue":
        return dict(ctx.session.execute(
            select(Measure.case_id, func.min(Measure.evaluate_by))
            .where(Measure.case_id.in_(ids), Measure.status == "active",
                   Measure.evaluate_by < ctx.today())
            .group_by(Measure.case_id)).all())
    if kind == "handover_pending":
        return {cid: local_date(at) for cid, at in ctx.session.execute(
            select(Handover.case_id, func.min(Handover.proposed_at))
            .where(Handover.case_id.in_(ids), Handover.status == "proposed")
            .group_by(Handover.case_id))}
    rows = ctx.session.execute(select(Case.id, Case.workflow_definition_id, Case.last_activity_at,
                                      Case.level_entered_at).where(Case.id.in_(ids))).all()
    if kind in ("inactive_30", "inactive_60"):
        days = 30 if kind == "inactive_30" else 60
        return {r.id: local_date(r.last_activity_at) + timedelta(days=days) for r in rows}
    limits = {wd: ctx.workflows.for_record(ctx.session, wd).definition.deadlines
              .level_decision_days.get("n0") or 0
              for wd in {r.workflow_definition_id for r in rows}}
    return {r.id: level_decision_due(r.level_entered_at, limits[r.workflow_definition_id])
            for r in rows}


def stuck_cases(ctx: Ctx, kind: str) -> StuckList:
    """The case numbers (no names) of the leader's own unit that are stuck in ``kind``: cases
    the leader may see as unit leader. Each listed case is an audited read."""
    require_viewer(ctx)
    if kind not in STUCK_KINDS or not _can_drill(ctx):
        raise NotFound("stuck cases")
    f = Filters(ctx.actor.municipality_id, ctx.actor.unit_id, _month(ctx.today()),
                _month(ctx.today()))
    stmt = _stuck_queries(ctx, f, [kind]).get(kind)
    ids: list[int] = []
    if stmt is not None:
        sub = stmt.subquery()
        ids = list(ctx.session.scalars(select(sub.c.id).order_by(sub.c.id)
                                       .limit(DRILL_LIMIT + 1)))
    truncated = len(ids) > DRILL_LIMIT
    ids = ids[:DRILL_LIMIT]
    since = _stuck_since(ctx, kind, ids)
    holders = dict(ctx.session.execute(
        select(Case.id, User.display_name).join(User, User.id == Case.stafettholder_id)
        .where(Case.id.in_(ids))).all()) if ids else {}
    today = ctx.today()
    cases = sorted((StuckCase(cid, since.get(cid, today), (today - since.get(cid, today)).days,
                              holders.get(cid)) for cid in ids),
                   key=lambda c: (-c.days_overdue, c.case_id))
    audit.record(ctx, AuditAction.ANALYTICS_STUCK_LISTED, object_type="unit",
                 object_id=ctx.actor.unit_id, basis=Relation.UNIT_LEADER.value, kind=kind,
                 cases=len(ids))
    for cid in ids:
        audit.record(ctx, AuditAction.CASE_LISTED, case_id=cid, object_type="case",
                     object_id=cid, basis=Relation.UNIT_LEADER.value, via="analytics")
    return StuckList(kind, tuple(cases), truncated)
