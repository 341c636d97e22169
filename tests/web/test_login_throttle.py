"""AUTHN-02 without lock-outs (bti.web.throttle): failed sign-ins are counted per user and
address, per user, per address, or per user and known browser, so password guessing stops while
the owner of a user name still signs in. Run on the in-memory store and on Redis.

No test waits: the counters are filled by real failed sign-ins or written into the limiter's
store, and the wait shown is computed with the app's injectable clock."""

from __future__ import annotations

import math
import os
import re
import secrets
from datetime import UTC
from datetime import datetime

import pyotp
import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.web import create_app
from bti.web import throttle
from bti.web.auth import limiter
from tests.dbs import app_database
from tests.dbs import redis_up
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser
from tests.web.conftest import make_settings

REDIS = "redis://127.0.0.1:6379"
WRONG = "feil passord, heilt feil"  # noqa: S105 - made up


@pytest.fixture(params=["memory", "redis"])
def app(request):
    storage = "memory://"
    if request.param == "redis":
        if not redis_up():
            if os.environ.get("BTI_REQUIRE_REDIS"):
                pytest.fail("Redis is required (BTI_REQUIRE_REDIS=1) but not reachable")
            pytest.skip("Redis not reachable on 127.0.0.1:6379")
        storage = REDIS
    prefix = f"bti-test-{secrets.token_hex(6)}"
    with app_database() as url:
        app = create_app(make_settings(database_url=url, ratelimit_storage=storage,
                                       ratelimit_prefix=prefix))
        yield app
        app.extensions["bti"].engine.dispose()
    if storage == REDIS:  # this test's counters only (other runs may share the Redis)
        import redis

        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        client.close()


def browser_at(app, address: str, accept_language: str | None = None) -> Browser:
    b = Browser(app.test_client())
    b.client.environ_base["REMOTE_ADDR"] = address
    if accept_language:
        b.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    return b


def sign_in(b: Browser, username: str, password: str = PASSWORD) -> int:
    return b.login(username, password).status_code


def sign_in_and_out(b: Browser, username: str) -> int:
    status = sign_in(b, username)
    if status == 302:
        b.get("/saker/")  # the session's CSRF token
        assert b.post("/auth/logout").status_code == 302
    return status


def prefix(app) -> str:
    return app.extensions["bti"].settings.ratelimit_prefix


def fill(app, item, *key) -> None:
    """Count ``item.amount`` failures for ``key`` in the limiter's store at once."""
    with app.app_context():
        limiter.limiter.hit(item, prefix(app), *key, cost=item.amount)


def reset_time(app, item, *key) -> float:
    with app.app_context():
        return limiter.limiter.get_window_stats(item, prefix(app), *key).reset_time


def test_guesses_from_one_address_stop_that_address_not_the_owner(app, web_world):
    attacker = browser_at(app, "10.0.0.66")
    assert [sign_in(attacker, "laerar1", WRONG) for _ in range(10)] == [200] * 10
    # the 11th attempt from that address is refused, the right password too, unchecked
    r = attacker.login("laerar1", PASSWORD)
    assert r.status_code == 429
    assert "Try again in" in r.get_data(as_text=True) or "Prøv igjen om" in r.get_data(
        as_text=True)
    # the owner, from their own address, signs in; so does another user from the attacker's
    assert sign_in(browser_at(app, "10.0.0.7"), "laerar1") == 302
    assert sign_in(browser_at(app, "10.0.0.66"), "koord1") == 302


def test_successful_sign_ins_are_not_counted(app, web_world):
    """A whole school behind one address signs in and out all day."""
    b = browser_at(app, "10.1.1.1")
    assert [sign_in_and_out(b, "laerar1") for _ in range(14)] == [302] * 14
    assert sign_in(browser_at(app, "10.1.1.1"), "laerar1", WRONG) == 200


def test_the_owners_known_browser_is_never_locked_out(app, web_world):
    owner = browser_at(app, "10.0.0.7")
    assert sign_in_and_out(owner, "laerar1") == 302  # this browser is known for laerar1 now
    # someone behind the same address guesses ten times, and many addresses fill the ceiling
    same_office = browser_at(app, "10.0.0.7")
    assert [sign_in(same_office, "laerar1", WRONG) for _ in range(10)] == [200] * 10
    fill(app, throttle.PER_USER, "login-user", "laerar1")
    assert sign_in(browser_at(app, "10.0.0.7"), "laerar1") == 429
    assert sign_in(browser_at(app, "192.0.2.1"), "laerar1") == 429  # the ceiling: any address
    # ... and the owner's browser still signs in, from the same address and from another
    assert sign_in_and_out(owner, "laerar1") == 302
    owner.client.environ_base["REMOTE_ADDR"] = "198.51.100.4"
    assert sign_in_and_out(owner, "laerar1") == 302
    # a known browser counts its own failures, for that user only
    assert [sign_in(owner, "laerar1", WRONG) for _ in range(10)] == [200] * 10
    assert sign_in(owner, "laerar1") == 429
    assert sign_in(owner, "koord1") == 302  # not known for koord1: the address's limits apply


def test_a_forged_or_foreign_known_browser_cookie_counts_for_nothing(app, web_world):
    owner = browser_at(app, "10.0.0.7")
    assert sign_in_and_out(owner, "laerar1") == 302
    name = app.config["SESSION_COOKIE_NAME"] + "-known"
    genuine = owner.client.get_cookie(name).value
    fill(app, throttle.PER_USER, "login-user", "laerar1")
    for value in (genuine[:-3] + "abc", "x", genuine.replace(".", "!", 1)):
        b = browser_at(app, "10.0.0.8")
        b.client.set_cookie(name, value)
        assert sign_in(b, "laerar1") == 429, value
    # a browser known for another user is not known for this one
    other = browser_at(app, "10.0.0.9")
    assert sign_in_and_out(other, "koord1") == 302
    assert sign_in(other, "laerar1") == 429
    # the genuine cookie, copied anywhere, works as the owner's browser
    b = browser_at(app, "10.0.0.8")
    b.client.set_cookie(name, genuine)
    assert sign_in(b, "laerar1") == 302


def test_one_address_trying_many_users_is_stopped(app, web_world):
    fill(app, throttle.PER_ADDRESS, "login-addr", "203.0.113.5")
    assert sign_in(browser_at(app, "203.0.113.5"), "rektor1") == 429
    assert sign_in(browser_at(app, "203.0.113.6"), "rektor1") == 302


def test_an_ipv6_address_counts_as_its_64_network(app, web_world):
    assert [sign_in(browser_at(app, f"2001:db8:0:1::{n:x}"), "helse1", WRONG)
            for n in range(1, 11)] == [200] * 10
    assert sign_in(browser_at(app, "2001:db8:0:1:ffff::1"), "helse1") == 429
    assert sign_in(browser_at(app, "2001:db8:0:2::1"), "helse1") == 302


def test_a_refused_attempt_never_looks_at_the_password(app, web_world):
    attacker = browser_at(app, "10.0.0.66")
    for _ in range(10):
        sign_in(attacker, "ukjend1", WRONG)
    with app.extensions["bti"].session_factory() as s:
        failed = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth.login_failed"))
    assert failed == 10
    assert sign_in(attacker, "ukjend1", WRONG) == 429
    assert sign_in(attacker, "finst-ikkje", WRONG) == 200  # an unknown name: its own counter
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth.login_failed")) == 11


@pytest.mark.parametrize(("lang", "left", "text", "singular"), [
    ("nb", 570, "For mange mislykkede innlogginger. Prøv igjen om 10 minutter.",
     "For mange mislykkede innlogginger. Prøv igjen om 1 minutt."),
    ("nn", 570, "For mange mislukka innloggingar. Prøv igjen om 10 minutt.",
     "For mange mislukka innloggingar. Prøv igjen om 1 minutt."),
    ("en", 570, "Too many failed sign-ins. Try again in 10 minutes.",
     "Too many failed sign-ins. Try again in 1 minute."),
])
def test_the_refusal_says_how_long_to_wait_in_the_users_language(app, web_world, lang, left,
                                                                  text, singular):
    attacker = browser_at(app, "10.0.0.66", accept_language=lang)
    for _ in range(10):
        sign_in(attacker, "laerar1", WRONG)
    ext = app.extensions["bti"]
    real = ext.clock
    reset = reset_time(app, throttle.PER_USER_AND_ADDRESS, "login-user-addr", "laerar1",
                       "10.0.0.66")
    try:
        for seconds_left, expected in ((left, text), (25, singular)):
            # the clock is put where that much of the window is left
            ext.clock = lambda s=seconds_left: datetime.fromtimestamp(reset - s, UTC)
            r = attacker.login("laerar1", PASSWORD)
            html = r.get_data(as_text=True)
            assert r.status_code == 429
            assert f'<html lang="{lang}">' in html
            assert expected in html
            assert 'id="f-password"' in html  # the form is there to try again later
            assert math.ceil(int(r.headers["Retry-After"]) / 60) == math.ceil(seconds_left / 60)
    finally:
        ext.clock = real


def _at_code_step(app, web_world, address: str) -> tuple[Browser, str]:
    """A browser past the password, at the second factor (enrolling), and its TOTP secret."""
    with app.extensions["bti"].session_factory.begin() as s:
        s.get(Municipality, web_world.municipality_id).mfa_required = True
    b = browser_at(app, address)
    assert b.login("laerar1").headers["Location"].endswith("/auth/mfa")
    page = b.get("/auth/mfa").get_data(as_text=True)
    return b, re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)


def test_wrong_second_factor_codes_are_throttled_per_user(app, web_world):
    """Whoever has the password may not guess the six digits for ever (AUTHN-04): after
    PER_USER_SECOND_FACTOR wrong codes even the right one is refused, with the wait, until the
    window ends; from another address too, since the count is the user's."""
    b, secret = _at_code_step(app, web_world, "10.0.0.70")
    totp = pyotp.TOTP(secret)
    now = app.extensions["bti"].clock()
    right = totp.at(now)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(throttle.PER_USER_SECOND_FACTOR.amount):
        r = b.post("/auth/mfa", {"code": wrong})
        assert r.status_code == 200
    r = b.post("/auth/mfa", {"code": right})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    html = r.get_data(as_text=True)
    assert "For mange feil koder. Prøv igjen om 15 minutter." in html
    assert '<code class="secret">' in html  # the enrolment is still shown, to try again later
    assert b.get("/saker/").headers["Location"].endswith("/auth/mfa")  # not signed in
    other, _ = _at_code_step(app, web_world, "10.0.0.71")
    assert other.post("/auth/mfa", {"code": right}).status_code == 429
    user_id = _user_id(app, "laerar1")
    with app.app_context():  # the window ends
        limiter.limiter.clear(throttle.PER_USER_SECOND_FACTOR, prefix(app), "mfa-user",
                              str(user_id))
    assert b.post("/auth/mfa", {"code": right}).status_code == 302
    assert b.get("/saker/").status_code == 200


def _user_id(app, username: str) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(User.id).where(User.username == username))
