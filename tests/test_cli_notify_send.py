"""``bti notify send`` as cron runs it: a fresh process on a database made by ``bti init-db``,
mailing the outbox through a real SMTP server on loopback (aiosmtpd); two processes at once
send every row exactly once; a bad setting is named without showing the password."""

from __future__ import annotations

import subprocess  # nosec B404 - the project's own console script, an argument list

import pytest
from sqlalchemy import select

from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Notification
from bti.domain.notifications import NotificationDelivery
from bti.domain.org import Municipality
from bti.domain.org import User
from bti.services.context import Ctx
from bti.services.notify.events import Event
from bti.services.notify.outbox import emit
from bti.services.workflows.registry import WorkflowRegistry
from tests.conftest import WORKFLOWS
from tests.conftest import World
from tests.dbs import ON_POSTGRES
from tests.dbs import pg_schema
from tests.dbs import require_postgres
from tests.factories import make_user
from tests.smtp import BASE_URL
from tests.smtp import Server
from tests.test_cli_run import BTI
from tests.test_cli_run import ROOT
from tests.test_cli_run import bti
from tests.test_cli_run import ok
from tests.test_cli_run import refused
from tests.test_cli_run import user_env


@pytest.fixture
def database_url(tmp_path):
    """A database that does not exist yet (SQLite: a file path) or is empty (PostgreSQL)."""
    if ON_POSTGRES:
        with pg_schema(require_postgres()) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'db' / 'bti.sqlite3'}"


@pytest.fixture
def smtp():
    server = Server()
    server.start()
    yield server
    server.stop()


def mail_env(database_url: str, server: Server, **more: str) -> dict[str, str]:
    return user_env(BTI_DATABASE_URL=database_url,
                    BTI_SMTP_URL=f"smtp://127.0.0.1:{server.port}?tls=none",
                    BTI_MAIL_FROM="BTI <bti@kommune.invalid>", BTI_BASE_URL=BASE_URL, **more)


def fill_outbox(database_url: str, n_users: int, keys: range) -> int:
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        with factory.begin() as s:
            w = World(s, WorkflowRegistry(WORKFLOWS), "bti-standard")
            m = s.get(Municipality, w.municipality.id)
            users = [make_user(s, m, None, username=f"cron{i}").id for i in range(n_users)]
            ctx = Ctx(session=s, actor=s.get(User, w.admin.id), workflows=w.registry)
            for key in keys:
                emit(ctx, Event.PARTICIPANT_ADDED, users, key=key)
            return len(list(s.scalars(select(NotificationDelivery.id))))
    finally:
        engine.dispose()


def statuses(database_url: str) -> list[tuple[str, int]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as s:
            return sorted((r.status, r.attempts) for r in s.scalars(select(NotificationDelivery)))
    finally:
        engine.dispose()


def notification_ids(database_url: str) -> list[int]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as s:
            return sorted(s.scalars(select(Notification.id)))
    finally:
        engine.dispose()


def test_notify_send_in_fresh_processes(database_url, smtp):
    env = mail_env(database_url, smtp)
    ok(bti("init-db", env=env))
    assert fill_outbox(database_url, 3, range(1)) == 3
    assert ok(bti("notify", "send", env=env)).strip() == "sent 3, retried 0, failed 0"
    assert ok(bti("notify", "send", "--once", env=env)).strip() == "sent 0, retried 0, failed 0"
    assert sorted(smtp.inbox.notification_ids()) == notification_ids(database_url)

    # the server is down: the row waits for its retry, the command still succeeds
    smtp.stop()
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as s:
        emit(Ctx(session=s, actor=s.scalars(select(User)).first(), workflows=None),
             Event.CONSENT_EXPIRED, [u.id for u in s.scalars(select(User).where(
                 User.username == "cron0"))], key=99)
    engine.dispose()
    assert ok(bti("notify", "send", env=env)).strip() == "sent 0, retried 1, failed 0"
    assert statuses(database_url) == [("pending", 1)] + [("sent", 1)] * 3


def test_two_send_processes_at_once_send_each_row_exactly_once(database_url, smtp):
    env = mail_env(database_url, smtp)
    ok(bti("init-db", env=env))
    assert fill_outbox(database_url, 10, range(6)) == 60
    command = [str(BTI), "notify", "send", "--batch", "4"]
    procs = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,  # nosec B603
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    sent = 0
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        sent += int(out.split()[1].rstrip(","))
    assert sent == 60
    ids = smtp.inbox.notification_ids()
    assert len(ids) == 60
    assert sorted(ids) == notification_ids(database_url)
    assert statuses(database_url) == [("sent", 1)] * 60


def test_a_bad_mail_setting_stops_the_command_with_its_name(database_url, smtp):
    env = mail_env(database_url, smtp)
    ok(bti("init-db", env=env))
    bad = {**env, "BTI_SMTP_URL": "smtp://bti:hemmeleg-passord@smtp.kommune.invalid?tls=none"}
    err = refused(bti("notify", "send", env=bad), "BTI_SMTP_URL", "this machine only")
    assert "hemmeleg" not in err
    refused(bti("notify", "send", env={**env, "BTI_MAIL_FROM": ""}), "BTI_MAIL_FROM is not set")
