"""Consent the family gives, refuses and withdraws themselves (bti.services.family.consent),
the young person's say over the guardians' access, and family reads in the access-log review,
on SQLite and PostgreSQL. Every name is made up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.cases import Consent
from bti.domain.cases import Participant
from bti.domain.family import FamilyMember
from bti.domain.log import AuditReviewItem
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.access import audit
from bti.services.access import review
from bti.services.cases import lifecycle as cases
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family import consent
from bti.services.family import invitations
from bti.services.family import view
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import to_n1
from tests.services.test_family import family


@pytest.fixture
def case(world):
    c = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Sam Qx",
                        child_birth_year=TODAY.year - 9,
                        concern={"what_seen": "Trøytt i timane."}).case
    to_n1(world, c)
    return c


def join(world, case, role="guardian", person="pid-guardian-1"):
    made = invitations.invite(world.ctx(world.coordinator), case.id, role)
    actor = family(world, person)
    invitations.redeem(world.session, actor, made.code, now=FIXED_NOW)
    return actor


def give(world, actor, case, **kw):
    args = {"decision": "give", "services": [world.health.id],
            "information": "Trivsel og helse", **kw}
    return consent.decide(world.session, actor, case.id, world.registry, now=FIXED_NOW, **args)


def test_a_guardians_consent_has_the_effects_of_a_staff_record(world, case):
    guardian = join(world, case)
    coordinator = world.ctx(world.coordinator)
    with pytest.raises(TransitionRefused):  # no consent covers the health station yet
        cases.fire(coordinator, case.id, "add_participant",
                   {"participant": world.nurse.id, "service": world.health.id})
    result = give(world, guardian, case, expires_on=(TODAY + timedelta(days=90)).isoformat())
    row = world.session.get(Consent, result.entry.object_id)
    assert (row.status, row.given_by, row.channel) == ("given", "guardians", "family")
    assert row.given_by_identity_id == guardian.identity_id
    assert row.recorded_by_id == world.coordinator.id  # received by the stafettholder
    assert row.unit_ids == {world.health.id}
    assert row.expires_on == TODAY + timedelta(days=90)
    entry = world.session.get(StafettloggEntry, result.entry.id)
    assert entry.trigger == "give_consent"
    assert json.loads(entry.data)["via"] == {"channel": "family", "role": "guardian",
                                             "provider": "idporten"}
    # the coordinator's next request admits the nurse: the service is covered
    cases.fire(coordinator, case.id, "add_participant",
               {"participant": world.nurse.id, "service": world.health.id})
    assert cases.get_case(world.ctx(world.nurse), case.id).basis == "participant"
    rows = [r for r in audit.pending(world.session) if r["action"] == "case.transition"
            and json.loads(r["details"]).get("channel") == "family"]
    assert len(rows) == 1
    assert rows[0]["actor_id"] is None
    details = json.loads(rows[0]["details"])
    assert details["identity_id"] == guardian.identity_id
    assert details["trigger"] == "give_consent"
    assert rows[0]["basis"] == "guardian"


def test_withdrawal_by_the_family_ends_the_participant_at_once(world, case):
    guardian = join(world, case)
    given = give(world, guardian, case).entry.object_id
    cases.fire(world.ctx(world.coordinator), case.id, "add_participant",
               {"participant": world.nurse.id, "service": world.health.id})
    panel = consent.panel(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    assert [(r.id, r.may_withdraw, r.by_family) for r in panel.current] == [(given, True, True)]
    consent.withdraw(world.session, guardian, case.id, given, world.registry, now=FIXED_NOW)
    with pytest.raises(NotFound):
        cases.get_case(world.ctx(world.nurse), case.id)
    part = world.session.scalar(select(Participant).where(Participant.user_id == world.nurse.id))
    assert part.end_reason == "consent_withdrawn"
    row = world.session.get(Consent, given)
    assert row.status == "withdrawn"
    assert row.withdrawn_by_identity_id == guardian.identity_id
    with pytest.raises(InvalidInput) as err:  # once only
        consent.withdraw(world.session, guardian, case.id, given, world.registry, now=FIXED_NOW)
    assert err.value.fields == {"consent": ["not_active"]}


def test_a_refusal_is_recorded(world, case):
    guardian = join(world, case)
    result = consent.decide(world.session, guardian, case.id, world.registry, now=FIXED_NOW,
                            decision="refuse", services=[world.health.id], notes="Ikkje no.")
    row = world.session.get(Consent, result.entry.object_id)
    assert (row.status, row.channel, row.notes) == ("refused", "family", "Ikkje no.")
    assert consent.panel(world.session, guardian, case.id, world.registry,
                         now=FIXED_NOW).current == []


@pytest.mark.parametrize(("kw", "field", "code"), [
    ({"services": []}, "services", None),
    ({"expires_on": (TODAY - timedelta(days=1)).isoformat()}, "expires_on", None),
    ({"expires_on": "not a date"}, "expires_on", None),
    ({"information": "  "}, "information", "required"),
    ({"decision": "maybe"}, "decision", "not_a_choice"),
])
def test_bad_input_writes_nothing(world, case, kw, field, code):
    guardian = join(world, case)
    world.session.flush()
    before = (world.session.query(Consent).count(), case.log_seq)
    with pytest.raises((InvalidInput, TransitionRefused)) as err:
        give(world, guardian, case, **kw)
    if isinstance(err.value, InvalidInput):
        assert field in err.value.fields
        if code:
            assert err.value.fields[field] == [code]
    else:
        fields = {k for r in err.value.refusals for k in (r.fields or {})}
        assert field in fields
    assert (world.session.query(Consent).count(), case.log_seq) == before


def test_the_young_persons_own_consent_is_needed_from_the_age(world, case):
    case.child_birth_year = TODAY.year - 16
    guardian = join(world, case)
    youth = join(world, case, "youth", "pid-youth-1")
    give(world, guardian, case)
    with pytest.raises(TransitionRefused):  # the guardians' consent alone covers nothing now
        cases.fire(world.ctx(world.coordinator), case.id, "add_participant",
                   {"participant": world.nurse.id, "service": world.health.id})
    result = give(world, youth, case)
    assert world.session.get(Consent, result.entry.object_id).given_by == "youth"
    cases.fire(world.ctx(world.coordinator), case.id, "add_participant",
               {"participant": world.nurse.id, "service": world.health.id})
    panel = consent.panel(world.session, youth, case.id, world.registry, now=FIXED_NOW)
    assert panel.youth_required
    assert panel.may_end_guardians
    # each party withdraws only its own
    guardian_consent = next(r for r in panel.current if r.given_by == "guardians")
    assert not guardian_consent.may_withdraw
    with pytest.raises(InvalidInput):
        consent.withdraw(world.session, youth, case.id, guardian_consent.id, world.registry,
                         now=FIXED_NOW)


def test_the_young_person_decides_whether_the_guardians_keep_access(world, case):
    case.child_birth_year = TODAY.year - 16
    guardian = join(world, case)
    other = join(world, case, person="pid-guardian-2")
    youth = join(world, case, "youth", "pid-youth-1")
    with pytest.raises(InvalidInput):  # a guardian cannot
        consent.end_guardians(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    assert consent.end_guardians(world.session, youth, case.id, world.registry,
                                 now=FIXED_NOW) == 2
    for actor in (guardian, other):
        with pytest.raises(NotFound):
            view.case_page(world.session, actor, case.id, world.registry, now=FIXED_NOW)
    reasons = world.session.scalars(select(FamilyMember.end_reason).where(
        FamilyMember.case_id == case.id, FamilyMember.role == "guardian")).all()
    assert reasons == ["youth", "youth"]
    actions = [r["action"] for r in audit.pending(world.session)
               if json.loads(r["details"]).get("channel") == "family"]
    assert actions.count("family.access_ended") == 2
    assert "family.guardians_ended" in actions
    view.case_page(world.session, youth, case.id, world.registry, now=FIXED_NOW)  # still in


def test_below_the_age_the_young_person_does_not_end_the_guardians(world, case):
    case.child_birth_year = TODAY.year - 15
    youth = join(world, case, "youth", "pid-youth-1")
    join(world, case)
    case.child_birth_year = TODAY.year - 14  # the workflow's age not reached
    with pytest.raises((InvalidInput, NotFound)):
        consent.end_guardians(world.session, youth, case.id, world.registry, now=FIXED_NOW)


def test_other_family_sees_and_changes_nothing(world, case):
    join(world, case)
    stranger = family(world, "pid-guardian-9")
    with pytest.raises(NotFound):
        give(world, stranger, case)
    with pytest.raises(NotFound):
        consent.panel(world.session, stranger, case.id, world.registry, now=FIXED_NOW)


def test_a_burst_of_family_reads_trips_the_review_threshold(world, session):
    """Family reads count in the access-log review like staff reads: many cases in an hour."""
    rules = review.Rules(many_cases_per_hour=3)
    opened = []
    for i in range(3):
        c = cases.open_case(world.ctx(world.teacher), unit_id=None,
                            child_pseudonym=f"Burst {i}", child_birth_year=TODAY.year - 9,
                            concern={"what_seen": "Trøytt."}).case
        to_n1(world, c)
        opened.append(c)
    guardian = None
    for c in opened:
        made = invitations.invite(world.ctx(world.coordinator), c.id, "guardian")
        guardian = guardian or family(world, "pid-burst")
        invitations.redeem(world.session, guardian, made.code, now=FIXED_NOW)
    session.commit()
    review.run_review(session, FIXED_NOW, rules=rules)
    session.commit()
    assert session.scalars(select(AuditReviewItem).where(
        AuditReviewItem.subject_identity_id.is_not(None))).all() == []
    for c in opened:
        view.case_page(session, guardian, c.id, world.registry, now=FIXED_NOW)
    session.commit()
    run = review.run_review(session, FIXED_NOW + timedelta(minutes=1), rules=rules)
    session.commit()
    items = session.scalars(select(AuditReviewItem).where(
        AuditReviewItem.subject_identity_id == guardian.identity_id)).all()
    assert [(i.pattern, i.count) for i in items] == [("many_cases", 3)]
    assert items[0].subject_user_id is None
    assert run.items["many_cases"] >= 1
