"""AUD-06: the application's logs hold no personal data and no secrets, and cannot be forged.

Every Python log record (a handler on the root logger at DEBUG, SQL statements switched on as
``echo=True`` would) is captured while a whole journey runs through the real app: sign-in, a
concern with sentinel texts and a name-like pseudonym, actions (saved, refused, stale), a CSRF
failure, a failed sign-in with a sentinel password, user names with a newline and with ANSI
escapes, sign-out. No record may contain the password, a sentinel, the pseudonym, a session
cookie or its server token, a CSRF token or an 11-digit number; the forged newline must not
make a log line of its own; SQL parameters stay hidden (``hide_parameters=True``).
All names and texts are made up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from dataclasses import field

import pytest

from bti.services.cases import lifecycle as case_service
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser

SENTINEL_CONCERN = "SENTINEL-bekymring-7781"
SENTINEL_NOTE = "SENTINEL-notat-7781"
SENTINEL_REFUSED = "SENTINEL-avvist-7781"
SENTINEL_ERROR = "SENTINEL-feil-7781"
SENTINEL_PASSWORD = "SENTINEL-passord-7781-langt-nok"  # noqa: S105 - a made-up wrong password
PSEUDONYM = "Sentinelbarn"
ID_NUMBER = "01011612345"  # 11 digits, shaped like a fødselsnummer (made up)
FORGED_USER = "bob\nINFO forged"
ANSI_USER = "eve\x1b[31mERROR\x1b[0m"
ELEVEN_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{11}(?![0-9A-Za-z])")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass
class Captured:
    records: list[logging.LogRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # each record formatted, tracebacks included


class _Keep(logging.Handler):
    def __init__(self, into: Captured):
        super().__init__(level=logging.DEBUG)
        self.into = into
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.into.records.append(record)
        self.into.lines.append(self.format(record))


@pytest.fixture
def captured():
    """Everything logged, at DEBUG, from every logger; SQL statements too (SQLAlchemy keeps its
    own loggers at WARN unless asked)."""
    out = Captured()
    handler = _Keep(out)
    root = logging.getLogger()
    sql = logging.getLogger("sqlalchemy.engine")
    old = (root.level, sql.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old[0])
        sql.setLevel(old[1])


class Recorder:
    """Browsers whose cookies, session tokens and CSRF tokens are all remembered."""

    def __init__(self, app):
        self.app = app
        self.secrets: set[str] = set()
        self.browsers: list[Browser] = []

    def browser(self) -> Browser:
        b = Browser(self.app.test_client())
        self.browsers.append(b)
        return b

    def note(self, b: Browser) -> None:
        if b.token:
            self.secrets.add(b.token)
        cookie = b.client.get_cookie(self.app.config["SESSION_COOKIE_NAME"])
        if cookie is None:
            return
        self.secrets.add(cookie.value)
        data = self.app.session_interface.get_signing_serializer(self.app).loads(cookie.value)
        for key in ("sid", "csrf_token"):
            if data.get(key):
                self.secrets.add(data[key])

    def get(self, b: Browser, url: str):
        r = b.get(url)
        self.note(b)
        return r

    def post(self, b: Browser, url: str, data: dict, **kw):
        r = b.post(url, data, **kw)
        self.note(b)
        return r


def _version(html: str, trigger: str) -> str:
    """The case's version: from the action's own form, else from the case page."""
    m = (re.search(r'name="expected_version" value="(\d+)"', html)
         or re.search(r'data-case-version="(\d+)"', html))
    return m.group(1)


def _sign_in(rec: Recorder, username: str, password: str = PASSWORD):
    b = rec.browser()
    rec.get(b, "/auth/login")
    r = rec.post(b, "/auth/login", {"username": username, "password": password})
    return b, r


def _open_case(rec: Recorder, b: Browser) -> int:
    rec.get(b, "/saker/ny")
    r = rec.post(b, "/saker/ny", {
        "child_pseudonym": PSEUDONYM, "child_birth_year": "2016",
        "what_seen": f"{SENTINEL_CONCERN}: {PSEUDONYM} sa at mor ringde {ID_NUMBER}.",
        "since": SENTINEL_CONCERN, "child_said": f"{PSEUDONYM} er lei seg",
        "violence_suspected": "false"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    return int(re.search(r"/saker/(\d+)/kvittering$", r.headers["Location"]).group(1))


def _journey(app, web_world) -> Recorder:
    rec = Recorder(app)
    teacher, r = _sign_in(rec, web_world.users["teacher"].username)
    assert r.status_code == 302
    case_id = _open_case(rec, teacher)
    rec.get(teacher, f"/saker/{case_id}/kvittering")
    html = rec.get(teacher, f"/saker/{case_id}").get_data(as_text=True)
    # saved
    r = rec.post(teacher, f"/saker/{case_id}/handling/add_note",
                 {"expected_version": _version(html, "add_note"),
                  "text": f"{SENTINEL_NOTE} om {PSEUDONYM}, tlf {ID_NUMBER}"})
    assert r.status_code == 303
    html = rec.get(teacher, f"/saker/{case_id}").get_data(as_text=True)
    # refused by the schema (422): a meeting without its kind
    r = rec.post(teacher, f"/saker/{case_id}/handling/record_meeting",
                 {"expected_version": _version(html, "record_meeting"), "meeting_kind": "",
                  "held_on": "ikkje ein dato", "attendees": f"{SENTINEL_REFUSED} {PSEUDONYM}"})
    assert r.status_code == 422
    # stale (409)
    r = rec.post(teacher, f"/saker/{case_id}/handling/add_note",
                 {"expected_version": "0", "text": f"{SENTINEL_NOTE} {PSEUDONYM}"})
    assert r.status_code == 409
    # no CSRF token (400)
    r = rec.post(teacher, f"/saker/{case_id}/handling/add_note",
                 {"expected_version": "1", "text": f"{SENTINEL_NOTE} {ID_NUMBER}"}, csrf=False)
    assert r.status_code == 400
    # a case the outsider may not see (404), and a stafettholder appointed by the leader
    outsider, _ = _sign_in(rec, web_world.users["outsider"].username)
    assert rec.get(outsider, f"/saker/{case_id}").status_code == 404
    leader, _ = _sign_in(rec, web_world.users["leader"].username)
    rec.get(leader, "/leiar/?namn=1")
    rec.get(leader, f"/tilgang/logg?case={case_id}")
    html = rec.get(leader, f"/saker/{case_id}").get_data(as_text=True)
    r = rec.post(leader, f"/saker/{case_id}/handling/appoint_stafettholder",
                 {"expected_version": _version(html, "appoint_stafettholder"),
                  "stafettholder": str(web_world.users["coordinator"].id)})
    assert r.status_code == 303
    # emergency access with a reason that names the child
    psych, _ = _sign_in(rec, web_world.users["psychologist"].username)
    rec.get(psych, f"/tilgang/sak/{case_id}/naud")
    r = rec.post(psych, f"/tilgang/sak/{case_id}/naud",
                 {"reason": f"{SENTINEL_CONCERN}: {PSEUDONYM} er ikkje på skulen i dag"})
    assert r.status_code == 302
    # failed sign-ins: a wrong password, a forged newline, ANSI escapes
    _b, r = _sign_in(rec, web_world.users["teacher"].username, SENTINEL_PASSWORD)
    assert r.status_code == 200
    for name in (FORGED_USER, ANSI_USER, ID_NUMBER):
        _b, r = _sign_in(rec, name, SENTINEL_PASSWORD)
        assert r.status_code == 200
    # sign out
    rec.get(teacher, "/saker/")
    assert rec.post(teacher, "/auth/logout", {}).status_code == 302
    return rec


def _forbidden(rec: Recorder) -> dict[str, str]:
    out = {"password": PASSWORD, "wrong password": SENTINEL_PASSWORD,
           "concern sentinel": SENTINEL_CONCERN, "note sentinel": SENTINEL_NOTE,
           "refused sentinel": SENTINEL_REFUSED, "error sentinel": SENTINEL_ERROR,
           "pseudonym": PSEUDONYM}
    for i, s in enumerate(sorted(rec.secrets)):
        out[f"cookie/session/CSRF value #{i}"] = s
    return out


def _leaks(captured: Captured, forbidden: dict[str, str]) -> list[str]:
    found = []
    for rec, line in zip(captured.records, captured.lines, strict=True):
        texts = [line, repr(rec.args), repr(rec.msg)]
        for what, value in forbidden.items():
            if any(value in t for t in texts):
                found.append(f"{what} in {rec.name} {rec.levelname}: {line[:300]!r}")
        if any(ELEVEN_DIGITS.search(t) for t in texts):
            found.append(f"an 11-digit number in {rec.name}: {line[:300]!r}")
    return found


def test_a_whole_journey_logs_no_personal_data_or_secrets(app, web_world, captured, capsys):
    rec = _journey(app, web_world)
    assert len(rec.secrets) >= 10  # cookies, session tokens and CSRF tokens were collected
    leaks = _leaks(captured, _forbidden(rec))
    with capsys.disabled():
        print(f"\n[log hygiene] {len(captured.records)} records captured "
              f"({len({r.name for r in captured.records})} loggers), "
              f"{len(rec.secrets)} secret values checked, {len(leaks)} leaks")
    assert not leaks, "\n".join(leaks[:20])


def test_sql_statements_are_logged_without_their_parameters(app, web_world, captured):
    _journey(app, web_world)
    sql = [line for r, line in zip(captured.records, captured.lines, strict=True)
           if r.name.startswith("sqlalchemy.engine")]
    assert any("INSERT INTO case_record" in line for line in sql), "no SQL was captured"
    hidden = [line for line in sql if "hide_parameters=True" in line]
    assert hidden, "SQL parameters are not marked as hidden"
    assert not any(PSEUDONYM in line or SENTINEL_CONCERN in line for line in sql)


def test_a_forged_newline_in_a_user_name_makes_no_log_line(app, web_world, captured):
    _journey(app, web_world)
    for line in captured.lines:
        for physical in line.splitlines():
            assert not physical.startswith("INFO forged"), line
            assert "\x1b[" not in physical, line
    assert not any("\nINFO forged" in r.getMessage() for r in captured.records)


def test_the_csrf_failure_is_logged_without_the_form(app, web_world, captured):
    """The refusal is logged (AUD-05 wants a trace of it) with the endpoint only."""
    _journey(app, web_world)
    lines = [line for line in captured.lines if "CSRF" in line]
    assert lines
    assert all(SENTINEL_NOTE not in line and ID_NUMBER not in line for line in lines)


def test_an_unhandled_error_is_logged_without_personal_data(app, web_world, captured,
                                                            monkeypatch):
    rec = Recorder(app)
    teacher, _ = _sign_in(rec, web_world.users["teacher"].username)
    case_id = _open_case(rec, teacher)
    html = rec.get(teacher, f"/saker/{case_id}").get_data(as_text=True)

    def broken_fire(*_a, **_kw):
        raise RuntimeError(f"{SENTINEL_ERROR}: could not save the note about {PSEUDONYM} "
                           f"({ID_NUMBER})")

    monkeypatch.setattr(case_service, "fire", broken_fire)
    r = rec.post(teacher, f"/saker/{case_id}/handling/add_note",
                 {"expected_version": _version(html, "add_note"), "text": "Eit notat"})
    monkeypatch.undo()
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert SENTINEL_ERROR not in body  # the page stays generic
    assert PSEUDONYM not in body
    errors = [line for r_, line in zip(captured.records, captured.lines, strict=True)
              if r_.levelno >= logging.ERROR]
    assert any("cases.fire" in line for line in errors), "the error was not logged"
    leaks = _leaks(captured, _forbidden(rec))
    assert not leaks, "\n".join(leaks[:10])
