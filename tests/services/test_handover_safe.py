"""Handovers that are safe and the barnevern follow-up (issue 14, sections 4 and 5), through the
services on the real database: withdrawing a proposal (who may, who may not, who is told), who
may be proposed, the holder's choice to stay on as a participant, the notices of proposal,
acceptance and decline (the decline's reason stays in the case), the nearest leaders told of a
report to barnevernet, and the debrief recorded in every workflow. All names are made up."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bti.config import MailSettings
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.log import StafettloggEntry
from bti.domain.notifications import NotificationDelivery
from bti.engine import TransitionRefused
from bti.services.access import audit
from bti.services.cases import casepage
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from bti.services.notify import notices as notify_notices
from bti.services.notify.delivery import Row
from bti.services.notify.delivery import build_message
from bti.services.notify.events import Event
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import TODAY
from tests.factories import make_user
from tests.factories import to_n1

DAY = TODAY.isoformat()
WORKFLOWS = ("bti-standard", "donna", "aukra", "orland", "vestre-slidre")


def open_case(w, actor=None):
    return cases.open_case(w.ctx(actor or w.teacher), unit_id=None, child_pseudonym="Test H.",
                           child_birth_year=2016, concern=dict(CONCERN)).case


def notices(session, event: Event) -> list[Notification]:
    session.flush()
    return list(session.scalars(select(Notification).where(Notification.kind == event.value)
                                .order_by(Notification.id)))


def recipients_of(session, event: Event) -> list[int]:
    return sorted(n.user_id for n in notices(session, event))


@pytest.fixture
def n1(world, session):
    """A case at nivå 1 with the coordinator as stafettholder, and a second coordinator of the
    same school (``colleague``) to hand it to."""
    w = world
    w.colleague = make_user(session, w.municipality, w.school, ("employee", "coordinator"),
                            username="kollega", display_name="Testkollega Nordvik")
    case = open_case(w)
    to_n1(w, case)
    return case


def _propose(w, actor, case, to, **extra):
    return cases.fire(w.ctx(actor), case.id, "propose_handover",
                      {"to_user": to.id, "reason": "Kollega tek over saka", **extra})


def _consent(w, case, unit):
    cases.fire(w.ctx(w.coordinator), case.id, "give_consent", {
        "given_by": "guardians", "services": [unit.id], "information": "Helse og trivsel",
        "given_on": DAY})


# --- withdraw --------------------------------------------------------------------------------


def test_the_proposer_withdraws_and_the_recipient_is_told_and_loses_the_case(world, session, n1):
    w, case = world, n1
    h_id = _propose(w, w.coordinator, case, w.colleague).entry.object_id
    assert recipients_of(session, Event.HANDOVER_PROPOSED) == [w.colleague.id]
    cases.get_case(w.ctx(w.colleague), case.id)  # may read it to decide
    r = cases.fire(w.ctx(w.coordinator), case.id, "withdraw_handover")
    assert r.entry.kind == "handover"
    assert r.entry.object_id == h_id
    h = session.get(Handover, h_id)
    assert h.status == "withdrawn"
    assert h.decided_at is not None
    assert case.stafettholder_id == w.coordinator.id
    [n] = notices(session, Event.HANDOVER_WITHDRAWN)
    assert n.user_id == w.colleague.id
    assert n.case_id == case.id
    assert json.loads(n.details) == {"handover_id": h_id}
    with pytest.raises(NotFound):  # the relation to answer ended with the proposal
        cases.get_case(w.ctx(w.colleague), case.id)
    with pytest.raises(NotFound):  # nothing left to accept, nor to see
        cases.fire(w.ctx(w.colleague), case.id, "accept_handover")
    # a new proposal is possible again
    _propose(w, w.coordinator, case, w.colleague)
    assert verify_case(session, case) is None


def test_only_the_proposer_or_the_holder_may_withdraw(world, session, n1):
    w, case = world, n1
    _propose(w, w.coordinator, case, w.colleague)
    for actor in (w.teacher, w.colleague):  # the reporter, the recipient: not their step
        with pytest.raises(TransitionRefused) as err:
            cases.fire(w.ctx(actor), case.id, "withdraw_handover")
        assert err.value.refusals[0].code == "role"
    # the unit leader did not propose it, and does not hold the baton
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.leader), case.id, "withdraw_handover")
    assert [r.guard for r in err.value.refusals] == ["may_withdraw_handover"]
    _, actions = cases.list_actions(w.ctx(w.leader), case.id)
    assert not next(a for a in actions if a.transition.trigger == "withdraw_handover").allowed
    assert notices(session, Event.HANDOVER_WITHDRAWN) == []


def test_the_holder_may_withdraw_a_leaders_proposal(world, session, n1):
    w, case = world, n1
    h_id = _propose(w, w.leader, case, w.colleague).entry.object_id
    assert session.get(Handover, h_id).proposed_by_id == w.leader.id
    cases.fire(w.ctx(w.coordinator), case.id, "withdraw_handover")
    assert session.get(Handover, h_id).status == "withdrawn"
    assert recipients_of(session, Event.HANDOVER_WITHDRAWN) == [w.colleague.id]


def test_withdraw_is_not_offered_without_a_waiting_handover(world, n1):
    w, case = world, n1
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.coordinator), case.id, "withdraw_handover")
    assert [r.guard for r in err.value.refusals] == ["may_withdraw_handover"]


# --- who may be proposed ---------------------------------------------------------------------


def test_the_pick_list_leaves_out_the_holder_the_inactive_and_who_could_not_accept(
        world, session, n1):
    w, case = world, n1
    gone = make_user(session, w.municipality, w.school, ("employee",), username="sluttet",
                     active=False)
    page = casepage.action_page(w.ctx(w.coordinator), case.id, "propose_handover")
    offered = {c.id for c in page.options.colleagues}
    assert w.colleague.id in offered
    assert w.leader.id in offered
    assert w.teacher.id in offered
    assert w.coordinator.id not in offered  # the holder
    assert gone.id not in offered  # inactive
    assert w.nurse.id not in offered  # Helsestasjonen: no consent covers it
    assert w.foreign.id not in offered
    assert w.admin.id not in offered
    # refused on the server too, with a reason the form shows by the field
    for who, code in ((w.coordinator, "already_stafettholder"), (gone, "inactive_user")):
        with pytest.raises(TransitionRefused) as err:
            _propose(w, w.coordinator, case, who)
        assert err.value.refusals[0].fields == {"to_user": [code]}
    with pytest.raises(TransitionRefused) as err:
        _propose(w, w.coordinator, case, w.nurse)
    assert err.value.refusals[0].guard == "consent_covers_services"
    # with a consent covering Helsestasjonen the nurse could accept: offered
    _consent(w, case, w.health)
    page = casepage.action_page(w.ctx(w.coordinator), case.id, "propose_handover")
    assert w.nurse.id in {c.id for c in page.options.colleagues}
    assert notices(session, Event.HANDOVER_PROPOSED) == []


# --- the holder's own access after acceptance --------------------------------------------------


def test_without_staying_on_the_holder_loses_the_case(world, session, n1):
    w, case = world, n1
    page = casepage.action_page(w.ctx(w.coordinator), case.id, "propose_handover")
    assert page.actor_is_holder
    assert page.holder.loses_access
    assert page.holder.may_stay
    assert "holder_stays" in [f.name for f in page.form.fields]
    _propose(w, w.coordinator, case, w.colleague)
    cases.fire(w.ctx(w.colleague), case.id, "accept_handover")
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.coordinator), case.id)


def test_the_holder_who_stays_on_becomes_a_participant(world, session, n1):
    w, case = world, n1
    h_id = _propose(w, w.coordinator, case, w.colleague, holder_stays=True).entry.object_id
    assert session.get(Handover, h_id).holder_stays is True
    cases.fire(w.ctx(w.colleague), case.id, "accept_handover")
    assert case.stafettholder_id == w.colleague.id
    access = cases.get_case(w.ctx(w.coordinator), case.id)
    assert access.relations == frozenset({"participant"})
    [row] = session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.user_id == w.coordinator.id,
        Participant.ended_at.is_(None))).all()
    assert row.relation == "participant"
    assert row.unit_id == w.school.id


def test_staying_on_needs_a_consent_covering_the_holders_service(world, session, n1):
    """A holder from Helsestasjonen may stay on while a consent covers it, not after."""
    w, case = world, n1
    _consent(w, case, w.health)
    _propose(w, w.coordinator, case, w.nurse)
    cases.fire(w.ctx(w.nurse), case.id, "accept_handover")
    assert case.stafettholder_id == w.nurse.id
    page = casepage.action_page(w.ctx(w.nurse), case.id, "propose_handover")
    assert page.holder.may_stay
    consent = session.scalars(select(Consent).where(Consent.case_id == case.id)).one()
    cases.fire(w.ctx(w.leader), case.id, "withdraw_consent", {"consent": consent.id})
    page = casepage.action_page(w.ctx(w.nurse), case.id, "propose_handover")
    assert page.holder.loses_access
    assert not page.holder.may_stay
    assert "holder_stays" not in [f.name for f in page.form.fields]  # not offered
    with pytest.raises(TransitionRefused) as err:  # and refused
        _propose(w, w.nurse, case, w.coordinator, holder_stays=True)
    assert err.value.refusals[0].fields == {"holder_stays": ["stay_not_covered"]}


def test_only_the_holder_chooses_to_stay_on(world, session, n1):
    w, case = world, n1
    page = casepage.action_page(w.ctx(w.leader), case.id, "propose_handover")
    assert not page.actor_is_holder
    assert "holder_stays" not in [f.name for f in page.form.fields]
    with pytest.raises(TransitionRefused) as err:
        _propose(w, w.leader, case, w.colleague, holder_stays=True)
    assert err.value.refusals[0].fields == {"holder_stays": ["holder_only"]}


def test_a_holder_who_leads_the_unit_keeps_access_anyway(world, session, n1):
    w, case = world, n1
    _propose(w, w.coordinator, case, w.leader)
    cases.fire(w.ctx(w.leader), case.id, "accept_handover")
    page = casepage.action_page(w.ctx(w.leader), case.id, "propose_handover")
    assert page.holder.keeps == ("unit_leader",)
    assert not page.holder.loses_access


# --- notices of proposal, acceptance and decline ---------------------------------------------


def test_propose_and_accept_notify_exactly_the_recipient_then_the_proposer(world, session, n1):
    w, case = world, n1
    h_id = _propose(w, w.leader, case, w.colleague).entry.object_id
    assert recipients_of(session, Event.HANDOVER_PROPOSED) == [w.colleague.id]
    cases.fire(w.ctx(w.colleague), case.id, "accept_handover")
    [n] = notices(session, Event.HANDOVER_ACCEPTED)
    assert n.user_id == w.leader.id
    assert json.loads(n.details) == {"handover_id": h_id}
    assert notices(session, Event.HANDOVER_DECLINED) == []


def test_decline_notifies_the_proposer_and_its_reason_stays_in_the_case(world, session, n1):
    w, case = world, n1
    reason = "Eg har ikkje kapasitet før etter påske (testtekst)"
    h_id = _propose(w, w.coordinator, case, w.colleague).entry.object_id
    cases.fire(w.ctx(w.colleague), case.id, "decline_handover", {"reason": reason})
    assert session.get(Handover, h_id).decline_reason == reason
    [n] = notices(session, Event.HANDOVER_DECLINED)
    assert n.user_id == w.coordinator.id
    assert n.case_id == case.id
    assert json.loads(n.details) == {"handover_id": h_id}
    everything = [n.details for n in session.scalars(select(Notification))]
    everything += [repr({c.key: getattr(d, c.key) for c in NotificationDelivery.__mapper__.columns})
                   for d in session.scalars(select(NotificationDelivery))]
    assert everything
    assert not any("kapasitet" in text for text in everything)
    # the proposer reads it in the case
    entries = session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id, StafettloggEntry.trigger == "decline_handover"))
    assert any(reason in (e.data or "") for e in entries)


def test_a_decline_shows_its_reason_in_the_proposers_notice_while_they_see_the_case(
        world, session, n1):
    """The reason is read from the handover row when the list is drawn, for its proposer only
    and only while they still have access (audited per case); the mail carries only the kind
    of task and a link."""
    w, case = world, n1
    reason = "Eg har ikkje kapasitet før etter påske (testtekst)"
    h_id = _propose(w, w.coordinator, case, w.colleague).entry.object_id
    cases.fire(w.ctx(w.colleague), case.id, "decline_handover", {"reason": reason})
    [n] = notices(session, Event.HANDOVER_DECLINED)
    before = len(audit.pending(session))
    assert notify_notices.decline_reasons(w.ctx(w.coordinator), [n]) == {n.id: reason}
    [row] = audit.pending(session)[before:]
    assert (row["action"], row["case_id"], row["object_type"], row["object_id"]) == (
        "notification.reason_read", case.id, "handover", h_id)
    assert row["actor_id"] == w.coordinator.id
    # nobody else's notice list shows it (not the one who declined, not a leader)
    for other in (w.colleague, w.leader):
        assert notify_notices.decline_reasons(w.ctx(other), [n]) == {}
    # the e-mail of the same notice: the kind of task and a link, no reason
    mail = build_message(MailSettings(host="127.0.0.1", port=25, security="none",
                                      mail_from="BTI <bti@kommune.invalid>",
                                      base_url="https://bti.invalid"),
                         [Row(id=1, notification_id=n.id, kind=n.kind, attempts=0, mode="now",
                              created_at=n.created_at, user_id=n.user_id,
                              email="koordinator@kommune.invalid", active=True, lang="nn",
                              case_id=n.case_id, details=n.details)], n.created_at)
    text = mail.as_string()
    assert "kapasitet" not in text
    assert "testtekst" not in text
    assert f"https://bti.invalid/varsler/{n.id}" in text
    # the proposer hands the case to the leader and loses access: the reason is no longer shown
    _propose(w, w.coordinator, case, w.leader)
    cases.fire(w.ctx(w.leader), case.id, "accept_handover")
    assert not cases.still_sees(w.ctx(w.coordinator), case.id)
    before = len(audit.pending(session))
    assert notify_notices.decline_reasons(w.ctx(w.coordinator), [n]) == {}
    assert audit.pending(session)[before:] == []


# --- barnevern follow-up ---------------------------------------------------------------------


def test_a_report_notifies_the_leaders_of_the_cases_unit(world, session):
    w = world
    case = open_case(w)
    second = make_user(session, w.municipality, w.school, ("employee", "leader"),
                       username="rektor2")
    make_user(session, w.municipality, w.health, ("employee", "leader"), username="helseleiar")
    r = cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet", {"sent_on": DAY})
    [first, other] = notices(session, Event.BARNEVERN_REPORTED)
    assert sorted([first.user_id, other.user_id]) == sorted([w.leader.id, second.id])
    assert json.loads(first.details) == {"report_id": r.entry.object_id,
                                         "user_id": w.teacher.id}


def test_a_unit_without_a_leader_falls_back_to_the_municipalitys_leaders(world, session):
    w = world
    case = open_case(w, w.nurse)  # Helsestasjonen has no leader
    cases.fire(w.ctx(w.nurse), case.id, "report_barnevernet", {"sent_on": DAY})
    assert recipients_of(session, Event.BARNEVERN_REPORTED) == [w.leader.id]  # not foreign


def test_the_leader_who_reports_is_not_told_of_their_own_report(world, session):
    w = world
    case = open_case(w)
    cases.fire(w.ctx(w.leader), case.id, "report_barnevernet", {"sent_on": DAY})
    assert notices(session, Event.BARNEVERN_REPORTED) == []


@pytest.mark.parametrize("workflow_id", WORKFLOWS)
def test_the_debrief_is_recorded_in_every_workflow(session, registry, workflow_id):
    w = World(session, registry, workflow_id)
    case = open_case(w)
    r1 = cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet", {"sent_on": DAY})
    r2 = cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet", {"sent_on": DAY})
    assert recipients_of(session, Event.BARNEVERN_REPORTED) == [w.leader.id, w.leader.id]

    def offered(actor) -> bool:
        _, actions = cases.list_actions(w.ctx(actor), case.id)
        a = next(a for a in actions if a.transition.trigger == "record_debrief")
        return a.allowed

    assert offered(w.leader)
    assert not offered(w.teacher)
    with pytest.raises(TransitionRefused) as err:  # two wait: the leader names the report
        cases.fire(w.ctx(w.leader), case.id, "record_debrief")
    assert err.value.refusals[0].fields == {"debrief_report": ["required"]}
    e = cases.fire(w.ctx(w.leader), case.id, "record_debrief",
                   {"debrief_report": r1.entry.object_id}).entry
    assert (e.kind, e.object_type, e.object_id) == ("report", "barnevern_report",
                                                    r1.entry.object_id)
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.leader), case.id, "record_debrief",
                   {"debrief_report": r1.entry.object_id})
    assert err.value.refusals[0].fields == {"debrief_report": ["debrief_recorded"]}
    cases.fire(w.ctx(w.leader), case.id, "record_debrief")  # the one left
    for r in (r1, r2):
        report = session.get(BarnevernReport, r.entry.object_id)
        assert report.debrief_recorded_at is not None
        assert report.debrief_recorded_by_id == w.leader.id
    assert not offered(w.leader)  # nothing waits any more
    # only the fact: the entries carry no text
    for entry in session.scalars(select(StafettloggEntry).where(
            StafettloggEntry.case_id == case.id, StafettloggEntry.trigger == "record_debrief")):
        assert set(json.loads(entry.data or "{}")) <= {"debrief_report"}
    with pytest.raises(TransitionRefused) as err:  # the reporter does not record it
        cases.fire(w.ctx(w.teacher), case.id, "record_debrief")
    assert err.value.refusals[0].code == "role"
    assert verify_case(session, case) is None


def test_the_debrief_shows_in_the_leaders_cockpit_while_a_report_waits(world, session):
    w = world
    case = open_case(w)

    def others(actor) -> set[str]:
        page = casepage.case_page(w.ctx(actor), case.id)
        return {f.trigger for _, forms in page.others.groups() for f in forms}

    assert "record_debrief" not in others(w.leader)
    cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet", {"sent_on": DAY})
    assert "record_debrief" in others(w.leader)
    assert "record_debrief" not in others(w.teacher)
    cases.fire(w.ctx(w.leader), case.id, "record_debrief")
    assert "record_debrief" not in others(w.leader)
