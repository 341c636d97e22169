"""The forms and the API for three rules of the case: an expected child's due month on the
concern form, stopping a measure with (or without) its evaluation, and barnevernet's feedback
stage by stage. Through the real app, CSRF on; all names and texts are made up."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import Case
from bti.domain.cases import Evaluation
from bti.domain.cases import Measure
from tests.web.test_cases_ui import WHAT_SEEN
from tests.web.test_cases_ui import _action
from tests.web.test_cases_ui import _fire
from tests.web.test_cases_ui import _open
from tests.web.test_cases_ui import _today
from tests.web.test_cases_ui import _version


@pytest.fixture
def n0_case(app, web_world, login):
    """A concern by the teacher, the coordinator its stafettholder, at the n0 decision."""
    teacher = web_world.users["teacher"]
    case_id = _open(login("teacher", web_world))
    _fire(app, teacher, case_id, "appoint_stafettholder",
          {"stafettholder": web_world.users["coordinator"].id})
    _fire(app, teacher, case_id, "inform_home", {"informed_on": _today(app).isoformat()})
    for trigger in ("start", "assess", "decide"):
        _fire(app, teacher, case_id, trigger)
    return case_id


def _months_ahead(day: date, n: int) -> tuple[int, int]:
    months = day.year * 12 + day.month - 1 + n
    return months // 12, months % 12 + 1


def _concern(**kw) -> dict:
    return {"child_pseudonym": "Termin T.", "child_birth_year": "", "what_seen": WHAT_SEEN,
            "violence_suspected": "false", **kw}


# --- an expected child -------------------------------------------------------------------------


def test_the_nurse_opens_a_case_for_an_expected_child_with_its_due_month(app, web_world, login):
    b = login("nurse", web_world)
    html = b.get("/saker/ny").get_data(as_text=True)
    assert "Barn som ikke er født ennå (oppfølging i svangerskapet)" in html
    assert '<option value="9">september</option>' in html  # month names in bokmål
    year, month = _months_ahead(_today(app), 4)
    r = b.post("/saker/ny", _concern(child_due_month=str(month), child_due_year=str(year)))
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    case_id = int(r.headers["Location"].split("/")[2])
    with app.extensions["bti"].session_factory() as s:
        case = s.get(Case, case_id)
        assert (case.child_birth_year, case.child_due_month) == (year, month)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert f"ikke født, termin {month:02d}.{year}" in html


def test_a_due_month_out_of_range_or_with_a_birth_year_comes_back_in_the_form(app, web_world,
                                                                                login):
    b = login("nurse", web_world)
    b.get("/saker/ny")
    year, month = _months_ahead(_today(app), 11)
    r = b.post("/saker/ny", _concern(child_due_month=str(month), child_due_year=str(year)))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="f-child_due-error"' in html
    assert "Terminmåneden kan være høyst ti måneder fram." in html
    assert f'value="{year}"' in html  # what was typed is kept
    year, month = _months_ahead(_today(app), -1)
    r = b.post("/saker/ny", _concern(child_due_month=str(month), child_due_year=str(year)))
    assert r.status_code == 422
    assert "Terminmåneden er passert." in r.get_data(as_text=True)
    r = b.post("/saker/ny", _concern(child_birth_year="2020", child_due_month="5",
                                     child_due_year=str(_today(app).year + 1)))
    assert r.status_code == 422
    assert "ikke begge" in r.get_data(as_text=True)
    for odd in ("²", "2O27", "9" * 30):  # never a 500
        r = b.post("/saker/ny", _concern(child_due_month="3", child_due_year=odd))
        assert r.status_code == 422, odd
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(Case)).all() == []


def test_the_api_opens_a_case_for_an_expected_child(app, web_world, api):
    client = api("nurse", web_world)
    year, month = _months_ahead(_today(app), 6)
    concern = {"what_seen": "Den gravide har lite nettverk.", "violence_suspected": False}
    r = client.post("/api/v1/cases", {"child_pseudonym": "Termin A.",
                                      "child_due": f"{year}-{month:02d}", "concern": concern})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["child_due"], body["child_birth_year"]) == (f"{year}-{month:02d}", year)
    born = client.post("/api/v1/cases", {"child_pseudonym": "Fødd B.", "child_birth_year": 2019,
                                         "concern": concern}).get_json()
    assert born["child_due"] is None
    past_year, past_month = _months_ahead(_today(app), -2)
    for body, fields in [
        ({"child_due": f"{year}-13"}, {"child_due": ["invalid"]}),
        ({"child_due": f"{past_year}-{past_month:02d}"}, {"child_due": ["in_past"]}),
        ({"child_due": f"{year}-{month:02d}", "child_birth_year": 2019},
         {"child_birth_year": ["birth_or_due"]}),
        ({}, {"child_birth_year": ["required"]}),
    ]:
        r = client.post("/api/v1/cases", {"child_pseudonym": "Feil F.", "concern": concern,
                                          **body})
        assert r.status_code == 422, (body, r.get_data(as_text=True))
        assert r.get_json()["error"]["fields"] == fields, body


# --- stopping a measure --------------------------------------------------------------------------


def _n1_active_with_measures(app, web_world, case_id, n=2) -> list[int]:
    coordinator = web_world.users["coordinator"]
    today = _today(app).isoformat()
    _fire(app, coordinator, case_id, "escalate", {"reason": "Tiltak på skulen trengst."})
    for k in range(n):
        _fire(app, coordinator, case_id, "add_measure", {
            "description": f"Tiltak {k + 1}", "responsible": coordinator.id,
            "start_date": today, "evaluate_by": today})
    _fire(app, coordinator, case_id, "start")
    with app.extensions["bti"].session_factory() as s:
        return list(s.scalars(select(Measure.id).where(Measure.case_id == case_id)
                              .order_by(Measure.id)))


def test_the_stop_form_offers_the_evaluation_and_a_stopped_measure_is_still_evaluated(
        app, web_world, login, n0_case):
    case_id = n0_case
    first, second = _n1_active_with_measures(app, web_world, case_id)
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}/handling/stop_measure").get_data(as_text=True)
    block = _action(html, "stop_measure")
    assert "child-voice" in block
    assert 'name="effect"' in block
    assert "Et avsluttet tiltak skal også evalueres." in block
    # stopped with its evaluation, in one form
    r = b.post(f"/saker/{case_id}/handling/stop_measure", {
        "expected_version": _version(html, "stop_measure"), "measure": str(first),
        "reason": "Passa ikkje for barnet.", "effect": "none",
        "child_voice_method": "conversation", "child_said": "Eg vil heller vere i klassen."})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    # stopped without one: it must be evaluated before the decision
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/stop_measure", {
        "expected_version": _version(html, "stop_measure"), "measure": str(second),
        "reason": "Ferien kom."})
    assert r.status_code == 303
    _fire(app, web_world.users["coordinator"], case_id, "evaluate")
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    step = html[html.index('id="next-decide"'):]
    step = step[:step.index("</div>")]
    # the next step's checklist says what is missing, and links to what meets it
    assert "☐" in step
    assert "alle tiltak er evaluert, også de som er avsluttet" in step
    assert f'href="/saker/{case_id}/handling/record_evaluation"' in step
    assert f'href="/saker/{case_id}/handling/decide"' not in step
    html = b.get(f"/saker/{case_id}/handling/record_evaluation").get_data(as_text=True)
    block = _action(html, "record_evaluation")
    assert f'name="measures" value="{second}"' in block
    assert "ikke evaluert ennå" in block
    assert f'name="measures" value="{first}"' not in block  # the stop evaluated it
    r = b.post(f"/saker/{case_id}/handling/record_evaluation", {
        "expected_version": _version(html, "record_evaluation"), "measures": str(second),
        "effect": "some", "child_voice_method": "conversation",
        "child_said": "Det var greitt.", "outcome": "stop"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    step = html[html.index('id="next-decide"'):]
    assert f'class="button" href="/saker/{case_id}/handling/decide"' in step[:step.index("</div>")]
    with app.extensions["bti"].session_factory() as s:
        outcomes = sorted(e.outcome for e in s.scalars(select(Evaluation).where(
            Evaluation.case_id == case_id)))
        assert outcomes == ["stop", "stop"]
        assert {m.status for m in s.scalars(select(Measure).where(
            Measure.case_id == case_id))} == {"stopped"}


# --- barnevernet's feedback, stage by stage ------------------------------------------------------


def test_feedback_is_recorded_stage_by_stage_on_the_case_page(app, web_world, login,
                                                              n0_case):
    case_id = n0_case
    today = _today(app)
    b = login("teacher", web_world)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/report_barnevernet", {
        "expected_version": _version(html, "report_barnevernet"),
        "sent_on": today.isoformat()})
    assert r.status_code == 303
    html = b.get(f"/saker/{case_id}/handling/record_barnevern_feedback").get_data(as_text=True)
    block = _action(html, "record_barnevern_feedback")
    sent = today.strftime("%d.%m.%Y")
    assert f"selected>Melding sendt {sent}</option>" in block  # the one report, chosen
    assert "Ingen tilbakemelding innen fristen" in block
    for stage in ("receipt_confirmed", "investigation_opened"):
        html = b.get(f"/saker/{case_id}").get_data(as_text=True)
        r = b.post(f"/saker/{case_id}/handling/record_barnevern_feedback", {
            "expected_version": _version(html, "record_barnevern_feedback"),
            "feedback_kind": stage, "received_on": today.isoformat()})
        assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/record_barnevern_feedback", {
        "expected_version": _version(html, "record_barnevern_feedback"),
        "feedback_kind": "receipt_confirmed", "received_on": today.isoformat()})
    assert r.status_code == 422
    assert "Denne tilbakemeldingen er allerede registrert på meldingen." in \
        r.get_data(as_text=True)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    log = html[html.index('class="timeline"'):]
    assert log.count("Registrer tilbakemelding fra barnevernet") == 2
    assert "Undersøkelse startet" in log
    assert "Mottak bekreftet" in log
    with app.extensions["bti"].session_factory() as s:
        assert [f.stage for f in s.scalars(select(BarnevernFeedback).order_by(
            BarnevernFeedback.id))] == ["receipt_confirmed", "investigation_opened"]
