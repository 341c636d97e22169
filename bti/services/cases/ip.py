"""The individual plan (IP) as the workflow's effects write it: who receives a handover to an
individual plan, and the ansvarsgruppe membership rows. No access check here (the callers, the
effects in ``bti.services.cases.effects`` and the use cases in
``bti.services.cases.ansvarsgruppe``, have loaded the case for the actor); nothing imports
``lifecycle``.

A staff member of the ansvarsgruppe sees the case as a participant (``Relation.PARTICIPANT``):
within the case's own unit, or where a current consent covers their service, exactly as any
participant, so the consent decides also here and a member of another case's ansvarsgruppe has
no relation to this one.
"""

from __future__ import annotations

from sqlalchemy import select

from bti.domain.cases import MEMBER_STAFF
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import Case
from bti.domain.cases import Participant
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.services.context import Ctx

#: The task of the participant relation an ansvarsgruppe membership gives (it ends with it).
ANSVARSGRUPPE_TASK = "ansvarsgruppe"

#: Who of a coordinating unit (koordinerande eining) receives a handover to an individual
#: plan: its leaders and coordinators.
RECEIVING_ROLES = (Role.LEADER.value, Role.COORDINATOR.value)


def unit_staff(ctx: Ctx, municipality_id: int, unit_id: int) -> list[User]:
    """The active leaders and coordinators of a unit (each once), by name: who answers for a
    coordinating unit, and who is told a case moved in (``moves.receiving_staff_ids``)."""
    receiving = select(UserRole.user_id).where(UserRole.role.in_(RECEIVING_ROLES))
    return list(ctx.session.scalars(
        select(User).where(User.unit_id == unit_id, User.active.is_(True),
                           User.municipality_id == municipality_id,
                           User.id.in_(receiving)).order_by(User.display_name, User.id)))


def unit_recipients(ctx: Ctx, case: Case, unit_id: int) -> list[User]:
    """The active leaders and coordinators of the coordinating unit, not the stafettholder."""
    return [u for u in unit_staff(ctx, case.municipality_id, unit_id)
            if u.id != case.stafettholder_id]


def staff_member(ctx: Ctx, case: Case, user_id: int) -> AnsvarsgruppeMember | None:
    return ctx.session.scalar(select(AnsvarsgruppeMember).where(
        AnsvarsgruppeMember.case_id == case.id, AnsvarsgruppeMember.kind == MEMBER_STAFF,
        AnsvarsgruppeMember.user_id == user_id, AnsvarsgruppeMember.ended_at.is_(None)))


def add_staff(ctx: Ctx, case: Case, user: User, participants: list[Participant],
              role_text: str | None = None) -> AnsvarsgruppeMember:
    """``user`` joins the ansvarsgruppe, with a participant relation for their own service
    unless they already take part (the caller checked their service may take part)."""
    now = ctx.now()
    if not any(p.user_id == user.id and p.relation == Relation.PARTICIPANT.value
               and p.ended_at is None for p in participants):
        part = Participant(case_id=case.id, user_id=user.id, unit_id=user.unit_id,
                           relation=Relation.PARTICIPANT.value, task=ANSVARSGRUPPE_TASK,
                           added_by_id=ctx.actor.id, added_at=now)
        ctx.session.add(part)
        participants.append(part)
    member = AnsvarsgruppeMember(case_id=case.id, kind=MEMBER_STAFF, user_id=user.id,
                                 role_text=role_text, added_by_id=ctx.actor.id, added_at=now)
    ctx.session.add(member)
    ctx.session.flush()
    return member
