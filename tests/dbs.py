"""Which database the suite runs on: in-memory SQLite (the default) or PostgreSQL.

``BTI_TEST_DATABASE=postgres`` makes the generic fixtures (``engine``/``session``/``world`` in
tests/conftest.py, the web ``app`` in tests/web/conftest.py, the e2e ``live_server``) use a fresh
PostgreSQL schema per test (per session for the e2e server) at ``BTI_TEST_POSTGRES_URL``
instead of SQLite. ``make test`` runs the suite twice, SQLite then PostgreSQL.
Tests that are about SQLite itself (its file, its pragmas, its backup API) stay on SQLite and
say so with ``sqlite_only``.

On PostgreSQL the schema is made by the owner (the user of ``BTI_TEST_POSTGRES_URL``), and the
app and the tests connect as the least-privileged runtime role, as in production
(``bti db grant-runtime``, docs/deployment.md): ``RUNTIME_ROLE``, created once per cluster if
missing (roles are cluster-wide; the grants are per schema, so parallel runs do not collide).
A test that needs the owner's rights (migrations, the purge, an attacker dropping triggers)
asks for them with ``owner_engine``/``owner_url``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("BTI_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_DATABASE = os.environ.get("BTI_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if TEST_DATABASE not in ("sqlite", "postgres"):
    raise RuntimeError(f"BTI_TEST_DATABASE must be sqlite or postgres, not {TEST_DATABASE!r}")
ON_POSTGRES = TEST_DATABASE == "postgres"
#: The role the app and the tests connect as in the PostgreSQL run (tests/dbs.py docstring).
RUNTIME_ROLE = os.environ.get("BTI_TEST_RUNTIME_ROLE", "bti_test_runtime")

#: Marks a test that is about SQLite itself; it is skipped in the PostgreSQL run.
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about SQLite itself; runs in the SQLite run")
#: Test modules that never touch the database under test (pure engine and docs checks, or an
#: explicit SQLite file of their own): in the PostgreSQL run they would run exactly as in the
#: SQLite run, so they run there only. Tests marked ``postgres`` in them still run.
SAME_ON_BOTH = (
    "tests/engine/",
    "tests/test_architecture.py",
    "tests/test_docs.py",
    "tests/test_workflow_files.py",
    "tests/test_data_inventory.py",
    "tests/test_translations.py",
    "tests/test_cli_audit.py",
    "tests/services/test_stateful.py",
    "tests/domain/test_clock.py",
    "tests/test_cli_municipality.py",
    "tests/web/test_throttle.py",
    "tests/test_packaging.py",
    "tests/test_gunicorn_logging.py",
)

#: Marks a long test of the server on PostgreSQL that runs once, in the PostgreSQL run
#: (``make test`` / ``make test-postgres``), not again in the SQLite run.
postgres_run_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="runs in the PostgreSQL run (BTI_TEST_DATABASE=postgres)")


def schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with every connection's search_path set to ``schema`` (libpq ``options``),
    so an app built from the URL alone (``create_app``) works in that schema."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def as_role(url: str, role: str) -> str:
    """``url`` connecting as ``role`` instead (trust authentication on the test server)."""
    return make_url(url).set(username=role, password=None).render_as_string(
        hide_password=False)


def owner_url(url: str) -> str:
    """``url`` (into a test schema) connecting as the owner, the user of ``POSTGRES_URL``."""
    base = make_url(POSTGRES_URL)
    return make_url(url).set(username=base.username, password=base.password).render_as_string(
        hide_password=False)


@contextmanager
def owner_engine(engine) -> Iterator:
    """An engine on the same database as ``engine`` with the owner's rights: on SQLite the same
    engine (a file has no roles), on PostgreSQL one connecting as the owner of the schema."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    from bti.db.engine import make_engine

    owner = make_engine(owner_url(engine.url.render_as_string(hide_password=False)))
    try:
        yield owner
    finally:
        owner.dispose()


def ensure_runtime_role(admin) -> str:
    """Create ``RUNTIME_ROLE`` (LOGIN, nothing else) if the cluster does not have it; safe when
    several test runs do it at once."""
    with admin.begin() as conn:
        conn.execute(text(
            f"DO $$ BEGIN CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOINHERIT; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"))
    return RUNTIME_ROLE


@contextmanager
def pg_schema(base_url: str = POSTGRES_URL, *, prefix: str = "bti_test") -> Iterator[str]:
    """A new, empty schema on the PostgreSQL at ``base_url``; yields a URL into it and drops
    the schema (and everything in it) afterwards."""
    from bti.db.engine import make_engine

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield schema_url(base_url, schema)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


class SchemaPool:
    """Fresh PostgreSQL schemas with every table and trigger made (``create_schema``), made
    ahead of time by a background thread and dropped by another one, so a test waits for
    neither (both are mostly the server's work). Each schema serves one test only."""

    def __init__(self, base_url: str, *, ahead: int = 2) -> None:
        import queue
        import threading

        self.base_url = base_url
        self.ready: queue.Queue = queue.Queue(maxsize=ahead)
        self.dead: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.maker = threading.Thread(target=self._make, name="bti-test-schema-maker",
                                      daemon=True)
        self.dropper = threading.Thread(target=self._drop, name="bti-test-schema-dropper",
                                        daemon=True)
        self.maker.start()
        self.dropper.start()

    def _make(self) -> None:
        import queue

        from bti.db.engine import create_schema
        from bti.db.engine import grant_runtime
        from bti.db.engine import make_engine

        admin = make_engine(self.base_url)
        try:
            role = ensure_runtime_role(admin)
            while not self.stop.is_set():
                schema = f"bti_test_{uuid.uuid4().hex[:10]}"
                with admin.begin() as conn:
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
                eng = make_engine(schema_url(self.base_url, schema))  # the owner makes it
                try:
                    create_schema(eng)
                    grant_runtime(eng, role)
                finally:
                    eng.dispose()
                url = as_role(schema_url(self.base_url, schema), role)  # the app's view
                while True:
                    try:
                        self.ready.put((schema, url), timeout=0.2)
                        break
                    except queue.Full:
                        if self.stop.is_set():
                            self.dead.put(schema)
                            return
        except BaseException as err:  # reported by take()
            self.error = err
        finally:
            admin.dispose()

    def _drop(self) -> None:
        from bti.db.engine import make_engine

        admin = make_engine(self.base_url)
        try:
            while True:
                schema = self.dead.get()
                if schema is None:
                    return
                try:
                    with admin.begin() as conn:
                        # a connection a test left open must not hold the dropper for ever
                        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                except Exception:  # noqa: S112 - a schema left behind is harmless; go on
                    continue
        finally:
            admin.dispose()

    def take(self) -> tuple[str, str]:
        import queue

        while True:
            if self.error is not None:
                raise RuntimeError("could not make a test schema") from self.error
            try:
                return self.ready.get(timeout=0.5)
            except queue.Empty:
                if not self.maker.is_alive() and self.error is None:
                    raise RuntimeError("the schema maker stopped") from None

    @contextmanager
    def schema(self) -> Iterator[str]:
        """A URL into a fresh schema with the tables made, connecting as the runtime role
        (``owner_url`` gives the owner's); dropped (in the background) after."""
        name, url = self.take()
        try:
            yield url
        finally:
            self.dead.put(name)

    def close(self) -> None:
        import queue

        self.stop.set()
        self.maker.join(timeout=60)
        while True:
            try:
                self.dead.put(self.ready.get_nowait()[0])
            except queue.Empty:
                break
        self.dead.put(None)
        self.dropper.join(timeout=120)


_POOL: list[SchemaPool] = []


def schema_pool() -> SchemaPool:
    """The test session's pool of ready schemas (closed at the end of the session by
    tests/conftest.py)."""
    if not _POOL:
        _POOL.append(SchemaPool(require_postgres()))
    return _POOL[0]


def close_schema_pool() -> None:
    if _POOL:
        _POOL.pop().close()


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """Whether the Redis the throttle tests use answers on ``host:port``."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_available(url: str = POSTGRES_URL) -> bool:
    import psycopg

    try:
        psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False), connect_timeout=2).close()
        return True
    except Exception:
        return False


def require_postgres(url: str = POSTGRES_URL) -> str:
    """The PostgreSQL URL, or skip (fail when it is required: ``BTI_REQUIRE_POSTGRES=1`` or
    ``BTI_TEST_DATABASE=postgres``)."""
    if not postgres_available(url):
        if os.environ.get("BTI_REQUIRE_POSTGRES") == "1" or ON_POSTGRES:
            pytest.fail(f"PostgreSQL required but not reachable at {url}")
        pytest.skip("PostgreSQL not reachable")
    return url


@contextmanager
def app_database() -> Iterator[str]:
    """A database URL for one app: in-memory SQLite (the app makes its schema), or a fresh
    PostgreSQL schema with the tables and triggers already made, as the runtime role."""
    if not ON_POSTGRES:
        yield "sqlite://"
        return
    with schema_pool().schema() as url:
        yield url


if __name__ == "__main__":  # `python -m tests.dbs`: exit 0 when the test PostgreSQL answers
    import sys

    sys.exit(0 if postgres_available() else 1)
