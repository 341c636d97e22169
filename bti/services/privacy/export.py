"""The case export (innsyn, GDPR art. 15, PRIV-01): what it holds, who may have it, and the
export itself. The archive package is ``archive``, the purge ``purge``.

Export
    ``export_case`` gives every row linked to the case: the case, its concerns, goals, measures,
    evaluations (and their measure links), meetings, notes, consents (and their services),
    participants (with names and units), handovers, reports to barnevernet, emergency accesses
    (with the reason given), notifications about it, its archive packages, the full stafettlogg
    and the case's access log (who, role, unit, when, action, basis, outcome). Staff members
    referred to anywhere are listed once under ``people`` with their name and unit. The case's
    stafettholder and the municipality's privacy officer may export; everyone else gets
    ``NotFound`` (the same answer as for a case that does not exist). Every export is audited as
    ``case.exported`` with its format. ``pdf_bytes`` and ``json_bytes`` write it
    (``bti.render``).

    Redaction: ``REDACTIONS`` maps ``table.column`` to the rule that exempts it from disclosure.
    It is empty: domain.md names no exempt field (the emergency-access reason is disclosed on
    purpose, it is the family's to see). Exemptions such as information about a third party
    (forvaltningsloven § 19, offentleglova) are a legal decision per case; when a municipality
    decides on a standing rule it goes here, and the export replaces the value with
    ``{"redacted": rule}`` and lists it under ``redactions`` (tests/services/test_privacy.py).
    The access log leaves out the audit row's ``details`` (request ids) and hash columns: they
    describe the log, not the family.

The foreign-key walk (``linked_conditions``) finds every row linked to a case by walking
``Base.metadata``; the export reads those rows and the purge deletes them.

Actors: an export, archive or purge run from the command line or a job has no user. Its audit
rows have ``actor_id`` NULL, empty roles and ``details`` ``{"via": "cli"}`` (or ``"job"``), in
the case's municipality's chain (``_system_audit``).
"""

from __future__ import annotations

import json
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.base import Base
from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Concern
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Goal
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Note
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.family import FamilyMember
from bti.domain.family_voice import FamilyConcern
from bti.domain.family_voice import FamilyMessage
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.domain.notifications import NotificationDelivery
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import unit_reaches
from bti.domain.policy import export_basis
from bti.domain.rules import relations
from bti.domain.teams import AgendaItem
from bti.domain.teams import FollowUp
from bti.domain.vocabulary import AuditAction
from bti.render import jsonfile
from bti.render import pdf
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound

EXPORT_FORMAT = "bti-case-export"
EXPORT_VERSION = 1
FORMATS = ("json", "pdf")

#: ``table.column`` → the rule that exempts it from the family's export. Empty: see the module
#: docstring (domain.md names no exempt field).
REDACTIONS: dict[str, str] = {}

#: Columns that are credentials, not information about the family: never exported (the hash of
#: an invitation's one-time code would only help someone guess it).
NOT_EXPORTED = frozenset({"family_member.code_hash"})

#: Export section for each table linked to a case, in the order the PDF shows them. The case
#: itself is the section "case". A table linked to ``case_record`` that is missing here fails
#: tests/services/test_privacy.py.
# Each model has an integer ``id`` and a case link (``linked_conditions``); no common base says so.
SECTIONS: dict[str, tuple[str, type[Any]]] = {
    "concern": ("concerns", Concern),
    "goal": ("goals", Goal),
    "measure": ("measures", Measure),
    "evaluation": ("evaluations", Evaluation),
    "evaluation_measure": ("evaluation_measures", EvaluationMeasure),
    "meeting": ("meetings", Meeting),
    "note": ("notes", Note),
    "consent": ("consents", Consent),
    "consent_service": ("consent_services", ConsentService),
    "case_participant": ("participants", Participant),
    "handover": ("handovers", Handover),
    "case_unit_period": ("unit_periods", CaseUnitPeriod),
    "barnevern_report": ("barnevern_reports", BarnevernReport),
    "barnevern_feedback": ("barnevern_feedback", BarnevernFeedback),
    "emergency_access": ("emergency_accesses", EmergencyAccess),
    "notification": ("notifications", Notification),
    "notification_delivery": ("notification_deliveries", NotificationDelivery),
    "case_archive": ("archives", CaseArchive),
    "team_agenda_item": ("team_agenda_items", AgendaItem),
    "team_follow_up": ("team_follow_ups", FollowUp),
    "family_member": ("family_members", FamilyMember),
    "family_message": ("family_messages", FamilyMessage),
    "family_concern": ("family_concerns", FamilyConcern),
    "stafettlogg_entry": ("stafettlogg", StafettloggEntry),
    "individual_plan": ("individual_plan", IndividualPlan),
    "ansvarsgruppe_member": ("ansvarsgruppe_members", AnsvarsgruppeMember),
    "ansvarsgruppe_meeting": ("ansvarsgruppe_meetings", AnsvarsgruppeMeeting),
}


# --- the foreign-key walk ---------------------------------------------------------------------


def linked_conditions(case_id: int) -> dict[Table, Any]:
    """For every table with a row linked to the case through foreign keys (directly or through a
    parent row), the WHERE condition that selects the case's rows. Includes ``case_record``."""
    case_t = Case.__table__
    conds: dict[Table, Any] = {case_t: case_t.c.id == case_id}
    for table in Base.metadata.sorted_tables:  # parents before children
        if table is case_t:
            continue
        parts = []
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            parent = fk.column.table
            if parent is case_t:
                parts.append(fk.parent == case_id)
            elif parent in conds:
                parts.append(fk.parent.in_(select(fk.column).where(conds[parent])))
        if parts:
            conds[table] = or_(*parts) if len(parts) > 1 else parts[0]
    return conds


def linked_counts(session: Session, case_id: int) -> dict[str, int]:
    """Rows per table linked to the case (tables with none are left out)."""
    out = {}
    for table, cond in linked_conditions(case_id).items():
        n = session.scalar(select(func.count()).select_from(table).where(cond))
        if n:
            out[table.name] = n
    return out


# --- export -----------------------------------------------------------------------------------


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _row(obj: Any, redactions: list[dict[str, Any]]) -> dict[str, Any]:
    table = obj.__table__
    out: dict[str, Any] = {}
    for col in table.columns:
        key = f"{table.name}.{col.name}"
        if key in NOT_EXPORTED:
            continue
        value = getattr(obj, col.key)
        if key in REDACTIONS and value is not None:
            out[col.name] = {"redacted": REDACTIONS[key]}
            redactions.append({"table": table.name, "id": obj.id, "column": col.name,
                               "rule": REDACTIONS[key]})
        else:
            out[col.name] = _value(value)
    return out


_USER_FKS = ("user_id", "actor_id", "created_by_id", "recorded_by_id", "responsible_id",
             "added_by_id", "sent_by_id", "from_user_id", "to_user_id", "stafettholder_id",
             "opened_by_id")


def build_export(session: Session, case: Case, now: datetime) -> dict[str, Any]:
    """The export document of one case (no access check, not audited: callers do both)."""
    redactions: list[dict[str, Any]] = []
    doc: dict[str, Any] = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "case_id": case.id,
        "exported_at": now.isoformat(timespec="seconds"),
        "case": _row(case, redactions),
    }
    conds = linked_conditions(case.id)
    user_ids: set[int] = set()
    for row in (doc["case"],):
        user_ids.update(v for k, v in row.items() if k in _USER_FKS and v is not None)
    for section, model in SECTIONS.values():
        order = model.seq if model is StafettloggEntry else model.id
        rows = [_row(obj, redactions) for obj in session.scalars(
            select(model).where(conds[model.__table__]).order_by(order))]
        for row in rows:
            user_ids.update(v for k, v in row.items() if k in _USER_FKS and isinstance(v, int))
        doc[section] = rows
    for row in doc["stafettlogg"]:  # the chained content is canonical JSON text
        row["data"] = json.loads(row["data"])
    access_log = []
    for ev, name, unit_name in session.execute(
            select(AuditEvent, User.display_name, Unit.name)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .outerjoin(Unit, Unit.id == AuditEvent.unit_id)
            .where(AuditEvent.case_id == case.id).order_by(AuditEvent.at, AuditEvent.id)):
        access_log.append({
            "at": _value(ev.at), "user_id": ev.actor_id, "user": name,
            "roles": [r for r in ev.actor_roles.split(",") if r], "unit": unit_name,
            "action": ev.action, "object_type": ev.object_type, "object_id": ev.object_id,
            "basis": ev.basis, "outcome": ev.outcome})
        if ev.actor_id is not None:
            user_ids.add(ev.actor_id)
    doc["access_log"] = access_log
    people = {}
    if user_ids:
        for uid, name, unit_name in session.execute(
                select(User.id, User.display_name, Unit.name)
                .outerjoin(Unit, Unit.id == User.unit_id)
                .where(User.id.in_(sorted(user_ids))).order_by(User.id)):
            people[str(uid)] = {"name": name, "unit": unit_name}
    doc["people"] = people
    units = {str(u.id): u.name for u in session.scalars(
        select(Unit).where(unit_reaches(case.municipality_id)))}  # and serving services
    for p in doc["participants"]:
        p["user_name"] = people.get(str(p["user_id"]), {}).get("name")
        p["unit_name"] = units.get(str(p["unit_id"])) if p["unit_id"] is not None else None
    for c in doc["consent_services"]:
        c["unit_name"] = units.get(str(c["unit_id"]))
    doc["case"]["unit_name"] = units.get(str(case.unit_id))
    doc["redactions"] = redactions
    return doc


def _export_basis(ctx: Ctx, case: Case) -> str | None:
    """The stafettholder of the case and the privacy officer of its municipality
    (``bti.domain.policy.export_basis``)."""
    return export_basis(ctx.actor, case.municipality_id, relations(ctx.actor, case, ()))


def _load_for_export(ctx: Ctx, case_id: int) -> tuple[Case, str]:
    case = ctx.session.get(Case, case_id) if isinstance(case_id, int) else None
    basis = _export_basis(ctx, case) if case is not None else None
    if case is None or basis is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    return case, basis


def may_export(ctx: Ctx, case_id: int) -> Case:
    """The case, if the actor may export it (not audited: no case data is returned but the id
    and the pseudonym shown on the export page, which ``export_page`` audits)."""
    return _load_for_export(ctx, case_id)[0]


def export_page(ctx: Ctx, case_id: int) -> Case:
    """The export page: the case (id and pseudonym) for an actor who may export it (audited)."""
    case, basis = _load_for_export(ctx, case_id)
    audit.record(ctx, AuditAction.CASE_EXPORT_PAGE_VIEWED, case=case, object_type="case",
                 object_id=case.id, basis=basis)
    return case


def export_case(ctx: Ctx, case_id: int, fmt: str = "json") -> dict[str, Any]:
    """Everything about the case, for the family (GDPR art. 15). Audited as ``case.exported``
    with the format; ``fmt`` is what the caller will render it as (json or pdf)."""
    if fmt not in FORMATS:
        raise InvalidInput({"format": ["not_allowed"]})
    case, basis = _load_for_export(ctx, case_id)
    doc = build_export(ctx.session, case, ctx.now())
    audit.record(ctx, AuditAction.CASE_EXPORTED, case=case, object_type="case_export",
                 object_id=case.id, basis=basis, format=fmt, rows=_row_total(doc))
    return doc


def export_case_as_system(session: Session, case_id: int, now: datetime, fmt: str = "json",
                          via: str = "cli") -> dict[str, Any]:
    """The export run by an operator from the command line: no user, audited with
    ``actor_id`` NULL and ``{"via": via}``."""
    if fmt not in FORMATS:
        raise InvalidInput({"format": ["not_allowed"]})
    case = session.get(Case, case_id) if isinstance(case_id, int) else None
    if case is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    doc = build_export(session, case, now)
    _system_audit(session, now, AuditAction.CASE_EXPORTED, case, via=via, object_type="case_export",
                  format=fmt, rows=_row_total(doc))
    return doc


def _row_total(doc: dict[str, Any]) -> int:
    return 1 + sum(len(doc[section]) for section, _m in SECTIONS.values())


def _system_audit(session: Session, now: datetime, action: AuditAction, case_or_ids: Any, *,
                  via: str, object_type: str | None = None, **details: Any) -> None:
    municipality_id, case_id = (
        (case_or_ids.municipality_id, case_or_ids.id) if isinstance(case_or_ids, Case)
        else case_or_ids)
    audit.record_system(session, action, now=now, municipality_id=municipality_id,
                        case_id=case_id, object_type=object_type, object_id=case_id, via=via,
                        **details)


# --- written out (bti.render) -------------------------------------------------------------------


def pdf_bytes(doc: dict[str, Any], font: pdf.Font = "default") -> bytes:
    """The export as a PDF, readable on paper (``bti.render.pdf.case_export``), its sections in
    the order of ``SECTIONS``. ``font=None`` forces the core fonts (Latin-1)."""
    return pdf.case_export(doc, [section for section, _m in SECTIONS.values()], font)


def json_bytes(doc: dict[str, Any]) -> bytes:
    """The export as JSON (what the family gets and the archive package hashes)."""
    return jsonfile.document(doc)
