"""The individual plan over HTTP (the web test client, CSRF on): the handover_ip form offers a
coordinator or a coordinating unit, the coordinator accepts through the form, the case page
shows "Individuell plan" and the coordinator, and the ansvarsgruppe page lists members and
meetings with minutes; it answers 404 like a missing case to staff without a relation. All names
are made up."""

from __future__ import annotations

from bti.domain.org import Unit
from tests.factories import make_user
from tests.web.test_consent_web import NOW
from tests.web.test_consent_web import TODAY
from tests.web.test_consent_web import _clock
from tests.web.test_consent_web import _fire
from tests.web.test_consent_web import _n1_case
from tests.web.test_consent_web import _post
from tests.web.test_handover_web import _select_options

DAY = TODAY.isoformat()


def _cycle(app, holder, case_id) -> None:
    m = _fire(app, holder, case_id, "add_measure", {"description": "Samtale",
              "responsible": holder.id, "start_date": DAY, "evaluate_by": DAY})
    for trigger in ("start", "evaluate"):
        _fire(app, holder, case_id, trigger)
    _fire(app, holder, case_id, "record_evaluation", {"measures": [m], "effect": "some",
          "child_voice_method": "conversation", "outcome": "continue", "child_said": "Betre."})
    _fire(app, holder, case_id, "decide")


def n2_decision_case(app, world) -> int:
    """A case at nivå 2's decision, the coordinator its holder, a consent covering the health
    station."""
    u, units = world.users, world.unit_ids
    case_id = _n1_case(app, world)
    _cycle(app, u["coordinator"], case_id)
    _fire(app, u["coordinator"], case_id, "give_consent", {
        "given_by": "guardians", "services": [units["health"]], "information": "Helse",
        "given_on": DAY})
    _fire(app, u["coordinator"], case_id, "escalate", {"reason": "Helsestasjonen må inn."})
    _cycle(app, u["coordinator"], case_id)
    return case_id


def ip_case(app, world) -> int:
    """An IP case: handed over to the health nurse, who accepted and coordinates it."""
    u = world.users
    case_id = n2_decision_case(app, world)
    _fire(app, u["coordinator"], case_id, "handover_ip", {"to_user": u["nurse"].id,
                                                          "reason": "Individuell plan."})
    _fire(app, u["nurse"], case_id, "accept_ip_handover", {"reason": "Eg koordinerer."})
    return case_id


def test_the_handover_ip_form_and_the_acceptance_over_http(app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        koord = Unit(municipality_id=web_world.municipality_id, name="Koordinerande eining",
                     kind="coordinating_unit")
        s.add(koord)
        s.flush()
        koord_id = koord.id
        make_user(s, _municipality(s, web_world), koord, ("employee", "coordinator"),
                  username="koordeining1")
    case_id = n2_decision_case(app, web_world)
    holder = login("coordinator", web_world)
    r = holder.get(f"/saker/{case_id}/handling/handover_ip")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert str(u["nurse"].id) in _select_options(html, "to_user")  # the consent covers her
    assert str(u["coordinator"].id) not in _select_options(html, "to_user")  # the holder
    assert _select_options(html, "coordinating_unit") == {str(koord_id)}
    # neither a person nor the unit: a clear error, nothing written
    r = _post(holder, case_id, "handover_ip", {"reason": "Individuell plan."})
    assert r.status_code == 422
    r = _post(holder, case_id, "handover_ip", {"to_user": str(u["nurse"].id),
                                               "reason": "Individuell plan."})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    nurse = login("nurse", web_world)
    page = nurse.get(f"/saker/{case_id}").get_data(as_text=True)
    assert f"/saker/{case_id}/handling/accept_ip_handover" in page
    r = _post(nurse, case_id, "accept_ip_handover", {"reason": "Eg koordinerer planen."})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    page = nurse.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "Individuell plan" in page
    assert f"/saker/{case_id}/ansvarsgruppe" in page
    assert "Nivå 3" in page


def _municipality(s, world):
    from bti.domain.org import Municipality
    return s.get(Municipality, world.municipality_id)


def test_the_ansvarsgruppe_page_members_meetings_and_minutes(app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    case_id = ip_case(app, web_world)
    nurse = login("nurse", web_world)
    r = _post(nurse, case_id, "add_ansvarsgruppe_member", {
        "member_kind": "guardian", "member_name": "Testmor Nordvik", "member_role": "Mor"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    r = _post(nurse, case_id, "record_ansvarsgruppe_meeting", {
        "held_on": DAY, "place": "Helsestasjonen", "minutes": "Planen er lagd saman med heimen."})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    r = nurse.get(f"/saker/{case_id}/ansvarsgruppe")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Testmor Nordvik" in html
    assert "Planen er lagd saman med heimen." in html
    assert "Helsestasjonen" in html
    assert f"/saker/{case_id}/handling/record_ansvarsgruppe_meeting" in html
    # the minutes are in the stafettlogg too
    assert "Planen er lagd saman med heimen." in nurse.get(f"/saker/{case_id}").get_data(
        as_text=True)
    # the leader of the case's unit reads it, but keeps nothing of it
    leader = login("leader", web_world)
    html = leader.get(f"/saker/{case_id}/ansvarsgruppe").get_data(as_text=True)
    assert "Testmor Nordvik" in html
    assert "/handling/record_ansvarsgruppe_meeting" not in html
    # staff without a relation: like a missing case
    assert login("psychologist", web_world).get(
        f"/saker/{case_id}/ansvarsgruppe").status_code == 404
    assert u["coordinator"]  # the former holder handed the case on
    assert login("coordinator", web_world).get(
        f"/saker/{case_id}/ansvarsgruppe").status_code == 404


def test_the_leaders_overview_of_individual_plans(app, web_world, login):
    _clock(app, NOW)
    case_id = ip_case(app, web_world)
    n2_decision_case(app, web_world)  # a case without an IP
    leader = login("leader", web_world)
    r = leader.get("/leiar/ip")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f"Sak {case_id}" in html
    assert "KN" not in html.split("<main", 1)[1]  # no pseudonym unless asked for
    assert 'data-count="ip"' in html
    # one IP case in the unit: the per unit count is suppressed
    assert "færre enn 5" in html
    named = leader.get("/leiar/ip?namn=1").get_data(as_text=True)
    assert "KN" in named
    assert "/leiar/ip" in leader.get("/leiar/").get_data(as_text=True)
    assert login("nurse", web_world).get("/leiar/ip").status_code == 403
