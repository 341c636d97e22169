"""The aggregates kept at write time equal a full recompute: after a Hypothesis-generated
history of transitions on several cases (SQLite), and after the hand-computed history of
test_analytics on PostgreSQL. ``recompute`` rebuilds them exactly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy import select

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.analytics import AnalyticsCounter
from bti.domain.cases import Measure
from bti.engine import TransitionRefused
from bti.services.analytics import aggregates
from bti.services.analytics import catalogue
from tests.conftest import World
from tests.services.test_analytics import history
from tests.services.test_inbox import Script

#: Decisions at the end of a level; escalating twice as likely, so histories reach nivå 3.
DECISIONS = ("escalate", "escalate", "continue", "deescalate", "close", "close_no_concern",
             "deescalate_to_n1", "handover_ip")


def _advance(sc: Script, w: World, case, day: int, item_id: int, choice: dict) -> None:
    """One meaningful step for the case's state (refusals are part of a real history)."""
    holder, state = w.coordinator, case.state
    fire = lambda actor, trigger, payload=None: sc.fire(  # noqa: E731
        actor, case, trigger, payload, day=day)
    if state == "n0_plan":
        fire(w.teacher, "start")
    elif state == "n0_active":
        fire(w.teacher, "inform_home", {"informed_on": sc.date(day)})
        if case.stafettholder_id is None:
            fire(w.leader, "appoint_stafettholder", {"stafettholder": holder.id})
        fire(holder, "assess")
    elif state.endswith("_evaluation") and state != "n0_evaluation":
        ids = list(sc.session.scalars(select(Measure.id).where(
            Measure.case_id == case.id, Measure.status == "active")))
        if ids:
            voice = {"child_said": "Betre."} if choice["voice"] else {
                "child_not_heard_reason": "Ville ikkje."}
            fire(holder, "record_evaluation", {
                "measures": ids, "effect": choice["effect"], "child_voice_method": "conversation",
                "outcome": "continue", **voice})
        fire(holder, "decide")
    elif state == "n0_evaluation":
        fire(holder, "decide")
    elif state.endswith("_plan"):
        payload = {"description": "Samtale", "responsible": holder.id,
                   "start_date": sc.date(day), "evaluate_by": sc.date(day + 30)}
        if choice["catalogue"]:
            payload["catalogue"] = item_id
        fire(holder, "add_measure", payload)
        fire(holder, "start")
    elif state.endswith("_active"):
        fire(holder, "evaluate")
    elif state.endswith("_decision"):
        decision = choice["decision"]
        if decision in ("escalate", "involve_service") and state != "n0_decision":
            fire(holder, "give_consent", {"given_by": "guardians", "services": [w.health.id],
                                          "information": "Skule og helse",
                                          "given_on": sc.date(day)})
        payload = {"reason": "Grunngjeving av valet."}
        if decision == "handover_ip":
            payload["to_user"] = w.leader.id
        fire(holder, decision, payload)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=False)
@given(st.lists(st.tuples(
    st.integers(0, 2),  # which case
    st.integers(0, 40),  # days since the step before
    st.fixed_dictionaries({
        "decision": st.sampled_from(DECISIONS), "voice": st.booleans(),
        "catalogue": st.booleans(), "effect": st.sampled_from(["good", "some", "none", "worse"]),
    })), min_size=25, max_size=70))
def test_write_time_aggregates_equal_a_recompute_after_a_generated_history(registry, steps):
    engine = make_engine("sqlite://")
    create_schema(engine)
    try:
        with make_session_factory(engine)() as session:
            w = World(session, registry, "bti-standard")
            sc = Script(session, registry)
            day = -sum(gap for _, gap, _ in steps) - 1
            item = catalogue.create_item(sc.ctx(w.leader, day), catalogue.ItemInput(
                name="Vennegruppe", description="", kind="selective", age_from=6, age_to=12))
            cases = [sc.open(w.teacher, day=day, pseudonym=f"H{i}") for i in range(3)]
            for which, gap, choice in steps:
                day += gap
                with contextlib.suppress(TransitionRefused):  # nothing written; it goes on
                    _advance(sc, w, cases[which], day, item.id, choice)
            kept = aggregates.stored(session)
            event(f"metrics: {sorted({cell[1] for cell in kept})}")
            assert kept == aggregates.compute(session, registry)
    finally:
        engine.dispose()


def test_a_transition_that_measures_nothing_changes_no_aggregate(world, session):
    sc = Script(session, world.registry)
    case = sc.open(world.teacher, day=-5)
    sc.fire(world.teacher, case, "add_note", {"text": "Eit notat."}, day=-4)
    sc.fire(world.teacher, case, "inform_home", {"informed_on": sc.date(-4)}, day=-4)
    assert aggregates.stored(session) == {}  # no level left, no measure, no evaluation
    sc.to_n1(case, world.teacher, world.leader, world.coordinator, day=-3)
    m, school = world.municipality.id, world.school.id
    assert aggregates.stored(session) == {  # for the unit and for the whole municipality (0)
        (m, "flow", "2026-02", school, "n0>n1", 0): 1, (m, "flow", "2026-02", 0, "n0>n1", 0): 1,
        (m, "stay", "2026-02", school, "n0", 2): 1, (m, "stay", "2026-02", 0, "n0", 2): 1}


@pytest.mark.postgres
def test_recompute_equals_write_time_on_postgres(pg_engine, registry):
    with make_session_factory(pg_engine)() as session:
        w = World(session, registry, "bti-standard")
        history(w, Script(session, registry))
        session.commit()
        kept = aggregates.stored(session)
        assert kept
        assert kept == aggregates.compute(session, registry)
        session.execute(delete(AnalyticsCounter))
        assert aggregates.stored(session) == {}
        aggregates.recompute(session, registry)
        assert aggregates.stored(session) == kept
        session.commit()


def test_recompute_for_one_municipality_leaves_the_others(world, session, registry):
    sc = Script(session, registry)
    history(world, sc)
    other = world.foreign
    case = sc.open(other, day=-30)
    sc.fire(other, case, "start", day=-29)
    kept = aggregates.stored(session)
    session.execute(delete(AnalyticsCounter).where(
        AnalyticsCounter.municipality_id == world.municipality.id))
    aggregates.recompute(session, registry, world.municipality.id)
    assert aggregates.stored(session) == kept


def test_the_hook_costs_one_statement_and_none_when_nothing_measured_changes(world, session,
                                                                            engine):
    from sqlalchemy import event

    sc = Script(session, world.registry)
    w = world
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        def touching(trigger, payload=None, actor=None, day=-1):
            statements.clear()
            sc.fire(actor or w.coordinator, case, trigger, payload, day=day)
            return [s for s in statements if "analytics_counter" in s]

        case = sc.open(w.teacher, day=-5)
        assert touching("add_note", {"text": "Eit notat."}, actor=w.teacher) == []
        sc.to_n1(case, w.teacher, w.leader, w.coordinator, day=-4)
        mid = sc.measure(w.coordinator, case, start=-3, evaluate_by=10, day=-3)
        assert touching("start") == []  # a phase change: nothing measured changes
        assert touching("evaluate") == []
        hits = touching("record_evaluation", {
            "measures": [mid], "effect": "good", "child_voice_method": "conversation",
            "outcome": "continue", "child_said": "Betre."})
        assert len(hits) == 1
        assert hits[0].lstrip().upper().startswith("INSERT INTO ANALYTICS_COUNTER")
        # the evaluated measure came from the identity map: no SELECT of it after the insert
        after = statements[statements.index(hits[0]) + 1:]
        assert not [s for s in after if s.lstrip().upper().startswith("SELECT")
                    and "FROM MEASURE" in s.upper()]
        assert touching("decide") == []
        hits = touching("close", {"reason": "Måla er nådde no."})  # leaves nivå 1: one upsert
        assert len(hits) == 1
        assert aggregates.stored(session) == aggregates.compute(session, w.registry)
    finally:
        event.remove(engine, "before_cursor_execute", count)
