"""Each municipal workflow walked along its own plan's path, end to end, through the services.

One test per municipality follows the path its source plan describes (the plans are cited in
each workflow file's header; see also /work/shared/seeds/README.md), with that workflow's own
triggers, on the in-memory SQLite database of ``tests/conftest.py``. After every step the test
checks the case's state and level; at the end the stafettlogg chain must verify, hold one entry
per successful action plus the opening, and replay through the workflow to the final state.
Separate tests show the standing exit (report to barnevernet) open in the middle of each path,
and refusals particular to each plan. Every name and text here is made up.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bti.domain.cases import Evaluation
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.log import StafettloggEntry
from bti.engine import TransitionRefused
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import replay_state
from bti.services.cases.stafettlogg import verify_case
from bti.services.errors import NotFound
from tests.conftest import World
from tests.factories import TODAY

DAY = TODAY.isoformat()


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


class Walk:
    """A case on one workflow, driven through ``cases.fire`` and checked after every step."""

    def __init__(self, session, registry, workflow_id: str, pseudonym: str):
        self.w = World(session, registry, workflow_id)
        self.session = session
        self.definition = registry.files[workflow_id]
        self.fires = 0
        concern = {"what_seen": "Testbarnet sit alene i friminuttene og har sluttet å spise "
                                "matpakken (oppdiktet testtekst).",
                   "since": "Etter juleferien", "child_said": "Jeg er ikke sulten."}
        self.case = cases.open_case(self.w.ctx(self.w.teacher), unit_id=None,
                                    child_pseudonym=pseudonym, child_birth_year=2016,
                                    concern=concern).case
        self.check("n0_plan", "n0")

    def fire(self, actor, trigger: str, payload: dict | None = None, *, state: str,
             level: str | None = None):
        """Fire; then the case must be in ``state`` (and ``level``, defaulting to the state's)."""
        result = cases.fire(self.w.ctx(actor), self.case.id, trigger, payload)
        self.fires += 1
        self.check(state, level)
        return result

    def refused(self, actor, trigger: str, payload: dict | None = None) -> TransitionRefused:
        """The action is refused and nothing is written."""
        before = (self.case.state, self.case.log_seq, self.case.version)
        with pytest.raises(TransitionRefused) as err:
            cases.fire(self.w.ctx(actor), self.case.id, trigger, payload)
        self.session.refresh(self.case)
        assert (self.case.state, self.case.log_seq, self.case.version) == before
        return err.value

    def check(self, state: str, level: str | None = None) -> None:
        assert self.case.state == state
        expected = level or state.split("_", 1)[0]
        assert self.definition.state(self.case.state).level == expected

    def measure(self, actor, responsible, description: str, *, state: str) -> int:
        return self.fire(actor, "add_measure", {
            "description": description, "responsible": responsible.id, "start_date": DAY,
            "evaluate_by": days(30), "setting": "school"}, state=state).entry.object_id

    def evaluation(self, actor, measure_id: int, *, state: str, method: str = "conversation",
                   said: str = "Det er litt bedre i friminuttene nå.",
                   effect: str = "some", outcome: str = "new_measures") -> None:
        self.fire(actor, "record_evaluation", {
            "measures": [measure_id], "effect": effect, "child_voice_method": method,
            "outcome": outcome, "child_said": said, "evaluated_on": DAY}, state=state)

    def consent(self, actor, *services, state: str) -> int:
        return self.fire(actor, "give_consent", {
            "given_by": "guardians", "services": [u.id for u in services],
            "information": "Trivsel, fravær og helse, for å finne felles tiltak.",
            "given_on": DAY, "expires_on": days(365), "consent_form": "written"},
            state=state).entry.object_id

    def entries(self) -> list[StafettloggEntry]:
        return list(self.session.scalars(
            select(StafettloggEntry).where(StafettloggEntry.case_id == self.case.id)
            .order_by(StafettloggEntry.seq)))

    def finish(self) -> list[StafettloggEntry]:
        """The chain verifies, holds the opening plus one entry per successful action, and
        replaying its triggers through the workflow ends in the case's state."""
        assert verify_case(self.session, self.case) is None
        entries = self.entries()
        assert len(entries) == self.fires + 1
        assert entries[0].trigger == "open"
        assert entries[0].to_state == self.definition.initial
        assert replay_state(entries) == self.case.state
        workflow = self.w.registry.for_record(self.session, self.case.workflow_definition_id)
        state = entries[0].to_state
        for e in entries[1:]:
            t = workflow.transition(e.trigger, state)
            assert t is not None, f"{e.trigger!r} is not offered in {state!r}"
            state = t.dest or state
            assert state == e.to_state
        assert state == self.case.state
        # every measure had a responsible person and an evaluation date; every evaluation
        # recorded the child's voice
        for m in self.session.scalars(select(Measure).where(Measure.case_id == self.case.id)):
            assert m.responsible_id is not None
            assert m.start_date <= m.evaluate_by
        for ev in self.session.scalars(
                select(Evaluation).where(Evaluation.case_id == self.case.id)):
            assert ev.child_voice_method
            assert ev.child_said or ev.child_not_heard_reason
        return entries


def n0_to_n1(walk: Walk) -> None:
    """Nivå 0 as every plan has it: the concern is shared, the home informed, a stafettholder
    appointed, and the case moves to nivå 1."""
    w = walk.w
    walk.fire(w.teacher, "start", state="n0_active")
    walk.fire(w.teacher, "inform_home", {"informed_on": DAY, "how": "Samtale med mor"},
              state="n0_active")
    walk.fire(w.teacher, "assess", state="n0_evaluation")
    walk.fire(w.teacher, "decide", state="n0_decision")
    walk.fire(w.leader, "appoint_stafettholder", {"stafettholder": w.coordinator.id},
              state="n0_decision")
    assert walk.case.stafettholder_id == w.coordinator.id
    walk.fire(w.coordinator, "escalate", {"reason": "Tiltak i egen tjeneste trengs."},
              state="n1_plan")


# --- Dønna: the five steps (seed 002, lines 537-549) ------------------------------------------


def test_donna_five_steps_end_to_end(session, registry):
    walk = Walk(session, registry, "donna", "Testbarn Dønna")
    w = walk.w
    # 1. "En bekymring oppstår og meldes. Heimen informeres."
    walk.fire(w.teacher, "start", state="n0_active")
    walk.fire(w.teacher, "record_meeting", {"meeting_kind": "undringssamtale", "held_on": DAY,
              "minutes": "1. Styrker: glad i fotball. 2. Bekymring delt med foresatte."},
              state="n0_active")
    walk.fire(w.teacher, "inform_home", {"informed_on": DAY}, state="n0_active")
    walk.fire(w.teacher, "assess", state="n0_evaluation")
    walk.fire(w.teacher, "decide", state="n0_decision")
    walk.fire(w.leader, "appoint_stafettholder", {"stafettholder": w.coordinator.id},
              state="n0_decision")
    walk.fire(w.coordinator, "escalate", {"reason": "Lokale tiltak skal prøves."},
              state="n1_plan")
    # 2. "Lokale tiltak prøves ut. Tverrfaglig veiledning." (anonymous guidance, a note)
    c = w.coordinator
    walk.fire(c, "record_guidance", {"text": "Hjelpetjenesten rådet til faste voksne i "
                                             "friminuttene. Ingen navn ble nevnt."},
              state="n1_plan")
    walk.fire(c, "add_goal", {"goal_text": "Trives i friminuttene."}, state="n1_plan")
    m1 = walk.fire(c, "add_measure", {"description": "Fast voksen i friminuttene",
                   "responsible": c.id, "start_date": DAY, "evaluate_by": days(90)},
                   state="n1_plan").entry.object_id  # 90 days: Dønna's longest
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    # 3. "Tiltakene virker ikke. Tverrfaglig vurdering."
    walk.evaluation(c, m1, state="n1_evaluation", effect="none",
                    said="Jeg er fortsatt alene.")
    walk.fire(c, "decide", state="n1_decision")
    walk.consent(c, w.health, w.ppt, state="n1_decision")
    walk.fire(c, "escalate", {"reason": "Tiltakene virker ikke; tverrfaglig team trengs."},
              state="n2_plan")
    # 4. "Møte med foresatte og tverrfaglig team. Nye tiltak iverksettes."
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id,
                                     "task": "Helsesamtale"}, state="n2_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "hjelpetjenesten", "attendees": "Foresatte, stafettholder, helsestasjon",
              "child_voice_method": "conversation", "child_said": "Jeg vil ha en venn."},
              state="n2_plan")
    m2 = walk.measure(w.nurse, w.nurse, "Samtaler på helsestasjonen", state="n2_plan")
    walk.fire(c, "start", state="n2_active")
    # 5. "Evaluering av tiltak. Hvis manglende effekt, nye tiltak evt. utredning."
    walk.fire(w.nurse, "evaluate", state="n2_evaluation")
    walk.evaluation(w.nurse, m2, state="n2_evaluation", effect="none", method="in_meeting",
                    said="Det hjelper ikke.")
    walk.fire(c, "decide", state="n2_decision")
    r = walk.fire(c, "refer_assessment", {"referred_to": "ppt", "reason": "Manglende effekt "
                  "på gult nivå: utredning."}, state="n3_plan")
    assert r.entry.kind == "level_change"
    m3 = walk.measure(c, w.psychologist, "Utredning i PPT", state="n3_plan")
    walk.fire(c, "start", state="n3_active")
    walk.fire(c, "evaluate", state="n3_evaluation")
    walk.evaluation(c, m3, state="n3_evaluation", effect="good", outcome="stop")
    walk.fire(c, "decide", state="n3_decision")
    proposed = walk.fire(c, "handover_ip", {"to_user": w.leader.id, "reason": "Individuell "
                         "plan med barnekoordinator er vedtatt."}, state="n3_decision")
    assert proposed.entry.kind == "handover"
    accepted = walk.fire(w.leader, "accept_ip_handover", {"reason": "Jeg er barnekoordinator."},
                         state="n3_plan")
    assert walk.case.closed_at is None
    assert ip_plan(session, walk.case).coordinator_id == walk.case.stafettholder_id == w.leader.id
    assert accepted.entry.object_type == "handover"
    walk.finish()


def ip_plan(session, case) -> IndividualPlan | None:
    return session.scalar(select(IndividualPlan).where(IndividualPlan.case_id == case.id))


def test_donna_refusals(session, registry):
    walk = Walk(session, registry, "donna", "Testbarn Dønna R")
    w = walk.w
    n0_to_n1(walk)
    c = w.coordinator
    # measures are evaluated within 90 days in Dønna (bti-standard allows 180)
    err = walk.refused(c, "add_measure", {"description": "Lesekurs", "responsible": c.id,
                                          "start_date": DAY, "evaluate_by": days(91)})
    assert err.refusals[0].fields == {"evaluate_by": ["too_far"]}
    # a team that is not Dønna's
    err = walk.refused(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
                                             "team": "innsatsteam"})
    assert err.refusals[0].fields == {"team": ["not_allowed"]}
    m = walk.measure(c, c, "Fast voksen", state="n1_plan")
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    # refer_assessment (step 5) belongs to the yellow level's decision only
    err = walk.refused(c, "refer_assessment", {"referred_to": "ppt", "reason": "x"})
    assert err.refusals[0].code == "not_available_in_state"
    walk.evaluation(c, m, state="n1_evaluation")
    walk.fire(c, "decide", state="n1_decision")
    # step 3 → 4 needs the family's consent to bring in the team
    err = walk.refused(c, "escalate", {"reason": "Tiltakene virker ikke."})
    assert [r.guard for r in err.refusals] == ["consent_valid"]
    walk.consent(c, w.health, state="n1_decision")
    # the anonymous guidance is the stafettholder's, the reporter's or the leader's to record,
    # not a participant's from another service
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id},
              state="n1_decision")
    err = walk.refused(w.nurse, "record_guidance", {"text": "Råd"})
    assert [r.code for r in err.refusals] == ["role"]
    walk.fire(c, "escalate", {"reason": "Tiltakene virker ikke."}, state="n2_plan")
    # guidance is step 2; at step 4 the case is with the team
    assert walk.refused(c, "record_guidance", {"text": "Råd"}).refusals[0].code == \
        "not_available_in_state"
    walk.finish()


# --- Aukra: coordinator, individual plan, koordinerande eining (seeds 000 and 001) ------------


def aukra_to_n2(walk: Walk) -> int:
    w = walk.w
    c = w.coordinator
    walk.fire(w.teacher, "start", state="n0_active")
    walk.fire(w.teacher, "record_meeting", {"meeting_kind": "undringssamtale", "held_on": DAY,
              "child_voice_method": "snakke", "child_said": "Jeg liker ikke friminuttene."},
              state="n0_active")
    walk.fire(w.teacher, "inform_home", {"informed_on": DAY}, state="n0_active")
    walk.fire(w.teacher, "assess", state="n0_evaluation")
    walk.fire(w.teacher, "decide", state="n0_decision")
    walk.fire(w.leader, "appoint_stafettholder", {"stafettholder": c.id}, state="n0_decision")
    walk.fire(c, "escalate", {"reason": "Tiltak i eiga teneste."}, state="n1_plan")
    m = walk.fire(c, "add_measure", {"description": "Lesevenn to dager i uka",
                  "responsible": c.id, "start_date": DAY, "evaluate_by": days(120)},
                  state="n1_plan").entry.object_id  # 120 days: Aukra's longest
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    walk.evaluation(c, m, state="n1_evaluation", method="snakke", effect="some")
    walk.fire(c, "decide", state="n1_decision")
    consent = walk.consent(c, w.health, state="n1_decision")
    walk.fire(c, "escalate", {"reason": "Helsestasjonen må inn; samordning trengs."},
              state="n2_plan")
    return consent


def test_aukra_coordinator_and_individual_plan_end_to_end(session, registry):
    walk = Walk(session, registry, "aukra", "Testbarn Aukra")
    w = walk.w
    c = w.coordinator
    aukra_to_n2(walk)
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id},
              state="n2_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "skoleteam", "minutes": "5. Hvem samordner? Stafettholder inntil videre.",
              "next_meeting_on": days(21)}, state="n2_plan")
    # samordningsplikta: apply to koordinerande eining while the stafettlogg goes on
    r = walk.fire(c, "refer_coordinating_unit", {"referred_to": "coordinating_unit",
                  "notes": "Søknad om koordinator."}, state="n2_plan")
    assert r.step.internal
    assert r.entry.kind == "referral"
    m = walk.measure(w.nurse, w.nurse, "Samtaler med helsesykepleier", state="n2_plan")
    walk.fire(c, "start", state="n2_active")
    walk.fire(c, "evaluate", state="n2_evaluation")
    walk.evaluation(w.nurse, m, state="n2_evaluation", effect="some")
    walk.fire(c, "decide", state="n2_decision")
    walk.fire(c, "escalate", {"reason": "Ansvarsgruppe med koordinator trengs."},
              state="n3_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "ansvarsgruppe", "held_on": DAY,
              "attendees": "Foresatte, skole, helsestasjon, koordinator"}, state="n3_plan")
    m = walk.measure(c, w.nurse, "Koordinerte tiltak i ansvarsgruppen", state="n3_plan")
    walk.fire(c, "start", state="n3_active")
    walk.fire(w.nurse, "evaluate", state="n3_evaluation")
    walk.evaluation(c, m, state="n3_evaluation", method="snakke", effect="good", outcome="stop")
    walk.fire(c, "decide", state="n3_decision")
    walk.fire(c, "handover_ip", {"to_user": w.leader.id, "reason": "Individuell plan "
              "med koordinator er innvilget."}, state="n3_decision")
    walk.fire(w.leader, "accept_ip_handover", {"reason": "Koordinator frå skulen."},
              state="n3_plan")
    assert ip_plan(session, walk.case) is not None
    assert walk.case.closed_at is None
    walk.finish()


def test_aukra_refusals(session, registry):
    walk = Walk(session, registry, "aukra", "Testbarn Aukra R")
    w = walk.w
    c = w.coordinator
    n0_to_n1(walk)
    # measures are evaluated within 120 days in Aukra ("Tiltaka har ikkje vore evaluert")
    err = walk.refused(c, "add_measure", {"description": "Lesevenn", "responsible": c.id,
                                          "start_date": DAY, "evaluate_by": days(121)})
    assert err.refusals[0].fields == {"evaluate_by": ["too_far"]}
    # koordinerande eining is asked from nivå 2 on
    err = walk.refused(c, "refer_coordinating_unit", {"referred_to": "coordinating_unit"})
    assert err.refusals[0].code == "not_available_in_state"
    # SNAKKE is Aukra's conversation tool; Ørland's SnakkeSammen is not an option here
    err = walk.refused(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
                                             "child_voice_method": "snakkesammen"})
    assert err.refusals[0].fields == {"child_voice_method": ["not_allowed"]}
    err = walk.refused(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
                                             "team": "hjelpetjenesten"})
    assert err.refusals[0].fields == {"team": ["not_allowed"]}


def test_aukra_coordinating_unit_needs_a_current_consent(session, registry):
    walk = Walk(session, registry, "aukra", "Testbarn Aukra K")
    c = walk.w.coordinator
    consent = aukra_to_n2(walk)
    walk.fire(c, "withdraw_consent", {"consent": consent, "notes": "Foresatte trekker"},
              state="n2_plan")
    err = walk.refused(c, "refer_coordinating_unit", {"referred_to": "coordinating_unit"})
    assert [r.guard for r in err.refusals] == ["consent_valid"]
    walk.finish()


# --- Ørland: tiltaksteam and innsatsteam (seed 003, §6.4) ------------------------------------


def test_orland_tiltaksteam_and_innsatsteam_end_to_end(session, registry):
    walk = Walk(session, registry, "orland", "Testbarn Ørland")
    w = walk.w
    c = w.coordinator
    n0_to_n1(walk)
    # nivå 1: the unit's own tiltaksteam may discuss the case without a referral
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "tiltaksteam", "child_voice_method": "snakkesammen",
              "child_said": "Jeg vil være med i fotballen."}, state="n1_plan")
    m = walk.measure(c, c, "Fadderordning i friminuttene", state="n1_plan")
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    walk.evaluation(c, m, state="n1_evaluation", method="snakkesammen", effect="none")
    walk.fire(c, "decide", state="n1_decision")
    # PPT "kan ikke henvises uten foresattes samtykke"
    walk.consent(c, w.health, w.ppt, state="n1_decision")
    r = walk.fire(c, "refer_team", {"referred_to": "tiltaksteam", "reason": "Trenger "
                  "tverrfaglige tiltak."}, state="n1_decision")
    assert r.entry.kind == "referral"
    walk.fire(c, "escalate", {"reason": "Tiltaksteamet tar saken."}, state="n2_plan")
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id},
              state="n2_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "tiltaksteam", "attendees": "Foresatte, skole, familiehelse"},
              state="n2_plan")
    m = walk.measure(w.nurse, w.nurse, "Foreldreveiledning", state="n2_plan")
    walk.fire(c, "start", state="n2_active")
    walk.fire(c, "evaluate", state="n2_evaluation")
    walk.evaluation(w.nurse, m, state="n2_evaluation", effect="none")
    walk.fire(c, "decide", state="n2_decision")
    walk.fire(c, "refer_team", {"referred_to": "innsatsteam", "reason": "Indikative tiltak "
              "trengs."}, state="n2_decision")
    walk.fire(c, "escalate", {"reason": "Innsatsteamet lager handlingsplan."}, state="n3_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "reflecting_team", "held_on": DAY,
              "team": "innsatsteam", "child_voice_method": "in_meeting",
              "child_said": "Jeg vil at mamma og skolen snakker sammen."}, state="n3_plan")
    walk.fire(c, "add_goal", {"goal_text": "Handlingsplan med klar ansvarsfordeling."},
              state="n3_plan")
    walk.fire(c, "refer", {"referred_to": "ppt", "reason": "Sakkyndig vurdering."},
              state="n3_plan")
    m = walk.measure(c, w.psychologist, "Tiltak etter sakkyndig vurdering", state="n3_plan")
    walk.fire(c, "start", state="n3_active")
    walk.fire(c, "evaluate", state="n3_evaluation")
    walk.evaluation(c, m, state="n3_evaluation", effect="good", outcome="stop",
                    said="Nå har jeg venner.")
    walk.fire(c, "decide", state="n3_decision")
    walk.fire(c, "close", {"reason": "Målene i handlingsplanen er nådd.",
                           "closing_note": "Avsluttet i innsatsteamet."}, state="closed")
    walk.finish()


def test_orland_refusals(session, registry):
    walk = Walk(session, registry, "orland", "Testbarn Ørland R")
    w = walk.w
    c = w.coordinator
    n0_to_n1(walk)
    # no referral to PPT or others without the guardians' consent (lines 708-710)
    err = walk.refused(c, "refer", {"referred_to": "ppt", "reason": "Utredning"})
    assert [r.guard for r in err.refusals] == ["consent_valid"]
    # the teams take a case from the nivå 1 decision on
    err = walk.refused(c, "refer_team", {"referred_to": "tiltaksteam", "reason": "x"})
    assert err.refusals[0].code == "not_available_in_state"
    m = walk.measure(c, c, "Fadderordning", state="n1_plan")
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    walk.evaluation(c, m, state="n1_evaluation")
    walk.fire(c, "decide", state="n1_decision")
    # a named child goes to a team only with consent
    err = walk.refused(c, "refer_team", {"referred_to": "innsatsteam", "reason": "x"})
    assert [r.guard for r in err.refusals] == ["consent_valid"]
    # Vestre Slidre's IKO-team is no team in Ørland
    err = walk.refused(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
                                             "team": "iko_team"})
    assert err.refusals[0].fields == {"team": ["not_allowed"]}
    # a referral must say why
    walk.consent(c, w.ppt, state="n1_decision")
    err = walk.refused(c, "refer_team", {"referred_to": "innsatsteam"})
    assert [(r.code, r.guard) for r in err.refusals] == [("reason_required", "reason_given")]
    walk.finish()


# --- Vestre Slidre: IKO-team, innsatsteam, the child's voice, debrief (seed 004) --------------


def vestre_slidre_to_n2(walk: Walk) -> None:
    w = walk.w
    c = w.coordinator
    walk.fire(w.teacher, "start", state="n0_active")
    walk.fire(w.teacher, "record_meeting", {"meeting_kind": "undringssamtale", "held_on": DAY,
              "child_voice_method": "conversation", "child_said": "Jeg gruer meg til skolen."},
              state="n0_active")
    walk.fire(w.teacher, "inform_home", {"informed_on": DAY}, state="n0_active")
    walk.fire(w.teacher, "assess", state="n0_evaluation")
    walk.fire(w.teacher, "decide", state="n0_decision")
    walk.fire(w.leader, "appoint_stafettholder", {"stafettholder": c.id}, state="n0_decision")
    walk.fire(c, "escalate", {"reason": "Kartlegging og tiltak i IKO-teamet."},
              state="n1_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "iko_team", "child_voice_method": "not_heard",
              "minutes": "Kontaktlærer snakker med barnet før neste møte."}, state="n1_plan")
    m = walk.measure(c, c, "Trygg start på dagen med kontaktlærer", state="n1_plan")
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    walk.evaluation(c, m, state="n1_evaluation", effect="some")
    walk.fire(c, "decide", state="n1_decision")
    walk.consent(c, w.health, state="n1_decision")
    walk.fire(c, "refer_team", {"referred_to": "innsatsteam", "reason": "Drøfting i "
              "innsatsteamet; barnet er orientert."}, state="n1_decision")
    walk.fire(c, "escalate", {"reason": "Tverrfagleg samhandling i innsatsteamet."},
              state="n2_plan")


def test_vestre_slidre_innsatsteam_and_child_voice_end_to_end(session, registry):
    walk = Walk(session, registry, "vestre-slidre", "Testbarn Vestre Slidre")
    w = walk.w
    c = w.coordinator
    vestre_slidre_to_n2(walk)
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id},
              state="n2_plan")
    walk.fire(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
              "team": "innsatsteam", "child_voice_method": "in_meeting",
              "child_said": "Jeg vil ha en voksen å gå til."}, state="n2_plan")
    m = walk.measure(w.nurse, w.nurse, "Samtalegruppe på helsestasjonen", state="n2_plan")
    walk.fire(c, "start", state="n2_active")
    walk.fire(w.nurse, "evaluate", state="n2_evaluation")
    walk.fire(c, "record_meeting", {"meeting_kind": "evaluation", "held_on": DAY,
              "child_voice_method": "conversation", "child_said": "Det går bedre."},
              state="n2_evaluation")
    walk.evaluation(w.nurse, m, state="n2_evaluation", effect="some", outcome="continue")
    walk.fire(c, "decide", state="n2_decision")
    # the health station provides the coordinator (the consent covers it): from nivå 2 the
    # accepted handover takes the case on to nivå 3 as an IP case
    walk.fire(c, "handover_ip", {"to_user": w.nurse.id, "reason": "Barnet får "
              "individuell plan; helsestasjonen stiller med koordinator."}, state="n2_decision")
    r = walk.fire(w.nurse, "accept_ip_handover", {"reason": "Eg koordinerer planen."},
                  state="n3_plan")
    assert r.entry.kind == "level_change"
    assert ip_plan(session, walk.case).coordinator_id == w.nurse.id
    walk.finish()


def test_vestre_slidre_refusals(session, registry):
    walk = Walk(session, registry, "vestre-slidre", "Testbarn Vestre Slidre R")
    w = walk.w
    # every meeting records how the child was heard (tiltak 3 a)
    err = walk.refused(w.teacher, "record_meeting", {"meeting_kind": "undringssamtale",
                                                     "held_on": DAY})
    assert [r.code for r in err.refusals] == ["invalid_payload"]
    assert err.refusals[0].fields == {"child_voice_method": ["required"]}
    n0_to_n1(walk)
    c = w.coordinator
    # the IKO-team is the unit's own forum: no referral to it, and none before the decision
    err = walk.refused(c, "refer_team", {"referred_to": "innsatsteam", "reason": "x"})
    assert err.refusals[0].code == "not_available_in_state"
    # Ørland's tiltaksteam is not a Vestre Slidre team or referral
    err = walk.refused(c, "record_meeting", {"meeting_kind": "cooperation", "held_on": DAY,
                                             "child_voice_method": "observation",
                                             "team": "tiltaksteam"})
    assert err.refusals[0].fields == {"team": ["not_allowed"]}
    err = walk.refused(c, "refer", {"referred_to": "tiltaksteam", "reason": "x"})
    assert err.refusals[0].fields == {"referred_to": ["not_allowed"]}
    walk.finish()


# --- the standing exit: a report to barnevernet, open mid-path --------------------------------


def _to_n2_active(walk: Walk) -> None:
    w = walk.w
    c = w.coordinator
    n0_to_n1(walk)
    m = walk.measure(c, c, "Fast voksen", state="n1_plan")
    walk.fire(c, "start", state="n1_active")
    walk.fire(c, "evaluate", state="n1_evaluation")
    walk.evaluation(c, m, state="n1_evaluation")
    walk.fire(c, "decide", state="n1_decision")
    walk.consent(c, w.health, state="n1_decision")
    walk.fire(c, "escalate", {"reason": "Tverrfaglig samarbeid."}, state="n2_plan")
    walk.fire(c, "add_participant", {"participant": w.nurse.id, "service": w.health.id},
              state="n2_plan")
    walk.measure(w.nurse, w.nurse, "Helsesamtaler", state="n2_plan")
    walk.fire(c, "start", state="n2_active")


@pytest.mark.parametrize("workflow_id", ["donna", "aukra", "orland", "vestre-slidre"])
def test_report_to_barnevernet_is_open_mid_path_to_everyone_on_the_case(session, registry,
                                                                        workflow_id):
    walk = Walk(session, registry, workflow_id, f"Testbarn {workflow_id} BV")
    w = walk.w
    _to_n2_active(walk)
    actors = {"reporter": w.teacher, "stafettholder": w.coordinator, "unit_leader": w.leader,
              "participant": w.nurse}
    for relation, actor in actors.items():
        access, actions = cases.list_actions(w.ctx(actor), walk.case.id)
        assert relation in access.relations
        report = next(a for a in actions if a.transition.trigger == "report_barnevernet")
        assert report.allowed, relation
        assert report.transition.standing
        assert report.transition.guards == ()
    # the participant from another service reports; the case stays where it is
    r = walk.fire(w.nurse, "report_barnevernet", {"sent_on": DAY, "grounds": "neglect"},
                  state="n2_active")
    assert r.entry.kind == "report"
    assert r.step.internal
    walk.fire(w.teacher, "report_barnevernet", {"sent_on": DAY}, state="n2_active")
    # the leader offers each reporter a debrief (every workflow; Vestre Slidre's tiltak 4 b)
    walk.fire(w.leader, "record_debrief", {"debrief_report": r.entry.object_id},
              state="n2_active")
    walk.fire(w.leader, "record_debrief", state="n2_active")  # the one left
    # two reports await feedback: the feedback names the one it answers
    walk.fire(w.coordinator, "record_barnevern_feedback",
              {"received_on": DAY, "feedback_kind": "receipt_confirmed",
               "report": r.entry.object_id}, state="n2_active")
    walk.fire(w.coordinator, "evaluate", state="n2_evaluation")  # the path goes on
    # someone with no relation to the case cannot report through it (nor see it)
    with pytest.raises(NotFound):
        cases.fire(w.ctx(w.outsider), walk.case.id, "report_barnevernet", {"sent_on": DAY})
    walk.finish()


# --- consent cannot be bypassed by naming another service --------------------------------------


def test_participant_from_an_unconsented_service_cannot_be_admitted_as_the_case_unit(
        session, registry):
    walk = Walk(session, registry, "vestre-slidre", "Testbarn Samtykke")
    w = walk.w
    n0_to_n1(walk)
    assert w.nurse.unit_id != w.school.id  # the nurse works at the health station
    walk.refused(w.coordinator, "add_participant", {"participant": w.nurse.id,
                                                    "service": w.school.id})
