"""Sign-in throttling that stops password guessing without letting anyone lock a user out
(AUTHN-02).

Only failed sign-ins count, and they count per *who is trying from where*, so one who knows a
user name cannot stop its owner from signing in:

- a browser where the user has signed in before (the *known-browser* cookie, signed with the
  app's secret, names the users who signed in there by a keyed hash) counts its own failures:
  ``PER_KNOWN_BROWSER`` per user and browser, and nothing else applies to it;
- any other browser counts per user and client address (``PER_USER_AND_ADDRESS``, tight), per
  user across every address (``PER_USER``, a much higher ceiling against guessing from many
  addresses) and per address across every user (``PER_ADDRESS``, against trying one password on
  many users). An IPv6 address counts as its /64 network.

Over a limit, the sign-in is refused before the password is checked (the right password too,
from that browser or address), with how long to wait. The counters live in the limiter's store
(``BTI_RATELIMIT_STORAGE``: memory, or Redis shared by every worker); each window runs from the
first failure it counts (fixed window). A check and its count are two steps, so requests that
arrive at the same moment may add as many guesses as run in parallel (the workers).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass

from flask import current_app
from flask import request
from flask_limiter.util import get_remote_address
from itsdangerous import BadData
from itsdangerous import URLSafeTimedSerializer
from limits import RateLimitItem
from limits import parse

PER_USER_AND_ADDRESS = parse("10 per 15 minutes")
PER_USER = parse("100 per hour")
PER_ADDRESS = parse("100 per hour")
PER_KNOWN_BROWSER = parse("10 per 15 minutes")
PER_USER_SECOND_FACTOR = parse("5 per 15 minutes")
#: The calendar feed (``bti.web.ui.settings``): unknown or revoked feed addresses asked for, per
#: client address (a scanner is answered 429 instead of 404); reads of one feed (a calendar
#: client polls every few minutes to hours, so this is far above any client's pace). A live
#: feed is never refused for its address's misses: a calendar service fetches the feeds of
#: many users, some of them revoked long ago, from the same few addresses.
PER_ADDRESS_FEED_MISSES = parse("60 per hour")
PER_FEED_READS = parse("60 per hour")
#: Wrong family invitation codes per signed-in identity and per client address (the codes
#: hold 80 bits; this keeps guessing pointless and a stolen session from trying many).
PER_IDENTITY_FAMILY_CODES = parse("5 per 15 minutes")
PER_ADDRESS_FAMILY_CODES = parse("20 per hour")
#: How long a browser stays known after its last successful sign-in, and how many users it
#: remembers (the latest first).
KNOWN_FOR_DAYS = 180
KNOWN_USERS_MAX = 5
_SALT = "bti.known-browser"


def _limiter():
    from bti.web.auth import limiter

    return limiter


def normalised_username(raw: str | None) -> str:
    return (raw or "").strip().lower()[:80]


def client_network(address: str | None) -> str:
    """The client address as throttling counts it: IPv4 as is, IPv6 as its /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _cookie_name() -> str:
    return current_app.config["SESSION_COOKIE_NAME"] + "-known"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _user_tag(username: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"known-user:" + username.encode(), hashlib.sha256).hexdigest()[:32]


def _known_browser() -> tuple[str | None, list[str]]:
    """The browser's id and the users (tags) who signed in on it, if its cookie is valid."""
    raw = request.cookies.get(_cookie_name())
    if not raw:
        return None, []
    try:
        data = _serializer().loads(raw, max_age=KNOWN_FOR_DAYS * 86400)
        browser, tags = data["b"], data["u"]
    except (BadData, KeyError, TypeError):
        return None, []
    if not isinstance(browser, str) or not isinstance(tags, list):
        return None, []
    return browser, [t for t in tags if isinstance(t, str)]


@dataclass(frozen=True)
class _Counted:
    """Failures counted in the limiter's store under one or more (limit, key) pairs."""

    limits: tuple[tuple[RateLimitItem, tuple[str, ...]], ...]

    def wait_seconds(self) -> int | None:
        """None if the attempt may go ahead, else the seconds until it may (at least 1)."""
        limiter = _limiter()
        if not limiter.enabled:
            return None
        strategy = limiter.limiter
        resets = [strategy.get_window_stats(item, *key).reset_time
                  for item, key in self.limits if not strategy.test(item, *key)]
        if not resets:
            return None
        now = current_app.extensions["bti"].clock().timestamp()
        return max(math.ceil(max(resets) - now), 1)

    def count_failure(self) -> None:
        limiter = _limiter()
        if limiter.enabled:
            for item, key in self.limits:
                limiter.limiter.hit(item, *key)



@dataclass(frozen=True)
class SecondFactorThrottle(_Counted):
    """Wrong second-factor codes, counted per user (AUTHN-04). Whoever reaches the code step
    already has the password, so a wall here locks out nobody but the holder of a leaked
    password: ``PER_USER_SECOND_FACTOR`` wrong codes, then no code is checked until the window
    ends. Six digits would otherwise fall to unlimited guessing in hours."""

    @classmethod
    def for_user(cls, user_id: int) -> SecondFactorThrottle:
        prefix = current_app.extensions["bti"].settings.ratelimit_prefix
        return cls(((PER_USER_SECOND_FACTOR, (prefix, "mfa-user", str(user_id))),))


@dataclass(frozen=True)
class FeedMissThrottle(_Counted):
    """Feed addresses that answered 404, counted per client address (an IPv6 address by its
    /64): over ``PER_ADDRESS_FEED_MISSES``, an unknown address is answered 429 until the window
    ends (a live one is still served)."""

    @classmethod
    def for_request(cls) -> FeedMissThrottle:
        prefix = current_app.extensions["bti"].settings.ratelimit_prefix
        address = client_network(get_remote_address())
        return cls(((PER_ADDRESS_FEED_MISSES, (prefix, "feed-miss-addr", address)),))


@dataclass(frozen=True)
class FeedReadThrottle(_Counted):
    """Reads of one feed (``count_failure`` counts a read here), ``PER_FEED_READS``."""

    @classmethod
    def for_feed(cls, feed_id: int) -> FeedReadThrottle:
        prefix = current_app.extensions["bti"].settings.ratelimit_prefix
        return cls(((PER_FEED_READS, (prefix, "feed-reads", str(feed_id))),))


@dataclass(frozen=True)
class LoginThrottle(_Counted):
    """The limits that apply to one sign-in attempt."""

    username: str
    browser: str | None
    tags: tuple[str, ...]

    @classmethod
    def for_request(cls, raw_username: str | None) -> LoginThrottle:
        username = normalised_username(raw_username)
        prefix = current_app.extensions["bti"].settings.ratelimit_prefix
        browser, tags = _known_browser()
        tag = _user_tag(username)
        limits: tuple[tuple[RateLimitItem, tuple[str, ...]], ...]
        if browser is not None and tag in tags:
            limits = ((PER_KNOWN_BROWSER, (prefix, "login-known", tag, browser)),)
        else:
            address = client_network(get_remote_address())
            limits = ((PER_USER_AND_ADDRESS, (prefix, "login-user-addr", username, address)),
                      (PER_USER, (prefix, "login-user", username)),
                      (PER_ADDRESS, (prefix, "login-addr", address)))
        return cls(limits, username, browser, tuple(tags))

    @property
    def known(self) -> bool:
        return self.limits[0][0] is PER_KNOWN_BROWSER

    def remember(self, response) -> None:
        """After a successful sign-in: this browser is known for this user from now on."""
        tag = _user_tag(self.username)
        tags = [tag, *(t for t in self.tags if t != tag)][:KNOWN_USERS_MAX]
        value = _serializer().dumps({"b": self.browser or secrets.token_urlsafe(16), "u": tags})
        cfg = current_app.config
        response.set_cookie(_cookie_name(), value, max_age=KNOWN_FOR_DAYS * 86400, path="/",
                            secure=cfg["SESSION_COOKIE_SECURE"], httponly=True,
                            samesite=cfg["SESSION_COOKIE_SAMESITE"])


@dataclass(frozen=True)
class FamilyCodeThrottle(_Counted):
    """Wrong invitation codes given by a family member: ``PER_IDENTITY_FAMILY_CODES`` per
    identity and ``PER_ADDRESS_FAMILY_CODES`` per client address; then no code is looked at
    until the window ends."""

    @classmethod
    def for_identity(cls, identity_id: int) -> FamilyCodeThrottle:
        prefix = current_app.extensions["bti"].settings.ratelimit_prefix
        address = client_network(get_remote_address())
        return cls(((PER_IDENTITY_FAMILY_CODES, (prefix, "family-code-id", str(identity_id))),
                    (PER_ADDRESS_FAMILY_CODES, (prefix, "family-code-addr", address))))
