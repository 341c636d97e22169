"""The service layer on real SQLite: opening, firing, refusals, guards and access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Participant
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import Conflict
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import TODAY
from tests.factories import to_n1


def open_case(world, actor=None, **concern):
    return cases.open_case(world.ctx(actor or world.teacher), unit_id=None,
                           child_pseudonym="Test B.", child_birth_year=2016,
                           concern={**CONCERN, **concern}).case



def counts(session):
    session.commit()  # audit rows are written, chained, at commit
    return (session.scalar(select(func.count()).select_from(StafettloggEntry)),
            session.scalar(select(func.count()).select_from(AuditEvent)))


def test_open_case_writes_concern_log_and_audit(world, session):
    case = open_case(world)
    assert case.state == "n0_plan"
    entries = list(session.scalars(select(StafettloggEntry)))
    assert [(e.kind, e.trigger, e.seq) for e in entries] == [("concern", "open", 1)]
    session.commit()
    audit = session.scalars(select(AuditEvent)).all()
    assert [a.action for a in audit] == ["case.opened"]
    assert "Barnet" not in audit[0].details  # no free text in the audit trail
    assert verify_case(session, case) is None


def test_violence_suspected_flags_case_and_blocks_informing_home(world):
    case = open_case(world, violence_suspected=True)
    assert case.violence_flag
    with pytest.raises(TransitionRefused) as err:
        cases.fire(world.ctx(world.teacher), case.id, "inform_home",
                   {"informed_on": TODAY.isoformat()})
    assert err.value.refusals[0].guard == "no_violence_flag"
    # the standing exit is open at once
    cases.fire(world.ctx(world.teacher), case.id, "avvergeplikt",
               {"reported_to": "police", "reported_on": TODAY.isoformat()})


def test_refused_action_changes_nothing(world, session):
    case = open_case(world)
    before = (case.state, case.version, *counts(session))
    with pytest.raises(TransitionRefused):
        cases.fire(world.ctx(world.teacher), case.id, "escalate", {"reason": "x"})
    with pytest.raises(TransitionRefused):
        cases.fire(world.ctx(world.teacher), case.id, "add_note", {"text": "x", "extra": 1})
    with pytest.raises(TransitionRefused):
        cases.fire(world.ctx(world.teacher), case.id, "no_such_trigger")
    session.expire_all()
    case = session.get(Case, case.id)
    assert (case.state, case.version, *counts(session)) == before


def test_stale_version_is_a_conflict_and_writes_nothing(world, session):
    case = open_case(world)
    v = case.version
    cases.fire(world.ctx(world.teacher), case.id, "add_note", {"text": "Fyrst"},
               expected_version=v)
    before = counts(session)
    with pytest.raises(Conflict) as err:
        cases.fire(world.ctx(world.teacher), case.id, "add_note", {"text": "Andre"},
                   expected_version=v)
    assert err.value.current_version == v + 1
    assert counts(session) == before


def test_no_relation_means_not_found_like_a_missing_case(world):
    case = open_case(world)
    for user in (world.outsider, world.admin, world.foreign, world.nurse):
        with pytest.raises(NotFound) as err:
            cases.get_case(world.ctx(user), case.id)
        with pytest.raises(NotFound) as missing:
            cases.get_case(world.ctx(user), case.id + 1000)
        assert type(err.value) is type(missing.value)


def test_unit_leader_and_reporter_see_the_case_and_reads_are_audited(world, session):
    case = open_case(world)
    access = cases.get_case(world.ctx(world.leader), case.id)
    assert access.basis == "unit_leader"
    assert cases.get_case(world.ctx(world.teacher), case.id).basis == "reporter"
    session.commit()
    viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.viewed")).all()
    assert [(a.actor_id, a.basis) for a in viewed] == [(world.leader.id, "unit_leader"),
                                                       (world.teacher.id, "reporter")]


def test_n1_needs_a_stafettholder(world):
    case = open_case(world)
    w = world
    cases.fire(w.ctx(w.teacher), case.id, "start")
    cases.fire(w.ctx(w.teacher), case.id, "inform_home", {"informed_on": TODAY.isoformat()})
    cases.fire(w.ctx(w.teacher), case.id, "assess")
    cases.fire(w.ctx(w.teacher), case.id, "decide")
    with pytest.raises(TransitionRefused) as err:
        cases.fire(w.ctx(w.teacher), case.id, "escalate", {"reason": "Treng tiltak"})
    assert [r.guard for r in err.value.refusals] == ["has_stafettholder"]


def test_measure_evaluation_and_consent_lead_to_n2(world, session):
    w = world
    case = open_case(w)
    to_n1(w, case)
    c = w.ctx(w.coordinator)
    start = TODAY.isoformat()
    with pytest.raises(TransitionRefused) as err:  # evaluation date before start
        cases.fire(c, case.id, "add_measure", {"description": "Samtale kvar veke",
                   "responsible": w.coordinator.id, "start_date": start,
                   "evaluate_by": (TODAY - timedelta(days=1)).isoformat()})
    assert err.value.refusals[0].fields == {"evaluate_by": ["before_start"]}
    m = cases.fire(c, case.id, "add_measure", {"description": "Samtale kvar veke",
                   "responsible": w.coordinator.id, "start_date": start,
                   "evaluate_by": (TODAY + timedelta(days=30)).isoformat()}).entry.object_id
    cases.fire(c, case.id, "start")
    cases.fire(c, case.id, "evaluate")
    with pytest.raises(TransitionRefused) as err:
        cases.fire(c, case.id, "decide")
    assert err.value.refusals[0].guard == "measures_evaluated"
    with pytest.raises(TransitionRefused) as err:  # the child's voice, or why not, is required
        cases.fire(c, case.id, "record_evaluation", {"measures": [m], "effect": "none",
                   "child_voice_method": "conversation", "outcome": "stop"})
    assert "child_said" in err.value.refusals[0].fields
    cases.fire(c, case.id, "record_evaluation", {"measures": [m], "effect": "none",
               "child_voice_method": "conversation", "outcome": "stop",
               "child_said": "Eg vil ha hjelp."})
    cases.fire(c, case.id, "decide")
    with pytest.raises(TransitionRefused) as err:
        cases.fire(c, case.id, "escalate", {"reason": "Treng helsestasjonen"})
    assert {r.guard for r in err.value.refusals} == {"consent_valid"}
    consent = cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse og trivsel",
        "given_on": TODAY.isoformat()}).entry.object_id
    cases.fire(c, case.id, "escalate", {"reason": "Treng helsestasjonen"})
    assert case.state == "n2_plan"
    # a participant from a service the consent does not cover is refused
    with pytest.raises(TransitionRefused) as err:
        cases.fire(c, case.id, "add_participant", {"participant": w.psychologist.id,
                                                   "service": w.ppt.id})
    assert err.value.refusals[0].guard == "consent_covers_services"
    cases.fire(c, case.id, "add_participant", {"participant": w.nurse.id,
                                               "service": w.health.id})
    assert cases.get_case(w.ctx(w.nurse), case.id).basis == "participant"
    # withdrawal revokes access at once
    cases.fire(c, case.id, "withdraw_consent", {"consent": consent})
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.nurse), case.id)
    ended = session.scalar(select(Participant).where(Participant.user_id == w.nurse.id))
    assert ended.end_reason == "consent_withdrawn"
    assert verify_case(session, case) is None


def test_handover_proposed_and_accepted_keeps_one_stafettholder(world, session):
    w = world
    case = open_case(w)
    to_n1(w, case)
    cases.fire(w.ctx(w.coordinator), case.id, "propose_handover",
               {"to_user": w.leader.id, "reason": "Rektor tek over"})
    with pytest.raises(TransitionRefused) as err:  # only the recipient may answer
        cases.fire(w.ctx(w.coordinator), case.id, "accept_handover")
    assert err.value.refusals[0].code == "role"
    cases.fire(w.ctx(w.leader), case.id, "accept_handover")
    assert case.stafettholder_id == w.leader.id
    holders = session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.relation == "stafettholder",
        Participant.ended_at.is_(None))).all()
    assert [h.user_id for h in holders] == [w.leader.id]
    with pytest.raises(NotFound):  # the old holder has no relation left
        cases.get_case(w.ctx(w.coordinator), case.id)


def test_report_to_barnevernet_tracks_feedback(world):
    w = world
    case = open_case(w)
    r = cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet",
                   {"sent_on": TODAY.isoformat(), "grounds": "neglect"})
    assert r.step.dest == "n0_plan"
    assert r.entry.kind == "report"
    cases.fire(w.ctx(w.teacher), case.id, "record_barnevern_feedback",
               {"received_on": TODAY.isoformat(), "feedback_kind": "receipt_confirmed"})
    with pytest.raises(TransitionRefused):
        cases.fire(w.ctx(w.teacher), case.id, "record_barnevern_feedback",
                   {"received_on": TODAY.isoformat(), "feedback_kind": "receipt_confirmed"})


def test_open_case_rejects_bad_identity(world):
    with pytest.raises(InvalidInput) as err:
        cases.open_case(world.ctx(world.teacher), unit_id=world.school.id,
                        child_pseudonym="12345678901", child_birth_year=1900, concern=CONCERN)
    assert err.value.fields == {"child_pseudonym": ["looks_like_id_number"],
                                "child_birth_year": ["invalid"]}
    with pytest.raises(TransitionRefused):
        cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="A.",
                        child_birth_year=2016, concern={"what_seen": ""})


def test_a_fresh_session_loads_the_case_and_one_transition_moves_the_version_once(
        world, engine, registry):
    """In a new session (one per request) the case and its active participants load as
    persistent, clean objects with aware datetimes; a transition whose effect flushes its own row
    first (a note) still writes the case once: the version moves on by exactly one, and the
    chain verifies."""
    from sqlalchemy import inspect as sa_inspect

    from bti.db.engine import make_session_factory
    from bti.services.context import Ctx

    case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="R.",
                           child_birth_year=2016, concern=CONCERN).case
    cases.fire(world.ctx(world.teacher), case.id, "start")
    world.session.commit()
    version, log_seq = case.version, case.log_seq
    sf = make_session_factory(engine)
    with sf() as s:
        ctx = Ctx(s, world.teacher, registry, now=world.ctx(world.teacher).now)
        built, participants = cases._case_and_participants(ctx, case.id, for_update=True)
        assert (built.version, built.log_seq) == (version, log_seq)
        assert [p.relation for p in participants] == ["reporter"]
        assert built.opened_at.tzinfo is not None
        assert all(sa_inspect(o).persistent for o in (built, *participants))
        assert not s.dirty
        assert s.get(Case, case.id) is built  # in the identity map: no second object
        result = cases.fire(ctx, case.id, "add_note", {"text": "Frå ny økt"})
        assert result.case is built
        assert built.version == version + 1
        s.commit()
    with sf() as s:
        stored = s.get(Case, case.id)
        assert stored.version == version + 1
        assert stored.log_seq == log_seq + 1
        assert verify_case(s, stored) is None
