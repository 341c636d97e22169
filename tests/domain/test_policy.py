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
    policy.may_browse_catalogue: CASE_WORKERS | ADMINS,
    policy.may_view_catalogue: LEADERS | ADMINS,
    policy.may_edit_catalogue: LEADERS | ADMINS,
    policy.may_administer_users: ADMINS,
    policy.may_read_guide: set(ACTORS) - {"no_role"},
    policy.may_search_access_log: LEADERS | PRIVACY,
    policy.may_follow_up_access_log: (LEADERS - {"leader_no_unit"}) | PRIVACY,
    policy.may_self_authorise: {"employee", "coordinator", "leader", "foreign_leader"},
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


# --- the tables cover the module ---------------------------------------------------------------

COVERED = {*USER_PREDICATES, policy.access_log_scope, policy.review_scope, policy.export_basis,
           policy.case_log_basis, policy.may_archive_case, policy.may_view_case_timeline,
           policy.may_open_case, policy.may_skip_second_factor, policy.may_change_account,
           policy.may_review_user, policy.may_review_item}


def test_every_predicate_is_in_a_table():
    public = {f for name, f in vars(policy).items()
              if inspect.isfunction(f) and f.__module__ == policy.__name__
              and not name.startswith("_")}
    assert public == COVERED, sorted(f.__name__ for f in public ^ COVERED)
