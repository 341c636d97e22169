"""The individual plan (issue 15, section 3) through the services on the real database:
``handover_ip`` proposes a handover to the coordinator or to the coordinating unit (koordinerande
eining) like any handover (access to answer, notices, accept or decline, withdraw); acceptance
makes the case an IP case that continues on nivå 3 instead of closing; the ansvarsgruppe (staff
as users, guardians and the child by name, one coordinator, meetings whose minutes go into the
stafettlogg) is kept by the coordinator and the stafettholder; a former coordinator and members
of another case's ansvarsgruppe see nothing. All names are made up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Participant
from bti.domain.vocabulary import vocabulary
from bti.engine import TransitionRefused
from bti.engine.loader import load_directory
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from tests.factories import CONCERN
from tests.factories import TODAY
from tests.factories import make_unit
from tests.factories import make_user
from tests.factories import to_n1
from tests.services.test_handover_safe import recipients_of

DAY = TODAY.isoformat()
WORKFLOWS = ("bti-standard", "donna", "aukra", "orland", "vestre-slidre")


def fire(w, actor, case, trigger, payload=None):
    return cases.fire(w.ctx(actor), case.id, trigger, payload)


def refused(w, actor, case, trigger, payload=None) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as err:
        fire(w, actor, case, trigger, payload)
    return err.value


def fields_of(err: TransitionRefused) -> dict:
    return next(r.fields for r in err.refusals if r.code == "invalid_payload")


def _level_cycle(w, case) -> None:
    """plan → active → evaluation (the measure evaluated) → decision, as the coordinator."""
    c = w.coordinator
    m = fire(w, c, case, "add_measure", {"description": "Samtale", "responsible": c.id,
                                         "start_date": DAY, "evaluate_by": DAY}).entry.object_id
    fire(w, c, case, "start")
    fire(w, c, case, "evaluate")
    fire(w, c, case, "record_evaluation", {"measures": [m], "effect": "some",
         "child_voice_method": "conversation", "outcome": "continue", "child_said": "Betre."})
    fire(w, c, case, "decide")


def new_case(w, pseudonym="Test IP"):
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern=dict(CONCERN)).case
    to_n1(w, case)
    _level_cycle(w, case)
    fire(w, w.coordinator, case, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse og skule",
        "given_on": DAY})
    fire(w, w.coordinator, case, "escalate", {"reason": "Helsestasjonen må inn."})
    _level_cycle(w, case)
    assert case.state == "n2_decision"
    return case


@pytest.fixture
def ip_world(world, session):
    """The world with a coordinating unit: its leader, a coordinator and a plain employee."""
    w = world
    w.koord_unit = make_unit(session, w.municipality, "coordinating_unit",
                             name="Koordinerande eining")
    w.koord_leader = make_user(session, w.municipality, w.koord_unit, ("employee", "leader"),
                               username="koordleiar", display_name="Testleiar Koord")
    w.koord = make_user(session, w.municipality, w.koord_unit, ("employee", "coordinator"),
                        username="koord", display_name="Testkoord Eining")
    w.koord_staff = make_user(session, w.municipality, w.koord_unit, ("employee",),
                              username="koordtilsett", display_name="Testtilsett Koord")
    session.flush()
    return w


def plan_of(session, case) -> IndividualPlan | None:
    return session.scalar(select(IndividualPlan).where(IndividualPlan.case_id == case.id))


def members(session, case) -> list[tuple[str, int | None, str | None]]:
    return [(m.kind, m.user_id, m.name) for m in session.scalars(
        select(AnsvarsgruppeMember).where(AnsvarsgruppeMember.case_id == case.id,
                                          AnsvarsgruppeMember.ended_at.is_(None))
        .order_by(AnsvarsgruppeMember.id))]


def sees(w, actor, case) -> bool:
    try:
        cases.get_case(w.ctx(actor), case.id)
    except NotFound:
        return False
    return True


# --- the handover to a person ----------------------------------------------------------------


def test_handover_ip_to_a_coordinator_continues_on_niva_3_as_an_ip_case(ip_world, session):
    w = ip_world
    case = new_case(w)
    r = fire(w, w.coordinator, case, "handover_ip",
             {"to_user": w.nurse.id, "reason": "Barnet får individuell plan."})
    assert r.step.internal
    assert case.state == "n2_decision"
    assert case.closed_at is None
    h = session.get(Handover, r.entry.object_id)
    assert (h.purpose, h.to_user_id, h.status) == ("ip", w.nurse.id, "proposed")
    assert recipients_of(session, Event.HANDOVER_PROPOSED) == [w.nurse.id]
    assert cases.get_case(w.ctx(w.nurse), case.id).basis == "handover_recipient"
    # it is a handover to an individual plan: not accepted as a baton only
    err = refused(w, w.nurse, case, "accept_handover")
    assert [x.guard for x in err.refusals] == ["not_ip_handover"]
    # nobody else answers it
    assert [x.code for x in refused(w, w.teacher, case, "accept_ip_handover",
                                    {"reason": "x"}).refusals][0] == "role"
    a = fire(w, w.nurse, case, "accept_ip_handover", {"reason": "Eg koordinerer planen."})
    assert case.state == "n3_plan"
    assert a.entry.kind == "level_change"
    assert case.closed_at is None
    plan = plan_of(session, case)
    assert plan.coordinator_id == w.nurse.id
    assert plan.handover_id == h.id
    assert case.stafettholder_id == w.nurse.id
    assert members(session, case) == [("staff", w.nurse.id, None)]
    assert h.status == "accepted"
    assert recipients_of(session, Event.HANDOVER_ACCEPTED) == [w.coordinator.id]
    # the whole history came with it, and the chain holds
    access, entries = cases.log_entries(w.ctx(w.nurse), case.id)
    assert entries[0].trigger == "open"
    assert access.basis == "stafettholder"
    assert verify_case(session, case) is None
    # the former holder has no relation left
    assert not sees(w, w.coordinator, case)


def test_decline_and_withdraw_as_any_handover(ip_world, session):
    w = ip_world
    case = new_case(w)
    fire(w, w.coordinator, case, "handover_ip", {"to_user": w.nurse.id, "reason": "IP."})
    fire(w, w.nurse, case, "decline_handover", {"reason": "Ikkje no."})
    assert case.state == "n2_decision"
    assert plan_of(session, case) is None
    assert recipients_of(session, Event.HANDOVER_DECLINED) == [w.coordinator.id]
    assert not sees(w, w.nurse, case)
    fire(w, w.coordinator, case, "handover_ip", {"to_user": w.nurse.id, "reason": "IP igjen."})
    fire(w, w.coordinator, case, "withdraw_handover")
    assert recipients_of(session, Event.HANDOVER_WITHDRAWN) == [w.nurse.id]
    assert not sees(w, w.nurse, case)


def test_what_handover_ip_refuses(ip_world, session):
    w = ip_world
    case = new_case(w)
    c = w.coordinator
    both = refused(w, c, case, "handover_ip", {"to_user": w.nurse.id,
                                               "coordinating_unit": w.koord_unit.id,
                                               "reason": "IP."})
    assert fields_of(both) == {"to_user": ["user_or_unit"], "coordinating_unit": ["user_or_unit"]}
    neither = refused(w, c, case, "handover_ip", {"reason": "IP."})
    assert fields_of(neither)["to_user"] == ["user_or_unit"]
    not_koord = refused(w, c, case, "handover_ip", {"coordinating_unit": w.health.id,
                                                    "reason": "IP."})
    assert fields_of(not_koord) == {"coordinating_unit": ["not_coordinating_unit"]}
    # the coordinating unit is not covered by the consent yet
    uncovered = refused(w, c, case, "handover_ip", {"coordinating_unit": w.koord_unit.id,
                                                    "reason": "IP."})
    assert [x.guard for x in uncovered.refusals] == ["consent_covers_services"]
    # an administrator cannot hold a case; a foreign user is no colleague
    assert fields_of(refused(w, c, case, "handover_ip", {"to_user": w.admin.id,
                                                         "reason": "IP."})) == \
        {"to_user": ["may_not_hold"]}
    assert fields_of(refused(w, c, case, "handover_ip", {"to_user": w.foreign.id,
                                                         "reason": "IP."})) == \
        {"to_user": ["not_in_municipality"]}
    # nothing was written by any of them
    assert session.scalars(select(Handover).where(Handover.case_id == case.id)).all() == []


# --- the handover to the coordinating unit ---------------------------------------------------


def _cover_koord(w, case):
    fire(w, w.coordinator, case, "give_consent", {
        "given_by": "guardians", "services": [w.koord_unit.id],
        "information": "Individuell plan", "given_on": DAY})


def test_the_coordinating_units_leader_and_coordinators_receive_it_one_accepts(ip_world, session):
    w = ip_world
    case = new_case(w)
    _cover_koord(w, case)
    r = fire(w, w.coordinator, case, "handover_ip",
             {"coordinating_unit": w.koord_unit.id, "reason": "Søknad om IP innvilga."})
    h = session.get(Handover, r.entry.object_id)
    assert (h.to_user_id, h.to_unit_id) == (None, w.koord_unit.id)
    assert recipients_of(session, Event.HANDOVER_PROPOSED) == sorted([w.koord_leader.id,
                                                                      w.koord.id])
    assert sees(w, w.koord_leader, case)
    assert sees(w, w.koord, case)
    assert not sees(w, w.koord_staff, case)  # neither leader nor coordinator
    # in each recipient's inbox as a handover waiting for them
    for who in (w.koord, w.koord_leader):
        item = next(i for i in inbox.my_inbox(w.ctx(who)).items if i.case.id == case.id)
        assert [u.kind for u in item.urgencies] == ["handover_waiting"]
    fire(w, w.koord, case, "accept_ip_handover", {"reason": "Eg tek koordineringa."})
    assert h.to_user_id == w.koord.id
    assert plan_of(session, case).coordinator_id == w.koord.id
    assert case.stafettholder_id == w.koord.id
    assert not sees(w, w.koord_leader, case)  # their relation to answer ended
    rows = session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.relation == "handover_recipient")).all()
    assert all(p.ended_at is not None for p in rows)


def test_a_recipient_of_the_unit_declines_for_the_unit(ip_world, session):
    w = ip_world
    case = new_case(w)
    _cover_koord(w, case)
    fire(w, w.coordinator, case, "handover_ip",
         {"coordinating_unit": w.koord_unit.id, "reason": "IP."})
    fire(w, w.koord_leader, case, "decline_handover", {"reason": "Send søknad først."})
    assert not sees(w, w.koord, case)
    assert not sees(w, w.koord_leader, case)
    fire(w, w.coordinator, case, "handover_ip",
         {"coordinating_unit": w.koord_unit.id, "reason": "IP, søknad sendt."})
    fire(w, w.coordinator, case, "withdraw_handover")
    assert recipients_of(session, Event.HANDOVER_WITHDRAWN) == sorted([w.koord_leader.id,
                                                                       w.koord.id])


@pytest.mark.parametrize("workflow_id", WORKFLOWS)
def test_every_workflow_offers_handover_ip_and_its_acceptance(workflow_id):
    definition = load_directory(Path("workflows"), vocabulary())[workflow_id]
    ip = [t for t in definition.transitions if t.trigger == "handover_ip"]
    assert ip
    assert all(t.dest is None and t.effect == "ip_handover_proposed" for t in ip)
    accept = [t for t in definition.transitions if t.trigger == "accept_ip_handover"]
    assert {t.dest for t in accept} == {"n3_plan"}


# --- the ansvarsgruppe -----------------------------------------------------------------------


@pytest.fixture
def ip_case(ip_world, session):
    w = ip_world
    case = new_case(w)
    fire(w, w.coordinator, case, "handover_ip", {"to_user": w.nurse.id, "reason": "IP."})
    fire(w, w.nurse, case, "accept_ip_handover", {"reason": "Eg koordinerer."})
    return case


def test_members_staff_as_users_guardians_and_the_child_by_name(ip_world, session, ip_case):
    w, case = ip_world, ip_case
    n = w.nurse
    fire(w, n, case, "add_ansvarsgruppe_member", {"member_kind": "staff", "member": w.teacher.id,
                                                  "member_role": "Kontaktlærar"})
    fire(w, n, case, "add_ansvarsgruppe_member", {"member_kind": "guardian",
                                                  "member_name": "Testmor Nordvik"})
    fire(w, n, case, "add_ansvarsgruppe_member", {"member_kind": "child",
                                                  "member_name": "Test IP"})
    assert members(session, case) == [
        ("staff", n.id, None), ("staff", w.teacher.id, None),
        ("guardian", None, "Testmor Nordvik"), ("child", None, "Test IP")]
    # a name only: an identity number is refused (synthetic: month + 80)
    err = refused(w, n, case, "add_ansvarsgruppe_member",
                  {"member_kind": "guardian", "member_name": "Far 01819010001"})
    assert fields_of(err) == {"member_name": ["contains_id_number"]}
    assert fields_of(refused(w, n, case, "add_ansvarsgruppe_member", {
        "member_kind": "child", "member_name": "Anna"})) == {
        "member_kind": ["child_already_member"]}
    assert fields_of(refused(w, n, case, "add_ansvarsgruppe_member", {
        "member_kind": "staff", "member": w.teacher.id})) == {"member": ["already_member"]}
    assert fields_of(refused(w, n, case, "add_ansvarsgruppe_member", {
        "member_kind": "staff"})) == {"member": ["required"]}
    assert fields_of(refused(w, n, case, "add_ansvarsgruppe_member", {
        "member_kind": "guardian", "member": w.teacher.id,
        "member_name": "Testfar"})) == {"member": ["named_only"]}
    # PPT is not covered by the consent: its staff cannot join
    err = refused(w, n, case, "add_ansvarsgruppe_member", {"member_kind": "staff",
                                                           "member": w.psychologist.id})
    assert [x.guard for x in err.refusals] == ["consent_covers_services"]
    # a staff member sees the case, as a participant
    assert cases.get_case(w.ctx(w.teacher), case.id).basis in ("reporter", "participant")
    fire(w, n, case, "end_ansvarsgruppe_member", {"member_name": "testmor  nordvik"})
    assert ("guardian", None, "Testmor Nordvik") not in members(session, case)


def test_only_the_coordinator_and_the_stafettholder_edit_it(ip_world, session, ip_case):
    w, case = ip_world, ip_case
    fire(w, w.nurse, case, "add_ansvarsgruppe_member", {"member_kind": "staff",
                                                        "member": w.teacher.id})
    err = refused(w, w.teacher, case, "add_ansvarsgruppe_member",
                  {"member_kind": "guardian", "member_name": "Testmor"})
    assert [x.guard for x in err.refusals] == ["may_edit_ansvarsgruppe"]
    # the leader of the case's unit sees the case but does not keep the group
    err = refused(w, w.leader, case, "record_ansvarsgruppe_meeting",
                  {"held_on": DAY, "place": "Skulen", "minutes": "Referat"})
    assert err.refusals[0].code == "role"
    # a case without an IP has no ansvarsgruppe to keep
    other = new_case(w, "Test utan IP")
    err = refused(w, w.coordinator, other, "add_ansvarsgruppe_member",
                  {"member_kind": "guardian", "member_name": "Testmor"})
    assert "not_available_in_state" in [x.code for x in err.refusals] or \
        "has_ip" in [x.guard for x in err.refusals]


def test_a_meeting_and_its_minutes_go_into_the_stafettlogg(ip_world, session, ip_case):
    w, case = ip_world, ip_case
    r = fire(w, w.nurse, case, "record_ansvarsgruppe_meeting", {
        "held_on": DAY, "place": "Helsestasjonen", "minutes": "Mål for hausten er sette."})
    row = session.get(AnsvarsgruppeMeeting, r.entry.object_id)
    assert (row.place, row.minutes, row.log_seq) == ("Helsestasjonen",
                                                     "Mål for hausten er sette.", r.entry.seq)
    assert r.entry.kind == "meeting"
    assert r.entry.trigger == "record_ansvarsgruppe_meeting"
    assert "Mål for hausten er sette." in r.entry.data
    assert verify_case(session, case) is None
    future = (TODAY.replace(year=TODAY.year + 1)).isoformat()
    err = refused(w, w.nurse, case, "record_ansvarsgruppe_meeting",
                  {"held_on": future, "place": "X", "minutes": "Y"})
    assert fields_of(err) == {"held_on": ["in_future"]}


def test_one_coordinator_and_a_former_coordinator_sees_nothing(ip_world, session, ip_case):
    w, case = ip_world, ip_case
    n, t = w.nurse, w.teacher
    fire(w, n, case, "add_ansvarsgruppe_member", {"member_kind": "staff", "member": t.id})
    assert fields_of(refused(w, n, case, "change_ip_coordinator",
                             {"coordinator": w.koord.id})) == {"coordinator": ["not_member"]}
    # the coordinator cannot leave while coordinator
    assert fields_of(refused(w, n, case, "end_ansvarsgruppe_member",
                             {"member": n.id})) == {"member": ["is_coordinator"]}
    fire(w, n, case, "change_ip_coordinator", {"coordinator": t.id})
    assert plan_of(session, case).coordinator_id == t.id
    # the new coordinator keeps the group; the baton goes to them as well
    fire(w, t, case, "record_ansvarsgruppe_meeting", {"held_on": DAY, "place": "Skulen",
                                                      "minutes": "Ny koordinator."})
    fire(w, n, case, "propose_handover", {"to_user": t.id, "reason": "Koordinator held pinnen."})
    fire(w, t, case, "accept_handover")
    fire(w, t, case, "end_ansvarsgruppe_member", {"member": n.id})
    # the former coordinator has no relation left: like a case that does not exist
    assert not sees(w, n, case)


def test_a_member_of_another_cases_ansvarsgruppe_sees_nothing_of_this_one(ip_world, session,
                                                                           ip_case):
    w = ip_world
    other = new_case(w, "Test andre IP")
    fire(w, w.coordinator, other, "handover_ip", {"to_user": w.nurse.id, "reason": "IP."})
    fire(w, w.nurse, other, "accept_ip_handover", {"reason": "Eg koordinerer."})
    fire(w, w.nurse, other, "give_consent", {
        "given_by": "guardians", "services": [w.koord_unit.id],
        "information": "Individuell plan", "given_on": DAY})
    fire(w, w.nurse, other, "add_ansvarsgruppe_member", {"member_kind": "staff",
                                                         "member": w.koord_staff.id})
    assert sees(w, w.koord_staff, other)
    assert not sees(w, w.koord_staff, ip_case)


# --- the leader's overview -------------------------------------------------------------------


def test_the_leaders_overview_counts_ips_coordinators_and_ansvarsgrupper(ip_world, session,
                                                                         ip_case):
    from bti.domain.log import AuditEvent
    from bti.services.analytics import leader

    w, case = ip_world, ip_case
    new_case(w, "Test utan IP")
    ov = leader.ip_overview(w.ctx(w.leader))
    assert [r.case_id for r in ov.rows] == [case.id]
    row = ov.rows[0]
    assert (row.coordinator_name, row.coordinator_unit) == (w.nurse.display_name,
                                                            "Helsestasjonen")
    assert row.pseudonym is None  # case numbers unless asked for
    assert not row.has_ansvarsgruppe  # the coordinator alone
    assert (ov.open_cases, ov.with_ip, ov.with_coordinator, ov.with_ansvarsgruppe) == (2, 1, 1, 0)
    # one IP case in the school: below 5, suppressed in the per unit counts
    assert [(u.unit_name, u.with_ip) for u in ov.units] == [("Nordvik skule", None)]
    fire(w, w.nurse, case, "add_ansvarsgruppe_member", {"member_kind": "guardian",
                                                        "member_name": "Testmor"})
    named = leader.ip_overview(w.ctx(w.leader), show_names=True)
    assert named.rows[0].pseudonym == "Test IP"
    assert named.with_ansvarsgruppe == 1
    session.commit()
    listed = session.scalars(select(AuditEvent.case_id).where(
        AuditEvent.actor_id == w.leader.id, AuditEvent.action == "case.listed")).all()
    assert listed == [case.id]
    viewed = session.scalars(select(AuditEvent).where(
        AuditEvent.actor_id == w.leader.id, AuditEvent.action == "unit.overview_viewed")).all()
    assert len(viewed) == 2
    for who in (w.teacher, w.nurse, w.admin):
        with pytest.raises(NotFound):
            leader.ip_overview(w.ctx(who))
    # another municipality's leader sees none of it
    assert leader.ip_overview(w.ctx(w.foreign)).rows == ()


def test_five_ip_cases_of_a_unit_are_counted(ip_world, session):
    from bti.services.analytics import leader

    w = ip_world
    for i in range(5):
        c = new_case(w, f"Test IP {i}")
        fire(w, w.coordinator, c, "handover_ip", {"to_user": w.nurse.id, "reason": "IP."})
        fire(w, w.nurse, c, "accept_ip_handover", {"reason": "Eg koordinerer."})
    ov = leader.ip_overview(w.ctx(w.leader))
    assert ov.with_ip == 5
    assert [(u.unit_name, u.with_ip, u.with_ansvarsgruppe) for u in ov.units] == [
        ("Nordvik skule", 5, 0)]
