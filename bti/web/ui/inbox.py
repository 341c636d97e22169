"""Mine saker (the coordinator's and employee's inbox): cases by urgency, and notifications."""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from bti.services.cases import inbox
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("inbox", __name__, url_prefix="/saker")


def case_url(case_id: int) -> str:
    """The case page (``cases.show``); its address is /saker/<id> while that page is built."""
    try:
        return url_for("cases.show", case_id=case_id)
    except BuildError:
        return url_for("inbox.index") + str(case_id)


@bp.get("/")
@policy.signed_in
def index():
    result = inbox.my_inbox(get_ctx())
    # a notification names the child only when the case is listed (and so audited) anyway
    listed = {item.case.id: item.case.child_pseudonym for item in result.items}
    notifications = [dict(id=n.id, kind=n.kind, case_id=n.case_id, created_at=n.created_at,
                          details=_details(n.details)) for n in result.notifications]
    return render_template("inbox/index.html", inbox=result, listed=listed,
                           notifications=notifications)


def _details(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    try:
        value["expires_on"] = date.fromisoformat(value["expires_on"])
    except (KeyError, TypeError, ValueError):
        value.pop("expires_on", None)
    return value


@bp.post("/varsel/<int:notification_id>/lest")
@policy.signed_in
def mark_read(notification_id: int):
    inbox.mark_read(get_ctx(), notification_id)
    flash(_("The notification is marked as read."), "ok")
    return redirect(url_for("inbox.index"))


@bp.post("/varsel/lest")
@policy.signed_in
def mark_all_read():
    inbox.mark_read(get_ctx())
    flash(_("All notifications are marked as read."), "ok")
    return redirect(url_for("inbox.index"))
