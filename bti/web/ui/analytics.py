"""The leaders' analytics dashboard, its drill-down into stuck cases, and its exports.

Charts are SVG drawn from the service's (already suppressed) figures, placed by
``bti.web.charts``: each has a title and a description, text labels on every mark, shapes and
patterns besides colour, and a table with the same figures. Nothing is loaded from elsewhere;
no inline styles or scripts (the CSP).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask import request
from flask_babel import get_translations
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.vocabulary import AuditAction
from bti.services.analytics import dashboard as analytics
from bti.services.analytics import export as analytics_export
from bti.services.errors import InvalidInput
from bti.web import charts
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.i18n import lang

bp = Blueprint("analytics", __name__, url_prefix="/analyse")


def _filters():
    args = request.args
    return analytics.filters(get_ctx(), unit=args.get("eining"), start=args.get("fra"),
                             end=args.get("til"))


def _level_texts(board: analytics.Dashboard) -> dict[str, str]:
    from bti.web.i18n import label

    return {lv: label(v[1]) or lv for lv, v in board.levels.items()}


def stuck_texts() -> dict[str, str]:
    """Each kind of stuck case in words (the dashboard's table and the drill-down's heading)."""
    return {
        "evaluation_overdue": _("Evaluation overdue (a measure past its evaluation date)"),
        "inactive_30": _("No activity for 30 days"),
        "inactive_60": _("No activity for 60 days"),
        "n0_overdue": _("Level 0 past its decision deadline"),
        "handover_pending": _("Handover not yet accepted"),
    }


def short(names: dict[str, str]) -> dict[str, str]:
    """Chart labels: "Nivå 2" of "Nivå 2 – tverrfagleg samarbeid" (the tables keep it all)."""
    return {lv: name.split(" – ")[0] for lv, name in names.items()}


# --- routes --------------------------------------------------------------------------------------


@bp.get("/")
@policy.allowed(who.may_view_analytics)
def dashboard():
    ctx = get_ctx()
    try:
        f = _filters()
    except InvalidInput as err:
        return render_template("analytics/dashboard.html", board=None, errors=err.fields,
                               args=request.args, units=_units(ctx)), 422
    board = analytics.dashboard(ctx, f)
    names = _level_texts(board)
    brief = short(names)
    open_chart = charts.bar_chart([(brief.get(r.level, r.level), r.count, r.level)
                            for r in board.open_by_level.rows], left=140)
    time_chart = charts.bar_chart([(brief.get(x.level, x.level), x.p50, x.level)
                            for x in board.time_in_level.levels], left=140)
    return render_template(
        "analytics/dashboard.html", board=board, errors={}, args=request.args,
        units=board.units, names=names, open_chart=open_chart, time_chart=time_chart,
        flow_chart=charts.flow_chart(board.flows, brief),
        trend_chart=charts.line_chart(board.time_in_level, brief),
        stuck_kinds=analytics.STUCK_KINDS, stuck_texts=stuck_texts(), effects=analytics.EFFECTS,
        query=request.query_string.decode("ascii", "replace"))


def _units(ctx):
    from sqlalchemy import select

    from bti.domain.org import Unit

    return tuple(ctx.session.execute(select(Unit.id, Unit.name).where(
        Unit.municipality_id == ctx.actor.municipality_id).order_by(Unit.name)).all())


@bp.get("/fast/<kind>")
@policy.allowed(who.may_use_leader_views)
def stuck(kind: str):
    listed = analytics.stuck_cases(get_ctx(), kind)
    return render_template("analytics/stuck.html", listed=listed,
                           category=stuck_texts()[listed.kind])


@bp.get("/eksport.<fmt>")
@policy.allowed(who.may_view_analytics)
def export(fmt: str):
    if fmt not in ("csv", "xlsx", "pdf"):
        abort(404)
    ctx = get_ctx()
    board = analytics.dashboard(ctx, _filters(), action=AuditAction.ANALYTICS_EXPORTED, format=fmt)
    body = analytics_export.render(board, fmt, lang(), get_translations())
    f = board.filters
    name = f"tilstandsrapport-{f.start}-{f.end}.{fmt}"
    return Response(body, mimetype=analytics_export.content_types()[fmt].split(";")[0],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
