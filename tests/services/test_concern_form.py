"""The concern form's rules in the service: one pass over every field, the violence question
answered, a fødselsnummer refused in every free text (the concern and every action), a full
name warned about, and a likely duplicate shown before anything is saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.cases import lifecycle as cases
from bti.services.errors import InvalidInput
from bti.web.forms import errors_from_refusal
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY

FNR = "01819010001"  # synthetic (month + 80, Tenor): belongs to nobody
DNR = "41819010186"  # a synthetic D-number


def _open(world, actor=None, *, pseudonym="KN", birth_year=2016, **kw):
    concern = kw.pop("concern", {**CONCERN, "violence_suspected": False})
    return cases.open_case(world.ctx(actor or world.teacher), unit_id=None,
                           child_pseudonym=pseudonym, child_birth_year=birth_year,
                           concern=concern, **kw)


def _cases(session) -> int:
    return session.scalar(select(func.count()).select_from(Case))


def test_every_problem_is_named_in_one_pass(world, session):
    with pytest.raises(InvalidInput) as err:
        _open(world, pseudonym="", birth_year=None, concern={"since": "Januar"},
              require_answers=True)
    assert err.value.fields == {"child_pseudonym": ["invalid"],
                                "child_birth_year": ["required"],
                                "what_seen": ["required"], "violence_suspected": ["required"]}
    assert _cases(session) == 0


def test_the_violence_question_must_be_answered_on_the_form(world, session):
    concern = dict(CONCERN)  # no answer
    with pytest.raises(TransitionRefused) as err:
        _open(world, concern=concern, require_answers=True)
    assert errors_from_refusal(err.value).fields == {"violence_suspected": ["required"]}
    assert _open(world, concern={**concern, "violence_suspected": False},
                 require_answers=True).case.violence_flag is False
    # callers that are not the form (the API, imports) keep "no answer" as no
    assert _open(world, pseudonym="AB", concern=concern).case.violence_flag is False


@pytest.mark.parametrize("text", [FNR, f"Mor oppga {FNR[:6]} {FNR[6:]} på telefon.",
                                  f"D-nummer {DNR}"])
def test_a_national_id_is_refused_in_every_text_of_the_concern(world, session, text):
    with pytest.raises(TransitionRefused) as err:
        _open(world, concern={**CONCERN, "what_seen": text, "who_knows": text,
                              "violence_suspected": False})
    fields = errors_from_refusal(err.value).fields
    assert fields == {"what_seen": [cases.ID_NUMBER], "who_knows": [cases.ID_NUMBER]}
    assert _cases(session) == 0


def test_a_national_id_in_the_pseudonym_is_refused_with_the_other_problems(world, session):
    with pytest.raises(InvalidInput) as err:
        _open(world, pseudonym=f"KN {FNR}", concern={"what_seen": FNR})
    assert err.value.fields == {"child_pseudonym": [cases.ID_NUMBER],
                                "what_seen": [cases.ID_NUMBER]}


def test_a_national_id_is_refused_in_the_free_text_of_every_action(world, session):
    case = _open(world).case
    seq = case.log_seq
    ctx = world.ctx(world.teacher)
    with pytest.raises(TransitionRefused) as err:
        cases.fire(ctx, case.id, "add_note", {"text": f"Fnr {FNR}"})
    assert errors_from_refusal(err.value).fields == {"text": [cases.ID_NUMBER]}
    # with the engine's own errors, in one refusal
    with pytest.raises(TransitionRefused) as err:
        cases.fire(ctx, case.id, "report_barnevernet", {"notes": DNR})
    assert errors_from_refusal(err.value).fields == {"sent_on": ["required"],
                                                     "notes": [cases.ID_NUMBER]}
    # a reason is free text too
    w = world
    cases.fire(w.ctx(w.teacher), case.id, "start")
    cases.fire(w.ctx(w.teacher), case.id, "inform_home", {"informed_on": TODAY.isoformat()})
    cases.fire(w.ctx(w.leader), case.id, "appoint_stafettholder",
               {"stafettholder": w.coordinator.id})
    cases.fire(w.ctx(w.coordinator), case.id, "assess")
    cases.fire(w.ctx(w.coordinator), case.id, "decide")
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.coordinator), case.id, "escalate", {"reason": f"Sjå {FNR}"})
    assert errors_from_refusal(err.value).fields == {"reason": [cases.ID_NUMBER]}
    assert case.state == "n0_decision"
    notes = session.scalar(select(func.count()).select_from(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id, StafettloggEntry.kind == "note"))
    assert notes == 0
    assert case.log_seq == seq + 5
    cases.fire(ctx, case.id, "add_note", {"text": "Ring 22 33 44 55 etter kl. 12."})


def test_a_full_name_is_a_warning_to_confirm_not_a_refusal(world, session):
    with pytest.raises(cases.ConfirmationNeeded) as err:
        _open(world, pseudonym="Kari Nordmann", confirmed=False)
    assert (err.value.similar, err.value.warnings) == ([], (cases.FULL_NAME,))
    assert _cases(session) == 0
    result = _open(world, pseudonym="Kari Nordmann")  # confirmed
    assert result.warnings == (cases.FULL_NAME,)
    assert _open(world, pseudonym="KN", confirmed=False).warnings == ()


def test_a_likely_duplicate_is_shown_before_saving(world, session):
    first = _open(world).case
    with pytest.raises(cases.ConfirmationNeeded) as err:
        _open(world, pseudonym=" kn ", actor=world.coordinator, confirmed=False)
    assert [(c.id, c.opened_at) for c in err.value.similar] == [(first.id, FIXED_NOW)]
    assert err.value.warnings == ()
    assert _cases(session) == 1
    # another birth year, another unit or a closed case is not a likely duplicate
    _open(world, birth_year=2015, confirmed=False)
    _open(world, actor=world.nurse, confirmed=False)
    second = _open(world, confirmed=True).case  # confirmed: created anyway
    assert second.id != first.id
    with pytest.raises(cases.ConfirmationNeeded) as err:
        _open(world, confirmed=False)
    assert [c.id for c in err.value.similar] == [first.id, second.id]
    for c in (first, second):
        c.closed_at = FIXED_NOW + timedelta(days=1)
    session.flush()
    _open(world, confirmed=False)
