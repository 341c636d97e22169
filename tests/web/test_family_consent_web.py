"""The family's own consent on the family page (bti.web.ui.family, issue 16) against the real
OpenID provider: bad input answers 422 in the family's language and writes nothing, a consent
given there is the staff kind (the stafettlogg entry says who gave it and how), and the young
person from the consent age ends the guardians' access (their page then answers 404). Made-up
names; synthetic Tenor numbers."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from tests.factories import make_unit
from tests.web.conftest import Browser
from tests.web.test_family_web import OTHER_GUARDIAN
from tests.web.test_family_web import app  # noqa: F401 - the fixture
from tests.web.test_family_web import family_sign_in
from tests.web.test_family_web import invite
from tests.web.test_family_web import provider  # noqa: F401 - the fixture
from tests.web.test_family_web import staff

YOUTH = "family-01830099851"  # synthetic (month 03 + 80)


def _health(app) -> int:  # noqa: F811
    with app.extensions["bti"].session_factory.begin() as s:
        m = s.scalars(select(Municipality)).one()
        return make_unit(s, m, "health_station", name="Helsestasjonen").id


def _joined(app, case_id, login=None, role="guardian") -> Browser:  # noqa: F811
    code = invite(app, case_id, role)
    b = Browser(app.test_client())
    family_sign_in(b, login) if login else family_sign_in(b)
    assert b.post("/familie/kode", {"code": code}).status_code == 302
    return b


def _counts(app, case_id):  # noqa: F811
    with app.extensions["bti"].session_factory() as s:
        return (s.scalar(select(func.count(Consent.id))),
                s.get_one(Case, case_id).log_seq)


def test_bad_input_is_said_in_the_familys_words_and_writes_nothing(app):  # noqa: F811
    case_id = app.config["case_id"]
    health = _health(app)
    fam = _joined(app, case_id)
    before = _counts(app, case_id)
    r = fam.post(f"/familie/saker/{case_id}/samtykke",
                 {"decision": "give", "information": "Trivsel"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "error-summary" in html
    assert 'href="#f-services"' in html  # the error names the field, in bokmål
    r = fam.post(f"/familie/saker/{case_id}/samtykke",
                 {"decision": "give", "services": [str(health)], "information": "Trivsel",
                  "expires_on": "2000-01-01"})
    assert r.status_code == 422
    assert 'href="#f-expires_on"' in r.get_data(as_text=True)
    assert _counts(app, case_id) == before
    r = fam.post(f"/familie/saker/{case_id}/samtykke",
                 {"decision": "give", "services": [str(health)], "information": "Trivsel"})
    assert r.status_code == 302
    page = fam.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    assert "Helsestasjonen" in page
    assert "via ID-porten" in page
    with app.extensions["bti"].session_factory() as s:
        consent = s.scalars(select(Consent)).one()
        assert (consent.channel, consent.given_by) == ("family", "guardians")
        entry = s.scalars(select(StafettloggEntry).where(
            StafettloggEntry.trigger == "give_consent")).one()
        assert json.loads(entry.data)["via"]["role"] == "guardian"
    # the stafettholder's case page: the entry says who gave it and how
    holder = staff(app)
    assert "foresatt via ID-porten" in holder.get(f"/saker/{case_id}").get_data(as_text=True)
    # withdrawn on the same page
    r = fam.post(f"/familie/saker/{case_id}/samtykke/{consent.id}/trekk", {})
    assert r.status_code == 302
    with app.extensions["bti"].session_factory() as s:
        assert s.get_one(Consent, consent.id).status == "withdrawn"


def test_the_young_person_ends_the_guardians_access(app):  # noqa: F811
    case_id = app.config["case_id"]
    with app.extensions["bti"].session_factory.begin() as s:
        s.get_one(Case, case_id).child_birth_year -= 8  # 15 or more this year
    guardian = _joined(app, case_id)
    youth = _joined(app, case_id, YOUTH, "youth")
    assert guardian.post(f"/familie/saker/{case_id}/foresatte", {}).status_code == 422
    assert "foresatte" in youth.get(f"/familie/saker/{case_id}").get_data(as_text=True)
    r = youth.post(f"/familie/saker/{case_id}/foresatte", {})
    assert r.status_code == 302
    assert guardian.get(f"/familie/saker/{case_id}").status_code == 404  # as a missing case
    assert youth.get(f"/familie/saker/{case_id}").status_code == 200
    other = _joined(app, app.config["other_id"], OTHER_GUARDIAN)
    assert other.post(f"/familie/saker/{case_id}/samtykke",
                      {"decision": "give"}).status_code == 404
