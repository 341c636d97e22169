"""Who is notified when something happens on a case, written in the event's own transaction
through ``emit``: a new concern (the unit's leaders), an appointed stafettholder, an added
participant, a meeting scheduled, moved or cancelled (the stafettholder and the case's
participants: the people whose calendar feed shows the case's next meeting). Handovers and
reports to barnevernet notify from their own code.

Meetings. A recorded meeting (``Meeting``) may plan the next one (``next_meeting_on``); the
case's planned meeting is the newest record's next date, as the calendar feed shows it. When a
new record changes it, an invitation goes out (``MEETING_INVITATION``, its ICS built at send
time from the notice's details, ``bti.services.notify.delivery``):

- a next date where none was still to come: ``new`` (``METHOD:REQUEST``);
- a different next date while the earlier one is still to come: ``moved`` (``REQUEST``, a
  higher ``SEQUENCE``);
- no next date while the earlier one is still to come: ``cancelled`` (``METHOD:CANCEL``); and
  closing a case with a meeting still to come cancels it too.

"Still to come" is after the new meeting's day and not before today: a meeting recorded on the
planned day is that meeting held, not a cancellation. The same date again sends nothing. As
with every notice, the user who records the meeting is not sent one. The invitation's UID is
the case's (the calendar feed's): a case has one planned meeting at a time, and a new date
moves that one event."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Meeting
from bti.domain.cases import Participant
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.rules import case_coverage
from bti.domain.rules import lapsed
from bti.domain.vocabulary import Relation
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


def meeting_invitee_ids(ctx: Ctx, case: Case) -> list[int]:
    """Who is invited to the case's meetings: its stafettholder and its current participants
    whose access still holds (a consent still covers their service), the relations that put
    the next meeting in a user's calendar feed."""
    rows = list(ctx.session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.ended_at.is_(None),
        Participant.relation == Relation.PARTICIPANT.value)))
    if rows:  # a participant whose consent lapsed has no access: no invitation either
        today = ctx.today()
        consents = ctx.session.scalars(select(Consent).where(
            Consent.case_id == case.id, Consent.status == "given",
            Consent.withdrawn_at.is_(None)))
        age = ctx.workflows.for_record(
            ctx.session, case.workflow_definition_id).definition.settings.youth_consent_age
        gone = {p.id for p in lapsed(rows, case, case_coverage(case, consents, today, age))}
        rows = [p for p in rows if p.id not in gone]
    ids = {p.user_id for p in rows}
    if case.stafettholder_id is not None:
        ids.add(case.stafettholder_id)
    return sorted(ids)


def _invite(ctx: Ctx, case: Case, key: str | int, change: str, on: date,
            meeting_id: int | None) -> list[int]:
    return emit(ctx, Event.MEETING_INVITATION, meeting_invitee_ids(ctx, case), key=key,
                case_id=case.id, details={"case_id": case.id, "meeting_id": meeting_id,
                                          "change": change, "on": on.isoformat(),
                                          "sequence": case.version})


def _newest_meetings(ctx: Ctx, case: Case, limit: int) -> list[tuple[int, date, date | None]]:
    return [(r[0], r[1], r[2]) for r in ctx.session.execute(
        select(Meeting.id, Meeting.held_on, Meeting.next_meeting_on)
        .where(Meeting.case_id == case.id).order_by(Meeting.id.desc()).limit(limit))]


def meeting_recorded(ctx: Ctx, case: Case, meeting_id: int) -> list[int]:
    """A meeting was recorded: invite to, move or cancel the case's planned meeting."""
    rows = _newest_meetings(ctx, case, 2)
    if not rows or rows[0][0] != meeting_id:
        return []
    _, held_on, next_on = rows[0]
    earlier = rows[1][2] if len(rows) > 1 else None
    still_to_come = earlier is not None and earlier > held_on and earlier >= ctx.today()
    planned = earlier if still_to_come else None
    if next_on is not None:
        if next_on == planned:
            return []
        return _invite(ctx, case, meeting_id, "moved" if planned else "new", next_on,
                       meeting_id)
    if planned is not None:
        return _invite(ctx, case, meeting_id, "cancelled", planned, meeting_id)
    return []


def case_closed(ctx: Ctx, case: Case) -> list[int]:
    """A closed case's meeting still to come is cancelled."""
    rows = _newest_meetings(ctx, case, 1)
    if rows and rows[0][2] is not None and rows[0][2] >= ctx.today():
        return _invite(ctx, case, f"closed-{case.id}", "cancelled", rows[0][2], rows[0][0])
    return []


def after_fire(ctx: Ctx, case: Case, step: Step, object_id: int | None, *,
               closed: bool = False) -> list[int]:
    """The notices a fired transition's effect causes (after its writes are flushed);
    ``closed``: the transition closed the case."""
    if closed:
        return case_closed(ctx, case)
    effect = step.transition.effect
    if effect == "meeting" and object_id is not None:
        return meeting_recorded(ctx, case, object_id)
    if effect == "appoint_stafettholder" and case.stafettholder_id is not None:
        return emit(ctx, Event.APPOINTED, [case.stafettholder_id], key=object_id or case.id,
                    case_id=case.id, details={"case_id": case.id})
    if effect == "add_participant":
        return emit(ctx, Event.PARTICIPANT_ADDED, [step.payload["participant"]],
                    key=object_id or case.id, case_id=case.id,
                    details={"case_id": case.id, "participant_id": object_id})
    return []
