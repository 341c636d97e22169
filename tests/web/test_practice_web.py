"""Practice mode on the web (issue 18 §3): the guide's «try it in a practice case», the banner
on every page of a practice case, the owner's list and delete, the leader's list of who has
completed one, and the proof that practice cases are absent from every other page: every page
and export the app has (enumerated from its URL map, so a new panel cannot be forgotten) reads
the same before and after three practice cases were walked, for every kind of user. All names
are made up."""

from __future__ import annotations

import difflib
import io
import re
import zipfile

import pytest

from bti.services.analytics.dashboard import STUCK_KINDS
from bti.web import policy
from tests.factories import FIXED_NOW
from tests.web.conftest import ApiClient
from tests.web.conftest import make_token
from tests.web.test_cases_ui import _fire
from tests.web.test_cases_ui import _open

BANNER = "Practice case – not a real case"
#: Pages that are meant to change when someone practises: the owner's own list, the leader's
#: list of who has completed, and the access log itself (which records every read and write,
#: practice too, as the audit trail must).
MEANT_TO_CHANGE = {"practice.index", "practice.progress", "audit.search"}
#: Not pages of the app's data.
NOT_DATA = {"static", "favicon", "healthz", "api.openapi", "index"}
#: Values for the URL arguments that are a choice from a fixed list, not an id.
CHOICES = {"fmt": ("csv", "xlsx", "pdf"), "kind": STUCK_KINDS}
USERS = ("teacher", "coordinator", "leader", "nurse", "admin", "privacy")


@pytest.fixture
def fixed_clock(app):
    app.extensions["bti"].clock = lambda: FIXED_NOW


def _english(b) -> None:
    b.get("/saker/")
    assert b.post("/auth/language", {"lang": "en", "next": "/saker/"}).status_code == 302


def _start(b, **form) -> str:
    b.get("/slik-jobber-vi/")
    r = b.post("/ovingssak/start", form)
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    return r.headers["Location"]


def _case_id(location: str) -> int:
    return int(re.search(r"/saker/(\d+)", location).group(1))


def _urls(app) -> list[tuple[str, str]]:
    """(endpoint, url) of every GET page of the app that takes no id: each argument a choice
    from its fixed list (an export's format, a stuck list's kind)."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_DATA:
            continue
        view = app.view_functions[rule.endpoint]
        if policy.REGISTRY[view].kind in (policy.PUBLIC, policy.PENDING_MFA, policy.FAMILY):
            continue
        args = sorted(rule.arguments)
        if any(a not in CHOICES for a in args):
            continue
        if not args:
            out.append((rule.endpoint, rule.rule))
        for a in args:
            out += [(rule.endpoint, rule.rule.replace(f"<{a}>", v)) for v in CHOICES[a]]
    return sorted(out)


_VOLATILE = [
    (re.compile(r'name="csrf_token" value="[^"]+"'), 'name="csrf_token" value=""'),
    (re.compile(r'nonce="[^"]+"'), 'nonce=""'),
]


def _diff(a: object, b: object) -> str:
    if not (isinstance(a, str) and isinstance(b, str)):
        return "(not text)"
    return "\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(),
                                               lineterm=""))[:40])


_PDF_VOLATILE = re.compile(rb"/(CreationDate|ModDate) *\([^)]*\)|/ID *\[[^\]]*\]")


def _content(mimetype: str, data: bytes) -> object:
    """What an export holds, without when it was written: an XLSX's sheets (not its document
    properties), a PDF without its dates and file id."""
    if mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {n: z.read(n) for n in z.namelist() if not n.startswith("docProps/")}
    if mimetype == "application/pdf":
        return _PDF_VOLATILE.sub(b"", data)
    return data


def _snapshot(app, login, web_world, api_token) -> dict[tuple[str, str, str], object]:
    shots: dict[tuple[str, str, str], object] = {}
    urls = _urls(app)
    for name in USERS:
        b = login(name, web_world)
        _english(b)
        for endpoint, url in urls:
            r = b.get(url)
            body: object = _content(r.mimetype, r.get_data())
            if r.mimetype in ("text/html", "text/csv", "application/json"):
                text = r.get_data(as_text=True)
                for pattern, repl in _VOLATILE:
                    text = pattern.sub(repl, text)
                body = text
            shots[(name, endpoint, url)] = (r.status_code, body)
    api = ApiClient(app.test_client(), api_token)
    for endpoint, url in urls:
        if endpoint.startswith("api."):
            r = api.get(url)
            shots[("api", endpoint, url)] = (r.status_code, r.get_data(as_text=True))
    return shots


def test_practice_cases_are_absent_from_every_other_page(app, web_world, login, fixed_clock):
    urls = _urls(app)
    endpoints = {e for e, _ in urls}
    # the enumeration reaches the leader's views, the dashboard and its exports, the inbox,
    # the catalogue, the API's lists
    assert {"leader.overview", "leader.individual_plans", "analytics.dashboard",
            "analytics.export", "analytics.stuck", "inbox.index", "notifications.index",
            "catalogue.index", "api.list_cases", "teams.mine", "admin.users"} <= endpoints
    teacher, coordinator, leader = (web_world.users[n] for n in ("teacher", "coordinator",
                                                                 "leader"))
    real = _open(login("teacher", web_world))  # a real case, so the panels are not empty
    _fire(app, teacher, real, "start")
    token = make_token(app, leader.username)
    for name in USERS:  # each has signed in before (the users page shows the last sign-in)
        login(name, web_world)
    before = _snapshot(app, login, web_world, token)

    # three practice cases: one walked to its end, one left open with its owner as holder, one
    # the leader practises on in their own unit
    walked = _case_id(_start(login("teacher", web_world)))
    for trigger, payload in (("start", None), ("appoint_stafettholder",
                                               {"stafettholder": teacher.id}),
                             ("inform_home", {"informed_on": FIXED_NOW.date().isoformat()}),
                             ("assess", None), ("decide", None),
                             ("close_no_concern", {"reason": "Øvinga er ferdig."})):
        _fire(app, teacher, walked, trigger, payload)
    held = _case_id(_start(login("coordinator", web_world)))
    _fire(app, coordinator, held, "appoint_stafettholder", {"stafettholder": coordinator.id})
    _fire(app, coordinator, held, "start")
    own = _case_id(_start(login("leader", web_world)))
    _fire(app, leader, own, "start")

    after = _snapshot(app, login, web_world, token)
    assert before.keys() == after.keys()
    compared = [k for k in before if k[1] not in MEANT_TO_CHANGE]
    assert len(compared) > 100
    changed = [k for k in compared if before[k] != after[k]]
    assert changed == [], "\n".join(
        f"{k}:\n{_diff(before[k][1], after[k][1])}" for k in changed)
    # the pages meant to change do: the leader sees who has completed
    progress = after[("leader", "practice.progress", "/leiar/ovingsmodus")][1]
    assert "1 of 4 have completed a practice case." in progress
    # and every page of a case (by its id) answers 404 to everyone but the owner (403 where
    # the page is not for the user at all), naming no child
    case_rules = [r for r in app.url_map.iter_rules()
                  if "GET" in r.methods and "case_id" in r.arguments
                  and not r.endpoint.startswith(("family.", "api."))
                  and r.endpoint != "access.emergency"]  # its form reads no case
    nurse = login("nurse", web_world)
    nurse.get("/saker/")
    r = nurse.post(f"/tilgang/sak/{walked}/naud",
                   {"reason": "Akutt fare for barnet, må sjå saka no."})
    assert r.status_code == 404  # no emergency access to a practice case
    for name in ("coordinator", "leader", "nurse", "admin", "privacy"):
        b = login(name, web_world)
        for rule in case_rules:
            url = rule.rule.replace("<int:case_id>", str(walked)).replace("<trigger>", "start")
            r = b.get(url)
            assert r.status_code in (403, 404), (name, url)
            assert "Øvebarn" not in r.get_data(as_text=True)
    api = ApiClient(app.test_client(), token)
    assert api.get(f"/api/v1/cases/{own}").status_code == 200  # the leader's own practice
    assert api.get(f"/api/v1/cases/{walked}").status_code == 404


def test_from_the_guide_to_a_practice_case_with_its_banner(app, web_world, login):
    b = login("teacher", web_world)
    _english(b)
    guide = b.get("/slik-jobber-vi/").get_data(as_text=True)
    step = guide[guide.index('id="step-n0_plan"'):guide.index('id="step-n0_active"')]
    assert 'action="/ovingssak/start"' in step
    assert 'name="handling" value="start"' in step
    # the first step's action opens in a new practice case
    location = _start(b, steg="n0_plan", handling="start")
    case_id = _case_id(location)
    assert location.endswith(f"/saker/{case_id}/handling/start")
    for url in (location, f"/saker/{case_id}", f"/saker/{case_id}/kvittering"):
        html = b.get(url).get_data(as_text=True)
        assert BANNER in html, url
    # a later step: the practice case is continued, on its case page (it is not there yet)
    again = _start(b, steg="n0_evaluation", handling="decide")
    assert again.endswith(f"/saker/{case_id}")
    listing = b.get("/ovingssak/").get_data(as_text=True)
    assert f'href="/saker/{case_id}"' in listing
    assert BANNER in listing
    # a real case has no banner
    real = _open(b)
    assert BANNER not in b.get(f"/saker/{real}").get_data(as_text=True)
    # deleted by its owner: gone at once
    assert b.post(f"/ovingssak/{case_id}/slett").status_code == 303
    assert b.get(f"/saker/{case_id}").status_code == 404
    assert "You have no practice cases." in b.get("/ovingssak/").get_data(as_text=True)


def test_the_leaders_list_in_nynorsk(app, web_world, login):
    b = login("leader", web_world)
    b.get("/saker/")
    b.post("/auth/language", {"lang": "nn", "next": "/saker/"})
    html = b.get("/leiar/ovingsmodus").get_data(as_text=True)
    assert "<h1>Øvingssaker i opplæringa</h1>" in html
    assert "Ikkje enno" in html
    assert 'href="/leiar/ovingsmodus"' in b.get("/leiar/").get_data(as_text=True)
    assert login("teacher", web_world).get("/leiar/ovingsmodus").status_code == 403
