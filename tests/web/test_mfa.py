"""AUTHN-04: a second factor for roles that see case content, switchable per municipality."""

from __future__ import annotations

import json
import re

import pyotp
from cryptography.fernet import Fernet
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.services.accounts.secretbox import PREFIX
from bti.services.accounts.secretbox import SecretBox


def _require_mfa(app, world, on=True):
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(Municipality, world.municipality_id).mfa_required = on


def _secret(html: str) -> str:
    return re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)


def test_password_alone_reaches_only_the_second_factor(app, web_world, browser):
    _require_mfa(app, web_world)
    r = browser.login("laerar1")
    assert r.headers["Location"].endswith("/auth/mfa")
    r = browser.get("/saker/")
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/auth/mfa")


def test_enrol_then_sign_in_with_a_code_and_never_the_same_code_twice(app, web_world, browser):
    _require_mfa(app, web_world)
    browser.login("laerar1")
    page = browser.get("/auth/mfa").get_data(as_text=True)
    secret = _secret(page)
    totp = pyotp.TOTP(secret)
    now = app.extensions["bti"].clock()
    wrong = "000000" if totp.at(now) != "000000" else "111111"
    r = browser.post("/auth/mfa", {"code": wrong})
    assert r.status_code == 200
    assert 'role="alert"' in r.get_data(as_text=True)
    assert browser.get("/saker/").status_code == 302
    code = totp.at(now)
    r = browser.post("/auth/mfa", {"code": code})
    assert r.status_code == 302
    assert browser.get("/saker/").status_code == 200
    # a new session: the same code (same time step) is refused
    browser.post("/auth/logout")
    browser.login("laerar1")
    browser.get("/auth/mfa")  # the new session has a new CSRF token
    r = browser.post("/auth/mfa", {"code": code})
    assert r.status_code == 200
    assert browser.get("/saker/").status_code == 302
    # the next time step's code works
    r = browser.post("/auth/mfa", {"code": totp.at(now, counter_offset=1)})
    assert r.status_code == 302
    assert browser.get("/saker/").status_code == 200


def test_mfa_off_for_the_municipality_means_password_only(app, web_world, browser):
    _require_mfa(app, web_world, on=False)
    r = browser.login("laerar1")
    assert not r.headers["Location"].endswith("/auth/mfa")
    assert browser.get("/saker/").status_code == 200


def _stored_seed(app, username: str) -> str | None:
    with app.extensions["bti"].session_factory() as s:
        return s.scalars(select(User.totp_secret).where(User.username == username)).one()


def _set_seed(app, username: str, value: str) -> None:
    with app.extensions["bti"].session_factory.begin() as s:
        s.scalars(select(User).where(User.username == username)).one().totp_secret = value


def test_the_seed_is_stored_encrypted(app, web_world, browser):
    _require_mfa(app, web_world)
    browser.login("laerar1")
    secret = _secret(browser.get("/auth/mfa").get_data(as_text=True))
    code = pyotp.TOTP(secret).at(app.extensions["bti"].clock())
    assert browser.post("/auth/mfa", {"code": code}).status_code == 302
    stored = _stored_seed(app, "laerar1")
    assert stored.startswith(PREFIX)
    assert secret not in stored
    assert app.extensions["bti"].secrets.open(stored) == secret


def test_a_legacy_plaintext_seed_works_once_and_is_then_encrypted(app, web_world, browser):
    _require_mfa(app, web_world)
    secret = pyotp.random_base32()
    _set_seed(app, "laerar1", secret)
    browser.login("laerar1")
    browser.get("/auth/mfa")
    code = pyotp.TOTP(secret).at(app.extensions["bti"].clock())
    assert browser.post("/auth/mfa", {"code": code}).status_code == 302
    stored = _stored_seed(app, "laerar1")
    assert stored.startswith(PREFIX)
    assert app.extensions["bti"].secrets.open(stored) == secret


def test_a_seed_no_key_opens_fails_closed(app, web_world, browser):
    """A seed sealed under a key the app does not have: the right code is refused, the user
    cannot enrol a new factor instead, and the refusal is logged."""
    _require_mfa(app, web_world)
    secret = pyotp.random_base32()
    _set_seed(app, "laerar1", SecretBox([Fernet.generate_key()]).seal(secret))
    browser.login("laerar1")
    page = browser.get("/auth/mfa").get_data(as_text=True)
    assert '<code class="secret">' not in page  # not offered a new enrolment
    code = pyotp.TOTP(secret).at(app.extensions["bti"].clock())
    r = browser.post("/auth/mfa", {"code": code})
    assert r.status_code == 200
    assert browser.get("/saker/").status_code == 302
    with app.extensions["bti"].session_factory() as s:
        details = s.scalars(select(AuditEvent.details).where(
            AuditEvent.action == "auth.mfa_failed")).all()
    assert any(json.loads(d).get("reason") == "seed_unreadable" for d in details)
