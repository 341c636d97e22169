"""Time in a level (bti.domain.rules.days_in_level, level_decision_due) and the unit a leader
sees (led_unit): one definition each, pure, tested without a database."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bti.domain.clock import OSLO
from bti.domain.clock import day_start
from bti.domain.clock import days_ago_cutoff
from bti.domain.clock import local_date
from bti.domain.org import Actor
from bti.domain.rules import days_in_level
from bti.domain.rules import led_unit
from bti.domain.rules import level_decision_due


def oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


@pytest.mark.parametrize(("entered", "until", "days"), [
    (oslo(2026, 3, 2, 23, 30), oslo(2026, 3, 3, 0, 30), 1),  # across midnight: a day
    (oslo(2026, 3, 2, 0, 10), oslo(2026, 3, 2, 23, 50), 0),  # the same day
    (oslo(2026, 3, 28, 12), oslo(2026, 3, 29, 12), 1),  # summer time begins: 23 hours
    (oslo(2026, 10, 24, 12), oslo(2026, 10, 25, 12), 1),  # summer time ends: 25 hours
    (oslo(2026, 1, 1, 8), oslo(2026, 1, 31, 8), 30),
    (oslo(2026, 1, 2, 8), oslo(2026, 1, 1, 8), 0),  # a clock that went back: never negative
])
def test_days_in_level_are_oslo_calendar_days(entered, until, days):
    assert days_in_level(entered, until) == days
    assert days_in_level(entered.astimezone(UTC), until.astimezone(UTC)) == days


@pytest.mark.parametrize(("entered", "limit", "due"), [
    (oslo(2026, 3, 2, 23, 30), 14, date(2026, 3, 16)),
    (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), 14, date(2026, 3, 17)),  # 00:30 in Oslo
    (oslo(2026, 3, 20, 9), 0, date(2026, 3, 20)),
])
def test_level_decision_due(entered, limit, due):
    assert level_decision_due(entered, limit) == due


moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31),
                       timezones=st.just(UTC))


@given(entered=moments, now=moments, limit=st.integers(min_value=0, max_value=120))
def test_the_deadline_the_days_and_the_query_bound_agree(entered, now, limit):
    """Overdue (the due day is past) exactly when the days in level exceed the limit, and the
    database's bound (``days_ago_cutoff``) says the same."""
    today = local_date(now)
    overdue = level_decision_due(entered, limit) < today
    assert overdue == (days_in_level(entered, now) > limit)
    if entered <= now:
        assert overdue == (entered < days_ago_cutoff(today, limit + 1))


@given(start=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)),
       length=st.integers(min_value=0, max_value=400))
def test_a_band_of_local_dates_counts_like_the_moments(start, length):
    """The timeline's level bands hold local dates; counted from their first moments they give
    the date difference."""
    end = start + timedelta(days=length)
    assert days_in_level(day_start(start), day_start(end)) == length


def _actor(*roles: str, unit: int | None = 10) -> Actor:
    return Actor(id=1, municipality_id=1, unit_id=unit, roles=frozenset(roles))


@pytest.mark.parametrize(("who", "unit"), [
    (_actor("leader"), 10),
    (_actor("employee", "leader"), 10),
    (_actor("leader", unit=None), None),
    (_actor("employee"), None),
    (_actor("coordinator"), None),
    (_actor("admin", unit=None), None),
    (_actor("privacy_officer"), None),
])
def test_the_unit_a_leader_sees(who, unit):
    assert led_unit(who) == unit
