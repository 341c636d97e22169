"""The JSON API (/api/v1): bearer tokens, every endpoint's answers and errors, the one error
envelope, the audit trail of API reads and writes, rate limiting and the OpenAPI document.
All names are made up."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import ApiToken
from bti.domain.org import User
from bti.services.accounts import tokens
from tests.web.conftest import ApiClient
from tests.web.conftest import make_token
from tests.web.test_log_hygiene import captured  # noqa: F401 - the fixture

CONCERN = {"what_seen": "Barnet et lite og søv i timane.", "violence_suspected": False}
NEW_CASE = {"child_pseudonym": "Api-barn Q.", "child_birth_year": 2016, "concern": CONCERN}


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:800])
    assert r.mimetype == "application/json"
    body = r.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def _open(client: ApiClient) -> dict:
    r = client.post("/api/v1/cases", NEW_CASE)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def _audit(app, **where) -> list[AuditEvent]:
    with app.extensions["bti"].session_factory() as s:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditEvent, k) == v)
        return list(s.scalars(stmt))


# --- authentication ------------------------------------------------------------------------------


def test_no_token_is_401_with_the_envelope(app, web_world):
    r = app.test_client().get("/api/v1/cases")
    err = _error(r, 401, "unauthorized")
    assert err["fields"] == {}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Bearer bti_pat_thisisnotarealtokenatallxxxxxxxxxxxxxxxxxx",
    "Bearer ",
    "Basic bGFlcmFyMTpwYXNz",
    "bti_pat_noscheme",
])
def test_unknown_or_malformed_token_is_401(app, web_world, header):
    r = app.test_client().get("/api/v1/cases", headers={"Authorization": header})
    _error(r, 401, "unauthorized")


def test_expired_revoked_and_deactivated_tokens_are_401(app, web_world, api):
    ext = app.extensions["bti"]
    client = api("teacher", web_world)
    assert client.get("/api/v1/cases").status_code == 200
    real_clock = ext.clock
    ext.clock = lambda: real_clock() + timedelta(days=31)  # the token was made for 30 days
    try:
        _error(client.get("/api/v1/cases"), 401, "unauthorized")
    finally:
        ext.clock = real_clock
    assert client.get("/api/v1/cases").status_code == 200

    with ext.session_factory.begin() as s:
        row = s.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
        tokens.revoke_token(s, row.id, now=ext.clock())
    _error(client.get("/api/v1/cases"), 401, "unauthorized")

    other = api("nurse", web_world)
    assert other.get("/api/v1/cases").status_code == 200
    with ext.session_factory.begin() as s:
        s.get(User, web_world.users["nurse"].id).active = False
    _error(other.get("/api/v1/cases"), 401, "unauthorized")


def test_a_token_without_the_scope_is_403(app, web_world, api):
    reader = api("teacher", web_world, scopes=("cases:read",))
    assert reader.get("/api/v1/cases").status_code == 200
    _error(reader.post("/api/v1/cases", NEW_CASE), 403, "forbidden")
    writer = api("teacher", web_world, scopes=("cases:write",))
    _error(writer.get("/api/v1/cases"), 403, "forbidden")
    case = _open(writer)
    _error(writer.get(f"/api/v1/cases/{case['id']}"), 403, "forbidden")


def test_a_session_cookie_never_authenticates_the_api(app, web_world, login):
    b = login("teacher", web_world)
    assert b.client.get("/saker/").status_code in (200, 302)  # signed in on the pages
    r = b.client.get("/api/v1/cases")
    _error(r, 401, "unauthorized")
    r = b.client.post("/api/v1/cases", json=NEW_CASE)
    _error(r, 401, "unauthorized")


def test_api_responses_set_no_cookie(app, web_world, api):
    client = api("teacher", web_world)
    for r in (client.get("/api/v1/cases"), client.post("/api/v1/cases", NEW_CASE),
              client.get("/api/v1/cases/999999"), app.test_client().get("/api/v1/cases")):
        assert "Set-Cookie" not in r.headers, r.headers


def test_a_token_works_where_the_municipality_requires_mfa(app, web_world, api):
    """A token is a deliberate credential made on the CLI (docs/api.md): the second factor of
    the pages is not asked for."""
    from bti.domain.org import Municipality

    with app.extensions["bti"].session_factory.begin() as s:
        s.get(Municipality, web_world.municipality_id).mfa_required = True
    assert api("teacher", web_world).get("/api/v1/cases").status_code == 200


# --- the endpoints ------------------------------------------------------------------------------


def test_open_read_act_and_page_the_log(app, web_world, api):
    teacher = api("teacher", web_world)
    r = teacher.post("/api/v1/cases", NEW_CASE)
    assert r.status_code == 201
    case = r.get_json()
    assert r.headers["Location"].endswith(f"/api/v1/cases/{case['id']}")
    assert case["state"]
    assert case["level"] == "n0"
    assert case["level_number"] == 0
    assert case["version"] >= 1
    assert case["relations"] == ["reporter"]
    assert case["child_pseudonym"] == "Api-barn Q."

    got = teacher.get(f"/api/v1/cases/{case['id']}").get_json()
    assert got == case

    r = teacher.get(f"/api/v1/cases/{case['id']}/actions")
    assert r.status_code == 200
    actions = r.get_json()
    assert actions["version"] == case["version"]
    by_trigger = {a["trigger"]: a for a in actions["actions"]}
    note = by_trigger["add_note"]
    assert note["allowed"]
    assert note["refusals"] == []
    assert [f["name"] for f in note["fields"]] == ["text"]
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    pointer = note["payload_schema"].removeprefix("#/components/schemas/")
    assert spec["components"]["schemas"][pointer]["required"] == ["text"]
    refused = [a for a in actions["actions"] if not a["allowed"]]
    assert refused, "a teacher at nivå 0 cannot do everything"
    assert all(a["refusals"][0]["message"]["nb"] for a in refused)

    version = case["version"]
    for i in range(3):
        r = teacher.post(f"/api/v1/cases/{case['id']}/transitions", {
            "trigger": "add_note", "payload": {"text": f"Notat {i}"},
            "expected_version": version})
        assert r.status_code == 201, r.get_data(as_text=True)
        body = r.get_json()
        assert body["entry"]["trigger"] == "add_note"
        assert body["entry"]["data"] == {"text": f"Notat {i}"}
        assert body["case"]["version"] == version + 1
        version = body["case"]["version"]

    r = teacher.get(f"/api/v1/cases/{case['id']}/log?limit=2")
    page = r.get_json()
    assert [e["seq"] for e in page["entries"]] == [1, 2]
    assert page["entries"][0]["kind"] == "concern"
    assert page["entries"][1]["prev_hash"] == page["entries"][0]["hash"]
    r = teacher.get(f"/api/v1/cases/{case['id']}/log?limit=2&cursor={page['next_cursor']}")
    page2 = r.get_json()
    assert [e["seq"] for e in page2["entries"]] == [3, 4]
    assert page2["next_cursor"] is None
    assert teacher.get(f"/api/v1/cases/{case['id']}/log?cursor=4").get_json()["entries"] == []

    listed = teacher.get("/api/v1/cases").get_json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]


def test_a_concern_with_a_national_id_is_422_and_nothing_is_saved(app, web_world, api):
    teacher = api("teacher", web_world)
    body = {**NEW_CASE, "concern": {**CONCERN, "who_knows": "Mor, D-nr 41819010186"}}
    err = _error(teacher.post("/api/v1/cases", body), 422, "invalid")
    assert err["fields"] == {"concern": {"who_knows": ["contains_id_number"]}}
    assert teacher.get("/api/v1/cases").get_json()["items"] == []


def test_stale_version_is_409_and_nothing_is_written(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    url = f"/api/v1/cases/{case['id']}/transitions"
    r = teacher.post(url, {"trigger": "add_note", "payload": {"text": "Fyrst"},
                           "expected_version": case["version"]})
    assert r.status_code == 201
    r = teacher.post(url, {"trigger": "add_note", "payload": {"text": "Gamal versjon"},
                           "expected_version": case["version"]})
    _error(r, 409, "conflict")
    entries = teacher.get(f"/api/v1/cases/{case['id']}/log").get_json()["entries"]
    assert [e["data"].get("text") for e in entries[1:]] == ["Fyrst"]


@pytest.mark.parametrize(("body", "fields"), [
    ({"trigger": "add_note", "payload": {"text": "x"}, "expected_version": 1, "extra": 1},
     {"extra": ["unknown"]}),
    ({"payload": {"text": "x"}, "expected_version": 1}, {"trigger": ["required"]}),
    ({"trigger": "add_note", "payload": {"text": "x"}}, {"expected_version": ["required"]}),
    ({"trigger": "add_note", "payload": {"text": "x"}, "expected_version": "1"},
     {"expected_version": ["invalid"]}),
    ({"trigger": "add_note", "payload": {"text": "x", "colour": "blå"}, "expected_version": 1},
     {"payload": {"colour": ["unknown"]}}),
    ({"trigger": "add_note", "payload": {}, "expected_version": 1},
     {"payload": {"text": ["required"]}}),
    ({"trigger": "no_such_action", "payload": {}, "expected_version": 1},
     {"trigger": ["unknown_trigger"]}),
    # a fødselsnummer (made up, valid check digits) in any free text
    ({"trigger": "add_note", "payload": {"text": "Fnr 010190 12480"}, "expected_version": 1},
     {"payload": {"text": ["contains_id_number"]}}),
])
def test_invalid_transition_input_is_422_naming_the_fields(app, web_world, api, body, fields):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    if body.get("expected_version") == 1:
        body = {**body, "expected_version": case["version"]}
    err = _error(teacher.post(f"/api/v1/cases/{case['id']}/transitions", body), 422, "invalid")
    assert err["fields"] == fields


def test_a_refused_action_names_the_rule(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    actions = teacher.get(f"/api/v1/cases/{case['id']}/actions").get_json()["actions"]
    refused = {a["trigger"]: [(r["code"], r["guard"]) for r in a["refusals"]]
               for a in actions if not a["allowed"]}
    assert refused["clear_violence_flag"] == [("role", None), ("guard", "violence_flag_set")]
    err = _error(teacher.post(f"/api/v1/cases/{case['id']}/transitions", {
        "trigger": "clear_violence_flag", "payload": {"reason": "Ingen grunn lenger."},
        "expected_version": case["version"]}), 422, "invalid")
    assert err["fields"]["trigger"] == ["role", "guard:violence_flag_set"]


@pytest.mark.parametrize(("body", "fields"), [
    ({**NEW_CASE, "nickname": "x"}, {"nickname": ["unknown"]}),
    ({k: v for k, v in NEW_CASE.items() if k != "concern"}, {"concern": ["required"]}),
    ({**NEW_CASE, "concern": {**CONCERN, "shoe_size": 3}}, {"concern": {"shoe_size":
                                                                        ["unknown"]}}),
    ({**NEW_CASE, "child_pseudonym": "12345678901"}, {"child_pseudonym":
                                                      ["looks_like_id_number"]}),
])
def test_invalid_new_case_is_422(app, web_world, api, body, fields):
    err = _error(api("teacher", web_world).post("/api/v1/cases", body), 422, "invalid")
    assert err["fields"] == fields


def test_the_admin_may_not_open_a_case(app, web_world, api):
    _error(api("admin", web_world).post("/api/v1/cases", NEW_CASE), 403, "forbidden")


def test_body_errors_400_413_415(app, web_world, api):
    teacher = api("teacher", web_world)
    c = teacher.client
    h = teacher.headers()
    _error(c.post("/api/v1/cases", data="{not json", headers={**h, "Content-Type":
                                                               "application/json"}),
           400, "bad_request")
    _error(c.post("/api/v1/cases", data=json.dumps(NEW_CASE), headers={
        **h, "Content-Type": "text/plain"}), 415, "unsupported_media_type")
    _error(c.post("/api/v1/cases", data="[1, 2]", headers={
        **h, "Content-Type": "application/json"}), 422, "invalid")
    big = json.dumps({**NEW_CASE, "concern": {"what_seen": "x" * (2 * 1024 * 1024)}})
    _error(c.post("/api/v1/cases", data=big, headers={**h, "Content-Type": "application/json"}),
           413, "too_large")
    r = c.delete("/api/v1/cases", headers=h)
    _error(r, 405, "method_not_allowed")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    _error(c.get("/api/v1/no-such-thing", headers=h), 404, "not_found")


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,  # past the JSON parser's own recursion limit
    '{"child_pseudonym": "x", "child_birth_year": 2016, "concern": '
    + '{"a": ' * 40 + "1" + "}" * 40 + "}",  # deeper than any payload
    '{"child_pseudonym": "x", "child_birth_year": 1e400, "concern": {}}',
    '{"child_pseudonym": "x", "child_birth_year": NaN, "concern": {}}',
    '{"child_pseudonym": "x", "child_birth_year": ' + "9" * 5000 + ', "concern": {}}',
    '{"child_pseudonym": "\\ud800", "child_birth_year": 2016, "concern": {}}',
])
def test_hostile_json_is_400_never_500(app, web_world, api, body):
    teacher = api("teacher", web_world)
    r = teacher.client.post("/api/v1/cases", data=body, headers={
        **teacher.headers(), "Content-Type": "application/json"})
    _error(r, 400, "bad_request")


def test_query_parameters_are_checked(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    err = _error(teacher.get(f"/api/v1/cases/{case['id']}/log?limit=0"), 422, "invalid")
    assert err["fields"] == {"limit": ["invalid"]}
    err = _error(teacher.get(f"/api/v1/cases/{case['id']}/log?page=2"), 422, "invalid")
    assert err["fields"] == {"page": ["unknown"]}
    _error(teacher.get("/api/v1/cases/99999999999999999999"), 404, "not_found")


# --- need-to-know ---------------------------------------------------------------------------------


def test_a_case_without_a_relation_answers_like_a_missing_one(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    missing = case["id"] + 1000
    for name in ("outsider", "psychologist", "foreign"):
        client = api(name, web_world)
        for suffix in ("", "/actions", "/log", "/access-log"):
            real = client.get(f"/api/v1/cases/{case['id']}{suffix}")
            none = client.get(f"/api/v1/cases/{missing}{suffix}")
            _error(real, 404, "not_found")
            assert real.get_data() == none.get_data()
        r = client.post(f"/api/v1/cases/{case['id']}/transitions", {
            "trigger": "add_note", "payload": {"text": "Inntrengar"},
            "expected_version": case["version"]})
        _error(r, 404, "not_found")
        assert case["id"] not in [c["id"] for c in client.get("/api/v1/cases").get_json()[
            "items"]]
    assert len(teacher.get(f"/api/v1/cases/{case['id']}/log").get_json()["entries"]) == 1


def test_the_access_log_is_for_the_stafettholder_and_the_privacy_officer(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    leader = api("leader", web_world)
    r = leader.post(f"/api/v1/cases/{case['id']}/transitions", {
        "trigger": "appoint_stafettholder",
        "payload": {"stafettholder": web_world.users["coordinator"].id},
        "expected_version": case["version"]})
    assert r.status_code == 201, r.get_data(as_text=True)
    _error(teacher.get(f"/api/v1/cases/{case['id']}/access-log"), 404, "not_found")
    _error(leader.get(f"/api/v1/cases/{case['id']}/access-log"), 404, "not_found")
    for name, basis in (("coordinator", "stafettholder"), ("privacy", "privacy_officer")):
        r = api(name, web_world).get(f"/api/v1/cases/{case['id']}/access-log")
        assert r.status_code == 200, (name, r.get_data(as_text=True))
        log = r.get_json()
        assert log["basis"] == basis
        assert {"case.opened", "case.transition"} <= {e["action"] for e in log["entries"]}


# --- the audit trail ------------------------------------------------------------------------------


def test_api_reads_and_writes_are_audited_with_the_token(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    with app.extensions["bti"].session_factory() as s:
        token_id = s.scalars(select(ApiToken.id).order_by(ApiToken.id.desc())).first()
    uid = web_world.users["teacher"].id
    before = len(_audit(app))
    for suffix in ("", "/actions", "/log"):
        assert teacher.get(f"/api/v1/cases/{case['id']}{suffix}").status_code == 200
    assert teacher.get("/api/v1/cases").status_code == 200
    rows = _audit(app)[before:]
    assert [r.action for r in rows] == ["case.viewed", "case.viewed", "case.log_viewed",
                                        "case.listed"]
    for r in rows:
        assert (r.actor_id, r.case_id, r.outcome, r.basis) == (uid, case["id"], "allowed",
                                                               "reporter")
        details = json.loads(r.details)
        assert details["channel"] == "api"
        assert details["token_id"] == token_id
    opened = _audit(app, action="case.opened", case_id=case["id"])
    assert json.loads(opened[0].details)["channel"] == "api"


def test_refused_api_access_is_audited_as_denied(app, web_world, api):
    case = _open(api("teacher", web_world))
    outsider = api("outsider", web_world)
    _error(outsider.get(f"/api/v1/cases/{case['id']}"), 404, "not_found")
    denied = _audit(app, actor_id=web_world.users["outsider"].id, outcome="denied")
    assert [(d.action, d.case_id) for d in denied] == [("access.denied", case["id"])]
    assert json.loads(denied[0].details)["channel"] == "api"


def test_a_failed_audit_write_answers_503_with_the_envelope(app, web_world, api, monkeypatch):
    from bti.services.access import audit

    teacher = api("teacher", web_world)
    case = _open(teacher)

    def broken(session):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "write_pending", broken)
    r = teacher.get(f"/api/v1/cases/{case['id']}")
    _error(r, 503, "unavailable")
    assert b"Api-barn" not in r.get_data()


# --- rate limiting --------------------------------------------------------------------------------


def test_rate_limit_is_429_with_the_envelope(app, web_world, api):
    app.config["BTI_API_RATE_LIMIT"] = "3 per minute"
    teacher = api("teacher", web_world)
    for _ in range(3):
        assert teacher.get("/api/v1/cases").status_code == 200
    r = teacher.get("/api/v1/cases")
    _error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # the limit is per token: another user's token is not affected
    assert api("nurse", web_world).get("/api/v1/cases").status_code == 200


# --- the OpenAPI document -------------------------------------------------------------------------


def test_openapi_document_lists_exactly_the_api_routes(app, web_world):
    r = app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops if method != "parameters"}
    routes = {(re.sub(r"<int\(max=2147483647\):(\w+)>",
                      lambda m: "{id}" if m.group(1) in ("case_id", "team_id", "unit_id",
                                                         "notification_id")
                      else "{" + m.group(1) + "}", rule.rule), m)
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              and rule.endpoint != "api.openapi"
              for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routes
    from bti.web.policy import policy_for

    adapter = app.url_map.bind("localhost")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            endpoint, _ = adapter.match(path.replace("{id}", "1").replace("{user_id}", "1"),
                                        method=method.upper())
            scopes = set(policy_for(app, endpoint).scopes)
            assert op["security"] == [{"bearerAuth": sorted(scopes)}], (path, method)
    schemas = spec["components"]["schemas"]
    assert schemas["TransitionRequest"]["additionalProperties"] is False
    assert "Payload.bti-standard.give_consent" in schemas
    assert "Opening.bti-standard" in schemas
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_token_hash_is_stored_never_the_token(app, web_world):
    token = make_token(app, web_world.users["teacher"].username)
    with app.extensions["bti"].session_factory() as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash != token
        assert len(row.token_hash) == 64
        assert token not in repr(row.__dict__)
        assert row.expires_at - row.created_at == timedelta(days=30)


# --- server errors and logs -----------------------------------------------------------------------


def test_a_bug_answers_500_with_the_envelope_and_nothing_else(app, web_world, api, monkeypatch):
    from bti.services.cases import lifecycle as case_service

    teacher = api("teacher", web_world)
    case = _open(teacher)

    def broken(*_a, **_kw):
        raise RuntimeError("Api-barn Q. SENTINEL in an exception message")

    monkeypatch.setattr(case_service, "get_case", broken)
    r = teacher.get(f"/api/v1/cases/{case['id']}")
    err = _error(r, 500, "server_error")
    assert "SENTINEL" not in err["message"]
    assert b"Traceback" not in r.get_data()


def test_api_traffic_logs_no_token_and_no_case_data(app, web_world, api,
                                                     captured):  # noqa: F811 - the fixture
    """AUD-06 for the API: the bearer token, the pseudonym and the texts sent never reach a
    log record (failed, refused and crashing requests included)."""
    teacher = api("teacher", web_world)
    case = teacher.post("/api/v1/cases", {**NEW_CASE, "child_pseudonym": "Loggbarn Zx",
                                          "concern": {"what_seen": "SENTINEL-api-7781"}})
    case_id = case.get_json()["id"]
    teacher.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "add_note", "payload": {"text": "SENTINEL-api-note"}, "expected_version": 0})
    teacher.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "add_note", "payload": {"text": "SENTINEL-api-note", "x": 1},
        "expected_version": 1})
    teacher.get(f"/api/v1/cases/{case_id}/log")
    app.test_client().get("/api/v1/cases", headers={
        "Authorization": "Bearer bti_pat_SENTINEL-wrong-token"})
    text = "\n".join(captured.lines)
    assert captured.lines, "nothing was captured: the check would prove nothing"
    for secret in (teacher.token, "Loggbarn", "SENTINEL"):
        assert secret not in text, secret


def test_deactivation_revokes_the_users_tokens_for_good(app, web_world, api):
    from bti.services.accounts import admin
    from bti.services.context import Ctx

    ext = app.extensions["bti"]
    nurse = api("nurse", web_world)
    assert nurse.get("/api/v1/cases").status_code == 200
    uid = web_world.users["nurse"].id
    with ext.session_factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, web_world.users["admin"].id),
                  workflows=ext.workflows, now=ext.clock)
        admin.deactivate_user(ctx, uid)
    _error(nurse.get("/api/v1/cases"), 401, "unauthorized")
    with ext.session_factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, web_world.users["admin"].id),
                  workflows=ext.workflows, now=ext.clock)
        admin.reactivate_user(ctx, uid)
    _error(nurse.get("/api/v1/cases"), 401, "unauthorized")
    with ext.session_factory() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.user_id == uid)).one()
        assert tokens.status(row, ext.clock()) == "revoked"
    deactivated = _audit(app, action="user.deactivated", object_id=uid)
    assert json.loads(deactivated[0].details)["api_tokens_revoked"] == 1


# --- a whole journey through the API -------------------------------------------------------------


class Journey:
    """Fires actions on one case through the API, each with the version it just read, and each
    checked against GET …/actions first (allowed, and its fields are the payload's)."""

    def __init__(self, case_id: int, world):
        self.case_id = case_id
        self.world = world

    def act(self, client: ApiClient, trigger: str, payload: dict | None = None) -> dict:
        actions = client.get(f"/api/v1/cases/{self.case_id}/actions").get_json()
        action = next(a for a in actions["actions"] if a["trigger"] == trigger)
        assert action["allowed"], (trigger, action["refusals"])
        required = {f["name"] for f in action["fields"] if f["required"]}
        assert required <= set(payload or {}), (trigger, required)
        r = client.post(f"/api/v1/cases/{self.case_id}/transitions", {
            "trigger": trigger, "payload": payload or {},
            "expected_version": actions["version"]})
        assert r.status_code == 201, (trigger, r.get_data(as_text=True))
        return r.get_json()

    @staticmethod
    def option(client: ApiClient, case_id: int, trigger: str, field: str) -> str:
        actions = client.get(f"/api/v1/cases/{case_id}/actions").get_json()["actions"]
        fields = next(a for a in actions if a["trigger"] == trigger)["fields"]
        return next(f for f in fields if f["name"] == field)["options"][0]["value"]


def test_a_whole_case_through_the_api(app, web_world, api):
    """Concern → nivå 1 with consent (samtykke), a measure (tiltak), its evaluation with the
    child's voice, a report to barnevernet and a handover: all as transition payloads."""
    from bti.domain.clock import local_date

    users = web_world.users
    today = local_date(app.extensions["bti"].clock())
    teacher, leader, coordinator = (api(n, web_world) for n in ("teacher", "leader",
                                                                "coordinator"))
    case = _open(teacher)
    j = Journey(case["id"], web_world)
    j.act(teacher, "start")
    j.act(teacher, "inform_home", {"informed_on": today.isoformat()})
    report = j.act(teacher, "report_barnevernet", {"sent_on": today.isoformat()})
    assert report["entry"]["kind"] == "report"
    j.act(leader, "appoint_stafettholder", {"stafettholder": users["coordinator"].id})
    j.act(coordinator, "assess")
    j.act(coordinator, "decide")
    moved = j.act(coordinator, "escalate", {"reason": "Tiltak på skulen trengst no."})
    assert (moved["case"]["level"], moved["case"]["level_number"]) == ("n1", 1)
    consent = j.act(coordinator, "give_consent", {
        "given_by": "guardians", "services": [web_world.unit_ids["health"]],
        "information": "Helse og trivsel", "given_on": today.isoformat()})
    assert consent["entry"]["kind"] == "consent"
    measure = j.act(coordinator, "add_measure", {
        "description": "Fast vaksen i friminutta", "responsible": users["teacher"].id,
        "start_date": today.isoformat(),
        "evaluate_by": (today + timedelta(days=28)).isoformat()})
    assert measure["entry"]["kind"] == "measure"
    j.act(coordinator, "start")
    j.act(coordinator, "evaluate")
    evaluation = j.act(coordinator, "record_evaluation", {
        "measures": [measure["entry"]["object_id"]],
        "effect": Journey.option(coordinator, case["id"], "record_evaluation", "effect"),
        "child_voice_method": Journey.option(coordinator, case["id"], "record_evaluation",
                                             "child_voice_method"),
        "outcome": Journey.option(coordinator, case["id"], "record_evaluation", "outcome"),
        "child_said": "Eg likar at nokon ventar på meg."})
    assert evaluation["entry"]["kind"] == "evaluation"
    j.act(coordinator, "propose_handover", {"to_user": users["leader"].id,
                                            "reason": "Koordinator går ut i permisjon."})
    accepted = j.act(leader, "accept_handover")
    assert accepted["entry"]["kind"] == "handover"
    got = leader.get(f"/api/v1/cases/{case['id']}").get_json()
    assert got["stafettholder_id"] == users["leader"].id
    kinds = [e["kind"] for e in leader.get(f"/api/v1/cases/{case['id']}/log?limit=200")
             .get_json()["entries"]]
    assert {"concern", "report", "consent", "measure", "evaluation", "handover",
            "level_change"} <= set(kinds)
