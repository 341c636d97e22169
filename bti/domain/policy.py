"""Who may …: every access decision of bti as a pure function over plain values.

A predicate reads the actor (``bti.domain.org.Actor``: id, municipality, unit, roles, whether
active) and, where a case or another user is concerned, plain facts about it: the case's
municipality and unit, the actor's relations to the case (``bti.domain.rules.relations``), a
user id. No queries, no framework. The same function answers everywhere:

* services call it before they read or write anything (``Forbidden`` or ``NotFound`` when it
  says no);
* routes name it in their declaration, ``@policy.allowed(who.may_view_analytics)``
  (``bti.web.policy``), checked before the view runs (403 when it says no);
* the menu shows a link exactly when its route's predicate holds (``bti.web.ui.main_menu``).

Deny by default: every predicate answers False (or None) for an inactive actor, and for every
role and relation it does not name.

Where the other rules live: which relations a user has to a case, and so which cases they see
(need-to-know), is ``bti.domain.rules``; what a workflow step asks of the user (its roles and
relations) and of the case (its guards) is the workflow file with the case's facts
(``bti.services.cases.facts``); days and dates are ``bti.domain.clock``. A municipality's
settings (its workflow, second factor, retention, målform) are changed by the operator on the
command line (``bti municipality set``), and a municipality is created, deactivated and
reactivated there too (``bti municipality create|deactivate|reactivate``): installation-level
acts outside any user's rights (there is no installation-level role; every role belongs to one
municipality), so no predicate here grants them.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Literal

from bti.domain.org import Actor
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role

EMPLOYEE = Role.EMPLOYEE.value
COORDINATOR = Role.COORDINATOR.value
LEADER = Role.LEADER.value
ADMIN = Role.ADMIN.value
PRIVACY_OFFICER = Role.PRIVACY_OFFICER.value
STAFETTHOLDER = Relation.STAFETTHOLDER.value

#: Roles that work on cases (raise concerns, hold the baton, take part); administrators and
#: privacy officers do not.
CASE_WORK_ROLES = frozenset({EMPLOYEE, COORDINATOR, LEADER})
#: Roles that see the municipality's analytics (the dashboard and its exports).
ANALYTICS_ROLES = frozenset({LEADER, ADMIN})
#: Roles that keep the municipality's catalogue of measures.
CATALOGUE_ROLES = frozenset({LEADER, ADMIN})
#: Roles that plan measures or keep the catalogue, and so browse it (``may_browse_catalogue``).
CATALOGUE_READER_ROLES = CASE_WORK_ROLES | CATALOGUE_ROLES
#: Every role a user may hold: each of them reads the action guide (``may_read_guide``).
STAFF_ROLES = frozenset(r.value for r in Role)
#: Roles that search and follow up the access log.
ACCESS_LOG_ROLES = frozenset({LEADER, PRIVACY_OFFICER})
#: Roles that never see case content (AUTHZ-07): with no other role, a password alone signs in.
NO_CASE_CONTENT_ROLES = frozenset({ADMIN})

#: How far an access-log search or the follow-up reaches: the whole municipality (the privacy
#: officer) or the cases and users of the leader's own unit.
Scope = Literal["municipality", "unit"]


def _holds_any(actor: Actor, roles: Set[str]) -> bool:
    return actor.active and not roles.isdisjoint(actor.roles)


# --- case work -------------------------------------------------------------------------------


def works_on_cases(actor: Actor) -> bool:
    """The inbox ("My cases") and the concern form in the menu: a role that works on cases."""
    return _holds_any(actor, CASE_WORK_ROLES)


def may_hold_cases(roles: Set[str]) -> bool:
    """Whether a user with ``roles`` may hold a case (be its stafettholder or the coordinator of
    its individual plan): a role that works on cases."""
    return not CASE_WORK_ROLES.isdisjoint(roles)


def may_open_case(actor: Actor, opening_roles: Set[str]) -> bool:
    """Open a case (raise a concern): a role the workflow file's opening names."""
    return _holds_any(actor, opening_roles)


def may_skip_second_factor(roles: Set[str]) -> bool:
    """Sign in with a password alone: a user whose ``roles`` never see case content (an
    administrator, and nothing else). Everyone else gives a second factor where the
    municipality requires one."""
    return roles <= NO_CASE_CONTENT_ROLES


def may_take_moved_case(user: Actor, to_unit_id: int) -> bool:
    """Be named the new stafettholder when a case moves to ``to_unit_id`` (gode overgangar):
    an active colleague of the receiving unit who works on cases."""
    return _holds_any(user, CASE_WORK_ROLES) and user.unit_id == to_unit_id


def may_export_transfer(actor: Actor, case_municipality_id: int) -> bool:
    """Download the signed transfer bundle of a case closed as transferred to another
    municipality: the BTI coordinator or the privacy officer of the case's municipality (the
    operator does it on the command line, ``bti case transfer-export``)."""
    return (_holds_any(actor, frozenset({COORDINATOR, PRIVACY_OFFICER}))
            and case_municipality_id == actor.municipality_id)
# --- the individual plan (IP) ---------------------------------------------------------------


def may_edit_ansvarsgruppe(actor: Actor, stafettholder_id: int | None,
                           coordinator_id: int | None) -> bool:
    """Change an IP case's ansvarsgruppe (members, the coordinator, meetings and minutes): its
    coordinator and its stafettholder. (Who sees it is who sees the case.)"""
    return actor.active and actor.id in {stafettholder_id, coordinator_id} - {None}


def may_view_ip_overview(actor: Actor) -> bool:
    """The leader's overview of individual plans (which children of the unit have an IP, a
    coordinator, an ansvarsgruppe): a leader with a unit, as for the other leader lists."""
    return may_use_leader_views(actor) and actor.unit_id is not None


# --- analytics and the leader's views --------------------------------------------------------


def may_view_analytics(actor: Actor) -> bool:
    """The municipality's dashboard and its exports (CSV, XLSX, PDF hold the same suppressed
    numbers): leaders and administrators."""
    return _holds_any(actor, ANALYTICS_ROLES)


def may_use_leader_views(actor: Actor) -> bool:
    """The leader's own pages: the unit overview, a case's timeline, the case numbers behind
    the dashboard's stuck counts. What they show is the leader's own unit
    (``may_drill_down``, ``may_view_case_timeline``)."""
    return actor.active and LEADER in actor.roles


def may_drill_down(actor: Actor) -> bool:
    """From the dashboard's counts to the case numbers of the leader's own unit: a leader with
    a unit (the cases they see as ``unit_leader`` anyway)."""
    return may_use_leader_views(actor) and actor.unit_id is not None


def may_view_case_timeline(actor: Actor, case_municipality_id: int, case_unit_id: int) -> bool:
    """A case's timeline in the leader's views: a case of the leader's own unit."""
    return (may_use_leader_views(actor) and case_municipality_id == actor.municipality_id
            and case_unit_id == actor.unit_id)


# --- the catalogue of measures ---------------------------------------------------------------


def may_browse_catalogue(actor: Actor) -> bool:
    """Browse and search the active measures of the municipality's catalogue, with each one's
    evaluated effect (suppressed like the dashboard): everyone who plans measures on cases,
    and the catalogue's keepers. No case data is shown."""
    return _holds_any(actor, CATALOGUE_READER_ROLES)


def may_view_catalogue(actor: Actor) -> bool:
    """The municipality's catalogue of measures as its keepers see it (inactive items too)."""
    return _holds_any(actor, CATALOGUE_ROLES)


def may_edit_catalogue(actor: Actor) -> bool:
    """Add, change, deactivate and reactivate measures of the catalogue."""
    return _holds_any(actor, CATALOGUE_ROLES)


# --- the action guide -----------------------------------------------------------------------


def may_read_guide(actor: Actor) -> bool:
    """«Slik jobber vi», the municipality's action guide (its workflow in plain words, the
    standing exits, the child welfare contacts): every active member of staff, whatever their
    role. It holds no case data."""
    return _holds_any(actor, STAFF_ROLES)


# --- administration --------------------------------------------------------------------------


def may_administer_users(actor: Actor) -> bool:
    """The municipality's staff accounts: list, create, change, reset the second factor."""
    return actor.active and ADMIN in actor.roles


def may_change_account(actor: Actor, user_id: int) -> bool:
    """Change a user's roles, or deactivate them: an administrator, never on their own account
    (another administrator must), so an administrator can neither lock themself out nor grant
    themself access to case content."""
    return may_administer_users(actor) and user_id != actor.id


# --- the organisation: the municipality, its units, inter-municipal services -------------------


def may_administer_organisation(actor: Actor) -> bool:
    """The municipality's organisation pages: its units (create, change, deactivate,
    reactivate, which other municipalities a unit serves), its name and the import of units
    and users from a file: the municipality's administrator. A unit's leaders and BTI
    coordinators are its users with the role ``leader`` or ``coordinator`` (set on the user:
    the same roles the case rules read, ``bti.domain.rules.led_unit``)."""
    return may_administer_users(actor)


def may_manage_unit(actor: Actor, unit_municipality_id: int) -> bool:
    """One unit: an administrator of the municipality that hosts (owns) it. Another
    municipality's unit, also one that serves the actor's municipality, answers like a missing
    one (404)."""
    return may_administer_organisation(actor) and unit_municipality_id == actor.municipality_id


def may_edit_municipality(actor: Actor, municipality_id: int) -> bool:
    """The municipality's name and child welfare contacts: its own administrator. Creating,
    deactivating and reactivating a municipality is the operator's (see the module text)."""
    return may_administer_organisation(actor) and municipality_id == actor.municipality_id


def serves_municipality(unit_municipality_id: int, served_municipality_ids: Set[int],
                        municipality_id: int) -> bool:
    """A unit serves ``municipality_id``: its host municipality, or one of the municipalities an
    inter-municipal service serves besides it (``unit_municipality``)."""
    return (municipality_id == unit_municipality_id
            or municipality_id in served_municipality_ids)


def may_take_part_in_municipality(actor: Actor, case_municipality_id: int) -> bool:
    """The actor's unit serves the case's municipality: their own municipality, or one their
    inter-municipal service serves. Only there may they be a participant; in a served
    municipality only as a participant of their own service (admitted by a consent covering it,
    ``bti.domain.rules.relations``), never as its leader or by emergency access."""
    return actor.active and serves_municipality(actor.municipality_id,
                                                actor.served_municipality_ids,
                                                case_municipality_id)


# --- the access log --------------------------------------------------------------------------


def may_search_access_log(actor: Actor) -> bool:
    """Search the access log: leaders and the privacy officer (``access_log_scope``)."""
    return _holds_any(actor, ACCESS_LOG_ROLES)


def access_log_scope(actor: Actor) -> Scope | None:
    """The rows a search reaches: the whole municipality for the privacy officer, the cases of
    their own unit for a leader (none for a leader without a unit); None: no search."""
    if not may_search_access_log(actor):
        return None
    return "municipality" if PRIVACY_OFFICER in actor.roles else "unit"


def review_scope(actor: Actor) -> Scope | None:
    """The follow-up items (AUD-07) the actor reviews: every item of the municipality for the
    privacy officer, the items about users of their own unit for a leader with a unit; None:
    no follow-up."""
    if not actor.active:
        return None
    if PRIVACY_OFFICER in actor.roles:
        return "municipality"
    if LEADER in actor.roles and actor.unit_id is not None:
        return "unit"
    return None


def may_follow_up_access_log(actor: Actor) -> bool:
    """The follow-up pages of the access log (``review_scope``)."""
    return review_scope(actor) is not None


def may_review_user(reviewer_id: int, subject_user_id: int) -> bool:
    """Nobody follows up their own use of the access log (an item about them, their own
    emergency access): another leader, or the privacy officer, does."""
    return reviewer_id != subject_user_id


def may_review_item(actor: Actor, item_municipality_id: int, item_unit_id: int | None,
                    subject_user_id: int) -> bool:
    """One follow-up item: within the actor's ``review_scope``, and never about themself.
    (``bti.services.access.review`` lists items with the same conditions as a query.)"""
    scope = review_scope(actor)
    return (scope is not None and item_municipality_id == actor.municipality_id
            and may_review_user(actor.id, subject_user_id)
            and (scope == "municipality" or item_unit_id == actor.unit_id))


# --- a case's documents for the family: its export and its access log ------------------------


def export_basis(actor: Actor, case_municipality_id: int, case_relations: Set[str]) -> str | None:
    """Who may export a case (the family's copy, PRIV-02) and on which basis: the privacy
    officer of the case's municipality (``privacy_officer``) or the case's stafettholder
    (``stafettholder``). None for everyone else: the case answers like one that does not exist.
    ``case_relations`` are the actor's relations to the case."""
    if not actor.active or case_municipality_id != actor.municipality_id:
        return None
    if PRIVACY_OFFICER in actor.roles:
        return PRIVACY_OFFICER
    return STAFETTHOLDER if STAFETTHOLDER in case_relations else None


def case_log_basis(actor: Actor, case_municipality_id: int,
                   case_relations: Set[str]) -> str | None:
    """Who may read a case's access log ("who has seen this case", PRIV-01) and export it for
    the family, and on which basis: the same people as for the case's export."""
    return export_basis(actor, case_municipality_id, case_relations)


def may_archive_case(actor: Actor, case_municipality_id: int) -> bool:
    """Write a closed case's archive package: the privacy officer of its municipality (and the
    operator or a job, who act without a user)."""
    return (actor.active and PRIVACY_OFFICER in actor.roles
            and case_municipality_id == actor.municipality_id)


# --- emergency access (selvautorisering) -----------------------------------------------------


def may_self_authorise(actor: Actor) -> bool:
    """Take emergency access to a case (AUTHZ-06): an employee, never an administrator
    (AUTHZ-07). The access is a relation of its own (``bti.domain.rules.relations``), and the
    unit's leaders follow it up, never the user who took it (``may_review_user``)."""
    return actor.active and EMPLOYEE in actor.roles and ADMIN not in actor.roles


# --- team arenas (IKO-team, innsatsteam, tiltaksteam, hjelpetjenesten …) ---------------------


def may_administer_teams(actor: Actor) -> bool:
    """Create, change and deactivate the municipality's teams, their members and meeting
    dates: the administrator, who keeps the organisation (and sees no case content: the team
    pages an administrator uses show no agenda)."""
    return may_administer_users(actor)


def may_use_teams(actor: Actor) -> bool:
    """"My teams" in the menu, and a question without a case (anonym drøfting) on a team's
    agenda: any staff member who works on cases."""
    return works_on_cases(actor)


def may_be_team_member(roles: Set[str]) -> bool:
    """Who may be made a member of a team: a user with a role that works on cases (an
    administrator alone never sees case content, so never sits on a team)."""
    return not roles.isdisjoint(CASE_WORK_ROLES)


def may_view_team(actor: Actor, team_municipality_id: int, is_member: bool) -> bool:
    """A team's page (its agenda, past meetings, follow-ups) and writing its minutes: a current
    member of the team. Everyone else, a former member and the members of other teams
    included, is answered like a team that does not exist."""
    return (works_on_cases(actor) and team_municipality_id == actor.municipality_id
            and is_member)


def may_see_team_case(actor: Actor, case_unit_id: int, covered_unit_ids: Set[int]) -> bool:
    """A member (``may_view_team``) sees the content of a case referred to the team only as far
    as a consent covers their service (``covered_unit_ids``, ``bti.domain.rules.case_coverage``),
    or when their service is the case's own; otherwise only what the referral says."""
    return (actor.active and actor.unit_id is not None
            and (actor.unit_id == case_unit_id or actor.unit_id in covered_unit_ids))


def may_ask_team(actor: Actor, team_municipality_id: int, team_active: bool) -> bool:
    """Put a question without a case on a team's agenda: any staff member of the team's
    municipality (``may_use_teams``), while the team is active."""
    return may_use_teams(actor) and team_active and team_municipality_id == actor.municipality_id
# --- the family (guardians and the young person, bti.services.family) -----------------------


def may_manage_family(actor: Actor, case_municipality_id: int,
                      case_relations: Set[str]) -> bool:
    """Invite a guardian or the young person to a case, see who has joined and end a family
    member's access: the case's stafettholder (who holds the contact with the family)."""
    return (actor.active and case_municipality_id == actor.municipality_id
            and STAFETTHOLDER in case_relations)


def family_may_read(*, role: str, redeemed: bool, ended: bool, violence_flag: bool) -> bool:
    """Whether a family member's link to a case lets them see it. A safety rule no setting
    switches off: while the case is flagged for suspected violence or abuse, no guardian sees
    it (flagging ends their access, so lifting the flag does not restore it either). An ended
    or not yet redeemed link gives nothing; a closed case stays readable (the family may still
    want to know who has seen it, and to have the export)."""
    if not redeemed or ended:
        return False
    return not (violence_flag and role == "guardian")
# --- the annual wheel (årshjul) of BTI routines ------------------------------------------------


def may_read_annual_wheel(actor: Actor) -> bool:
    """The municipality's annual wheel (its trainings, mapping periods, yearly reviews, network
    meetings …) and its calendar export: every active member of staff, whatever their role.
    It holds no case data."""
    return _holds_any(actor, STAFF_ROLES)


def may_keep_annual_wheel(actor: Actor) -> bool:
    """The keeper's page of the annual wheel: a leader of a unit (who keeps the unit's
    routines) or the municipality's administrator (who keeps all of them). Which items is
    ``may_edit_annual_wheel_item``."""
    return actor.active and (ADMIN in actor.roles
                             or (LEADER in actor.roles and actor.unit_id is not None))


def may_edit_annual_wheel_item(actor: Actor, item_municipality_id: int,
                               item_unit_id: int | None) -> bool:
    """Add, change or remove one routine of the annual wheel: the municipality's administrator
    (for the whole municipality or any of its units), or the leader of the unit it is for (a
    routine for the whole municipality is the administrator's)."""
    if not may_keep_annual_wheel(actor) or item_municipality_id != actor.municipality_id:
        return False
    if ADMIN in actor.roles:
        return True
    return item_unit_id is not None and item_unit_id == actor.unit_id


def may_handle_family_concerns(actor: Actor) -> bool:
    """The concerns guardians raised with a unit (``bti.services.family.voice``): a leader with
    a unit, who sees and handles those of their own unit only."""
    return may_use_leader_views(actor) and actor.unit_id is not None


def may_see_practice_progress(actor: Actor) -> bool:
    """Who in the leader's own unit has walked a practice case to its end (part of the
    introduction of new staff): a leader with a unit. It shows names and dates, no case."""
    return may_use_leader_views(actor) and actor.unit_id is not None
