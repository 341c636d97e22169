"""Numbers from forms, query strings and URL paths (issue 11 §3): every one is read by one
parser (``bti.engine.inputs.parse_int``: ASCII digits, at most ten, within a PostgreSQL
``integer``) and a bad one is a clear 400/422 in the user's language, never a 500, with nothing
written. ``"²".isdigit()`` is True and ``int("²")`` raises; ``int("١٢")`` is 12; ``int()`` of
5,000 digits raises. All names are made up."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from babel.support import Translations
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from bti.domain.org import User
from tests.web.test_cases_ui import WHAT_SEEN
from tests.web.test_cases_ui import _open
from tests.web.test_cases_ui import _version

TRANSLATIONS = Path(__file__).resolve().parents[2] / "bti" / "web" / "translations"
NB = Translations.load(str(TRANSLATIONS), ["nb"])

#: Not a number to this app, each for its own reason.
BAD_NUMBERS = {
    "superscript": "²",  # isdigit() is True, int() raises: the 500 of the issue
    "arabic_indic": "١٢",  # int() reads 12
    "fullwidth": "１２",  # int() reads 12
    "5000_digits": "9" * 5000,  # int() raises (more than 4,300 digits)
    "past_integer": "2147483648",  # overflows PostgreSQL's integer
    "20_digits": "9" * 20,  # overflows SQLite's integer
    "plus": "+1",
    "minus": "-1",
    "underscore": "1_0",  # int() reads 10
    "exponent": "1e3",
    "hex": "0x1f",
    "fraction": "1.5",
}

NOT_A_NUMBER = "Write a whole number with the digits 0 to 9."
#: The concern form says what to write in each of its number fields (issue 13 §2).
BIRTH_YEAR_DIGITS = "Write the birth year with four digits, for example 2016."
DUE_DIGITS = "Choose the due month and write the due year with four digits."
INVALID = "The value is not valid."
BAD_REQUEST = "The request could not be understood"
CHECK_FORM = "Check the form"
AGE_RANGE = "Give an age from 0 to 24."
NOT_IN_MUNICIPALITY = "Choose someone or something in your municipality."


def nb(msgid: str) -> str:
    text = NB.gettext(msgid)
    assert text != msgid, f"no bokmål for {msgid!r}"
    return text.replace("'", "&#39;")


def _written(app) -> tuple:
    """What a refused form must leave as it was."""
    with app.extensions["bti"].session_factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(t))
                     for t in (Case, StafettloggEntry, Consent, User, MeasureCatalogueItem))


@pytest.fixture
def sweep(app, web_world, login):
    """A signed-in browser per role and the objects the forms are about: a case the
    coordinator opened (so they may appoint a stafettholder and record consent) and a
    catalogue item."""
    browsers = {who: login(who, web_world) for who in ("coordinator", "leader", "admin")}
    browsers["admin"].get("/admin/")  # the signed-in session's CSRF token
    case_id = _open(browsers["coordinator"])
    leader = browsers["leader"]
    leader.get("/tiltaksoversikt/")
    r = leader.post("/tiltaksoversikt/", {"name": "Leksehjelp", "description": "Etter skuletid",
                                          "kind": "universal", "age_from": "6", "age_to": "12"})
    assert r.status_code == 302
    with app.extensions["bti"].session_factory() as s:
        item_id = s.scalar(select(MeasureCatalogueItem.id))
    return browsers, case_id, item_id


def _case_form(b, case_id, trigger) -> str:
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    return _version(html, trigger)


#: (input, role, method, url, the other fields (valid), status, the message shown).
#: ``{version}`` is the case's current version, read from its page.
INPUTS = [
    ("concern.child_birth_year", "coordinator", "POST", "/saker/ny",
     {"child_pseudonym": "KN", "what_seen": WHAT_SEEN, "violence_suspected": "false"},
     422, BIRTH_YEAR_DIGITS),
    ("concern.child_due_year", "coordinator", "POST", "/saker/ny",
     {"child_pseudonym": "KN", "what_seen": WHAT_SEEN, "child_due_month": "5"},
     422, DUE_DIGITS),
    ("concern.child_due_month", "coordinator", "POST", "/saker/ny",
     {"child_pseudonym": "KN", "what_seen": WHAT_SEEN, "child_due_year": "2027"},
     422, DUE_DIGITS),
    ("action.expected_version", "coordinator", "POST", "/saker/{case}/handling/add_note",
     {"text": "Eit kort notat"}, 400, BAD_REQUEST),
    ("action.stafettholder", "coordinator", "POST",
     "/saker/{case}/handling/appoint_stafettholder", {"expected_version": "{version}"},
     422, INVALID),
    ("action.services", "coordinator", "POST", "/saker/{case}/handling/give_consent",
     {"expected_version": "{version}", "given_by": "guardians", "information": "Skulen og PPT",
      "given_on": "2026-01-05"}, 422, INVALID),
    ("access_log.case", "leader", "GET", "/tilgang/logg", {}, 422, NOT_A_NUMBER),
    # ``user`` is a user's id or user name: "-1", "1_0" are user names (200); "+1" is neither
    ("access_log.user", "leader", "GET", "/tilgang/logg", {}, 422, NOT_A_NUMBER),
    ("access_log.page", "leader", "GET", "/tilgang/logg", {}, 422, NOT_A_NUMBER),
    ("analytics.eining", "leader", "GET", "/analyse/", {}, 422, NOT_A_NUMBER),
    ("analytics.fra", "leader", "GET", "/analyse/", {}, 422, INVALID),
    ("analytics.til", "leader", "GET", "/analyse/", {}, 422, INVALID),
    ("analytics_export.eining", "leader", "GET", "/analyse/eksport.csv", {}, 422, CHECK_FORM),
    ("admin.unit_id", "admin", "POST", "/admin/users/new",
     {"username": "nyperson", "display_name": "Ny Person", "roles": "employee"},
     422, NOT_IN_MUNICIPALITY),
    ("catalogue.age_from", "leader", "POST", "/tiltaksoversikt/",
     {"name": "Ny aktivitet", "description": "", "kind": "universal", "age_to": "12"},
     422, AGE_RANGE),
    ("catalogue.age_to", "leader", "POST", "/tiltaksoversikt/",
     {"name": "Ny aktivitet", "description": "", "kind": "universal", "age_from": "6"},
     422, AGE_RANGE),
    ("catalogue_item.age_from", "leader", "POST", "/tiltaksoversikt/{item}",
     {"name": "Leksehjelp", "description": "", "kind": "universal", "age_to": "12"},
     422, AGE_RANGE),
]


@pytest.mark.parametrize(("name", "role", "method", "url", "others", "status", "message"),
                         INPUTS, ids=[i[0] for i in INPUTS])
def test_a_bad_number_in_any_form_or_query_is_a_clear_4xx_in_bokmal(
        app, sweep, name, role, method, url, others, status, message):
    browsers, case_id, item_id = sweep
    b = browsers[role]
    field = name.split(".")[1]
    url = url.format(case=case_id, item=item_id)
    for label, bad in BAD_NUMBERS.items():
        data = dict(others)
        if data.get("expected_version") == "{version}":
            data["expected_version"] = _case_form(b, case_id, url.rsplit("/", 1)[1])
        data[field] = bad
        r = b.get(url, query_string=data) if method == "GET" else None
        if name == "access_log.user" and not bad.isdigit():
            assert (r.status_code, nb(INVALID) in r.get_data(as_text=True)) in (
                (200, False), (422, True)), label
            continue
        before = _written(app)
        if r is None:
            r = b.post(url, data)
        html = r.get_data(as_text=True)
        assert r.status_code == status, (label, html[-1500:])
        assert '<html lang="nb">' in html, label
        assert nb(message) in html, label
        assert _written(app) == before, label


@pytest.mark.parametrize("path", ["/saker/{}", "/saker/{}/kvittering",
                                  "/personvern/sak/{}", "/tilgang/sak/{}/innsyn",
                                  "/leiar/sak/{}/tidslinje", "/tiltaksoversikt/{}",
                                  "/admin/users/{}", "/tilgang/gjennomgang/{}"])
def test_a_bad_number_in_a_path_is_404(app, sweep, path):
    browsers, _, _ = sweep
    who = {"/leiar": "leader", "/tiltak": "leader", "/admin": "admin",
           "/tilgang/gjennomgang": "leader"}
    b = next((browsers[w] for p, w in who.items() if path.startswith(p)),
             browsers["coordinator"])
    for label, bad in BAD_NUMBERS.items():
        r = b.get(path.format(bad))
        assert r.status_code == 404, label
        assert '<html lang="nb">' in r.get_data(as_text=True), label


# --- the inputs the issue names, one by one ---------------------------------------------------


def test_expected_version_superscript_and_5000_digits_are_400(app, web_world, login):
    b = login("coordinator", web_world)
    case_id = _open(b)
    for bad in ("²", "9" * 5000, "١"):
        before = _written(app)
        r = b.post(f"/saker/{case_id}/handling/add_note",
                   {"expected_version": bad, "text": "Eit kort notat"})
        assert r.status_code == 400
        assert nb(BAD_REQUEST) in r.get_data(as_text=True)
        assert _written(app) == before
    version = _case_form(b, case_id, "add_note")
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": f" {version} ", "text": "Eit kort notat"})
    assert r.status_code == 303  # the same number, with the spaces a form may add


def test_child_birth_year_superscript_is_422_and_no_case(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    before = _written(app)
    r = b.post("/saker/ny", {"child_pseudonym": "KN", "child_birth_year": "²",
                             "what_seen": WHAT_SEEN})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    said = nb(BIRTH_YEAR_DIGITS)
    assert re.search(r'id="f-child_birth_year-error"><li>' + re.escape(said), html)
    assert 'value="²"' in html  # what the user typed comes back
    assert _written(app) == before


def test_stafettholder_superscript_is_422_and_nothing_logged(app, web_world, login):
    b = login("coordinator", web_world)
    case_id = _open(b)
    before = _written(app)
    r = b.post(f"/saker/{case_id}/handling/appoint_stafettholder",
               {"expected_version": _case_form(b, case_id, "appoint_stafettholder"),
                "stafettholder": "²"})
    assert r.status_code == 422
    assert nb(INVALID) in r.get_data(as_text=True)
    assert _written(app) == before


@pytest.mark.parametrize("param", ["case", "user", "page"])
def test_access_log_search_superscript_is_422(app, web_world, login, param):
    b = login("leader", web_world)
    r = b.get("/tilgang/logg", query_string={param: "²"})
    assert r.status_code == 422
    assert nb(NOT_A_NUMBER) in r.get_data(as_text=True)
    assert b.get("/tilgang/logg", query_string={param: "1"}).status_code == 200


def test_a_one_time_code_in_other_digits_is_a_wrong_code(app, web_world, browser):
    """``hmac.compare_digest`` raises on non-ASCII text: "²²²²²²" was a 500 at sign-in."""
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(Municipality, web_world.municipality_id).mfa_required = True
    browser.login("laerar1")
    page = browser.get("/auth/mfa").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    for bad in ("²²²²²²", "١٢٣٤٥٦", "12345²"):
        r = browser.post("/auth/mfa", {"code": bad})
        assert r.status_code == 200
        assert 'role="alert"' in r.get_data(as_text=True)
    code = pyotp.TOTP(secret).at(app.extensions["bti"].clock())
    assert browser.post("/auth/mfa", {"code": code}).status_code == 302
