from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bti.db import create_schema
from bti.db import make_engine
from bti.db import make_session_factory
from bti.services.context import Ctx
from bti.services.workflows import WorkflowRegistry
from tests.factories import FIXED_NOW
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
POSTGRES_URL = os.environ.get("BTI_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def registry() -> WorkflowRegistry:
    return WorkflowRegistry(WORKFLOWS)


@pytest.fixture
def engine():
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


def _postgres_available() -> bool:
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=2).close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not _postgres_available():
        if os.environ.get("BTI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}")
        pytest.skip("PostgreSQL not reachable")
    return POSTGRES_URL


@pytest.fixture
def pg_engine(postgres_url):
    """A fresh schema per test on the real PostgreSQL, dropped afterwards."""
    import uuid

    from sqlalchemy import text

    schema = f"bti_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"},
                      pool_size=20, max_overflow=0)
    create_schema(eng)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
