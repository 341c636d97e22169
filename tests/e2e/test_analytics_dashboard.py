"""The leader's analytics dashboard and the catalogue of measures in a browser, in bokmål and
nynorsk: reached through the menu, every chart an image with a name and a table beside it, the
filter form works, and axe finds no WCAG 2.1 A/AA violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journeys import LANGS
from tests.e2e.test_journeys import LEADER
from tests.e2e.test_journeys import TEXT
from tests.e2e.test_journeys import enter


@pytest.fixture
def check(axe, screenshot_as):
    """As in test_journeys: the page is in ``lang``, axe finds no WCAG 2.1 A/AA violation, and
    a screenshot is saved."""
    def run(page, journey: str, step: str, lang: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", lang)
        axe(page)
        screenshot_as(page, f"{journey}-{step}-{lang}")

    return run


T = {
    "nb": {"analytics": "Analyse", "h1": "Analyse: hvordan sakene flyter",
           "open": "Åpne saker etter nivå nå", "flows": "Flyt mellom nivåer i perioden",
           "unit": "Enhet", "show": "Vis", "catalogue": "Tiltaksoversikt",
           "add": "Legg til et tiltak", "name": "Navn"},
    "nn": {"analytics": "Analyse", "h1": "Analyse: korleis sakene flyt",
           "open": "Opne saker etter nivå no", "flows": "Flyt mellom nivå i perioden",
           "unit": "Eining", "show": "Vis", "catalogue": "Tiltaksoversikt",
           "add": "Legg til eit tiltak", "name": "Namn"},
}


@pytest.mark.parametrize("lang", LANGS)
def test_leader_reads_the_dashboard_and_keeps_the_catalogue(page, sign_in, axe, check, lang):
    j = "analytics"
    t = T[lang]
    enter(page, sign_in, check, j, LEADER, lang)
    nav = page.get_by_role("navigation", name=TEXT[lang]["menu"])
    nav.get_by_role("link", name=t["analytics"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["h1"])
    chart = page.get_by_role("img", name=t["open"])
    expect(chart).to_be_visible()
    expect(chart.locator("xpath=self::*[local-name()='svg']")).to_have_count(1)
    expect(page.get_by_role("table", name=t["open"])).to_be_visible()
    expect(page.get_by_role("img", name=t["flows"])).to_be_visible()
    assert page.get_by_role("img").count() >= 3  # open cases, flows, time at each level
    assert page.get_by_role("table").count() >= 8  # every chart has its table, every panel one
    check(page, j, "dashboard", lang)

    page.get_by_label(t["unit"], exact=True).select_option(label="Fjordvik skule")
    with page.expect_navigation():
        page.get_by_role("button", name=t["show"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/analyse/\?eining=\d+"))
    expect(page.get_by_label(t["unit"], exact=True)).to_have_value(re.compile(r"^\d+$"))
    check(page, j, "dashboard-unit", lang)

    nav.get_by_role("link", name=t["catalogue"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["catalogue"])
    expect(page.get_by_role("heading", level=2, name=t["add"])).to_be_visible()
    check(page, j, "catalogue", lang)
    assert not page.js_errors, page.js_errors
