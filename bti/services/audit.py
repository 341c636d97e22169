"""The audit trail, written by services in the same transaction as what it records."""

from __future__ import annotations

from typing import Any

from bti.domain.cases import Case
from bti.domain.log import AuditEvent
from bti.domain.log import canonical_json
from bti.services.context import Ctx


def record(
    ctx: Ctx,
    action: str,
    *,
    case: Case | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    basis: str | None = None,
    outcome: str = "allowed",
    **details: Any,
) -> AuditEvent:
    """One audit row. ``details`` must hold ids, state names and triggers only: never names,
    national id numbers or free text."""
    actor = ctx.actor
    event = AuditEvent(
        at=ctx.now(),
        municipality_id=case.municipality_id if case is not None else actor.municipality_id,
        actor_id=actor.id,
        actor_roles=",".join(sorted(actor.roles)),
        unit_id=actor.unit_id,
        case_id=case.id if case is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        basis=basis,
        outcome=outcome,
        details=canonical_json({**details, **({"request_id": ctx.request_id}
                                              if ctx.request_id else {})}),
    )
    ctx.session.add(event)
    return event
