"""Emergency access, "who has seen this case", access-log search, revocation on consent
withdrawal, and AUD-02 (no audit row → no data) through the real app. Names are made up."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy import text

from bti.domain import policy as domain_policy
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.domain.org import User
from bti.services.access import audit
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.web import policy
from bti.web.db import get_ctx
from tests.factories import CONCERN

PSEUDONYM = "Testbarn Q."
REASON = "Barnet kom ikkje på skulen og mor svarar ikkje på telefon."


@pytest.fixture
def web_world(web_world, app):
    """The shared world, with every user reading English (the message ids)."""
    with app.extensions["bti"].session_factory.begin() as s:
        for user in web_world.users.values():
            s.get(User, user.id).locale = "en"
    return web_world


def _ctx(session, app, world, name) -> Ctx:
    return Ctx(session=session, actor=session.get(User, world.users[name].id),
               workflows=app.extensions["bti"].workflows)


def make_case(app, world, *, with_nurse=False) -> tuple[int, int | None]:
    """A case in the school with the coordinator as stafettholder; optionally at n2 with the
    nurse admitted through a consent. Returns (case id, consent id)."""
    with app.extensions["bti"].session_factory.begin() as s:
        def c(name):
            return _ctx(s, app, world, name)

        case = cases.open_case(c("teacher"), unit_id=None, child_pseudonym=PSEUDONYM,
                               child_birth_year=2016, concern=dict(CONCERN)).case
        today = c("teacher").today().isoformat()
        cases.fire(c("teacher"), case.id, "start")
        cases.fire(c("teacher"), case.id, "inform_home", {"informed_on": today})
        cases.fire(c("leader"), case.id, "appoint_stafettholder",
                   {"stafettholder": world.users["coordinator"].id})
        consent = None
        if with_nurse:
            for trigger, payload in (("assess", None), ("decide", None),
                                     ("escalate", {"reason": "Tiltak trengst."})):
                cases.fire(c("coordinator"), case.id, trigger, payload)
            consent = cases.fire(c("coordinator"), case.id, "give_consent", {
                "given_by": "guardians", "services": [world.unit_ids["health"]],
                "information": "Helse og trivsel", "given_on": today}).entry.object_id
            cases.fire(c("coordinator"), case.id, "add_participant", {
                "participant": world.users["nurse"].id, "service": world.unit_ids["health"]})
        return case.id, consent


def _strip(response) -> str:
    return re.sub(r'(nonce|value)="[^"]*"', "", response.get_data(as_text=True))


def audit_rows(app, action):
    with app.extensions["bti"].session_factory() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                         .order_by(AuditEvent.id)).all()


# --- the route inventory -----------------------------------------------------------------------


def test_every_new_route_has_exactly_its_policy(app):
    expected = {"access.emergency": policy.ALLOWED, "access.case_log": policy.SIGNED_IN,
                "access.case_log_json": policy.SIGNED_IN, "audit.search": policy.ALLOWED}
    for endpoint, kind in expected.items():
        assert policy.policy_for(app, endpoint).kind == kind
    assert policy.policy_for(app, "access.emergency").predicate is domain_policy.may_self_authorise
    assert policy.policy_for(app, "audit.search").predicate is domain_policy.may_search_access_log


def test_anonymous_users_are_sent_to_sign_in(app, web_world, browser):
    for url in ("/tilgang/sak/1/naud", "/tilgang/sak/1/innsyn", "/tilgang/sak/1/innsyn.json",
                "/tilgang/logg"):
        r = browser.client.get(url)
        assert r.status_code == 302
        assert "/auth/login" in r.headers["Location"]


# --- emergency access --------------------------------------------------------------------------


def test_emergency_form_explains_and_is_labelled(app, web_world, login):
    b = login("outsider", web_world)
    r = b.get("/tilgang/sak/1/naud")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<label for="f-reason">' in html
    assert 'id="f-reason"' in html
    assert "24 hours" in html
    assert "style=" not in html


def test_emergency_access_through_the_web(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    b = login("outsider", web_world)
    url = f"/tilgang/sak/{case_id}/naud"
    b.get(url)
    r = b.post(url, {"reason": "for kort"})
    assert r.status_code == 422
    assert "at least 20 characters" in r.get_data(as_text=True)
    r = b.post(url, {"reason": REASON})
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/saker/{case_id}")
    if "cases.show" in app.view_functions:  # the case page, read with basis "emergency"
        page = b.get(f"/saker/{case_id}")
        assert page.status_code == 200
        assert PSEUDONYM in page.get_data(as_text=True)
        assert [r.basis for r in audit_rows(app, "case.viewed")
                if r.actor_id == web_world.users["outsider"].id] == ["emergency"]
    with app.extensions["bti"].session_factory() as s:
        grants = s.scalars(select(EmergencyAccess)).all()
        assert [(g.case_id, g.user_id) for g in grants] == [(case_id,
                                                            web_world.users["outsider"].id)]
        # the walk to the case notified too (a new concern, an appointment): only the
        # emergency access's notices here
        notes = s.scalars(select(Notification).where(
            Notification.kind == "emergency_access")).all()
        assert [n.user_id for n in notes] == [web_world.users["leader"].id]
    rows = audit_rows(app, "case.emergency_access")
    assert [(r.basis, json.loads(r.details)["access_id"]) for r in rows] == [
        ("emergency", grants[0].id)]
    assert "telefon" not in rows[0].details


@pytest.mark.parametrize("who", ["outsider", "foreign"])
def test_emergency_to_missing_or_foreign_case_is_404_and_writes_nothing(app, web_world, login,
                                                                        who):
    case_id, _ = make_case(app, web_world)
    b = login(who, web_world)
    target = case_id + 1000 if who == "outsider" else case_id  # foreign: another municipality
    b.get(f"/tilgang/sak/{target}/naud")
    r = b.post(f"/tilgang/sak/{target}/naud", {"reason": REASON})
    assert r.status_code == 404
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(EmergencyAccess)).all() == []


def test_admin_never_gets_emergency_access(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    b = login("admin", web_world)
    assert b.get(f"/tilgang/sak/{case_id}/naud").status_code == 403
    r = b.post(f"/tilgang/sak/{case_id}/naud", {"reason": REASON})
    assert r.status_code == 403


# --- who has seen this case -----------------------------------------------------------------------


def test_case_log_for_stafettholder_and_privacy_officer(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    url = f"/tilgang/sak/{case_id}/innsyn"
    for who in ("coordinator", "privacy"):
        r = login(who, web_world).get(url)
        assert r.status_code == 200, who
        html = r.get_data(as_text=True)
        assert "<caption>" in html
        assert '<th scope="col">' in html
        assert web_world.users["teacher"].display_name in html  # who opened the case
        assert "case.opened" in html
    for who in ("teacher", "leader", "nurse", "admin", "foreign"):
        b = login(who, web_world)
        r = b.get(url)
        assert r.status_code == 404, who
        missing = b.get(f"/tilgang/sak/{case_id + 1000}/innsyn")
        assert _strip(r) == _strip(missing)  # no existence oracle
    viewers = {r.actor_id for r in audit_rows(app, "case.access_log_viewed")}
    assert viewers == {web_world.users["coordinator"].id, web_world.users["privacy"].id}


def test_case_log_json_export_is_a_download_and_audited(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    b = login("coordinator", web_world)
    r = b.get(f"/tilgang/sak/{case_id}/innsyn.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    doc = json.loads(r.get_data(as_text=True))
    assert doc["case_id"] == case_id
    assert {"user", "roles", "unit", "at", "action", "basis"} <= set(doc["entries"][0])
    assert PSEUDONYM not in r.get_data(as_text=True)
    rows = audit_rows(app, "case.access_log_exported")
    assert [(x.actor_id, x.case_id) for x in rows] == [(web_world.users["coordinator"].id,
                                                        case_id)]
    assert login("teacher", web_world).get(
        f"/tilgang/sak/{case_id}/innsyn.json").status_code == 404


# --- AUD-02: no audit row, no data ----------------------------------------------------------------


def _break_audit(monkeypatch, target):
    def broken(*_a, **_kw):
        raise RuntimeError("the audit store is down")

    if target == "write_pending":
        monkeypatch.setattr(audit, "write_pending", broken)
    else:  # the insert fails in the database itself (the table is gone)
        monkeypatch.setattr(audit, "_INSERT", text("INSERT INTO audit_store_down VALUES (:seq)"))


@pytest.mark.parametrize("target", ["write_pending", "_INSERT"])
def test_case_read_is_not_served_when_the_audit_row_cannot_be_written(app, web_world, login,
                                                                      monkeypatch, target):
    """As in production (errors do not propagate to the test client): an error page, never the
    case data, and nothing committed."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    case_id, _ = make_case(app, web_world)
    b = login("coordinator", web_world)
    url = f"/tilgang/sak/{case_id}/innsyn"
    assert PSEUDONYM in b.get(url).get_data(as_text=True)
    before = len(audit_rows(app, "case.access_log_viewed"))
    _break_audit(monkeypatch, target)
    for u in (url, url + ".json"):
        r = b.get(u)
        body = r.get_data(as_text=True)
        assert r.status_code >= 500, u
        assert PSEUDONYM not in body
        assert web_world.users["teacher"].display_name not in body
        assert "case.opened" not in body
        assert "attachment" not in r.headers.get("Content-Disposition", "")
    monkeypatch.undo()
    assert len(audit_rows(app, "case.access_log_viewed")) == before
    assert audit_rows(app, "case.access_log_exported") == []


def test_case_read_answers_503_when_the_audit_row_cannot_be_written(app, web_world, login,
                                                                    monkeypatch):
    case_id, _ = make_case(app, web_world)
    b = login("coordinator", web_world)
    _break_audit(monkeypatch, "write_pending")
    r = b.get(f"/tilgang/sak/{case_id}/innsyn")
    assert r.status_code == 503
    assert PSEUDONYM not in r.get_data(as_text=True)


# --- consent withdrawal: the open page goes dark at once (AUTHZ-05) -------------------------------


def _case_page(app) -> str:
    """The case page, if the cases blueprint is there; otherwise a probe route that reads the
    case through the same service, policy and error handling."""
    if "cases.show" in app.view_functions:
        return "/saker/{}"

    @policy.case
    def probe(case_id: int):
        return cases.get_case(get_ctx(), case_id).case.child_pseudonym

    app.add_url_rule("/test-probe/sak/<int:case_id>", "probe_case", probe)
    return "/test-probe/sak/{}"


def test_withdrawn_consent_gives_404_on_the_next_request(app, web_world, login):
    page = _case_page(app)
    case_id, consent = make_case(app, web_world, with_nurse=True)
    nurse = login("nurse", web_world)
    r = nurse.get(page.format(case_id))
    assert r.status_code == 200
    assert PSEUDONYM in r.get_data(as_text=True)
    with app.extensions["bti"].session_factory.begin() as s:
        cases.fire(_ctx(s, app, web_world, "coordinator"), case_id, "withdraw_consent",
                   {"consent": consent})
    r = nurse.get(page.format(case_id))
    assert r.status_code == 404
    assert PSEUDONYM not in r.get_data(as_text=True)


# --- access-log search ---------------------------------------------------------------------------


def test_log_search_roles_scope_and_logging(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    for who in ("teacher", "admin", "nurse"):
        assert login(who, web_world).get("/tilgang/logg").status_code == 403, who
    leader = login("leader", web_world)
    r = leader.get(f"/tilgang/logg?case={case_id}&action=case.opened")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Never write a child's name" in html
    assert "case.opened" in html
    assert web_world.users["teacher"].display_name in html
    assert PSEUDONYM not in html
    officer = login("privacy", web_world)
    r = officer.get(f"/tilgang/logg?user={web_world.users['teacher'].username}")
    assert r.status_code == 200
    assert "case.opened" in r.get_data(as_text=True)
    assert officer.get("/tilgang/logg?case=abc").status_code == 422
    assert officer.get("/tilgang/logg?from=2026-13-01").status_code == 422
    # the other municipality's leader finds nothing of ours
    r = login("foreign", web_world).get(f"/tilgang/logg?case={case_id}")
    assert r.status_code == 200
    assert web_world.users["teacher"].display_name not in r.get_data(as_text=True)
    searches = audit_rows(app, "audit.searched")
    assert [s.actor_id for s in searches] == [web_world.users["leader"].id,
                                              web_world.users["privacy"].id,
                                              web_world.users["foreign"].id]
    assert json.loads(searches[0].details)["filter_case_id"] == case_id
