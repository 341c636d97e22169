"""Emergency access (selvautorisering) and "who has seen this case" (innsyn i logg).

``/tilgang/sak/<id>/naud`` — any signed-in employee asks for 24 hours' access to one case,
giving a reason; the service decides (404 for an unknown case or one in another municipality,
403 for an administrator). The form is reachable by id: without access the user cannot know the
case any other way.

``/tilgang/sak/<id>/innsyn`` — the case's stafettholder and the municipality's privacy officer see
who has read or changed the case; ``…/innsyn.json`` downloads it for the family. Others get 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.log import canonical_json
from bti.domain.rules import EMERGENCY_DURATION
from bti.domain.rules import EMERGENCY_REASON_MIN
from bti.services.access import emergency as access_service
from bti.services.errors import InvalidInput
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.i18n import fmt_datetime

bp = Blueprint("access", __name__, url_prefix="/tilgang")


def _case_url(case_id: int) -> str:
    return url_for("inbox.index") + str(case_id)  # /saker/<id>


@bp.route("/sak/<int:case_id>/naud", methods=["GET", "POST"])
@policy.allowed(who.may_self_authorise)
def emergency(case_id: int):
    ctx = get_ctx()
    errors: dict[str, list[str]] = {}
    reason = ""
    if request.method == "POST":
        reason = request.form.get("reason", "")
        try:
            grant = access_service.request_emergency_access(ctx, case_id, reason)
        except InvalidInput as err:
            errors = err.fields
        else:
            flash(_("You have emergency access to this case until %(until)s. Your leader has "
                    "been told.", until=fmt_datetime(grant.expires_at)), "info")
            return redirect(_case_url(case_id))
    return render_template("access/emergency.html", case_id=case_id, reason=reason,
                           errors=errors, min_length=EMERGENCY_REASON_MIN,
                           hours=int(EMERGENCY_DURATION.total_seconds() // 3600)), \
        (422 if errors else 200)


@bp.get("/sak/<int:case_id>/innsyn")
@policy.signed_in
def case_log(case_id: int):
    log = access_service.case_access_log(get_ctx(), case_id)
    return render_template("access/case_log.html", log=log)


@bp.get("/sak/<int:case_id>/innsyn.json")
@policy.signed_in
def case_log_json(case_id: int):
    doc = access_service.export_case_access_log(get_ctx(), case_id)
    return Response(
        canonical_json(doc), mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="case-{case_id}-access-log.json"',
                 "Cache-Control": "no-store"})
