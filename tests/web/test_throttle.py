"""AUTHN-02: login throttling holds across several gunicorn workers (counters in Redis) and a
forged X-Forwarded-For does not reset it. Runs the real server on loopback."""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.dbs import redis_up

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    if not redis_up():
        if os.environ.get("BTI_REQUIRE_REDIS"):
            pytest.fail("Redis is required (BTI_REQUIRE_REDIS=1) but not reachable")
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    env = dict(os.environ, BTI_DATABASE_URL=f"sqlite:///{tmp_path}/bti.sqlite3",
               BTI_SECRET_KEY=secrets.token_urlsafe(32), BTI_DEV="1",
               BTI_RATELIMIT_STORAGE="redis://127.0.0.1:6379",
               BTI_RATELIMIT_PREFIX=f"bti-test-{secrets.token_hex(6)}")
    subprocess.run([BIN / "bti", "init-db"], env=env, check=True, cwd=ROOT,
                   capture_output=True)
    subprocess.run([BIN / "bti", "demo-data", "--password", "et demo-passord som er langt"],
                   env=env, check=True, cwd=ROOT, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([BIN / "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "app:app"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield base
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)


def _attempt(base: str, username: str, password: str, forwarded: str,
             jar: http.cookiejar.CookieJar | None = None) -> tuple[int, str]:
    """One sign-in through the form; the status and the address it ends on (redirects are
    followed). ``jar``: the browser's cookies (a new browser if None)."""
    jar = http.cookiejar.CookieJar() if jar is None else jar
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/auth/login", timeout=5).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrf_token": token}).encode()
    req = urllib.request.Request(base + "/auth/login", data=data,
                                 headers={"X-Forwarded-For": forwarded})
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, urllib.parse.urlsplit(r.geturl()).path
    except urllib.error.HTTPError as err:
        return err.code, urllib.parse.urlsplit(err.geturl()).path


def test_ten_failures_then_429_across_workers_whatever_x_forwarded_for_says(server):
    # the owner signs in once on their own browser, which is known for them from then on
    owner = http.cookiejar.CookieJar()
    assert _attempt(server, "laerar", "et demo-passord som er langt", "10.9.9.9",
                    owner) == (200, "/saker/")
    statuses = [_attempt(server, "laerar", "feil passord nummer mange", f"10.0.0.{i}")
                for i in range(10)]
    # the same "wrong user name or password" page each time
    assert statuses == [(200, "/auth/login")] * 10
    # the 11th attempt from that (real) address — even with the right password and a new
    # forged address — is throttled, whichever worker answers
    assert _attempt(server, "laerar", "et demo-passord som er langt", "192.0.2.77") \
        == (429, "/auth/login")
    # the owner's browser is not locked out by someone else's failures (AUTHN-02)
    assert _attempt(server, "laerar", "et demo-passord som er langt", "192.0.2.78",
                    owner) == (200, "/saker/")
    # another user is not locked out by this user's failures
    assert _attempt(server, "koordinator", "feil passord igjen her", "10.0.0.1") \
        == (200, "/auth/login")
