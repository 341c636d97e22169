"""Consent over HTTP (the web test client, CSRF on; the JSON API): the withdrawn-consent handover
attack, expiry with the app's clock, a consent already expired, refusals that name what is
missing, and home contact under the violence flag. All names are made up."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.services.context import OSLO
from bti.services.context import Ctx

#: The app's clock in these tests (a Monday in March: CET).
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.astimezone(OSLO).date()


def _fire(app, user, case_id, trigger, payload=None):
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, user.id), workflows=ext.workflows, now=ext.clock)
        return cases.fire(ctx, case_id, trigger, payload).entry.object_id


def _open(app, world, violence=False) -> int:
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        teacher = s.get(User, world.users["teacher"].id)
        ctx = Ctx(session=s, actor=teacher, workflows=ext.workflows, now=ext.clock)
        return cases.open_case(ctx, unit_id=None, child_pseudonym="KN", child_birth_year=2016,
                               concern={"what_seen": "Barnet sovnar i timane",
                                        "violence_suspected": violence}).case.id


def _n1_case(app, world) -> int:
    """A case at nivå 1 with the coordinator as stafettholder."""
    u = world.users
    case_id = _open(app, world)
    _fire(app, u["teacher"], case_id, "start")
    _fire(app, u["teacher"], case_id, "inform_home", {"informed_on": TODAY.isoformat()})
    _fire(app, u["leader"], case_id, "appoint_stafettholder",
          {"stafettholder": u["coordinator"].id})
    for trigger in ("assess", "decide"):
        _fire(app, u["coordinator"], case_id, trigger)
    _fire(app, u["coordinator"], case_id, "escalate", {"reason": "Tiltak trengst."})
    return case_id


def _version(html: str, trigger: str) -> str:
    """The case's version: from the action's own form, else from the case page."""
    m = (re.search(r'name="expected_version" value="(\d+)"', html)
         or re.search(r'data-case-version="(\d+)"', html))
    return m.group(1)


def _action(html: str, trigger: str) -> str:
    start = html.index(f'id="action-{trigger}"')
    end = html.find('id="action-', start + 10)
    return html[start:end if end > 0 else None]


def _post(b, case_id, trigger, data):
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    return b.post(f"/saker/{case_id}/handling/{trigger}",
                  {"expected_version": _version(html, trigger), **data})


def _case_version(app, case_id) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.get(Case, case_id).version


def _clock(app, now):
    app.extensions["bti"].clock = lambda: now


def test_withdrawal_ends_the_handover_attack_over_http(app, web_world, login, api):
    """Consent covering Helsestasjonen; handover proposed to the health nurse; consent
    withdrawn: she no longer reads the case, cannot accept, and the holder keeps it."""
    _clock(app, NOW)
    u, units = web_world.users, web_world.unit_ids
    case_id = _n1_case(app, web_world)
    holder = login("coordinator", web_world)
    r = _post(holder, case_id, "give_consent", {
        "given_by": "guardians", "services": str(units["health"]),
        "information": "Helse og trivsel", "given_on": TODAY.isoformat()})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    r = _post(holder, case_id, "propose_handover", {"to_user": str(u["nurse"].id),
                                                    "reason": "Helsesyster tek over"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    nurse = login("nurse", web_world)
    page = nurse.get(f"/saker/{case_id}")
    assert page.status_code == 200  # she may read it to decide
    accept_version = _version(page.get_data(as_text=True), "accept_handover")
    with app.extensions["bti"].session_factory() as s:
        consent = s.scalars(select(Consent.id).where(Consent.case_id == case_id)).one()
    r = _post(holder, case_id, "withdraw_consent", {"consent": str(consent)})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]

    assert nurse.get(f"/saker/{case_id}").status_code == 404
    r = nurse.post(f"/saker/{case_id}/handling/accept_handover",
                   {"expected_version": accept_version})
    assert r.status_code == 404
    nurse_api = api("nurse", web_world)
    assert nurse_api.get(f"/api/v1/cases/{case_id}").status_code == 404
    assert nurse_api.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "accept_handover", "payload": {},
        "expected_version": _case_version(app, case_id)}).status_code == 404
    # the stafettholder keeps the case and sees it
    assert holder.get(f"/saker/{case_id}").status_code == 200
    with app.extensions["bti"].session_factory() as s:
        assert s.get(Case, case_id).stafettholder_id == u["coordinator"].id
        assert s.scalars(select(Handover.status)).all() == ["cancelled"]


def test_expiry_ends_access_on_the_first_request_after_it(app, web_world, login):
    _clock(app, NOW)
    u, units = web_world.users, web_world.unit_ids
    case_id = _n1_case(app, web_world)
    _fire(app, u["coordinator"], case_id, "give_consent", {
        "given_by": "guardians", "services": [units["health"]], "information": "Helse",
        "given_on": TODAY.isoformat(), "expires_on": (TODAY + timedelta(days=10)).isoformat()})
    _fire(app, u["coordinator"], case_id, "add_participant",
          {"participant": u["nurse"].id, "service": units["health"]})
    expiry = datetime(2026, 3, 12, 23, 0, tzinfo=UTC)  # 13 March 00:00 in Oslo
    _clock(app, expiry - timedelta(seconds=1))
    nurse = login("nurse", web_world)
    assert nurse.get(f"/saker/{case_id}").status_code == 200
    assert _post(nurse, case_id, "add_note", {"text": "Siste notat"}).status_code == 303
    _clock(app, expiry)
    assert nurse.get(f"/saker/{case_id}").status_code == 404
    # the stafettholder's page says it expired and who lost access
    holder = login("coordinator", web_world)
    holder.get("/saker/")
    holder.post("/auth/language", {"lang": "en", "next": "/saker/"})
    html = holder.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "A consent has expired." in html
    assert "The consent to share with Helsestasjonen was valid until 12.03.2026." in html
    notice = html[html.index("A consent has expired."):html.index('id="where-title"')]
    assert u["nurse"].display_name in notice
    inbox = holder.get("/saker/").get_data(as_text=True)
    assert "Consent expired after 12.03.2026" in inbox


def test_a_consent_already_expired_is_refused_in_the_form_and_the_api(app, web_world, login,
                                                                      api):
    _clock(app, NOW)
    units = web_world.unit_ids
    case_id = _n1_case(app, web_world)
    past = (TODAY - timedelta(days=1)).isoformat()
    form = {"given_by": "guardians", "services": str(units["health"]), "information": "Helse",
            "given_on": (TODAY - timedelta(days=30)).isoformat(), "expires_on": past}
    holder = login("coordinator", web_world)
    r = _post(holder, case_id, "give_consent", form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Utløpsdatoen er passert" in html
    assert 'id="a-give_consent-expires_on-error"' in html
    client = api("coordinator", web_world)
    r = client.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "give_consent", "expected_version": _case_version(app, case_id),
        "payload": {**form, "services": [units["health"]]}})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"payload": {"expires_on": ["already_expired"]}}
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(Consent)).all() == []


def test_the_refusal_names_what_is_missing_on_the_page_and_in_the_api(app, web_world, login,
                                                                      api):
    _clock(app, NOW)
    u, units = web_world.users, web_world.unit_ids
    case_id = _open(app, web_world)
    _fire(app, u["teacher"], case_id, "inform_home", {"informed_on": TODAY.isoformat()})
    _fire(app, u["leader"], case_id, "appoint_stafettholder",
          {"stafettholder": u["coordinator"].id})
    for trigger in ("start", "assess", "decide"):
        _fire(app, u["coordinator"], case_id, trigger)
    _fire(app, u["coordinator"], case_id, "give_consent", {
        "given_by": "guardians", "services": [units["school"]], "information": "Skule",
        "given_on": TODAY.isoformat()})  # valid, but only for the case's own unit
    holder = login("coordinator", web_world)
    html = holder.get(f"/saker/{case_id}").get_data(as_text=True)
    block = html[html.index('id="next-involve_service"'):]
    block = block[:block.index("</div>")]
    assert "☐" in block
    assert f'class="button" href="/saker/{case_id}/handling/involve_service"' not in block
    assert "Samtykket må gjelde minst én tjeneste utenom Nordvik skule." in block
    assert "Det må foreligge et gyldig samtykke" not in block
    client = api("coordinator", web_world)
    actions = client.get(f"/api/v1/cases/{case_id}/actions").get_json()["actions"]
    [refusal] = next(a for a in actions if a["trigger"] == "involve_service")["refusals"]
    assert (refusal["guard"], refusal["detail"], refusal["params"]) == (
        "consent_valid", "own_unit_only", {"unit": "Nordvik skule"})
    assert refusal["message"] == {
        "nb": "Samtykket må gjelde minst én tjeneste utenom Nordvik skule.",
        "nn": "Samtykket må gjelde minst éi teneste utanom Nordvik skule.",
        "en": "The consent must cover at least one service other than Nordvik skule."}
    r = client.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "involve_service", "expected_version": _case_version(app, case_id),
        "payload": {"reason": "Treng helsestasjonen"}})
    err = r.get_json()["error"]
    assert r.status_code == 422
    assert err["fields"]["trigger"] == ["guard:consent_valid"]
    assert err["message"] == "The consent must cover at least one service other than " \
        "Nordvik skule."


def test_home_contact_under_the_violence_flag_over_http(app, web_world, login, api):
    _clock(app, NOW)
    units = web_world.unit_ids
    case_id = _open(app, web_world, violence=True)
    teacher = login("teacher", web_world)
    html = teacher.get(f"/saker/{case_id}/handling/record_meeting").get_data(as_text=True)
    block = _action(html, "record_meeting")
    assert "Undringssamtale kan ikke registreres nå." in block  # said before sending
    r = _post(teacher, case_id, "record_meeting", {"meeting_kind": "undringssamtale",
                                                    "held_on": TODAY.isoformat()})
    assert r.status_code == 422
    assert "heimen skal ikke informeres" in r.get_data(as_text=True)
    r = _post(teacher, case_id, "give_consent", {
        "given_by": "guardians", "services": str(units["health"]), "information": "Helse",
        "given_on": TODAY.isoformat()})
    assert r.status_code == 303
    page = teacher.get(r.headers["Location"]).get_data(as_text=True)
    assert "Merk: Det er mistanke om vold eller overgrep" in page
    client = api("teacher", web_world)
    case = client.get(f"/api/v1/cases/{case_id}").get_json()
    r = client.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "give_consent", "expected_version": case["version"], "payload": {
            "given_by": "guardians_and_youth", "services": [units["health"]],
            "information": "Helse", "given_on": TODAY.isoformat()}})
    assert r.status_code == 201, r.get_data(as_text=True)
    [warning] = r.get_json()["warnings"]
    assert (warning["code"], warning["guard"]) == ("guard", "no_violence_flag")
    assert warning["message"]["en"].startswith("Violence or abuse is suspected")
    actions = client.get(f"/api/v1/cases/{case_id}/actions").get_json()["actions"]
    meeting = next(a for a in actions if a["trigger"] == "record_meeting")
    assert [(c["field"], c["values"], c["on_fail"]) for c in meeting["cautions"]] == [
        ("meeting_kind", ["undringssamtale"], "refuse")]
