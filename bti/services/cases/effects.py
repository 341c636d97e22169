"""What each effect writes. Every handler checks everything first and writes after, so a refused
action leaves nothing behind; all writes join the caller's transaction.

Handlers take ``(ctx, case, step, facts)`` and return the record they wrote, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import FEEDBACK_CONCLUDING
from bti.domain.cases import FEEDBACK_FROM_BARNEVERN
from bti.domain.cases import HANDOVER_IP
from bti.domain.cases import MEMBER_CHILD
from bti.domain.cases import MEMBER_STAFF
from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Goal
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Note
from bti.domain.cases import Participant
from bti.domain.clock import day_start
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import may_hold_cases
from bti.domain.policy import may_take_moved_case
from bti.domain.policy import serves_municipality
from bti.domain.rules import consent_is_current
from bti.domain.rules import expiry_of
from bti.domain.rules import feedback_problem
from bti.domain.rules import lapsed
from bti.domain.vocabulary import Relation
from bti.engine import Refusal
from bti.engine import Step
from bti.engine import TransitionRefused
from bti.services.access.emergency import nearest_leader_ids
from bti.services.cases import moves
from bti.services.cases.facts import CaseFacts
from bti.services.cases.facts import meeting_informs_home
from bti.services.cases.handover import holder_after
from bti.services.cases.handover import may_hold
from bti.services.cases.ip import ANSVARSGRUPPE_TASK
from bti.services.cases.ip import add_staff
from bti.services.cases.ip import unit_recipients
from bti.services.context import Ctx
from bti.services.family.safety import end_guardians
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit


@dataclass(frozen=True)
class Written:
    object_type: str | None = None
    object_id: int | None = None


NOTHING = Written()


def _refuse(case: Case, step: Step, **fields: str) -> TransitionRefused:
    return TransitionRefused(case.state, step.trigger, [
        Refusal("invalid_payload", fields={k: [v] for k, v in fields.items()})])


def _refuse_guard(case: Case, step: Step, guard: str, detail: str | None = None,
                  **params: Any) -> TransitionRefused:
    return TransitionRefused(case.state, step.trigger, [
        Refusal("guard", guard=guard, detail=detail, params=params)])


def _not_covered(case: Case, step: Step, facts: CaseFacts, unit_id: int) -> TransitionRefused:
    """The consent does not cover this service: named in the refusal."""
    return _refuse_guard(case, step, "consent_covers_services", "not_covered",
                         units=facts.unit_names([unit_id]))


def _colleague(ctx: Ctx, case: Case, step: Step, field: str, user_id: int, *,
               serving: bool = False) -> User:
    """An active user of the case's municipality; with ``serving`` also one whose unit is an
    inter-municipal service serving it (a participant of that service)."""
    user = ctx.session.get(User, user_id)
    if user is None or not (user.municipality_id == case.municipality_id or (
            serving and user.unit is not None and user.unit.active
            and serves_municipality(user.unit.municipality_id,
                                    user.unit.served_municipality_ids, case.municipality_id))):
        raise _refuse(case, step, **{field: "not_in_municipality"})
    if not user.active:
        raise _refuse(case, step, **{field: "inactive_user"})
    return user


def _unit(ctx: Ctx, case: Case, step: Step, field: str, unit_id: int) -> Unit:
    """A service of the case's municipality, or an inter-municipal service serving it; an
    active one (a deactivated unit is offered no more)."""
    unit = ctx.session.get(Unit, unit_id)
    if unit is None or not serves_municipality(unit.municipality_id,
                                               unit.served_municipality_ids,
                                               case.municipality_id):
        raise _refuse(case, step, **{field: "not_in_municipality"})
    if not unit.active:
        raise _refuse(case, step, **{field: "inactive_unit"})
    return unit


def _not_future(ctx: Ctx, case: Case, step: Step, field: str, day: date | None) -> None:
    if day is not None and day > ctx.today():
        raise _refuse(case, step, **{field: "in_future"})


def _add(ctx: Ctx, obj: Any, object_type: str) -> Written:
    """Add ``obj`` to the session and flush now, for its id. Handlers change the case only after
    this, so the case row is written once per transaction (by ``fire``'s flush)."""
    ctx.session.add(obj)
    ctx.session.flush()
    return Written(object_type, obj.id)


def _level(case: Case, facts: CaseFacts) -> str:
    return facts.definition.state(case.state).level


# --- handlers ---------------------------------------------------------------------------------


def none(ctx: Ctx, case: Case, step: Step, facts: CaseFacts) -> Written:
    return NOTHING


def inform_home(ctx, case, step, facts) -> Written:
    _not_future(ctx, case, step, "informed_on", step.payload["informed_on"])
    case.home_informed_on = step.payload["informed_on"]
    return NOTHING


def flag_violence(ctx, case, step, facts) -> Written:
    case.violence_flag = True
    # a safety rule: no guardian keeps any access while the flag is set, nor after it is lifted
    end_guardians(ctx.session, case, ctx.now())
    return NOTHING


def clear_violence_flag(ctx, case, step, facts) -> Written:
    case.violence_flag = False
    return NOTHING


def appoint_stafettholder(ctx, case, step, facts) -> Written:
    user = _colleague(ctx, case, step, "stafettholder", step.payload["stafettholder"])
    written = _add(ctx, Participant(
        case_id=case.id, user_id=user.id, unit_id=user.unit_id,
        relation=Relation.STAFETTHOLDER.value, added_by_id=ctx.actor.id, added_at=ctx.now(),
    ), "participant")
    case.stafettholder_id = user.id
    return written


def add_participant(ctx, case, step, facts) -> Written:
    p = step.payload
    user = _colleague(ctx, case, step, "participant", p["participant"], serving=True)
    unit = _unit(ctx, case, step, "service", p["service"])
    if user.unit_id != unit.id:  # a participant takes part for their own service, no other
        raise _refuse(case, step, participant="not_in_service")
    if any(x.user_id == user.id and x.relation == Relation.PARTICIPANT.value
           for x in facts.participants):
        raise _refuse(case, step, participant="already_participant")
    consent_id = None
    if unit.id != case.unit_id:
        if unit.id not in facts.covered:
            raise _not_covered(case, step, facts, unit.id)
        today = ctx.today()
        consent_id = next((c.id for c in facts.consents
                           if consent_is_current(c, today) and unit.id in c.unit_ids), None)
    return _add(ctx, Participant(
        case_id=case.id, user_id=user.id, unit_id=unit.id, relation=Relation.PARTICIPANT.value,
        task=p.get("task"), consent_id=consent_id, added_by_id=ctx.actor.id, added_at=ctx.now(),
    ), "participant")


def goal(ctx, case, step, facts) -> Written:
    return _add(ctx, Goal(case_id=case.id, text=step.payload["goal_text"],
                          level=_level(case, facts), created_by_id=ctx.actor.id,
                          created_at=ctx.now()), "goal")


def measure(ctx, case, step, facts) -> Written:
    p = step.payload
    user = _colleague(ctx, case, step, "responsible", p["responsible"])
    if p["evaluate_by"] < p["start_date"]:
        raise _refuse(case, step, evaluate_by="before_start")
    limit = facts.definition.deadlines.measure_evaluation_max_days
    if p["evaluate_by"] > p["start_date"] + timedelta(days=limit):
        raise _refuse(case, step, evaluate_by="too_far")
    catalogue_id = p.get("catalogue")
    if catalogue_id is not None:
        item = ctx.session.get(MeasureCatalogueItem, catalogue_id)
        if item is None or item.municipality_id != case.municipality_id:
            raise _refuse(case, step, catalogue="not_in_municipality")
        if not item.active:
            raise _refuse(case, step, catalogue="not_active")
    return _add(ctx, Measure(
        case_id=case.id, description=p["description"], responsible_id=user.id,
        start_date=p["start_date"], evaluate_by=p["evaluate_by"], status="active",
        level=_level(case, facts), setting=p.get("setting"), goal_text=p.get("goal_text"),
        catalogue_id=catalogue_id, created_by_id=ctx.actor.id, created_at=ctx.now(),
    ), "measure")


def _case_measure(ctx, case, step, field, measure_id) -> Measure:
    m = ctx.session.get(Measure, measure_id)
    if m is None or m.case_id != case.id:
        raise _refuse(case, step, **{field: "not_on_case"})
    if m.status != "active":
        raise _refuse(case, step, **{field: "not_active"})
    return m


#: The fields with which a stop records the measure's evaluation (``stop_measure``).
STOP_EVALUATION_FIELDS = ("effect", "child_voice_method", "child_said", "child_not_heard_reason",
                          "evaluated_on")


def _child_voice(case: Case, step: Step) -> None:
    p = step.payload
    if not p.get("child_said") and not p.get("child_not_heard_reason"):
        raise _refuse(case, step, child_said="child_voice_missing",
                      child_not_heard_reason="child_voice_missing")


def _evaluated_on(ctx, case, step) -> date:
    evaluated_on = step.payload.get("evaluated_on") or ctx.today()
    _not_future(ctx, case, step, "evaluated_on", evaluated_on)
    return evaluated_on


def stop_measure(ctx, case, step, facts) -> Written:
    """Stop a running measure. With the effect and the child's voice the stop is also the
    measure's evaluation (outcome ``stop``); without them the measure awaits an evaluation,
    and ``measures_evaluated`` holds until one is recorded."""
    p = step.payload
    m = _case_measure(ctx, case, step, "measure", p["measure"])
    ev = None
    if any(p.get(k) for k in STOP_EVALUATION_FIELDS):
        missing = {k: "required" for k in ("effect", "child_voice_method") if not p.get(k)}
        if missing:
            raise _refuse(case, step, **missing)
        _child_voice(case, step)
        ev = Evaluation(
            case_id=case.id, level=_level(case, facts), effect=p["effect"],
            child_voice_method=p["child_voice_method"], child_said=p.get("child_said"),
            child_not_heard_reason=p.get("child_not_heard_reason"), outcome="stop",
            notes=p.get("reason"), evaluated_on=_evaluated_on(ctx, case, step),
            created_by_id=ctx.actor.id, created_at=ctx.now(),
            measure_links=[EvaluationMeasure(measure_id=m.id)],
        )
        _add(ctx, ev, "evaluation")
    m.status = "stopped"
    m.ended_at = ctx.now()
    return Written("measure", m.id)


def _measure_to_evaluate(ctx, case, step, facts, measure_id) -> Measure:
    """A running measure of the case, or one stopped without an evaluation."""
    m = ctx.session.get(Measure, measure_id)
    if m is None or m.case_id != case.id:
        raise _refuse(case, step, measures="not_on_case")
    if m.status == "active" or any(x.id == m.id for x in facts.stopped_unevaluated):
        return m
    raise _refuse(case, step, measures="already_evaluated")


def evaluation(ctx, case, step, facts) -> Written:
    p = step.payload
    measures = [_measure_to_evaluate(ctx, case, step, facts, mid)
                for mid in dict.fromkeys(p["measures"])]
    _child_voice(case, step)
    ev = Evaluation(
        case_id=case.id, level=_level(case, facts), effect=p["effect"],
        child_voice_method=p["child_voice_method"], child_said=p.get("child_said"),
        child_not_heard_reason=p.get("child_not_heard_reason"), outcome=p["outcome"],
        notes=p.get("notes"), evaluated_on=_evaluated_on(ctx, case, step),
        created_by_id=ctx.actor.id, created_at=ctx.now(),
        measure_links=[EvaluationMeasure(measure_id=m.id) for m in measures],
    )
    now = ctx.now()
    for m in measures:
        if m.status == "active":  # a stopped one stays stopped, now with its evaluation
            m.status = "evaluated"
            m.ended_at = now
    return _add(ctx, ev, "evaluation")


def meeting(ctx, case, step, facts) -> Written:
    p = step.payload
    if p.get("next_meeting_on") and p["next_meeting_on"] < p["held_on"]:
        raise _refuse(case, step, next_meeting_on="before_start")
    written = _add(ctx, Meeting(
        case_id=case.id, kind=p["meeting_kind"], held_on=p["held_on"],
        attendees=p.get("attendees"), minutes=p.get("minutes"),
        next_meeting_on=p.get("next_meeting_on"), team=p.get("team"),
        child_voice_method=p.get("child_voice_method"), child_said=p.get("child_said"),
        created_by_id=ctx.actor.id, created_at=ctx.now(),
    ), "meeting")
    informed_on = meeting_informs_home(step.transition, p, ctx.today())
    if informed_on is not None and (case.home_informed_on is None
                                    or informed_on < case.home_informed_on):
        case.home_informed_on = informed_on  # one act, recorded once
    return written


def note(ctx, case, step, facts) -> Written:
    return _add(ctx, Note(case_id=case.id, text=step.payload["text"],
                          created_by_id=ctx.actor.id, created_at=ctx.now()), "note")


def _services(ctx, case, step, unit_ids) -> list[int]:
    return [_unit(ctx, case, step, "services", uid).id for uid in dict.fromkeys(unit_ids)]


def consent_given(ctx, case, step, facts) -> Written:
    p = step.payload
    units = _services(ctx, case, step, p["services"])
    _not_future(ctx, case, step, "given_on", p["given_on"])
    if p.get("expires_on") and p["expires_on"] <= p["given_on"]:
        raise _refuse(case, step, expires_on="before_start")
    if p.get("expires_on") and p["expires_on"] < ctx.today():
        # it holds through its expiry date: one that has run out would admit no one
        raise _refuse(case, step, expires_on="already_expired")
    return _add(ctx, Consent(
        case_id=case.id, status="given", given_by=p["given_by"], information=p["information"],
        consent_form=p.get("consent_form"), given_on=p["given_on"], expires_on=p.get("expires_on"),
        recorded_by_id=ctx.actor.id, created_at=ctx.now(),
        services=[ConsentService(unit_id=u) for u in units],
    ), "consent")


def consent_withdrawn(ctx, case, step, facts) -> Written:
    c = ctx.session.get(Consent, step.payload["consent"])
    if c is None or c.case_id != case.id:
        raise _refuse(case, step, consent="not_on_case")
    if c.status != "given" or c.withdrawn_at is not None:
        raise _refuse(case, step, consent="not_active")
    now = ctx.now()
    c.status = "withdrawn"
    c.withdrawn_at = now
    c.notes = step.payload.get("notes") or c.notes
    # access rests on consent: end every relation the remaining consents no longer cover
    # (participants and a proposed next stafettholder, whose handover is cancelled)
    facts.__dict__.pop("covered", None)
    facts.__dict__["consents"] = [x for x in facts.consents if x.id != c.id]
    _end_relations(ctx, case, facts, lapsed(facts.participants, case, facts.covered),
                   lambda part: (now, "consent_withdrawn"))
    return Written("consent", c.id)


def _end_relations(ctx: Ctx, case: Case, facts: CaseFacts, rows: list[Participant],
                   end: Callable[[Participant], tuple[datetime, str]]) -> None:
    """End consent-admitted relations (``end(row)`` gives when and why) and cancel the handover
    that waits for one of them: a recipient without access cannot take the case."""
    recipients: dict[int, datetime] = {}
    for part in rows:
        part.ended_at, part.end_reason = end(part)
        if part.relation == Relation.HANDOVER_RECIPIENT.value:
            recipients[part.user_id] = part.ended_at
    if not recipients:
        return
    remaining = {p.user_id for p in facts.participants
                 if p.relation == Relation.HANDOVER_RECIPIENT.value and p.ended_at is None}
    for h in ctx.session.scalars(select(Handover).where(
            Handover.case_id == case.id, Handover.status == "proposed")):
        if h.to_user_id in recipients:
            h.status = "cancelled"
            h.decided_at = recipients[h.to_user_id]
        elif h.to_user_id is None and not remaining:  # none of the unit's recipients is left
            h.status = "cancelled"
            h.decided_at = max(recipients.values())
    facts.__dict__.pop("pending_handover", None)
    facts.__dict__.pop("recipient_ids", None)


def end_lapsed(ctx: Ctx, case: Case, facts: CaseFacts, rows: list[Participant]) -> None:
    """Write down relations whose consent expired (``bti.domain.rules.lapsed``) with the
    first change on the case after it: ended at the moment of expiry (the start of the day
    after ``expires_on``, Norwegian time), a waiting handover to them cancelled. Access ended
    at that moment already; this only makes the rows say so."""
    today = ctx.today()
    now = ctx.now()

    def end(part: Participant) -> tuple[datetime, str]:
        day = expiry_of(part.unit_id, facts.consents, today)
        if day is None:  # no expiry explains it (the youth's own consent is now needed)
            return now, "consent_lapsed"
        return min(now, day_start(day)), \
            "consent_expired"

    _end_relations(ctx, case, facts, rows, end)


def consent_refused(ctx, case, step, facts) -> Written:
    p = step.payload
    units = _services(ctx, case, step, p["services"])
    return _add(ctx, Consent(
        case_id=case.id, status="refused", given_by=p["given_by"], notes=p.get("notes"),
        recorded_by_id=ctx.actor.id, created_at=ctx.now(),
        services=[ConsentService(unit_id=u) for u in units],
    ), "consent")


def handover_proposed(ctx, case, step, facts) -> Written:
    user = _colleague(ctx, case, step, "to_user", step.payload["to_user"])
    if user.id == case.stafettholder_id:
        raise _refuse(case, step, to_user="already_stafettholder")
    if not may_hold(case, facts, user.unit_id):
        # the new holder's service gets the case: only within what the consent covers
        if user.unit_id is None:
            raise _refuse_guard(case, step, "consent_covers_services")
        raise _not_covered(case, step, facts, user.unit_id)
    stays = bool(step.payload.get("holder_stays"))
    if stays:  # the holder's own choice, where their service may take part
        if ctx.actor.id != case.stafettholder_id:
            raise _refuse(case, step, holder_stays="holder_only")
        after = holder_after(ctx, case, facts)
        if after is None or not after.may_stay:
            raise _refuse(case, step, holder_stays="stay_not_covered")
    # the proposed holder needs to see the case to decide: a relation until they answer
    ctx.session.add(Participant(
        case_id=case.id, user_id=user.id, unit_id=user.unit_id,
        relation=Relation.HANDOVER_RECIPIENT.value, added_by_id=ctx.actor.id, added_at=ctx.now(),
    ))
    h = Handover(
        case_id=case.id, from_user_id=case.stafettholder_id, to_user_id=user.id,
        proposed_by_id=ctx.actor.id, holder_stays=stays,
        status="proposed", reason=step.payload["reason"], proposed_at=ctx.now(),
    )
    written = _add(ctx, h, "handover")
    emit(ctx, Event.HANDOVER_PROPOSED, [user.id], key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return written


def _recipients_of(h: Handover, facts: CaseFacts) -> list[int]:
    """Who the handover waits for: the person proposed, or the coordinating unit's leaders and
    coordinators (each with an active recipient relation)."""
    if h.to_user_id is not None and h.status == "proposed":
        return [h.to_user_id]
    return sorted({p.user_id for p in facts.participants
                   if p.relation == Relation.HANDOVER_RECIPIENT.value and p.ended_at is None})


def _end_recipient_relation(facts: CaseFacts, user_id: int | None, now) -> None:
    """End the recipients' relations of an answered handover (``user_id`` None: every
    recipient, as for a handover to the coordinating unit)."""
    for part in facts.participants:
        if part.relation == Relation.HANDOVER_RECIPIENT.value and part.ended_at is None \
                and (user_id is None or part.user_id == user_id):
            part.ended_at = now
            part.end_reason = "handover_answered"


def ip_handover_proposed(ctx, case, step, facts) -> Written:
    """Hand the case over to an individual plan: to the coordinator named (``to_user``, a
    colleague who may hold cases) or to the coordinating unit (``coordinating_unit``, a unit of
    kind ``coordinating_unit``: its leaders and coordinators receive it). Exactly one of them.
    Like any handover: the recipients see the case to answer (within what the consent covers),
    are notified, and one of them accepts (``accept_ip_handover``) or declines."""
    p = step.payload
    if (p.get("to_user") is None) == (p.get("coordinating_unit") is None):
        raise _refuse(case, step, to_user="user_or_unit", coordinating_unit="user_or_unit")
    unit_id = None
    if p.get("to_user") is not None:
        user = _colleague(ctx, case, step, "to_user", p["to_user"])
        if user.id == case.stafettholder_id:
            raise _refuse(case, step, to_user="already_stafettholder")
        if not may_hold_cases(user.roles):
            raise _refuse(case, step, to_user="may_not_hold")
        if not may_hold(case, facts, user.unit_id):
            if user.unit_id is None:
                raise _refuse_guard(case, step, "consent_covers_services")
            raise _not_covered(case, step, facts, user.unit_id)
        people = [user]
    else:
        unit = _unit(ctx, case, step, "coordinating_unit", p["coordinating_unit"])
        if unit.kind != "coordinating_unit":
            raise _refuse(case, step, coordinating_unit="not_coordinating_unit")
        if not may_hold(case, facts, unit.id):
            raise _not_covered(case, step, facts, unit.id)
        people = unit_recipients(ctx, case, unit.id)
        if not people:
            raise _refuse(case, step, coordinating_unit="no_recipients")
        unit_id = unit.id
    now = ctx.now()
    for person in people:
        ctx.session.add(Participant(
            case_id=case.id, user_id=person.id, unit_id=person.unit_id,
            relation=Relation.HANDOVER_RECIPIENT.value, added_by_id=ctx.actor.id, added_at=now))
    h = Handover(
        case_id=case.id, from_user_id=case.stafettholder_id,
        to_user_id=people[0].id if unit_id is None else None, to_unit_id=unit_id,
        purpose=HANDOVER_IP, proposed_by_id=ctx.actor.id, status="proposed",
        reason=p["reason"], proposed_at=now,
    )
    written = _add(ctx, h, "handover")
    emit(ctx, Event.HANDOVER_PROPOSED, [x.id for x in people], key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return written


def ip_handover_accepted(ctx, case, step, facts) -> Written:
    """The coordinator (the one proposed, or one of the coordinating unit's recipients)
    accepts: they hold the baton, become the IP's coordinator and the first staff member of the
    ansvarsgruppe, and the case continues on nivå 3 (the transition's ``dest``)."""
    h = facts.pending_handover
    new_holder = ctx.session.get_one(User, ctx.actor.id)
    if not may_hold(case, facts, new_holder.unit_id):
        if new_holder.unit_id is None:
            raise _refuse_guard(case, step, "consent_covers_services")
        raise _not_covered(case, step, facts, new_holder.unit_id)
    now = ctx.now()
    h.status = "accepted"
    h.decided_at = now
    h.to_user_id = new_holder.id
    _end_recipient_relation(facts, None, now)
    for part in facts.participants:
        if part.relation == Relation.STAFETTHOLDER.value and part.ended_at is None:
            part.ended_at = now
            part.end_reason = "handed_over"
    case.stafettholder_id = new_holder.id
    ctx.session.add(Participant(
        case_id=case.id, user_id=new_holder.id, unit_id=new_holder.unit_id,
        relation=Relation.STAFETTHOLDER.value, added_by_id=ctx.actor.id, added_at=now,
    ))
    ctx.session.add(IndividualPlan(case_id=case.id, handover_id=h.id, started_at=now,
                                   coordinator_id=new_holder.id))
    add_staff(ctx, case, new_holder, facts.participants)
    facts.__dict__.pop("individual_plan", None)
    emit(ctx, Event.HANDOVER_ACCEPTED, _proposer(h), key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return Written("handover", h.id)


def _proposer(h: Handover) -> list[int]:
    """Who is told the answer: the one who proposed it (the holder then, on older rows)."""
    who = h.proposed_by_id or h.from_user_id
    return [who] if who is not None else []


def handover_accepted(ctx, case, step, facts) -> Written:
    h = facts.pending_handover
    new_holder = ctx.session.get(User, h.to_user_id)
    if not may_hold(case, facts, new_holder.unit_id):
        # as when it was proposed: the consent must still cover the new holder's service
        if new_holder.unit_id is None:
            raise _refuse_guard(case, step, "consent_covers_services")
        raise _not_covered(case, step, facts, new_holder.unit_id)
    # the former holder stays on as a participant if they chose so, and may still
    stays = None
    if h.holder_stays and h.from_user_id == case.stafettholder_id:
        after = holder_after(ctx, case, facts)
        if after is not None and after.may_stay:
            stays = ctx.session.get(User, after.holder_id)
    now = ctx.now()
    h.status = "accepted"
    h.decided_at = now
    _end_recipient_relation(facts, h.to_user_id, now)
    for part in facts.participants:
        if part.relation == Relation.STAFETTHOLDER.value:
            part.ended_at = now
            part.end_reason = "handed_over"
    case.stafettholder_id = h.to_user_id
    ctx.session.add(Participant(
        case_id=case.id, user_id=h.to_user_id, unit_id=new_holder.unit_id,
        relation=Relation.STAFETTHOLDER.value, added_by_id=ctx.actor.id, added_at=now,
    ))
    if stays is not None:
        ctx.session.add(Participant(
            case_id=case.id, user_id=stays.id, unit_id=stays.unit_id,
            relation=Relation.PARTICIPANT.value, added_by_id=ctx.actor.id, added_at=now,
        ))
    emit(ctx, Event.HANDOVER_ACCEPTED, _proposer(h), key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return Written("handover", h.id)


def handover_declined(ctx, case, step, facts) -> Written:
    """The one proposed declines (for a handover to the coordinating unit, one of its
    recipients answers for the unit: every recipient's relation ends)."""
    h = facts.pending_handover
    h.status = "declined"
    h.decided_at = ctx.now()
    _end_recipient_relation(facts, h.to_user_id, h.decided_at)
    h.decline_reason = step.payload.get("reason")
    # the reason is free text: it stays in the case (the notice links to the handover)
    emit(ctx, Event.HANDOVER_DECLINED, _proposer(h), key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return Written("handover", h.id)


def handover_withdrawn(ctx, case, step, facts) -> Written:
    """The proposer (or the stafettholder) takes back a proposal still waiting: the recipient's
    relation ends with it, and they are told."""
    h = facts.pending_handover
    told = _recipients_of(h, facts)
    h.status = "withdrawn"
    h.decided_at = ctx.now()
    _end_recipient_relation(facts, h.to_user_id, h.decided_at)
    facts.__dict__.pop("pending_handover", None)
    emit(ctx, Event.HANDOVER_WITHDRAWN, told, key=h.id, case_id=case.id,
         details={"handover_id": h.id})
    return Written("handover", h.id)


# --- the ansvarsgruppe of an IP case (guards has_ip, may_edit_ansvarsgruppe) ---------------


def _active_members(ctx: Ctx, case: Case) -> list[AnsvarsgruppeMember]:
    return list(ctx.session.scalars(select(AnsvarsgruppeMember).where(
        AnsvarsgruppeMember.case_id == case.id, AnsvarsgruppeMember.ended_at.is_(None))
        .order_by(AnsvarsgruppeMember.id)))


def _same_name(a: str | None, b: str) -> bool:
    return a is not None and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def ansvarsgruppe_member(ctx, case, step, facts) -> Written:
    """A member joins: staff as a user of the municipality whose service may take part (the
    case's own unit, or one a current consent covers: they see the case as a participant);
    a guardian or the child by name only (the engine refuses an identity number in any text)."""
    p = step.payload
    kind = p["member_kind"]
    members = _active_members(ctx, case)
    if kind == MEMBER_STAFF:
        if p.get("member") is None:
            raise _refuse(case, step, member="required")
        if p.get("member_name"):
            raise _refuse(case, step, member_name="staff_by_user")
        user = _colleague(ctx, case, step, "member", p["member"])
        if any(m.user_id == user.id for m in members):
            raise _refuse(case, step, member="already_member")
        if not may_hold(case, facts, user.unit_id):
            if user.unit_id is None:
                raise _refuse_guard(case, step, "consent_covers_services")
            raise _not_covered(case, step, facts, user.unit_id)
        member = add_staff(ctx, case, user, facts.participants, p.get("member_role"))
        return Written("ansvarsgruppe_member", member.id)
    name = " ".join((p.get("member_name") or "").split())
    if not name:
        raise _refuse(case, step, member_name="required")
    if p.get("member") is not None:
        raise _refuse(case, step, member="named_only")
    if kind == MEMBER_CHILD and any(m.kind == MEMBER_CHILD for m in members):
        raise _refuse(case, step, member_kind="child_already_member")
    if any(m.kind == kind and _same_name(m.name, name) for m in members):
        raise _refuse(case, step, member_name="already_member")
    return _add(ctx, AnsvarsgruppeMember(
        case_id=case.id, kind=kind, name=name, role_text=p.get("member_role"),
        added_by_id=ctx.actor.id, added_at=ctx.now()), "ansvarsgruppe_member")


def ansvarsgruppe_member_ended(ctx, case, step, facts) -> Written:
    """A member leaves: a staff member (``member``) or a named one (``member_name``), never the
    coordinator (change the coordinator first). A staff member's participant relation that
    the membership gave ends with it."""
    p = step.payload
    if (p.get("member") is None) == (not p.get("member_name")):
        raise _refuse(case, step, member="user_or_name", member_name="user_or_name")
    members = _active_members(ctx, case)
    if p.get("member") is not None:
        found = [m for m in members if m.user_id == p["member"]]
        field = "member"
    else:
        found = [m for m in members if m.kind != MEMBER_STAFF
                 and _same_name(m.name, p["member_name"])]
        field = "member_name"
    if len(found) != 1:
        raise _refuse(case, step, **{field: "not_member"})
    member = found[0]
    plan = facts.individual_plan
    if member.user_id is not None and plan is not None and member.user_id == plan.coordinator_id:
        raise _refuse(case, step, member="is_coordinator")
    now = ctx.now()
    member.ended_at = now
    if member.user_id is not None:
        for part in facts.participants:
            if part.user_id == member.user_id and part.relation == Relation.PARTICIPANT.value \
                    and part.task == ANSVARSGRUPPE_TASK and part.ended_at is None:
                part.ended_at = now
                part.end_reason = "ansvarsgruppe_left"
    return Written("ansvarsgruppe_member", member.id)


def ip_coordinator(ctx, case, step, facts) -> Written:
    """The IP's one coordinator becomes another staff member of the ansvarsgruppe."""
    user_id = step.payload["coordinator"]
    plan = facts.individual_plan
    if user_id == plan.coordinator_id:
        raise _refuse(case, step, coordinator="already_coordinator")
    member = next((m for m in _active_members(ctx, case)
                   if m.kind == MEMBER_STAFF and m.user_id == user_id), None)
    if member is None:
        raise _refuse(case, step, coordinator="not_member")
    user = _colleague(ctx, case, step, "coordinator", user_id)
    if not may_hold_cases(user.roles):
        raise _refuse(case, step, coordinator="may_not_hold")
    plan.coordinator_id = user.id
    return Written("ansvarsgruppe_member", member.id)


def ansvarsgruppe_meeting(ctx, case, step, facts) -> Written:
    """A meeting held (not in the future) at a place, with its minutes: a row for the
    ansvarsgruppe's list, and the minutes in the stafettlogg entry ``fire`` writes next."""
    p = step.payload
    _not_future(ctx, case, step, "held_on", p["held_on"])
    return _add(ctx, AnsvarsgruppeMeeting(
        case_id=case.id, held_on=p["held_on"], place=p["place"], minutes=p["minutes"],
        log_seq=case.log_seq + 1, created_by_id=ctx.actor.id, created_at=ctx.now(),
    ), "ansvarsgruppe_meeting")


def report_barnevernet(ctx, case, step, facts) -> Written:
    p = step.payload
    _not_future(ctx, case, step, "sent_on", p["sent_on"])
    days = facts.definition.deadlines.barnevern_feedback_days
    report = BarnevernReport(
        case_id=case.id, kind="report", sent_on=p["sent_on"], sent_by_id=ctx.actor.id,
        reported_to="barnevern", grounds=p.get("grounds"), notes=p.get("notes"),
        feedback_expected_by=p["sent_on"] + timedelta(days=days), created_at=ctx.now(),
    )
    written = _add(ctx, report, "barnevern_report")
    # the nearest leader offers the reporter a debrief (record_debrief)
    emit(ctx, Event.BARNEVERN_REPORTED, nearest_leader_ids(ctx, case), key=report.id,
         case_id=case.id, details={"report_id": report.id, "user_id": ctx.actor.id})
    return written


def debrief_offered(ctx, case, step, facts) -> Written:
    """The nearest leader records that the reporter was offered a debrief: the fact and who
    recorded it, never what was said."""
    waiting = facts.reports_without_debrief
    report_id = step.payload.get("debrief_report")
    if report_id is not None:
        report = ctx.session.get(BarnevernReport, report_id)
        if report is None or report.case_id != case.id or report.kind != "report":
            raise _refuse(case, step, debrief_report="not_on_case")
        if report.debrief_recorded_at is not None:
            raise _refuse(case, step, debrief_report="debrief_recorded")
    elif len(waiting) == 1:
        report = waiting[0]
    else:
        raise _refuse(case, step, debrief_report="required" if waiting else "not_on_case")
    report.debrief_recorded_at = ctx.now()
    report.debrief_recorded_by_id = ctx.actor.id
    facts.__dict__.pop("reports_without_debrief", None)
    return Written("barnevern_report", report.id)


def _awaiting_report(ctx, case, step) -> BarnevernReport:
    """The report the feedback is about: the one chosen (``report``), else the only report
    still awaiting feedback (a choice is needed when there are several)."""
    report_id = step.payload.get("report")
    if report_id is not None:
        report = ctx.session.get(BarnevernReport, report_id)
        if report is None or report.case_id != case.id or report.kind != "report":
            raise _refuse(case, step, report="not_on_case")
        return report
    waiting = list(ctx.session.scalars(select(BarnevernReport).where(
        BarnevernReport.case_id == case.id, BarnevernReport.kind == "report",
        BarnevernReport.concluded_on.is_(None)).order_by(BarnevernReport.sent_on).limit(2)))
    if len(waiting) != 1:
        raise _refuse(case, step, report="required" if waiting else "not_on_case")
    return waiting[0]


def barnevern_feedback(ctx, case, step, facts) -> Written:
    """One stage of barnevernet's feedback on a report, with its date. The first stage from
    barnevernet answers the report (``feedback_received_on``); a concluding one ends the wait
    (``concluded_on``). See ``bti.domain.rules.feedback_problem`` for what is refused."""
    p = step.payload
    report = _awaiting_report(ctx, case, step)
    stage, received_on = p["feedback_kind"], p["received_on"]
    recorded = dict(ctx.session.execute(
        select(BarnevernFeedback.stage, BarnevernFeedback.received_on).where(
            BarnevernFeedback.report_id == report.id)).all())
    problem = feedback_problem(report, recorded, stage, received_on, ctx.today())
    if problem:
        raise _refuse(case, step, **problem)
    written = _add(ctx, BarnevernFeedback(
        report_id=report.id, case_id=case.id, stage=stage, received_on=received_on,
        notes=p.get("notes"), recorded_by_id=ctx.actor.id, created_at=ctx.now(),
    ), "barnevern_feedback")
    if stage in FEEDBACK_FROM_BARNEVERN and (report.feedback_received_on is None
                                             or received_on < report.feedback_received_on):
        report.feedback_received_on = received_on
    if stage in FEEDBACK_CONCLUDING:
        report.concluded_on = received_on
    return written


def avverge(ctx, case, step, facts) -> Written:
    p = step.payload
    _not_future(ctx, case, step, "reported_on", p["reported_on"])
    return _add(ctx, BarnevernReport(
        case_id=case.id, kind="avverge", sent_on=p["reported_on"], sent_by_id=ctx.actor.id,
        reported_to=p["reported_to"], notes=p.get("notes"), created_at=ctx.now(),
    ), "barnevern_report")


def unit_moved(ctx, case, step, facts) -> Written:
    """Gode overgangar: the case moves to another unit of its municipality with the consent to
    the transfer (recorded as a consent covering the receiving unit), its history kept
    (``bti.services.cases.moves``). The sending unit's reporter, holder and proposed-holder
    relations end, and its participants unless a current consent covers their service; a
    holder of the sending unit (or of a service no consent covers) hands the baton to
    ``new_stafettholder`` of the receiving unit. The receiving unit's leaders and BTI
    coordinators are told."""
    p = step.payload
    to_unit = _unit(ctx, case, step, "to_unit", p["to_unit"])
    if to_unit.municipality_id != case.municipality_id:
        # an inter-municipal service hosted elsewhere takes part through consent only: a case
        # moved into it would rest on no consent (and reach no leader of its own)
        raise _refuse(case, step, to_unit="not_in_municipality")
    if to_unit.id == case.unit_id:
        raise _refuse(case, step, to_unit="same_unit")
    _not_future(ctx, case, step, "given_on", p["given_on"])
    from_unit_id = case.unit_id
    holder = ctx.session.get(User, case.stafettholder_id) if case.stafettholder_id else None
    holder_stays = holder is not None and holder.unit_id is not None and (
        holder.unit_id == to_unit.id
        or (holder.unit_id != from_unit_id and holder.unit_id in facts.covered))
    new_holder = None
    if p.get("new_stafettholder") is not None:
        new_holder = _colleague(ctx, case, step, "new_stafettholder", p["new_stafettholder"])
        if new_holder.id == case.stafettholder_id:
            raise _refuse(case, step, new_stafettholder="already_stafettholder")
        if not may_take_moved_case(new_holder.as_actor(), to_unit.id):
            raise _refuse(case, step, new_stafettholder="not_in_receiving_unit")
    elif holder is not None and not holder_stays:
        raise _refuse(case, step, new_stafettholder="holder_leaves")
    now = ctx.now()
    consent = Consent(
        case_id=case.id, status="given", given_by=p["given_by"], given_on=p["given_on"],
        information=None, notes=None, recorded_by_id=ctx.actor.id, created_at=now,
        services=[ConsentService(unit_id=to_unit.id)])
    ctx.session.add(consent)
    ctx.session.flush()
    period = moves.record_move(ctx, case, to_unit.id, consent.id, now)
    sending_covered = from_unit_id in facts.covered
    for part in facts.participants:
        if part.ended_at is not None or part.unit_id != from_unit_id:
            continue
        if part.relation == Relation.PARTICIPANT.value and sending_covered:
            continue  # a current consent covers the sending service: they stay on
        if part.relation == Relation.STAFETTHOLDER.value and new_holder is None:
            continue  # the holder stays (only where ``holder_stays``, checked above)
        part.ended_at, part.end_reason = now, moves.END_REASON
    if new_holder is not None:
        for part in facts.participants:
            if part.relation == Relation.STAFETTHOLDER.value and part.ended_at is None:
                part.ended_at, part.end_reason = now, "handed_over"
        case.stafettholder_id = new_holder.id
        ctx.session.add(Participant(
            case_id=case.id, user_id=new_holder.id, unit_id=new_holder.unit_id,
            relation=Relation.STAFETTHOLDER.value, added_by_id=ctx.actor.id, added_at=now))
    case.unit_id = to_unit.id
    case.unit = to_unit
    ctx.session.flush()
    emit(ctx, Event.CASE_MOVED_IN, moves.receiving_staff_ids(ctx, case.municipality_id,
                                                             to_unit.id),
         key=period.id, case_id=case.id,
         details={"case_id": case.id, "from_unit_id": from_unit_id, "to_unit_id": to_unit.id})
    if new_holder is not None:
        emit(ctx, Event.APPOINTED, [new_holder.id], key=f"move-{period.id}", case_id=case.id,
             details={"case_id": case.id})
    return Written("case_unit_period", period.id)


def transferred_out(ctx, case, step, facts) -> Written:
    """The family moved to another municipality: with the consent to the transfer (who gave
    it and when, in the stafettlogg entry) the case closes here as transferred; the signed
    bundle is written afterwards (``bti.services.privacy.transfer``)."""
    _not_future(ctx, case, step, "given_on", step.payload["given_on"])
    return NOTHING


def referral(ctx, case, step, facts) -> Written:
    """A referral naming one of the workflow file's teams (``[[teams]]``) puts the case on the
    agenda of that team's next meeting (``bti.services.teams.agenda.refer_case``); any other
    referral is the stafettlogg entry alone."""
    from bti.services.teams.agenda import refer_case

    kinds = {t.id for t in facts.definition.teams}
    item = refer_case(ctx, case, kinds, dict(step.payload)) if kinds else None
    return Written("team_agenda_item", item.id) if item is not None else NOTHING


def close(ctx, case, step, facts) -> Written:
    return NOTHING


HANDLERS: dict[str, Callable[[Ctx, Case, Step, CaseFacts], Written]] = {
    "none": none,
    "inform_home": inform_home,
    "flag_violence": flag_violence,
    "clear_violence_flag": clear_violence_flag,
    "appoint_stafettholder": appoint_stafettholder,
    "add_participant": add_participant,
    "goal": goal,
    "measure": measure,
    "stop_measure": stop_measure,
    "evaluation": evaluation,
    "meeting": meeting,
    "note": note,
    "consent_given": consent_given,
    "consent_withdrawn": consent_withdrawn,
    "consent_refused": consent_refused,
    "handover_proposed": handover_proposed,
    "handover_accepted": handover_accepted,
    "handover_declined": handover_declined,
    "handover_withdrawn": handover_withdrawn,
    "ip_handover_proposed": ip_handover_proposed,
    "ip_handover_accepted": ip_handover_accepted,
    "ansvarsgruppe_member": ansvarsgruppe_member,
    "ansvarsgruppe_member_ended": ansvarsgruppe_member_ended,
    "ip_coordinator": ip_coordinator,
    "ansvarsgruppe_meeting": ansvarsgruppe_meeting,
    "debrief_offered": debrief_offered,
    "report_barnevernet": report_barnevernet,
    "barnevern_feedback": barnevern_feedback,
    "avverge": avverge,
    "unit_moved": unit_moved,
    "transferred_out": transferred_out,
    "referral": referral,
    "close": close,
}
