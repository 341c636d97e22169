"""Consistent tampering with the stafettlogg is caught by ``bti audit verify --anchor`` (run in a
subprocess, as an operator runs it), on SQLite and PostgreSQL.

Each attack is raw SQL, as someone with write access to the tables would do it, keeping every
chain consistent (a naive edit, delete or reorder is caught by the chains alone:
tests/services/test_stafettlogg.py). Where the attack needs more than the runtime role's rights
the attacker works as the owner of the tables (on SQLite: whoever can open the file) and drops
the append-only triggers; the forged append needs nothing but the runtime role. The attacker has
no log key (``BTI_LOG_KEYS``, set by tests/conftest.py) and no access to the anchor file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import GENESIS_HASH
from bti.domain.cases import Case
from bti.domain.log import AuditEvent
from bti.domain.log import CasePurge
from bti.domain.log import StafettloggEntry
from bti.domain.log import chain_hash
from bti.domain.log import drop_append_only_ddl
from bti.domain.models import Base
from bti.services.access import audit
from bti.services.access import integrity
from bti.services.cases import lifecycle as cases
from bti.services.privacy import export as privacy
from tests.conftest import World
from tests.dbs import owner_engine
from tests.factories import CONCERN
from tests.factories import FIXED_NOW

BTI = Path(sys.executable).with_name("bti")
ENTRIES = 6  # the attacked case: opened, four notes, one step
KEEP = 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    """(engine as the app connects, URL) of a fresh database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bti.sqlite3'}"
        eng = make_engine(url)
        create_schema(eng)
        yield eng, url
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        yield eng, eng.url.render_as_string(hide_password=False)


class Setting:
    """Two cases with their logs, committed, and an anchor file written after them."""

    def __init__(self, engine, registry, tmp_path: Path) -> None:
        self.engine = engine
        self.factory = make_session_factory(engine)
        with self.factory() as s:
            w = World(s, registry, "bti-standard")
            self.case_id = self._case(w, "A. Q.", notes=ENTRIES - 2, step=True)
            self.other_id = self._case(w, "B. Q.", notes=2)
            s.commit()
            self.municipality_id = w.municipality.id
        self.anchor = tmp_path / "outside" / "anchor.jsonl"
        with self.factory() as s:
            audit.append_anchor(self.anchor, audit.anchor_line(s, FIXED_NOW))
            assert list(integrity.verify(s, audit.read_anchor(self.anchor))) == []
            assert s.get(Case, self.case_id).log_seq == ENTRIES

    @staticmethod
    def _case(w: World, pseudonym: str, *, notes: int, step: bool = False) -> int:
        case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                               child_birth_year=2016, concern=dict(CONCERN)).case
        for i in range(notes):
            cases.fire(w.ctx(w.teacher, FIXED_NOW + timedelta(minutes=i + 1)), case.id,
                       "add_note", {"text": f"Notat {i}"})
        if step:
            cases.fire(w.ctx(w.teacher, FIXED_NOW + timedelta(minutes=30)), case.id, "start")
        return case.id


def verify(url: str, anchor: Path) -> subprocess.CompletedProcess:
    """``bti audit verify --anchor FILE`` in a subprocess."""
    env = {**os.environ, "BTI_DATABASE_URL": url}
    env.pop("BTI_AUDIT_ANCHOR_FILE", None)
    return subprocess.run([str(BTI), "audit", "verify", "--anchor", str(anchor)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _broken(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN:" in result.stderr
    for part in expected:
        assert part in result.stderr, result.stderr
    return result.stderr


def _drop(conn, *tables: str) -> None:
    for table in tables:
        for sql in drop_append_only_ddl(conn.dialect.name, table):
            conn.execute(text(sql))


def _entries(conn, case_id: int) -> list[dict]:
    t = StafettloggEntry.__table__
    return [dict(r) for r in conn.execute(select(t).where(t.c.case_id == case_id)
                                          .order_by(t.c.seq)).mappings()]


def _move_head(conn, case_id: int, last: dict) -> None:
    conn.execute(text("UPDATE case_record SET log_seq = :s, log_head = :h, state = :st "
                      "WHERE id = :c"),
                 {"s": last["seq"], "h": last["hash"], "st": last["to_state"], "c": case_id})


# --- (a) the tail truncated, the case's head and state rewound -----------------------------------


def test_a_truncated_tail_with_the_head_rewound_fails_verification(db, registry, tmp_path):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with owner_engine(engine) as owner, owner.begin() as conn:
        _drop(conn, "stafettlogg_entry")
        conn.execute(text("DELETE FROM stafettlogg_entry WHERE case_id = :c AND seq > :k"),
                     {"c": st.case_id, "k": KEEP})
        _move_head(conn, st.case_id, _entries(conn, st.case_id)[-1])
    _broken(verify(url, st.anchor), f"case {st.case_id}",
            f"records stafettlogg entries up to seq {ENTRIES}, the log ends at seq {KEEP}")


# --- (b) an entry edited and the rest of the chain rehashed --------------------------------------


def test_b_an_edited_entry_with_the_chain_rehashed_fails_verification(db, registry, tmp_path):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with owner_engine(engine) as owner, owner.begin() as conn:
        _drop(conn, "stafettlogg_entry")
        prev = GENESIS_HASH
        for row in _entries(conn, st.case_id):
            if row["seq"] == 2:
                row["data"] = '{"text":"Alt er bra heime."}'  # the note rewritten
            row["prev_hash"] = prev
            row["hash"] = prev = chain_hash(prev, StafettloggEntry.content_of(row))
            conn.execute(text("UPDATE stafettlogg_entry SET data = :d, prev_hash = :p, "
                              "hash = :h WHERE id = :id"),
                         {"d": row["data"], "p": row["prev_hash"], "h": row["hash"],
                          "id": row["id"]})
        conn.execute(text("UPDATE case_record SET log_head = :h WHERE id = :c"),
                     {"h": prev, "c": st.case_id})
    with st.factory() as s:  # the unkeyed chain alone is consistent again
        assert list(integrity.verify(s, keys=None)) == []
    _broken(verify(url, st.anchor), f"case {st.case_id}: entry seq 2",
            "seal does not match")


# --- (c) a correctly hashed forged entry appended -----------------------------------------------


def test_c_a_forged_entry_appended_fails_verification(db, registry, tmp_path):
    """Nothing but INSERT and UPDATE, which the runtime role has: no trigger stands in the
    way. The attacker copies the seal of the entry before (there is no key to make one)."""
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with engine.begin() as conn:  # as the app connects (the runtime role on PostgreSQL)
        last = _entries(conn, st.case_id)[-1]
        forged = {k: last[k] for k in ("case_id", "actor_id", "object_type", "object_id")}
        forged.update(seq=last["seq"] + 1, at=last["at"] + timedelta(minutes=5), kind="note",
                      trigger="add_note", from_state=last["to_state"], to_state=last["to_state"],
                      data='{"text":"Samtale med mor, alt i orden."}', prev_hash=last["hash"],
                      mac=last["mac"])
        forged["hash"] = chain_hash(forged["prev_hash"], StafettloggEntry.content_of(forged))
        conn.execute(StafettloggEntry.__table__.insert(), forged)
        _move_head(conn, st.case_id, forged)
    _broken(verify(url, st.anchor), f"case {st.case_id}: entry seq {ENTRIES + 1}",
            "seal does not match")


# --- (d) a whole case deleted from every table ---------------------------------------------------


def _rehash_audit_chain(conn, chain: int) -> None:
    """Renumber and rehash the chain after rows were removed, and move its head."""
    t = AuditEvent.__table__
    prev, seq = GENESIS_HASH, 0
    for row in [dict(r) for r in conn.execute(select(t).where(t.c.chain == chain)
                                              .order_by(t.c.seq)).mappings()]:
        seq += 1
        row.update(seq=seq, prev_hash=prev)
        row["hash"] = prev = chain_hash(prev, AuditEvent.content_of(row))
        conn.execute(t.update().where(t.c.id == row["id"])
                     .values(seq=seq, prev_hash=row["prev_hash"], hash=prev))
    conn.execute(text("UPDATE audit_chain_head SET seq = :s, hash = :h WHERE chain = :c"),
                 {"s": seq, "h": prev, "c": chain})


@pytest.mark.parametrize("audit_too", [False, True], ids=["case_tables", "and_audit_rehashed"])
def test_d_a_case_deleted_from_every_table_fails_verification(db, registry, tmp_path,
                                                              audit_too):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with owner_engine(engine) as owner, owner.begin() as conn:
        _drop(conn, "stafettlogg_entry", "audit_event")
        conds = privacy.linked_conditions(st.case_id)
        for table in reversed(Base.metadata.sorted_tables):
            if table in conds:
                conn.execute(delete(table).where(conds[table]))
        if audit_too:
            conn.execute(text("DELETE FROM audit_event WHERE case_id = :c"), {"c": st.case_id})
            _rehash_audit_chain(conn, st.municipality_id)
        assert conn.execute(text("SELECT count(*) FROM case_record WHERE id = :c"),
                            {"c": st.case_id}).scalar() == 0
    if audit_too:  # the audit chain is consistent again, but its seals are not
        _broken(verify(url, st.anchor), f"audit chain {st.municipality_id}",
                "seal does not match")
    else:
        _broken(verify(url, st.anchor), f"case {st.case_id}",
                "it is gone and no tombstone says it was purged")


# --- (e) a forged purge: a tombstone inserted to get past the delete trigger --------------------


def _forge_tombstone(conn, st: Setting) -> None:
    conn.execute(CasePurge.__table__.insert().values(
        case_id=st.case_id, municipality_id=st.municipality_id, purged_at=FIXED_NOW,
        rule="retention", archive_sha256="0" * 64, counts="{}"))


def test_e_a_forged_tombstone_cannot_be_removed_and_fails_verification(db, registry, tmp_path):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with owner_engine(engine) as owner:  # DML on every table, the triggers in place
        with owner.begin() as conn:
            _forge_tombstone(conn, st)
            conn.execute(text("DELETE FROM stafettlogg_entry WHERE case_id = :c AND seq > :k"),
                         {"c": st.case_id, "k": KEEP})  # the trigger lets it through
            _move_head(conn, st.case_id, _entries(conn, st.case_id)[-1])
        for sql in ("DELETE FROM case_purge WHERE case_id = :c",
                    "UPDATE case_purge SET case_id = -1 WHERE case_id = :c"):
            with owner.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql), {"c": st.case_id})
    _broken(verify(url, st.anchor), f"case {st.case_id}",
            "a tombstone (case_purge) names this case, but the case is still here")
    # with DDL the tombstone can go after all: then it is a truncated tail, and caught as one
    with owner_engine(engine) as owner, owner.begin() as conn:
        _drop(conn, "case_purge")
        conn.execute(text("DELETE FROM case_purge WHERE case_id = :c"), {"c": st.case_id})
    _broken(verify(url, st.anchor), f"case {st.case_id}", "its tail was removed")


def test_e_a_forged_tombstone_for_a_deleted_case_fails_verification(db, registry, tmp_path):
    """The whole case deleted behind a tombstone that looks like a purge: without its
    ``case.purged`` audit row it is forged."""
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    with owner_engine(engine) as owner, owner.begin() as conn:
        _forge_tombstone(conn, st)
        conds = privacy.linked_conditions(st.case_id)
        for table in reversed(Base.metadata.sorted_tables):
            if table in conds:
                conn.execute(delete(table).where(conds[table]))
    _broken(verify(url, st.anchor), f"case {st.case_id}",
            "has no case.purged audit row: the purge is forged")


# --- and what is not an attack -------------------------------------------------------------------


def test_an_untouched_database_verifies_with_seals_and_the_cross_check(db, registry, tmp_path):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    r = verify(url, st.anchor)
    assert r.returncode == 0, r.stderr
    assert "every case's log ends where its audit rows say" in r.stdout
    assert "every row is sealed by a key in BTI_LOG_KEYS (test1)" in r.stdout
    # without the keys the seals cannot be checked, and verify says so
    env = {**os.environ, "BTI_DATABASE_URL": url, "BTI_LOG_KEYS": ""}
    r = subprocess.run([str(BTI), "audit", "verify"], env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "BTI_LOG_KEYS is not set, so the seals were not checked" in r.stderr
    # a key that does not hold the seals' key id: every row is reported
    env["BTI_LOG_KEYS"] = "other:" + "z" * 40
    r = subprocess.run([str(BTI), "audit", "verify"], env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 1
    assert "sealed with key 'test1', which BTI_LOG_KEYS does not hold" in r.stderr


def test_a_rotated_key_still_verifies_the_rows_the_old_one_sealed(db, registry, tmp_path,
                                                                  monkeypatch):
    engine, url = db
    st = Setting(engine, registry, tmp_path)
    old = os.environ["BTI_LOG_KEYS"]
    monkeypatch.setenv("BTI_LOG_KEYS", "test2:" + "n" * 40 + "," + old)  # the new key first
    with st.factory() as s:
        w_actor = s.get(Case, st.other_id).opened_by_id
        from bti.domain.org import User
        from bti.services.context import Ctx
        ctx = Ctx(session=s, actor=s.get(User, w_actor).as_actor(), workflows=registry,
                  now=lambda: FIXED_NOW + timedelta(hours=1))
        entry = cases.fire(ctx, st.other_id, "add_note", {"text": "Etter nøkkelbytet"}).entry
        s.commit()
    assert entry.mac.startswith("test2:")
    r = verify(url, st.anchor)
    assert r.returncode == 0, r.stderr
    assert "(test2, test1)" in r.stdout


def test_a_bulk_generated_demo_verifies(db):
    """``bti demo-data --cases N`` above 100 writes the logs in bulk, around ``fire``: each case
    has one sealed ``case.generated`` audit row that accounts for its log."""
    _engine, url = db
    env = {**os.environ, "BTI_DATABASE_URL": url}
    r = subprocess.run([str(BTI), "demo-data", "--password", "et demo-passord som er langt nok",
                        "--cases", "150"], env=env, capture_output=True, text=True,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(BTI), "audit", "verify"], env=env, capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert "every row is sealed" in r.stdout
