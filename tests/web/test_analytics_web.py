"""The analytics dashboard, its drill-down, the catalogue pages and the exports through the real
app: access, suppression, formula neutralising, the XLSX and the PDF."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.clock import local_date
from bti.domain.log import AuditEvent
from bti.domain.org import User
from tests.factories import FIXED_NOW
from tests.services.test_analytics_export import FOREIGN
from tests.services.test_analytics_export import WORDS
from tests.services.test_analytics_export import texts
from tests.web.test_inbox_leader import audit_rows
from tests.web.test_inbox_leader import build

EVIL = '=HYPERLINK("http://example.invalid","klikk")'


@pytest.fixture
def fixed_clock(app):
    app.extensions["bti"].clock = lambda: FIXED_NOW


def seven_cases(app, world):
    """Seven cases reach nivå 1 (days in nivå 0: 1..7); five start a measure from a catalogue
    item whose name looks like a formula, two from one starting with a tab."""
    def fn(sc, u):
        from bti.services.analytics import catalogue

        ctx = sc.ctx(u["leader"], -60)
        evil = catalogue.create_item(ctx, catalogue.ItemInput(
            name=EVIL, description="", kind="universal", age_from=6, age_to=16))
        tab = catalogue.create_item(ctx, catalogue.ItemInput(
            name="\t@SUM(1)", description="", kind="indicated", age_from=6, age_to=16))
        ids = []
        for k in range(1, 8):
            case = sc.open(u["teacher"], day=-50, pseudonym=f"Web {k}")
            sc.to_n1(case, u["teacher"], u["leader"], u["coordinator"], day=-50 + k)
            sc.fire(u["coordinator"], case, "add_measure", {
                "description": "Samtale", "responsible": u["coordinator"].id,
                "start_date": sc.date(-40), "evaluate_by": sc.date(-20),
                "catalogue": evil.id if k <= 5 else tab.id}, day=-40)
            ids.append(case.id)
        return ids
    return build(app, world, fn)


def test_leaders_and_admins_see_the_dashboard_others_do_not(app, web_world, login, fixed_clock):
    seven_cases(app, web_world)
    page = login("leader", web_world).get("/analyse/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'role="img"' in html
    assert "<title id=\"flow-title\">" in html
    assert "fewer than 5" in html  # flows from nivå 1 are absent, but the total of nivå 0 is 7 …
    assert "&lt;5" not in html  # never a "<5" that reads like a number
    assert ">7<" in html
    assert "Web 1" not in html  # no names
    assert login("admin", web_world).get("/analyse/").status_code == 200
    for who in ("teacher", "coordinator", "nurse", "privacy"):
        assert login(who, web_world).get("/analyse/").status_code == 403, who
    foreign = login("foreign", web_world)
    board = foreign.get("/analyse/")
    assert board.status_code == 200
    assert ">7<" not in board.get_data(as_text=True)  # their own municipality only
    school = web_world.unit_ids["school"]
    assert foreign.get(f"/analyse/?eining={school}").status_code == 404
    assert foreign.get(f"/analyse/eksport.csv?eining={school}").status_code == 404
    rows = audit_rows(app, "analytics.viewed", web_world.users["leader"].id)
    assert len(rows) == 1
    assert rows[0].case_id is None


def test_bad_filters_answer_422_with_the_form(app, web_world, login, fixed_clock):
    r = login("leader", web_world).get("/analyse/?fra=2026-13&til=2026-01")
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.get_data(as_text=True)


def test_drill_down_lists_case_numbers_of_the_leaders_unit(app, web_world, login, fixed_clock):
    ids = seven_cases(app, web_world)
    leader = login("leader", web_world)
    r = leader.get("/analyse/fast/evaluation_overdue")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert all(f"/leiar/sak/{cid}/tidslinje" in html for cid in ids)
    assert leader.get("/analyse/fast/nothing").status_code == 404
    assert login("admin", web_world).get("/analyse/fast/evaluation_overdue").status_code == 403
    assert login("foreign", web_world).get("/analyse/fast/evaluation_overdue").status_code == 200
    with app.extensions["bti"].session_factory() as s:
        listed = set(s.scalars(select(AuditEvent.case_id).where(
            AuditEvent.action == "case.listed")))
    assert listed == set(ids)


def test_csv_export_is_suppressed_neutralised_and_audited(app, web_world, login, fixed_clock):
    seven_cases(app, web_world)
    r = login("leader", web_world).get("/analyse/eksport.csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff")),
                           delimiter=";"))
    cells = [c for row in rows for c in row]
    assert "'" + EVIL in cells
    assert "'\t@SUM(1)" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    evil_row = next(row for row in rows if row and row[0] == "'" + EVIL)
    assert evil_row[2:4] == ["5", "0"]  # started 5, evaluated 0
    tab_row = next(row for row in rows if row and row[0] == "'\t@SUM(1)")
    assert tab_row[2] == "fewer than 5"  # started 2: suppressed, in words
    assert audit_rows(app, "analytics.exported", web_world.users["leader"].id)


def test_xlsx_opens_and_is_neutralised(app, web_world, login, fixed_clock):
    seven_cases(app, web_world)
    r = login("admin", web_world).get("/analyse/eksport.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    values = [c.value for row in wb.active.iter_rows() for c in row if c.value is not None]
    assert "'" + EVIL in values
    assert not any(isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t")) for v in values)
    assert "fewer than 5" in values
    assert "<5" not in values
    assert 7 in values  # numbers stay numbers (the total of open cases)
    formulas = [c for row in wb.active.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


def test_pdf_is_produced(app, web_world, login, fixed_clock):
    seven_cases(app, web_world)
    r = login("leader", web_world).get("/analyse/eksport.pdf?fra=2025-06&til=2026-03")
    assert r.status_code == 200
    assert r.data.startswith(b"%PDF-")
    assert len(r.data) > 2000
    assert login("leader", web_world).get("/analyse/eksport.doc").status_code == 404


def test_catalogue_pages_add_edit_deactivate(app, web_world, login, fixed_clock):
    leader = login("leader", web_world)
    assert leader.get("/tiltaksoversikt/").status_code == 200
    r = leader.post("/tiltaksoversikt/", {"name": "", "kind": "x", "age_from": "3",
                                          "age_to": "30"})
    assert r.status_code == 422
    r = leader.post("/tiltaksoversikt/", {"name": "Leksehjelp", "description": "Etter skuletid",
                                          "kind": "universal", "age_from": "6", "age_to": "16"})
    assert r.status_code == 302
    with app.extensions["bti"].session_factory() as s:
        item = s.scalar(select(MeasureCatalogueItem))
    assert (item.name, item.kind, item.age_from, item.age_to, item.active) == (
        "Leksehjelp", "universal", 6, 16, True)
    assert leader.get(f"/tiltaksoversikt/{item.id}").status_code == 200
    r = leader.post(f"/tiltaksoversikt/{item.id}", {"name": "Leksehjelp 2", "kind": "selective",
                                                    "age_from": "10", "age_to": "16"})
    assert r.status_code == 302
    assert leader.post(f"/tiltaksoversikt/{item.id}/aktiv", {"active": "0"}).status_code == 302
    with app.extensions["bti"].session_factory() as s:
        item = s.get(MeasureCatalogueItem, item.id)
        assert (item.name, item.active) == ("Leksehjelp 2", False)
        actions = list(s.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "measure_catalogue").order_by(AuditEvent.id)))
    assert actions == ["catalogue.created", "catalogue.updated", "catalogue.deactivated"]
    foreign = login("foreign", web_world)
    assert foreign.get(f"/tiltaksoversikt/{item.id}").status_code == 404
    assert foreign.post(f"/tiltaksoversikt/{item.id}/aktiv", {"active": "1"}).status_code == 404
    # a teacher plans measures: browses the catalogue (issue 18), but keeps none of it
    teacher = login("teacher", web_world)
    assert teacher.get("/tiltaksoversikt/").status_code == 200
    assert teacher.get(f"/tiltaksoversikt/{item.id}").status_code == 403
    assert login("privacy", web_world).get("/tiltaksoversikt/").status_code == 403


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_exports_are_in_the_users_language(app, web_world, login, fixed_clock, lang):
    """The web passes Flask-Babel's translations for the user's language: the same words as
    the catalogues loaded without Flask (tests/services/test_analytics_export.py)."""
    seven_cases(app, web_world)  # every user reads English …
    with app.extensions["bti"].session_factory.begin() as s:  # … but the leader, now
        s.get(User, web_world.users["leader"].id).locale = lang
    leader = login("leader", web_world)
    absent = ("Fritekst", "Free text", "Selektiv", "Selective")  # no such measure here
    words = [w for w in WORDS[lang][:-1] if not w.startswith(absent)]
    for fmt in ("csv", "xlsx", "pdf"):
        r = leader.get(f"/analyse/eksport.{fmt}")
        assert r.status_code == 200, fmt
        found = texts(fmt, r.data)
        run = " ".join(found)
        missing = [w for w in words if w not in found and w not in run]
        assert not missing, (fmt, missing)
        assert not [w for w in FOREIGN[lang] if w in found], fmt


@pytest.mark.parametrize(("lang", "expected"), [
    ("nb", ("12,5\xa0%", "33,3\xa0%", "1\xa0234,5", "7", "færre enn 5")),
    ("nn", ("12,5\xa0%", "33,3\xa0%", "1\xa0234,5", "7", "færre enn 5")),
    ("en", ("12.5%", "33.3%", "1,234.5", "7", "fewer than 5")),
])
def test_figures_are_formatted_for_the_language(app, lang, expected):
    """One filter for figures (``num``) and one for shares (``pct``), through Babel: a
    decimal comma and a space before the per cent sign in Norwegian; a suppressed figure in
    words, never "<5"."""
    from flask import render_template_string

    with app.test_request_context("/", headers={"Accept-Language": lang}):
        text = render_template_string(
            "{{ 12.5|pct }}|{{ 33.3|pct }}|{{ 1234.5|num }}|{{ 7|num }}|{{ none|num }}"
            "|{{ none|pct }}")
    assert text.split("|") == [*expected, expected[-1]]


def test_the_dashboard_says_fewer_than_5_in_norwegian(app, web_world, login, fixed_clock):
    seven_cases(app, web_world)
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(User, web_world.users["leader"].id).locale = "nb"
    html = login("leader", web_world).get("/analyse/").get_data(as_text=True)
    assert "færre enn 5" in html
    assert "&lt;5" not in html


def test_a_suppressed_bar_is_labelled_in_words(app):
    from flask import render_template_string

    from bti.web import charts

    chart = charts.bar_chart([("Nivå 1", None, "n1"), ("Nivå 2", 7, "n2")])
    source = '{% from "analytics/_charts.html" import hbars %}{{ hbars("x", c, "T", "D") }}'
    with app.test_request_context("/", headers={"Accept-Language": "nb"}):
        svg = render_template_string(source, c=chart)
    assert ">færre enn 5</text>" in svg
    assert ">7</text>" in svg
    assert "&lt;5" not in svg


def test_a_chart_without_data_says_so(app, web_world, login, fixed_clock):
    """No case at all: every chart says there is nothing to show, none draws empty axes."""
    html = login("leader", web_world).get("/analyse/").get_data(as_text=True)
    assert html.count('<p class="an-no-data">Ingen data å vise i dette diagrammet.</p>') == 3
    assert 'class="an-svg"' not in html
    seven_cases(app, web_world)
    html = login("leader", web_world).get("/analyse/").get_data(as_text=True)
    assert 'class="an-svg"' in html  # the open cases' bars, now there are some


def test_the_stuck_list_names_its_category_holder_and_days_overdue(app, web_world, login,
                                                                    fixed_clock):
    ids = seven_cases(app, web_world)  # every measure was to be evaluated on day -20
    with app.extensions["bti"].session_factory() as s:
        holder = s.get(User, web_world.users["coordinator"].id).display_name
    html = login("leader", web_world).get("/analyse/fast/evaluation_overdue").get_data(
        as_text=True)
    assert "Evaluation overdue (a measure past its evaluation date)" in html
    table = html[html.index('<table class="table an-table an-stuck">'):]
    table = table[:table.index("</table>")]
    heads = [h.split(">", 1)[1].split("<", 1)[0] for h in table.split('<th scope="col"')[1:]]
    assert heads == ["Case", "Stafettholder", "Deadline", "Days overdue"]
    assert table.count("<tr>") == len(ids) + 1
    assert table.count(f"<td>{holder}</td>") == len(ids)
    assert table.count('<td class="num">20</td>') == len(ids)
    due = local_date(FIXED_NOW) - timedelta(days=20)
    assert table.count(f'<time datetime="{due.isoformat()}">') == len(ids)
