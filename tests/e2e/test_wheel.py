"""Journey 8 (issue 18 §3): a leader finds the annual wheel (årshjul) in the menu, adds a yearly
routine for the unit (first with the end before the start, which the form refuses with the
error in the page's language), sees it in its month, and downloads the wheel as ICS (it parses
and repeats yearly); a teacher of the unit then sees it too. In bokmål and nynorsk at a phone's
width (390 px), and in bokmål on a desktop: every page is checked with axe, fits the window and
is handed to the Nu HTML Checker."""

from __future__ import annotations

import re
from datetime import date

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from tests.e2e.test_journeys import LEADER
from tests.e2e.test_journeys import TEACHER
from tests.e2e.test_journeys import choose_language

TEXT = {
    "nb": {"menu": "Hovedmeny", "wheel": "Årshjul", "keep": "Hold rutinene oppdatert",
           "keep_h1": "Hold årshjulet oppdatert", "training": "Opplæring",
           "yearly": "Hvert år", "title": "Tittel", "start": "Dato (første dag)",
           "end": "Siste dag, for en periode", "add": "Legg til", "problem": "Noe må rettes",
           "before": "Datoen kan ikke være før startdatoen.", "back": "Tilbake til årshjulet",
           "added": "er lagt til i årshjulet", "every": "hvert år",
           "download": "Last ned årshjulet til kalenderen din (ICS)"},
    "nn": {"menu": "Hovudmeny", "wheel": "Årshjul", "keep": "Hald rutinane oppdaterte",
           "keep_h1": "Hald årshjulet oppdatert", "training": "Opplæring",
           "yearly": "Kvart år", "title": "Tittel", "start": "Dato (første dag)",
           "end": "Siste dag, for ein periode", "add": "Legg til", "problem": "Noko må rettast",
           "before": "Datoen kan ikkje vere før startdatoen.", "back": "Tilbake til årshjulet",
           "added": "er lagd til i årshjulet", "every": "kvart år",
           "download": "Last ned årshjulet til kalenderen din (ICS)"},
}
RUNS = [pytest.param("nb", 390, id="nb-390px"), pytest.param("nn", 390, id="nn-390px"),
        pytest.param("nb", 1280, id="nb-1280px")]


def _open_menu_link(page, t, name: str) -> None:
    nav = page.get_by_role("navigation", name=t["menu"])
    toggle = nav.get_by_role("button")
    if toggle.is_visible():
        toggle.click()
    nav.get_by_role("link", name=name, exact=True).click()


def _next_month_15th() -> date:
    today = date.today()
    return date(today.year + (today.month == 12), today.month % 12 + 1, 15)


@pytest.mark.parametrize(("lang", "viewport_width"), RUNS)
def test_journey8_the_annual_wheel(page, live_server, sign_in, check, lang, viewport_width):
    t = TEXT[lang]
    j = "journey8"
    title = f"Kurs i BTI for nytilsette {lang} {viewport_width}"
    day = _next_month_15th()

    # the leader finds the wheel in the menu, and the keeper's page from it
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, LEADER)
    _open_menu_link(page, t, t["wheel"])
    expect(page.get_by_role("heading", level=1)).to_have_text(t["wheel"])
    check(page, j, "wheel", lang)
    page.get_by_role("link", name=t["keep"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["keep_h1"])
    check(page, j, "keep", lang)

    # a period that ends before it starts is refused, in the page's language
    page.get_by_label(t["training"], exact=True).check()
    page.get_by_label(re.compile("^" + re.escape(t["title"]) + r"\b")).fill(title)
    page.get_by_label(re.compile("^" + re.escape(t["start"]))).fill(day.isoformat())
    page.get_by_label(re.compile("^" + re.escape(t["end"]))).fill(
        day.replace(day=1).isoformat())
    page.get_by_label(t["yearly"], exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name=t["add"], exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(t["problem"])
    expect(page.locator("#f-ends_on-error")).to_have_text(t["before"])
    expect(page.locator("#f-ends_on")).to_have_attribute("aria-invalid", "true")
    check(page, j, "keep-errors", lang)

    # corrected: added
    page.get_by_label(re.compile("^" + re.escape(t["end"]))).fill(
        day.replace(day=20).isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name=t["add"], exact=True).click()
    expect(page.locator(".flash").first).to_contain_text(t["added"])
    expect(page.get_by_role("table")).to_contain_text(title)
    check(page, j, "keep-added", lang)

    # in next month's section of the wheel, every year
    page.get_by_role("link", name=t["back"]).click()
    month = page.locator("section.wheel-month").nth(1)
    item = month.locator("li.wheel-item", has_text=title)
    expect(item).to_contain_text(t["every"])
    expect(item).to_contain_text(f"{day:%d.%m.%Y}")
    check(page, j, "wheel-added", lang)

    # the calendar download parses, and the routine repeats every year
    href = page.get_by_role("link", name=t["download"]).get_attribute("href")
    response = page.request.get(href)
    assert response.ok
    assert response.headers["content-type"].startswith("text/calendar")
    events = [e for e in Calendar.from_ical(response.body()).walk("VEVENT")
              if title in str(e["summary"])]
    assert len(events) == 1
    assert events[0]["rrule"]["FREQ"] == ["YEARLY"]
    assert events[0].decoded("dtstart") == day

    # a teacher of the school sees it too
    page.context.clear_cookies()
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, TEACHER)
    _open_menu_link(page, t, t["wheel"])
    expect(page.locator("li.wheel-item", has_text=title)).to_be_visible()
    expect(page.get_by_role("link", name=t["keep"])).to_have_count(0)
    check(page, j, "wheel-teacher", lang)
    # the refused form's answer is the one expected error (a 422 the console reports)
    others = [e for e in page.js_errors
              if "status of 422" not in e or "/arshjul/rutinar" not in e]
    assert not others, others
