"""Everything ``bti audit verify`` checks: each case's stafettlogg, each audit chain, and the two
against each other and against the purge tombstones.

The chains alone catch an edited, removed, inserted or reordered row. What they cannot catch is
tampering that keeps a chain consistent, done by someone who can write to the tables:

* an entry edited and every hash after it recomputed, or a forged entry appended with a correct
  hash: the chain hash is unkeyed, but every row also carries a seal (``mac``, HMAC-SHA256 under
  ``BTI_LOG_KEYS``, a key outside the database; ``bti.domain.log.LogKeys``) that cannot be
  recomputed without the key;
* the tail of a case's log removed with the case's head (``log_seq``, ``log_head``, ``state``)
  rewound, or a whole case deleted from every table: every entry is written in the same
  transaction as a sealed audit row (``case.opened``/``case.transition`` with ``log_seq``; a
  bulk-generated demo case has one ``case.generated`` row), and the audit chains are sealed and
  anchored outside the database (``bti audit anchor``). So each case's log must end exactly where
  its audit rows say, and a case the audit trail knows must still be there, or have a tombstone;
* a purge forged to get past the delete trigger: a tombstone (``case_purge``) counts only with
  the sealed ``case.purged`` audit row of the same transaction (same case, time, rule, archive
  hash and row count), and only for a case that is gone.

What stays out of reach: rows written after the last anchor can be removed from the tail of an
audit chain together with what they record (anchor often), and whoever holds the keys can forge
(keep them off the database host). Without ``BTI_LOG_KEYS`` the seals are not checked, and the
report says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.config import log_keys
from bti.domain.cases import Case
from bti.domain.log import AuditEvent
from bti.domain.log import CasePurge
from bti.domain.log import LogKeys
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.cases.stafettlogg import verify_case

#: Audit actions written in the same transaction as stafettlogg entries; ``details.log_seq`` is
#: the seq of the (last) entry they account for.
LOGGED_ACTIONS = frozenset({AuditAction.CASE_OPENED, AuditAction.CASE_TRANSITION,
                            AuditAction.CASE_GENERATED,
                            # a case received from another municipality: its entries, the
                            # received ones and the import's, in one transaction
                            AuditAction.CASE_TRANSFER_IMPORTED})

_FROM_ENV: Any = object()


@dataclass(frozen=True)
class CaseProblem:
    """A case whose log, audit rows and tombstone disagree."""

    case_id: int
    what: str

    def __str__(self) -> str:
        return f"case {self.case_id}: {self.what}"


@dataclass
class Report:
    """What was verified (filled in as ``verify`` runs)."""

    cases: int = 0
    audit_chains: int = 0
    audit_rows: int = 0
    tombstones: int = 0
    sealed: bool = False


@dataclass(frozen=True)
class _Purge:
    at: datetime
    rule: Any
    archive_sha256: Any
    rows: Any


class _Tally:
    """What the verified audit rows say about each case."""

    def __init__(self) -> None:
        self.rows = 0
        #: case → highest ``log_seq`` in its logged rows
        self.top: dict[int, int] = {}
        #: case → logged rows without ``log_seq`` (written before it was recorded: one entry each)
        self.legacy: dict[int, int] = {}
        self.purges: dict[int, list[_Purge]] = {}

    def visit(self, row: AuditEvent) -> None:
        self.rows += 1
        case_id = row.case_id
        if case_id is None or row.outcome != "allowed":
            return
        action = row.action
        if action in LOGGED_ACTIONS:
            seq = json.loads(row.details).get("log_seq")
            if isinstance(seq, int):
                if seq > self.top.get(case_id, 0):
                    self.top[case_id] = seq
            else:
                self.legacy[case_id] = self.legacy.get(case_id, 0) + 1
        elif action == AuditAction.CASE_PURGED:
            d = json.loads(row.details)
            self.purges.setdefault(case_id, []).append(
                _Purge(row.at, d.get("rule"), d.get("archive_sha256"), d.get("rows")))

    def covered(self, case_id: int) -> int:
        """The last stafettlogg seq the audit trail accounts for."""
        return max(self.top.get(case_id, 0), self.legacy.get(case_id, 0))


def verify(session: Session, anchor: dict[int, tuple[int, str]] | None = None,
           keys: LogKeys | None = _FROM_ENV, report: Report | None = None
           ) -> Iterator[Any]:
    """Every problem, in this order: broken case chains (``ChainProblem``), broken audit chains
    (``AuditProblem``, against ``anchor`` too when given), then cases whose log, audit rows and
    tombstone disagree (``CaseProblem``). ``keys`` defaults to ``BTI_LOG_KEYS``; None checks no
    seals. ``report`` is filled in with what was verified."""
    keys = log_keys() if keys is _FROM_ENV else keys
    report = report if report is not None else Report()
    report.sealed = keys is not None
    heads: dict[int, int] = {}
    # every case's chain, practice cases' too
    for case in session.scalars(select(Case).order_by(Case.id).execution_options(
            yield_per=500, include_practice=True)):
        problem = verify_case(session, case, keys)
        if problem is not None:
            yield problem
        heads[case.id] = case.log_seq
    report.cases = len(heads)
    tally = _Tally()
    chains = audit.heads(session)
    report.audit_chains = len(chains)
    yield from audit.verify(session, anchor, keys, visit=tally.visit)
    report.audit_rows = tally.rows
    tombstones = {t.case_id: t for t in session.scalars(select(CasePurge))}
    report.tombstones = len(tombstones)
    yield from _cross_check(heads, tally, tombstones)


def _cross_check(heads: dict[int, int], tally: _Tally, tombstones: dict[int, CasePurge]
                 ) -> Iterator[CaseProblem]:
    known = set(heads) | set(tally.top) | set(tally.legacy) | set(tally.purges) | set(tombstones)
    for case_id in sorted(known):
        covered = tally.covered(case_id)
        tomb = tombstones.get(case_id)
        purges = tally.purges.get(case_id, [])
        if case_id in heads:
            last = heads[case_id]
            if tomb is not None:
                yield CaseProblem(case_id, "a tombstone (case_purge) names this case, but the "
                                  "case is still here: the tombstone is forged")
            elif purges:
                yield CaseProblem(case_id, "the audit trail records its purge, but the case is "
                                  "here (restored from an older backup? run bti privacy purge "
                                  "--replay)")
            elif covered > last:
                yield CaseProblem(case_id, f"the audit trail records stafettlogg entries up to "
                                  f"seq {covered}, the log ends at seq {last}: its tail was "
                                  "removed")
            elif covered < last:
                yield CaseProblem(case_id, f"stafettlogg entries {covered + 1}-{last} have no "
                                  "audit row: forged, or written around the app")
            continue
        if tomb is None:
            if purges:
                yield CaseProblem(case_id, "the audit trail records its purge, but its tombstone "
                                  "(case_purge) is gone")
            else:
                yield CaseProblem(case_id, f"the audit trail records this case (stafettlogg up "
                                  f"to seq {covered}), but it is gone and no tombstone says it "
                                  "was purged: it was deleted")
            continue
        if not purges:
            yield CaseProblem(case_id, "its tombstone (case_purge) has no case.purged audit "
                              "row: the purge is forged")
        elif not any(_matches(tomb, p) for p in purges):
            yield CaseProblem(case_id, "its tombstone (case_purge) does not match the "
                              "case.purged audit row of its purge (edited?)")


def _matches(tomb: CasePurge, purge: _Purge) -> bool:
    try:
        rows = sum(json.loads(tomb.counts).values())
    except (ValueError, TypeError, AttributeError):
        return False
    return (purge.at == tomb.purged_at and purge.rule == tomb.rule
            and purge.archive_sha256 == tomb.archive_sha256 and purge.rows == rows)
