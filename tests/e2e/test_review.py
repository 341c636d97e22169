"""Journey 6: the privacy officer follows up the access log (AUD-07). A PPT adviser took
emergency access to a case; the review job raised an item (PPT has no leader, so it goes to the
privacy officer); she finds it from the menu, reads it and closes it with a conclusion, in
bokmål and nynorsk. Every page is checked with axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.org import User
from bti.services.access import emergency as access
from bti.services.access import review
from bti.services.accounts.users import load_actor
from bti.services.context import Ctx
from bti.services.context import utcnow
from tests.e2e.test_journeys import LANGS
from tests.e2e.test_journeys import choose_language

TEXT = {
    "nb": {"menu": "Hovedmeny", "link": "Loggoppfølging", "h1": "Oppfølging av tilgangsloggen",
           "pattern": "Nødtilgang til en sak", "row": "Tok nødtilgang",
           "conclusion": "Kontrollert: bruken var en del av arbeidet til brukeren",
           "comment": "Kommentar", "close": "Lukk punktet", "closed": "Punktet er lukket.",
           "closed_tab": "Lukkede punkter"},
    "nn": {"menu": "Hovudmeny", "link": "Loggoppfølging", "h1": "Oppfølging av tilgangsloggen",
           "pattern": "Nødtilgang til ei sak", "row": "Tok naudtilgang",
           "conclusion": "Kontrollert: bruken var ein del av arbeidet til brukaren",
           "comment": "Kommentar", "close": "Lukk punktet", "closed": "Punktet er lukka.",
           "closed_tab": "Lukka punkt"},
}
REASON = "Barnet kom ikkje heim frå skulen, og føresette ber om hjelp med ein gong."


def _emergency_access_and_review(live_server) -> None:
    ext = live_server.app.extensions["bti"]
    with live_server.session() as s:
        ppt = s.scalars(select(User.id).where(User.username == "ppt")).one()
        case_id = s.scalars(select(Case.id).order_by(Case.id)).first()
        access.request_emergency_access(Ctx(s, load_actor(s, ppt), ext.workflows), case_id,
                                        REASON)
    with live_server.session() as s:
        review.run_review(s, utcnow())


@pytest.mark.parametrize("lang", LANGS)
def test_journey6_privacy_officer_follows_up_the_access_log(page, live_server, sign_in, check,
                                                             lang):
    t = TEXT[lang]
    j = "journey6"
    _emergency_access_and_review(live_server)
    page.goto("/auth/login")
    choose_language(page, lang)
    sign_in(page, "personvernombod")
    page.get_by_role("navigation", name=t["menu"]).get_by_role("link", name=t["link"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["h1"])
    check(page, j, "list", lang)

    page.get_by_role("link", name=t["pattern"]).first.click()
    expect(page).to_have_url(re.compile(r"/tilgang/gjennomgang/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["pattern"])
    expect(page.get_by_role("cell", name=re.compile("^" + re.escape(t["row"])))).to_be_visible()
    check(page, j, "item", lang)

    page.get_by_label(t["conclusion"]).check()
    page.get_by_label(re.compile("^" + t["comment"])).fill("Avklart med rådgjevaren.")
    with page.expect_navigation():
        page.get_by_role("button", name=t["close"]).click()
    expect(page.get_by_text(t["closed"])).to_be_visible()
    check(page, j, "closed", lang)
    page.get_by_role("link", name=t["closed_tab"]).click()
    expect(page.get_by_role("cell", name=t["conclusion"]).first).to_be_visible()
    check(page, j, "closed-list", lang)
    assert not page.js_errors, page.js_errors
