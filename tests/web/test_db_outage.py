"""A lost database connection answers 503, never a false 2xx, and the app recovers by itself.

1. Any database-connection error in a view (SQLAlchemy ``OperationalError``, ``InterfaceError``,
   ``DisconnectionError``, a full pool) is a 503: the Norwegian error page for the UI, the JSON
   envelope under /api/, and never the driver's message.
2. On the real PostgreSQL: while four clients read case pages and add notes, the app's backend
   is killed (``pg_terminate_backend``) just before every 47th statement it sends — by count,
   not by clock, so the test asserts the same on a fast and a slow machine. Every answer is 200,
   303, 409 (a stale version after an unknown outcome) or 503; every note answered 303 is in the
   database afterwards; the chains verify; and once the killing stops, every client is served
   again by the same app, without a restart (``pool_pre_ping`` replaces dead connections).
All names and texts are made up.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections import Counter

import pytest
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.domain.cases import Note
from bti.services.access import audit
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_all
from bti.services.context import Ctx
from bti.web import create_app
from bti.web import policy
from tests.dbs import pg_schema
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.web.conftest import Browser
from tests.web.conftest import make_settings

SECRET_DETAIL = "Lønnstrand skjult detalj"  # must never reach the client
CONCERN = {"what_seen": "Barnet verkar trøytt og trekkjer seg unna leik.", "since": "Hausten"}


def _broken(*_a, **_kw):
    raise OperationalError("SELECT secret", {}, Exception(SECRET_DETAIL))


@pytest.mark.parametrize("error", [
    OperationalError("SELECT 1", {}, Exception(SECRET_DETAIL)),
    InterfaceError("SELECT 1", {}, Exception(SECRET_DETAIL)),
])
def test_a_database_error_in_a_page_is_a_503_page_without_details(app, web_world, login,
                                                                  monkeypatch, error):
    b = login("teacher", web_world)

    def broken(*_a, **_kw):
        raise error

    monkeypatch.setattr(inbox, "my_inbox", broken)
    r = b.get("/saker/")
    assert r.status_code == 503
    body = r.get_data(as_text=True)
    assert "Midlertidig utilgjengelig" in body  # bokmål by default
    assert SECRET_DETAIL not in body
    assert "SELECT" not in body
    monkeypatch.undo()
    assert b.get("/saker/").status_code == 200  # the same app serves the next request


def test_a_database_error_under_api_is_a_json_503():
    app = create_app(make_settings())

    @app.get("/api/v1/_outage-probe")
    @policy.public
    def probe():
        _broken()

    r = app.test_client().get("/api/v1/_outage-probe")
    assert r.status_code == 503
    assert r.is_json
    assert r.get_json()["error"]["code"] == "unavailable"  # the API envelope (docs/api.md)
    assert SECRET_DETAIL not in r.get_data(as_text=True)
    app.extensions["bti"].engine.dispose()


# --- the real PostgreSQL, backends killed under load --------------------------------------------


@pytest.fixture
def pg_app(postgres_url):
    """An app on PostgreSQL (a fresh schema) whatever BTI_TEST_DATABASE says, under an
    application_name of its own so the killer finds exactly its connections."""
    with pg_schema(postgres_url, prefix="bti_outage") as url:
        eng = make_engine(url)
        create_schema(eng)
        eng.dispose()
        name = "bti-outage-" + url.rsplit("bti_outage_", 1)[1][:10]
        app_url = make_url(url).update_query_dict({"application_name": name}) \
            .render_as_string(hide_password=False)
        app = create_app(make_settings(database_url=app_url))
        app.config["OUTAGE_APPLICATION_NAME"] = name
        yield app
        app.extensions["bti"].engine.dispose()


def _version(html: str) -> int | None:
    if '/handling/add_note"' not in html:
        return None
    m = re.search(r'data-case-version="(\d+)"', html)
    return int(m.group(1)) if m else None


class StatementKiller:
    """Fault injection on the real server, by count rather than by clock: just before every
    ``every``-th statement the app sends, its backend is terminated from another connection and
    the call waits until it is gone (``pg_terminate_backend(pid, timeout)``), so that statement
    meets a dead connection whatever the machine's speed. Pool pre-pings do not pass through
    ``before_cursor_execute``, so a replaced connection is always healthy again."""

    def __init__(self, app_engine, admin_engine, every: int) -> None:
        self.app_engine, self.admin, self.every = app_engine, admin_engine, every
        self.statements = self.killed = 0
        self.active = True
        self._lock = threading.Lock()

    def __enter__(self) -> StatementKiller:
        event.listen(self.app_engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.app_engine, "before_cursor_execute", self._before)

    def _before(self, conn, _cursor, _statement, _params, _context, _many) -> None:
        with self._lock:
            if not self.active:
                return
            self.statements += 1
            if self.statements % self.every:
                return
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self.admin.begin() as a:
            gone = a.execute(text("SELECT pg_terminate_backend(:pid, 10000)"),
                             {"pid": pid}).scalar_one()
        assert gone, "the backend did not end within 10 s"
        with self._lock:
            self.killed += 1

    def kill_idle(self, name: str) -> int:
        """Terminate every backend of the app (those idle in its pool); returns how many."""
        with self.admin.begin() as a:
            return len(a.execute(text(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"),
                {"name": name}).all())


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_backends_killed_during_load_answer_503_and_the_app_recovers(pg_app, postgres_url,
                                                                    password_hash):
    app = pg_app
    ext = app.extensions["bti"]
    clients = 4
    with ext.session_factory.begin() as s:
        m = make_municipality(s, mfa_required=False)
        teacher = make_user(s, m, make_unit(s, m, "school"), ("employee",),
                            username="utfall.laerar", password_hash=password_hash)
        ctx = Ctx(session=s, actor=teacher, workflows=ext.workflows, now=ext.clock)
        case_ids = [cases.open_case(ctx, unit_id=None, child_pseudonym=f"Utfall {i}",
                                    child_birth_year=2016, concern=CONCERN).case.id
                    for i in range(clients)]
    browsers = []
    for _ in range(clients):
        b = Browser(app.test_client())
        assert b.login("utfall.laerar").status_code == 302
        browsers.append(b)

    statuses: Counter[tuple[str, int]] = Counter()
    acknowledged: list[str] = []
    unknown: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    # Bounded by counts, not time: each client makes at most this many requests, and all stop
    # as soon as the outage has shown itself and writes got through.
    max_requests = 150

    def user(i: int) -> None:
        b, case_id, version = browsers[i], case_ids[i], None
        for n in range(max_requests):
            if enough.is_set():
                return
            try:
                if version is None:
                    r = b.get(f"/saker/{case_id}")
                    with lock:
                        statuses["GET", r.status_code] += 1
                    if r.status_code == 200:
                        version = _version(r.get_data(as_text=True))
                    continue
                note = f"Notat {i}-{n} under utfall"
                r = b.post(f"/saker/{case_id}/handling/add_note",
                           {"expected_version": str(version), "text": note})
                with lock:
                    statuses["POST", r.status_code] += 1
                    (acknowledged if r.status_code == 303 else unknown).append(note)
                    n503 = statuses["GET", 503] + statuses["POST", 503]
                    if n503 >= 5 and len(acknowledged) >= 20:
                        enough.set()
                version = version + 1 if r.status_code == 303 else None
            except Exception as err:  # an exception is a failure of the test, not a 5xx
                failures.append(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
                return

    admin = make_engine(postgres_url)
    # a prime, so the kills fall on every kind of statement of a page and of a write
    with StatementKiller(ext.engine, admin, every=47) as killer:
        threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        killer.active = False
        # the pool's idle connections die too: the next requests must get fresh ones
        idle_killed = killer.kill_idle(app.config["OUTAGE_APPLICATION_NAME"])
    admin.dispose()

    assert not failures, failures
    allowed = {("GET", 200), ("GET", 503), ("POST", 303), ("POST", 409), ("POST", 503)}
    assert set(statuses) <= allowed, statuses
    assert killer.killed > 0
    assert enough.is_set(), f"too few outages or writes in {max_requests} requests: {statuses}"

    # every write answered 303 is in the database; nothing else but the unknown ones
    with ext.session_factory() as s:
        stored = list(s.scalars(select(Note.text).where(Note.case_id.in_(case_ids))))
        assert not set(acknowledged) - set(stored), "an acknowledged note was lost"
        assert set(stored) <= set(acknowledged) | set(unknown) | {None}
        assert len(stored) == len(set(stored)), "a note was stored twice"
        assert list(verify_all(s)) == []
        assert list(audit.verify(s)) == []

    # the same app, no restart: every client is served again
    for i, b in enumerate(browsers):
        r = b.get(f"/saker/{case_ids[i]}")
        assert r.status_code == 200
        r = b.post(f"/saker/{case_ids[i]}/handling/add_note",
                   {"expected_version": str(_version(r.get_data(as_text=True))),
                    "text": f"Etter utfallet {i}"})
        assert r.status_code == 303
    print(f"\n[outage] {killer.killed} backends killed mid-request of {killer.statements} "
          f"statements, {idle_killed} idle; answers {dict(statuses)}; "
          f"{len(acknowledged)} notes acknowledged, all stored")
