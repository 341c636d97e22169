"""The audit trail (access log): who did or saw what, in which role and unit, on what basis.

Services call ``record`` in the same transaction as what it records. Rows are collected on the
session and written, hash-chained, just before the transaction commits (a ``before_commit``
hook), so each transaction locks its chain head once and only for the last moment. If the rows
cannot be written the commit fails, and the request that read the data answers an error instead
of the data (AUD-02).

``details`` must hold ids, state names and triggers only: never names, national id numbers or
free text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from bti.config import log_keys
from bti.db.upsert import insert_ignoring_conflicts
from bti.domain.cases import GENESIS_HASH
from bti.domain.cases import Case
from bti.domain.log import SEAL_AUDIT
from bti.domain.log import AuditChainHead
from bti.domain.log import AuditEvent
from bti.domain.log import LogKeys
from bti.domain.log import canonical_json
from bti.domain.log import chain_hash
from bti.domain.vocabulary import AuditAction
from bti.services.context import Ctx

_PENDING = "bti.audit_pending"
#: Chain for events that belong to no municipality (for example a failed login as an unknown
#: user name).
SYSTEM_CHAIN = 0


def record(
    ctx: Ctx,
    action: AuditAction,
    *,
    case: Case | None = None,
    case_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    basis: str | None = None,
    outcome: str = "allowed",
    **details: Any,
) -> None:
    """Queue one audit row for this transaction: ``action`` done by the context's actor (its
    roles and unit), in the case's municipality (else the actor's). ``case_id`` names a case
    without loading it (the row is then in the actor's municipality)."""
    actor = ctx.actor
    if ctx.request_id:
        details["request_id"] = ctx.request_id
    details.update(channel_details(actor))
    municipality_id = case.municipality_id if case is not None else getattr(
        actor, "municipality_id", None)
    _add_row(ctx.session, _row(
        at=ctx.now(),
        municipality_id=municipality_id,
        actor_id=actor.id if actor is not None else None,
        actor_roles=",".join(sorted(actor.roles)) if actor is not None else "",
        unit_id=actor.unit_id if actor is not None else None,
        case_id=case.id if case is not None else case_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        basis=basis,
        outcome=outcome,
        details=details,
    ))


def record_system(
    session: Session,
    action: AuditAction,
    *,
    now: datetime,
    municipality_id: int | None,
    case_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    basis: str | None = "system",
    outcome: str = "allowed",
    actor_id: int | None = None,
    request_id: str | None = None,
    **details: Any,
) -> None:
    """Queue one audit row for work no signed-in user does (the CLI, jobs, the review run, the
    privacy services, a failed sign-in): no roles and no unit; ``actor_id`` only names whom
    the event is about when there is one (the user whose sign-in failed).
    ``municipality_id=None`` puts the row on the system chain."""
    if request_id:
        details["request_id"] = request_id
    _add_row(session, _row(
        at=now, municipality_id=municipality_id, actor_id=actor_id, actor_roles="",
        unit_id=None, case_id=case_id, action=action, object_type=object_type,
        object_id=object_id, basis=basis, outcome=outcome, details=details))


def record_denied(session_factory, *, actor, action: AuditAction, now: datetime,
                  object_type: str | None = None, object_id: int | None = None,
                  request_id: str | None = None) -> None:
    """Log a refused access in a transaction of its own: the request that was refused rolls
    back, but the attempt must stay on record (ASVS 16.3.2: every authorization decision)."""
    details: dict[str, Any] = {"request_id": request_id} if request_id else {}
    details.update(channel_details(actor))
    with session_factory.begin() as session:
        _add_row(session, _row(
            at=now, municipality_id=getattr(actor, "municipality_id", None),
            actor_id=getattr(actor, "id", None),
            actor_roles=",".join(sorted(getattr(actor, "roles", ()))),
            unit_id=getattr(actor, "unit_id", None),
            case_id=object_id if object_type == "case" else None,
            action=action, object_type=object_type, object_id=object_id, basis=None,
            outcome="denied", details=details))


def channel_details(actor) -> dict[str, Any]:
    """How the actor reached the data, when not through the web pages: an API call with a
    personal access token is marked ``channel = "api"`` with the token's id (never the token)."""
    token_id = getattr(actor, "token_id", None)
    return {"channel": "api", "token_id": token_id} if token_id else {}


def _row(*, at: datetime, municipality_id: int | None, actor_id: int | None, actor_roles: str,
         unit_id: int | None, case_id: int | None, action: AuditAction,
         object_type: str | None, object_id: int | None, basis: str | None, outcome: str,
         details: dict[str, Any]) -> dict[str, Any]:
    """The row's column values (every builder's one shape). Refuses an action outside
    ``AuditAction`` (a plain string that is not one of its values), before anything is queued."""
    try:
        value = AuditAction(action).value
    except ValueError:
        raise ValueError(f"unknown audit action {action!r}: add it to "
                         "bti.domain.vocabulary.AuditAction and label it in "
                         "bti/web/ui/audit.py") from None
    return dict(at=at, municipality_id=municipality_id, actor_id=actor_id,
                actor_roles=actor_roles, unit_id=unit_id, case_id=case_id, action=value,
                object_type=object_type, object_id=object_id, basis=basis, outcome=outcome,
                details=canonical_json(details))


def _add_row(session: Session, values: dict[str, Any]) -> None:
    session.info.setdefault(_PENDING, []).append(values)


def pending(session: Session) -> list[dict[str, Any]]:
    return list(session.info.get(_PENDING, ()))


def write_pending(session: Session) -> int:
    """Write the queued rows now, chained; returns how many. Called before every commit.

    Per chain, in a fixed order (two transactions never deadlock on heads): when this process
    knows the chain's head from its last commit, the head is moved with one compare-and-set
    ``UPDATE … WHERE seq = :known AND hash = :known`` (which also locks it); only if that matches
    no row (another process or transaction moved it, or nothing is known) is the head read
    ``FOR UPDATE`` and moved after. Either way the rows link to the head as the database holds
    it inside this transaction."""
    rows = session.info.pop(_PENDING, None)
    if not rows:
        return 0
    by_chain: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        row["chain"] = row["municipality_id"] or SYSTEM_CHAIN
        by_chain.setdefault(row["chain"], []).append(row)
    conn = session.connection()
    known = _KNOWN_HEADS.get(conn.engine, {})
    moved: dict[int, tuple[int, str]] = {}
    for chain in sorted(by_chain):
        chain_rows = by_chain[chain]
        head = known.get(chain)
        if head is not None:
            seq, digest = _link(chain_rows, *head)
            if conn.execute(_MOVE_KNOWN_HEAD, {
                    "b_chain": chain, "b_old_seq": head[0], "b_old_hash": head[1],
                    "b_seq": seq, "b_hash": digest}).rowcount == 1:
                _insert(conn, chain_rows)
                moved[chain] = (seq, digest)
                continue
        head = conn.execute(_HEAD_FOR_UPDATE, {"chain": chain}).one_or_none()
        if head is None:  # the chain's first row: create its head (once per chain, ever)
            _ensure_head(conn, chain)
            head = conn.execute(_HEAD_FOR_UPDATE, {"chain": chain}).one()
        seq, digest = _link(chain_rows, head.seq, head.hash)
        _insert(conn, chain_rows)
        conn.execute(_MOVE_HEAD, {"b_chain": chain, "b_seq": seq, "b_hash": digest})
        moved[chain] = (seq, digest)
    session.info[_MOVED] = (conn.engine, moved)
    return len(rows)


def _link(rows: list[dict[str, Any]], seq: int, prev: str) -> tuple[int, str]:
    """Number, hash and seal ``rows`` onto a head (seq, hash); the new head."""
    keys = log_keys()
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        row["hash"] = prev = chain_hash(prev, AuditEvent.content_of(row))
        row["mac"] = keys.seal(SEAL_AUDIT, prev) if keys is not None else None
    return seq, prev


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_MOVED, None)


_MOVED = "bti.audit_moved"
#: engine → chain → (seq, hash) of the head as this process last committed it. Only a hint:
#: a stale entry makes the compare-and-set miss, and the head is then read from the database.
_KNOWN_HEADS: WeakKeyDictionary[Any, dict[int, tuple[int, str]]] = WeakKeyDictionary()
_HEAD_FOR_UPDATE = (select(AuditChainHead.seq, AuditChainHead.hash)
                    .where(AuditChainHead.chain == bindparam("chain")).with_for_update())
_MOVE_HEAD = (update(AuditChainHead).where(AuditChainHead.chain == bindparam("b_chain"))
              .values(seq=bindparam("b_seq"), hash=bindparam("b_hash")))
#: The two statements of every transaction that audits something, built once: Core on the
#: session's connection (SQLAlchemy's compiled cache serves them; logged and traced as usual).
_MOVE_KNOWN_HEAD = (update(AuditChainHead)
                    .where(AuditChainHead.chain == bindparam("b_chain"),
                           AuditChainHead.seq == bindparam("b_old_seq"),
                           AuditChainHead.hash == bindparam("b_old_hash"))
                    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash")))
_INSERT = AuditEvent.__table__.insert()


#: The most rows one multi-row ``INSERT`` carries (well below SQLite's bound parameters).
_ROWS_PER_INSERT = 200


def _insert(conn, rows: list[dict[str, Any]]) -> None:
    """The rows in order: one statement per run of rows with the same columns (a multi-row
    ``INSERT … VALUES (…), (…)``: a page's two reads are one statement, not one per row)."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].keys() != rows[start].keys() \
                or i - start == _ROWS_PER_INSERT:
            run = rows[start:i]
            conn.execute(_INSERT.values(run) if len(run) > 1 else _INSERT.values(run[0]))
            start = i


def _ensure_head(conn, chain: int) -> None:
    """Create the chain's head row if it is missing; concurrent creators do not collide."""
    conn.execute(insert_ignoring_conflicts(conn, AuditChainHead, index_elements=["chain"])
                 .values(chain=chain, seq=0, hash=GENESIS_HASH))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending(session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    moved = session.info.pop(_MOVED, None)
    if moved is not None:
        engine, heads_now = moved
        _KNOWN_HEADS.setdefault(engine, {}).update(heads_now)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    discard_pending(session)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    chain: int
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "head"
        return f"audit chain {self.chain}: {where}: {self.what}"


def heads(session: Session) -> dict[int, tuple[int, str]]:
    return {h.chain: (h.seq, h.hash) for h in session.scalars(select(AuditChainHead))}


_FROM_ENV: Any = object()


def verify(session: Session, anchor: dict[int, tuple[int, str]] | None = None,
           keys: LogKeys | None = _FROM_ENV,
           visit: Callable[[AuditEvent], None] | None = None) -> Iterator[AuditProblem]:
    """Every break in every audit chain. With ``anchor`` (chain → (seq, hash) exported earlier,
    outside the database) a truncated tail or a rewritten chain is found too; with ``keys``
    (default: ``BTI_LOG_KEYS``) a row whose seal is missing or wrong (edited and rehashed, or
    forged). ``visit`` is called with every row of a chain that verified up to that row
    (``bti.services.access.integrity`` cross-checks the case logs with them)."""
    keys = log_keys() if keys is _FROM_ENV else keys
    db_heads = heads(session)
    for chain in sorted(set(db_heads) | set(anchor or {})):
        prev, expected, last = GENESIS_HASH, 1, None
        rows = session.scalars(select(AuditEvent).where(AuditEvent.chain == chain)
                               .order_by(AuditEvent.seq).execution_options(yield_per=1000))
        hashes: dict[int, str] = {0: GENESIS_HASH}  # an anchor taken while the chain was empty
        problem = None
        try:  # a server-side cursor on PostgreSQL: close it when we stop early
            for row in rows:
                if row.seq != expected:
                    problem = AuditProblem(chain, row.seq, "a row is missing before this one"
                                           if row.seq > expected else "sequence out of order")
                    break
                if row.prev_hash != prev:
                    problem = AuditProblem(chain, row.seq, "does not link to the row before it")
                    break
                if chain_hash(prev, AuditEvent.content_of(row)) != row.hash:
                    problem = AuditProblem(chain, row.seq,
                                           "content does not match its hash (edited)")
                    break
                if keys is not None and (bad := keys.check(SEAL_AUDIT, row.hash, row.mac)):
                    problem = AuditProblem(chain, row.seq, bad)
                    break
                prev, expected, last = row.hash, expected + 1, row
                if anchor and chain in anchor and anchor[chain][0] == row.seq:
                    hashes[row.seq] = row.hash
                if visit is not None:
                    visit(row)
        finally:
            rows.close()
        if problem:
            yield problem
            continue
        head = db_heads.get(chain)
        last_seq = last.seq if last else 0
        if head is None or head != (last_seq, prev):
            yield AuditProblem(chain, last_seq or None,
                               "the chain head does not match the last row (rows removed?)")
            continue
        if anchor and chain in anchor:
            a_seq, a_hash = anchor[chain]
            if a_seq > last_seq:
                yield AuditProblem(chain, a_seq, f"the anchor holds seq {a_seq}, the database "
                                   f"ends at {last_seq}: the tail was truncated")
            elif hashes.get(a_seq) != a_hash:
                yield AuditProblem(chain, a_seq, "the row at the anchor's seq has another hash: "
                                   "the chain was rewritten")


# --- the external anchor ----------------------------------------------------------------------
#
# The chain finds an edited, removed, inserted or reordered row by itself. A removed tail or a
# chain rewritten from the start (with its head moved to match) is found only against heads
# stored earlier outside the database: the anchor file, one JSON line per export, appended to and
# never rewritten. For each chain the last line that names it is its anchor.


class AnchorError(Exception):
    """The anchor file cannot be read."""


def anchor_line(session: Session, at: datetime) -> str:
    """One JSON line with every chain head now (chain, seq, hash) and the UTC time."""
    return canonical_json({
        "at": at.astimezone(UTC).isoformat(timespec="seconds"),
        "heads": [{"chain": c, "seq": s, "hash": h}
                  for c, (s, h) in sorted(heads(session).items())],
    })


def append_anchor(path: Path, line: str) -> None:
    """Append ``line`` and push it to the disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_anchor(path: Path) -> dict[int, tuple[int, str]]:
    """chain → (seq, hash) from the last line naming each chain."""
    out: dict[int, tuple[int, str]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise AnchorError(f"cannot read the anchor file {path}: {err.strerror}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            for h in json.loads(line)["heads"]:
                seq, digest = int(h["seq"]), str(h["hash"])
                if len(digest) != 64:
                    raise ValueError("hash")
                out[int(h["chain"])] = (seq, digest)
        except (ValueError, KeyError, TypeError) as err:
            raise AnchorError(f"{path}: line {n} is not an anchor line ({err})") from None
    return out
