"""Journey 7 (issue 18): an employee finds the municipality's action guide in the menu, reads
the flowchart and the steps, comes back to it from a case and follows a step to its form; the
measure's pick list offers the measures for the child's age (9) first and the others greyed,
with their ages; the catalogue is searched; the accessibility statement is in the footer. In
bokmål and nynorsk, and at a phone's width (390 px) in both: every page is checked with axe,
fits the window and is handed to the Nu HTML Checker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journeys import COORDINATOR
from tests.e2e.test_journeys import LANGS
from tests.e2e.test_journeys import TEACHER
from tests.e2e.test_journeys import choose_language

TEXT = {
    "nb": {"menu": "Hovedmeny", "guide": "Slik jobber vi",
           "here": "Slik jobber vi på dette trinnet", "steps": "Nivåene og trinnene",
           "add": "Legg til tiltak", "fits": "For barnets alder (9 år)",
           "others": "For andre aldre",
           "read": "Les om tiltakene for denne alderen i tiltaksoversikten", "search": "Søk",
           "words": "Ord i navnet, beskrivelsen eller tilbyderen",
           "statement": "Tilgjengelighetserklæring",
           "chart": "Flytskjema for «BTI – standardmodell (KoRus)»"},
    "nn": {"menu": "Hovudmeny", "guide": "Slik jobbar vi",
           "here": "Slik jobbar vi på dette steget", "steps": "Nivåa og stega",
           "add": "Legg til tiltak", "fits": "For alderen til barnet (9 år)",
           "others": "For andre aldrar",
           "read": "Les om tiltaka for denne alderen i tiltaksoversikta", "search": "Søk",
           "words": "Ord i namnet, skildringa eller tilbydaren",
           "statement": "Tilgjengeerklæring",
           "chart": "Flytskjema for «BTI – standardmodell (KoRus)»"},
}
WIDTHS = [pytest.param(lang, width, id=f"{lang}-{width}px") for lang in LANGS
          for width in (1280, 390)]


@pytest.mark.parametrize(("lang", "viewport_width"), WIDTHS)
def test_journey7_the_guide_a_step_the_pick_list_and_the_catalogue(page, live_server, sign_in,
                                                                   case_at, check, lang,
                                                                   viewport_width):
    t = TEXT[lang]
    j = "journey7"
    case_id = case_at("n1_plan", f"Guide J7 {lang} {viewport_width}")

    # a teacher finds the guide in the menu
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, TEACHER)
    nav = page.get_by_role("navigation", name=t["menu"])
    toggle = nav.get_by_role("button")
    if toggle.is_visible():
        toggle.click()
    nav.get_by_role("link", name=t["guide"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["guide"])
    expect(page.get_by_role("img", name=t["chart"])).to_be_visible()
    expect(page.get_by_role("heading", level=2, name=t["steps"])).to_be_visible()
    assert page.locator("svg.guide-svg rect.guide-box").count() == page.locator(
        "li[id^=step-]").count() == 17
    check(page, j, "guide", lang)

    # the accessibility statement, from the footer
    link = page.locator('footer a[href="/tilgjengelighet/"]')
    expect(link).to_have_text(t["statement"])
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["statement"])
    check(page, j, "statement", lang)

    # the stafettholder comes to the guide from the case, and follows the step to its form
    page.context.clear_cookies()
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, COORDINATOR)
    page.goto(f"/saker/{case_id}")
    here = page.locator('a[href^="/slik-jobber-vi/?sak="]')
    expect(here).to_have_text(t["here"])
    here.click()
    expect(page).to_have_url(re.compile(r"/slik-jobber-vi/\?sak=\d+&steg=n1_plan#step-n1_plan$"))
    step = page.locator("#step-n1_plan")
    expect(step).to_have_class("guide-here")
    check(page, j, "guide-case", lang)
    add = step.locator('a[href$="/handling/add_measure"]')
    expect(add).to_have_text(t["add"])
    add.click()
    expect(page).to_have_url(re.compile(rf"/saker/{case_id}/handling/add_measure$"))

    # the pick list: the measures for a 9-year-old first, the others greyed with their ages
    groups = page.locator("select[name=catalogue] optgroup")
    expect(groups).to_have_count(2)
    expect(groups.nth(0)).to_have_attribute("label", t["fits"])
    expect(groups.nth(1)).to_have_attribute("label", t["others"])
    first = groups.nth(0).locator("option").all_text_contents()
    others = groups.nth(1).locator("option").all_text_contents()
    assert any(o.startswith("Leksehjelp") for o in first), first
    assert any(o.startswith("Språkgruppe i barnehagen") and "2–6" in o for o in others), others
    assert not any(o.startswith("Språkgruppe") for o in first)
    colour = groups.nth(1).locator("option").first.evaluate("o => getComputedStyle(o).color")
    assert colour != groups.nth(0).locator("option").first.evaluate(
        "o => getComputedStyle(o).color")
    check(page, j, "pick-list", lang)

    # the catalogue for that age, then a search
    page.get_by_role("link", name=t["read"]).click()
    expect(page).to_have_url(re.compile(r"/tiltaksoversikt/\?alder=9$"))
    check(page, j, "catalogue-age", lang)
    page.get_by_label(t["words"]).fill("lekse")
    with page.expect_navigation():
        page.get_by_role("search").get_by_role("button", name=t["search"]).click()
    rows = page.locator("table.catalogue tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Leksehjelp")
    check(page, j, "catalogue-search", lang)
    rows.first.get_by_role("link", name="Leksehjelp").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leksehjelp")
    check(page, j, "catalogue-item", lang)
    assert not page.js_errors, page.js_errors
