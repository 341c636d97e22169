"""Retention: the purge of closed, archived cases, its tombstones and their journal (PRIV-02,
PRIV-05).

Purge
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

Credentials
    The same run deletes the credentials that stopped working more than ``CREDENTIAL_GRACE``
    ago: revoked calendar feeds and revoked or expired API tokens (only hashes, names and
    dates; until then the user's and the administrator's lists still show them). Their
    creation and revocation stay in the audit trail.

Practice cases (øvingssaker) are purged by ``purge_due`` too, ``PRACTICE_KEEP_DAYS`` after
they were opened, without an archive (rule ``practice``); one their owner deleted
(``bti.services.cases.practice.delete``: gone for them at once) at the next run.

Actors: a purge has no user. Its audit rows have ``actor_id`` NULL, empty roles and ``details``
``{"via": "cli"}`` (or ``"job"``), in the case's municipality's chain.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.base import Base
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.log import CasePurge
from bti.domain.log import canonical_json
from bti.domain.notifications import CalendarFeed
from bti.domain.org import ApiToken
from bti.domain.org import Municipality
from bti.domain.vocabulary import AuditAction
from bti.services.errors import InvalidInput
from bti.services.privacy.archive import verify_archive
from bti.services.privacy.export import _system_audit
from bti.services.privacy.export import linked_conditions
from bti.services.privacy.export import linked_counts


@dataclass
class PurgeReport:
    #: The tombstones written (or, on a dry run, that would be written), as dicts.
    purged: list[dict[str, Any]] = field(default_factory=list)
    #: Closed cases past retention that were not purged, case id → why.
    skipped: dict[int, str] = field(default_factory=dict)
    #: Journal entries already purged here, or naming a case this database never had.
    replay_absent: list[int] = field(default_factory=list)
    #: Credentials deleted (or, on a dry run, that would be), per table.
    credentials: dict[str, int] = field(default_factory=dict)

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
    _system_audit(session, now, AuditAction.CASE_PURGED, (tomb.municipality_id, tomb.case_id),
                  via=via, object_type="case_purge", rule=rule, archive_sha256=archive_sha256,
                  rows=sum(counts.values()))
    return tomb


#: How long a revoked calendar feed or a revoked or expired API token is kept (security
#: investigation; docs/data-inventory.toml, retention "api_token" and "calendar_feed").
CREDENTIAL_GRACE = timedelta(days=90)


def purge_credentials(session: Session, now: datetime, *, dry_run: bool = False
                      ) -> dict[str, int]:
    """Delete the calendar feeds revoked, and the API tokens revoked or expired, more than
    ``CREDENTIAL_GRACE`` before ``now`` (a dry run counts them); rows per table."""
    cutoff = now - CREDENTIAL_GRACE
    gone = {
        "calendar_feed": (CalendarFeed, CalendarFeed.revoked_at <= cutoff),
        "api_token": (ApiToken, or_(ApiToken.revoked_at <= cutoff,
                                    ApiToken.expires_at <= cutoff)),
    }
    counts: dict[str, int] = {}
    for table, (model, condition) in gone.items():
        if dry_run:
            counts[table] = session.scalar(
                select(func.count()).select_from(model).where(condition)) or 0
        else:
            result = session.execute(delete(model).where(condition),
                                     execution_options={"synchronize_session": False})
            counts[table] = int(getattr(result, "rowcount", 0) or 0)
    return counts


def purge_due(session: Session, now: datetime, *, via: str = "job", dry_run: bool = False,
              replay: Iterable[dict[str, Any]] = ()) -> PurgeReport:
    """Purge the cases that are due (see the module docstring); with ``replay`` (tombstones from
    a journal) first purge again every journalled case this database still holds. Never
    purges a case that is open, not archived (verified), or within its retention period, unless
    the journal says it was purged already. The caller commits."""
    report = PurgeReport()
    for entry in replay:
        case = session.get(Case, int(entry["case_id"]), with_for_update=not dry_run,
                           execution_options={"include_practice": True})
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
    report.credentials = purge_credentials(session, now, dry_run=dry_run)
    purge_practice_due(session, now, report, via=via, dry_run=dry_run)
    return report


#: Days a practice case (øvingssak) is kept after it was opened, open or closed: it is
#: fictional, never archived, and only its opener ever saw it.
PRACTICE_KEEP_DAYS = 30


def purge_practice_due(session: Session, now: datetime, report: PurgeReport, *,
                       via: str = "job", dry_run: bool = False) -> None:
    """Purge every practice case opened ``PRACTICE_KEEP_DAYS`` or more ago, or deleted by its
    owner (rule ``practice``, no archive: there is nothing real to keep)."""
    due = session.scalars(
        select(Case).where(Case.practice.is_(True), or_(
            Case.opened_at <= now - timedelta(days=PRACTICE_KEEP_DAYS),
            Case.practice_discarded_at.is_not(None)))
        .order_by(Case.id).execution_options(include_practice=True)).all()
    for case in due:
        _purge_one(session, case, now, report, rule="practice", archive_sha256="", via=via,
                   dry_run=dry_run)


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
