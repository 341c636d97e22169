"""The app's own error records reach gunicorn's error log file (deploy/gunicorn.conf.py), not a
worker's stderr, and hold no personal data.

A real gunicorn with the production configuration serves a migrated SQLite file; a user row with
a corrupt password hash makes the sign-in a genuine 500 (werkzeug cannot parse the hash). All
names are made up.
"""

from __future__ import annotations

import http.client
import os
import re
import sqlite3
import subprocess
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from tests.dbs import sqlite_only
from tests.test_crash import BIN
from tests.test_crash import ROOT
from tests.test_crash import Server

USERNAME = "laerar"  # made by `bti demo-data`
PASSWORD = "Feil-passord-for-test-9"


def _request(port, method, path, body=None, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Set-Cookie") or "", r.read().decode()
    finally:
        conn.close()


@sqlite_only
@pytest.mark.timeout(180)
def test_a_500_is_recorded_in_the_error_log_file_without_personal_data(tmp_path):
    db = tmp_path / "bti.sqlite3"
    url = f"sqlite:///{db}"
    env = {"BTI_DATABASE_URL": url, "BTI_WORKFLOWS_DIR": str(ROOT / "workflows")}
    for args in (["init-db"], ["demo-data", "--password", "Demo-passord-for-test-7"]):
        subprocess.run([str(BIN / "bti"), *args], env={**os.environ, **env},
                       cwd=tmp_path, check=True, capture_output=True)
    with sqlite3.connect(db) as conn:
        assert conn.execute("UPDATE user_account SET password_hash = 'scrypt:ødelagt$salt$hash' "
                            "WHERE username = ?", (USERNAME,)).rowcount == 1

    server = Server(url, tmp_path)
    error_log = tmp_path / "error.log"
    server.env.update(BTI_ERROR_LOG=str(error_log), BTI_ACCESS_LOG=str(tmp_path / "access.log"))
    server.start()  # its stdout and stderr go to server.log
    try:
        status, set_cookie, html = _request(server.port, "GET", "/auth/login")
        assert status == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        cookie = "; ".join(f"{k}={v.value}" for k, v in SimpleCookie(set_cookie).items())
        body = urlencode({"csrf_token": token, "username": USERNAME, "password": PASSWORD})
        status, _, page = _request(server.port, "POST", "/auth/login", body, cookie)
        assert status == 500, page[:500]
    finally:
        server.stop()

    logged = error_log.read_text(encoding="utf-8")
    stderr = server.log.read_text(encoding="utf-8")
    record = re.search(r"unhandled error on [\w.]+: ValueError \(request [0-9a-f]+\)", logged)
    assert record, f"no error record in the error log:\n{logged[-2000:]}"
    assert "bti/services/accounts/auth.py" in logged  # the stack frames, to find the fault
    assert "ValueError (request" not in stderr, "the record went to the worker's stderr"
    for secret in (PASSWORD, USERNAME, "ødelagt"):
        assert secret not in logged


@sqlite_only
@pytest.mark.timeout(180)
def test_a_calendar_feed_token_stays_out_of_the_access_log(tmp_path):
    db = tmp_path / "bti.sqlite3"
    url = f"sqlite:///{db}"
    env = {"BTI_DATABASE_URL": url, "BTI_WORKFLOWS_DIR": str(ROOT / "workflows")}
    subprocess.run([str(BIN / "bti"), "init-db"], env={**os.environ, **env}, cwd=tmp_path,
                   check=True, capture_output=True)
    server = Server(url, tmp_path)
    access_log = tmp_path / "access.log"
    server.env.update(BTI_ERROR_LOG=str(tmp_path / "error.log"), BTI_ACCESS_LOG=str(access_log))
    secret = "bti_cal_secret-feed-token-0123456789abcdefghijkl"
    server.start()
    try:
        status, _, _ = _request(server.port, "GET", f"/kalender/{secret}.ics")
        assert status == 404
        assert _request(server.port, "GET", "/healthz")[0] == 200
    finally:
        server.stop()
    logged = access_log.read_text(encoding="utf-8")
    assert '"GET /kalender/<token>.ics" 404' in logged, logged
    assert "/healthz" in logged
    assert secret not in logged
