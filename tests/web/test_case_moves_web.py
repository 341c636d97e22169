"""Moving a case to another unit over HTTP (issue 15, section 4): the form, the holder who leaves
with the sending unit sent to the inbox, the sending unit's staff answered 404 like a missing
case (pages and API), the receiving side seeing the case with its unit history, and the move
through the API's transitions route. The web test client, CSRF on. All names are made up."""

from __future__ import annotations

import re

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import CaseUnitPeriod
from tests.web.test_consent_web import NOW
from tests.web.test_consent_web import TODAY
from tests.web.test_consent_web import _clock
from tests.web.test_consent_web import _n1_case
from tests.web.test_consent_web import _post


def _move(browser, case_id, to_unit, holder_id, **extra):
    return _post(browser, case_id, "move_unit", {
        "to_unit": str(to_unit), "given_by": "guardians", "given_on": TODAY.isoformat(),
        "reason": "Barnet byrjar på skule", "new_stafettholder": str(holder_id), **extra})


def test_the_move_form_moves_the_case_and_the_old_unit_loses_it(app, web_world, login, api):
    _clock(app, NOW)
    u, units = web_world.users, web_world.unit_ids
    case_id = _n1_case(app, web_world)
    holder = login("coordinator", web_world)
    r = holder.get(f"/saker/{case_id}/handling/move_unit")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'name="to_unit"' in html
    assert 'name="new_stafettholder"' in html
    # the new holder must work in the receiving unit: refused, in Norwegian, nothing moved
    r = _move(holder, case_id, units["health"], u["teacher"].id)
    assert r.status_code == 422
    assert "mottakende enheten" in r.get_data(as_text=True) or \
        "mottakande eininga" in r.get_data(as_text=True)
    r = _move(holder, case_id, units["health"], u["nurse"].id)
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/saker/")  # no longer theirs: to the inbox
    with app.extensions["bti"].session_factory() as s:
        case = s.get(Case, case_id)
        assert (case.unit_id, case.stafettholder_id) == (units["health"], u["nurse"].id)
        assert len(s.scalars(select(CaseUnitPeriod)
                             .where(CaseUnitPeriod.case_id == case_id)).all()) == 2
    missing = login("outsider", web_world).get("/saker/99999999")
    for name in ("coordinator", "teacher", "leader"):  # holder, reporter, leader of the school
        b = holder if name == "coordinator" else login(name, web_world)
        r = b.get(f"/saker/{case_id}")
        assert r.status_code == 404
        assert b.get(f"/saker/{case_id}/handling/add_note").status_code == 404
        assert r.get_data(as_text=True).count("<h1") == missing.get_data(as_text=True).count(
            "<h1")
        assert api(name, web_world).get(f"/api/v1/cases/{case_id}").status_code == 404
    nurse = login("nurse", web_world)
    r = nurse.get(f"/saker/{case_id}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    history = page[page.index('id="unit-history"'):]
    history = history[:history.index("</ul>")]
    assert re.findall(r"<li>([^:<]+):", history) == ["Nordvik skule", "Helsestasjonen"]


def test_the_api_moves_the_case_and_a_bad_move_is_a_json_error(app, web_world, api):
    _clock(app, NOW)
    u, units = web_world.users, web_world.unit_ids
    case_id = _n1_case(app, web_world)
    client = api("coordinator", web_world)
    version = client.get(f"/api/v1/cases/{case_id}").get_json()["version"]
    body = {"trigger": "move_unit", "expected_version": version, "payload": {
        "to_unit": units["school"], "given_by": "guardians", "given_on": TODAY.isoformat(),
        "reason": "Barnet byrjar på skule", "new_stafettholder": u["nurse"].id}}
    r = client.post(f"/api/v1/cases/{case_id}/transitions", json=body)
    assert r.status_code == 422
    assert "same_unit" in r.get_data(as_text=True)
    body["payload"]["to_unit"] = units["health"]
    r = client.post(f"/api/v1/cases/{case_id}/transitions", json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["entry"]["kind"] == "move"
    assert client.get(f"/api/v1/cases/{case_id}").status_code == 404
    moved = api("nurse", web_world).get(f"/api/v1/cases/{case_id}").get_json()
    assert (moved["unit_id"], moved["stafettholder_id"]) == (units["health"], u["nurse"].id)
