"""Firing, listing actions and structured refusals, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest
import transitions

from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import vocabulary
from bti.engine import TransitionRefused
from bti.engine import Workflow
from bti.engine import load_file
from bti.engine.i18n import refusal_message

STANDARD = Path(__file__).resolve().parents[2] / "workflows" / "bti-standard.toml"
ALL_TRUE = dict.fromkeys(GUARDS, True)


@pytest.fixture(scope="module")
def wf() -> Workflow:
    return Workflow(load_file(STANDARD, vocabulary()))


def test_fire_moves_to_destination(wf):
    step = wf.fire("n0_plan", "start", roles={"reporter"}, facts=ALL_TRUE)
    assert (step.source, step.dest, step.trigger) == ("n0_plan", "n0_active", "start")


def test_internal_transition_stays(wf):
    step = wf.fire("n0_plan", "add_note", roles={"reporter"}, facts=ALL_TRUE,
                   payload={"text": "Eit notat"})
    assert step.dest == "n0_plan"
    assert step.internal
    assert step.payload == {"text": "Eit notat"}


def test_role_refusal_is_structured(wf):
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n0_plan", "start", roles={"participant"}, facts=ALL_TRUE)
    assert [r.code for r in err.value.refusals] == ["role"]


def test_every_failing_guard_is_reported(wf):
    facts = {**ALL_TRUE, "measures_evaluated": False, "consent_valid": False}
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n1_decision", "escalate", roles={"stafettholder"}, facts=facts,
                payload={"reason": "x"})
    assert {r.guard for r in err.value.refusals} == {"measures_evaluated", "consent_valid"}


def test_missing_reason_is_a_reason_refusal(wf):
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n1_decision", "escalate", roles={"stafettholder"}, facts=ALL_TRUE,
                payload={"reason": "   "})
    assert err.value.refusals[0].code == "reason_required"
    assert err.value.refusals[0].guard == "reason_given"


def test_payload_unknown_and_missing_fields(wf):
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n1_plan", "add_measure", roles={"stafettholder"}, facts=ALL_TRUE,
                payload={"description": "x", "colour": "blue"})
    (refusal,) = err.value.refusals
    assert refusal.code == "invalid_payload"
    assert refusal.fields["colour"] == ["unknown"]
    assert refusal.fields["responsible"] == ["required"]
    assert refusal.fields["evaluate_by"] == ["required"]


def test_nul_and_too_long_text_refused(wf):
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n0_plan", "add_note", roles={"reporter"}, facts=ALL_TRUE,
                payload={"text": "a\x00b"})
    assert err.value.refusals[0].fields == {"text": ["nul"]}
    with pytest.raises(TransitionRefused) as err:
        wf.fire("n0_plan", "add_note", roles={"reporter"}, facts=ALL_TRUE,
                payload={"text": "x" * 10_001})
    assert err.value.refusals[0].fields == {"text": ["too_long"]}


@pytest.mark.parametrize(("state", "trigger", "code"), [
    ("n0_plan", "fly_away", "unknown_trigger"),
    ("closed", "add_note", "final_state"),
    ("n0_plan", "escalate", "not_available_in_state"),
])
def test_trigger_not_possible(wf, state, trigger, code):
    with pytest.raises(TransitionRefused) as err:
        wf.fire(state, trigger, roles={"stafettholder"}, facts=ALL_TRUE)
    assert err.value.refusals[0].code == code


def test_standing_exits_in_every_non_final_state_for_every_relation(wf):
    no_facts = dict.fromkeys(GUARDS, False)
    for state in wf.definition.states:
        triggers = {a.transition.trigger: a for a in
                    wf.actions(state.name, roles={"participant"}, facts=no_facts)}
        if state.final:
            assert not triggers
            continue
        for exit_ in ("report_barnevernet", "avvergeplikt"):
            assert triggers[exit_].allowed, (state.name, exit_)


def test_actions_list_refused_with_reason(wf):
    facts = {**ALL_TRUE, "no_violence_flag": False}
    actions = {a.transition.trigger: a for a in wf.actions("n0_plan", roles={"reporter"},
                                                           facts=facts)}
    assert not actions["inform_home"].allowed
    (refusal,) = actions["inform_home"].refusals
    assert refusal.guard == "no_violence_flag"
    nb = refusal_message(refusal, "nb", GUARDS)
    nn = refusal_message(refusal, "nn", GUARDS)
    en = refusal_message(refusal, "en", GUARDS)
    assert "vold" in nb
    assert "vald" in nn
    assert "violence" in en.lower()


def test_machine_is_built_once_not_per_fire(wf, monkeypatch):
    built = []
    original = transitions.Machine.__init__

    def counting(self, *a, **kw):
        built.append(1)
        original(self, *a, **kw)

    monkeypatch.setattr(transitions.Machine, "__init__", counting)
    for _ in range(50):
        wf.fire("n0_plan", "start", roles={"reporter"}, facts=ALL_TRUE)
    assert built == []
