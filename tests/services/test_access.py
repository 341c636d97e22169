"""Emergency access (AUTHZ-06), revocation on consent withdrawal (AUTHZ-05), the case's access log
(innsyn i logg, PRIV-01) and access-log search. All names are made up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.log import AuditEvent
from bti.domain.rules import BASIS_ORDER
from bti.domain.rules import EMERGENCY
from bti.engine import TransitionRefused
from bti.services.access import audit
from bti.services.access import emergency as access
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_user
from tests.factories import to_n1

REASON = "Mor ringte og seier barnet ikkje har kome heim etter skulen."


def open_case(world, actor=None):
    return cases.open_case(world.ctx(actor or world.teacher), unit_id=None,
                           child_pseudonym="Test B.", child_birth_year=2016,
                           concern=dict(CONCERN)).case


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- emergency access --------------------------------------------------------------------------


def test_emergency_is_the_weakest_basis():
    assert BASIS_ORDER[-1] == EMERGENCY


@pytest.mark.parametrize("reason", [None, "", "   ", "Hast!", "  for kort grunn   "])
def test_emergency_needs_a_reason_of_twenty_characters(world, session, reason):
    case = open_case(world)
    with pytest.raises(InvalidInput) as err:
        access.request_emergency_access(world.ctx(world.outsider), case.id, reason)
    assert "reason" in err.value.fields
    assert count(session, EmergencyAccess) == 0


def test_emergency_is_never_for_an_admin_or_a_non_employee(world, session):
    case = open_case(world)
    officer = make_user(session, world.municipality, None, ("privacy_officer",))
    admin_employee = make_user(session, world.municipality, world.ppt, ("employee", "admin"))
    for user in (world.admin, officer, admin_employee):
        with pytest.raises(Forbidden):
            access.request_emergency_access(world.ctx(user), case.id, REASON)
    assert count(session, EmergencyAccess) == 0


def test_emergency_to_a_missing_or_foreign_case_is_not_found(world, session):
    case = open_case(world)
    with pytest.raises(NotFound):
        access.request_emergency_access(world.ctx(world.outsider), case.id + 1000, REASON)
    with pytest.raises(NotFound):  # the case exists, in another municipality
        access.request_emergency_access(world.ctx(world.foreign), case.id, REASON)
    assert count(session, EmergencyAccess) == 0
    session.commit()
    assert count(session, AuditEvent) == 1  # only the opening


def test_emergency_grants_one_case_for_24_hours_logged_and_notified(world, session):
    case = open_case(world)
    other = open_case(world)
    w = world
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.outsider), case.id)
    grant = access.request_emergency_access(w.ctx(w.outsider), case.id, "  " + REASON + "  ")
    assert grant.reason == REASON  # stripped
    assert grant.expires_at - grant.granted_at == timedelta(hours=24)
    session.commit()

    # the basis is "emergency", and only for this one case
    assert cases.get_case(w.ctx(w.outsider), case.id).basis == EMERGENCY
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.outsider), other.id)
    session.commit()

    rows = session.scalars(select(AuditEvent).where(AuditEvent.actor_id == w.outsider.id)
                           .order_by(AuditEvent.seq)).all()
    assert [(r.action, r.basis) for r in rows] == [("case.emergency_access", EMERGENCY),
                                                    ("case.viewed", EMERGENCY)]
    details = json.loads(rows[0].details)
    assert details["access_id"] == grant.id
    assert all("Mor ringte" not in r.details for r in rows)  # the reason is not in the log

    notes = session.scalars(select(Notification).where(
        Notification.kind == "emergency_access")).all()
    assert [(n.user_id, n.case_id, n.kind) for n in notes] == [
        (w.leader.id, case.id, "emergency_access")]
    assert str(grant.id) in notes[0].dedupe_key
    assert json.loads(notes[0].details)["access_id"] == grant.id
    assert "Mor ringte" not in notes[0].details

    # a second emergency access is a second notification (dedupe key per access)
    g2 = access.request_emergency_access(w.ctx(w.outsider), case.id, REASON)
    session.commit()
    assert g2.id != grant.id
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "emergency_access")) == 2


def test_emergency_ends_after_24_hours(world, session):
    case = open_case(world)
    w = world
    access.request_emergency_access(w.ctx(w.outsider), case.id, REASON)
    session.commit()
    almost = FIXED_NOW + timedelta(hours=23, minutes=59)
    assert cases.get_case(w.ctx(w.outsider, now=almost), case.id).basis == EMERGENCY
    for later in (FIXED_NOW + timedelta(hours=24), FIXED_NOW + timedelta(days=3)):
        with pytest.raises(NotFound):
            cases.get_case(w.ctx(w.outsider, now=later), case.id)


def test_emergency_access_does_not_survive_deactivation(world, session):
    case = open_case(world)
    access.request_emergency_access(world.ctx(world.outsider), case.id, REASON)
    session.commit()
    world.outsider.active = False
    session.flush()
    with pytest.raises(NotFound):
        cases.get_case(world.ctx(world.outsider), case.id)


def test_emergency_reads_but_fires_no_workflow_transition(world, session):
    case = open_case(world)
    to_n1(world, case)
    w = world
    access.request_emergency_access(w.ctx(w.psychologist), case.id, REASON)
    access_, actions = cases.list_actions(w.ctx(w.psychologist), case.id)
    assert access_.relations == {EMERGENCY}
    allowed = {a.transition.trigger for a in actions if a.allowed}
    assert allowed <= {"report_barnevernet", "avvergeplikt"}, allowed
    assert actions, "the refused actions are listed with their reasons"
    version = case.version
    for trigger, payload in (("add_note", {"text": "Eit notat"}), ("start", None),
                             ("add_participant", {"participant": w.psychologist.id,
                                                  "service": w.ppt.id}),
                             ("appoint_stafettholder", {"stafettholder": w.psychologist.id})):
        with pytest.raises(TransitionRefused) as err:
            cases.fire(w.ctx(w.psychologist), case.id, trigger, payload)
        assert "role" in {r.code for r in err.value.refusals}, trigger
    assert case.version == version


# --- consent withdrawal revokes access at once (AUTHZ-05) ----------------------------------------


def _case_with_nurse(world):
    """A case at n2 with the nurse admitted through a consent covering the health station."""
    w = world
    case = open_case(w)
    to_n1(w, case)
    c = w.ctx(w.coordinator)
    consent = cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse og trivsel",
        "given_on": TODAY.isoformat()}).entry.object_id
    cases.fire(c, case.id, "add_participant", {"participant": w.nurse.id,
                                               "service": w.health.id})
    return case, consent


def test_withdrawal_revokes_the_participant_on_the_next_request(world, session, engine):
    from bti.db.engine import make_session_factory

    case, consent = _case_with_nurse(world)
    session.commit()
    # the nurse's "open page": her own session, reading the case
    with make_session_factory(engine)() as nurse_session:
        def nurse_ctx():
            return Ctx(session=nurse_session, actor=world.nurse, workflows=world.registry,
                             now=lambda: FIXED_NOW)

        assert cases.get_case(nurse_ctx(), case.id).basis == "participant"
        nurse_session.commit()
        cases.fire(world.ctx(world.coordinator), case.id, "withdraw_consent",
                   {"consent": consent})
        session.commit()
        with pytest.raises(NotFound):  # the very next request
            cases.get_case(nurse_ctx(), case.id)
        nurse_session.rollback()
    ended = session.scalar(select(Participant).where(Participant.user_id == world.nurse.id))
    assert ended.ended_at is not None
    assert ended.end_reason == "consent_withdrawn"


# --- who has seen this case (innsyn i logg) ------------------------------------------------------


def test_case_log_for_the_stafettholder_and_the_privacy_officer_only(world, session):
    case = open_case(world)
    to_n1(world, case)
    cases.get_case(world.ctx(world.leader), case.id)
    session.commit()
    officer = make_user(session, world.municipality, None, ("privacy_officer",),
                        display_name="Personvern Per")
    log = access.case_access_log(world.ctx(world.coordinator), case.id)
    assert log.basis == "stafettholder"
    actions = [(r.actor_id, r.action) for r in log.rows]
    assert (world.teacher.id, "case.opened") in actions
    assert (world.leader.id, "case.viewed") in actions
    viewed = next(r for r in log.rows if r.action == "case.viewed")
    assert viewed.actor_name == world.leader.display_name
    assert viewed.unit_name == "Nordvik skule"
    assert viewed.basis == "unit_leader"
    assert access.case_access_log(world.ctx(officer), case.id).basis == "privacy_officer"
    for user in (world.teacher, world.leader, world.nurse, world.admin, world.foreign):
        with pytest.raises(NotFound):
            access.case_access_log(world.ctx(user), case.id)
    with pytest.raises(NotFound):
        access.case_access_log(world.ctx(world.coordinator), case.id + 1000)
    session.commit()
    seen = session.scalars(select(AuditEvent.actor_id).where(
        AuditEvent.action == "case.access_log_viewed")).all()
    assert seen == [world.coordinator.id, officer.id]


def test_case_log_export_is_audited_and_holds_no_reason_or_child_name(world, session):
    case = open_case(world)
    to_n1(world, case)
    access.request_emergency_access(world.ctx(world.outsider), case.id, REASON)
    session.commit()
    doc = access.export_case_access_log(world.ctx(world.coordinator), case.id)
    session.commit()
    text = json.dumps(doc, ensure_ascii=False)
    assert doc["case_id"] == case.id
    assert {"case.opened", "case.emergency_access"} <= {e["action"] for e in doc["entries"]}
    assert "Test B." not in text
    assert "Mor ringte" not in text
    exported = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.access_log_exported")).all()
    assert [(e.actor_id, e.case_id) for e in exported] == [(world.coordinator.id, case.id)]


# --- access-log search -------------------------------------------------------------------------


def test_search_scopes_leader_to_unit_and_officer_to_municipality(world, session):
    w = world
    school_case = open_case(w)  # the school's unit
    ppt_case = open_case(w, w.psychologist)  # PPT's unit
    foreign_case = open_case(w, w.foreign)
    session.commit()
    officer = make_user(session, w.municipality, None, ("privacy_officer",))
    leader = access.search_log(w.ctx(w.leader), access.LogFilter())
    assert leader.scope == "unit"
    assert {r.case_id for r in leader.rows} == {school_case.id}
    whole = access.search_log(w.ctx(officer), access.LogFilter())
    assert whole.scope == "municipality"
    assert {school_case.id, ppt_case.id} <= {r.case_id for r in whole.rows}
    assert foreign_case.id not in {r.case_id for r in whole.rows}
    # the leader cannot reach another unit's case by filtering for it
    assert access.search_log(w.ctx(w.leader), access.LogFilter(case_id=ppt_case.id)).total == 0
    with pytest.raises(Forbidden):
        access.search_log(w.ctx(w.teacher), access.LogFilter())


def test_search_filters_and_is_itself_logged(world, session):
    w = world
    case = open_case(w)
    cases.get_case(w.ctx(w.leader), case.id)
    session.commit()
    officer = make_user(session, w.municipality, None, ("privacy_officer",))
    ctx = w.ctx(officer)
    assert {r.actor_id for r in access.search_log(ctx, access.LogFilter(
        user_id=w.leader.id)).rows} == {w.leader.id}
    by_name = access.search_log(ctx, access.LogFilter(username="rektor", action="case.viewed"))
    assert [(r.actor_id, r.action) for r in by_name.rows] == [(w.leader.id, "case.viewed")]
    assert access.search_log(ctx, access.LogFilter(username="finst-ikkje")).total == 0
    assert access.search_log(ctx, access.LogFilter(date_from=TODAY, date_to=TODAY)).total >= 2
    assert access.search_log(ctx, access.LogFilter(
        date_from=TODAY + timedelta(days=1))).total == 0
    session.commit()
    searches = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.searched")
                               .order_by(AuditEvent.seq)).all()
    assert len(searches) == 5
    assert json.loads(searches[1].details)["filter_user_id"] == w.leader.id
    assert "rektor" not in searches[1].details  # ids only
    assert not list(audit.verify(session))


def test_search_pages(world, session):
    w = world
    case = open_case(w)
    for _ in range(access.PAGE_SIZE + 5):
        cases.get_case(w.ctx(w.leader), case.id)
    session.commit()
    first = access.search_log(w.ctx(w.leader), access.LogFilter(action="case.viewed"))
    second = access.search_log(w.ctx(w.leader), access.LogFilter(action="case.viewed"), page=2)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (
        access.PAGE_SIZE + 5, 2, access.PAGE_SIZE, 5)
