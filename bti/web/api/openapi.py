"""The OpenAPI 3.1 document of ``/api/v1``, generated with apispec from the marshmallow schemas
the views use, and from the workflow files: every action's payload and every workflow's concern
form is a component (``Payload.<workflow>.<trigger>``, ``Opening.<workflow>``), so an integrator
can build them. Built once per app."""

from __future__ import annotations

from datetime import date
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from bti.domain.clock import local_date
from bti.engine.definition import TransitionDef
from bti.engine.definition import WorkflowDefinition
from bti.engine.inputs import MAX_INT
from bti.engine.payload import build_payload_schema
from bti.web.api import schemas as s

VERSION = "1.0.0"
_EXTENSION_KEY = "bti.openapi"

#: Component name → schema, in the order they appear (after ``CaseCreate``, which depends on the
#: day: ``schemas.case_create_schema``).
COMPONENTS = {  # nested ones before the schemas that hold them
    "TransitionRequest": s.TransitionRequestSchema,
    "Urgency": s.UrgencySchema,
    "CaseState": s.CaseStateSchema,
    "Case": s.CaseSchema,
    "CaseListItem": s.CaseListItemSchema,
    "CaseList": s.CaseListSchema,
    "Option": s.OptionSchema,
    "Field": s.FieldSchema,
    "Refusal": s.RefusalSchema,
    "Action": s.ActionSchema,
    "Actions": s.ActionsSchema,
    "LogEntry": s.LogEntrySchema,
    "LogPage": s.LogPageSchema,
    "TransitionResult": s.TransitionResultSchema,
    "AccessLogRow": s.AccessLogRowSchema,
    "AccessLog": s.AccessLogSchema,
    "NotificationModes": s.NotificationModesSchema,
    "NotificationSettingsUpdate": s.NotificationSettingsUpdateSchema,
    "Notification": s.NotificationSchema,
    "NotificationPage": s.NotificationPageSchema,
    "NotificationEventSetting": s.NotificationEventSettingSchema,
    "NotificationSettings": s.NotificationSettingsSchema,
    "UnitCreate": s.UnitCreateSchema,
    "UnitUpdate": s.UnitUpdateSchema,
    "MunicipalityUpdate": s.MunicipalityUpdateSchema,
    "Municipality": s.MunicipalitySchema,
    "MunicipalityList": s.MunicipalityListSchema,
    "UnitPerson": s.UnitPersonSchema,
    "Unit": s.UnitSchema,
    "UnitList": s.UnitListSchema,
    "AnnualWheelEntry": s.AnnualWheelEntrySchema,
    "AnnualWheel": s.AnnualWheelSchema,
    "ErrorBody": s.ErrorBodySchema,
    "Error": s.ErrorSchema,
}

DESCRIPTION = """\
The JSON API of bti (BTI, Bedre tverrfagleg innsats). See docs/api.md.

**Authentication**: a personal access token, `Authorization: Bearer bti_pat_…`, made by an
administrator with `bti token create USERNAME --scope cases:read --scope cases:write --days N`.
The token acts as its user: the same need-to-know rules as the web pages (a case you have no
relation to answers 404, exactly like one that does not exist), and every read and write is in
the same audit trail, marked `channel: api` with the token's id.

**Errors**: always `{"error": {"code", "message", "fields"}}`.

**Actions**: measures (tiltak), evaluations, consents (samtykke), handovers and reports to
barnevernet are recorded by firing the matching action with `POST /cases/{id}/transitions`.
`GET /cases/{id}/actions` lists what you may do now, what is refused and why, and the payload
fields of each action; the payload schemas of every workflow are the components
`Payload.<workflow>.<trigger>`.

**Notifications**: the caller's own notices (`GET /notifications`, newest first, paged by
cursor; `POST /notifications/{id}/read`) and their delivery settings
(`GET`/`PATCH /notifications/settings`), with the scopes `notifications:read` and
`notifications:write`. A notice names its event and case number, never the child; another
user's notice answers 404.
"""


def payload_component(definition: WorkflowDefinition, t: TransitionDef) -> str:
    """The component name of a transition's payload (a trigger declared more than once in a
    workflow gets the index of its declaration)."""
    same = [i for i, x in enumerate(definition.transitions) if x.trigger == t.trigger]
    name = f"Payload.{definition.id}.{t.trigger}"
    if len(same) > 1:
        name += f".{definition.transitions.index(t)}"
    return name


def payload_pointer(definition: WorkflowDefinition, t: TransitionDef) -> str:
    return f"#/components/schemas/{payload_component(definition, t)}"


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {
    "400": "The body is not JSON (or not UTF-8, nests deeper than 16 levels, or holds a number "
           "no field can take, such as 1e400 or NaN).",
    "401": "No valid token (missing, unknown, expired, revoked, or its user is deactivated).",
    "403": "The token lacks the scope, or its user's roles may not do this.",
    "404": "No such case, or no access to it (answered alike).",
    "405": "Method not allowed.",
    "409": "`expected_version` is stale: the case was changed by someone else; nothing saved.",
    "413": "The body is too large (1 MiB).",
    "415": "The body is not application/json.",
    "422": "Invalid input (unknown or missing fields, a refused action); see `fields`.",
    "429": "Rate limited.",
    "500": "Server error (logged).",
    "503": "Temporarily unavailable (for example, the audit trail could not be written): "
           "nothing was saved or shown.",
}
COMMON = ("401", "403", "404", "405", "422", "429", "500", "503")
WRITES = ("400", "409", "413", "415")


def _responses(ok: str, ok_schema: str, description: str, *, write: bool = False,
               conflict: bool = False, location: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {ok: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ok_schema}"}}},
    }}
    if location:
        out[ok]["headers"] = {"Location": {"schema": {"type": "string"}}}
    codes = COMMON + (WRITES if write else ())
    for code in sorted(codes):
        if code == "409" and not conflict:
            continue
        out[code] = _error(ERRORS[code])
    return out


CASE_ID = {"in": "path", "name": "id", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
           "description": "The case's id."}
NOTIFICATION_ID = {"in": "path", "name": "id", "required": True,
                   "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                   "description": "The notification's id."}


def _concern_schema(doc: dict[str, Any], definitions: list[WorkflowDefinition]) -> None:
    """``CaseCreate.concern`` is the opening form of the caller's workflow: a reference to its
    ``Opening.<workflow>`` component (one reference when every workflow's opening is the same,
    else any of them)."""
    schemas = doc["components"]["schemas"]
    distinct: dict[str, str] = {}
    for d in sorted(definitions, key=lambda d: d.id):
        name = f"Opening.{d.id}"
        distinct.setdefault(repr(schemas[name]), name)
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in distinct.values()]
    concern = schemas["CaseCreate"]["properties"]["concern"]
    description = concern.get("description")
    concern.clear()
    concern.update(refs[0] if len(refs) == 1 else {"anyOf": refs})
    if description:
        concern["description"] = description


def _born_or_expected(doc: dict[str, Any]) -> None:
    """``CaseCreate``: exactly one of ``schemas.BORN_OR_EXPECTED`` is given and not null (the
    service's ``required`` and ``birth_or_due``)."""
    case_create = doc["components"]["schemas"]["CaseCreate"]
    case_create["oneOf"] = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in s.BORN_OR_EXPECTED]


def build_spec(definitions: list[WorkflowDefinition], *, today: date) -> dict[str, Any]:
    """The document on ``today`` (the birth years a new case may give move with the year)."""
    spec = APISpec(
        title="bti API", version=VERSION, openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer",
        "description": "A personal access token (`bti token create`)."})
    spec.components.schema("CaseCreate", schema=s.case_create_schema(today))
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    for d in sorted(definitions, key=lambda d: d.id):
        o = d.opening
        spec.components.schema(f"Opening.{d.id}", schema=build_payload_schema(
            d.fields, o.fields, o.optional, False))
        for t in d.transitions:
            spec.components.schema(payload_component(d, t), schema=build_payload_schema(
                d.fields, t.fields, t.optional, t.reason))

    def op(summary: str, responses, *, scope: str, body: str | None = None,
           params: list | None = None, op_id: str) -> dict[str, Any]:
        # OpenAPI 3.1 lets a non-OAuth scheme list the roles (here: token scopes) it needs
        out: dict[str, Any] = {"summary": summary, "operationId": op_id,
                               "security": [{"bearerAuth": [scope]}], "responses": responses}
        if params:
            out["parameters"] = params
        if body:
            out["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        return out

    spec.path(path="/api/v1/cases", operations={
        "get": op("Cases the caller has a relation to (most urgent first)",
                  _responses("200", "CaseList", "The caller's cases."), scope="cases:read",
                  params=[{"in": "query", "schema": s.CaseListQuerySchema}], op_id="listCases"),
        "post": op("Open a case from a concern (nivå 0)",
                   _responses("201", "Case", "The new case.", write=True, location=True),
                   scope="cases:write", body="CaseCreate", op_id="createCase"),
    })
    spec.path(path="/api/v1/cases/{id}", parameters=[CASE_ID], operations={
        "get": op("One case: state, level, version …",
                  _responses("200", "Case", "The case."), scope="cases:read", op_id="getCase"),
    })
    spec.path(path="/api/v1/cases/{id}/actions", parameters=[CASE_ID], operations={
        "get": op("What the caller may do now, what is refused and why, and each action's "
                  "payload fields", _responses("200", "Actions", "The actions."),
                  scope="cases:read", op_id="listActions"),
    })
    spec.path(path="/api/v1/cases/{id}/transitions", parameters=[CASE_ID], operations={
        "post": op("Fire an action (a measure, evaluation, consent, handover, report, …)",
                   _responses("201", "TransitionResult", "The new stafettlogg entry and the "
                              "case's new state and version.", write=True, conflict=True,
                              location=True),
                   scope="cases:write", body="TransitionRequest", op_id="fireTransition"),
    })
    spec.path(path="/api/v1/cases/{id}/log", parameters=[CASE_ID], operations={
        "get": op("The stafettlogg, oldest first, paged by cursor",
                  _responses("200", "LogPage", "One page of entries."), scope="cases:read",
                  params=[{"in": "query", "schema": s.LogQuerySchema}], op_id="getLog"),
    })
    spec.path(path="/api/v1/cases/{id}/access-log", parameters=[CASE_ID], operations={
        "get": op("Who has read or changed the case (for its stafettholder and the "
                  "municipality's privacy officer; 404 for everyone else)",
                  _responses("200", "AccessLog", "The access log, oldest first."),
                  scope="cases:read", op_id="getAccessLog"),
    })
    spec.path(path="/api/v1/notifications", operations={
        "get": op("The caller's notifications, newest first, paged by cursor",
                  _responses("200", "NotificationPage", "One page of notifications."),
                  scope="notifications:read",
                  params=[{"in": "query", "schema": s.NotificationQuerySchema}],
                  op_id="listNotifications"),
    })
    spec.path(path="/api/v1/notifications/{id}/read", parameters=[NOTIFICATION_ID], operations={
        "post": op("Mark one of the caller's notifications read (again: no change)",
                   _responses("200", "Notification", "The notification, read."),
                   scope="notifications:write", op_id="readNotification"),
    })
    spec.path(path="/api/v1/notifications/settings", operations={
        "get": op("The caller's e-mail address and, per event, how they are notified",
                  _responses("200", "NotificationSettings", "The settings."),
                  scope="notifications:read", op_id="getNotificationSettings"),
        "patch": op("Change the address or the mode of some events (the rest is kept)",
                    _responses("200", "NotificationSettings", "The settings, saved.",
                               write=True),
                    scope="notifications:write", body="NotificationSettingsUpdate",
                    op_id="updateNotificationSettings"),
    })
    unit_id = {"in": "path", "name": "id", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
               "description": "The unit's id."}
    spec.path(path="/api/v1/units", operations={
        "get": op("The units of the caller's municipality (an administrator's token)",
                  _responses("200", "UnitList", "Every unit it hosts, active or not."),
                  scope="org:read", op_id="listUnits"),
        "post": op("Create a unit",
                   _responses("201", "Unit", "The new unit.", write=True, location=True),
                   scope="org:write", body="UnitCreate", op_id="createUnit"),
    })
    spec.path(path="/api/v1/units/{id}", parameters=[unit_id], operations={
        "get": op("One unit (another municipality's unit answers 404)",
                  _responses("200", "Unit", "The unit."), scope="org:read", op_id="getUnit"),
        "patch": op("Change a unit; `active: false` deactivates it (422 `open_cases` while it "
                    "has open cases)", _responses("200", "Unit", "The unit.", write=True),
                    scope="org:write", body="UnitUpdate", op_id="updateUnit"),
    })
    spec.path(path="/api/v1/municipalities", operations={
        "get": op("The caller's municipality, then the other active ones (a unit may serve "
                  "them)", _responses("200", "MunicipalityList", "Municipalities."),
                  scope="org:read", op_id="listMunicipalities"),
    })
    spec.path(path="/api/v1/municipality", operations={
        "patch": op("Rename the caller's municipality",
                    _responses("200", "Municipality", "The municipality.", write=True),
                    scope="org:write", body="MunicipalityUpdate", op_id="renameMunicipality"),
    })
    spec.path(path="/api/v1/annual-wheel", operations={
        "get": op("The annual wheel (årshjul) of the municipality's BTI routines: the twelve "
                  "months ahead, for the whole municipality and the caller's unit",
                  _responses("200", "AnnualWheel", "The routines, by date."),
                  scope="org:read", op_id="getAnnualWheel"),
    })
    _team_paths(spec, op)
    doc = spec.to_dict()
    _concern_schema(doc, definitions)
    _born_or_expected(doc)
    return doc


TEAM_ID = {"in": "path", "name": "id", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
           "description": "The team's id."}


def _team_paths(spec: APISpec, op) -> None:
    """The administrator's team routes (``bti.web.api.teams``), scope ``teams:admin``."""
    from bti.web.api import teams

    for name, schema in teams.COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    scope = teams.SCOPE
    spec.path(path="/api/v1/teams", operations={
        "get": op("The municipality's teams with members and upcoming meetings",
                  _responses("200", "TeamList", "The teams."), scope=scope, op_id="listTeams"),
        "post": op("Create a team (its kind: a `[[teams]]` id of the workflow file)",
                   _responses("201", "Team", "The new team.", write=True, location=True),
                   scope=scope, body="TeamCreate", op_id="createTeam"),
    })
    spec.path(path="/api/v1/teams/{id}", parameters=[TEAM_ID], operations={
        "get": op("One team", _responses("200", "Team", "The team."), scope=scope,
                  op_id="getTeam"),
        "post": op("Change a team's name, kind and unit; deactivate or reactivate it",
                   _responses("200", "Team", "The team.", write=True), scope=scope,
                   body="TeamChange", op_id="changeTeam"),
    })
    spec.path(path="/api/v1/teams/{id}/members", parameters=[TEAM_ID], operations={
        "post": op("Add a member (a staff member who works on cases)",
                   _responses("200", "Team", "The team.", write=True), scope=scope,
                   body="MemberRequest", op_id="addTeamMember"),
    })
    spec.path(path="/api/v1/teams/{id}/members/{user_id}", parameters=[TEAM_ID, {
        "in": "path", "name": "user_id", "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT}}], operations={
        "delete": op("Remove a member: from now on they see nothing of the team",
                     _responses("200", "Team", "The team."), scope=scope,
                     op_id="removeTeamMember"),
    })
    spec.path(path="/api/v1/teams/{id}/meetings", parameters=[TEAM_ID], operations={
        "post": op("Schedule a meeting (local time in Norway); waiting items go onto the "
                   "team's next meeting",
                   _responses("201", "Team", "The team with its upcoming meetings.",
                              write=True), scope=scope, body="MeetingRequest",
                   op_id="scheduleTeamMeeting"),
    })


def spec_for(app: Flask) -> dict[str, Any]:
    """The document, built once per app and day."""
    ext = app.extensions["bti"]
    today = local_date(ext.clock())
    cached = app.extensions.get(_EXTENSION_KEY)
    if cached is None or cached[0] != today:
        cached = app.extensions[_EXTENSION_KEY] = (
            today, build_spec(list(ext.workflows.files.values()), today=today))
    return cached[1]
