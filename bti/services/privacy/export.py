"""Data-subject rights and retention: the case export (innsyn), the archive package, and the purge
(PRIV-01, PRIV-02, PRIV-05).

Export (GDPR art. 15, innsyn)
    ``export_case`` gives every row linked to the case: the case, its concerns, goals, measures,
    evaluations (and their measure links), meetings, notes, consents (and their services),
    participants (with names and units), handovers, reports to barnevernet, emergency accesses
    (with the reason given), notifications about it, its archive packages, the full stafettlogg
    and the case's access log (who, role, unit, when, action, basis, outcome). Staff members
    referred to anywhere are listed once under ``people`` with their name and unit. The case's
    stafettholder and the municipality's privacy officer may export; everyone else gets
    ``NotFound`` (the same answer as for a case that does not exist). Every export is audited as
    ``case.exported`` with its format.

    Redaction: ``REDACTIONS`` maps ``table.column`` to the rule that exempts it from disclosure.
    It is empty: domain.md names no exempt field (the emergency-access reason is disclosed on
    purpose, it is the family's to see). Exemptions such as information about a third party
    (forvaltningsloven § 19, offentleglova) are a legal decision per case; when a municipality
    decides on a standing rule it goes here, and the export replaces the value with
    ``{"redacted": rule}`` and lists it under ``redactions`` (tests/services/test_privacy.py).
    The access log leaves out the audit row's ``details`` (request ids) and hash columns: they
    describe the log, not the family.

Archive (closing → archive)
    ``archive_case`` writes the JSON export, a PDF of it and a ``manifest.json`` (SHA-256 of each
    file) to a new folder under the archive folder, reads them back, and records a
    ``case_archive`` row with the manifest's SHA-256. The folder is the stand-in for the
    municipality's archive or the pupil file; a Noark 5 export (for example through KS Fiks Arkiv)
    and PDF/A are out of scope: the PDF is plain PDF 1.3.

Purge (retention)
    ``purge_due`` purges every closed case whose ``closed_at + case_retention_days`` has passed
    and which has a verified archive package (files present, hashes matching, newer than the
    case's last activity). It writes the ``case_purge`` tombstone first (the database triggers
    then allow deleting that case's stafettlogg entries, and nothing else), deletes every row
    linked to the case through a foreign key (found by walking ``Base.metadata``, so a new table
    cannot be forgotten), and audits ``case.purged``. What stays: the case's ``audit_event`` rows
    (kept for their own period; their purge is not built yet) and the tombstone. The archive
    folder is not touched: it is the archive.

Restore (PRIV-05: backups do not resurrect purged children)
    The ``case_purge`` table of the live database is the journal. An operator who restores a
    backup: (1) before the restore, saves the journal from the live database
    (``bti privacy journal --out purges.jsonl``; ``bti privacy purge --journal FILE`` also appends
    every tombstone it writes to FILE outside the database), (2) restores, (3) runs
    ``bti privacy purge --replay purges.jsonl``: every case named in the journal that the restored
    database still holds is purged again (rule ``replay``), whatever its retention. A plain
    ``bti privacy purge`` afterwards also purges the cases that were due by retention.

Actors: a purge or archive run from the command line or a job has no user. Its audit rows have
``actor_id`` NULL, empty roles and ``details`` ``{"via": "cli"}`` (or ``"job"``), in the case's
municipality's chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import textwrap
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.base import Base
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.cases import Concern
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Goal
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Note
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.log import AuditEvent
from bti.domain.log import CasePurge
from bti.domain.log import StafettloggEntry
from bti.domain.log import canonical_json
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import export_basis
from bti.domain.policy import may_archive_case
from bti.domain.rules import relations
from bti.domain.vocabulary import Role
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
    "barnevern_report": ("barnevern_reports", BarnevernReport),
    "barnevern_feedback": ("barnevern_feedback", BarnevernFeedback),
    "emergency_access": ("emergency_accesses", EmergencyAccess),
    "notification": ("notifications", Notification),
    "case_archive": ("archives", CaseArchive),
    "stafettlogg_entry": ("stafettlogg", StafettloggEntry),
}

#: Export audit actions.
EXPORTED = "case.exported"
ARCHIVED = "case.archived"
PURGED = "case.purged"


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
        select(Unit).where(Unit.municipality_id == case.municipality_id))}
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
    audit.record(ctx, "case.export_page_viewed", case=case, object_type="case",
                 object_id=case.id, basis=basis)
    return case


def export_case(ctx: Ctx, case_id: int, fmt: str = "json") -> dict[str, Any]:
    """Everything about the case, for the family (GDPR art. 15). Audited as ``case.exported``
    with the format; ``fmt`` is what the caller will render it as (json or pdf)."""
    if fmt not in FORMATS:
        raise InvalidInput({"format": ["not_allowed"]})
    case, basis = _load_for_export(ctx, case_id)
    doc = build_export(ctx.session, case, ctx.now())
    audit.record(ctx, EXPORTED, case=case, object_type="case_export", object_id=case.id,
                 basis=basis, format=fmt, rows=_row_total(doc))
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
    _system_audit(session, now, EXPORTED, case, via=via, object_type="case_export",
                  format=fmt, rows=_row_total(doc))
    return doc


def _row_total(doc: dict[str, Any]) -> int:
    return 1 + sum(len(doc[section]) for section, _m in SECTIONS.values())


def _system_audit(session: Session, now: datetime, action: str, case_or_ids: Any, *, via: str,
                  object_type: str | None = None, **details: Any) -> None:
    municipality_id, case_id = (
        (case_or_ids.municipality_id, case_or_ids.id) if isinstance(case_or_ids, Case)
        else case_or_ids)
    audit.add_row(session, dict(
        at=now, municipality_id=municipality_id, actor_id=None, actor_roles="", unit_id=None,
        case_id=case_id, action=action, object_type=object_type, object_id=case_id,
        basis="system", outcome="allowed", details=canonical_json({"via": via, **details})))


# --- PDF ----------------------------------------------------------------------------------------

#: Unicode TrueType fonts for the PDF (headings; body text, monospaced so that lines can be
#: wrapped by count, which is fast); without them the PDF uses core fonts and Latin-1 text.
DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEFAULT_MONO_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
#: Body text: 8 pt monospaced (0.6 em a character) on A4 with 10 mm margins holds 112
#: characters a line; a little less for safety.
_BODY_PT = 8
_BODY_CHARS = 108

_PLAIN = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u2026": "...", "\u2192": "->", "\u0141": "L", "\u0142": "l",
          "\u0110": "D", "\u0111": "d", "\u0152": "OE", "\u0153": "oe", "\u20ac": "EUR"}


def latin1(text: str) -> str:
    """``text`` in Latin-1 for the core PDF fonts: æ, ø, å and other Latin-1 letters stay;
    others lose their accents (NFKD) or become '?'."""
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        if ch in _PLAIN:
            out.append(_PLAIN[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 256
                       and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def _font_path() -> Path | None:
    path = Path(os.environ.get("BTI_PDF_FONT", str(DEFAULT_FONT)))
    return path if path.is_file() else None


def _mono_font_path() -> Path | None:
    path = Path(os.environ.get("BTI_PDF_MONO_FONT", str(DEFAULT_MONO_FONT)))
    return path if path.is_file() else None


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for para in text.splitlines() or [""]:
        lines += textwrap.wrap(para, width, break_long_words=True, break_on_hyphens=False,
                               replace_whitespace=True) or [""]
    return lines


def render_pdf(doc: dict[str, Any], font: Path | None | str = "default") -> bytes:
    """The export as a PDF, readable on paper: every section, every row, every field.
    ``font=None`` forces the core fonts (Latin-1), as on a machine without DejaVu."""
    from fpdf import FPDF

    sans = _font_path() if font == "default" else font
    mono = _mono_font_path() if font == "default" else None
    pdf = FPDF(format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creator("bti")
    pdf.set_title(f"Case {doc['case_id']}: export for the family")
    if sans is not None:
        pdf.add_font("sans", "", str(sans))
        head_family, clean = "sans", (lambda s: s)
    else:
        head_family, clean = "helvetica", latin1
    if mono is not None:
        pdf.add_font("mono", "", str(mono))
        body_family = "mono"
    else:
        body_family = "courier" if sans is None else "sans"
    # a proportional body font holds fewer characters a line
    width = _BODY_CHARS if body_family in ("mono", "courier") else 80
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.set_font(head_family, size=12)
        pdf.ln(2)
        for line in _wrap(clean(text), 80):
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(body_family, size=_BODY_PT)

    def para(text: str) -> None:
        for line in _wrap(clean(text), width):
            pdf.cell(0, 3.6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)

    def fields(row: dict[str, Any]) -> str:
        return "; ".join(f"{k}: {_text(v)}" for k, v in row.items())

    heading(f"Case {doc['case_id']}: everything stored about the case")
    para(f"Exported {doc['exported_at']} ({doc['format']} v{doc['version']}).")
    heading("Case")
    para(fields(doc["case"]))
    for section, _model in SECTIONS.values():
        rows = doc[section]
        heading(f"{section.replace('_', ' ').capitalize()} ({len(rows)})")
        for row in rows:
            para(fields(row))
    heading(f"Access log: who has seen or changed the case ({len(doc['access_log'])})")
    for row in doc["access_log"]:
        para(f"{row['at']}  {row['user'] or 'system'} ({', '.join(row['roles'])}; "
             f"{row['unit'] or '-'})  {row['action']}  basis: {row['basis'] or '-'}  "
             f"{row['outcome']}")
    heading("People named in this export")
    for uid, p in doc["people"].items():
        para(f"{uid}: {p['name']} ({p['unit'] or '-'})")
    if doc["redactions"]:
        heading("Withheld fields")
        for r in doc["redactions"]:
            para(f"{r['table']} {r['id']} {r['column']}: {r['rule']}")
    return bytes(pdf.output())


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict | list):
        return canonical_json(v)
    return str(v)


def export_json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


# --- archive ------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def verify_archive(archive: CaseArchive) -> str | None:
    """Why the archive package does not verify, or None when its files match its hashes."""
    folder = Path(archive.path)
    try:
        manifest_bytes = (folder / "manifest.json").read_bytes()
    except OSError:
        return "manifest_missing"
    if _sha256(manifest_bytes) != archive.sha256:
        return "manifest_changed"
    manifest = json.loads(manifest_bytes)
    for name, digest in manifest["files"].items():
        try:
            if _sha256((folder / name).read_bytes()) != digest:
                return f"{name}_changed"
        except OSError:
            return f"{name}_missing"
    return None


def archive_case(ctx: Ctx, case_id: int, archive_dir: Path, *, via: str = "cli"
                 ) -> CaseArchive:
    """Write the archive package of a CLOSED case and record it. ``ctx.actor`` is None for an
    operator or a job (audited with ``{"via": via}``), or a privacy officer of the case's
    municipality. Raises ``NotFound`` or ``InvalidInput`` ({"case": ["not_closed"]})."""
    session = ctx.session
    case = session.get(Case, case_id) if isinstance(case_id, int) else None
    actor = ctx.actor
    allowed = case is not None and (actor is None
                                    or may_archive_case(actor, case.municipality_id))
    if not allowed or case is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    if case.closed_at is None:
        raise InvalidInput({"case": ["not_closed"]})
    now = ctx.now()
    doc = build_export(session, case, now)
    json_bytes = export_json_bytes(doc)
    pdf_bytes = render_pdf(doc)
    folder = Path(archive_dir) / (f"case-{case.id}-{now.strftime('%Y%m%dT%H%M%SZ')}-"
                                  f"{secrets.token_hex(4)}")
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True)
    files = {"export.json": json_bytes, "export.pdf": pdf_bytes}
    for name, data in files.items():
        _write(tmp / name, data)
    manifest = canonical_json({
        "format": "bti-archive", "version": 1, "case_id": case.id,
        "municipality_id": case.municipality_id, "archived_at": now.isoformat(),
        "closed_at": case.closed_at.isoformat(), "log_seq": case.log_seq,
        "log_head": case.log_head,
        "files": {name: _sha256(data) for name, data in files.items()}}).encode("utf-8")
    _write(tmp / "manifest.json", manifest)
    os.replace(tmp, folder)
    row = CaseArchive(case_id=case.id, archived_at=now, sha256=_sha256(manifest),
                      path=str(folder.resolve()))
    if verify_archive(row) is None:  # read back from the disk
        row.verified_at = now
    session.add(row)
    session.flush()
    details: dict[str, Any] = dict(object_type="case_archive", sha256=row.sha256, archive_id=row.id,
                   verified=row.verified_at is not None)
    if actor is None:
        _system_audit(session, now, ARCHIVED, case, via=via, **details)
    else:
        audit.record(ctx, ARCHIVED, case=case, object_id=case.id,
                     basis=Role.PRIVACY_OFFICER.value, **details)
    return row


# --- purge --------------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    #: The tombstones written (or, on a dry run, that would be written), as dicts.
    purged: list[dict[str, Any]] = field(default_factory=list)
    #: Closed cases past retention that were not purged, case id → why.
    skipped: dict[int, str] = field(default_factory=dict)
    #: Journal entries already purged here, or naming a case this database never had.
    replay_absent: list[int] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.purged:
            for table, n in t["counts"].items():
                out[table] = out.get(table, 0) + n
        return out


def tombstone_dict(t: CasePurge) -> dict[str, Any]:
    return {"case_id": t.case_id, "municipality_id": t.municipality_id,
            "purged_at": t.purged_at.isoformat(), "rule": t.rule,
            "archive_sha256": t.archive_sha256, "counts": json.loads(t.counts)}


def journal(session: Session) -> list[dict[str, Any]]:
    """Every tombstone, oldest first: the journal to replay after a restore."""
    return [tombstone_dict(t) for t in session.scalars(select(CasePurge).order_by(CasePurge.id))]


def _usable_archive(session: Session, case: Case) -> tuple[CaseArchive | None, str]:
    archives = session.scalars(select(CaseArchive).where(CaseArchive.case_id == case.id)
                               .order_by(CaseArchive.archived_at.desc())).all()
    if not archives:
        return None, "not_archived"
    reason = "archive_unverified"
    for a in archives:
        if a.verified_at is None:
            continue
        if a.archived_at < case.last_activity_at:
            reason = "archive_older_than_last_activity"
            continue
        problem = verify_archive(a)
        if problem is None:
            return a, "ok"
        reason = f"archive_{problem}"
    return None, reason


def purge_case(session: Session, case: Case, now: datetime, *, rule: str,
               archive_sha256: str, via: str) -> CasePurge:
    """Delete every row linked to ``case`` and leave its tombstone (one transaction: the
    caller commits)."""
    counts = linked_counts(session, case.id)
    tomb = CasePurge(case_id=case.id, municipality_id=case.municipality_id, purged_at=now,
                     rule=rule, archive_sha256=archive_sha256,
                     counts=canonical_json(counts))
    session.add(tomb)
    session.flush()  # first: the stafettlogg's delete trigger looks for it
    conds = linked_conditions(case.id)
    for table in reversed(Base.metadata.sorted_tables):  # children before parents
        if table in conds:
            session.execute(delete(table).where(conds[table]))
    session.expunge(case)
    _system_audit(session, now, PURGED, (tomb.municipality_id, tomb.case_id), via=via,
                  object_type="case_purge", rule=rule, archive_sha256=archive_sha256,
                  rows=sum(counts.values()))
    return tomb


def purge_due(session: Session, now: datetime, *, via: str = "job", dry_run: bool = False,
              replay: Iterable[dict[str, Any]] = ()) -> PurgeReport:
    """Purge the cases that are due (see the module docstring); with ``replay`` (tombstones from
    a journal) first purge again every journalled case this database still holds. Never
    purges a case that is open, not archived (verified), or within its retention period, unless
    the journal says it was purged already. The caller commits."""
    report = PurgeReport()
    for entry in replay:
        case = session.get(Case, int(entry["case_id"]), with_for_update=not dry_run)
        already = session.scalar(select(CasePurge.id).where(
            CasePurge.case_id == int(entry["case_id"])))
        if case is None or already is not None:
            report.replay_absent.append(int(entry["case_id"]))
            continue
        _purge_one(session, case, now, report, rule="replay",
                   archive_sha256=str(entry.get("archive_sha256", "")), via=via,
                   dry_run=dry_run)
    candidates = session.execute(
        select(Case, Municipality.case_retention_days)
        .join(Municipality, Municipality.id == Case.municipality_id)
        .where(Case.closed_at.is_not(None), Case.closed_at <= now).order_by(Case.id)).all()
    for case, days in candidates:
        if case.closed_at is None or case.closed_at + timedelta(days=days) > now:
            continue
        archive, why = _usable_archive(session, case)
        if archive is None:
            report.skipped[case.id] = why
            continue
        if not dry_run:  # lock, and check that nothing changed since it was read
            session.refresh(case, with_for_update=True)
            if case.closed_at is None:
                report.skipped[case.id] = "reopened"
                continue
        _purge_one(session, case, now, report, rule="retention", archive_sha256=archive.sha256,
                   via=via, dry_run=dry_run)
    return report


def _purge_one(session: Session, case: Case, now: datetime, report: PurgeReport, *, rule: str,
               archive_sha256: str, via: str, dry_run: bool) -> None:
    if dry_run:
        report.purged.append({"case_id": case.id, "municipality_id": case.municipality_id,
                              "purged_at": now.isoformat(), "rule": rule,
                              "archive_sha256": archive_sha256,
                              "counts": linked_counts(session, case.id)})
        return
    tomb = purge_case(session, case, now, rule=rule, archive_sha256=archive_sha256, via=via)
    report.purged.append(tombstone_dict(tomb))


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Tombstones from a journal file (JSON lines, as ``bti privacy journal`` writes)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            int(entry["case_id"])
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidInput({"journal": [f"line {n}: {err}"]}) from None
        out.append(entry)
    return out


def append_journal(path: Path, tombstones: Iterable[dict[str, Any]]) -> int:
    """Append tombstones to a journal file outside the database and push them to the disk."""
    lines = [canonical_json(t) for t in tombstones]
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return len(lines)
