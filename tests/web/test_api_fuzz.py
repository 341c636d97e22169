"""Fuzzing the JSON API with schemathesis, in-process against the WSGI app and its own OpenAPI
document (issue 6 §2).

Two teachers of the same school (the same role, ``employee``) each open their own cases. Every
generated request is sent twice, once with each teacher's token, and checked for: no server
error, a status code, content type, headers and body the document allows, authentication that
is enforced (``ignored_auth`` retries a 2xx without and with a bogus token), a document that
states exactly what is accepted (a schema-valid request accepted, ST202, a schema-violating one
refused, ST201; issue 11) — and object-level authorization: a request about the other teacher's
case must answer 404, exactly like a case that does not exist, and the list of cases must never
hold the other's cases. Generated case and unit ids are folded onto the real ones (both
teachers' cases and one that does not exist; their school), and every other
``expected_version`` is replaced by the case's current one, so requests reach the services
instead of stopping at "no such case" or "stale version". The concerns are the fuzzer's own,
written from the document: it creates cases without help.

Deterministic: Hypothesis runs derandomized, without an example database. The number of
requests is printed and asserted (at least 1,000). All names are made up.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import ignored_auth
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import response_headers_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.domain.cases import Case
from bti.domain.clock import local_date
from bti.engine.inputs import MAX_INT
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.context import utcnow
from bti.services.workflows.registry import WorkflowRegistry
from bti.web import create_app
from bti.web.api.openapi import build_spec
from tests.factories import CONCERN
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.web.conftest import ROOT
from tests.web.conftest import make_settings
from tests.web.conftest import make_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, ignored_auth,
          positive_data_acceptance, negative_data_rejection]
#: The document states exactly what the server accepts: a schema-valid request is accepted
#: (ST202) and a schema-violating one refused (ST201). The one exception is a rule the document
#: cannot state: which action the case's state and the caller's relation allow, and what its
#: payload must hold, are answered by GET …/actions.
CONFIG = schemathesis.Config.from_dict({"operations": [
    {"include-operation-id": "fireTransition",
     "checks": {"positive_data_acceptance": {"expected-statuses": [
         "2xx", "401", "403", "404", "409", "422", "429"]}}},
]})
MIN_REQUESTS = 1000
EXAMPLES_PER_OPERATION = 80
PG_EXAMPLES_PER_OPERATION = 25
STATS = {"requests": 0, "by_status": {}, "created": 0}
PG_STATS = {"requests": 0, "by_status": {}, "created": 0}


class FuzzWorld:
    def __init__(self, app):
        self.app = app
        ext = app.extensions["bti"]
        with ext.session_factory.begin() as s:
            m = make_municipality(s, mfa_required=False)
            school = make_unit(s, m, "school", name="Fuzzvik skule")
            self.school_id = school.id
            a = make_user(s, m, school, ("employee",), username="fuzzlaerar_a")
            b = make_user(s, m, school, ("employee",), username="fuzzlaerar_b")
            self.user_ids = {"a": a.id, "b": b.id}
            self.cases: dict[str, list[int]] = {"a": [], "b": []}
            for who, user in (("a", a), ("b", b)):
                for n in range(2):
                    ctx = Ctx(session=s, actor=user, workflows=ext.workflows, now=ext.clock)
                    case = cases.open_case(ctx, unit_id=None, child_pseudonym=f"Fuzz {who}{n}",
                                           child_birth_year=2016, concern=dict(CONCERN)).case
                    self.cases[who].append(case.id)
        self.missing = max(self.cases["a"] + self.cases["b"]) + 100_000
        self.tokens = {who: make_token(app, f"fuzzlaerar_{who}") for who in ("a", "b")}
        self.pool = self.cases["a"] + self.cases["b"] + [self.missing]

    def owner(self, case_id: int) -> str | None:
        return next((who for who, ids in self.cases.items() if case_id in ids), None)

    def version(self, case_id: int) -> int:
        with self.app.extensions["bti"].session_factory() as s:
            case = s.get(Case, case_id)
            return case.version if case is not None else 1


def _fuzz_app(**settings):
    app = create_app(make_settings(api_rate_limit="1000000 per minute", **settings))
    return app  # (429 is tested in test_api.py)


@pytest.fixture(scope="module")
def fuzz_world():
    app = _fuzz_app()
    yield FuzzWorld(app)
    app.extensions["bti"].engine.dispose()


@pytest.fixture(scope="module")
def pg_fuzz_world(postgres_url):
    """The same world on the real PostgreSQL, in a schema of its own (dropped afterwards)."""
    schema_name = f"bti_fuzz_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema_name}"))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema_name}"})
    url_text = url.render_as_string(hide_password=False)
    engine = make_engine(url_text)
    create_schema(engine)
    engine.dispose()
    app = _fuzz_app(database_url=url_text)
    try:
        yield FuzzWorld(app)
    finally:
        app.extensions["bti"].engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema_name} CASCADE"))
        admin.dispose()


def _document() -> dict:
    """The app's OpenAPI document, built as the app builds it (from the workflow files). Loaded
    at import, as schemathesis' pytest integration needs it at collection;
    ``test_the_fuzzed_document_is_the_one_the_app_serves`` checks it is the served one."""
    registry = WorkflowRegistry(ROOT / "workflows")
    return build_spec(list(registry.files.values()), today=local_date(utcnow()))


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


def _steer(case, world: FuzzWorld) -> int | None:
    """Fold a generated case id onto a real one (an id the document allows: one outside it
    must stay so, to be refused); give every other transition the current version. Returns the
    case id the request is about, if any."""
    case_id = None
    if case.path.startswith("/api/v1/teams"):
        return None  # a team id, not a case; the teachers are no administrators (403)
    generated = case.path_parameters.get("id") if case.path_parameters else None
    # only a case id is a teacher's resource (the units' ids are an administrator's: the
    # teachers' tokens hold no org scope there and are refused with 403, as documented)
    if _int(generated) and 1 <= generated <= MAX_INT and case.path.startswith("/api/v1/cases/"):
        case_id = world.pool[case.path_parameters["id"] % len(world.pool)]
        case.path_parameters["id"] = case_id
    body = case.body if isinstance(case.body, dict) else None
    version = body.get("expected_version") if body is not None else None
    if case_id is not None and _int(version) and version % 2 == 0:
        body["expected_version"] = world.version(case_id)
        if version % 4 == 0:  # an action every teacher may take: the write path runs too
            body["trigger"] = "add_note"
            body["payload"] = {"text": f"Fuzznotat {version}"}
    if case.path == "/api/v1/cases" and body is not None and _number(body.get("unit_id")):
        # a unit id is a resource like a case id: fold it onto the teachers' school (another
        # municipality's unit, or none, is 422 ``not_in_municipality``, which the document
        # cannot state)
        body["unit_id"] = world.school_id
    return case_id


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case, fuzz_world):
    _fuzz(case, fuzz_world, STATS)


@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=PG_EXAMPLES_PER_OPERATION, derandomize=True, database=None,
          deadline=None, suppress_health_check=list(HealthCheck))
def test_api_fuzz_postgres(case, pg_fuzz_world):
    """The same on PostgreSQL (fewer examples): what SQLite forgives (integer overflow, NUL
    characters, types) must answer 4xx here too, never 5xx."""
    _fuzz(case, pg_fuzz_world, PG_STATS)


def _fuzz(case, world: FuzzWorld, stats: dict) -> None:
    # the app under test (SQLite or PostgreSQL), also for the probes of ``ignored_auth``
    case.operation.schema.app = world.app
    case_id = _steer(case, world)
    for who in ("a", "b"):
        response = case.call_and_validate(
            app=world.app, headers={"Authorization": f"Bearer {world.tokens[who]}"},
            checks=CHECKS)
        stats["requests"] += 1
        stats["by_status"][response.status_code] = stats["by_status"].get(
            response.status_code, 0) + 1
        if case.method == "POST" and case.path == "/api/v1/cases" \
                and response.status_code == 201:
            stats["created"] += 1  # a concern the fuzzer wrote itself, from the document
        owner = world.owner(case_id) if case_id is not None else None
        if owner is not None and owner != who:
            # object-level authorization: the other teacher's case answers exactly like a case
            # that does not exist (404 once the request is well-formed and signed in)
            assert not 200 <= response.status_code < 300, (who, case.method,
                                                           case.formatted_path)
            assert response.status_code in (400, 401, 404, 415, 422), response.status_code
            case.path_parameters["id"] = world.missing
            missing = case.call(app=world.app,
                                headers={"Authorization": f"Bearer {world.tokens[who]}"})
            case.path_parameters["id"] = case_id
            stats["requests"] += 1
            assert (missing.status_code, missing.content) == (response.status_code,
                                                              response.content)
        if case.method == "GET" and case.path == "/api/v1/cases" \
                and response.status_code == 200:
            other = "b" if who == "a" else "a"
            listed = {item["id"] for item in response.json()["items"]}
            assert not listed & set(world.cases[other]), (who, listed)


def test_the_fuzzed_document_is_the_one_the_app_serves(fuzz_world):
    served = fuzz_world.app.test_client().get("/api/v1/openapi.json").get_json()
    assert served == _document()


def test_fuzzing_sent_enough_requests(capsys):
    """Runs after the fuzz tests of this module (pytest keeps the file's order)."""
    with capsys.disabled():
        print(f"\n[api fuzz] SQLite: {STATS['requests']} requests, {STATS['created']} cases "
              f"created, by status: {dict(sorted(STATS['by_status'].items()))}")
        if PG_STATS["requests"]:
            print(f"[api fuzz] PostgreSQL: {PG_STATS['requests']} requests, "
                  f"{PG_STATS['created']} cases created, by status: "
                  f"{dict(sorted(PG_STATS['by_status'].items()))}")
    assert STATS["requests"] >= MIN_REQUESTS
    assert STATS["by_status"].get(201, 0) > 0, "no write succeeded: the fuzzing is too shallow"
    assert STATS["created"] > 0, "no generated case was created: the document is too loose"
    assert not any(status >= 500 for status in STATS["by_status"])
    assert not any(status >= 500 for status in PG_STATS["by_status"])


def test_teacher_a_gets_404_on_every_case_of_teacher_b(fuzz_world):
    """The explicit object-level check, beside the fuzzing: every route of the API, with A's
    token, about each of B's cases, answers exactly as for a case that does not exist."""
    world = fuzz_world
    client = world.app.test_client()
    auth = {"Authorization": f"Bearer {world.tokens['a']}"}
    for case_id in world.cases["b"]:
        for suffix in ("", "/actions", "/log", "/access-log"):
            real = client.get(f"/api/v1/cases/{case_id}{suffix}", headers=auth)
            none = client.get(f"/api/v1/cases/{world.missing}{suffix}", headers=auth)
            assert real.status_code == 404
            assert real.get_data() == none.get_data()
        r = client.post(f"/api/v1/cases/{case_id}/transitions", headers=auth, json={
            "trigger": "add_note", "payload": {"text": "Ikkje min sak"},
            "expected_version": world.version(case_id)})
        assert r.status_code == 404
    own = client.get(f"/api/v1/cases/{world.cases['a'][0]}", headers=auth)
    assert own.status_code == 200
