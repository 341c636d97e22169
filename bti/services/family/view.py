"""What the family sees: their cases, and per case a plain-language page (the level, the goals
and measures and who is responsible, the next meeting, the evaluations with the child's voice,
who has seen the case) and the download of everything stored about the child (the privacy
export, ``bti.services.privacy.export``).

Access (``bti.domain.policy.family_may_read``): the signed-in identity's redeemed, not ended
link to the case; a guardian never while the case is flagged for suspected violence or abuse.
Anything else answers ``NotFound``, exactly as for a case that does not exist. Every read is
audited (``channel = "family"``) before the data is returned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.cases import Case
from bti.domain.cases import Evaluation
from bti.domain.cases import Goal
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.clock import local_date
from bti.domain.family import FamilyMember
from bti.domain.family_voice import FamilyMessage
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import family_may_read
from bti.domain.vocabulary import AuditAction
from bti.engine import Workflow
from bti.engine.definition import LevelDef
from bti.services.cases import stafettlogg
from bti.services.cases.lifecycle import CaseAccess
from bti.services.cases.overview import EntryTitle
from bti.services.cases.overview import entry_titles
from bti.services.context import Ctx
from bti.services.errors import NotFound
from bti.services.family.sessions import FamilyActor
from bti.services.family.sessions import record
from bti.services.privacy.export import build_export
from bti.services.workflows.registry import WorkflowRegistry

#: Newest rows of "who has seen this case" on the page (the export holds them all).
ACCESS_LOG_SHOWN = 200


def _links(session: Session, actor: FamilyActor, case_id: int | None = None):
    stmt = (select(FamilyMember, Case).join(Case, Case.id == FamilyMember.case_id)
            .where(FamilyMember.identity_id == actor.identity_id,
                   Case.municipality_id == actor.municipality_id)
            .order_by(FamilyMember.id))
    if case_id is not None:
        stmt = stmt.where(Case.id == case_id)
    for member, case in session.execute(stmt):
        if family_may_read(role=member.role, redeemed=member.redeemed_at is not None,
                           ended=member.ended_at is not None, violence_flag=case.violence_flag):
            yield member, case


@dataclass(frozen=True)
class CaseCard:
    case_id: int
    role: str
    level: LevelDef
    joined_at: datetime


def my_cases(session: Session, actor: FamilyActor, workflows: WorkflowRegistry, *,
             now: datetime, request_id: str | None = None) -> list[CaseCard]:
    """The cases the family member is linked to and may see (one audit row per case)."""
    out = []
    for member, case in _links(session, actor):
        definition = workflows.for_record(session, case.workflow_definition_id).definition
        record(session, AuditAction.FAMILY_CASES_LISTED, now=now,
               municipality_id=case.municipality_id, identity_id=actor.identity_id,
               case_id=case.id, object_type="case", object_id=case.id, basis=member.role,
               request_id=request_id)
        out.append(CaseCard(case.id, member.role, definition.level_of(case.state),
                            member.redeemed_at or member.invited_at))
    return out


def _member_and_case(session: Session, actor: FamilyActor, case_id: int
                     ) -> tuple[FamilyMember, Case]:
    found = next(_links(session, actor, case_id), None) if isinstance(case_id, int) else None
    if found is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    return found


#: The family member's link and the case, if they may see it (else ``NotFound``).
member_and_case = _member_and_case


@dataclass(frozen=True)
class MeasureRow:
    description: str
    responsible: str
    responsible_unit: str
    evaluate_by: date
    status: str


@dataclass(frozen=True)
class EvaluationRow:
    evaluated_on: date
    effect: str
    child_voice_method: str
    child_said: str | None
    child_not_heard_reason: str | None


@dataclass(frozen=True)
class SeenRow:
    """One row of "who has seen this case", in plain words: who (a staff member's name, their
    roles and service, or a family member by role), when, what and on which ground."""

    at: datetime
    name: str | None
    roles: tuple[str, ...]
    unit: str | None
    action: str
    basis: str | None
    family: bool


@dataclass(frozen=True)
class SharedEntry:
    """One stafettlogg entry the staff shared with the family: when, who wrote it, what happened
    (the entry's past-tense title from the workflow, else its action's label) and the free
    text written with it (a note's text, a meeting's minutes)."""

    at: datetime
    author: str
    kind: str
    title: EntryTitle | None
    label: Mapping[str, str] | None
    texts: tuple[str, ...]

    def heading(self, lang: str) -> str | None:
        return self.title.text(lang) if self.title is not None else None


#: The newest shared entries on the family's page.
SHARED_SHOWN = 200


def _shared_entries(session: Session, case: Case, workflow: Workflow) -> list[SharedEntry]:
    """The entries shared with the family, newest first; never an internal one."""
    rows = [e for e in session.scalars(
        select(StafettloggEntry).where(
            StafettloggEntry.case_id == case.id,
            StafettloggEntry.data.contains(f'"{stafettlogg.FAMILY_KEY}":true'))
        .order_by(StafettloggEntry.seq.desc()).limit(SHARED_SHOWN))
        if stafettlogg.is_shared(json.loads(e.data or "{}"))]
    if not rows:
        return []
    definition = workflow.definition
    access = CaseAccess(case, workflow, [], frozenset(), "family")
    titles = entry_titles(Ctx.system(session, workflows=None), access, rows)
    names = dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_({e.actor_id for e in rows}))).all())
    out = []
    for e in rows:
        data = json.loads(e.data or "{}")
        if e.trigger == "open":
            label: Mapping[str, str] | None = definition.opening.label
        else:
            t = workflow.transition(e.trigger, e.from_state) if e.from_state else None
            label = t.label if t else None
        texts = tuple(str(v) for k, v in data.items()
                      if isinstance(v, str) and v.strip() and k in definition.fields
                      and definition.fields[k].type == "textarea")
        out.append(SharedEntry(e.at, names.get(e.actor_id, ""), e.kind, titles.get(e.seq),
                               label, texts))
    return out


@dataclass(frozen=True)
class MessageSent:
    """A comment or question the family member wrote: received (when), and answered (when)."""

    id: int
    text: str
    sent_at: datetime
    answered_at: datetime | None


def _messages(session: Session, member: FamilyMember) -> list[MessageSent]:
    return [MessageSent(m.id, m.text, m.sent_at, m.answered_at) for m in session.scalars(
        select(FamilyMessage).where(FamilyMessage.member_id == member.id)
        .order_by(FamilyMessage.id.desc()))]


@dataclass(frozen=True)
class FamilyCase:
    case_id: int
    role: str
    level: LevelDef
    goals: list[str]
    measures: list[MeasureRow]
    next_meeting: date | None
    evaluations: list[EvaluationRow]
    seen: list[SeenRow]
    #: The stafettlogg entries shared with the family, newest first.
    shared: list[SharedEntry] = field(default_factory=list)
    #: The family member's own comments and questions to the case, newest first.
    messages: list[MessageSent] = field(default_factory=list)


def case_page(session: Session, actor: FamilyActor, case_id: int, workflows: WorkflowRegistry,
              *, now: datetime, request_id: str | None = None) -> FamilyCase:
    """The family's page of one case (audited as ``family.case_viewed``)."""
    member, case = _member_and_case(session, actor, case_id)
    workflow = workflows.for_record(session, case.workflow_definition_id)
    definition = workflow.definition
    goals = list(session.scalars(select(Goal.text).where(Goal.case_id == case.id)
                                 .order_by(Goal.id)))
    measures = [MeasureRow(m.description, name, unit or "", m.evaluate_by, m.status)
                for m, name, unit in session.execute(
                    select(Measure, User.display_name, Unit.name)
                    .join(User, User.id == Measure.responsible_id)
                    .outerjoin(Unit, Unit.id == User.unit_id)
                    .where(Measure.case_id == case.id).order_by(Measure.id))]
    today = local_date(now)
    upcoming = [d for d in session.scalars(select(Meeting.next_meeting_on).where(
        Meeting.case_id == case.id, Meeting.next_meeting_on.is_not(None)))
        if d is not None and d >= today]
    evaluations = [EvaluationRow(e.evaluated_on, e.effect, e.child_voice_method, e.child_said,
                                 e.child_not_heard_reason)
                   for e in session.scalars(select(Evaluation).where(
                       Evaluation.case_id == case.id).order_by(Evaluation.evaluated_on))]
    record(session, AuditAction.FAMILY_CASE_VIEWED, now=now,
           municipality_id=case.municipality_id, identity_id=actor.identity_id,
           case_id=case.id, object_type="case", object_id=case.id, basis=member.role,
           request_id=request_id)
    return FamilyCase(case.id, member.role, definition.level_of(case.state), goals, measures,
                      min(upcoming) if upcoming else None, evaluations,
                      _seen(session, case), _shared_entries(session, case, workflow),
                      _messages(session, member))


def _seen(session: Session, case: Case) -> list[SeenRow]:
    rows = session.execute(
        select(AuditEvent, User.display_name, Unit.name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .outerjoin(Unit, Unit.id == AuditEvent.unit_id)
        .where(AuditEvent.chain == case.municipality_id, AuditEvent.case_id == case.id)
        .order_by(AuditEvent.seq.desc()).limit(ACCESS_LOG_SHOWN))
    out = []
    for ev, name, unit in rows:
        family = '"channel":"family"' in ev.details.replace(" ", "")
        out.append(SeenRow(ev.at, name, tuple(r for r in ev.actor_roles.split(",") if r), unit,
                           ev.action, ev.basis, family))
    return out


def export(session: Session, actor: FamilyActor, case_id: int, *, now: datetime,
           request_id: str | None = None) -> dict[str, Any]:
    """Everything stored about the child, on the family's own request (GDPR art. 15): the
    same export the stafettholder and the privacy officer give, audited as ``case.exported``
    with ``channel = "family"``."""
    member, case = _member_and_case(session, actor, case_id)
    doc = build_export(session, case, now)
    record(session, AuditAction.CASE_EXPORTED, now=now, municipality_id=case.municipality_id,
           identity_id=actor.identity_id, case_id=case.id, object_type="case_export",
           object_id=case.id, basis=member.role, request_id=request_id, format="json")
    return doc
