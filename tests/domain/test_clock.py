"""The one definition of local dates and days (bti.domain.clock): Oslo calendar days, across
midnight and both changes of summer time."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bti.domain.clock import OSLO
from bti.domain.clock import day_start
from bti.domain.clock import days_ago_cutoff
from bti.domain.clock import days_between
from bti.domain.clock import local_date
from bti.domain.clock import month_of


def oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_local_date_is_norways_not_utcs():
    assert local_date(utc(2026, 6, 30, 22, 30)) == date(2026, 7, 1)  # 00:30 summer time
    assert local_date(utc(2026, 1, 31, 22, 59)) == date(2026, 1, 31)  # 23:59 winter time
    assert local_date(utc(2026, 1, 31, 23, 0)) == date(2026, 2, 1)
    # any aware zone is read as the same moment
    assert local_date(datetime(2026, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=3)))) \
        == date(2026, 6, 30)  # 23:30 in Oslo


def test_a_day_is_a_calendar_day_not_24_hours():
    # one hour across midnight is one day; almost 24 hours inside one date is none
    assert days_between(oslo(2026, 3, 1, 23, 30), oslo(2026, 3, 2, 0, 30)) == 1
    assert days_between(oslo(2026, 3, 2, 0, 5), oslo(2026, 3, 2, 23, 55)) == 0
    assert days_between(oslo(2026, 3, 2, 12), oslo(2026, 3, 12, 11)) == 10
    assert days_between(oslo(2026, 3, 2, 12), oslo(2026, 3, 1, 12)) == 0  # never negative


def elapsed(start: datetime, end: datetime) -> timedelta:
    return end.astimezone(UTC) - start.astimezone(UTC)


def test_days_across_the_start_and_end_of_summer_time():
    # 29 March 2026: clocks go from 02:00 to 03:00, the day has 23 hours; noon to noon is
    # one day though 23 hours passed (counting 24-hour periods would say 0)
    start, end = oslo(2026, 3, 28, 12), oslo(2026, 3, 29, 12)
    assert elapsed(start, end) == timedelta(hours=23)
    assert days_between(start, end) == 1
    # 25 October 2026: clocks go from 03:00 back to 02:00, the day has 25 hours; a full
    # 24 hours pass inside that one date (counting 24-hour periods would say 1)
    morning, night = oslo(2026, 10, 25, 0, 30), oslo(2026, 10, 25, 23, 30)
    assert elapsed(morning, night) == timedelta(hours=24)
    assert days_between(morning, night) == 0
    assert days_between(morning, oslo(2026, 10, 26, 0, 10)) == 1
    # the ambiguous hour (02:00-03:00 twice) belongs to the 25th either way
    assert local_date(utc(2026, 10, 25, 0, 30)) == local_date(utc(2026, 10, 25, 1, 30)) \
        == date(2026, 10, 25)


def test_day_start_is_oslo_midnight_on_short_and_long_days():
    assert day_start(date(2026, 3, 29)) == utc(2026, 3, 28, 23)
    assert day_start(date(2026, 3, 30)) == utc(2026, 3, 29, 22)  # the 29th had 23 hours
    assert day_start(date(2026, 10, 25)) == utc(2026, 10, 24, 22)
    assert day_start(date(2026, 10, 26)) == utc(2026, 10, 25, 23)  # the 25th had 25 hours
    assert day_start(date(2026, 1, 1)).tzinfo is UTC


def test_month_of_is_the_local_month():
    assert month_of(utc(2026, 1, 31, 23, 30)) == "2026-02"
    assert month_of(utc(2026, 12, 31, 22, 59)) == "2026-12"
    assert month_of(utc(2026, 12, 31, 23, 0)) == "2027-01"


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 3, 2, 12))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        days_between(datetime(2026, 3, 2, 12), utc(2026, 3, 3))  # noqa: DTZ001


moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31),
                       timezones=st.just(UTC))


@given(moments, moments, st.integers(min_value=0, max_value=400))
def test_the_query_cutoff_agrees_with_days_between(a, b, days):
    then, now = min(a, b), max(a, b)
    assert (days_between(then, now) >= days) == (then < days_ago_cutoff(local_date(now), days))
