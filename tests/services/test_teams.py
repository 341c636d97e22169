"""Team arenas (issue 15 §2): teams kept by the administrator, a referral that lands the case on
the agenda of the team's next meeting, a question without a case, the minutes into the case's
stafettlogg (or back to the asker), and need-to-know: a member sees a referred case's content
only as far as a consent covers their service; a former member, a member of another team and
a non-member get NotFound like a missing case. On SQLite and PostgreSQL. Names are made up."""

from __future__ import annotations

import json
from datetime import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from bti.domain.teams import AgendaItem
from bti.services.access import audit
from bti.services.cases import lifecycle as cases
from bti.services.cases import stafettlogg
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from bti.services.teams import agenda
from bti.services.teams import keep
from tests.factories import CONCERN
from tests.factories import TODAY
from tests.factories import make_user
from tests.factories import to_n1


def _valid_synthetic() -> str:
    """A synthetic fødselsnummer (Tenor: month + 80) with valid check digits."""
    from bti.engine.inputs import is_national_id

    for serial in range(100, 1000):
        for tail in range(100):
            candidate = f"018801{serial:03d}{tail:02d}"
            if is_national_id(candidate):
                return candidate
    raise AssertionError("no synthetic number")


@pytest.fixture
def team(world):
    w = world
    t = keep.create_team(w.ctx(w.admin), name="BTI-teamet i Nordvik", kind="bti_team")
    for member in (w.teacher, w.nurse, w.psychologist):
        keep.add_member(w.ctx(w.admin), t.id, member.id)
    return t


def _case_at_n1(world):
    case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Team T.",
                           child_birth_year=2016, concern=dict(CONCERN)).case
    to_n1(world, case)
    return case


def _refer(world, case, reason="Treng fleire tenester rundt barnet."):
    return cases.fire(world.ctx(world.coordinator), case.id, "refer",
                      {"referred_to": "bti_team", "reason": reason})


def _meeting(world, team, days=7):
    day = TODAY + timedelta(days=days)
    return keep.schedule_meeting(world.ctx(world.admin), team.id, day=day, at=time(13, 30),
                                 place="Møterom 2")


def _rows(world, action):
    audit.write_pending(world.session)
    return world.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_admin_keeps_teams_and_every_change_is_audited(world):
    w = world
    t = keep.create_team(w.ctx(w.admin), name="BTI-team", kind="bti_team", unit_id=w.school.id)
    t = keep.update_team(w.ctx(w.admin), t.id, name="BTI-team Nordvik", kind="bti_team")
    keep.add_member(w.ctx(w.admin), t.id, w.teacher.id)
    keep.remove_member(w.ctx(w.admin), t.id, w.teacher.id)
    keep.set_active(w.ctx(w.admin), t.id, False)
    keep.set_active(w.ctx(w.admin), t.id, True)
    audit.write_pending(w.session)
    actions = [a for a in w.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "team").order_by(AuditEvent.id))]
    assert actions == ["team.created", "team.changed", "team.member_added",
                       "team.member_removed", "team.deactivated", "team.reactivated"]
    got = keep.get_team(w.ctx(w.admin), t.id)
    assert (got.name, got.unit_id, got.members) == ("BTI-team Nordvik", None, ())


def test_bad_team_input_is_refused_with_field_codes(world):
    w = world
    with pytest.raises(InvalidInput) as err:
        keep.create_team(w.ctx(w.admin), name="", kind="innsatsteam")  # not in bti-standard
    assert err.value.fields == {"name": ["required"], "kind": ["not_a_choice"]}
    keep.create_team(w.ctx(w.admin), name="Teamet", kind="bti_team")
    with pytest.raises(InvalidInput) as err:
        keep.create_team(w.ctx(w.admin), name="Teamet", kind="bti_team",
                         unit_id=w.foreign.unit_id)
    assert err.value.fields == {"name": ["taken"], "unit_id": ["not_in_municipality"]}
    t = keep.list_teams(w.ctx(w.admin))[0]
    with pytest.raises(InvalidInput) as err:
        keep.add_member(w.ctx(w.admin), t.id, w.admin.id)  # an admin sees no case content
    assert err.value.fields == {"user_id": ["no_case_work"]}
    with pytest.raises(InvalidInput):
        keep.add_member(w.ctx(w.admin), t.id, w.foreign.id)
    with pytest.raises(Forbidden):
        keep.create_team(w.ctx(w.leader), name="Eige", kind="bti_team")
    other = w.session.get(Municipality, w.foreign.municipality_id)
    other_admin = make_user(w.session, other, None, ("admin",))
    with pytest.raises(NotFound):  # another municipality's administrator
        keep.get_team(w.ctx(other_admin), t.id)
    with pytest.raises(InvalidInput) as err:
        keep.schedule_meeting(w.ctx(w.admin), t.id, day=TODAY - timedelta(days=1),
                              at=time(9, 0))
    assert err.value.fields == {"day": ["in_past"]}


def test_referral_lands_on_the_next_meeting_and_notifies_the_members(world, team):
    w = world
    later = _meeting(world, team, days=14)
    soon = _meeting(world, team, days=7)
    case = _case_at_n1(world)
    result = _refer(world, case)
    item = w.session.get(AgendaItem, result.entry.object_id)
    assert result.entry.object_type == "team_agenda_item"
    assert (item.team_id, item.meeting_id, item.case_id, item.kind) == (
        team.id, soon.id, case.id, "case")
    assert item.text == "Treng fleire tenester rundt barnet."
    assert later.id != soon.id
    notified = w.session.scalars(select(Notification.user_id).where(
        Notification.kind == Event.TEAM_AGENDA.value)).all()
    assert sorted(notified) == sorted([w.teacher.id, w.nurse.id, w.psychologist.id])
    notice = w.session.scalars(select(Notification).where(
        Notification.kind == Event.TEAM_AGENDA.value)).first()
    assert notice.case_id is None  # it leads to the team page, not to a case
    assert json.loads(notice.details) == {"item_id": item.id, "team_id": team.id}


def test_referral_without_a_meeting_waits_in_the_queue_until_one_is_scheduled(world, team):
    w = world
    case = _case_at_n1(world)
    item = w.session.get(AgendaItem, _refer(world, case).entry.object_id)
    assert item.meeting_id is None
    page = agenda.team_page(w.ctx(w.nurse), team.id)
    assert [i.id for i in page.unscheduled.items] == [item.id]
    assert page.next_meeting is None
    meeting = _meeting(world, team)
    assert item.meeting_id == meeting.id
    page = agenda.team_page(w.ctx(w.nurse), team.id)
    assert [i.id for i in page.next_meeting.items] == [item.id]
    assert page.unscheduled.items == ()


def test_referral_elsewhere_or_to_a_team_not_kept_lands_nowhere(world):
    w = world
    case = _case_at_n1(world)
    _refer(world, case)  # no bti_team kept
    cases.fire(w.ctx(w.coordinator), case.id, "refer", {"referred_to": "ppt", "reason": "PPT"})
    assert w.session.scalars(select(AgendaItem)).all() == []


def test_member_sees_case_content_only_where_a_consent_covers_their_service(world, team):
    w = world
    case = _case_at_n1(world)
    item_id = _refer(world, case).entry.object_id
    own = agenda.item_view(w.ctx(w.teacher), team.id, item_id)  # the case's own unit
    assert own.content is not None
    assert own.content.pseudonym == "Team T."
    nurse = agenda.item_view(w.ctx(w.nurse), team.id, item_id)
    assert nurse.content is None  # only what the referral says
    assert (nurse.item.case_id, nurse.item.text) == (case.id, "Treng fleire tenester rundt barnet.")
    cases.fire(w.ctx(w.coordinator), case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse",
        "given_on": TODAY.isoformat()})
    assert agenda.item_view(w.ctx(w.nurse), team.id, item_id).content is not None
    assert agenda.item_view(w.ctx(w.psychologist), team.id, item_id).content is None
    reads = [r for r in _rows(world, "case.viewed") if r.basis == "team_member"]
    assert sorted(r.actor_id for r in reads) == sorted([w.teacher.id, w.nurse.id])
    assert all(r.case_id == case.id for r in reads)


def test_non_members_former_members_and_other_teams_get_not_found(world, team):
    w = world
    case = _case_at_n1(world)
    item_id = _refer(world, case).entry.object_id
    other = keep.create_team(w.ctx(w.admin), name="Anna team", kind="bti_team")
    keep.add_member(w.ctx(w.admin), other.id, w.outsider.id)
    keep.remove_member(w.ctx(w.admin), team.id, w.psychologist.id)
    for who in (w.outsider, w.psychologist, w.leader, w.admin, w.foreign):
        with pytest.raises(NotFound):
            agenda.team_page(w.ctx(who), team.id)
        with pytest.raises(NotFound):
            agenda.item_view(w.ctx(who), team.id, item_id)
    with pytest.raises(NotFound):  # an item of another team through one's own team
        agenda.item_view(w.ctx(w.outsider), other.id, item_id)
    assert [t.id for t in agenda.my_teams(w.ctx(w.outsider))] == [other.id]
    assert agenda.my_teams(w.ctx(w.psychologist)) == []


def test_minutes_of_a_case_item_go_into_the_stafettlogg(world, team):
    w = world
    case = _case_at_n1(world)
    item_id = _refer(world, case).entry.object_id
    due = TODAY + timedelta(days=10)
    agenda.record_minutes(w.ctx(w.nurse), team.id, item_id, decision="Helsesjukepleiar tek ein "
                          "samtale med barnet.", follow_ups=[
                              agenda.FollowUpInput("Samtale med barnet", w.nurse.id, due),
                              agenda.FollowUpInput("", None, None)])
    entry = w.session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq.desc())).first()
    assert (entry.trigger, entry.kind, entry.object_id) == ("team_minutes", "meeting", item_id)
    data = json.loads(entry.data)
    assert data["decision"].startswith("Helsesjukepleiar")
    assert data["follow_ups"] == [
        {"what": "Samtale med barnet", "responsible_id": w.nurse.id, "due_on": due.isoformat()}]
    w.session.flush()
    assert stafettlogg.verify_case(w.session, case, keys=None) is None
    page = agenda.team_page(w.ctx(w.teacher), team.id)
    assert [(f.what, f.due_on) for f in page.open_follow_ups] == [("Samtale med barnet", due)]
    agenda.mark_done(w.ctx(w.teacher), team.id, page.open_follow_ups[0].id)
    assert agenda.team_page(w.ctx(w.teacher), team.id).open_follow_ups == ()
    with pytest.raises(InvalidInput) as err:  # recorded once
        agenda.record_minutes(w.ctx(w.nurse), team.id, item_id, decision="Igjen", follow_ups=[])
    assert err.value.fields == {"decision": ["already_minuted"]}


def test_minutes_of_a_closed_case_stay_on_the_item(world, team):
    """A closed case's stafettlogg is complete (a transferred case's ends with the transfer its
    bundle is signed over): minutes recorded after it closed stay on the team's item."""
    w = world
    case = _case_at_n1(world)
    item_id = _refer(world, case).entry.object_id
    case.state = "closed"  # as if closed after the referral (the close path is tested elsewhere)
    w.session.flush()
    seq = case.log_seq
    agenda.record_minutes(w.ctx(w.nurse), team.id, item_id, decision="Saka er avslutta.",
                          follow_ups=[])
    assert w.session.get(AgendaItem, item_id).decision == "Saka er avslutta."
    assert case.log_seq == seq  # no entry after the close


def test_minutes_refuse_a_responsible_outside_the_team_and_a_past_date(world, team):
    w = world
    case = _case_at_n1(world)
    item_id = _refer(world, case).entry.object_id
    with pytest.raises(InvalidInput) as err:
        agenda.record_minutes(w.ctx(w.nurse), team.id, item_id, decision="Vedtak", follow_ups=[
            agenda.FollowUpInput("Ring", w.leader.id, TODAY - timedelta(days=1))])
    assert err.value.fields == {"follow_up_1_responsible": ["not_a_member"],
                                "follow_up_1_due": ["in_past"]}
    assert w.session.get(AgendaItem, item_id).decision is None


def test_question_without_a_case_refuses_an_identity_and_returns_minutes_to_the_asker(
        world, team):
    w = world
    with pytest.raises(InvalidInput) as err:
        agenda.ask(w.ctx(w.leader), team.id, child_age=9,
                   text=f"Barnet {_valid_synthetic()} er mykje borte.")
    assert err.value.fields == {"text": ["contains_id_number"]}
    with pytest.raises(InvalidInput) as err:
        agenda.ask(w.ctx(w.leader), team.id, child_age=40, text="")
    assert err.value.fields == {"text": ["required"], "child_age": ["age_range"]}
    item = agenda.ask(w.ctx(w.leader), team.id, child_age=9,
                      text="Ein gut på 9 år er mykje borte frå skulen.")
    assert (item.kind, item.case_id, item.child_age) == ("question", None, 9)
    agenda.record_minutes(w.ctx(w.nurse), team.id, item.id,
                          decision="Kontaktlærar tek ein undringssamtale.", follow_ups=[])
    back = w.session.scalars(select(Notification).where(
        Notification.user_id == w.leader.id, Notification.kind == Event.TEAM_AGENDA.value)).all()
    assert len(back) == 1
    assert json.loads(back[0].details)["minutes"] is True
    keep.set_active(w.ctx(w.admin), team.id, False)
    with pytest.raises(NotFound):  # a deactivated team takes no questions
        agenda.ask(w.ctx(w.leader), team.id, child_age=9, text="Ny")
    with pytest.raises(NotFound):
        agenda.ask(w.ctx(w.admin), team.id, child_age=9, text="Ny")


def test_unit_team_is_preferred_for_the_case_of_its_unit(world):
    w = world
    shared = keep.create_team(w.ctx(w.admin), name="Kommunen sitt", kind="bti_team")
    own = keep.create_team(w.ctx(w.admin), name="Skulen sitt", kind="bti_team",
                           unit_id=w.school.id)
    case = _case_at_n1(world)
    item = w.session.get(AgendaItem, _refer(world, case).entry.object_id)
    assert item.team_id == own.id != shared.id
