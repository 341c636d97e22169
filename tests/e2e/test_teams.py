"""Journey 7: a team arena. The administrator keeps the BTI-team (its pages checked); the
stafettholder refers a case to it; the health nurse, a member, finds it from "Mine team" in the
menu, reads what the referral says, records the minutes with a follow-up; a teacher puts a
question without a case on the agenda. In bokmål and nynorsk, and at a phone's width; every
page is checked with axe and must fit the window."""

from __future__ import annotations

import re
from datetime import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bti.domain.org import User
from bti.domain.teams import AgendaItem
from bti.services.accounts.users import load_actor
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.context import utcnow
from bti.services.teams import keep
from tests.e2e.test_journeys import LANGS_AND_PHONE
from tests.e2e.test_journeys import choose_language
from tests.e2e.test_journeys import menu_link

TEXT = {
    "nb": {"mine": "Mine team", "decided": "Hva som ble bestemt",
           "record": "Registrer referatet", "recorded": "Referatet er registrert.",
           "ask": "Sett et spørsmål på et teams saksliste", "age": "Barnets alder",
           "see": "Hva ser du?", "put": "Sett på sakslisten", "team": "Team",
           "what": "Hva", "who": "Hvem", "by": "Innen"},
    "nn": {"mine": "Mine team", "decided": "Kva som vart avgjort",
           "record": "Registrer referatet", "recorded": "Referatet er registrert.",
           "ask": "Set eit spørsmål på sakslista til eit team", "age": "Alderen til barnet",
           "see": "Kva ser du?", "put": "Set på sakslista", "team": "Team",
           "what": "Kva", "who": "Kven", "by": "Innan"},
}


def _team_with_a_referral(live_server, case_id: int, name: str) -> int:
    ext = live_server.app.extensions["bti"]
    with live_server.session() as s:
        ids = dict(s.execute(select(User.username, User.id)).all())

        def ctx(username):
            return Ctx(s, load_actor(s, ids[username]), ext.workflows)

        for earlier in keep.list_teams(ctx("admin")):  # a referral goes to the oldest team
            keep.set_active(ctx("admin"), earlier.id, False)
        team = keep.create_team(ctx("admin"), name=name, kind="bti_team")
        for member in ("koordinator", "helsesjukepleiar"):
            keep.add_member(ctx("admin"), team.id, ids[member])
        keep.schedule_meeting(ctx("admin"), team.id, day=(utcnow() + timedelta(days=7)).date(),
                              at=time(13, 0), place="Møterom 1")
        cases.fire(ctx("koordinator"), case_id, "refer", {
            "referred_to": "bti_team", "reason": "Vi treng fleire tenester rundt barnet."})
        return team.id


@pytest.mark.parametrize(("lang", "viewport_width"), LANGS_AND_PHONE)
def test_journey7_a_case_on_a_teams_agenda(page, live_server, sign_in, case_at, check, lang,
                                           viewport_width):
    t = TEXT[lang]
    j = "journey7"
    case_id = case_at("n1_plan", f"Lønn J7 {lang}{viewport_width}")
    team_id = _team_with_a_referral(live_server, case_id, f"BTI-team {lang} {viewport_width}")

    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, "admin")
    page.goto("/admin/teams")
    check(page, j, "admin-list", lang)
    page.goto(f"/admin/teams/{team_id}")
    check(page, j, "admin-team", lang)
    page.context.clear_cookies()

    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, "helsesjukepleiar")
    menu_link(page, lang, t["mine"]).click()
    expect(page).to_have_url(re.compile(r"/team$"))
    check(page, j, "mine", lang)
    page.get_by_role("link", name=f"BTI-team {lang} {viewport_width}").click()
    check(page, j, "team", lang)
    page.get_by_role("link", name=re.compile(rf"\b{case_id}\b")).first.click()
    expect(page.get_by_text("Vi treng fleire tenester rundt barnet.")).to_be_visible()
    check(page, j, "item", lang)
    page.get_by_label(re.compile("^" + re.escape(t["decided"]))).fill(
        "Helsesjukepleiar kallar inn til ein samtale.")
    page.locator("#f-follow_up_1_what").fill("Samtale med barnet")
    page.locator("#f-follow_up_1_responsible").select_option(index=1)
    page.locator("#f-follow_up_1_due").fill((utcnow() + timedelta(days=14)).date().isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name=t["record"]).click()
    expect(page.get_by_text(t["recorded"])).to_be_visible()
    check(page, j, "minuted", lang)
    page.context.clear_cookies()

    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, "laerar")
    page.goto("/team")
    page.get_by_role("link", name=t["ask"]).click()
    check(page, j, "question", lang)
    page.get_by_label(re.compile("^" + t["team"])).select_option(str(team_id))
    page.get_by_label(re.compile("^" + re.escape(t["age"]))).fill("9")
    page.get_by_label(re.compile("^" + re.escape(t["see"]))).fill("Ein gut er mykje borte.")
    with page.expect_navigation():
        page.get_by_role("button", name=t["put"]).click()
    expect(page).to_have_url(re.compile(r"/team$"))
    with live_server.session() as s:
        asked = s.scalars(select(AgendaItem).where(AgendaItem.team_id == team_id,
                                                   AgendaItem.kind == "question")).one()
        assert asked.child_age == 9
    assert not page.js_errors, page.js_errors
