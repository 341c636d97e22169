"""The validator finds every kind of problem, each as ``FILE: where: what``."""

from __future__ import annotations

import pytest

from bti.domain.vocabulary import vocabulary
from bti.engine import DefinitionError
from bti.engine import TransitionRefused
from bti.engine import Workflow
from bti.engine import load_text
from bti.engine.loader import problems_in_text

L = '{ nb = "x", nn = "x", en = "x" }'

MINIMAL = f"""
id = "mini"
version = 1
initial = "n0_plan"
title = {L}
[settings]
youth_consent_age = 15
[deadlines]
level_decision_days = {{ n0 = 14 }}
measure_evaluation_max_days = 90
barnevern_feedback_days = 21
consent_expiry_warning_days = 14
inactivity_days = 30
[[levels]]
id = "n0"
number = 0
label = {L}
[[levels]]
id = "closed"
final = true
label = {L}
[[states]]
name = "n0_plan"
level = "n0"
phase = "plan"
label = {L}
[[states]]
name = "closed"
level = "closed"
phase = "closed"
final = true
label = {L}
[opening]
roles = ["employee"]
fields = ["what_seen"]
label = {L}
title = {L}
saved = {L}
[[transitions]]
trigger = "close"
source = "n0_plan"
dest = "closed"
roles = ["reporter"]
reason = true
label = {L}
title = {L}
saved = {L}
[[transitions]]
trigger = "add_note"
source = "n0_plan"
roles = ["reporter"]
effect = "note"
fields = ["text"]
label = {L}
title = {L}
saved = {L}
[[standing_exits]]
trigger = "report_barnevernet"
roles = ["reporter", "stafettholder", "participant", "unit_leader", "handover_recipient",
         "emergency"]
effect = "report_barnevernet"
fields = ["sent_on"]
label = {L}
title = {L}
saved = {L}
[[standing_exits]]
trigger = "avvergeplikt"
roles = ["reporter", "stafettholder", "participant", "unit_leader", "handover_recipient",
         "emergency"]
effect = "avverge"
fields = ["reported_to", "reported_on"]
label = {L}
title = {L}
saved = {L}
[fields.what_seen]
type = "textarea"
label = {L}
[fields.text]
type = "textarea"
label = {L}
[fields.sent_on]
type = "date"
label = {L}
[fields.reported_on]
type = "date"
label = {L}
[fields.reported_to]
type = "choice"
label = {L}
options = [{{ value = "police", label = {L} }}]
"""


def problems(text: str) -> list[str]:
    return problems_in_text(text, "wf.toml", vocabulary())


def test_minimal_file_is_valid_and_loads():
    assert problems(MINIMAL) == []
    d = load_text(MINIMAL, "wf.toml", vocabulary())
    assert d.id == "mini"
    assert {t.trigger for t in d.transitions if t.standing} == {"report_barnevernet",
                                                               "avvergeplikt"}
    Workflow(d)


EXTRA_STATE = f"""
[[states]]
name = "n0_lost"
level = "n0"
phase = "active"
label = {L}
"""

CASES = [
    ("unknown key", MINIMAL.replace('initial = "n0_plan"', 'initial = "n0_plan"\ncolour = 1'),
     "wf.toml: colour: unknown key"),
    ("unknown source", MINIMAL.replace('source = "n0_plan"\ndest = "closed"',
                                       'source = "n0_plann"\ndest = "closed"'),
     "wf.toml: transitions[0].source: unknown state 'n0_plann'"),
    ("unknown dest", MINIMAL.replace('dest = "closed"', 'dest = "kloset"'),
     "wf.toml: transitions[0].dest: unknown state 'kloset'"),
    ("unreachable state", MINIMAL + EXTRA_STATE,
     "wf.toml: states.n0_lost: unreachable from the initial state 'n0_plan'"),
    ("no way out", MINIMAL + EXTRA_STATE,
     "wf.toml: states.n0_lost: a non-final state with no way out"),
    ("out of final", MINIMAL.replace('trigger = "add_note"\nsource = "n0_plan"',
                                     'trigger = "add_note"\nsource = ["n0_plan", "closed"]'),
     "wf.toml: transitions[1].source: transition out of the final state 'closed'"),
    ("unknown role", MINIMAL.replace('roles = ["reporter"]\nreason',
                                     'roles = ["janitor"]\nreason'),
     "wf.toml: transitions[0].roles: unknown role 'janitor'"),
    ("unknown guard", MINIMAL.replace('reason = true\nlabel',
                                      'reason = true\nguards = ["sunny"]\nlabel'),
     "wf.toml: transitions[0].guards: unknown guard 'sunny'"),
    ("duplicate trigger+source", MINIMAL.replace('trigger = "add_note"', 'trigger = "close"'),
     "wf.toml: transitions[1]: duplicate (trigger, source) ('close', 'n0_plan'); "
     "see transitions[0]"),
    ("label missing nn", MINIMAL.replace(f'id = "closed"\nfinal = true\nlabel = {L}',
                                         'id = "closed"\nfinal = true\n'
                                         'label = { nb = "x", en = "x" }'),
     "wf.toml: levels[1].label.nn: Missing data for required field."),
    ("missing standing exit", MINIMAL.replace('trigger = "avvergeplikt"', 'trigger = "avverge2"')
     .replace('effect = "avverge"', 'effect = "note"').replace(
         'fields = ["reported_to", "reported_on"]', 'fields = ["text"]'),
     "wf.toml: standing_exits: missing standing exit with effect 'avverge'"),
    ("level change without reason", MINIMAL.replace("reason = true\n", "", 1),
     "wf.toml: transitions[0].reason: a level change ('n0_plan' → 'closed') needs a reason"),
    ("effect field missing", MINIMAL.replace('fields = ["text"]', 'fields = []'),
     "wf.toml: transitions[1].fields: effect 'note' needs required field 'text'"),
    ("unknown field", MINIMAL.replace('fields = ["text"]', 'fields = ["text", "shoe_size"]'),
     "wf.toml: transitions[1].fields: unknown field 'shoe_size'"),
    ("standing exit gated", MINIMAL.replace('effect = "avverge"',
                                            'effect = "avverge"\nguards = ["has_stafettholder"]'),
     "wf.toml: standing_exits[1].guards: a standing exit is never gated; remove its guards"),
    ("standing exit not open to all", MINIMAL.replace(
        'trigger = "avvergeplikt"\n'
        'roles = ["reporter", "stafettholder", "participant", "unit_leader", '
        '"handover_recipient",\n         "emergency"]',
        'trigger = "avvergeplikt"\nroles = ["stafettholder"]'),
     "wf.toml: standing_exits[1].roles: a standing exit must be open to "
     "['emergency', 'handover_recipient', 'participant', 'reporter', 'unit_leader']"),
    ("no roles (deny by default)", MINIMAL.replace('roles = ["reporter"]\neffect',
                                                   'roles = []\neffect'),
     "wf.toml: transitions[1].roles: must name at least one role (deny by default)"),
    ("bad TOML", MINIMAL + "\n[[[", "wf.toml: (file): not valid TOML"),
    # a malformed level on a transition's source was a crash (unhashable list), found by mypy
    ("state level not a string", MINIMAL.replace('name = "n0_plan"\nlevel = "n0"',
                                                 'name = "n0_plan"\nlevel = ["n0"]'),
     "wf.toml: states[0].level: Not a valid string."),
    ("bad consent age", MINIMAL.replace("youth_consent_age = 15", "youth_consent_age = 14"),
     "wf.toml: settings.youth_consent_age: must be 15 or 16"),
]


@pytest.mark.parametrize(("text", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_validator_reports_problem(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
    with pytest.raises(DefinitionError) as err:
        load_text(text, "wf.toml", vocabulary())
    assert any(p.startswith(expected) for p in err.value.problems)


def test_validator_reports_every_problem_at_once():
    text = (MINIMAL.replace('dest = "closed"', 'dest = "kloset"')
            .replace('roles = ["reporter"]\neffect', 'roles = ["janitor"]\neffect'))
    found = problems(text)
    assert any("unknown state 'kloset'" in p for p in found)
    assert any("unknown role 'janitor'" in p for p in found)
    assert all(p.startswith("wf.toml: ") for p in found)


def test_inform_home_must_be_guarded_by_the_violence_flag():
    text = MINIMAL + f"""
[[transitions]]
trigger = "inform_home"
source = "n0_plan"
roles = ["reporter"]
effect = "inform_home"
fields = ["informed_on"]
label = {L}
title = {L}
saved = {L}
[fields.informed_on]
type = "date"
label = {L}
"""
    assert "wf.toml: transitions[2].guards: effect 'inform_home' must be guarded by " \
        "'no_violence_flag'" in problems(text)


# --- when rules: a guard on some values of a field (home contact under the violence flag) -------

WHEN_REFUSE = ('when = [{ field = "meeting_kind", values = ["undringssamtale"], '
               'guard = "no_violence_flag", on_fail = "refuse" }]')

MEETING = MINIMAL + f"""
[[transitions]]
trigger = "record_meeting"
source = "n0_plan"
roles = ["reporter"]
effect = "meeting"
fields = ["meeting_kind", "held_on"]
label = {L}
title = {L}
saved = {L}
WHEN
[fields.meeting_kind]
type = "choice"
label = {L}
options = [{{ value = "undringssamtale", label = {L} }}, {{ value = "cooperation", label = {L} }}]
[fields.held_on]
type = "date"
label = {L}
"""


@pytest.mark.parametrize(("when", "expected"), [
    ("", "wf.toml: transitions[2].when: effect 'meeting' needs a rule for 'no_violence_flag' "
         "on field 'meeting_kind'"),
    (WHEN_REFUSE.replace('"undringssamtale"', '"tea"'),
     "wf.toml: transitions[2].when[0].values: 'tea' is not an option of 'meeting_kind'"),
    (WHEN_REFUSE.replace('field = "meeting_kind"', 'field = "given_by"'),
     "wf.toml: transitions[2].when[0].field: 'given_by' is not a field of this transition"),
    (WHEN_REFUSE.replace('field = "meeting_kind"', 'field = "held_on"'),
     "wf.toml: transitions[2].when[0].field: 'held_on' is not a choice field"),
    (WHEN_REFUSE.replace('"no_violence_flag"', '"sunny_day"'),
     "wf.toml: transitions[2].when[0].guard: unknown guard 'sunny_day'"),
    (WHEN_REFUSE.replace('"refuse"', '"maybe"'),
     "wf.toml: transitions[2].when[0].on_fail: Must be one of: refuse, warn."),
    (WHEN_REFUSE.replace('values = ["undringssamtale"]', 'values = []'),
     "wf.toml: transitions[2].when[0].values: must not be empty"),
])
def test_when_rules_are_checked_and_required_by_the_meeting_effect(when, expected):
    found = problems(MEETING.replace("WHEN", when))
    assert any(p.startswith(expected) for p in found), found


def _meeting_workflow(on_fail: str) -> Workflow:
    text = MEETING.replace("WHEN", WHEN_REFUSE.replace('"refuse"', f'"{on_fail}"'))
    assert problems(text) == []
    return Workflow(load_text(text, "wf.toml", vocabulary()))


def test_a_refusing_when_rule_refuses_only_its_values_while_the_guard_fails():
    wf = _meeting_workflow("refuse")
    flagged = {"no_violence_flag": False}
    payload = {"meeting_kind": "undringssamtale", "held_on": "2026-03-02"}
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n0_plan", "record_meeting", roles={"reporter"}, facts=flagged, payload=payload)
    assert [(r.code, r.guard) for r in err.value.refusals] == [("guard", "no_violence_flag")]
    other = wf.fire("n0_plan", "record_meeting", roles={"reporter"}, facts=flagged,
                    payload={**payload, "meeting_kind": "cooperation"})
    assert other.warnings == ()
    calm = wf.fire("n0_plan", "record_meeting", roles={"reporter"},
                   facts={"no_violence_flag": True}, payload=payload)
    assert calm.warnings == ()
    # the form says it beforehand: the action is allowed, with a caution
    [action] = [a for a in wf.actions("n0_plan", roles={"reporter"}, facts=flagged)
                if a.transition.trigger == "record_meeting"]
    assert action.allowed
    assert [(c.when.values, c.when.on_fail, c.refusal.guard) for c in action.cautions] == [
        (frozenset({"undringssamtale"}), "refuse", "no_violence_flag")]


def test_a_warning_when_rule_records_and_warns():
    wf = _meeting_workflow("warn")
    step = wf.fire("n0_plan", "record_meeting", roles={"reporter"},
                   facts={"no_violence_flag": False},
                   payload={"meeting_kind": "undringssamtale", "held_on": "2026-03-02"})
    assert [(r.code, r.guard) for r in step.warnings] == [("guard", "no_violence_flag")]


# --- stafettlogg entry titles and save messages -------------------------------------------------

NOTE = 'trigger = "add_note"\nsource = "n0_plan"\nroles = ["reporter"]\neffect = "note"\n' \
       'fields = ["text"]\nlabel = ' + L + '\n'


def _note_titles(title: str, saved: str = L) -> str:
    return MINIMAL.replace(NOTE + f"title = {L}\nsaved = {L}\n",
                           NOTE + f"title = {title}\nsaved = {saved}\n")


def test_the_note_fixture_is_found():
    assert NOTE + f"title = {L}\nsaved = {L}\n" in MINIMAL


def test_a_transition_without_a_title_or_a_save_message_is_refused():
    text = MINIMAL.replace(NOTE + f"title = {L}\nsaved = {L}\n", NOTE)
    assert {"wf.toml: transitions[1].title: Missing data for required field.",
            "wf.toml: transitions[1].saved: Missing data for required field."} <= set(
        problems(text))
    exit_text = MINIMAL.replace(
        f'fields = ["sent_on"]\nlabel = {L}\ntitle = {L}\n', f'fields = ["sent_on"]\nlabel = {L}\n')
    assert "wf.toml: standing_exits[0].title: Missing data for required field." in problems(
        exit_text)
    opening = MINIMAL.replace(f'fields = ["what_seen"]\nlabel = {L}\ntitle = {L}\nsaved = {L}\n',
                              f'fields = ["what_seen"]\nlabel = {L}\n')
    assert {"wf.toml: opening.title: Missing data for required field.",
            "wf.toml: opening.saved: Missing data for required field."} <= set(problems(opening))


def test_a_title_needs_all_three_languages():
    text = _note_titles('{ nb = "Et notat ble skrevet", en = "A note was written" }')
    assert "wf.toml: transitions[1].title.nn: Missing data for required field." in problems(text)


def test_title_placeholders_are_fields_of_the_transition():
    ok = _note_titles('{ nb = "Notat: {text}", nn = "Notat: {text}", en = "Note: {text}" }')
    assert problems(ok) == []
    text = _note_titles('{ nb = "{holder} skreiv", nn = "{text}", en = "{stafettholder}" }',
                        '{ nb = "Lagret {measure}", nn = "x", en = "x" }')
    found = problems(text)
    assert "wf.toml: transitions[1].title.nb: placeholder {holder} is not a field of this " \
        "transition" in found
    # a field of the file, but not of this transition
    assert "wf.toml: transitions[1].title.en: placeholder {stafettholder} is not a field of " \
        "this transition" in found
    assert "wf.toml: transitions[1].saved.nb: placeholder {measure} is not a field of this " \
        "transition" in found
    assert not any(".title.nn" in p for p in found)


def test_reason_is_a_placeholder_only_where_the_transition_takes_one():
    close = ('trigger = "close"\nsource = "n0_plan"\ndest = "closed"\nroles = ["reporter"]\n'
             f'reason = true\nlabel = {L}\ntitle = {L}\n')
    assert close in MINIMAL
    with_reason = MINIMAL.replace(
        close, close.replace(f"title = {L}",
                             'title = { nb = "Avsluttet: {reason}", nn = "x", en = "x" }'))
    assert problems(with_reason) == []
    note = _note_titles('{ nb = "Notat: {reason}", nn = "x", en = "x" }')
    assert "wf.toml: transitions[1].title.nb: placeholder {reason} is not a field of this " \
        "transition" in problems(note)


@pytest.mark.parametrize("bad", ['Notat {', 'Notat }', 'Notat {text!r}', 'Notat {0}',
                                 'Notat {text.x}'])
def test_a_title_that_is_not_a_template_is_refused(bad):
    text = _note_titles('{ nb = "' + bad + '", nn = "x", en = "x" }')
    found = problems(text)
    assert any(p.startswith("wf.toml: transitions[1].title.nb: not a valid title") or
               p.startswith("wf.toml: transitions[1].title.nb: placeholder") for p in found), found


# --- a meeting that informs the home (home_informed_by) -----------------------------------------

HOME_BY = ('home_informed_by = { field = "meeting_kind", values = ["undringssamtale"], '
           'present = "home_present" }')
MEETING_HOME = MEETING.replace("WHEN", WHEN_REFUSE + "\n" + HOME_BY).replace(
    'fields = ["meeting_kind", "held_on"]',
    'fields = ["meeting_kind", "held_on"]\noptional = ["home_present"]') + f"""
[fields.home_present]
type = "bool"
label = {L}
"""


def test_a_meeting_may_say_it_informs_the_home():
    assert problems(MEETING_HOME) == []
    wf = load_text(MEETING_HOME, "wf.toml", vocabulary())
    [meeting] = [t for t in wf.transitions if t.trigger == "record_meeting"]
    rule = meeting.home_informed_by
    assert (rule.field, rule.values, rule.present) == (
        "meeting_kind", frozenset({"undringssamtale"}), "home_present")
    assert rule.met({"meeting_kind": "undringssamtale", "home_present": True})
    assert not rule.met({"meeting_kind": "undringssamtale", "home_present": False})
    assert not rule.met({"meeting_kind": "undringssamtale"})
    assert not rule.met({"meeting_kind": "cooperation", "home_present": True})
    [note] = [t for t in wf.transitions if t.trigger == "add_note"]
    assert note.home_informed_by is None


@pytest.mark.parametrize(("change", "expected"), [
    (('values = ["undringssamtale"], present', 'values = ["tea"], present'),
     "transitions[2].home_informed_by.values: 'tea' is not an option of 'meeting_kind'"),
    (('present = "home_present"', 'present = "held_on"'),
     "transitions[2].home_informed_by.present: 'held_on' is not a bool field"),
    (('optional = ["home_present"]', 'optional = []'),
     "transitions[2].home_informed_by.present: 'home_present' is not a field of this "
     "transition"),
    (('home_informed_by = { field = "meeting_kind"', 'home_informed_by = { field = "held_on"'),
     "transitions[2].home_informed_by.field: 'held_on' is not a choice field"),
    (('home_informed_by = { field = "meeting_kind", values = ["undringssamtale"], ',
      'home_informed_by = { field = "meeting_kind", '),
     "transitions[2].home_informed_by.values: Missing data for required field."),
])
def test_home_informed_by_is_checked(change, expected):
    text = MEETING_HOME.replace(*change)
    assert text != MEETING_HOME
    found = problems(text)
    assert f"wf.toml: {expected}" in found, found


def test_only_an_effect_that_may_inform_the_home_says_so():
    text = MINIMAL.replace('fields = ["text"]\n', 'fields = ["text"]\n' + HOME_BY.replace(
        '"meeting_kind"', '"text"') + "\n", 1)
    assert "wf.toml: transitions[1].home_informed_by: effect 'note' cannot inform the home" \
        in problems(text)


# --- guidance panels ----------------------------------------------------------------------------

GUIDANCE = MINIMAL + """
[guidance.consent]
on = ["add_note", "report_barnevernet"]
title = { nb = "Om samtykke", nn = "Om samtykke", en = "About consent" }
[guidance.consent.text]
nb = "Fra {youth_consent_age} år."
nn = "Frå {youth_consent_age} år."
en = "From {youth_consent_age}."
"""


def test_guidance_loads_with_the_settings_filled_in():
    assert problems(GUIDANCE) == []
    wf = load_text(GUIDANCE, "wf.toml", vocabulary())
    [panel] = wf.guidance
    assert (panel.id, panel.on) == ("consent", ("add_note", "report_barnevernet"))
    assert dict(panel.text) == {"nb": "Fra 15 år.", "nn": "Frå 15 år.", "en": "From 15."}
    assert load_text(MINIMAL, "wf.toml", vocabulary()).guidance == ()


@pytest.mark.parametrize(("change", "expected"), [
    (('on = ["add_note", "report_barnevernet"]', 'on = ["add_note", "dance"]'),
     "guidance.consent.on: unknown transition 'dance'"),
    (('on = ["add_note", "report_barnevernet"]', 'on = []'),
     "guidance.consent.value.on: must not be empty"),
    (('"Fra {youth_consent_age} år."', '"Fra {age} år."'),
     "guidance.consent.text.nb: unknown placeholder {age} (known: youth_consent_age)"),
    (('"Fra {youth_consent_age} år."', '"Fra {youth_consent_age!r} år."'),
     "guidance.consent.text.nb: not a valid text"),
    ((', en = "About consent" }', ' }'),
     "guidance.consent.value.title.en: Missing data for required"),
    (('[guidance.consent]', '[guidance.Consent]'),
     "guidance.Consent.key: must be a lower-case snake_case identifier"),
])
def test_guidance_is_checked(change, expected):
    text = GUIDANCE.replace(*change)
    assert text != GUIDANCE
    found = problems(text)
    assert any(p.startswith(f"wf.toml: {expected}") for p in found), found

