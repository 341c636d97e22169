"""The leader's pages: the unit's open cases by level (pseudonymised by default) and one case's
flow as a timeline (an accessible SVG with a table alternative)."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask import request

from bti.domain import policy as who
from bti.services.analytics import leader
from bti.web import charts
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("leader", __name__, url_prefix="/leiar")


@bp.get("/")
@policy.allowed(who.may_use_leader_views)
def overview():
    show_names = request.args.get("namn") == "1"
    result = leader.unit_overview(get_ctx(), show_names=show_names)
    return render_template("leader/overview.html", overview=result)


@bp.get("/ip")
@policy.allowed(who.may_view_ip_overview)
def individual_plans():
    """Which children of the unit have an individual plan, a coordinator, an ansvarsgruppe."""
    show_names = request.args.get("namn") == "1"
    result = leader.ip_overview(get_ctx(), show_names=show_names)
    return render_template("leader/ip.html", ip=result)


@bp.get("/sak/<int:case_id>/tidslinje")
@policy.allowed(who.may_use_leader_views)
def timeline(case_id: int):
    result = leader.case_timeline(get_ctx(), case_id)
    return render_template("leader/timeline.html", t=result, tl=result.timeline,
                           lay=charts.layout(result.timeline))
