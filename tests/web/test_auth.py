"""Sign-in, sessions and CSRF through the real app (CSRF stays on)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import User
from bti.domain.org import UserSession
from bti.services.accounts.auth import end_all_sessions
from tests.web.conftest import PASSWORD


def test_login_then_inbox_then_logout_ends_the_server_session(app, web_world, browser):
    r = browser.login("laerar1")
    assert r.status_code == 302
    assert browser.get("/saker/").status_code == 200
    copied = browser.client.get_cookie("bti_session").value
    r = browser.post("/auth/logout")
    assert r.status_code == 302
    # replaying the copied cookie after logout gets the sign-in page, not the inbox
    browser.client.set_cookie("bti_session", copied)
    r = browser.client.get("/saker/")
    assert r.status_code == 302
    assert "/auth/login" in r.headers["Location"]


def test_wrong_password_unknown_user_and_inactive_user_answer_the_same(app, web_world, browser):
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(User, web_world.users["outsider"].id).active = False
    bodies = set()
    for username, password in (("laerar1", "feil passord, heilt feil"),
                               ("finst-ikkje", "feil passord, heilt feil"),
                               ("ukjend1", PASSWORD)):
        browser.get("/auth/login")
        r = browser.post("/auth/login", {"username": username, "password": password})
        assert r.status_code == 200
        body = r.get_data(as_text=True)
        bodies.add(re.sub(r'(nonce|value)="[^"]*"', "", body))
    assert len(bodies) == 1


def test_post_without_csrf_token_is_refused(app, web_world, browser):
    r = browser.post("/auth/login", {"username": "laerar1", "password": PASSWORD}, csrf=False)
    assert r.status_code == 400


def test_deactivation_and_password_change_end_open_sessions(app, web_world, login):
    b = login("teacher", web_world)
    with app.extensions["bti"].session_factory.begin() as s:
        end_all_sessions(s, web_world.users["teacher"].id, now=app.extensions["bti"].clock(),
                         reason="deactivated")
    assert b.client.get("/saker/").status_code == 302


def test_idle_timeout_ends_the_session(app, web_world, login):
    b = login("teacher", web_world)
    ext = app.extensions["bti"]
    real = ext.clock
    ext.clock = lambda: real() + timedelta(minutes=31)
    try:
        assert b.client.get("/saker/").status_code == 302
    finally:
        ext.clock = real
    with ext.session_factory() as s:
        row = s.scalars(select(UserSession)).one()
        assert row.end_reason == "idle"


def test_login_events_are_audited(app, web_world, login):
    login("teacher", web_world)
    with app.extensions["bti"].session_factory() as s:
        actions = [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "auth.login" in actions


def test_security_headers_on_pages_errors_and_static(app, web_world, browser):
    for url in ("/auth/login", "/no-such-page", "/static/css/app.css"):
        r = browser.get(url)
        csp = r.headers["Content-Security-Policy"]
        assert "object-src 'none'" in csp
        assert "base-uri 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        r.close()


def test_signing_out_ends_the_users_sessions_on_every_device(app, web_world, login):
    phone = login("teacher", web_world)
    laptop = login("teacher", web_world)
    assert phone.get("/saker/").status_code == 200
    laptop.get("/saker/")
    assert laptop.post("/auth/logout").status_code == 302
    assert phone.client.get("/saker/").status_code == 302
    with app.extensions["bti"].session_factory() as s:
        reasons = {r.end_reason for r in s.scalars(select(UserSession))}
    assert reasons == {"logout"}
