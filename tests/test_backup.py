"""``bti backup`` and ``bti restore`` while the app writes: the restored database holds a
consistent snapshot (every case's version and state agree with its stafettlogg, every note has
its entry), the chains verify with ``bti audit verify``, and nothing written after the backup
is in it. SQLite through its online backup API; PostgreSQL with pg_dump/pg_restore into a new
database. All names and texts are made up."""

from __future__ import annotations

import threading
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.cases import Note
from bti.domain.log import StafettloggEntry
from bti.services.cases import lifecycle as cases
from tests.conftest import World
from tests.dbs import pg_schema
from tests.dbs import sqlite_only
from tests.factories import CONCERN


class Writer:
    """Adds notes to a few cases in a loop, one transaction each, until stopped; remembers
    which notes were committed."""

    def __init__(self, engine, registry, world_ids):
        self.factory = make_session_factory(engine)
        self.registry = registry
        self.user_id, self.case_ids = world_ids
        self.committed: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        from bti.domain.org import User
        from bti.services.context import Ctx

        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                with self.factory.begin() as s:
                    ctx = Ctx(session=s, actor=s.get(User, self.user_id), workflows=self.registry)
                    note = f"Notat {n} under kopiering"
                    cases.fire(ctx, self.case_ids[n % len(self.case_ids)], "add_note",
                               {"text": note})
                self.committed.append(note)
        except BaseException as err:  # reported by the test
            self.error = err

    def __enter__(self):
        self.thread.start()
        return self

    def wait_for(self, n: int) -> None:
        while len(self.committed) < n and self.thread.is_alive():
            self.stop.wait(0.01)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
        assert self.error is None, repr(self.error)


def _seed(engine, registry) -> tuple[int, list[int]]:
    with make_session_factory(engine)() as s:
        w = World(s, registry, "bti-standard")
        ids = [cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym=f"Kopi {i}",
                               child_birth_year=2016, concern=dict(CONCERN)).case.id
               for i in range(3)]
        cases.fire(w.ctx(w.teacher), ids[0], "start")
        s.commit()
        return w.teacher.id, ids


def _consistent(engine) -> set[str]:
    """Every case's version, state and log head agree with its stafettlogg; every note has its
    entry. Returns the note texts."""
    with make_session_factory(engine)() as s:
        for case in s.scalars(select(Case)):
            entries = list(s.scalars(select(StafettloggEntry).where(
                StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq)))
            assert entries, case.id
            assert case.log_seq == entries[-1].seq == len(entries)
            assert case.state == entries[-1].to_state
            notes = s.scalar(select(func.count()).select_from(Note)
                             .where(Note.case_id == case.id))
            assert notes == sum(e.trigger == "add_note" for e in entries)
        return set(s.scalars(select(Note.text)))


def _cli(url: str, *args):
    return CliRunner().invoke(main, list(args), env={"BTI_DATABASE_URL": url,
                                                      "BTI_AUDIT_ANCHOR_FILE": ""})


@sqlite_only
def test_sqlite_backup_while_writing_then_restore(tmp_path, registry):
    live_url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    live = make_engine(live_url)
    create_schema(live)
    ids = _seed(live, registry)
    with Writer(live, registry, ids) as writer:
        writer.wait_for(20)
        before = len(writer.committed)
        r = _cli(live_url, "backup", str(tmp_path / "b" / "backup.sqlite3"))
        after = len(writer.committed)
        writer.wait_for(after + 20)  # and the app goes on writing
    assert r.exit_code == 0, r.output
    assert "sqlite backup" in r.output
    # a backup never overwrites
    assert _cli(live_url, "backup", str(tmp_path / "b" / "backup.sqlite3")).exit_code == 1

    restored_url = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    r = _cli(restored_url, "restore", str(tmp_path / "b" / "backup.sqlite3"))
    assert r.exit_code == 0, r.output
    restored = make_engine(restored_url)
    notes = _consistent(restored)
    committed = writer.committed
    # the snapshot: everything committed before the backup began, nothing invented, and a
    # prefix of the writer's order (no gap)
    assert set(committed[:before]) <= notes
    assert notes == set(committed[:len(notes)])
    assert len(notes) <= after + 1
    assert len(notes) < len(committed)  # writes after the backup are not in it
    r = _cli(restored_url, "audit", "verify")
    assert r.exit_code == 0, r.output
    assert "every stafettlogg chain verifies" in r.output
    # restoring over a database with tables needs --force (and the app stopped)
    r = _cli(restored_url, "restore", str(tmp_path / "b" / "backup.sqlite3"))
    assert r.exit_code == 1
    assert "not empty" in r.output
    restored.dispose()
    live.dispose()


@sqlite_only
def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    r = _cli(f"sqlite:///{tmp_path / 'x.sqlite3'}", "restore", str(junk))
    assert r.exit_code == 1
    assert "not a SQLite database" in r.output


@pytest.mark.postgres
def test_postgres_pg_dump_while_writing_then_pg_restore_into_a_new_database(tmp_path, registry,
                                                                           postgres_url):
    with pg_schema(postgres_url, prefix="bti_backup") as live_url:
        live = make_engine(live_url)
        create_schema(live)
        ids = _seed(live, registry)
        with Writer(live, registry, ids) as writer:
            writer.wait_for(20)
            before = len(writer.committed)
            r = _cli(live_url, "backup", str(tmp_path / "backup.dump"))
            after = len(writer.committed)
            writer.wait_for(after + 10)
        assert r.exit_code == 0, r.output
        assert "pg_dump backup" in r.output
        live.dispose()

        # a new, empty database on the same server, with the same search_path
        dbname = f"bti_restore_{uuid.uuid4().hex[:10]}"
        admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {dbname}"))
        restored_url = make_url(live_url).set(database=dbname).render_as_string(
            hide_password=False)
        try:
            r = _cli(restored_url, "restore", str(tmp_path / "backup.dump"))
            assert r.exit_code == 0, r.output
            restored = make_engine(restored_url)
            notes = _consistent(restored)
            assert set(writer.committed[:before]) <= notes
            assert notes == set(writer.committed[:len(notes)])
            assert len(notes) < len(writer.committed)
            r = _cli(restored_url, "audit", "verify")
            assert r.exit_code == 0, r.output
            # the restored database is not empty any more: a second restore is refused
            r = _cli(restored_url, "restore", str(tmp_path / "backup.dump"))
            assert r.exit_code == 1
            assert "not empty" in r.output
            restored.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
            admin.dispose()
