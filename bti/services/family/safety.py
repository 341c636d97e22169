"""A safety rule no setting switches off: while a case is flagged for suspected violence or
abuse, no guardian has any access to it. Flagging ends every guardian's access and every open
guardian invitation at once, so lifting the flag restores nothing by itself (a new invitation is
needed). Called by the effect that sets the flag (``bti.services.cases.effects``); the family's
reads check the flag as well (``bti.domain.policy.family_may_read``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from bti.domain.cases import Case
from bti.domain.family import END_VIOLENCE_FLAG
from bti.domain.family import GUARDIAN
from bti.domain.family import FamilyMember


def end_guardians(session: Session, case: Case, now: datetime) -> int:
    """The case is flagged for suspected violence or abuse: every guardian's access and open
    guardian invitation ends at once (a safety rule; lifting the flag restores nothing)."""
    result = session.execute(
        update(FamilyMember).where(FamilyMember.case_id == case.id,
                                   FamilyMember.role == GUARDIAN,
                                   FamilyMember.ended_at.is_(None))
        .values(ended_at=now, end_reason=END_VIOLENCE_FLAG))
    return int(getattr(result, "rowcount", 0) or 0)
