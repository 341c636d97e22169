"""Days have one definition (bti.domain.clock: Oslo calendar days): the leader's unit overview
and the dashboard's time in level give the same number for the same case, and the dashboard's
stuck cases are the inbox's, to the day. The moments are chosen where counting 24-hour periods
and counting calendar days differ: across midnight and across both changes of summer time."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from bti.domain.clock import OSLO
from bti.domain.clock import local_date
from bti.services.analytics import dashboard as analytics
from bti.services.analytics import leader
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from tests.factories import CONCERN
from tests.factories import FIXED_NOW


def oslo(*args) -> datetime:
    """A moment given as Oslo wall-clock time, as the app holds it (UTC)."""
    return datetime(*args, tzinfo=OSLO).astimezone(UTC)


def open_at(w, at: datetime, pseudonym: str):
    return cases.open_case(w.ctx(w.teacher, at), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern=dict(CONCERN)).case


def leave_nivå_0_at(w, case, at: datetime) -> None:
    def fire(actor, trigger, payload=None):
        cases.fire(w.ctx(actor, at), case.id, trigger, payload)

    fire(w.teacher, "start")
    fire(w.teacher, "inform_home", {"informed_on": local_date(at).isoformat()})
    fire(w.leader, "appoint_stafettholder", {"stafettholder": w.coordinator.id})
    fire(w.coordinator, "assess")
    fire(w.coordinator, "decide")
    fire(w.coordinator, "escalate", {"reason": "Tiltak trengst."})
    assert case.state == "n1_plan"


@pytest.mark.parametrize(("entered", "seen", "days"), [
    # one hour across midnight: one day (24-hour periods: 0)
    (oslo(2026, 3, 1, 23, 30), oslo(2026, 3, 2, 0, 30), 1),
    # noon to 11:30 the next day, across the start of summer time (22.5 hours): one day
    (oslo(2026, 3, 28, 12), oslo(2026, 3, 29, 11, 30), 1),
    # 24 hours 15 minutes inside the 25-hour day summer time ends: no day (24-hour periods: 1)
    (oslo(2026, 10, 25, 0, 30), oslo(2026, 10, 25, 23, 45), 0),
    # ten days and a few hours
    (oslo(2026, 5, 4, 8), oslo(2026, 5, 14, 15), 10),
])
def test_the_overview_and_the_dashboard_count_the_same_days_for_a_case(world, entered, seen,
                                                                        days):
    w = world
    # five cases alike: the dashboard shows no percentile of fewer than five stays
    five = [open_at(w, entered, f"Dag {n}") for n in range(5)]
    overview = leader.unit_overview(w.ctx(w.leader, seen))
    assert sorted((r.case_id, r.level, r.days_in_level) for r in overview.rows) == [
        (case.id, "n0", days) for case in five]

    for case in five:  # each stay at nivå 0 ends at the moment it was looked at
        leave_nivå_0_at(w, case, seen)
    ctx = w.ctx(w.leader, seen)
    board = analytics.time_in_level(ctx, analytics.filters(ctx))
    stay = {lt.level: lt for lt in board.levels}["n0"]
    assert (stay.p50, stay.p90) == (days, days)


def test_stuck_cases_are_the_inbox_cases_to_the_day(world):
    """FIXED_NOW is 2 March 2026, 10:00 in Oslo; nivå 0 has a 14-day deadline and a case is
    inactive after 30 days (bti-standard)."""
    w = world
    quiet = open_at(w, oslo(2026, 1, 31, 21), "Stille S.")  # 30 days ago, 29 d 13 h
    almost = open_at(w, oslo(2026, 2, 1, 0, 30), "Nesten N.")  # 29 days ago, 29 d 9.5 h
    late = open_at(w, oslo(2026, 2, 15, 23, 30), "Sein S.")  # 15 days: deadline passed
    due_today = open_at(w, oslo(2026, 2, 16, 0, 30), "I dag I.")  # 14 days: due today
    w.session.flush()
    ctx = w.ctx(w.leader, FIXED_NOW)

    urgent = {item.case.id: {u.kind for u in item.urgencies}
              for item in inbox.my_inbox(ctx).items}
    in_inbox = {kind: {cid for cid, kinds in urgent.items() if kind in kinds}
                for kind in (inbox.INACTIVE, inbox.LEVEL_DEADLINE_PASSED)}
    assert in_inbox == {inbox.INACTIVE: {quiet.id},
                        inbox.LEVEL_DEADLINE_PASSED: {quiet.id, almost.id, late.id}}
    assert due_today.id in urgent

    assert set(analytics.stuck_cases(ctx, "inactive_30").case_ids) == in_inbox[inbox.INACTIVE]
    assert set(analytics.stuck_cases(ctx, "n0_overdue").case_ids) \
        == in_inbox[inbox.LEVEL_DEADLINE_PASSED]
