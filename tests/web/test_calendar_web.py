"""The calendar section of the settings page and the public feed route, through the real app
(CSRF on, signed in by form); the feed is parsed with the icalendar library."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import icalendar
import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.notifications import CalendarFeed
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.web.throttle import PER_ADDRESS_FEED_MISSES
from bti.web.throttle import PER_FEED_READS
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.services.test_inbox import Script

PSEUDONYM = "Ingrid Z."
_URL = re.compile(r'value="(http://[^"]+/kalender/[^"]+\.ics)"')


@pytest.fixture
def fixed_clock(app):
    app.extensions["bti"].clock = lambda: FIXED_NOW


def a_case(app, world) -> int:
    """A case at nivå 1 held by the coordinator, with a measure evaluated in 20 days."""
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        u = {k: s.get(User, v.id) for k, v in world.users.items()}
        sc = Script(s, ext.workflows)
        case = cases.open_case(sc.ctx(u["teacher"]), unit_id=None, child_pseudonym=PSEUDONYM,
                               child_birth_year=2016, concern=dict(CONCERN)).case
        sc.to_n1(case, u["teacher"], u["leader"], u["coordinator"])
        sc.measure(u["coordinator"], case, start=0, evaluate_by=20)
        return case.id


def switch_on(b) -> str:
    b.get("/innstillinger")
    r = b.post("/innstillinger/kalender")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    m = _URL.search(page)
    assert m, page
    return html.unescape(m.group(1))


def path_of(url: str) -> str:
    return url[url.index("/kalender/"):]


def test_switch_on_shows_the_address_once_and_the_feed_answers(app, web_world, login,
                                                               fixed_clock):
    case_id = a_case(app, web_world)
    b = login("coordinator", web_world)
    page = b.get("/innstillinger").get_data(as_text=True)
    assert "Switch on the calendar feed" in page or "Slå på kalenderstrømmen" in page
    url = switch_on(b)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    # not on a reload, and not stored
    again = b.get("/innstillinger").get_data(as_text=True)
    assert token not in again
    assert ".ics" not in again
    with app.extensions["bti"].session_factory() as s:
        assert token not in {r.token_sha256 for r in s.scalars(select(CalendarFeed))}
    # the feed itself needs no sign-in
    anon = app.test_client()
    r = anon.get(path_of(url))
    assert r.status_code == 200
    assert r.mimetype == "text/calendar"
    assert r.headers["Cache-Control"] == "private, no-store"
    assert PSEUDONYM.encode() not in r.data
    cal = icalendar.Calendar.from_ical(r.data)
    [ev] = cal.walk("VEVENT")
    assert str(ev["SUMMARY"]) == f"BTI: evaluering, sak {case_id}"
    assert ev.decoded("DTSTART") == TODAY + timedelta(days=20)
    assert str(ev["URL"]) == f"http://localhost/saker/{case_id}"
    # the read is audited per case, on the coordinator, and last use is recorded
    with app.extensions["bti"].session_factory() as s:
        rows = list(s.scalars(select(AuditEvent).where(
            AuditEvent.action == "calendar_feed.read")))
        assert [(r.case_id, r.actor_id, r.basis) for r in rows] == \
            [(case_id, web_world.users["coordinator"].id, "stafettholder")]
        feed_id = s.scalar(select(CalendarFeed.id))
        details = json.loads(rows[0].details)
        assert (details["channel"], details["feed_id"]) == \
            ("calendar", feed_id)
        assert s.scalar(select(CalendarFeed.last_used_at)) == FIXED_NOW


def test_revoke_and_a_new_address_stop_the_old_one(app, web_world, login, fixed_clock):
    a_case(app, web_world)
    b = login("coordinator", web_world)
    first = switch_on(b)
    anon = app.test_client()
    assert anon.get(path_of(first)).status_code == 200
    second = switch_on(b)  # a new address: the old one stops
    assert anon.get(path_of(first)).status_code == 404
    assert anon.get(path_of(second)).status_code == 200
    r = b.post("/innstillinger/kalender/av")
    assert r.status_code == 303
    assert anon.get(path_of(second)).status_code == 404
    page = b.get("/innstillinger").get_data(as_text=True)
    assert "Switch on the calendar feed" in page or "Slå på kalenderstrømmen" in page


def test_the_page_and_the_feed_in_nynorsk(app, web_world, login, fixed_clock):
    case_id = a_case(app, web_world)
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(User, web_world.users["coordinator"].id).locale = "nn"
    b = login("coordinator", web_world)
    page = b.get("/innstillinger").get_data(as_text=True)
    assert "Innstillingar" in page
    assert "Slå på kalenderstraumen" in page
    url = switch_on(b)
    shown = b.get("/innstillinger").get_data(as_text=True)
    assert "Kalenderstraumen har vore på sidan" in shown
    cal = icalendar.Calendar.from_ical(app.test_client().get(path_of(url)).data)
    assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")] == [f"BTI: evaluering, sak {case_id}"]


def test_unknown_addresses_are_404_then_throttled(app, web_world):
    anon = app.test_client()
    for _ in range(PER_ADDRESS_FEED_MISSES.amount):
        assert anon.get("/kalender/bti_cal_not-a-real-token-0123456789.ics").status_code == 404
    r = anon.get("/kalender/bti_cal_not-a-real-token-0123456789.ics")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1


def test_a_live_feed_is_served_to_an_address_over_its_misses(app, web_world, login):
    b = login("coordinator", web_world)
    url = switch_on(b)
    anon = app.test_client()
    for _ in range(PER_ADDRESS_FEED_MISSES.amount + 1):
        anon.get("/kalender/bti_cal_revoked-long-ago-0123456789.ics")
    assert anon.get(path_of(url)).status_code == 200


def test_reads_of_one_feed_are_throttled(app, web_world, login):
    b = login("coordinator", web_world)
    url = switch_on(b)
    anon = app.test_client()
    for _ in range(PER_FEED_READS.amount):
        assert anon.get(path_of(url)).status_code == 200
    assert anon.get(path_of(url)).status_code == 429


def test_the_settings_page_needs_a_sign_in(app, web_world):
    anon = app.test_client()
    assert anon.get("/innstillinger").status_code in (302, 401)
    assert anon.post("/innstillinger/kalender").status_code in (302, 400, 401)
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(CalendarFeed.id)) is None
