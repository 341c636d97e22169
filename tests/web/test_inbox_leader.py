"""Mine saker and the leader's pages through the real app (CSRF on, signed in by form)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from tests.factories import FIXED_NOW
from tests.factories import make_user
from tests.services.test_inbox import Script
from tests.web.conftest import Browser
from tests.web.conftest import WebWorld


@pytest.fixture
def fixed_clock(app):
    app.extensions["bti"].clock = lambda: FIXED_NOW


def build(app, world: WebWorld, fn):
    """Run ``fn(script, users)`` in one committed transaction; every user reads English."""
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        users = {k: s.get(User, u.id) for k, u in world.users.items()}
        for u in users.values():
            u.locale = "en"
        return fn(Script(s, ext.workflows), users)


def audit_rows(app, action: str, actor_id: int) -> list[AuditEvent]:
    with app.extensions["bti"].session_factory() as s:
        return list(s.scalars(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.actor_id == actor_id)
            .order_by(AuditEvent.id)))


def coordinator_cases(app, world):
    """Four cases around the coordinator, one per kind of urgency and one calm."""
    def fn(sc, u):
        handover = sc.open(u["teacher"], day=-1, pseudonym="Hanna H.")
        sc.to_n1(handover, u["teacher"], u["leader"], u["leader"], day=-1)
        sc.fire(u["leader"], handover, "propose_handover",
                {"to_user": u["coordinator"].id, "reason": "Koordinator tek over."}, day=-1)
        overdue = sc.open(u["teacher"], day=-20, pseudonym="Olav O.")
        sc.to_n1(overdue, u["teacher"], u["leader"], u["coordinator"], day=-20)
        sc.measure(u["coordinator"], overdue, start=-20, evaluate_by=-2)
        consent = sc.open(u["teacher"], day=-5, pseudonym="Siri S.")
        sc.to_n1(consent, u["teacher"], u["leader"], u["coordinator"], day=-5)
        sc.consent(u["coordinator"], consent, world.unit_ids["health"], day=-5, expires=6)
        calm = sc.open(u["coordinator"], day=-1, pseudonym="Roar R.")
        return {"handover": handover.id, "overdue": overdue.id, "consent": consent.id,
                "calm": calm.id}
    return build(app, world, fn)


def test_inbox_shows_urgent_items_in_order_with_reasons(app, web_world, login, fixed_clock):
    ids = coordinator_cases(app, web_world)
    b = login("coordinator", web_world)
    html = b.get("/saker/").get_data(as_text=True)
    start = html.index("Needs attention")  # below the notifications
    positions = [html.index(name, start) for name in ("Hanna H.", "Olav O.", "Siri S.",
                                                      "Other cases", "Roar R.")]
    assert positions == sorted(positions)
    for case_id in ids.values():
        assert re.search(rf'href="/saker/{case_id}"', html)
    assert "Handover waiting for your answer (proposed 01.03.2026)" in html
    assert "Evaluation overdue since 28.02.2026" in html
    assert "Consent expires on 08.03.2026" in html
    assert "Level 1 – measures in own service" in html  # the level in the user's language
    assert "Proposed as stafettholder" in html
    assert "Stafettholder" in html
    assert 'class="badge badge-overdue"' in html
    assert "style=" not in html
    # every listed case is an audited read, with the relation as its basis
    rows = audit_rows(app, "case.listed", web_world.users["coordinator"].id)
    assert sorted((r.case_id, r.basis) for r in rows) == sorted([
        (ids["handover"], "handover_recipient"), (ids["overdue"], "stafettholder"),
        (ids["consent"], "stafettholder"), (ids["calm"], "reporter")])


def test_notifications_are_deduplicated_listed_opened_and_marked_read(app, web_world, login,
                                                                       fixed_clock):
    """The one list (/varsler), the unread count in every page's header, opening a notice
    (marked read, off to its case), marking read (CSRF), and nobody else's notice (404)."""
    ids = coordinator_cases(app, web_world)
    coordinator = web_world.users["coordinator"].id
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(User, coordinator).locale = "nb"
    b = login("coordinator", web_world)
    first = b.get("/saker/").get_data(as_text=True)
    b.get("/saker/")
    ext = app.extensions["bti"]
    with ext.session_factory() as s:
        notes = s.scalars(select(Notification).where(
            Notification.kind == "consent_expiring")).all()
        unread = s.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == coordinator, Notification.read_at.is_(None)))
    assert [(n.user_id, n.case_id) for n in notes] == [(coordinator, ids["consent"])]
    nid = notes[0].id
    # the header of every page: "Varsler (N uleste)", one link
    assert f'Varsler <span class="badge">({unread} uleste)</span></a>' in first
    html = b.get("/varsler/").get_data(as_text=True)
    assert "<h1>Varsler</h1>" in html
    assert "Et samtykke utløper snart" in html
    assert f"Sak {ids['consent']}" in html
    assert "Siri S." not in html  # the list names no child
    assert f'action="/varsler/{nid}"' in html
    # newest first: the warning (written on the listing) before the appointment
    assert html.index(f'id="notification-{nid}"') < html.index("Du er utnevnt til stafettholder")

    assert b.post(f"/varsler/{nid}/lest", csrf=False).status_code == 400
    with ext.session_factory() as s:
        assert s.get(Notification, nid).read_at is None
    # another user can neither open nor mark it: 404, like a notification that does not exist
    other = login("teacher", web_world)
    other.get("/varsler/")
    assert other.post(f"/varsler/{nid}").status_code == 404
    assert other.post(f"/varsler/{nid}/lest").status_code == 404
    assert other.get(f"/varsler/{nid}").status_code == 404
    # an e-mail's link (GET) shows the notice in the list and changes nothing
    r = b.get(f"/varsler/{nid}")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/varsler/#notification-{nid}")
    with ext.session_factory() as s:
        assert s.get(Notification, nid).read_at is None
    r = b.post(f"/varsler/{nid}")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/saker/{ids['consent']}")
    with ext.session_factory() as s:
        assert s.get(Notification, nid).read_at is not None
    html = b.get("/varsler/").get_data(as_text=True)
    assert f"({unread - 1} ulest" in html
    r = b.post("/varsler/lest")
    assert r.status_code == 302
    html = b.get("/varsler/").get_data(as_text=True)
    assert 'class="badge">(' not in html  # nothing unread: no count
    with ext.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == coordinator, Notification.read_at.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "consent_expiring")) == 1


def test_notification_settings_are_saved_and_checked(app, web_world, login):
    from bti.domain.notifications import NotificationPreference

    with app.extensions["bti"].session_factory.begin() as s:
        s.get(User, web_world.users["coordinator"].id).locale = "nb"
    b = login("coordinator", web_world)
    html = b.get("/varsler/innstillinger").get_data(as_text=True)
    assert "<h1>Varslingsinnstillinger</h1>" in html
    assert "E-postadresse" in html
    assert 'id="f-mode-appointed-now" name="mode-appointed" value="now" checked' in html
    r = b.post("/varsler/innstillinger", data={"email": "ikkje ei adresse",
                                               "mode-appointed": "app"})
    assert r.status_code == 422
    assert "Skriv en e-postadresse" in r.get_data(as_text=True)
    r = b.post("/varsler/innstillinger", data={"email": " ola@kommune.example ",
                                               "mode-appointed": "app",
                                               "mode-consent_expiring": "now",
                                               "mode-concern_new": "now"})
    assert r.status_code == 302
    uid = web_world.users["coordinator"].id
    with app.extensions["bti"].session_factory() as s:
        assert s.get(User, uid).email == "ola@kommune.example"
        prefs = dict(s.execute(select(NotificationPreference.event, NotificationPreference.mode)
                               .where(NotificationPreference.user_id == uid)).all())
    assert prefs == {"appointed": "app", "consent_expiring": "now"}  # defaults are not stored
    html = b.get("/varsler/innstillinger").get_data(as_text=True)
    assert 'name="mode-appointed" value="app" checked' in html
    assert 'value="ola@kommune.example"' in html
    assert b.post("/varsler/innstillinger", data={"mode-appointed": "often"}).status_code == 422


def leader_cases(app, world):
    def fn(sc, u):
        a = sc.open(u["teacher"], day=-10, pseudonym="Anna A.")
        b = sc.open(u["teacher"], day=-3, pseudonym="Bodil B.")
        c = sc.open(u["teacher"], day=-40, pseudonym="Cato C.")
        sc.to_n1(c, u["teacher"], u["leader"], u["coordinator"], day=-25)
        sc.measure(u["coordinator"], c, start=-25, evaluate_by=5)
        sc.fire(u["coordinator"], c, "start", day=-24)
        sc.fire(u["coordinator"], c, "record_meeting",
                {"meeting_kind": "cooperation", "held_on": sc.date(-20)}, day=-20)
        return {"a": a.id, "b": b.id, "c": c.id}
    return build(app, world, fn)


def test_leader_overview_counts_by_level_and_is_pseudonymised(app, web_world, login,
                                                              fixed_clock):
    ids = leader_cases(app, web_world)
    b = login("leader", web_world)
    r = b.get("/leiar/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    counts = dict(re.findall(r'<tr data-level="(\w+)"><th scope="row"[^>]*>[^<]*</th>'
                             r'<td[^>]* class="num">(\d+)</td>', html))
    assert counts == {"n0": "2", "n1": "1"}
    for name in ("Anna A.", "Bodil B.", "Cato C."):
        assert name not in html
    refs = [html.index(f"Case {ids[k]}<") for k in ("c", "a", "b")]  # longest at level first
    assert refs == sorted(refs)
    assert "style=" not in html
    leader_id = web_world.users["leader"].id
    assert [(r.action, r.basis) for r in audit_rows(app, "unit.overview_viewed", leader_id)] == \
        [("unit.overview_viewed", "unit_leader")]
    assert audit_rows(app, "case.listed", leader_id) == []

    html = b.get("/leiar/?namn=1").get_data(as_text=True)
    assert all(name in html for name in ("Anna A.", "Bodil B.", "Cato C."))
    assert sorted(r.case_id for r in audit_rows(app, "case.listed", leader_id)) == \
        sorted(ids.values())


def test_timeline_renders_svg_and_table_for_the_leader_only(app, web_world, login, fixed_clock):
    ids = leader_cases(app, web_world)
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        health = s.get(Unit, web_world.unit_ids["health"])
        m = s.get(Municipality, web_world.municipality_id)
        make_user(s, m, health, ("employee", "leader"), username="helseleiar1",
                  password_hash=s.get(User, web_world.users["leader"].id).password_hash)
    b = login("leader", web_world)
    r = b.get(f"/leiar/sak/{ids['c']}/tidslinje")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    svg = html[html.index("<svg class=\"tl-svg\""):html.index("</svg>")]
    assert 'role="img"' in svg
    assert 'aria-labelledby="tl-title tl-desc"' in svg
    assert '<title id="tl-title">Flow timeline for case' in svg
    assert '<desc id="tl-desc">' in svg
    assert 'class="tl-band tl-band-0"' in svg
    assert 'class="tl-band tl-band-1 tl-ongoing"' in svg
    assert 'class="tl-bar tl-bar-active"' in svg
    assert "tl-mark-meeting" in svg
    assert ">Level 1<" in svg
    assert ">Measure 1<" in svg
    assert 'class="tl-today"' in svg  # today's line, labelled
    assert ">Today<" in svg
    assert ">Stafettholder<" in svg  # the holder lane
    assert ">Deadlines<" in svg
    table = html[html.index('<table class="table tl-table">'):]
    assert "<caption>" in table
    assert 'scope="col"' in table
    assert 'scope="row"' in table
    assert "Level 1 – measures in own service" in table
    assert "Meeting" in table
    assert "10.02.2026" in table  # the meeting's own date
    assert "Cato C." not in html
    assert "style=" not in html
    assert "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    reads = audit_rows(app, "case.log_viewed", web_world.users["leader"].id)
    assert [(x.case_id, x.basis) for x in reads] == [(ids["c"], "unit_leader")]

    assert b.get("/leiar/sak/999999/tidslinje").status_code == 404
    other = login("teacher", web_world)
    assert other.get(f"/leiar/sak/{ids['c']}/tidslinje").status_code == 403
    assert other.get("/leiar/").status_code == 403
    hb = Browser(app.test_client())
    assert hb.login("helseleiar1").status_code == 302
    assert hb.get(f"/leiar/sak/{ids['c']}/tidslinje").status_code == 404
    assert hb.get("/leiar/").status_code == 200


def test_a_declined_handovers_notice_shows_its_reason_to_the_proposer(app, web_world, login,
                                                                        fixed_clock):
    """The proposer's notice list shows the reason the recipient gave (read from the handover
    at display time, escaped, audited); nobody else's list shows it."""
    reason = "Har ikkje kapasitet <før påske> (testtekst)"

    def fn(sc, u):
        case = sc.open(u["teacher"], day=-3, pseudonym="Pia P.")
        sc.to_n1(case, u["teacher"], u["leader"], u["leader"], day=-3)
        sc.fire(u["leader"], case, "propose_handover",
                {"to_user": u["coordinator"].id, "reason": "Koordinator tek over."}, day=-2)
        sc.fire(u["coordinator"], case, "decline_handover", {"reason": reason}, day=-1)
        return case.id

    case_id = build(app, web_world, fn)
    html = login("leader", web_world).get("/varsler/").get_data(as_text=True)
    assert "Your handover was declined" in html
    assert ("The reason given: Har ikkje kapasitet &lt;før påske&gt; (testtekst)") in html
    assert "Pia P." not in html
    [row] = audit_rows(app, "notification.reason_read", web_world.users["leader"].id)
    assert (row.case_id, row.object_type) == (case_id, "handover")
    other = login("coordinator", web_world).get("/varsler/").get_data(as_text=True)
    assert "testtekst" not in other
