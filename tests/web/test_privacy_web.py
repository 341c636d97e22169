"""The family's access request through the real app: the innsyn page, the JSON and PDF downloads,
who may use them, and the audit rows. Names are made up."""

from __future__ import annotations

import json

import pytest

from bti.domain.org import User
from bti.web import policy
from tests.web.test_access_audit import PSEUDONYM
from tests.web.test_access_audit import _strip
from tests.web.test_access_audit import audit_rows
from tests.web.test_access_audit import make_case

URLS = ("/personvern/sak/{id}", "/personvern/sak/{id}/eksport.json",
        "/personvern/sak/{id}/eksport.pdf")


@pytest.fixture
def web_world(web_world, app):
    """The shared world, with every user reading English (the message ids)."""
    with app.extensions["bti"].session_factory.begin() as s:
        for user in web_world.users.values():
            s.get(User, user.id).locale = "en"
    return web_world


def test_routes_have_the_case_policy(app):
    for endpoint in ("privacy.export_page", "privacy.export_json", "privacy.export_pdf"):
        assert policy.policy_for(app, endpoint).kind == policy.CASE


def test_anonymous_users_are_sent_to_sign_in(app, web_world, browser):
    for url in URLS:
        r = browser.client.get(url.format(id=1))
        assert r.status_code == 302
        assert "/auth/login" in r.headers["Location"]


def test_page_explains_innsyn_and_links_the_downloads(app, web_world, login):
    case_id, _ = make_case(app, web_world, with_nurse=True)
    for who in ("coordinator", "privacy"):
        r = login(who, web_world).get(f"/personvern/sak/{case_id}")
        assert r.status_code == 200, who
        html = r.get_data(as_text=True)
        assert "right of access" in html
        assert f"/personvern/sak/{case_id}/eksport.json" in html
        assert f"/personvern/sak/{case_id}/eksport.pdf" in html
        assert "style=" not in html
    viewers = [(r.actor_id, r.case_id) for r in audit_rows(app, "case.export_page_viewed")]
    assert viewers == [(web_world.users["coordinator"].id, case_id),
                       (web_world.users["privacy"].id, case_id)]


def test_json_and_pdf_downloads_are_audited_with_their_format(app, web_world, login):
    case_id, consent_id = make_case(app, web_world, with_nurse=True)
    b = login("coordinator", web_world)
    r = b.get(f"/personvern/sak/{case_id}/eksport.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["Cache-Control"] == "no-store"
    doc = json.loads(r.get_data(as_text=True))
    assert doc["case"]["child_pseudonym"] == PSEUDONYM
    assert [c["id"] for c in doc["consents"]] == [consent_id]
    assert {p["user_name"] for p in doc["participants"]} >= {
        web_world.users["nurse"].display_name}
    assert doc["access_log"]
    assert {"user", "roles", "unit", "at", "action", "basis",
                                  "outcome"} <= set(doc["access_log"][0])
    r = login("privacy", web_world).get(f"/personvern/sak/{case_id}/eksport.pdf")
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF-")
    rows = audit_rows(app, "case.exported")
    assert [(x.actor_id, x.case_id, x.basis, json.loads(x.details)["format"]) for x in rows] == [
        (web_world.users["coordinator"].id, case_id, "stafettholder", "json"),
        (web_world.users["privacy"].id, case_id, "privacy_officer", "pdf")]


@pytest.mark.parametrize("who", ["teacher", "leader", "nurse", "admin", "foreign", "outsider"])
def test_everyone_else_gets_404_like_a_missing_case(app, web_world, login, who):
    case_id, _ = make_case(app, web_world, with_nurse=True)
    b = login(who, web_world)
    for url in URLS:
        r = b.get(url.format(id=case_id))
        assert r.status_code == 404, (who, url)
        missing = b.get(url.format(id=case_id + 1000))
        assert _strip(r) == _strip(missing)  # no existence oracle
    assert audit_rows(app, "case.exported") == []
    denied = [(x.actor_id, x.object_id) for x in audit_rows(app, "access.denied")]
    assert (web_world.users[who].id, case_id) in denied
