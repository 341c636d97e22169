"""Handovers that are safe (issue 14, section 4): who may be proposed as the next stafettholder,
and what the holder's own access will be once the handover is accepted.

Both follow the access rules (``bti.domain.rules``): the new holder's service must be the case's
own unit or one a current consent covers; after acceptance the former holder keeps access only
through another relation (they raised the concern, lead the case's unit, or take part), and may
stay on as a participant only where their service may take part (the case's own unit, or one a
current consent covers).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.policy import CASE_WORK_ROLES
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.services.cases.facts import CaseFacts
from bti.services.context import Ctx

#: Relations that outlast the handover for the former holder.
_LASTING = (Relation.REPORTER.value, Relation.PARTICIPANT.value)


def may_hold(case: Case, facts: CaseFacts, unit_id: int | None) -> bool:
    """Whether someone of ``unit_id`` may hold (or stay on with) the case: their service is the
    case's own or one a current consent covers."""
    return unit_id is not None and (unit_id == case.unit_id or unit_id in facts.covered)


@dataclass(frozen=True)
class Recipient:
    id: int
    name: str
    unit_name: str | None


def recipients(ctx: Ctx, case: Case, facts: CaseFacts) -> list[Recipient]:
    """Who may be proposed as the next stafettholder: active colleagues of the case's
    municipality who work on cases, not the holder, whose service may hold the case (the
    others could not accept: ``effects.handover_proposed`` refuses them too)."""
    workers = select(UserRole.user_id).where(UserRole.role.in_(sorted(CASE_WORK_ROLES)))
    rows = ctx.session.execute(
        select(User.id, User.display_name, User.unit_id, Unit.name)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.municipality_id == case.municipality_id, User.active.is_(True),
               User.id.in_(workers))
        .order_by(User.display_name, User.id))
    return [Recipient(i, name, unit_name) for i, name, unit_id, unit_name in rows
            if i != case.stafettholder_id and may_hold(case, facts, unit_id)]


@dataclass(frozen=True)
class HolderAfter:
    """The stafettholder's access once the handover is accepted."""

    holder_id: int
    #: Relations through which they keep access anyway (reporter, unit_leader, participant).
    keeps: tuple[str, ...]
    #: They may choose to stay on as a participant (their service may take part).
    may_stay: bool

    @property
    def loses_access(self) -> bool:
        """Without staying on, the holder cannot open the case after acceptance."""
        return not self.keeps


def holder_after(ctx: Ctx, case: Case, facts: CaseFacts) -> HolderAfter | None:
    """What acceptance does to the current holder's access (None: the case has no holder)."""
    if case.stafettholder_id is None:
        return None
    holder = ctx.session.get(User, case.stafettholder_id)
    if holder is None:
        return None
    keeps = {p.relation for p in facts.participants
             if p.user_id == holder.id and p.relation in _LASTING and p.ended_at is None}
    if Role.LEADER.value in holder.roles and holder.unit_id == case.unit_id:
        keeps.add(Relation.UNIT_LEADER.value)
    already = Relation.PARTICIPANT.value in keeps
    return HolderAfter(holder.id, tuple(sorted(keeps)),
                       holder.active and not already and may_hold(case, facts, holder.unit_id))
