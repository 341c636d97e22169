"""The concern form through the real app: the error summary, messages said for each field,
the violence question, a likely duplicate and a full name confirmed before saving, and a
fødselsnummer refused in the form and in every action. All names and numbers are made up."""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Note

WHAT_SEEN = "Barnet sovnar i timane og et lite i matpausa"
FNR = "01819010001"  # synthetic (month + 80, Tenor): belongs to nobody


def _english(b) -> None:
    b.get("/saker/")
    assert b.post("/auth/language", {"lang": "en", "next": "/saker/"}).status_code == 302


def _form(**overrides) -> dict[str, str]:
    data = {"child_pseudonym": "KN", "child_birth_year": "2016", "what_seen": WHAT_SEEN,
            "violence_suspected": "false"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _count(app, model=Case) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def _summary(html: str) -> list[tuple[str, str]]:
    """The error summary's links: (target, text)."""
    start = html.index('class="error-summary"')
    block = html[start:html.index("</div>", start)]
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', block)


def test_every_error_is_in_the_summary_linked_to_its_field(app, web_world, login):
    b = login("teacher", web_world)
    _english(b)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(child_pseudonym="", child_birth_year="", what_seen="",
                                  violence_suspected=None))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    links = _summary(html)
    assert links == [
        ("f-child_pseudonym", "Write the child&#39;s initials or a pseudonym."),
        ("f-child_birth_year", "Write the child&#39;s birth year, or give the due month for "
                               "a child not yet born."),
        ("f-what_seen", "Fill in “What have you seen or heard?”."),
        ("f-violence_suspected", "Answer whether you suspect violence, sexual abuse or "
                                 "serious neglect."),
    ]
    for target, _text in links:  # every link has its field
        assert f'id="{target}"' in html
    assert 'role="alert" tabindex="-1"' in html
    assert "The value is not valid" not in html
    assert "<title>Error: " in html
    assert _count(app) == 0


def test_a_due_month_error_links_to_the_month(app, web_world, login):
    b = login("teacher", web_world)
    _english(b)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(child_birth_year="", child_due_month="3",
                                  child_due_year="neste år"))
    assert _summary(r.get_data(as_text=True)) == [
        ("f-child_due_month", "Choose the due month and write the due year with four digits.")]


def test_a_national_id_is_refused_in_the_pseudonym_and_the_texts(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(child_pseudonym=FNR, who_knows=f"Mor ({FNR[:6]} {FNR[6:]})"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    targets = [t for t, _ in _summary(html)]
    assert targets == ["f-child_pseudonym", "f-who_knows"]
    assert "Ikke skriv fødselsnummer" in html
    assert _count(app) == 0


def test_a_likely_duplicate_is_confirmed_before_it_is_saved(app, web_world, login):
    b = login("teacher", web_world)
    _english(b)
    b.get("/saker/ny")
    assert b.post("/saker/ny", _form()).status_code == 303
    with app.extensions["bti"].session_factory() as s:
        first = s.scalars(select(Case)).one()
        number, opened = first.id, first.opened_at
    r = b.post("/saker/ny", _form(child_pseudonym="kn"))
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert (f"There is already an open case for kn (born 2016) in your unit: case {number}, "
            f"opened {opened.strftime('%d.%m.%Y')}.") in html
    assert 'name="confirmed" value="1"' in html
    assert f'value="{WHAT_SEEN}"' in html or WHAT_SEEN in html  # what was typed is kept
    assert _count(app) == 1
    assert b.post("/saker/ny", _form(child_pseudonym="kn", confirmed="1")).status_code == 303
    assert _count(app) == 2


def test_a_full_name_is_warned_about_and_may_be_kept(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(child_pseudonym="Kari Nordmann"))
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "ser ut som et fullt navn" in html
    assert _count(app) == 0
    r = b.post("/saker/ny", _form(child_pseudonym="Kari Nordmann", confirmed="1"))
    assert r.status_code == 303


def test_a_national_id_is_refused_in_an_action_on_the_case(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form())
    case_id = int(re.search(r"/saker/(\d+)/", r.headers["Location"]).group(1))
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    version = re.search(r'data-case-version="(\d+)"', html).group(1)
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": version, "text": f"Fødselsnummer {FNR}"})
    assert r.status_code == 422
    assert "Ikke skriv fødselsnummer" in r.get_data(as_text=True)
    assert _count(app, Note) == 0


def _set_contacts(app, **values) -> None:
    from bti.domain.org import Municipality

    with app.extensions["bti"].session_factory.begin() as s:
        for m in s.scalars(select(Municipality)):
            for k, v in values.items():
                setattr(m, k, v)


def test_the_receipt_says_who_sees_the_case_and_offers_the_stafettholder(app, web_world,
                                                                          login):
    b = login("teacher", web_world)
    _english(b)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form())
    html = b.get(r.headers["Location"]).get_data(as_text=True)
    assert "Who can see the case now" in html
    teacher, leader = web_world.users["teacher"], web_world.users["leader"]
    assert f"{teacher.display_name} (Nordvik skule) – raised the concern" in html
    assert f"{leader.display_name} (Nordvik skule) – leader of the unit" in html
    assert web_world.users["coordinator"].display_name not in html
    case_id = int(re.search(r"/saker/(\d+)/", r.headers["Location"]).group(1))
    assert f'href="/saker/{case_id}/handling/appoint_stafettholder"' in html


def test_the_urgent_page_and_the_report_form_give_child_welfares_contacts(app, web_world,
                                                                         login):
    _set_contacts(app, barnevern_phone="00 00 00 01", barnevern_email="bv@example.invalid",
                  barnevernvakt_phone="00 00 00 02")
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(violence_suspected="true"))
    html = b.get(r.headers["Location"]).get_data(as_text=True)
    assert "Registrer at bekymringsmelding er sendt" in html
    assert "Send bekymringsmelding" not in html
    assert 'href="tel:00000001">00 00 00 01</a>' in html
    assert 'href="tel:00000002">00 00 00 02</a>' in html
    assert "bv@example.invalid" in html
    assert "Appen sender ikke meldingen" in html
    case_id = int(re.search(r"/saker/(\d+)/", r.headers["Location"]).group(1))
    page = b.get(f"/saker/{case_id}/handling/report_barnevernet").get_data(as_text=True)
    form = page[page.index('id="action-report_barnevernet"'):]
    assert "00 00 00 02" in form[:form.index("</form>")]


def test_without_contacts_the_urgent_page_says_to_ask(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", _form(violence_suspected="true"))
    html = b.get(r.headers["Location"]).get_data(as_text=True)
    assert "har ikke lagt inn kontaktopplysningene" in html


def test_mine_saker_and_the_unit_overview_pin_an_unreported_violence_case(app, web_world,
                                                                        login):
    b = login("teacher", web_world)
    _english(b)
    b.get("/saker/ny")
    first = b.post("/saker/ny", _form(child_pseudonym="AB"))
    b.post("/saker/ny", _form(child_pseudonym="CD", violence_suspected="true"))
    b.post("/saker/ny", _form(child_pseudonym="AB", confirmed="1"))
    html = b.get("/saker/").get_data(as_text=True)
    urgent = html[html.index('id="urgent-heading"'):html.index("</section>",
                                                               html.index('id="urgent-heading"'))]
    assert "CD" in urgent
    assert "Suspected violence or abuse: no report" in urgent
    ids = [int(i) for i in re.findall(r"Case (\d+), opened \d\d\.\d\d\.\d{4}", html)]
    assert len(ids) == 3  # two cases for "AB", told apart by number and date
    first_id = int(re.search(r"/saker/(\d+)/", first.headers["Location"]).group(1))
    assert first_id in ids

    lb = login("leader", web_world)
    _english(lb)
    html = lb.get("/leiar/").get_data(as_text=True)
    rows = re.findall(r'<th scope="row"[^>]*>Case (\d+)(<br><span class="badge badge-overdue">)?',
                      html)
    assert rows[0][1]  # the violence case first, marked
    assert "Violence or abuse: not yet reported" in html
