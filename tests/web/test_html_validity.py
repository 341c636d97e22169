"""The main pages are valid HTML (issue 11 §2): the Nu HTML Checker (vnu.jar, the W3C's
validator) over the case page, the dashboard, the inbox, the sign-in page and their neighbours,
in bokmål and English, with 0 errors. The pages come from the real app with real data (cases
through the services, a note through the page, so a log entry carries microseconds like a live
one), and every page links the favicon.

vnu.jar is found at ``BTI_VNU_JAR``, else in the npm package ``vnu-jar`` under
``.venv/vnu`` or ``.venv/e2e-node``; Java 17+ runs it. Without it the test skips, unless
``BTI_REQUIRE_VNU`` is set (CI), where it fails. All names are made up."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.factories import FIXED_NOW
from tests.web.test_analytics_web import seven_cases
from tests.web.test_cases_ui import _version
from tests.web.test_ip_web import ip_case
from tests.web.test_teams_web import team_pages

ROOT = Path(__file__).resolve().parents[2]
VNU_CANDIDATES = [Path(p) for p in (os.environ.get("BTI_VNU_JAR"),) if p] + [
    ROOT / ".venv" / d / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
    for d in ("vnu", "e2e-node")]
REQUIRED = os.environ.get("BTI_REQUIRE_VNU", "") not in ("", "0")
INSTALL_HINT = "npm install --prefix .venv/vnu vnu-jar (or set BTI_VNU_JAR)"


def _vnu() -> Path:
    jar = next((p for p in VNU_CANDIDATES if p.is_file()), None)
    if jar is None or shutil.which("java") is None:
        message = f"the Nu HTML Checker is missing: {INSTALL_HINT}; and Java 17+"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return jar


def check(jar: Path, pages: dict[str, str], tmp_path: Path) -> list[str]:
    """Every error vnu finds in ``pages`` (name → HTML), as ``name:line: message``."""
    files = []
    for name, html in pages.items():
        path = tmp_path / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".html")
        path.write_text(html, encoding="utf-8")
        files.append(path)
    run = subprocess.run(  # noqa: S603 - our own jar and files
        ["java", "-jar", str(jar), "--errors-only", "--format", "json", "--exit-zero-always",
         *map(str, files)], capture_output=True, text=True, timeout=300, check=True)
    by_file = {f"file:{p}": n for p, n in zip(files, pages, strict=True)}
    return [f"{by_file.get(m.get('url'), m.get('url'))}:{m.get('lastLine')}: {m['message']}"
            f" [{m.get('extract', '').strip()[:80]}]"
            for m in json.loads(run.stderr or run.stdout)["messages"]
            if m.get("type") == "error"]


def _pages(app, web_world, login, browser) -> dict[str, str]:
    ext = app.extensions["bti"]
    ext.clock = lambda: FIXED_NOW
    case_ids = seven_cases(app, web_world)
    # a live clock has microseconds: the note's log entry carries them
    ext.clock = lambda: FIXED_NOW + timedelta(microseconds=123456)
    pages: dict[str, str] = {}
    sign_in = browser.get("/auth/login")
    assert sign_in.status_code == 200
    pages["login"] = sign_in.get_data(as_text=True)
    coordinator = login("coordinator", web_world)
    leader = login("leader", web_world)
    admin = login("admin", web_world)
    nurse = login("nurse", web_world)
    ip_id = ip_case(app, web_world)  # an IP case the nurse coordinates
    assert nurse.post(f"/saker/{ip_id}/handling/record_ansvarsgruppe_meeting", {
        "expected_version": _version(nurse.get(f"/saker/{ip_id}").get_data(as_text=True),
                                     "record_ansvarsgruppe_meeting"),
        "held_on": FIXED_NOW.date().isoformat(), "place": "Helsestasjonen",
        "minutes": "Plan & mål <laga> saman"}).status_code == 303
    case_id = case_ids[0]
    html = coordinator.get(f"/saker/{case_id}").get_data(as_text=True)
    r = coordinator.post(f"/saker/{case_id}/handling/add_note",
                         {"expected_version": _version(html, "add_note"),
                          "text": "Samtale med kontaktlærar <5 min. & vel gjennomført"})
    assert r.status_code == 303, r.get_data(as_text=True)[-800:]
    admin.get("/arshjul/rutinar")  # the annual wheel: a yearly period and a one-day routine
    for form in ({"kind": "mapping", "title": "Kartlegging <språk> & lesing",
                  "starts_on": "2026-03-10", "ends_on": "2026-03-31", "repeat": "yearly",
                  "description": "Alle einingar.", "responsible": "BTI-koordinator"},
                 {"kind": "network", "title": "Nettverksmøte", "starts_on": "2026-05-04",
                  "repeat": "once", "unit_id": str(web_world.unit_ids["school"])}):
        assert admin.post("/arshjul/rutinar", form).status_code == 302
    for lang in ("en", "nb"):
        for b in (coordinator, leader, admin, nurse):
            b.get("/saker/")
            assert b.post("/auth/language", {"lang": lang, "next": "/saker/"}).status_code == 302
        for name, b, url in (
                ("case page", coordinator, f"/saker/{case_id}"),
                ("case page, one entry", coordinator, f"/saker/{case_id}?kind=note"),
                ("case page, more entries", coordinator, f"/saker/{case_id}?shown=100"),
                ("action page", coordinator, f"/saker/{case_id}/handling/record_meeting"),
                ("action page, consent", coordinator, f"/saker/{case_id}/handling/give_consent"),
                ("action page, refused", coordinator, f"/saker/{case_id}/handling/decide"),
                ("action page, move", coordinator, f"/saker/{case_id}/handling/move_unit"),
                ("case page, individual plan", nurse, f"/saker/{ip_id}"),
                ("ansvarsgruppe", nurse, f"/saker/{ip_id}/ansvarsgruppe"),
                ("ansvarsgruppe, no IP", coordinator, f"/saker/{case_id}/ansvarsgruppe"),
                ("action page, ansvarsgruppe member", nurse,
                 f"/saker/{ip_id}/handling/add_ansvarsgruppe_member"),
                ("individual plans", leader, "/leiar/ip"),
                ("inbox", coordinator, "/saker/"),
                ("notifications", coordinator, "/varsler/"),
                ("notification settings", coordinator, "/varsler/innstillinger"),
                ("new concern", coordinator, "/saker/ny"),
                ("dashboard", leader, "/analyse/"),
                ("dashboard with errors", leader, "/analyse/?fra=2026-13&eining=%C2%B2"),
                ("unit overview", leader, "/leiar/"),
                ("timeline", leader, f"/leiar/sak/{case_id}/tidslinje"),
                ("stuck cases", leader, "/analyse/fast/evaluation_overdue"),
                ("access log", leader, f"/tilgang/logg?case={case_id}"),
                ("catalogue", leader, "/tiltaksoversikt/"),
                ("catalogue, search", coordinator, "/tiltaksoversikt/?q=sum&alder=9&type="),
                ("catalogue, yearly review", leader, "/tiltaksoversikt/gjennomgang"),
                ("add measure, age-ordered pick list", coordinator,
                 f"/saker/{case_id}/handling/add_measure"),
                ("action guide", coordinator, "/slik-jobber-vi/"),
                ("action guide, case at hand", coordinator,
                 f"/slik-jobber-vi/?sak={case_id}&steg=n1_plan"),
                ("accessibility statement", coordinator, "/tilgjengelighet/"),
                ("not found", leader, "/saker/99999"),
                ("municipality settings", admin, "/admin/municipality"),
                ("units", admin, "/admin/units"),
                ("new unit", admin, "/admin/units/new"),
                ("unit", admin, f"/admin/units/{web_world.unit_ids['school']}"),
                ("import", admin, "/admin/import"),
                ("settings", coordinator, "/innstillinger"),
                ("family access (staff)", coordinator, f"/saker/{case_id}/familie"),
                ("family sign-in", browser, "/familie/"),
                ("annual wheel", leader, "/arshjul/"),
                ("annual wheel, keeping", admin, "/arshjul/rutinar")):
            r = b.get(url)
            assert r.status_code in (200, 403, 404, 422), (name, r.status_code)
            pages[f"{name} ({lang})"] = r.get_data(as_text=True)
        item = re.search(r'href="(/tiltaksoversikt/tiltak/\d+)"',
                         pages[f"catalogue ({lang})"]).group(1)
        pages[f"catalogue item ({lang})"] = coordinator.get(item).get_data(as_text=True)
        wheel_item = re.search(r'href="(/arshjul/rutinar/\d+)"',
                               pages[f"annual wheel, keeping ({lang})"]).group(1)
        pages[f"annual wheel, a routine ({lang})"] = admin.get(wheel_item).get_data(as_text=True)
        r = admin.post("/arshjul/rutinar", {"kind": "nope", "title": "", "starts_on": "2026-03-10",
                                            "ends_on": "2026-03-01", "unit_id": "99999"})
        assert r.status_code == 422
        pages[f"annual wheel with errors ({lang})"] = r.get_data(as_text=True)
        admin.get("/admin/municipality")
        r = admin.post("/admin/municipality", {"barnevern_phone": "ring meg",
                                               "barnevern_email": "nei"})
        assert r.status_code == 422
        pages[f"municipality settings with errors ({lang})"] = r.get_data(as_text=True)
        # the organisation: a unit form with errors, a refused deactivation, an import
        # refused by line and one imported with its one-time passwords
        admin.get("/admin/units/new")
        r = admin.post("/admin/units/new", {"name": "", "kind": "nope"})
        assert r.status_code == 422
        pages[f"new unit with errors ({lang})"] = r.get_data(as_text=True)
        admin.get("/admin/units")
        r = admin.post(f"/admin/units/{web_world.unit_ids['school']}/deactivate")
        assert r.status_code == 422
        pages[f"unit, deactivation refused ({lang})"] = r.get_data(as_text=True)
        admin.get("/admin/import")
        r = admin.post("/admin/import", {"file": (io.BytesIO(
            b"record,unit,kind,username,name,roles\nunit,,nope,,,\nuser,Ukjend,,x y,,boss\n"),
            "org.csv")})
        assert r.status_code == 422
        pages[f"import refused ({lang})"] = r.get_data(as_text=True)
        admin.get("/admin/import")
        r = admin.post("/admin/import", {"file": (io.BytesIO(
            f"record,unit,kind,username,name,roles\nunit,Ny skule {lang},school,,,\n"
            f"user,Ny skule {lang},,ny.{lang},Ny Lærar,employee\n".encode()), "org.csv")})
        assert r.status_code == 200, r.get_data(as_text=True)[-800:]
        pages[f"imported ({lang})"] = r.get_data(as_text=True)
        # the settings page showing the calendar address once, then with the feed on
        r = coordinator.post("/innstillinger/kalender")
        assert r.status_code == 200
        pages[f"settings, calendar address ({lang})"] = r.get_data(as_text=True)
        pages[f"settings, calendar on ({lang})"] = coordinator.get("/innstillinger").get_data(
            as_text=True)
        # the concern form with its error summary, its confirmation step, the urgent page
        concern = {"child_pseudonym": "Kari Nordmann", "child_birth_year": "2016",
                   "what_seen": "Barnet var stille", "violence_suspected": "true"}
        r = coordinator.post("/saker/ny", {"child_pseudonym": "", "what_seen": ""})
        assert r.status_code == 422
        pages[f"new concern with errors ({lang})"] = r.get_data(as_text=True)
        r = coordinator.post("/saker/ny", concern)
        assert r.status_code == 200
        pages[f"new concern to confirm ({lang})"] = r.get_data(as_text=True)
        r = coordinator.post("/saker/ny", {**concern, "confirmed": "1"})
        assert r.status_code == 303
        pages[f"urgent page ({lang})"] = coordinator.get(r.headers["Location"]).get_data(
            as_text=True)
    pages.update(team_pages(app, web_world, login))  # the team arenas, both languages
    return pages


def test_the_main_pages_are_valid_html(app, web_world, login, browser, tmp_path):
    jar = _vnu()
    pages = _pages(app, web_world, login, browser)
    errors = check(jar, pages, tmp_path)
    assert errors == [], "\n".join(errors)
    assert "1 entry, newest first." in pages["case page, one entry (en)"]  # not "1 entries"
    for name, html in pages.items():
        assert re.search(r'<link rel="icon" href="/static/favicon\.svg" type="image/svg\+xml">',
                         html), name


def test_the_checker_finds_what_it_should(tmp_path):
    """The check is not vacuous: the two faults of the issue are errors to it."""
    jar = _vnu()
    bad = ('<!doctype html><html lang="en"><head><title>x</title></head><body>'
           '<p><time datetime="2026-03-02T09:00:00.123456+00:00">now</time></p>'
           "<p>Counts below 5 are shown as <5.</p></body></html>")
    errors = check(jar, {"bad": bad}, tmp_path)
    assert any("datetime" in e for e in errors), errors
    assert any("<" in e or "Bad character" in e for e in errors), errors


def test_the_favicon_is_served(app):
    client = app.test_client()
    with client.get("/static/favicon.svg") as r:
        assert r.status_code == 200
        assert r.mimetype == "image/svg+xml"
        assert b"<svg" in r.data
    r = client.get("/favicon.ico")  # what a browser asks for when a page names no icon
    assert r.status_code in (301, 302, 308)
    assert r.headers["Location"].endswith("/static/favicon.svg")
