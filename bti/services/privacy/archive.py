"""The archive package of a closed case (closing → archive, PRIV-02).

``archive_case`` writes the JSON export, a PDF of it and a ``manifest.json`` (SHA-256 of each
file) to a new folder under the archive folder, reads them back, and records a ``case_archive``
row with the manifest's SHA-256. The folder is the stand-in for the municipality's archive or the
pupil file; a Noark 5 export (for example through KS Fiks Arkiv) and PDF/A are out of scope: the
PDF is plain PDF 1.3. ``verify_archive`` checks a package against its hashes (the purge does,
before it deletes anything).

Actors: run by an operator or a job (no user; audited with ``{"via": …}``) or by a privacy
officer of the case's municipality.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.log import canonical_json
from bti.domain.policy import may_archive_case
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Role
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.privacy.export import _system_audit
from bti.services.privacy.export import build_export
from bti.services.privacy.export import json_bytes
from bti.services.privacy.export import pdf_bytes


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
    json_data = json_bytes(doc)
    pdf_data = pdf_bytes(doc)
    folder = Path(archive_dir) / (f"case-{case.id}-{now.strftime('%Y%m%dT%H%M%SZ')}-"
                                  f"{secrets.token_hex(4)}")
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True)
    files = {"export.json": json_data, "export.pdf": pdf_data}
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
    details: dict[str, Any] = dict(object_type="case_archive", sha256=row.sha256,
                                   archive_id=row.id, verified=row.verified_at is not None)
    if actor is None:
        _system_audit(session, now, AuditAction.CASE_ARCHIVED, case, via=via, **details)
    else:
        audit.record(ctx, AuditAction.CASE_ARCHIVED, case=case, object_id=case.id,
                     basis=Role.PRIVACY_OFFICER.value, **details)
    return row
