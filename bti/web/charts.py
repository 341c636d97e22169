"""SVG chart geometry: where each bar, arc, line, band and mark goes, in the viewBox's units.

Pure functions over the services' (already suppressed) figures and the case timeline; the
templates draw what these return (``analytics/_charts.html``, ``analytics/dashboard.html``,
``leader/timeline.html``). No Flask here, and no data is read: the services decide what a chart
shows, this module only where it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta

from bti.services.analytics.dashboard import Flows
from bti.services.analytics.dashboard import TimeInLevel
from bti.services.analytics.leader import Timeline
from bti.services.workflows.guide import GuideGraph

# --- the dashboard's charts ----------------------------------------------------------------------


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

    @property
    def empty(self) -> bool:
        """Nothing to draw: no bar, or every one zero (a suppressed bar is something)."""
        return not any(b.value is None or b.value for b in self.bars)


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

    @property
    def empty(self) -> bool:
        return not self.arcs


def flow_chart(flows: Flows, labels: dict[str, str], *, width: int = 880) -> FlowChart:
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

    @property
    def empty(self) -> bool:
        """No line has a point (no month, or every month suppressed)."""
        return not any(s.points for s in self.series)


MARKERS = ("circle", "square", "diamond", "triangle")


def line_chart(trend: TimeInLevel, labels: dict[str, str], *,
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


# --- the case timeline -------------------------------------------------------------------------


#: The shortest stretch the timeline's axis spans: a case of a few days stays readable (a
#: three-day case is a tenth of the width, not the whole of it nor a smear).
MIN_SPAN_DAYS = 28


@dataclass(frozen=True)
class Tick:
    x: float
    on: date


@dataclass(frozen=True)
class Box:
    x: float
    width: float
    item: object
    row: int = 0  # a measure's row (its bar and its overdue stretch share it)


@dataclass(frozen=True)
class Point:
    x: float
    item: object


@dataclass
class Layout:
    """SVG geometry for a timeline (the template draws it), lanes from the top: the axis, the
    levels, the stafettholder, the events, the deadlines, then one row per measure."""

    width: int
    height: int
    left: int
    right: float
    axis_y: int
    band_y: int
    band_h: int
    holder_y: int
    holder_h: int
    event_y: int
    deadline_y: int
    bar_y0: int
    bar_h: int
    row_h: int
    axis_end: date
    #: The x of today, None when today is outside the axis (a case closed long ago).
    today_x: float | None = None
    ticks: list[Tick] = field(default_factory=list)
    bands: list[Box] = field(default_factory=list)
    holders: list[Box] = field(default_factory=list)
    bars: list[Box] = field(default_factory=list)
    #: A running measure past its evaluation date: from that date to today, on its row.
    overdue: list[Box] = field(default_factory=list)
    marks: list[Point] = field(default_factory=list)
    deadlines: list[Point] = field(default_factory=list)


def _ticks(start: date, end: date) -> list[date]:
    span = (end - start).days
    if span <= 35:
        return [start + timedelta(days=d) for d in range(0, span + 1, 7)]
    months = []
    y, m = start.year, start.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        d = date(y, m, 1)
        if d > end:
            break
        months.append(d)
    step = max(1, -(-len(months) // 10))  # at most about ten labels
    return months[::step]


def layout(timeline: Timeline, *, width: int = 960) -> Layout:
    left, pad = 180, 24
    right = width - pad
    row_h, bar_h = 30, 18
    axis_y, band_y, band_h = 24, 40, 34
    holder_y, holder_h = 84, 22
    event_y, deadline_y = 132, 164
    bar_y0 = 190
    height = bar_y0 + row_h * max(len(timeline.bars), 1) + 30  # room for the today label
    span = max((timeline.end - timeline.start).days, MIN_SPAN_DAYS)
    axis_end = timeline.start + timedelta(days=span)

    def x(day: date) -> float:
        return round(left + (day - timeline.start).days / span * (right - left), 1)

    def box(a: date, b: date, item, row: int = 0) -> Box:
        x0 = x(a)
        return Box(x0, max(round(x(b) - x0, 1), 4.0), item, row)

    out = Layout(width, height, left, right, axis_y, band_y, band_h, holder_y, holder_h,
                 event_y, deadline_y, bar_y0, bar_h, row_h, axis_end)
    if timeline.start <= timeline.today <= axis_end:
        out.today_x = x(timeline.today)
    out.ticks = [Tick(x(d), d) for d in _ticks(timeline.start, axis_end)]
    out.bands = [box(b.start, b.end, b) for b in timeline.bands]
    out.holders = [box(max(h.start, timeline.start), h.end, h) for h in timeline.holders]
    out.bars = [box(b.start, b.end, b, i) for i, b in enumerate(timeline.bars)]
    out.overdue = [box(b.evaluate_by, min(timeline.today, axis_end), b, i)
                   for i, b in enumerate(timeline.bars) if b.overdue_days]
    out.marks = [Point(x(m.on), m) for m in timeline.marks]
    out.deadlines = [Point(x(d.on), d) for d in timeline.deadlines]
    return out


# --- the action guide's flowchart (Slik jobber vi) -----------------------------------------------
#
# A layered layout of the workflow's state graph (``bti.services.workflows.guide.GuideGraph``, the
# arrows of the Mermaid diagram): one row (layer) per level, top to bottom in the file's order;
# in a row the states by phase (plan, active, evaluation, decision), left to right. An arrow to
# the next box of the same row is a straight line; every other arrow is routed orthogonally
# through the gaps between the rows, in a lane of its own, and an arrow that spans more than one
# row runs down (or up) a channel of its own right of the boxes, so no arrow crosses a box.
# Deterministic, and computed once per workflow id, version, content hash and language.

FLOW_LABEL_W = 150
FLOW_BOX_W = 172
FLOW_BOX_H = 66
FLOW_COL_GAP = 34
FLOW_PAD = 10
FLOW_LANE = 8
FLOW_TOP = 10
#: Characters per line of a box's text, and lines at most.
FLOW_WRAP = 24
FLOW_LINES = 3


@dataclass(frozen=True)
class StepBox:
    name: str
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]
    final: bool
    initial: bool

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass(frozen=True)
class LevelBand:
    level: str
    y: float
    h: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Arrow:
    source: str
    dest: str
    d: str  # the SVG path
    title: str


@dataclass
class WorkflowChart:
    width: int
    height: int
    bands: list[LevelBand] = field(default_factory=list)
    boxes: list[StepBox] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)


def wrap(text: str, width: int = FLOW_WRAP, lines: int = FLOW_LINES) -> tuple[str, ...]:
    """``text`` in lines of at most ``width`` characters (a longer word stands alone), at most
    ``lines`` of them, the last ending in "…" when the text is longer."""
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: max(width - 1, 1)].rstrip() + "…"
    return tuple(out)


_FLOW_CACHE: dict[tuple, WorkflowChart] = {}


def workflow_chart(graph: GuideGraph) -> WorkflowChart:
    """The flowchart of ``graph`` (a ``GuideGraph``), cached by its key."""
    chart = _FLOW_CACHE.get(graph.key)
    if chart is None:
        chart = _FLOW_CACHE[graph.key] = _workflow_chart(graph)
    return chart


def _workflow_chart(graph: GuideGraph) -> WorkflowChart:
    layers = sorted({n.layer for n in graph.nodes})
    row_of = {layer: i for i, layer in enumerate(layers)}
    cols = max((n.order for n in graph.nodes), default=0) + 1
    node = {n.name: n for n in graph.nodes}
    level_label = dict(graph.level_labels)
    band_h = FLOW_BOX_H + 2 * FLOW_PAD

    # lanes: how many arrows use each gap (gap i lies below row i), and each channel
    def _row(name: str) -> int:
        return row_of[node[name].layer]

    straight, routed = [], []
    for e in graph.edges:
        if (_row(e.source) == _row(e.dest)
                and node[e.dest].order == node[e.source].order + 1):
            straight.append(e)
        else:
            routed.append(e)
    gap_use: dict[int, int] = {}
    plans = []
    channels = 0
    for e in routed:
        rs, rt = _row(e.source), _row(e.dest)
        if rt > rs:  # down: leave through the gap below the source, enter from above
            gaps = [rs] if rt == rs + 1 else [rs, rt - 1]
        elif rt < rs:  # up: leave through the gap above the source, enter from below
            gaps = [rs - 1] if rt == rs - 1 else [rs - 1, rt]
        else:  # same row, not the next box: through the gap above the row
            gaps = [rs - 1]
        lanes = []
        for g in gaps:
            lanes.append(gap_use.get(g, 0))
            gap_use[g] = gap_use.get(g, 0) + 1
        channel = None
        if len(gaps) == 2:
            channel = channels
            channels += 1
        plans.append((e, gaps, lanes, channel))
    gap_h = {g: max(n, 1) * FLOW_LANE + 2 * FLOW_LANE for g, n in gap_use.items()}

    # rows: the y of each band (a gap of -1 lies above the first row)
    y = FLOW_TOP + gap_h.get(-1, 0)
    band_y: dict[int, float] = {}
    for r in range(len(layers)):
        band_y[r] = y
        y += band_h + gap_h.get(r, 2 * FLOW_LANE)
    height = int(y)
    left = FLOW_LABEL_W + 10
    boxes_right = left + cols * FLOW_BOX_W + (cols - 1) * FLOW_COL_GAP
    width = int(boxes_right + FLOW_COL_GAP / 2 + channels * FLOW_LANE * 2 + 10)
    chart = WorkflowChart(width, height)

    for r, layer in enumerate(layers):
        level = next(n.level for n in graph.nodes if n.layer == layer)
        chart.bands.append(LevelBand(level, band_y[r], band_h,
                                     wrap(level_label.get(level, level), 20, 4)))
    box: dict[str, StepBox] = {}
    for n in graph.nodes:
        b = StepBox(n.name, left + n.order * (FLOW_BOX_W + FLOW_COL_GAP),
                    band_y[row_of[n.layer]] + FLOW_PAD, FLOW_BOX_W, FLOW_BOX_H,
                    wrap(n.label), n.final, n.name == graph.initial)
        box[n.name] = b
        chart.boxes.append(b)

    def lane_y(gap: int, lane: int) -> float:
        top = band_y[gap] + band_h if gap >= 0 else FLOW_TOP
        return top + FLOW_LANE * (lane + 1.5)

    # spread the ends of the arrows that meet one side of a box
    ends: dict[tuple[str, str], int] = {}

    def end_x(name: str, side: str) -> float:
        k = ends.get((name, side), 0)
        ends[(name, side)] = k + 1
        offset = ((k + 1) // 2) * 12 * (1 if k % 2 else -1)
        return round(box[name].cx + offset, 1)

    for e in straight:
        a, b = box[e.source], box[e.dest]
        yy = a.y + a.h / 2
        chart.arrows.append(Arrow(e.source, e.dest,
                                  f"M{a.x + a.w:.1f},{yy:.1f} H{b.x - 2:.1f}", e.label))
    for e, gaps, lanes, channel in plans:
        s, t = box[e.source], box[e.dest]
        rs, rt = _row(e.source), _row(e.dest)
        down = rt > rs
        sx = end_x(e.source, "bottom" if down else "top")
        tx = end_x(e.dest, "top" if down or rt == rs else "bottom")
        sy = s.y + s.h if down else s.y
        ty = t.y - 2 if down or rt == rs else t.y + t.h + 2
        y1 = lane_y(gaps[0], lanes[0])
        if channel is None:
            d = f"M{sx:.1f},{sy:.1f} V{y1:.1f} H{tx:.1f} V{ty:.1f}"
        else:
            cx = boxes_right + FLOW_COL_GAP / 2 + channel * FLOW_LANE * 2
            y2 = lane_y(gaps[1], lanes[1])
            d = f"M{sx:.1f},{sy:.1f} V{y1:.1f} H{cx:.1f} V{y2:.1f} H{tx:.1f} V{ty:.1f}"
        chart.arrows.append(Arrow(e.source, e.dest, d, e.label))
    return chart
