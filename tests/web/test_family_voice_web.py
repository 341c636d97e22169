"""The family's voice on the web, against the real OpenID provider of tests/web/test_family_web.py:
entries the stafettholder shared (and only those) on the family's page, a comment from the family
that the stafettholder sees as a task and marks answered, and a guardian's concern that reaches
the unit's leader, who opens a case from it. Sessions never cross (404). All names are made up;
the identity number in a text is a synthetic Tenor number."""

from __future__ import annotations

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.family import FamilyMember
from bti.domain.family_voice import FamilyConcern
from bti.domain.family_voice import FamilyMessage
from bti.domain.org import Unit
from tests.factories import make_user
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser
from tests.web.test_family_web import OTHER_GUARDIAN
from tests.web.test_family_web import app  # noqa: F401 - a fixture
from tests.web.test_family_web import family_sign_in
from tests.web.test_family_web import invite
from tests.web.test_family_web import provider  # noqa: F401 - a fixture
from tests.web.test_family_web import staff

FNR = "01819010001"  # synthetic (month + 80, Tenor): belongs to nobody


def _joined(app, case_id: int) -> Browser:  # noqa: F811
    code = invite(app, case_id)
    fam = Browser(app.test_client())
    family_sign_in(fam)
    assert fam.post("/familie/kode", {"code": code}).status_code == 302
    return fam


def _version(app, case_id: int) -> int:  # noqa: F811
    with app.extensions["bti"].session_factory() as s:
        return s.get(Case, case_id).version


def _note(holder: Browser, app, case_id: int, text: str, shared: bool | None):  # noqa: F811
    holder.get(f"/saker/{case_id}/handling/add_note")
    data = {"text": text, "expected_version": _version(app, case_id)}
    if shared is not None:
        data["family_share_offered"] = "1"
        if shared:
            data["shared_with_family"] = "1"
    r = holder.post(f"/saker/{case_id}/handling/add_note", data)
    assert r.status_code == 303, r.get_data(as_text=True)[:400]


def test_the_family_sees_the_shared_entries_only(app):  # noqa: F811
    case_id = app.config["case_id"]
    fam = _joined(app, case_id)
    holder = staff(app)
    form = holder.get(f"/saker/{case_id}/handling/add_note").get_data(as_text=True)
    assert 'name="shared_with_family"' in form
    assert "Del denne hendelsen med familien" in form
    assert 'value="1" checked' not in form  # a note is internal by the workflow's default
    _note(holder, app, case_id, "Internt: snakka med helsesjukepleiaren.", shared=False)
    _note(holder, app, case_id, "Godt møte med heimen i dag.", shared=True)
    _note(holder, app, case_id, "Utan val: etter arbeidsflyten.", shared=None)
    html = fam.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    assert "Godt møte med heimen i dag." in html
    assert "Internt" not in html
    assert "Utan val" not in html
    assert "Delt med familien" in holder.get(f"/saker/{case_id}").get_data(as_text=True)


def test_a_comment_becomes_the_stafettholders_task_and_is_answered(app):  # noqa: F811
    case_id = app.config["case_id"]
    fam = _joined(app, case_id)
    fam.get(f"/familie/saker/{case_id}")
    r = fam.post(f"/familie/saker/{case_id}/melding", {"text": f"Fnr {FNR}"})
    assert r.status_code == 422
    assert "fødselsnummer" in r.get_data(as_text=True)
    r = fam.post(f"/familie/saker/{case_id}/melding", {"text": ""})
    assert r.status_code == 422
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(FamilyMessage)).all() == []
    r = fam.post(f"/familie/saker/{case_id}/melding", {"text": "Kan vi møtast før jul?"})
    assert r.status_code == 303
    html = fam.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    assert "Kan vi møtast før jul?" in html
    assert "Ikke besvart ennå." in html
    holder = staff(app)
    assert "Familien skrev en kommentar eller et spørsmål" in holder.get("/saker/").get_data(
        as_text=True)
    page = holder.get(f"/saker/{case_id}/familie/meldinger").get_data(as_text=True)
    assert "Kan vi møtast før jul?" in page
    with app.extensions["bti"].session_factory() as s:
        msg_id = s.scalars(select(FamilyMessage.id)).one()
    # only the stafettholder: the reporter gets 404
    teacher = staff(app, "laerar")
    assert teacher.get(f"/saker/{case_id}/familie/meldinger").status_code == 404
    teacher.get("/saker/")
    assert teacher.post(f"/saker/{case_id}/familie/meldinger/{msg_id}/svart").status_code == 404
    r = holder.post(f"/saker/{case_id}/familie/meldinger/{msg_id}/svart")
    assert r.status_code == 303
    assert holder.post(f"/saker/{case_id}/familie/meldinger/{msg_id}/svart").status_code == 422
    html = fam.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    assert "Besvart" in html
    assert "Ikke besvart ennå." not in html
    assert "Familien skrev en kommentar" not in holder.get("/saker/").get_data(as_text=True)


def test_the_routes_answer_as_missing_across_sessions_and_cases(app):  # noqa: F811
    case_id, other_id = app.config["case_id"], app.config["other_id"]
    fam = _joined(app, case_id)
    other = Browser(app.test_client())
    family_sign_in(other, OTHER_GUARDIAN)  # a guardian linked to nothing
    other.get("/familie/saker")
    assert other.post(f"/familie/saker/{case_id}/melding", {"text": "Hei"}).status_code == 404
    fam.get(f"/familie/saker/{case_id}")
    assert fam.post(f"/familie/saker/{other_id}/melding", {"text": "Hei"}).status_code == 404
    for path in (f"/saker/{case_id}/familie/meldinger", "/leiar/bekymringar-fra-heimen"):
        assert fam.get(path).status_code == 404, path
    worker = staff(app)
    assert worker.get("/familie/bekymring").status_code == 404
    worker.get("/saker/")
    assert worker.post(f"/familie/saker/{case_id}/melding", {"text": "Hei"}).status_code == 404
    with app.extensions["bti"].session_factory() as s:
        assert s.scalars(select(FamilyMessage)).all() == []


def test_a_guardians_concern_reaches_the_leader_who_opens_a_case(app, password_hash):  # noqa: F811
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        unit = s.scalars(select(Unit)).first()
        make_user(s, unit.municipality, unit, ("employee", "leader"), username="rektor",
                  password_hash=password_hash)
        unit_id = unit.id
    fam = Browser(app.test_client())
    family_sign_in(fam)
    form = fam.get("/familie/bekymring")
    assert form.status_code == 200
    r = fam.post("/familie/bekymring", {"unit": "", "child_name": "", "birth_year": "1900",
                                       "text": f"Sjå {FNR}", "contact": ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "error-summary" in html
    assert "fødselsnummer" in html
    with ext.session_factory() as s:
        assert s.scalars(select(FamilyConcern)).all() == []
    r = fam.post("/familie/bekymring", {"unit": str(unit_id), "child_name": "Mia",
                                       "birth_year": "2017", "text": "Mia søv dårleg.",
                                       "contact": "900 00 000"})
    assert r.status_code == 303
    leader = Browser(app.test_client())
    assert leader.login("rektor", PASSWORD).status_code == 302
    page = leader.get("/leiar/bekymringar-fra-heimen").get_data(as_text=True)
    assert "Mia søv dårleg." in page
    assert "900 00 000" in page
    assert staff(app).get("/leiar/bekymringar-fra-heimen").status_code == 403  # no leader
    with ext.session_factory() as s:
        concern_id = s.scalars(select(FamilyConcern.id)).one()
    r = leader.post(f"/leiar/bekymringar-fra-heimen/{concern_id}/sak", {"child_pseudonym": ""})
    assert r.status_code == 422
    r = leader.post(f"/leiar/bekymringar-fra-heimen/{concern_id}/sak",
                    {"child_pseudonym": "M. B."})
    assert r.status_code == 303
    with ext.session_factory() as s:
        concern = s.get(FamilyConcern, concern_id)
        assert concern.case_id is not None
        assert concern.handled_at is not None
        assert s.scalars(select(FamilyMember)).all() == []  # the family gained no link
    assert f"/familie/saker/{concern.case_id}" not in fam.get("/familie/saker").get_data(
        as_text=True)
    assert fam.get(f"/familie/saker/{concern.case_id}").status_code == 404
