"""Team arenas: the municipality's interdisciplinary teams (IKO-team, innsatsteam, tiltaksteam,
BTI-team, hjelpetjenesten …), their members, their meetings and what is on each agenda.

A team is kept by the municipality's administrators. Its ``kind`` is one of the ``[[teams]]``
ids of the municipality's workflow file, so a referral (``referred_to`` naming that id) finds
the team. A member is a staff user; a member removed keeps the row with ``removed_at``, so
the history stays and a former member is no member. An agenda item is either a case referred
to the team (``case_id``) or a question without a case (anonym drøfting, "tverrfaglig
veiledning": the child's age and what is seen, never an identity). An item with no meeting
waits in the team's unscheduled queue.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: What an agenda item is: a case referred to the team, or a question without a case.
ITEM_KINDS = ("case", "question")


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("municipality_id", "name", name="uq_team_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    #: The unit whose team it is (the tiltaksteam of one school), or None: the municipality's.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    name: Mapped[str] = mapped_column(String(200))
    #: A ``[[teams]]`` id of the municipality's workflow file.
    kind: Mapped[str] = mapped_column(String(60))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Team {self.id} {self.kind}>"


class TeamMember(Base):
    __tablename__ = "team_member"
    __table_args__ = (Index("ix_team_member_user", "user_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime]
    #: Set when the administrator removes the member: from then on no member.
    removed_at: Mapped[datetime | None]


class TeamMeeting(Base):
    __tablename__ = "team_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    starts_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AgendaItem(Base):
    __tablename__ = "team_agenda_item"
    __table_args__ = (
        CheckConstraint("kind IN ('case', 'question')", name="kind"),
        CheckConstraint("(kind = 'case') = (case_id IS NOT NULL)", name="case_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    #: The meeting it is on; None: the team's unscheduled queue.
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("team_meeting.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    #: The referral's text (its reason and notes), or the question: what is seen.
    text: Mapped[str] = mapped_column(Text)
    #: A question's child's age in years (no birth date, no name).
    child_age: Mapped[int | None]
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    #: The minutes: what was decided (None: not discussed yet).
    decision: Mapped[str | None] = mapped_column(Text)
    minuted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minuted_at: Mapped[datetime | None]


class FollowUp(Base):
    """A follow-up agreed in the minutes of an agenda item: what, who and by when."""

    __tablename__ = "team_follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("team_agenda_item.id"), index=True)
    what: Mapped[str] = mapped_column(Text)
    responsible_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[date]
    done_at: Mapped[datetime | None]
