"""Hypothesis state machine per shipped workflow, driving the real service layer on SQLite with
random triggers × actors × payloads, and checking the BTI invariants after every step."""

from __future__ import annotations

import json
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
from bti.domain.cases import Consent
from bti.domain.cases import Measure
from bti.domain.cases import Participant
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from bti.services.workflows.registry import WorkflowRegistry
from tests.conftest import WORKFLOWS
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import TODAY

EXAMPLES = int(os.environ.get("BTI_STATEFUL_EXAMPLES", "25"))
REGISTRY = WorkflowRegistry(WORKFLOWS)


def machine_for(workflow_id: str):
    definition = REGISTRY.files[workflow_id]
    triggers = sorted(set(definition.triggers))

    class CaseLifecycle(RuleBasedStateMachine):
        @initialize()
        def open(self):
            self.engine = make_engine("sqlite://")
            create_schema(self.engine)
            self.session = make_session_factory(self.engine)()
            self.w = World(self.session, REGISTRY, workflow_id)
            self.actors = [self.w.teacher, self.w.coordinator, self.w.leader, self.w.nurse,
                           self.w.psychologist]
            self.case = cases.open_case(self.w.ctx(self.w.teacher), unit_id=None,
                                        child_pseudonym="H.", child_birth_year=2016,
                                        concern=CONCERN).case
            self.session.commit()
            self.successes = 1

        def teardown(self):
            if hasattr(self, "session"):
                self.session.close()
                self.engine.dispose()

        def _payload(self, data, trigger):
            t = REGISTRY.for_record(self.session, self.case.workflow_definition_id) \
                .transition(trigger, self.case.state)
            if t is None:
                return {}
            d = REGISTRY.files[workflow_id]
            out = {}
            for name in t.fields + t.optional:
                f = d.fields[name]
                if name in t.optional and data.draw(st.booleans()):
                    continue
                out[name] = self._value(data, f)
            if t.reason and data.draw(st.integers(0, 5)):
                out["reason"] = "Grunngjeving"
            if name_extra := data.draw(st.sampled_from([None, None, None, "unknown_field"])):
                out[name_extra] = "x"
            return out

        def _value(self, data, f):
            s = self.session
            if f.type in ("text", "textarea"):
                return data.draw(st.sampled_from(["Tekst", "Eg vil ha hjelp", " "]))
            if f.type == "date":
                return (TODAY + timedelta(days=data.draw(st.integers(-3, 40)))).isoformat()
            if f.type == "bool":
                return data.draw(st.booleans())
            if f.type == "choice":
                return data.draw(st.sampled_from([o.value for o in f.options]))
            if f.type == "user":
                return data.draw(st.sampled_from([a.id for a in self.actors]))
            if f.type == "unit":
                return data.draw(st.sampled_from([self.w.school.id, self.w.health.id]))
            if f.type == "units":
                return [data.draw(st.sampled_from([self.w.health.id, self.w.ppt.id]))]
            ids = {
                "measure": Measure, "measures": Measure, "consent": Consent,
            }.get(f.type)
            found = list(s.scalars(select(ids.id).where(ids.case_id == self.case.id))) \
                if ids else []
            pick = data.draw(st.sampled_from(found or [999]))
            return [pick] if f.type == "measures" else pick

        def _snapshot(self):
            n = self.session.scalar(select(func.count()).select_from(StafettloggEntry).where(
                StafettloggEntry.case_id == self.case.id))
            return (self.case.state, self.case.version, n)

        @rule(data=st.data(), trigger=st.sampled_from(triggers), actor=st.integers(0, 4))
        def fire(self, data, trigger, actor):
            before = self._snapshot()
            was_final = definition.state(self.case.state).final
            payload = self._payload(data, trigger)
            savepoint = self.session.begin_nested()
            try:
                result = cases.fire(self.w.ctx(self.actors[actor]), self.case.id, trigger,
                                    payload)
            except (TransitionRefused, NotFound):
                savepoint.rollback()
                self.session.expire_all()
                assert self._snapshot() == before  # a refused action changes nothing
                return
            self.session.commit()
            assert not was_final  # nothing leaves a final state
            self.successes += 1
            src = definition.state(result.step.source).level
            dst = definition.state(result.step.dest).level
            if src != dst:
                assert json.loads(result.entry.data).get("reason")  # level changes say why

        @invariant()
        def log_and_chain(self):
            if not hasattr(self, "case"):
                return
            n = self.session.scalar(select(func.count()).select_from(StafettloggEntry).where(
                StafettloggEntry.case_id == self.case.id))
            assert n == self.successes  # one entry per successful action
            assert verify_case(self.session, self.case) is None  # chain + replay = state

        @invariant()
        def one_stafettholder_from_level_1(self):
            if not hasattr(self, "case"):
                return
            level = definition.level_of(self.case.state)
            holders = self.session.scalars(select(Participant.user_id).where(
                Participant.case_id == self.case.id, Participant.relation == "stafettholder",
                Participant.ended_at.is_(None))).all()
            if level.number is not None and level.number >= 1:
                assert len(holders) == 1
                assert holders[0] == self.case.stafettholder_id
            assert len(holders) <= 1

        @invariant()
        def reporting_always_possible(self):
            if not hasattr(self, "case") or definition.state(self.case.state).final:
                return
            _, actions = cases.list_actions(self.w.ctx(self.w.teacher), self.case.id)
            allowed = {a.transition.trigger for a in actions if a.allowed}
            standing = {t.trigger for t in definition.transitions if t.standing}
            assert standing <= allowed

    CaseLifecycle.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    return CaseLifecycle


@pytest.mark.slow
@pytest.mark.parametrize("workflow_id", sorted(REGISTRY.files))
def test_workflow_invariants(workflow_id):
    machine_for(workflow_id).TestCase().runTest()
