"""Cases that move between units (issue 15, section 4, gode overgangar), through the services on
the real database: the move with the consent to the transfer recorded, the history, the
receiving unit's leaders and coordinators told, the sending unit's staff losing access (unless
a consent covers their service), a new stafettholder where the old one leaves with the unit,
the refusals (nothing written), and the analytics counting the case in the unit it was in on
each day. In every workflow. All names are made up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Consent
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.engine import TransitionRefused
from bti.services.analytics import aggregates
from bti.services.analytics import leader as leader_views
from bti.services.cases import casepage
from bti.services.cases import lifecycle as cases
from bti.services.cases import moves
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_unit
from tests.factories import make_user
from tests.factories import to_n1

DAY = TODAY.isoformat()
WORKFLOWS = ("bti-standard", "donna", "aukra", "orland", "vestre-slidre")


class Moving:
    """The world with a receiving unit (the upper secondary school) and its staff."""

    def __init__(self, w: World) -> None:
        s, m = w.session, w.municipality
        self.w = w
        self.vgs = make_unit(s, m, "school", name="Nordvik vidaregåande")
        self.vgs_leader = make_user(s, m, self.vgs, ("employee", "leader"), username="vgsrektor")
        self.vgs_coordinator = make_user(s, m, self.vgs, ("employee", "coordinator"),
                                         username="vgskoord")
        self.vgs_teacher = make_user(s, m, self.vgs, ("employee",), username="vgslaerar")
        s.flush()

    def case_at_n1(self):
        w = self.w
        case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test M.",
                               child_birth_year=2016, concern=dict(CONCERN)).case
        to_n1(w, case)
        return case

    def move(self, case, actor=None, *, to=None, holder=None, when=None, **extra):
        w = self.w
        payload = {"to_unit": (to or self.vgs).id, "given_by": "guardians", "given_on": DAY,
                   "reason": "Eleven byrjar på vidaregåande", **extra}
        if holder is not None:
            payload["new_stafettholder"] = holder.id
        return cases.fire(w.ctx(actor or w.coordinator, now=when), case.id, "move_unit",
                          payload)


@pytest.fixture
def mv(world) -> Moving:
    return Moving(world)


def _notified(session, event: Event) -> list[int]:
    session.flush()
    return sorted(session.scalars(select(Notification.user_id)
                                  .where(Notification.kind == event.value)))


def test_the_case_moves_with_consent_and_history_and_the_receiving_unit_is_told(world, session,
                                                                                 mv):
    w = world
    case = mv.case_at_n1()
    opened = case.opened_at
    result = mv.move(case, holder=mv.vgs_teacher)
    assert case.unit_id == mv.vgs.id
    assert case.stafettholder_id == mv.vgs_teacher.id
    assert result.entry.kind == "move"
    assert json.loads(result.entry.data)["to_unit"] == mv.vgs.id
    periods = session.scalars(select(CaseUnitPeriod).order_by(CaseUnitPeriod.id)).all()
    assert [(p.unit_id, p.from_at, p.to_at) for p in periods] == [
        (w.school.id, opened, FIXED_NOW), (mv.vgs.id, FIXED_NOW, None)]
    consent = session.get_one(Consent, periods[1].consent_id)
    assert (consent.status, consent.given_by, consent.unit_ids) == (
        "given", "guardians", frozenset({mv.vgs.id}))
    assert _notified(session, Event.CASE_MOVED_IN) == sorted(
        [mv.vgs_leader.id, mv.vgs_coordinator.id])
    assert _notified(session, Event.APPOINTED)[-1:] == [mv.vgs_teacher.id]
    assert [s.unit_id for s in moves.history(w.ctx(mv.vgs_leader), case)] == [
        w.school.id, mv.vgs.id]
    assert verify_case(session, case) is None
    # exactly one stafettholder relation is active: the new one
    holders = session.scalars(select(Participant.user_id).where(
        Participant.case_id == case.id, Participant.relation == "stafettholder",
        Participant.ended_at.is_(None))).all()
    assert holders == [mv.vgs_teacher.id]


def test_the_sending_units_staff_lose_access_and_the_receiving_unit_gains_it(world, mv):
    w = world
    case = mv.case_at_n1()
    mv.move(case, holder=mv.vgs_teacher)
    for old in (w.teacher, w.coordinator, w.leader):  # reporter, holder, leader of the school
        with pytest.raises(NotFound):
            cases.get_case(w.ctx(old), case.id)
    for new in (mv.vgs_leader, mv.vgs_teacher):
        assert cases.get_case(w.ctx(new), case.id).case.id == case.id
    with pytest.raises(NotFound):  # the coordinator of the new unit has no relation yet
        cases.get_case(w.ctx(mv.vgs_coordinator), case.id)


def test_a_participant_of_the_sending_unit_stays_where_a_consent_covers_it(world, mv):
    w = world
    case = mv.case_at_n1()
    cases.fire(w.ctx(w.coordinator), case.id, "give_consent", {
        "given_by": "guardians", "services": [w.school.id], "information": "Overgang",
        "given_on": DAY})
    cases.fire(w.ctx(w.coordinator), case.id, "add_participant",
               {"participant": w.teacher.id, "service": w.school.id})
    mv.move(case, holder=mv.vgs_teacher)
    assert cases.get_case(w.ctx(w.teacher), case.id).basis == "participant"
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.leader), case.id)


def test_a_holder_of_another_service_keeps_the_baton(world, mv):
    w = world
    case = mv.case_at_n1()
    cases.fire(w.ctx(w.coordinator), case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse",
        "given_on": DAY})
    h = cases.fire(w.ctx(w.coordinator), case.id, "propose_handover",
                   {"to_user": w.nurse.id, "reason": "Helsesyster tek over"})
    cases.fire(w.ctx(w.nurse), case.id, "accept_handover")
    assert h.case.stafettholder_id == w.nurse.id
    mv.move(case, actor=w.nurse)  # no new holder needed: the nurse's service stays covered
    assert case.stafettholder_id == w.nurse.id
    assert case.unit_id == mv.vgs.id


@pytest.mark.parametrize(("extra", "field", "code"), [
    ({"to": "school"}, "to_unit", "same_unit"),
    ({"to": "foreign"}, "to_unit", "not_in_municipality"),
    # an inter-municipal service hosted elsewhere serves the case's municipality through
    # consent only: a case is never moved into it
    ({"to": "served"}, "to_unit", "not_in_municipality"),
    ({}, "new_stafettholder", "holder_leaves"),
    ({"holder": "teacher"}, "new_stafettholder", "not_in_receiving_unit"),
    ({"holder": "coordinator"}, "new_stafettholder", "already_stafettholder"),
    ({"holder": "vgs_teacher", "given_on": (TODAY + timedelta(days=1)).isoformat()},
     "given_on", "in_future"),
])
def test_a_refused_move_writes_nothing(world, session, mv, extra, field, code):
    w = world
    case = mv.case_at_n1()
    foreign_unit = session.get_one(Unit, w.foreign.unit_id)
    served = make_unit(session, session.get_one(Municipality, foreign_unit.municipality_id),
                       "ppt", name="Interkommunal PPT")
    session.add(UnitMunicipality(unit_id=served.id, municipality_id=w.school.municipality_id,
                                 created_at=FIXED_NOW))
    session.flush()
    names = {"school": w.school, "teacher": w.teacher, "coordinator": w.coordinator,
             "vgs_teacher": mv.vgs_teacher, "foreign": foreign_unit, "served": served}
    kw = {k: names[v] if k in ("to", "holder") else v for k, v in extra.items()}
    version, seq = case.version, case.log_seq
    with pytest.raises(TransitionRefused) as err:
        mv.move(case, **kw)
    [refusal] = err.value.refusals
    assert refusal.fields == {field: [code]}
    assert session.scalar(select(func.count()).select_from(CaseUnitPeriod)) == 0
    assert session.scalar(select(func.count()).select_from(Consent)) == 0
    case = cases.get_case(w.ctx(w.coordinator), case.id).case
    assert (case.version, case.log_seq, case.unit_id) == (version, seq, w.school.id)


def test_the_teacher_may_not_move_and_a_pending_handover_blocks_it(world, mv):
    w = world
    case = mv.case_at_n1()
    with pytest.raises(TransitionRefused):
        mv.move(case, actor=w.teacher, holder=mv.vgs_teacher)
    cases.fire(w.ctx(w.coordinator), case.id, "propose_handover",
               {"to_user": w.leader.id, "reason": "Rektor tek over"})
    with pytest.raises(TransitionRefused) as err:
        mv.move(case, holder=mv.vgs_teacher)
    assert [r.guard for r in err.value.refusals] == ["no_pending_handover"]


def test_analytics_and_leader_views_count_the_case_in_its_unit_on_each_day(world, session, mv):
    w = world
    case = mv.case_at_n1()  # its level changes so far counted in the school
    later = FIXED_NOW + timedelta(days=40)
    mv.move(case, holder=mv.vgs_teacher, when=later)
    # after the move, a handover proposed counts in the receiving unit
    cases.fire(w.ctx(mv.vgs_teacher, now=later + timedelta(days=1)), case.id,
               "propose_handover", {"to_user": mv.vgs_coordinator.id, "reason": "Koordinator"})
    stored = aggregates.stored(session, w.municipality.id)
    assert aggregates.compute(session, w.registry, w.municipality.id) == stored
    units = {(cell[1], cell[3]) for cell in stored}
    assert (aggregates.FLOW, w.school.id) in units
    assert (aggregates.FLOW, mv.vgs.id) not in units
    assert (aggregates.HANDOVER, mv.vgs.id) in units
    assert (aggregates.HANDOVER, w.school.id) not in units
    overview = leader_views.unit_overview(w.ctx(mv.vgs_leader, now=later))
    assert [r.case_id for r in overview.rows] == [case.id]
    assert leader_views.unit_overview(w.ctx(w.leader, now=later)).rows == ()


@pytest.mark.parametrize("workflow_id", WORKFLOWS)
def test_every_workflow_moves_a_case(session, registry, workflow_id):
    w = World(session, registry, workflow_id)
    mv = Moving(w)
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test W.",
                           child_birth_year=2012, concern=dict(CONCERN)).case
    page = casepage.case_page(w.ctx(w.leader), case.id)
    assert any(f.action.transition.trigger == "move_unit" for f in page.others.people)
    mv.move(case, actor=w.leader)  # level 0, no stafettholder yet
    assert case.unit_id == mv.vgs.id
    assert verify_case(session, case) is None
