"""Safe handovers and the debrief over HTTP (the web test client, CSRF on): the propose form's
pick list and what it tells the holder, staying on as a participant, the waiting handover on the
case page with its withdraw link, withdraw and decline through the forms and who is told, a
report to barnevernet and the leader's debrief. All names are made up."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Handover
from bti.domain.cases import Notification
from bti.domain.notifications import NotificationDelivery
from tests.web.test_consent_web import NOW
from tests.web.test_consent_web import TODAY
from tests.web.test_consent_web import _clock
from tests.web.test_consent_web import _n1_case
from tests.web.test_consent_web import _open
from tests.web.test_consent_web import _post


def _notices(app, kind: str) -> list[tuple[int, dict]]:
    with app.extensions["bti"].session_factory() as s:
        return [(n.user_id, json.loads(n.details)) for n in s.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id))]


def _handover(app, case_id) -> Handover:
    with app.extensions["bti"].session_factory() as s:
        h = s.scalars(select(Handover).where(Handover.case_id == case_id)
                      .order_by(Handover.id.desc())).first()
        s.expunge(h)
        return h


def _select_options(html: str, name: str) -> set[str]:
    start = html.index(f'name="{name}"')
    end = html.index("</select>", start)
    return set(re.findall(r'<option value="(\d+)"', html[start:end]))


def test_the_propose_form_offers_only_who_could_accept_and_tells_the_holder(
        app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    case_id = _n1_case(app, web_world)
    holder = login("coordinator", web_world)
    r = holder.get(f"/saker/{case_id}/handling/propose_handover")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    offered = _select_options(html, "to_user")
    assert str(u["teacher"].id) in offered
    assert str(u["leader"].id) in offered
    assert str(u["coordinator"].id) not in offered  # the holder
    assert str(u["nurse"].id) not in offered  # no consent covers Helsestasjonen
    assert 'id="holder-access"' in html
    assert 'name="holder_stays"' in html  # the school is the case's own unit
    # the holder named anyway: refused with a clear message, nothing written
    r = _post(holder, case_id, "propose_handover", {"to_user": str(u["coordinator"].id),
                                                    "reason": "Prøver meg sjølv"})
    assert r.status_code == 422
    assert "allerede stafettholder" in r.get_data(as_text=True)
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(Handover).where(Handover.case_id == case_id)).first() is None


def test_stay_on_withdraw_and_the_waiting_handover_over_http(app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    case_id = _n1_case(app, web_world)
    holder = login("coordinator", web_world)
    r = _post(holder, case_id, "propose_handover", {
        "to_user": str(u["teacher"].id), "reason": "Læraren kjenner barnet best",
        "holder_stays": "true"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    h = _handover(app, case_id)
    assert h.holder_stays
    assert h.proposed_by_id == u["coordinator"].id
    assert _notices(app, "handover_proposed") == [(u["teacher"].id, {"handover_id": h.id})]
    page = holder.get(f"/saker/{case_id}").get_data(as_text=True)
    pending = page[page.index('id="pending-handover"'):]
    pending = pending[:pending.index("</p>")]
    assert "venter siden" in pending
    assert TODAY.strftime("%d.%m.%Y") in pending
    assert f"/saker/{case_id}/handling/withdraw_handover" in pending
    # the leader sees it waiting, without the withdraw link (not theirs)
    leader = login("leader", web_world)
    page = leader.get(f"/saker/{case_id}").get_data(as_text=True)
    pending = page[page.index('id="pending-handover"'):]
    assert "withdraw_handover" not in pending[:pending.index("</p>")]
    r = _post(leader, case_id, "withdraw_handover", {})
    assert r.status_code in (403, 422)
    assert _handover(app, case_id).status == "proposed"
    # the proposer withdraws through the form: the teacher is told
    assert holder.get(f"/saker/{case_id}/handling/withdraw_handover").status_code == 200
    r = _post(holder, case_id, "withdraw_handover", {})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    assert _handover(app, case_id).status == "withdrawn"
    assert _notices(app, "handover_withdrawn") == [(u["teacher"].id, {"handover_id": h.id})]
    assert 'id="pending-handover"' not in holder.get(f"/saker/{case_id}").get_data(as_text=True)
    # proposed again, with the holder staying on; accepted: the former holder takes part
    r = _post(holder, case_id, "propose_handover", {
        "to_user": str(u["teacher"].id), "reason": "Læraren kjenner barnet best",
        "holder_stays": "true"})
    assert r.status_code == 303
    teacher = login("teacher", web_world)
    r = _post(teacher, case_id, "accept_handover", {})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    assert holder.get(f"/saker/{case_id}").status_code == 200  # still on the case
    accepted = _notices(app, "handover_accepted")
    assert [who for who, _ in accepted] == [u["coordinator"].id]


def test_decline_over_http_tells_the_proposer_without_the_reason(app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    case_id = _n1_case(app, web_world)
    holder = login("coordinator", web_world)
    assert _post(holder, case_id, "propose_handover", {
        "to_user": str(u["leader"].id), "reason": "Rektor tek over"}).status_code == 303
    leader = login("leader", web_world)
    reason = "Rektor er i permisjon resten av semesteret (testtekst)"
    r = _post(leader, case_id, "decline_handover", {"reason": reason})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    h = _handover(app, case_id)
    assert h.status == "declined"
    assert _notices(app, "handover_declined") == [(u["coordinator"].id, {"handover_id": h.id})]
    with app.extensions["bti"].session_factory() as s:
        rows = [n.details for n in s.scalars(select(Notification))]
        rows += [repr([getattr(d, c.key) for c in NotificationDelivery.__mapper__.columns])
                 for d in s.scalars(select(NotificationDelivery))]
    assert rows
    assert not any("permisjon" in row for row in rows)
    # the reason is in the case, for the proposer to read
    assert "permisjon" in holder.get(f"/saker/{case_id}").get_data(as_text=True)


def test_a_report_reaches_the_leader_who_records_the_debrief(app, web_world, login):
    _clock(app, NOW)
    u = web_world.users
    case_id = _open(app, web_world)
    teacher = login("teacher", web_world)
    r = _post(teacher, case_id, "report_barnevernet", {"sent_on": TODAY.isoformat()})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    [(who, details)] = _notices(app, "barnevern_reported")
    assert who == u["leader"].id
    assert set(details) == {"report_id", "user_id"}
    link = f"/saker/{case_id}/handling/record_debrief"
    assert link not in teacher.get(f"/saker/{case_id}").get_data(as_text=True)
    leader = login("leader", web_world)
    assert link in leader.get(f"/saker/{case_id}").get_data(as_text=True)
    form = leader.get(link)
    assert form.status_code == 200
    assert "debrief" in form.get_data(as_text=True)
    r = _post(leader, case_id, "record_debrief", {})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    with app.extensions["bti"].session_factory() as s:
        report = s.scalars(select(BarnevernReport).where(
            BarnevernReport.case_id == case_id)).one()
        assert report.debrief_recorded_by_id == u["leader"].id
    assert link not in leader.get(f"/saker/{case_id}").get_data(as_text=True)


def test_withdraw_and_debrief_through_the_api(app, web_world, api):
    from tests.web.test_api import Journey

    _clock(app, NOW)
    u = web_world.users
    case_id = _n1_case(app, web_world)
    j = Journey(case_id, web_world)
    coordinator, leader = api("coordinator", web_world), api("leader", web_world)
    j.act(coordinator, "propose_handover", {"to_user": u["teacher"].id,
                                            "reason": "Læraren tek over saka."})
    actions = leader.get(f"/api/v1/cases/{case_id}/actions").get_json()
    withdraw = next(a for a in actions["actions"] if a["trigger"] == "withdraw_handover")
    assert not withdraw["allowed"]
    assert [r["guard"] for r in withdraw["refusals"]] == ["may_withdraw_handover"]
    r = leader.post(f"/api/v1/cases/{case_id}/transitions", {
        "trigger": "withdraw_handover", "payload": {}, "expected_version": actions["version"]})
    assert r.status_code == 422
    done = j.act(coordinator, "withdraw_handover")
    assert done["entry"]["kind"] == "handover"
    assert _handover(app, case_id).status == "withdrawn"
    j.act(coordinator, "report_barnevernet", {"sent_on": TODAY.isoformat()})
    done = j.act(leader, "record_debrief")
    assert done["entry"]["object_type"] == "barnevern_report"
