"""Hypothesis state machine (issue 15): moves between units, handovers and referrals interleaved
with the workflow, on the real service layer (SQLite here; ``BTI_TEST_DATABASE=postgres`` is
not needed for it: the rules are the services'). After every step:

- exactly one stafettholder from nivå 1 (at most one before), the case's own, with an active
  relation row;
- the stafettlogg chain verifies and replays to the case's state, one entry per action;
- no access without a relation: whoever the services let see the case is its stafettholder,
  a leader of its current unit, or has an active relation row (nobody of a unit the case left
  keeps access through having been there);
- the unit history is contiguous and ends in the case's current unit;
- the analytics kept at write time equal their recompute (each event in the unit of its day).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import initialize
from hypothesis.stateful import invariant
from hypothesis.stateful import rule
from sqlalchemy import func
from sqlalchemy import select

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Handover
from bti.domain.cases import Participant
from bti.domain.log import StafettloggEntry
from bti.domain.vocabulary import Role
from bti.engine import TransitionRefused
from bti.services.analytics import aggregates
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from bti.services.workflows.registry import WorkflowRegistry
from tests.conftest import WORKFLOWS
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_unit
from tests.factories import make_user

EXAMPLES = int(os.environ.get("BTI_STATEFUL_EXAMPLES", "20"))
REGISTRY = WorkflowRegistry(WORKFLOWS)
#: The workflow's own steps the machine walks (the rest come from the rules below).
#: Successful actions per trigger over the whole run (the test checks moves happened).
DONE: dict[str, int] = {}
STEPS = ("start", "inform_home", "assess", "decide", "escalate", "add_note", "give_consent",
         "add_participant", "withdraw_consent")


class MovesAndHandovers(RuleBasedStateMachine):
    @initialize(at_level_1=st.booleans())
    def open(self, at_level_1):
        self.engine = make_engine("sqlite://")
        create_schema(self.engine)
        self.session = make_session_factory(self.engine)()
        w = self.w = World(self.session, REGISTRY, "bti-standard")
        s, m = self.session, w.municipality
        self.vgs = make_unit(s, m, "school", name="Vidaregåande")
        self.vgs_leader = make_user(s, m, self.vgs, ("employee", "leader"), username="vgsr")
        self.vgs_teacher = make_user(s, m, self.vgs, ("employee", "coordinator"),
                                     username="vgsl")
        self.health_leader = make_user(s, m, w.health, ("employee", "leader"), username="hl")
        self.units = [w.school, w.health, self.vgs]
        self.actors = [w.teacher, w.coordinator, w.leader, w.nurse, w.psychologist,
                       self.vgs_leader, self.vgs_teacher, self.health_leader]
        self.day = 0
        self.case = cases.open_case(self._ctx(w.teacher), unit_id=None, child_pseudonym="H.",
                                    child_birth_year=2016, concern=dict(CONCERN)).case
        self.session.commit()
        self.successes = 1
        if at_level_1:  # half the runs start at nivå 1, where handovers and referrals are
            self.walk_to_level_1()

    def teardown(self):
        if hasattr(self, "session"):
            self.session.close()
            self.engine.dispose()

    def _ctx(self, actor):
        return self.w.ctx(actor, now=FIXED_NOW + timedelta(days=self.day))

    def _try(self, actor, trigger, payload=None) -> bool:
        n = self._entries()
        savepoint = self.session.begin_nested()
        try:
            cases.fire(self._ctx(actor), self.case.id, trigger, payload)
        except (TransitionRefused, NotFound):
            savepoint.rollback()
            self.session.expire_all()
            assert self._entries() == n  # a refused action writes nothing
            return False
        self.session.commit()
        self.successes += 1
        DONE[trigger] = DONE.get(trigger, 0) + 1
        return True

    def _entries(self) -> int:
        return self.session.scalar(select(func.count()).select_from(StafettloggEntry).where(
            StafettloggEntry.case_id == self.case.id))

    def _who(self, i: int):
        return self.actors[i % len(self.actors)]

    @rule(days=st.integers(0, 20))
    def time_passes(self, days):
        self.day += days

    @rule(actor=st.integers(0, 7), step=st.sampled_from(STEPS), unit=st.integers(0, 2),
          other=st.integers(0, 7))
    def workflow(self, actor, step, unit, other):
        day = (TODAY + timedelta(days=self.day)).isoformat()
        payload = {
            "start": None, "assess": None, "decide": None, "add_note": {"text": "Notat"},
            "escalate": {"reason": "Tiltak trengst."},
            "inform_home": {"informed_on": day},
            "give_consent": {"given_by": "guardians", "services": [self.units[unit].id],
                             "information": "Deling", "given_on": day},
            "add_participant": {"participant": self._who(other).id,
                                "service": self.units[unit].id},
            "withdraw_consent": {"consent": other + 1},
        }[step]
        if step == "start" or step == "assess":
            # the nivå 0 walk needs a stafettholder first: the unit's leader appoints
            leader = next((a for a in self.actors if a.unit_id == self.case.unit_id
                           and Role.LEADER.value in a.roles), None)
            if leader is not None and self.case.stafettholder_id is None:
                holder = next(a for a in self.actors if a.unit_id == self.case.unit_id)
                self._try(leader, "appoint_stafettholder", {"stafettholder": holder.id})
        self._try(self._who(actor), step, payload)

    def _sensible(self, actor: int):
        """The stafettholder or a leader of the case's unit (who may act), else anyone."""
        able = [a for a in self.actors if a.id == self.case.stafettholder_id
                or (Role.LEADER.value in a.roles and a.unit_id == self.case.unit_id)]
        return able[actor % len(able)] if able else self._who(actor)

    @rule()
    def walk_to_level_1(self):
        """The nivå 0 steps in order, each by whoever may take it (so nivå 1 is reached)."""
        day = (TODAY + timedelta(days=self.day)).isoformat()
        for trigger, payload in (("start", None), ("inform_home", {"informed_on": day}),
                                 ("assess", None), ("decide", None),
                                 ("escalate", {"reason": "Tiltak trengst."})):
            if self.case.stafettholder_id is None and trigger == "assess":
                leader = self._sensible(0)
                staff = [a for a in self.actors if a.unit_id == self.case.unit_id]
                self._try(leader, "appoint_stafettholder", {"stafettholder": staff[0].id})
            for who in (self._sensible(0), self._sensible(1), self.w.teacher):
                if self._try(who, trigger, payload):
                    break

    @rule(actor=st.integers(0, 7), unit=st.integers(0, 2), holder=st.integers(0, 7),
          with_holder=st.booleans(), sensible=st.booleans())
    def move(self, actor, unit, holder, with_holder, sensible):
        to = self.units[unit]
        payload = {"to_unit": to.id, "given_by": "guardians",
                   "given_on": (TODAY + timedelta(days=self.day)).isoformat(),
                   "reason": "Overgang til ny eining"}
        if with_holder:
            staff = [a for a in self.actors if a.unit_id == to.id] if sensible else []
            payload["new_stafettholder"] = (staff[holder % len(staff)] if staff
                                            else self._who(holder)).id
        self._try(self._sensible(actor) if sensible else self._who(actor), "move_unit",
                  payload)

    @rule(actor=st.integers(0, 7), to=st.integers(0, 7), answer=st.sampled_from(
        ["accept_handover", "decline_handover", "withdraw_handover", None]),
        answerer=st.integers(0, 7), sensible=st.booleans())
    def handover(self, actor, to, answer, answerer, sensible):
        colleagues = [a for a in self.actors if a.unit_id == self.case.unit_id
                      and a.id != self.case.stafettholder_id]
        recipient = colleagues[to % len(colleagues)] if sensible and colleagues \
            else self._who(to)
        self._try(self._sensible(actor) if sensible else self._who(actor), "propose_handover",
                  {"to_user": recipient.id, "reason": "Ny stafettholdar"})
        if answer is not None:
            pending = self.session.scalar(select(Handover.to_user_id).where(
                Handover.case_id == self.case.id, Handover.status == "proposed"))
            answering = next((a for a in self.actors if a.id == pending), recipient)
            who = (answering if answer != "withdraw_handover" else self._sensible(answerer)) \
                if sensible else self._who(answerer)
            self._try(who, answer,
                      {"reason": "Grunngjeving"} if answer == "decline_handover" else None)

    @rule(actor=st.integers(0, 7), to=st.sampled_from(["ppt", "bup", "barnevern"]))
    def refer(self, actor, to):
        self._try(self._who(actor), "refer", {"referred_to": to, "reason": "Utgreiing"})

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def one_stafettholder(self):
        if not hasattr(self, "case"):
            return
        holders = self.session.scalars(select(Participant.user_id).where(
            Participant.case_id == self.case.id, Participant.relation == "stafettholder",
            Participant.ended_at.is_(None))).all()
        level = REGISTRY.files["bti-standard"].level_of(self.case.state)
        assert len(holders) <= 1
        if level.number is not None and level.number >= 1 or holders:
            assert holders == [self.case.stafettholder_id]

    @invariant()
    def chain_verifies(self):
        if not hasattr(self, "case"):
            return
        assert self._entries() == self.successes
        assert verify_case(self.session, self.case) is None

    @invariant()
    def no_access_without_a_relation(self):
        if not hasattr(self, "case"):
            return
        case = self.case
        for actor in self.actors:
            sees = cases.still_sees(self._ctx(actor), case.id)
            active = self.session.scalar(select(func.count()).select_from(Participant).where(
                Participant.case_id == case.id, Participant.user_id == actor.id,
                Participant.ended_at.is_(None)))
            grounds = (case.stafettholder_id == actor.id or active
                       or (Role.LEADER.value in actor.roles and actor.unit_id == case.unit_id))
            if sees:
                assert grounds, f"{actor.username} sees the case without a relation"
            if Role.LEADER.value in actor.roles and actor.unit_id == case.unit_id:
                assert sees  # the leader of the current unit sees it

    @invariant()
    def unit_history_is_contiguous(self):
        if not hasattr(self, "case"):
            return
        periods = self.session.scalars(select(CaseUnitPeriod).where(
            CaseUnitPeriod.case_id == self.case.id).order_by(CaseUnitPeriod.id)).all()
        if not periods:
            return
        assert [p.to_at is None for p in periods].count(True) == 1
        assert periods[-1].to_at is None
        assert periods[-1].unit_id == self.case.unit_id
        assert periods[0].from_at == self.case.opened_at
        for a, b in zip(periods, periods[1:], strict=False):
            assert a.to_at == b.from_at
            assert a.unit_id != b.unit_id

    @invariant()
    def analytics_agree(self):
        if not hasattr(self, "case"):
            return
        m = self.w.municipality.id
        assert aggregates.stored(self.session, m) == aggregates.compute(self.session, REGISTRY, m)


MovesAndHandovers.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.slow
def test_moves_handovers_and_referrals_keep_the_invariants():
    DONE.clear()
    MovesAndHandovers.TestCase().runTest()
    # the run did what it is about: cases moved, and a handover was accepted
    assert DONE.get("move_unit", 0) > 0, sorted(DONE.items())
    assert DONE.get("accept_handover", 0) > 0, sorted(DONE.items())
