"""Mine saker: urgency rules on hand-built cases, audit rows, notifications, batch loading."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY


class Script:
    """Builds real cases through ``open_case``/``fire`` at chosen days (0 = ``FIXED_NOW``,
    negative = in the past)."""

    def __init__(self, session, workflows):
        self.session = session
        self.workflows = workflows

    def ctx(self, actor, day: int = 0) -> Ctx:
        at = FIXED_NOW + timedelta(days=day)
        return Ctx(session=self.session, actor=actor, workflows=self.workflows, now=lambda: at)

    @staticmethod
    def date(day: int) -> str:
        return (TODAY + timedelta(days=day)).isoformat()

    def open(self, actor, day: int = 0, pseudonym: str = "Test B."):
        return cases.open_case(self.ctx(actor, day), unit_id=None, child_pseudonym=pseudonym,
                               child_birth_year=2016, concern=dict(CONCERN)).case

    def fire(self, actor, case, trigger: str, payload: dict | None = None, day: int = 0):
        return cases.fire(self.ctx(actor, day), case.id, trigger, payload)

    def to_n1(self, case, reporter, leader, holder, day: int = 0):
        self.fire(reporter, case, "start", day=day)
        self.fire(reporter, case, "inform_home", {"informed_on": self.date(day)}, day=day)
        self.fire(leader, case, "appoint_stafettholder", {"stafettholder": holder.id}, day=day)
        self.fire(holder, case, "assess", day=day)
        self.fire(holder, case, "decide", day=day)
        self.fire(holder, case, "escalate", {"reason": "Tiltak trengst."}, day=day)
        assert case.state == "n1_plan"

    def measure(self, holder, case, *, start: int, evaluate_by: int, day: int | None = None) -> int:
        return self.fire(holder, case, "add_measure", {
            "description": "Samtale kvar veke", "responsible": holder.id,
            "start_date": self.date(start), "evaluate_by": self.date(evaluate_by)},
            day=start if day is None else day).entry.object_id

    def evaluate(self, holder, case, measure_ids, day: int):
        return self.fire(holder, case, "record_evaluation", {
            "measures": list(measure_ids), "effect": "some",
            "child_voice_method": "conversation", "outcome": "continue",
            "child_said": "Det går betre.", "evaluated_on": self.date(day)}, day=day)

    def consent(self, holder, case, unit_id: int, *, day: int, expires: int | None):
        payload = {"given_by": "guardians", "services": [unit_id],
                   "information": "Skule og helse", "given_on": self.date(day)}
        if expires is not None:
            payload["expires_on"] = self.date(expires)
        return self.fire(holder, case, "give_consent", payload, day=day).entry.object_id


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def kinds(item) -> list[str]:
    return [u.kind for u in item.urgencies]


def test_each_rule_and_the_order_of_the_inbox(world, session, script):
    w = world
    # 1. no activity for 40 days, and never decided at nivå 0
    quiet = script.open(w.teacher, day=-40, pseudonym="Stille S.")
    # 2. nivå 0, opened 20 days ago: the 14-day decision deadline has passed
    late_n0 = script.open(w.teacher, day=-20, pseudonym="Sein N.")
    # 3. nivå 1 with one measure overdue and one due in 3 days; the coordinator holds it
    measures = script.open(w.teacher, day=-29, pseudonym="Tiltak T.")
    script.to_n1(measures, w.teacher, w.leader, w.coordinator, day=-29)
    overdue = script.measure(w.coordinator, measures, start=-29, evaluate_by=-2)
    script.measure(w.coordinator, measures, start=-29, evaluate_by=3)
    # 4. a report to barnevernet 25 days ago (feedback due after 21) and a consent expiring
    report = script.open(w.teacher, day=-26, pseudonym="Melding M.")
    script.to_n1(report, w.teacher, w.leader, w.coordinator, day=-26)
    script.fire(w.teacher, report, "report_barnevernet", {"sent_on": script.date(-25)}, day=-25)
    script.consent(w.coordinator, report, w.health.id, day=-3, expires=10)
    # 5. the leader holds a case and proposes the coordinator as the next holder
    handover = script.open(w.teacher, day=-1, pseudonym="Stafett H.")
    script.to_n1(handover, w.teacher, w.leader, w.leader, day=-1)
    script.fire(w.leader, handover, "propose_handover",
                {"to_user": w.coordinator.id, "reason": "Koordinator tek over."}, day=-1)
    # 6. nothing urgent
    calm = script.open(w.coordinator, day=-2, pseudonym="Roleg R.")

    box = inbox.my_inbox(script.ctx(w.coordinator))
    by_case = {i.case.id: i for i in box.items}
    assert [i.case.id for i in box.items] == [handover.id, measures.id, report.id, calm.id]
    assert kinds(by_case[handover.id]) == ["handover_waiting"]
    assert by_case[handover.id].relations == ("handover_recipient",)
    assert kinds(by_case[measures.id]) == ["evaluation_overdue", "evaluation_due"]
    first = by_case[measures.id].urgencies[0]
    assert (first.on, first.overdue, first.object_id) == (TODAY - timedelta(days=2), True,
                                                          overdue)
    assert kinds(by_case[report.id]) == ["feedback_overdue", "consent_expiring"]
    assert by_case[report.id].urgencies[0].on == TODAY - timedelta(days=4)
    assert by_case[measures.id].basis == "stafettholder"
    assert by_case[calm.id].urgencies == ()
    assert by_case[calm.id].basis == "reporter"
    assert [i.case.id for i in box.urgent] == [handover.id, measures.id, report.id]
    assert box.counts() == {"handover_waiting": 1, "evaluation_overdue": 1,
                            "feedback_overdue": 1, "consent_expiring": 1, "evaluation_due": 1}

    # the leader sees every case of the unit; teacher-reported n0 cases show their own rules
    lead = {i.case.id: i for i in inbox.my_inbox(script.ctx(w.leader)).items}
    assert kinds(lead[quiet.id]) == ["level_deadline_passed", "inactive"]
    assert lead[quiet.id].urgencies[0].on == TODAY - timedelta(days=26)
    assert kinds(lead[late_n0.id]) == ["level_deadline_passed"]
    assert "handover_waiting" not in kinds(lead[handover.id])  # waits for the coordinator
    assert lead[handover.id].relations == ("stafettholder", "unit_leader")


def test_moving_time_turns_due_into_overdue_and_evaluation_clears_it(world, script):
    w = world
    case = script.open(w.teacher, pseudonym="Tid T.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator)
    m = script.measure(w.coordinator, case, start=0, evaluate_by=5)
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 0))[0]) == ["evaluation_due"]
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, -10))[0]) == []  # not yet near
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 6))[0]) == ["evaluation_overdue"]
    script.fire(w.coordinator, case, "start", day=6)
    script.fire(w.coordinator, case, "evaluate", day=6)
    script.evaluate(w.coordinator, case, [m], day=6)
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 6))[0]) == []
    # feedback received: no longer waiting
    script.fire(w.teacher, case, "report_barnevernet", {"sent_on": script.date(6)}, day=6)
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 7))[0]) == ["feedback_awaited"]
    script.fire(w.teacher, case, "record_barnevern_feedback",
                {"received_on": script.date(8), "feedback_kind": "receipt_confirmed"}, day=8)
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 30))[0]) == []
    assert kinds(inbox.my_cases(script.ctx(w.coordinator, 38))[0]) == ["inactive"]


def test_outsiders_see_nothing_and_closed_cases_are_left_out(world, script):
    w = world
    case = script.open(w.teacher, pseudonym="Lukka L.")
    for user in (w.outsider, w.nurse, w.foreign, w.admin):
        assert inbox.my_cases(script.ctx(user)) == []
    script.fire(w.teacher, case, "start")
    script.fire(w.teacher, case, "inform_home", {"informed_on": script.date(0)})
    script.fire(w.teacher, case, "assess")
    script.fire(w.teacher, case, "decide")
    script.fire(w.teacher, case, "close_no_concern", {"reason": "Ingen uro."})
    assert inbox.my_cases(script.ctx(w.teacher)) == []
    assert [i.case.id for i in inbox.my_cases(script.ctx(w.teacher), include_closed=True)] == \
        [case.id]


def test_every_listed_case_writes_one_audit_row(world, session, script):
    w = world
    ids = {script.open(w.teacher, pseudonym=f"Barn {n}").id for n in "ABC"}
    session.commit()
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    items = inbox.my_cases(script.ctx(w.leader))
    session.commit()
    rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.listed")).all()
    assert {i.case.id for i in items} == ids
    assert sorted((r.case_id, r.basis, r.actor_id) for r in rows) == sorted(
        (i, "unit_leader", w.leader.id) for i in ids)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before + 3
    assert all("Barn" not in r.details for r in rows)


def test_expiring_consent_warns_the_stafettholder_once(world, session, script):
    w = world
    case = script.open(w.teacher, pseudonym="Samtykke S.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator)
    far = script.consent(w.coordinator, case, w.health.id, day=0, expires=60)
    near = script.consent(w.coordinator, case, w.ppt.id, day=0, expires=14)
    inbox.my_inbox(script.ctx(w.teacher))  # anyone's listing warns the holder
    inbox.my_inbox(script.ctx(w.coordinator))
    box = inbox.my_inbox(script.ctx(w.coordinator, 1))
    rows = session.scalars(select(Notification).where(
        Notification.kind == inbox.CONSENT_NOTIFICATION)).all()
    assert [(n.user_id, n.case_id, n.dedupe_key) for n in rows] == [
        (w.coordinator.id, case.id, inbox.consent_dedupe_key(near, w.coordinator.id))]
    assert f'"consent_id":{near},' in rows[0].details
    assert f'"consent_id":{far},' not in rows[0].details
    consent_notes = [n.id for n in box.notifications if n.kind == inbox.CONSENT_NOTIFICATION]
    assert consent_notes == [rows[0].id]
    assert [n for n in inbox.unread_notifications(script.ctx(w.teacher))
            if n.kind == inbox.CONSENT_NOTIFICATION] == []
    # someone else cannot mark it read; the owner can, and it is not created again
    with pytest.raises(NotFound):
        inbox.mark_read(script.ctx(w.teacher), rows[0].id)
    assert inbox.mark_read(script.ctx(w.coordinator), rows[0].id) == 1
    assert [n for n in inbox.my_inbox(script.ctx(w.coordinator, 2)).notifications
            if n.kind == inbox.CONSENT_NOTIFICATION] == []
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == inbox.CONSENT_NOTIFICATION)) == 1
    # the second consent enters its window later: a second, separate warning
    inbox.my_inbox(script.ctx(w.coordinator, 50))
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == inbox.CONSENT_NOTIFICATION)) == 2


def test_the_number_of_queries_does_not_grow_with_the_cases(world, session, engine, script):
    w = world

    def add_cases(n):
        for k in range(n):
            case = script.open(w.teacher, day=-35, pseudonym=f"Mange {k}")
            script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-35)
            script.measure(w.coordinator, case, start=-35, evaluate_by=-1)
            script.consent(w.coordinator, case, w.health.id, day=-35, expires=5)
            script.fire(w.teacher, case, "report_barnevernet", {"sent_on": script.date(-30)},
                        day=-30)

    def queries() -> int:
        session.commit()
        session.expire_all()
        seen = []
        listener = lambda *a, **k: seen.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            inbox.my_inbox(script.ctx(w.coordinator))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    add_cases(2)
    few = queries()
    add_cases(6)
    assert queries() == few
    assert len(inbox.my_cases(script.ctx(w.coordinator))) == 8


def test_the_scheduled_job_warns_once_per_expiring_consent(world, session, script):
    """``bti notify consents``: warnings do not wait for someone to open a list."""
    w = world
    case = script.open(w.teacher, pseudonym="Jobb J.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator)
    near = script.consent(w.coordinator, case, w.health.id, day=0, expires=10)
    script.consent(w.coordinator, case, w.ppt.id, day=0, expires=90)
    job = script.ctx(None)
    assert inbox.warn_all_expiring_consents(job) == 1
    assert inbox.warn_all_expiring_consents(job) == 0
    rows = session.scalars(select(Notification).where(
        Notification.kind == inbox.CONSENT_NOTIFICATION)).all()
    assert [(n.user_id, n.case_id, n.dedupe_key) for n in rows] == [
        (w.coordinator.id, case.id, inbox.consent_dedupe_key(near, w.coordinator.id))]
