"""The language of a page (bti.web.i18n): the user's saved choice, else the browser's
Accept-Language (quality values respected; ``no`` is bokmål), else the municipality's målform,
else bokmål. The sign-in page has no user yet: a language picked there, else the browser, else
bokmål."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bti.domain.org import Municipality
from bti.domain.org import User
from bti.web.i18n import from_accept_language
from tests.web.conftest import Browser

HEADINGS = {"nb": "<h1>Logg inn</h1>", "nn": "<h1>Logg inn</h1>", "en": "<h1>Sign in</h1>"}
USER_NAME = {"nb": "Brukernavn", "nn": "Brukarnamn", "en": "User name"}


def lang_of(html: str) -> str:
    start = html.index('<html lang="') + len('<html lang="')
    return html[start:html.index('"', start)]


@pytest.mark.parametrize(("header", "expected"), [
    ("nn", "nn"),
    ("nn-NO,nn;q=0.9,en;q=0.5", "nn"),
    ("nb-NO,nb;q=0.9", "nb"),
    ("no", "nb"),
    ("no-NO, en;q=0.3", "nb"),
    ("en-GB,en;q=0.9", "en"),
    ("en_US", "en"),
    ("NN-no", "nn"),
    # quality values decide, not the order written
    ("en;q=0.5, nn;q=0.9", "nn"),
    ("en-US,en;q=0.9,nn;q=0.95", "en"),
    ("nb;q=0.2, en;q=0.8, nn;q=0.4", "en"),
    # languages we do not have are passed over
    ("da, sv;q=0.9, nn;q=0.5, nb;q=0.4", "nn"),
    ("de-DE, de;q=0.9", None),
    # q=0 means "not this one"
    ("nb;q=0, en", "en"),
    ("nn;q=0", None),
    ("*", None),
    ("", None),
    (None, None),
    ("garbage;;;q=x, ,", None),
])
def test_the_browser_language_is_the_supported_one_it_prefers_most(header, expected):
    assert from_accept_language(header) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("nn-NO,nn;q=0.9", "nn"), ("en-GB,en;q=0.8", "en"), ("no", "nb"),
    ("sv, en;q=0.2, nn;q=0.3", "nn"), ("de", "nb"), (None, "nb"),
])
def test_the_sign_in_page_speaks_the_browsers_language(app, browser, header, expected):
    headers = {"Accept-Language": header} if header else {}
    html = browser.get("/auth/login", headers=headers).get_data(as_text=True)
    assert lang_of(html) == expected
    assert HEADINGS[expected] in html
    assert USER_NAME[expected] in html


def _set(app, *, malform: str | None = None, user_id: int | None = None, locale="keep"):
    with app.extensions["bti"].session_factory.begin() as s:
        if malform is not None:
            for m in s.scalars(select(Municipality)):
                m.malform = malform
        if user_id is not None and locale != "keep":
            s.get(User, user_id).locale = locale


def _first_page(browser: Browser, username: str, header: str | None) -> str:
    """Sign in from a browser that sends ``header`` as Accept-Language (None: no header) and
    return the page the sign-in leads to."""
    if header:
        browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = header
    else:
        browser.client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    r = browser.login(username)
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return browser.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("malform", "header", "saved", "expected"), [
    # a nynorsk municipality's staff start in nynorsk when the browser names none of ours
    ("nn", None, None, "nn"),
    ("nn", "de-DE,de;q=0.9", None, "nn"),
    ("nb", None, None, "nb"),
    # the browser comes before the municipality
    ("nn", "nb-NO,nb;q=0.9", None, "nb"),
    ("nb", "nn", None, "nn"),
    ("nn", "en-US,en;q=0.9", None, "en"),
    # a saved choice comes before both
    ("nn", "en", "nb", "nb"),
    ("nb", "nb", "nn", "nn"),
    ("nb", "nn", "en", "en"),
])
def test_the_first_page_after_sign_in(app, web_world, browser, malform, header, saved,
                                      expected):
    teacher = web_world.users["teacher"]
    _set(app, malform=malform, user_id=teacher.id, locale=saved)
    html = _first_page(browser, teacher.username, header)
    assert lang_of(html) == expected


def test_a_choice_made_with_the_selector_is_saved_and_beats_browser_and_malform(
        app, web_world, browser):
    teacher = web_world.users["teacher"]
    _set(app, malform="nn")
    html = _first_page(browser, teacher.username, "en")
    assert lang_of(html) == "en"
    r = browser.post("/auth/language", {"lang": "nb", "next": "/saker/"})
    assert r.status_code == 302
    with app.extensions["bti"].session_factory() as s:
        assert s.get(User, teacher.id).locale == "nb"
    # a new sign-in from a browser that asks for English, in the nynorsk municipality
    again = Browser(app.test_client())
    assert lang_of(_first_page(again, teacher.username, "en")) == "nb"


def test_the_language_shown_after_sign_out_is_not_saved_for_the_next_user(
        app, web_world, browser):
    """A user who never chose a language signs out: the sign-in page stays in their language
    (here the municipality's nynorsk), but the next user to sign in on that browser does not
    get it saved as their choice."""
    teacher, nurse = web_world.users["teacher"], web_world.users["nurse"]
    _set(app, malform="nn")
    assert lang_of(_first_page(browser, teacher.username, None)) == "nn"
    r = browser.post("/auth/logout")
    html = browser.get(r.headers["Location"]).get_data(as_text=True)
    assert lang_of(html) == "nn"
    assert lang_of(_first_page(browser, nurse.username, None)) == "nn"  # the municipality's
    with app.extensions["bti"].session_factory() as s:
        assert s.get(User, nurse.id).locale is None
        assert s.get(User, teacher.id).locale is None


def test_a_language_picked_on_the_sign_in_page_is_saved_at_sign_in(app, web_world, browser):
    teacher = web_world.users["teacher"]
    _set(app, malform="nn")
    browser.get("/auth/login", headers={"Accept-Language": "nn"})
    r = browser.post("/auth/language", {"lang": "en", "next": "/auth/login"})
    assert lang_of(browser.get(r.headers["Location"],
                               headers={"Accept-Language": "nn"}).get_data(as_text=True)) == "en"
    assert lang_of(_first_page(browser, teacher.username, "nn")) == "en"
    with app.extensions["bti"].session_factory() as s:
        assert s.get(User, teacher.id).locale == "en"
