"""Mine saker: the cases a user has a relation to, most urgent first.

Listing a case shows the child's pseudonym, so every case listed is an audited read
("case.listed", one row per case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Participant
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.services import audit
from bti.services.context import Ctx


@dataclass(frozen=True)
class InboxItem:
    case: Case
    relation: str
    level: str
    state_label: dict
    level_label: dict


def my_cases(ctx: Ctx, *, include_closed: bool = False) -> list[InboxItem]:
    actor = ctx.actor
    mine = select(Participant.case_id).where(Participant.user_id == actor.id,
                                             Participant.ended_at.is_(None))
    conditions = [Case.id.in_(mine), Case.stafettholder_id == actor.id]
    if Role.LEADER.value in actor.roles and actor.unit_id is not None:
        conditions.append(Case.unit_id == actor.unit_id)
    stmt = (select(Case).where(Case.municipality_id == actor.municipality_id, or_(*conditions))
            .order_by(Case.last_activity_at.desc()))
    if not include_closed:
        stmt = stmt.where(Case.closed_at.is_(None))
    items = []
    for case in ctx.session.scalars(stmt):
        wf = ctx.workflows.for_record(ctx.session, case.workflow_definition_id).definition
        st = wf.state(case.state)
        relation = (Relation.STAFETTHOLDER.value if case.stafettholder_id == actor.id
                    else Relation.UNIT_LEADER.value if case.unit_id == actor.unit_id
                    and Role.LEADER.value in actor.roles else Relation.PARTICIPANT.value)
        audit.record(ctx, "case.listed", case=case, object_type="case", object_id=case.id,
                     basis=relation)
        items.append(InboxItem(case, relation, st.level, st.label, wf.level(st.level).label))
    return items


def today(ctx: Ctx) -> date:
    return ctx.today()
