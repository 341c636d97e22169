"""AUTHZ-01: every route declares its access policy, and nothing but the public routes answers an
anonymous request."""

from __future__ import annotations

import re

import pytest

from bti.web import policy
from bti.web.policy import policy_for


def _concrete(rule) -> str:
    """A URL for a rule, with 1 for every integer argument and 'x' for the rest."""
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
                  lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def test_every_route_has_a_policy(app):
    missing = [r.endpoint for r in app.url_map.iter_rules()
               if policy_for(app, r.endpoint) is None]
    assert missing == [], f"routes without an access policy: {missing}"


def test_anonymous_requests_reach_only_public_routes(app, web_world):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        p = policy_for(app, rule.endpoint)
        if p.kind == policy.PUBLIC:
            continue
        url = _concrete(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method)
            assert r.status_code in (302, 400, 401, 404, 405), (method, url, r.status_code)
            assert not 200 <= r.status_code < 300, (method, url)
            if r.status_code == 302:
                assert "/auth/login" in r.headers["Location"]
            r.close()


def test_a_route_without_policy_fails_closed(app, web_world):
    @app.get("/undeclared-test-route")
    def undeclared():
        return "should never be served"

    r = app.test_client().get("/undeclared-test-route")
    assert r.status_code == 500
    assert b"should never be served" not in r.data


@pytest.mark.parametrize("path", ["/auth/login", "/healthz"])
def test_public_routes_answer_anonymously(app, web_world, path):
    r = app.test_client().get(path)
    assert r.status_code == 200


def test_refused_case_access_is_logged_as_denied(app, web_world, login):
    from sqlalchemy import select

    from bti.domain.log import AuditEvent

    b = login("outsider", web_world)
    r = b.get("/saker/987654")
    assert r.status_code == 404
    with app.extensions["bti"].session_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(a.actor_id, a.object_id, a.outcome) for a in rows] == [
        (web_world.users["outsider"].id, 987654, "denied")]
