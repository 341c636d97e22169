"""The stafettlogg (hash-chained per case), the audit trail, and stored workflow versions.

``stafettlogg_entry``, ``audit_event`` and ``case_purge`` are append-only, enforced by the database
itself: triggers abort every UPDATE and DELETE on SQLite and PostgreSQL (``append_only_ddl``,
created by ``bti.db.engine.create_schema`` and by the migrations). One exception, for retention
(PRIV-02): the stafettlogg entries of a case that has a ``case_purge`` tombstone may be deleted, so
the purge (``bti.services.privacy.purge``) writes the tombstone first and then deletes the case's
rows in the same transaction. ``audit_event`` stays fully append-only (its own retention purge is
not built yet). The triggers stop an honest mistake and an attacker without DDL rights; the seals
and the cross-checks of ``bti.services.access.integrity`` catch the rest.

Seals: every stafettlogg entry and audit row carries ``mac``, an HMAC-SHA256 of its chain hash
under a key kept outside the database (``BTI_LOG_KEYS``, ``LogKeys``). The chain hash alone is
unkeyed: anyone who can write to the tables can recompute it after an edit. The seal cannot be
recomputed without the key, so an entry edited (and the rest of the chain rehashed) or forged
fails ``bti audit verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import DDL
from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from bti.domain.base import Base

#: Longest ``mac`` value: a key id (up to 16 characters), a colon and 64 hex digits.
MAC_LENGTH = 81


class WorkflowDefinitionRecord(Base):
    """One stored version of a workflow file. A changed file becomes a new revision; a case keeps
    the revision it started on."""

    __tablename__ = "workflow_definition"
    __table_args__ = (UniqueConstraint("workflow_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(60))
    revision: Mapped[int]
    file_version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<WorkflowDefinitionRecord {self.workflow_id} r{self.revision}>"


class StafettloggEntry(Base):
    """One event on a case. ``hash = sha256(prev_hash + canonical JSON of the entry)``."""

    __tablename__ = "stafettlogg_entry"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    seq: Mapped[int]
    at: Mapped[datetime]
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(30))
    trigger: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(60))
    to_state: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None]
    data: Mapped[str] = mapped_column(Text)  # canonical JSON; covered by the hash
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: ``key id:HMAC-SHA256(key, hash)`` (``LogKeys``); NULL when written without keys.
    mac: Mapped[str | None] = mapped_column(String(MAC_LENGTH))

    #: The columns the hash covers.
    HASHED = ("case_id", "seq", "at", "actor_id", "kind", "trigger", "from_state", "to_state",
              "object_type", "object_id", "data")

    @staticmethod
    def content_of(row: Any) -> dict[str, Any]:
        """What the hash covers, from an entry or a dict of column values, in a form that is
        identical on every database."""
        get: Callable[[str], Any] = row.get if isinstance(row, dict) else (
            lambda k: getattr(row, k))
        out = {k: get(k) for k in StafettloggEntry.HASHED}
        out["at"] = out["at"].isoformat(timespec="microseconds")
        return out

    def content(self) -> dict[str, Any]:
        return StafettloggEntry.content_of(self)

    def compute_hash(self) -> str:
        return chain_hash(self.prev_hash, self.content())

    def __repr__(self) -> str:
        return f"<StafettloggEntry case={self.case_id} seq={self.seq} {self.trigger}>"


class AuditEvent(Base):
    """The compliance trail: who did or saw what, in which role and unit, on what basis.
    ``details`` holds ids, state names and triggers only, never names or free text.

    Hash-chained per ``chain`` (the municipality's id; 0 for events outside any municipality):
    ``hash = sha256(prev_hash + canonical JSON of the row)``. ``case_id`` is deliberately not a
    foreign key: the access log outlives a purged case (it is kept for its own period)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_case_at", "case_id", "at"),
                      UniqueConstraint("chain", "seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int]
    seq: Mapped[int]
    at: Mapped[datetime]
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_roles: Mapped[str] = mapped_column(String(200), default="")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    case_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None]
    basis: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20), default="allowed")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: ``key id:HMAC-SHA256(key, hash)`` (``LogKeys``); NULL when written without keys.
    mac: Mapped[str | None] = mapped_column(String(MAC_LENGTH))

    #: The columns the hash covers, in order.
    HASHED = ("chain", "seq", "at", "municipality_id", "actor_id", "actor_roles", "unit_id",
              "case_id", "action", "object_type", "object_id", "basis", "outcome", "details")

    @staticmethod
    def content_of(row: Any) -> dict[str, Any]:
        """What the hash covers, from an ORM row or a dict of values; identical on every DB."""
        get: Callable[[str], Any] = row.get if isinstance(row, dict) else (
            lambda k: getattr(row, k))
        out = {k: get(k) for k in AuditEvent.HASHED}
        out["at"] = out["at"].astimezone(UTC).isoformat(timespec="microseconds")
        return out


class CasePurge(Base):
    """Tombstone of a purged case (PRIV-02, PRIV-05): what was deleted, when, under which rule,
    and the SHA-256 of the archive package it was archived in first.

    ``case_id`` is deliberately not a foreign key: the case is gone. The table is also the
    journal that is replayed after a backup is restored (``bti privacy purge --replay``), so a
    restore does not bring a purged child back. Its row for a case is what lets the database
    triggers allow deleting that case's stafettlogg entries, so it is append-only itself, and
    ``bti audit verify`` accepts it only with the ``case.purged`` audit row written in the same
    transaction (same case, time, rule, archive hash and row count): a tombstone inserted by
    hand to get past the trigger is reported as forged."""

    __tablename__ = "case_purge"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(unique=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    purged_at: Mapped[datetime]
    #: Why: "retention" (closed + case_retention_days passed) or "replay" (after a restore).
    rule: Mapped[str] = mapped_column(String(60))
    archive_sha256: Mapped[str] = mapped_column(String(64))
    #: JSON: table name → rows deleted.
    counts: Mapped[str] = mapped_column(String(2000), default="{}")

    def __repr__(self) -> str:
        return f"<CasePurge case={self.case_id} {self.rule}>"


class CaseTransfer(Base):
    """A case that left for, or came from, another municipality (the family moved): the
    record of a signed transfer bundle (``bti.services.privacy.transfer``). On the sending side
    (``direction`` "out") it is the tombstone that outlives the case's content, which the
    archive and purge rules then handle like any closed case, so ``case_id`` is deliberately not
    a foreign key; on the receiving side ("in") it names the bundle the case was created from.
    ``bundle_sha256`` is the hash of the signed manifest, ``head_hash`` the stafettlogg chain
    head it vouches for. Never names the child."""

    __tablename__ = "case_transfer"
    __table_args__ = (
        UniqueConstraint("direction", "case_id"),
        # one bundle is imported once (also by two imports at once)
        Index("ix_case_transfer_direction_bundle", "direction", "bundle_sha256", unique=True),
        CheckConstraint("direction IN ('out', 'in')", name="direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[int] = mapped_column(index=True)
    direction: Mapped[str] = mapped_column(String(3))
    #: The installation and municipality at the other end (slugs, as the manifest names them).
    counterpart_installation: Mapped[str] = mapped_column(String(100))
    counterpart_municipality: Mapped[str] = mapped_column(String(60))
    #: The sending side's case id (on "in": the id in the manifest).
    source_case_id: Mapped[int]
    entry_count: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<CaseTransfer {self.direction} case={self.case_id}>"


class AuditChainHead(Base):
    """The head of each audit chain. Appenders lock this row (``FOR UPDATE``; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers), so a chain never forks."""

    __tablename__ = "audit_chain_head"

    chain: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class AuditReviewItem(Base):
    """Follow-up of the access log (AUD-07): a pattern the review job found in one user's audit
    rows, for the nearest leader (or the privacy officer) to look into. The rows themselves stay
    in ``audit_event``; the item names the user, the pattern and the window, so the reviewer sees
    exactly the rows it was raised from. ``details`` holds counts only; ``comment`` is what the
    reviewer wrote when closing (no names of children; the form says so)."""

    __tablename__ = "audit_review_item"
    __table_args__ = (UniqueConstraint("municipality_id", "subject_user_id", "pattern",
                                       "window_start"),
                      Index("ix_audit_review_item_open", "municipality_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    #: The subject's unit when the item was raised (whose leader follows it up).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    #: The staff member the item is about; NULL for an item about a family member's reads
    #: (``subject_identity_id``).
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"),
                                                        index=True)
    #: The family identity (``external_identity``) whose reads on the family pages the item is
    #: about (channel ``family``).
    subject_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_identity.id", ondelete="SET NULL"), index=True)
    #: many_cases | emergency_access | off_hours | mass_export | repeated_denials
    pattern: Mapped[str] = mapped_column(String(40))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    count: Mapped[int]
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    #: legitimate | followed_up
    conclusion: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)


class AuditReviewMark(Base):
    """How far the review job has read each audit chain (it reads only newer rows next time)."""

    __tablename__ = "audit_review_mark"

    chain: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    run_at: Mapped[datetime]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


# --- seals (HMAC keys outside the database) -----------------------------------------------------

#: What a seal covers, so a seal made for one kind of row never fits another.
SEAL_STAFETTLOGG = b"bti stafettlogg v1\n"
SEAL_AUDIT = b"bti audit v1\n"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
MIN_KEY_LENGTH = 32


class LogKeys:
    """The keys that seal log rows: ``mac = key id + ":" + HMAC-SHA256(key, purpose + hash)``.

    Parsed from ``BTI_LOG_KEYS``: comma-separated ``id:secret`` pairs; the first seals new rows,
    every one of them verifies (so a key is rotated by putting a new one first and keeping the
    old ones for the rows they sealed). Ids are short names (letters, digits, ``-``, ``_``),
    never reused for another secret; a secret is at least 32 characters."""

    __slots__ = ("current_id", "_current", "_by_id")

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._by_id = dict(keys)
        if len(self._by_id) != len(keys):
            raise ValueError("a key id is given twice")
        self.current_id, self._current = keys[0]

    @classmethod
    def parse(cls, raw: str) -> LogKeys:
        """Keys from ``id:secret,id:secret``; ``ValueError`` naming what is wrong (never the
        secret)."""
        keys = []
        for n, part in enumerate((p.strip() for p in raw.split(",")), 1):
            if not part:
                continue
            key_id, sep, secret = part.partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"key {n} is not id:secret with an id of 1-16 letters, digits, "
                                 "'-' or '_'")
            if len(secret) < MIN_KEY_LENGTH:
                raise ValueError(f"key {key_id!r} is shorter than {MIN_KEY_LENGTH} characters")
            keys.append((key_id, secret.encode("utf-8")))
        return cls(keys)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def seal(self, purpose: bytes, digest: str) -> str:
        """The seal of a row whose chain hash is ``digest``, under the current key."""
        return f"{self.current_id}:" + hmac.digest(self._current, purpose + digest.encode(),
                                                  "sha256").hex()

    def check(self, purpose: bytes, digest: str, mac: str | None) -> str | None:
        """Why ``mac`` is not a valid seal of ``digest``, or None when it is."""
        if not mac:
            return "not sealed (written without BTI_LOG_KEYS, or forged)"
        key_id, _, value = mac.partition(":")
        key = self._by_id.get(key_id)
        if key is None:
            return f"sealed with key {key_id!r}, which BTI_LOG_KEYS does not hold"
        expected = hmac.digest(key, purpose + digest.encode(), "sha256").hex()
        if not hmac.compare_digest(expected, value):
            return "its seal does not match (edited and rehashed, or forged)"
        return None


APPEND_ONLY_TABLES = ("stafettlogg_entry", "audit_event", "case_purge")

#: Tables whose rows may be deleted once their case has a ``case_purge`` tombstone.
PURGEABLE_TABLES = frozenset({"stafettlogg_entry"})


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """SQL that makes ``table`` append-only on ``dialect`` (sqlite or postgresql).

    For a table in ``PURGEABLE_TABLES`` a DELETE is allowed for the rows of a case that has a
    ``case_purge`` row, and for nothing else (SQLite: a ``WHEN NOT EXISTS`` on the delete
    trigger; PostgreSQL: a row-level delete trigger with the same test, while UPDATE and TRUNCATE
    stay refused by the statement-level trigger). The migrations write the same SQL out."""
    purgeable = table in PURGEABLE_TABLES
    if dialect == "sqlite":
        when = (" WHEN NOT EXISTS (SELECT 1 FROM case_purge WHERE case_purge.case_id = "
                "OLD.case_id)" if purgeable else "")
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}{when} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        out = [
            "CREATE OR REPLACE FUNCTION bti_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$",
        ]
        if not purgeable:
            return out + [
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "
                f"{table} FOR EACH STATEMENT EXECUTE FUNCTION bti_append_only()"]
        return out + [
            PG_PURGE_GUARD_FUNCTION,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bti_append_only()",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION bti_delete_only_purged()",
        ]
    raise ValueError(f"no append-only rule for dialect {dialect!r}")


#: PostgreSQL: a row may be deleted only when its case has a tombstone.
PG_PURGE_GUARD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION bti_delete_only_purged() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN IF EXISTS (SELECT 1 FROM case_purge WHERE case_purge.case_id = OLD.case_id) "
    "THEN RETURN OLD; END IF; RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
    "USING ERRCODE = 'insufficient_privilege'; END $$"
)


def drop_append_only_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_update",
                f"DROP TRIGGER IF EXISTS {table}_no_delete"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}"]


def _install_triggers(table_name: str) -> Callable[..., None]:
    def _after_create(target: Table, connection: Connection, **_kw: Any) -> None:
        for sql in append_only_ddl(connection.dialect.name, table_name):
            # DDL() formats with %; SQLAlchemy leaves its constructor unannotated
            ddl = DDL(sql.replace("%", "%%"))  # type: ignore[no-untyped-call]
            connection.execute(ddl)

    return _after_create


for _model in (StafettloggEntry, AuditEvent, CasePurge):
    event.listen(_model.__table__, "after_create", _install_triggers(_model.__tablename__))
