"""Who is notified when something happens on a case, written in the event's own transaction
through ``emit``: a new concern (the unit's leaders), an appointed stafettholder, an added
participant. Handovers and reports to barnevernet notify from their own code."""

from __future__ import annotations

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.vocabulary import Role
from bti.engine import Step
from bti.services.context import Ctx
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit


def unit_leader_ids(ctx: Ctx, case: Case) -> list[int]:
    """The active leaders of the case's unit."""
    return list(ctx.session.scalars(
        select(User.id).join(UserRole, UserRole.user_id == User.id)
        .where(User.unit_id == case.unit_id, User.municipality_id == case.municipality_id,
               User.active.is_(True), UserRole.role == Role.LEADER.value)
        .order_by(User.id).distinct()))


def case_opened(ctx: Ctx, case: Case) -> list[int]:
    """A new concern: the leaders of its unit (not the reporter, if they lead it)."""
    return emit(ctx, Event.CONCERN_NEW, unit_leader_ids(ctx, case), key=case.id,
                case_id=case.id, details={"case_id": case.id})


def after_fire(ctx: Ctx, case: Case, step: Step, object_id: int | None) -> list[int]:
    """The notices a fired transition's effect causes (after its writes are flushed)."""
    effect = step.transition.effect
    if effect == "appoint_stafettholder" and case.stafettholder_id is not None:
        return emit(ctx, Event.APPOINTED, [case.stafettholder_id], key=object_id or case.id,
                    case_id=case.id, details={"case_id": case.id})
    if effect == "add_participant":
        return emit(ctx, Event.PARTICIPANT_ADDED, [step.payload["participant"]],
                    key=object_id or case.id, case_id=case.id,
                    details={"case_id": case.id, "participant_id": object_id})
    return []
