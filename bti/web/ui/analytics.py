"""The leaders' analytics dashboard, its drill-down into stuck cases, and its exports.

Charts are SVG drawn here from the service's (already suppressed) figures: each has a title and
a description, text labels on every mark, shapes and patterns besides colour, and a table with
the same figures. Nothing is loaded from elsewhere; no inline styles or scripts (the CSP).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask import request
from flask_babel import get_translations

from bti.domain import policy as who
from bti.domain.vocabulary import AuditAction
from bti.services.analytics import dashboard as analytics
from bti.services.analytics import export as analytics_export
from bti.services.errors import InvalidInput
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.i18n import lang

bp = Blueprint("analytics", __name__, url_prefix="/analyse")

SUPPRESSED = analytics_export.SUPPRESSED


def _filters():
    args = request.args
    return analytics.filters(get_ctx(), unit=args.get("eining"), start=args.get("fra"),
                             end=args.get("til"))


# --- chart geometry (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class HBar:
    y: float
    width: float
    label: str
    value: object  # int, float or None (suppressed)
    level: str = ""


@dataclass
class BarChart:
    width: int
    height: int
    left: int
    bar_h: int
    bars: list[HBar] = field(default_factory=list)


def bar_chart(items: list[tuple[str, float | None, str]], *, width: int = 640, left: int = 260,
              bar_h: int = 22, gap: int = 10) -> BarChart:
    """Horizontal bars: (label, value or None, level id). A suppressed value gets a short
    hatched bar; every bar has its value as text."""
    numbers = [v for _, v, _ in items if isinstance(v, int | float)]
    top = max(numbers or [1]) or 1
    span = width - left - 70
    chart = BarChart(width, 16 + len(items) * (bar_h + gap), left, bar_h)
    for i, (label, value, level) in enumerate(items):
        w = 12.0 if value is None else max(round(span * value / top, 1), 2.0 if value else 0.0)
        chart.bars.append(HBar(8 + i * (bar_h + gap), w, label, value, level))
    return chart


@dataclass(frozen=True)
class Node:
    level: str
    x: float
    label: str


@dataclass(frozen=True)
class Arc:
    source: str
    dest: str
    path: str
    width: float
    label_x: float
    label_y: float
    value: object
    up: bool  # towards a higher level (or closing): drawn above the nodes


@dataclass
class FlowChart:
    width: int
    height: int
    node_y: float
    node_h: int
    nodes: list[Node] = field(default_factory=list)
    arcs: list[Arc] = field(default_factory=list)


def flow_chart(flows: analytics.Flows, labels: dict[str, str], *, width: int = 880) -> FlowChart:
    """A Sankey-like arc diagram: the levels in a row, each flow an arc whose thickness is its
    count; flows up a level (and to closed) above the row, flows down below it."""
    levels = list(flows.levels)
    n = max(len(levels), 1)
    step = (width - 120) / max(n - 1, 1)
    xs = {lv: 60 + i * step for i, lv in enumerate(levels)}
    numbers = [f.count for f in flows.flows if f.count is not None]
    top = max(numbers or [1]) or 1
    arcs_above = [f for f in flows.flows if levels.index(f.dest) > levels.index(f.source)]
    rise = max((abs(levels.index(f.dest) - levels.index(f.source)) for f in flows.flows),
               default=1)
    mid = 40 + 48 * rise + 30
    chart = FlowChart(width, int(mid * 2 + 20), mid, 36)
    chart.nodes = [Node(lv, xs[lv], labels.get(lv, lv)) for lv in levels]
    for f in flows.flows:
        up = f in arcs_above
        x1, x2 = xs[f.source], xs[f.dest]
        distance = abs(levels.index(f.dest) - levels.index(f.source))
        h = 40 + 48 * distance
        y = mid - 18 if up else mid + 18
        cy = y - h if up else y + h
        path = f"M {x1:.1f} {y:.1f} C {x1:.1f} {cy:.1f}, {x2:.1f} {cy:.1f}, {x2:.1f} {y:.1f}"
        width_px = 2.0 if f.count is None else round(2 + 16 * f.count / top, 1)
        ly = y - 0.75 * h - 6 if up else y + 0.75 * h + 14  # the curve's midpoint, beside it
        chart.arcs.append(Arc(f.source, f.dest, path, width_px, round((x1 + x2) / 2, 1),
                              round(ly, 1), f.count, up))
    return chart


@dataclass(frozen=True)
class Series:
    level: str
    label: str
    marker: str  # circle | square | diamond | triangle
    points: tuple[tuple[float, float, object, str], ...]  # x, y, value, month


@dataclass
class LineChart:
    width: int
    height: int
    left: int
    bottom: int
    months: list[tuple[float, str]] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)


MARKERS = ("circle", "square", "diamond", "triangle")


def line_chart(trend: analytics.TimeInLevel, labels: dict[str, str], *,
               width: int = 880, height: int = 300) -> LineChart:
    """Median days at each level, by the month the level was left; one line per level, each
    with its own marker shape and a text label; suppressed months leave a gap."""
    left, bottom, top_pad = 60, height - 40, 20
    months = list(trend.months)
    values = [p.p50 for p in trend.trend if p.p50 is not None]
    top = max(values or [1]) or 1
    step = (width - left - 140) / max(len(months) - 1, 1)
    mx = {m: left + i * step for i, m in enumerate(months)}

    def y(v: float) -> float:
        return round(bottom - (bottom - top_pad) * v / top, 1)

    chart = LineChart(width, height, left, bottom)
    chart.months = [(round(mx[m], 1), m) for m in months]
    chart.ticks = [(y(v), int(v)) for v in sorted({0, top // 2, top})]
    levels = [lt.level for lt in trend.levels]
    for i, lv in enumerate(levels):
        pts = tuple((round(mx[p.month], 1), y(p.p50), p.p50, p.month)
                    for p in trend.trend if p.level == lv and p.p50 is not None)
        chart.series.append(Series(lv, labels.get(lv, lv), MARKERS[i % len(MARKERS)], pts))
    return chart


def _level_texts(board: analytics.Dashboard) -> dict[str, str]:
    from bti.web.i18n import label

    return {lv: label(v[1]) or lv for lv, v in board.levels.items()}


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
    open_chart = bar_chart([(brief.get(r.level, r.level), r.count, r.level)
                            for r in board.open_by_level.rows], left=140)
    time_chart = bar_chart([(brief.get(x.level, x.level), x.p50, x.level)
                            for x in board.time_in_level.levels], left=140)
    return render_template(
        "analytics/dashboard.html", board=board, errors={}, args=request.args,
        units=board.units, names=names, open_chart=open_chart, time_chart=time_chart,
        flow_chart=flow_chart(board.flows, brief),
        trend_chart=line_chart(board.time_in_level, brief),
        stuck_kinds=analytics.STUCK_KINDS, effects=analytics.EFFECTS,
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
    return render_template("analytics/stuck.html", listed=listed)


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
