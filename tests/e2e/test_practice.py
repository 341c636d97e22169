"""Journey 9 (issue 18 §3): a new employee opens the action guide, follows its first step to a
practice case («Prøv i en øvingssak»), walks the fictional child through nivå 0 on the real
action pages, each marked as practice, and closes it; the leader then sees in their list that
the employee has completed it. In bokmål and nynorsk: every page is checked with axe, fits the
window and is handed to the Nu HTML Checker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journeys import LANGS
from tests.e2e.test_journeys import LEADER
from tests.e2e.test_journeys import NAMES
from tests.e2e.test_journeys import SCHOOL
from tests.e2e.test_journeys import TEACHER
from tests.e2e.test_journeys import act
from tests.e2e.test_journeys import action_label
from tests.e2e.test_journeys import choose_language
from tests.e2e.test_journeys import field_label
from tests.e2e.test_journeys import menu_link
from tests.e2e.test_journeys import reason
from tests.e2e.test_journeys import sign_out

TEXT = {
    "nb": {"guide": "Slik jobber vi", "try": "Prøv i en øvingssak",
           "banner": "Øvingssak – ikke en ekte sak", "overview": "Oversikt over enheten",
           "progress": "Øvingssaker i opplæringen", "mine": "Øvingssaker"},
    "nn": {"guide": "Slik jobbar vi", "try": "Prøv i ei øvingssak",
           "banner": "Øvingssak – ikkje ei ekte sak", "overview": "Oversikt over eininga",
           "progress": "Øvingssaker i opplæringa", "mine": "Øvingssaker"},
}


def _banner(page, lang: str) -> None:
    expect(page.get_by_role("note").filter(has_text=TEXT[lang]["banner"])).to_be_visible()


@pytest.mark.timeout(300)  # a long journey: two users, a whole level
@pytest.mark.parametrize("lang", LANGS)
def test_journey9_a_new_employee_practises_on_the_guides_steps(page, live_server, sign_in,
                                                               check, axe, lang):
    t = TEXT[lang]
    j = "journey9"
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, TEACHER)
    menu_link(page, lang, t["guide"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["guide"])
    check(page, j, "guide", lang)

    # the first step, tried in a practice case: its action page, marked as practice
    step = page.locator("#step-n0_plan")
    with page.expect_navigation():
        step.get_by_role("button", name=re.compile(rf"^{t['try']}")).click()
    expect(page).to_have_url(re.compile(r"/saker/\d+/handling/start$"))
    _banner(page, lang)
    check(page, j, "practice-start", lang)
    label = action_label("start", "n0_plan", lang)
    with page.expect_navigation():
        page.locator("section#action-start").get_by_role("button", name=label,
                                                         exact=True).click()
    expect(page).to_have_url(re.compile(r"/saker/\d+$"))
    case_url = page.url
    _banner(page, lang)
    check(page, j, "practice-case", lang)

    # the real steps of nivå 0, on the real action pages: the employee is their own holder
    act(page, axe, "appoint_stafettholder", "n0_active", lang,
        lambda f: f.get_by_label(field_label("stafettholder", lang))
        .select_option(label=f"{NAMES[TEACHER]} ({SCHOOL})"))
    _banner(page, lang)
    act(page, axe, "inform_home", "n0_active", lang,
        lambda f: f.get_by_label(field_label("how", lang)).fill("Øving: samtale med mor."))
    act(page, axe, "assess", "n0_active", lang, panel="actions")
    act(page, axe, "decide", "n0_evaluation", lang, panel="actions")
    _banner(page, lang)
    check(page, j, "practice-decision", lang)
    act(page, axe, "close_no_concern", "n0_decision", lang,
        lambda f: reason(f, lang, "Øvinga er ferdig: ingen grunn til uro."))
    _banner(page, lang)
    check(page, j, "practice-closed", lang)

    # the employee's list of practice cases, each marked
    page.goto("/ovingssak/")
    expect(page.get_by_role("heading", level=1)).to_have_text(t["mine"])
    case_path = re.search(r"/saker/\d+$", case_url).group(0)
    expect(page.locator(f'a[href="{case_path}"]')).to_have_count(1)
    check(page, j, "practice-list", lang)
    sign_out(page, check, j, lang, "signed-out-teacher")

    # the leader sees that the employee has completed it
    choose_language(page, lang)
    sign_in(page, LEADER)
    menu_link(page, lang, t["overview"]).click()
    page.get_by_role("link", name=t["progress"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["progress"])
    row = page.locator("table.practice-progress tbody tr").filter(has_text=NAMES[TEACHER])
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text(re.compile(r"\d{2}\.\d{2}\.\d{4}"))
    check(page, j, "practice-progress", lang)
    assert not page.js_errors, page.js_errors
