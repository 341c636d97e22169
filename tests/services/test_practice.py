"""Practice mode (issue 18 §3): a practice case runs on the real workflow, is seen by its opener
alone, sends no notice, counts in no aggregate, refuses the steps that would leave the sandbox,
is purged after ``PRACTICE_KEEP_DAYS`` and can be deleted by its owner; the leader sees who has
completed one. All names are made up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.db.engine import make_session_factory
from bti.domain.analytics import AnalyticsCounter
from bti.domain.cases import INCLUDE_PRACTICE
from bti.domain.cases import Case
from bti.domain.cases import Notification
from bti.domain.log import CasePurge
from bti.domain.org import User
from bti.engine import TransitionRefused
from bti.services.cases import inbox
from bti.services.cases import lifecycle
from bti.services.cases import practice
from bti.services.cases.effects import HANDLERS
from bti.services.errors import Forbidden
from bti.services.errors import NotFound
from bti.services.privacy import purge as privacy_purge
from tests.dbs import ON_POSTGRES
from tests.factories import FIXED_NOW
from tests.factories import TODAY


def _walk_to_close(w, case_id, actor) -> None:
    ctx = w.ctx(actor)
    lifecycle.fire(ctx, case_id, "start")
    lifecycle.fire(ctx, case_id, "appoint_stafettholder", {"stafettholder": actor.id})
    lifecycle.fire(ctx, case_id, "inform_home", {"informed_on": TODAY.isoformat()})
    lifecycle.fire(ctx, case_id, "assess")
    lifecycle.fire(ctx, case_id, "decide")
    lifecycle.fire(ctx, case_id, "close_no_concern", {"reason": "Bare ei øving."})


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_practice_case_is_its_openers_sandbox(world, session):
    w = world
    case_id, new = practice.start_or_continue(w.ctx(w.teacher), what_seen="Øvingstekst.")
    assert new
    again, new = practice.start_or_continue(w.ctx(w.teacher), what_seen="Anna.")
    assert (again, new) == (case_id, False)  # continued, not a second one
    case = session.scalars(select(Case).where(Case.id == case_id)
                           .execution_options(**{INCLUDE_PRACTICE: True})).one()
    assert case.practice
    assert case.child_pseudonym == practice.PSEUDONYM
    # hidden from every plain query of cases, seen by the sandbox's own
    assert session.scalars(select(Case).where(Case.id == case_id)).first() is None
    assert lifecycle.get_case(w.ctx(w.teacher), case_id).case.id == case_id
    # nobody else: the unit's leader, a colleague, the admin, another municipality
    for other in (w.leader, w.coordinator, w.nurse, w.admin, w.foreign):
        with pytest.raises(NotFound):
            lifecycle.get_case(w.ctx(other), case_id)
    # the flag is fixed once the case exists
    with pytest.raises(ValueError, match="never changed"):
        case.practice = False
    assert [c.id for c in practice.mine(w.ctx(w.teacher))] == [case_id]
    assert practice.mine(w.ctx(w.coordinator)) == []
    # not in anybody's inbox, the owner's included (the practice page lists it)
    for who in (w.teacher, w.leader):
        listed = inbox.my_inbox(w.ctx(who), include_closed=True).items
        assert all(i.case.id != case_id for i in listed)


def test_the_walk_sends_nothing_counts_nothing_and_is_completed(world, session):
    w = world
    notices, cells = _count(session, Notification), _count(session, AnalyticsCounter)
    case_id, _ = practice.start_or_continue(w.ctx(w.teacher), what_seen="Øvingstekst.")
    _walk_to_close(w, case_id, w.teacher)
    assert (_count(session, Notification), _count(session, AnalyticsCounter)) == (notices, cells)
    assert session.get(User, w.teacher.id).practice_completed_at == FIXED_NOW
    done = {c.user_id: c.completed_at for c in practice.completions(w.ctx(w.leader))}
    assert done[w.teacher.id] == FIXED_NOW
    assert done[w.coordinator.id] is None
    assert w.nurse.id not in done  # another unit
    for not_leader in (w.teacher, w.admin):
        with pytest.raises(Forbidden):
            practice.completions(w.ctx(not_leader))
    # a real case still notifies and counts (the sandbox changed nothing else)
    real = lifecycle.open_case(w.ctx(w.teacher), unit_id=w.school.id, child_pseudonym="Lise",
                               child_birth_year=2016, concern={"what_seen": "Trøytt."}).case
    assert not real.practice
    assert _count(session, Notification) > notices
    # and a new walk starts a new practice case, the completion date stays the first one
    later, new = practice.start_or_continue(w.ctx(w.teacher), what_seen="Ny øving.")
    assert new
    assert later != case_id


def test_steps_that_reach_other_people_are_refused(world, session):
    w = world
    case_id, _ = practice.start_or_continue(w.ctx(w.teacher), what_seen="Øvingstekst.")
    refused = {"appoint_stafettholder": {"stafettholder": w.coordinator.id}}
    assert set(HANDLERS) >= lifecycle.PRACTICE_OUTSIDE  # every name is an effect
    for trigger, payload in refused.items():
        with pytest.raises(TransitionRefused) as err:
            lifecycle.fire(w.ctx(w.teacher), case_id, trigger, payload)
        assert err.value.refusals[0].guard == "practice", trigger
    lifecycle.fire(w.ctx(w.teacher), case_id, "appoint_stafettholder",
                   {"stafettholder": w.teacher.id})  # oneself: allowed


def test_purged_after_the_keep_days_and_deletable_by_the_owner(world, session, request):
    w = world
    old, _ = practice.start_or_continue(w.ctx(w.teacher), what_seen="Øvingstekst.")
    mine, _ = practice.start_or_continue(w.ctx(w.coordinator), what_seen="Øvingstekst.")
    with pytest.raises(NotFound):
        practice.delete(w.ctx(w.leader), mine)  # not theirs
    practice.delete(w.ctx(w.coordinator), mine)
    with pytest.raises(NotFound):  # gone for the owner at once
        lifecycle.get_case(w.ctx(w.coordinator), mine)
    assert practice.mine(w.ctx(w.coordinator)) == []
    real = lifecycle.open_case(w.ctx(w.teacher), unit_id=w.school.id, child_pseudonym="Lise",
                               child_birth_year=2016, concern={"what_seen": "Trøytt."}).case
    with pytest.raises(NotFound):
        practice.delete(w.ctx(w.teacher), real.id)  # a real case is never deleted so
    real_id = real.id
    session.commit()
    # the purge runs as the database owner (the runtime role may not delete the stafettlogg)
    engine = (request.getfixturevalue("pg_owner_engine") if ON_POSTGRES
              else session.get_bind())
    with make_session_factory(engine)() as s:
        early = privacy_purge.purge_due(
            s, FIXED_NOW + timedelta(days=practice.PRACTICE_KEEP_DAYS - 1))
        assert [(t["case_id"], t["rule"]) for t in early.purged] == [(mine, "practice")]
        due = privacy_purge.purge_due(
            s, FIXED_NOW + timedelta(days=practice.PRACTICE_KEEP_DAYS))
        assert [(t["case_id"], t["rule"]) for t in due.purged] == [(old, "practice")]
        assert s.scalars(select(Case.id).execution_options(**{INCLUDE_PRACTICE: True})
                         ).all() == [real_id]
        assert s.scalar(select(func.count()).select_from(CasePurge)) == 2
        s.commit()
