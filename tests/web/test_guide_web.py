"""The action guide, the catalogue and the accessibility statement as pages (issue 18 §1, §2,
§4): what each shows, in which language, to whom, and where its links go. All names are made
up."""

from __future__ import annotations

import re

from sqlalchemy import select

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.log import AuditEvent
from bti.domain.org import Municipality
from bti.web import create_app
from tests.dbs import app_database
from tests.factories import FIXED_NOW
from tests.web.conftest import make_settings
from tests.web.test_case_cockpit import _at_n1


def _lang(b, lang: str) -> None:
    b.get("/saker/")
    assert b.post("/auth/language", {"lang": lang, "next": "/saker/"}).status_code == 302


def _catalogue(app, municipality_id: int) -> dict[str, int]:
    with app.extensions["bti"].session_factory.begin() as s:
        items = [MeasureCatalogueItem(
            municipality_id=municipality_id, name=name, description=text, kind=kind,
            age_from=low, age_to=high, provider=provider, delivery=delivery,
            created_at=FIXED_NOW, updated_at=FIXED_NOW)
            for name, text, kind, low, high, provider, delivery in (
                ("Språkgruppe i barnehagen", "Små grupper.", "universal", 1, 5, "Barnehagen",
                 "own"),
                ("Leksehjelp", "To dagar i veka.", "universal", 6, 16, "Skulen", "own"),
                ("Ungdomsgruppe", "For ungdom.", "selective", 13, 18, "Fritid AS", "bought"))]
        s.add_all(items)
        s.flush()
        return {i.name: i.id for i in items}


def test_the_guide_in_nynorsk_with_the_municipalitys_contacts(app, web_world, login):
    with app.extensions["bti"].session_factory.begin() as s:
        m = s.get(Municipality, web_world.municipality_id)
        m.barnevern_phone, m.barnevern_email = "12 34 56 78", "barnevern@kommune.example"
    b = login("teacher", web_world)
    _lang(b, "nn")
    r = b.get("/slik-jobber-vi/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="nn">' in html
    assert "<h1>Slik jobbar vi</h1>" in html
    assert "Undring: konkretiser uroa" in html  # the workflow file's nynorsk labels
    assert "Kven: den som melde uroa, stafetthaldaren, leiaren for eininga." in html
    assert "barnevernslova § 13-2" in html
    assert "straffelova § 196" in html
    assert 'href="tel:12345678"' in html
    assert "barnevern@kommune.example" in html
    assert 'role="img" aria-labelledby="guide-svg-title guide-svg-desc"' in html
    # the text alternative lists every step the chart draws
    assert len(re.findall(r'<rect class="guide-box', html)) == len(
        re.findall(r'<li id="step-', html)) == 17
    assert 'href="/saker/ny"' in html  # the first step: raise a concern
    assert 'aria-current="page">Slik jobbar vi</a>' in html  # in the menu
    _lang(b, "en")
    html = b.get("/slik-jobber-vi/").get_data(as_text=True)
    assert "Wondering: make the concern concrete" in html
    assert "<h1>How we work</h1>" in html


def test_from_a_case_the_guide_links_each_step_to_its_action(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    page = b.get(f"/saker/{case_id}").get_data(as_text=True)
    link = re.search(r'href="(/slik-jobber-vi/\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"sak={case_id}" in link
    assert "steg=n1_plan" in link
    html = b.get(link).get_data(as_text=True)
    step = html[html.index('id="step-n1_plan"'):html.index('id="step-n1_active"')]
    assert f'href="/saker/{case_id}/handling/start"' in step
    assert 'class="guide-here"' in html
    assert "guide-box-here" in html
    assert f'href="/saker/{case_id}/handling/report_barnevernet"' in html
    assert f'href="/saker/{case_id}/handling/add_measure"' in step  # recorded there
    # the action page answers for itself: someone without access to the case gets 404 there
    assert b.get(f"/saker/{case_id}/handling/add_measure").status_code == 200
    outsider = login("outsider", web_world)
    assert outsider.get(link).status_code == 200  # the guide reads nothing of the case …
    assert outsider.get(f"/saker/{case_id}/handling/add_measure").status_code == 404  # … it does
    # and a state the current workflow does not have is ignored
    assert "guide-here" not in b.get(
        f"/slik-jobber-vi/?sak={case_id}&steg=nope").get_data(as_text=True)


def test_the_guide_writes_no_audit_row(app, web_world, login):
    b = login("teacher", web_world)
    with app.extensions["bti"].session_factory() as s:
        before = len(s.scalars(select(AuditEvent.id)).all())
    assert b.get("/slik-jobber-vi/?sak=1&steg=n0_plan").status_code == 200
    with app.extensions["bti"].session_factory() as s:
        assert len(s.scalars(select(AuditEvent.id)).all()) == before


def test_a_teacher_searches_the_catalogue_and_reads_a_measure(app, web_world, login):
    ids = _catalogue(app, web_world.municipality_id)
    b = login("teacher", web_world)
    _lang(b, "en")
    html = b.get("/tiltaksoversikt/").get_data(as_text=True)
    assert "3 measures of 3" in html
    assert "Add a measure" not in html
    assert "Deactivate" not in html
    html = b.get("/tiltaksoversikt/?alder=14&type=selective").get_data(as_text=True)
    assert "1 measure of 3" in html
    assert "Ungdomsgruppe" in html
    assert "Leksehjelp" not in html
    assert "Bought from a provider" in html
    html = b.get("/tiltaksoversikt/?q=dagar").get_data(as_text=True)
    assert "Leksehjelp" in html
    assert "Ungdomsgruppe" not in html
    assert "No measure matches" in b.get("/tiltaksoversikt/?q=zzz").get_data(as_text=True)
    html = b.get(f"/tiltaksoversikt/tiltak/{ids['Leksehjelp']}").get_data(as_text=True)
    assert "<h1>Leksehjelp</h1>" in html
    assert "Not evaluated yet" in html
    assert b.get(f"/tiltaksoversikt/{ids['Leksehjelp']}").status_code == 403  # the edit form
    leader = login("leader", web_world)
    _lang(leader, "en")
    html = leader.get("/tiltaksoversikt/").get_data(as_text=True)
    assert "Add a measure" in html
    assert "3 measures are due for review" in html


def test_the_pick_list_on_a_case_puts_the_childs_age_first(app, web_world, login):
    ids = _catalogue(app, web_world.municipality_id)
    case_id = _at_n1(app, web_world, login)  # the child was born in 2016
    b = login("coordinator", web_world)
    _lang(b, "en")
    html = b.get(f"/saker/{case_id}/handling/add_measure").get_data(as_text=True)
    select_ = html[html.index('name="catalogue"'):html.index("</select>", html.index(
        'name="catalogue"'))]
    fits, others = select_.split("For other ages")
    assert f'value="{ids["Leksehjelp"]}"' in fits
    assert f'value="{ids["Språkgruppe i barnehagen"]}" class="other-age"' in others
    assert "Språkgruppe i barnehagen – for 1–5 years" in others
    assert re.search(r"For the child(&#39;|')s age \(\d+ years\)", fits)
    assert 'href="/tiltaksoversikt/?alder=' in html


def test_the_accessibility_statement_is_public_and_in_every_footer(app, web_world, login,
                                                                   browser):
    r = browser.get("/tilgjengelighet/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Tilgjengelighetserklæring" in html
    assert "Kontakt kommunens brukerstøtte" in html  # no contact set
    assert "https://www.uutilsynet.no/" in html
    login_page = browser.get("/auth/login").get_data(as_text=True)
    assert 'href="/tilgjengelighet/"' in login_page
    b = login("nurse", web_world)
    _lang(b, "nn")
    for url in ("/saker/", "/slik-jobber-vi/", "/tiltaksoversikt/", "/innstillinger"):
        assert 'href="/tilgjengelighet/">Tilgjengeerklæring</a>' in b.get(url).get_data(
            as_text=True), url


def test_the_accessibility_contact_is_a_setting():
    for contact, expected in (("uu@kommune.example", 'href="mailto:uu@kommune.example"'),
                              ("https://kommune.example/uu", 'href="https://kommune.example/uu"')):
        with app_database() as url:
            app = create_app(make_settings(database_url=url, accessibility_contact=contact))
            html = app.test_client().get("/tilgjengelighet/").get_data(as_text=True)
            app.extensions["bti"].engine.dispose()
        assert expected in html
