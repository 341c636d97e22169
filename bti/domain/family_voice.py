"""What the family says: a comment or question to the case (``family_message``), which the
stafettholder sees as a task until they mark it answered, and a concern a guardian raises about
their own child with a unit of the municipality (``family_concern``), which reaches the unit's
leader as a new concern (``bti.services.family.voice``).

Neither row gives the family access to anything: a message is written through a redeemed link
to the case (``family_member``), and a concern belongs to the unit until its leader opens a
case from it (``case_id``), which the family is not linked to by that.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: The longest comment, question or concern the family may write (characters).
FAMILY_TEXT_MAX = 2000
#: The longest "what to call the child" and "how to reach you".
FAMILY_NAME_MAX = 60
FAMILY_CONTACT_MAX = 120


class FamilyMessage(Base):
    """A comment or question from a family member to the case: a task for the stafettholder
    until it is marked answered (by whom and when)."""

    __tablename__ = "family_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("family_member.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    def __repr__(self) -> str:
        return f"<FamilyMessage {self.id} case={self.case_id}>"


class FamilyConcern(Base):
    """A concern a signed-in guardian raised about their own child with a unit: what to call
    the child and their birth year (never an identity number), what the guardian is worried
    about, how to reach them; handled by the unit's leader (a case opened from it, or closed
    without one)."""

    __tablename__ = "family_concern"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_identity.id", ondelete="SET NULL"), index=True)
    child_name: Mapped[str] = mapped_column(String(FAMILY_NAME_MAX))
    child_birth_year: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(FAMILY_CONTACT_MAX))
    raised_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: The case the leader opened from it (None: not opened, or handled without a case).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)

    def __repr__(self) -> str:
        return f"<FamilyConcern {self.id} unit={self.unit_id}>"
