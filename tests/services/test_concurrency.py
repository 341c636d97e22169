"""Concurrent transitions on one case: exactly one wins, the rest get a conflict, nothing is
lost, and SQLite never answers "database is locked"."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.log import StafettloggEntry
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.context import Ctx
from bti.services.errors import Conflict
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import FIXED_NOW

THREADS = 16


def _race(engine, registry, *, with_version: bool):
    factory = make_session_factory(engine)
    with factory.begin() as session:
        world = World(session, registry, "bti-standard")
        case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="K.",
                               child_birth_year=2015, concern=CONCERN).case
        case_id, version, teacher_id = case.id, case.version, world.teacher.id
    barrier = threading.Barrier(THREADS)
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            with factory.begin() as s:
                ctx = Ctx(session=s, actor=s.get(User, teacher_id), workflows=registry,
                          now=lambda: FIXED_NOW)
                cases.fire(ctx, case_id, "add_note", {"text": f"Notat {i}"},
                           expected_version=version if with_version else None)
            outcome = "ok"
        except Conflict:
            outcome = "conflict"
        except Exception as err:  # noqa: BLE001 - any other error fails the test below
            outcome = f"error: {type(err).__name__}: {err}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with factory() as s:
        entries = s.scalar(select(func.count()).select_from(StafettloggEntry)
                           .where(StafettloggEntry.case_id == case_id))
        case = s.get(Case, case_id)
        problem = verify_case(s, case)
    return results, entries, problem


def _check(results, entries, problem, *, with_version):
    errors = [r for r in results if r.startswith("error")]
    assert errors == []
    ok = results.count("ok")
    if with_version:
        assert ok == 1
        assert results.count("conflict") == THREADS - 1
    else:
        assert ok == THREADS  # no version given: writers queue, none is lost
    assert entries == 1 + ok  # the opening entry + one per acknowledged write: 0 lost
    assert problem is None


@pytest.mark.parametrize("with_version", [True, False])
def test_sqlite_file_concurrent_fire(tmp_path, registry, with_version):
    engine = make_engine(f"sqlite:///{tmp_path}/c.sqlite3")
    create_schema(engine)
    try:
        results, entries, problem = _race(engine, registry, with_version=with_version)
    finally:
        engine.dispose()
    _check(results, entries, problem, with_version=with_version)


@pytest.mark.postgres
@pytest.mark.parametrize("with_version", [True, False])
def test_postgres_concurrent_fire(pg_engine, registry, with_version):
    results, entries, problem = _race(pg_engine, registry, with_version=with_version)
    _check(results, entries, problem, with_version=with_version)


def test_sqlite_connection_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/p.sqlite3")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
