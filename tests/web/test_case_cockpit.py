"""The case page as the coordinator's cockpit (issue 13, section 1): where the case stands,
what is in place, what comes next with its checklist, the other actions this user may take,
each action on its own page, and the stafettlogg as a record. All names and texts are made up."""

from __future__ import annotations

import re

from sqlalchemy import event

from tests.web.test_cases_ui import _fire
from tests.web.test_cases_ui import _open
from tests.web.test_cases_ui import _today
from tests.web.test_cases_ui import _version

#: The statements of one case page on main before the cockpit (the scenario of
#: ``test_the_case_page_reads_in_a_bounded_number_of_statements``): it must not grow.
CASE_PAGE_STATEMENTS = 24


def _section(html: str, title_id: str) -> str:
    start = html.index(f'id="{title_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def _at_n1(app, web_world, login) -> int:
    """A case at nivå 1 with the coordinator as stafettholder and the home informed."""
    teacher, coordinator = web_world.users["teacher"], web_world.users["coordinator"]
    case_id = _open(login("teacher", web_world))
    _fire(app, teacher, case_id, "appoint_stafettholder", {"stafettholder": coordinator.id})
    _fire(app, teacher, case_id, "inform_home", {"informed_on": _today(app).isoformat()})
    for trigger in ("start", "assess", "decide"):
        _fire(app, teacher, case_id, trigger)
    _fire(app, coordinator, case_id, "escalate",
          {"reason": "Undringssamtalen viste behov for tiltak"})
    return case_id


def test_where_we_are_is_a_stepper_of_the_files_levels(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    where = _section(html, "where-title")
    stepper = where[where.index('<ol class="stepper">'):where.index("</ol>")]
    steps = re.findall(r"<li class=\"step ([^\"]*)\"([^>]*)>", stepper)
    assert len(steps) == 4  # nivå 0–3, in number order
    assert [("aria-current" in attrs) for _, attrs in steps] == [False, True, False, False]
    assert "step-green step-passed" in steps[0][0]
    assert "step-current" in steps[1][0]
    assert stepper.index("Nivå 0") < stepper.index("Nivå 1") < stepper.index("Nivå 3")
    assert 'aria-current="step"' in stepper
    assert "Dager i nivået" in where or "Days in level" in where
    assert "Neste frist" in where


def test_what_is_in_place_and_what_comes_next(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    coordinator = web_world.users["coordinator"]
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    now = _section(html, "now-title")
    assert coordinator.display_name in now  # who takes part, and why
    assert "stafettholder" in now
    # what comes next: the forward step with its checklist, the unmet guard linked to the
    # action that meets it, and no button for the step itself yet
    step = html[html.index('id="next-start"'):]
    step = step[:step.index("</div>")]
    assert "☐" in step
    assert "minst ett aktivt tiltak" in step
    assert f'href="/saker/{case_id}/handling/add_measure"' in step
    assert f'href="/saker/{case_id}/handling/start"' not in step
    today = _today(app)
    _fire(app, coordinator, case_id, "add_measure", {
        "description": "Leksehjelp to dagar i veka", "responsible": coordinator.id,
        "start_date": today.isoformat(), "evaluate_by": today.replace(day=28).isoformat()
        if today.day < 28 else today.isoformat()})
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    assert "Leksehjelp to dagar i veka" in _section(html, "now-title")
    step = html[html.index('id="next-start"'):]
    step = step[:step.index("</div>")]
    assert "☐" not in step
    assert f'class="button" href="/saker/{case_id}/handling/start"' in step


def test_other_actions_are_grouped_and_only_those_allowed_now(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b, violence_suspected="true")
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    others = _section(html, "other-title")
    assert "Opplysningsplikt" in others  # the duties, always reachable
    assert f'/saker/{case_id}/handling/report_barnevernet"' in others
    assert f'/saker/{case_id}/handling/avvergeplikt"' in others
    assert f'/saker/{case_id}/handling/add_note"' in others
    # refused now (the flag): not offered, and no grey blocks anywhere
    assert f'/saker/{case_id}/handling/inform_home"' not in html
    assert "action-refused" not in html
    assert 'name="expected_version"' not in html  # the page holds no action forms


def test_an_action_has_its_own_page_with_the_form_alone(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    r = b.get(f"/saker/{case_id}/handling/add_note")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert html.count('name="expected_version"') == 1
    assert f'action="/saker/{case_id}/handling/add_note"' in html
    assert "KN" in html  # the case header
    assert 'class="timeline"' not in html  # not the whole case page
    assert f'href="/saker/{case_id}"' in html  # back to the case


def test_an_action_not_here_is_404_and_one_not_open_now_is_403(app, web_world, login):
    b = login("teacher", web_world)
    case_id = _open(b, violence_suspected="true")
    assert b.get(f"/saker/{case_id}/handling/no_such_action").status_code == 404
    assert b.get(f"/saker/{case_id}/handling/evaluate").status_code == 404  # not in this state
    assert b.get(f"/saker/{case_id}/handling/inform_home").status_code == 403
    outsider = login("outsider", web_world)
    assert outsider.get(f"/saker/{case_id}/handling/add_note").status_code == 404


def test_an_invalid_submission_comes_back_on_the_action_page(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}/handling/add_goal").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/add_goal",
               {"expected_version": _version(html, "add_goal"), "goal_text": "   "})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert html.count('name="expected_version"') == 1
    assert 'id="error-summary-title"' in html
    assert 'href="#a-add_goal-goal_text"' in html
    assert 'id="a-add_goal-goal_text-error"' in html
    assert 'class="timeline"' not in html


def test_a_saved_action_returns_to_the_case_with_the_workflows_message(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}/handling/add_note").get_data(as_text=True)
    r = b.post(f"/saker/{case_id}/handling/add_note",
               {"expected_version": _version(html, "add_note"), "text": "Samtale med mor"})
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/saker/{case_id}")
    html = b.get(r.headers["Location"]).get_data(as_text=True)
    flash = html[html.index('class="flash flash-info"'):]
    assert flash[:flash.index("</")].endswith("Notatet er lagret")  # the file's `saved`


def test_the_stafettlogg_reads_like_a_record(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    coordinator = web_world.users["coordinator"]
    b = login("coordinator", web_world)
    log = b.get(f"/saker/{case_id}").get_data(as_text=True)
    log = log[log.index('class="timeline"'):]
    titles = re.findall(r'<h3 class="log-title">([^<]*)</h3>', log)
    assert f"{coordinator.display_name} ble stafettholder" in titles
    assert "Saken ble løftet til nivå 1" in titles
    assert not re.search(r"#\d", log)  # names, never ids


def test_show_more_keeps_the_kind(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    coordinator = web_world.users["coordinator"]
    for i in range(52):
        _fire(app, coordinator, case_id, "add_note", {"text": f"Notat nummer {i}"})
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}?kind=note").get_data(as_text=True)
    assert html.count('class="log-entry ') == 50
    more = re.search(r'href="(/saker/\d+\?[^"#]*)#entry-\d+">Vis flere<', html) or \
        re.search(r'href="(/saker/\d+\?[^"#]*)#entry-\d+">Show more<', html)
    assert more, html[-3000:]
    url = more.group(1).replace("&amp;", "&")
    assert "kind=note" in url
    assert "shown=100" in url
    html = b.get(url).get_data(as_text=True)
    assert html.count('class="log-entry ') == 52
    assert "#entry-" not in html[html.index('class="timeline"'):].split("</ol>")[1]
    # a shown= that is not a number is the first page
    assert b.get(f"/saker/{case_id}?shown=lots").status_code == 200


def test_the_case_page_reads_in_a_bounded_number_of_statements(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    coordinator = web_world.users["coordinator"]
    for i in range(3):
        _fire(app, coordinator, case_id, "add_note", {"text": f"Notat {i}"})
    b = login("coordinator", web_world)
    engine = app.extensions["bti"].engine

    def statements() -> int:
        seen = [0]

        def count(*_args):
            seen[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert b.get(f"/saker/{case_id}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return seen[0]

    few = statements()
    assert few <= CASE_PAGE_STATEMENTS
    today = _today(app).isoformat()
    for i in range(5):
        _fire(app, coordinator, case_id, "add_measure", {
            "description": f"Tiltak {i}", "responsible": coordinator.id,
            "start_date": today, "evaluate_by": today})
        _fire(app, coordinator, case_id, "add_goal", {"goal_text": f"Mål {i}"})
    assert statements() <= few + 1  # the names of the measures' entries, read at once


def test_guidance_panels_where_they_matter(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    b = login("coordinator", web_world)
    html = b.get(f"/saker/{case_id}/handling/record_meeting").get_data(as_text=True)
    assert "Hva er en undringssamtale?" in html
    assert "Å informere heimen" in html
    assert 'name="home_present"' in html
    html = b.get(f"/saker/{case_id}/handling/give_consent").get_data(as_text=True)
    assert "Om samtykke" in html
    assert "frivillig" in html
    assert "Fra ungdommen er 15 år" in html
    html = b.get(f"/saker/{case_id}/handling/add_note").get_data(as_text=True)
    assert 'class="guidance"' not in html
