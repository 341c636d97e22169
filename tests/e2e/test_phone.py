"""The journey pages on a phone (issue 13 §4), in Chromium at 390 × 844 px:

- no horizontal scrolling (document.documentElement.scrollWidth <= 390);
- radio buttons and checkboxes are at least 24 × 24 px (WCAG 2.2 2.5.8);
- the focus indicator has at least 3:1 contrast with the background it is drawn on, for every
  tab stop (dark inner ring on light backgrounds, yellow outer ring on the dark header);
- the main menu folds behind a "Meny" button with aria-expanded when scripts run, and is simply
  open when they do not;
- the list tables stack, each cell labelled with its column;
- axe finds no WCAG 2.1 A/AA violation; the server's HTML goes to the session's one Nu HTML
  Checker run (``html_pages`` in conftest.py), which wants 0 errors.

Pages: sign-in, Mine saker, the new concern form, the case page (coordinator, nivå 2 with
measures, consent and participants) and the leader's unit overview.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

WIDTH, HEIGHT = 390, 844
TEACHER, COORDINATOR, LEADER = "laerar", "koordinator", "rektor"

#: per tab stop: the colours of the outline and of the box-shadow ring, and the background
#: behind the element (the first ancestor with an opaque background)
FOCUS_JS = """() => {
  const el = document.activeElement;
  const cs = getComputedStyle(el);
  let bg = null;
  for (let n = el.parentElement; n && !bg; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c)) bg = c;
  }
  const shadow = (cs.boxShadow.match(/rgba?\\([^)]*\\)/) || [null])[0];
  return {tag: el.tagName, text: (el.innerText || el.name || el.id || '').slice(0, 40),
          outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2
            ? cs.outlineColor : null,
          shadow: shadow, bg: bg || 'rgb(255, 255, 255)'};
}"""


def _rgb(css: str) -> tuple[float, float, float]:
    parts = css[css.index("(") + 1:css.index(")")].replace("/", ",").split(",")
    return tuple(float(p) for p in parts[:3])  # type: ignore[return-value]


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_is_computed_as_wcag_defines_it():
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert contrast("rgb(255, 191, 71)", "rgb(255, 255, 255)") < 3  # yellow alone fails on white
    assert contrast("rgb(27, 27, 27)", "rgb(255, 255, 255)") >= 3


@pytest.fixture
def phone(request, browser, live_server, html_pages):
    """``phone(js=True)``: a fresh 390 px wide context and page (bokmål); its documents go to
    the session's HTML check."""
    contexts = []

    def make(js: bool = True):
        context = browser.new_context(base_url=live_server.url, locale="nb-NO",
                                      viewport={"width": WIDTH, "height": HEIGHT},
                                      java_script_enabled=js)
        contexts.append(context)
        pg = context.new_page()
        pg.on("requestfinished", lambda req: html_pages.add(request.node.name, req))
        pg.js_errors = []
        pg.on("pageerror", lambda exc: pg.js_errors.append(str(exc)))
        return pg

    yield make
    for c in contexts:
        c.close()


def _sign_in(pg, live_server, username: str) -> None:
    pg.goto("/auth/login")
    pg.locator("#f-username").fill(username)
    pg.locator("#f-password").fill(live_server.password)
    with pg.expect_navigation():
        pg.locator("form.form button[type=submit]").click()


def _check_layout(pg, name: str) -> None:
    width = pg.evaluate("() => document.documentElement.scrollWidth")
    wide = [] if width <= WIDTH else pg.evaluate("""(w) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w).slice(0, 8)
        .map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                  + Math.round(e.getBoundingClientRect().right))""", WIDTH)
    assert width <= WIDTH, f"{name}: the page scrolls sideways ({width} px > {WIDTH} px): {wide}"
    small = pg.evaluate("""() => [...document.querySelectorAll(
        'input[type=radio], input[type=checkbox]')].filter(e => e.getClientRects().length)
        .map(e => [e.id, e.getBoundingClientRect().width, e.getBoundingClientRect().height])
        .filter(([, w, h]) => w < 24 || h < 24)""")
    assert small == [], f"{name}: radio buttons or checkboxes under 24 × 24 px: {small}"


def _check_focus(pg, name: str, stops: int = 40) -> int:
    """Tab through the page from the top; every tab stop's indicator has ≥ 3:1 somewhere."""
    pg.evaluate("() => { document.activeElement && document.activeElement.blur();"
                " window.scrollTo(0, 0); }")
    seen, bad = 0, []
    first = None
    for _ in range(stops):
        pg.keyboard.press("Tab")
        f = pg.evaluate(FOCUS_JS)
        if f["tag"] == "BODY":
            break
        key = (f["tag"], f["text"])
        if key == first:
            break
        first = first or key
        seen += 1
        rings = [c for c in (f["outline"], f["shadow"]) if c]
        best = max((contrast(c, f["bg"]) for c in rings), default=0)
        if best < 3:
            bad.append((f["tag"], f["text"], rings, f["bg"], round(best, 2)))
    assert bad == [], f"{name}: focus indicators under 3:1: {bad}"
    return seen


def _menu_folds(pg) -> None:
    nav = pg.get_by_role("navigation", name="Hovedmeny")
    toggle = nav.get_by_role("button", name="Meny")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link").first).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link").first).to_be_visible()
    _check_layout(pg, "menu open")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_journey_pages_fit_a_phone(phone, live_server, case_at, axe):
    cid = case_at("n2_plan", "Rogn 390")

    def visit(pg, path: str, name: str, expect_h1: str | None = None) -> None:
        r = pg.goto(path)
        assert r is not None, path
        assert r.status == 200, (path, r.status)
        if expect_h1:
            expect(pg.get_by_role("heading", level=1)).to_contain_text(expect_h1)
        _check_layout(pg, name)
        axe(pg)
        assert _check_focus(pg, name) > 3, name

    pg = phone()
    visit(pg, "/auth/login", "sign-in", "Logg inn")
    _sign_in(pg, live_server, TEACHER)
    visit(pg, "/saker/", "inbox-teacher", "Mine saker")
    _menu_folds(pg)
    visit(pg, "/saker/ny", "new-concern")
    expect(pg.get_by_role("radio").first).to_be_visible()

    pg = phone()
    _sign_in(pg, live_server, COORDINATOR)
    visit(pg, "/saker/", "inbox-coordinator", "Mine saker")
    # the list stacks: the header row is out of sight, each cell names its column
    table = pg.locator("table.table-stack").first
    expect(table.locator("thead")).to_have_css("position", "absolute")
    assert table.locator("tbody td[data-label]").count() > 0
    visit(pg, f"/saker/{cid}", "case-page", "Rogn 390")
    visit(pg, f"/saker/{cid}/handling/add_note", "action-page")  # an action on its own page
    # the settings page, and the calendar address shown once after switching the feed on
    visit(pg, "/innstillinger", "settings", "Innstillinger")
    pg.get_by_role("button", name="Slå på kalenderstrømmen").click()
    expect(pg.get_by_label("Kalenderadresse")).to_have_value(
        re.compile(r"/kalender/bti_cal_[A-Za-z0-9_-]+\.ics$"))
    _check_layout(pg, "settings-calendar-address")
    axe(pg)

    pg = phone()
    _sign_in(pg, live_server, LEADER)
    visit(pg, "/leiar/", "leader-overview")
    expect(pg.locator("table.leader-cases")).to_be_visible()
    # the individual plan: the leader coordinates one
    ip = case_at("ip", "Hegg IP 390")
    visit(pg, f"/saker/{ip}", "case-page-ip", "Hegg IP 390")
    visit(pg, f"/saker/{ip}/ansvarsgruppe", "ansvarsgruppe", "Hegg IP 390")
    expect(pg.get_by_text("Testmor Fjordvik")).to_be_visible()
    visit(pg, f"/saker/{ip}/handling/add_ansvarsgruppe_member", "ansvarsgruppe-member")
    visit(pg, "/leiar/ip", "leader-ip", "Individuelle planer")
    expect(pg.locator("table.ip-cases")).to_be_visible()

    assert not pg.js_errors, pg.js_errors


def test_without_scripts_the_menu_is_open_and_the_page_still_fits(phone, live_server):
    pg = phone(js=False)
    _sign_in(pg, live_server, TEACHER)
    nav = pg.get_by_role("navigation", name="Hovedmeny")
    expect(nav.get_by_role("button", name="Meny")).to_be_hidden()
    expect(nav.get_by_role("link").first).to_be_visible()
    _check_layout(pg, "inbox without scripts")


def test_organisation_pages_fit_a_phone(phone, live_server, axe):
    """The administrator's unit pages and the import page (the browser asks for bokmål), at 390 px;
    the demo's PPT serves the neighbour municipality Nabodal (an inter-municipal service)."""
    pg = phone()
    _sign_in(pg, live_server, "admin")
    for path, name, h1 in (("/admin/units", "units", "Enheter"),
                           ("/admin/units/new", "new-unit", "Ny enhet"),
                           ("/admin/import", "import", "Importer enheter og brukere")):
        r = pg.goto(path)
        assert r is not None, path
        assert r.status == 200, (path, r.status)
        expect(pg.get_by_role("heading", level=1)).to_contain_text(h1)
        _check_layout(pg, name)
        axe(pg)
    pg.goto("/admin/units")
    pg.get_by_role("link", name="PPT", exact=True).click()
    expect(pg.get_by_role("heading", level=1)).to_contain_text("PPT")
    expect(pg.get_by_label("Nabodal kommune")).to_be_checked()
    _check_layout(pg, "unit")
    axe(pg)
    # a unit form with errors: the error summary, at 390 px too
    pg.goto("/admin/units/new")
    pg.locator("form.form button[type=submit]").click()
    expect(pg.locator(".error-summary")).to_be_visible()
    _check_layout(pg, "new-unit-errors")
    axe(pg)
    assert not pg.js_errors, pg.js_errors
