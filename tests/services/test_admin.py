"""User administration services (AUTHZ-07, SESS-02, AUTHN-01): municipality isolation, no case
content for admins, sessions ended at once, everything audited without names or passwords."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from bti.domain.log import AuditEvent
from bti.domain.org import User
from bti.domain.org import UserSession
from bti.services.accounts import admin
from bti.services.accounts import auth
from bti.services.accounts.users import password_problems
from bti.services.cases import lifecycle as cases
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user


def audit_rows(session) -> list[AuditEvent]:
    session.commit()  # audit rows are written, chained, at commit
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_list_users_shows_only_the_own_municipality(world, session):
    found = admin.list_users(world.ctx(world.admin))
    names = {u.username for u in found}
    assert "nabokommune" not in names
    assert {"kari", "ola", "rektor", "admin"} <= names
    kari = next(u for u in found if u.username == "kari")
    assert kari.roles == ("employee",)
    assert kari.unit_name == "Nordvik skule"
    assert kari.active
    assert not kari.mfa_enrolled
    assert kari.last_sign_in is None


def test_last_sign_in_and_mfa_enrolled_are_shown(world, session):
    auth.start_session(session, world.teacher.as_actor(), now=FIXED_NOW)
    world.teacher.totp_secret = auth.new_totp_secret()
    session.flush()
    kari = admin.get_user(world.ctx(world.admin), world.teacher.id)
    assert kari.last_sign_in == FIXED_NOW
    assert kari.mfa_enrolled


@pytest.mark.parametrize("who", ["teacher", "leader", "coordinator"])
def test_non_admins_are_refused(world, who):
    ctx = world.ctx(getattr(world, who))
    for call in (lambda: admin.list_users(ctx),
                 lambda: admin.get_user(ctx, world.teacher.id),
                 lambda: admin.deactivate_user(ctx, world.teacher.id),
                 lambda: admin.create_user(ctx, username="ny.bruker", display_name="Ny Bruker",
                                           unit_id=None, roles=["employee"])):
        with pytest.raises(Forbidden):
            call()


def test_create_user_with_a_generated_one_time_password(world, session):
    created = admin.create_user(world.ctx(world.admin), username="per.test",
                                display_name="Per Testesen", unit_id=world.school.id,
                                roles=["employee", "coordinator"])
    assert password_problems(created.password, username="per.test") == []
    assert len(created.password) >= 20
    user = session.get(User, created.user.id)
    assert user.municipality_id == world.municipality.id
    assert user.roles == {"employee", "coordinator"}
    assert user.password_hash != created.password
    assert check_password_hash(user.password_hash, created.password)
    assert auth.authenticate(session, "per.test", created.password, now=FIXED_NOW) is not None
    rows = [r for r in audit_rows(session) if r.action == "user.created"]
    assert len(rows) == 1
    assert rows[0].object_id == user.id
    assert rows[0].actor_id == world.admin.id
    details = json.loads(rows[0].details)
    assert details["roles"] == ["employee", "coordinator"]
    assert details["unit_id"] == world.school.id
    assert "Per" not in rows[0].details
    assert created.password not in rows[0].details


def test_generated_passwords_differ():
    assert len({admin.generate_password() for _ in range(50)}) == 50


def test_create_user_refuses_bad_input(world):
    ctx = world.ctx(world.admin)
    foreign_unit = make_unit(world.session, make_municipality(world.session))
    with pytest.raises(InvalidInput) as err:
        admin.create_user(ctx, username="kari", display_name="  ", unit_id=foreign_unit.id,
                          roles=["superuser"])
    assert err.value.fields == {"username": ["taken"], "display_name": ["required"],
                                "unit_id": ["not_in_municipality"], "roles": ["invalid"]}
    with pytest.raises(InvalidInput) as err:
        admin.create_user(ctx, username="bad name!", display_name="Ok", unit_id=None, roles=[])
    assert err.value.fields == {"username": ["invalid"], "roles": ["required"]}


def test_deactivation_ends_every_open_session_at_once(world, session):
    tokens = [auth.start_session(session, world.teacher.as_actor(), now=FIXED_NOW)
              for _ in range(2)]
    assert auth.resolve(session, tokens[0], now=FIXED_NOW) is not None
    ended = admin.deactivate_user(world.ctx(world.admin), world.teacher.id)
    assert ended == 2
    session.expire_all()
    for token in tokens:
        assert auth.resolve(session, token, now=FIXED_NOW) is None
    reasons = {s.end_reason for s in session.scalars(
        select(UserSession).where(UserSession.user_id == world.teacher.id))}
    assert reasons == {"deactivated"}
    assert session.get(User, world.teacher.id).active is False
    assert auth.authenticate(session, "kari", "whatever", now=FIXED_NOW) is None
    row = [r for r in audit_rows(session) if r.action == "user.deactivated"][0]
    assert row.object_id == world.teacher.id
    assert json.loads(row.details) == {"sessions_ended": 2}


def test_reactivation(world, session):
    ctx = world.ctx(world.admin)
    admin.deactivate_user(ctx, world.teacher.id)
    admin.reactivate_user(ctx, world.teacher.id)
    assert session.get(User, world.teacher.id).active is True
    actions = [r.action for r in audit_rows(session)]
    assert actions.count("user.deactivated") == 1
    assert actions.count("user.reactivated") == 1


def test_an_admin_cannot_deactivate_or_rerole_themselves(world, session):
    ctx = world.ctx(world.admin)
    with pytest.raises(InvalidInput):
        admin.deactivate_user(ctx, world.admin.id)
    with pytest.raises(InvalidInput):
        admin.change_roles(ctx, world.admin.id, ["admin", "leader"])
    assert session.get(User, world.admin.id).active is True
    assert session.get(User, world.admin.id).roles == {"admin"}


def test_reset_mfa_clears_the_secret_and_ends_sessions(world, session):
    world.teacher.totp_secret = auth.new_totp_secret()
    world.teacher.totp_last_step = 123
    token = auth.start_session(session, world.teacher.as_actor(), now=FIXED_NOW)
    assert admin.reset_mfa(world.ctx(world.admin), world.teacher.id) == 1
    session.expire_all()
    user = session.get(User, world.teacher.id)
    assert user.totp_secret is None
    assert user.totp_last_step is None
    assert auth.resolve(session, token, now=FIXED_NOW) is None
    row = [r for r in audit_rows(session) if r.action == "user.mfa_reset"][0]
    assert row.object_id == world.teacher.id
    assert "totp" not in row.details.lower()


def test_change_roles_is_audited_with_role_names_only(world, session):
    summary = admin.change_roles(world.ctx(world.admin), world.teacher.id,
                                 ["coordinator", "employee"])
    assert summary.roles == ("employee", "coordinator")
    admin.change_roles(world.ctx(world.admin), world.teacher.id, ["leader"])
    session.expire_all()
    assert session.get(User, world.teacher.id).roles == {"leader"}
    rows = [json.loads(r.details) for r in audit_rows(session) if r.action == "user.roles_changed"]
    assert rows == [{"added": ["coordinator"], "removed": []},
                    {"added": ["leader"], "removed": ["employee", "coordinator"]}]
    with pytest.raises(InvalidInput):
        admin.change_roles(world.ctx(world.admin), world.teacher.id, ["root"])
    with pytest.raises(InvalidInput):
        admin.change_roles(world.ctx(world.admin), world.teacher.id, [])


def test_admin_of_one_municipality_cannot_see_or_change_another(world, session):
    ctx = world.ctx(world.admin)
    foreign = world.foreign
    for call in (lambda: admin.get_user(ctx, foreign.id),
                 lambda: admin.deactivate_user(ctx, foreign.id),
                 lambda: admin.reactivate_user(ctx, foreign.id),
                 lambda: admin.reset_mfa(ctx, foreign.id),
                 lambda: admin.change_roles(ctx, foreign.id, ["admin"]),
                 lambda: admin.get_user(ctx, 987654)):
        with pytest.raises(NotFound):
            call()
    session.expire_all()
    assert session.get(User, foreign.id).active is True
    assert session.get(User, foreign.id).roles == {"employee", "leader"}
    # and an admin of the other municipality sees none of ours
    other_admin = make_user(session, session.get(type(world.municipality),
                                                  foreign.municipality_id), None, ("admin",))
    theirs = {u.id for u in admin.list_users(world.ctx(other_admin))}
    assert world.teacher.id not in theirs
    assert foreign.id in theirs


def test_admin_sees_no_case_content(world, session):
    case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Test B.",
                           child_birth_year=2016, concern=CONCERN).case
    with pytest.raises(NotFound):
        cases.get_case(world.ctx(world.admin), case.id)
    with pytest.raises(NotFound):
        cases.log_entries(world.ctx(world.admin), case.id)
