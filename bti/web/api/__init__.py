"""The JSON API, ``/api/v1`` (docs/api.md). Thin like the pages: input is checked with the
marshmallow schemas of ``bti.web.api.schemas``, the work is done by the same services, with the
same access rules and the same audit trail; the request's one transaction is committed by
``bti.web.db``.

Authentication is a personal access token in ``Authorization: Bearer`` (``policy.api``); a
session cookie never authenticates here, so the blueprint is exempt from CSRF. Every error is
the JSON envelope of ``bti.web.errors.api_error``. Requests are rate limited per token.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from marshmallow import Schema
from marshmallow import ValidationError

from bti.domain import policy as who
from bti.domain.vocabulary import GUARD_DETAILS
from bti.domain.vocabulary import GUARDS
from bti.engine import TransitionRefused
from bti.engine.i18n import LANGS
from bti.engine.i18n import refusal_message
from bti.engine.inputs import MAX_INT
from bti.services.access import emergency as access_service
from bti.services.accounts import org
from bti.services.cases import casepage
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases.lifecycle import CaseAccess
from bti.services.errors import InvalidInput
from bti.services.notify import notices
from bti.services.notify import texts
from bti.services.notify.events import EVENTS
from bti.services.workflows import annual_wheel as wheel
from bti.web import policy
from bti.web.api import schemas as s
from bti.web.db import get_ctx
from bti.web.errors import api_error
from bti.web.errors import refusal_fields

bp = Blueprint("api", __name__, url_prefix="/api/v1")

READ = "cases:read"
WRITE = "cases:write"
NOTIFICATIONS_READ = "notifications:read"
NOTIFICATIONS_WRITE = "notifications:write"
CASE = f"/cases/<int(max={MAX_INT}):case_id>"
NOTIFICATION = f"/notifications/<int(max={MAX_INT}):notification_id>"


# --- plumbing -------------------------------------------------------------------------------------


def _rate_limit() -> str:
    return current_app.config["BTI_API_RATE_LIMIT"]


def _rate_key() -> str:
    token_id = getattr(current_user, "token_id", None)
    return f"api-token:{token_id}" if token_id else f"api-addr:{get_remote_address()}"


#: How deeply a JSON body may nest (a payload is a flat object of values and lists of ids).
MAX_DEPTH = 16


def _acceptable(value: Any) -> bool:
    """At most ``MAX_DEPTH`` levels deep and no lone surrogates anywhere (they cannot be stored
    as UTF-8). Iterative: a hostile body cannot exhaust the stack."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: no number field can hold it
        raise ValueError("not a finite number")
    return value


def _body(schema: Schema) -> dict[str, Any]:
    if request.mimetype != "application/json":
        abort(415)
    try:
        data = json.loads(request.get_data(cache=True), parse_constant=_no_constant,
                          parse_float=_finite)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser
        abort(400)
    if not _acceptable(data):
        abort(400)
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["invalid"]})
    return schema.load(data)


def _query(schema: Schema) -> dict[str, Any]:
    return schema.load(request.args.to_dict(flat=True))


_MESSAGE_CODES = {"Unknown field.": "unknown", "Missing data for required field.": "required",
                  "Field may not be null.": "required",
                  **{code: code for code in ("looks_like_id_number", "in_past", "too_far",
                                              "invalid_email")}}


def _codes(messages: Any) -> Any:
    """marshmallow's English messages as the error codes the API documents."""
    if isinstance(messages, dict):
        return {str(k): _codes(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [_codes(m) for m in messages]
    if isinstance(messages, str) and messages not in _MESSAGE_CODES.values():
        return _MESSAGE_CODES.get(messages, "invalid")
    return messages


@bp.errorhandler(ValidationError)
def _invalid(err: ValidationError):
    messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
    return api_error(422, fields=_codes(messages))


# --- presentation ---------------------------------------------------------------------------------


def _case_state(access_or_case, definition) -> dict[str, Any]:
    case = getattr(access_or_case, "case", access_or_case)
    state = definition.state(case.state)
    level = definition.level(state.level)
    return {"id": case.id, "state": case.state, "state_label": dict(state.label),
            "level": level.id, "level_number": level.number, "level_label": dict(level.label),
            "phase": state.phase, "final": state.final, "version": case.version}


def _case(case, definition, relations, basis: str) -> dict[str, Any]:
    return {
        **_case_state(case, definition),
        "workflow": definition.id, "workflow_revision": case.workflow_definition_id,
        "unit_id": case.unit_id, "child_pseudonym": case.child_pseudonym,
        "child_birth_year": case.child_birth_year,
        "child_due": (f"{case.child_birth_year:04d}-{case.child_due_month:02d}"
                      if case.child_due_month else None),
        "violence_flag": case.violence_flag,
        "home_informed_on": case.home_informed_on, "stafettholder_id": case.stafettholder_id,
        "opened_by_id": case.opened_by_id, "opened_at": case.opened_at,
        "level_entered_at": case.level_entered_at, "last_activity_at": case.last_activity_at,
        "closed_at": case.closed_at, "relations": sorted(relations), "basis": basis,
    }


def _access_case(access: CaseAccess) -> dict[str, Any]:
    return _case(access.case, access.workflow.definition, access.relations, access.basis)


def _entry(e) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at, "actor_id": e.actor_id, "kind": e.kind,
            "trigger": e.trigger, "from_state": e.from_state, "to_state": e.to_state,
            "object_type": e.object_type, "object_id": e.object_id, "data": json.loads(e.data),
            "prev_hash": e.prev_hash, "hash": e.hash}


def _field(f) -> dict[str, Any]:
    return {"name": f.name, "type": f.type, "required": f.required,
            "label": dict(f.label) if f.label is not None else None,
            "options": [{"value": o.value, "label": dict(o.label)} for o in f.options],
            "child_voice": f.child_voice}


def _refusal(r) -> dict[str, Any]:
    return {"code": r.code, "guard": r.guard, "detail": r.detail, "params": dict(r.params),
            "message": {lang: refusal_message(r, lang, GUARDS, GUARD_DETAILS) for lang in LANGS}}


def _action(definition, a) -> dict[str, Any]:
    from bti.web.api.openapi import payload_pointer

    t = a.transition
    return {
        "trigger": t.trigger, "label": dict(t.label), "allowed": a.allowed,
        "refusals": [_refusal(r) for r in a.refusals],
        "cautions": [{"field": c.when.field, "values": sorted(c.when.values),
                      "on_fail": c.when.on_fail, "refusal": _refusal(c.refusal)}
                     for c in a.cautions],
        "dest": t.dest, "reason_required": t.reason,
        "fields_": [_field(f) for f in casepage.transition_fields(definition, t)],
        "payload_schema": payload_pointer(definition, t),
    }


def _dump(schema: Schema, data: Any, status: int = 200, **headers):
    response = jsonify(schema.dump(data))
    response.status_code = status
    response.headers.update(headers)
    return response


# --- routes ---------------------------------------------------------------------------------------


@bp.get("/openapi.json")
@policy.public
def openapi():
    from bti.web.api.openapi import spec_for

    return jsonify(spec_for(current_app))


@bp.get("/cases")
@policy.api(READ)
def list_cases():
    args = _query(s.CaseListQuerySchema())
    ctx = get_ctx()
    items = []
    for item in inbox.my_cases(ctx, include_closed=args["include_closed"]):
        definition = ctx.workflows.for_record(ctx.session,
                                              item.case.workflow_definition_id).definition
        out = _case(item.case, definition, item.relations, item.basis)
        out["urgencies"] = [{"kind": u.kind, "on": u.on, "overdue": u.overdue,
                             "object_id": u.object_id} for u in item.urgencies]
        items.append(out)
    return _dump(s.CaseListSchema(), {"items": items})


@bp.post("/cases")
@policy.api(WRITE)
def create_case():
    ctx = get_ctx()
    if not casepage.may_open(ctx, casepage.current_definition(ctx)):
        abort(403)  # the caller's roles may not open cases (as on the concern page)
    data = _body(s.case_create_schema(ctx.today())())
    due = data["child_due"]
    try:
        result = cases.open_case(ctx, unit_id=data["unit_id"],
                                 child_pseudonym=data["child_pseudonym"],
                                 child_birth_year=data["child_birth_year"],
                                 child_due_year=int(due[:4]) if due else None,
                                 child_due_month=int(due[5:]) if due else None,
                                 concern=data["concern"])
    except TransitionRefused as err:  # the concern form is invalid: name it as sent
        fields = refusal_fields(err)
        if "payload" in fields:
            fields["concern"] = fields.pop("payload")
        return api_error(422, fields=fields)
    access = cases.get_case(ctx, result.case.id)
    return _dump(s.CaseSchema(), _access_case(access), 201,
                 Location=url_for("api.get_case", case_id=result.case.id))


@bp.get(CASE)
@policy.api(READ)
def get_case(case_id: int):
    return _dump(s.CaseSchema(), _access_case(cases.get_case(get_ctx(), case_id)))


@bp.get(CASE + "/actions")
@policy.api(READ)
def case_actions(case_id: int):
    access, actions = cases.actions_view(get_ctx(), case_id)
    definition = access.workflow.definition
    return _dump(s.ActionsSchema(), {
        "case_id": access.case.id, "state": access.case.state, "version": access.case.version,
        "actions": [_action(definition, a) for a in actions]})


@bp.post(CASE + "/transitions")
@policy.api(WRITE)
def fire(case_id: int):
    data = _body(s.TransitionRequestSchema())
    ctx = get_ctx()
    result = cases.fire(ctx, case_id, data["trigger"], data["payload"],
                        expected_version=data["expected_version"])
    definition = ctx.workflows.for_record(ctx.session,
                                          result.case.workflow_definition_id).definition
    return _dump(s.TransitionResultSchema(), {
        "entry": _entry(result.entry), "case": _case_state(result.case, definition),
        "warnings": [_refusal(w) for w in result.step.warnings]}, 201,
        Location=url_for("api.case_log", case_id=case_id, cursor=result.entry.seq - 1,
                         limit=1))


@bp.get(CASE + "/log")
@policy.api(READ)
def case_log(case_id: int):
    args = _query(s.LogQuerySchema())
    access, entries, next_cursor = cases.log_page(get_ctx(), case_id, after=args["cursor"],
                                                  limit=args["limit"])
    return _dump(s.LogPageSchema(), {"case_id": access.case.id,
                                     "entries": [_entry(e) for e in entries],
                                     "next_cursor": next_cursor})


@bp.get(CASE + "/access-log")
@policy.api(READ)
def access_log(case_id: int):
    log = access_service.case_access_log(get_ctx(), case_id)
    return _dump(s.AccessLogSchema(), {
        "case_id": log.case.id, "basis": log.basis,
        "entries": [{"at": r.at, "user_id": r.actor_id, "user": r.actor_name,
                     "roles": list(r.roles), "unit": r.unit_name, "action": r.action,
                     "object_type": r.object_type, "object_id": r.object_id,
                     "basis": r.basis, "outcome": r.outcome} for r in log.rows]})


# --- the caller's notifications ---------------------------------------------------------------


def _notification(n) -> dict[str, Any]:
    details = notices.details_of(n)
    return {"id": n.id, "kind": n.kind, "case_id": n.case_id, "created_at": n.created_at,
            "title": {lang: texts.title(n.kind, lang=lang, details=details) for lang in LANGS},
            "link": url_for("notifications.show", notification_id=n.id, _external=True),
            "read": n.read_at is not None, "read_at": n.read_at}


def _settings(settings: notices.Settings) -> dict[str, Any]:
    return {"email": settings.email, "events": [
        {"event": e.value, "mode": mode, "default_mode": EVENTS[e].default_mode,
         "recipients": EVENTS[e].recipients,
         "title": {lang: texts.title(e, lang=lang) for lang in LANGS}}
        for e, mode in settings.modes.items()]}


@bp.get("/notifications")
@policy.api(NOTIFICATIONS_READ)
def list_notifications():
    args = _query(s.NotificationQuerySchema())
    page = notices.list_page(get_ctx(), unread_only=args["unread"], before=args["cursor"],
                             limit=args["limit"])
    return _dump(s.NotificationPageSchema(), {
        "items": [_notification(n) for n in page.items], "unread": page.unread,
        "next_cursor": page.next_cursor})


@bp.post(NOTIFICATION + "/read")
@policy.api(NOTIFICATIONS_WRITE)
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read (anyone else's: 404)."""
    return _dump(s.NotificationSchema(), _notification(
        notices.read_one(get_ctx(), notification_id)))


@bp.get("/notifications/settings")
@policy.api(NOTIFICATIONS_READ)
def notification_settings():
    return _dump(s.NotificationSettingsSchema(), _settings(notices.get_settings(get_ctx())))


@bp.patch("/notifications/settings")
@policy.api(NOTIFICATIONS_WRITE)
def update_notification_settings():
    data = _body(s.NotificationSettingsUpdateSchema())
    try:
        saved = notices.update_settings(get_ctx(), email=data.get("email", ...),
                                        modes=data.get("modes"))
    except InvalidInput as err:  # the address: named as sent
        return api_error(422, fields=err.fields)
    return _dump(s.NotificationSettingsSchema(), _settings(saved))
# --- the organisation -----------------------------------------------------------------------------

ORG_READ = "org:read"
ORG_WRITE = "org:write"
UNIT = f"/units/<int(max={MAX_INT}):unit_id>"


def _org_admin() -> None:
    """The organisation routes are the administrator's: anyone else is refused (403) before
    their body is read."""
    if not who.may_administer_organisation(current_user):
        abort(403)


def _unit(u) -> dict[str, Any]:
    return {"id": u.id, "municipality_id": u.municipality_id, "name": u.name, "kind": u.kind,
            "service": u.service, "active": u.active,
            "serves": [_municipality(m) for m in u.serves],
            "leaders": [{"id": p.id, "name": p.name, "active": p.active} for p in u.leaders],
            "coordinators": [{"id": p.id, "name": p.name, "active": p.active}
                             for p in u.coordinators],
            "staff": u.staff, "open_cases": u.open_cases}


def _municipality(m) -> dict[str, Any]:
    return {"id": m.id, "slug": m.slug, "name": m.name, "active": m.active}


@bp.get("/units")
@policy.api(ORG_READ)
def list_units():
    _org_admin()
    return _dump(s.UnitListSchema(), {"items": [_unit(u) for u in org.list_units(get_ctx())]})


@bp.post("/units")
@policy.api(ORG_WRITE)
def create_unit():
    _org_admin()
    data = _body(s.UnitCreateSchema())
    created = org.create_unit(get_ctx(), name=data["name"], kind=data["kind"],
                              service=data["service"], serves=data["serves"])
    return _dump(s.UnitSchema(), _unit(created), 201,
                 Location=url_for("api.get_unit", unit_id=created.id))


@bp.get(UNIT)
@policy.api(ORG_READ)
def get_unit(unit_id: int):
    _org_admin()
    return _dump(s.UnitSchema(), _unit(org.get_unit(get_ctx(), unit_id)))


@bp.patch(UNIT)
@policy.api(ORG_WRITE)
def update_unit(unit_id: int):
    _org_admin()
    ctx = get_ctx()
    org.get_unit(ctx, unit_id)  # another municipality's unit: 404 before the body is read
    data = _body(s.UnitUpdateSchema())
    active = data.pop("active", None)
    if active is True:
        org.reactivate_unit(ctx, unit_id)
    updated = org.update_unit(ctx, unit_id, **data) if data else org.get_unit(ctx, unit_id)
    if active is False:
        updated = org.deactivate_unit(ctx, unit_id)
    return _dump(s.UnitSchema(), _unit(updated))


@bp.get("/municipalities")
@policy.api(ORG_READ)
def list_municipalities():
    """The caller's municipality first, then the others a unit may serve."""
    _org_admin()
    ctx = get_ctx()
    items = [org.own_municipality(ctx), *org.municipalities(ctx)]
    return _dump(s.MunicipalityListSchema(), {"items": [_municipality(m) for m in items]})


@bp.patch("/municipality")
@policy.api(ORG_WRITE)
def rename_municipality():
    _org_admin()
    data = _body(s.MunicipalityUpdateSchema())
    return _dump(s.MunicipalitySchema(), _municipality(org.rename_municipality(get_ctx(),
                                                                               data["name"])))


# --- the annual wheel (årshjul) -------------------------------------------------------------------


@bp.get("/annual-wheel")
@policy.api(ORG_READ)
def annual_wheel():
    """Every member of staff reads it (``who.may_read_annual_wheel``), as on the page."""
    if not who.may_read_annual_wheel(current_user):
        abort(403)
    months = wheel.year_ahead(get_ctx())
    items = [{"kind": o.kind, "title": o.title, "description": o.description,
              "starts_on": o.starts_on, "ends_on": o.ends_on, "yearly": o.yearly,
              "unit": o.unit_name, "responsible": o.responsible, "routine_id": o.item_id,
              "catalogue_item_id": o.catalogue_item_id, "overdue": o.overdue}
             for m in months for o in m.occurrences]
    return _dump(s.AnnualWheelSchema(), {"month": f"{months[0].first:%Y-%m}", "items": items})


def init_app(app: Flask) -> None:
    from bti.web import csrf
    from bti.web.api import teams  # noqa: F401 - its routes join the blueprint
    from bti.web.auth import limiter

    app.config.setdefault("BTI_API_RATE_LIMIT", app.extensions["bti"].settings.api_rate_limit)
    csrf.exempt(bp)  # bearer only: a cookie never authenticates here (bti.web.policy)
    # the limiter keeps its limits from its creation on: adding the same one again is a no-op
    limiter.limit(_rate_limit, key_func=_rate_key)(bp)
    app.register_blueprint(bp)

