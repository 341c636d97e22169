"""The OpenAPI document states exactly what the server accepts (issue 11 §3, schemathesis
ST202): its bounds are the validators' own, proved here value by value against the running API
and, for the patterns, by a non-Python JSON Schema validator (jsonschema_rs) on generated text.
All names are made up."""

from __future__ import annotations

import jsonschema_rs
import pytest
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from bti.domain import child
from bti.domain.clock import local_date
from bti.engine.payload import build_payload_schema
from bti.web.api import schemas as s
from bti.web.api.openapi import spec_for
from tests.engine.test_inputs import TRICKY
from tests.web.test_api import CONCERN
from tests.web.test_api import NEW_CASE
from tests.web.test_api import _error
from tests.web.test_api import _open


def _today(app):
    return local_date(app.extensions["bti"].clock())


def _document(app) -> dict:
    r = app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def _component(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def _validator(doc: dict, schema: dict):
    """A validator for ``schema`` that resolves the document's own ``$ref``s."""
    return jsonschema_rs.validator_for({**schema, "components": doc["components"]})


def test_the_birth_years_the_document_states_are_the_ones_the_server_takes(app, web_world,
                                                                          api):
    doc = _document(app)
    year = _component(doc, "CaseCreate")["properties"]["child_birth_year"]
    first, last = child.birth_year_range(_today(app))
    assert (year["type"], year["minimum"], year["maximum"]) == (["integer", "null"], first,
                                                               last)
    assert last - first == child.MAX_AGE_YEARS == 25
    assert (first, last) != (1900, 2100)  # what the document said before
    teacher = api("teacher", web_world)
    for value, status in ((first - 1, 422), (first, 201), (last, 201), (last + 1, 422),
                          (float(last), 201), (1900, 422), (2100, 422)):
        r = teacher.post("/api/v1/cases", {**NEW_CASE, "child_birth_year": value})
        assert r.status_code == status, (value, r.get_data(as_text=True))
        assert _validator(doc, year).is_valid(value) == (status == 201), value


def test_the_due_months_the_document_states_are_the_ones_the_server_takes(app, web_world,
                                                                          api):
    """An expected child (pregnancy follow-up): ``child_due`` is one of the months the rule
    allows today, listed as the ``enum``; before and after them the service's codes."""
    doc = _document(app)
    schema = _component(doc, "CaseCreate")
    due = schema["properties"]["child_due"]
    months = child.due_months(_today(app))
    assert due["enum"] == [*months, None]
    assert len(months) == child.DUE_MONTHS_AHEAD + 1
    valid = _validator(doc, schema)
    teacher = api("teacher", web_world)
    this = _today(app)
    before = f"{this.year - (this.month == 1)}-{(this.month - 2) % 12 + 1:02d}"
    body = {k: v for k, v in NEW_CASE.items() if k != "child_birth_year"}
    for value, status, code in ((months[0], 201, None), (months[-1], 201, None),
                                (before, 422, "in_past"), ("2999-01", 422, "too_far"),
                                ("2027-13", 422, "invalid"), ("٢٠٢٧-٠١", 422, "invalid")):
        r = teacher.post("/api/v1/cases", {**body, "child_due": value})
        assert r.status_code == status, (value, r.get_data(as_text=True))
        if code:
            assert r.get_json()["error"]["fields"] == {"child_due": [code]}, value
        assert valid.is_valid({**body, "child_due": value}) == (status == 201), value


@pytest.mark.parametrize(("child_fields", "errors"), [
    ({"child_birth_year": 2016}, None),
    ({"child_birth_year": 2016, "child_due": None}, None),
    ({"child_birth_year": None, "child_due": "due"}, None),
    ({"child_birth_year": 2016, "child_due": "due"}, {"child_birth_year": ["birth_or_due"]}),
    ({}, {"child_birth_year": ["required"]}),
    ({"child_birth_year": None, "child_due": None}, {"child_birth_year": ["required"]})])
def test_born_or_expected_exactly_one_as_the_document_says(app, web_world, api, child_fields,
                                                         errors):
    doc = _document(app)
    schema = _component(doc, "CaseCreate")
    months = child.due_months(_today(app))
    fields = {k: (months[1] if v == "due" else v) for k, v in child_fields.items()}
    body = {"child_pseudonym": "KN", "concern": CONCERN, **fields}
    r = api("teacher", web_world).post("/api/v1/cases", body)
    if errors is None:
        assert r.status_code == 201, r.get_data(as_text=True)
    else:
        assert _error(r, 422, "invalid")["fields"] == errors
    assert _validator(doc, schema).is_valid(body) == (errors is None)


def test_the_document_is_rebuilt_when_the_day_changes(app, web_world):
    from datetime import UTC
    from datetime import datetime

    ext = app.extensions["bti"]
    real = ext.clock
    ext.clock = lambda: datetime(2031, 1, 1, 12, tzinfo=UTC)
    try:
        year = _component(_document(app), "CaseCreate")["properties"]["child_birth_year"]
    finally:
        ext.clock = real
    assert (year["minimum"], year["maximum"]) == (2031 - 25, 2031)


@settings(max_examples=300, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=64))
@example("12345678901")
@example("123 456 789 01")
@example("١٢٣٤٥٦٧٨٩٠١")
@example(" KN")
@example("KN\n")
@example("K" * 61)
def test_the_pseudonym_the_document_states_is_the_one_the_server_takes(app, text):
    """Checked with the schema the view loads (``case_create_schema``) and the service's own
    rule: the API accepts a pseudonym exactly when the document's schema does."""
    doc = spec_for(app)  # what GET /api/v1/openapi.json serves (without its rate limit)
    prop = _component(doc, "CaseCreate")["properties"]["child_pseudonym"]
    assert prop["pattern"] == child.pseudonym_pattern()
    assert (prop["minLength"], prop["maxLength"]) == (1, child.PSEUDONYM_MAX_LENGTH)
    schema = s.case_create_schema(_today(app))()
    errors = schema.validate({**NEW_CASE, "child_pseudonym": text})
    assert set(errors) <= {"child_pseudonym"}
    # what the service then checks (open_case), on the text as the view passes it
    accepted = not errors and child.pseudonym_error(text.strip()) is None
    assert _validator(doc, prop).is_valid(text) == accepted, repr(text)


@pytest.mark.parametrize(("pseudonym", "status", "code"), [
    ("KN", 201, None), ("Barn 7", 201, None), ("12345678901", 422, "looks_like_id_number"),
    ("123 456 789 01", 422, "looks_like_id_number"), ("²", 422, "looks_like_id_number"),
    (" KN", 422, "invalid"), ("K\x00N", 422, "invalid"), ("", 422, "invalid")])
def test_pseudonyms_through_the_api(app, web_world, api, pseudonym, status, code):
    r = api("teacher", web_world).post("/api/v1/cases",
                                       {**NEW_CASE, "child_pseudonym": pseudonym})
    if code is None:
        assert r.status_code == status
    else:
        assert _error(r, status, "invalid")["fields"] == {"child_pseudonym": [code]}


def test_the_concern_has_the_schema_of_the_workflows_opening(app, web_world, api):
    doc = _document(app)
    concern = _component(doc, "CaseCreate")["properties"]["concern"]
    opening = concern["$ref"].rsplit("/", 1)[1]
    assert opening.startswith("Opening.")
    registry = app.extensions["bti"].workflows
    for d in registry.files.values():  # every workflow's opening is this one
        assert _component(doc, f"Opening.{d.id}") == _component(doc, opening)
    own = registry.files["bti-standard"].opening
    assert set(_component(doc, opening)["properties"]) == set(own.fields) | set(own.optional)
    assert _component(doc, opening)["required"] == list(own.fields)
    valid = _validator(doc, concern)
    teacher = api("teacher", web_world)
    for body, status in (
            (CONCERN, 201),
            ({"what_seen": "x"}, 201),
            ({"what_seen": "x", "since": None, "violence_suspected": None}, 201),
            ({"what_seen": "  \u3000"}, 422),  # blank: the required field is missing
            ({"what_seen": "x\x00"}, 422),
            ({"what_seen": "x" * 10_001}, 422),
            ({"what_seen": "x", "violence_suspected": "true"}, 422),
            ({"what_seen": "x", "shoe_size": 3}, 422),
            ({}, 422)):
        r = teacher.post("/api/v1/cases", {**NEW_CASE, "concern": body})
        assert r.status_code == status, (body, r.get_data(as_text=True)[:300])
        assert valid.is_valid(body) == (status == 201), body


def test_every_payload_component_is_the_engines_schema(app):
    """The components an integrator builds payloads from are generated from the same
    marshmallow schemas the engine validates with (not a copy that can drift)."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    doc = _document(app)
    plugin = MarshmallowPlugin()
    APISpec(title="x", version="1", openapi_version="3.1.0", plugins=[plugin])
    for d in app.extensions["bti"].workflows.files.values():
        o = d.opening
        built = plugin.converter.schema2jsonschema(build_payload_schema(
            d.fields, o.fields, o.optional, False))
        assert _component(doc, f"Opening.{d.id}") == built


@pytest.mark.parametrize(("version", "status"), [
    ("current", 201), ("current.0", 201), ("string", 422), ("true", 422), ("fraction", 422)])
def test_expected_version_is_a_json_schema_integer(app, web_world, api, version, status):
    """``0.0`` is an integer to JSON Schema, so the server takes it (it refused it)."""
    teacher = api("teacher", web_world)
    case = _open(teacher)
    value = {"current": case["version"], "current.0": float(case["version"]),
             "string": str(case["version"]), "true": True,
             "fraction": case["version"] + 0.5}[version]
    r = teacher.post(f"/api/v1/cases/{case['id']}/transitions", {
        "trigger": "add_note", "payload": {"text": "Eit notat"}, "expected_version": value})
    if status == 201:
        assert r.status_code == 201, r.get_data(as_text=True)
    else:
        assert _error(r, status, "invalid")["fields"] == {"expected_version": ["invalid"]}
    request = _component(_document(app), "TransitionRequest")["properties"]
    assert jsonschema_rs.validator_for(request["expected_version"]).is_valid(value) == (
        status == 201)


def test_expected_version_zero_point_zero_meets_the_version_check(app, web_world, api):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    r = teacher.post(f"/api/v1/cases/{case['id']}/transitions", {
        "trigger": "add_note", "payload": {"text": "Eit notat"}, "expected_version": 0.0})
    assert r.status_code == (201 if case["version"] == 0 else 409), r.get_data(as_text=True)


@pytest.mark.parametrize(("query", "status"), [
    ("cursor=0", 200), ("cursor=١", 422), ("cursor=+1", 422), ("cursor=%201", 422),
    ("limit=٥", 422), ("limit=1_0", 422), ("cursor=" + "9" * 5000, 422)])
def test_query_numbers_are_ascii_digits(app, web_world, api, query, status):
    teacher = api("teacher", web_world)
    case = _open(teacher)
    r = teacher.get(f"/api/v1/cases/{case['id']}/log?{query}")
    assert r.status_code == status, r.get_data(as_text=True)
