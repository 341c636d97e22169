"""The individual plan (IP) and its ansvarsgruppe as the case's pages read them.

Changes go through the workflow (``handover_ip``, ``accept_ip_handover`` and the ansvarsgruppe
transitions: ``bti.services.cases.effects``), so every change is a stafettlogg entry and an
audit row of ``fire``; here are the reads. Access is the case's: ``lifecycle`` answers
``NotFound`` without a relation, and the read is audited before anything is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime

from sqlalchemy import select

from bti.domain.cases import MEMBER_STAFF
from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import Case
from bti.domain.cases import IndividualPlan
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.vocabulary import AuditAction
from bti.engine import Action
from bti.services.access import audit
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx

#: The workflow's triggers that keep the ansvarsgruppe (every shipped workflow has them).
TRIGGERS = ("add_ansvarsgruppe_member", "end_ansvarsgruppe_member", "change_ip_coordinator",
            "record_ansvarsgruppe_meeting")


@dataclass(frozen=True)
class IpSummary:
    """What the case page shows of the IP: since when, and who coordinates it."""

    started_at: datetime
    coordinator_id: int
    coordinator_name: str
    members: int  # active members of the ansvarsgruppe
    meetings: int


@dataclass(frozen=True)
class MemberItem:
    id: int
    kind: str  # staff | guardian | child
    name: str  # the user's name for staff, else the name given
    unit_name: str | None
    role_text: str | None
    coordinator: bool
    added_at: datetime


@dataclass(frozen=True)
class MeetingItem:
    id: int
    held_on: date
    place: str
    minutes: str
    log_seq: int


@dataclass(frozen=True)
class AnsvarsgruppePage:
    case: Case
    ip: IpSummary | None
    members: list[MemberItem]
    meetings: list[MeetingItem]  # newest first
    #: The ansvarsgruppe's actions this user may take now, in ``TRIGGERS`` order.
    actions: list[Action]


def ip_summary(ctx: Ctx, case: Case) -> IpSummary | None:
    """The case's IP, for a page that has checked access and audited its read already."""
    plan = ctx.session.scalar(select(IndividualPlan).where(IndividualPlan.case_id == case.id))
    if plan is None:
        return None
    name = ctx.session.scalar(select(User.display_name).where(User.id == plan.coordinator_id))
    members = len(ctx.session.scalars(select(AnsvarsgruppeMember.id).where(
        AnsvarsgruppeMember.case_id == case.id, AnsvarsgruppeMember.ended_at.is_(None))).all())
    meetings = len(ctx.session.scalars(select(AnsvarsgruppeMeeting.id).where(
        AnsvarsgruppeMeeting.case_id == case.id)).all())
    return IpSummary(plan.started_at, plan.coordinator_id, name or "", members, meetings)


def ansvarsgruppe_page(ctx: Ctx, case_id: int) -> AnsvarsgruppePage:
    """The IP's ansvarsgruppe: members, the coordinator, meetings with their minutes, and what
    this user may change. An audited read of the case; ``NotFound`` without access. A case
    without an IP shows that it has none."""
    access, actions = cases.list_actions(ctx, case_id)
    case = access.case
    audit.record(ctx, AuditAction.CASE_VIEWED, case=case, object_type="ansvarsgruppe",
                 object_id=case.id, basis=access.basis)
    ip = ip_summary(ctx, case)
    rows = ctx.session.execute(
        select(AnsvarsgruppeMember, User.display_name, Unit.name)
        .outerjoin(User, User.id == AnsvarsgruppeMember.user_id)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(AnsvarsgruppeMember.case_id == case.id, AnsvarsgruppeMember.ended_at.is_(None))
        .order_by(AnsvarsgruppeMember.id)).all()
    coordinator = ip.coordinator_id if ip is not None else None
    members = [MemberItem(m.id, m.kind, (user_name if m.kind == MEMBER_STAFF else m.name) or "",
                          unit_name if m.kind == MEMBER_STAFF else None, m.role_text,
                          m.user_id is not None and m.user_id == coordinator, m.added_at)
               for m, user_name, unit_name in rows]
    meetings = [MeetingItem(x.id, x.held_on, x.place, x.minutes, x.log_seq)
                for x in ctx.session.scalars(select(AnsvarsgruppeMeeting).where(
                    AnsvarsgruppeMeeting.case_id == case.id)
                    .order_by(AnsvarsgruppeMeeting.held_on.desc(),
                              AnsvarsgruppeMeeting.id.desc()))]
    by_trigger = {a.transition.trigger: a for a in actions if a.allowed}
    return AnsvarsgruppePage(case, ip, members, meetings,
                             [by_trigger[t] for t in TRIGGERS if t in by_trigger])
