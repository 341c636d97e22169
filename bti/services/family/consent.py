"""Consent the family gives, refuses or withdraws themselves on the family page, and the young
person's say over whether their guardians keep access.

A consent given here goes through exactly the path of one staff record: the workflow's
``give_consent``, ``refuse_consent`` and ``withdraw_consent`` transitions (their ``roles`` list
``family``), fired by ``bti.services.cases.lifecycle.fire`` with ``FamilyVia``, so the effects
(``bti.services.cases.effects``: participants of a covered service admitted at once, those no
consent covers any more ended at once), the stafettlogg entry and the notifications are the
same. The entry's data says who gave it and how (``via``: the family channel, the role, the
provider); the audit row is the family's (``channel = "family"``, the identity). The staff
actor the transition is written for is the one who receives it on the case: the stafettholder
(the reporter while there is none), also ``recorded_by_id`` of the consent; the consent row
keeps the family identity (``given_by_identity_id``, ``withdrawn_by_identity_id``) and
``channel = "family"``.

A guardian's consent is ``given_by = "guardians"``, the young person's ``"youth"``: from the
workflow's consent age a service is covered only when both have consented
(``bti.domain.rules.covered_units``), the same rule as for staff records. With the workflow
setting ``youth_decides_guardian_access`` (default on) the young person from that age also
decides whether their guardians keep their family access: saying no ends it at once
(``end_reason = "youth"``), and the guardians' pages answer 404 as for a missing case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.clock import local_date
from bti.domain.family import END_BY_YOUTH
from bti.domain.family import GUARDIAN
from bti.domain.family import YOUTH
from bti.domain.family import FamilyMember
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import serves_municipality
from bti.domain.rules import consent_is_current
from bti.domain.rules import youth_consent_required
from bti.domain.vocabulary import AuditAction
from bti.services.cases.lifecycle import FamilyVia
from bti.services.cases.lifecycle import FireResult
from bti.services.cases.lifecycle import fire
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.family.sessions import FamilyActor
from bti.services.family.sessions import record
from bti.services.family.view import _member_and_case
from bti.services.workflows.registry import WorkflowRegistry

#: What the family may decide on the form.
DECISIONS = ("give", "refuse")
#: Longest text of "what information" and of a refusal's note.
TEXT_MAX = 2000
#: Whose consent each family role gives, and which consents each may withdraw.
GIVEN_BY = {GUARDIAN: "guardians", YOUTH: "youth"}
WITHDRAWABLE = {GUARDIAN: ("guardians", "guardians_and_youth"),
                YOUTH: ("youth", "guardians_and_youth")}


@dataclass(frozen=True)
class ConsentRow:
    id: int
    given_by: str
    services: list[str]
    information: str | None
    given_on: date | None
    expires_on: date | None
    by_family: bool
    may_withdraw: bool


@dataclass(frozen=True)
class ConsentPanel:
    case_id: int
    role: str
    #: (unit id, name) of the services a consent may cover (not the case's own unit).
    services: list[tuple[int, str]]
    current: list[ConsentRow]
    #: The youth's own consent is needed too (the child has reached the consent age).
    youth_required: bool
    #: The young person may end the guardians' access now (and there is some to end).
    may_end_guardians: bool
    guardians_with_access: int


def _services(session: Session, case: Case) -> list[tuple[int, str]]:
    units = session.scalars(select(Unit).where(Unit.active.is_(True), Unit.id != case.unit_id)
                            .order_by(Unit.name, Unit.id))
    return [(u.id, u.name) for u in units
            if serves_municipality(u.municipality_id, u.served_municipality_ids,
                                   case.municipality_id)]


def _guardians(session: Session, case_id: int) -> list[FamilyMember]:
    return list(session.scalars(select(FamilyMember).where(
        FamilyMember.case_id == case_id, FamilyMember.role == GUARDIAN,
        FamilyMember.ended_at.is_(None))))


def panel(session: Session, actor: FamilyActor, case_id: int, workflows: WorkflowRegistry,
          *, now: datetime, request_id: str | None = None) -> ConsentPanel:
    """The consent part of the family page: the current consents, the services a new one may
    cover, and the young person's say over the guardians' access (audited)."""
    member, case = _member_and_case(session, actor, case_id)
    definition = workflows.for_record(session, case.workflow_definition_id).definition
    today = local_date(now)
    services = _services(session, case)
    names = dict(session.execute(select(Unit.id, Unit.name).where(
        Unit.municipality_id == case.municipality_id)).all()) | dict(services)
    current = []
    for c in session.scalars(select(Consent).where(Consent.case_id == case.id,
                                                   Consent.status == "given")
                             .order_by(Consent.id)):
        if not consent_is_current(c, today):
            continue
        current.append(ConsentRow(
            c.id, c.given_by, sorted(names.get(u, "?") for u in c.unit_ids), c.information,
            c.given_on, c.expires_on, c.channel == "family",
            c.given_by in WITHDRAWABLE[member.role]))
    youth_required = youth_consent_required(case.child_birth_year, today,
                                            definition.settings.youth_consent_age)
    guardians = len(_guardians(session, case.id)) if member.role == YOUTH else 0
    may_end = (member.role == YOUTH and youth_required
               and definition.settings.youth_decides_guardian_access and guardians > 0)
    record(session, AuditAction.FAMILY_CONSENT_FORM_VIEWED, now=now,
           municipality_id=case.municipality_id, identity_id=actor.identity_id,
           case_id=case.id, object_type="case", object_id=case.id, basis=member.role,
           request_id=request_id)
    return ConsentPanel(case.id, member.role, services, current, youth_required, may_end,
                        guardians)


def _ctx(session: Session, case: Case, workflows: WorkflowRegistry, now: datetime,
         request_id: str | None) -> Ctx:
    """The context the family's transition is written in: the staff member who receives it on
    the case (the stafettholder, else the reporter)."""
    receiver = session.get_one(User, case.stafettholder_id or case.opened_by_id)
    return Ctx(session=session, actor=receiver.as_actor(), workflows=workflows,
               now=lambda: now, request_id=request_id)


def _text(value: Any, field: str, errors: dict[str, list[str]], *, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        errors.setdefault(field, []).append("required")
    elif len(text) > TEXT_MAX:
        errors.setdefault(field, []).append("too_long")
    return text


def decide(session: Session, actor: FamilyActor, case_id: int, workflows: WorkflowRegistry,
           *, decision: str, services: list[int | str], information: str = "",
           expires_on: str = "", notes: str = "", now: datetime,
           request_id: str | None = None) -> FireResult:
    """The family member gives (``decision = "give"``) or refuses (``"refuse"``) consent to
    cooperation with ``services``: ``give_consent`` / ``refuse_consent`` as staff would record
    it, dated today, ``given_by`` their own party. ``InvalidInput`` (nothing written) for a
    decision not offered or a text too long; the engine and the effect refuse the rest (no
    service, an unknown one, an expiry date today or before, …) with ``TransitionRefused``."""
    member, case = _member_and_case(session, actor, case_id)
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = ["not_a_choice"]
    payload: dict[str, Any] = {"given_by": GIVEN_BY[member.role], "services": list(services)}
    if decision == "give":
        payload["information"] = _text(information, "information", errors, required=True)
        payload["given_on"] = local_date(now).isoformat()
        if expires_on.strip():  # the effect refuses one on or before today
            payload["expires_on"] = expires_on.strip()
    elif decision == "refuse":
        note = _text(notes, "notes", errors, required=False)
        if note:
            payload["notes"] = note
    if errors:
        raise InvalidInput(errors)
    ctx = _ctx(session, case, workflows, now, request_id)
    trigger = "give_consent" if decision == "give" else "refuse_consent"
    result = fire(ctx, case.id, trigger, payload,
                  family=FamilyVia(actor.identity_id, member.role))
    consent = session.get_one(Consent, result.entry.object_id)
    consent.channel = "family"
    consent.given_by_identity_id = actor.identity_id
    session.flush()
    return result


def withdraw(session: Session, actor: FamilyActor, case_id: int, consent_id: int,
             workflows: WorkflowRegistry, *, now: datetime,
             request_id: str | None = None) -> FireResult:
    """The family member withdraws a current consent their own party gave (a guardian one of
    the guardians', the young person their own): ``withdraw_consent`` as staff would record
    it, so whoever it admitted and no other consent covers loses access at once."""
    member, case = _member_and_case(session, actor, case_id)
    consent = session.get(Consent, consent_id) if isinstance(consent_id, int) else None
    if (consent is None or consent.case_id != case.id
            or consent.given_by not in WITHDRAWABLE[member.role]):
        raise InvalidInput({"consent": ["not_on_case"]})
    if not consent_is_current(consent, local_date(now)):
        raise InvalidInput({"consent": ["not_active"]})
    ctx = _ctx(session, case, workflows, now, request_id)
    result = fire(ctx, case.id, "withdraw_consent", {"consent": consent.id},
                  family=FamilyVia(actor.identity_id, member.role))
    consent.withdrawn_by_identity_id = actor.identity_id
    session.flush()
    return result


def end_guardians(session: Session, actor: FamilyActor, case_id: int,
                  workflows: WorkflowRegistry, *, now: datetime,
                  request_id: str | None = None) -> int:
    """The young person, from the workflow's consent age and where the workflow lets them
    decide (``youth_decides_guardian_access``), says the guardians shall not keep access: every
    guardian's family access (and open guardian invitation) on the case ends at once
    (``end_reason = "youth"``), each audited. Returns how many ended."""
    member, case = _member_and_case(session, actor, case_id)
    definition = workflows.for_record(session, case.workflow_definition_id).definition
    if member.role != YOUTH:
        raise InvalidInput({"guardians": ["not_allowed"]})
    if not (definition.settings.youth_decides_guardian_access and youth_consent_required(
            case.child_birth_year, local_date(now), definition.settings.youth_consent_age)):
        raise InvalidInput({"guardians": ["not_allowed"]})
    ended = _guardians(session, case.id)
    if not ended:
        raise InvalidInput({"guardians": ["already_ended"]})
    session.execute(update(FamilyMember).where(
        FamilyMember.id.in_([g.id for g in ended]), FamilyMember.ended_at.is_(None))
        .values(ended_at=now, end_reason=END_BY_YOUTH), execution_options={
            "synchronize_session": "fetch"})
    for g in ended:
        record(session, AuditAction.FAMILY_ACCESS_ENDED, now=now,
               municipality_id=case.municipality_id, identity_id=actor.identity_id,
               case_id=case.id, object_type="family_member", object_id=g.id, basis=YOUTH,
               request_id=request_id, role=GUARDIAN, reason=END_BY_YOUTH)
    record(session, AuditAction.FAMILY_GUARDIANS_ENDED, now=now,
           municipality_id=case.municipality_id, identity_id=actor.identity_id,
           case_id=case.id, object_type="case", object_id=case.id, basis=YOUTH,
           request_id=request_id, ended=len(ended))
    session.flush()
    return len(ended)
