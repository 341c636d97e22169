"""The organisation through the real app (CSRF on): the admin's unit pages, the municipality's
name, the CSV import page (problems by line, nothing half-imported, one-time passwords shown
once) and the JSON API's units (scopes org:read and org:write). All names are made up."""

from __future__ import annotations

import io
import json
import re

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User

ORG = ("org:read", "org:write")


def _db(app):
    return app.extensions["bti"].session_factory


def _actions(app, action: str) -> list[AuditEvent]:
    with _db(app)() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _foreign_unit(app, web_world) -> int:
    with _db(app)() as s:
        return s.get(User, web_world.users["foreign"].id).unit_id


def test_the_admin_lists_creates_and_changes_units(app, web_world, login):
    b = login("admin", web_world)
    html = b.get("/admin/units").get_data(as_text=True)
    assert "Nordvik skule" in html
    assert "Helsestasjonen" in html
    assert 'href="/admin/units"' in html  # the menu link
    b.get("/admin/units/new")
    r = b.post("/admin/units/new", {"name": "Bakken barnehage", "kind": "kindergarten",
                                    "service": "Oppvekst"})
    assert r.status_code == 302
    unit_id = int(re.search(r"/admin/units/(\d+)$", r.headers["Location"]).group(1))
    page = b.get(f"/admin/units/{unit_id}").get_data(as_text=True)
    assert "Bakken barnehage" in page
    assert "Oppvekst" in page
    r = b.post(f"/admin/units/{unit_id}", {"name": "Bakken barnehage", "kind": "kindergarten",
                                           "service": ""})
    assert r.status_code == 302
    with _db(app)() as s:
        unit = s.get(Unit, unit_id)
        assert (unit.service, unit.municipality_id) == (None, web_world.municipality_id)
    assert len(_actions(app, "unit.created")) == 1
    assert len(_actions(app, "unit.changed")) == 1


def test_a_bad_unit_form_is_422_with_the_error_summary_and_nothing_saved(app, web_world, login):
    b = login("admin", web_world)
    b.get("/admin/units/new")
    r = b.post("/admin/units/new", {"name": "nordvik skule", "kind": "castle"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "error-summary" in html
    assert 'href="#f-name"' in html
    assert 'href="#f-kind"' in html
    assert 'aria-invalid="true"' in html
    with _db(app)() as s:
        assert s.scalar(select(func.count(Unit.id)).where(
            Unit.municipality_id == web_world.municipality_id)) == 3


def test_the_admin_makes_a_unit_serve_another_municipality(app, web_world, login):
    with _db(app).begin() as s:
        other_id = s.get(User, web_world.users["foreign"].id).municipality_id
    b = login("admin", web_world)
    ppt = web_world.unit_ids["ppt"]
    page = b.get(f"/admin/units/{ppt}").get_data(as_text=True)
    assert f'value="{other_id}"' in page
    r = b.post(f"/admin/units/{ppt}", {"name": "PPT", "kind": "ppt", "service": "",
                                       "serves": [str(other_id)]})
    assert r.status_code == 302
    with _db(app)() as s:
        assert s.get(Unit, ppt).served_municipality_ids == {other_id}
    details = json.loads(_actions(app, "unit.changed")[0].details)
    assert details["serves_added"] == [other_id]


def test_deactivating_a_unit_with_open_cases_is_refused_with_a_clear_message(
        app, web_world, login):
    teacher = login("teacher", web_world)
    teacher.get("/saker/ny")
    r = teacher.post("/saker/ny", {"child_pseudonym": "Test B.", "child_birth_year": "2016",
                                   "what_seen": "Barnet er ofte trøytt.",
                                   "violence_suspected": "false"})
    assert r.status_code == 303
    b = login("admin", web_world)
    school = web_world.unit_ids["school"]
    b.get(f"/admin/units/{school}")
    r = b.post(f"/admin/units/{school}/deactivate")
    assert r.status_code == 422
    assert "Enheten har fortsatt åpne saker." in r.get_data(as_text=True)
    with _db(app)() as s:
        assert s.get(Unit, school).active is True
    # a unit without cases is deactivated, then reactivated
    health = web_world.unit_ids["health"]
    assert b.post(f"/admin/units/{health}/deactivate").status_code == 302
    with _db(app)() as s:
        assert s.get(Unit, health).active is False
    assert b.post(f"/admin/units/{health}/reactivate").status_code == 302
    with _db(app)() as s:
        assert s.get(Unit, health).active is True


def test_another_municipalitys_unit_is_404_for_the_admin(app, web_world, login):
    b = login("admin", web_world)
    foreign = _foreign_unit(app, web_world)
    b.get("/admin/units")
    assert b.get(f"/admin/units/{foreign}").status_code == 404
    assert b.post(f"/admin/units/{foreign}", {"name": "Mi", "kind": "school"}).status_code == 404
    assert b.post(f"/admin/units/{foreign}/deactivate").status_code == 404
    with _db(app)() as s:
        assert s.get(Unit, foreign).active is True


def test_the_admin_renames_the_municipality(app, web_world, login):
    b = login("admin", web_world)
    b.get("/admin/municipality")
    assert b.post("/admin/municipality/name", {"name": ""}).status_code == 422
    assert b.post("/admin/municipality/name", {"name": "Nordvik kommune"}).status_code == 302
    with _db(app)() as s:
        assert s.get(Municipality, web_world.municipality_id).name == "Nordvik kommune"
    assert "Nordvik kommune" in b.get("/admin/municipality").get_data(as_text=True)


def _upload(b, data: bytes):
    b.get("/admin/import")
    return b.post("/admin/import", {"file": (io.BytesIO(data), "org.csv")})


def test_the_import_page_shows_every_bad_row_by_line_and_imports_nothing(app, web_world, login):
    b = login("admin", web_world)
    r = _upload(b, b"record;unit;kind;username;name;roles\n"
                   b"unit;Ny skule;school;;;\n"
                   b"user;Ukjend;;laerar1;;boss\n")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Ingenting ble importert" in html  # bokmål, the default
    assert html.count("<tr>") == 5  # the header and one row per problem on line 3
    assert "Ingen enhet i kommunen eller i filen har dette navnet." in html
    with _db(app)() as s:
        assert s.scalar(select(Unit.id).where(Unit.name == "Ny skule")) is None


def test_the_import_page_imports_and_shows_the_one_time_passwords_once(app, web_world, login):
    b = login("admin", web_world)
    r = _upload(b, "record,unit,kind,username,name,roles\n"
                   "unit,Ny skule,school,,,\n"
                   "user,Ny skule,,ny.laerar,Ny Lærar,employee coordinator\n".encode())
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="secret">([^<]+)</code>', r.get_data(as_text=True))
    assert password
    with _db(app)() as s:
        user = s.scalar(select(User).where(User.username == "ny.laerar"))
        assert user.roles == {"employee", "coordinator"}
        assert user.password_change_required
        assert s.get(Unit, user.unit_id).name == "Ny skule"
    assert all(password.group(1) not in (a.details or "") for a in _actions(app, "user.created"))
    # and the new user signs in with it, and must choose their own first
    from tests.web.conftest import Browser

    nb = Browser(app.test_client())
    assert nb.login("ny.laerar", password.group(1)).status_code == 302
    r = nb.client.get("/saker/")
    assert r.status_code == 302
    assert "/auth/password" in r.headers["Location"]


def test_an_empty_upload_is_422(app, web_world, login):
    b = login("admin", web_world)
    b.get("/admin/import")
    r = b.post("/admin/import", {})
    assert r.status_code == 422
    assert "Velg en fil." in r.get_data(as_text=True)


# --- the JSON API ------------------------------------------------------------------------------


def test_the_api_lists_creates_and_changes_units(app, web_world, api):
    c = api("admin", web_world, ORG)
    r = c.get("/api/v1/units")
    assert r.status_code == 200
    assert {u["name"] for u in r.get_json()["items"]} == {"Nordvik skule", "Helsestasjonen",
                                                          "PPT"}
    r = c.post("/api/v1/units", json={"name": "Bakken barnehage", "kind": "kindergarten"})
    assert r.status_code == 201, r.get_json()
    unit = r.get_json()
    assert r.headers["Location"].endswith(f"/api/v1/units/{unit['id']}")
    municipalities = c.get("/api/v1/municipalities").get_json()["items"]
    assert municipalities[0]["id"] == web_world.municipality_id
    other = municipalities[1]["id"]
    r = c.client.patch(f"/api/v1/units/{unit['id']}", json={"service": "Oppvekst",
                                                            "serves": [other]},
                       headers=c.headers())
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["service"] == "Oppvekst"
    assert [m["id"] for m in r.get_json()["serves"]] == [other]
    r = c.client.patch(f"/api/v1/units/{unit['id']}", json={"active": False},
                       headers=c.headers())
    assert r.status_code == 200
    assert r.get_json()["active"] is False
    rows = _actions(app, "unit.deactivated")
    assert len(rows) == 1
    assert json.loads(rows[0].details)["channel"] == "api"


def test_the_api_refuses_bad_input_other_municipalities_and_non_admins(app, web_world, api):
    c = api("admin", web_world, ORG)
    r = c.post("/api/v1/units", json={"name": "Nordvik skule", "kind": "school"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"name": ["taken"]}
    r = c.post("/api/v1/units", json={"name": "X", "kind": "castle", "colour": "red"})
    assert r.status_code == 422
    assert set(r.get_json()["error"]["fields"]) == {"kind", "colour"}
    foreign = _foreign_unit(app, web_world)
    assert c.get(f"/api/v1/units/{foreign}").status_code == 404
    r = c.client.patch(f"/api/v1/units/{foreign}", json={"name": "Mi"}, headers=c.headers())
    assert r.status_code == 404
    assert api("leader", web_world, ORG).get("/api/v1/units").status_code == 403
    assert api("admin", web_world, ("cases:read",)).get("/api/v1/units").status_code == 403


def test_the_api_refuses_to_deactivate_a_unit_with_open_cases(app, web_world, api):
    teacher = api("teacher", web_world)
    r = teacher.post("/api/v1/cases", json={
        "child_pseudonym": "Test B.", "child_birth_year": 2016,
        "concern": {"what_seen": "Barnet er ofte trøytt.", "violence_suspected": False}})
    assert r.status_code == 201, r.get_json()
    c = api("admin", web_world, ORG)
    r = c.client.patch(f"/api/v1/units/{web_world.unit_ids['school']}", json={"active": False},
                       headers=c.headers())
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"unit": ["open_cases"]}
    assert r.get_json()["error"]["message"] == "open cases: 1"
