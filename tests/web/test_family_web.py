"""The family's pages against a real OpenID provider (tests/oidc/provider.mjs, the certified
``oidc-provider`` package), configured as the municipality's family provider (ID-porten): the
``pid`` claim names the person, only its HMAC is stored, the municipality's ``acr`` is required.
A guardian signs in, redeems the invitation code the stafettholder made, reads the case; the
two kinds of session never cross (404 both ways). All names are made up; the identity number is
a synthetic Tenor number (month + 80)."""

from __future__ import annotations

import json
import re

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select

from bti.config import OidcProvider
from bti.domain.family import FamilyMember
from bti.domain.family import FamilySession
from bti.domain.log import AuditEvent
from bti.domain.org import ExternalIdentity
from bti.services.accounts.oidc import subject_hmac
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.web import create_app
from tests.dbs import app_database
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser
from tests.web.conftest import make_settings
from tests.web.test_oidc import CLIENT_ID
from tests.web.test_oidc import CLIENT_SECRET
from tests.web.test_oidc import KEY
from tests.web.test_oidc import SLUG
from tests.web.test_oidc import Provider
from tests.web.test_oidc import authorize

PID = "24818299835"  # synthetic (Tenor: month 08 + 80)
GUARDIAN = f"family-{PID}"
OTHER_GUARDIAN = "family-15897499312"
START = f"/familie/{SLUG}/logg-inn"


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.stop()


@pytest.fixture
def app(provider, password_hash):
    common = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "acr_values": ("substantial", "high")}
    settings = make_settings(
        oidc_providers=(
            OidcProvider(municipality=SLUG, name="Testpålogging", **common),
            OidcProvider(municipality=SLUG, name="ID-porten (test)", family=True,
                         subject_claim="pid", scope="openid profile", **common)),
        identity_hmac_key=KEY)
    with app_database() as url:
        app = create_app(settings.__class__(**{**settings.__dict__, "database_url": url}))
        ext = app.extensions["bti"]
        with ext.session_factory.begin() as s:
            m = make_municipality(s, slug=SLUG, mfa_required=False)
            unit = make_unit(s, m)
            teacher = make_user(s, m, unit, ("employee",), username="laerar",
                                password_hash=password_hash)
            holder = make_user(s, m, unit, ("employee", "coordinator"), username="koord",
                               password_hash=password_hash)
            ext.workflows.sync(s)
            s.flush()
            ctx = Ctx(session=s, actor=teacher, workflows=ext.workflows, now=ext.clock)
            case = cases.open_case(ctx, unit_id=None, child_pseudonym="Fam Wq",
                                   child_birth_year=2017,
                                   concern={"what_seen": "Trøytt i timane."}).case
            other = cases.open_case(ctx, unit_id=None, child_pseudonym="Fam Zr",
                                    child_birth_year=2016,
                                    concern={"what_seen": "Lei seg."}).case
            for c in (case, other):
                c.stafettholder_id = holder.id
            app.config["case_id"], app.config["other_id"] = case.id, other.id
        yield app
        ext.engine.dispose()


def staff(app, username="koord") -> Browser:
    b = Browser(app.test_client())
    assert b.login(username, PASSWORD).status_code == 302
    return b


def invite(app, case_id: int, role: str = "guardian") -> str:
    b = staff(app)
    b.get(f"/saker/{case_id}/familie")
    r = b.post(f"/saker/{case_id}/familie/invitasjon", {"role": role})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    html = r.get_data(as_text=True)
    assert "<svg" in html  # the QR code, inline
    assert r.headers["Cache-Control"] == "no-store"
    return re.search(r'class="invitation-code"[^>]*>([0-9A-Z-]{19})<', html).group(1)


def family_sign_in(b: Browser, login: str = GUARDIAN, acr: str = "high") -> requests.Response:
    path = authorize(b, requests.Session(), login=login, acr=acr, start=START, page="/familie/")
    r = b.get(path)
    if r.status_code == 302:
        b.get("/familie/saker")  # a page of the new session (its CSRF token)
    return r


def test_a_guardian_signs_in_redeems_a_code_and_reads_the_case(app, provider):
    code = invite(app, app.config["case_id"])
    b = Browser(app.test_client())
    r = family_sign_in(b)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/familie/saker")
    assert "ikke knyttet til noen sak" in b.get("/familie/saker").get_data(as_text=True)
    r = b.post("/familie/kode", {"code": code.lower()})
    assert r.status_code == 302
    page = b.get(r.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Hvem har sett saken" in html
    # the guardian's list now has the case, and the export downloads
    assert f"/familie/saker/{app.config['case_id']}" in b.get("/familie/saker").get_data(
        as_text=True)
    export = b.get(f"/familie/saker/{app.config['case_id']}/innsyn.json")
    assert export.status_code == 200
    assert json.loads(export.get_data())["case_id"] == app.config["case_id"]
    with app.extensions["bti"].session_factory() as s:
        identity = s.scalars(select(ExternalIdentity)).one()
        assert identity.user_id is None
        assert identity.subject_hmac == subject_hmac(KEY, provider.issuer, PID)
        assert s.scalars(select(FamilyMember)).one().identity_id == identity.id
        details = [e.details for e in s.scalars(select(AuditEvent))]
        assert not any(PID in d for d in details)
        family_rows = [e.action for e in s.scalars(select(AuditEvent))
                       if json.loads(e.details).get("channel") == "family"]
        for action in ("family.signed_in", "family.joined", "family.case_viewed",
                       "case.exported"):
            assert action in family_rows
    # the same code does not work twice, not even for the same person
    assert b.post("/familie/kode", {"code": code}).status_code == 422


def test_the_sessions_never_cross(app):
    case_id = app.config["case_id"]
    code = invite(app, case_id)
    fam = Browser(app.test_client())
    family_sign_in(fam)
    fam.post("/familie/kode", {"code": code})
    for path in ("/saker/", f"/saker/{case_id}", f"/saker/{case_id}/familie", "/varsel/"):
        assert fam.get(path).status_code == 404, path
    worker = staff(app)
    for path in ("/familie/saker", f"/familie/saker/{case_id}",
                 f"/familie/saker/{case_id}/innsyn.json"):
        assert worker.get(path).status_code == 404, path
    assert worker.post("/familie/kode", {"code": code}).status_code == 404


def test_other_guardians_and_other_children_are_missing(app):
    case_id, other_id = app.config["case_id"], app.config["other_id"]
    code = invite(app, case_id)
    other_code = invite(app, other_id)
    first = Browser(app.test_client())
    family_sign_in(first)
    first.post("/familie/kode", {"code": code})
    second = Browser(app.test_client())
    family_sign_in(second, OTHER_GUARDIAN)
    second.post("/familie/kode", {"code": other_code})
    assert second.get(f"/familie/saker/{case_id}").status_code == 404  # guardian of another
    assert second.get(f"/familie/saker/{case_id}/innsyn.json").status_code == 404
    assert first.get(f"/familie/saker/{other_id}").status_code == 404
    assert first.get("/familie/saker/999999").status_code == 404
    assert first.get(f"/familie/saker/{case_id}").status_code == 200


def test_ending_access_and_the_violence_flag_answer_as_missing(app):
    case_id = app.config["case_id"]
    code = invite(app, case_id)
    fam = Browser(app.test_client())
    family_sign_in(fam)
    fam.post("/familie/kode", {"code": code})
    assert fam.get(f"/familie/saker/{case_id}").status_code == 200
    with app.extensions["bti"].session_factory() as s:
        member_id = s.scalars(select(FamilyMember.id)).one()
    holder = staff(app)
    holder.get(f"/saker/{case_id}/familie")
    r = holder.post(f"/saker/{case_id}/familie/{member_id}/avslutt", {"note": ""})
    assert r.status_code == 422
    r = holder.post(f"/saker/{case_id}/familie/{member_id}/avslutt",
                    {"note": "Foreldra bad om det."})
    assert r.status_code == 302
    page = holder.get(f"/saker/{case_id}/familie").get_data(as_text=True)
    assert "Foreldra bad om det." in page
    assert fam.get(f"/familie/saker/{case_id}").status_code == 404
    # an invitation to a flagged case: the guardian's code no longer works
    code = invite(app, case_id)
    with app.extensions["bti"].session_factory.begin() as s:
        from bti.domain.cases import Case

        s.get(Case, case_id).violence_flag = True
    r = fam.post("/familie/kode", {"code": code})
    assert r.status_code == 422
    assert fam.get(f"/familie/saker/{case_id}").status_code == 404


def test_wrong_codes_are_throttled(app):
    b = Browser(app.test_client())
    family_sign_in(b)
    statuses = [b.post("/familie/kode", {"code": "AAAA-BBBB-CCCC-DDDD"}).status_code
                for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "family.code_failed")) == 5


def test_too_low_an_acr_signs_no_family_member_in(app):
    b = Browser(app.test_client())
    r = family_sign_in(b, acr="low")
    assert r.status_code == 403
    assert b.get("/familie/saker").status_code == 302
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(FamilySession)) == 0
        assert s.scalar(select(func.count()).select_from(ExternalIdentity)) == 0


def test_a_family_provider_that_is_down(app, provider):
    provider.stop()
    b = Browser(app.test_client())
    b.get("/familie/")
    r = b.post(START)
    assert r.status_code == 503
    assert "svarer ikke" in r.get_data(as_text=True)
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(FamilySession)) == 0


def test_sign_out_ends_the_family_session_and_the_providers(app, provider):
    b = Browser(app.test_client())
    family_sign_in(b)
    b.get("/familie/saker")
    r = b.post("/familie/logg-ut")
    assert r.status_code == 302
    assert r.headers["Location"].startswith(f"{provider.issuer}/session/end")
    assert f"familie%2F{SLUG}%2Futlogget" in r.headers["Location"]
    with app.extensions["bti"].session_factory() as s:
        row = s.scalars(select(FamilySession)).one()
        assert row.end_reason == "logout"
    assert b.get("/familie/saker").status_code == 302


def test_the_family_pages_are_valid_html(app, tmp_path):
    from tests.web.test_html_validity import _vnu
    from tests.web.test_html_validity import check

    case_id = app.config["case_id"]
    holder = staff(app)
    pages = {"family access (staff)": holder.get(f"/saker/{case_id}/familie").get_data(
        as_text=True)}
    r = holder.post(f"/saker/{case_id}/familie/invitasjon", {"role": "guardian"})
    pages["invitation (staff)"] = r.get_data(as_text=True)
    code = re.search(r'class="invitation-code"[^>]*>([0-9A-Z-]{19})<', pages[
        "invitation (staff)"]).group(1)
    b = Browser(app.test_client())
    pages["family sign-in"] = b.get("/familie/").get_data(as_text=True)
    family_sign_in(b)
    pages["family cases, wrong code"] = b.post(
        "/familie/kode", {"code": "nope"}).get_data(as_text=True)
    b.post("/familie/kode", {"code": code})
    pages["family case"] = b.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    b.post("/auth/language", {"lang": "nn", "next": "/familie/saker"})
    pages["family case (nn)"] = b.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    errors = check(_vnu(), pages, tmp_path)
    assert errors == [], "\n".join(errors)
