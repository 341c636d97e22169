"""AUTHZ-01: every route declares its access policy, and nothing but the public routes answers an
anonymous request."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from flask import url_for

from bti.domain import policy as who
from bti.domain.org import Actor
from bti.domain.org import Municipality
from bti.web import policy
from bti.web.policy import policy_for
from bti.web.ui import menu_entries
from tests.factories import make_user


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
            if r.status_code == 302:  # to the sign-in: the family's for a family route
                sign_in = "/familie/" if p.kind == policy.FAMILY else "/auth/login"
                assert sign_in in r.headers["Location"], (method, url)
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


# --- @policy.allowed: a predicate of bti.domain.policy, the same for route, service and menu ---


def _own_predicate(user) -> bool:
    return True


@pytest.mark.parametrize("predicate", [
    lambda user: True,
    _own_predicate,  # a function outside bti.domain.policy
    who.export_basis,  # a predicate of the case too, not of the user alone
    who._holds_any,  # a private helper
    "leader",  # a role name
    None,
])
def test_a_route_takes_only_a_user_predicate_of_the_domain_policy(predicate):
    with pytest.raises(TypeError):
        policy.allowed(predicate)


def test_only_a_predicates_true_lets_a_user_through():
    user = Actor(id=1, municipality_id=1, unit_id=None, roles=frozenset({"admin"}))
    assert policy.permits(policy.Policy(policy.ALLOWED, predicate=who.may_administer_users), user)
    assert not policy.permits(policy.Policy(policy.ALLOWED, predicate=who.may_view_catalogue),
                              replace(user, roles=frozenset({"employee"})))
    # deny by default: a truthy answer that is not True, no predicate, a kind it does not know
    assert not policy.permits(policy.Policy(policy.ALLOWED, predicate=lambda u: 1), user)
    assert not policy.permits(policy.Policy(policy.ALLOWED), user)
    assert not policy.permits(policy.Policy("roles"), user)
    assert policy.permits(policy.Policy(policy.SIGNED_IN), user)


def test_no_route_declares_roles_any_more(app):
    kinds = {policy_for(app, r.endpoint).kind for r in app.url_map.iter_rules()}
    assert kinds <= {policy.PUBLIC, policy.SIGNED_IN, policy.CASE, policy.ALLOWED,
                     policy.PENDING_MFA, policy.API, policy.FAMILY}
    assert not hasattr(policy, "roles")


def test_a_menu_link_asks_its_routes_own_predicate(app):
    with app.test_request_context():
        entries = menu_entries()
    assert entries
    for endpoint, _label, may in entries:
        p = policy_for(app, endpoint)
        assert p is not None, endpoint
        assert p.kind in (policy.SIGNED_IN, policy.ALLOWED), endpoint
        if p.kind == policy.ALLOWED:
            assert may is p.predicate, endpoint
        assert getattr(who, may.__name__) is may


#: Who sees which links (in menu order); every link answers 200 for them.
MENUS = {
    "teacher": ["inbox.index", "cases.new_concern", "teams.mine", "guide.index", "wheel.index",
                "catalogue.index"],
    "coordinator": ["inbox.index", "cases.new_concern", "teams.mine", "guide.index",
                    "wheel.index", "catalogue.index"],
    "leader": ["inbox.index", "cases.new_concern", "teams.mine", "guide.index", "wheel.index",
               "leader.overview", "analytics.dashboard", "catalogue.index", "audit.search",
               "audit.reviews"],
    # a leader without a unit follows nothing up: the page would refuse them (403)
    "leader_no_unit": ["inbox.index", "cases.new_concern", "teams.mine", "guide.index",
                       "wheel.index", "leader.overview", "analytics.dashboard", "catalogue.index",
                       "audit.search"],
    "admin": ["guide.index", "wheel.index", "analytics.dashboard", "catalogue.index",
              "admin.users", "admin.units", "admin.municipality", "teams.admin_list"],
    "privacy": ["guide.index", "wheel.index", "audit.search", "audit.reviews"],
}


def test_the_menu_shows_exactly_the_pages_the_user_may_reach(app, web_world, login,
                                                            password_hash):
    with app.extensions["bti"].session_factory.begin() as s:
        m = s.get(Municipality, web_world.municipality_id)
        web_world.users["leader_no_unit"] = make_user(
            s, m, None, ("employee", "leader"), username="leiar_utan_eining",
            password_hash=password_hash)
    with app.test_request_context():
        urls = {endpoint: url_for(endpoint) for endpoint, _l, _m in menu_entries()}
    for name, expected in MENUS.items():
        b = login(name, web_world)
        page = b.get("/saker/").get_data(as_text=True)
        nav = re.split(r'<ul class="nav"[^>]*>', page, maxsplit=1)[1].split("</ul>", 1)[0]
        assert re.findall(r'href="([^"]+)"', nav) == [urls[e] for e in expected], name
        for endpoint in expected:
            assert b.get(urls[endpoint]).status_code == 200, (name, endpoint)
