"""Five whole journeys through the BTI action guide in a real browser, each once in bokmål and
once in nynorsk, each on a fresh case of its own:

1. a teacher logs a concern, sees the receipt (next steps, deadline), then logs a concern with
   suspected violence, reaches the urgent page and records the report to barnevernet there,
   all with the keyboard alone;
2. a coordinator takes a case from nivå 0 through nivå 1 (a measure, an evaluation with the
   child's voice) to nivå 2 with consent, every step clicked in the UI (the leader appoints
   the stafettholder first);
3. a handover is proposed and accepted by the recipient, and the stafettholder changes;
4. a report to barnevernet from nivå 2 lands in the stafettlogg;
5. the leader opens the unit overview and the case's timeline (SVG and table).

Every page a journey reaches is checked with axe (WCAG 2.1 A/AA) and saved as
test-artifacts/e2e/<journey>-<step>-<lang>.png. Preconditions of journeys 3–5 are built
through the services (``case_at`` in conftest.py); journeys 1 and 2 click everything.
Labels of actions and fields come from workflows/bti-standard.toml, the file the app shows.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bti.domain.clock import local_date
from tests.e2e.conftest import assert_fits

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = tomllib.loads((ROOT / "workflows" / "bti-standard.toml").read_text(encoding="utf-8"))
LANGS = ["nb", "nn"]
#: The three main journeys (1, 2 and 5) also run at a phone's width, in bokmål.
PHONE = 390
LANGS_AND_PHONE = [pytest.param("nb", 1280, id="nb"), pytest.param("nn", 1280, id="nn"),
                   pytest.param("nb", PHONE, id=f"nb-{PHONE}px")]

TEACHER, COORDINATOR, LEADER = "laerar", "koordinator", "rektor"
NAMES = {TEACHER: "Lærar Lise Lund", COORDINATOR: "Koordinator Kari Kvam",
         LEADER: "Rektor Rolf Rud"}
SCHOOL = "Fjordvik skule"

#: The app's own texts (bti/web/translations) the journeys look for.
TEXT = {
    "nb": {
        "user": "Brukernavn", "password": "Passord", "sign_in": "Logg inn", "sign_out": "Logg ut",
        "change": "Bytt", "menu": "Hovedmeny", "menu_button": "Meny", "inbox": "Mine saker",
        "new_concern": "Ny bekymring", "pseudonym": "Initialene til barnet eller et pseudonym",
        "birth_year": "Fødselsår", "record_concern": "Registrer bekymringen", "yes": "Ja",
        "pseudonym_error": "Skriv initialene eller et pseudonym.",
        "contacts": "Barnevernvakten, utenom kontortid",
        "no": "Nei", "recorded": "Bekymringen er registrert", "next_steps": "Neste steg",
        "deadline": "Frist", "urgent": "Handle nå: mistanke om vold eller overgrep",
        "do_not_inform": "Ikke informer heimen.",
        "duty": "Opplysningsplikten din til barnevernet",
        "record_done": "Registrer det du har gjort",
        "violence_note": "Mistanke om vold eller overgrep.",
        "summary": "Hvor saken står", "actions": "Neste steg", "log": "Stafettlogg",
        "in_place": "Dette er på plass nå", "others": "Andre handlinger",
        "measures": "Tiltak", "consents": "Samtykker", "who": "Hvem er med",
        "met": "Oppfylt:", "not_met": "Ikke oppfylt:", "record": "Registrer",
        "entries": "{} oppføringer, nyeste først.",
        "reason": "Begrunnelse", "level": "Nivå", "stafettholder": "Stafettholder",
        "voice": "Barnets stemme", "waiting": "Overføring venter på svaret ditt",
        "show": "Vis", "filter": "Filtrer", "reports": "Meldinger til barnevernet og politiet",
        "overview": "Oversikt over enheten", "by_level": "Åpne saker per nivå",
        "timeline": "Tidslinje", "case": "Sak {}", "timeline_h1": "Tidslinje for sak {}",
        "chart": "Tidslinje for forløpet i sak {}", "as_table": "Tidslinjen som tabell",
        "table": "Nivåer, tiltak og hendelser i sak {}, etter dato",
        "level_n": "Nivå {}", "child_welfare": "Barnevernet", "evaluation": "Evaluering",
        "consent": "Samtykke", "measure": "Tiltak",
    },
    "nn": {
        "user": "Brukarnamn", "password": "Passord", "sign_in": "Logg inn", "sign_out": "Logg ut",
        "change": "Byt", "menu": "Hovudmeny", "menu_button": "Meny", "inbox": "Mine saker",
        "new_concern": "Ny uro", "pseudonym": "Initialane til barnet eller eit pseudonym",
        "birth_year": "Fødselsår", "record_concern": "Registrer uroa", "yes": "Ja",
        "pseudonym_error": "Skriv initialane eller eit pseudonym.",
        "contacts": "Barnevernvakta, utanom kontortid",
        "no": "Nei", "recorded": "Uroa er registrert", "next_steps": "Neste steg",
        "deadline": "Frist", "urgent": "Handle no: mistanke om vald eller overgrep",
        "do_not_inform": "Ikkje informer heimen.",
        "duty": "Opplysningsplikta di til barnevernet",
        "record_done": "Registrer det du har gjort",
        "violence_note": "Mistanke om vald eller overgrep.",
        "summary": "Kvar saka står", "actions": "Neste steg", "log": "Stafettlogg",
        "in_place": "Dette er på plass no", "others": "Andre handlingar",
        "measures": "Tiltak", "consents": "Samtykke", "who": "Kven er med",
        "met": "Oppfylt:", "not_met": "Ikkje oppfylt:", "record": "Registrer",
        "entries": "{} oppføringar, nyaste først.",
        "reason": "Grunngjeving", "level": "Nivå", "stafettholder": "Stafetthaldar",
        "voice": "Barnet si stemme", "waiting": "Overføring ventar på svaret ditt",
        "show": "Vis", "filter": "Filtrer", "reports": "Meldingar til barnevernet og politiet",
        "overview": "Oversikt over eininga", "by_level": "Opne saker per nivå",
        "timeline": "Tidsline", "case": "Sak {}", "timeline_h1": "Tidsline for sak {}",
        "chart": "Tidsline for forløpet i sak {}", "as_table": "Tidslina som tabell",
        "table": "Nivå, tiltak og hendingar i sak {}, etter dato",
        "level_n": "Nivå {}", "child_welfare": "Barnevernet", "evaluation": "Evaluering",
        "consent": "Samtykke", "measure": "Tiltak",
    },
}


# -- the workflow's own labels -------------------------------------------------------------------

def action_label(trigger: str, source: str, lang: str) -> str:
    """The label of ``trigger`` from ``source`` (what the summary, the button and the
    stafettlogg entry show)."""
    for t in WORKFLOW["transitions"]:
        sources = [t["source"]] if isinstance(t["source"], str) else t["source"]
        if t["trigger"] == trigger and source in sources:
            return t["label"][lang]
    for t in WORKFLOW["standing_exits"]:
        if t["trigger"] == trigger:
            return t["label"][lang]
    raise KeyError((trigger, source))


def saved_message(trigger: str, source: str, lang: str) -> str:
    """The workflow file's message after ``trigger`` is saved (its ``saved``)."""
    for t in WORKFLOW["transitions"]:
        sources = [t["source"]] if isinstance(t["source"], str) else t["source"]
        if t["trigger"] == trigger and source in sources:
            return t["saved"][lang]
    return next(t["saved"][lang] for t in WORKFLOW["standing_exits"] if t["trigger"] == trigger)


def field_label(name: str, lang: str) -> str:
    return WORKFLOW["fields"][name]["label"][lang]


def option_label(name: str, value: str, lang: str) -> str:
    return next(o["label"][lang] for o in WORKFLOW["fields"][name]["options"]
                if o["value"] == value)


def level_label(level: str, lang: str) -> str:
    return next(v["label"][lang] for v in WORKFLOW["levels"] if v["id"] == level)


def opening_label(lang: str) -> str:
    return WORKFLOW["opening"]["label"][lang]


def tag(viewport_width: int) -> str:
    """What sets a phone run's pseudonyms apart from the desktop run's (no likely duplicate)."""
    return "" if viewport_width != PHONE else " m"


def oslo_today():
    return local_date(datetime.now(UTC))


def no_date(day) -> str:
    return day.strftime("%d.%m.%Y")


def exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


# -- every page: language, axe, screenshot -------------------------------------------------------

# (``check``: tests/e2e/conftest.py)


# -- mouse helpers (journeys 2–5) ------------------------------------------------------------

def choose_language(page, lang: str) -> None:
    """The header's language selector, as a person uses it."""
    page.get_by_label(re.compile(r"^(Språk|Language)$")).select_option(lang)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(r"^(Bytt|Byt|Change)$")).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def menu_link(page, lang: str, name: str):
    """A link of the main menu, the menu opened first when it is folded (a phone)."""
    nav = page.get_by_role("navigation", name=TEXT[lang]["menu"])
    toggle = nav.get_by_role("button", name=TEXT[lang]["menu_button"])
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
    return nav.get_by_role("link", name=name)


def enter(page, sign_in, check, journey: str, username: str, lang: str) -> None:
    """Sign-in page → language selector → sign in: Mine saker in ``lang``, checked."""
    t = TEXT[lang]
    if "/auth/login" not in page.url:
        page.goto("/auth/login")
    choose_language(page, lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(t["sign_in"])
    check(page, journey, f"sign-in-{username}", lang)
    sign_in(page, username)
    expect(page.get_by_role("heading", level=1)).to_have_text(t["inbox"])
    # the header names the user; the name links to their settings
    expect(page.get_by_role("banner").get_by_role("link", name=re.compile(
        rf"^{re.escape(NAMES[username])} – Innstilling(er|ar)$"))).to_be_visible()
    check(page, journey, f"inbox-{username}", lang)


def sign_out(page, check, journey: str, lang: str, step: str = "signed-out") -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=TEXT[lang]["sign_out"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TEXT[lang]["sign_in"])
    check(page, journey, step, lang)


def open_case(page, pseudonym: str) -> None:
    """From Mine saker, the case's link (its pseudonym)."""
    page.get_by_role("link", name=pseudonym, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(pseudonym)


def fact(page, lang: str, term: str):
    """The value (dd) of one fact in "Where we are" (its dl)."""
    return page.get_by_role("region", name=TEXT[lang]["summary"]).locator(
        f"xpath=.//dt[normalize-space()='{TEXT[lang][term]}']/following-sibling::dd[1]")


def region(page, lang: str, name: str):
    """One of the case page's panels: "summary" (where we are), "in_place", "actions" (what
    comes next), "others" (other actions), "log"."""
    return page.get_by_role("region", name=TEXT[lang][name], exact=True)


def current_step(page, lang: str):
    """The stepper's current level (aria-current="step")."""
    return region(page, lang, "summary").locator('.stepper [aria-current="step"]')


def log_titles(page, lang: str) -> list[str]:
    """What each stafettlogg entry records, newest first: the action's label (the entry's
    past-tense title is its heading; ``log_headings``)."""
    log = page.get_by_role("region", name=TEXT[lang]["log"])
    return [s.strip() for s in log.locator(".log-what").all_inner_texts()]


def log_headings(page, lang: str) -> list[str]:
    log = page.get_by_role("region", name=TEXT[lang]["log"])
    return [s.strip() for s in log.get_by_role("heading", level=3).all_inner_texts()]


def log_times(page, lang: str) -> list[str]:
    log = page.get_by_role("region", name=TEXT[lang]["log"])
    return log.locator("time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")


def act(page, axe, trigger: str, source: str, lang: str, fill=None, *,
        panel: str | None = None) -> str:
    """From the case page, follow the link to the action ``trigger`` in ``panel`` ("actions":
    the next step's button or its checklist; "others": the grouped other actions; either when
    None) to its own page, let ``fill`` fill the form, check the page (it fits the window,
    axe), send it, and wait for the case page with the workflow's saved message."""
    label = action_label(trigger, source, lang)
    panels = [panel] if panel else ["actions", "others"]
    links = [region(page, lang, p).locator(f'a[href$="/handling/{trigger}"]') for p in panels]
    link = links[0] if len(links) == 1 else links[0].or_(links[1])
    expect(link.first).to_have_text(exactly(label))
    with page.expect_navigation():
        link.first.click()
    expect(page).to_have_url(re.compile(rf"/saker/\d+/handling/{trigger}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(exactly(label))
    form = page.locator(f"section#action-{trigger}")
    if fill:
        fill(form)
    assert_fits(page)
    axe(page)
    with page.expect_navigation():
        form.get_by_role("button", name=label, exact=True).click()
    errors = page.get_by_role("alert")
    assert not errors.count(), f"{trigger} was refused: {errors.all_inner_texts()}"
    expect(page).to_have_url(re.compile(r"/saker/\d+$"))
    expect(page.get_by_role("status").filter(
        has_text=exactly(saved_message(trigger, source, lang)))).to_be_visible()
    assert_fits(page)
    return label


def choose(scope, name: str, value: str, lang: str) -> None:
    """Check the radio ``value`` in the radio group (fieldset) of the workflow field ``name``."""
    scope.get_by_role("group", name=field_label(name, lang)).get_by_role(
        "radio", name=option_label(name, value, lang), exact=True).check()


def reason(form, lang: str, text: str) -> None:
    form.get_by_label(TEXT[lang]["reason"]).fill(text)


# -- keyboard helpers (journey 1) --------------------------------------------------------------

def tab_to(page, target, *, back: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab with ``back``) until ``target`` has the focus, and check that the
    focus is visible there (:focus-visible, with an outline drawn). Fails if ``limit`` presses
    do not reach it."""
    target.wait_for()
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Shift+Tab" if back else "Tab")
    else:
        raise AssertionError(f"{limit} presses of Tab did not reach {target}")
    expect(target).to_be_focused()
    ring = target.evaluate(
        "el => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle")
    assert ring not in (False, "none"), f"no visible focus indicator on {target}"


def press_and_wait(page, key: str = "Enter") -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def tab_to_menu_link(page, lang: str, name: str) -> None:
    """Tab to a link of the main menu; on a phone, Tab to the folded menu's button and open it
    with Enter first."""
    nav = page.get_by_role("navigation", name=TEXT[lang]["menu"])
    toggle = nav.get_by_role("button", name=TEXT[lang]["menu_button"])
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
        tab_to(page, toggle)
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
    tab_to(page, nav.get_by_role("link", name=name))


def keyboard_concern(page, check, lang: str, pseudonym: str, *, violence: bool,
                     step: str) -> None:
    """From any signed-in page: the menu's "New concern", the form filled and sent with the
    keyboard alone."""
    t = TEXT[lang]
    kb = page.keyboard
    tab_to_menu_link(page, lang, t["new_concern"])
    press_and_wait(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(opening_label(lang))
    check(page, "journey1", f"{step}-form", lang)

    tab_to(page, page.get_by_label(t["pseudonym"]))
    kb.type(pseudonym)
    tab_to(page, page.get_by_label(t["birth_year"]))
    kb.type(str(oslo_today().year - 9))
    tab_to(page, page.get_by_label(field_label("what_seen", lang)))
    kb.type("Barnet søv i timane og et ikkje matpakka si.")
    tab_to(page, page.get_by_label(field_label("since", lang)))
    kb.type("Tre veker")
    tab_to(page, page.get_by_label(field_label("child_said", lang)))
    kb.type("«Eg er så trøytt.»")

    question = page.get_by_role("group", name=field_label("violence_suspected", lang))
    yes = question.get_by_label(t["yes"], exact=True)
    no = question.get_by_label(t["no"], exact=True)
    tab_to(page, yes)  # no answer yet: Tab enters the radio group at its first radio
    if violence:
        kb.press("Space")
        expect(yes).to_be_checked()
    else:
        kb.press("ArrowDown")  # moves to and selects the next radio
        expect(no).to_be_checked()
    answer = yes if violence else no
    submit = page.get_by_role("button", name=t["record_concern"], exact=True)
    tab_to(page, submit)
    # Shift+Tab goes back into the group at the checked radio, then forward again
    tab_to(page, answer, back=True, limit=3)
    tab_to(page, submit, limit=3)
    press_and_wait(page)


# -- journey 1: the teacher's concern, with the keyboard alone ------------------------------------

@pytest.mark.parametrize(("lang", "viewport_width"), LANGS_AND_PHONE)
def test_journey1_teacher_logs_concerns_with_the_keyboard(page, live_server, check, lang,
                                                          viewport_width):
    t = TEXT[lang]
    kb = page.keyboard
    page.goto("/auth/login")

    # the language selector in the header: focus it, pick with the arrow keys, Enter on "Change"
    select = page.get_by_label(re.compile(r"^(Språk|Language)$"))
    tab_to(page, select)
    steps = ["nb", "nn", "en"].index(lang) - ["nb", "nn", "en"].index(select.input_value())
    for _ in range(abs(steps)):
        kb.press("ArrowDown" if steps > 0 else "ArrowUp")
    expect(select).to_have_value(lang)
    tab_to(page, page.get_by_role("button", name=re.compile(r"^(Bytt|Byt|Change)$")))
    press_and_wait(page)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(t["sign_in"])
    check(page, "journey1", "sign-in", lang)

    tab_to(page, page.get_by_label(t["user"]))
    kb.type(TEACHER)
    tab_to(page, page.get_by_label(t["password"]))
    kb.type(live_server.password)
    tab_to(page, page.get_by_role("button", name=t["sign_in"], exact=True))
    press_and_wait(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(t["inbox"])
    check(page, "journey1", "inbox", lang)

    # the form sent empty: the error summary takes the focus; its first link, the field
    tab_to_menu_link(page, lang, t["new_concern"])
    press_and_wait(page)
    tab_to(page, page.get_by_role("button", name=t["record_concern"], exact=True))
    press_and_wait(page)
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    links = summary.get_by_role("link")
    expect(links).to_have_count(4)  # pseudonym, birth year, what was seen, the violence question
    expect(links.first).to_have_text(t["pseudonym_error"])
    check(page, "journey1", "errors", lang)
    tab_to(page, links.first, limit=2)
    kb.press("Enter")
    expect(page.get_by_label(t["pseudonym"])).to_be_focused()

    # a concern without violence: the receipt with the next steps and the deadline
    first = f"Rogn J1 {lang}{tag(viewport_width)}"
    keyboard_concern(page, check, lang, first, violence=False, step="concern")
    expect(page).to_have_url(re.compile(r"/saker/\d+/kvittering$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["recorded"])
    expect(page.get_by_role("status")).to_contain_text(first)
    expect(page.get_by_role("status")).to_contain_text(level_label("n0", lang))
    expect(page.get_by_role("heading", level=2, name=t["next_steps"])).to_be_visible()
    decide_by = oslo_today() + timedelta(days=WORKFLOW["deadlines"]["level_decision_days"]["n0"])
    steps_list = page.get_by_role("list").filter(has_text=no_date(decide_by))
    expect(steps_list.get_by_role("listitem")).to_have_count(3)
    deadline = page.locator("p", has_text=t["deadline"]).locator("time")
    expect(deadline).to_have_attribute("datetime", decide_by.isoformat())
    expect(deadline).to_have_text(no_date(decide_by))
    check(page, "journey1", "receipt", lang)

    # a concern with suspected violence: the urgent page, and the report recorded there
    second = f"Selje J1 {lang}{tag(viewport_width)}"
    keyboard_concern(page, check, lang, second, violence=True, step="violence")
    expect(page).to_have_url(re.compile(r"/saker/\d+/kvittering$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["urgent"])
    expect(page.get_by_role("alert")).to_contain_text(t["do_not_inform"])
    expect(page.get_by_role("heading", level=2, name=t["duty"])).to_be_visible()
    expect(page.get_by_role("heading", level=2, name=t["record_done"])).to_be_visible()
    expect(page.locator("dl.contact-list").first).to_contain_text(t["contacts"])
    check(page, "journey1", "urgent", lang)

    label = action_label("report_barnevernet", "n0_plan", lang)
    report = page.locator("details#action-report_barnevernet")
    expect(report).to_have_attribute("open", "")  # open from the start: no click needed
    expect(report.get_by_label(field_label("sent_on", lang))).to_have_value(
        oslo_today().isoformat())  # today by default
    grounds = report.get_by_label(field_label("grounds", lang))
    tab_to(page, grounds)
    kb.press("ArrowDown")
    kb.press("ArrowDown")
    expect(grounds).to_have_value("violence_abuse")
    tab_to(page, report.get_by_label(field_label("notes", lang)))
    kb.type("Ringde barnevernsvakta same dag.")
    tab_to(page, report.get_by_role("button", name=label, exact=True))
    press_and_wait(page)

    expect(page).to_have_url(re.compile(r"/saker/\d+$"))
    expect(page.get_by_role("status").filter(
        has_text=exactly(saved_message("report_barnevernet", "n0_plan", lang)))).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(second)
    expect(page.get_by_role("note")).to_contain_text(t["violence_note"])
    assert log_titles(page, lang) == [label, opening_label(lang)]
    log = page.get_by_role("region", name=TEXT[lang]["log"])
    expect(log.get_by_role("listitem").first).to_contain_text(
        option_label("grounds", "violence_abuse", lang))
    check(page, "journey1", "reported", lang)

    # from the case page to an action's own page and its form sent, by keyboard alone:
    # Tab to "Write a note" among the other actions, Enter, type, Tab to the button, Space
    note = action_label("add_note", "n0_plan", lang)
    tab_to(page, region(page, lang, "others").get_by_role("link", name=note, exact=True))
    press_and_wait(page)
    expect(page).to_have_url(re.compile(r"/saker/\d+/handling/add_note$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(exactly(note))
    check(page, "journey1", "note-form", lang)
    form = page.locator("section#action-add_note")
    tab_to(page, form.get_by_role("textbox", name=field_label("text", lang)))
    kb.type("Ringde barnevernsvakta; dei tek kontakt.")
    tab_to(page, form.get_by_role("button", name=note, exact=True))
    press_and_wait(page, "Space")
    expect(page).to_have_url(re.compile(r"/saker/\d+$"))
    expect(page.get_by_role("status").filter(
        has_text=exactly(saved_message("add_note", "n0_plan", lang)))).to_be_visible()
    assert log_titles(page, lang) == [note, label, opening_label(lang)]
    check(page, "journey1", "note-saved", lang)
    # the console reports the empty form's 422 (the answer meant); nothing else
    others = [e for e in page.js_errors if "status of 422" not in e or "/saker/ny" not in e]
    assert not others, page.js_errors


# -- journey 2: nivå 0 → nivå 1 → nivå 2, clicked through ---------------------------------------

@pytest.mark.parametrize(("lang", "viewport_width"), LANGS_AND_PHONE)
def test_journey2_coordinator_takes_a_case_to_level_2(page, sign_in, axe, check, lang,
                                                       viewport_width):
    j = "journey2"
    t = TEXT[lang]
    today = oslo_today()
    pseudonym = f"Osp J2 {lang}{tag(viewport_width)}"

    # the teacher records the concern (the mouse's turn at journey 1's form)
    enter(page, sign_in, check, j, TEACHER, lang)
    menu_link(page, lang, t["new_concern"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(opening_label(lang))
    page.get_by_label(t["pseudonym"]).fill(pseudonym)
    page.get_by_label(t["birth_year"]).fill(str(today.year - 9))
    page.get_by_label(field_label("what_seen", lang)).fill("Barnet kjem ofte seint og svoltent.")
    page.get_by_role("group", name=field_label("violence_suspected", lang)).get_by_label(
        t["no"], exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name=t["record_concern"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["recorded"])
    cid = int(re.search(r"/saker/(\d+)/kvittering$", page.url).group(1))
    check(page, j, "receipt", lang)
    sign_out(page, check, j, lang, "signed-out-laerar")
    done = [opening_label(lang)]

    # the unit's leader appoints koordinator as stafettholder
    enter(page, sign_in, check, j, LEADER, lang)
    open_case(page, pseudonym)
    expect(page).to_have_url(re.compile(rf"/saker/{cid}$"))
    expect(fact(page, lang, "level")).to_have_text(level_label("n0", lang))
    # the stepper: the workflow's numbered levels (nivå 0–3), nivå 0 the current one
    stepper = region(page, lang, "summary").locator(".stepper > li")
    expect(stepper).to_have_count(len([v for v in WORKFLOW["levels"] if "number" in v]))
    expect(current_step(page, lang)).to_contain_text(level_label("n0", lang))
    check(page, j, "leader-case", lang)
    done.append(act(page, axe, "appoint_stafettholder", "n0_plan", lang,
                    lambda f: f.get_by_label(field_label("stafettholder", lang))
                    .select_option(label=f"{NAMES[COORDINATOR]} ({SCHOOL})")))
    expect(fact(page, lang, "stafettholder")).to_have_text(NAMES[COORDINATOR])
    appointed = next(t for t in WORKFLOW["transitions"] if t["trigger"] == "appoint_stafettholder")
    assert log_headings(page, lang)[0] == appointed["title"][lang].format(
        stafettholder=NAMES[COORDINATOR])  # a record, by name
    check(page, j, "appointed", lang)
    sign_out(page, check, j, lang, "signed-out-rektor")

    # the stafettholder: inform the home and go through the phases of nivå 0
    enter(page, sign_in, check, j, COORDINATOR, lang)
    open_case(page, pseudonym)
    expect(region(page, lang, "in_place").get_by_role("heading", name=t["measures"])) \
        .to_be_visible()
    check(page, j, "coordinator-case", lang)

    def home(f):
        expect(f.get_by_label(field_label("informed_on", lang))).to_have_value(today.isoformat())
        f.get_by_label(field_label("how", lang)).fill("Undringssamtale med mor og far.")

    done.append(act(page, axe, "inform_home", "n0_plan", lang, home))
    check(page, j, "home-informed", lang)
    for trigger, source, step in (("start", "n0_plan", "n0-active"),
                                  ("assess", "n0_active", "n0-evaluation"),
                                  ("decide", "n0_evaluation", "n0-decision")):
        # a forward step: the primary action of "What comes next"
        done.append(act(page, axe, trigger, source, lang, panel="actions"))
        expect(fact(page, lang, "level")).to_have_text(level_label("n0", lang))
        check(page, j, step, lang)
    done.append(act(page, axe, "escalate", "n0_decision", lang,
                    lambda f: reason(f, lang, "Heimen og skulen vil prøve tiltak i klassen.")))
    expect(fact(page, lang, "level")).to_have_text(level_label("n1", lang))
    expect(current_step(page, lang)).to_contain_text(level_label("n1", lang))
    # what comes next: "start" waits for a measure; the checklist says so in words, with a
    # link to the action that meets it, and there is no button for "start" yet
    nxt = region(page, lang, "actions").locator("#next-start")
    unmet = nxt.locator(".checklist li", has_text=t["not_met"])
    expect(unmet.first).to_be_visible()
    expect(unmet.locator('a[href$="/handling/add_measure"]').first).to_have_text(
        exactly(action_label("add_measure", "n1_plan", lang)))
    expect(nxt.locator('a.button[href$="/handling/start"]')).to_have_count(0)
    check(page, j, "level1", lang)

    # nivå 1: a measure with a responsible and an evaluation date
    measure = "Fast samtale med kontaktlærar kvar måndag."

    def add_measure(f):
        f.get_by_label(field_label("description", lang)).fill(measure)
        f.get_by_label(field_label("responsible", lang)).select_option(
            label=f"{NAMES[COORDINATOR]} ({SCHOOL})")
        f.get_by_label(field_label("start_date", lang)).fill(today.isoformat())
        f.get_by_label(field_label("evaluate_by", lang)).fill(
            (today + timedelta(days=42)).isoformat())
        f.get_by_label(field_label("setting", lang)).select_option("school")

    done.append(act(page, axe, "add_measure", "n1_plan", lang, add_measure, panel="actions"))
    nxt = region(page, lang, "actions").locator("#next-start")
    expect(nxt.locator(".checklist li", has_text=t["not_met"])).to_have_count(0)
    expect(nxt.locator('a.button[href$="/handling/start"]')).to_be_visible()
    # what is in place now: the measure, its responsible and its evaluation date
    in_place = region(page, lang, "in_place")
    expect(in_place.get_by_role("listitem").filter(has_text=measure)).to_contain_text(
        NAMES[COORDINATOR])
    expect(in_place.get_by_role("listitem").filter(has_text=measure)).to_contain_text(
        no_date(today + timedelta(days=42)))
    check(page, j, "measure-added", lang)
    done.append(act(page, axe, "start", "n1_plan", lang))
    check(page, j, "level1-active", lang)
    done.append(act(page, axe, "evaluate", "n1_active", lang))
    check(page, j, "level1-evaluation", lang)

    # the evaluation, with the child's voice
    child_said = "Det er kjekt å prate med læraren på måndagar."

    def evaluation(f):
        voice = f.get_by_role("group", name=t["voice"])
        choose(voice, "child_voice_method", "conversation", lang)
        voice.get_by_label(field_label("child_said", lang)).fill(child_said)
        f.get_by_role("group", name=field_label("measures", lang)).get_by_label(
            re.compile(re.escape(measure))).check()
        choose(f, "effect", "good", lang)
        choose(f, "outcome", "continue", lang)
        f.get_by_label(field_label("evaluated_on", lang)).fill(today.isoformat())

    done.append(act(page, axe, "record_evaluation", "n1_evaluation", lang, evaluation))
    log = page.get_by_role("region", name=t["log"])
    expect(log.get_by_role("listitem").first).to_contain_text(child_said)
    check(page, j, "evaluated", lang)
    done.append(act(page, axe, "decide", "n1_evaluation", lang))
    check(page, j, "level1-decision", lang)

    # consent covering the health station, then up to nivå 2 with a reason
    def consent(f):
        choose(f, "given_by", "guardians", lang)
        f.get_by_role("group", name=field_label("services", lang)).get_by_label(
            "Helsestasjonen").check()
        f.get_by_label(field_label("information", lang)).fill(
            "Trivsel og søvn, for samarbeid med helsestasjonen.")
        expect(f.get_by_label(field_label("given_on", lang))).to_have_value(today.isoformat())
        f.get_by_label(field_label("expires_on", lang)).fill(
            (today + timedelta(days=365)).isoformat())

    done.append(act(page, axe, "give_consent", "n1_decision", lang, consent))
    expect(region(page, lang, "in_place").get_by_role("listitem").filter(
        has_text="Helsestasjonen")).to_contain_text(
        no_date(today + timedelta(days=365)))
    check(page, j, "consent-given", lang)
    done.append(act(page, axe, "escalate", "n1_decision", lang,
                    lambda f: reason(f, lang, "Helsestasjonen bør inn i samarbeidet.")))

    expect(fact(page, lang, "level")).to_have_text(level_label("n2", lang))
    expect(current_step(page, lang)).to_contain_text(level_label("n2", lang))
    expect(fact(page, lang, "stafettholder")).to_have_text(NAMES[COORDINATOR])
    # the stafettlogg: every step, newest first
    assert log_titles(page, lang) == done[::-1]
    times = log_times(page, lang)
    assert times == sorted(times, reverse=True), times
    expect(page.get_by_role("region", name=t["log"]).get_by_role("status")).to_have_text(
        t["entries"].format(len(done)))
    check(page, j, "level2", lang)
    assert not page.js_errors, page.js_errors


# -- journey 3: a handover, proposed and accepted -------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_journey3_handover_is_proposed_and_accepted(page, sign_in, case_at, axe, check, lang):
    j = "journey3"
    t = TEXT[lang]
    pseudonym = f"Hegg J3 {lang}"
    case_at("n1_plan", pseudonym)  # koordinator is the stafettholder at nivå 1

    enter(page, sign_in, check, j, COORDINATOR, lang)
    open_case(page, pseudonym)
    expect(fact(page, lang, "stafettholder")).to_have_text(NAMES[COORDINATOR])
    check(page, j, "case", lang)

    def propose(f):
        f.get_by_label(field_label("to_user", lang)).select_option(
            label=f"{NAMES[TEACHER]} ({SCHOOL})")
        reason(f, lang, "Læraren har mest kontakt med barnet no.")

    proposed = act(page, axe, "propose_handover", "n1_plan", lang, propose)
    expect(fact(page, lang, "stafettholder")).to_have_text(NAMES[COORDINATOR])  # not yet
    assert log_titles(page, lang)[0] == proposed
    check(page, j, "proposed", lang)
    sign_out(page, check, j, lang)

    # the recipient sees the handover waiting, opens the case and accepts
    enter(page, sign_in, check, j, TEACHER, lang)
    expect(page.get_by_role("row").filter(has_text=pseudonym)).to_contain_text(t["waiting"])
    open_case(page, pseudonym)
    check(page, j, "recipient-case", lang)
    accepted = act(page, axe, "accept_handover", "n1_plan", lang)
    expect(fact(page, lang, "stafettholder")).to_have_text(NAMES[TEACHER])
    assert log_titles(page, lang)[:2] == [accepted, proposed]
    check(page, j, "accepted", lang)
    assert not page.js_errors, page.js_errors


# -- journey 4: a report to barnevernet from nivå 2 -------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_journey4_report_to_barnevernet_from_level_2(page, sign_in, case_at, axe, check, lang):
    j = "journey4"
    t = TEXT[lang]
    pseudonym = f"Lind J4 {lang}"
    case_at("n2_plan", pseudonym)

    enter(page, sign_in, check, j, COORDINATOR, lang)
    open_case(page, pseudonym)
    expect(fact(page, lang, "level")).to_have_text(level_label("n2", lang))
    before = len(log_titles(page, lang))
    check(page, j, "case", lang)

    def report(f):
        expect(f.get_by_label(field_label("sent_on", lang))).to_have_value(
            oslo_today().isoformat())
        f.get_by_label(field_label("grounds", lang)).select_option("neglect")
        f.get_by_label(field_label("notes", lang)).fill("Sendt etter samarbeidsmøtet.")

    label = act(page, axe, "report_barnevernet", "n2_plan", lang, report)
    expect(fact(page, lang, "level")).to_have_text(level_label("n2", lang))  # a standing exit
    titles = log_titles(page, lang)
    assert titles[0] == label, titles
    assert len(titles) == before + 1, titles
    entry = page.get_by_role("region", name=t["log"]).get_by_role("listitem").first
    expect(entry).to_contain_text(option_label("grounds", "neglect", lang))
    expect(entry).to_contain_text(NAMES[COORDINATOR])
    check(page, j, "reported", lang)

    # the stafettlogg filtered to reports shows just this one
    page.get_by_label(t["show"], exact=True).select_option(label=t["reports"])
    with page.expect_navigation():
        page.get_by_role("button", name=t["filter"]).click()
    assert log_titles(page, lang) == [label]
    check(page, j, "log-reports", lang)
    assert not page.js_errors, page.js_errors


# -- journey 5: the leader's overview and a case's timeline ----------------------------------------

@pytest.mark.parametrize(("lang", "viewport_width"), LANGS_AND_PHONE)
def test_journey5_leader_sees_the_overview_and_timeline(page, sign_in, case_at, check, lang,
                                                        viewport_width):
    j = "journey5"
    t = TEXT[lang]
    cid = case_at("n2_reported", f"Alm J5 {lang}{tag(viewport_width)}")

    enter(page, sign_in, check, j, LEADER, lang)
    menu_link(page, lang, t["overview"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["overview"])
    expect(page.get_by_role("heading", level=2, name=t["by_level"])).to_be_visible()
    row = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=t["case"].format(cid), exact=True))
    expect(row).to_contain_text(level_label("n2", lang))
    check(page, j, "overview", lang)

    row.get_by_role("link", name=f"{t['timeline']} – {t['case'].format(cid)}").click()
    expect(page).to_have_url(re.compile(rf"/leiar/sak/{cid}/tidslinje$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["timeline_h1"].format(cid))
    chart = page.get_by_role("img", name=re.compile("^" + re.escape(t["chart"].format(cid))))
    expect(chart).to_be_visible()
    expect(chart.locator("xpath=self::*[local-name()='svg']")).to_have_count(1)
    expect(page.get_by_role("heading", level=2, name=t["as_table"])).to_be_visible()
    table = page.get_by_role("table", name=t["table"].format(cid))
    expect(table).to_be_visible()
    # wider than a phone, the table scrolls in its own region (reachable with Tab), never the page
    scroller = page.get_by_role("region", name=t["table"].format(cid))
    expect(scroller.get_by_role("table")).to_have_count(1)
    expect(scroller).to_have_attribute("tabindex", "0")
    expect(scroller).to_have_css("overflow-x", "auto")
    kinds = [k.strip() for k in table.get_by_role("rowheader").all_inner_texts()]
    assert kinds.count(t["level"]) == 3, kinds  # nivå 0, 1 and 2
    for kind in (t["measure"], t["evaluation"], t["consent"], t["child_welfare"]):
        assert kind in kinds, (kind, kinds)
    check(page, j, "timeline", lang)
    assert not page.js_errors, page.js_errors
