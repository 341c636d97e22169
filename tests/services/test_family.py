"""The family as a participant (bti.services.family): invitations, redeeming a code, what the
family sees, and the safety rules, on SQLite and PostgreSQL. Every name is made up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.family import FamilyMember
from bti.domain.log import AuditEvent
from bti.services.cases import lifecycle as cases
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family import invitations
from bti.services.family import sessions
from bti.services.family import view
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import to_n1

KEY = b"a-test-identity-hmac-key-0123456789abcdef"
ISSUER = "http://idporten.test"


@pytest.fixture
def case(world):
    c = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Fam Qx",
                        child_birth_year=TODAY.year - 9,
                        concern={"what_seen": "Trøytt i timane."}).case
    to_n1(world, c)
    return c


def family(world, person: str = "pid-guardian-1"):
    identity = sessions.identify(world.session, municipality=world.municipality, issuer=ISSUER,
                                 subject_claim="pid", person=person, key=KEY, now=FIXED_NOW)
    sessions.start(world.session, identity, municipality_id=world.municipality.id, now=FIXED_NOW)
    return sessions.FamilyActor(identity.id, world.municipality.id, 0)


def test_the_identity_number_is_never_stored(world):
    actor = family(world, "24818299835")  # a synthetic Tenor number
    rows = world.session.execute(select(AuditEvent.details)).scalars().all()
    assert all("24818299835" not in r for r in rows)
    from bti.domain.org import ExternalIdentity

    identity = world.session.get(ExternalIdentity, actor.identity_id)
    assert "24818299835" not in identity.subject_hmac
    assert identity.provider == f"{ISSUER}#pid"
    assert identity.user_id is None
    # the same person is recognised next time
    assert family(world, "24818299835").identity_id == actor.identity_id


def test_only_the_stafettholder_invites(world, case):
    with pytest.raises(NotFound):
        invitations.invite(world.ctx(world.teacher), case.id, "guardian")
    with pytest.raises(NotFound):
        invitations.invite(world.ctx(world.foreign), case.id, "guardian")
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    assert len(invitations.normalised(made.code)) == 16
    member = world.session.get(FamilyMember, made.member.id)
    assert member.code_hash == invitations.code_hash(made.code)
    assert made.code.replace("-", "") not in member.code_hash
    assert member.expires_at == FIXED_NOW + timedelta(days=14)


def test_the_young_person_only_from_the_consent_age(world, case):
    with pytest.raises(InvalidInput) as err:
        invitations.invite(world.ctx(world.coordinator), case.id, "youth")
    assert err.value.fields == {"role": ["too_young"]}
    case.child_birth_year = TODAY.year - 15
    made = invitations.invite(world.ctx(world.coordinator), case.id, "youth")
    assert made.member.role == "youth"


def test_a_code_is_redeemed_once_and_links_the_identity(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    guardian = family(world)
    typed = made.code.lower().replace("-", " ")  # as read aloud and typed on a phone
    member = invitations.redeem(world.session, guardian, typed, now=FIXED_NOW)
    assert member.identity_id == guardian.identity_id
    other = family(world, "pid-guardian-2")
    with pytest.raises(InvalidInput) as err:
        invitations.redeem(world.session, other, made.code, now=FIXED_NOW)
    assert err.value.fields == {"code": ["invalid"]}
    page = view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    assert page.level.number == 1
    with pytest.raises(NotFound):  # another guardian sees nothing
        view.case_page(world.session, other, case.id, world.registry, now=FIXED_NOW)
    assert [c.case_id for c in view.my_cases(world.session, guardian, world.registry,
                                              now=FIXED_NOW)] == [case.id]
    assert view.my_cases(world.session, other, world.registry, now=FIXED_NOW) == []


def test_an_expired_code_is_refused(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    with pytest.raises(InvalidInput) as err:
        invitations.redeem(world.session, family(world), made.code,
                           now=FIXED_NOW + timedelta(days=14))
    assert err.value.fields == {"code": ["expired"]}


def test_every_family_read_is_audited_on_the_family_channel(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    guardian = family(world)
    invitations.redeem(world.session, guardian, made.code, now=FIXED_NOW)
    view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    doc = view.export(world.session, guardian, case.id, now=FIXED_NOW)
    # the family's own link is in it, never an invitation's code hash (a credential)
    assert doc["family_members"]
    assert all("code_hash" not in m for m in doc["family_members"])
    assert "role" in doc["family_members"][0]
    from bti.services.access import audit

    rows = audit.pending(world.session)
    family_rows = [r for r in rows if json.loads(r["details"]).get("channel") == "family"]
    actions = [r["action"] for r in family_rows]
    assert "family.joined" in actions
    assert "family.case_viewed" in actions
    assert "case.exported" in actions
    assert all(r["case_id"] == case.id for r in family_rows
               if r["action"] in ("family.case_viewed", "case.exported"))


def test_ended_access_sees_nothing(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    guardian = family(world)
    invitations.redeem(world.session, guardian, made.code, now=FIXED_NOW)
    with pytest.raises(InvalidInput) as err:
        invitations.end_access(world.ctx(world.coordinator), case.id, made.member.id, " ")
    assert err.value.fields == {"note": ["required"]}
    invitations.end_access(world.ctx(world.coordinator), case.id, made.member.id,
                           "Flytta frå kommunen.")
    with pytest.raises(NotFound):
        view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    _a, rows, _r = invitations.members(world.ctx(world.coordinator), case.id)
    assert rows[0].status(FIXED_NOW) == "ended"
    assert rows[0].end_note == "Flytta frå kommunen."


def test_a_violence_flag_ends_every_guardian_and_lifting_it_restores_nothing(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    pending = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    guardian = family(world)
    invitations.redeem(world.session, guardian, made.code, now=FIXED_NOW)
    cases.fire(world.ctx(world.coordinator), case.id, "flag_violence",
               {"reason": "Barnet fortalde om slag."})
    with pytest.raises(NotFound):
        view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    with pytest.raises(InvalidInput):  # an open guardian code no longer works
        invitations.redeem(world.session, family(world, "pid-guardian-3"), pending.code,
                           now=FIXED_NOW)
    with pytest.raises(InvalidInput) as err:  # and no guardian can be invited
        invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    assert err.value.fields == {"role": ["violence_flag"]}
    cases.fire(world.ctx(world.coordinator), case.id, "clear_violence_flag",
               {"reason": "Avklart med barnevernet."})
    with pytest.raises(NotFound):
        view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    ended = world.session.scalars(select(FamilyMember.end_reason)).all()
    assert ended == ["violence_flag", "violence_flag"]


def test_who_has_seen_the_case_names_staff_and_the_family_by_role(world, case):
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    guardian = family(world)
    invitations.redeem(world.session, guardian, made.code, now=FIXED_NOW)
    cases.get_case(world.ctx(world.teacher), case.id)
    world.session.commit()  # the audit rows are written at the commit
    page = view.case_page(world.session, guardian, case.id, world.registry, now=FIXED_NOW)
    names = {r.name for r in page.seen if not r.family}
    assert world.teacher.display_name in names
    assert any(r.family and r.action == "family.joined" for r in page.seen)
