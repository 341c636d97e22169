"""Who a case reaches: the people who can see it now (said on the receipt, so a reporter knows
where the concern went) and where a report of concern goes (the municipality's child welfare
service and its emergency service, said on the urgent page and the report form).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.vocabulary import Relation
from bti.domain.vocabulary import Role
from bti.services.cases.lifecycle import CaseAccess
from bti.services.context import Ctx

#: The order people are listed in: why they see the case, strongest first.
_ORDER = (Relation.REPORTER.value, Relation.STAFETTHOLDER.value, Relation.UNIT_LEADER.value,
          Relation.PARTICIPANT.value, Relation.HANDOVER_RECIPIENT.value)


@dataclass(frozen=True)
class Viewer:
    """One person who can see the case, and why (a ``Relation`` value)."""

    user_id: int
    name: str
    unit_name: str | None
    relation: str


def who_can_see(ctx: Ctx, access: CaseAccess) -> list[Viewer]:
    """Everyone who can see the case now through a relation: its active participants (the
    reporter, the stafettholder, services admitted by consent) and the leaders of its unit.
    Emergency access is not listed: it is granted later, and logged on its own."""
    case = access.case
    rank = {r: i for i, r in enumerate(_ORDER)}
    relation_of: dict[int, str] = {}
    for p in sorted(access.participants, key=lambda p: rank.get(p.relation, len(rank))):
        relation_of.setdefault(p.user_id, p.relation)  # the strongest relation first
    if case.stafettholder_id is not None:
        relation_of.setdefault(case.stafettholder_id, Relation.STAFETTHOLDER.value)
    leaders = ctx.session.scalars(
        select(User.id).join(UserRole, UserRole.user_id == User.id)
        .where(User.unit_id == case.unit_id, User.active.is_(True),
               User.municipality_id == case.municipality_id,
               UserRole.role == Role.LEADER.value))
    for user_id in leaders:
        relation_of.setdefault(user_id, Relation.UNIT_LEADER.value)
    if not relation_of:
        return []
    rows = ctx.session.execute(
        select(User.id, User.display_name, Unit.name).outerjoin(Unit, Unit.id == User.unit_id)
        .where(User.id.in_(relation_of), User.active.is_(True)))
    out = [Viewer(r[0], r[1], r[2], relation_of[r[0]]) for r in rows]
    return sorted(out, key=lambda v: (rank.get(v.relation, len(rank)), v.name, v.user_id))


@dataclass(frozen=True)
class BarnevernContacts:
    """The municipality's child welfare service (phone, e-mail) and its emergency service
    (barnevernvakt, outside office hours); any may be unset."""

    barnevern_phone: str | None
    barnevern_email: str | None
    barnevernvakt_phone: str | None

    def __bool__(self) -> bool:
        return bool(self.barnevern_phone or self.barnevern_email or self.barnevernvakt_phone)


def barnevern_contacts(ctx: Ctx) -> BarnevernContacts:
    """The actor's municipality's child welfare contacts (a setting: ``bti municipality set``)."""
    m = ctx.session.get_one(Municipality, ctx.actor.municipality_id)
    return BarnevernContacts(m.barnevern_phone, m.barnevern_email, m.barnevernvakt_phone)
