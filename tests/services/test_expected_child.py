"""A case for an expected child (pregnancy follow-up at the health station or the sped- og
småbarnsteam): opened with the due month instead of a birth year, within a sensible window, and
the age rules treat the child as not yet born."""

from __future__ import annotations

from datetime import date

import pytest

from bti.domain.rules import due_month_problem
from bti.domain.rules import youth_consent_required
from bti.services.cases import lifecycle as cases
from bti.services.cases.facts import CaseFacts
from bti.services.errors import InvalidInput
from tests.factories import CONCERN
from tests.factories import TODAY  # 2026-03-02


def open_expected(world, **kw):
    args = {"child_birth_year": None, "child_due_year": 2026, "child_due_month": 9, **kw}
    return cases.open_case(world.ctx(world.nurse), unit_id=world.health.id,
                           child_pseudonym="Termin T.", concern=dict(CONCERN), **args)


def test_a_case_opens_for_a_child_due_next_year(world, session):
    result = open_expected(world, child_due_year=2027, child_due_month=1)
    case = result.case
    # stored as the due year and month: every rule that counts age from the year holds
    assert (case.child_birth_year, case.child_due_month, case.state) == (2027, 1, "n0_plan")
    assert result.entry.kind == "concern"
    session.commit()
    assert cases.get_case(world.ctx(world.nurse), case.id).case.child_due_month == 1


@pytest.mark.parametrize(("year", "month", "code"), [
    (2026, 3, None),  # this month: due now, not born yet
    (2026, 12, None),
    (2027, 1, None),  # ten months ahead, next year
    (2026, 2, "in_past"),  # last month: the child is born, give the birth year
    (2025, 12, "in_past"),
    (2027, 2, "too_far"),  # eleven months ahead
    (2028, 1, "too_far"),
    (2026, 13, "invalid"),
    (2026, 0, "invalid"),
])
def test_the_due_month_lies_between_this_month_and_ten_months_ahead(year, month, code):
    assert due_month_problem(year, month, TODAY) == code


def test_due_month_ten_months_ahead_is_the_last_accepted(world):
    assert open_expected(world, child_due_year=2027, child_due_month=1).case.child_due_month == 1
    with pytest.raises(InvalidInput) as err:
        open_expected(world, child_due_year=2027, child_due_month=2)
    assert err.value.fields == {"child_due": ["too_far"]}


@pytest.mark.parametrize(("kw", "errors"), [
    ({"child_due_year": 2026, "child_due_month": 1}, {"child_due": ["in_past"]}),
    ({"child_due_year": 2026, "child_due_month": None}, {"child_due": ["invalid"]}),
    ({"child_due_year": None, "child_due_month": 5}, {"child_due": ["invalid"]}),
    ({"child_due_year": "2026", "child_due_month": 5}, {"child_due": ["invalid"]}),
    ({"child_birth_year": 2020}, {"child_birth_year": ["birth_or_due"]}),
    ({"child_due_year": None, "child_due_month": None}, {"child_birth_year": ["required"]}),
])
def test_a_due_month_outside_the_window_or_with_a_birth_year_is_refused(world, kw, errors):
    with pytest.raises(InvalidInput) as err:
        open_expected(world, **kw)
    assert err.value.fields == errors


def test_the_age_rules_treat_an_expected_child_as_not_born(world, session):
    case = open_expected(world, child_due_year=2026, child_due_month=11).case
    assert not youth_consent_required(case.child_birth_year, TODAY, 15)
    assert not youth_consent_required(2027, date(2027, 12, 31), 15)
    # the guardians' consent alone covers a service (no youth consent is asked for)
    cases.fire(world.ctx(world.nurse), case.id, "give_consent", {
        "given_by": "guardians", "services": [world.ppt.id], "information": "Helse og PPT",
        "given_on": TODAY.isoformat()})
    access = cases.get_case(world.ctx(world.nurse), case.id)
    facts = CaseFacts(world.ctx(world.nurse), case, access.workflow.definition)
    assert world.ppt.id in facts.covered
    assert facts["consent_valid"]
