"""Under the violence flag the home is not contacted before barnevernet or the police: as
``inform_home`` is refused, so is an undringssamtale meeting, and a consent from the guardians
is recorded with a warning. Which values meet the home, and whether the flag refuses or warns,
is set per workflow in its file (``when`` rules). All names are made up."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Consent
from bti.domain.cases import Meeting
from bti.engine import TransitionRefused
from bti.services.cases import lifecycle as cases
from bti.services.workflows.registry import WorkflowRegistry
from tests.conftest import WORKFLOWS
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import TODAY


def open_case(world, violence=True):
    return cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Test B.",
                           child_birth_year=2016,
                           concern={**CONCERN, "violence_suspected": violence}).case


def meeting(kind):
    return {"meeting_kind": kind, "held_on": TODAY.isoformat()}


def consent(given_by, world):
    return {"given_by": given_by, "services": [world.health.id], "information": "Helse",
            "given_on": TODAY.isoformat()}


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_an_undringssamtale_with_the_home_is_refused_under_the_violence_flag(world, session):
    w = world
    case = open_case(w)
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.teacher), case.id, "record_meeting", meeting("undringssamtale"))
    assert [(r.code, r.guard) for r in err.value.refusals] == [("guard", "no_violence_flag")]
    assert count(session, Meeting) == 0
    # a meeting that does not meet the home is recorded as before
    result = cases.fire(w.ctx(w.teacher), case.id, "record_meeting", meeting("cooperation"))
    assert result.step.warnings == ()
    # the form says so before anything is sent
    _, actions = cases.list_actions(w.ctx(w.teacher), case.id)
    form = next(a for a in actions if a.transition.trigger == "record_meeting")
    assert form.allowed
    assert [(sorted(c.when.values), c.when.on_fail) for c in form.cautions] == [
        (["undringssamtale"], "refuse")]


def test_a_consent_from_the_guardians_is_recorded_with_a_warning(world, session):
    w = world
    case = open_case(w)
    guardians = cases.fire(w.ctx(w.teacher), case.id, "give_consent", consent("guardians", w))
    assert [(r.code, r.guard) for r in guardians.step.warnings] == [
        ("guard", "no_violence_flag")]
    youth = cases.fire(w.ctx(w.teacher), case.id, "give_consent", consent("youth", w))
    assert youth.step.warnings == ()
    assert count(session, Consent) == 2


def test_without_the_flag_nothing_is_refused_or_warned(world):
    w = world
    case = open_case(w, violence=False)
    assert cases.fire(w.ctx(w.teacher), case.id, "record_meeting",
                      meeting("undringssamtale")).step.warnings == ()
    assert cases.fire(w.ctx(w.teacher), case.id, "give_consent",
                      consent("guardians", w)).step.warnings == ()
    _, actions = cases.list_actions(w.ctx(w.teacher), case.id)
    assert all(not a.cautions for a in actions)


def test_every_shipped_workflow_says_how_home_contact_is_handled(registry):
    for wid, definition in registry.files.items():
        by_effect = {}
        for t in definition.transitions:
            for rule in t.when:
                by_effect.setdefault(t.effect, set()).add((rule.field, rule.guard))
                if t.effect == "meeting":
                    assert "undringssamtale" in rule.values, wid
        assert by_effect == {"meeting": {("meeting_kind", "no_violence_flag")},
                             "consent_given": {("given_by", "no_violence_flag")}}, wid


def test_refuse_or_warn_is_the_workflow_files_choice(tmp_path, session):
    """The same rules with the outcomes swapped in a municipality's file."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    text = (WORKFLOWS / "bti-standard.toml").read_text(encoding="utf-8")
    swapped = text.replace('guard = "no_violence_flag", on_fail = "refuse"', "MEETING") \
        .replace('guard = "no_violence_flag", on_fail = "warn"',
                 'guard = "no_violence_flag", on_fail = "refuse"') \
        .replace("MEETING", 'guard = "no_violence_flag", on_fail = "warn"')
    assert swapped != text
    (folder / "bti-standard.toml").write_text(swapped, encoding="utf-8")
    shutil.copy(WORKFLOWS / "aukra.toml", folder)  # any second file
    w = World(session, WorkflowRegistry(folder), "bti-standard")
    case = open_case(w)
    warned = cases.fire(w.ctx(w.teacher), case.id, "record_meeting", meeting("undringssamtale"))
    assert [r.guard for r in warned.step.warnings] == ["no_violence_flag"]
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.teacher), case.id, "give_consent", consent("guardians_and_youth", w))
    assert [r.guard for r in err.value.refusals] == ["no_violence_flag"]
    assert count(session, Consent) == 0


# --- the undringssamtale with the home present informs the home: one act, recorded once ---------


def _decide_refusals(world, case_id):
    _, actions = cases.list_actions(world.ctx(world.teacher), case_id)
    decide = next(a for a in actions if a.transition.trigger == "decide")
    return [r.guard for r in decide.refusals]


def test_an_undringssamtale_with_the_home_present_informs_the_home(world, session):
    w = world
    case = open_case(w, violence=False)
    t = w.ctx(w.teacher)
    cases.fire(t, case.id, "start")
    cases.fire(t, case.id, "assess")
    assert "home_informed" in _decide_refusals(w, case.id)
    # the home not there, or a meeting of another kind: the home is not informed by it
    cases.fire(t, case.id, "record_meeting", {**meeting("undringssamtale"), "home_present": False})
    cases.fire(t, case.id, "record_meeting", {**meeting("cooperation"), "home_present": True})
    assert "home_informed" in _decide_refusals(w, case.id)
    session.refresh(case)
    assert case.home_informed_on is None
    # the undringssamtale with the home: the guard is met, nothing else to record
    cases.fire(t, case.id, "record_meeting", {**meeting("undringssamtale"), "home_present": True})
    session.refresh(case)
    assert case.home_informed_on == TODAY
    assert "home_informed" not in _decide_refusals(w, case.id)
    cases.fire(t, case.id, "decide")


def test_an_undringssamtale_dated_ahead_informs_nobody_yet(world, session):
    from datetime import timedelta

    w = world
    case = open_case(w, violence=False)
    ahead = (TODAY + timedelta(days=3)).isoformat()
    cases.fire(w.ctx(w.teacher), case.id, "record_meeting",
               {"meeting_kind": "undringssamtale", "held_on": ahead, "home_present": True})
    session.refresh(case)
    assert case.home_informed_on is None


def test_a_workflow_without_the_rule_needs_the_home_informed_on_its_own(session, tmp_path):
    """``home_informed_by`` is the workflow's to say: without it, the meeting records only the
    meeting."""
    for path in WORKFLOWS.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        text = "\n".join(line for line in text.splitlines()
                         if not line.startswith("home_informed_by = "))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    w = World(session, WorkflowRegistry(tmp_path), "bti-standard")
    case = open_case(w, violence=False)
    cases.fire(w.ctx(w.teacher), case.id, "record_meeting",
               {**meeting("undringssamtale"), "home_present": True})
    session.refresh(case)
    assert case.home_informed_on is None
