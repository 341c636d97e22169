"""gunicorn with the production configuration (deploy/gunicorn.conf.py) builds the app once in
the master (``preload_app``) and forks two workers from it: each worker serves requests on
database connections it opened itself (never one inherited from the master or shared with the
other worker), and sign-in pages and writes work in both (issue 17).

A probe module wraps ``create_app()`` and adds one route that names the worker process, the
process that opened the connection it is using and, on PostgreSQL, the server backend of that
connection. Runs on SQLite (a migrated file) and on PostgreSQL (the test schema).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from tests.test_crash import BIN
from tests.test_crash import ROOT
from tests.test_crash import Server
from tests.test_gunicorn_logging import _request

PROBE = '''
import os
import time

from flask import jsonify
from flask import request
from sqlalchemy import event
from sqlalchemy import text

from bti.web import create_app
from bti.web import policy

app = create_app()
engine = app.extensions["bti"].engine
POSTGRES = engine.dialect.name == "postgresql"
MASTER = os.getpid()


@event.listens_for(engine, "connect")
def _opened_by(dbapi_connection, record):
    record.info["opened_by"] = os.getpid()


def _backend(conn):
    return conn.execute(text("SELECT pg_backend_pid()")).scalar() if POSTGRES else None


# a connection of the master's own, left in its pool when the workers are forked unless the
# configuration closes it
engine.dispose()
with engine.connect() as conn:
    MASTER_BACKEND = _backend(conn)


@app.get("/_probe")
@policy.public
def probe():
    with engine.connect() as conn:
        backend = _backend(conn)
        opened_by = conn.connection.info.get("opened_by")
        gate = request.args.get("hold")
        if gate:  # busy until the test opens the gate (it has seen the other worker answer)
            open(gate + ".started", "w").close()
            for _ in range(1200):
                if os.path.exists(gate):
                    break
                time.sleep(0.05)
    return jsonify(worker=os.getpid(), master=MASTER, opened_by=opened_by, backend=backend,
                   master_backend=MASTER_BACKEND)
'''


def _probe(port, hold: str = "") -> dict:
    status, _, body = _request(port, "GET", "/_probe?" + urlencode({"hold": hold}))
    assert status == 200, body[:500]
    return json.loads(body)


def _both_workers(port) -> list[dict]:
    """One answer from each worker: a probe held at a gate keeps one sync worker busy (it
    serves one request at a time), so the next request is the other worker's; then the gate
    opens."""
    folder = tempfile.mkdtemp(prefix="bti-preload-")
    gate = os.path.join(folder, "gate")
    held: list[dict] = []
    t = threading.Thread(target=lambda: held.append(_probe(port, hold=gate)))
    t.start()
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(gate + ".started"):  # the held request is in a worker
            assert t.is_alive(), "the held probe ended before it was seen in a worker"
            assert time.monotonic() < deadline, "the held probe never started"
            time.sleep(0.05)
        free = _probe(port)
    finally:
        open(gate, "w").close()
        t.join()
        shutil.rmtree(folder, ignore_errors=True)
    assert held, "the held probe had no answer"
    assert held[0]["worker"] != free["worker"], (held, free)
    return [held[0], free]


def _failed_sign_in(port) -> None:
    """The sign-in page and a wrong password (a write: its audit row), through whichever worker."""
    status, set_cookie, html = _request(port, "GET", "/auth/login")
    assert status == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    cookie = "; ".join(f"{k}={v.value}" for k, v in SimpleCookie(set_cookie).items())
    body = urlencode({"csrf_token": token, "username": "ingen.slik", "password": "Feil-1234-x"})
    status, _, page = _request(port, "POST", "/auth/login", body, cookie)
    assert status in (200, 401), page[:500]


@pytest.mark.timeout(240)
def test_preloaded_workers_serve_on_connections_of_their_own(engine, tmp_path):
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'bti.sqlite3'}"
        subprocess.run([str(BIN / "bti"), "init-db"], cwd=tmp_path, check=True,
                       capture_output=True,
                       env={**os.environ, "BTI_DATABASE_URL": url,
                            "BTI_WORKFLOWS_DIR": str(ROOT / "workflows")})
    else:
        url = engine.url.render_as_string(hide_password=False)
    (tmp_path / "probe_app.py").write_text(PROBE, encoding="utf-8")
    server = Server(url, tmp_path)
    server.env.pop("BTI_PRELOAD", None)  # the configuration's default: preload
    server.env.update(BTI_ERROR_LOG="-", BTI_ACCESS_LOG=str(tmp_path / "access.log"),
                      BTI_MAX_REQUESTS="0", PYTHONPATH=str(tmp_path))
    argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "probe_app:app"]
    with open(server.log, "ab") as log:
        server.proc = subprocess.Popen(argv, env=server.env, cwd=ROOT, stdout=log, stderr=log,
                                       start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _request(server.port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.proc.poll() is None, server.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz"
            time.sleep(0.2)
        first, second = _both_workers(server.port)
        for _ in range(4):
            _failed_sign_in(server.port)
        again = _both_workers(server.port)
    finally:
        server.stop()

    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]
    for answer in (first, second, *again):
        assert answer["master"] == first["master"]  # one app, built in the master: preloaded
        assert answer["worker"] != answer["master"]
        # the connection in use was opened by the worker serving the request
        assert answer["opened_by"] == answer["worker"], answer
        if answer["backend"] is not None:
            assert answer["backend"] != answer["master_backend"], answer
    if first["backend"] is not None:
        assert first["backend"] != second["backend"]
