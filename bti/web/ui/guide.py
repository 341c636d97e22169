"""«Slik jobber vi»: the municipality's action guide for every member of staff, generated from the
workflow it runs now (``bti.services.workflows.guide``), with its flowchart drawn as SVG on the
server (``bti.web.charts.workflow_chart``).

A step links to where it is done: without a case, to the concern form (the first step) or to
"My cases", where the user opens the case; with a case at hand (``?sak=<id>&steg=<state>``, the
link on the case page), each step from that state links to its action page in that case. The
guide reads nothing of the case: the action page checks access (a case the user may not see
answers 404 there, as everywhere).
"""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask import request
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.services.workflows import guide as guide_service
from bti.web import charts
from bti.web import i18n
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("guide", __name__, url_prefix="/slik-jobber-vi")


def who_labels() -> dict[str, str]:
    """Who takes a step, for each role and relation a workflow file may name."""
    return {
        Role.EMPLOYEE: _("any employee"),
        Role.COORDINATOR: _("a BTI coordinator"),
        Role.LEADER: _("a leader"),
        Role.ADMIN: _("an administrator"),
        Role.PRIVACY_OFFICER: _("the privacy officer"),
        Relation.REPORTER: _("the one who raised the concern"),
        Relation.STAFETTHOLDER: _("the stafettholder"),
        Relation.PARTICIPANT: _("the participants from other services"),
        Relation.UNIT_LEADER: _("the leader of the unit"),
        Relation.HANDOVER_RECIPIENT: _("the one a handover is proposed to"),
        Relation.EMERGENCY: _("someone with emergency access"),
    }


def phase_labels() -> dict[str, str]:
    return {"plan": _("Plan"), "active": _("Carry out"), "evaluation": _("Evaluate"),
            "decision": _("Decide"), "closed": _("Closed")}


def _case_at_hand() -> tuple[int | None, str | None]:
    """The case and state the user came from (the case page's link), if any: an id and a
    state name from the query, never read from the database here."""
    raw = request.args.get("sak", "")
    case_id = int(raw) if raw.isdigit() and len(raw) <= 12 else None
    state = request.args.get("steg") or None
    return (case_id, state) if case_id is not None else (None, None)


@bp.get("/")
@policy.allowed(who.may_read_guide)
def index():
    result = guide_service.guide(get_ctx(), i18n.lang())
    case_id, state = _case_at_hand()
    if state is not None and result.step(state) is None:
        state = None  # a state the current workflow has not (an older revision's)
    return render_template(
        "guide/index.html", guide=result, chart=charts.workflow_chart(result.graph),
        who=who_labels(), phases=phase_labels(), case_id=case_id, case_state=state,
        may_work=who.works_on_cases(get_ctx().actor))
