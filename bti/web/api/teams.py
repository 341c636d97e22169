"""The teams in the JSON API, for the municipality's administrator (scope ``teams:admin``):
list, create and change teams, add and remove members, schedule meetings. The same services as
the admin pages (``bti.services.teams.keep``), the same audit trail; no agenda and no case
content here (an administrator sees none)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort
from flask import url_for
from marshmallow import fields
from marshmallow import validate

from bti.domain import policy as who
from bti.engine.inputs import MAX_INT
from bti.services.teams import keep
from bti.web import policy
from bti.web.api import _body
from bti.web.api import _dump
from bti.web.api import bp
from bti.web.api.schemas import Strict
from bti.web.db import get_ctx

SCOPE = "teams:admin"
TEAM = f"/teams/<int(max={MAX_INT}):team_id>"

_ID_RANGE = validate.Range(min=1, max=MAX_INT)


class TeamCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=keep.NAME_MAX))
    kind = fields.String(required=True, validate=validate.Length(min=1, max=60), metadata={
        "description": "A `[[teams]]` id of the municipality's workflow file."})
    unit_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                             validate=_ID_RANGE)


class TeamChangeSchema(TeamCreateSchema):
    active = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "false deactivates the team, true makes it active again."})


class MemberRequestSchema(Strict):
    user_id = fields.Integer(required=True, strict=True,
                             validate=_ID_RANGE)


class MeetingRequestSchema(Strict):
    starts_at = fields.String(required=True, validate=validate.Regexp(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"), metadata={
        "description": "Local time in Norway, `YYYY-MM-DDTHH:MM`."})
    place = fields.String(load_default="", validate=validate.Length(max=keep.PLACE_MAX))


class MemberSchema(Strict):
    user_id = fields.Integer()
    display_name = fields.String()
    unit_name = fields.String(allow_none=True)


class MeetingSchema(Strict):
    id = fields.Integer()
    starts_at = fields.DateTime()
    place = fields.String(allow_none=True)


class TeamSchema(Strict):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    unit_id = fields.Integer(allow_none=True)
    unit_name = fields.String(allow_none=True)
    active = fields.Boolean()
    members = fields.List(fields.Nested(MemberSchema))
    meetings = fields.List(fields.Nested(MeetingSchema), metadata={
        "description": "Upcoming meetings, soonest first."})


class TeamListSchema(Strict):
    items = fields.List(fields.Nested(TeamSchema))


#: OpenAPI components of these routes (``bti.web.api.openapi``).
COMPONENTS = {
    "TeamCreate": TeamCreateSchema, "TeamChange": TeamChangeSchema,
    "MemberRequest": MemberRequestSchema, "MeetingRequest": MeetingRequestSchema,
    "Member": MemberSchema, "Meeting": MeetingSchema, "Team": TeamSchema,
    "TeamList": TeamListSchema,
}


def _team(t: keep.TeamSummary) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "kind": t.kind, "unit_id": t.unit_id,
            "unit_name": t.unit_name, "active": t.active,
            "members": [{"user_id": m.user_id, "display_name": m.display_name,
                         "unit_name": m.unit_name} for m in t.members],
            "meetings": [{"id": m.id, "starts_at": m.starts_at, "place": m.place}
                         for m in t.meetings]}


def _require_admin():
    ctx = get_ctx()
    if not who.may_administer_teams(ctx.actor):
        abort(403)
    return ctx


@bp.get("/teams")
@policy.api(SCOPE)
def list_teams():
    ctx = _require_admin()
    return _dump(TeamListSchema(), {"items": [_team(keep.get_team(ctx, t.id))
                                              for t in keep.list_teams(ctx)]})


@bp.post("/teams")
@policy.api(SCOPE)
def create_team():
    ctx = _require_admin()
    data = _body(TeamCreateSchema())
    team = keep.create_team(ctx, name=data["name"], kind=data["kind"], unit_id=data["unit_id"])
    return _dump(TeamSchema(), _team(team), 201, Location=url_for("api.get_team",
                                                                   team_id=team.id))


@bp.get(TEAM)
@policy.api(SCOPE)
def get_team(team_id: int):
    return _dump(TeamSchema(), _team(keep.get_team(_require_admin(), team_id)))


@bp.post(TEAM)
@policy.api(SCOPE)
def change_team(team_id: int):
    ctx = _require_admin()
    data = _body(TeamChangeSchema())
    team = keep.update_team(ctx, team_id, name=data["name"], kind=data["kind"],
                            unit_id=data["unit_id"])
    if data["active"] is not None:
        team = keep.set_active(ctx, team_id, data["active"])
    return _dump(TeamSchema(), _team(team))


@bp.post(TEAM + "/members")
@policy.api(SCOPE)
def add_member(team_id: int):
    ctx = _require_admin()
    data = _body(MemberRequestSchema())
    return _dump(TeamSchema(), _team(keep.add_member(ctx, team_id, data["user_id"])))


@bp.delete(TEAM + f"/members/<int(max={MAX_INT}):user_id>")
@policy.api(SCOPE)
def remove_member(team_id: int, user_id: int):
    return _dump(TeamSchema(), _team(keep.remove_member(_require_admin(), team_id, user_id)))


@bp.post(TEAM + "/meetings")
@policy.api(SCOPE)
def schedule_meeting(team_id: int):
    ctx = _require_admin()
    data = _body(MeetingRequestSchema())
    try:
        at = datetime.fromisoformat(data["starts_at"])
    except ValueError:
        day = clock = None
    else:
        day, clock = at.date(), at.time()
    keep.schedule_meeting(ctx, team_id, day=day, at=clock, place=data["place"])
    return _dump(TeamSchema(), _team(keep.get_team(ctx, team_id)), 201)

