"""The leader's overview (counts, time in level, pseudonymised by default) and the timeline
(bands, bars and marks) computed from a scripted case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.services.analytics import leader
from bti.services.errors import NotFound
from bti.web import charts
from tests.factories import TODAY
from tests.factories import make_user
from tests.services.test_inbox import Script


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def day(n: int):
    return TODAY + timedelta(days=n)


def scripted_case(w, script):
    """Opened day -60; nivå 1 from day -55 (measure 1, meeting, evaluation, consent);
    nivå 2 from day -39 with measure 2 still running."""
    case = script.open(w.teacher, day=-60, pseudonym="Flyt F.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-55)
    m1 = script.measure(w.coordinator, case, start=-55, evaluate_by=-35)
    script.fire(w.coordinator, case, "start", day=-54)
    script.fire(w.coordinator, case, "record_meeting",
                {"meeting_kind": "cooperation", "held_on": script.date(-50)}, day=-49)
    script.fire(w.coordinator, case, "evaluate", day=-40)
    script.evaluate(w.coordinator, case, [m1], day=-40)
    script.fire(w.coordinator, case, "decide", day=-40)
    script.consent(w.coordinator, case, w.health.id, day=-40, expires=None)
    script.fire(w.coordinator, case, "escalate", {"reason": "Treng helsestasjonen."}, day=-39)
    assert case.state == "n2_plan"
    m2 = script.measure(w.coordinator, case, start=-38, evaluate_by=20)
    return case, m1, m2


def test_timeline_bands_bars_and_marks_from_the_log(world, session, script):
    w = world
    case, m1, m2 = scripted_case(w, script)
    entries = list(session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq)))
    definition = w.registry.for_record(session, case.workflow_definition_id).definition
    tl = leader.build_timeline(case.id, entries, definition, TODAY)

    assert [(b.level, b.start, b.end, b.ongoing) for b in tl.bands] == [
        ("n0", day(-60), day(-55), False),
        ("n1", day(-55), day(-39), False),
        ("n2", day(-39), TODAY, True)]
    assert [b.days for b in tl.bands] == [5, 16, 39]
    assert [(b.measure_id, b.number, b.level, b.start, b.end, b.status) for b in tl.bars] == [
        (m1, 1, "n1", day(-55), day(-40), "evaluated"),
        (m2, 2, "n2", day(-38), day(20), "active")]
    assert [(m.kind, m.on, m.trigger) for m in tl.marks] == [
        ("meeting", day(-50), "record_meeting"),
        ("evaluation", day(-40), "record_evaluation"),
        ("consent", day(-40), "give_consent")]
    assert tl.marks[0].label["en"]  # the workflow's own label, in every language
    assert (tl.start, tl.end, tl.closed_on) == (day(-60), day(20), None)
    assert [k for k, _ in tl.table_rows()] == [
        "level", "level", "measure", "event", "event", "event", "level", "measure", "deadline"]
    assert tl.today == TODAY
    # the running measure's evaluation is the one open deadline (nivå 2 has no decision limit)
    assert tl.deadlines == (leader.Deadline("measure_evaluation", day(20), False, 2),)
    assert tl.overdue == ()

    lay = charts.layout(tl, width=960)
    assert lay.bands[0].x == lay.left
    assert lay.bars[1].x + lay.bars[1].width == lay.right
    assert all(b.width >= 4 for b in lay.bands + lay.bars)
    assert [round(p.x) for p in lay.marks] == sorted(round(p.x) for p in lay.marks)
    assert lay.ticks
    assert all(lay.left <= t.x <= lay.right for t in lay.ticks)
    assert lay.height > lay.bar_y0 + lay.row_h
    assert lay.today_x == round(lay.left + 60 / 80 * (lay.right - lay.left), 1)
    assert [p.x for p in lay.deadlines] == [lay.right]


def test_a_short_case_keeps_a_readable_scale_and_marks_what_is_overdue(world, session, script):
    """Three days old, with a measure already past its evaluation date: the axis spans
    ``MIN_SPAN_DAYS``, not three days; today is a line, the overdue stretch a box of its own,
    and the evaluation date a deadline passed."""
    w = world
    case = script.open(w.teacher, day=-3, pseudonym="Kort K.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-3)
    m = script.measure(w.coordinator, case, start=-3, evaluate_by=-1)
    entries = list(session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq)))
    definition = w.registry.for_record(session, case.workflow_definition_id).definition
    holder = leader.Holder("Hanne H.", day(-3), TODAY, True)
    tl = leader.build_timeline(case.id, entries, definition, TODAY, [holder])
    assert [(b.measure_id, b.status, b.overdue_days) for b in tl.bars] == [(m, "active", 1)]
    assert tl.overdue == tl.bars
    assert [(d.kind, d.on, d.overdue) for d in tl.deadlines] == [
        ("measure_evaluation", day(-1), True)]
    assert tl.holders == (holder,)
    assert [k for k, _ in tl.table_rows()].count("holder") == 1

    lay = charts.layout(tl, width=960)
    assert (lay.axis_end - tl.start).days == charts.MIN_SPAN_DAYS
    per_day = (lay.right - lay.left) / charts.MIN_SPAN_DAYS
    assert lay.today_x == round(lay.left + 3 * per_day, 1)
    assert lay.bands[-1].width == round(3 * per_day, 1)  # three days of 28, not the whole width
    assert [(round(b.x), round(b.width)) for b in lay.overdue] == [
        (round(lay.left + 2 * per_day), round(per_day))]
    assert lay.overdue[0].row == lay.bars[0].row == 0
    assert lay.holders[0].x == lay.left
    assert [round(p.x) for p in lay.deadlines] == [round(lay.left + 2 * per_day)]
    assert [t.on for t in lay.ticks] == [day(-3 + 7 * n) for n in range(5)]


def test_a_case_at_level_0_has_its_decision_deadline(world, session, script):
    w = world
    case = script.open(w.teacher, day=-20, pseudonym="Frist F.")
    entries = list(session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id)))
    definition = w.registry.for_record(session, case.workflow_definition_id).definition
    tl = leader.build_timeline(case.id, entries, definition, TODAY)
    limit = definition.deadlines.level_decision_days["n0"]
    assert [(d.kind, d.on, d.overdue) for d in tl.deadlines] == [
        ("level_decision", day(-20 + limit), -20 + limit < 0)]


def test_a_closed_case_ends_its_last_band_and_stopped_measures_end_early(world, session,
                                                                          script):
    w = world
    case = script.open(w.teacher, day=-30, pseudonym="Slutt S.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-28)
    m = script.measure(w.coordinator, case, start=-28, evaluate_by=10)
    script.fire(w.coordinator, case, "start", day=-27)
    script.fire(w.coordinator, case, "stop_measure", {
        "measure": m, "reason": "Ikkje nødvendig", "effect": "good",
        "child_voice_method": "conversation", "child_said": "Det går bra no."}, day=-20)
    script.fire(w.coordinator, case, "evaluate", day=-19)
    script.fire(w.coordinator, case, "decide", day=-19)
    script.fire(w.coordinator, case, "close", {"reason": "Målet er nådd."}, day=-18)
    entries = list(session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq)))
    definition = w.registry.for_record(session, case.workflow_definition_id).definition
    tl = leader.build_timeline(case.id, entries, definition, TODAY)
    assert [(b.start, b.end, b.status) for b in tl.bars] == [(day(-28), day(-20), "stopped")]
    assert [(b.level, b.start, b.end, b.ongoing) for b in tl.bands] == [
        ("n0", day(-30), day(-28), False), ("n1", day(-28), day(-18), False)]
    assert (tl.closed_on, tl.end) == (day(-18), day(-18))


def test_overview_counts_by_level_longest_first_and_pseudonymised(world, session, script):
    w = world
    a = script.open(w.teacher, day=-10, pseudonym="Alfa A.")
    b = script.open(w.teacher, day=-3, pseudonym="Beta B.")
    c = script.open(w.teacher, day=-40, pseudonym="Gamma G.")
    script.to_n1(c, w.teacher, w.leader, w.coordinator, day=-20)
    session.commit()

    ov = leader.unit_overview(script.ctx(w.leader))
    assert [(lc.level, lc.count) for lc in ov.counts] == [("n0", 2), ("n1", 1)]
    assert [(r.case_id, r.level, r.days_in_level) for r in ov.rows] == [
        (c.id, "n1", 20), (a.id, "n0", 10), (b.id, "n0", 3)]
    assert all(r.pseudonym is None for r in ov.rows)
    assert not ov.names_shown
    session.commit()
    rows = session.scalars(select(AuditEvent).where(
        AuditEvent.actor_id == w.leader.id, AuditEvent.action != "case.transition")
        .order_by(AuditEvent.id)).all()
    assert [(r.action, r.object_id, r.case_id) for r in rows] == [
        ("unit.overview_viewed", w.school.id, None)]

    named = leader.unit_overview(script.ctx(w.leader), show_names=True)
    assert [r.pseudonym for r in named.rows] == ["Gamma G.", "Alfa A.", "Beta B."]
    session.commit()
    listed = session.scalars(select(AuditEvent).where(
        AuditEvent.actor_id == w.leader.id, AuditEvent.action == "case.listed")).all()
    assert sorted((r.case_id, r.basis) for r in listed) == sorted(
        (x.id, "unit_leader") for x in (a, b, c))


def test_other_units_and_non_leaders_do_not_get_the_timeline(world, session, script):
    w = world
    case = script.open(w.teacher, pseudonym="Grense G.")
    health_leader = make_user(session, w.municipality, w.health, ("employee", "leader"))
    with pytest.raises(NotFound):
        leader.case_timeline(script.ctx(health_leader), case.id)
    with pytest.raises(NotFound):
        leader.case_timeline(script.ctx(w.foreign), case.id)
    with pytest.raises(NotFound):
        leader.case_timeline(script.ctx(w.teacher), case.id)  # the reporter, not a leader
    with pytest.raises(NotFound):
        leader.case_timeline(script.ctx(w.leader), case.id + 999)
    assert leader.unit_overview(script.ctx(health_leader)).rows == ()
    session.commit()
    assert session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(("case.viewed", "case.log_viewed")))).all() == []

    result = leader.case_timeline(script.ctx(w.leader), case.id)
    assert [b.level for b in result.timeline.bands] == ["n0"]
    session.commit()
    reads = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.log_viewed")).all()
    assert [(r.actor_id, r.case_id, r.basis) for r in reads] == [
        (w.leader.id, case.id, "unit_leader")]
