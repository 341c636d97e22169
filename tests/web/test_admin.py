"""User administration through the real app (CSRF on): role policy, municipality isolation,
the one-time password, and deactivation ending a copied session cookie (SESS-02)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.org import User
from tests.web.conftest import Browser

ADMIN_PAGES = ["/admin/", "/admin/users/new", "/admin/users/{id}"]
ADMIN_POSTS = ["/admin/users/{id}/roles", "/admin/users/{id}/deactivate",
               "/admin/users/{id}/reactivate", "/admin/users/{id}/mfa-reset"]


def _db(app):
    return app.extensions["bti"].session_factory


def _actions(app) -> list[str]:
    with _db(app)() as s:
        return [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_admin_lists_the_users_of_the_municipality(app, web_world, login):
    b = login("admin", web_world)
    r = b.get("/admin/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "laerar1" in html
    assert "rektor1" in html
    assert "framand1" not in html  # another municipality's user
    assert "<caption>" in html
    assert 'scope="col"' in html
    assert "style=" not in html
    assert "<script>" not in html
    assert "user.listed" in _actions(app)


def test_menu_links_to_user_administration(app, web_world, login):
    b = login("admin", web_world)
    html = b.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/"' in html


@pytest.mark.parametrize("who", ["teacher", "leader", "privacy"])
def test_non_admins_get_403(app, web_world, login, who):
    b = login(who, web_world)
    target = web_world.users["nurse"].id
    for url in ADMIN_PAGES:
        assert b.get(url.format(id=target)).status_code == 403, url
    for url in ADMIN_POSTS:
        assert b.post(url.format(id=target), {"roles": "admin"}).status_code == 403, url
    with _db(app)() as s:
        assert s.get(User, target).active is True


def test_create_user_shows_the_password_once_and_it_works(app, web_world, login):
    b = login("admin", web_world)
    assert b.get("/admin/users/new").status_code == 200
    r = b.post("/admin/users/new", {"username": "ny.tilsett", "display_name": "Ny Tilsett",
                                    "unit_id": str(web_world.unit_ids["school"]),
                                    "roles": ["employee", "coordinator"]})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    password = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    assert r.headers["Cache-Control"] == "no-store"
    with _db(app)() as s:
        user = s.scalar(select(User).where(User.username == "ny.tilsett"))
        assert user.roles == {"employee", "coordinator"}
        assert user.unit_id == web_world.unit_ids["school"]
        assert user.municipality_id == web_world.municipality_id
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "user.created")))
    assert len(rows) == 1
    assert password not in rows[0].details
    # the detail page never shows the password again
    assert password not in b.get(f"/admin/users/{user.id}").get_data(as_text=True)
    fresh = Browser(app.test_client())
    assert fresh.login("ny.tilsett", password).status_code == 302
    # the admin has seen the password: the new user must choose their own before anything else
    for url in ("/saker/", "/saker/ny", "/tilgang/sak/1/naud"):
        r = fresh.get(url)
        assert r.status_code == 302, url
        assert r.headers["Location"].endswith("/auth/password"), url
    page = fresh.get("/auth/password").get_data(as_text=True)
    assert "Velg ditt eget passord før du fortsetter" in page
    r = fresh.post("/auth/password", {"current_password": password,
                                      "new_password": "min eigen lange passordfrase"})
    assert r.status_code == 302
    assert fresh.login("ny.tilsett", "min eigen lange passordfrase").status_code == 302
    assert fresh.get("/saker/").status_code == 200
    assert "Velg ditt eget passord" not in fresh.get("/auth/password").get_data(as_text=True)


def test_create_user_form_errors_are_shown_and_nothing_is_stored(app, web_world, login):
    b = login("admin", web_world)
    b.get("/admin/")
    b.post("/auth/language", {"lang": "en"})  # the assertions read the English texts
    b.get("/admin/users/new")
    r = b.post("/admin/users/new", {"username": "laerar1", "display_name": "",
                                    "unit_id": "abc"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "That user name is taken" in html
    assert 'aria-invalid="true"' in html
    assert "<fieldset" in html
    assert "<legend>" in html


def test_create_user_without_csrf_token_is_refused(app, web_world, login):
    b = login("admin", web_world)
    r = b.post("/admin/users/new", {"username": "ny2", "display_name": "Ny",
                                    "roles": "employee"}, csrf=False)
    assert r.status_code == 400
    with _db(app)() as s:
        assert s.scalar(select(User).where(User.username == "ny2")) is None


def test_deactivation_kills_a_copied_session_cookie(app, web_world, login):
    teacher = login("teacher", web_world)
    assert teacher.client.get("/saker/").status_code == 200
    copied = teacher.client.get_cookie("bti_session").value
    b = login("admin", web_world)
    b.get(f"/admin/users/{web_world.users['teacher'].id}")
    r = b.post(f"/admin/users/{web_world.users['teacher'].id}/deactivate")
    assert r.status_code == 302
    # the teacher's own browser, and a copy of its cookie elsewhere, are both signed out
    r = teacher.client.get("/saker/")
    assert r.status_code == 302
    assert "/auth/login" in r.headers["Location"]
    replay = app.test_client()
    replay.set_cookie("bti_session", copied)
    r = replay.get("/saker/")
    assert r.status_code == 302
    assert "/auth/login" in r.headers["Location"]
    # and the password no longer signs in
    assert Browser(app.test_client()).login("laerar1").status_code == 200
    assert "user.deactivated" in _actions(app)
    # reactivation lets the user back in
    assert b.post(f"/admin/users/{web_world.users['teacher'].id}/reactivate").status_code == 302
    assert Browser(app.test_client()).login("laerar1").status_code == 302
    assert "user.reactivated" in _actions(app)


def test_admin_cannot_deactivate_themselves(app, web_world, login):
    b = login("admin", web_world)
    b.get("/admin/")
    b.post("/auth/language", {"lang": "en"})
    own = web_world.users["admin"].id
    html = b.get(f"/admin/users/{own}").get_data(as_text=True)
    assert "/deactivate" not in html  # no button for it
    r = b.post(f"/admin/users/{own}/deactivate")
    assert r.status_code == 422
    assert "your own account" in r.get_data(as_text=True)
    assert b.get("/admin/").status_code == 200


def test_change_roles_and_reset_mfa(app, web_world, login):
    b = login("admin", web_world)
    nurse = web_world.users["nurse"].id
    with _db(app).begin() as s:
        s.get(User, nurse).totp_secret = "JBSWY3DPEHPK3PXP"
    b.get(f"/admin/users/{nurse}")
    r = b.post(f"/admin/users/{nurse}/roles", {"roles": ["employee", "leader"]})
    assert r.status_code == 302
    r = b.post(f"/admin/users/{nurse}/mfa-reset")
    assert r.status_code == 302
    with _db(app)() as s:
        user = s.get(User, nurse)
        assert user.roles == {"employee", "leader"}
        assert user.totp_secret is None
    r = b.post(f"/admin/users/{nurse}/roles", {})
    assert r.status_code == 422
    actions = _actions(app)
    assert "user.roles_changed" in actions
    assert "user.mfa_reset" in actions


def test_admin_of_one_municipality_gets_404_for_another(app, web_world, login):
    b = login("admin", web_world)
    foreign = web_world.users["foreign"].id
    assert b.get(f"/admin/users/{foreign}").status_code == 404
    assert b.get("/admin/users/999999").status_code == 404
    b.get("/admin/")
    for url in ADMIN_POSTS:
        assert b.post(url.format(id=foreign), {"roles": "admin"}).status_code == 404, url
    with _db(app)() as s:
        user = s.get(User, foreign)
        assert user.active
        assert user.roles == {"employee", "leader"}


# --- the municipality's child welfare contacts ----------------------------------------------


def _contacts(app, municipality_id):
    from bti.domain.org import Municipality

    with _db(app)() as s:
        m = s.get(Municipality, municipality_id)
        return m.barnevern_phone, m.barnevern_email, m.barnevernvakt_phone


def test_the_admin_keeps_child_welfares_contacts_and_staff_see_them(app, web_world, login):
    b = login("admin", web_world)
    page = b.get("/admin/municipality").get_data(as_text=True)
    assert 'href="/admin/municipality"' in page  # in the menu
    assert 'id="f-barnevern_phone"' in page
    assert 'inputmode="tel"' in page
    r = b.post("/admin/municipality", {"barnevern_phone": " +47 00 00 00 11 ",
                                       "barnevern_email": "barnevern@bti-test.invalid",
                                       "barnevernvakt_phone": "(00) 00-00-12"})
    assert r.status_code == 302
    assert _contacts(app, web_world.municipality_id) == (
        "+47 00 00 00 11", "barnevern@bti-test.invalid", "(00) 00-00-12")
    assert "Kontaktopplysningene er lagret" in b.get("/admin/municipality").get_data(as_text=True)
    with _db(app)() as s:
        row = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "municipality.settings_changed")).one()
        assert row.municipality_id == web_world.municipality_id
        assert "+47 00 00 00 11" in row.details
        assert '"via":"web"' in row.details.replace(" ", "")
    teacher = login("teacher", web_world)
    teacher.get("/saker/ny")
    r = teacher.post("/saker/ny", {"child_pseudonym": "QZ", "child_birth_year": "2016",
                                   "what_seen": "Barnet sovnar i timane",
                                   "violence_suspected": "true"})
    urgent = teacher.get(r.headers["Location"]).get_data(as_text=True)
    assert 'href="tel:+4700000011">+47 00 00 00 11</a>' in urgent
    # an empty field clears it; nothing else changes
    assert b.post("/admin/municipality", {"barnevern_phone": "+47 00 00 00 11",
                                          "barnevern_email": "barnevern@bti-test.invalid",
                                          "barnevernvakt_phone": ""}).status_code == 302
    assert _contacts(app, web_world.municipality_id)[2] is None


def test_bad_contacts_are_refused_field_by_field_and_nothing_is_saved(app, web_world, login):
    b = login("admin", web_world)
    before = _contacts(app, web_world.municipality_id)
    b.get("/admin/municipality")
    r = b.post("/admin/municipality", {"barnevern_phone": "ring meg",
                                       "barnevern_email": "barnevern.bti-test.invalid",
                                       "barnevernvakt_phone": "1" * 41})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'class="error-summary"' in html
    for target in ("#f-barnevern_phone", "#f-barnevern_email", "#f-barnevernvakt_phone"):
        assert f'href="{target}"' in html
    assert "Skriv et telefonnummer" in html
    assert "Skriv en e-postadresse" in html
    assert 'value="ring meg"' in html  # what was typed is kept
    assert _contacts(app, web_world.municipality_id) == before
    assert "municipality.settings_changed" not in _actions(app)


def test_the_contacts_of_another_municipality_are_untouched(app, web_world, login):
    foreign = web_world.users["foreign"].municipality_id
    before = _contacts(app, foreign)
    b = login("admin", web_world)
    b.get("/admin/municipality")
    assert b.post("/admin/municipality", {"barnevern_phone": "00 00 00 13",
                                          "barnevern_email": "",
                                          "barnevernvakt_phone": ""}).status_code == 302
    assert _contacts(app, web_world.municipality_id)[0] == "00 00 00 13"
    assert _contacts(app, foreign) == before


def test_admin_sets_a_users_notification_email(app, web_world, login):
    target = web_world.users["teacher"].id
    with _db(app).begin() as s:
        s.get(User, web_world.users["admin"].id).locale = "nb"
    b = login("admin", web_world)
    html = b.get(f"/admin/users/{target}").get_data(as_text=True)
    assert "E-post for varsler" in html
    r = b.post(f"/admin/users/{target}/email", data={"email": "ikkje@"})
    assert r.status_code == 422
    assert "Skriv en e-postadresse" in r.get_data(as_text=True)
    r = b.post(f"/admin/users/{target}/email", data={"email": "kari@kommune.example"})
    assert r.status_code == 302
    with _db(app)() as s:
        assert s.get(User, target).email == "kari@kommune.example"
        row = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.email_changed")).one()
    assert row.object_id == target
    assert "kari@" not in (row.details or "")  # the address is not in the log
    assert b.post(f"/admin/users/{target}/email", data={"email": ""}).status_code == 302
    with _db(app)() as s:
        assert s.get(User, target).email is None
