"""A stopped measure still needs its evaluation: "all measures evaluated" (``measures_evaluated``)
holds only when no measure is running and none was stopped without one. The stop records the
evaluation itself when it carries the effect and the child's voice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Measure
from bti.domain.vocabulary import vocabulary
from bti.engine import TransitionRefused
from bti.engine import load_file
from bti.services.analytics import aggregates
from bti.services.cases import lifecycle as cases
from tests.services.test_inbox import Script

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.toml"))
VOICE = {"effect": "none", "child_voice_method": "conversation",
         "child_said": "Eg likte det ikkje."}


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def at_n1_active(script, w, n: int = 1):
    case = script.open(w.teacher, day=-30, pseudonym="Stopp S.")
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-30)
    ids = [script.measure(w.coordinator, case, start=-29, evaluate_by=20) for _ in range(n)]
    script.fire(w.coordinator, case, "start", day=-28)
    return case, ids


def refused_guards(script, actor, case, trigger, day=0) -> list[str]:
    with pytest.raises(TransitionRefused) as err:
        script.fire(actor, case, trigger, {}, day=day)
    return [r.guard for r in err.value.refusals]


def test_a_measure_stopped_without_evaluation_blocks_the_decision_until_evaluated(
        world, session, script):
    w = world
    case, [m] = at_n1_active(script, w)
    script.fire(w.coordinator, case, "stop_measure", {"measure": m, "reason": "Passa ikkje."},
                day=-20)
    assert session.get(Measure, m).status == "stopped"
    script.fire(w.coordinator, case, "evaluate", day=-19)
    # no measure runs, but the stopped one has no evaluation: "all evaluated" does not hold
    assert refused_guards(script, w.coordinator, case, "decide", day=-19) == [
        "measures_evaluated"]
    script.evaluate(w.coordinator, case, [m], day=-18)  # the evaluation covers a stopped one
    measure = session.get(Measure, m)
    assert measure.status == "stopped"  # it stays stopped, now with its evaluation
    assert session.scalar(select(func.count()).select_from(EvaluationMeasure).where(
        EvaluationMeasure.measure_id == m)) == 1
    script.fire(w.coordinator, case, "decide", day=-18)
    assert case.state == "n1_decision"
    # and it is not evaluated twice
    assert m not in {x.id for x in session.scalars(select(Measure).where(
        Measure.status == "active"))}


def test_the_stop_records_the_evaluation_with_the_childs_voice(world, session, script,
                                                                registry):
    w = world
    case, [m, other] = at_n1_active(script, w, 2)
    script.fire(w.coordinator, case, "stop_measure", {
        "measure": m, "reason": "Passa ikkje.", **VOICE}, day=-20)
    ev = session.scalars(select(Evaluation).where(Evaluation.case_id == case.id)).one()
    assert (ev.outcome, ev.effect, ev.child_said, ev.notes) == (
        "stop", "none", "Eg likte det ikkje.", "Passa ikkje.")
    assert [link.measure_id for link in ev.measure_links] == [m]
    script.fire(w.coordinator, case, "evaluate", day=-19)
    assert refused_guards(script, w.coordinator, case, "decide", day=-19) == [
        "measures_evaluated"]  # the other one still runs
    with pytest.raises(TransitionRefused) as err:  # the stopped one is evaluated already
        script.evaluate(w.coordinator, case, [m], day=-18)
    assert err.value.refusals[0].fields == {"measures": ["already_evaluated"]}
    script.evaluate(w.coordinator, case, [other], day=-18)
    script.fire(w.coordinator, case, "decide", day=-18)
    # the write-time aggregates count the stop's evaluation as a recompute does
    session.flush()
    mid = w.municipality.id
    assert aggregates.stored(session, mid) == aggregates.compute(session, registry, mid)
    evaluations = {c: n for c, n in aggregates.stored(session, mid).items()
                   if c[1] == aggregates.EVALUATION and c[3] == aggregates.ALL_UNITS}
    assert sum(evaluations.values()) == 2


@pytest.mark.parametrize(("extra", "fields"), [
    ({"effect": "none"}, {"child_voice_method": ["required"]}),
    ({"child_said": "Eg vil slutte."}, {"effect": ["required"],
                                        "child_voice_method": ["required"]}),
    ({"effect": "none", "child_voice_method": "conversation"},
     {"child_said": ["child_voice_missing"], "child_not_heard_reason": ["child_voice_missing"]}),
])
def test_a_stop_with_half_an_evaluation_is_refused_and_writes_nothing(world, session, script,
                                                                      extra, fields):
    w = world
    case, [m] = at_n1_active(script, w)
    session.commit()
    with pytest.raises(TransitionRefused) as err:
        script.fire(w.coordinator, case, "stop_measure",
                    {"measure": m, "reason": "Passa ikkje.", **extra}, day=-20)
    assert err.value.refusals[0].fields == fields
    session.rollback()
    assert session.get(Measure, m).status == "active"
    assert session.scalar(select(func.count()).select_from(Evaluation)) == 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_every_workflow_lets_the_stop_record_the_evaluation_and_guards_the_decisions(path):
    d = load_file(path, vocabulary())
    stops = [t for t in d.transitions if t.effect == "stop_measure"]
    assert stops
    for t in stops:
        assert set(t.optional) >= {"effect", "child_voice_method", "child_said",
                                   "child_not_heard_reason"}, t.trigger
        assert t.help, "the stop form says that a stopped measure is evaluated too"
    # every decision after evaluating measures (nivå 1–3) asks for all measures evaluated
    for t in d.transitions:
        if t.dest and not t.standing and d.state(t.dest).phase == "decision" and any(
                d.state(s).phase == "evaluation" and d.level(d.state(s).level).number
                for s in t.sources):
            assert "measures_evaluated" in t.guards, t.trigger


def test_an_evaluation_still_requires_the_measure_to_be_on_the_case(world, script):
    w = world
    case, [m] = at_n1_active(script, w)
    other, [foreign] = at_n1_active(script, w)
    script.fire(w.coordinator, case, "evaluate", day=-19)
    with pytest.raises(TransitionRefused) as err:
        script.evaluate(w.coordinator, case, [foreign], day=-18)
    assert err.value.refusals[0].fields == {"measures": ["not_on_case"]}
    assert cases.get_case(w.ctx(w.coordinator), other.id)
