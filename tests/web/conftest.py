"""Web fixtures: a real app on an in-memory SQLite database (a fresh PostgreSQL schema when
``BTI_TEST_DATABASE=postgres``, tests/dbs.py), CSRF on, and a small world of
fictional users who sign in through the real login form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from bti.config import Settings
from bti.domain.org import User
from bti.web import create_app
from tests.dbs import app_database
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "et langt testpassord for web"  # noqa: S105 - a fixture password, made up


@pytest.fixture(scope="session")
def password_hash() -> str:
    return generate_password_hash(PASSWORD)  # scrypt once; every fixture user shares it


def make_settings(**kw) -> Settings:
    base = dict(database_url="sqlite://", secret_key="test-secret-not-for-production",
                workflows_dir=ROOT / "workflows", testing=True)
    base.update(kw)
    return Settings(**base)


@dataclass
class WebWorld:
    municipality_id: int
    users: dict[str, User]
    unit_ids: dict[str, int]


@pytest.fixture
def app():
    with app_database() as url:
        app = create_app(make_settings(database_url=url))
        yield app
        app.extensions["bti"].engine.dispose()


@pytest.fixture
def web_world(app, password_hash) -> WebWorld:
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        m = make_municipality(s, mfa_required=False)
        school = make_unit(s, m, "school", name="Nordvik skule")
        health = make_unit(s, m, "health_station", name="Helsestasjonen")
        ppt = make_unit(s, m, "ppt", name="PPT")
        users = {
            "teacher": make_user(s, m, school, ("employee",), username="laerar1",
                                 password_hash=password_hash),
            "coordinator": make_user(s, m, school, ("employee", "coordinator"),
                                     username="koord1", password_hash=password_hash),
            "leader": make_user(s, m, school, ("employee", "leader"), username="rektor1",
                                password_hash=password_hash),
            "nurse": make_user(s, m, health, ("employee",), username="helse1",
                               password_hash=password_hash),
            "psychologist": make_user(s, m, ppt, ("employee",), username="ppt1",
                                      password_hash=password_hash),
            "outsider": make_user(s, m, school, ("employee",), username="ukjend1",
                                  password_hash=password_hash),
            "admin": make_user(s, m, None, ("admin",), username="admin1",
                               password_hash=password_hash),
            "privacy": make_user(s, m, None, ("privacy_officer",), username="pvo1",
                                 password_hash=password_hash),
        }
        other = make_municipality(s, mfa_required=False)
        users["foreign"] = make_user(s, other, make_unit(s, other), ("employee", "leader"),
                                     username="framand1", password_hash=password_hash)
        world = WebWorld(m.id, users, {"school": school.id, "health": health.id, "ppt": ppt.id})
    return world


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


class Browser:
    """A test client that signs in through the form and posts forms with their CSRF token."""

    def __init__(self, client):
        self.client = client
        self.token: str | None = None

    def get(self, url, **kw):
        r = self.client.get(url, **kw)
        if r.mimetype == "text/html":
            m = _CSRF.search(r.get_data(as_text=True))
            if m:
                self.token = m.group(1)
        return r

    def post(self, url, data=None, *, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/auth/login")
            data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)

    def login(self, username, password=PASSWORD):
        self.get("/auth/login")
        return self.post("/auth/login", {"username": username, "password": password})


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def login(app):
    """``login("teacher")`` → a Browser signed in as that fixture user."""
    def _login(name: str, world: WebWorld) -> Browser:
        b = Browser(app.test_client())
        r = b.login(world.users[name].username)
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        return b

    return _login


# --- the JSON API ---------------------------------------------------------------------------------

ALL_SCOPES = ("cases:read", "cases:write", "notifications:read", "notifications:write",
              "teams:admin")


def make_token(app, username: str, scopes=ALL_SCOPES, days: int = 30) -> str:
    """A personal access token for a fixture user, made the way ``bti token create`` makes it."""
    from bti.services.accounts import tokens

    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        return tokens.create_token(s, username, scopes=scopes, days=days, name="test",
                                   now=ext.clock()).token


class ApiClient:
    """A test client that sends a bearer token and JSON, and never a cookie of its own."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra=None):
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(extra or {})
        return h

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self.headers(kw.pop("headers", None)),
                                **kw)


@pytest.fixture
def api(app):
    """``api("teacher", world)`` → an ApiClient with a token of that fixture user."""
    def _api(name: str, world: WebWorld, scopes=ALL_SCOPES) -> ApiClient:
        return ApiClient(app.test_client(), make_token(app, world.users[name].username, scopes))

    return _api
