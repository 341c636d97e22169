"""The organisation kept by its administrators (bti.services.accounts.org, .orgimport) and
inter-municipal services in cases: units created, changed, deactivated (never with open cases),
the operator's municipalities, the CSV import (all or nothing, problems by line), and the staff
of a service serving another municipality taking part in its cases only when a consent covers
the service, seeing nothing of the others. Real database (SQLite, and PostgreSQL with
``BTI_TEST_DATABASE=postgres``); all names are made up."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.engine import TransitionRefused
from bti.services.accounts import org
from bti.services.accounts import orgimport
from bti.services.accounts.users import load_actor
from bti.services.cases import casepage
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.factories import to_n1


def _actions(session, action: str) -> list[AuditEvent]:
    session.flush()
    from bti.services.access import audit

    audit.write_pending(session)
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _operator(world) -> Ctx:
    return Ctx.system(world.session, workflows=world.registry, now=lambda: FIXED_NOW)


# --- units ---------------------------------------------------------------------------------------


def test_the_admin_creates_changes_and_deactivates_a_unit(world, session):
    w = world
    ctx = w.ctx(w.admin)
    created = org.create_unit(ctx, name="  Bakken   barnehage ", kind="kindergarten",
                              service="Oppvekst")
    assert (created.name, created.kind, created.service, created.active) == (
        "Bakken barnehage", "kindergarten", "Oppvekst", True)
    assert created.municipality_id == w.municipality.id
    changed = org.update_unit(ctx, created.id, name="Bakken barnehage", kind="kindergarten",
                              service="")
    assert changed.service is None
    done = org.deactivate_unit(ctx, created.id)
    assert done.active is False
    assert org.reactivate_unit(ctx, created.id).active is True
    rows = {a: _actions(session, a) for a in ("unit.created", "unit.changed",
                                               "unit.deactivated", "unit.reactivated")}
    assert all(len(r) == 1 for r in rows.values()), rows
    assert json.loads(rows["unit.changed"][0].details)["service"] is None
    assert "Bakken" not in str(rows["unit.created"][0].details)  # ids and fields, no names


def test_bad_unit_fields_are_refused_field_by_field(world):
    w = world
    ctx = w.ctx(w.admin)
    with pytest.raises(InvalidInput) as err:
        org.create_unit(ctx, name="", kind="castle", service="x" * 201)
    assert err.value.fields == {"name": ["required"], "kind": ["invalid"],
                                "service": ["too_long"]}
    with pytest.raises(InvalidInput) as err:
        org.create_unit(ctx, name="nordvik SKULE", kind="school")  # case aside: taken
    assert err.value.fields == {"name": ["taken"]}


def test_a_unit_with_open_cases_is_not_deactivated(world, session):
    w = world
    cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test B.",
                    child_birth_year=2016, concern=CONCERN)
    with pytest.raises(InvalidInput) as err:
        org.deactivate_unit(w.ctx(w.admin), w.school.id)
    assert err.value.fields == {"unit": ["open_cases"]}
    assert err.value.params == {"count": 1}
    assert session.get(Unit, w.school.id).active is True


def test_no_case_opens_in_a_deactivated_unit_and_it_is_offered_no_more(world):
    w = world
    org.deactivate_unit(w.ctx(w.admin), w.ppt.id)
    assert w.ppt.id not in {u.id for u in casepage.units(w.ctx(w.teacher))}
    with pytest.raises(InvalidInput) as err:
        cases.open_case(w.ctx(w.teacher), unit_id=w.ppt.id, child_pseudonym="Test B.",
                        child_birth_year=2016, concern=CONCERN)
    assert err.value.fields["unit_id"] == ["inactive_unit"]


def test_another_municipalitys_unit_answers_like_a_missing_one(world):
    w = world
    foreign_unit = w.session.get(User, w.foreign.id).unit_id
    ctx = w.ctx(w.admin)
    for call in (lambda: org.get_unit(ctx, foreign_unit),
                 lambda: org.update_unit(ctx, foreign_unit, name="Min no"),
                 lambda: org.deactivate_unit(ctx, foreign_unit),
                 lambda: org.get_unit(ctx, 999_999)):
        with pytest.raises(NotFound):
            call()
    assert foreign_unit not in {u.id for u in org.list_units(ctx)}


@pytest.mark.parametrize("who", ["teacher", "leader", "coordinator", "foreign"])
def test_only_the_admin_keeps_the_organisation(world, who):
    w = world
    ctx = w.ctx(getattr(w, who))
    with pytest.raises(Forbidden):
        org.list_units(ctx)
    with pytest.raises(Forbidden):
        org.create_unit(ctx, name="Ny", kind="school")
    with pytest.raises(Forbidden):
        org.get_unit(ctx, w.school.id)
    with pytest.raises(Forbidden):
        orgimport.import_file(ctx, b"record,unit,kind\nunit,Ny,school\n")


def test_leaders_and_coordinators_of_a_unit_are_its_users_with_those_roles(world):
    w = world
    unit = org.get_unit(w.ctx(w.admin), w.school.id)
    assert [p.id for p in unit.leaders] == [w.leader.id]
    assert [p.id for p in unit.coordinators] == [w.coordinator.id]


def test_the_admin_renames_their_municipality_and_only_the_operator_creates_one(world, session):
    w = world
    assert org.rename_municipality(w.ctx(w.admin), " Nordvik  kommune ").name == \
        "Nordvik kommune"
    with pytest.raises(Forbidden):
        org.create_municipality(w.ctx(w.admin), slug="ny", name="Ny", workflow_id="bti-standard")
    op = _operator(w)
    made = org.create_municipality(op, slug="Nabodal", name="Nabodal kommune",
                                   workflow_id="bti-standard", malform="nn")
    assert made.slug == "nabodal"
    with pytest.raises(InvalidInput) as err:
        org.create_municipality(op, slug="nabodal", name="", workflow_id="bti-standard",
                                malform="se")
    assert err.value.fields == {"slug": ["taken"], "name": ["required"], "malform": ["invalid"]}
    created = _actions(session, "municipality.created")
    assert len(created) == 1
    assert created[0].municipality_id == made.id
    assert json.loads(created[0].details)["via"] == "cli"


def test_a_municipality_with_open_cases_is_not_deactivated_and_its_users_cannot_sign_in(
        world, session):
    from bti.services.accounts import auth
    from bti.services.accounts.passwords import hash_password

    w = world
    op = _operator(w)
    cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test B.",
                    child_birth_year=2016, concern=CONCERN)
    with pytest.raises(InvalidInput):
        org.set_municipality_active(op, w.municipality.slug, False)
    other = w.session.get(User, w.foreign.id)
    other.password_hash = hash_password("eit langt nok passord for testen")
    assert auth.authenticate(session, other.username, "eit langt nok passord for testen",
                             now=FIXED_NOW) is not None
    slug = other.unit.municipality.slug
    assert org.set_municipality_active(op, slug, False).active is False
    assert auth.authenticate(session, other.username, "eit langt nok passord for testen",
                             now=FIXED_NOW) is None
    assert len(_actions(session, "municipality.deactivated")) == 1


# --- the import -------------------------------------------------------------------------------

GOOD = ("record;unit;kind;service;serves;username;name;email;roles\n"
        "unit;Bakken barnehage;kindergarten;Oppvekst;;;;;\n"
        "user;Bakken barnehage;;;;bente.bakke;Bente Bakke;bente@bti-test.invalid;"
        "employee leader\n"
        "\n"
        "user;Nordvik skule;;;;sara.sol;Sara Sol;;employee\n"
        "user;;;;;pia.pol;Pia Pol;;privacy_officer\n")


def test_a_good_file_imports_units_and_users_with_one_time_passwords(world, session):
    w = world
    result = orgimport.import_file(w.ctx(w.admin), GOOD.encode())
    assert result.units == ["Bakken barnehage"]
    assert [u.username for u in result.users] == ["bente.bakke", "sara.sol", "pia.pol"]
    bente = session.scalar(select(User).where(User.username == "bente.bakke"))
    unit = session.get(Unit, bente.unit_id)
    assert (unit.name, unit.municipality_id) == ("Bakken barnehage", w.municipality.id)
    assert bente.roles == {"employee", "leader"}
    assert bente.password_change_required is True
    assert bente.email == "bente@bti-test.invalid"
    from bti.services.accounts.passwords import check_password

    assert check_password(bente.password_hash, result.users[0].password)
    created = _actions(session, "user.created")
    assert len(created) == 3
    assert all(result.users[0].password not in str(a.details) for a in created)
    assert json.loads(_actions(session, "org.imported")[0].details)["users"] == 3


def test_a_bad_file_imports_nothing_and_names_every_bad_row_by_line(world, session):
    w = world
    before = (session.scalar(select(User.id).order_by(User.id.desc()).limit(1)),
              session.scalar(select(Unit.id).order_by(Unit.id.desc()).limit(1)))
    bad = ("record,unit,kind,service,serves,username,name,email,roles\n"
           "unit,Ny skule,school,,,,,,\n"                      # 2: fine
           "unit,Nordvik skule,school,,,,,,\n"                 # 3: taken
           "user,Ny skule,,,,ny.brukar,Ny Brukar,,employee\n"  # 4: fine
           "user,Ukjend eining,,,,kari,Kari,nei,boss\n"        # 5: four problems
           "user,,,,,ny.brukar,Ny To,,employee\n"              # 6: twice in the file
           "hest,,,,,,,,\n"                                    # 7: unknown record
           "unit,Fjell skule,school,,nowhere,,,,\n")           # 8: unknown municipality
    with pytest.raises(orgimport.ImportRefused) as err:
        orgimport.import_file(w.ctx(w.admin), bad.encode())
    assert [(p.line, p.column, p.code) for p in err.value.problems] == [
        (3, "unit", "taken"),
        (5, "unit", "unknown_unit"), (5, "username", "taken"), (5, "email", "invalid_email"),
        (5, "roles", "invalid_role"),
        (6, "username", "duplicate_in_file"),
        (7, "record", "unknown_record"),
        (8, "serves", "unknown_municipality"),
    ]
    session.flush()
    assert (session.scalar(select(User.id).order_by(User.id.desc()).limit(1)),
            session.scalar(select(Unit.id).order_by(Unit.id.desc()).limit(1))) == before


@pytest.mark.parametrize(("data", "expected"), [
    (b"\xff\xfe not utf-8", [(0, "file", "not_utf8")]),
    (b"record,unit,colour\n", [(1, "colour", "unknown_column")]),
    (b"unit,kind\nNy,school\n", [(1, "record", "missing_column")]),
    (b"record,unit,kind\n", [(1, "file", "empty")]),
    (b"record,unit,kind\nunit,Ny\n", [(2, "file", "wrong_column_count")]),
    (b'record,unit,kind\nunit,"Ny,school\n', [(2, "file", "not_csv")]),
])
def test_a_file_that_cannot_be_read_is_refused_whole(world, data, expected):
    w = world
    with pytest.raises(orgimport.ImportRefused) as err:
        orgimport.import_file(w.ctx(w.admin), data)
    assert [(p.line, p.column, p.code) for p in err.value.problems] == expected


def test_the_operator_imports_into_the_municipality_named(world, session):
    w = world
    other = make_municipality(session)
    result = orgimport.import_file(_operator(w), b"\xef\xbb\xbfrecord,unit,kind\n"
                                   b"unit,Fjell skule,school\n", other.id)
    assert result.units == ["Fjell skule"]
    unit = session.scalar(select(Unit).where(Unit.name == "Fjell skule"))
    assert unit.municipality_id == other.id
    rows = _actions(session, "unit.created")
    assert rows[0].municipality_id == other.id
    assert rows[0].actor_id is None


# --- inter-municipal services ------------------------------------------------------------------


@pytest.fixture
def ipm(world, session):
    """The PPT of a host municipality serving the world's municipality (and a third one not):
    its adviser, a case of the world's school at nivå 1."""
    w = world
    host = make_municipality(session, name="Vertskommune")
    ppt = make_unit(session, host, "ppt", name="Interkommunal PPT")
    org.update_unit(_operator(w), ppt.id, serves=[w.municipality.id])
    adviser = make_user(session, host, ppt, ("employee",), username="ipm.ppt")
    session.flush()
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test B.",
                           child_birth_year=2016, concern=CONCERN).case
    to_n1(w, case)
    return ppt, adviser, case


def _as(session, user) -> Ctx:
    return Ctx(session=session, actor=load_actor(session, user.id),
               workflows=None, now=lambda: FIXED_NOW)  # type: ignore[arg-type]


def _consent(world, case, *units):
    return cases.fire(world.ctx(world.coordinator), case.id, "give_consent", {
        "given_by": "guardians", "services": [u.id for u in units],
        "information": "Skule og PPT", "given_on": TODAY.isoformat()})


def test_the_actor_knows_the_municipalities_its_unit_serves(world, session, ipm):
    ppt, adviser, _ = ipm
    assert load_actor(session, adviser.id).served_municipality_ids == {world.municipality.id}
    assert session.get(User, adviser.id).as_actor().served_municipality_ids == \
        {world.municipality.id}


def test_a_serving_service_takes_part_when_a_consent_covers_it(world, session, ipm):
    w = world
    ppt, adviser, case = ipm
    # offered in the case's pick lists (service and person)
    assert ppt.id in {u.id for u in casepage.units(w.ctx(w.coordinator), case.municipality_id)}
    assert adviser.id in {c.id for c in casepage.colleagues(w.ctx(w.coordinator),
                                                            case.municipality_id)}
    # without a consent covering it: refused
    with pytest.raises(TransitionRefused):
        cases.fire(w.ctx(w.coordinator), case.id, "add_participant",
                   {"participant": adviser.id, "service": ppt.id})
    _consent(w, case, ppt)
    cases.fire(w.ctx(w.coordinator), case.id, "add_participant",
               {"participant": adviser.id, "service": ppt.id})
    session.flush()
    ctx = _as(session, adviser)
    ctx.workflows = w.registry
    access = cases.get_case(ctx, case.id)
    assert access.basis == "participant"
    assert case.id in inbox.my_inbox(ctx).case_ids()
    # names of the serving unit and its staff are shown in the case's log
    page = casepage.case_page(w.ctx(w.coordinator), case.id)
    assert "Interkommunal PPT" in repr(page)


def test_serving_staff_see_nothing_of_other_cases_and_lose_access_when_it_stops_serving(
        world, session, ipm):
    w = world
    ppt, adviser, case = ipm
    other_case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Anna A.",
                                 child_birth_year=2015, concern=CONCERN).case
    _consent(w, case, ppt)
    cases.fire(w.ctx(w.coordinator), case.id, "add_participant",
               {"participant": adviser.id, "service": ppt.id})
    session.flush()
    ctx = _as(session, adviser)
    ctx.workflows = w.registry
    with pytest.raises(NotFound):
        cases.get_case(ctx, other_case.id)
    assert other_case.id not in inbox.my_inbox(ctx).case_ids()
    # the host stops serving the municipality: the participant row stays, access ends
    org.update_unit(_operator(w), ppt.id, serves=[])
    session.flush()
    ctx = _as(session, adviser)
    ctx.workflows = w.registry
    with pytest.raises(NotFound):
        cases.get_case(ctx, case.id)
    assert case.id not in inbox.my_inbox(ctx).case_ids()


def test_a_service_that_does_not_serve_the_municipality_cannot_take_part(world, session, ipm):
    w = world
    _, _, case = ipm
    third = make_municipality(session)
    stranger_unit = make_unit(session, third, "ppt", name="Fjern PPT")
    stranger = make_user(session, third, stranger_unit, ("employee",), username="fjern.ppt")
    session.flush()
    assert stranger_unit.id not in {u.id for u in casepage.units(w.ctx(w.coordinator),
                                                                 case.municipality_id)}
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.coordinator), case.id, "give_consent", {
            "given_by": "guardians", "services": [stranger_unit.id],
            "information": "Fjern", "given_on": TODAY.isoformat()})
    assert "not_in_municipality" in str(err.value.refusals)
    with pytest.raises(TransitionRefused):
        cases.fire(w.ctx(w.coordinator), case.id, "add_participant",
                   {"participant": stranger.id, "service": stranger_unit.id})
    ctx = _as(session, stranger)
    ctx.workflows = w.registry
    with pytest.raises(NotFound):
        cases.get_case(ctx, case.id)


def test_serving_staff_are_only_participants_there_never_leaders_or_stafettholders(
        world, session, ipm):
    w = world
    ppt, adviser, case = ipm
    boss = make_user(session, ppt.municipality, ppt, ("employee", "leader"),
                     username="ipm.leiar")
    session.flush()
    _consent(w, case, ppt)
    # a serving unit's staff member is not a stafettholder of the municipality's case
    with pytest.raises(TransitionRefused):
        cases.fire(w.ctx(w.coordinator), case.id, "propose_handover",
                   {"to_user": adviser.id, "reason": "PPT tek over"})
    ctx = _as(session, boss)
    ctx.workflows = w.registry
    with pytest.raises(NotFound):  # a leader of the serving unit is no unit_leader here
        cases.get_case(ctx, case.id)


def test_unit_municipality_rows_belong_to_the_host(world, session, ipm):
    ppt, _, _ = ipm
    rows = list(session.scalars(select(UnitMunicipality).where(
        UnitMunicipality.unit_id == ppt.id)))
    assert [r.municipality_id for r in rows] == [world.municipality.id]
    # the served municipality's admin sees it as serving, cannot keep it
    ctx = world.ctx(world.admin)
    assert [u.id for u, _ in org.serving_units(ctx)] == [ppt.id]
    with pytest.raises(NotFound):
        org.update_unit(ctx, ppt.id, serves=[])
    with pytest.raises(InvalidInput):  # a unit never "serves" its own host
        org.update_unit(_operator(world), ppt.id, serves=[ppt.municipality_id])
