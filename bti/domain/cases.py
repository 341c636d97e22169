"""The case (sak) and everything recorded on it.

Rows here are the queryable projection of the case; the stafettlogg (``bti.domain.log``) is the
append-only record of every event. Both are written in one transaction by
``bti.services.cases.lifecycle.fire`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy import false
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.orm.util import identity_key

from bti.domain.base import Base
from bti.domain.org import Unit
from bti.domain.org import User

GENESIS_HASH = "0" * 64


class Case(Base):
    """A concern about one child, followed from holder to holder.

    The child has minimal identity: a pseudonym or initials and a birth year, never a national
    id number. A case for an expected child (pregnancy follow-up at the health station or the
    sped- og småbarnsteam) is opened with the due month instead: ``child_due_month`` is set and
    ``child_birth_year`` holds the due year, the best estimate of the birth year, so every rule
    that counts the child's age from the birth year also holds for an expected child (age 0 or
    less). ``version`` is the optimistic-lock counter; every event bumps it.
    """

    __tablename__ = "case_record"
    __table_args__ = (
        CheckConstraint("child_birth_year BETWEEN 1990 AND 2100", name="birth_year"),
        CheckConstraint("child_due_month BETWEEN 1 AND 12", name="due_month"),
        # the leaders' dashboards (bti.services.analytics.dashboard): open cases by level and stuck
        # cases
        Index("ix_case_record_open_state", "municipality_id", "closed_at",
              "workflow_definition_id", "state", "level_entered_at", "unit_id"),
        Index("ix_case_record_open_activity", "municipality_id", "closed_at",
              "last_activity_at", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    workflow_definition_id: Mapped[int] = mapped_column(ForeignKey("workflow_definition.id"))
    state: Mapped[str] = mapped_column(String(60), index=True)
    child_pseudonym: Mapped[str] = mapped_column(String(60))
    child_birth_year: Mapped[int]
    #: The due month (1–12, of the year ``child_birth_year``) when the case was opened for an
    #: expected child; None for a child already born.
    child_due_month: Mapped[int | None]
    violence_flag: Mapped[bool] = mapped_column(default=False)
    home_informed_on: Mapped[date | None]
    stafettholder_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    #: When the case entered its current level (starts the level's decision deadline).
    level_entered_at: Mapped[datetime]
    #: Time of the newest stafettlogg entry.
    last_activity_at: Mapped[datetime]
    #: Sequence number and hash of the newest stafettlogg entry (the chain head).
    log_seq: Mapped[int] = mapped_column(default=0)
    log_head: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    version: Mapped[int] = mapped_column(nullable=False)
    #: A practice case (øvingssak, issue 18 §3): a fictional case a new employee walks through
    #: the workflow in a sandbox. Set only when the case is opened and never changed; only its
    #: opener sees it, no notice leaves it, and every query of cases leaves it out unless it
    #: asks for it (``include_practice``, see ``_practice_hidden`` below).
    practice: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: When the owner deleted their practice case: gone for them at once (no relation to it
    #: any more), its rows purged by the next purge run (which has the rights to delete).
    practice_discarded_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}

    @validates("practice")
    def _practice_fixed(self, key: str, value: bool) -> bool:
        if self.id is not None and bool(value) != bool(self.practice):
            raise ValueError("a case's practice flag is set when it is opened, never changed")
        return bool(value)

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    stafettholder: Mapped[User | None] = relationship(foreign_keys=[stafettholder_id])

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.state} v{self.version}>"


#: The execution option that lets a statement see practice cases (the sandbox's own queries:
#: the case's access check, the practice list, the purge, the chain checks).
INCLUDE_PRACTICE = "include_practice"


@event.listens_for(Session, "do_orm_execute")
def _practice_hidden(state: ORMExecuteState) -> None:
    """Practice cases are left out of every ORM query of cases (lists, leader views, the
    dashboards and their exports, the calendar feed, scans, team agendas, transfers …), so a
    panel added tomorrow cannot count them by forgetting a filter. Only a statement with the
    execution option ``include_practice`` sees them; loads of a row already found (a
    relationship or a column) are left alone."""
    if (state.is_select and not state.is_column_load and not state.is_relationship_load
            and not state.execution_options.get(INCLUDE_PRACTICE, False)):
        state.statement = state.statement.options(with_loader_criteria(
            Case, lambda cls: cls.practice.is_(False), include_aliases=True))


def practice_case_ids(session: Session, case_ids: Iterable[int]) -> set[int]:
    """Which of ``case_ids`` are practice cases: from the cases the session already holds
    (no statement, the hot path of a transition's notice), else one query for the rest."""
    found: set[int] = set()
    unknown: list[int] = []
    for case_id in case_ids:
        held = session.identity_map.get(identity_key(Case, case_id))
        if held is None:
            unknown.append(case_id)
        elif held.practice:
            found.add(case_id)
    if unknown:
        found.update(session.scalars(
            select(Case.id).where(Case.id.in_(sorted(unknown)), Case.practice.is_(True))
            .execution_options(**{INCLUDE_PRACTICE: True})))
    return found


class CaseUnitPeriod(Base):
    """One stretch of a case's life in one unit (gode overgangar: barnehage → skule →
    vidaregåande). Written only when a case moves: the first move closes the period of the unit
    it was opened in (from ``opened_at``) and opens the receiving unit's; a case that never
    moved has no rows and lived in ``Case.unit_id`` all along. ``to_at`` is None for the
    current unit. ``consent_id`` is the guardians' consent to the transfer, recorded with the
    move that began the period."""

    __tablename__ = "case_unit_period"
    __table_args__ = (Index("ix_case_unit_period_case_from", "case_id", "from_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    from_at: Mapped[datetime]
    to_at: Mapped[datetime | None]
    #: The stafettlogg seq of the move that began the period (0 for the unit it was opened
    #: in): events of the log are placed by it, not by their time, which may be the same.
    from_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Who moved the case into the unit (None on the first period: it was opened there).
    moved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id"))


class Participant(Base):
    """A person's relation to a case: reporter, stafettholder or participant (a service)."""

    __tablename__ = "case_participant"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    relation: Mapped[str] = mapped_column(String(30))
    task: Mapped[str | None] = mapped_column(String(200))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id"))
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))


class Consent(Base):
    """Samtykke: given, refused or withdrawn; scoped to services, information and time."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # given | refused | withdrawn
    given_by: Mapped[str] = mapped_column(String(20))  # guardians | youth | guardians_and_youth
    information: Mapped[str | None] = mapped_column(Text)
    consent_form: Mapped[str | None] = mapped_column(String(20))  # written | oral
    given_on: Mapped[date | None]
    expires_on: Mapped[date | None]
    withdrawn_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    #: How it reached the case: NULL when staff recorded it, ``family`` when the guardian or
    #: the young person gave, refused or withdrew it on the family page (``recorded_by_id`` is
    #: then the stafettholder who receives it on the case).
    channel: Mapped[str | None] = mapped_column(String(20))
    #: The family member's identity (``external_identity``) who gave or refused it there.
    given_by_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_identity.id", ondelete="SET NULL"))
    #: The identity who withdrew it on the family page (NULL: staff recorded the withdrawal).
    withdrawn_by_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_identity.id", ondelete="SET NULL"))

    services: Mapped[list[ConsentService]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def unit_ids(self) -> frozenset[int]:
        return frozenset(s.unit_id for s in self.services)


class ConsentService(Base):
    __tablename__ = "consent_service"
    __table_args__ = (UniqueConstraint("consent_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))


class Concern(Base):
    """Bekymring: what was seen or heard, since when, what the child said, who else knows."""

    __tablename__ = "concern"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    what_seen: Mapped[str] = mapped_column(Text)
    since: Mapped[str | None] = mapped_column(String(200))
    earlier_concerns: Mapped[str | None] = mapped_column(Text)
    child_said: Mapped[str | None] = mapped_column(Text)
    who_knows: Mapped[str | None] = mapped_column(Text)
    violence_suspected: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class Goal(Base):
    __tablename__ = "goal"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(30))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class Measure(Base):
    """Tiltak: every measure has a responsible person, a start date and an evaluation date."""

    __tablename__ = "measure"

    __table_args__ = (
        # the dashboards' overdue evaluations (bti.services.analytics.dashboard)
        Index("ix_measure_active_due", "status", "evaluate_by", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    responsible_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    start_date: Mapped[date]
    evaluate_by: Mapped[date] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20))  # active | evaluated | stopped
    level: Mapped[str] = mapped_column(String(30))  # the level it was started at
    setting: Mapped[str | None] = mapped_column(String(40))
    goal_text: Mapped[str | None] = mapped_column(Text)
    #: The measure of the municipality's catalogue (tiltaksoversikt) it was chosen from, if any.
    catalogue_id: Mapped[int | None] = mapped_column(ForeignKey("measure_catalogue.id"),
                                                     index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Evaluation(Base):
    """Evaluering: the measures' effect, the child's voice (or why the child was not heard),
    and the outcome."""

    __tablename__ = "evaluation"
    __table_args__ = (
        CheckConstraint(
            "child_said IS NOT NULL OR child_not_heard_reason IS NOT NULL", name="child_voice"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    level: Mapped[str] = mapped_column(String(30))
    effect: Mapped[str] = mapped_column(String(30))
    child_voice_method: Mapped[str] = mapped_column(String(40))
    child_said: Mapped[str | None] = mapped_column(Text)
    child_not_heard_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(30))
    notes: Mapped[str | None] = mapped_column(Text)
    evaluated_on: Mapped[date]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]

    measure_links: Mapped[list[EvaluationMeasure]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class EvaluationMeasure(Base):
    __tablename__ = "evaluation_measure"
    __table_args__ = (UniqueConstraint("evaluation_id", "measure_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measure.id"), index=True)


class Meeting(Base):
    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    held_on: Mapped[date]
    attendees: Mapped[str | None] = mapped_column(Text)
    minutes: Mapped[str | None] = mapped_column(Text)
    next_meeting_on: Mapped[date | None]
    team: Mapped[str | None] = mapped_column(String(40))
    child_voice_method: Mapped[str | None] = mapped_column(String(40))
    child_said: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


#: What a handover hands over: the baton (``stafett``) or the case to an individual plan
#: (``ip``: the new holder becomes the IP's coordinator and the case continues on nivå 3).
HANDOVER_STAFETT = "stafett"
HANDOVER_IP = "ip"


class Handover(Base):
    """Overføring av stafettpinnen: proposed, then accepted or declined by the new holder, or
    withdrawn by its proposer or the stafettholder (cancelled: the recipient lost access).

    A handover to an individual plan (``purpose`` ``ip``) names a person (``to_user_id``) or the
    coordinating unit (``to_unit_id``, koordinerande eining): then its leaders and coordinators
    are the recipients, any one of them answers, and ``to_user_id`` is set to the one who
    accepted."""

    __tablename__ = "handover"

    __table_args__ = (
        # the dashboards' handovers not answered (bti.services.analytics.dashboard)
        Index("ix_handover_status_case", "status", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: The coordinating unit a handover to an individual plan names (instead of a person).
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    purpose: Mapped[str] = mapped_column(String(20), default=HANDOVER_STAFETT,
                                         server_default=HANDOVER_STAFETT)
    # proposed | accepted | declined | withdrawn | cancelled
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    #: Who proposed it (the stafettholder or a leader); None on rows from before it was kept.
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: The holder chose to stay on as a participant once the handover is accepted.
    holder_stays: Mapped[bool] = mapped_column(default=False, server_default=false())
    decline_reason: Mapped[str | None] = mapped_column(Text)
    proposed_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class IndividualPlan(Base):
    """Individuell plan (IP): the case became an IP case when a handover to an individual plan
    was accepted (``handover_id``), and continues on nivå 3 with its one coordinator, a staff
    member of the ansvarsgruppe. At most one per case."""

    __tablename__ = "individual_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), unique=True)
    handover_id: Mapped[int | None] = mapped_column(ForeignKey("handover.id"))
    started_at: Mapped[datetime]
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)


#: Kinds of ansvarsgruppe members: staff (a user of the municipality) and, by name only (never an
#: identity number), the guardians and the child.
MEMBER_STAFF = "staff"
MEMBER_GUARDIAN = "guardian"
MEMBER_CHILD = "child"
MEMBER_KINDS = (MEMBER_STAFF, MEMBER_GUARDIAN, MEMBER_CHILD)


class AnsvarsgruppeMember(Base):
    """A member of an IP case's ansvarsgruppe. Staff are users (their access to the case is a
    participant relation, within what the consent covers); guardians and the child are named
    only. The coordinator is ``IndividualPlan.coordinator_id``, one of the staff members."""

    __tablename__ = "ansvarsgruppe_member"
    __table_args__ = (
        CheckConstraint("kind IN ('staff', 'guardian', 'child')", name="kind"),
        CheckConstraint("(kind = 'staff') = (user_id IS NOT NULL)", name="staff_is_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: A guardian's or the child's name (staff: None, the user's name is shown).
    name: Mapped[str | None] = mapped_column(String(120))
    #: What they do in the group (for example "kontaktlærer", "mor").
    role_text: Mapped[str | None] = mapped_column(String(120))
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class AnsvarsgruppeMeeting(Base):
    """A meeting of the ansvarsgruppe (date, place) with its minutes; the minutes are also a
    stafettlogg entry (``log_seq``)."""

    __tablename__ = "ansvarsgruppe_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    held_on: Mapped[date]
    place: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[str] = mapped_column(Text)
    log_seq: Mapped[int]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


#: The stages of barnevernet's feedback on a report of concern. Barnevernet confirms receipt
#: to the reporter within three weeks (the workflow's ``barnevern_feedback_days``); a public
#: reporter is also told whether an investigation (undersøkelse) was opened or the report was
#: closed without one (henlagt), and again when the investigation ends. ``none_received`` is
#: the reporter's own record that nothing came by the deadline.
FEEDBACK_RECEIPT_CONFIRMED = "receipt_confirmed"
FEEDBACK_INVESTIGATION_OPENED = "investigation_opened"
FEEDBACK_NO_INVESTIGATION = "no_investigation"
FEEDBACK_INVESTIGATION_CLOSED = "investigation_closed"
FEEDBACK_NONE_RECEIVED = "none_received"
FEEDBACK_STAGES = (FEEDBACK_RECEIPT_CONFIRMED, FEEDBACK_INVESTIGATION_OPENED,
                   FEEDBACK_NO_INVESTIGATION, FEEDBACK_INVESTIGATION_CLOSED,
                   FEEDBACK_NONE_RECEIVED)
#: Stages barnevernet gives: the first of them answers the report (meets or misses the
#: deadline ``feedback_expected_by``).
FEEDBACK_FROM_BARNEVERN = frozenset(FEEDBACK_STAGES) - {FEEDBACK_NONE_RECEIVED}
#: Stages that conclude the report: no further feedback is awaited.
FEEDBACK_CONCLUDING = frozenset({FEEDBACK_NO_INVESTIGATION, FEEDBACK_INVESTIGATION_CLOSED})


class BarnevernReport(Base):
    """A report of concern to barnevernet (opplysningsplikt) or an averting action
    (avvergeplikt), with the feedback barnevernet owes the reporter.

    Every stage of the feedback is a ``BarnevernFeedback`` row (and a stafettlogg entry); two
    columns here project them for the dashboards and the deadlines:

    - ``feedback_received_on``: the date of barnevernet's first feedback, whatever its stage.
      Until then the report is *unanswered*, and *overdue* once ``feedback_expected_by`` (the
      legal three weeks) has passed. The reporter's ``none_received`` does not answer it.
    - ``concluded_on``: the date of the concluding feedback (``no_investigation`` or
      ``investigation_closed``). Until then the report *awaits feedback*: the guard
      ``has_report_awaiting_feedback`` and the dashboards' "awaiting" mean exactly this.
    """

    __tablename__ = "barnevern_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # report | avverge
    sent_on: Mapped[date]
    sent_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reported_to: Mapped[str] = mapped_column(String(30))  # barnevern | police | other
    grounds: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    feedback_expected_by: Mapped[date | None] = mapped_column(index=True)
    feedback_received_on: Mapped[date | None]
    concluded_on: Mapped[date | None]
    created_at: Mapped[datetime]
    #: The nearest leader recorded that the reporter was offered a debrief (the fact only).
    debrief_recorded_at: Mapped[datetime | None]
    debrief_recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class BarnevernFeedback(Base):
    """One stage of barnevernet's feedback on a report (``FEEDBACK_STAGES``), with its date:
    when the letter or call came, or, for ``none_received``, when the reporter noted that
    nothing had come by the deadline. Each stage at most once per report."""

    __tablename__ = "barnevern_feedback"
    __table_args__ = (
        UniqueConstraint("report_id", "stage"),
        CheckConstraint("stage IN ('receipt_confirmed', 'investigation_opened', "
                        "'no_investigation', 'investigation_closed', 'none_received')",
                        name="stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("barnevern_report.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    stage: Mapped[str] = mapped_column(String(30))
    received_on: Mapped[date]
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class EmergencyAccess(Base):
    """Selvautorisering: a user without a relation opens one case for a limited time, giving a
    reason. Logged with its basis; the unit leader is notified."""

    __tablename__ = "emergency_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Notification(Base):
    """Something a user must act on or know: a consent about to expire, an emergency access to a
    case in their unit. ``details`` holds ids only, never names or free text."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: Same key twice is one notification (for example one warning per consent).
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class CaseArchive(Base):
    """An archive package of a closed case (PRIV-02): its JSON export, its PDF and a manifest
    written to the archive folder, the stand-in for the municipality's archive or the pupil file
    (a Noark 5 export is out of scope). ``sha256`` is the manifest's hash; the manifest holds the
    hash of each file. ``verified_at`` is set once the files were read back and matched. A case is
    purged only after a verified archive newer than its last activity; the row goes with the case
    (its hash is kept in the ``case_purge`` tombstone)."""

    __tablename__ = "case_archive"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    archived_at: Mapped[datetime]
    sha256: Mapped[str] = mapped_column(String(64))
    #: The package's folder.
    path: Mapped[str] = mapped_column(String(500))
    verified_at: Mapped[datetime | None]
