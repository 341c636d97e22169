"""Write-time aggregates for the leaders' dashboards: every change of ``analytics_counter``.

``on_fire`` is the one hook, called by ``bti.services.cases.lifecycle.fire`` in the same transaction
as the event. It runs at most one Core statement (one multi-row ``INSERT … ON CONFLICT DO UPDATE``
that adds to the counts) and none for a transition that changes no measured fact:

- a level change or a close: ``flow`` (key "from>to") and ``stay`` (key: the level left; whole
  days spent at it, bucketed by ``bucket``);
- a measure started (effect ``measure``): ``measure_started`` (its catalogue id, ``-`` if none);
- an evaluation (effect ``evaluation``, or ``stop_measure`` when the stop recorded one):
  ``evaluation`` (``voice`` when the child's own words are recorded, else ``no_voice``) and
  ``measure_evaluated`` per measure (catalogue id and effect);
- a handover proposed or answered: ``handover`` (``proposed``; ``accepted`` with the days since
  it was proposed; ``declined``).

Every cell is kept twice: for the case's unit and for the whole municipality (``unit_id`` 0,
``ALL_UNITS``), so a municipality-wide panel reads a few hundred rows, not one per unit.

``recompute`` rebuilds the same counts from the source tables and the stafettlogg; the two agree
(tests/services/test_aggregates.py checks it after generated histories). Days and months are
counted in Norwegian local dates (``bti.domain.clock``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bti.domain.analytics import AnalyticsCounter
from bti.domain.cases import Case
from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.clock import days_between
from bti.domain.clock import month_of
from bti.domain.log import StafettloggEntry
from bti.domain.rules import UnitTimeline
from bti.domain.rules import days_in_level

FLOW = "flow"
STAY = "stay"
HANDOVER = "handover"
ALL_UNITS = 0
EVALUATION = "evaluation"
MEASURE_STARTED = "measure_started"
MEASURE_EVALUATED = "measure_evaluated"
NO_CATALOGUE = "-"

_T = AnalyticsCounter.__table__
_CELL = ("municipality_id", "metric", "month", "unit_id", "key", "days")


def bucket(days: int) -> int:
    """Days as stored: exact up to 31, then rounded down to the week up to 182 (half a year),
    then to 30 days. Keeps the table small for a national data set; percentiles above a month
    are accurate to a week (to 30 days above half a year)."""
    if days <= 31:
        return days
    if days <= 182:
        return days - days % 7
    return days - days % 30


def with_totals(cells: Counter) -> Counter:
    """Each cell also for the whole municipality (unit ``ALL_UNITS``)."""
    out = Counter(cells)
    for (mid, metric, month, _unit, key, days), n in cells.items():
        out[(mid, metric, month, ALL_UNITS, key, days)] += n
    return out


def flow_key(from_level: str, to_level: str) -> str:
    return f"{from_level}>{to_level}"


def evaluated_key(catalogue_id: int | None, effect: str) -> str:
    return f"{catalogue_id if catalogue_id is not None else NO_CATALOGUE}:{effect}"


def add(conn: Connection, counts: Counter) -> None:
    """Add ``counts`` (cell tuple in ``_CELL`` order → n) to the table: one statement, one row
    per cell (the cells are distinct, so no row is touched twice)."""
    if not counts:
        return
    values = [dict(zip(_CELL, cell, strict=True), n=n) for cell, n in counts.items()]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_T).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(_CELL),
                                            set_={"n": _T.c.n + stmt.excluded.n}))


def on_fire(ctx, case: Case, *, effect: str, source_level: str, dest_level: str,
            left_level_entered_at: datetime, now: datetime, payload: Mapping[str, Any],
            object_id: int | None) -> None:
    """The aggregates of one fired transition (see the module docstring)."""
    if source_level == dest_level and effect not in _MEASURED:
        return
    cells: Counter = Counter()
    month = month_of(now)
    base = (case.municipality_id, month, case.unit_id)
    if source_level != dest_level:
        cells[(base[0], FLOW, month, base[2], flow_key(source_level, dest_level), 0)] += 1
        cells[(base[0], STAY, month, base[2], source_level,
               bucket(days_in_level(left_level_entered_at, now)))] += 1
    if effect == "measure":
        catalogue = payload.get("catalogue")
        cells[(base[0], MEASURE_STARTED, month, base[2],
               str(catalogue) if catalogue is not None else NO_CATALOGUE, 0)] += 1
    elif effect == "evaluation" or (effect == "stop_measure" and payload.get("effect")):
        # a stop with an effect recorded the measure's evaluation too (bti.services.cases.effects)
        voice = "voice" if payload.get("child_said") else "no_voice"
        cells[(base[0], EVALUATION, month, base[2], voice, 0)] += 1
        measured = ((payload.get("measures") or ()) if effect == "evaluation"
                    else (payload["measure"],))
        for mid in dict.fromkeys(measured):
            m = ctx.session.get(Measure, mid)  # loaded by the effect: from the identity map
            cells[(base[0], MEASURE_EVALUATED, month, base[2],
                   evaluated_key(m.catalogue_id, payload["effect"]), 0)] += 1
    elif effect == "handover_proposed":
        cells[(base[0], HANDOVER, month, base[2], "proposed", 0)] += 1
    elif effect in ("handover_accepted", "handover_declined"):
        h = ctx.session.get(Handover, object_id)  # loaded by the effect: the identity map
        accepted = effect == "handover_accepted"
        cells[(base[0], HANDOVER, month, base[2], "accepted" if accepted else "declined",
               bucket(days_between(h.proposed_at, now)) if accepted else 0)] += 1
    add(ctx.session.connection(), with_totals(cells))


#: Effects that change a measured fact without a level change.
_MEASURED = frozenset({"measure", "evaluation", "stop_measure", "handover_proposed",
                       "handover_accepted", "handover_declined"})


# --- recompute ---------------------------------------------------------------------------------


def compute(session: Session, registry, municipality_id: int | None = None) -> Counter:
    """Every count, from the source tables and the stafettlogg."""
    cells: Counter = Counter()
    where = [] if municipality_id is None else [Case.municipality_id == municipality_id]
    # a moved case counts in the unit it was in at each event (bti.services.cases.moves)
    unit_at = _timeline(session, where).unit_at
    # SQLite streams the rows; on PostgreSQL a server-side cursor would be planned for the
    # first rows (nested loops over the log), so the rows are fetched in one go there
    stream = {"yield_per": 5000} if session.get_bind().dialect.name == "sqlite" else {}
    # flows: the entries that enter a level (the opening, level changes) and close the case
    rows = session.execute(
        select(StafettloggEntry.case_id, StafettloggEntry.at, StafettloggEntry.from_state,
               StafettloggEntry.to_state, Case.municipality_id, Case.unit_id,
               Case.workflow_definition_id, StafettloggEntry.seq)
        .join(Case, Case.id == StafettloggEntry.case_id)
        .where(*where, StafettloggEntry.from_state.is_(None)
               | StafettloggEntry.kind.in_(("level_change", "close")))
        .order_by(StafettloggEntry.case_id, StafettloggEntry.seq)
        .execution_options(**stream))
    levels: dict[int, Any] = {}
    entered: dict[int, datetime] = {}
    for case_id, at, from_state, to_state, mid, uid, wd, seq in rows:
        definition = levels.get(wd)
        if definition is None:
            definition = levels[wd] = registry.for_record(session, wd).definition
        if from_state is not None and case_id in entered:
            source = definition.state(from_state).level
            dest = definition.state(to_state).level
            uid = unit_at(case_id, at, uid, seq)
            cells[(mid, FLOW, month_of(at), uid, flow_key(source, dest), 0)] += 1
            cells[(mid, STAY, month_of(at), uid, source,
                   bucket(days_in_level(entered[case_id], at)))] += 1
        entered[case_id] = at
    for created_at, catalogue_id, mid, uid, case_id in session.execute(
            select(Measure.created_at, Measure.catalogue_id, Case.municipality_id, Case.unit_id,
                   Case.id)
            .join(Case, Case.id == Measure.case_id).where(*where)
            .execution_options(**stream)):
        uid = unit_at(case_id, created_at, uid)
        key = str(catalogue_id) if catalogue_id is not None else NO_CATALOGUE
        cells[(mid, MEASURE_STARTED, month_of(created_at), uid, key, 0)] += 1
    for created_at, child_said, mid, uid, case_id in session.execute(
            select(Evaluation.created_at, Evaluation.child_said, Case.municipality_id,
                   Case.unit_id, Case.id).join(Case, Case.id == Evaluation.case_id).where(*where)
            .execution_options(**stream)):
        uid = unit_at(case_id, created_at, uid)
        cells[(mid, EVALUATION, month_of(created_at), uid,
               "voice" if child_said else "no_voice", 0)] += 1
    for created_at, effect, catalogue_id, mid, uid, case_id in session.execute(
            select(Evaluation.created_at, Evaluation.effect, Measure.catalogue_id,
                   Case.municipality_id, Case.unit_id, Case.id)
            .join(EvaluationMeasure, EvaluationMeasure.evaluation_id == Evaluation.id)
            .join(Measure, Measure.id == EvaluationMeasure.measure_id)
            .join(Case, Case.id == Evaluation.case_id).where(*where)
            .execution_options(**stream)):
        uid = unit_at(case_id, created_at, uid)
        cells[(mid, MEASURE_EVALUATED, month_of(created_at), uid,
               evaluated_key(catalogue_id, effect), 0)] += 1
    # handovers: proposed and answered, at the time of the stafettlogg entry that recorded it
    for trigger_at, trigger, proposed_at, mid, uid, case_id, seq in session.execute(
            select(StafettloggEntry.at, StafettloggEntry.trigger, Handover.proposed_at,
                   Case.municipality_id, Case.unit_id, Case.id, StafettloggEntry.seq)
            .join(Handover, Handover.id == StafettloggEntry.object_id)
            .join(Case, Case.id == StafettloggEntry.case_id)
            .where(*where, StafettloggEntry.object_type == "handover",
                   StafettloggEntry.kind == "handover")
            .execution_options(**stream)):
        answer = _HANDOVER_KEYS.get(trigger)
        if answer is None:
            continue
        days = bucket(days_between(proposed_at, trigger_at)) if answer == "accepted" else 0
        uid = unit_at(case_id, trigger_at, uid, seq)
        cells[(mid, HANDOVER, month_of(trigger_at), uid, answer, days)] += 1
    return with_totals(cells)


def _timeline(session: Session, where: list) -> UnitTimeline:
    """The unit periods of the moved cases ``where`` selects (none for a case never moved)."""
    return UnitTimeline(session.execute(
        select(CaseUnitPeriod.case_id, CaseUnitPeriod.unit_id, CaseUnitPeriod.from_at,
               CaseUnitPeriod.from_seq)
        .join(Case, Case.id == CaseUnitPeriod.case_id).where(*where)).all())


#: Stafettlogg triggers of the handover effects (every shipped workflow uses these names).
_HANDOVER_KEYS = {"propose_handover": "proposed", "accept_handover": "accepted",
                  "decline_handover": "declined"}


def stored(session: Session, municipality_id: int | None = None) -> Counter:
    """The counts as the table holds them (zero cells left out)."""
    stmt = select(*(_T.c[c] for c in _CELL), _T.c.n)
    if municipality_id is not None:
        stmt = stmt.where(_T.c.municipality_id == municipality_id)
    return Counter({tuple(row[:-1]): row[-1] for row in session.execute(stmt) if row[-1]})


def recompute(session: Session, registry, municipality_id: int | None = None) -> int:
    """Rebuild ``analytics_counter`` (for one municipality or all) from the source tables and
    the stafettlogg, in the caller's transaction. Returns the number of cells written."""
    cells = compute(session, registry, municipality_id)
    stmt = delete(AnalyticsCounter)
    if municipality_id is not None:
        stmt = stmt.where(AnalyticsCounter.municipality_id == municipality_id)
    session.execute(stmt)
    _insert_all(session.connection(), cells.items())
    return len(cells)


def _insert_all(conn: Connection, items: Iterable) -> None:
    batch = []
    for cell, n in items:
        batch.append(dict(zip(_CELL, cell, strict=True), n=n))
        if len(batch) >= 5000:
            conn.execute(_T.insert(), batch)
            batch = []
    if batch:
        conn.execute(_T.insert(), batch)
