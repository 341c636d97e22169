"""The teacher's concern journey and the case page, through the real app (CSRF on).
All names and texts are made up."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Evaluation
from bti.domain.cases import Measure
from bti.domain.cases import Note
from bti.domain.clock import local_date
from bti.domain.log import AuditEvent
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx

WHAT_SEEN = "Barnet sovnar i timane og et lite i matpausa"


def _today(app):
    return local_date(app.extensions["bti"].clock())


def _fire(app, user, case_id, trigger, payload=None):
    """A step taken outside the browser, through the service (as another tab would)."""
    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, user.id), workflows=ext.workflows, now=ext.clock)
        cases.fire(ctx, case_id, trigger, payload)


def _open(b, **overrides) -> int:
    data = {"child_pseudonym": "KN", "child_birth_year": "2016", "what_seen": WHAT_SEEN,
            "since": "Etter haustferien", "violence_suspected": "false",
            "confirmed": "1"}  # a second case for "KN" (born 2016) is meant
    data.update(overrides)
    b.get("/saker/ny")
    r = b.post("/saker/ny", data)
    assert r.status_code == 303, r.get_data(as_text=True)[-2000:]
    m = re.search(r"/saker/(\d+)/kvittering$", r.headers["Location"])
    assert m, r.headers["Location"]
    return int(m.group(1))


def _english(b) -> None:
    """Assertions on the app's own texts use English (the nb/nn catalogues change)."""
    b.get("/saker/")  # a fresh CSRF token for the signed-in session
    assert b.post("/auth/language", {"lang": "en", "next": "/saker/"}).status_code == 302


def _version(html: str, trigger: str) -> str:
    """The case's version: from the action's own form, else from the case page."""
    m = (re.search(r'name="expected_version" value="(\d+)"', html)
         or re.search(r'data-case-version="(\d+)"', html))
    return m.group(1)


def _action(html: str, trigger: str) -> str:
    """The HTML of one action block on the case page."""
    start = html.index(f'id="action-{trigger}"')
    end = html.find('id="action-', start + 10)
    return html[start:end if end > 0 else None]


def _audit_count(app, case_id, user, action) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.actor_id == user.id,
            AuditEvent.action == action))


def _strip_volatile(body: str) -> str:
    body = re.sub(r'nonce="[^"]*"', 'nonce=""', body)
    return re.sub(r'(name="csrf_token" value=)"[^"]*"', r'\1""', body)


# --- the concern journey -----------------------------------------------------------------------


def test_teacher_logs_a_concern_and_gets_a_receipt_with_the_deadline(app, web_world, login):
    b = login("teacher", web_world)
    r = b.get("/saker/ny")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Hva har du sett eller hørt?" in html  # the workflow's label, in bokmål
    _english(b)
    html = b.get("/saker/ny").get_data(as_text=True)
    assert "What have you seen or heard?" in html
    assert "<legend>" in html
    assert 'type="radio"' in html
    case_id = _open(b)
    with app.extensions["bti"].session_factory() as s:
        case = s.get(Case, case_id)
        assert (case.child_pseudonym, case.child_birth_year, case.state) == ("KN", 2016,
                                                                           "n0_plan")
        assert case.violence_flag is False
    r = b.get(f"/saker/{case_id}/kvittering")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    due = (_today(app) + timedelta(days=14)).strftime("%d.%m.%Y")
    assert due in html
    assert "undringssamtale" in html
    assert f'href="/saker/{case_id}"' in html
    assert "Do not inform the home" not in html


def test_violence_path_gives_the_urgent_page_and_the_home_may_not_be_informed(
        app, web_world, login):
    b = login("teacher", web_world)
    _english(b)
    case_id = _open(b, violence_suspected="true")
    r = b.get(f"/saker/{case_id}/kvittering")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Do not inform the home" in html
    assert "§ 13-2" in html
    assert "§ 196" in html
    assert f'/saker/{case_id}/handling/report_barnevernet"' in html
    assert f'/saker/{case_id}/handling/avvergeplikt"' in html
    with app.extensions["bti"].session_factory() as s:
        assert s.get(Case, case_id).violence_flag is True

    # the report is recorded from the urgent page's form
    today = _today(app).isoformat()
    r = b.post(f"/saker/{case_id}/handling/report_barnevernet",
               {"expected_version": _version(html, "report_barnevernet"), "sent_on": today,
                "grounds": "violence_abuse", "notes": ""})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/saker/{case_id}")
    with app.extensions["bti"].session_factory() as s:
        report = s.scalars(select(BarnevernReport).where(BarnevernReport.case_id == case_id)).one()
        assert (report.kind, report.grounds, report.notes) == ("report", "violence_abuse", None)

    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "Suspected violence or abuse." in html
    # informing the home is not offered; its own page says why, without a form
    assert f'/saker/{case_id}/handling/inform_home"' not in html
    r = b.get(f"/saker/{case_id}/handling/inform_home")
    assert r.status_code == 403
    page = r.get_data(as_text=True)
    assert f'action="/saker/{case_id}/handling/inform_home"' not in page
    assert "do not inform the home before child welfare" in page  # the guard's reason
    # the report is in the stafettlogg, with the grounds' label
    assert "Violence or abuse" in html[html.index('class="timeline"'):]


def test_concern_form_errors_keep_what_was_typed(app, web_world, login):
    b = login("teacher", web_world)
    b.get("/saker/ny")
    r = b.post("/saker/ny", {"child_pseudonym": "010116 12345", "child_birth_year": "2016",
                             "what_seen": WHAT_SEEN, "child_said": "Mamma er sliten"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="f-child_pseudonym-error"' in html
    assert WHAT_SEEN in html
    assert "Mamma er sliten" in html
    assert 'value="010116 12345"' in html
    assert 'aria-invalid="true"' in html

    r = b.post("/saker/ny", {"child_pseudonym": "KN", "child_birth_year": "2016",
                             "what_seen": "   ", "since": "Sidan jul"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'value="Sidan jul"' in html
    assert 'id="f-what_seen-error"' in html

    r = b.post("/saker/ny", {"child_pseudonym": "KN", "child_birth_year": "to tusen",
                             "what_seen": WHAT_SEEN})
    assert r.status_code == 422
    assert 'id="f-child_birth_year-error"' in r.get_data(as_text=True)
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


# --- the case page --------------------------------------------------------------------------


def test_case_page_header_timeline_newest_first_and_kind_filter(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": _version(html, "add_note"), "text": "Første notat om KN"})
    assert r.status_code == 303
    html = b.get(r.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash-info"' in html  # "Saved: …"
    r = b.post(f"/saker/{case_id}/handling/record_meeting",
               {"expected_version": _version(html, "record_meeting"),
                "meeting_kind": "undringssamtale", "held_on": _today(app).isoformat(),
                "child_voice_method": "", "attendees": "Mor og kontaktlærar"})
    assert r.status_code == 303

    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    # header
    assert "<h1>KN" in html
    assert "2016" in html
    assert "Nordvik skule" in html
    assert "Nivå 0 – undring og avklaring" in html
    assert "Undring: konkretiser bekymringen" in html
    assert (_today(app) + timedelta(days=14)).strftime("%d.%m.%Y") in html
    # timeline, newest first, with time, who and the labels of the recorded fields
    log = html[html.index('class="timeline"'):]
    assert log.index("Mor og kontaktlærar") < log.index("Første notat om KN") < log.index(WHAT_SEEN)
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", log)
    assert web_world.users["teacher"].display_name in log
    assert "Registrer møte" in log
    assert "Undringssamtale" in log
    assert "Til stede" in log
    assert "Jeg er bekymret for et barn" in log  # the opening's label
    # the report to barnevernet is always there
    assert f'/saker/{case_id}/handling/report_barnevernet"' in html

    html = b.get(f"/saker/{case_id}?kind=note").get_data(as_text=True)
    log = html[html.index('class="timeline"'):]
    assert "Første notat om KN" in log
    assert WHAT_SEEN not in log
    assert "Mor og kontaktlærar" not in log
    assert '<option value="note" selected>' in html
    # an unknown kind shows everything
    html = b.get(f"/saker/{case_id}?kind=bogus").get_data(as_text=True)
    assert WHAT_SEEN in html[html.index('class="timeline"'):]


def test_every_read_of_the_case_page_is_audited(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b)
    teacher = web_world.users["teacher"]
    before = (_audit_count(app, case_id, teacher, "case.viewed"),
              _audit_count(app, case_id, teacher, "case.log_viewed"))
    assert b.get(f"/saker/{case_id}").status_code == 200
    assert _audit_count(app, case_id, teacher, "case.viewed") == before[0] + 1
    assert _audit_count(app, case_id, teacher, "case.log_viewed") == before[1] + 1
    # a refused action re-renders the page (422): that read is audited too
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    viewed = _audit_count(app, case_id, teacher, "case.viewed")
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": _version(html, "add_note"), "text": ""})
    assert r.status_code == 422
    assert _audit_count(app, case_id, teacher, "case.viewed") == viewed + 1
    # the receipt is an audited read as well
    viewed = _audit_count(app, case_id, teacher, "case.viewed")
    b.get(f"/saker/{case_id}/kvittering")
    assert _audit_count(app, case_id, teacher, "case.viewed") == viewed + 1


def test_outsider_and_other_municipality_get_the_404_of_a_missing_case(app, web_world, login):
    teacher = login("teacher", web_world)
    first = _open(teacher)
    next_id = first + 1
    visitors = {name: login(name, web_world) for name in ("outsider", "foreign")}
    missing = {}
    for name, b in visitors.items():
        r = b.get(f"/saker/{next_id}")
        assert r.status_code == 404
        missing[name] = _strip_volatile(r.get_data(as_text=True))
    assert _open(teacher, child_pseudonym="LM") == next_id  # now the case exists
    for name, b in visitors.items():
        r = b.get(f"/saker/{next_id}")
        assert r.status_code == 404
        body = _strip_volatile(r.get_data(as_text=True))
        assert body == missing[name], (name, "\n".join(difflib.unified_diff(
            missing[name].splitlines(), body.splitlines(), lineterm="")))
        assert "LM" not in r.get_data(as_text=True)
        for url in (f"/saker/{next_id}/kvittering", f"/saker/{next_id}?kind=note"):
            assert b.get(url).status_code == 404
        r = b.post(f"/saker/{next_id}/handling/add_note",
                   {"expected_version": "2", "text": "Skal ikkje lagrast"})
        assert r.status_code == 404
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 0


def test_post_without_csrf_is_refused(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b)
    r = b.post("/saker/ny", {"child_pseudonym": "XY", "child_birth_year": "2015",
                             "what_seen": WHAT_SEEN}, csrf=False)
    assert r.status_code == 400
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": "2", "text": "Utan token"}, csrf=False)
    assert r.status_code == 400
    with app.extensions["bti"].session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
        assert s.scalar(select(func.count()).select_from(Note)) == 0


@pytest.fixture
def n0_decision_case(app, web_world, login):
    """A concern by the teacher, with the coordinator as stafettholder, at the n0 decision."""
    teacher = web_world.users["teacher"]
    case_id = _open(login("teacher", web_world))
    today = _today(app).isoformat()
    _fire(app, teacher, case_id, "appoint_stafettholder",
          {"stafettholder": web_world.users["coordinator"].id})
    _fire(app, teacher, case_id, "inform_home", {"informed_on": today})
    for trigger in ("start", "assess", "decide"):
        _fire(app, teacher, case_id, trigger)
    return case_id


def test_coordinator_escalates_adds_a_measure_and_evaluates_with_the_childs_voice(
        app, web_world, login, n0_decision_case):
    case_id = n0_decision_case
    coordinator = web_world.users["coordinator"]
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "Tilsett" in html  # the stafettholder's name in the header
    # escalate without a reason: refused, the form comes back open with the error
    r = b.post(f"/saker/{case_id}/handling/escalate",
               {"expected_version": _version(html, "escalate"), "reason": "  "})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="a-escalate-reason-error"' in html
    assert 'id="action-escalate"' in html  # the action's own page, again
    assert 'id="error-summary-title"' in html
    assert 'href="#a-escalate-reason"' in html  # the summary links to the field
    r = b.post(f"/saker/{case_id}/handling/escalate",
               {"expected_version": _version(html, "escalate"),
                "reason": "Undringssamtalen viste behov for tiltak på skulen"})
    assert r.status_code == 303
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "Nivå 1 – tiltak i egen tjeneste" in html
    assert "Undringssamtalen viste behov for tiltak på skulen" in html  # the reason, logged

    # a measure whose evaluation date is before its start: 422, and the text is kept
    today = _today(app)
    r = b.post(f"/saker/{case_id}/handling/add_measure",
               {"expected_version": _version(html, "add_measure"),
                "description": "Fast vaksen i friminutta", "responsible": str(coordinator.id),
                "start_date": today.isoformat(),
                "evaluate_by": (today - timedelta(days=1)).isoformat(), "setting": "school"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Fast vaksen i friminutta" in html
    assert 'id="a-add_measure-evaluate_by-error"' in html
    r = b.post(f"/saker/{case_id}/handling/add_measure",
               {"expected_version": _version(html, "add_measure"),
                "description": "Fast vaksen i friminutta", "responsible": str(coordinator.id),
                "start_date": today.isoformat(),
                "evaluate_by": (today + timedelta(days=30)).isoformat(), "setting": "school",
                "goal_text": ""})
    assert r.status_code == 303
    with app.extensions["bti"].session_factory() as s:
        measure = s.scalars(select(Measure).where(Measure.case_id == case_id)).one()
        assert (measure.responsible_id, measure.setting, measure.goal_text) == (
            coordinator.id, "school", None)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert (today + timedelta(days=30)).strftime("%d.%m.%Y") in html

    for trigger in ("start", "evaluate"):
        _fire(app, coordinator, case_id, trigger)
    html = b.get(f"/saker/{case_id}/handling/record_evaluation").get_data(as_text=True)
    block = _action(html, "record_evaluation")
    # the child's voice comes first, in its own group
    assert block.index("child-voice") < block.index('name="effect"')
    r = b.post(f"/saker/{case_id}/handling/record_evaluation",
               {"expected_version": _version(html, "record_evaluation"),
                "measures": str(measure.id), "effect": "some",
                "child_voice_method": "conversation",
                "child_said": "Det er betre når nokon ventar på meg", "outcome": "continue"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    with app.extensions["bti"].session_factory() as s:
        ev = s.scalars(select(Evaluation).where(Evaluation.case_id == case_id)).one()
        assert ev.child_said == "Det er betre når nokon ventar på meg"
        assert ev.child_voice_method == "conversation"
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    log = html[html.index('class="timeline"'):]
    assert "Det er betre når nokon ventar på meg" in log
    assert "Samtale med barnet" in log
    assert "Fast vaksen i friminutta" in log


def test_stale_version_gives_409_that_shows_what_was_typed(app, web_world, login,
                                                           n0_decision_case):
    case_id = n0_decision_case
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    stale = _version(html, "add_note")
    _fire(app, web_world.users["teacher"], case_id, "add_note", {"text": "Nokon andre skreiv"})
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": stale, "text": "Mitt lange notat frå samtalen i dag"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "Mitt lange notat frå samtalen i dag" in html
    assert f'href="/saker/{case_id}/handling/add_note"' in html
    with app.extensions["bti"].session_factory() as s:
        texts = set(s.scalars(select(Note.text).where(Note.case_id == case_id)))
    assert texts == {"Nokon andre skreiv"}


def test_a_refused_action_is_not_offered_and_its_page_says_why_in_bokmal_and_nynorsk(
        app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b, violence_suspected="true")
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "action-refused" not in html
    assert "disabled" not in html
    r = b.get(f"/saker/{case_id}/handling/inform_home")
    assert r.status_code == 403
    assert "heimen skal ikke informeres" in r.get_data(as_text=True)
    r = b.post("/auth/language", {"lang": "nn", "next": f"/saker/{case_id}"})
    assert r.status_code == 302
    r = b.get(f"/saker/{case_id}/handling/inform_home")
    html = r.get_data(as_text=True)
    assert r.status_code == 403
    assert '<html lang="nn">' in html
    assert "Heimen er informert (undringssamtale)" in html
    assert "heimen skal ikkje informerast" in html


def test_firing_with_a_refused_guard_is_422_with_the_reason(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b, violence_suspected="true")
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/inform_home",
               {"expected_version": _version(html, "add_note"),
                "informed_on": _today(app).isoformat()})
    assert r.status_code == 422
    assert "heimen skal ikke informeres" in r.get_data(as_text=True)
    with app.extensions["bti"].session_factory() as s:
        assert s.get(Case, case_id).home_informed_on is None


class _Controls(HTMLParser):
    """Ids, label targets, form controls, headings and inline styles/scripts of a page."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[str] = []
        self.headings: list[int] = []
        self.inline: list[str] = []
        self.described: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if "style" in a or (tag == "script" and "src" not in a):
            self.inline.append(tag)
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a.get("id") or f"<{tag} name={a.get('name')} without id>")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if a.get("aria-describedby"):
            self.described.extend(a["aria-describedby"].split())


def _check_accessible(html: str) -> None:
    p = _Controls()
    p.feed(html)
    assert len(p.ids) == len(set(p.ids)), sorted(i for i in p.ids if p.ids.count(i) > 1)
    unlabelled = [c for c in p.controls if c not in p.label_for]
    assert not unlabelled, unlabelled
    assert not p.inline, p.inline
    missing = [i for i in p.described if i not in p.ids]
    assert not missing, missing
    assert p.headings[0] == 1
    jumps = [(a, b) for a, b in zip(p.headings, p.headings[1:], strict=False) if b > a + 1]
    assert not jumps, jumps


def test_pages_have_labels_unique_ids_ordered_headings_and_no_inline_style(
        app, web_world, login, n0_decision_case):
    b = login("coordinator", web_world)
    _check_accessible(b.get("/saker/ny").get_data(as_text=True))
    r = b.post("/saker/ny", {"child_pseudonym": "12345678901", "child_birth_year": "2016",
                             "what_seen": ""})
    assert r.status_code == 422
    _check_accessible(r.get_data(as_text=True))
    _check_accessible(b.get(f"/saker/{n0_decision_case}").get_data(as_text=True))
    html = b.get(f"/saker/{n0_decision_case}").get_data(as_text=True)
    r = b.post(f"/saker/{n0_decision_case}/handling/escalate",
               {"expected_version": _version(html, "escalate"), "reason": ""})
    assert r.status_code == 422
    _check_accessible(r.get_data(as_text=True))
    t = login("teacher", web_world)
    case_id = _open(t, violence_suspected="true")
    _check_accessible(t.get(f"/saker/{case_id}/kvittering").get_data(as_text=True))
    _check_accessible(t.get(f"/saker/{case_id}").get_data(as_text=True))
