"""Dates and times as the BTI guide counts them: Norwegian local dates (Europe/Oslo).

Every rule that turns a moment into a date, counts days or names a month lives here, so that the
leader's unit overview, the dashboards, the inbox and the case page give the same number for the
same case. Pure functions; moments are aware datetimes (the database stores UTC).

**A day is a calendar day in Oslo**, not a 24-hour period: a case that entered nivå 1 at 23:30
has been one day at the level at 00:30, and a day across a change to or from summer time is one
day, though it lasts 23 or 25 hours.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

#: Norway's time zone: every local date and time in bti.
OSLO = ZoneInfo("Europe/Oslo")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        # a naive moment would be read in the machine's own zone: refuse it
        raise ValueError("naive datetime; bti counts days from aware datetimes only")
    return at


def local(at: datetime) -> datetime:
    """The moment as Oslo wall-clock time."""
    return _aware(at).astimezone(OSLO)


def local_date(at: datetime) -> date:
    """The date in Norway at that moment."""
    return local(at).date()


def days_between(start: datetime, end: datetime) -> int:
    """Whole days from the local date of ``start`` to that of ``end``; 0 if ``end`` is earlier.

    This is "days in level", "days since the last entry" and "days a handover waited"."""
    return max((local_date(end) - local_date(start)).days, 0)


def month_of(at: datetime) -> str:
    """The local month of a moment, ``YYYY-MM`` (the dashboards' periods)."""
    return local(at).strftime("%Y-%m")


def day_start(day: date) -> datetime:
    """The first moment (UTC) of a local date: midnight in Oslo. (Summer time never starts or
    ends at midnight in Norway, so midnight exists exactly once every day.)"""
    return datetime.combine(day, time(), OSLO).astimezone(UTC)


def local_moment(day: date, at: time) -> datetime:
    """The moment (UTC) of a wall-clock time in Oslo on a local date (a team meeting's start)."""
    return datetime.combine(day, at, OSLO).astimezone(UTC)


def days_ago_cutoff(today: date, days: int) -> datetime:
    """A moment ``t`` (no later than now) is at least ``days`` days before ``today``, as
    ``days_between`` counts, exactly when ``t < days_ago_cutoff(today, days)``: the bound for a
    database query that must agree with ``days_between``."""
    return day_start(today - timedelta(days=days - 1))


#: How long a family invitation code can be redeemed.
FAMILY_INVITATION_DAYS = 14


def family_invitation_expiry(invited_at: datetime) -> datetime:
    """When an invitation code made at ``invited_at`` stops working (14 days later)."""
    return invited_at + timedelta(days=FAMILY_INVITATION_DAYS)


def one_year_after(day: date) -> date:
    """The same date a year later; 29 February becomes 28 February (a yearly review)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)
