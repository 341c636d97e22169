"""The audit chain against an attacker with database rights (AUD-03), and concurrent appenders
(AUD-04), on SQLite and on PostgreSQL.

The attacker drops the append-only triggers and changes rows directly. Edits, deletions,
insertions and reordering break the chain by themselves; a chain rewritten with its hashes
recomputed (and the head moved to match) breaks the rows' seals (``BTI_LOG_KEYS``, set by
tests/conftest.py); removing the tail (and moving the head back) is caught only against the
anchor exported earlier.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import GENESIS_HASH
from bti.domain.log import AuditEvent
from bti.domain.log import chain_hash
from bti.domain.log import drop_append_only_ddl
from bti.services.access import audit
from bti.services.context import Ctx
from tests.dbs import owner_engine
from tests.factories import FIXED_NOW
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

ROWS = 12


def _setup(factory):
    """A municipality with one user; returns (chain, actor)."""
    with factory.begin() as s:
        m = make_municipality(s)
        user = make_user(s, m, make_unit(s, m), ("employee",))
        return m.id, user.as_actor()


def _append(factory, actor, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with factory.begin() as s:
            ctx = Ctx(session=s, actor=actor, workflows=None,
                      now=lambda i=i: FIXED_NOW + timedelta(seconds=i))
            audit.record(ctx, "case.viewed", object_type="case", object_id=i, basis="reporter")


def _problems(factory, anchor=None):
    with factory() as s:
        return list(audit.verify(s, anchor))


def _forged_values(conn, chain: int, seq: int, prev_hash: str) -> dict:
    row = conn.execute(select(AuditEvent.__table__).where(
        AuditEvent.chain == chain, AuditEvent.seq == 1)).mappings().one()
    values = {k: v for k, v in row.items() if k != "id"}
    values.update(seq=seq, action="case.viewed", object_id=999, prev_hash=prev_hash)
    values["hash"] = chain_hash(prev_hash, AuditEvent.content_of(values))
    return values


def _rewrite_all(conn, chain: int) -> None:
    """Recompute the whole chain after editing row 3, and move the head to match."""
    rows = conn.execute(select(AuditEvent.__table__).where(AuditEvent.chain == chain)
                        .order_by(AuditEvent.seq)).mappings().all()
    prev = GENESIS_HASH
    for row in rows:
        values = dict(row)
        if values["seq"] == 3:
            values["action"] = "case.listed"  # hide what was really done
        values["prev_hash"] = prev
        prev = chain_hash(prev, AuditEvent.content_of(values))
        conn.execute(AuditEvent.__table__.update().where(AuditEvent.id == row["id"])
                     .values(action=values["action"], prev_hash=values["prev_hash"], hash=prev))
    conn.execute(text("UPDATE audit_chain_head SET hash = :h WHERE chain = :c"),
                 {"h": prev, "c": chain})


def _truncate_tail(conn, chain: int) -> None:
    """Remove the last three rows and move the head back to the new last row."""
    conn.execute(text("DELETE FROM audit_event WHERE chain = :c AND seq > :s"),
                 {"c": chain, "s": ROWS - 3})
    last = conn.execute(text("SELECT seq, hash FROM audit_event WHERE chain = :c "
                             "ORDER BY seq DESC LIMIT 1"), {"c": chain}).one()
    conn.execute(text("UPDATE audit_chain_head SET seq = :s, hash = :h WHERE chain = :c"),
                 {"s": last.seq, "h": last.hash, "c": chain})


def _insert_forged(conn, chain: int) -> None:
    """A correctly hashed forged row 4 after row 3; the rows after it are moved up by one."""
    conn.execute(text("UPDATE audit_event SET seq = seq + 100 WHERE chain = :c AND seq > 3"),
                 {"c": chain})
    prev = conn.execute(text("SELECT hash FROM audit_event WHERE chain = :c AND seq = 3"),
                        {"c": chain}).scalar_one()
    conn.execute(AuditEvent.__table__.insert(), _forged_values(conn, chain, 4, prev))
    conn.execute(text("UPDATE audit_event SET seq = seq - 99 WHERE chain = :c AND seq > 100"),
                 {"c": chain})


def _sql(*statements):
    def run(conn, chain):
        for sql in statements:
            conn.execute(text(sql), {"c": chain})
    return run


#: scenario → (attack, caught without the anchor?)
SCENARIOS = {
    "edit": (_sql("UPDATE audit_event SET basis = 'stafettholder' WHERE chain = :c AND seq = 5"),
             True),
    "delete_middle": (_sql("DELETE FROM audit_event WHERE chain = :c AND seq = 5"), True),
    "insert_forged": (_insert_forged, True),
    "reorder": (_sql("UPDATE audit_event SET seq = -1 WHERE chain = :c AND seq = 5",
                     "UPDATE audit_event SET seq = 5 WHERE chain = :c AND seq = 6",
                     "UPDATE audit_event SET seq = 6 WHERE chain = :c AND seq = -1"), True),
    "truncate_tail": (_truncate_tail, False),
    "rewrite_all": (_rewrite_all, True),  # the seals: the attacker has no key
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        create_schema(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_engine")


def _attack(engine, chain, scenario) -> None:
    attack, _ = SCENARIOS[scenario]
    with owner_engine(engine) as owner, owner.begin() as conn:
        for sql in drop_append_only_ddl(conn.dialect.name, "audit_event"):
            conn.execute(text(sql))  # the attacker has DB rights
        attack(conn, chain)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_tampering_is_caught(db_engine, scenario):
    factory = make_session_factory(db_engine)
    chain, actor = _setup(factory)
    _append(factory, actor, ROWS)
    with factory() as s:
        anchor = audit.heads(s)  # exported earlier, kept outside the database
    assert anchor[chain][0] == ROWS
    assert _problems(factory) == []
    assert _problems(factory, anchor) == []

    _attack(db_engine, chain, scenario)

    caught_alone = bool(_problems(factory))
    with_anchor = _problems(factory, anchor)
    assert with_anchor, f"{scenario} was not caught even with the anchor"
    assert all(p.chain == chain for p in with_anchor)
    assert caught_alone == SCENARIOS[scenario][1], scenario


def test_all_six_scenarios_are_in_the_suite():
    assert len(SCENARIOS) == 6


def test_a_removed_tail_with_the_head_left_alone_is_caught_without_anchor(db_engine):
    factory = make_session_factory(db_engine)
    chain, actor = _setup(factory)
    _append(factory, actor, 5)
    with owner_engine(db_engine) as owner, owner.begin() as conn:
        for sql in drop_append_only_ddl(conn.dialect.name, "audit_event"):
            conn.execute(text(sql))
        conn.execute(text("DELETE FROM audit_event WHERE chain = :c AND seq = 5"), {"c": chain})
    problems = _problems(factory)
    assert problems
    assert "head" in problems[0].what


def test_anchor_file_round_trip_and_growth(tmp_path, db_engine):
    factory = make_session_factory(db_engine)
    chain, actor = _setup(factory)
    _append(factory, actor, 3)
    path = tmp_path / "anchors" / "audit.jsonl"
    with factory() as s:
        audit.append_anchor(path, audit.anchor_line(s, FIXED_NOW))
    _append(factory, actor, 2, start=3)
    with factory() as s:
        audit.append_anchor(path, audit.anchor_line(s, FIXED_NOW))
    anchor = audit.read_anchor(path)
    assert anchor[chain][0] == 5  # the last line wins
    assert len(path.read_text().splitlines()) == 2
    assert _problems(factory, anchor) == []
    with factory() as s:  # an older anchor still verifies a chain that has grown since
        assert list(audit.verify(s, {chain: (3, s.scalar(select(AuditEvent.hash).where(
            AuditEvent.chain == chain, AuditEvent.seq == 3)))})) == []
    path.write_text("not json\n")
    with pytest.raises(audit.AnchorError):
        audit.read_anchor(path)


# --- concurrency (AUD-04) -----------------------------------------------------------------------

THREADS = 16
PER_THREAD = 15


def _hammer(factory, actor) -> list[BaseException]:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(PER_THREAD):
                with factory.begin() as s:
                    ctx = Ctx(session=s, actor=actor, workflows=None)
                    audit.record(ctx, "case.viewed", object_type="case", object_id=t * 1000 + i)
                    if i % 3 == 0:  # some transactions queue two rows
                        audit.record(ctx, "case.listed", object_type="case",
                                     object_id=t * 1000 + i)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a writer hung"
    return errors


@pytest.mark.parametrize("first_row", [False, True], ids=["fresh_chain", "existing_chain"])
def test_concurrent_appenders_never_fork_or_lose_rows(db_engine, first_row):
    factory = make_session_factory(db_engine)
    chain, actor = _setup(factory)
    if first_row:
        _append(factory, actor, 1)
    errors = _hammer(factory, actor)
    assert errors == []
    expected = (1 if first_row else 0) + THREADS * (PER_THREAD + len(range(0, PER_THREAD, 3)))
    with factory() as s:
        seqs = s.scalars(select(AuditEvent.seq).where(AuditEvent.chain == chain)
                         .order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, expected + 1))  # no gap, no duplicate: no fork
        assert s.scalar(select(func.count(func.distinct(AuditEvent.prev_hash)))
                        .where(AuditEvent.chain == chain)) == expected
        assert audit.heads(s)[chain] == (expected, s.scalar(
            select(AuditEvent.hash).where(AuditEvent.chain == chain,
                                          AuditEvent.seq == expected)))
        assert list(audit.verify(s)) == []
