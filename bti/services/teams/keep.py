"""The municipality's teams as its administrator keeps them: create, change, deactivate and
reactivate a team; add and remove members; schedule its meetings. Every change is audited
(ids and kinds only, never names). A team of another municipality answers like one that does
not exist. Services flush; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time

from sqlalchemy import select

from bti.domain import policy
from bti.domain.clock import local_moment
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.teams import AgendaItem
from bti.domain.teams import Team
from bti.domain.teams import TeamMeeting
from bti.domain.teams import TeamMember
from bti.domain.vocabulary import AuditAction
from bti.engine.i18n import Labels
from bti.engine.inputs import check_text
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

NAME_MAX = 200
PLACE_MAX = 200


@dataclass(frozen=True, slots=True)
class TeamKind:
    id: str
    label: Labels


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: int
    display_name: str
    unit_name: str | None


@dataclass(frozen=True, slots=True)
class MeetingRow:
    id: int
    starts_at: datetime
    place: str | None


@dataclass(frozen=True, slots=True)
class TeamSummary:
    id: int
    name: str
    kind: str
    unit_id: int | None
    unit_name: str | None
    active: bool
    members: tuple[MemberRow, ...] = ()
    meetings: tuple[MeetingRow, ...] = ()  # upcoming, soonest first


def _require_admin(ctx: Ctx) -> None:
    if ctx.actor is None or not policy.may_administer_teams(ctx.actor):
        raise Forbidden("team administration needs the admin role")


def team_kinds(ctx: Ctx, municipality_id: int | None = None) -> list[TeamKind]:
    """The kinds of team the municipality's workflow file names (its ``[[teams]]``)."""
    mid = municipality_id if municipality_id is not None else ctx.actor.municipality_id
    workflow_id = ctx.session.scalar(select(Municipality.workflow_id).where(
        Municipality.id == mid))
    if workflow_id is None:
        return []
    record = ctx.workflows.current_record_id(ctx.session, workflow_id)
    definition = ctx.workflows.for_record(ctx.session, record).definition
    return [TeamKind(t.id, t.label) for t in definition.teams]


def load_team(ctx: Ctx, team_id: int, *, for_update: bool = False) -> Team:
    team = ctx.session.get(Team, team_id, with_for_update=for_update or None)
    if team is None or team.municipality_id != ctx.actor.municipality_id:
        raise NotFound(f"team {team_id}", object_type="team", object_id=team_id)
    return team


def current_member_ids(ctx: Ctx, team_id: int) -> list[int]:
    return list(ctx.session.scalars(select(TeamMember.user_id).where(
        TeamMember.team_id == team_id, TeamMember.removed_at.is_(None))
        .order_by(TeamMember.user_id)))


def _members(ctx: Ctx, team_id: int) -> tuple[MemberRow, ...]:
    rows = ctx.session.execute(
        select(User.id, User.display_name, Unit.name)
        .join(TeamMember, TeamMember.user_id == User.id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(TeamMember.team_id == team_id, TeamMember.removed_at.is_(None))
        .order_by(User.display_name, User.id)).all()
    return tuple(MemberRow(*r) for r in rows)


def upcoming_meetings(ctx: Ctx, team_id: int) -> tuple[MeetingRow, ...]:
    rows = ctx.session.execute(
        select(TeamMeeting.id, TeamMeeting.starts_at, TeamMeeting.place)
        .where(TeamMeeting.team_id == team_id, TeamMeeting.starts_at >= ctx.now())
        .order_by(TeamMeeting.starts_at, TeamMeeting.id)).all()
    return tuple(MeetingRow(*r) for r in rows)


def _summary(ctx: Ctx, team: Team, *, detail: bool) -> TeamSummary:
    unit = ctx.session.get(Unit, team.unit_id) if team.unit_id else None
    unit_name = unit.name if unit is not None else None
    return TeamSummary(team.id, team.name, team.kind, team.unit_id, unit_name, team.active,
                       _members(ctx, team.id) if detail else (),
                       upcoming_meetings(ctx, team.id) if detail else ())


def list_teams(ctx: Ctx) -> list[TeamSummary]:
    """Every team of the administrator's municipality, active first, by name."""
    _require_admin(ctx)
    teams = ctx.session.scalars(select(Team).where(
        Team.municipality_id == ctx.actor.municipality_id)
        .order_by(Team.active.desc(), Team.name)).all()
    return [_summary(ctx, t, detail=False) for t in teams]


def get_team(ctx: Ctx, team_id: int) -> TeamSummary:
    """One team with its current members and upcoming meetings (no agenda: an administrator
    sees no case content)."""
    _require_admin(ctx)
    return _summary(ctx, load_team(ctx, team_id), detail=True)


def _check(ctx: Ctx, name: str, kind: str, unit_id: int | None, *,
           team_id: int | None = None) -> tuple[str, str, int | None]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if problem := check_text(name, max_length=NAME_MAX, required=True):
        errors["name"] = [problem]
    elif ctx.session.scalar(select(Team.id).where(
            Team.municipality_id == ctx.actor.municipality_id, Team.name == name,
            Team.id != (team_id or 0))) is not None:
        errors["name"] = ["taken"]
    kind = (kind or "").strip()
    if kind not in {k.id for k in team_kinds(ctx)}:
        errors["kind"] = ["not_a_choice" if kind else "required"]
    if unit_id is not None:
        unit = ctx.session.get(Unit, unit_id)
        if unit is None or unit.municipality_id != ctx.actor.municipality_id:
            errors["unit_id"] = ["not_in_municipality"]
    if errors:
        raise InvalidInput(errors)
    return name, kind, unit_id


def create_team(ctx: Ctx, *, name: str, kind: str, unit_id: int | None = None) -> TeamSummary:
    _require_admin(ctx)
    name, kind, unit_id = _check(ctx, name, kind, unit_id)
    team = Team(municipality_id=ctx.actor.municipality_id, unit_id=unit_id, name=name,
                kind=kind, active=True, created_at=ctx.now())
    ctx.session.add(team)
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_CREATED, object_type="team", object_id=team.id,
                 kind=kind, unit_id=unit_id)
    return _summary(ctx, team, detail=True)


def update_team(ctx: Ctx, team_id: int, *, name: str, kind: str,
                unit_id: int | None = None) -> TeamSummary:
    _require_admin(ctx)
    team = load_team(ctx, team_id, for_update=True)
    name, kind, unit_id = _check(ctx, name, kind, unit_id, team_id=team.id)
    changed = [f for f, new in (("name", name), ("kind", kind), ("unit_id", unit_id))
               if getattr(team, f) != new]
    if changed:
        team.name, team.kind, team.unit_id = name, kind, unit_id
        ctx.session.flush()
        audit.record(ctx, AuditAction.TEAM_CHANGED, object_type="team", object_id=team.id,
                     fields=changed, kind=kind, unit_id=unit_id)
    return _summary(ctx, team, detail=True)


def set_active(ctx: Ctx, team_id: int, active: bool) -> TeamSummary:
    """Deactivate a team (it takes no referrals or questions; its history stays) or make it
    active again."""
    _require_admin(ctx)
    team = load_team(ctx, team_id, for_update=True)
    if team.active != active:
        team.active = active
        ctx.session.flush()
        audit.record(ctx, AuditAction.TEAM_REACTIVATED if active else AuditAction.TEAM_DEACTIVATED,
                     object_type="team", object_id=team.id)
    return _summary(ctx, team, detail=True)


def add_member(ctx: Ctx, team_id: int, user_id: int | None) -> TeamSummary:
    """Make a staff member of the municipality a member (an active user with a role that works
    on cases); already a member: nothing changes."""
    _require_admin(ctx)
    team = load_team(ctx, team_id, for_update=True)
    user = ctx.session.get(User, user_id) if user_id else None
    if user is None or user.municipality_id != team.municipality_id:
        raise InvalidInput({"user_id": ["not_in_municipality" if user_id else "required"]})
    if not user.active:
        raise InvalidInput({"user_id": ["inactive_user"]})
    if not policy.may_be_team_member(frozenset(user.roles)):
        raise InvalidInput({"user_id": ["no_case_work"]})
    if user.id not in current_member_ids(ctx, team.id):
        ctx.session.add(TeamMember(team_id=team.id, user_id=user.id, added_at=ctx.now()))
        ctx.session.flush()
        audit.record(ctx, AuditAction.TEAM_MEMBER_ADDED, object_type="team", object_id=team.id,
                     user_id=user.id)
    return _summary(ctx, team, detail=True)


def remove_member(ctx: Ctx, team_id: int, user_id: int) -> TeamSummary:
    """End a membership: from now on the user sees nothing of the team (its history keeps that
    they were a member)."""
    _require_admin(ctx)
    team = load_team(ctx, team_id, for_update=True)
    rows = ctx.session.scalars(select(TeamMember).where(
        TeamMember.team_id == team.id, TeamMember.user_id == user_id,
        TeamMember.removed_at.is_(None))).all()
    if not rows:
        raise NotFound(f"member {user_id} of team {team_id}")
    for row in rows:
        row.removed_at = ctx.now()
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_MEMBER_REMOVED, object_type="team", object_id=team.id,
                 user_id=user_id)
    return _summary(ctx, team, detail=True)


def is_member(ctx: Ctx, team_id: int, user_id: int) -> bool:
    return ctx.session.scalar(select(TeamMember.id).where(
        TeamMember.team_id == team_id, TeamMember.user_id == user_id,
        TeamMember.removed_at.is_(None)).limit(1)) is not None


def schedule_meeting(ctx: Ctx, team_id: int, *, day: date | None, at: time | None,
                     place: str = "") -> MeetingRow:
    """A meeting date of the team (Oslo time), in the future. The items waiting in the team's
    unscheduled queue go onto the team's next meeting, which this may now be. The
    administrator, or a current member, schedules."""
    team = load_team(ctx, team_id, for_update=True)
    actor = ctx.actor
    if not (policy.may_administer_teams(actor) or policy.may_view_team(
            actor, team.municipality_id, is_member(ctx, team.id, actor.id))):
        raise NotFound(f"team {team_id}", object_type="team", object_id=team_id)
    errors: dict[str, list[str]] = {}
    place = (place or "").strip()
    if problem := check_text(place, max_length=PLACE_MAX, required=False):
        errors["place"] = [problem]
    if day is None:
        errors["day"] = ["required"]
    if at is None:
        errors["at"] = ["required"]
    starts_at = local_moment(day, at) if day is not None and at is not None else None
    if starts_at is not None and starts_at < ctx.now():
        errors["day"] = ["in_past"]
    if errors or starts_at is None:
        raise InvalidInput(errors)
    meeting = TeamMeeting(team_id=team.id, starts_at=starts_at, place=place or None,
                          created_at=ctx.now())
    ctx.session.add(meeting)
    ctx.session.flush()
    next_meeting = upcoming_meetings(ctx, team.id)[0]
    for item in ctx.session.scalars(select(AgendaItem).where(
            AgendaItem.team_id == team.id, AgendaItem.meeting_id.is_(None),
            AgendaItem.decision.is_(None))):
        item.meeting_id = next_meeting.id
    ctx.session.flush()
    audit.record(ctx, AuditAction.TEAM_MEETING_SCHEDULED, object_type="team_meeting",
                 object_id=meeting.id, team_id=team.id)
    return MeetingRow(meeting.id, meeting.starts_at, meeting.place)


def member_choices(ctx: Ctx) -> list[tuple[int, str]]:
    """Active staff of the administrator's municipality who may sit on a team."""
    _require_admin(ctx)
    users = ctx.session.scalars(select(User).where(
        User.municipality_id == ctx.actor.municipality_id, User.active.is_(True))
        .order_by(User.display_name, User.id)).all()
    return [(u.id, u.display_name) for u in users if policy.may_be_team_member(frozenset(u.roles))]
