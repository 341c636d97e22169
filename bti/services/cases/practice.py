"""Practice mode (øvingsmodus, issue 18 §3): a new employee walks a fictional case through the
municipality's workflow in a sandbox.

A practice case is an ordinary case row with ``practice`` set when it is opened (never
changed), so it runs on the same engine, the same workflow version and the same action pages
as a real one: the employee learns the real steps. The sandbox is kept by four rules:

- only its opener has a relation to it (``bti.domain.rules.relations``): a leader, a colleague
  named in it or an emergency access gets the 404 of a case that does not exist;
- every ORM query of cases leaves it out unless it asks for it (``bti.domain.cases.
  INCLUDE_PRACTICE``): the inbox, the leader's views, the dashboards and their exports, the
  calendar feed, the scans, the team agendas, the transfers and the privacy export never see it;
- no notice is written for it (``bti.services.notify.outbox.emit_many``), no aggregate counted
  (``lifecycle.fire``), and a step that would reach another person or service (a handover, a
  participant, a referral, a move) is refused there (``lifecycle.PRACTICE_OUTSIDE``);
- it is purged ``PRACTICE_KEEP_DAYS`` after it was opened (``bti.services.privacy.purge``),
  and one its owner deleted (``delete``) is gone for them at once and purged at the next run.

The first time the owner brings a practice case to a closing state is kept on the user
(``User.practice_completed_at``), for the leader's list of who has done it (``completions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bti.domain.cases import INCLUDE_PRACTICE
from bti.domain.cases import Case
from bti.domain.org import User
from bti.domain.policy import may_see_practice_progress
from bti.domain.policy import works_on_cases
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.cases import lifecycle
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import NotFound
from bti.services.privacy.purge import PRACTICE_KEEP_DAYS

#: The fictional child of every practice case (a made-up name, as the fixtures use).
PSEUDONYM = "Øvebarn"
#: The fictional child's age when the practice case is opened.
CHILD_AGE = 8

__all__ = ["PRACTICE_KEEP_DAYS", "Completion", "PracticeCase", "completions", "delete",
           "mine", "start_or_continue"]


@dataclass(frozen=True)
class PracticeCase:
    id: int
    state: str
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Completion:
    """One member of the leader's unit and when they first completed a practice case."""

    user_id: int
    display_name: str
    completed_at: datetime | None


def _own(ctx: Ctx, *, open_only: bool = False) -> list[Case]:
    where = [Case.practice.is_(True), Case.opened_by_id == ctx.actor.id,
             Case.municipality_id == ctx.actor.municipality_id,
             Case.practice_discarded_at.is_(None)]
    if open_only:
        where.append(Case.closed_at.is_(None))
    return list(ctx.session.scalars(
        select(Case).where(*where).order_by(Case.opened_at.desc(), Case.id.desc())
        .execution_options(**{INCLUDE_PRACTICE: True})))


def mine(ctx: Ctx) -> list[PracticeCase]:
    """The actor's own practice cases, newest first (an audited read)."""
    if not works_on_cases(ctx.actor):
        raise Forbidden("practice")
    cases = _own(ctx)
    audit.record(ctx, AuditAction.PRACTICE_LISTED, object_type="practice", count=len(cases))
    return [PracticeCase(c.id, c.state, c.opened_at, c.closed_at) for c in cases]


def start_or_continue(ctx: Ctx, *, what_seen: str) -> tuple[int, bool]:
    """The actor's open practice case (the newest), or a new one opened with the fictional
    child and ``what_seen`` as the concern: (case id, whether it was opened now)."""
    if not works_on_cases(ctx.actor):
        raise Forbidden("practice")
    current = _own(ctx, open_only=True)
    if current:
        return current[0].id, False
    result = lifecycle.open_case(
        ctx, unit_id=ctx.actor.unit_id, child_pseudonym=PSEUDONYM,
        child_birth_year=ctx.today().year - CHILD_AGE, concern={"what_seen": what_seen},
        practice=True)
    return result.case.id, True


def delete(ctx: Ctx, case_id: int) -> None:
    """The owner deletes their practice case: gone for them at once (no relation to it any
    more), its rows and stafettlogg removed by the next purge run (which has the rights to
    delete; the tombstone and the audit rows stay). Any other case answers ``NotFound``."""
    access = lifecycle._load(ctx, case_id, for_update=True)
    case = access.case
    if not case.practice or case.opened_by_id != ctx.actor.id:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    audit.record(ctx, AuditAction.PRACTICE_DELETED, case=case, object_type="case",
                 object_id=case.id, basis=access.basis)
    case.practice_discarded_at = ctx.now()
    ctx.session.flush()


def completions(ctx: Ctx) -> list[Completion]:
    """The active staff of the leader's unit and when each first completed a practice case
    (None: not yet), those who have not first, then by name. Reads no case."""
    actor = ctx.actor
    if not may_see_practice_progress(actor):
        raise Forbidden("practice progress")
    users = ctx.session.scalars(
        select(User).where(User.municipality_id == actor.municipality_id,
                           User.unit_id == actor.unit_id, User.active.is_(True)))
    out = [Completion(u.id, u.display_name, u.practice_completed_at) for u in users]
    out.sort(key=lambda c: (c.completed_at is not None, c.display_name.casefold(), c.user_id))
    audit.record(ctx, AuditAction.PRACTICE_PROGRESS_VIEWED, object_type="unit",
                 object_id=actor.unit_id, count=len(out))
    return out
