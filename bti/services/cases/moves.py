"""Cases that move (issue 15, section 4): between units of a municipality (gode overgangar:
barnehage → skule → vidaregåande) and, through a signed transfer bundle, to another
municipality (``bti.services.privacy.transfer``).

A move is the workflow's ``move_unit`` transition (effect ``unit_moved``,
``bti.services.cases.effects``): the guardians' consent to the transfer is recorded as a consent
covering the receiving unit, the case's unit changes, and ``case_unit_period`` keeps the
history, so the leader views and the analytics count the case in the unit it was in on each
day (``unit_at``). Access follows the existing rules (``bti.domain.rules``): the sending unit's
leader loses the ``unit_leader`` relation with the unit; the sending unit's reporter, holder and
proposed holder relations end; its participants stay only where a current consent covers their
service (as any other service's participants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import CaseUnitPeriod
from bti.domain.org import Unit
from bti.domain.org import User
from bti.services.cases.ip import unit_staff
from bti.services.context import Ctx

#: Why a relation ended when its unit's case moved away.
END_REASON = "unit_moved"


def receiving_staff_ids(ctx: Ctx, municipality_id: int, unit_id: int) -> list[int]:
    """Who is told a case moved in: the active leaders and BTI coordinators of the unit (the
    same people who answer for a coordinating unit: ``ip.unit_staff``), by id."""
    return sorted(u.id for u in unit_staff(ctx, municipality_id, unit_id))


def record_move(ctx: Ctx, case: Case, to_unit_id: int, consent_id: int | None,
                now: datetime) -> CaseUnitPeriod:
    """The history of one move: the current period closed at ``now`` (the first move writes
    the period the case was opened in), the receiving unit's opened. Call before the case's
    ``unit_id`` changes."""
    current = ctx.session.scalars(
        select(CaseUnitPeriod).where(CaseUnitPeriod.case_id == case.id,
                                     CaseUnitPeriod.to_at.is_(None))).first()
    if current is None:
        ctx.session.add(CaseUnitPeriod(case_id=case.id, unit_id=case.unit_id,
                                       from_at=case.opened_at, to_at=now))
    else:
        current.to_at = now
    # the move's own stafettlogg entry is the next one (``lifecycle.fire`` appends it)
    period = CaseUnitPeriod(case_id=case.id, unit_id=to_unit_id, from_at=now,
                            from_seq=case.log_seq + 1, moved_by_id=ctx.actor.id,
                            consent_id=consent_id)
    ctx.session.add(period)
    ctx.session.flush()
    return period


@dataclass(frozen=True)
class Stretch:
    """One stretch of the case's life in a unit, as the case page shows it."""

    unit_id: int
    unit_name: str
    from_at: datetime
    to_at: datetime | None
    moved_by: str | None


def history(ctx: Ctx, case: Case) -> list[Stretch]:
    """The case's units, oldest first (empty: it never moved). Read with the case's access
    already checked and audited by the caller."""
    rows = ctx.session.execute(
        select(CaseUnitPeriod.unit_id, Unit.name, CaseUnitPeriod.from_at, CaseUnitPeriod.to_at,
               User.display_name)
        .join(Unit, Unit.id == CaseUnitPeriod.unit_id)
        .outerjoin(User, User.id == CaseUnitPeriod.moved_by_id)
        .where(CaseUnitPeriod.case_id == case.id)
        .order_by(CaseUnitPeriod.from_at, CaseUnitPeriod.id)).all()
    return [Stretch(*row) for row in rows]
