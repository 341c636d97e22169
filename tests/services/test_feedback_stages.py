"""Barnevernet's feedback on a report, stage by stage: receipt confirmed, investigation opened or
the report closed without one (henlagt), investigation closed, and no feedback by the deadline;
each with its date and its stafettlogg entry. "Awaiting feedback" ends with the concluding stage;
the legal three-week deadline is met or missed by the first answer."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.analytics import dashboard as analytics
from bti.services.analytics.dashboard import Filters
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from tests.factories import TODAY
from tests.services.test_inbox import Script

FEEDBACK = "record_barnevern_feedback"


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def reported(script, w, *, day: int = -30):
    """A nivå 0 case with one report sent on ``day``; returns (case, report id)."""
    case = script.open(w.teacher, day=day - 1, pseudonym="Melding M.")
    r = script.fire(w.teacher, case, "report_barnevernet", {"sent_on": script.date(day)}, day=day)
    return case, r.entry.object_id


def feedback(script, actor, case, stage: str, day: int, *, at: int | None = None, **extra):
    return script.fire(actor, case, FEEDBACK, {"feedback_kind": stage,
                                               "received_on": script.date(day), **extra},
                       day=day if at is None else at)


def offered(script, actor, case, day: int = 0) -> bool:
    _, actions = cases.list_actions(script.ctx(actor, day), case.id)
    action = next(a for a in actions if a.transition.trigger == FEEDBACK)
    return action.allowed


def refusal(script, actor, case, payload, day: int = 0) -> dict:
    with pytest.raises(TransitionRefused) as err:
        script.fire(actor, case, FEEDBACK, payload, day=day)
    return {k: v for r in err.value.refusals for k, v in (r.fields or {}).items()}


def test_every_stage_is_recorded_with_its_date_and_in_the_stafettlogg(world, session, script):
    w = world
    case, report_id = reported(script, w, day=-30)
    feedback(script, w.teacher, case, "receipt_confirmed", -12)
    report = session.get(BarnevernReport, report_id)
    # answered: the deadline is met, but the report still awaits feedback
    assert (report.feedback_received_on.isoformat(), report.concluded_on) == (
        script.date(-12), None)
    assert offered(script, w.teacher, case, -12)
    feedback(script, w.leader, case, "investigation_opened", -10)
    assert offered(script, w.teacher, case, -10)
    feedback(script, w.teacher, case, "investigation_closed", -1, notes="Tiltak i heimen.")
    session.refresh(report)
    assert report.concluded_on.isoformat() == script.date(-1)
    assert report.feedback_received_on.isoformat() == script.date(-12)

    rows = session.scalars(select(BarnevernFeedback).where(
        BarnevernFeedback.report_id == report_id).order_by(BarnevernFeedback.id)).all()
    assert [(f.stage, f.received_on.isoformat(), f.recorded_by_id) for f in rows] == [
        ("receipt_confirmed", script.date(-12), w.teacher.id),
        ("investigation_opened", script.date(-10), w.leader.id),
        ("investigation_closed", script.date(-1), w.teacher.id)]
    entries = session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id, StafettloggEntry.trigger == FEEDBACK)
        .order_by(StafettloggEntry.seq)).all()
    assert [(e.kind, e.object_type, e.object_id) for e in entries] == [
        ("report", "barnevern_feedback", f.id) for f in rows]
    assert [e.data for e in entries][1].count("investigation_opened") == 1
    assert verify_case(session, case) is None
    # concluded: nothing more is awaited, so the action is no longer offered
    assert not offered(script, w.teacher, case)
    with pytest.raises(TransitionRefused) as err:
        feedback(script, w.teacher, case, "receipt_confirmed", 0)
    assert [r.guard for r in err.value.refusals] == ["has_report_awaiting_feedback"]


def test_closed_without_investigation_concludes_the_report(world, session, script):
    w = world
    case, report_id = reported(script, w, day=-20)
    feedback(script, w.teacher, case, "no_investigation", -8)  # answers and concludes at once
    report = session.get(BarnevernReport, report_id)
    assert report.feedback_received_on == report.concluded_on
    assert report.concluded_on.isoformat() == script.date(-8)
    assert not offered(script, w.teacher, case)


def test_no_feedback_by_the_deadline_is_recorded_and_the_report_stays_overdue(world, session,
                                                                               script):
    w = world
    case, report_id = reported(script, w, day=-30)  # due 21 days later: day -9
    assert refusal(script, w.teacher, case, {"feedback_kind": "none_received",
                                             "received_on": script.date(-9)}, day=-9) == {
        "received_on": ["before_deadline"]}
    feedback(script, w.teacher, case, "none_received", -8)
    report = session.get(BarnevernReport, report_id)
    assert report.feedback_received_on is None  # the reporter's own record answers nothing
    item = inbox.my_cases(script.ctx(w.teacher))[0]
    assert [u.kind for u in item.urgencies if u.kind.startswith("feedback")] == [
        "feedback_overdue"]
    assert offered(script, w.teacher, case)
    # then barnevernet answers, late
    feedback(script, w.teacher, case, "receipt_confirmed", -2)
    session.refresh(report)
    assert report.feedback_received_on.isoformat() == script.date(-2)
    item = inbox.my_cases(script.ctx(w.teacher))[0]
    assert not [u for u in item.urgencies if u.kind.startswith("feedback")]
    # once answered, "none received" no longer makes sense
    assert refusal(script, w.teacher, case, {"feedback_kind": "none_received",
                                             "received_on": script.date(0)}) == {
        "feedback_kind": ["already_recorded"]}


def test_impossible_stages_and_dates_are_refused_and_write_nothing(world, session, script):
    w = world
    case, _ = reported(script, w, day=-30)
    feedback(script, w.teacher, case, "investigation_opened", -20)
    before = session.scalar(select(func.count()).select_from(BarnevernFeedback))
    for payload, expected in [
        ({"feedback_kind": "investigation_opened", "received_on": script.date(-5)},
         {"feedback_kind": ["already_recorded"]}),
        ({"feedback_kind": "no_investigation", "received_on": script.date(-5)},
         {"feedback_kind": ["investigation_opened"]}),
        ({"feedback_kind": "investigation_closed", "received_on": script.date(-25)},
         {"received_on": ["before_investigation"]}),
        ({"feedback_kind": "receipt_confirmed", "received_on": script.date(-31)},
         {"received_on": ["before_report"]}),
        ({"feedback_kind": "receipt_confirmed", "received_on": script.date(1)},
         {"received_on": ["in_future"]}),
        ({"feedback_kind": "none_received", "received_on": script.date(0)},
         {"feedback_kind": ["already_answered"]}),
        ({"feedback_kind": "maybe", "received_on": script.date(0)},
         {"feedback_kind": ["not_allowed"]}),
    ]:
        assert refusal(script, w.teacher, case, payload) == expected, payload
    assert session.scalar(select(func.count()).select_from(BarnevernFeedback)) == before


def test_with_two_reports_awaiting_feedback_the_report_is_named(world, session, script):
    w = world
    case, first = reported(script, w, day=-30)
    second = script.fire(w.leader, case, "report_barnevernet",
                         {"sent_on": script.date(-3)}, day=-3).entry.object_id
    avert = script.fire(w.teacher, case, "avvergeplikt", {
        "reported_to": "police", "reported_on": script.date(-2)}, day=-2).entry.object_id
    assert refusal(script, w.teacher, case, {"feedback_kind": "receipt_confirmed",
                                             "received_on": script.date(0)}) == {
        "report": ["required"]}
    assert refusal(script, w.teacher, case, {"feedback_kind": "receipt_confirmed",
                                             "received_on": script.date(0),
                                             "report": avert}) == {"report": ["not_on_case"]}
    other, foreign = reported(script, w, day=-10)
    assert refusal(script, w.teacher, case, {"feedback_kind": "receipt_confirmed",
                                             "received_on": script.date(0),
                                             "report": foreign}) == {"report": ["not_on_case"]}
    feedback(script, w.teacher, case, "no_investigation", 0, report=second)
    assert session.get(BarnevernReport, second).concluded_on == TODAY
    assert session.get(BarnevernReport, first).concluded_on is None
    # one report left awaiting feedback: it need not be named
    feedback(script, w.teacher, case, "receipt_confirmed", 0)
    assert session.get(BarnevernReport, first).feedback_received_on == TODAY
    assert other.id != case.id


def test_the_dashboard_counts_answered_investigated_concluded_and_awaiting(world, session,
                                                                           script):
    w = world
    for k in range(15):
        case, _ = reported(script, w, day=-60 + k)
        if k < 10:  # ten answered after 3 days; five never (past their 21 days now)
            feedback(script, w.teacher, case, "receipt_confirmed", -57 + k)
        if k < 7:  # seven investigated, five of those investigations ended
            feedback(script, w.teacher, case, "investigation_opened", -55 + k)
        if k < 5:
            feedback(script, w.teacher, case, "investigation_closed", -20 + k)
        if 7 <= k < 10:  # three closed without one
            feedback(script, w.teacher, case, "no_investigation", -50 + k)
    session.commit()
    f = Filters(municipality_id=w.municipality.id, unit_id=None, start="2025-12", end="2026-03")
    r = analytics.reports(script.ctx(w.leader), f)
    assert (r.sent, r.feedback_received, r.overdue) == (15, 10, 5)
    # awaiting: the five never answered and the two investigations still running
    assert (r.investigated, r.concluded, r.awaiting) == (7, 8, 7)
    assert (r.days_p50, r.days_p90) == (3, 3)
