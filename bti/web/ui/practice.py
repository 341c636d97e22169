"""Practice mode (øvingsmodus, issue 18 §3): the employee's practice cases and the leader's list
of who has completed one (``bti.services.cases.practice``).

A practice case opens on the real case pages (the same actions, the same workflow), each of
them marked «Øvingssak – ikke en ekte sak» by the base template. The guide's «Try it in a
practice case» posts here with the step (``steg``) and its first action (``handling``): the
user's open practice case (or a new one) opens at that action when the case is at that step,
else on its case page.
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.services.cases import lifecycle
from bti.services.cases import practice as practice_service
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("practice", __name__)

def _practice_concern() -> str:
    """The concern of every practice case: fictional, in the user's language."""
    return _("Practice: a fictional child who seems tired and withdrawn at school.")


@bp.get("/ovingssak/")
@policy.allowed(who.works_on_cases)
def index():
    cases = practice_service.mine(get_ctx())
    return render_template("practice/index.html", cases=cases,
                           keep_days=practice_service.PRACTICE_KEEP_DAYS)


@bp.post("/ovingssak/start")
@policy.allowed(who.works_on_cases)
def start():
    ctx = get_ctx()
    case_id, opened = practice_service.start_or_continue(ctx, what_seen=_practice_concern())
    flash(_("Your practice case is opened. Nothing you do in it reaches anyone.") if opened
          else _("You continue your practice case."), "info")
    step, trigger = request.form.get("steg", ""), request.form.get("handling", "")
    if step and trigger:
        access, actions = lifecycle.list_actions(ctx, case_id)
        if access.case.state == step and any(a.transition.trigger == trigger and a.allowed
                                             for a in actions):
            return redirect(url_for("cases.action", case_id=case_id, trigger=trigger), 303)
    return redirect(url_for("cases.show", case_id=case_id), 303)


@bp.post("/ovingssak/<int:case_id>/slett")
@policy.case
def delete(case_id: int):
    practice_service.delete(get_ctx(), case_id)
    flash(_("The practice case is deleted."), "info")
    return redirect(url_for("practice.index"), 303)


@bp.get("/leiar/ovingsmodus")
@policy.allowed(who.may_see_practice_progress)
def progress():
    rows = practice_service.completions(get_ctx())
    return render_template("practice/progress.html", rows=rows,
                           done=sum(1 for r in rows if r.completed_at is not None))
