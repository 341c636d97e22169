from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.services.context import Ctx
from bti.services.workflows.registry import WorkflowRegistry
from tests.dbs import ON_POSTGRES
from tests.dbs import POSTGRES_URL
from tests.dbs import SAME_ON_BOTH
from tests.dbs import close_schema_pool
from tests.dbs import owner_engine
from tests.dbs import pg_schema
from tests.dbs import require_postgres
from tests.dbs import schema_pool
from tests.factories import FIXED_NOW
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

#: The suite seals the logs with a made-up key (never a real one); CLI subprocesses inherit it.
#: Read when a row is written (``bti.config.log_keys``), so setting it here is early enough.
TEST_LOG_KEYS = "test1:made-up-test-key-for-sealing-logs-0001"
os.environ.setdefault("BTI_LOG_KEYS", TEST_LOG_KEYS)

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL run does not collect what does not use the database (tests/dbs.py):
    those tests ran in the SQLite run; pytest reports them as deselected."""
    if not ON_POSTGRES:
        return
    kept, left_out = [], []
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        same = rel.startswith(SAME_ON_BOTH) and item.get_closest_marker("postgres") is None
        (left_out if same else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(scope="session")
def registry() -> WorkflowRegistry:
    return WorkflowRegistry(WORKFLOWS)


@pytest.fixture
def engine(request):
    """The test's database: in-memory SQLite, or a fresh PostgreSQL schema when
    ``BTI_TEST_DATABASE=postgres`` (tests/dbs.py)."""
    if ON_POSTGRES:
        yield request.getfixturevalue("pg_engine")
        return
    eng = make_engine("sqlite://")
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine) -> Session:
    with make_session_factory(engine)() as s:
        yield s


class World:
    """Two units of one municipality and a user per role (made-up names)."""

    def __init__(self, session: Session, registry: WorkflowRegistry, workflow_id: str):
        self.session = session
        self.registry = registry
        self.municipality = make_municipality(session, workflow_id=workflow_id)
        m = self.municipality
        self.school = make_unit(session, m, "school", name="Nordvik skule")
        self.health = make_unit(session, m, "health_station", name="Helsestasjonen")
        self.ppt = make_unit(session, m, "ppt", name="PPT")
        self.teacher = make_user(session, m, self.school, ("employee",), username="kari")
        self.coordinator = make_user(session, m, self.school, ("employee", "coordinator"),
                                     username="ola")
        self.leader = make_user(session, m, self.school, ("employee", "leader"),
                                username="rektor")
        self.nurse = make_user(session, m, self.health, ("employee",), username="helsesyster")
        self.psychologist = make_user(session, m, self.ppt, ("employee",), username="ppt1")
        self.outsider = make_user(session, m, self.ppt, ("employee",), username="ukjent")
        self.admin = make_user(session, m, None, ("admin",), username="admin")
        other = make_municipality(session, workflow_id=workflow_id)
        self.foreign = make_user(session, other, make_unit(session, other), ("employee", "leader"),
                                 username="nabokommune")
        registry.sync(session)
        session.flush()

    def ctx(self, actor, now=None) -> Ctx:
        return Ctx(session=self.session, actor=actor, workflows=self.registry,
                   now=(lambda: now) if now else (lambda: FIXED_NOW))


@pytest.fixture
def world(session, registry) -> World:
    return World(session, registry, "bti-standard")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_postgres(POSTGRES_URL)


@pytest.fixture
def pg_engine(postgres_url):
    """A fresh schema per test on the real PostgreSQL (tables and triggers made ahead of time
    by tests/dbs.py: SchemaPool), dropped afterwards; connected as the runtime role."""
    if postgres_url == POSTGRES_URL:
        with schema_pool().schema() as url:
            eng = make_engine(url, pool_size=20, max_overflow=0)
            yield eng
            eng.dispose()
        return
    with pg_schema(postgres_url) as url:
        eng = make_engine(url, pool_size=20, max_overflow=0)
        create_schema(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def pg_owner_engine(pg_engine):
    """``pg_engine``'s schema, connected as its owner (migrations, the purge, DDL)."""
    with owner_engine(pg_engine) as eng:
        yield eng


@pytest.fixture(scope="session", autouse=True)
def _close_schema_pool():
    yield
    close_schema_pool()


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures some tests gather for the closing notes of issues, after the run: the
    notifications per event kind delivered (tests/services/test_notify_events.py)."""
    events = sys.modules.get("tests.services.test_notify_events")
    for line in getattr(events, "delivered_lines", list)():
        terminalreporter.write_line(line)
