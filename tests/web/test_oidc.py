"""Staff sign-in through a municipality's OpenID provider, against a real provider: the certified
``oidc-provider`` package from npm (tests/oidc/provider.mjs, installed by
tests/e2e/install-deps.sh), started on loopback for each test. The provider side is driven like
a browser would: ``requests`` follows its redirects and fills in its login form; the app is the
Flask test client. Nothing of
the protocol is mocked. Skipped only when node or the package is missing and ``BTI_REQUIRE_OIDC``
is unset (CI sets it). All names are made up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import MetaData
from sqlalchemy import func
from sqlalchemy import select

from bti.config import OidcProvider
from bti.domain.log import AuditEvent
from bti.domain.org import ExternalIdentity
from bti.domain.org import UserSession
from bti.services.accounts.oidc import subject_hmac
from bti.services.context import utcnow
from bti.web import create_app
from tests.dbs import app_database
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.web.conftest import Browser
from tests.web.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(os.environ.get("BTI_E2E_NODE_DIR", ROOT / ".venv" / "e2e-node"))
REQUIRED = os.environ.get("BTI_REQUIRE_OIDC", "") not in ("", "0")
SLUG = "oidc-kommune"
CLIENT_ID = "bti-test"
CLIENT_SECRET = "a-test-client-secret-not-for-production"  # noqa: S105 - made up
KEY = b"a-test-identity-hmac-key-0123456789abcdef"
APP = "http://localhost"
#: The provider's person identifier (made up); its part before "@" is the preferred_username.
SUBJECT = "koordoidc@subj-7f3a9c51"

if not (shutil.which("node") and (NODE_DIR / "node_modules/oidc-provider/lib/index.js").exists()):
    if REQUIRED:
        pytest.fail("BTI_REQUIRE_OIDC is set but node or oidc-provider is missing "
                    "(run tests/e2e/install-deps.sh)", pytrace=False)
    pytest.skip("node or oidc-provider missing (tests/e2e/install-deps.sh installs them)",
                allow_module_level=True)


class Provider:
    def __init__(self, redirect_uri: str = f"{APP}/auth/oidc/{SLUG}/callback,"
                                           f"{APP}/familie/{SLUG}/callback",
                 post_logout_uri: str = f"{APP}/auth/oidc/{SLUG}/signed-out,"
                                        f"{APP}/familie/{SLUG}/utlogget",
                 client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET):
        self.proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            ["node", str(ROOT / "tests/oidc/provider.mjs"), str(NODE_DIR), "0", client_id,
             client_secret, redirect_uri, post_logout_uri],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the provider listens (or exits)
        if not line.startswith("listening "):
            self.stop()
            pytest.fail(f"the test provider did not start: {line!r}")
        self.issuer = line.split()[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()  # else an unclosed pipe warns (an error in this suite)

    def publish_wrong_key(self):
        requests.post(f"{self.issuer}/__test/jwks", json={"mode": "wrong"},
                      timeout=10).raise_for_status()


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.stop()


@pytest.fixture
def app(provider):
    settings = make_settings(
        oidc_providers=(OidcProvider(
            municipality=SLUG, name="Testpålogging", issuer=provider.issuer,
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
            acr_values=("substantial", "high")),),
        identity_hmac_key=KEY)
    with app_database() as url:
        app = create_app(settings.__class__(**{**settings.__dict__, "database_url": url}))
        ext = app.extensions["bti"]
        with ext.session_factory.begin() as s:
            m = make_municipality(s, slug=SLUG, mfa_required=True)
            make_user(s, m, make_unit(s, m), ("employee", "coordinator"), username="koordoidc")
        yield app
        ext.engine.dispose()


def _follow(idp: requests.Session, url: str) -> requests.Response:
    """Follow the provider's redirects until a page, or a redirect back to the app."""
    while True:
        r = idp.get(url, allow_redirects=False, timeout=10)
        if r.status_code not in (302, 303):
            return r
        url = urljoin(url, r.headers["Location"])
        if url.startswith(APP):
            return r


def _to_app(r: requests.Response, base: str) -> str:
    location = urljoin(base, r.headers["Location"])
    assert location.startswith(APP), location
    return location[len(APP):]


def authorize(b: Browser, idp: requests.Session, login: str = SUBJECT, acr: str = "high",
              start: str = f"/auth/oidc/{SLUG}/start", page: str = "/auth/login") -> str:
    """Start the sign-in in the app, sign in at the provider's form; the callback path."""
    b.get(page)
    r = b.post(start)
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    url = r.headers["Location"]
    q = parse_qs(urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"]
    assert q["code_challenge"]
    assert q["state"]
    assert q["nonce"]
    assert q["acr_values"] == ["substantial high"]
    answer = _follow(idp, url)
    if answer.status_code in (302, 303):  # the provider still had a session: straight back
        return _to_app(answer, url)
    form = re.search(r'<form method="post" action="([^"]+)"', answer.text)
    assert form, answer.text[:300]
    action = urljoin(answer.url, form.group(1))
    r = idp.post(action, data={"login": login, "acr": acr}, allow_redirects=False, timeout=10)
    while not urljoin(action, r.headers["Location"]).startswith(APP):
        action = urljoin(action, r.headers["Location"])
        r = idp.get(action, allow_redirects=False, timeout=10)
    return _to_app(r, action)


def sessions(app) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(func.count()).select_from(UserSession))


def failures(app) -> list[str]:
    with app.extensions["bti"].session_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.oidc_failed"))
        return [json.loads(r.details)["reason"] for r in rows]


@pytest.fixture
def b(app) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def idp() -> requests.Session:
    return requests.Session()


def test_the_sign_in_page_offers_the_provider(b):
    assert "Logg inn med Testpålogging" in b.get("/auth/login").get_data(as_text=True)


def test_a_full_sign_in_links_the_account_and_passes_the_second_factor(app, b, idp, provider):
    r = b.get(authorize(b, idp))
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/saker/")
    assert b.get("/saker/").status_code == 200  # no TOTP asked: the acr level stands for it
    with app.extensions["bti"].session_factory() as s:
        row = s.scalars(select(UserSession)).one()
        assert row.mfa_at is not None
        assert row.ended_at is None
        identity = s.scalars(select(ExternalIdentity)).one()
        assert identity.subject_hmac == subject_hmac(KEY, provider.issuer, SUBJECT)
        assert identity.user_id == row.user_id
        actions = [e.action for e in s.scalars(select(AuditEvent))]
        assert actions.count("auth.identity_linked") == 1
        assert "auth.login" in actions
        assert "auth.mfa_passed" in actions
    # the next time, the same person is recognised by the subject's HMAC: no new row
    b2 = Browser(app.test_client())
    assert b2.get(authorize(b2, requests.Session())).status_code == 302
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ExternalIdentity)) == 1
    assert sessions(app) == 2


def test_the_subject_is_stored_only_as_its_hmac(app, b, idp):
    assert b.get(authorize(b, idp)).status_code == 302
    engine = app.extensions["bti"].engine
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        dump = repr([conn.execute(t.select()).all() for t in meta.sorted_tables])
    assert "subj-7f3a9c51" not in dump
    assert SUBJECT not in dump
    assert subject_hmac(KEY, app.extensions["bti"].settings.oidc_providers[0].issuer,
                        SUBJECT) in dump


def test_a_wrong_state_signs_nobody_in(app, b, idp):
    path = authorize(b, idp)
    wrong = re.sub(r"state=[^&]+", "state=not-the-state", path)
    r = b.get(wrong)
    assert r.status_code == 400
    assert "Du er ikke logget inn" in r.get_data(as_text=True)
    assert sessions(app) == 0
    assert failures(app) == ["state"]
    assert b.get("/saker/").status_code == 302  # to the sign-in page


def test_a_replayed_code_is_refused(app, b, idp):
    path = authorize(b, idp)
    other = Browser(app.test_client())  # the same cookie (with its state) in another browser
    other.client.set_cookie("bti_session", b.client.get_cookie("bti_session").value,
                            domain="localhost")
    assert b.get(path).status_code == 302
    r = other.get(path)
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert sessions(app) == 1
    assert failures(app) == ["code"]


def test_an_expired_id_token_is_refused(app, b, idp):
    path = authorize(b, idp)
    app.extensions["bti"].clock = lambda: utcnow() + timedelta(hours=2)  # past its exp
    r = b.get(path)
    assert r.status_code == 400
    assert sessions(app) == 0
    assert failures(app) == ["token"]


def test_a_wrongly_signed_id_token_is_refused(app, b, idp, provider):
    path = authorize(b, idp)
    provider.publish_wrong_key()  # the token's signature no longer matches the issuer's keys
    r = b.get(path)
    assert r.status_code == 400
    assert sessions(app) == 0
    assert failures(app) == ["token"]


def test_too_low_an_acr_is_refused(app, b, idp):
    r = b.get(authorize(b, idp, acr="low"))
    assert r.status_code == 403
    assert "lavere sikkerhetsnivå" in r.get_data(as_text=True)
    assert sessions(app) == 0
    assert failures(app) == ["acr"]
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ExternalIdentity)) == 0


def test_an_unknown_person_gets_no_account_linked(app, b, idp):
    r = b.get(authorize(b, idp, login="ukjend@subj-0c1d2e3f"))
    assert r.status_code == 403
    assert "Ingen konto" in r.get_data(as_text=True)
    assert sessions(app) == 0
    assert failures(app) == ["no_account"]
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ExternalIdentity)) == 0


def test_a_provider_that_is_down_at_the_start(app, b, provider):
    provider.stop()
    b.get("/auth/login")
    r = b.post(f"/auth/oidc/{SLUG}/start")
    assert r.status_code == 503
    assert "svarer ikke" in r.get_data(as_text=True)
    assert sessions(app) == 0
    assert failures(app) == ["provider_down"]


def test_a_provider_that_goes_down_before_the_code_is_redeemed(app, b, idp, provider):
    path = authorize(b, idp)
    provider.stop()
    r = b.get(path)
    assert r.status_code == 503
    assert sessions(app) == 0
    assert failures(app) == ["provider_down"]
    assert b.get("/saker/").status_code == 302


def test_sign_out_ends_the_local_session_and_the_providers(app, b, idp, provider):
    assert b.get(authorize(b, idp)).status_code == 302
    b.get("/saker/")
    r = b.post("/auth/logout")
    assert r.status_code == 302
    end = r.headers["Location"]
    assert end.startswith(f"{provider.issuer}/session/end")
    q = parse_qs(urlsplit(end).query)
    assert q["client_id"] == [CLIENT_ID]
    assert q["post_logout_redirect_uri"] == [f"{APP}/auth/oidc/{SLUG}/signed-out"]
    with app.extensions["bti"].session_factory() as s:
        row = s.scalars(select(UserSession)).one()
        assert row.ended_at is not None
        assert row.end_reason == "logout"
    # the provider asks to confirm, then sends the browser back to the app
    page = idp.get(end, timeout=10)
    action = re.search(r'action="([^"]+)"', page.text).group(1)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text).group(1)
    r = idp.post(urljoin(end, action), data={"xsrf": xsrf, "logout": "yes"},
                 allow_redirects=False, timeout=10)
    back = urljoin(end, r.headers["Location"])
    assert back.startswith(f"{APP}/auth/oidc/{SLUG}/signed-out")
    r = b.get(back[len(APP):])
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/auth/login")
    # the provider's session is gone: the next sign-in asks for the login form again
    b.get("/auth/login")
    start = b.post(f"/auth/oidc/{SLUG}/start").headers["Location"]
    assert _follow(idp, start).status_code == 200
    assert b.get("/saker/").status_code == 302


def test_the_sign_in_and_error_pages_are_valid_html(app, b, idp, provider, tmp_path):
    from tests.web.test_html_validity import _vnu
    from tests.web.test_html_validity import check

    jar = _vnu()
    pages = {"sign-in with a provider": b.get("/auth/login").get_data(as_text=True)}
    r = b.get(authorize(b, idp, acr="low"))
    pages["too low an acr"] = r.get_data(as_text=True)
    b.post("/auth/language", {"lang": "nn", "next": "/auth/login"})
    path = authorize(b, idp)
    provider.stop()
    r = b.get(path)
    assert r.status_code == 503
    pages["provider down (nn)"] = r.get_data(as_text=True)
    assert "svarar ikkje" in pages["provider down (nn)"]
    errors = check(jar, pages, tmp_path)
    assert errors == [], "\n".join(errors)


def test_an_answer_naming_another_issuer_is_refused(app, b, idp):
    path = authorize(b, idp)
    assert "iss=" in path
    r = b.get(re.sub(r"iss=[^&]+", "iss=http%3A%2F%2F127.0.0.1%3A1", path))
    assert r.status_code == 400
    assert sessions(app) == 0
    assert failures(app) == ["token"]
