"""``bti municipality list|set`` run as a user runs them: the installed command in a subprocess,
on a database made by ``bti init-db`` (the migrations) and ``bti demo-data``."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    db = tmp_path_factory.mktemp("cli") / "bti.sqlite3"
    env = dict(os.environ, BTI_DATABASE_URL=f"sqlite:///{db}", BTI_DEV="1",
               BTI_SECRET_KEY=secrets.token_urlsafe(32),
               BTI_WORKFLOWS_DIR=str(ROOT / "workflows"))
    env.pop("BTI_AUDIT_ANCHOR_FILE", None)
    for args in (["init-db"], ["demo-data", "--cases", "0",
                               "--password", "eit demo-passord som er langt nok"]):
        r = subprocess.run([BIN / "bti", *args], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    env["_DB"] = str(db)
    return env


def bti(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "bti", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_demo_municipality_writes_nynorsk_and_the_malform_can_be_changed(env):
    listed = bti(env, "municipality", "list")
    assert listed.returncode == 0, listed.stderr
    assert "malform=nn" in listed.stdout.split("\n")[0]

    changed = bti(env, "municipality", "set", "demo", "--malform", "nb")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "demo: malform=nb"
    assert "malform=nb" in bti(env, "municipality", "list").stdout

    with sqlite3.connect(env["_DB"]) as conn:
        assert conn.execute("SELECT malform FROM municipality WHERE slug = 'demo'").fetchone() \
            == ("nb",)
        details = [json.loads(d) for (d,) in conn.execute(
            "SELECT details FROM audit_event WHERE action = 'municipality.settings_changed'")]
    assert details == [{"malform": "nb", "via": "cli"}]


def test_an_unknown_malform_or_municipality_is_refused_and_nothing_changes(env):
    before = bti(env, "municipality", "list").stdout
    bad = bti(env, "municipality", "set", "demo", "--malform", "se")
    assert bad.returncode == 2
    assert "'se' is not one of 'nb', 'nn'" in bad.stderr
    missing = bti(env, "municipality", "set", "finst-ikkje", "--malform", "nn")
    assert missing.returncode == 1
    assert "no municipality 'finst-ikkje'" in missing.stderr
    assert bti(env, "municipality", "list").stdout == before


def test_the_child_welfare_contacts_are_set_listed_and_cleared(env):
    assert "barnevern_phone=00 00 00 01" in bti(env, "municipality", "list").stdout  # demo
    changed = bti(env, "municipality", "set", "demo", "--barnevern-phone", "00 11 22 33",
                  "--barnevernvakt-phone", "")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "demo: barnevern_phone=00 11 22 33, barnevernvakt_phone="
    with sqlite3.connect(env["_DB"]) as conn:
        assert conn.execute("SELECT barnevern_phone, barnevernvakt_phone FROM municipality "
                            "WHERE slug = 'demo'").fetchone() == ("00 11 22 33", None)
    too_long = bti(env, "municipality", "set", "demo", "--barnevern-phone", "1" * 41)
    assert too_long.returncode == 1
    assert "at most 40" in too_long.stderr
    not_a_phone = bti(env, "municipality", "set", "demo", "--barnevern-phone", "ring meg",
                      "--barnevern-email", "barnevern.demo.invalid")
    assert not_a_phone.returncode == 1
    assert "--barnevern-phone: not a phone number" in not_a_phone.stderr
    assert "--barnevern-email: not an e-mail address" in not_a_phone.stderr
    with sqlite3.connect(env["_DB"]) as conn:  # nothing half-written
        assert conn.execute("SELECT barnevern_phone FROM municipality "
                            "WHERE slug = 'demo'").fetchone() == ("00 11 22 33",)
