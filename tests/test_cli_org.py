"""``bti municipality create|rename|deactivate|reactivate|import`` and ``bti unit …`` run as an
operator runs them: the installed command in a subprocess, on a database made by ``bti
init-db`` and ``bti demo-data`` (whose PPT serves the neighbour municipality Nabodal). All names
are made up."""

from __future__ import annotations

import sqlite3

from tests.test_cli_municipality import bti
from tests.test_cli_municipality import env  # noqa: F401 - the fixture


def _query(environ, sql: str) -> list[tuple]:
    with sqlite3.connect(environ["_DB"]) as db:
        return db.execute(sql).fetchall()


def test_the_demo_ppt_serves_the_neighbour_municipality(env):  # noqa: F811
    r = bti(env, "unit", "list", "demo")
    assert r.returncode == 0, r.stderr
    assert "serves=nabodal" in next(line for line in r.stdout.splitlines() if " ppt " in line)


def test_the_operator_creates_renames_and_deactivates_a_municipality(env):  # noqa: F811
    r = bti(env, "municipality", "create", "fjelldal", "--name", "Fjelldal kommune",
            "--workflow", "bti-standard", "--malform", "nn")
    assert r.returncode == 0, r.stderr
    assert bti(env, "municipality", "create", "fjelldal", "--name", "X",
               "--workflow", "bti-standard").returncode == 1
    assert bti(env, "municipality", "create", "x", "--name", "X",
               "--workflow", "nope").returncode == 1
    assert bti(env, "municipality", "rename", "fjelldal", "Fjelldal herad").returncode == 0
    assert _query(env, "SELECT name, malform, active FROM municipality WHERE slug = 'fjelldal'") \
        == [("Fjelldal herad", "nn", 1)]
    r = bti(env, "municipality", "deactivate", "fjelldal")
    assert r.returncode == 0
    assert r.stdout.strip() == "fjelldal: inactive"
    assert bti(env, "municipality", "reactivate", "fjelldal").returncode == 0
    actions = [a for (a,) in _query(env, "SELECT action FROM audit_event WHERE action LIKE "
                                          "'municipality.%' ORDER BY id")]
    assert actions[-4:] == ["municipality.created", "municipality.renamed",
                            "municipality.deactivated", "municipality.reactivated"]


def test_units_are_created_changed_and_deactivated_on_the_command_line(env):  # noqa: F811
    r = bti(env, "unit", "create", "demo", "--name", "Haugen barnehage", "--kind",
            "kindergarten", "--service", "Oppvekst", "--serves", "nabodal")
    assert r.returncode == 0, r.stderr
    unit_id = r.stdout.split()[0]
    assert "serves=nabodal" in r.stdout
    r = bti(env, "unit", "create", "demo", "--name", "Haugen barnehage", "--kind", "castle")
    assert r.returncode == 1
    assert "name: already taken" in r.stderr
    assert "kind: not valid" in r.stderr
    r = bti(env, "unit", "set", unit_id, "--serves-none", "--service", "")
    assert r.returncode == 0
    assert "service=- serves=-" in r.stdout
    assert bti(env, "unit", "deactivate", unit_id).stdout.split()[1] == "inactive"
    assert bti(env, "unit", "set", "999999", "--name", "X").returncode == 1


def test_the_import_is_all_or_nothing_with_problems_by_line(env, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.csv"
    bad.write_text("record;unit;kind;username;name;roles\n"
                   "unit;Berg skule;school;;;\n"
                   "user;Berg skule;;berit.berg;Berit Berg;teacher\n", encoding="utf-8")
    r = bti(env, "municipality", "import", "nabodal", str(bad))
    assert r.returncode == 1
    assert "line 3: roles: unknown role" in r.stderr
    assert _query(env, "SELECT count(*) FROM unit WHERE name = 'Berg skule'") == [(0,)]
    good = tmp_path / "good.csv"
    good.write_text("record;unit;kind;username;name;roles\n"
                    "unit;Berg skule;school;;;\n"
                    "user;Berg skule;;berit.berg;Berit Berg;employee\n", encoding="utf-8")
    r = bti(env, "municipality", "import", "nabodal", str(good))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "nabodal: 1 units and 1 users imported"
    username, password = r.stdout.splitlines()[1].split("\t")
    assert username == "berit.berg"
    assert len(password) == 24
    assert _query(env, "SELECT password_change_required FROM user_account "
                       "WHERE username = 'berit.berg'") == [(1,)]
