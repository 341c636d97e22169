"""WEB-03 and SESS-01: security headers on every response — every response of the access
matrix run (pages, redirects, 403/404 pages, JSON, static files, HEAD), forced errors (400,
404, 405, 413, 429, 500, 503) — and the session cookie's attributes, in the test settings and
in production settings (``__Host-`` prefix, Secure, no Domain)."""

from __future__ import annotations

import re

import pytest

from bti.services.access import audit
from bti.services.cases import inbox
from bti.web import create_app
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser
from tests.web.conftest import make_settings
from tests.web.test_access_matrix import build_world
from tests.web.test_access_matrix import get_matrix_run

_NONCE = re.compile(r"'nonce-([A-Za-z0-9_\-+/=]{16,})'")


def header_problems(headers, *, signed_in: bool, body: bytes = b"") -> list[str]:
    """What is wrong with one response's headers (empty when all is well)."""
    h = {k.lower(): v for k, v in headers}
    out = []
    csp = h.get("content-security-policy")
    if not csp:
        out.append("no Content-Security-Policy")
    else:
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        for name in ("object-src", "base-uri", "frame-ancestors"):
            if directives.get(name) != ["'none'"]:
                out.append(f"CSP {name} is {directives.get(name)}, not 'none'")
        script = directives.get("script-src", directives.get("default-src", []))
        if not any(_NONCE.fullmatch(s) for s in script):
            out.append(f"CSP script-src has no nonce: {script}")
        if "'unsafe-inline'" in script or "'unsafe-eval'" in script:
            out.append(f"CSP script-src allows inline or eval: {script}")
        nonce = _NONCE.search(" ".join(script))
        html = body.decode("utf-8", "replace")
        for tag_nonce in re.findall(r'<script[^>]*\snonce="([^"]*)"', html):
            if nonce is None or tag_nonce != nonce.group(1):
                out.append("a <script> nonce differs from the header's")
    if h.get("x-content-type-options") != "nosniff":
        out.append(f"X-Content-Type-Options: {h.get('x-content-type-options')}")
    if h.get("referrer-policy") != "no-referrer":
        out.append(f"Referrer-Policy: {h.get('referrer-policy')}")
    if h.get("cross-origin-opener-policy") != "same-origin":
        out.append(f"Cross-Origin-Opener-Policy: {h.get('cross-origin-opener-policy')}")
    ctype = h.get("content-type", "")
    if ctype.startswith("text/") and "charset=" not in ctype:
        out.append(f"Content-Type without charset: {ctype}")
    if signed_in and "no-store" not in h.get("cache-control", ""):
        out.append(f"signed in, but Cache-Control is {h.get('cache-control')!r}")
    return out


def test_every_response_of_the_matrix_run_has_the_security_headers(capsys):
    run = get_matrix_run()
    responses = run.cells + run.heads + run.extra
    bad = []
    nonces = []
    for c in responses:
        problems = header_problems(c.headers, signed_in=c.signed_in, body=c.body)
        if problems:
            bad.append(f"{c.actor} {c.method} {c.url} → {c.status}: {problems}")
        csp = dict(c.headers).get("Content-Security-Policy", "")
        nonces += _NONCE.findall(csp)
    statuses = sorted({c.status for c in responses})
    with capsys.disabled():
        print(f"\n[headers] {len(responses)} responses of the matrix run checked "
              f"(statuses {statuses}, {sum(c.signed_in for c in responses)} to signed-in users)")
    assert not bad, "\n".join(bad[:40])
    assert len(set(nonces)) == len(nonces), "a CSP nonce was used twice"
    assert {"static"} <= {c.row.endpoint for c in responses}
    assert {200, 302, 403, 404, 409, 422} <= set(statuses)


@pytest.fixture
def world_browsers(app, web_world, login):
    return {"anonymous": Browser(app.test_client()), "teacher": login("teacher", web_world)}


@pytest.mark.parametrize("who", ["anonymous", "teacher"])
def test_errors_and_static_files_have_the_security_headers(app, web_world, world_browsers,
                                                           monkeypatch, who):
    b = world_browsers[who]
    signed_in = who != "anonymous"
    b.get("/auth/login")
    seen: dict[str, int] = {}

    def check(label, r, expected):
        seen[label] = r.status_code
        body = r.get_data()
        r.close()  # static files are streamed from an open file
        assert r.status_code == expected, (label, r.status_code)
        problems = header_problems(list(r.headers.items()), signed_in=signed_in, body=body)
        assert not problems, (label, problems)

    check("static css", b.client.get("/static/css/app.css"), 200)
    check("static js", b.client.get("/static/js/app.js"), 200)
    check("static HEAD", b.client.head("/static/js/app.js"), 200)
    check("static missing", b.client.get("/static/finst-ikkje.css"), 404)
    check("unknown path", b.client.get("/finst/ikkje"), 404)
    check("405", b.client.get("/auth/logout"), 405)
    check("CSRF 400", b.post("/auth/language", {"lang": "en"}, csrf=False), 400)
    check("413", b.client.post("/auth/login", data={"username": "x" * (1024 * 1024 + 1)}), 413)
    check("healthz JSON", b.client.get("/healthz"), 200)

    def boom(*_a, **_kw):
        raise RuntimeError("a forced error")

    if signed_in:
        monkeypatch.setattr(inbox, "my_inbox", boom)
        check("500", b.client.get("/saker/"), 500)
    else:
        monkeypatch.setattr(app.extensions["bti"].workflows, "ids", boom)
        check("500", b.client.get("/healthz"), 500)
    monkeypatch.undo()
    assert set(seen) >= {"500", "405", "413", "static missing"}


def test_throttled_login_has_the_security_headers(app, web_world):
    b = Browser(app.test_client())
    b.get("/auth/login")
    for _ in range(10):
        b.post("/auth/login", {"username": "ukjend1", "password": "eit feil passord her"})
    r = b.post("/auth/login", {"username": "ukjend1", "password": "eit feil passord her"})
    assert r.status_code == 429
    assert not header_problems(list(r.headers.items()), signed_in=False, body=r.get_data())


def test_503_when_the_audit_row_cannot_be_written_has_the_security_headers(
        app, web_world, login, monkeypatch):
    b = login("teacher", web_world)

    def broken(*_a, **_kw):
        raise RuntimeError("the audit store is down")

    monkeypatch.setattr(audit, "write_pending", broken)
    r = b.client.get("/saker/")
    monkeypatch.undo()
    assert r.status_code == 503
    problems = header_problems(list(r.headers.items()), signed_in=True, body=r.get_data())
    assert not problems, problems


# --- the session cookie (SESS-01) -----------------------------------------------------------------


def _cookie_attrs(set_cookie: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in set_cookie.split(";")]
    name = parts[0].split("=", 1)[0]
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.lower()] = v
    return name, attrs


def test_session_cookie_in_the_test_settings(app, web_world, browser):
    browser.get("/auth/login")
    r = browser.post("/auth/login", {"username": web_world.users["teacher"].username,
                                     "password": PASSWORD})
    assert r.status_code == 302
    cookies = r.headers.getlist("Set-Cookie")
    session_name = app.config["SESSION_COOKIE_NAME"]
    # the session, and the known-browser cookie of the sign-in throttle (bti.web.throttle)
    assert {_cookie_attrs(c)[0] for c in cookies} == {session_name, session_name + "-known"}
    for c in cookies:
        name, attrs = _cookie_attrs(c)
        assert "httponly" in attrs, c
        assert attrs.get("samesite") == "Lax", c
        assert attrs.get("path") == "/", c
        assert "domain" not in attrs, c


def test_session_cookie_in_production_settings():
    """testing=False, dev=False: ``__Host-`` name, Secure, HttpOnly, SameSite=Lax, Path=/,
    no Domain — on the sign-in page and on the login itself — and HSTS."""
    app = create_app(make_settings(testing=False, dev=False))
    try:
        assert not app.config["TESTING"]
        build_world(app)
        base = "https://localhost"
        client = app.test_client()
        r = client.get("/auth/login", base_url=base)
        assert r.status_code == 200
        assert "includeSubDomains" in r.headers["Strict-Transport-Security"]
        age = int(re.search(r"max-age=(\d+)", r.headers["Strict-Transport-Security"]).group(1))
        assert age >= 31536000
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          r.get_data(as_text=True)).group(1)
        set_cookies = list(r.headers.getlist("Set-Cookie"))
        r = client.post("/auth/login", base_url=base,
                        data={"username": "laerar1", "password": PASSWORD, "csrf_token": token},
                        headers={"Referer": f"{base}/auth/login"})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        login_cookies = list(r.headers.getlist("Set-Cookie"))
        assert login_cookies, "no Set-Cookie on login"
        for c in set_cookies + login_cookies:
            name, attrs = _cookie_attrs(c)
            assert name.startswith("__Host-"), c
            assert "secure" in attrs, c
            assert "httponly" in attrs, c
            assert attrs.get("samesite") == "Lax", c
            assert attrs.get("path") == "/", c
            assert "domain" not in attrs, c
        # the cookie works: the signed-in inbox, with no-store
        r = client.get("/saker/", base_url=base)
        assert r.status_code == 200
        assert not header_problems(list(r.headers.items()), signed_in=True, body=r.get_data())
    finally:
        app.extensions["bti"].engine.dispose()
