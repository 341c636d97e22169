"""«Slik jobber vi» (issue 18 §1): the municipality's action guide is its current workflow in
plain words, in the reader's language, with every state, every step and who takes it, the
deadlines and the standing exits; its flowchart is a layered layout of the Mermaid diagram's
graph in which no arrow crosses a box. All names are made up."""

from __future__ import annotations

import re

import pytest

from bti.domain.org import Municipality
from bti.domain.vocabulary import GUARDS
from bti.engine.mermaid import arrows
from bti.engine.mermaid import standing_exits
from bti.services.cases.audience import BarnevernContacts
from bti.services.errors import NotFound
from bti.services.workflows import guide as guide_service
from bti.web import charts
from tests.factories import make_user

NO_CONTACTS = BarnevernContacts(None, None, None)


def test_the_guide_is_the_municipalitys_current_workflow(world, session):
    w = world
    m = session.get(Municipality, w.municipality.id)
    m.barnevern_phone, m.barnevernvakt_phone = "11 22 33 44", "55 66 77 88"
    g = guide_service.guide(w.ctx(w.teacher), "nn")
    assert (g.workflow_id, g.record_id) == (
        "bti-standard", w.registry.current_record_id(session, "bti-standard"))
    assert g.title == "BTI – standardmodell (KoRus)"
    assert g.contacts == BarnevernContacts("11 22 33 44", None, "55 66 77 88")
    assert [lv.label for lv in g.levels][:2] == ["Nivå 0 – undring og avklaring",
                                                 "Nivå 1 – tiltak i eiga teneste"]
    first = g.step("n0_plan")
    assert first.label == "Undring: konkretiser uroa"  # nynorsk, from the file
    assert first.help.startswith("Kva har du sett og høyrt")
    start = first.moves[0]
    assert (start.trigger, start.dest, start.roles) == (
        "start", "n0_active", ("reporter", "stafettholder", "unit_leader"))
    assert "Registrer" not in start.label
    decide = g.step("n0_evaluation").moves[0]
    assert decide.requires == (GUARDS["home_informed"]["nn"],)
    assert g.levels[0].decision_days == 14
    assert {t.trigger for t in g.standing} == {"report_barnevernet", "avvergeplikt"}
    assert g.step("n1_plan").records  # what is recorded there without moving
    assert g.guidance
    assert "{youth_consent_age}" not in " ".join(t for _, t in g.guidance)
    # another workflow for the municipality: the guide follows at once
    m.workflow_id = "aukra"
    session.flush()
    assert guide_service.guide(w.ctx(w.teacher), "nb").workflow_id == "aukra"


def test_every_member_of_staff_reads_it_and_nobody_else(world, session):
    w = world
    for actor in (w.teacher, w.coordinator, w.leader, w.nurse, w.admin, w.foreign):
        assert guide_service.guide(w.ctx(actor), "nb").levels
    nobody = make_user(session, w.municipality, None, (), username="utan_rolle")
    with pytest.raises(NotFound):
        guide_service.guide(w.ctx(nobody), "nb")


@pytest.mark.parametrize("workflow_id", ["bti-standard", "aukra", "donna", "orland",
                                         "vestre-slidre"])
def test_every_state_and_step_of_each_workflow_is_in_the_guide(registry, workflow_id):
    d = registry.files[workflow_id]
    g = guide_service.build(d, "en", record_id=1, contacts=NO_CONTACTS, municipality_name="X")
    listed = [s.name for lv in g.levels for s in lv.steps]
    assert sorted(listed) == sorted(s.name for s in d.states)
    moves = {(s.name, m.dest, m.trigger) for lv in g.levels for s in lv.steps for m in s.moves}
    assert moves == {(src, dst, t.trigger) for src, dst, t in arrows(d)}
    assert [t.trigger for t in g.standing] == [t.trigger for t in standing_exits(d)]
    graph = g.graph
    assert {(e.source, e.dest) for e in graph.edges} == {(s, t) for s, t, _ in arrows(d)}
    assert {n.name for n in graph.nodes} == {s.name for s in d.states}


_SEGMENT = re.compile(r"([MHV])([\d.]+)(?:,([\d.]+))?")


def _segments(path: str):
    """The straight segments of an orthogonal path ``M x,y H x V y …``."""
    x = y = 0.0
    out = []
    for cmd, a, b in _SEGMENT.findall(path):
        if cmd == "M":
            x, y = float(a), float(b)
            continue
        nx, ny = (float(a), y) if cmd == "H" else (x, float(a))
        out.append((x, y, nx, ny))
        x, y = nx, ny
    return out


def _crosses(seg, box) -> bool:
    """The segment runs through the box's inside (touching its edge is how an arrow ends)."""
    x1, y1, x2, y2 = seg
    left, top, right, bottom = box.x + 1, box.y + 1, box.x + box.w - 1, box.y + box.h - 1
    if y1 == y2:
        return top < y1 < bottom and min(x1, x2) < right and max(x1, x2) > left
    return left < x1 < right and min(y1, y2) < bottom and max(y1, y2) > top


@pytest.mark.parametrize("workflow_id", ["bti-standard", "aukra", "donna", "orland",
                                         "vestre-slidre"])
def test_the_flowchart_is_a_layered_layout_where_no_arrow_crosses_a_box(registry, workflow_id):
    d = registry.files[workflow_id]
    g = guide_service.build(d, "nb", record_id=1, contacts=NO_CONTACTS, municipality_name="X")
    chart = charts.workflow_chart(g.graph)
    assert charts.workflow_chart(g.graph) is chart  # cached per id, version, hash, language
    assert len(chart.boxes) == len(d.states)
    assert len(chart.arrows) == len(arrows(d))
    assert len(chart.bands) == len(d.levels)
    level_of = {s.name: s.level for s in d.states}
    band_of = {b.level: b for b in chart.bands}
    for box in chart.boxes:
        assert box.x >= 0
        assert box.x + box.w <= chart.width
        band = band_of[level_of[box.name]]
        assert band.y <= box.y
        assert box.y + box.h <= band.y + band.h
        assert 1 <= len(box.lines) <= charts.FLOW_LINES
    # rows go down in the file's order of levels
    assert [b.level for b in sorted(chart.bands, key=lambda b: b.y)] == [
        lv.id for lv in d.levels]
    for arrow in chart.arrows:
        for seg in _segments(arrow.d):
            for box in chart.boxes:
                assert not _crosses(seg, box), (arrow.source, arrow.dest, box.name)
            assert all(0 <= v <= max(chart.width, chart.height) for v in seg)


def test_wrap_keeps_lines_short_and_marks_what_is_cut():
    assert charts.wrap("Nivå 3: planleggingsmøte (vurder IP og koordinator)", 24, 3) == (
        "Nivå 3: planleggingsmøte", "(vurder IP og", "koordinator)")
    assert charts.wrap("a b c d e f", 3, 2) == ("a b", "c…")
