"""The access-log review job (AUD-07): each pattern raises exactly one item for the nearest
leader at its threshold and none below; windows spanning two runs are counted whole; reviewers
see only what they follow up, never items about themselves; reads and closing are audited."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bti.db.engine import make_session_factory
from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.domain.log import AuditReviewItem
from bti.services.access import audit
from bti.services.access import review
from bti.services.accounts.users import load_actor
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.conftest import World
from tests.factories import make_user

#: Monday 23 November 2026, 10:00 in Oslo (09:00 UTC): inside working hours.
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SATURDAY_12 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
MONDAY_20 = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)


def log(world, actor, action: str, at: datetime, case_id: int | None = None, n: int = 1,
        distinct_from: int | None = None) -> None:
    """``n`` audit rows by ``actor`` at ``at`` (a minute apart), written chained now."""
    for i in range(n):
        cid = distinct_from + i if distinct_from is not None else case_id
        case = (SimpleNamespace(id=cid, municipality_id=actor.municipality_id)
                if cid is not None else None)
        audit.record(world.ctx(actor, at + timedelta(minutes=i % 50)), action, case=case,
                     object_type="case" if cid else None, object_id=cid, basis="reporter")
    audit.write_pending(world.session)


def run(world, now=MONDAY_10 + timedelta(hours=2)):
    return review.run_review(world.session, now)


def items(world, pattern=None):
    stmt = select(AuditReviewItem).order_by(AuditReviewItem.id)
    if pattern:
        stmt = stmt.where(AuditReviewItem.pattern == pattern)
    return list(world.session.scalars(stmt))


def test_many_cases_in_an_hour_at_the_threshold_and_not_below(world):
    log(world, world.coordinator, "case.viewed", MONDAY_10, n=19, distinct_from=1000)
    log(world, world.coordinator, "case.viewed", MONDAY_10, case_id=1000, n=5)  # repeats
    log(world, world.coordinator, "case.listed", MONDAY_10, n=30, distinct_from=2000)  # lists
    assert run(world).items["many_cases"] == 0
    log(world, world.coordinator, "case.viewed", MONDAY_10 + timedelta(minutes=55), case_id=1019)
    r = run(world)
    assert r.items["many_cases"] == 1  # the hour is counted whole across the two runs
    (item,) = items(world, "many_cases")
    assert item.subject_user_id == world.coordinator.id
    assert item.count == 20
    assert item.window_end - item.window_start == timedelta(hours=1)
    assert json.loads(item.details) == {"distinct_cases": 20}
    assert run(world).items_raised == 0  # idempotent
    assert len(items(world, "many_cases")) == 1


def test_emergency_access_notifies_the_unit_leader_or_else_the_privacy_officer(world):
    officer = make_user(world.session, world.municipality, None, ("privacy_officer",),
                        username="personvern")
    log(world, world.teacher, "case.emergency_access", MONDAY_10, case_id=77)
    log(world, world.leader, "case.emergency_access", MONDAY_10, case_id=78)
    r = run(world)
    assert r.items["emergency_access"] == 2
    by_subject = {i.subject_user_id: i for i in items(world, "emergency_access")}
    notified = {}
    for n in world.session.scalars(select(Notification).where(
            Notification.kind == review.NOTIFICATION_KIND)):
        notified.setdefault(json.loads(n.details)["item_id"], set()).add(n.user_id)
    # the teacher's leader follows the teacher up; the leader (the school's only one) is
    # followed up by the privacy officer, never by themselves
    assert notified[by_subject[world.teacher.id].id] == {world.leader.id}
    assert notified[by_subject[world.leader.id].id] == {officer.id}
    assert json.loads(by_subject[world.teacher.id].details) == {"case_id": 77}


def test_off_hours_weekend_and_evening_but_not_office_hours(world):
    log(world, world.teacher, "case.viewed", MONDAY_10, case_id=5)
    log(world, world.nurse, "case.viewed", SATURDAY_12, case_id=5)
    log(world, world.psychologist, "case.transition", MONDAY_20, case_id=5, n=3)
    log(world, world.psychologist, "auth.login", MONDAY_20)  # not case data
    run(world, SATURDAY_12 + timedelta(hours=1))
    found = {(i.subject_user_id, i.count) for i in items(world, "off_hours")}
    assert found == {(world.nurse.id, 1), (world.psychologist.id, 3)}


def test_mass_export_and_repeated_denials(world):
    log(world, world.coordinator, "case.exported", MONDAY_10, n=4, distinct_from=10)
    log(world, world.teacher, "access.denied", MONDAY_10, n=4, distinct_from=20)
    r = run(world)
    assert r.items["mass_export"] == 0
    assert r.items["repeated_denials"] == 0
    log(world, world.coordinator, "case.access_log_exported", MONDAY_10 + timedelta(hours=3),
        case_id=14)
    log(world, world.teacher, "access.denied", MONDAY_10 + timedelta(minutes=30), case_id=24)
    r = run(world, MONDAY_10 + timedelta(hours=4))
    assert r.items["mass_export"] == 1
    assert r.items["repeated_denials"] == 1


def test_other_municipalities_are_not_mixed_in(world):
    log(world, world.foreign, "case.viewed", MONDAY_10, n=25, distinct_from=3000)
    log(world, world.coordinator, "case.viewed", MONDAY_10, n=10, distinct_from=3000)
    run(world)
    (item,) = items(world, "many_cases")
    assert item.subject_user_id == world.foreign.id
    assert item.municipality_id == world.foreign.municipality_id


def test_who_sees_which_item_and_closing_is_audited(world):
    officer = make_user(world.session, world.municipality, None, ("privacy_officer",),
                        username="personvern")
    log(world, world.teacher, "case.emergency_access", MONDAY_10, case_id=77)
    log(world, world.teacher, "case.viewed", MONDAY_10 + timedelta(minutes=5), case_id=77)
    log(world, world.teacher, "case.viewed", MONDAY_10 + timedelta(minutes=6), case_id=88)
    log(world, world.leader, "case.emergency_access", MONDAY_10, case_id=78)
    run(world)
    teacher_item = next(i for i in items(world) if i.subject_user_id == world.teacher.id)
    leader_item = next(i for i in items(world) if i.subject_user_id == world.leader.id)

    leader_ctx = world.ctx(world.leader, MONDAY_10 + timedelta(hours=3))
    assert [r.item.id for r in review.list_items(leader_ctx)] == [teacher_item.id]
    with pytest.raises(NotFound):
        review.get_item(leader_ctx, leader_item.id)  # never about themselves
    officer_ctx = world.ctx(officer, MONDAY_10 + timedelta(hours=3))
    assert {r.item.id for r in review.list_items(officer_ctx)} == {teacher_item.id,
                                                                    leader_item.id}
    with pytest.raises(NotFound):
        review.get_item(world.ctx(world.foreign), teacher_item.id)
    for someone in (world.teacher, world.coordinator, world.admin):
        with pytest.raises(Forbidden):
            review.list_items(world.ctx(someone))

    view = review.get_item(leader_ctx, teacher_item.id)
    # the emergency item shows the rows about that case in the grant's 24 hours, not case 88
    assert [(e.action, e.case_id) for e in view.events] == [("case.emergency_access", 77),
                                                            ("case.viewed", 77)]
    with pytest.raises(InvalidInput) as err:
        review.close_item(leader_ctx, teacher_item.id, conclusion="ukjend", comment=None)
    assert err.value.fields == {"conclusion": ["not_a_choice"]}
    with pytest.raises(InvalidInput):
        review.close_item(leader_ctx, teacher_item.id, conclusion="legitimate",
                          comment="x" * (review.COMMENT_MAX + 1))
    assert teacher_item.status == "open"
    review.close_item(leader_ctx, teacher_item.id, conclusion="legitimate",
                      comment="Snakka med læraren; tilgangen var naudsynt.")
    assert (teacher_item.status, teacher_item.reviewed_by_id) == ("closed", world.leader.id)
    with pytest.raises(InvalidInput) as err:
        review.close_item(leader_ctx, teacher_item.id, conclusion="followed_up", comment=None)
    assert err.value.fields == {"conclusion": ["not_active"]}
    assert review.list_items(leader_ctx) == []
    assert [r.item.id for r in review.list_items(leader_ctx, status="closed")] == [
        teacher_item.id]
    audit.write_pending(world.session)
    rows = list(world.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["audit.review_viewed", "audit.review_closed"]))
        .order_by(AuditEvent.seq)))
    assert [r.action for r in rows] == ["audit.review_viewed", "audit.review_closed"]
    assert all(r.actor_id == world.leader.id for r in rows)
    assert "Snakka" not in rows[1].details  # free text stays on the item
    assert json.loads(rows[1].details)["conclusion"] == "legitimate"


def test_the_job_is_audited_and_reads_each_row_once(world):
    log(world, world.teacher, "case.viewed", MONDAY_10, case_id=5)
    first = run(world)
    audit.write_pending(world.session)  # what the commit does
    second = run(world)
    assert first.rows_read >= 1
    # only the first run's own row in each chain (the world has two municipalities)
    assert second.rows_read == 2
    audit.write_pending(world.session)
    runs = list(world.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit.review_run",
        AuditEvent.chain == world.municipality.id)))
    assert len(runs) == 2
    assert all(r.actor_id is None and r.basis == "system" for r in runs)


def test_two_reviewers_closing_the_same_item_close_it_once(engine, registry):
    """The leader and the privacy officer both have the item open; the first to close wins,
    the second is told it is closed, and the first conclusion stands."""
    sf = make_session_factory(engine)
    with sf() as s:
        w = World(s, registry, "bti-standard")
        officer = make_user(s, w.municipality, None, ("privacy_officer",), username="personvern")
        log(w, w.teacher, "case.emergency_access", MONDAY_10, case_id=77)
        run(w)
        s.commit()
        item_id = items(w, "emergency_access")[0].id
        leader_id, officer_id = w.leader.id, officer.id
    later = MONDAY_10 + timedelta(hours=3)

    def ctx(session, user_id):
        return Ctx(session=session, actor=load_actor(session, user_id), workflows=registry,
                   now=lambda: later)

    with sf() as officer_session:
        assert review.get_item(ctx(officer_session, officer_id), item_id).row.item.status \
            == "open"
        officer_session.commit()  # the officer reads the item, then the leader closes it
        with sf.begin() as leader_session:
            review.close_item(ctx(leader_session, leader_id), item_id, conclusion="legitimate",
                              comment=None)
        with pytest.raises(InvalidInput) as err:
            review.close_item(ctx(officer_session, officer_id), item_id,
                              conclusion="followed_up", comment=None)
        assert err.value.fields == {"conclusion": ["not_active"]}
        officer_session.rollback()
    with sf() as s:
        item = s.get(AuditReviewItem, item_id)
        assert (item.conclusion, item.reviewed_by_id) == ("legitimate", leader_id)
