"""The family's voice: a comment or question to the case, which the stafettholder sees as a task
until they mark it answered, and a concern a guardian raises about their own child with a unit,
which reaches the unit's leader as a new concern.

Messages. Written through the family member's redeemed link to the case (the access of
``bti.services.family.view``: anything else answers ``NotFound`` as for a missing case); a family
member sees their own messages only, with whether they were received and answered (two
guardians of one child may not want to read each other's). The stafettholder (the family's
contact, ``bti.domain.policy.may_manage_family``) reads them, sees each unanswered one as a task
in their inbox (``bti.services.cases.inbox``) and gets a notification
(``Event.FAMILY_MESSAGE``: a title and a link, no child data), and marks it answered.

Concerns. A signed-in guardian chooses one of the municipality's active kindergartens or schools
and writes what to call the child, the birth year, the concern and how to reach them; the
unit's leaders are notified as of any new concern (``Event.CONCERN_NEW``, without a case) and
see it in their unit's list (``unit_concerns``), where they open a case from it
(``lifecycle.open_case`` with their own pseudonym for the child: the case is the leader's,
the guardian gets no link to it) or close it without one. Raising a concern gives the family no
access to anything.

Every free text passes the checks of any case text (length, no national identity number,
``bti.engine.inputs.check_text``); bad input raises ``InvalidInput`` with every field's error
before anything is written. Every family write is audited on the family channel, every staff
read and write with the staff member's audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.clock import local_date
from bti.domain.family import FamilyMember
from bti.domain.family_voice import FAMILY_CONTACT_MAX
from bti.domain.family_voice import FAMILY_NAME_MAX
from bti.domain.family_voice import FAMILY_TEXT_MAX
from bti.domain.family_voice import FamilyConcern
from bti.domain.family_voice import FamilyMessage
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.policy import may_handle_family_concerns
from bti.domain.policy import may_manage_family
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.engine.inputs import check_text
from bti.engine.inputs import parse_int
from bti.services.access import audit
from bti.services.cases.lifecycle import CaseAccess
from bti.services.cases.lifecycle import get_case
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family.sessions import FamilyActor
from bti.services.family.sessions import record
from bti.services.family.view import member_and_case
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit
from bti.services.workflows.registry import WorkflowRegistry

#: The kinds of unit a guardian may raise a concern with.
CONCERN_UNIT_KINDS = ("kindergarten", "school")


def _text_error(text: str, *, max_length: int, required: bool = True) -> str | None:
    return check_text(text, max_length=max_length, required=required)


# --- messages: the family's side (what they sent: ``view.FamilyCase.messages``) -------------


def send_message(session, actor: FamilyActor, case_id: int, text: str, *, now: datetime,
                 workflows: WorkflowRegistry, request_id: str | None = None) -> FamilyMessage:
    """Write a comment or question to the case; the stafettholder is told. ``NotFound`` without
    a link that lets the family member see the case; ``InvalidInput`` for a bad text or a
    closed case (nothing written)."""
    member, case = member_and_case(session, actor, case_id)
    text = text if isinstance(text, str) else ""
    error = _text_error(text, max_length=FAMILY_TEXT_MAX)
    if error is None and workflows.for_record(
            session, case.workflow_definition_id).definition.state(case.state).final:
        error = "closed"
    if error is not None:
        raise InvalidInput({"text": [error]})
    msg = FamilyMessage(case_id=case.id, member_id=member.id, text=text.strip(), sent_at=now)
    session.add(msg)
    session.flush()
    record(session, AuditAction.FAMILY_MESSAGE_SENT, now=now,
           municipality_id=case.municipality_id, identity_id=actor.identity_id,
           case_id=case.id, object_type="family_message", object_id=msg.id, basis=member.role,
           request_id=request_id)
    if case.stafettholder_id is not None:
        emit(Ctx.system(session, now=lambda: now, request_id=request_id), Event.FAMILY_MESSAGE,
             [case.stafettholder_id], key=f"message-{msg.id}", case_id=case.id,
             details={"case_id": case.id, "family_message_id": msg.id})
    return msg


# --- messages: the stafettholder's side -------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    id: int
    role: str  # the writer's role: guardian or youth
    text: str
    sent_at: datetime
    answered_at: datetime | None
    answered_by: str | None


def _holder(ctx: Ctx, case_id: int) -> CaseAccess:
    access = get_case(ctx, case_id)
    if not may_manage_family(ctx.actor, access.case.municipality_id, access.relations):
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    return access


def case_messages(ctx: Ctx, case_id: int) -> tuple[CaseAccess, list[MessageRow]]:
    """The family's comments and questions to the case, unanswered first, for the
    stafettholder; audited."""
    access = _holder(ctx, case_id)
    rows = ctx.session.execute(
        select(FamilyMessage, FamilyMember.role, User.display_name)
        .join(FamilyMember, FamilyMember.id == FamilyMessage.member_id)
        .outerjoin(User, User.id == FamilyMessage.answered_by_id)
        .where(FamilyMessage.case_id == access.case.id)
        .order_by(FamilyMessage.answered_at.is_not(None), FamilyMessage.id.desc())).all()
    audit.record(ctx, AuditAction.FAMILY_MESSAGES_VIEWED, case=access.case, object_type="case",
                 object_id=access.case.id, basis=access.basis)
    return access, [MessageRow(m.id, role, m.text, m.sent_at, m.answered_at, name)
                    for m, role, name in rows]


def answer(ctx: Ctx, case_id: int, message_id: int) -> FamilyMessage:
    """Mark a message answered (the stafettholder answered it in a meeting, by phone …);
    audited. A message already answered stays as it was (``InvalidInput``)."""
    access = _holder(ctx, case_id)
    msg = ctx.session.get(FamilyMessage, message_id) if isinstance(message_id, int) else None
    if msg is None or msg.case_id != access.case.id:
        raise NotFound(f"family message {message_id}", object_type="family_message",
                       object_id=message_id)
    if msg.answered_at is not None:
        raise InvalidInput({"message": ["already_answered"]})
    msg.answered_at = ctx.now()
    msg.answered_by_id = ctx.actor.id
    ctx.session.flush()
    audit.record(ctx, AuditAction.FAMILY_MESSAGE_ANSWERED, case=access.case,
                 object_type="family_message", object_id=msg.id, basis=access.basis)
    return msg


def unanswered_by_case(ctx: Ctx, case_ids: list[int]) -> dict[int, list[FamilyMessage]]:
    """The unanswered messages of the cases (the inbox's tasks for the stafettholder)."""
    out: dict[int, list[FamilyMessage]] = {}
    if not case_ids:
        return out
    for m in ctx.session.scalars(select(FamilyMessage).where(
            FamilyMessage.case_id.in_(case_ids), FamilyMessage.answered_at.is_(None))
            .order_by(FamilyMessage.id)):
        out.setdefault(m.case_id, []).append(m)
    return out


# --- concerns: the guardian's side ------------------------------------------------------------


@dataclass(frozen=True)
class UnitChoice:
    id: int
    name: str
    kind: str


def concern_units(session, municipality_id: int) -> list[UnitChoice]:
    """The municipality's active kindergartens and schools, by name."""
    return [UnitChoice(u.id, u.name, u.kind) for u in session.scalars(
        select(Unit).where(Unit.municipality_id == municipality_id, Unit.active.is_(True),
                           Unit.kind.in_(CONCERN_UNIT_KINDS)).order_by(Unit.name, Unit.id))]


def raise_concern(session, actor: FamilyActor, *, unit_id: object, child_name: str,
                  birth_year: str, text: str, contact: str, now: datetime,
                  request_id: str | None = None) -> FamilyConcern:
    """A guardian's concern about their own child, to the chosen unit's leaders. Every field's
    error at once (``InvalidInput``), nothing written then."""
    errors: dict[str, list[str]] = {}
    units = {u.id: u for u in concern_units(session, actor.municipality_id)}
    unit = parse_int(unit_id.strip()) if isinstance(unit_id, str) else None
    if unit_id in (None, ""):
        errors["unit"] = ["required"]
    elif unit not in units:
        errors["unit"] = ["not_a_choice"]
    child_name = child_name if isinstance(child_name, str) else ""
    if (e := _text_error(child_name, max_length=FAMILY_NAME_MAX)) is not None:
        errors["child_name"] = [e]
    year = parse_int((birth_year or "").strip()) if isinstance(birth_year, str) else None
    this_year = local_date(now).year
    if not (birth_year or "").strip():
        errors["birth_year"] = ["required"]
    elif year is None:
        errors["birth_year"] = ["not_a_number"]
    elif not this_year - 24 <= year <= this_year:
        errors["birth_year"] = ["birth_year_range"]
    text = text if isinstance(text, str) else ""
    if (e := _text_error(text, max_length=FAMILY_TEXT_MAX)) is not None:
        errors["text"] = [e]
    contact = contact if isinstance(contact, str) else ""
    if (e := _text_error(contact, max_length=FAMILY_CONTACT_MAX, required=False)) is not None:
        errors["contact"] = [e]
    if errors:
        raise InvalidInput(errors)
    assert unit is not None
    assert year is not None
    row = FamilyConcern(municipality_id=actor.municipality_id, unit_id=unit,
                        identity_id=actor.identity_id, child_name=child_name.strip(),
                        child_birth_year=year, text=text.strip(),
                        contact=contact.strip() or None, raised_at=now)
    session.add(row)
    session.flush()
    record(session, AuditAction.FAMILY_CONCERN_RAISED, now=now,
           municipality_id=actor.municipality_id, identity_id=actor.identity_id,
           object_type="family_concern", object_id=row.id, unit=unit, request_id=request_id)
    emit(Ctx.system(session, now=lambda: now, request_id=request_id), Event.CONCERN_NEW,
         unit_leader_ids(session, actor.municipality_id, unit), key=f"family-{row.id}",
         details={"family_concern_id": row.id})
    return row


def unit_leader_ids(session, municipality_id: int, unit_id: int) -> list[int]:
    return list(session.scalars(
        select(User.id).join(UserRole, UserRole.user_id == User.id)
        .where(User.unit_id == unit_id, User.municipality_id == municipality_id,
               User.active.is_(True), UserRole.role == Role.LEADER.value)
        .order_by(User.id).distinct()))


# --- concerns: the leader's side --------------------------------------------------------------


@dataclass(frozen=True)
class ConcernRow:
    id: int
    unit: str
    child_name: str
    child_birth_year: int
    text: str
    contact: str | None
    raised_at: datetime
    handled_at: datetime | None
    case_id: int | None


def _is_unit_leader(ctx: Ctx) -> bool:
    return may_handle_family_concerns(ctx.actor)


def unit_concerns(ctx: Ctx) -> list[ConcernRow]:
    """The concerns guardians raised with the leader's unit, open ones first; audited (one row
    per concern listed). A user who leads no unit sees none."""
    if not _is_unit_leader(ctx):
        return []
    rows = ctx.session.execute(
        select(FamilyConcern, Unit.name).join(Unit, Unit.id == FamilyConcern.unit_id)
        .where(FamilyConcern.unit_id == ctx.actor.unit_id,
               FamilyConcern.municipality_id == ctx.actor.municipality_id)
        .order_by(FamilyConcern.handled_at.is_not(None), FamilyConcern.id.desc())).all()
    for c, _ in rows:
        audit.record(ctx, AuditAction.FAMILY_CONCERNS_LISTED, object_type="family_concern",
                     object_id=c.id, basis="unit_leader")
    return [ConcernRow(c.id, name, c.child_name, c.child_birth_year, c.text, c.contact,
                       c.raised_at, c.handled_at, c.case_id) for c, name in rows]


def _leaders_concern(ctx: Ctx, concern_id: int) -> FamilyConcern:
    row = ctx.session.get(FamilyConcern, concern_id) if isinstance(concern_id, int) else None
    if (row is None or not _is_unit_leader(ctx) or row.unit_id != ctx.actor.unit_id
            or row.municipality_id != ctx.actor.municipality_id):
        raise NotFound(f"family concern {concern_id}", object_type="family_concern",
                       object_id=concern_id)
    if row.handled_at is not None:
        raise InvalidInput({"concern": ["already_handled"]})
    return row


def open_case_from(ctx: Ctx, concern_id: int, pseudonym: str) -> Case:
    """The leader opens a case from the concern: in their unit, under the pseudonym they give,
    the guardian's words as what was seen; the concern is handled. The case is the leader's
    like any concern they register (its reporter); no family member is linked to it."""
    from bti.services.cases import lifecycle

    row = _leaders_concern(ctx, concern_id)
    opened = lifecycle.open_case(
        ctx, unit_id=row.unit_id, child_pseudonym=pseudonym,
        child_birth_year=row.child_birth_year, concern={"what_seen": row.text})
    row.handled_at = ctx.now()
    row.handled_by_id = ctx.actor.id
    row.case_id = opened.case.id
    ctx.session.flush()
    audit.record(ctx, AuditAction.FAMILY_CONCERN_HANDLED, case=opened.case,
                 object_type="family_concern", object_id=row.id, basis="unit_leader",
                 outcome_kind="case_opened")
    return opened.case


def close_concern(ctx: Ctx, concern_id: int) -> FamilyConcern:
    """The leader handles the concern without a case (followed up in a talk with the home …)."""
    row = _leaders_concern(ctx, concern_id)
    row.handled_at = ctx.now()
    row.handled_by_id = ctx.actor.id
    ctx.session.flush()
    audit.record(ctx, AuditAction.FAMILY_CONCERN_HANDLED, object_type="family_concern",
                 object_id=row.id, basis="unit_leader", outcome_kind="closed")
    return row
