"""The family's voice on the web (``bti.services.family.voice``).

The family (``@policy.family``, a family session only): a comment or question from the family's
case page (``/familie/saker/<id>/melding``), and a guardian's concern about their own child to a
kindergarten or school of the municipality (``/familie/bekymring``).

The staff: the stafettholder reads the family's messages of a case and marks them answered
(``/saker/<id>/familie/meldinger``, ``@policy.case``: 404 for anyone else); a unit's leader sees
the concerns guardians raised with the unit and opens a case from one, or closes it
(``/leiar/bekymringar-fra-heimen``).
"""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.engine import TransitionRefused
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family import voice
from bti.web import policy
from bti.web.db import commit_reads
from bti.web.db import get_ctx
from bti.web.db import get_session
from bti.web.db import request_id
from bti.web.ui.family import _actor
from bti.web.ui.family import _not_found
from bti.web.ui.family import _now
from bti.web.ui.family import case_page as family_case_page

bp = Blueprint("family_voice", __name__)


# --- the family -------------------------------------------------------------------------------


@bp.post("/familie/saker/<int:case_id>/melding")
@policy.family
def send(case_id: int):
    s = get_session()
    actor = _actor()
    text = request.form.get("text", "")[:20000]
    workflows = current_app.extensions["bti"].workflows
    try:
        voice.send_message(s, actor, case_id, text, now=_now(), workflows=workflows,
                           request_id=request_id())
    except NotFound:
        return _not_found(case_id)
    except InvalidInput as err:
        s.rollback()  # nothing of the message is kept
        return family_case_page(case_id, status=422, message_errors=err.fields, text=text)
    flash(_("Your message is sent. The stafettholder sees it as a task."), "info")
    return redirect(url_for("family.case", case_id=case_id, _anchor="h-messages"), 303)


def _concern_form(values: dict[str, str] | None = None,
                  errors: dict[str, list[str]] | None = None, status: int = 200):
    units = voice.concern_units(get_session(), _actor().municipality_id)
    return render_template("family/concern.html",
                           unit_options=[(str(u.id), u.name) for u in units], values=values or {},
                           errors=errors or {}), status


@bp.get("/familie/bekymring")
@policy.family
def concern_form():
    return _concern_form()


@bp.post("/familie/bekymring")
@policy.family
def raise_concern():
    s = get_session()
    form = request.form
    values = {k: form.get(k, "")[:5000] for k in ("unit", "child_name", "birth_year", "text",
                                                   "contact")}
    try:
        voice.raise_concern(s, _actor(), unit_id=values["unit"],
                            child_name=values["child_name"], birth_year=values["birth_year"],
                            text=values["text"], contact=values["contact"], now=_now(),
                            request_id=request_id())
    except InvalidInput as err:
        s.rollback()
        return _concern_form(values, err.fields, 422)
    flash(_("Your concern is sent to the leader of the unit. The leader will contact you."),
          "info")
    return redirect(url_for("family.cases"), 303)


# --- the stafettholder ------------------------------------------------------------------------


def _messages_page(case_id: int, errors: dict[str, list[str]] | None = None,
                   status: int = 200):
    access, rows = voice.case_messages(get_ctx(), case_id)
    if status >= 400:
        commit_reads()
    return render_template("family/staff_messages.html", case=access.case, rows=rows,
                           errors=errors or {}), status


@bp.get("/saker/<int:case_id>/familie/meldinger")
@policy.case
def messages(case_id: int):
    return _messages_page(case_id)


@bp.post("/saker/<int:case_id>/familie/meldinger/<int:message_id>/svart")
@policy.case
def answered(case_id: int, message_id: int):
    ctx = get_ctx()
    try:
        voice.answer(ctx, case_id, message_id)
    except InvalidInput as err:
        ctx.session.rollback()
        return _messages_page(case_id, err.fields, 422)
    flash(_("Marked as answered. The family sees that it was answered."), "info")
    return redirect(url_for(".messages", case_id=case_id), 303)


# --- the unit's leader ------------------------------------------------------------------------


def _concerns_page(errors: dict[str, list[str]] | None = None, status: int = 200,
                   values: dict[str, str] | None = None):
    rows = voice.unit_concerns(get_ctx())
    if status >= 400:
        commit_reads()
    return render_template("family/unit_concerns.html", rows=rows, errors=errors or {},
                           values=values or {}), status


@bp.get("/leiar/bekymringar-fra-heimen")
@policy.allowed(who.may_handle_family_concerns)
def unit_concerns():
    return _concerns_page()


@bp.post("/leiar/bekymringar-fra-heimen/<int:concern_id>/sak")
@policy.allowed(who.may_handle_family_concerns)
def open_case(concern_id: int):
    ctx = get_ctx()
    pseudonym = request.form.get("child_pseudonym", "")[:200]
    try:
        case = voice.open_case_from(ctx, concern_id, pseudonym)
    except NotFound:
        abort(404)
    except (InvalidInput, TransitionRefused) as err:
        ctx.session.rollback()  # no case, the concern still open
        fields = dict(err.fields) if isinstance(err, InvalidInput) else {
            "concern": ["not_allowed"]}
        return _concerns_page(fields, 422, {"concern": str(concern_id),
                                            "child_pseudonym": pseudonym})
    flash(_("A case is opened from the concern."), "info")
    return redirect(url_for("cases.show", case_id=case.id), 303)


@bp.post("/leiar/bekymringar-fra-heimen/<int:concern_id>/lukk")
@policy.allowed(who.may_handle_family_concerns)
def close(concern_id: int):
    ctx = get_ctx()
    try:
        voice.close_concern(ctx, concern_id)
    except NotFound:
        abort(404)
    except InvalidInput as err:
        ctx.session.rollback()
        return _concerns_page(err.fields, 422)
    flash(_("The concern is closed without a case."), "info")
    return redirect(url_for(".unit_concerns"), 303)
