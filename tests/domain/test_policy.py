"""Who may … (bti.domain.policy), tested as the pure functions they are: every predicate against
every kind of actor (role × unit × municipality × active), and the case-level ones against every
relation, refusals included. No database, no app.

Each table names who is allowed; everyone else in ``ACTORS`` must be refused. A predicate of the
module that no table covers fails ``test_every_predicate_is_in_a_table``."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from bti.domain import policy
from bti.domain.org import Actor
from bti.domain.vocabulary import Relation

MUNICIPALITY = 1
OTHER_MUNICIPALITY = 2
SCHOOL = 10
HEALTH = 20


def actor(id_: int, *roles: str, unit: int | None = SCHOOL, municipality: int = MUNICIPALITY,
          active: bool = True) -> Actor:
    return Actor(id=id_, municipality_id=municipality, unit_id=unit, roles=frozenset(roles),
                 active=active)


#: One of each kind of user bti knows, all in municipality 1 unless named otherwise.
ACTORS: dict[str, Actor] = {
    "employee": actor(1, "employee"),
    "coordinator": actor(2, "employee", "coordinator"),
    "leader": actor(3, "employee", "leader"),
    "leader_only": actor(4, "leader"),
    "leader_no_unit": actor(5, "leader", unit=None),
    "admin": actor(6, "admin", unit=None),
    "admin_employee": actor(7, "admin", "employee"),
    "privacy": actor(8, "privacy_officer", unit=None),
    "privacy_leader": actor(9, "privacy_officer", "leader"),
    "no_role": actor(10),
    "foreign_leader": actor(11, "employee", "leader", municipality=OTHER_MUNICIPALITY),
}
#: The same people, deactivated: refused by every predicate.
INACTIVE = {f"{name}_inactive": replace(a, active=False) for name, a in ACTORS.items()}

CASE_WORKERS = {"employee", "coordinator", "leader", "leader_only", "leader_no_unit",
                "admin_employee", "privacy_leader", "foreign_leader"}
LEADERS = {"leader", "leader_only", "leader_no_unit", "privacy_leader", "foreign_leader"}
ADMINS = {"admin", "admin_employee"}
PRIVACY = {"privacy", "privacy_leader"}

#: predicate over the user alone → who may (everyone else may not).
USER_PREDICATES = {
    policy.works_on_cases: CASE_WORKERS,
    policy.may_view_analytics: LEADERS | ADMINS,
    policy.may_use_leader_views: LEADERS,
    policy.may_drill_down: LEADERS - {"leader_no_unit"},
    policy.may_see_practice_progress: LEADERS - {"leader_no_unit"},
    policy.may_browse_catalogue: CASE_WORKERS | ADMINS,
    policy.may_view_catalogue: LEADERS | ADMINS,
    policy.may_edit_catalogue: LEADERS | ADMINS,
    policy.may_administer_users: ADMINS,
    policy.may_administer_organisation: ADMINS,
    policy.may_read_guide: set(ACTORS) - {"no_role"},
    policy.may_search_access_log: LEADERS | PRIVACY,
    policy.may_follow_up_access_log: (LEADERS - {"leader_no_unit"}) | PRIVACY,
    policy.may_self_authorise: {"employee", "coordinator", "leader", "foreign_leader"},
    policy.may_administer_teams: ADMINS,
    policy.may_use_teams: CASE_WORKERS,
    policy.may_view_ip_overview: LEADERS - {"leader_no_unit"},
    policy.may_read_annual_wheel: set(ACTORS) - {"no_role"},
    policy.may_keep_annual_wheel: (LEADERS - {"leader_no_unit"}) | ADMINS,
    policy.may_handle_family_concerns: LEADERS - {"leader_no_unit"},
}


def _cells(table):
    for predicate, allowed in table.items():
        for name, who in (ACTORS | INACTIVE).items():
            yield pytest.param(predicate, who, name in allowed,
                               id=f"{predicate.__name__}-{name}")


@pytest.mark.parametrize(("predicate", "who", "expected"), list(_cells(USER_PREDICATES)))
def test_user_predicates(predicate, who, expected):
    assert predicate(who) is expected


def test_every_allowed_name_is_an_actor():
    for allowed in USER_PREDICATES.values():
        assert allowed <= ACTORS.keys()


# --- scopes ----------------------------------------------------------------------------------

SCOPES = {
    # actor: (access_log_scope, review_scope)
    "employee": (None, None),
    "coordinator": (None, None),
    "leader": ("unit", "unit"),
    "leader_only": ("unit", "unit"),
    "leader_no_unit": ("unit", None),  # searches, and finds nothing; follows nothing up
    "admin": (None, None),
    "admin_employee": (None, None),
    "privacy": ("municipality", "municipality"),
    "privacy_leader": ("municipality", "municipality"),
    "no_role": (None, None),
    "foreign_leader": ("unit", "unit"),
}


@pytest.mark.parametrize("name", sorted(ACTORS))
def test_scopes(name):
    assert (policy.access_log_scope(ACTORS[name]), policy.review_scope(ACTORS[name])) \
        == SCOPES[name]
    inactive = INACTIVE[f"{name}_inactive"]
    assert (policy.access_log_scope(inactive), policy.review_scope(inactive)) == (None, None)


# --- a case's export and its access log ------------------------------------------------------

STAFETTHOLDER = Relation.STAFETTHOLDER.value
#: Every relation a user can have to a case, alone.
RELATIONS = [frozenset(), *(frozenset({r.value}) for r in Relation)]

EXPORT_BASIS = [
    # actor, case municipality, relations → basis
    *((ACTORS["coordinator"], MUNICIPALITY, rel,
       STAFETTHOLDER if STAFETTHOLDER in rel else None) for rel in RELATIONS),
    *((ACTORS["leader"], MUNICIPALITY, rel,
       STAFETTHOLDER if STAFETTHOLDER in rel else None) for rel in RELATIONS),
    *((ACTORS["privacy"], MUNICIPALITY, rel, "privacy_officer") for rel in RELATIONS),
    (ACTORS["privacy"], OTHER_MUNICIPALITY, frozenset(), None),
    (ACTORS["coordinator"], OTHER_MUNICIPALITY, frozenset({STAFETTHOLDER}), None),
    (ACTORS["leader"], MUNICIPALITY, frozenset({Relation.UNIT_LEADER.value,
                                                 Relation.REPORTER.value}), None),
    (ACTORS["leader"], MUNICIPALITY, frozenset({Relation.UNIT_LEADER.value,
                                                 STAFETTHOLDER}), STAFETTHOLDER),
    (ACTORS["admin"], MUNICIPALITY, frozenset(), None),
    (ACTORS["admin_employee"], MUNICIPALITY, frozenset({STAFETTHOLDER}), STAFETTHOLDER),
    (replace(ACTORS["coordinator"], active=False), MUNICIPALITY, frozenset({STAFETTHOLDER}),
     None),
    (replace(ACTORS["privacy"], active=False), MUNICIPALITY, frozenset(), None),
]


@pytest.mark.parametrize(("who", "municipality", "rels", "expected"), EXPORT_BASIS)
def test_export_and_case_log_basis(who, municipality, rels, expected):
    assert policy.export_basis(who, municipality, rels) == expected
    assert policy.case_log_basis(who, municipality, rels) == expected


ARCHIVE = [
    (ACTORS["privacy"], MUNICIPALITY, True),
    (ACTORS["privacy_leader"], MUNICIPALITY, True),
    (ACTORS["privacy"], OTHER_MUNICIPALITY, False),
    (replace(ACTORS["privacy"], active=False), MUNICIPALITY, False),
    *((ACTORS[n], MUNICIPALITY, False) for n in ACTORS if n not in PRIVACY),
]


@pytest.mark.parametrize(("who", "municipality", "expected"), ARCHIVE)
def test_archive(who, municipality, expected):
    assert policy.may_archive_case(who, municipality) is expected


TIMELINE = [
    (ACTORS["leader"], MUNICIPALITY, SCHOOL, True),
    (ACTORS["leader_only"], MUNICIPALITY, SCHOOL, True),
    (ACTORS["leader"], MUNICIPALITY, HEALTH, False),  # another unit's case
    (ACTORS["leader"], OTHER_MUNICIPALITY, SCHOOL, False),
    (ACTORS["leader_no_unit"], MUNICIPALITY, SCHOOL, False),
    (replace(ACTORS["leader"], active=False), MUNICIPALITY, SCHOOL, False),
    (ACTORS["employee"], MUNICIPALITY, SCHOOL, False),  # of the unit, not its leader
    (ACTORS["admin_employee"], MUNICIPALITY, SCHOOL, False),
    (ACTORS["foreign_leader"], MUNICIPALITY, SCHOOL, False),
]


@pytest.mark.parametrize(("who", "municipality", "unit", "expected"), TIMELINE)
def test_case_timeline(who, municipality, unit, expected):
    assert policy.may_view_case_timeline(who, municipality, unit) is expected


# --- opening a case, the second factor -------------------------------------------------------

OPEN = [
    (ACTORS["employee"], {"employee"}, True),
    (ACTORS["coordinator"], {"coordinator"}, True),
    (ACTORS["coordinator"], {"leader"}, False),
    (ACTORS["admin"], {"employee", "coordinator", "leader"}, False),
    (ACTORS["privacy"], {"employee"}, False),
    (ACTORS["no_role"], {"employee"}, False),
    (ACTORS["employee"], set(), False),  # a workflow that opens to nobody
    (replace(ACTORS["employee"], active=False), {"employee"}, False),
]


@pytest.mark.parametrize(("who", "opening", "expected"), OPEN)
def test_open_case(who, opening, expected):
    assert policy.may_open_case(who, frozenset(opening)) is expected


@pytest.mark.parametrize(("roles", "expected"), [
    ({"admin"}, True),
    (set(), True),  # sees nothing at all
    ({"admin", "employee"}, False),  # an employee sees case content
    ({"employee"}, False),
    ({"leader"}, False),
    ({"privacy_officer"}, False),
    ({"coordinator"}, False),
])
def test_second_factor(roles, expected):
    assert policy.may_skip_second_factor(frozenset(roles)) is expected


# --- self-authorisation: nobody acts on themself ---------------------------------------------

ADMIN = ACTORS["admin"]


@pytest.mark.parametrize(("who", "user_id", "expected"), [
    (ADMIN, ACTORS["employee"].id, True),
    (ADMIN, ACTORS["admin_employee"].id, True),  # another administrator
    (ADMIN, ADMIN.id, False),  # their own roles, their own deactivation
    (ACTORS["admin_employee"], ACTORS["admin_employee"].id, False),
    (replace(ADMIN, active=False), ACTORS["employee"].id, False),
    (ACTORS["leader"], ACTORS["employee"].id, False),
    (ACTORS["privacy"], ACTORS["employee"].id, False),
])
def test_change_account(who, user_id, expected):
    assert policy.may_change_account(who, user_id) is expected


@pytest.mark.parametrize(("reviewer", "subject", "expected"), [(1, 2, True), (2, 1, True),
                                                                (3, 3, False)])
def test_review_user(reviewer, subject, expected):
    assert policy.may_review_user(reviewer, subject) is expected


LEADER = ACTORS["leader"]
PRIVACY_OFFICER = ACTORS["privacy"]
REVIEW_ITEMS = [
    # actor, item municipality, item unit, subject → may review
    (LEADER, MUNICIPALITY, SCHOOL, ACTORS["employee"].id, True),
    (LEADER, MUNICIPALITY, HEALTH, ACTORS["employee"].id, False),  # another unit's user
    (LEADER, MUNICIPALITY, None, ACTORS["employee"].id, False),  # a user without a unit
    (LEADER, OTHER_MUNICIPALITY, SCHOOL, ACTORS["employee"].id, False),
    (LEADER, MUNICIPALITY, SCHOOL, LEADER.id, False),  # their own emergency access, say
    (PRIVACY_OFFICER, MUNICIPALITY, SCHOOL, ACTORS["employee"].id, True),
    (PRIVACY_OFFICER, MUNICIPALITY, None, LEADER.id, True),
    (PRIVACY_OFFICER, MUNICIPALITY, None, PRIVACY_OFFICER.id, False),
    (PRIVACY_OFFICER, OTHER_MUNICIPALITY, None, ACTORS["employee"].id, False),
    (ACTORS["leader_no_unit"], MUNICIPALITY, None, ACTORS["employee"].id, False),
    (ACTORS["admin"], MUNICIPALITY, SCHOOL, ACTORS["employee"].id, False),
    (ACTORS["employee"], MUNICIPALITY, SCHOOL, ACTORS["coordinator"].id, False),
    (replace(PRIVACY_OFFICER, active=False), MUNICIPALITY, SCHOOL, ACTORS["employee"].id,
     False),
]


@pytest.mark.parametrize(("who", "municipality", "unit", "subject", "expected"), REVIEW_ITEMS)
def test_review_item(who, municipality, unit, subject, expected):
    assert policy.may_review_item(who, municipality, unit, subject) is expected


# --- the organisation and inter-municipal services ------------------------------------------

SERVED = 3  # a municipality the PPT of municipality 1 serves


@pytest.mark.parametrize("name", sorted(ACTORS | INACTIVE))
def test_unit_and_municipality_are_their_own_admins(name):
    who = (ACTORS | INACTIVE)[name]
    admin = name in ADMINS
    assert policy.may_manage_unit(who, MUNICIPALITY) is admin
    assert policy.may_manage_unit(who, OTHER_MUNICIPALITY) is False  # another's unit: 404
    assert policy.may_edit_municipality(who, MUNICIPALITY) is admin
    assert policy.may_edit_municipality(who, OTHER_MUNICIPALITY) is False


def test_serves_municipality():
    assert policy.serves_municipality(MUNICIPALITY, frozenset(), MUNICIPALITY)
    assert policy.serves_municipality(MUNICIPALITY, {SERVED}, SERVED)
    assert not policy.serves_municipality(MUNICIPALITY, {SERVED}, OTHER_MUNICIPALITY)
    assert not policy.serves_municipality(MUNICIPALITY, frozenset(), SERVED)


def test_take_part_only_where_the_unit_serves():
    ppt = replace(ACTORS["employee"], served_municipality_ids=frozenset({SERVED}))
    assert policy.may_take_part_in_municipality(ppt, MUNICIPALITY)
    assert policy.may_take_part_in_municipality(ppt, SERVED)
    assert not policy.may_take_part_in_municipality(ppt, OTHER_MUNICIPALITY)
    assert not policy.may_take_part_in_municipality(ACTORS["employee"], SERVED)
    assert not policy.may_take_part_in_municipality(replace(ppt, active=False), SERVED)
# --- team arenas ------------------------------------------------------------------------------

TEAM_MEMBER_ROLES = [
    (frozenset({"employee"}), True),
    (frozenset({"leader"}), True),
    (frozenset({"coordinator"}), True),
    (frozenset({"admin"}), False),
    (frozenset({"privacy_officer"}), False),
    (frozenset({"admin", "employee"}), True),
    (frozenset(), False),
]


@pytest.mark.parametrize(("roles", "expected"), TEAM_MEMBER_ROLES)
def test_team_member_roles(roles, expected):
    assert policy.may_be_team_member(roles) is expected


EMPLOYEE = ACTORS["employee"]
VIEW_TEAM = [
    (EMPLOYEE, MUNICIPALITY, True, True),
    (EMPLOYEE, MUNICIPALITY, False, False),  # not a member, or a former member
    (EMPLOYEE, OTHER_MUNICIPALITY, True, False),
    (INACTIVE["employee_inactive"], MUNICIPALITY, True, False),
    (ACTORS["admin"], MUNICIPALITY, True, False),  # an administrator sees no agenda
    (ACTORS["privacy"], MUNICIPALITY, True, False),
    (ACTORS["leader"], MUNICIPALITY, True, True),
]


@pytest.mark.parametrize(("who", "municipality", "member", "expected"), VIEW_TEAM)
def test_view_team(who, municipality, member, expected):
    assert policy.may_view_team(who, municipality, member) is expected


TEAM_CASE = [
    (EMPLOYEE, SCHOOL, frozenset(), True),  # the case's own service
    (EMPLOYEE, HEALTH, frozenset(), False),  # another service, no consent
    (EMPLOYEE, HEALTH, frozenset({SCHOOL}), True),  # a consent covers the member's service
    (EMPLOYEE, HEALTH, frozenset({HEALTH}), False),
    (ACTORS["leader_no_unit"], HEALTH, frozenset({HEALTH}), False),
    (INACTIVE["employee_inactive"], SCHOOL, frozenset({SCHOOL}), False),
]


@pytest.mark.parametrize(("who", "case_unit", "covered", "expected"), TEAM_CASE)
def test_see_team_case(who, case_unit, covered, expected):
    assert policy.may_see_team_case(who, case_unit, covered) is expected


ASK_TEAM = [
    (EMPLOYEE, MUNICIPALITY, True, True),
    (EMPLOYEE, MUNICIPALITY, False, False),  # a deactivated team takes no questions
    (EMPLOYEE, OTHER_MUNICIPALITY, True, False),
    (ACTORS["admin"], MUNICIPALITY, True, False),
    (ACTORS["no_role"], MUNICIPALITY, True, False),
]


@pytest.mark.parametrize(("who", "municipality", "active", "expected"), ASK_TEAM)
def test_ask_team(who, municipality, active, expected):
    assert policy.may_ask_team(who, municipality, active) is expected
# --- the individual plan ---------------------------------------------------------------------


@pytest.mark.parametrize(("who", "holder", "coordinator", "expected"), [
    (ACTORS["employee"], 1, None, True),  # the stafettholder
    (ACTORS["employee"], 2, 1, True),  # the coordinator
    (ACTORS["employee"], 2, 3, False),  # a member, say, neither of them
    (ACTORS["employee"], None, None, False),
    (replace(ACTORS["employee"], active=False), 1, 1, False),
])
def test_may_edit_ansvarsgruppe(who, holder, coordinator, expected):
    assert policy.may_edit_ansvarsgruppe(who, holder, coordinator) is expected


@pytest.mark.parametrize(("roles", "expected"), [
    ({"employee"}, True), ({"coordinator"}, True), ({"leader"}, True), ({"admin"}, False),
    ({"privacy_officer"}, False), (set(), False), ({"admin", "employee"}, True),
])
def test_may_hold_cases(roles, expected):
    assert policy.may_hold_cases(frozenset(roles)) is expected
FAMILY_MANAGERS = [
    *((ACTORS["coordinator"], MUNICIPALITY, rel, STAFETTHOLDER in rel) for rel in RELATIONS),
    *((ACTORS["leader"], MUNICIPALITY, rel, STAFETTHOLDER in rel) for rel in RELATIONS),
    *((ACTORS[n], MUNICIPALITY, frozenset(), False) for n in ACTORS),
    (ACTORS["coordinator"], OTHER_MUNICIPALITY, frozenset({STAFETTHOLDER}), False),
    (replace(ACTORS["coordinator"], active=False), MUNICIPALITY, frozenset({STAFETTHOLDER}),
     False),
]


@pytest.mark.parametrize(("who", "municipality", "rels", "expected"), FAMILY_MANAGERS)
def test_only_the_stafettholder_manages_the_family(who, municipality, rels, expected):
    assert policy.may_manage_family(who, municipality, rels) is expected


FAMILY_READS = [
    # role, redeemed, ended, violence flag → may read
    ("guardian", True, False, False, True),
    ("youth", True, False, False, True),
    ("guardian", True, False, True, False),  # the safety rule: never while flagged
    ("youth", True, False, True, True),
    ("guardian", False, False, False, False),  # an invitation not redeemed
    ("guardian", True, True, False, False),  # an ended access
    ("youth", True, True, False, False),
]


@pytest.mark.parametrize(("role", "redeemed", "ended", "flag", "expected"), FAMILY_READS)
def test_family_reads(role, redeemed, ended, flag, expected):
    assert policy.family_may_read(role=role, redeemed=redeemed, ended=ended,
                                  violence_flag=flag) is expected


# --- the tables cover the module ---------------------------------------------------------------

COVERED = {*USER_PREDICATES, policy.access_log_scope, policy.review_scope, policy.export_basis,
           policy.case_log_basis, policy.may_archive_case, policy.may_view_case_timeline,
           policy.may_open_case, policy.may_skip_second_factor, policy.may_change_account,
           policy.may_review_user, policy.may_review_item, policy.may_manage_unit,
           policy.may_edit_municipality, policy.serves_municipality,
           policy.may_take_part_in_municipality, policy.may_be_team_member,
           policy.may_view_team, policy.may_see_team_case, policy.may_ask_team,
           policy.may_take_moved_case, policy.may_export_transfer,
           policy.may_edit_ansvarsgruppe, policy.may_hold_cases,
           policy.may_manage_family, policy.family_may_read,
           policy.may_edit_annual_wheel_item}


def test_every_predicate_is_in_a_table():
    public = {f for name, f in vars(policy).items()
              if inspect.isfunction(f) and f.__module__ == policy.__name__
              and not name.startswith("_")}
    assert public == COVERED, sorted(f.__name__ for f in public ^ COVERED)


# --- moves: the new stafettholder of a moved case, the transfer bundle --------------------------

#: Who may be named stafettholder when a case moves to SCHOOL: case workers of that unit.
TAKE_MOVED = [
    *((ACTORS[n], SCHOOL, ACTORS[n].unit_id == SCHOOL and n in CASE_WORKERS) for n in ACTORS),
    (ACTORS["employee"], HEALTH, False),  # another unit's colleague
    (ACTORS["leader_no_unit"], SCHOOL, False),
    *((replace(ACTORS[n], active=False), SCHOOL, False) for n in ACTORS),
]


@pytest.mark.parametrize(("who", "unit", "expected"), TAKE_MOVED)
def test_take_moved_case(who, unit, expected):
    assert policy.may_take_moved_case(who, unit) is expected


TRANSFER_EXPORT = [
    (ACTORS["coordinator"], MUNICIPALITY, True),
    (ACTORS["privacy"], MUNICIPALITY, True),
    (ACTORS["privacy_leader"], MUNICIPALITY, True),
    (ACTORS["coordinator"], OTHER_MUNICIPALITY, False),
    (ACTORS["privacy"], OTHER_MUNICIPALITY, False),
    (replace(ACTORS["coordinator"], active=False), MUNICIPALITY, False),
    *((ACTORS[n], MUNICIPALITY, False) for n in ACTORS
      if n not in PRIVACY | {"coordinator"}),
]


@pytest.mark.parametrize(("who", "municipality", "expected"), TRANSFER_EXPORT)
def test_transfer_export(who, municipality, expected):
    assert policy.may_export_transfer(who, municipality) is expected


# --- the annual wheel: who keeps which routine -------------------------------------------------

#: (actor, the item's municipality, its unit (None: the whole municipality)) → may edit.
WHEEL_ITEMS = [
    # the administrator: the municipality's routines and every unit's, in their municipality
    *((ACTORS[n], MUNICIPALITY, unit, True) for n in ADMINS for unit in (None, SCHOOL, HEALTH)),
    *((ACTORS[n], OTHER_MUNICIPALITY, unit, False) for n in ADMINS for unit in (None, SCHOOL)),
    # a leader: their own unit's routines only
    *((ACTORS[n], MUNICIPALITY, SCHOOL, True) for n in ("leader", "leader_only",
                                                         "privacy_leader")),
    *((ACTORS[n], MUNICIPALITY, unit, False) for n in ("leader", "leader_only", "privacy_leader")
      for unit in (None, HEALTH)),
    (ACTORS["leader_no_unit"], MUNICIPALITY, None, False),
    (ACTORS["leader_no_unit"], MUNICIPALITY, SCHOOL, False),
    (ACTORS["foreign_leader"], MUNICIPALITY, SCHOOL, False),  # same unit id, other municipality
    (ACTORS["foreign_leader"], OTHER_MUNICIPALITY, SCHOOL, True),
    # everyone else, and everyone deactivated
    *((ACTORS[n], MUNICIPALITY, unit, False) for n in ("employee", "coordinator", "privacy",
                                                       "no_role") for unit in (None, SCHOOL)),
    *((INACTIVE[f"{n}_inactive"], MUNICIPALITY, SCHOOL, False) for n in ACTORS),
]


@pytest.mark.parametrize(("who", "municipality", "unit", "expected"), WHEEL_ITEMS)
def test_edit_annual_wheel_item(who, municipality, unit, expected):
    assert policy.may_edit_annual_wheel_item(who, municipality, unit) is expected
