"""The family as a participant: a guardian or the young person signed in through the
municipality's family provider (ID-porten), in a session of their own, linked to a case by an
invitation they redeemed (``bti.services.family``).

A family member is an ``external_identity`` without a staff account (``user_id`` NULL); the
person is recognised by the HMAC of the provider's ``pid`` claim only, never the number itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: The roles a family member has on a case.
GUARDIAN = "guardian"
YOUTH = "youth"
FAMILY_ROLES = (GUARDIAN, YOUTH)

#: Why a family member's access ended.
END_BY_STAFF = "staff"
END_VIOLENCE_FLAG = "violence_flag"
END_BY_YOUTH = "youth"


class FamilySession(Base):
    """A family member's signed-in session: like ``user_session`` (the browser holds a random
    token, the table its SHA-256), but for an identity, never a staff account, so a family
    session can never reach a staff page and a staff session never a family page."""

    __tablename__ = "family_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("external_identity.id", ondelete="CASCADE"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(30))

    def __repr__(self) -> str:
        return f"<FamilySession {self.id}>"


class FamilyMember(Base):
    """An invitation to a case and, once redeemed, the family member's access to it: the role
    (guardian or the young person), the one-time code (its SHA-256 only), when it expires, who
    redeemed it (the identity) and when, and when and why the access ended."""

    __tablename__ = "family_member"
    __table_args__ = (CheckConstraint("role IN ('guardian', 'youth')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    #: SHA-256 (hex) of the normalised invitation code; the code itself is shown once.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    invited_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_identity.id", ondelete="SET NULL"), index=True)
    redeemed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: ``staff`` (with ``end_note``), ``violence_flag`` or ``youth``.
    end_reason: Mapped[str | None] = mapped_column(String(30))
    end_note: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<FamilyMember {self.id} case={self.case_id} {self.role}>"
