"""Access outside the normal relations, and reading the access log.

* Emergency access (selvautorisering, AUTHZ-06): an employee of the municipality without a
  relation opens one case for 24 hours, giving a reason. The reason stays in
  ``EmergencyAccess``; the audit row holds only the access id. The case's unit leader(s) are
  notified.
* "Who has seen this case" (innsyn i logg, PRIV-01): the case's stafettholder and the
  municipality's privacy officer read the case's access log and export it for the family.
* Access-log search (log follow-up): leaders for cases of their own unit, the privacy officer for
  the whole municipality. Every search is itself logged.

Every read here is audited in the same transaction (AUD-02).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import EmergencyAccess
from bti.domain.clock import day_start
from bti.domain.log import AuditEvent
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.policy import access_log_scope
from bti.domain.policy import case_log_basis
from bti.domain.policy import may_review_user
from bti.domain.policy import may_self_authorise
from bti.domain.rules import EMERGENCY
from bti.domain.rules import EMERGENCY_DURATION
from bti.domain.rules import EMERGENCY_REASON_MAX
from bti.domain.rules import EMERGENCY_REASON_MIN
from bti.domain.rules import relations
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit

NOTIFICATION_KIND = Event.EMERGENCY_ACCESS.value


# --- emergency access ---------------------------------------------------------------------------


def _case_in_municipality(ctx: Ctx, case_id: int) -> Case:
    """The case, if it is in the actor's municipality; otherwise ``NotFound`` (the same answer
    as a case that does not exist). A practice case is nobody's emergency."""
    case = ctx.session.get(Case, case_id) if isinstance(case_id, int) else None
    if (case is None or case.practice or case.municipality_id != ctx.actor.municipality_id
            or not ctx.actor.active):
        raise NotFound(f"case {case_id}")
    return case


def _check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if "\x00" in text:
        raise InvalidInput({"reason": ["nul"]})
    if len(text) < EMERGENCY_REASON_MIN:
        raise InvalidInput({"reason": ["reason_too_short"]})
    if len(text) > EMERGENCY_REASON_MAX:
        raise InvalidInput({"reason": ["too_long"]})
    return text


def request_emergency_access(ctx: Ctx, case_id: int, reason: str | None) -> EmergencyAccess:
    """Grant the actor emergency access to one case for 24 hours.

    Raises ``Forbidden`` for anyone but an employee (an administrator never), ``InvalidInput``
    for a missing or short reason (checked before the case is looked up, so the answer says
    nothing about the case), and ``NotFound`` for a case that does not exist or is in another
    municipality. Nothing is written unless access is granted.
    """
    if not may_self_authorise(ctx.actor):
        raise Forbidden("emergency access is for employees only")
    text = _check_reason(reason)
    case = _case_in_municipality(ctx, case_id)
    now = ctx.now()
    grant = EmergencyAccess(case_id=case.id, user_id=ctx.actor.id, reason=text, granted_at=now,
                            expires_at=now + EMERGENCY_DURATION)
    ctx.session.add(grant)
    ctx.session.flush()
    notified = _notify_leaders(ctx, case, grant)
    # the reason is free text: it stays in EmergencyAccess, never in the audit row
    audit.record(ctx, AuditAction.CASE_EMERGENCY_ACCESS, case=case, object_type="emergency_access",
                 object_id=grant.id, basis=EMERGENCY, access_id=grant.id,
                 expires_at=grant.expires_at.isoformat(timespec="seconds"), notified=notified)
    ctx.session.flush()
    return grant


def _users_with_role(ctx: Ctx, case: Case, role: Role, *, in_unit: bool) -> list[int]:
    """Active users of the case's municipality holding ``role`` (``in_unit``: of its unit)."""
    where = [User.municipality_id == case.municipality_id, User.active.is_(True),
             UserRole.role == role.value]
    if in_unit:
        where.append(User.unit_id == case.unit_id)
    return list(ctx.session.scalars(
        select(User.id).join(UserRole, UserRole.user_id == User.id).where(*where)
        .order_by(User.id)))


def nearest_leader_ids(ctx: Ctx, case: Case) -> list[int]:
    """The case's nearest leaders: the leaders of its unit, else the municipality's leaders."""
    return (_users_with_role(ctx, case, Role.LEADER, in_unit=True)
            or _users_with_role(ctx, case, Role.LEADER, in_unit=False))


def _unit_leader_ids(ctx: Ctx, case: Case) -> list[int]:
    leaders = _users_with_role(ctx, case, Role.LEADER, in_unit=True)
    if leaders:
        return leaders
    # a unit without a leader: the privacy officer follows up instead
    return _users_with_role(ctx, case, Role.PRIVACY_OFFICER, in_unit=False)


def _notify_leaders(ctx: Ctx, case: Case, grant: EmergencyAccess) -> list[int]:
    ids = [i for i in _unit_leader_ids(ctx, case) if may_review_user(i, ctx.actor.id)]
    emit(ctx, Event.EMERGENCY_ACCESS, ids, key=grant.id, case_id=case.id,
         details={"access_id": grant.id, "user_id": ctx.actor.id,
                  "expires_at": grant.expires_at})
    return ids


# --- who has seen this case (innsyn i logg) -------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    at: datetime
    actor_id: int | None
    actor_name: str | None
    roles: tuple[str, ...]
    unit_name: str | None
    case_id: int | None
    action: str
    object_type: str | None
    object_id: int | None
    basis: str | None
    outcome: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), "user_id": self.actor_id,
                "user": self.actor_name, "roles": list(self.roles), "unit": self.unit_name,
                "case_id": self.case_id, "action": self.action, "object_type": self.object_type,
                "object_id": self.object_id, "basis": self.basis, "outcome": self.outcome}


@dataclass(frozen=True)
class GrantRow:
    id: int
    user_name: str
    granted_at: datetime
    expires_at: datetime
    reason: str


@dataclass
class CaseLog:
    case: Case
    basis: str
    rows: list[LogRow]
    grants: list[GrantRow] = field(default_factory=list)


def _load_for_case_log(ctx: Ctx, case_id: int) -> tuple[Case, str]:
    case = _case_in_municipality(ctx, case_id)
    basis = case_log_basis(ctx.actor, case.municipality_id, relations(ctx.actor, case, ()))
    if basis is None:
        raise NotFound(f"case {case_id}")
    return case, basis


def _log_rows(ctx: Ctx, stmt) -> list[LogRow]:
    rows = []
    for ev, name, unit_name in ctx.session.execute(stmt):
        rows.append(LogRow(
            at=ev.at, actor_id=ev.actor_id, actor_name=name,
            roles=tuple(r for r in ev.actor_roles.split(",") if r), unit_name=unit_name,
            case_id=ev.case_id, action=ev.action, object_type=ev.object_type,
            object_id=ev.object_id, basis=ev.basis, outcome=ev.outcome))
    return rows


def _with_names(stmt):
    return (stmt.add_columns(User.display_name, Unit.name)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .outerjoin(Unit, Unit.id == AuditEvent.unit_id))


def case_access_log(ctx: Ctx, case_id: int) -> CaseLog:
    """Who has seen or changed the case: every audit row about it, oldest first (audited)."""
    case, basis = _load_for_case_log(ctx, case_id)
    stmt = _with_names(select(AuditEvent).where(
        AuditEvent.chain == case.municipality_id, AuditEvent.case_id == case.id)
        .order_by(AuditEvent.seq))
    rows = _log_rows(ctx, stmt)
    grants = [GrantRow(g.id, name, g.granted_at, g.expires_at, g.reason)
              for g, name in ctx.session.execute(
                  select(EmergencyAccess, User.display_name)
                  .join(User, User.id == EmergencyAccess.user_id)
                  .where(EmergencyAccess.case_id == case.id).order_by(EmergencyAccess.id))]
    audit.record(ctx, AuditAction.CASE_ACCESS_LOG_VIEWED, case=case, object_type="access_log",
                 object_id=case.id, basis=basis, rows=len(rows))
    return CaseLog(case, basis, rows, grants)


def export_case_access_log(ctx: Ctx, case_id: int) -> dict[str, Any]:
    """The case's access log as a document for the family (audited as an export). Holds who,
    when, action and basis; not the child's name and not the emergency reasons (free text)."""
    case, basis = _load_for_case_log(ctx, case_id)
    stmt = _with_names(select(AuditEvent).where(
        AuditEvent.chain == case.municipality_id, AuditEvent.case_id == case.id)
        .order_by(AuditEvent.seq))
    rows = _log_rows(ctx, stmt)
    audit.record(ctx, AuditAction.CASE_ACCESS_LOG_EXPORTED, case=case, object_type="access_log",
                 object_id=case.id, basis=basis, rows=len(rows), format="json")
    return {"case_id": case.id, "exported_at": ctx.now().isoformat(timespec="seconds"),
            "entries": [r.as_json() for r in rows]}


# --- access-log search ----------------------------------------------------------------------------

PAGE_SIZE = 50


@dataclass(frozen=True)
class LogFilter:
    user_id: int | None = None
    username: str | None = None
    case_id: int | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_details(self, resolved_user_id: int | None) -> dict[str, Any]:
        """What the search is logged with: ids, the action and dates; never a name."""
        out: dict[str, Any] = {}
        if resolved_user_id is not None or self.username:
            out["filter_user_id"] = resolved_user_id
        for key in ("case_id", "action", "date_from", "date_to"):
            value = getattr(self, key)
            if value is not None:
                out[f"filter_{key}"] = value
        return out


@dataclass
class SearchResult:
    rows: list[LogRow]
    page: int
    pages: int
    total: int
    scope: str  # "municipality" | "unit"


def search_log(ctx: Ctx, flt: LogFilter, page: int = 1) -> SearchResult:
    """Rows of the actor's municipality matching ``flt``, newest first. A leader sees only rows
    about cases of their own unit; the privacy officer the whole municipality."""
    actor = ctx.actor
    scope = access_log_scope(actor)
    if scope is None:
        raise Forbidden("the access log is for leaders and the privacy officer")
    conditions = [AuditEvent.chain == actor.municipality_id]
    if scope == "unit":
        unit_cases = select(Case.id).where(Case.municipality_id == actor.municipality_id,
                                           Case.unit_id == actor.unit_id)
        conditions.append(AuditEvent.case_id.in_(unit_cases) if actor.unit_id is not None
                          else false())
    user_id = flt.user_id
    if flt.username:
        found = ctx.session.scalar(select(User.id).where(
            User.username == flt.username.strip().lower(),
            User.municipality_id == actor.municipality_id))
        # an unknown user name, or one that contradicts the user id, matches nothing
        user_id = -1 if found is None or user_id not in (None, found) else found
    if user_id is not None:
        conditions.append(AuditEvent.actor_id == user_id)
    if flt.case_id is not None:
        conditions.append(AuditEvent.case_id == flt.case_id)
    if flt.action:
        conditions.append(AuditEvent.action == flt.action)
    if flt.date_from is not None:
        conditions.append(AuditEvent.at >= day_start(flt.date_from))
    if flt.date_to is not None:
        conditions.append(AuditEvent.at < day_start(flt.date_to + timedelta(days=1)))
    total = ctx.session.scalars(
        select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    stmt = _with_names(select(AuditEvent).where(*conditions)
                       .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                       .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
    rows = _log_rows(ctx, stmt)
    resolved = None if user_id == -1 else user_id
    audit.record(ctx, AuditAction.AUDIT_SEARCHED, object_type="audit_log", basis=scope,
                 page=page, total=total, **flt.as_details(resolved))
    return SearchResult(rows, page, pages, total, scope)


def log_actions(ctx: Ctx) -> list[str]:
    """The actions that occur in the actor's municipality's log (for the search form)."""
    return list(ctx.session.scalars(
        select(AuditEvent.action).where(AuditEvent.chain == ctx.actor.municipality_id)
        .distinct().order_by(AuditEvent.action)))

