"""Access-log search for leaders (cases of their own unit) and the privacy officer (the whole
municipality). Filters go in the address (GET), so they hold ids only, never a child's name; the
search itself is logged."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint
from flask import render_template
from flask import request

from bti.services import access as access_service
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("audit", __name__, url_prefix="/tilgang")

_ACTION = re.compile(r"^[a-z_]{1,30}(\.[a-z_]{1,30}){0,2}$")
_USERNAME = re.compile(r"^[\w.@-]{1,80}$")


def _parse(args) -> tuple[access_service.LogFilter, int, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    values: dict = {}

    def number(name: str) -> int | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 12:
            errors[name] = ["invalid"]
            return None
        return int(raw)

    def day(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = ["invalid"]
            return None

    user = (args.get("user") or "").strip()
    if user.isdigit() and len(user) <= 12:
        values["user_id"] = int(user)
    elif user:
        if _USERNAME.match(user):
            values["username"] = user
        else:
            errors["user"] = ["invalid"]
    values["case_id"] = number("case")
    action = (args.get("action") or "").strip()
    if action and not _ACTION.match(action):
        errors["action"] = ["not_a_choice"]
    elif action:
        values["action"] = action
    values["date_from"] = day("from")
    values["date_to"] = day("to")
    if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
        errors["to"] = ["invalid"]
    page = number("page") or 1
    return access_service.LogFilter(**values), page, errors


@bp.get("/logg")
@policy.roles("leader", "privacy_officer")
def search():
    ctx = get_ctx()
    flt, page, errors = _parse(request.args)
    result = None if errors else access_service.search_log(ctx, flt, page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/search.html", result=result, errors=errors,
                           args=request.args, page_args=args,
                           actions=access_service.log_actions(ctx)), (422 if errors else 200)
