"""Appending to and verifying the stafettlogg, the hash-chained, append-only log of a case."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.config import log_keys
from bti.domain.cases import GENESIS_HASH
from bti.domain.cases import Case
from bti.domain.log import SEAL_STAFETTLOGG
from bti.domain.log import LogKeys
from bti.domain.log import StafettloggEntry
from bti.domain.log import canonical_json
from bti.domain.log import chain_hash
from bti.services.context import Ctx

#: The key of an entry's data saying it is shared with the family (``True``); an entry without
#: it is internal. Part of the hashed content: the choice cannot be changed without breaking
#: the chain, and nothing changes it (the log is append-only).
FAMILY_KEY = "shared_with_family"


def with_sharing(data: dict[str, Any], shared: bool) -> dict[str, Any]:
    """``data`` marked as shared with the family when ``shared`` (internal: unmarked)."""
    if shared:
        data[FAMILY_KEY] = True
    else:
        data.pop(FAMILY_KEY, None)
    return data


def is_shared(data: dict[str, Any]) -> bool:
    return data.get(FAMILY_KEY) is True


def append(
    ctx: Ctx,
    case: Case,
    *,
    kind: str,
    trigger: str,
    from_state: str | None,
    to_state: str,
    data: dict[str, Any],
    object_type: str | None = None,
    object_id: int | None = None,
    at: datetime | None = None,
) -> StafettloggEntry:
    """Append one entry and move the case's chain head, in the caller's transaction.

    The row is written at once with a Core ``INSERT … RETURNING id`` on the session's connection
    (``Connection.execute`` of one statement built at import, so SQLAlchemy's compiled cache
    serves it; logged and traced like every other statement): no unit-of-work bookkeeping for
    a row that is never changed. The entry returned is a transient copy of what was
    written. ``at`` (default now) dates an entry received with a transferred case: the
    moment it happened at the sending municipality."""
    at = ctx.now() if at is None else at
    values: dict[str, Any] = {
        "case_id": case.id,
        "seq": case.log_seq + 1,
        "at": at,
        "actor_id": ctx.actor.id,
        "kind": kind,
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "object_type": object_type,
        "object_id": object_id,
        "data": canonical_json(data),
        "prev_hash": case.log_head,
    }
    values["hash"] = digest = chain_hash(values["prev_hash"], StafettloggEntry.content_of(values))
    keys = log_keys()
    values["mac"] = keys.seal(SEAL_STAFETTLOGG, digest) if keys is not None else None
    entry_id = ctx.session.connection().execute(_INSERT, values).scalar_one()
    case.log_seq = values["seq"]
    case.log_head = values["hash"]
    case.last_activity_at = at
    return StafettloggEntry(id=entry_id, **values)  # transient: written already


_TABLE = StafettloggEntry.__table__
_INSERT = _TABLE.insert().returning(_TABLE.c.id)


@dataclass(frozen=True)
class ChainProblem:
    case_id: int
    seq: int | None
    entry_id: int | None
    what: str

    def __str__(self) -> str:
        where = f"entry seq {self.seq} (id {self.entry_id})" if self.seq is not None else "head"
        return f"case {self.case_id}: {where}: {self.what}"


_FROM_ENV: Any = object()


def verify_case(session: Session, case: Case, keys: LogKeys | None = _FROM_ENV
                ) -> ChainProblem | None:
    """The first break in the case's chain, or None when it verifies.

    Detects an edited entry (hash mismatch), a deleted or inserted entry (sequence or link
    break), a truncated tail (the case's head no longer matches) and a state that does not
    follow from replaying the log; with ``keys`` (default: ``BTI_LOG_KEYS``) also an entry whose
    seal is missing or wrong (edited with the chain rehashed after it, or forged). A tail
    removed together with the case's head is found by ``bti.services.access.integrity`` against the
    audit trail."""
    entries = session.scalars(
        select(StafettloggEntry).where(StafettloggEntry.case_id == case.id)
        .order_by(StafettloggEntry.seq)
    )
    return check_chain(case, entries, log_keys() if keys is _FROM_ENV else keys)


def check_chain(case: Case, entries: Iterator[StafettloggEntry] | list,
                keys: LogKeys | None = None) -> ChainProblem | None:
    prev_hash = GENESIS_HASH
    expected_seq = 1
    state: str | None = None
    last: StafettloggEntry | None = None
    for e in entries:
        if e.seq != expected_seq:
            what = "an entry is missing before this one" if e.seq > expected_seq else \
                "sequence number repeated or out of order"
            return ChainProblem(case.id, e.seq, e.id, what)
        if e.prev_hash != prev_hash:
            return ChainProblem(case.id, e.seq, e.id, "does not link to the entry before it")
        if e.compute_hash() != e.hash:
            return ChainProblem(case.id, e.seq, e.id, "content does not match its hash (edited)")
        if e.from_state != state:
            return ChainProblem(case.id, e.seq, e.id, "starts from a state the log did not reach")
        if keys is not None and (bad := keys.check(SEAL_STAFETTLOGG, e.hash, e.mac)):
            return ChainProblem(case.id, e.seq, e.id, bad)
        prev_hash, state, last = e.hash, e.to_state, e
        expected_seq += 1
    if last is None:
        return ChainProblem(case.id, None, None, "the case has no stafettlogg")
    if case.log_seq != last.seq or case.log_head != last.hash:
        return ChainProblem(case.id, last.seq, last.id,
                            f"the case's head is seq {case.log_seq}; "
                            "entries after this are missing")
    if case.state != state:
        return ChainProblem(case.id, last.seq, last.id,
                            f"replaying the log gives {state!r}, the case is in {case.state!r}")
    return None


def replay_state(entries: list[StafettloggEntry]) -> str | None:
    return entries[-1].to_state if entries else None


def verify_all(session: Session, keys: LogKeys | None = _FROM_ENV) -> Iterator[ChainProblem]:
    """Every broken case chain, streaming over the cases."""
    keys = log_keys() if keys is _FROM_ENV else keys
    # every case's chain, practice cases' too
    for case in session.scalars(select(Case).order_by(Case.id).execution_options(
            yield_per=500, include_practice=True)):
        problem = verify_case(session, case, keys)
        if problem is not None:
            yield problem
